//! Exactly once through the Firehose endpoint under SIGKILL: Firehose-like senders (the same
//! request again, same id and body, after any answer but 200 or any connection error) push
//! while the daemon is killed and restarted on the same state; at the end every record is
//! counted once. `scripts/soak` runs the same at scale; crash.rs covers the file source.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::daemon::{data, sum, Daemon};
use crate::firehose::body;
use crate::follow::call;

const KEY: &str = "k-kill-0123456789";
const REQUESTS: usize = 40;
const RECORDS: usize = 100;

/// One Firehose delivery with access key `key` on a fresh connection: the status, or `None`
/// when there was no answer (the daemon died, or closed the connection first).
pub(crate) fn deliver(addr: &str, key: &str, rid: &str, payload: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let head = format!(
        "POST /firehose HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         X-Amz-Firehose-Protocol-Version: 1.0\r\nX-Amz-Firehose-Request-Id: {rid}\r\n\
         X-Amz-Firehose-Access-Key: {key}\r\nContent-Length: {}\r\n\r\n",
        payload.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    let _ = s.write_all(payload);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw)
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn input_tokens(request: usize, record: usize) -> u64 {
    (request * 1000 + record) as u64
}

#[test]
fn firehose_deliveries_survive_a_sigkill_under_load_each_record_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, format!("{KEY}\n")).unwrap();
    // A small intake, so that refusals (503) and their retries are part of the run too.
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[firehose]\nmax_in_flight_requests = 2\n").unwrap();
    let (card, state) = (data("ratecard.toml"), dir.path().join("state"));
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--ratecard",
        card.as_str(),
        "--state-dir",
        state.to_str().unwrap(),
        "--firehose-access-key-file",
        keys.to_str().unwrap(),
    ];
    let d = Daemon::start(&args);
    let addr = Arc::new(Mutex::new(d.addr.clone()));
    let (next, acked, refused) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let (addr, next, acked, refused) =
                (addr.clone(), next.clone(), acked.clone(), refused.clone());
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, SeqCst);
                if i >= REQUESTS {
                    return;
                }
                let rid = format!("kill-{i}");
                let records: Vec<Vec<u8>> = (0..RECORDS)
                    .map(|j| call(&format!("kill-{i}-{j}"), "u", input_tokens(i, j)).into_bytes())
                    .collect();
                let payload = body(&rid, &records);
                loop {
                    let to = addr.lock().unwrap().clone();
                    match deliver(&to, KEY, &rid, &payload) {
                        Some(200) => break,
                        Some(503) | None => refused.fetch_add(1, SeqCst),
                        Some(code) => panic!("{rid} answered {code}"),
                    };
                    std::thread::sleep(Duration::from_millis(50));
                }
                acked.fetch_add(1, SeqCst);
            })
        })
        .collect();

    while acked.load(SeqCst) < 10 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let at_kill = acked.load(SeqCst);
    d.kill9();
    let d = Daemon::start(&args);
    *addr.lock().unwrap() = d.addr.clone();
    for s in senders {
        s.join().unwrap();
    }
    assert!(
        at_kill < REQUESTS,
        "the kill must come while requests are pushed"
    );
    assert!(
        refused.load(SeqCst) > 0,
        "some attempts were refused or failed"
    );

    let m = d.metrics();
    let want_tokens: u64 = (0..REQUESTS)
        .flat_map(|i| (0..RECORDS).map(move |j| input_tokens(i, j)))
        .sum();
    assert_eq!(
        sum(&m, "bedrock_records_total", &["result=\"accepted\""]),
        (REQUESTS * RECORDS) as f64,
        "each record counted once, none lost"
    );
    assert_eq!(
        sum(&m, "bedrock_tokens_total", &["token_type=\"input\""]),
        want_tokens as f64
    );
    assert!(d.stop().success());
}
