//! `report`: calls summed by any label, as a table, CSV or JSON, with exact decimal totals.

use crate::daemon::run_cli;

fn record(
    id: &str,
    day: &str,
    user: &str,
    feature: &str,
    experiment: &str,
    tokens: (u64, u64),
) -> String {
    format!(
        r#"{{"timestamp":"{day}T10:00:00Z","requestId":"{id}","region":"us-east-1","operation":"Converse","modelId":"amazon.nova-lite-v1:0","input":{{"inputTokenCount":{}}},"output":{{"outputTokenCount":{}}},"requestMetadata":{{"user":"{user}","feature":"{feature}","experiment":"{experiment}"}}}}"#,
        tokens.0, tokens.1
    ) + "\n"
}

/// Nova Lite in us-east-1 on the bundled card of 2026-11-22: 0.06 USD per 1M input tokens,
/// 0.24 per 1M output tokens.
fn fixture(dir: &std::path::Path) -> (String, String) {
    let logs = [
        record(
            "r1",
            "2026-11-25",
            "alice",
            "chat",
            "A",
            (1_000_000, 100_000),
        ), // 0.084
        record("r2", "2026-11-25", "alice", "chat", "B", (500_000, 0)), // 0.03
        record("r3", "2026-11-26", "bob", "chat", "A", (2_000_000, 50_000)), // 0.132
        record("r4", "2026-11-26", "bob", "search", "A", (100_000, 1_000)), // 0.00624
        record(
            "r1",
            "2026-11-25",
            "alice",
            "chat",
            "A",
            (1_000_000, 100_000),
        ), // repeated
        record("r5", "2026-11-20", "carol", "chat", "A", (1, 1)),       // before --since
    ]
    .concat();
    let file = dir.join("calls.jsonl");
    std::fs::write(&file, logs).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        "[attribution]\nmetadata_labels = [\"experiment\"]\n",
    )
    .unwrap();
    (
        file.to_str().unwrap().to_string(),
        config.to_str().unwrap().to_string(),
    )
}

fn report(extra: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (file, config) = fixture(dir.path());
    let mut args = vec!["report", "--config", &config, "--since", "2026-11-21"];
    args.extend_from_slice(extra);
    args.push(&file);
    run_cli(&args, None)
}

#[test]
fn report_groups_by_two_labels_as_a_table_with_a_total() {
    let (code, out, err) = report(&["--group-by", "feature,experiment"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "\
feature  experiment  calls  unpriced_calls  input_tokens  output_tokens  cache_tokens  cost_usd
chat     A               2               0       3000000         150000             0     0.216
chat     B               1               0        500000              0             0      0.03
search   A               1               0        100000           1000             0   0.00624
total                    4               0       3600000         151000             0   0.25224
"
    );
    assert!(
        err.contains("1 record(s) of a request id already counted were skipped"),
        "{err}"
    );
}

#[test]
fn report_as_csv() {
    let (code, out, err) = report(&["--group-by", "user,experiment", "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "\
user,experiment,calls,unpriced_calls,input_tokens,output_tokens,cache_tokens,cost_usd
bob,A,2,0,2100000,51000,0,0.13824
alice,A,1,0,1000000,100000,0,0.084
alice,B,1,0,500000,0,0,0.03
"
    );
}

#[test]
fn report_as_json_has_decimal_strings() {
    let (code, out, err) = report(&[
        "--group-by",
        "feature,experiment",
        "--format",
        "json",
        "--until",
        "2026-11-25",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["group_by"], serde_json::json!(["feature", "experiment"]));
    assert_eq!(v["since"], "2026-11-21T00:00:00Z");
    assert_eq!(
        v["until"], "2026-11-26T00:00:00Z",
        "--until's day is included"
    );
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(
        groups[0]["labels"],
        serde_json::json!({"feature": "chat", "experiment": "A"})
    );
    assert_eq!(groups[0]["totals"]["cost_usd"], "0.084");
    assert_eq!(groups[0]["totals"]["calls"], 1);
    assert_eq!(groups[1]["totals"]["cost_usd"], "0.03");
    assert_eq!(v["total"]["cost_usd"], "0.114");
}

#[test]
fn report_names_a_bad_label_or_bound_as_written() {
    let (code, _, err) = report(&["--group-by", "team"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("--group-by: \"team\" is not a label (available: user, feature, model, region, day, experiment"),
        "{err}"
    );
    let (code, _, err) = report(&["--until", "last tuesday"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("--until \"last tuesday\" is not a day like 2026-11-30"),
        "{err}"
    );
}

/// The example in docs/commands.md: its output block is exactly what the command prints.
#[test]
fn the_readme_report_example_runs_as_documented() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/docs/commands.md")).unwrap();
    let cmd = "bedrock-cost-exporter report --group-by feature examples/invocations.jsonl\n```\n\n```text\n";
    let at = readme
        .find(cmd)
        .expect("the report example in docs/commands.md")
        + cmd.len();
    let documented = &readme[at..at + readme[at..].find("```").unwrap()];
    let examples = format!("{root}/examples/invocations.jsonl");
    let (code, out, err) = run_cli(&["report", "--group-by", "feature", &examples], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, documented);
}
