"""Puts invocation records into a CloudWatch Logs group on moto, as Bedrock would.

Usage: logs_put.py MOTO_URL GROUP FILE AGE_SECONDS
Each line of FILE becomes one event in stream aws/bedrock/modelinvocations, timestamped
AGE_SECONDS ago (moto drops events older than 14 days or more than 2 h ahead).
"""
import sys
import time

import boto3

moto_url, group, path, age = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
logs = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1").client("logs", endpoint_url=moto_url)
stream = "aws/bedrock/modelinvocations"
for create in (lambda: logs.create_log_group(logGroupName=group), lambda: logs.create_log_stream(logGroupName=group, logStreamName=stream)):
    try:
        create()
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
messages = [l.rstrip("\n") for l in open(path) if l.strip()]
base = int((time.time() - age) * 1000)
out = logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[{"timestamp": base + i, "message": m} for i, m in enumerate(messages)])
assert not out.get("rejectedLogEventsInfo"), out
