//! The S3 source's own metrics, per bucket: objects and bytes read, the newest object's time,
//! how far behind its upload an object is counted (by listing or by notification), and what
//! the SQS queue delivered. No series exist until `--s3-uri` is used.

use prometheus::core::Collector;
use prometheus::{Gauge, GaugeVec, IntCounter, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct S3Health {
    objects: IntCounterVec,
    bytes: IntCounterVec,
    newest: GaugeVec,
    lag: GaugeVec,
    pub notifications: IntCounterVec,
}

/// One bucket's handles.
#[derive(Clone)]
pub struct BucketMetrics {
    pub objects: IntCounter,
    pub bytes: IntCounter,
    pub newest: Gauge,
    pub listing_lag: Gauge,
    pub notification_lag: Gauge,
}

impl S3Health {
    pub fn new(registry: &Registry) -> S3Health {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter")
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            GaugeVec::new(Opts::new(name, help), labels).expect("valid gauge")
        };
        let h = S3Health {
            objects: counter(
                "bedrock_s3_objects_read_total",
                "Invocation-log objects read from S3 and committed, by bucket (each object once).",
                &["bucket"],
            ),
            bytes: counter(
                "bedrock_s3_read_bytes_total",
                "Compressed bytes of the invocation-log objects committed, by bucket.",
                &["bucket"],
            ),
            newest: gauge(
                "bedrock_s3_newest_object_timestamp_seconds",
                "LastModified of the newest object committed, by bucket (Unix seconds).",
                &["bucket"],
            ),
            lag: gauge(
                "bedrock_s3_lag_seconds",
                "Seconds from an object's upload to its commit, for the last object committed, by bucket and by what found it (listing, notification).",
                &["bucket", "via"],
            ),
            notifications: counter(
                "bedrock_s3_notifications_total",
                "SQS messages of S3 event notifications, by result (objects: deleted after their objects were committed; test_event; malformed and not_json etc.: dropped; ignored: no configured prefix or not a record object; retried: left on the queue).",
                &["result"],
            ),
        };
        let all: [Box<dyn Collector>; 5] = [
            Box::new(h.objects.clone()),
            Box::new(h.bytes.clone()),
            Box::new(h.newest.clone()),
            Box::new(h.lag.clone()),
            Box::new(h.notifications.clone()),
        ];
        for c in all {
            registry.register(c).expect("unique metric names");
        }
        h
    }

    /// The handles of one bucket; its series appear (at zero) from this call on.
    pub fn bucket(&self, bucket: &str) -> BucketMetrics {
        BucketMetrics {
            objects: self.objects.with_label_values(&[bucket]),
            bytes: self.bytes.with_label_values(&[bucket]),
            newest: self.newest.with_label_values(&[bucket]),
            listing_lag: self.lag.with_label_values(&[bucket, "listing"]),
            notification_lag: self.lag.with_label_values(&[bucket, "notification"]),
        }
    }
}
