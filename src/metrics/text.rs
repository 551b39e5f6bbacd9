//! The ledger's families in the Prometheus text format, written directly from the ledger
//! under its read lock: one pass to group series by metric, one line per series, values
//! converted from exact fixed point to the nearest `f64`.

use std::fmt::Write;

use crate::budgets::Budgets;
use crate::ledger::{Ledger, Metric};
use crate::money;
use crate::snapshot::Snapshot;

fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

fn escape_into(out: &mut String, v: &str) {
    if !v.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn sample<'a>(
    out: &mut String,
    name: &str,
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    value: f64,
) {
    out.push_str(name);
    let mut first = true;
    for (n, v) in labels {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(n);
        out.push_str("=\"");
        escape_into(out, v);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
    out.push(' ');
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{value}");
    }
    out.push('\n');
}

/// Gauges beside the counters: (name, help).
const GAUGES: [(&str, &str); 10] = [
    ("bedrock_ratecard_info", "Loaded rate cards (value 1), by version, content sha256 and effective date."),
    ("bedrock_ratecard_review_by_timestamp_seconds", "When each rate card should be reviewed (its review_by date), as a Unix time."),
    ("bedrock_last_record_timestamp_seconds", "Timestamp of the newest invocation record read, by source."),
    ("bedrock_store_writable", "1 when the last commit to the state store succeeded, 0 while commits fail (nothing is acknowledged)."),
    ("bedrock_build_info", "Build information (value 1)."),
    ("bedrock_source_lag_seconds", "Seconds between now and the newest invocation record read, by source."),
    ("bedrock_budget_usd", "Configured budget in US dollars for the current calendar period (UTC), by budget, period, label and subject."),
    ("bedrock_budget_spend_usd", "Spend in US dollars so far in the current calendar period (UTC) of each budget."),
    ("bedrock_dimension_values", "Distinct values admitted so far per attribution dimension (user, feature, each extra label); past its cap new values fold into __other__."),
    ("bedrock_dimension_values_limit", "The cap of distinct values per attribution dimension."),
];

/// Writes every ledger family and the gauges derived from the snapshot.
pub fn ledger(out: &mut String, snap: &Snapshot, budgets: &Budgets, now: i64) {
    let ledger = snap.ledger();
    counters(out, &ledger);
    let g = |i: usize| GAUGES[i];
    let gauge = |out: &mut String, i: usize| family(out, g(i).0, g(i).1, "gauge");
    let cards = snap.cards.cards();
    if !cards.is_empty() {
        gauge(out, 0);
        for c in cards {
            let date = crate::timefmt::format_date(c.effective_from / 86_400);
            let labels = [
                ("version", c.version.as_str()),
                ("sha256", c.sha256.as_str()),
                ("effective_from", date.as_str()),
            ];
            sample(out, g(0).0, labels, 1.0);
        }
    }
    if cards.iter().any(|c| c.review_by.is_some()) {
        gauge(out, 1);
        for c in cards {
            if let Some(r) = c.review_by {
                sample(out, g(1).0, [("version", c.version.as_str())], r as f64);
            }
        }
    }
    if !ledger.last_record().is_empty() {
        gauge(out, 2);
        for (source, ts) in ledger.last_record() {
            sample(out, g(2).0, [("source", source.as_str())], *ts as f64);
        }
    }
    gauge(out, 3);
    sample(out, g(3).0, [], if snap.store_writable { 1.0 } else { 0.0 });
    gauge(out, 4);
    sample(out, g(4).0, [("version", env!("CARGO_PKG_VERSION"))], 1.0);
    if !ledger.last_record().is_empty() {
        gauge(out, 5);
        for (source, ts) in ledger.last_record() {
            sample(
                out,
                g(5).0,
                [("source", source.as_str())],
                (now - ts).max(0) as f64,
            );
        }
    }
    let gauges = budgets.gauges(&ledger, now);
    if !gauges.is_empty() {
        for (i, spend) in [(6, false), (7, true)] {
            gauge(out, i);
            for b in &gauges {
                let labels = [
                    ("budget", b.budget),
                    ("period", b.period.as_str()),
                    ("label", b.label),
                    ("subject", b.subject.as_str()),
                ];
                let v = if spend { b.spend } else { b.limit };
                sample(out, g(i).0, labels, money::to_f64(v));
            }
        }
    }
    for (i, limit) in [(8, false), (9, true)] {
        gauge(out, i);
        for d in ledger.dims() {
            let v = if limit { d.cap } else { d.admitted() };
            sample(out, g(i).0, [("dimension", d.label.as_str())], v as f64);
        }
    }
    family(out, "bedrock_ledger_overflows_total", "Amounts that did not fit a series (past 1.7e20 USD or finer than 1e-18 USD): counted here, never wrapped or rounded.", "counter");
    sample(
        out,
        "bedrock_ledger_overflows_total",
        [],
        ledger.overflows() as f64,
    );
}

fn counters(out: &mut String, ledger: &Ledger) {
    let mut by_metric: Vec<Vec<(u32, i128)>> = vec![Vec::new(); Metric::COUNT];
    for (id, key, value) in ledger.iter() {
        by_metric[key.metric as usize].push((id, value));
    }
    out.reserve(ledger.len() * 120);
    for metric in Metric::ALL {
        let ids = &by_metric[metric as usize];
        // Period spend is exposed through the budget gauges, not as a counter of its own.
        if ids.is_empty() || metric == Metric::PeriodSpend {
            continue;
        }
        family(out, metric.name(), metric.help(), "counter");
        for &(id, value) in ids {
            let key = ledger.key(id);
            let v = money::units_to_f64(value, metric.scale());
            sample(out, metric.name(), ledger.labels(key), v);
        }
    }
}
