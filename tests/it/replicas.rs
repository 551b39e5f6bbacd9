//! Three replicas on one PostgreSQL store take a Firehose load split across them, every
//! request delivered twice to different replicas (Firehose's retry), one replica SIGKILLed
//! and restarted mid-load. Every replica's /metrics, once converged, and `state export` show
//! the totals per user, per feature and overall exactly as the test computes them from the
//! fixture rate card.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rust_decimal::Decimal;

use crate::daemon::{data, promtool_check, run_cli, sum, Daemon};
use crate::firehose::body;
use crate::firehose_kill::deliver;
use crate::support::postgres::Server;

const KEY: &str = "k-replicas-0123456789";
const REPLICAS: usize = 3;
const REQUESTS: usize = 300;
const RECORDS: usize = 3;
const USERS: [&str; 5] = ["ann", "bob", "cat", "dan", "eve"];
const FEATURES: [&str; 4] = ["chat", "search", "summarize", "none"];

/// One record of the load: (request id, user, feature, input tokens, output tokens).
struct Call {
    id: String,
    user: &'static str,
    feature: &'static str,
    input: u64,
    output: u64,
}

fn calls(request: usize) -> Vec<Call> {
    (0..RECORDS)
        .map(|j| Call {
            id: format!("rep-{request}-{j}"),
            user: USERS[(request + j) % USERS.len()],
            feature: FEATURES[(request * RECORDS + j) % FEATURES.len()],
            input: (1000 + request * 7 + j) as u64,
            output: (10 + (request + j) % 50) as u64,
        })
        .collect()
}

fn record(c: &Call) -> Vec<u8> {
    // `none` is what a record without the feature key counts under
    let metadata = match c.feature {
        "none" => String::new(),
        f => format!(r#","requestMetadata":{{"feature":"{f}"}}"#),
    };
    format!(
        r#"{{"timestamp":"2026-11-02T08:15:30Z","region":"us-east-1","requestId":"{}","operation":"Converse","modelId":"amazon.nova-micro-v1:0","identity":{{"arn":"arn:aws:iam::1:user/{}"}},"input":{{"inputTokenCount":{}}},"output":{{"outputTokenCount":{}}}{metadata}}}"#,
        c.id, c.user, c.input, c.output
    )
    .into_bytes()
}

/// The cost of a call from the fixture rate card: Nova Micro in a region, $0.035 per
/// million input tokens and $0.14 per million output tokens.
fn cost(c: &Call) -> Decimal {
    let million = Decimal::from(1_000_000);
    Decimal::from(c.input) * Decimal::from_str("0.035").unwrap() / million
        + Decimal::from(c.output) * Decimal::from_str("0.14").unwrap() / million
}

/// The independent computation: cost and tokens (input + output) by user, by feature, by
/// (user, feature) and overall.
#[derive(Default)]
struct Expected {
    user: BTreeMap<String, (Decimal, u64)>,
    feature: BTreeMap<String, (Decimal, u64)>,
    cross: BTreeMap<(String, String), Decimal>,
    total: (Decimal, u64),
}

fn expected() -> Expected {
    let mut e = Expected::default();
    for c in (0..REQUESTS).flat_map(calls) {
        let (usd, tokens) = (cost(&c), c.input + c.output);
        for (map, k) in [(&mut e.user, c.user), (&mut e.feature, c.feature)] {
            let t = map.entry(k.to_string()).or_default();
            t.0 += usd;
            t.1 += tokens;
        }
        *e.cross
            .entry((c.user.to_string(), c.feature.to_string()))
            .or_default() += usd;
        e.total.0 += usd;
        e.total.1 += tokens;
    }
    e
}

/// Delivers until a replica other than `not` answers 200, starting at `first` and moving on
/// to the next replica after any failure (as Firehose retries behind a load balancer).
/// Returns the replica that took it, and how many attempts failed.
fn deliver_until_taken(
    addrs: &Mutex<Vec<String>>,
    first: usize,
    not: Option<usize>,
    rid: &str,
    payload: &[u8],
) -> (usize, usize) {
    let (mut r, mut failed) = (first, 0);
    loop {
        if Some(r) != not {
            let addr = addrs.lock().unwrap()[r].clone();
            match deliver(&addr, KEY, rid, payload) {
                Some(200) => return (r, failed),
                Some(503) | None => failed += 1,
                Some(code) => panic!("{rid} answered {code} by replica {r}"),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        r = (r + 1) % REPLICAS;
    }
}

/// One scrape of /metrics, or `None` when the replica does not answer (it is down).
fn scrape(addr: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let head = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(head.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n")?;
    (head.contains(" 200 ") && !head.to_ascii_lowercase().contains("chunked"))
        .then(|| body.to_string())
}

/// The totals a replica shows that must never go down (stored counters), by series.
const MONOTONIC: [&str; 6] = [
    "bedrock_cost_usd_total{",
    "bedrock_user_cost_usd_total{",
    "bedrock_feature_cost_usd_total{",
    "bedrock_tokens_total{",
    "bedrock_user_tokens_total{",
    "bedrock_records_total{",
];

/// Scrapes every replica until `stop`, and checks that no series of [`MONOTONIC`] ever goes
/// down on any of them, across the SIGKILL and restart too. Returns the samples it checked.
fn watch_counters(
    addrs: Arc<Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut last: Vec<BTreeMap<String, f64>> = vec![BTreeMap::new(); REPLICAS];
        let mut samples = 0;
        while !stop.load(SeqCst) {
            for (r, seen) in last.iter_mut().enumerate() {
                let addr = addrs.lock().unwrap()[r].clone();
                let Some(m) = scrape(&addr) else { continue };
                for line in m
                    .lines()
                    .filter(|l| MONOTONIC.iter().any(|p| l.starts_with(p)))
                {
                    samples += 1;
                    let (series, value) = line.rsplit_once(' ').unwrap();
                    let value: f64 = value.parse().unwrap();
                    let before = seen.insert(series.to_string(), value).unwrap_or(0.0);
                    assert!(
                        value >= before,
                        "replica {r}: {series} went down from {before} to {value}"
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        samples
    })
}

/// Labels and value of every sample of a metric in an exposition.
fn samples(metrics: &str, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let prefix = format!("{name}{{");
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| {
            let (labels, value) = rest.rsplit_once("} ").unwrap();
            let labels = labels
                .split("\",")
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once("=\"").unwrap();
                    (k.to_string(), v.trim_end_matches('"').to_string())
                })
                .collect();
            (labels, value.parse().unwrap())
        })
        .collect()
}

/// The nearest `f64`, as the exposition converts an exact total.
fn f(d: Decimal) -> f64 {
    d.to_string().parse().unwrap()
}

/// Whether one replica's /metrics shows exactly the expected totals (each a single series,
/// compared as the exposition's `f64` of the exact value).
fn shows(m: &str, e: &Expected) -> bool {
    let one = |name: &str, label: &str, value: &str| {
        let s: Vec<f64> = samples(m, name)
            .into_iter()
            .filter(|(l, _)| l.get(label).map(String::as_str) == Some(value))
            .map(|(_, v)| v)
            .collect();
        s
    };
    let users = e.user.iter().all(|(u, (usd, tokens))| {
        one("bedrock_user_cost_usd_total", "user", u) == [f(*usd)]
            && one("bedrock_user_tokens_total", "user", u)
                .iter()
                .sum::<f64>()
                == *tokens as f64
    });
    let features = e.feature.iter().all(|(ft, (usd, tokens))| {
        one("bedrock_feature_cost_usd_total", "feature", ft) == [f(*usd)]
            && one("bedrock_feature_tokens_total", "feature", ft)
                .iter()
                .sum::<f64>()
                == *tokens as f64
    });
    let cross = samples(m, "bedrock_cost_usd_total");
    let cross_ok = cross.len() == e.cross.len()
        && cross.iter().all(|(l, v)| {
            let k = (l["user"].clone(), l["feature"].clone());
            e.cross.get(&k).is_some_and(|want| f(*want) == *v)
        });
    users
        && features
        && cross_ok
        && sum(m, "bedrock_tokens_total", &[]) == e.total.1 as f64
        && sum(m, "bedrock_records_total", &["result=\"accepted\""]) == (REQUESTS * RECORDS) as f64
}

/// `state export` (CSV) as (metric, labels, exact value) rows.
fn export(url: &str) -> Vec<(String, BTreeMap<String, String>, Decimal)> {
    let (code, out, err) = run_cli(&["state", "--store", url, "export"], None);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .skip(1)
        .map(|l| {
            let (metric, rest) = l.split_once(',').unwrap();
            let (labels, value) = rest.rsplit_once(',').unwrap();
            let labels = labels.trim_matches('"').replace("\"\"", "\"");
            (
                metric.to_string(),
                serde_json::from_str(&labels).unwrap(),
                value.parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn three_replicas_on_postgres_count_a_retried_load_once_and_each_shows_the_global_totals() {
    let server = Server::start();
    let url = server.database();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, format!("{KEY}\n")).unwrap();
    let card = data("ratecard.toml");
    let args = [
        "--ratecard",
        card.as_str(),
        "--store",
        url.as_str(),
        "--firehose-access-key-file",
        keys.to_str().unwrap(),
    ];
    let mut replicas: Vec<Option<Daemon>> =
        (0..REPLICAS).map(|_| Some(Daemon::start(&args))).collect();
    let addrs = Arc::new(Mutex::new(
        replicas
            .iter()
            .map(|d| d.as_ref().unwrap().addr.clone())
            .collect::<Vec<_>>(),
    ));
    let (next, acked, failed) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = watch_counters(addrs.clone(), stop.clone());
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let (addrs, next, acked, failed) =
                (addrs.clone(), next.clone(), acked.clone(), failed.clone());
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, SeqCst);
                if i >= REQUESTS {
                    return;
                }
                let rid = format!("replica-load-{i}");
                let records: Vec<Vec<u8>> = calls(i).iter().map(record).collect();
                let payload = body(&rid, &records);
                // round robin, then the same request and body again on another replica
                let (took, f1) = deliver_until_taken(&addrs, i % REPLICAS, None, &rid, &payload);
                let (_, f2) =
                    deliver_until_taken(&addrs, (took + 1) % REPLICAS, Some(took), &rid, &payload);
                failed.fetch_add(f1 + f2, SeqCst);
                acked.fetch_add(1, SeqCst);
            })
        })
        .collect();

    // SIGKILL one replica mid-load, and start it again after a while
    while acked.load(SeqCst) < REQUESTS / 5 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let at_kill = acked.load(SeqCst);
    replicas[1].take().unwrap().kill9();
    while acked.load(SeqCst) < at_kill + REQUESTS / 5 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let restarted = Daemon::start(&args);
    addrs.lock().unwrap()[1] = restarted.addr.clone();
    replicas[1] = Some(restarted);
    for s in senders {
        s.join().unwrap();
    }
    assert!(at_kill < REQUESTS / 2, "the kill came mid-load");
    assert!(
        failed.load(SeqCst) > 0,
        "deliveries to the killed replica failed and went to another one"
    );

    // every replica converges on the global totals, exactly
    let e = expected();
    for (r, d) in replicas.iter().enumerate() {
        let d = d.as_ref().unwrap();
        // The duplicates too: the last retries add no cost, so the costs can be final on a
        // replica a refresh before the duplicates counted elsewhere reach it.
        let all_duplicates = (REQUESTS * RECORDS) as f64;
        let m = d.wait_for(&format!("replica {r} to show the global totals"), |m| {
            shows(m, &e)
                && sum(m, "bedrock_records_total", &["result=\"duplicate\""]) >= all_duplicates
        });
        // the refresh metrics are exposed, and valid
        promtool_check(&m);
        // every request was delivered at least twice: each second delivery is a duplicate
        let duplicates = sum(&m, "bedrock_records_total", &["result=\"duplicate\""]);
        assert!(
            duplicates >= (REQUESTS * RECORDS) as f64,
            "replica {r}: {duplicates} duplicates"
        );
        assert!(sum(&m, "bedrock_store_last_refresh_timestamp_seconds", &[]) > 0.0);
        // the fold metrics too: folds kept up (under a minute; due at 10 s), none failed
        assert!(
            m.contains("\nbedrock_store_fold_errors_total 0\n"),
            "replica {r}"
        );
        let age = sum(&m, "bedrock_store_unfolded_journal_age_seconds", &[]);
        assert!(
            m.contains("\nbedrock_store_unfolded_journal_age_seconds ") && age < 60.0,
            "replica {r}: {age}"
        );
        assert_eq!(
            sum(&m, "bedrock_store_refresh_errors_total", &[]),
            0.0,
            "replica {r}"
        );
    }

    stop.store(true, SeqCst);
    let samples = watcher.join().expect("no counter went down");
    assert!(samples > 1000, "{samples} samples checked");

    // and the database holds the same, exactly
    let rows = export(&url);
    let total = |metric: &str, label: Option<(&str, &str)>| -> Decimal {
        rows.iter()
            .filter(|(m, l, _)| {
                m == metric && label.is_none_or(|(k, v)| l.get(k).map(String::as_str) == Some(v))
            })
            .map(|(_, _, v)| *v)
            .sum()
    };
    for (u, (usd, tokens)) in &e.user {
        assert_eq!(
            total("bedrock_user_cost_usd_total", Some(("user", u))),
            *usd,
            "{u}"
        );
        assert_eq!(
            total("bedrock_user_tokens_total", Some(("user", u))),
            Decimal::from(*tokens),
            "{u}"
        );
    }
    for (ft, (usd, tokens)) in &e.feature {
        assert_eq!(
            total("bedrock_feature_cost_usd_total", Some(("feature", ft))),
            *usd,
            "{ft}"
        );
        assert_eq!(
            total("bedrock_feature_tokens_total", Some(("feature", ft))),
            Decimal::from(*tokens),
            "{ft}"
        );
    }
    assert_eq!(total("bedrock_cost_usd_total", None), e.total.0);
    assert_eq!(
        total("bedrock_tokens_total", None),
        Decimal::from(e.total.1)
    );
    assert_eq!(
        total("bedrock_records_total", Some(("result", "accepted"))),
        Decimal::from(REQUESTS * RECORDS)
    );
    assert!(
        total("bedrock_records_total", Some(("result", "duplicate")))
            >= Decimal::from(REQUESTS * RECORDS)
    );
    for d in replicas.into_iter().flatten() {
        assert!(d.stop().success());
    }
}
