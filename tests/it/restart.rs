//! Restarts: totals continue, files are not re-counted, shutdown is clean, bad state refuses.

use crate::daemon::{append, data, run_cli, sum, Daemon};
use crate::follow::call;

#[test]
fn totals_continue_across_a_restart_without_recounting() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.jsonl");
    append(&log, &(call("r1", "u", 1000) + &call("r2", "u", 2000)));
    let args = |l: &str, s: &str| {
        vec![
            "--file".to_string(),
            l.to_string(),
            "--ratecard".into(),
            data("ratecard.toml"),
            "--state-dir".into(),
            s.to_string(),
        ]
    };
    let a = args(log.to_str().unwrap(), state.path().to_str().unwrap());
    let a: Vec<&str> = a.iter().map(String::as_str).collect();

    let d = Daemon::start(&a);
    d.wait_for("two records", |m| {
        sum(m, "bedrock_tokens_total", &[]) == 3000.0
    });
    let started = std::time::Instant::now();
    assert!(d.stop().success(), "SIGTERM must exit 0");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );

    append(&log, &call("r3", "u", 4000));
    let d = Daemon::start(&a);
    let m = d.wait_for("the new record on top of the old totals", |m| {
        sum(m, "bedrock_tokens_total", &[]) == 7000.0
    });
    assert_eq!(
        sum(&m, "bedrock_records_total", &["result=\"duplicate\""]),
        0.0,
        "the checkpoint must skip what was read"
    );
    assert!(d
        .log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("loaded") && l.contains("series from the state store")));
    drop(d);

    // the store can be inspected and exported exactly once the daemon is gone
    let (code, out, err) = run_cli(
        &[
            "state",
            "--state-dir",
            state.path().to_str().unwrap(),
            "export",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .any(|l| l.contains("bedrock_cost_usd_total") && l.contains("\"value\":\"0.000245\"")),
        "{out}"
    );
    let (code, out, _) = run_cli(
        &[
            "state",
            "--state-dir",
            state.path().to_str().unwrap(),
            "show",
        ],
        None,
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("dedupe keys: 3") && out.contains("file:"),
        "{out}"
    );
}

#[test]
fn a_corrupt_store_stops_startup_with_the_way_out() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("state.db"), vec![b'x'; 4096]).unwrap();
    let card = data("ratecard.toml");
    let shapes = data("shapes.jsonl");
    let s = state.path().to_str().unwrap();
    let (code, _, err) = run_cli(
        &[
            "run",
            "--once",
            "--file",
            &shapes,
            "--ratecard",
            &card,
            "--state-dir",
            s,
        ],
        None,
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("corrupt") && err.contains("--reset-state") && err.contains("NOT reset"),
        "{err}"
    );
    let (code, _, err) = run_cli(
        &[
            "run",
            "--once",
            "--reset-state",
            "--file",
            &shapes,
            "--ratecard",
            &card,
            "--state-dir",
            s,
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_dir(state.path()).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("state.db.reset-")));
}

#[test]
fn two_daemons_cannot_share_a_state_directory() {
    let state = tempfile::tempdir().unwrap();
    let card = data("ratecard.toml");
    let shapes = data("shapes.jsonl");
    let s = state.path().to_str().unwrap();
    let _first = Daemon::start(&["--file", &shapes, "--ratecard", &card, "--state-dir", s]);
    let (code, _, err) = run_cli(
        &[
            "run",
            "--once",
            "--file",
            &shapes,
            "--ratecard",
            &card,
            "--state-dir",
            s,
        ],
        None,
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("another process is using the state directory"),
        "{err}"
    );
}

#[test]
fn sighup_never_stops_the_daemon() {
    let shapes = data("shapes.jsonl");
    let d = Daemon::start(&["--file", &shapes, "--in-memory"]);
    d.wait_for("the shapes", |m| {
        sum(m, "bedrock_records_total", &[]) == 23.0
    });
    d.signal("-HUP");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(d.get("/healthz").0, 200, "the daemon must survive SIGHUP");
    assert!(d.stop().success());
}
