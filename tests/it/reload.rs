//! Rate cards reload while the daemon runs: a new card takes over from its effective date,
//! a broken one is refused and the cards in force stay.

use std::path::PathBuf;

use crate::daemon::{append, data, run_cli, sum, Daemon};

/// A directory of cards holding the test card as `a.toml` (returned as text), and a config
/// that checks the cards every 100 ms.
fn card_dir() -> (tempfile::TempDir, PathBuf, String, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let cards = dir.path().join("cards");
    std::fs::create_dir(&cards).unwrap();
    let base = std::fs::read_to_string(data("ratecard.toml")).unwrap();
    std::fs::write(cards.join("a.toml"), &base).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "ratecard_reload_interval = \"100ms\"\n").unwrap();
    (dir, cards, base, config)
}

#[test]
fn a_new_rate_card_is_picked_up_and_a_broken_one_is_refused() {
    let (dir, cards, base, config) = card_dir();
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

#[test]
fn a_card_edited_in_place_is_refused_on_reload_and_at_startup() {
    let (dir, cards, base, config) = card_dir();
    let log = dir.path().join("calls.jsonl");
    append(&log, &crate::follow::call("ip-1", "u", 1_000_000));
    let state = dir.path().join("state");
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--ratecard",
        cards.to_str().unwrap(),
        "--file",
        log.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ];
    let d = Daemon::start(&args);
    d.wait_for("the first call", |m| {
        sum(m, "bedrock_cost_usd_total", &[]) > 0.0
    });
    let reloads = |d: &Daemon| {
        let log = d.log.lock().unwrap();
        log.iter()
            .filter(|l| l.contains("rate cards reloaded"))
            .count()
    };

    // Comments and formatting are not content: reloaded, not refused.
    std::fs::write(
        cards.join("a.toml"),
        format!("# reviewed by finance\n\n{base}"),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while reloads(&d) == 0 {
        assert!(std::time::Instant::now() < deadline, "no reload");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // A price changed under the same version: refused, and the old price keeps pricing.
    std::fs::write(
        cards.join("a.toml"),
        base.replace("input = \"0.035\"", "input = \"0.05\""),
    )
    .unwrap();
    d.wait_for("the refusal", |m| {
        sum(m, "bedrock_ratecard_reload_failures_total", &[]) == 1.0
    });
    append(&log, &crate::follow::call("ip-2", "u", 1_000_000));
    let m = d.wait_for("the second call", |m| {
        sum(m, "bedrock_records_total", &["result=\"accepted\""]) == 2.0
    });
    let cost = sum(&m, "bedrock_cost_usd_total", &[]);
    assert!(
        (cost - 0.07).abs() < 1e-12,
        "priced by the card in force: {cost}"
    );
    let text = d.log.lock().unwrap().join("\n");
    assert!(
        text.contains("a.toml: version \"test-1\" already priced counted calls"),
        "{text}"
    );
    assert_eq!(reloads(&d), 1);
    assert!(d.stop().success());

    // Restarted on the edited card: refused before anything is counted, saying why.
    let mut run = vec!["run"];
    run.extend_from_slice(&args);
    run.extend_from_slice(&["--listen", "127.0.0.1:0", "--once"]);
    let (code, _, err) = run_cli(&run, None);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("changed in place") && err.contains("new version"),
        "{err}"
    );
}
