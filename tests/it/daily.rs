//! Daily totals by UTC day: a fixture spanning two UTC days, replayed by the daemon, read back
//! through `state daily` while the daemon runs, and unchanged by a second replay.

use serde_json::{json, Value};

use crate::daemon::{data, run_cli, sum, Daemon};

fn daily(state: &str, extra: &[&str]) -> Value {
    let mut args = vec!["state", "--state-dir", state, "daily", "--format", "json"];
    args.extend_from_slice(extra);
    let (code, out, err) = run_cli(&args, None);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn a_replay_across_midnight_utc_reads_back_by_day_while_the_daemon_runs() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    // The clock is real: keep every day, so this holds in years to come.
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[store]\ndaily_retention_days = 100000\n").unwrap();
    let (fixture, card) = (data("two-days.jsonl"), data("ratecard.toml"));
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--file",
        &fixture,
        "--ratecard",
        &card,
        "--state-dir",
        state,
    ];
    let d = Daemon::start(&args);
    d.wait_for("the five lines", |m| {
        sum(m, "bedrock_records_total", &[]) == 5.0
    });

    let usage = json!([
        {"day": "2026-11-01", "model": "amazon.nova-micro-v1:0", "region": "us-east-1", "scope": "in_region", "tier": "standard", "long_context": false, "token_type": "input", "tokens": 1000, "cost_usd": "0.000035"},
        {"day": "2026-11-01", "model": "amazon.nova-micro-v1:0", "region": "us-east-1", "scope": "in_region", "tier": "standard", "long_context": false, "token_type": "output", "tokens": 100, "cost_usd": "0.000014"},
        {"day": "2026-11-02", "model": "acme.mystery-model-v9:0", "region": "us-east-1", "scope": "in_region", "tier": "standard", "long_context": false, "token_type": "input", "tokens": 300, "cost_usd": "0"},
        {"day": "2026-11-02", "model": "amazon.nova-micro-v1:0", "region": "us-east-1", "scope": "in_region", "tier": "standard", "long_context": false, "token_type": "input", "tokens": 1000, "cost_usd": "0.000035"},
        {"day": "2026-11-02", "model": "amazon.nova-micro-v1:0", "region": "us-east-1", "scope": "in_region", "tier": "standard", "long_context": false, "token_type": "cache_read", "tokens": 100, "cost_usd": "0.000000875"},
        {"day": "2026-11-02", "model": "amazon.nova-micro-v1:0", "region": "us-west-2", "scope": "geo", "tier": "standard", "long_context": false, "token_type": "input", "tokens": 2000, "cost_usd": "0.00007"},
    ]);
    let principals = json!([
        {"day": "2026-11-01", "principal": "arn:aws:iam::111122223333:user/alice", "calls": 1, "cost_usd": "0.000049"},
        {"day": "2026-11-02", "principal": "", "calls": 1, "cost_usd": "0.000035875"},
        {"day": "2026-11-02", "principal": "arn:aws:iam::111122223333:user/alice", "calls": 1, "cost_usd": "0.00007"},
        {"day": "2026-11-02", "principal": "arn:aws:sts::111122223333:assumed-role/Batch/bob", "calls": 1, "cost_usd": "0"},
    ]);
    // The daemon holds the state directory's lock; `state daily` reads beside it.
    let all = daily(state, &[]);
    assert_eq!(all["usage"], usage);
    assert_eq!(all["principals"], principals);

    let day2 = daily(state, &["--since", "2026-11-02"]);
    assert_eq!(day2["usage"].as_array().unwrap().len(), 4);
    assert_eq!(day2["principals"].as_array().unwrap().len(), 3);
    let day1 = daily(state, &["--until", "2026-11-01"]);
    assert_eq!(day1["principals"], json!([principals[0]]));

    let (code, table, err) = run_cli(&["state", "--state-dir", state, "daily"], None);
    assert_eq!(code, 0, "{err}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("2026-11-02  amazon.nova-micro-v1:0")
                && l.contains("us-west-2")
                && l.ends_with("0.00007")),
        "{table}"
    );
    assert!(
        table.contains("Calls and cost by UTC day and principal"),
        "{table}"
    );
    assert!(d.stop().success());

    // The same records again, from another file: duplicates, nothing added.
    let copy = dir.path().join("again.jsonl");
    std::fs::copy(&fixture, &copy).unwrap();
    let mut once = vec!["run", "--once"];
    once.extend_from_slice(&args);
    let file = once.iter().position(|a| *a == "--file").unwrap() + 1;
    once[file] = copy.to_str().unwrap();
    let (code, _, err) = run_cli(&once, None);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("5 duplicates"), "{err}");
    assert_eq!(daily(state, &[]), all);

    let (code, _, err) = run_cli(
        &[
            "state",
            "--state-dir",
            state,
            "daily",
            "--since",
            "2026-13-01",
        ],
        None,
    );
    assert_ne!(code, 0);
    assert!(err.contains("is not a day like"), "{err}");
}
