//! Exposition: the daemon's own `Registry` (no globals) for the pipeline's health metrics,
//! and the ledger's series written straight to the text format at scrape time (a scrape of
//! 100,000 series must not build 100,000 objects). Money becomes `f64` here and nowhere else.

use std::sync::Arc;

use prometheus::core::Collector;
use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use tokio::sync::watch;

use crate::budgets::Budgets;
use crate::clock::Clock;
use crate::snapshot::Snapshot;

/// Upper bounds (s) of `bedrock_store_commit_duration_seconds`. Fine from 100 to 500 ms, where
/// PostgreSQL commits fall (BENCHMARKS.md, "PostgreSQL store"): with one bucket there, p50
/// and p99 could not be told apart.
const COMMIT_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
    5.0,
];

mod cloudwatch;
mod reconcile;
mod s3;
mod text;

pub use cloudwatch::{CloudWatchHealth, LeaseMetrics};
pub use reconcile::Reconciliation;
pub use s3::{BucketMetrics, S3Health};

/// Pipeline health that lives in the process (not the store: it must work when the store
/// does not).
#[derive(Clone)]
pub struct Health {
    pub commit_seconds: Histogram,
    pub commit_errors: IntCounterVec,
    /// Failed refreshes from a shared store, by kind; no series on a store no one else
    /// writes (SQLite), which never refreshes.
    pub refresh_errors: IntCounterVec,
    /// Unix seconds of the last successful refresh: no labels, and no series until the
    /// store is known to be shared (its child is created then).
    pub last_refresh: IntGaugeVec,
    /// Failed folds of a shared store's journal on this replica, and the age of the oldest
    /// unfolded journal row: no labels, and no series until the store is known to be shared
    /// (as `last_refresh`).
    pub fold_errors: IntCounterVec,
    pub unfolded_age: GaugeVec,
    pub firehose_requests: IntCounterVec,
    /// Firehose requests and bytes in flight: no labels, and no series until the endpoint
    /// is on (its child is created then).
    pub firehose_in_flight: (IntGaugeVec, IntGaugeVec),
    pub dead_letters: IntCounterVec,
    pub export_records: IntCounterVec,
    pub tls_reloads: IntCounterVec,
    pub source_errors: IntCounterVec,
    pub ratecard_reload_failures: prometheus::IntCounter,
    pub livetail_sessions: IntCounterVec,
    pub livetail_sampled: prometheus::IntCounter,
    pub reconciliation: Reconciliation,
    pub s3: S3Health,
    pub cloudwatch: CloudWatchHealth,
}

impl Health {
    /// The Firehose in-flight gauges (requests, bytes); from this call on they are exposed.
    pub fn firehose_in_flight_gauges(&self) -> (prometheus::IntGauge, prometheus::IntGauge) {
        let no_labels: &[&str] = &[];
        (
            self.firehose_in_flight.0.with_label_values(no_labels),
            self.firehose_in_flight.1.with_label_values(no_labels),
        )
    }
}

pub struct Metrics {
    registry: Registry,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    budgets: Budgets,
    clock: Clock,
    pub health: Health,
}

impl Metrics {
    pub fn new(
        snapshots: watch::Receiver<Arc<Snapshot>>,
        budgets: Budgets,
        clock: Clock,
    ) -> Metrics {
        let registry = Registry::new();
        let commit_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "bedrock_store_commit_duration_seconds",
                "Time to account and commit one batch to the state store.",
            )
            .buckets(COMMIT_BUCKETS.to_vec()),
        )
        .expect("valid histogram");
        let commit_errors = IntCounterVec::new(
            Opts::new("bedrock_store_commit_errors_total", "Batches the state store could not commit, by kind (disk_full, io, corrupt, locked, conflict)."),
            &["kind"],
        )
        .expect("valid counter");
        for kind in ["disk_full", "io", "corrupt", "locked", "conflict"] {
            commit_errors.with_label_values(&[kind]);
        }
        let refresh_errors = IntCounterVec::new(
            Opts::new("bedrock_store_refresh_errors_total", "Refreshes from a shared (PostgreSQL) store that failed, by kind (io, corrupt, disk_full); the replica shows its last view meanwhile."),
            &["kind"],
        )
        .expect("valid counter");
        let last_refresh = IntGaugeVec::new(
            Opts::new("bedrock_store_last_refresh_timestamp_seconds", "Unix time of the last successful refresh from a shared (PostgreSQL) store: the totals this replica shows are the database's as of then."),
            &[],
        )
        .expect("valid gauge");
        let fold_errors = IntCounterVec::new(
            Opts::new("bedrock_store_fold_errors_total", "Folds of a shared (PostgreSQL) store's journal that this replica tried and that failed (a replica that finds another folding skips: not a failure)."),
            &[],
        )
        .expect("valid counter");
        let unfolded_age = GaugeVec::new(
            Opts::new("bedrock_store_unfolded_journal_age_seconds", "Age of the oldest journal row of a shared (PostgreSQL) store that no replica has folded yet (0: none), as of this replica's last refresh; grows only while no replica folds."),
            &[],
        )
        .expect("valid gauge");
        let firehose_requests = IntCounterVec::new(
            Opts::new(
                "bedrock_firehose_requests_total",
                "Firehose HTTP endpoint requests, by response status code.",
            ),
            &["code"],
        )
        .expect("valid counter");
        let in_flight = |name: &str, help: &str| {
            IntGaugeVec::new(Opts::new(name, help), &[]).expect("valid gauge")
        };
        let firehose_in_flight = (
            in_flight(
                "bedrock_firehose_in_flight_requests",
                "Firehose requests admitted and not yet answered (bounded by firehose.max_in_flight_requests).",
            ),
            in_flight(
                "bedrock_firehose_in_flight_bytes",
                "Bytes the Firehose requests in flight are charged: bodies, or decoded records when larger (bounded by firehose.max_in_flight_bytes).",
            ),
        );
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
        let collectors: [Box<dyn Collector>; 16] = [
            Box::new(commit_seconds.clone()),
            Box::new(commit_errors.clone()),
            Box::new(refresh_errors.clone()),
            Box::new(last_refresh.clone()),
            Box::new(fold_errors.clone()),
            Box::new(unfolded_age.clone()),
            Box::new(firehose_requests.clone()),
            Box::new(firehose_in_flight.0.clone()),
            Box::new(firehose_in_flight.1.clone()),
            Box::new(dead_letters.clone()),
            Box::new(export_records.clone()),
            Box::new(tls_reloads.clone()),
            Box::new(source_errors.clone()),
            Box::new(ratecard_reload_failures.clone()),
            Box::new(livetail_sessions.clone()),
            Box::new(livetail_sampled.clone()),
        ];
        for c in collectors {
            registry.register(c).expect("unique metric names");
        }
        let reconciliation = Reconciliation::new(&registry);
        let s3 = S3Health::new(&registry);
        let cloudwatch = CloudWatchHealth::new(&registry);
        Metrics {
            registry,
            snapshots,
            budgets,
            clock,
            health: Health {
                commit_seconds,
                commit_errors,
                refresh_errors,
                last_refresh,
                fold_errors,
                unfolded_age,
                firehose_requests,
                firehose_in_flight,
                dead_letters,
                export_records,
                tls_reloads,
                source_errors,
                ratecard_reload_failures,
                livetail_sessions,
                livetail_sampled,
                reconciliation,
                s3,
                cloudwatch,
            },
        }
    }

    /// The Prometheus text format (0.0.4): health metrics, then the ledger's families.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding does not fail");
        let mut out = String::from_utf8(out).expect("the text encoder writes UTF-8");
        let snap = self.snapshots.borrow().clone();
        text::ledger(&mut out, &snap, &self.budgets, self.clock.now());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::COMMIT_BUCKETS;

    #[test]
    fn commit_buckets_tell_p50_from_p99_between_100_and_500_ms() {
        assert!(COMMIT_BUCKETS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            (COMMIT_BUCKETS[0], COMMIT_BUCKETS[COMMIT_BUCKETS.len() - 1]),
            (0.001, 5.0)
        );
        // The benchmark's commits: p50 235 ms, p99 407 ms, so at most 100 ms per bucket there.
        let range: Vec<f64> = COMMIT_BUCKETS
            .iter()
            .copied()
            .filter(|b| (0.1..=0.5).contains(b))
            .collect();
        assert!(
            range.windows(2).all(|w| w[1] - w[0] <= 0.1 + 1e-9),
            "{range:?}"
        );
        assert_eq!((range[0], range[range.len() - 1]), (0.1, 0.5));
        let bucket = |s: f64| COMMIT_BUCKETS.iter().position(|b| s <= *b);
        assert_ne!(bucket(0.235), bucket(0.407));
    }
}
