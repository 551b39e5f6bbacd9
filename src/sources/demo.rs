//! Demo source: the bundled example logs once, then a trickle of synthetic calls (a few a
//! second, timestamped now) so a newcomer sees `/metrics` move without an AWS account.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::batch::Input;

pub const EXAMPLES: &str = include_str!("../../examples/invocations.jsonl");

const USERS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];
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

/// One synthetic invocation record, shaped like a real Converse record.
pub fn synthetic_record(rng: &mut fastrand::Rng, now_unix: i64) -> String {
    let user = USERS[rng.usize(..USERS.len())];
    // alice is the heavy user, so the demo has a clear top spender
    let user = if rng.bool() { "alice" } else { user };
    let feature = FEATURES[rng.usize(..FEATURES.len())];
    let (model, region) = MODELS[rng.usize(..MODELS.len())];
    let cache = if model.contains("claude") && rng.u8(..4) == 0 {
        format!(
            r#","cacheReadInputTokenCount":{},"cacheWriteInputTokenCount":{}"#,
            rng.u32(1000..40_000),
            rng.u32(100..2000)
        )
    } else {
        String::new()
    };
    format!(
        r#"{{"timestamp":"{ts}","accountId":"123456789012","identity":{{"arn":"arn:aws:sts::123456789012:assumed-role/DemoApp/{user}"}},"region":"{region}","requestId":"demo-{id:016x}","operation":"Converse","modelId":"{model}","input":{{"inputContentType":"application/json","inputTokenCount":{inp}{cache}}},"output":{{"outputContentType":"application/json","outputTokenCount":{out}}},"requestMetadata":{{"user":"{user}","feature":"{feature}","team":"{team}"}},"schemaType":"ModelInvocationLog","schemaVersion":"1.0"}}"#,
        ts = crate::timefmt::format_rfc3339(now_unix),
        id = rng.u64(..),
        inp = rng.u32(100..8000),
        out = rng.u32(20..2000),
        team = if feature == "search" {
            "search"
        } else {
            "assistants"
        },
    )
}

/// Feeds the examples, then `per_second` synthetic calls a second until shutdown.
pub async fn run(
    tx: mpsc::Sender<Input>,
    per_second: f64,
    clock: crate::clock::Clock,
    shutdown: CancellationToken,
) {
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
    let period = Duration::from_secs_f64(1.0 / per_second.max(0.01));
    let mut tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                let now = clock.now();
                let line = synthetic_record(&mut rng, now);
                let input = Input::from_ndjson("demo".into(), Arc::from("synthetic"), line.into_bytes(), 1);
                if tx.send(input).await.is_err() {
                    return;
                }
            }
        }
    }
}
