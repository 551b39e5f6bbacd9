#!/usr/bin/env python3
"""The S3 part of scripts/bench: lays a corpus out as Bedrock delivers it to S3, and uploads it.

  bench-s3.py layout CORPUS OUTDIR --objects N --hours H [--prefix org/]
      Splits CORPUS (NDJSON, from bench-corpus.py) into N gzipped objects, in order, spread
      over the H hours before now, 2 accounts x 2 regions, under
      OUTDIR/<prefix>AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/.
      Prints one JSON line: objects, lines, bytes (decompressed), gz_bytes.
  bench-s3.py upload MOTO_URL BUCKET OUTDIR
      Creates BUCKET and uploads every file under OUTDIR as the key of its relative path
      (boto3; any credentials: moto checks none).
"""
import datetime
import gzip
import json
import os
import sys

ACCOUNTS = ["111111111111", "222222222222"]
REGIONS = ["us-east-1", "eu-west-1"]


def layout(corpus, out, objects, hours, prefix):
    with open(corpus, "rb") as f:
        lines = f.readlines()
    now = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
    per = -(-len(lines) // objects)
    gz_bytes = raw_bytes = n = 0
    for i in range(objects):
        chunk = lines[i * per:(i + 1) * per]
        if not chunk:
            break
        hour = now - datetime.timedelta(hours=hours - 1 - (i * hours // objects))
        account, region = ACCOUNTS[i % 2], REGIONS[i // 2 % 2]
        d = os.path.join(out, prefix, "AWSLogs", account, "BedrockModelInvocationLogs", region,
                         hour.strftime("%Y/%m/%d/%H"))
        os.makedirs(d, exist_ok=True)
        body = b"".join(chunk)
        packed = gzip.compress(body, compresslevel=6)
        name = f"{hour.strftime('%Y%m%dT%H')}{i % 60:02d}00{i % 1000:03d}Z_{i:016x}.json.gz"
        with open(os.path.join(d, name), "wb") as f:
            f.write(packed)
        gz_bytes += len(packed)
        raw_bytes += len(body)
        n += 1
    print(json.dumps({"objects": n, "lines": len(lines), "bytes": raw_bytes, "gz_bytes": gz_bytes}))


def upload(moto_url, bucket, root):
    import boto3

    s3 = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                               region_name="us-east-1").client("s3", endpoint_url=moto_url)
    s3.create_bucket(Bucket=bucket)
    for d, _, files in os.walk(root):
        for name in files:
            path = os.path.join(d, name)
            with open(path, "rb") as f:
                s3.put_object(Bucket=bucket, Key=os.path.relpath(path, root), Body=f.read())


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "layout":
        args = sys.argv[2:]
        opts = dict(zip(args[2::2], args[3::2]))
        layout(args[0], args[1], int(opts.get("--objects", "200")), int(opts.get("--hours", "24")),
               opts.get("--prefix", "org/"))
    elif cmd == "upload":
        upload(*sys.argv[2:5])
    else:
        sys.exit(__doc__)
