//! The Firehose HTTP endpoint, with requests shaped exactly as the delivery spec describes.

use std::io::Write;

use base64::Engine;

use crate::daemon::{data, post, sum, Daemon};
use crate::follow::call;

const KEY: &str = "k-0123456789abcdef";

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

pub fn body(request_id: &str, records: &[Vec<u8>]) -> Vec<u8> {
    let recs: Vec<String> = records
        .iter()
        .map(|r| format!(r#"{{"data":"{}"}}"#, b64(r)))
        .collect();
    format!(
        r#"{{"requestId":"{request_id}","timestamp":1795344986123,"records":[{}]}}"#,
        recs.join(",")
    )
    .into_bytes()
}

fn envelope(events: &[(&str, String)], kind: &str) -> Vec<u8> {
    let evs: Vec<String> = events
        .iter()
        .map(|(id, m)| {
            format!(
                r#"{{"id":"{id}","timestamp":1795344986000,"message":{}}}"#,
                serde_json::to_string(m.trim_end()).unwrap()
            )
        })
        .collect();
    gz(format!(
        r#"{{"messageType":"{kind}","owner":"123456789012","logGroup":"/aws/bedrock/invocations","logStream":"aws/bedrock/modelinvocations","subscriptionFilters":["to-firehose"],"logEvents":[{}]}}"#,
        evs.join(",")
    )
    .as_bytes())
}

struct Setup {
    d: Daemon,
    _state: tempfile::TempDir,
    dead_letter: std::path::PathBuf,
}

fn start() -> Setup {
    let state = tempfile::tempdir().unwrap();
    let keys = state.path().join("keys");
    std::fs::write(
        &keys,
        format!("# old and new key during a rotation\nold-key-retired-soon\n{KEY}\n"),
    )
    .unwrap();
    let config = state.path().join("config.toml");
    std::fs::write(&config, "[attribution]\nmetadata_labels = [\"env\"]\n[firehose]\nmax_body_bytes = 300000\nmax_record_bytes = 100000\n").unwrap();
    let card = data("ratecard.toml");
    let s = state.path().join("state");
    let d = Daemon::start(&[
        "--config",
        config.to_str().unwrap(),
        "--ratecard",
        &card,
        "--state-dir",
        s.to_str().unwrap(),
        "--firehose-access-key-file",
        keys.to_str().unwrap(),
    ]);
    Setup {
        d,
        dead_letter: s.join("firehose-dead-letter.jsonl"),
        _state: state,
    }
}

fn send(
    d: &Daemon,
    rid: &str,
    key: &str,
    gzip: bool,
    payload: &[u8],
    attrs: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("X-Amz-Firehose-Protocol-Version", "1.0"),
        ("X-Amz-Firehose-Request-Id", rid),
        (
            "X-Amz-Firehose-Source-Arn",
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/bedrock",
        ),
        ("X-Amz-Firehose-Access-Key", key),
    ];
    if gzip {
        headers.push(("Content-Encoding", "gzip"));
    }
    if let Some(a) = attrs {
        headers.push(("X-Amz-Firehose-Common-Attributes", a));
    }
    let body = if gzip { gz(payload) } else { payload.to_vec() };
    let (status, text) = post(&d.addr, "/firehose", &headers, &body);
    (
        status,
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {text:?}")),
    )
}

#[test]
fn spec_shaped_deliveries_are_counted_once_and_answered_per_spec() {
    let Setup {
        d,
        dead_letter,
        _state,
    } = start();
    let tokens = |m: &str| sum(m, "bedrock_tokens_total", &["token_type=\"input\""]);

    // A CloudWatch Logs subscription batch: gzip body, gzip records, many events each.
    let cw1 = envelope(
        &[
            (
                "31953106606966983378809025079804211143289615424298221568",
                call("fh-1", "ann", 100),
            ),
            (
                "31953106606966983378809025079804211143289615424298221569",
                call("fh-2", "ann", 200),
            ),
        ],
        "DATA_MESSAGE",
    );
    let cw2 = envelope(
        &[(
            "31953106606966983378809025079804211143289615424298221570",
            call("fh-3", "bea", 400),
        )],
        "DATA_MESSAGE",
    );
    let control = envelope(
        &[(
            "",
            "CWL CONTROL MESSAGE: Checking health of destination Firehose.".into(),
        )],
        "CONTROL_MESSAGE",
    );
    let (status, resp) = send(
        &d,
        "req-cw-1",
        KEY,
        true,
        &body("req-cw-1", &[cw1, cw2, control]),
        Some(r#"{"commonAttributes":{"env":"prod"}}"#),
    );
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["requestId"], "req-cw-1");
    assert!(
        resp["timestamp"].as_i64().unwrap() > 1_700_000_000_000,
        "timestamp is a number of milliseconds: {resp}"
    );
    assert!(resp.get("errorMessage").is_none());
    let m = d.metrics();
    assert_eq!(
        tokens(&m),
        700.0,
        "acknowledged means committed: the totals are already there"
    );
    assert!(
        m.contains(r#"env="prod""#),
        "common attributes are a label source"
    );

    // Direct PUT: plain records, one holding two NDJSON lines; plain body.
    let (status, _) = send(
        &d,
        "req-put-1",
        KEY,
        false,
        &body(
            "req-put-1",
            &[
                (call("fh-4", "cy", 1000) + &call("fh-5", "cy", 2000)).into_bytes(),
                call("fh-6", "cy", 4000).into_bytes(),
            ],
        ),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(tokens(&d.metrics()), 7700.0);

    // A retried request id is acknowledged and not counted again; a new id carrying an old
    // requestId is deduplicated per record.
    let (status, resp) = send(
        &d,
        "req-put-1",
        KEY,
        false,
        &body("req-put-1", &[call("fh-4", "cy", 1000).into_bytes()]),
        None,
    );
    assert_eq!(
        (status, resp["requestId"].as_str()),
        (200, Some("req-put-1"))
    );
    let (status, _) = send(
        &d,
        "req-put-2",
        KEY,
        false,
        &body("req-put-2", &[call("fh-6", "cy", 4000).into_bytes()]),
        None,
    );
    assert_eq!(status, 200);
    let m = d.metrics();
    assert_eq!(tokens(&m), 7700.0);
    assert_eq!(
        sum(
            &m,
            "bedrock_records_total",
            &["source=\"firehose\"", "result=\"duplicate\""]
        ),
        2.0
    );

    // A malformed record inside a good batch: counted, dead-lettered, the rest goes on.
    let mut payload = body(
        "req-bad-rec",
        &[
            call("fh-7", "dee", 8000).into_bytes(),
            b"{not an invocation record".to_vec(),
        ],
    );
    let text = String::from_utf8(payload.clone())
        .unwrap()
        .replace(r#"]}"#, r#",{"data":"@@not-base64@@"}]}"#);
    payload = text.into_bytes();
    let (status, _) = send(&d, "req-bad-rec", KEY, false, &payload, None);
    assert_eq!(status, 200);
    let m = d.metrics();
    assert_eq!(tokens(&m), 15_700.0);
    assert_eq!(
        sum(
            &m,
            "bedrock_malformed_records_total",
            &["source=\"firehose\"", "reason=\"bad_base64\""]
        ),
        1.0
    );
    assert_eq!(
        sum(
            &m,
            "bedrock_malformed_records_total",
            &["source=\"firehose\"", "reason=\"invalid_json\""]
        ),
        1.0
    );
    let dl = std::fs::read_to_string(&dead_letter).unwrap();
    assert!(
        dl.contains("@@not-base64@@") && dl.contains("bad_base64"),
        "{dl}"
    );
    assert!(
        dl.contains("{not an invocation record") && dl.contains("req-bad-rec"),
        "{dl}"
    );

    // Refusals: wrong key, missing request id, undecodable body, too large, gzip bomb.
    let (status, resp) = send(&d, "req-x", "wrong-key", false, &body("req-x", &[]), None);
    assert_eq!(status, 401);
    assert_eq!(resp["requestId"], "req-x");
    assert!(resp["errorMessage"]
        .as_str()
        .unwrap()
        .contains("Access-Key"));
    let (status, _) = post(
        &d.addr,
        "/firehose",
        &[("X-Amz-Firehose-Access-Key", KEY)],
        b"{}",
    );
    assert_eq!(status, 400);
    let (status, resp) = send(&d, "req-y", KEY, false, b"this is not json", None);
    assert_eq!(status, 400, "{resp}");
    let big = body("req-big", &[vec![b' '; 400_000]]);
    let (status, resp) = send(&d, "req-big", KEY, false, &big, None);
    assert_eq!(status, 413, "{resp}");
    let bomb = format!(
        r#"{{"requestId":"req-bomb","timestamp":1,"records":[{{"data":"{}"}}]}}"#,
        "A".repeat(2_000_000)
    );
    let (status, _) = send(&d, "req-bomb", KEY, true, bomb.as_bytes(), None);
    assert_eq!(status, 413);
    let m = d.metrics();
    assert_eq!(tokens(&m), 15_700.0);
    for (code, n) in [("200", 5.0), ("401", 1.0), ("400", 2.0), ("413", 2.0)] {
        assert_eq!(
            sum(
                &m,
                "bedrock_firehose_requests_total",
                &[&format!("code=\"{code}\"")]
            ),
            n,
            "code {code}"
        );
    }
    crate::daemon::promtool_check(&m);
    assert!(d.stop().success());
}
