//! /metrics against golden text, and promtool's linter.

use crate::daemon::{data, promtool_check, sum, Daemon};

/// Families sorted by name and series sorted within each: the exposition writes series in
/// the order they were created, which depends on which file's batch came first.
fn stable(metrics: &str) -> String {
    // Commit timings and the lag behind the wall clock vary run to run; everything else is
    // determined by the input.
    let mut families: Vec<(Vec<&str>, Vec<&str>)> = Vec::new();
    for l in metrics.lines().filter(|l| {
        !l.contains("bedrock_store_commit_duration_seconds")
            && !l.starts_with("bedrock_source_lag_seconds{")
    }) {
        if l.starts_with("# HELP") || families.is_empty() {
            families.push((Vec::new(), Vec::new()));
        }
        let f = families.last_mut().expect("pushed above");
        if l.starts_with('#') {
            f.0.push(l);
        } else {
            f.1.push(l);
        }
    }
    families.retain(|f| !f.1.is_empty() || !f.0.iter().any(|l| l.contains("commit_duration")));
    for f in &mut families {
        f.1.sort_unstable();
    }
    families.sort();
    families
        .iter()
        .flat_map(|(head, samples)| head.iter().chain(samples))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn metrics_for_every_record_shape_match_the_golden_text_and_pass_promtool() {
    let state = tempfile::tempdir().unwrap();
    let shapes = data("shapes.jsonl");
    let bad = data("bad.jsonl");
    let card = data("ratecard.toml");
    let config = data("config.toml");
    let d = Daemon::start(&[
        "--file",
        &shapes,
        "--file",
        &bad,
        "--ratecard",
        &card,
        "--config",
        &config,
        "--state-dir",
        state.path().to_str().unwrap(),
    ]);
    let records = 23.0 + 8.0;
    // A scrape gathers the health metrics first, then waits for the ledger's read lock while
    // a batch is counted: its first half can be from before the file source existed (no
    // series of it yet) while its second half already has every record. So it also waits for
    // the file source's series.
    let m = d.wait_for("all records and the file source's series", |m| {
        sum(m, "bedrock_records_total", &[]) == records
            && m.contains("bedrock_source_errors_total{kind=\"read\",source=\"file\"}")
    });
    promtool_check(&m);
    // SQLite: no replicas to refresh from, no journal to fold
    for absent in [
        "bedrock_store_last_refresh",
        "bedrock_store_fold",
        "bedrock_store_unfolded",
    ] {
        assert!(!m.contains(absent), "{absent}");
    }
    let got = stable(&m);
    let golden_path = data("golden.prom");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden_path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&golden_path)
        .expect("tests/data/golden.prom (create it with UPDATE_GOLDEN=1)");
    if got != want {
        let diff: Vec<String> = want
            .lines()
            .filter(|l| !got.lines().any(|g| g == *l))
            .map(|l| format!("- {l}"))
            .chain(
                got.lines()
                    .filter(|l| !want.lines().any(|w| w == *l))
                    .map(|l| format!("+ {l}")),
            )
            .collect();
        panic!(
            "/metrics differs from tests/data/golden.prom (UPDATE_GOLDEN=1 rewrites it):\n{}",
            diff.join("\n")
        );
    }
    let (status, body) = d.get("/readyz");
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    assert_eq!(d.get("/healthz").0, 200);
    assert!(d.stop().success());
}

#[test]
fn the_demo_serves_moving_numbers_that_pass_promtool() {
    let d = Daemon::spawn(&["demo", "--listen", "127.0.0.1:0", "--rate", "50"]);
    let addr = d.addr.clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let first = sum(
        &crate::daemon::get(&addr, "/metrics").1,
        "bedrock_cost_usd_total",
        &[],
    );
    let later = loop {
        let m = crate::daemon::get(&addr, "/metrics").1;
        let now = sum(&m, "bedrock_cost_usd_total", &[]);
        if now > first || std::time::Instant::now() > deadline {
            promtool_check(&m);
            break now;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(d.stop().success());
    assert!(
        later > first,
        "the demo's cost did not move ({first} -> {later})"
    );
}
