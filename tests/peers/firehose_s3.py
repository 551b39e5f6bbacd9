"""moto helper for the Firehose export sink test.

  firehose_s3.py create MOTO_URL STREAM BUCKET   a delivery stream with an S3 destination
  firehose_s3.py dump MOTO_URL BUCKET            every object's bytes, in key order, to stdout
"""
import sys

import boto3

command, moto_url = sys.argv[1], sys.argv[2]
session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
s3 = session.client("s3", endpoint_url=moto_url)

if command == "create":
    stream, bucket = sys.argv[3], sys.argv[4]
    s3.create_bucket(Bucket=bucket)
    session.client("firehose", endpoint_url=moto_url).create_delivery_stream(
        DeliveryStreamName=stream,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": "priced-calls/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
        },
    )
elif command == "dump":
    bucket = sys.argv[3]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
    for key in keys:
        sys.stdout.buffer.write(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
else:
    sys.exit(f"unknown command {command}")
