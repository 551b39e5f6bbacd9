//! The CloudWatch Logs source against a real moto server (tests/peers/moto_server.py).

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rust_decimal::Decimal;

use crate::daemon::{aws_env, data, read_request, run_cli, sum, Daemon};
use crate::follow::call;
use crate::moto::Moto;

pub fn put(moto: &Moto, group: &str, calls: &[String], age_seconds: u64) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, calls.concat()).unwrap();
    let script = format!("{}/tests/peers/logs_put.py", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .args([
            script.as_str(),
            &moto.url,
            group,
            file.to_str().unwrap(),
            &age_seconds.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn calls(prefix: &str, n: usize, tokens: u64) -> Vec<String> {
    (0..n)
        .map(|i| call(&format!("{prefix}-{i}"), prefix, tokens))
        .collect()
}

fn accepted(m: &str) -> f64 {
    sum(
        m,
        "bedrock_records_total",
        &["source=\"cloudwatch\"", "result=\"accepted\""],
    )
}

#[test]
fn log_groups_are_read_exactly_once_across_late_events_pages_and_a_restart() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    put(&moto, "/bedrock/a", &calls("a", 5, 100), 0);
    put(&moto, "/bedrock/b", &calls("b", 3, 1000), 0);
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[cloudwatch]\npoll_interval = \"300ms\"\noverlap = \"2m\"\npage_limit = 2\nstart = \"-10m\"\n").unwrap();
    let (card, state) = (data("ratecard.toml"), dir.path().join("state"));
    let home = dir.path().to_str().unwrap().to_string();
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--ratecard",
        &card,
        "--state-dir",
        state.to_str().unwrap(),
        "--cloudwatch-log-group",
        "/bedrock/a",
        "--cloudwatch-log-group",
        "/bedrock/b",
    ];
    let env = aws_env(&moto.url, &home);
    let d = Daemon::start_with_env(&args, &env);
    d.wait_for("both groups", |m| accepted(m) == 8.0);

    // Events ingested late, with timestamps a minute old: inside the overlap, counted once.
    put(&moto, "/bedrock/a", &calls("late", 2, 10_000), 60);
    let m = d.wait_for("the late events", |m| accepted(m) == 10.0);
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let m2 = d.metrics();
    assert_eq!(accepted(&m2), 10.0);
    assert_eq!(
        sum(&m2, "bedrock_records_total", &["result=\"duplicate\""]),
        0.0,
        "overlapping windows are not recounted"
    );
    assert_eq!(
        sum(&m, "bedrock_tokens_total", &[]),
        500.0 + 3000.0 + 20_000.0
    );
    assert!(d.stop().success());

    // Written while the daemon is down: read after the restart, nothing before it again.
    put(&moto, "/bedrock/a", &calls("down", 3, 100_000), 0);
    let d = Daemon::start_with_env(&args, &env);
    let m = d.wait_for("the events written while down", |m| {
        sum(m, "bedrock_tokens_total", &[]) == 323_500.0
    });
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let m3 = d.metrics();
    assert_eq!(accepted(&m3), 13.0, "no repeat after the restart: {m}");
    assert!(d.stop().success());
}

/// A proxy in front of moto that answers the first `throttles` FilterLogEvents calls with
/// ThrottlingException and the next `failures` with a 503, then passes everything through:
/// moto itself never throttles.
fn faulty_proxy(upstream: String, throttles: usize, failures: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            let (upstream, count) = (upstream.clone(), count.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let Some((head, body)) = read_request(&mut reader) else {
                        return;
                    };
                    let n = if head.contains("FilterLogEvents") {
                        count.fetch_add(1, Ordering::SeqCst)
                    } else {
                        usize::MAX
                    };
                    let canned = |status: &str, kind: &str| {
                        let b =
                            format!(r#"{{"__type":"{kind}","message":"injected by the test"}}"#);
                        format!("HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-ErrorType: {kind}\r\nContent-Length: {}\r\n\r\n{b}", b.len())
                    };
                    let response = if n < throttles {
                        canned("400 Bad Request", "ThrottlingException").into_bytes()
                    } else if n < throttles + failures {
                        canned("503 Service Unavailable", "ServiceUnavailableException")
                            .into_bytes()
                    } else {
                        let host = upstream.trim_start_matches("http://").to_string();
                        let mut up = TcpStream::connect(&host).unwrap();
                        up.write_all(head.as_bytes()).unwrap();
                        up.write_all(b"Connection: close\r\n\r\n").unwrap();
                        up.write_all(&body).unwrap();
                        let mut resp = Vec::new();
                        up.read_to_end(&mut resp).unwrap();
                        resp
                    };
                    if conn.write_all(&response).is_err() {
                        return;
                    }
                    if n >= throttles + failures {
                        return; // the upstream answer said Connection: close
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn throttling_and_server_errors_back_off_and_lose_nothing() {
    let moto = Moto::start();
    put(&moto, "/bedrock/faults", &calls("f", 6, 10), 0);
    let proxy = faulty_proxy(moto.url.clone(), 4, 2);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[cloudwatch]\npoll_interval = \"200ms\"\n").unwrap();
    let card = data("ratecard.toml");
    let home = dir.path().to_str().unwrap().to_string();
    let d = Daemon::start_with_env(
        &[
            "--config",
            config.to_str().unwrap(),
            "--ratecard",
            &card,
            "--in-memory",
            // Exactly as --help shows it: a value that starts with a hyphen.
            "--start",
            "-10m",
            "--cloudwatch-log-group",
            "/bedrock/faults",
        ],
        &aws_env(&proxy, &home),
    );
    let m = d.wait_for("every event despite the faults", |m| accepted(m) == 6.0);
    let errors = |kind: &str| {
        sum(
            &m,
            "bedrock_source_errors_total",
            &["source=\"cloudwatch\"", &format!("kind=\"{kind}\"")],
        )
    };
    assert!(
        errors("throttled") + errors("server") >= 1.0,
        "the faults were not reported:\n{m}"
    );
    assert_eq!(sum(&m, "bedrock_tokens_total", &[]), 60.0);
    assert!(d.stop().success());
}

#[test]
fn live_tail_decodes_a_session_and_reconnects_when_it_ends() {
    let moto = Moto::start();
    put(&moto, "/bedrock/live", &calls("live", 4, 7), 5);
    let dir = tempfile::tempdir().unwrap();
    // Polling starts now and waits an hour: only Live Tail can see the events put before.
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[cloudwatch]\npoll_interval = \"1h\"\nstart = \"now\"\nlive_tail = true\n",
    )
    .unwrap();
    let card = data("ratecard.toml");
    let home = dir.path().to_str().unwrap().to_string();
    let d = Daemon::start_with_env(
        &[
            "--config",
            config.to_str().unwrap(),
            "--ratecard",
            &card,
            "--in-memory",
            "--cloudwatch-log-group",
            "/bedrock/live",
        ],
        &aws_env(&moto.url, &home),
    );
    // moto answers with one snapshot update and ends the stream: each reconnect sees the
    // same events again, and the requestId dedupe counts them once.
    let m = d.wait_for("a reconnect", |m| {
        sum(
            m,
            "bedrock_livetail_sessions_total",
            &["result=\"started\""],
        ) >= 2.0
    });
    assert_eq!(
        sum(
            &m,
            "bedrock_records_total",
            &["source=\"cloudwatch_livetail\"", "result=\"accepted\""]
        ),
        4.0
    );
    assert!(
        sum(
            &m,
            "bedrock_records_total",
            &["source=\"cloudwatch_livetail\"", "result=\"duplicate\""]
        ) >= 4.0
    );
    assert!(sum(&m, "bedrock_livetail_sessions_total", &["result=\"ended\""]) >= 1.0);
    assert_eq!(
        sum(
            &m,
            "bedrock_livetail_sessions_total",
            &["result=\"failed\""]
        ),
        0.0
    );
    assert_eq!(sum(&m, "bedrock_tokens_total", &[]), 28.0);
    assert!(d.stop().success());
}

/// A commit the store refuses (a full disk) after the proxy's faults: the refused events are
/// read again in full when the window is retried, so once the disk has room the totals equal
/// the events put, exactly, per user.
#[test]
fn events_of_a_refused_commit_are_read_again_when_the_window_is_retried() {
    let moto = Moto::start();
    let proxy = faulty_proxy(moto.url.clone(), 2, 1);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let fs = crate::diskfull::Tmpfs::mount(&state, "256k");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[cloudwatch]\npoll_interval = \"200ms\"\nstart = \"-10m\"\n",
    )
    .unwrap();
    let card = data("ratecard.toml");
    let home = dir.path().to_str().unwrap().to_string();
    let warm = calls("warm", 3, 10);
    put(&moto, "/bedrock/refused", &warm, 0);
    let d = Daemon::start_with_env(
        &[
            "--config",
            config.to_str().unwrap(),
            "--ratecard",
            &card,
            "--state-dir",
            state.to_str().unwrap(),
            "--cloudwatch-log-group",
            "/bedrock/refused",
        ],
        &aws_env(&proxy, &home),
    );
    d.wait_for("the first events", |m| accepted(m) == 3.0);

    // Fill the disk, then log many new users: their series make a commit that cannot fit.
    let filler = state.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    while f.write_all(&[0u8; 4096]).is_ok() {}
    drop(f);
    let mut want: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut events = Vec::new();
    for i in 0..400u64 {
        let user = format!("refused-user-with-a-long-name-{i:04}");
        let tokens = 1000 + i * 7;
        events.push(call(&format!("refused-{i}"), &user, tokens));
        want.insert(user, nova_micro_input(tokens));
    }
    for (u, t) in [("warm", 10u64); 3] {
        *want.entry(u.to_string()).or_default() += nova_micro_input(t);
    }
    put(&moto, "/bedrock/refused", &events, 0);
    d.wait_for("a refused commit", |m| {
        sum(
            m,
            "bedrock_source_errors_total",
            &["source=\"cloudwatch\"", "kind=\"commit\""],
        ) >= 2.0
    });
    assert_eq!(
        d.get("/readyz").0,
        503,
        "a store that cannot commit is not ready"
    );

    std::fs::remove_file(&filler).unwrap();
    fs.resize("64m");
    d.wait_for("every event after the disk recovered", |m| {
        accepted(m) == 403.0
    });
    assert!(d.stop().success());

    let got = stored_cost_by_user(state.to_str().unwrap());
    assert_eq!(
        got, want,
        "per-user cost must equal the events put, exactly"
    );
}

/// Input tokens priced by hand at the test card's Nova Micro rate ($0.035 per 1M).
fn nova_micro_input(tokens: u64) -> Decimal {
    (Decimal::from(tokens) * Decimal::from_str("0.035").unwrap() / Decimal::from(1_000_000))
        .normalize()
}

/// Cost per user in the stopped daemon's store, exactly.
fn stored_cost_by_user(state: &str) -> BTreeMap<String, Decimal> {
    let (code, out, err) = run_cli(
        &["state", "--state-dir", state, "export", "--format", "json"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let mut by_user: BTreeMap<String, Decimal> = BTreeMap::new();
    for line in out.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        if row["metric"] == "bedrock_user_cost_usd_total" {
            let v = Decimal::from_str(row["value"].as_str().unwrap()).unwrap();
            *by_user
                .entry(row["labels"]["user"].as_str().unwrap().to_string())
                .or_default() += v;
        }
    }
    by_user
        .into_iter()
        .map(|(u, v)| (u, v.normalize()))
        .collect()
}
