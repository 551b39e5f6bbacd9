//! Rate cards reload while the daemon runs: a new card takes over from its effective date,
//! a broken one is refused and the cards in force stay.

use crate::daemon::{append, data, sum, Daemon};

#[test]
fn a_new_rate_card_is_picked_up_and_a_broken_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cards = dir.path().join("cards");
    std::fs::create_dir(&cards).unwrap();
    let base = std::fs::read_to_string(data("ratecard.toml")).unwrap();
    std::fs::write(cards.join("a.toml"), &base).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "ratecard_reload_interval = \"100ms\"\n").unwrap();
    let log = dir.path().join("calls.jsonl");
    // A call dated 2026-11-02: Nova Micro at $0.035 per 1M input tokens under test-1.
    append(&log, &crate::follow::call("rc-1", "u", 1_000_000));
    let d = Daemon::start(&[
        "--config",
        config.to_str().unwrap(),
        "--ratecard",
        cards.to_str().unwrap(),
        "--file",
        log.to_str().unwrap(),
        "--in-memory",
    ]);
    d.wait_for("the first call", |m| {
        sum(m, "bedrock_cost_usd_total", &[]) > 0.0
    });

    // Finance merges a card effective 2026-11-10 with a new Nova Micro price.
    let newer = base
        .replace("version = \"test-1\"", "version = \"test-2\"")
        .replace("effective_from = 2024-01-01", "effective_from = 2026-11-10")
        .replace("input = \"0.035\"", "input = \"0.05\"");
    std::fs::write(cards.join("b.toml"), newer).unwrap();
    d.wait_for("the new card", |m| {
        m.contains("bedrock_ratecard_info{version=\"test-2\"")
    });
    append(
        &log,
        &(crate::follow::call("rc-2", "u", 1_000_000).replace("2026-11-02", "2026-11-12")
            + &crate::follow::call("rc-3", "u", 1_000_000)),
    );
    let m = d.wait_for("two more calls", |m| {
        sum(m, "bedrock_records_total", &["result=\"accepted\""]) == 3.0
    });
    let cost = sum(&m, "bedrock_cost_usd_total", &[]);
    assert!(
        (cost - (0.035 + 0.05 + 0.035)).abs() < 1e-12,
        "each call priced by the card in force at its timestamp: {cost}"
    );

    // A broken edit: refused, counted, and both good cards keep pricing.
    std::fs::write(
        cards.join("b.toml"),
        "version = \"test-3\"\nthis is not toml\n",
    )
    .unwrap();
    let m = d.wait_for("the refusal", |m| {
        sum(m, "bedrock_ratecard_reload_failures_total", &[]) == 1.0
    });
    assert!(m.contains("bedrock_ratecard_info{version=\"test-2\""));
    let log = d.log.lock().unwrap().join(
        "
",
    );
    assert!(
        log.contains("were not loaded") && log.contains("b.toml: not valid TOML"),
        "{log}"
    );
    assert!(d.stop().success());
}
