//! The CloudWatch Logs source's own metrics, per log group: the FilterLogEvents calls it
//! makes, and (on a PostgreSQL store, where replicas share the groups) whether this replica
//! holds the group's lease and how often it took or lost it. No series exist until a log
//! group is configured.

use prometheus::core::Collector;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

#[derive(Clone)]
pub struct CloudWatchHealth {
    requests: IntCounterVec,
    lease_held: IntGaugeVec,
    lease_changes: IntCounterVec,
}

/// One log group's lease handles.
#[derive(Clone)]
pub struct LeaseMetrics {
    pub held: IntGauge,
    pub acquired: IntCounter,
    pub lost: IntCounter,
}

impl CloudWatchHealth {
    pub fn new(registry: &Registry) -> CloudWatchHealth {
        let h = CloudWatchHealth {
            requests: IntCounterVec::new(
                Opts::new(
                    "bedrock_cloudwatch_requests_total",
                    "FilterLogEvents calls made, by log group (a replica that does not hold the group's lease makes none).",
                ),
                &["group"],
            )
            .expect("valid counter"),
            lease_held: IntGaugeVec::new(
                Opts::new(
                    "bedrock_cloudwatch_lease_held",
                    "1 while this replica holds the log group's lease and polls it, 0 while another replica does (PostgreSQL store only).",
                ),
                &["group"],
            )
            .expect("valid gauge"),
            lease_changes: IntCounterVec::new(
                Opts::new(
                    "bedrock_cloudwatch_lease_changes_total",
                    "Times this replica took (acquired) or gave up (lost: taken over, expired, refused or released) the log group's lease.",
                ),
                &["group", "change"],
            )
            .expect("valid counter"),
        };
        let collectors: [Box<dyn Collector>; 3] = [
            Box::new(h.requests.clone()),
            Box::new(h.lease_held.clone()),
            Box::new(h.lease_changes.clone()),
        ];
        for c in collectors {
            registry.register(c).expect("unique metric names");
        }
        h
    }

    /// The group's FilterLogEvents counter (its series exists from this call on, at 0).
    pub fn requests(&self, group: &str) -> IntCounter {
        self.requests.with_label_values(&[group])
    }

    /// The group's lease series, present from this call on (not held, no change yet).
    pub fn lease(&self, group: &str) -> LeaseMetrics {
        let held = self.lease_held.with_label_values(&[group]);
        held.set(0);
        LeaseMetrics {
            held,
            acquired: self.lease_changes.with_label_values(&[group, "acquired"]),
            lost: self.lease_changes.with_label_values(&[group, "lost"]),
        }
    }
}
