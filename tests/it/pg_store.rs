//! The daemon on the PostgreSQL store (`--store postgres://`): a file is counted once across
//! a clean restart and a SIGKILL, with exact totals in the database; `state show`, `export`
//! and `copy` work on it.

use rust_decimal::Decimal;

use crate::daemon::{append, data, get, run_cli, run_cli_with_env, sum, Daemon};
use crate::follow::call;
use crate::support::postgres::Server;

fn tokens(m: &str) -> f64 {
    sum(m, "bedrock_tokens_total", &["token_type=\"input\""])
}

/// The exact total of one metric in `state export --format csv` output.
pub fn exported(csv: &str, metric: &str) -> Decimal {
    csv.lines()
        .filter(|l| l.starts_with(&format!("{metric},")))
        .map(|l| l.rsplit(',').next().unwrap().parse::<Decimal>().unwrap())
        .sum()
}

#[test]
fn the_daemon_on_postgres_counts_a_file_once_across_a_restart_and_a_sigkill() {
    let server = Server::start();
    let url = server.database();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.jsonl");
    append(&log, &(call("r1", "u", 1000) + &call("r2", "v", 2000)));
    let args = [
        "--file",
        log.to_str().unwrap(),
        "--ratecard",
        &data("ratecard.toml"),
        "--store",
        &url,
    ];
    // trust authentication ignores the password; it is passed the way a deployment would
    let env = [("BEDROCK_COST_STORE_PASSWORD", "not-logged-0123456789")];
    let d = Daemon::start_with_env(&args, &env);
    d.wait_for("two records", |m| tokens(m) == 3000.0);
    assert!(d.stop().success(), "SIGTERM must exit 0");

    // a repeated request and a new one; then SIGKILL once both are counted
    append(&log, &(call("r1", "u", 1000) + &call("r3", "u", 4000)));
    let d = Daemon::start_with_env(&args, &env);
    let m = d.wait_for("the new record on top of the old totals", |m| {
        tokens(m) == 7000.0
    });
    assert_eq!(
        sum(&m, "bedrock_records_total", &["result=\"duplicate\""]),
        1.0
    );
    let log_text = d.log.lock().unwrap().join("\n");
    assert!(
        log_text.contains("the state store is PostgreSQL at postgres://postgres@127.0.0.1"),
        "{log_text}"
    );
    assert!(
        !log_text.contains("0123456789"),
        "the password is never logged"
    );
    d.kill9();

    // after the kill: the same file again (all duplicates) and one more request
    let copy = dir.path().join("b.jsonl");
    std::fs::copy(&log, &copy).unwrap();
    append(&log, &call("r4", "v", 8000));
    let glob = format!("{}/*.jsonl", dir.path().display());
    let args = [
        "--file",
        &glob,
        "--ratecard",
        &data("ratecard.toml"),
        "--store",
        &url,
    ];
    let d = Daemon::start_with_env(&args, &env);
    let m = d.wait_for("r4, and the copy read as duplicates", |m| {
        tokens(m) == 15000.0 && sum(m, "bedrock_records_total", &["result=\"duplicate\""]) >= 4.0
    });
    assert_eq!(tokens(&m), 15000.0);
    assert!(d.stop().success());

    // the database holds the exact totals: 15000 input tokens at $0.035 per million
    let (code, out, err) = run_cli(&["state", "--store", &url, "export"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(exported(&out, "bedrock_tokens_total"), Decimal::from(15000));
    assert_eq!(
        exported(&out, "bedrock_cost_usd_total"),
        "0.000525".parse::<Decimal>().unwrap()
    );
    assert_eq!(
        exported(&out, "bedrock_user_cost_usd_total"),
        "0.000525".parse::<Decimal>().unwrap()
    );
    let (code, out, err) = run_cli(&["state", "--store", &url, "show", "--json"], None);
    assert_eq!(code, 0, "{err}");
    let stats: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(stats["dedupe_keys"].as_u64().unwrap() >= 4, "{out}");
    assert!(
        stats["checkpoints"].to_string().contains("a.jsonl"),
        "{out}"
    );
    let (code, out, err) = run_cli(
        &["state", "--store", &url, "daily", "--format", "json"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"tokens\": 15000"), "{out}");
}

/// `state copy`: the SQLite store of a daemon's state directory, copied into PostgreSQL,
/// is where a daemon on `--store` continues from, without recounting.
#[test]
fn a_state_directory_copied_into_postgres_continues_there() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.jsonl");
    append(&log, &(call("r1", "u", 1000) + &call("r2", "v", 2000)));
    let common = [
        "--file",
        log.to_str().unwrap(),
        "--ratecard",
        &data("ratecard.toml"),
    ];
    let mut a = common.to_vec();
    a.extend(["--state-dir", state.path().to_str().unwrap()]);
    let d = Daemon::start(&a);
    d.wait_for("two records", |m| tokens(m) == 3000.0);
    assert!(d.stop().success());

    let server = Server::start();
    let url = server.database();
    let s = state.path().to_str().unwrap();
    let (code, out, err) = run_cli(&["state", "--state-dir", s, "copy", "--to", &url], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("the copy reads back the same"), "{out}");
    // into a database that holds a store: refused
    let (code, _, err) = run_cli(&["state", "--state-dir", s, "copy", "--to", &url], None);
    assert_ne!(code, 0);
    assert!(err.contains("not empty"), "{err}");
    // a URL with a password is refused before anything is read
    let (code, _, err) = run_cli_with_env(
        &[
            "state",
            "--store",
            "postgres://u:pw-in-url@127.0.0.1:1/x",
            "show",
        ],
        None,
        &[],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("password") && !err.contains("pw-in-url"),
        "{err}"
    );

    append(&log, &call("r3", "u", 4000));
    let mut b = common.to_vec();
    b.extend(["--store", &url]);
    let d = Daemon::start(&b);
    let m = d.wait_for("r3 on top of the copied totals", |m| tokens(m) == 7000.0);
    assert_eq!(
        sum(&m, "bedrock_records_total", &["result=\"duplicate\""]),
        0.0,
        "the copied checkpoint skips what was read"
    );
    assert!(d.stop().success());
}

/// The database goes away while records arrive: no batch is acknowledged (the store's commit
/// errors count, readiness fails), and once it is back every record is counted, once.
#[test]
fn records_read_while_the_database_is_down_are_counted_once_it_is_back() {
    let server = Server::start();
    let url = server.database();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.jsonl");
    append(&log, &call("r1", "u", 1000));
    let args = [
        "--file",
        log.to_str().unwrap(),
        "--ratecard",
        &data("ratecard.toml"),
        "--store",
        &url,
    ];
    let d = Daemon::start(&args);
    d.wait_for("r1", |m| tokens(m) == 1000.0);
    server.ctl("stop");
    append(&log, &(call("r2", "u", 2000) + &call("r1", "u", 1000)));
    let m = d.wait_for("a failed commit", |m| {
        sum(m, "bedrock_store_commit_errors_total", &["kind=\"io\""]) >= 1.0
    });
    assert_eq!(tokens(&m), 1000.0, "nothing of a failed batch is counted");
    assert_ne!(
        get(&d.addr, "/readyz").0,
        200,
        "not ready while commits fail"
    );
    server.ctl("restart");
    let m = d.wait_for("r2 once the database is back", |m| tokens(m) == 3000.0);
    assert_eq!(
        sum(&m, "bedrock_records_total", &["result=\"duplicate\""]),
        1.0
    );
    assert!(d.stop().success());
    let (code, out, err) = run_cli(&["state", "--store", &url, "export"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(exported(&out, "bedrock_tokens_total"), Decimal::from(3000));
}
