//! The last reconciliation against the bill, as gauges. No series exist until the daemon
//! is pointed at a CUR location and a run finishes; each run replaces the previous one's
//! series, so a model that leaves the bill leaves the metrics. Money becomes `f64` here.

use prometheus::core::Collector;
use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry};
use rust_decimal::prelude::ToPrimitive;

use crate::reconcile::{self, Report};

#[derive(Clone)]
pub struct Reconciliation {
    drift_ratio: GaugeVec,
    estimated_usd: GaugeVec,
    billed_usd: GaugeVec,
    total_drift_ratio: GaugeVec,
    not_compared_usd: GaugeVec,
    compared_until: IntGaugeVec,
    last_run: IntGaugeVec,
    last_success: IntGaugeVec,
    runs: IntCounterVec,
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    GaugeVec::new(Opts::new(name, help), labels).expect("valid gauge")
}

fn int_gauge(name: &str, help: &str) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), &[]).expect("valid gauge")
}

const NO_LABELS: &[&str] = &[];

impl Reconciliation {
    pub fn new(registry: &Registry) -> Reconciliation {
        let by_model = ["model", "token_type"];
        let r = Reconciliation {
            drift_ratio: gauge(
                "bedrock_reconciliation_drift_ratio",
                "Last reconciliation: (estimate - bill) / bill in US dollars over the compared days, by model and token class (absent when nothing was billed).",
                &by_model,
            ),
            estimated_usd: gauge(
                "bedrock_reconciliation_estimated_usd",
                "Last reconciliation: the daemon's estimate in US dollars over the compared days, by model and token class.",
                &by_model,
            ),
            billed_usd: gauge(
                "bedrock_reconciliation_billed_usd",
                "Last reconciliation: the bill's unblended cost in US dollars over the compared days, by model and token class.",
                &by_model,
            ),
            total_drift_ratio: gauge(
                "bedrock_reconciliation_total_drift_ratio",
                "Last reconciliation: (estimate - bill) / bill over every compared model, class and day.",
                NO_LABELS,
            ),
            not_compared_usd: gauge(
                "bedrock_reconciliation_not_compared_usd",
                "Last reconciliation: Bedrock bill lines left out of the comparison, in US dollars, by reason (unknown_usage_type, unmapped_model, excluded, other_line_type: credits, discounts, taxes).",
                &["reason"],
            ),
            compared_until: int_gauge(
                "bedrock_reconciliation_compared_until_timestamp_seconds",
                "Last reconciliation: the end (exclusive, UTC midnight) of the last day compared.",
            ),
            last_run: int_gauge(
                "bedrock_reconciliation_last_run_timestamp_seconds",
                "When the last reconciliation ran (whatever its result).",
            ),
            last_success: int_gauge(
                "bedrock_reconciliation_last_success_timestamp_seconds",
                "When the last reconciliation that read the bill and the store completed.",
            ),
            runs: IntCounterVec::new(
                Opts::new(
                    "bedrock_reconciliation_runs_total",
                    "Reconciliation runs, by result (ok, failed: the bill or the store could not be read; see the log).",
                ),
                &["result"],
            )
            .expect("valid counter"),
        };
        let collectors: [Box<dyn Collector>; 9] = [
            Box::new(r.drift_ratio.clone()),
            Box::new(r.estimated_usd.clone()),
            Box::new(r.billed_usd.clone()),
            Box::new(r.total_drift_ratio.clone()),
            Box::new(r.not_compared_usd.clone()),
            Box::new(r.compared_until.clone()),
            Box::new(r.last_run.clone()),
            Box::new(r.last_success.clone()),
            Box::new(r.runs.clone()),
        ];
        for c in collectors {
            registry.register(c).expect("unique metric names");
        }
        r
    }

    /// A run that could not read the bill or the store: the last good figures stay.
    pub fn failed(&self, now: i64) {
        self.runs.with_label_values(&["failed"]).inc();
        self.runs.with_label_values(&["ok"]);
        self.last_run.with_label_values(NO_LABELS).set(now);
    }

    pub fn publish(&self, report: &Report, now: i64) {
        let f = |d: rust_decimal::Decimal| d.to_f64().unwrap_or(f64::NAN);
        for g in [&self.drift_ratio, &self.estimated_usd, &self.billed_usd] {
            g.reset();
        }
        self.total_drift_ratio.reset();
        self.compared_until.reset();
        for ((model, class), (e, b)) in reconcile::by_model(report) {
            let labels = [model.as_str(), class.as_str()];
            self.estimated_usd.with_label_values(&labels).set(f(e.usd));
            self.billed_usd.with_label_values(&labels).set(f(b.usd));
            if let Some(r) = reconcile::drift_ratio(e.usd, b.usd) {
                self.drift_ratio.with_label_values(&labels).set(f(r));
            }
        }
        if let Some(r) = report.total.drift_ratio {
            self.total_drift_ratio
                .with_label_values(NO_LABELS)
                .set(f(r));
        }
        let asides = [
            ("unknown_usage_type", &report.unknown_usage_types),
            ("unmapped_model", &report.unmapped_models),
            ("excluded", &report.excluded),
            ("other_line_type", &report.other_line_types),
        ];
        for (reason, items) in asides {
            let usd: rust_decimal::Decimal = items.values().map(|a| a.usd).sum();
            self.not_compared_usd
                .with_label_values(&[reason])
                .set(f(usd));
        }
        if let Some((_, last)) = &report.days {
            if let Some(day) = crate::timefmt::parse_date(last) {
                let end = (day + 1) * 86_400;
                self.compared_until.with_label_values(NO_LABELS).set(end);
            }
        }
        self.runs.with_label_values(&["ok"]).inc();
        self.runs.with_label_values(&["failed"]);
        self.last_run.with_label_values(NO_LABELS).set(now);
        self.last_success.with_label_values(NO_LABELS).set(now);
    }
}
