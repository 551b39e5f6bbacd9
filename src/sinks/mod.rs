//! Per-request export: every newly counted call as one JSON row (ids, attribution, model,
//! region, scope, tokens and cost per token class as decimal strings, rate-card version;
//! never prompt or completion text), for data lakes and per-prompt analysis.
//!
//! The pipeline hands rows over only after their batch is committed, through a bounded
//! channel: a sink that cannot keep up loses rows (counted as `dropped`), never counts.

pub mod firehose;
pub mod jsonl;

use std::collections::BTreeMap;

use prometheus::IntCounterVec;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::account::PricedCall;
use crate::attribution::Attribution;
use crate::pricing::Outcome;
use crate::record::TokenClass;
use crate::timefmt;

/// One call as exported (and as `price` prints it).
pub fn row(call: &PricedCall<'_>, attribution: &Attribution) -> Value {
    let (rec, labels, outcome) = (call.record, &call.labels, &call.outcome);
    let extra: BTreeMap<&str, &str> = attribution
        .extra_names()
        .zip(labels.extra.iter().map(|v| &**v))
        .collect();
    let tokens: BTreeMap<&str, u64> = TokenClass::ALL
        .iter()
        .map(|t| (t.as_str(), rec.tokens.get(*t)))
        .collect();
    let mut row = json!({
        "request_id": rec.request_id,
        "timestamp": timefmt::format_rfc3339(rec.timestamp),
        "model_id": rec.model_id,
        "region": rec.region,
        "principal": rec.principal_arn,
        "user": labels.user,
        "feature": labels.feature,
        "labels": extra,
        "tokens": tokens,
    });
    match outcome {
        Outcome::Priced(p) => {
            let by_class: BTreeMap<&str, String> = TokenClass::ALL
                .iter()
                .map(|t| (t.as_str(), p.cost[*t as usize].to_string()))
                .collect();
            row["model"] = json!(p.model);
            row["scope"] = json!(p.scope.as_str());
            row["tier"] = json!(p.tier.as_str());
            row["long_context"] = json!(p.long_context);
            row["cost_usd"] = json!(p.total.to_string());
            row["cost_usd_by_token_type"] = json!(by_class);
            row["ratecard_version"] = json!(p.card_version);
        }
        Outcome::NotBilled { model } => {
            row["model"] = json!(model);
            row["cost_usd"] = json!("0");
            row["error_code"] = json!(rec.error_code);
        }
        Outcome::Unpriced { model, reason, .. } => {
            row["model"] = json!(model);
            row["cost_usd"] = Value::Null;
            row["unpriced_reason"] = json!(reason.as_str());
        }
    }
    row
}

/// Where committed rows go: one bounded queue per sink.
#[derive(Clone)]
pub struct Exporter {
    queues: Vec<(&'static str, mpsc::Sender<Vec<u8>>)>,
    counts: IntCounterVec,
}

impl Exporter {
    pub fn new(counts: IntCounterVec) -> Exporter {
        Exporter {
            queues: Vec::new(),
            counts,
        }
    }

    /// Adds a sink; returns the receiving end its task drains.
    pub fn add(&mut self, name: &'static str, capacity: usize) -> mpsc::Receiver<Vec<u8>> {
        let (tx, rx) = mpsc::channel(capacity);
        self.queues.push((name, tx));
        rx
    }

    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// Offers committed rows to every sink without waiting: counting never blocks on export.
    pub fn offer(&self, rows: &[Vec<u8>]) {
        for (name, tx) in &self.queues {
            for r in rows {
                if tx.try_send(r.clone()).is_err() {
                    self.counts.with_label_values(&[name, "dropped"]).inc();
                }
            }
        }
    }
}
