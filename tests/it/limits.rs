//! What a client may send before a handler runs: header size and count (431), the time to
//! send a request head (slow clients are cut off), bodies nobody reads, and the Firehose body
//! limit (a spec-shaped 413). After each, the daemon still serves.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::auth::{exchange, get_as};
use crate::daemon::{data, Daemon};

const KEY: &str = "fh-key-0123456789abcdef";

fn start(config: &str) -> (Daemon, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, format!("{KEY}\n")).unwrap();
    let card = data("ratecard.toml");
    let d = Daemon::start(&[
        "--config",
        path.to_str().unwrap(),
        "--ratecard",
        &card,
        "--in-memory",
        "--firehose-access-key-file",
        keys.to_str().unwrap(),
    ]);
    (d, dir)
}

/// Sends `bytes`, then waits for the server to answer or close: (what it sent, seconds).
fn send_and_wait(addr: &str, bytes: &[u8]) -> (String, f64) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(bytes).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed().as_secs_f64(),
    )
}

fn still_serving(d: &Daemon) {
    assert_eq!(get_as(&d.addr, "/healthz", "").body, "ok\n");
}

#[test]
fn large_or_many_headers_get_431_and_slow_or_idle_clients_are_cut_off() {
    let (d, _dir) =
        start("[http]\nmax_header_bytes = 16384\nmax_headers = 20\nheader_read_timeout = \"1s\"\n");
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(17_000)
    );
    let (reply, _) = send_and_wait(&d.addr, big.as_bytes());
    assert!(reply.starts_with("HTTP/1.1 431 "), "{reply}");
    let fits = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
        "a".repeat(15_000)
    );
    assert!(send_and_wait(&d.addr, fits.as_bytes())
        .0
        .starts_with("HTTP/1.1 200 "));
    let many: String = (0..21).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (reply, _) = send_and_wait(
        &d.addr,
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
    );
    assert!(reply.starts_with("HTTP/1.1 431 "), "{reply}");
    still_serving(&d);

    // Slow-loris: a head that never ends, and a connection that never says anything.
    let (reply, secs) = send_and_wait(&d.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1");
    assert!(!reply.contains(" 200 "), "{reply}");
    assert!((0.9..8.0).contains(&secs), "cut off after {secs:.1} s");
    let (reply, secs) = send_and_wait(&d.addr, b"");
    assert_eq!(reply, "");
    assert!(
        (0.9..8.0).contains(&secs),
        "idle connection closed after {secs:.1} s"
    );
    still_serving(&d);
    assert!(d.stop().success());
}

#[test]
fn bodies_are_read_only_by_firehose_and_one_over_its_limit_gets_a_spec_shaped_413() {
    let (d, _dir) = start("[firehose]\nmax_body_bytes = 100000\n");
    // A GET or POST elsewhere announcing a gigabyte is answered at once: nobody reads it.
    for head in [
        "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n",
        "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n",
    ] {
        let mut s = TcpStream::connect(&d.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        let mut first = [0u8; 12];
        s.read_exact(&mut first)
            .expect("an answer without the body");
        let status = String::from_utf8_lossy(&first).into_owned();
        assert!(
            status.ends_with("200") || status.ends_with("405"),
            "{status}"
        );
    }

    let record = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        vec![b' '; 150_000],
    );
    let body = format!(r#"{{"requestId":"big","timestamp":1,"records":[{{"data":"{record}"}}]}}"#);
    let head = |rid: &str, framing: &str| {
        format!("POST /firehose HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{framing}X-Amz-Firehose-Request-Id: {rid}\r\nX-Amz-Firehose-Access-Key: {KEY}\r\nContent-Type: application/json\r\n\r\n")
    };
    let r = exchange(
        &d.addr,
        &head("big", &format!("Content-Length: {}\r\n", body.len())),
        body.as_bytes(),
    );
    assert_eq!(r.status, 413, "{}", r.body);
    let json: serde_json::Value = serde_json::from_str(&r.body).expect("a JSON answer");
    assert_eq!(json["requestId"], "big");
    assert!(
        json["timestamp"].as_i64().unwrap() > 1_700_000_000_000,
        "{json}"
    );
    assert!(
        json["errorMessage"]
            .as_str()
            .unwrap()
            .contains("over the 100000-byte limit"),
        "{json}"
    );
    // The same without a length, chunked: refused at the limit, not buffered whole.
    let chunked = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    let r = exchange(
        &d.addr,
        &head("big-chunked", "Transfer-Encoding: chunked\r\n"),
        chunked.as_bytes(),
    );
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(
        r.body.contains(r#""requestId":"big-chunked""#),
        "{}",
        r.body
    );

    still_serving(&d);
    let ok = r#"{"requestId":"small","timestamp":1,"records":[]}"#;
    let r = exchange(
        &d.addr,
        &head("small", &format!("Content-Length: {}\r\n", ok.len())),
        ok.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(d.stop().success());
}
