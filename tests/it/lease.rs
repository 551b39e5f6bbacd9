//! Two replicas on one PostgreSQL store read one CloudWatch Logs log group on moto: only the
//! lease holder polls; when it is SIGKILLed the other takes the lease over within a minute
//! and reads on from the committed checkpoint, and the totals equal every event put, once.
//! A replica stopped with SIGTERM releases the lease: the next takes it at once. A holder
//! stuck past its lease is fenced out: its late commit is refused. A holder that cannot reach
//! the database stops polling when its lease runs out.

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;

use crate::cloudwatch::{calls, put};
use crate::daemon::{aws_env, data, promtool_check, read_request, run_cli, sum, Daemon};
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

/// Two replicas' shared setup: moto, a PostgreSQL database, a config whose `[cloudwatch]`
/// table is `cloudwatch`, and the arguments that run a daemon on them.
struct Setup {
    moto: Moto,
    server: Server,
    url: String,
    args: Vec<String>,
    home: String,
    _dir: tempfile::TempDir,
}

impl Setup {
    fn new(cloudwatch: &str) -> Setup {
        let (moto, server) = (Moto::start(), Server::start());
        let url = server.database();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(&config, format!("[cloudwatch]\n{cloudwatch}")).unwrap();
        let args = [
            "--config",
            config.to_str().unwrap(),
            "--ratecard",
            &data("ratecard.toml"),
            "--store",
            &url,
            "--cloudwatch-log-group",
            GROUP,
        ]
        .map(String::from)
        .to_vec();
        let home = dir.path().to_str().unwrap().to_string();
        Setup {
            moto,
            server,
            url,
            args,
            home,
            _dir: dir,
        }
    }

    /// A replica reaching CloudWatch Logs at `endpoint` (moto, or a proxy in front of it).
    fn start(&self, endpoint: &str) -> Daemon {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        Daemon::start_with_env(&args, &aws_env(endpoint, &self.home))
    }
}

#[test]
fn one_replica_polls_a_log_group_and_the_other_takes_over_when_it_dies() {
    let s = Setup::new(
        "poll_interval = \"300ms\"\noverlap = \"5s\"\npage_limit = 7\nstart = \"-10m\"\n",
    );
    let mut put_total = 0u64;
    let mut put_n = |prefix: &str, n: usize| {
        put(&s.moto, GROUP, &calls(prefix, n, TOKENS), 0);
        put_total += n as u64;
        put_total
    };
    put_n("before", 20);

    let one = s.start(&s.moto.url);
    let two = s.start(&s.moto.url);
    // exactly one of them takes the lease and counts the events
    let deadline = Instant::now() + Duration::from_secs(30);
    let (holder, other) = loop {
        let (m1, m2) = (one.metrics(), two.metrics());
        // every replica shows the global totals, so the count is the holder's, not a sum
        let counted = records(&m1, "accepted").max(records(&m2, "accepted"));
        if held(&m1) + held(&m2) == 1.0 && counted == 20.0 {
            if held(&m1) == 1.0 {
                break (one, two);
            }
            break (two, one);
        }
        assert!(Instant::now() < deadline, "no single holder:\n{m1}\n{m2}");
        std::thread::sleep(Duration::from_millis(100));
    };

    // events over time: only the holder polls; the other makes no FilterLogEvents call
    let mut n = 0;
    for round in 0..3 {
        n = put_n(&format!("round{round}"), 10);
        holder.wait_for("the holder counts the round", |m| {
            records(m, "accepted") == n as f64
        });
        std::thread::sleep(Duration::from_millis(700));
    }
    // the non-holder shows the holder's counts (refreshed from the database), and no more
    let m = other.wait_for("the global totals on the non-holder", |m| {
        records(m, "accepted") == n as f64
    });
    assert_eq!(held(&m), 0.0, "{m}");
    assert_eq!(requests(&m), 0.0, "the non-holder does not poll:\n{m}");
    assert_eq!(records(&m, "duplicate"), 0.0, "{m}");
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
        records(m, "accepted") == total as f64
    });
    std::thread::sleep(Duration::from_millis(1500));
    let m2 = other.metrics();
    assert_eq!(records(&m2, "accepted"), total as f64, "{m}");
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
    let third = s.start(&s.moto.url);
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
    let (code, out, err) = run_cli(&["state", "--store", &s.url, "export"], None);
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

/// A proxy in front of moto that, while `hold` is set, keeps every FilterLogEvents request
/// (counting it in `held`) and forwards it only once `hold` is cleared: a holder stuck in a
/// call past its lease, as in a long stall or a network partition.
fn holding_proxy(upstream: String, hold: Arc<AtomicBool>, held: Arc<AtomicUsize>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            let (upstream, hold, held) = (upstream.clone(), hold.clone(), held.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                let Some((head, body)) = read_request(&mut reader) else {
                    return;
                };
                if head.contains("FilterLogEvents") && hold.load(Ordering::SeqCst) {
                    held.fetch_add(1, Ordering::SeqCst);
                    while hold.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                let host = upstream.trim_start_matches("http://").to_string();
                let mut up = TcpStream::connect(&host).unwrap();
                up.write_all(head.as_bytes()).unwrap();
                up.write_all(b"Connection: close\r\n\r\n").unwrap();
                up.write_all(&body).unwrap();
                let mut resp = Vec::new();
                up.read_to_end(&mut resp).unwrap();
                let _ = conn.write_all(&resp);
            });
        }
    });
    format!("http://{addr}")
}

/// The holder is stuck in a FilterLogEvents call past its lease; the other replica takes the
/// lease over and counts the group. When the stuck call returns, with events the successor
/// counted too, the old holder's commit is refused by the fence and it stops polling.
#[test]
fn a_holder_stuck_past_its_lease_is_fenced_out_and_counts_nothing_twice() {
    let s = Setup::new("poll_interval = \"300ms\"\noverlap = \"5s\"\nstart = \"-10m\"\n");
    put(&s.moto, GROUP, &calls("first", 10, TOKENS), 0);
    let (hold, held_calls) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let proxy = holding_proxy(s.moto.url.clone(), hold.clone(), held_calls.clone());
    let a = s.start(&proxy);
    a.wait_for("a holds the lease and counts", |m| {
        held(m) == 1.0 && records(m, "accepted") == 10.0
    });
    let b = s.start(&s.moto.url);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(held(&b.metrics()), 0.0);

    // a's next call is kept; events then land inside the window that call asked for
    hold.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    while held_calls.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "a made no call");
        std::thread::sleep(Duration::from_millis(20));
    }
    put(&s.moto, GROUP, &calls("inside", 10, TOKENS), 2);
    let before = a.metrics();
    wait_long(&b, 60, "b's takeover", |m| held(m) == 1.0);
    // b loaded a's 10 at startup: its figures are the global ones
    b.wait_for("b counts the events", |m| records(m, "accepted") == 20.0);

    // a's call returns with the events b counted: its commit is refused whole
    hold.store(false, Ordering::SeqCst);
    let m = a.wait_for("a's fenced commit and the lost lease", |m| {
        sum(
            m,
            "bedrock_store_commit_errors_total",
            &["kind=\"conflict\""],
        ) == 1.0
            && held(m) == 0.0
    });
    assert_eq!(
        sum(
            &m,
            "bedrock_cloudwatch_lease_changes_total",
            &["change=\"lost\""]
        ),
        1.0
    );
    // a's own batch added nothing: what it shows is b's count, refreshed from the database
    // (the export at the end proves every event counted once)
    let m = a.wait_for("the global totals on a", |m| records(m, "accepted") == 20.0);
    assert_eq!(tokens(&m), tokens(&before) * 2.0, "{m}");
    let log = a.log.lock().unwrap().join("\n");
    assert!(log.contains("moved to another replica"), "{log}");
    assert!(
        log.contains("lost the lease of /bedrock/replicated"),
        "{log}"
    );
    // and a polls no more
    let calls_then = requests(&a.metrics());
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(requests(&a.metrics()), calls_then);

    // b reads on; the database holds every event once
    put(&s.moto, GROUP, &calls("later", 4, TOKENS), 0);
    b.wait_for("b counts on", |m| records(m, "accepted") == 24.0);
    let (code, out, err) = run_cli(&["state", "--store", &s.url, "export"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        exported(&out, "bedrock_tokens_total"),
        Decimal::from(24 * TOKENS)
    );
    assert!(a.stop().success());
    assert!(b.stop().success());
}

/// The database goes away under the holder: it polls on only while its lease would still
/// run, then stops and reports the lease lost; when the database is back it takes the lease
/// again and counts what was logged meanwhile, once.
#[test]
fn a_holder_that_cannot_reach_the_database_stops_polling_when_its_lease_runs_out() {
    let s = Setup::new("poll_interval = \"300ms\"\noverlap = \"5s\"\nstart = \"-10m\"\n");
    put(&s.moto, GROUP, &calls("first", 5, TOKENS), 0);
    let d = s.start(&s.moto.url);
    d.wait_for("the lease and the events", |m| {
        held(m) == 1.0 && records(m, "accepted") == 5.0
    });

    s.server.ctl("stop");
    let stopped = Instant::now();
    put(&s.moto, GROUP, &calls("outage", 6, TOKENS), 0);
    let m = wait_long(&d, 50, "the lease to run out", |m| held(m) == 0.0);
    let after = stopped.elapsed();
    // renewed at most 10 s before the outage, so it ran 20 to 30 s more (a failed renewal
    // does not end it early), and not longer
    assert!(
        after >= Duration::from_secs(15) && after <= Duration::from_secs(40),
        "lost after {after:?}"
    );
    assert_eq!(
        sum(
            &m,
            "bedrock_cloudwatch_lease_changes_total",
            &["change=\"lost\""]
        ),
        1.0
    );
    let calls_then = requests(&d.metrics());
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        requests(&d.metrics()),
        calls_then,
        "no poll without the lease"
    );

    s.server.ctl("restart");
    let m = wait_long(
        &d,
        45,
        "the lease again and the events of the outage",
        |m| held(m) == 1.0 && records(m, "accepted") == 11.0,
    );
    assert_eq!(
        sum(
            &m,
            "bedrock_cloudwatch_lease_changes_total",
            &["change=\"acquired\""]
        ),
        2.0
    );
    assert!(d.stop().success());
    let (code, out, err) = run_cli(&["state", "--store", &s.url, "export"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        exported(&out, "bedrock_tokens_total"),
        Decimal::from(11 * TOKENS)
    );
}
