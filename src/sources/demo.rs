//! Demo source: the bundled example logs once, 35 days of synthetic history (one user,
//! alice, ramping up), then a trickle of synthetic calls (a few a second, timestamped now), so
//! a newcomer sees every panel of the status page and the dashboard move without an AWS
//! account. [`CONFIG`] is the demo's configuration: budgets, a team and an experiment label,
//! and a user cap the later users fold past.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::batch::Input;

pub const EXAMPLES: &str = include_str!("../../examples/invocations.jsonl");

/// The demo's settings: per-user and per-team budgets, `team` and `experiment` labels from
/// request metadata, and a cap of six users (grace and heidi, rare, fold into `__other__`).
pub const CONFIG: &str = r#"
[attribution]
metadata_labels = ["team", "experiment"]

[limits]
max_users = 6

[[budgets]]
name = "per-user"
label = "user"
monthly_usd = "5000"
daily_usd = "150"

[[budgets]]
name = "assistants-team"
label = "team"
value = "assistants"
monthly_usd = "50000"
"#;

const USERS: [&str; 8] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];
const FEATURES: [&str; 4] = ["chat", "search", "summarize", "code-review"];
const MODELS: [(&str, &str); 4] = [
    (
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "us-east-1",
    ),
    ("us.anthropic.claude-haiku-4-5-20251001-v1:0", "us-west-2"),
    ("amazon.nova-lite-v1:0", "us-east-1"),
    ("apac.amazon.nova-micro-v1:0", "ap-northeast-1"),
];

/// A model no rate card prices: the demo's unpriced calls.
const UNPRICED_MODEL: &str = "acme.demo-unreleased-v1:0";
/// Days of synthetic history fed at start, and the minutes between two of its calls.
const HISTORY_DAYS: i64 = 35;
const HISTORY_STEP_MINUTES: i64 = 2;
/// Below the decoder's sanity limit of 10M tokens per count.
const MAX_TOKENS: u32 = 9_000_000;

/// One synthetic invocation record, shaped like a real Converse record. `ramp` (0 to 1) is
/// how far alice's ramp-up has come: her share of the calls and their size grow with it.
/// Token counts are multiplied by `scale` (history calls stand for several live ones).
pub fn synthetic_record(rng: &mut fastrand::Rng, now_unix: i64, ramp: f64, scale: u32) -> String {
    // grace and heidi are rare: the cap of six users folds them into __other__
    let user = if rng.u8(..20) == 0 {
        USERS[rng.usize(6..USERS.len())]
    } else {
        USERS[rng.usize(..6)]
    };
    // alice is the heavy user and ramps up, so the demo has a clear top spender and a trend
    let alice = 0.15 + 0.45 * ramp.clamp(0.0, 1.0);
    let user = if rng.f64() < alice { "alice" } else { user };
    let feature = FEATURES[rng.usize(..FEATURES.len())];
    let (model, region) = if rng.u8(..100) == 0 {
        (UNPRICED_MODEL, "us-east-1")
    } else {
        MODELS[rng.usize(..MODELS.len())]
    };
    let grow = if user == "alice" {
        1.0 + 2.0 * ramp
    } else {
        1.0
    };
    let scale = (f64::from(scale.max(1)) * grow) as u32;
    let cache = if model.contains("claude") && rng.u8(..4) == 0 {
        format!(
            r#","cacheReadInputTokenCount":{},"cacheWriteInputTokenCount":{}"#,
            (rng.u32(1000..40_000) * scale).min(MAX_TOKENS),
            (rng.u32(100..2000) * scale).min(MAX_TOKENS)
        )
    } else {
        String::new()
    };
    format!(
        r#"{{"timestamp":"{ts}","accountId":"123456789012","identity":{{"arn":"arn:aws:sts::123456789012:assumed-role/DemoApp/{user}"}},"region":"{region}","requestId":"demo-{id:016x}","operation":"Converse","modelId":"{model}","input":{{"inputContentType":"application/json","inputTokenCount":{inp}{cache}}},"output":{{"outputContentType":"application/json","outputTokenCount":{out}}},"requestMetadata":{{"user":"{user}","feature":"{feature}","team":"{team}","experiment":"{experiment}"}},"schemaType":"ModelInvocationLog","schemaVersion":"1.0"}}"#,
        ts = crate::timefmt::format_rfc3339(now_unix),
        id = rng.u64(..),
        inp = (rng.u32(100..8000) * scale).min(MAX_TOKENS),
        out = (rng.u32(20..2000) * scale).min(MAX_TOKENS),
        // an A/B test of the chat prompt; the other features run no experiment
        experiment = match (feature, rng.bool()) {
            ("chat", true) => "prompt-v2",
            ("chat", false) => "control",
            _ => "none",
        },
        team = if feature == "search" {
            "search"
        } else {
            "assistants"
        },
    )
}

/// 35 days of history before `now`, one call every two minutes, alice ramping up from the
/// first day to the last; each call as large as the live calls of those minutes together
/// (`per_second`), so the history and the live traffic draw on one scale. Then a few
/// repeated lines (duplicates) and a malformed one, for the data-quality panels.
pub fn history(rng: &mut fastrand::Rng, now: i64, per_second: f64) -> String {
    let steps = HISTORY_DAYS * 24 * 60 / HISTORY_STEP_MINUTES;
    let scale = (per_second * 60.0 * HISTORY_STEP_MINUTES as f64).clamp(1.0, 240.0) as u32;
    let mut out = String::with_capacity(steps as usize * 700);
    let mut last = String::new();
    for i in 0..steps {
        let at = now - (steps - i) * HISTORY_STEP_MINUTES * 60 + rng.i64(0..60);
        last = synthetic_record(rng, at, i as f64 / steps as f64, scale);
        out.push_str(&last);
        out.push('\n');
    }
    for _ in 0..3 {
        out.push_str(&last);
        out.push('\n');
    }
    out.push_str("{\"timestamp\":\"2026-11-30T00:00:00Z\",\"requestId\":\"demo-cut-off\n");
    out
}

/// Feeds the examples and the history, then `per_second` synthetic calls a second until
/// shutdown.
/// Source name in `bedrock_source_errors_total` (and of the synthetic records).
pub const SOURCE: &str = "demo";

/// Counts a live batch the store refused as a commit error of the demo source (the calls are
/// dropped: synthetic traffic needs no retry).
fn count_refusal(input: &mut Input, errors: &prometheus::IntCounterVec) {
    let (ack, refused) = tokio::sync::oneshot::channel();
    input.ack = Some(ack);
    let counter = errors.with_label_values(&[SOURCE, "commit"]);
    tokio::spawn(async move {
        if let Ok(Err(_)) = refused.await {
            counter.inc();
        }
    });
}

pub async fn run(
    tx: mpsc::Sender<Input>,
    per_second: f64,
    clock: crate::clock::Clock,
    errors: prometheus::IntCounterVec,
    shutdown: CancellationToken,
) {
    // A series from the start, so the dashboard's source-error panel shows a zero rate.
    errors.with_label_values(&[SOURCE, "commit"]);
    let examples = Input::from_ndjson(
        "example".into(),
        "examples/invocations.jsonl".into(),
        EXAMPLES.as_bytes().to_vec(),
        1,
    );
    if tx.send(examples).await.is_err() {
        return;
    }
    let mut rng = fastrand::Rng::new();
    let past = history(&mut rng, clock.now(), per_second);
    let past = Input::from_ndjson(
        SOURCE.into(),
        Arc::from("synthetic history"),
        past.into_bytes(),
        1,
    );
    if tx.send(past).await.is_err() {
        return;
    }
    let period = Duration::from_secs_f64(1.0 / per_second.max(0.01));
    let mut tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                let now = clock.now();
                let line = synthetic_record(&mut rng, now, 1.0, 1);
                let mut input = Input::from_ndjson(SOURCE.into(), Arc::from("synthetic"), line.into_bytes(), 1);
                count_refusal(&mut input, &errors);
                if tx.send(input).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_config_resolves_with_budgets_and_labels() {
        let raw = crate::config::parse(CONFIG, "demo").unwrap();
        let o = crate::config::Overrides {
            in_memory: true,
            ..Default::default()
        };
        let c = crate::config::resolve(raw, o, crate::config::Env::default()).unwrap();
        let labels: Vec<&str> = c.attribution.extra_names().collect();
        assert_eq!(labels, ["team", "experiment"]);
        assert_eq!(c.budgets.list.len(), 2);
        assert_eq!(c.max_users, 6);
    }

    #[test]
    fn the_history_spans_35_days_and_alice_ramps_up() {
        let now = 1_795_435_200;
        let text = history(&mut fastrand::Rng::with_seed(7), now, 2.0);
        let mut alice = [0u64; 2];
        let mut calls = [0u64; 2];
        let mut bad = 0;
        for line in text.lines() {
            let r = match crate::bedrock::parse(line.as_bytes()) {
                Ok(r) => r,
                Err(e) => {
                    assert_eq!(bad, 0, "{e}: {line}");
                    bad += 1;
                    continue;
                }
            };
            assert!(r.timestamp < now && r.timestamp >= now - 35 * 86_400 - 120);
            let half = usize::from(r.timestamp >= now - 35 * 86_400 / 2);
            calls[half] += 1;
            if r.metadata("user") == Some("alice") {
                alice[half] += 1;
            }
        }
        assert_eq!(bad, 1, "one malformed line");
        assert_eq!(calls[0] + calls[1], 35 * 24 * 30 + 3);
        let share = |h: usize| alice[h] as f64 / calls[h] as f64;
        assert!(share(1) > share(0) + 0.1, "{} -> {}", share(0), share(1));
    }
}
