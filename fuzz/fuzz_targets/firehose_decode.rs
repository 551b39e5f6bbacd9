//! Firehose request decoder: `decode_body` (JSON, optional gzip with a size ceiling) and
//! `decode_records` (base64, optional gzip, CloudWatch Logs envelope or NDJSON per record).
//!
//! The first input byte picks the mode, so seeds can be written by hand:
//! - `R` + a body: the body as received, with and without `Content-Encoding: gzip`;
//! - `G` + a body: the body gzipped, then decoded as a gzip body, with a small and a large limit;
//! - anything else: the rest is structured (`arbitrary`), so the fuzzer reaches past base64
//!   and gzip: a request built from records whose data is base64 of (gzip of, in one or two
//!   members, or truncated) a CloudWatch Logs envelope, NDJSON, or raw bytes, with optional
//!   whitespace around the base64 and an optional corrupted byte.
//!
//! Checks, beyond "no panic":
//! - the gzip ceiling: a gzip body over the limit is refused `TooLarge`, one within it decodes
//!   to the request that was sent; no record yields more than `record_limit` bytes of lines;
//! - every `LineRef` lies within `buf`; the lines tile `buf` exactly (each followed by its
//!   `\n`), in record order;
//! - every record is accounted for: rejected at most once (with its data kept verbatim) or
//!   decoded, never both;
//! - for records built cleanly, the exact outcome: their lines (with event keys for envelope
//!   messages), control messages, or the rejection reason.
#![no_main]

use std::io::Write;

use arbitrary::Arbitrary;
use base64::Engine;
use bedrock_cost_exporter::sources::firehose::decode::{decode_body, decode_records, Decoded};
use bedrock_cost_exporter::sources::firehose::errors::FirehoseError;
use bedrock_cost_exporter::sources::firehose::models::Request;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;

/// Body limits tried on the `R` and `G` modes: one that refuses most bodies, one that does not.
const LIMITS: [usize; 2] = [256, 1 << 20];
/// Record limits tried on every decoded request.
const RECORD_LIMITS: [usize; 2] = [64, 1 << 16];

#[derive(Arbitrary, Debug)]
struct Built {
    request_id: String,
    records: Vec<Rec>,
    gzip_body: bool,
    body_limit: u16,
    record_limit: u16,
}

#[derive(Arbitrary, Debug)]
struct Rec {
    payload: Payload,
    gzip: Gz,
    /// Whitespace around the base64 text (the decoder trims it).
    pad: Pad,
    /// Overwrite one byte of the base64 text: (position, byte).
    corrupt: Option<(u16, u8)>,
}

#[derive(Arbitrary, Debug)]
enum Payload {
    Envelope {
        message_type: MessageType,
        log_group: String,
        events: Vec<(EventId, String)>,
    },
    Ndjson {
        lines: Vec<String>,
        trailing_newline: bool,
    },
    Bytes(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum MessageType {
    Data,
    Control,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum EventId {
    Str(String),
    Num(u64),
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum Gz {
    None,
    Gzip,
    /// Two gzip members split at this byte of the payload (Firehose may concatenate).
    TwoMembers(u16),
    /// Gzip cut short after this many bytes.
    Truncated(u16),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Pad {
    None,
    Spaces,
    Newlines,
}

/// What a cleanly built record must decode to.
#[derive(Debug, PartialEq)]
enum Expect {
    Lines(Vec<Vec<u8>>, bool),
    Control,
    Rejected(&'static str),
    Unknown,
}

fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn non_blank(b: &[u8]) -> bool {
    !b.iter().all(u8::is_ascii_whitespace)
}

impl Payload {
    /// The record's bytes before gzip, and what they decode to (ignoring size limits).
    fn bytes(&self) -> (Vec<u8>, Expect) {
        match self {
            Payload::Envelope {
                message_type,
                log_group,
                events,
            } => {
                let kind = match message_type {
                    MessageType::Data => "DATA_MESSAGE",
                    MessageType::Control => "CONTROL_MESSAGE",
                    MessageType::Other(s) => s.as_str(),
                };
                let events: Vec<serde_json::Value> = events
                    .iter()
                    .enumerate()
                    .map(|(i, (id, message))| {
                        let id = match id {
                            EventId::Str(s) => serde_json::json!(s),
                            EventId::Num(n) => serde_json::json!(n),
                        };
                        serde_json::json!({"id": id, "timestamp": i, "message": message})
                    })
                    .collect();
                let env = serde_json::json!({
                    "messageType": kind, "owner": "1", "logGroup": log_group,
                    "logStream": "s", "subscriptionFilters": ["f"], "logEvents": events,
                });
                let expect = match kind {
                    "DATA_MESSAGE" => Expect::Lines(
                        match &env["logEvents"] {
                            serde_json::Value::Array(a) => a
                                .iter()
                                .map(|e| e["message"].as_str().unwrap().as_bytes().to_vec())
                                .collect(),
                            _ => unreachable!(),
                        },
                        true,
                    ),
                    "CONTROL_MESSAGE" => Expect::Control,
                    _ => Expect::Rejected("unknown_message_type"),
                };
                (serde_json::to_vec(&env).unwrap(), expect)
            }
            Payload::Ndjson {
                lines,
                trailing_newline,
            } => {
                let mut text = lines.join("\n");
                if *trailing_newline {
                    text.push('\n');
                }
                let b = text.into_bytes();
                let expect = plain_lines(&b);
                (b, expect)
            }
            Payload::Bytes(b) => (b.clone(), plain_lines(b)),
        }
    }
}

fn plain_lines(b: &[u8]) -> Expect {
    // Text naming `messageType` may or may not parse as an envelope: not predicted here.
    if b.windows(13).any(|w| w == b"\"messageType\"") {
        return Expect::Unknown;
    }
    let lines = b
        .split(|c| *c == b'\n')
        .filter(|l| non_blank(l))
        .map(<[u8]>::to_vec)
        .collect();
    Expect::Lines(lines, false)
}

impl Rec {
    /// The record's `data` and what it must decode to with this record limit.
    fn build(&self, record_limit: usize) -> (String, Expect) {
        let (payload, mut expect) = self.payload.bytes();
        let wire = match self.gzip {
            Gz::None => payload.clone(),
            Gz::Gzip => gz(&payload),
            Gz::TwoMembers(at) => {
                let at = (at as usize).min(payload.len());
                let mut w = gz(&payload[..at]);
                w.extend(gz(&payload[at..]));
                w
            }
            Gz::Truncated(at) => {
                let w = gz(&payload);
                w[..(at as usize).min(w.len())].to_vec()
            }
        };
        let gzipped = matches!(self.gzip, Gz::Gzip | Gz::TwoMembers(_));
        if matches!(self.gzip, Gz::Truncated(_)) || (!gzipped && wire.starts_with(&[0x1f, 0x8b])) {
            expect = Expect::Unknown;
        } else if (if gzipped { payload.len() } else { wire.len() }) > record_limit {
            expect = Expect::Rejected("record_too_large");
        }
        let mut data = b64(&wire);
        match self.pad {
            Pad::None => {}
            Pad::Spaces => data = format!("  {data} "),
            Pad::Newlines => data = format!("\n{data}\r\n"),
        }
        if let Some((at, byte)) = self.corrupt {
            let mut bytes = data.into_bytes();
            if !bytes.is_empty() {
                let i = at as usize % bytes.len();
                bytes[i] = byte;
            }
            data = String::from_utf8_lossy(&bytes).into_owned();
            expect = Expect::Unknown;
        }
        (data, expect)
    }
}

/// What holds for any request: ranges, tiling, and every record accounted for once.
fn check(req: &Request, d: &Decoded, record_limit: usize) {
    let mut pos = 0;
    let mut per_record = vec![0usize; req.records.len()];
    let mut last_index = 0;
    for l in &d.lines {
        assert_eq!(l.start, pos, "lines must tile the buffer");
        assert!(l.start <= l.end && l.end < d.buf.len(), "{l:?} outside buf");
        assert_eq!(d.buf[l.end], b'\n');
        let index = l.line as usize;
        assert!(index < req.records.len() && index >= last_index, "{l:?}");
        last_index = index;
        let bytes = &d.buf[l.start..l.end];
        if l.event_key.is_none() {
            assert!(!bytes.contains(&b'\n') && non_blank(bytes), "{bytes:?}");
        }
        per_record[index] += bytes.len();
        pos = l.end + 1;
    }
    assert_eq!(pos, d.buf.len(), "bytes in buf that no line covers");
    for (i, n) in per_record.iter().enumerate() {
        assert!(
            *n <= record_limit,
            "record {i}: {n} bytes over the {record_limit} limit"
        );
    }
    let mut last = None;
    for r in &d.rejected {
        assert!(
            last < Some(r.index),
            "record {} rejected twice or out of order",
            r.index
        );
        last = Some(r.index);
        assert_eq!(r.data, req.records[r.index].data);
        assert_eq!(
            per_record[r.index], 0,
            "record {} both rejected and decoded",
            r.index
        );
        assert!(d.lines.iter().all(|l| l.line as usize != r.index));
        assert!(matches!(
            r.reason,
            "bad_base64" | "bad_gzip" | "record_too_large" | "unknown_message_type"
        ));
    }
    assert!(d.control_messages + d.rejected.len() <= req.records.len());
}

fn records(req: &Request) {
    for record_limit in RECORD_LIMITS {
        check(req, &decode_records(req, record_limit), record_limit);
    }
}

/// A body as received: no limit applies without gzip; with gzip, it must be valid gzip.
fn raw(body: &[u8]) {
    for (gzip, limit) in [(false, 0), (true, LIMITS[0]), (true, LIMITS[1])] {
        match decode_body(body, gzip, limit) {
            Ok(req) => records(&req),
            Err(FirehoseError::TooLarge(n)) => assert!(gzip && n == limit),
            Err(FirehoseError::BadRequest(_)) => {}
            Err(e) => panic!("decode_body gave {e:?}"),
        }
    }
}

/// A gzip body: refused exactly when it inflates past the limit.
fn gzipped(body: &[u8]) {
    let wire = gz(body);
    for limit in LIMITS {
        match decode_body(&wire, true, limit) {
            Ok(req) => {
                assert!(
                    body.len() <= limit,
                    "{} bytes accepted under a {limit} limit",
                    body.len()
                );
                records(&req);
            }
            Err(FirehoseError::TooLarge(_)) => {
                assert!(body.len() > limit, "refused within the limit")
            }
            Err(FirehoseError::BadRequest(_)) => assert!(body.len() <= limit),
            Err(e) => panic!("decode_body gave {e:?}"),
        }
    }
}

fn built(b: &Built) {
    let record_limit = b.record_limit as usize;
    let (datas, expects): (Vec<String>, Vec<Expect>) =
        b.records.iter().map(|r| r.build(record_limit)).unzip();
    let records: Vec<serde_json::Value> = datas
        .iter()
        .map(|d| serde_json::json!({ "data": d }))
        .collect();
    let json = serde_json::to_vec(&serde_json::json!({
        "requestId": b.request_id, "timestamp": 1578090901599u64, "records": records,
    }))
    .unwrap();
    let limit = b.body_limit as usize;
    let body = if b.gzip_body { gz(&json) } else { json.clone() };
    let req = match decode_body(&body, b.gzip_body, limit) {
        Ok(req) => {
            assert!(
                !b.gzip_body || json.len() <= limit,
                "gzip body over the limit accepted"
            );
            req
        }
        Err(FirehoseError::TooLarge(_)) => {
            assert!(
                b.gzip_body && json.len() > limit,
                "refused a body within the limit"
            );
            return;
        }
        Err(e) => panic!("a well-formed request was refused: {e}"),
    };
    assert_eq!(req.request_id, b.request_id);
    assert_eq!(req.records.len(), datas.len());
    let d = decode_records(&req, record_limit);
    check(&req, &d, record_limit);

    let mut control = 0;
    for (i, expect) in expects.iter().enumerate() {
        let lines: Vec<_> = d.lines.iter().filter(|l| l.line as usize == i).collect();
        let rejected = d.rejected.iter().find(|r| r.index == i).map(|r| r.reason);
        match expect {
            Expect::Unknown => continue,
            Expect::Lines(want, keyed) => {
                assert_eq!(rejected, None, "record {i}");
                let got: Vec<&[u8]> = lines.iter().map(|l| &d.buf[l.start..l.end]).collect();
                assert_eq!(got, *want, "record {i}");
                assert!(lines.iter().all(|l| l.event_key.is_some() == *keyed));
            }
            Expect::Control => {
                assert!(rejected.is_none() && lines.is_empty(), "record {i}");
                control += 1;
            }
            Expect::Rejected(reason) => assert_eq!(rejected, Some(*reason), "record {i}"),
        }
    }
    if expects.iter().all(|e| *e != Expect::Unknown) {
        assert_eq!(d.control_messages, control);
    }
}

fuzz_target!(|input: &[u8]| match input.split_first() {
    Some((b'R', body)) => raw(body),
    Some((b'G', body)) => gzipped(body),
    Some((_, rest)) => {
        if let Ok(b) = Built::arbitrary_take_rest(arbitrary::Unstructured::new(rest)) {
            built(&b);
        }
    }
    None => {}
});
