#!/usr/bin/env python3
"""Turn Firehose failed-delivery objects back into Bedrock invocation records (NDJSON).

Usage:
    aws s3 sync s3://BUCKET/firehose-failed/ ./firehose-failed/
    python3 deploy/aws/firehose-failed-to-ndjson.py ./firehose-failed/ > backfill.jsonl
    bedrock-cost-exporter run --file ./backfill.jsonl --state-dir DIR --once

Arguments are files or directories (read recursively). Standard library only.

What it reads: each failed-delivery document is a JSON object whose "rawData" is the
base64 of one Firehose record (AWS's HTTP endpoint error-record example also carries
attemptsMade, arrivalTimestamp, errorCode, errorMessage, attemptEndingTimestamp). For a
CloudWatch Logs subscription the record is gzip(JSON envelope); each DATA_MESSAGE
logEvents[].message is one Bedrock invocation record and is printed on its own line;
CONTROL_MESSAGE envelopes are skipped. A record that is not gzip is printed as it is
(one or more lines). Objects may be gzip-compressed (the stack sets GZIP) or not, and
documents may be separated by newlines or simply concatenated; both are accepted.

A summary goes to standard error. The exit code is 1 if any document or record could not
be decoded (the good ones are still printed), so a partial backfill is never silent.
"""

import base64
import binascii
import gzip
import json
import os
import sys
import zlib

GZIP_MAGIC = b"\x1f\x8b"


def gunzip_all(data):
    """Decompress every gzip member (Firehose and CloudWatch Logs may concatenate them)."""
    out = []
    while data:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out.append(d.decompress(data))
        out.append(d.flush())
        data = d.unused_data
        if data and not data.startswith(GZIP_MAGIC):
            break
    return b"".join(out)


def documents(text):
    """Yield the JSON values in text, whether newline-separated or concatenated."""
    decoder = json.JSONDecoder()
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return
        value, i = decoder.raw_decode(text, i)
        yield value


def records_from_raw(raw, out, stats):
    if raw.startswith(GZIP_MAGIC):
        envelope = json.loads(gunzip_all(raw))
        kind = envelope.get("messageType")
        if kind == "CONTROL_MESSAGE":
            stats["control"] += 1
            return
        if kind != "DATA_MESSAGE":
            raise ValueError(f"unexpected messageType {kind!r}")
        for event in envelope.get("logEvents", []):
            out.write(event["message"].rstrip("\n") + "\n")
            stats["records"] += 1
        return
    for line in raw.decode("utf-8").splitlines():
        if line.strip():
            out.write(line + "\n")
            stats["records"] += 1


def convert_file(path, out, stats):
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(GZIP_MAGIC):
        data = gunzip_all(data)
    try:
        docs = list(documents(data.decode("utf-8")))
    except (UnicodeDecodeError, ValueError) as e:
        print(f"{path}: not JSON documents: {e}", file=sys.stderr)
        stats["bad"] += 1
        return
    for n, doc in enumerate(docs, 1):
        stats["documents"] += 1
        try:
            raw = base64.b64decode(doc["rawData"], validate=True)
            records_from_raw(raw, out, stats)
        except (KeyError, TypeError, binascii.Error, ValueError, zlib.error, OSError) as e:
            code = doc.get("errorCode") if isinstance(doc, dict) else None
            print(f"{path}: document {n} (errorCode {code}): cannot decode: {e!r}", file=sys.stderr)
            stats["bad"] += 1


def walk(paths):
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    yield os.path.join(root, name)
        else:
            yield p


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 2
    stats = {"files": 0, "documents": 0, "records": 0, "control": 0, "bad": 0}
    for path in walk(argv):
        stats["files"] += 1
        convert_file(path, sys.stdout, stats)
    print(
        "{files} files, {documents} failed documents, {records} records written, "
        "{control} control messages skipped, {bad} undecodable".format(**stats),
        file=sys.stderr,
    )
    return 1 if stats["bad"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
