//! The Firehose intake bound: past it, requests are answered a spec-shaped 503 at once while
//! the admitted ones are acknowledged, and the daemon counts exactly what it acknowledged.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::daemon::{data, post, promtool_check, sum, Daemon};
use crate::firehose::body;
use crate::follow::call;

const KEY: &str = "k-intake-0123456789";

fn start(firehose_settings: &str) -> (Daemon, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, format!("{KEY}\n")).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[firehose]\nmax_body_bytes = 300000\n{firehose_settings}"),
    )
    .unwrap();
    let (card, state) = (data("ratecard.toml"), dir.path().join("state"));
    let d = Daemon::start(&[
        "--config",
        config.to_str().unwrap(),
        "--ratecard",
        &card,
        "--state-dir",
        state.to_str().unwrap(),
        "--firehose-access-key-file",
        keys.to_str().unwrap(),
    ]);
    (d, dir)
}

/// `n` records of `tokens` input tokens each, with request ids `<prefix>-<i>`.
fn records(prefix: &str, n: usize, tokens: u64) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| call(&format!("{prefix}-{i}"), "u", tokens).into_bytes())
        .collect()
}

fn head(addr: &str, rid: &str, len: usize) -> String {
    format!(
        "POST /firehose HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         X-Amz-Firehose-Protocol-Version: 1.0\r\nX-Amz-Firehose-Request-Id: {rid}\r\n\
         X-Amz-Firehose-Access-Key: {KEY}\r\nContent-Length: {len}\r\n\r\n"
    )
}

/// A request whose headers and first half of the body are sent: admitted, and held in flight
/// until `finish` sends the rest.
struct Held {
    s: TcpStream,
    rest: Vec<u8>,
}

fn hold(d: &Daemon, rid: &str, records: &[Vec<u8>]) -> Held {
    let b = body(rid, records);
    let mut s = TcpStream::connect(&d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(head(&d.addr, rid, b.len()).as_bytes()).unwrap();
    s.write_all(&b[..b.len() / 2]).unwrap();
    Held {
        s,
        rest: b[b.len() / 2..].to_vec(),
    }
}

impl Held {
    fn finish(mut self) -> (u16, serde_json::Value) {
        self.s.write_all(&self.rest).unwrap();
        self.answer()
    }

    /// Reads the answer without sending the rest of the body.
    fn answer(mut self) -> (u16, serde_json::Value) {
        let mut raw = Vec::new();
        let _ = self.s.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw);
        let (head, json) = text.split_once("\r\n\r\n").expect("an HTTP response");
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, serde_json::from_str(json).expect("a JSON body"))
    }
}

fn send(d: &Daemon, rid: &str, records: &[Vec<u8>]) -> (u16, serde_json::Value) {
    let headers = [
        ("Content-Type", "application/json"),
        ("X-Amz-Firehose-Protocol-Version", "1.0"),
        ("X-Amz-Firehose-Request-Id", rid),
        ("X-Amz-Firehose-Access-Key", KEY),
    ];
    let (status, text) = post(&d.addr, "/firehose", &headers, &body(rid, records));
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
    (status, json)
}

/// The response shape of the delivery spec: the request id, a number timestamp, and an error
/// message exactly when the answer is not 200.
fn assert_spec_shaped((status, resp): &(u16, serde_json::Value), rid: &str) {
    assert_eq!(resp["requestId"], rid, "{resp}");
    assert!(
        resp["timestamp"].as_i64().unwrap_or(0) > 1_700_000_000_000,
        "{resp}"
    );
    assert_eq!(
        resp.get("errorMessage").is_some_and(|m| m.is_string()),
        *status != 200,
        "{status} {resp}"
    );
}

fn in_flight(m: &str) -> (f64, f64) {
    (
        sum(m, "bedrock_firehose_in_flight_requests", &[]),
        sum(m, "bedrock_firehose_in_flight_bytes", &[]),
    )
}

fn tokens(m: &str) -> f64 {
    sum(m, "bedrock_tokens_total", &["token_type=\"input\""])
}

fn code(m: &str, code: &str) -> f64 {
    let label = format!("code=\"{code}\"");
    sum(m, "bedrock_firehose_requests_total", &[&label])
}

fn overload_lines(d: &Daemon) -> usize {
    let log = d.log.lock().unwrap();
    log.iter()
        .filter(|l| l.contains("Firehose intake is full"))
        .count()
}

#[test]
fn requests_past_the_intake_bound_get_spec_shaped_503s_and_only_acknowledged_ones_count() {
    let (d, _dir) = start("max_in_flight_requests = 4\nmax_in_flight_bytes = 400000\n");

    // Four requests in flight (bodies half sent) fill the request bound.
    let held: Vec<(String, Held)> = (0..4)
        .map(|i| {
            let rid = format!("held-{i}");
            let h = hold(&d, &rid, &records(&rid, 3, 100));
            (rid, h)
        })
        .collect();
    d.wait_for("four requests in flight", |m| in_flight(m).0 == 4.0);

    // Six more are refused at once, each with the spec's response, and logged once in all.
    let extras: Vec<(String, Vec<Vec<u8>>)> = (0..6)
        .map(|i| {
            (
                format!("extra-{i}"),
                records(&format!("extra-{i}"), 2, 1000),
            )
        })
        .collect();
    for (rid, recs) in &extras {
        let answer = send(&d, rid, recs);
        assert_eq!(answer.0, 503, "{}", answer.1);
        assert_spec_shaped(&answer, rid);
        let message = answer.1["errorMessage"].as_str().unwrap();
        assert!(message.contains("in flight"), "{message}");
    }
    assert_eq!(
        overload_lines(&d),
        1,
        "one line for the overload, not one per 503"
    );
    assert_eq!(tokens(&d.metrics()), 0.0, "nothing committed yet");

    // The held requests complete and are acknowledged; only they are counted.
    for (rid, h) in held {
        let answer = h.finish();
        assert_eq!(answer.0, 200, "{}", answer.1);
        assert_spec_shaped(&answer, &rid);
    }
    let m = d.metrics();
    assert_eq!(tokens(&m), 1200.0);
    assert_eq!((code(&m, "200"), code(&m, "503")), (4.0, 6.0));
    assert_eq!(in_flight(&m), (0.0, 0.0));

    // Firehose retries the refused requests (same id, same body): now acknowledged, counted.
    for (rid, recs) in &extras {
        let answer = send(&d, rid, recs);
        assert_eq!(answer.0, 200, "{}", answer.1);
        assert_spec_shaped(&answer, rid);
    }
    let m = d.metrics();
    assert_eq!(tokens(&m), 1200.0 + 12_000.0);
    assert_eq!(
        sum(&m, "bedrock_records_total", &["result=\"accepted\""]),
        24.0
    );
    assert_eq!(
        sum(&m, "bedrock_records_total", &["result=\"duplicate\""]),
        0.0
    );

    // The byte bound: one large body in flight leaves no room for another, but a small one
    // still gets in.
    let big_records = records("big", 700, 1);
    let big = hold(&d, "big", &big_records);
    let big_len = body("big", &big_records).len() as f64;
    d.wait_for("the large body in flight", |m| {
        in_flight(m) == (1.0, big_len)
    });
    let second = records("second", 600, 1);
    assert!(body("second", &second).len() as f64 + big_len > 400_000.0);
    let answer = send(&d, "second", &second);
    assert_eq!(answer.0, 503, "{}", answer.1);
    assert_spec_shaped(&answer, "second");
    let answer = send(&d, "small", &records("small", 1, 7));
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(big.finish().0, 200);
    let m = d.metrics();
    assert_eq!(tokens(&m), 13_200.0 + 700.0 + 7.0);
    assert_eq!((code(&m, "200"), code(&m, "503")), (12.0, 7.0));
    assert_eq!(in_flight(&m), (0.0, 0.0));
    promtool_check(&m);
    assert!(d.stop().success());
}

#[test]
fn a_stalled_upload_is_answered_and_gives_its_place_back() {
    let (d, _dir) = start("max_in_flight_requests = 1\nack_timeout = \"3s\"\n");
    let stalled = hold(&d, "stalled", &records("stalled", 2, 10));
    d.wait_for("the stalled request in flight", |m| in_flight(m).0 == 1.0);
    assert_eq!(send(&d, "waiting", &records("waiting", 1, 10)).0, 503);

    // The rest of its body never comes: answered once the deadline passes, place released.
    let answer = stalled.answer();
    assert_eq!(answer.0, 408, "{}", answer.1);
    assert_spec_shaped(&answer, "stalled");
    assert_eq!(in_flight(&d.metrics()), (0.0, 0.0));
    assert_eq!(send(&d, "waiting", &records("waiting", 1, 10)).0, 200);
    assert_eq!(tokens(&d.metrics()), 10.0);
    assert!(d.stop().success());
}
