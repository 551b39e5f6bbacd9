//! `top`: one frame of a running daemon's top spenders, read from its /metrics.

use crate::daemon::{run_cli, sum, Daemon};

#[test]
fn top_prints_the_spend_rate_and_the_top_users_of_a_running_daemon() {
    let d = Daemon::spawn(&["demo", "--listen", "127.0.0.1:0", "--rate", "20"]);
    d.wait_for("the demo's history", |m| {
        sum(m, "bedrock_records_total", &[]) > 25_000.0
    });
    let args = [
        "top",
        "--url",
        &d.addr,
        "--interval",
        "1s",
        "--rows",
        "3",
        "--once",
    ];
    let (code, out, err) = run_cli(&args, None);
    assert_eq!(code, 0, "{err}");
    let url = format!("http://{}/metrics", d.addr);
    assert!(
        out.starts_with(&format!("bedrock-cost-exporter top: {url} at ")),
        "{out}"
    );
    assert!(
        out.contains("total spend ") && out.contains(" USD/h"),
        "{out}"
    );
    let users = out.split("\nuser ").nth(1).expect("a user table");
    assert!(
        users.contains("usd_per_hour") && users.contains("total_usd"),
        "{out}"
    );
    assert!(out.contains("\nfeature "), "{out}");
    assert!(out.contains("alice"), "the demo's heavy user: {out}");
    assert!(
        !out.contains('\x1b'),
        "no screen control when not a terminal"
    );
    assert!(d.stop().success());
}

#[test]
fn top_says_what_is_wrong_with_its_flags_or_the_daemon() {
    let (code, _, err) = run_cli(&["top", "--interval", "soon", "--once"], None);
    assert_ne!(code, 0);
    assert!(
        err.contains("--interval \"soon\" is not a duration"),
        "{err}"
    );
    // nothing listens on port 9 (discard) of localhost
    let (code, _, err) = run_cli(
        &["top", "--url", "127.0.0.1:9", "--once", "--interval", "1s"],
        None,
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("cannot reach http://127.0.0.1:9/metrics"),
        "{err}"
    );
}
