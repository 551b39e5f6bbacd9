"""moto's server, with Firehose HTTP-endpoint delivery brought in line with the AWS spec.

Test peer only. Stock moto 5.2.5 posts to an HTTP destination without the X-Amz-Firehose-*
headers (so no access key), with the timestamp in seconds and never gzipped, and it cannot
route a CloudWatch Logs subscription to an HTTP destination at all. This launcher patches
those two spots so the daemon is tested against what Firehose really sends:
https://docs.aws.amazon.com/firehose/latest/dev/httpdeliveryrequestresponse.html

Usage: python3 moto_server.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)
"""
import base64
import gzip
import json
import sys
import threading
import time
import uuid

import requests
from moto.firehose.models import FirehoseBackend
from moto.server import main

# PutRecordBatch knows the stream; the HTTP delivery it calls does not. Carry the ARN across.
_calling = threading.local()
_stock_put_record_batch = FirehoseBackend.put_record_batch


def _put_record_batch(self, delivery_stream_name, records):
    stream = self.delivery_streams.get(delivery_stream_name)
    _calling.stream_arn = stream.delivery_stream_arn if stream else None
    return _stock_put_record_batch(self, delivery_stream_name, records)


def _deliver_over_http(http_destination, records):
    endpoint = http_destination["EndpointConfiguration"]
    request_config = http_destination.get("RequestConfiguration") or {}
    request_id = str(uuid.uuid4())
    payload = {
        "requestId": request_id,
        "timestamp": int(time.time() * 1000),
        "records": [{"data": base64.b64encode(r["Data"]).decode()} for r in records],
    }
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Amz-Firehose-Protocol-Version": "1.0",
        "X-Amz-Firehose-Request-Id": request_id,
    }
    if getattr(_calling, "stream_arn", None):
        headers["X-Amz-Firehose-Source-Arn"] = _calling.stream_arn
    if endpoint.get("AccessKey"):
        headers["X-Amz-Firehose-Access-Key"] = endpoint["AccessKey"]
    attributes = {a["AttributeName"]: a["AttributeValue"] for a in request_config.get("CommonAttributes") or []}
    if attributes:
        headers["X-Amz-Firehose-Common-Attributes"] = json.dumps({"commonAttributes": attributes})
    if request_config.get("ContentEncoding") == "GZIP":
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    try:
        # Firehose waits up to 3 minutes for an answer.
        response = requests.post(endpoint["Url"], data=body, headers=headers, timeout=180)
        outcome = f"{response.status_code} {response.text[:300]}"
    except requests.RequestException as exc:
        outcome = f"failed: {exc!r}"
    # Real Firehose accepts the records first and delivers later; the caller's PutRecordBatch
    # succeeds either way, so the outcome is only logged (tests assert on the daemon).
    print(f"moto-firehose: delivery {request_id} to {endpoint['Url']}: {outcome}", file=sys.stderr, flush=True)
    return [{"RecordId": str(uuid.uuid4())} for _ in records]


def _subscription_to_firehose(self, delivery_stream_arn, filter_name, log_group_name, log_stream_name, log_events):
    # What a CloudWatch Logs subscription puts into Firehose: gzip of a DATA_MESSAGE envelope.
    envelope = {
        "messageType": "DATA_MESSAGE",
        "owner": self.account_id,
        "logGroup": log_group_name,
        "logStream": log_stream_name,
        "subscriptionFilters": [filter_name],
        "logEvents": [{"id": str(e["id"]), "timestamp": e["timestamp"], "message": e["message"]} for e in log_events],
    }
    data = gzip.compress(json.dumps(envelope, separators=(",", ":")).encode())
    name = self.lookup_name_from_arn(delivery_stream_arn).delivery_stream_name
    self.put_record_batch(name, [{"Data": data}])


FirehoseBackend.put_record_batch = _put_record_batch
FirehoseBackend.put_http_records = staticmethod(_deliver_over_http)
FirehoseBackend.send_log_event = _subscription_to_firehose

if __name__ == "__main__":
    main(sys.argv[1:])
