//! Exposition: the daemon's own `Registry` (no globals) with a collector that reads the
//! latest ledger snapshot at scrape time, plus the pipeline's health metrics. Money becomes
//! `f64` here and nowhere else.

use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, LabelPair, Metric as PMetric, MetricFamily, MetricType};
use prometheus::{Encoder, Histogram, HistogramOpts, IntCounterVec, Opts, Registry, TextEncoder};
use tokio::sync::watch;

use crate::budgets::Budgets;
use crate::ledger::Metric;
use crate::money;
use crate::pipeline::Snapshot;

/// Pipeline health that lives in the process (not the store: it must work when the store
/// does not).
#[derive(Clone)]
pub struct Health {
    pub commit_seconds: Histogram,
    pub commit_errors: IntCounterVec,
    pub firehose_requests: IntCounterVec,
    pub dead_letters: IntCounterVec,
    pub export_records: IntCounterVec,
    pub tls_reloads: IntCounterVec,
    pub source_errors: IntCounterVec,
    pub ratecard_reload_failures: prometheus::IntCounter,
    pub livetail_sessions: IntCounterVec,
    pub livetail_sampled: prometheus::IntCounter,
}

pub struct Metrics {
    registry: Registry,
    pub health: Health,
}

impl Metrics {
    pub fn new(snapshots: watch::Receiver<Arc<Snapshot>>, budgets: Budgets) -> Metrics {
        let registry = Registry::new();
        let commit_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "bedrock_store_commit_duration_seconds",
                "Time to account and commit one batch to the state store.",
            )
            .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
        )
        .expect("valid histogram");
        let commit_errors = IntCounterVec::new(
            Opts::new("bedrock_store_commit_errors_total", "Batches the state store could not commit, by kind (disk_full, io, corrupt, locked)."),
            &["kind"],
        )
        .expect("valid counter");
        for kind in ["disk_full", "io", "corrupt", "locked"] {
            commit_errors.with_label_values(&[kind]);
        }
        let firehose_requests = IntCounterVec::new(
            Opts::new(
                "bedrock_firehose_requests_total",
                "Firehose HTTP endpoint requests, by response status code.",
            ),
            &["code"],
        )
        .expect("valid counter");
        let dead_letters = IntCounterVec::new(
            Opts::new(
                "bedrock_firehose_dead_letter_records_total",
                "Undecodable Firehose records and malformed lines written to the dead-letter file (written) or lost because it was full (dropped).",
            ),
            &["result"],
        )
        .expect("valid counter");
        let export_records = IntCounterVec::new(
            Opts::new(
                "bedrock_export_records_total",
                "Per-request export rows by sink and result (sent, retried, failed, dropped when the sink's queue was full).",
            ),
            &["sink", "result"],
        )
        .expect("valid counter");
        let tls_reloads = IntCounterVec::new(
            Opts::new("bedrock_tls_reloads_total", "TLS certificate reloads after the files changed, by result (ok, failed: the old certificate stays in use)."),
            &["result"],
        )
        .expect("valid counter");
        let source_errors = IntCounterVec::new(
            Opts::new("bedrock_source_errors_total", "Errors reading a source, by source and kind (read, decompress, commit: a batch retried because the store could not commit)."),
            &["source", "kind"],
        )
        .expect("valid counter");
        let ratecard_reload_failures = prometheus::IntCounter::new(
            "bedrock_ratecard_reload_failures_total",
            "Rate-card reloads refused because the changed cards did not validate (the cards in force stay).",
        )
        .expect("valid counter");
        let livetail_sessions = IntCounterVec::new(
            Opts::new(
                "bedrock_livetail_sessions_total",
                "CloudWatch Logs Live Tail sessions, by result (started, ended, failed).",
            ),
            &["result"],
        )
        .expect("valid counter");
        let livetail_sampled = prometheus::IntCounter::new(
            "bedrock_livetail_sampled_updates_total",
            "Live Tail updates that CloudWatch sampled (over 500 events/s); polling still counts every call.",
        )
        .expect("valid counter");
        let collector = LedgerCollector::new(snapshots, budgets);
        let collectors: [Box<dyn Collector>; 11] = [
            Box::new(commit_seconds.clone()),
            Box::new(commit_errors.clone()),
            Box::new(firehose_requests.clone()),
            Box::new(dead_letters.clone()),
            Box::new(export_records.clone()),
            Box::new(tls_reloads.clone()),
            Box::new(source_errors.clone()),
            Box::new(ratecard_reload_failures.clone()),
            Box::new(livetail_sessions.clone()),
            Box::new(livetail_sampled.clone()),
            Box::new(collector),
        ];
        for c in collectors {
            registry.register(c).expect("unique metric names");
        }
        Metrics {
            registry,
            health: Health {
                commit_seconds,
                commit_errors,
                firehose_requests,
                dead_letters,
                export_records,
                tls_reloads,
                source_errors,
                ratecard_reload_failures,
                livetail_sessions,
                livetail_sampled,
            },
        }
    }

    /// The Prometheus text format (0.0.4).
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding does not fail");
        String::from_utf8(out).expect("the text encoder writes UTF-8")
    }
}

struct CardInfo {
    version: String,
    sha256: String,
    effective_from: String,
    review_by: Option<i64>,
}

struct LedgerCollector {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    budgets: Budgets,
    descs: Vec<Desc>,
}

const INFO_FAMILIES: [(&str, &str); 8] = [
    ("bedrock_ratecard_info", "Loaded rate cards (value 1), by version, content sha256 and effective date."),
    ("bedrock_ratecard_review_by_timestamp_seconds", "When each rate card should be reviewed (its review_by date), as a Unix time."),
    ("bedrock_last_record_timestamp_seconds", "Timestamp of the newest invocation record read, by source."),
    ("bedrock_store_writable", "1 when the last commit to the state store succeeded, 0 while commits fail (nothing is acknowledged)."),
    ("bedrock_build_info", "Build information (value 1)."),
    ("bedrock_source_lag_seconds", "Seconds between now and the newest invocation record read, by source."),
    ("bedrock_budget_usd", "Configured budget in US dollars for the current calendar period (UTC), by budget, period, label and subject."),
    ("bedrock_budget_spend_usd", "Spend in US dollars so far in the current calendar period (UTC) of each budget."),
];

impl LedgerCollector {
    fn new(snapshots: watch::Receiver<Arc<Snapshot>>, budgets: Budgets) -> LedgerCollector {
        let descs = Metric::ALL
            .iter()
            .map(|m| (m.name(), m.help()))
            .chain(INFO_FAMILIES)
            .map(|(name, help)| {
                Desc::new(name.into(), help.into(), vec![], Default::default()).expect("valid desc")
            })
            .collect();

        LedgerCollector {
            snapshots,
            budgets,
            descs,
        }
    }
}

fn family(name: &str, help: &str, kind: MetricType) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.into());
    f.set_help(help.into());
    f.set_field_type(kind);
    f
}

fn sample<'a>(
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    value: f64,
    kind: MetricType,
) -> PMetric {
    let mut m = PMetric::default();
    m.set_label(
        labels
            .into_iter()
            .map(|(n, v)| {
                let mut p = LabelPair::default();
                p.set_name(n.into());
                p.set_value(v.into());
                p
            })
            .collect(),
    );
    if kind == MetricType::COUNTER {
        let mut c = Counter::default();
        c.set_value(value);
        m.set_counter(c);
    } else {
        let mut g = Gauge::default();
        g.set_value(value);
        m.set_gauge(g);
    }
    m
}

impl Collector for LedgerCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let snap = self.snapshots.borrow().clone();
        let mut families: Vec<MetricFamily> = Metric::ALL
            .iter()
            .map(|m| family(m.name(), m.help(), MetricType::COUNTER))
            .collect();
        for (key, value) in snap.totals.iter() {
            let labels = key.labels.iter().map(|(n, v)| (&**n, &**v));
            families[key.metric as usize].mut_metric().push(sample(
                labels,
                money::to_f64(*value),
                MetricType::COUNTER,
            ));
        }
        let gauge = |i: usize| family(INFO_FAMILIES[i].0, INFO_FAMILIES[i].1, MetricType::GAUGE);
        let mut info = gauge(0);
        let mut review = gauge(1);
        let cards: Vec<CardInfo> = snap
            .cards
            .cards()
            .iter()
            .map(|c| CardInfo {
                version: c.version.clone(),
                sha256: c.sha256.clone(),
                effective_from: crate::timefmt::format_date(c.effective_from / 86_400),
                review_by: c.review_by,
            })
            .collect();
        for c in &cards {
            info.mut_metric().push(sample(
                [
                    ("version", c.version.as_str()),
                    ("sha256", c.sha256.as_str()),
                    ("effective_from", c.effective_from.as_str()),
                ],
                1.0,
                MetricType::GAUGE,
            ));
            if let Some(r) = c.review_by {
                review.mut_metric().push(sample(
                    [("version", c.version.as_str())],
                    r as f64,
                    MetricType::GAUGE,
                ));
            }
        }
        let mut last = gauge(2);
        for (source, ts) in &snap.last_record {
            last.mut_metric().push(sample(
                [("source", source.as_str())],
                *ts as f64,
                MetricType::GAUGE,
            ));
        }
        let mut writable = gauge(3);
        writable.mut_metric().push(sample(
            [],
            if snap.store_writable { 1.0 } else { 0.0 },
            MetricType::GAUGE,
        ));
        let mut build = gauge(4);
        build.mut_metric().push(sample(
            [("version", env!("CARGO_PKG_VERSION"))],
            1.0,
            MetricType::GAUGE,
        ));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut lag = gauge(5);
        for (source, ts) in &snap.last_record {
            lag.mut_metric().push(sample(
                [("source", source.as_str())],
                (now - ts).max(0) as f64,
                MetricType::GAUGE,
            ));
        }
        let (mut limit, mut spend) = (gauge(6), gauge(7));
        for g in self.budgets.gauges(&snap.totals, now) {
            let labels = [
                ("budget", g.budget),
                ("period", g.period.as_str()),
                ("label", g.label),
                ("subject", g.subject.as_str()),
            ];
            limit
                .mut_metric()
                .push(sample(labels, money::to_f64(g.limit), MetricType::GAUGE));
            spend
                .mut_metric()
                .push(sample(labels, money::to_f64(g.spend), MetricType::GAUGE));
        }
        // Period spend is exposed through the budget gauges, not as a counter of its own.
        families[Metric::PeriodSpend as usize].mut_metric().clear();
        families.extend([info, review, last, writable, build, lag, limit, spend]);
        families.retain(|f| !f.get_metric().is_empty());
        families
    }
}
