//! Budgets: the current calendar period's spend per subject, kept across restarts.

use crate::daemon::{append, data, sum, Daemon};

fn now_call(id: &str, user: &str, input: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Nova Micro in the test card: $0.035 per 1M input tokens.
    crate::follow::call(id, user, input).replace(
        "2026-11-02T08:15:30Z",
        &bedrock_cost_exporter::timefmt::format_rfc3339(now as i64),
    )
}

#[test]
fn budgets_expose_the_periods_spend_and_keep_it_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        r#"
[[budgets]]
name = "per-user"
label = "user"
monthly_usd = "1"
daily_usd = "0.5"

[[budgets]]
name = "alice-monthly"
label = "user"
value = "alice"
monthly_usd = "2"
"#,
    )
    .unwrap();
    let log = dir.path().join("calls.jsonl");
    append(
        &log,
        &(now_call("b1", "alice", 10_000_000)
            + &now_call("b2", "bob", 1_000_000)
            + &crate::follow::call("old", "bob", 9_000_000).replace("2026-11-02", "2025-10-02")),
    );
    let state = dir.path().join("state");
    let card = data("ratecard.toml");
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--file",
        log.to_str().unwrap(),
        "--ratecard",
        &card,
        "--state-dir",
        state.to_str().unwrap(),
    ];
    let d = Daemon::start(&args);
    let m = d.wait_for("three records", |m| {
        sum(m, "bedrock_records_total", &[]) == 3.0
    });
    let gauge = |m: &str, name: &str, budget: &str, period: &str, subject: &str| {
        sum(
            m,
            name,
            &[
                &format!("budget=\"{budget}\""),
                &format!("period=\"{period}\""),
                &format!("subject=\"{subject}\""),
            ],
        )
    };
    assert_eq!(
        gauge(&m, "bedrock_budget_usd", "alice-monthly", "month", "alice"),
        2.0
    );
    assert!(
        (gauge(
            &m,
            "bedrock_budget_spend_usd",
            "alice-monthly",
            "month",
            "alice"
        ) - 0.35)
            .abs()
            < 1e-12
    );
    assert_eq!(
        gauge(&m, "bedrock_budget_usd", "per-user", "month", "bob"),
        1.0
    );
    assert!(
        (gauge(&m, "bedrock_budget_spend_usd", "per-user", "month", "bob") - 0.035).abs() < 1e-12,
        "a call from an earlier month is not in this month"
    );
    assert!(
        (gauge(&m, "bedrock_budget_spend_usd", "per-user", "day", "alice") - 0.35).abs() < 1e-12,
        "alice's own budget is monthly only"
    );
    assert!(!m.contains(
        r#"bedrock_budget_usd{budget="per-user",period="month",label="user",subject="alice"}"#
    ));
    assert!(
        !m.contains("bedrock_period_spend_usd{"),
        "period spend is internal"
    );
    crate::daemon::promtool_check(&m);
    assert!(d.stop().success());

    let d = Daemon::start(&args);
    let m = d.metrics();
    assert!(
        (gauge(
            &m,
            "bedrock_budget_spend_usd",
            "alice-monthly",
            "month",
            "alice"
        ) - 0.35)
            .abs()
            < 1e-12,
        "spend survives the restart"
    );
    assert!(d.stop().success());
}
