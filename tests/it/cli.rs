//! The one-shot commands and the CLI's help and errors.

use crate::daemon::{data, run_cli, run_cli_with_env};

#[test]
fn price_prints_one_exact_json_line_per_call() {
    let card = data("ratecard.toml");
    let shapes = data("shapes.jsonl");
    let (code, out, err) = run_cli(&["price", "--ratecard", &card, &shapes], None);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 23);
    let r = rows
        .iter()
        .find(|r| r["request_id"] == "shape-cache-write-ttl-unknown")
        .unwrap();
    assert_eq!(r["cost_usd"], "0.09261087");
    assert_eq!(r["cost_usd_by_token_type"]["cache_read"], "0.07873932");
    assert_eq!(r["scope"], "geo");
    assert_eq!(r["user"], "heidi");
    let u = rows
        .iter()
        .find(|r| r["request_id"] == "shape-unknown-model")
        .unwrap();
    assert_eq!(u["unpriced_reason"], "unknown_model");
    assert!(u["cost_usd"].is_null());
    assert!(
        !out.contains("Nile"),
        "prompt and completion text never appear"
    );
}

#[test]
fn price_reads_stdin_and_reports_bad_lines_on_stderr() {
    let card = data("ratecard.toml");
    let bad = std::fs::read_to_string(data("bad.jsonl")).unwrap();
    let (code, out, err) = run_cli(&["price", "--ratecard", &card], Some(&bad));
    assert_eq!(code, 0);
    assert!(out.is_empty());
    assert!(
        err.contains("stdin:3: skipped a malformed record (wrong_type)"),
        "{err}"
    );
    assert!(err.contains("8 malformed record(s) skipped"), "{err}");
}

#[test]
fn check_validates_the_bundled_card_and_lists_every_problem() {
    let (code, out, err) = run_cli(&["check"], None);
    assert_eq!(code, 0, "{err}");
    // both bundled cards: the one in force before 2026-11-30 and the current one
    for version in ["2026-11-22", "2026-11-30"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("rate card {version} ")) && l.contains("OK")),
            "{out}"
        );
    }
    assert!(
        out.contains("  assumption in-region-premium-10pct: 22 price rows"),
        "{out}"
    );
    // the documented review command: the repository's card directory holds cards only
    let dir = format!("{}/ratecards", env!("CARGO_MANIFEST_DIR"));
    let (code, from_dir, err) = run_cli(&["check", "--ratecard", &dir], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        from_dir.matches("): OK, effective from").count(),
        2,
        "{from_dir}"
    );

    let dir = tempfile::tempdir().unwrap();
    let bad_card = dir.path().join("bad.toml");
    std::fs::write(&bad_card, "version = \"x\"\neffective_from = 2026-01-01\ncurrency = \"USD\"\nunit = \"per_1m_tokens\"\nsource = \"s\"\n[[models]]\nid = \"m\"\nname = \"M\"\n[[prices]]\nmodel = \"m\"\nregions = [\"*\"]\nscopes = [\"geo\"]\ninput = 1.5\noutput = \"-2\"\n").unwrap();
    let bad_config = dir.path().join("bad-config.toml");
    std::fs::write(&bad_config, "[attribution]\nmetadata_labels = [\"user\"]\n").unwrap();
    let (code, _, err) = run_cli(
        &[
            "check",
            "--config",
            bad_config.to_str().unwrap(),
            "--ratecard",
            bad_card.to_str().unwrap(),
        ],
        None,
    );
    assert_ne!(code, 0);
    assert!(err.contains("label \"user\" is reserved"), "{err}");
    assert!(err.contains("`input` must be a decimal string"), "{err}");
    assert!(err.contains("\"-2\" is not a plain decimal"), "{err}");
}

#[test]
fn run_without_input_or_state_says_what_to_do() {
    let (code, _, err) = run_cli(&["run"], None);
    assert_ne!(code, 0);
    assert!(
        err.contains("no state directory") && err.contains("--state-dir"),
        "{err}"
    );
    let (code, _, err) = run_cli(&["run", "--in-memory"], None);
    assert_ne!(code, 0);
    assert!(
        err.contains("nothing to read") && err.contains("--file"),
        "{err}"
    );
}

#[test]
fn an_empty_state_dir_variable_counts_as_unset() {
    // What the container image sets, beside a store URL: refused as two stores.
    let store = ["run", "--store", "postgres://bce@127.0.0.1:1/bce"];
    let (code, _, err) =
        run_cli_with_env(&store, None, &[("BEDROCK_COST_STATE_DIR", "/var/lib/bce")]);
    assert_ne!(code, 0);
    assert!(err.contains("are both given"), "{err}");
    // Emptied (deploy/k8s-replicas): no state directory, so only the missing input is reported.
    let (code, _, err) = run_cli_with_env(&store, None, &[("BEDROCK_COST_STATE_DIR", "")]);
    assert_ne!(code, 0);
    assert!(
        err.contains("nothing to read") && !err.contains("state dir") && !err.contains("STATE_DIR"),
        "{err}"
    );
    // Not taken for a state directory that conflicts with --in-memory either.
    let (code, _, err) = run_cli_with_env(
        &["run", "--in-memory"],
        None,
        &[("BEDROCK_COST_STATE_DIR", "")],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("nothing to read") && !err.contains("state"),
        "{err}"
    );
}

#[test]
fn help_explains_every_command() {
    let (code, out, _) = run_cli(&["--help"], None);
    assert_eq!(code, 0);
    for cmd in ["run", "demo", "price", "report", "top", "check", "state"] {
        assert!(out.contains(cmd), "{out}");
    }
    let (_, out, _) = run_cli(&["report", "--help"], None);
    for flag in ["--group-by", "--since", "--until", "--format", "--config"] {
        assert!(
            out.contains(flag),
            "{flag} missing from report --help:\n{out}"
        );
    }
    let (_, out, _) = run_cli(&["run", "--help"], None);
    for flag in [
        "--file",
        "--listen",
        "--ratecard",
        "--state-dir",
        "--once",
        "--stdin",
        "--reset-state",
    ] {
        assert!(out.contains(flag), "{flag} missing from run --help:\n{out}");
    }
}

#[test]
fn state_commands_refuse_a_directory_without_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo");
    let (code, _, err) = run_cli(
        &["state", "--state-dir", missing.to_str().unwrap(), "show"],
        None,
    );
    assert_ne!(code, 0);
    assert!(err.contains("there is no state store"), "{err}");
    assert!(
        !missing.exists(),
        "a mistyped directory must not be created"
    );
}

#[test]
fn check_reports_aliases_to_unpriced_models() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "[models.aliases]\n\"arn:aws:bedrock:us-east-1:1:application-inference-profile/x\" = \"us.anthropic.claude-sonet-4-5\"\n").unwrap();
    let (code, _, err) = run_cli(&["check", "--config", config.to_str().unwrap()], None);
    assert_ne!(code, 0);
    assert!(
        err.contains("maps to \"anthropic.claude-sonet-4-5\", which no rate card prices"),
        "{err}"
    );
}

#[test]
fn price_splits_a_json_array_line_like_the_daemon() {
    let card = data("ratecard.toml");
    let one = r#"{"timestamp":"2026-11-02T08:15:30Z","region":"us-east-1","requestId":"a1","modelId":"amazon.nova-micro-v1:0","input":{"inputTokenCount":1000000}}"#;
    let line = format!("[{one},{}]\n", one.replace("a1", "a2"));
    let (code, out, err) = run_cli(&["price", "--ratecard", &card], Some(&line));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains(r#""cost_usd":"0.035""#), "{out}");
}
