"""moto helper for the tests that reconcile with a bill on S3 (tests/it/reconcile_s3.rs).

  s3_objects.py bucket MOTO_URL BUCKET           create the bucket
  s3_objects.py put MOTO_URL BUCKET KEY FILE     upload FILE as KEY (replacing it)
  s3_objects.py delete MOTO_URL BUCKET KEY       delete KEY
"""
import sys

import boto3

command, moto_url, bucket = sys.argv[1], sys.argv[2], sys.argv[3]
session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
s3 = session.client("s3", endpoint_url=moto_url)

if command == "bucket":
    s3.create_bucket(Bucket=bucket)
elif command == "put":
    key, path = sys.argv[4], sys.argv[5]
    with open(path, "rb") as f:
        s3.put_object(Bucket=bucket, Key=key, Body=f.read())
elif command == "delete":
    s3.delete_object(Bucket=bucket, Key=sys.argv[4])
else:
    sys.exit(f"unknown command {command!r}")
