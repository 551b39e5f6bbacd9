//! Firehose request bodies → lines for the pipeline. Pure and synchronous, tested on byte
//! literals. Each record is base64; then gzip if it starts with the gzip magic bytes (a
//! CloudWatch Logs subscription sends gzip); then either a CloudWatch Logs envelope
//! (`DATA_MESSAGE`: every log event's `message` is a record; `CONTROL_MESSAGE`: skipped) or
//! plain invocation records, one or many per record, newline-delimited (direct PUT, or a
//! stream that decompresses and extracts messages itself).

use std::io::Read;

use base64::Engine;
use flate2::read::MultiGzDecoder;

use super::errors::FirehoseError;
use super::models::{LogsEnvelope, Request};
use crate::batch::LineRef;
use crate::store;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A record that could not be decoded: kept for the dead-letter file, never dropped silently.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub index: usize,
    pub reason: &'static str,
    /// The record's `data` exactly as received (base64).
    pub data: String,
}

#[derive(Debug, Default)]
pub struct Decoded {
    pub buf: Vec<u8>,
    /// `line` is the record's index in the request, for messages and the dead-letter file.
    pub lines: Vec<LineRef>,
    pub rejected: Vec<Rejected>,
    pub control_messages: usize,
}

/// Decompresses with a ceiling: a body or record over `limit` bytes is refused, however small
/// it was on the wire (a gzip bomb).
pub fn gunzip(bytes: &[u8], limit: usize) -> Result<Vec<u8>, GunzipError> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| GunzipError::Corrupt)?;
    if out.len() > limit {
        return Err(GunzipError::TooLarge);
    }
    Ok(out)
}

#[derive(Debug, PartialEq, Eq)]
pub enum GunzipError {
    Corrupt,
    TooLarge,
}

/// The request body (after `Content-Encoding`) → the request.
pub fn decode_body(body: &[u8], gzip: bool, limit: usize) -> Result<Request, FirehoseError> {
    let owned;
    let body = if gzip {
        owned = gunzip(body, limit).map_err(|e| match e {
            GunzipError::TooLarge => FirehoseError::TooLarge(limit),
            GunzipError::Corrupt => FirehoseError::BadRequest(
                "Content-Encoding is gzip but the body is not valid gzip".into(),
            ),
        })?;
        &owned[..]
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        FirehoseError::BadRequest(format!(
            "not a Firehose request ({{requestId, timestamp, records}}): {e}"
        ))
    })
}

/// Every record of a request → lines, plus what could not be decoded.
pub fn decode_records(req: &Request, record_limit: usize) -> Decoded {
    let mut d = Decoded::default();
    for (index, r) in req.records.iter().enumerate() {
        let reject = |d: &mut Decoded, reason| {
            d.rejected.push(Rejected {
                index,
                reason,
                data: r.data.clone(),
            })
        };
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(r.data.trim()) else {
            reject(&mut d, "bad_base64");
            continue;
        };
        let bytes = if raw.starts_with(&GZIP_MAGIC) {
            match gunzip(&raw, record_limit) {
                Ok(b) => b,
                Err(GunzipError::Corrupt) => {
                    reject(&mut d, "bad_gzip");
                    continue;
                }
                Err(GunzipError::TooLarge) => {
                    reject(&mut d, "record_too_large");
                    continue;
                }
            }
        } else if raw.len() > record_limit {
            reject(&mut d, "record_too_large");
            continue;
        } else {
            raw
        };
        if memchr::memmem::find(&bytes, b"\"messageType\"").is_some() {
            if let Ok(env) = serde_json::from_slice::<LogsEnvelope>(&bytes) {
                match env.message_type.as_str() {
                    "DATA_MESSAGE" => {
                        for e in env.log_events {
                            let id = match &e.id {
                                serde_json::Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            let key = store::dedupe_key(
                                "cwl",
                                format!("{}:{id}", env.log_group).as_bytes(),
                            );
                            push_line(&mut d, e.message.as_bytes(), index, Some(key));
                        }
                    }
                    "CONTROL_MESSAGE" => d.control_messages += 1,
                    _ => reject(&mut d, "unknown_message_type"),
                }
                continue;
            }
        }
        // Plain records: one or many, newline-delimited.
        for line in bytes.split(|b| *b == b'\n') {
            if !line.iter().all(u8::is_ascii_whitespace) {
                push_line(&mut d, line, index, None);
            }
        }
    }
    d
}

fn push_line(d: &mut Decoded, line: &[u8], index: usize, event_key: Option<store::DedupeKey>) {
    let start = d.buf.len();
    d.buf.extend_from_slice(line);
    d.lines.push(LineRef {
        start,
        end: d.buf.len(),
        line: index as u64,
        event_key,
    });
    d.buf.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(b: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    fn request(records: &[String]) -> Request {
        let records: Vec<String> = records
            .iter()
            .map(|d| format!(r#"{{"data":"{d}"}}"#))
            .collect();
        let body = format!(
            r#"{{"requestId":"r-1","timestamp":1578090901599,"records":[{}]}}"#,
            records.join(",")
        );
        decode_body(body.as_bytes(), false, 1 << 20).unwrap()
    }

    fn lines(d: &Decoded) -> Vec<String> {
        d.lines
            .iter()
            .map(|l| String::from_utf8_lossy(&d.buf[l.start..l.end]).into_owned())
            .collect()
    }

    #[test]
    fn a_cloudwatch_envelope_gives_every_message_with_its_event_id() {
        let env = br#"{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"/bedrock","logStream":"aws/bedrock/modelinvocations","subscriptionFilters":["f"],"logEvents":[{"id":"3195310660696698337880902507980421114328961542429822156","timestamp":1,"message":"{\"a\":1}"},{"id":"2","timestamp":2,"message":"{\"b\":2}"}]}"#;
        let d = decode_records(&request(&[b64(&gz(env))]), 1 << 20);
        assert_eq!(lines(&d), [r#"{"a":1}"#, r#"{"b":2}"#]);
        assert!(d.lines.iter().all(|l| l.event_key.is_some()));
        assert_ne!(d.lines[0].event_key, d.lines[1].event_key);
    }

    #[test]
    fn numeric_event_ids_are_accepted() {
        let env = br#"{"logEvents":[{"id":65,"timestamp":1,"message":"{}"}],"logGroup":"g","logStream":"s","messageType":"DATA_MESSAGE","owner":"1","subscriptionFilters":["f"]}"#;
        let d = decode_records(&request(&[b64(&gz(env))]), 1 << 20);
        assert_eq!(lines(&d), ["{}"]);
    }

    #[test]
    fn control_messages_are_skipped() {
        let env = br#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;
        let d = decode_records(&request(&[b64(&gz(env))]), 1 << 20);
        assert!(d.lines.is_empty());
        assert_eq!(d.control_messages, 1);
    }

    #[test]
    fn plain_records_may_hold_several_lines_with_or_without_gzip() {
        let d = decode_records(
            &request(&[
                b64(b"{\"x\":1}\n{\"x\":2}\n"),
                b64(&gz(b"{\"x\":3}")),
                b64(b""),
            ]),
            1 << 20,
        );
        assert_eq!(lines(&d), [r#"{"x":1}"#, r#"{"x":2}"#, r#"{"x":3}"#]);
        assert_eq!(
            d.lines.iter().map(|l| l.line).collect::<Vec<_>>(),
            [0, 0, 1]
        );
    }

    #[test]
    fn undecodable_records_are_rejected_with_a_reason_and_kept() {
        let bomb = gz(&vec![b' '; 2 << 20]);
        let d = decode_records(
            &request(&[
                "!!not base64!!".into(),
                b64(&[0x1f, 0x8b, 1, 2, 3]),
                b64(&bomb),
                b64(b"{\"ok\":1}"),
            ]),
            1 << 20,
        );
        let reasons: Vec<&str> = d.rejected.iter().map(|r| r.reason).collect();
        assert_eq!(reasons, ["bad_base64", "bad_gzip", "record_too_large"]);
        assert_eq!(d.rejected[0].data, "!!not base64!!");
        assert_eq!(lines(&d), [r#"{"ok":1}"#]);
    }

    #[test]
    fn a_gzip_body_is_decompressed_within_the_limit() {
        let body = br#"{"requestId":"r","timestamp":1,"records":[]}"#;
        assert_eq!(
            decode_body(&gz(body), true, 1 << 10).unwrap().request_id,
            "r"
        );
        let big = format!(
            r#"{{"requestId":"r","timestamp":1,"records":[{{"data":"{}"}}]}}"#,
            "A".repeat(4096)
        );
        assert!(matches!(
            decode_body(&gz(big.as_bytes()), true, 1 << 10),
            Err(FirehoseError::TooLarge(_))
        ));
        assert!(matches!(
            decode_body(b"not gzip", true, 1 << 10),
            Err(FirehoseError::BadRequest(_))
        ));
        assert!(matches!(
            decode_body(b"{}", false, 1 << 10),
            Err(FirehoseError::BadRequest(_))
        ));
    }
}
