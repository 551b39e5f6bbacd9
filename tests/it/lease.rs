//! Two replicas on one PostgreSQL store read one CloudWatch Logs log group on moto: only the
//! lease holder polls; when it is SIGKILLed the other takes the lease over within a minute
//! and reads on from the committed checkpoint, and the totals equal every event put, once.
//! A replica stopped with SIGTERM releases the lease: the next takes it at once.

use std::time::{Duration, Instant};

use rust_decimal::Decimal;

use crate::cloudwatch::{calls, put};
use crate::daemon::{aws_env, data, promtool_check, run_cli, sum, Daemon};
use crate::moto::Moto;
use crate::pg_store::exported;
use crate::support::postgres::Server;

const GROUP: &str = "/bedrock/replicated";
/// Input tokens of every call put: the totals are this times the number of events.
const TOKENS: u64 = 100;

fn held(m: &str) -> f64 {
    sum(m, "bedrock_cloudwatch_lease_held", &[])
}

fn requests(m: &str) -> f64 {
    sum(m, "bedrock_cloudwatch_requests_total", &[])
}

fn records(m: &str, result: &str) -> f64 {
    sum(
        m,
        "bedrock_records_total",
        &["source=\"cloudwatch\"", &format!("result=\"{result}\"")],
    )
}

fn tokens(m: &str) -> f64 {
    sum(m, "bedrock_tokens_total", &["token_type=\"input\""])
}

/// Polls `d`'s /metrics until `done` holds, for up to `secs` seconds.
fn wait_long(d: &Daemon, secs: u64, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let m = d.metrics();
        if done(&m) {
            return m;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out ({secs} s) waiting for {what}; last scrape:\n{m}\nlog:\n{}",
                d.log.lock().unwrap().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn one_replica_polls_a_log_group_and_the_other_takes_over_when_it_dies() {
    let moto = Moto::start();
    let server = Server::start();
    let url = server.database();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[cloudwatch]\npoll_interval = \"300ms\"\noverlap = \"5s\"\npage_limit = 7\nstart = \"-10m\"\n",
    )
    .unwrap();
    let card = data("ratecard.toml");
    let home = dir.path().to_str().unwrap().to_string();
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--ratecard",
        &card,
        "--store",
        &url,
        "--cloudwatch-log-group",
        GROUP,
    ];
    let env = aws_env(&moto.url, &home);
    let mut put_total = 0u64;
    let mut put_n = |prefix: &str, n: usize| {
        put(&moto, GROUP, &calls(prefix, n, TOKENS), 0);
        put_total += n as u64;
        put_total
    };
    put_n("before", 20);

    let one = Daemon::start_with_env(&args, &env);
    let two = Daemon::start_with_env(&args, &env);
    // exactly one of them takes the lease and counts the events
    let deadline = Instant::now() + Duration::from_secs(30);
    let (holder, other) = loop {
        let (m1, m2) = (one.metrics(), two.metrics());
        if held(&m1) + held(&m2) == 1.0
            && records(&m1, "accepted") + records(&m2, "accepted") == 20.0
        {
            if held(&m1) == 1.0 {
                break (one, two);
            }
            break (two, one);
        }
        assert!(Instant::now() < deadline, "no single holder:\n{m1}\n{m2}");
        std::thread::sleep(Duration::from_millis(100));
    };

    // events over time: only the holder polls; the other makes no FilterLogEvents call
    for round in 0..3 {
        let n = put_n(&format!("round{round}"), 10);
        holder.wait_for("the holder counts the round", |m| {
            records(m, "accepted") == n as f64
        });
        std::thread::sleep(Duration::from_millis(700));
    }
    let m = other.metrics();
    assert_eq!(held(&m), 0.0, "{m}");
    assert_eq!(requests(&m), 0.0, "the non-holder does not poll:\n{m}");
    assert_eq!(records(&m, "accepted") + records(&m, "duplicate"), 0.0);
    assert_eq!(
        sum(
            &m,
            "bedrock_cloudwatch_lease_changes_total",
            &["change=\"acquired\""]
        ),
        0.0
    );
    let hm = holder.metrics();
    assert!(requests(&hm) > 0.0);
    assert_eq!(records(&hm, "duplicate"), 0.0, "{hm}");
    assert_eq!(
        sum(
            &hm,
            "bedrock_cloudwatch_lease_changes_total",
            &["change=\"acquired\""]
        ),
        1.0
    );
    promtool_check(&hm);
    promtool_check(&m);

    // the last events before the kill are inside the overlap (5 s), the earlier ones not: the
    // successor reads only these again
    std::thread::sleep(Duration::from_secs(6));
    let before_kill = put_n("last", 5);
    holder.wait_for("the last events before the kill", |m| {
        records(m, "accepted") == before_kill as f64
    });
    let holder_log = holder.log.lock().unwrap().join("\n");
    holder.kill9();
    let killed = Instant::now();
    // written while nobody holds the lease: no gap
    put_n("orphaned", 8);
    let m = wait_long(&other, 60, "the takeover", |m| held(m) == 1.0);
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(60), "took over after {took:?}");
    assert_eq!(
        sum(
            &m,
            "bedrock_cloudwatch_lease_changes_total",
            &["change=\"acquired\""]
        ),
        1.0
    );
    let total = put_n("after", 6);
    let m = wait_long(&other, 30, "the events since the kill", |m| {
        records(m, "accepted") == (total - before_kill) as f64
    });
    std::thread::sleep(Duration::from_millis(1500));
    let m2 = other.metrics();
    assert_eq!(
        records(&m2, "accepted"),
        (total - before_kill) as f64,
        "{m}"
    );
    // only the overlap is read again (the 5 last events at most), not the whole group
    let again = records(&m2, "duplicate");
    assert!(again <= 5.0, "a mass re-read ({again} duplicates):\n{m2}");
    let other_log = other.log.lock().unwrap().join("\n");
    assert!(
        holder_log.contains("took the lease of /bedrock/replicated"),
        "{holder_log}"
    );
    assert!(
        other_log.contains("took the lease of /bedrock/replicated"),
        "{other_log}"
    );
    assert_eq!(
        other_log
            .matches("the lease of /bedrock/replicated")
            .count(),
        1,
        "one line on acquisition, none per renewal:\n{other_log}"
    );

    // SIGTERM releases the lease: a new replica takes it at once, loads the global totals,
    // and finds nothing new to count
    assert!(other.stop().success());
    let started = Instant::now();
    let third = Daemon::start_with_env(&args, &env);
    let m = third.wait_for("the released lease", |m| held(m) == 1.0);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a released lease is taken without waiting for its TTL"
    );
    std::thread::sleep(Duration::from_millis(1500));
    let m3 = third.metrics();
    // the totals it loaded are every replica's (the records counter is stored too)
    assert_eq!(records(&m, "accepted"), total as f64, "{m}");
    assert_eq!(records(&m3, "accepted"), total as f64, "{m3}");
    assert_eq!(tokens(&m3), (total * TOKENS) as f64, "{m3}");
    assert!(third.stop().success());

    // the database holds every event put, once
    let (code, out, err) = run_cli(&["state", "--store", &url, "export"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        exported(&out, "bedrock_tokens_total"),
        Decimal::from(total * TOKENS)
    );
    assert_eq!(
        exported(&out, "bedrock_invocations_total"),
        Decimal::from(total)
    );
}
