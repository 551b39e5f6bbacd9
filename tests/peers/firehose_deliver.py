"""Drives moto like a Bedrock account would: a Firehose delivery stream with an HTTP endpoint
destination (the daemon), records put directly, and a CloudWatch Logs group subscribed to
the stream. Test peer driver only.

Usage: python3 firehose_deliver.py MOTO_URL DAEMON_URL ACCESS_KEY DIRECT_FILE LOGS_FILE
Each file holds one invocation record per line.
"""
import sys
import time

import boto3

moto_url, daemon_url, access_key, direct_file, logs_file = sys.argv[1:6]
session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
firehose = session.client("firehose", endpoint_url=moto_url)
logs = session.client("logs", endpoint_url=moto_url)

stream = "bedrock-invocations"
firehose.create_delivery_stream(
    DeliveryStreamName=stream,
    DeliveryStreamType="DirectPut",
    HttpEndpointDestinationConfiguration={
        "EndpointConfiguration": {"Url": daemon_url, "Name": "bedrock-cost-exporter", "AccessKey": access_key},
        "RequestConfiguration": {"ContentEncoding": "GZIP", "CommonAttributes": [{"AttributeName": "env", "AttributeValue": "moto"}]},
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
        "RetryOptions": {"DurationInSeconds": 300},
        "S3BackupMode": "FailedDataOnly",
        "S3Configuration": {"RoleARN": "arn:aws:iam::123456789012:role/firehose", "BucketARN": "arn:aws:s3:::bedrock-failed"},
    },
)
stream_arn = firehose.describe_delivery_stream(DeliveryStreamName=stream)["DeliveryStreamDescription"]["DeliveryStreamARN"]

direct = [l.rstrip("\n") for l in open(direct_file) if l.strip()]
for i in range(0, len(direct), 2):
    out = firehose.put_record_batch(DeliveryStreamName=stream, Records=[{"Data": (r + "\n").encode()} for r in direct[i : i + 2]])
    assert out["FailedPutCount"] == 0, out

group = "/aws/bedrock/modelinvocations"
logs.create_log_group(logGroupName=group)
logs.create_log_stream(logGroupName=group, logStreamName="aws/bedrock/modelinvocations")
logs.put_subscription_filter(
    logGroupName=group, filterName="to-cost-exporter", filterPattern="",
    destinationArn=stream_arn, roleArn="arn:aws:iam::123456789012:role/cwl-to-firehose",
)
events = [l.rstrip("\n") for l in open(logs_file) if l.strip()]
now = int(time.time() * 1000)
logs.put_log_events(
    logGroupName=group, logStreamName="aws/bedrock/modelinvocations",
    logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(events)],
)
print(f"delivered {len(direct)} direct records and {len(events)} log events", flush=True)
