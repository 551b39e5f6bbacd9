//! `reconcile` against CUR 2.0 files written from a known set of records: zero drift where the
//! bill matches, the exact drift where a price or a token count differs, unknown usage types
//! listed, the per-principal view equal to a hand computation; and the daemon's gauges.

use std::path::Path;

use serde_json::Value;

use crate::daemon::{run_cli, sum, Daemon};
use crate::support::cur::{write_csv, write_csv_gz, write_parquet, CurRow};

pub(crate) const CARD: &str = r#"version = "reconcile-test-1"
effective_from = 2024-01-01
review_by = 2030-01-01
currency = "USD"
unit = "per_1m_tokens"
source = "reconcile tests"

[[models]]
id = "amazon.nova-pro-v1:0"
name = "Nova Pro"
[[models]]
id = "anthropic.claude-sonnet-4-6"
name = "Claude Sonnet 4.6"

[[prices]]
model = "amazon.nova-pro-v1:0"
regions = ["ap-northeast-1"]
scopes = ["in_region", "geo"]
input = "0.96"
output = "3.84"

[[prices]]
model = "anthropic.claude-sonnet-4-6"
regions = ["*"]
scopes = ["global"]
input = "3.00"
output = "15.00"
"#;

pub(crate) const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
pub(crate) const BOB: &str = "arn:aws:sts::123456789012:assumed-role/App/bob";
const SONNET_LISTING: &str = "Claude Sonnet 4.6 (Amazon Bedrock Edition)";

fn call(
    id: &str,
    ts: &str,
    region: &str,
    model: &str,
    arn: &str,
    input: u64,
    output: u64,
) -> String {
    format!(
        r#"{{"schemaType":"ModelInvocationLog","timestamp":"{ts}","region":"{region}","requestId":"{id}","operation":"Converse","modelId":"{model}","identity":{{"arn":"{arn}"}},"input":{{"inputTokenCount":{input}}},"output":{{"outputTokenCount":{output}}}}}"#
    ) + "\n"
}

/// Alice: Nova Pro in Tokyo on 2 November (4,000 input, 1,000 output tokens).
/// Bob: Sonnet 4.6 through the global profile, 2 November (10,000 / 2,000) and 3 November
/// (20,000 / 5,000).
pub(crate) fn records() -> String {
    [
        call(
            "r1",
            "2026-11-02T01:00:00Z",
            "ap-northeast-1",
            "amazon.nova-pro-v1:0",
            ALICE,
            1000,
            200,
        ),
        call(
            "r2",
            "2026-11-02T23:59:59Z",
            "ap-northeast-1",
            "apac.amazon.nova-pro-v1:0",
            ALICE,
            3000,
            800,
        ),
        call(
            "r3",
            "2026-11-02T12:00:00Z",
            "us-east-1",
            "global.anthropic.claude-sonnet-4-6",
            BOB,
            10_000,
            2_000,
        ),
        call(
            "r4",
            "2026-11-03T00:00:00Z",
            "us-east-1",
            "global.anthropic.claude-sonnet-4-6",
            BOB,
            20_000,
            5_000,
        ),
    ]
    .concat()
}

fn principal(row: CurRow, arn: &str) -> CurRow {
    CurRow {
        principal: Some(arn.into()),
        ..row
    }
}

fn sonnet(day: &str, usage_type: &str, millions: &str, cost: &str) -> CurRow {
    let row = CurRow::usage(
        &format!("{day}T00:00:00Z"),
        "3mpsbvuc7x0l",
        usage_type,
        millions,
        cost,
    );
    CurRow {
        servicename: Some(SONNET_LISTING.into()),
        ..principal(row, BOB)
    }
}

/// The bill for the records at the card's prices: native lines in thousands of tokens,
/// Marketplace lines in millions; plus an unknown usage type and a credit.
pub(crate) fn bill() -> Vec<CurRow> {
    let nova = |ut: &str, thousands: &str, cost: &str| {
        principal(
            CurRow::usage("2026-11-02T00:00:00Z", "AmazonBedrock", ut, thousands, cost),
            ALICE,
        )
    };
    vec![
        nova("APN1-NovaPro-input-tokens", "4", "0.00384"),
        nova("APN1-NovaPro-output-tokens", "1", "0.00384"),
        sonnet(
            "2026-11-02",
            "USE1-MP:USE1_InputTokenCount_Global-Units",
            "0.01",
            "0.03",
        ),
        sonnet(
            "2026-11-02",
            "USE1-MP:USE1_OutputTokenCount_Global-Units",
            "0.002",
            "0.03",
        ),
        sonnet(
            "2026-11-03",
            "USE1-MP:USE1_InputTokenCount_Global-Units",
            "0.02",
            "0.06",
        ),
        sonnet(
            "2026-11-03",
            "USE1-MP:USE1_OutputTokenCount_Global-Units",
            "0.005",
            "0.075",
        ),
        nova("APN1-NovaPro-input-tokens-hyperspeed", "1", "0.5"),
        CurRow {
            line_item_type: "Credit".into(),
            ..CurRow::usage(
                "2026-11-02T00:00:00Z",
                "AmazonBedrock",
                "APN1-NovaPro-input-tokens",
                "0",
                "-0.25",
            )
        },
    ]
}

/// Counts the records into a fresh state directory, as the daemon does.
pub(crate) fn count(dir: &Path) -> (String, String) {
    let card = dir.join("card.toml");
    std::fs::write(&card, CARD).unwrap();
    let log = dir.join("calls.jsonl");
    std::fs::write(&log, records()).unwrap();
    let state = dir.join("state");
    let (code, _, err) = run_cli(
        &[
            "run",
            "--once",
            "--file",
            log.to_str().unwrap(),
            "--ratecard",
            card.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    (
        state.to_str().unwrap().to_string(),
        card.to_str().unwrap().to_string(),
    )
}

fn reconcile(cur: &Path, state: &str, extra: &[&str]) -> (i32, Value, String) {
    reconcile_on(cur, &[&["--state-dir", state], extra].concat())
}

/// `reconcile --format json` of the bill in `cur` against the store that `args` name.
fn reconcile_on(cur: &Path, args: &[&str]) -> (i32, Value, String) {
    let mut all = vec![
        "reconcile",
        "--cur",
        cur.to_str().unwrap(),
        "--format",
        "json",
    ];
    all.extend_from_slice(args);
    let (code, out, err) = run_cli(&all, None);
    let json = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, json, err)
}

/// Writes a bill in one of the three formats.
type WriteBill = fn(&Path, &[CurRow]);

pub(crate) fn model_row<'a>(r: &'a Value, day: &str, model: &str, class: &str) -> &'a Value {
    r["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["day"] == day && m["model"] == model && m["token_type"] == class)
        .unwrap_or_else(|| panic!("no row {day} {model} {class} in {r:#}"))
}

pub(crate) fn principal_row<'a>(r: &'a Value, day: &str, arn: &str) -> &'a Value {
    r["principals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["day"] == day && m["principal"] == arn)
        .unwrap_or_else(|| panic!("no principal row {day} {arn} in {r:#}"))
}

#[test]
fn a_bill_that_matches_shows_zero_drift_in_csv_gzip_and_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _) = count(dir.path());
    let writers: [(&str, WriteBill); 3] = [
        ("bill.csv", |p, r| write_csv(p, r)),
        ("bill.csv.gz", |p, r| write_csv_gz(p, r)),
        ("bill.parquet", |p, r| write_parquet(p, r)),
    ];
    for (name, write) in writers {
        let cur = dir.path().join(name.replace('.', "-"));
        std::fs::create_dir(&cur).unwrap();
        write(&cur.join(name), &bill());
        let (code, r, err) = reconcile(&cur, &state, &[]);
        assert_eq!(code, 0, "{name}: {err}\n{r:#}");
        assert_eq!(r["days"]["first"], "2026-11-02", "{name}");
        assert_eq!(r["days"]["last"], "2026-11-03", "{name}");
        assert_eq!(r["models"].as_array().unwrap().len(), 6, "{name}: {r:#}");
        for m in r["models"].as_array().unwrap() {
            assert_eq!(m["finding"], "match", "{name}: {m}");
            assert_eq!(m["drift_usd"], "0", "{name}: {m}");
            assert_eq!(m["estimated_tokens"], m["billed_tokens"], "{name}: {m}");
        }
        assert_eq!(r["total"]["estimated_usd"], "0.20268", "{name}");
        assert_eq!(r["total"]["billed_usd"], "0.20268", "{name}");
        // The principal view, against a hand computation at the card's prices.
        let expect = [
            ("2026-11-02", ALICE, "0.00768", "2"), // 4000 x 0.96 + 1000 x 3.84, per 1M
            ("2026-11-02", BOB, "0.06", "1"),      // 10000 x 3 + 2000 x 15
            ("2026-11-03", BOB, "0.135", "1"),     // 20000 x 3 + 5000 x 15
        ];
        assert_eq!(
            r["principals"].as_array().unwrap().len(),
            3,
            "{name}: {r:#}"
        );
        for (day, arn, usd, calls) in expect {
            let p = principal_row(&r, day, arn);
            assert_eq!(p["estimated_usd"], usd, "{name}: {p}");
            assert_eq!(p["billed_usd"], usd, "{name}: {p}");
            assert_eq!(p["estimated_calls"], calls, "{name}: {p}");
            assert_eq!(p["finding"], "match", "{name}: {p}");
        }
        let unknown = &r["unknown_usage_types"][0];
        assert_eq!(
            unknown["name"], "APN1-NovaPro-input-tokens-hyperspeed",
            "{name}"
        );
        assert_eq!(unknown["usd"], "0.5", "{name}");
        assert_eq!(r["other_line_types"][0]["name"], "Credit", "{name}");
        assert_eq!(r["other_line_types"][0]["usd"], "-0.25", "{name}");
    }
}

#[test]
fn a_price_error_and_a_token_error_show_their_exact_drift_and_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _) = count(dir.path());
    let mut rows = bill();
    // AWS bills Nova Pro input at 1.05 per 1M, not the card's 0.96.
    rows[0].unblended_cost = "0.0042".into();
    // The bill has 1,000 more Sonnet output tokens on 3 November than the logs.
    rows[5].usage_amount = "0.006".into();
    rows[5].unblended_cost = "0.09".into();
    let cur = dir.path().join("cur");
    std::fs::create_dir(&cur).unwrap();
    write_parquet(cur.join("part-0.parquet"), &rows);

    let (code, r, err) = reconcile(&cur, &state, &["--min-usd", "0"]);
    assert_eq!(code, 3, "{err}\n{r:#}");
    assert!(err.contains("drift past 5%"), "{err}");
    let nova = model_row(&r, "2026-11-02", "amazon.nova-pro-v1:0", "input");
    assert_eq!(nova["finding"], "price");
    assert_eq!(nova["drift_usd"], "-0.00036");
    assert_eq!(nova["drift_ratio"], "-0.085714"); // 0.96 / 1.05 - 1
    assert_eq!(nova["token_drift_ratio"], "0");
    let sonnet = model_row(&r, "2026-11-03", "anthropic.claude-sonnet-4-6", "output");
    assert_eq!(sonnet["finding"], "tokens");
    assert_eq!(sonnet["estimated_tokens"], "5000");
    assert_eq!(sonnet["billed_tokens"], "6000");
    assert_eq!(sonnet["drift_usd"], "-0.015");
    assert_eq!(sonnet["token_drift_ratio"], "-0.166667");
    let untouched = model_row(&r, "2026-11-02", "anthropic.claude-sonnet-4-6", "input");
    assert_eq!(untouched["finding"], "match");
    assert_eq!(r["total"]["drift_usd"], "-0.01536");
    // The principal view carries the same dollars.
    assert_eq!(
        principal_row(&r, "2026-11-02", ALICE)["drift_usd"],
        "-0.00036"
    );
    assert_eq!(principal_row(&r, "2026-11-03", BOB)["drift_usd"], "-0.015");

    // Within a looser threshold, and in the other formats.
    let (code, _, err) = reconcile(&cur, &state, &["--max-drift", "0.2", "--min-usd", "0"]);
    assert_eq!(code, 0, "{err}");
    let args = [
        "reconcile",
        "--cur",
        cur.to_str().unwrap(),
        "--state-dir",
        &state,
    ];
    // Under the default --min-usd of $1 these cents of drift do not fail the run.
    let (code, table, _) = run_cli(&[&args[..], &["--format", "table"]].concat(), None);
    assert_eq!(code, 0);
    assert!(
        table.contains("-8.57%") && table.contains("APN1-NovaPro-input-tokens-hyperspeed"),
        "{table}"
    );
    let (_, csv, _) = run_cli(&[&args[..], &["--format", "csv"]].concat(), None);
    assert!(
        csv.lines().any(|l| l == "model,2026-11-02,amazon.nova-pro-v1:0,input,4000,4000,0,0.00384,0.0042,-0.00036,-0.085714,price,"),
        "{csv}"
    );
}

#[test]
fn bad_flags_and_unreadable_bills_are_errors_that_say_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _) = count(dir.path());
    let cur = dir.path().join("cur");
    std::fs::create_dir(&cur).unwrap();
    std::fs::write(cur.join("bill.csv"), "not,a,cur,header\n1,2,3,4\n").unwrap();
    let (code, _, err) = run_cli(
        &[
            "reconcile",
            "--cur",
            cur.to_str().unwrap(),
            "--state-dir",
            &state,
        ],
        None,
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("bill.csv") && err.contains("no column `line_item_usage_start_date`"),
        "{err}"
    );
    let (code, _, err) = run_cli(
        &[
            "reconcile",
            "--cur",
            cur.to_str().unwrap(),
            "--state-dir",
            &state,
            "--since",
            "yesterday",
        ],
        None,
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("--since") && err.contains("YYYY-MM-DD"),
        "{err}"
    );
}

#[test]
fn the_daemon_exposes_the_last_reconciliation_as_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    daemon_reconciles(dir.path(), &["--state-dir", state.to_str().unwrap()]);
}

/// A PostgreSQL store: the command's report equals the one from a state directory that
/// counted the same records, and the daemon's gauges are those of a state directory.
#[test]
fn the_command_and_the_daemon_reconcile_a_postgresql_store() {
    let server = crate::support::postgres::Server::start();
    let dir = tempfile::tempdir().unwrap();
    let (state, card) = count(dir.path());
    let url = server.database();
    let log = dir.path().join("calls.jsonl");
    let args = [
        "run",
        "--once",
        "--file",
        log.to_str().unwrap(),
        "--ratecard",
        &card,
    ];
    let (code, _, err) = run_cli(&[&args[..], &["--store", &url]].concat(), None);
    assert_eq!(code, 0, "{err}");
    let cur = dir.path().join("cur");
    std::fs::create_dir(&cur).unwrap();
    write_csv(cur.join("bill.csv"), &bill());
    let (code, from_dir, err) = reconcile(&cur, &state, &[]);
    assert_eq!(code, 0, "{err}");
    let (code, from_pg, err) = reconcile_on(&cur, &["--store", &url]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(from_pg, from_dir);
    assert_eq!(from_pg["total"]["estimated_usd"], "0.20268");
    // Both, or neither: clap says so.
    let (code, _, err) = run_cli(
        &[
            "reconcile",
            "--cur",
            cur.to_str().unwrap(),
            "--state-dir",
            &state,
            "--store",
            &url,
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot be used with"), "{err}");

    let other = server.database();
    let dir = tempfile::tempdir().unwrap();
    daemon_reconciles(dir.path(), &["--store", &other]);
}

/// Runs the daemon on `store` (its flags) with a reconciliation every second against a bill
/// that prices Nova Pro input higher than the card, and checks its gauges.
fn daemon_reconciles(dir: &Path, store: &[&str]) {
    let card = dir.join("card.toml");
    std::fs::write(&card, CARD).unwrap();
    let log = dir.join("calls.jsonl");
    std::fs::write(&log, records()).unwrap();
    let cur = dir.join("cur");
    std::fs::create_dir(&cur).unwrap();
    let mut rows = bill();
    rows[0].unblended_cost = "0.0042".into();
    write_csv_gz(cur.join("bill.csv.gz"), &rows);
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[reconcile]\ncur = [{:?}]\ninterval = \"1s\"\nskip_recent_days = 0\n",
            cur.to_str().unwrap()
        ),
    )
    .unwrap();
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--file",
        log.to_str().unwrap(),
        "--ratecard",
        card.to_str().unwrap(),
    ];
    let d = Daemon::start(&[&args[..], store].concat());
    // Runs at start (perhaps before the records are counted) and every second after.
    let nova = ["model=\"amazon.nova-pro-v1:0\"", "token_type=\"input\""];
    let m = d.wait_for("a reconciliation after the records were counted", |m| {
        sum(m, "bedrock_reconciliation_estimated_usd", &nova) > 0.0
    });
    let drift = sum(&m, "bedrock_reconciliation_drift_ratio", &nova);
    assert!((drift - -0.085714).abs() < 1e-9, "{drift}\n{m}");
    assert_eq!(sum(&m, "bedrock_reconciliation_billed_usd", &nova), 0.0042);
    let sonnet = [
        "model=\"anthropic.claude-sonnet-4-6\"",
        "token_type=\"output\"",
    ];
    assert_eq!(sum(&m, "bedrock_reconciliation_drift_ratio", &sonnet), 0.0);
    assert_eq!(
        sum(
            &m,
            "bedrock_reconciliation_not_compared_usd",
            &["reason=\"unknown_usage_type\""]
        ),
        0.5
    );
    assert_eq!(
        sum(
            &m,
            "bedrock_reconciliation_compared_until_timestamp_seconds",
            &[]
        ),
        1_793_750_400.0 // 2026-11-04T00:00:00Z: the end of the last day compared
    );
    assert!(sum(&m, "bedrock_reconciliation_runs_total", &["result=\"ok\""]) >= 1.0);
    assert!(
        sum(
            &m,
            "bedrock_reconciliation_last_success_timestamp_seconds",
            &[]
        ) > 0.0
    );
    crate::daemon::promtool_check(&m);
    assert!(d.stop().success());
}

/// The worked example of docs/reconcile.md: its console block is exactly what the commands print.
#[test]
fn the_readme_example_runs_as_documented() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/docs/reconcile.md")).unwrap();
    let start = "$ bedrock-cost-exporter reconcile --cur examples/reconcile/cur/ --state-dir /tmp/reconcile-example\n";
    let at = readme
        .find(start)
        .expect("the reconcile example in docs/reconcile.md")
        + start.len();
    let documented = &readme[at..at + readme[at..].find("$ echo $?").unwrap()];

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let calls = format!("{root}/examples/reconcile/calls.jsonl");
    let args = [
        "run",
        "--once",
        "--file",
        &calls,
        "--state-dir",
        state.to_str().unwrap(),
    ];
    let (code, _, err) = run_cli(&args, None);
    assert_eq!(code, 0, "{err}");
    let cur = format!("{root}/examples/reconcile/cur/");
    let args = [
        "reconcile",
        "--cur",
        &cur,
        "--state-dir",
        state.to_str().unwrap(),
    ];
    let (code, out, err) = run_cli(&args, None);
    assert_eq!(code, 3, "{err}");
    assert_eq!(out + &err, documented);
}
