"""moto helper for the S3 source tests (tests/it/s3.rs): a bucket of Bedrock invocation logs,
and optionally an SQS queue that receives the bucket's ObjectCreated notifications.

  s3_logs.py setup MOTO_URL BUCKET [QUEUE NOTIFY_PREFIX]
      create the bucket; with QUEUE also the queue (2 s visibility timeout) and the bucket's
      ObjectCreated notification to it for keys under NOTIFY_PREFIX; prints the queue URL
  s3_logs.py put MOTO_URL BUCKET MANIFEST
      upload each manifest line `KEY<TAB>FILE<TAB>MODE`: MODE gz (gzip FILE), raw (as is),
      cut (gzip, then drop the last 40 bytes)
  s3_logs.py send MOTO_URL QUEUE_URL FILE     send FILE's text as one message
  s3_logs.py depth MOTO_URL QUEUE_URL         print visible + in-flight messages
"""
import gzip
import json
import sys

import boto3

command, moto_url = sys.argv[1], sys.argv[2]
session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
s3 = session.client("s3", endpoint_url=moto_url)
sqs = session.client("sqs", endpoint_url=moto_url)

if command == "setup":
    bucket = sys.argv[3]
    s3.create_bucket(Bucket=bucket)
    if len(sys.argv) > 4:
        queue, notify_prefix = sys.argv[4], sys.argv[5]
        url = sqs.create_queue(QueueName=queue, Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
                                     "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": notify_prefix}]}}}]})
        print(url)
elif command == "put":
    bucket = sys.argv[3]
    with open(sys.argv[4]) as manifest:
        for line in manifest:
            key, path, mode = line.rstrip("\n").split("\t")
            with open(path, "rb") as f:
                body = f.read()
            if mode in ("gz", "cut"):
                body = gzip.compress(body)
            if mode == "cut":
                body = body[:-40]
            s3.put_object(Bucket=bucket, Key=key, Body=body)
elif command == "send":
    with open(sys.argv[4]) as f:
        sqs.send_message(QueueUrl=sys.argv[3], MessageBody=f.read())
elif command == "depth":
    a = sqs.get_queue_attributes(QueueUrl=sys.argv[3], AttributeNames=["All"])["Attributes"]
    print(int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"]))
else:
    sys.exit(f"unknown command {command!r}")
