//! Whole-pipeline benchmarks (run with `cargo bench --bench pipeline`; targets are checked
//! here, never in timed tests):
//! - startup: loading 1M series of state (target: under 2 s);
//! - replay: records priced, attributed and committed per second, against a parse-only pass
//!   over the same body-heavy log (the ceiling the pipeline is held to).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bedrock_cost_exporter::attribution::Attribution;
use bedrock_cost_exporter::clock::Clock;
use bedrock_cost_exporter::ledger::{Ledger, Limits, Metric};
use bedrock_cost_exporter::pipeline::{Context, Input, Pipeline};
use bedrock_cost_exporter::pricing::{ratecard, Aliases};
use bedrock_cost_exporter::store::{Commit, SqliteStore, Store};

const SERIES: usize = 1_000_000;
const RECORDS: usize = 100_000;

fn startup() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let mut l = Ledger::new(&Limits::uniform(
            usize::MAX,
            &["user", "feature"],
            usize::MAX,
        ));
        l.begin();
        for i in 0..SERIES {
            let user = format!("user-{i}");
            l.add_named(
                Metric::UserCost,
                &[("user", &user)],
                i as i128 * 1_000_000_000_000,
            );
        }
        let ch = l.changes();
        store
            .commit(&Commit {
                created: l.new_series(&ch.created),
                values: &ch.values,
                all: &l,
                removed: &[],
                dedupe: &[],
                checkpoints: &[],
                drop_checkpoints: &[],
                now: 0,
                purge_before: None,
                daily: &Default::default(),
                daily_before: None,
                fence: None,
            })
            .unwrap();
    }
    let started = Instant::now();
    let store = SqliteStore::open(dir.path()).unwrap();
    let ctx = Arc::new(context());
    let (p, _) = Pipeline::open(ctx, Box::new(store)).unwrap();
    let took = started.elapsed();
    assert_eq!(p.ledger().len(), SERIES);
    report(
        "startup: open + load 1M series",
        took,
        Duration::from_secs(2),
    );
}

fn context() -> Context {
    Context {
        cards: Arc::new(ratecard::bundled()),
        aliases: Aliases::default(),
        attribution: Attribution::default(),
        limits: Limits::uniform(10_000, &["user", "feature"], 10_000),
        dedupe_window: Duration::from_secs(48 * 3600),
        export: false,
        budget_periods: Vec::new(),
        daily_retention_days: bedrock_cost_exporter::config::DEFAULT_DAILY_RETENTION_DAYS,
        clock: Clock::system(),
    }
}

/// Converse records with ~2 KB of prompt and completion text each, like real logs with text
/// delivery on.
fn corpus() -> Vec<u8> {
    let body = "lorem ipsum dolor sit amet ".repeat(40);
    let mut out = Vec::new();
    for i in 0..RECORDS {
        out.extend_from_slice(format!(
            r#"{{"timestamp":"2026-11-02T08:15:30Z","accountId":"123456789012","identity":{{"arn":"arn:aws:sts::123456789012:assumed-role/App/user-{u}"}},"region":"us-east-1","requestId":"bench-{i:08}","operation":"Converse","modelId":"global.anthropic.claude-sonnet-4-5-20250929-v1:0","input":{{"inputContentType":"application/json","inputBodyJson":{{"messages":[{{"role":"user","content":[{{"text":"{body}"}}]}}]}},"inputTokenCount":{t},"cacheReadInputTokenCount":1200}},"output":{{"outputContentType":"application/json","outputBodyJson":{{"output":{{"message":{{"role":"assistant","content":[{{"text":"{body}"}}]}}}},"stopReason":"end_turn","usage":{{"inputTokens":{t},"outputTokens":300}}}},"outputTokenCount":300}},"requestMetadata":{{"feature":"f{f}"}},"schemaType":"ModelInvocationLog","schemaVersion":"1.0"}}"#,
            u = i % 500,
            f = i % 20,
            t = 1000 + i % 3000,
        ).as_bytes());
        out.push(b'\n');
    }
    out
}

fn replay() {
    let data = corpus();
    let mb = data.len() as f64 / 1e6;

    let started = Instant::now();
    let mut n = 0;
    for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        n += usize::from(v.is_object());
    }
    let parse_only = started.elapsed();
    assert_eq!(n, RECORDS);

    let (mut p, _) = Pipeline::open(
        Arc::new(context()),
        Box::new(SqliteStore::in_memory().unwrap()),
    )
    .unwrap();
    let started = Instant::now();
    let mut start = 0;
    while start < data.len() {
        // batches of about 1 MiB cut at a line boundary, as the file source makes them
        let mut end = (start + (1 << 20)).min(data.len());
        while end < data.len() && data[end - 1] != b'\n' {
            end += 1;
        }
        let input =
            Input::from_ndjson("bench".into(), "bench".into(), data[start..end].to_vec(), 1);
        p.process(&input, 2_000_000_000).unwrap();
        start = end;
    }
    let full = started.elapsed();
    let accepted = p.ledger().sum(Metric::Records, &[("result", "accepted")]);
    assert_eq!(accepted, rust_decimal::Decimal::from(RECORDS));

    println!("replay of {RECORDS} records, {mb:.1} MB:");
    println!(
        "  parse-only (serde_json::Value)  {:>8.1} MB/s  {:>9.0} records/s",
        mb / parse_only.as_secs_f64(),
        RECORDS as f64 / parse_only.as_secs_f64()
    );
    println!(
        "  full pipeline (price + commit)  {:>8.1} MB/s  {:>9.0} records/s",
        mb / full.as_secs_f64(),
        RECORDS as f64 / full.as_secs_f64()
    );
    println!(
        "  pipeline / parse-only time      {:>8.2}x",
        full.as_secs_f64() / parse_only.as_secs_f64()
    );
}

fn report(what: &str, took: Duration, target: Duration) {
    let verdict = if took <= target { "ok" } else { "OVER TARGET" };
    println!("{what}: {took:.2?} (target {target:?}) {verdict}");
}

fn main() {
    startup();
    replay();
}
