//! Reading one hour partition, or the notified objects in it: download each new object,
//! gunzip it, and commit its records in batches, each batch with the partition's read keys
//! so far (so what a batch counts and the fact that it was read commit together). Shared by
//! the concurrent partition readers of a poll.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use prometheus::IntCounterVec;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use super::client::{Bucket, Fault, Listed};
use super::layout::{self, Kind, Partition};
use super::{object, state, SOURCE};
use crate::batch::{submit, Input, LineRef, SubmitError};
use crate::clock::Clock;
use crate::metrics::BucketMetrics;

/// What the concurrent partition readers share.
pub(super) struct Shared<B> {
    pub(super) bucket: B,
    pub(super) prefix: String,
    /// `s3:<bucket>/<prefix>`: the read-keys rows' namespace.
    pub(super) key: String,
    pub(super) origin: Arc<str>,
    pub(super) permits: Semaphore,
    /// Decompressed bytes after which a batch is committed ([`S3Source::batch_bytes`]).
    pub(super) batch_bytes: usize,
    pub(super) tx: mpsc::Sender<Input>,
    pub(super) errors: IntCounterVec,
    pub(super) metrics: BucketMetrics,
    pub(super) clock: Clock,
    /// Problems already logged (kind and key): each is logged once, counted every time.
    pub(super) warned: Mutex<HashSet<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Via {
    Listing,
    Notification,
}

/// What reading one partition (or the notified objects in it) did.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    /// Names committed (to add to the read keys).
    pub(super) committed: Vec<String>,
    /// Something is to be retried: the floor stays before this partition.
    pub(super) failed: bool,
    pub(super) stopped: bool,
}

impl<B: Bucket> Shared<B> {
    /// Counts a problem and logs it the first time it is seen for `what`.
    pub(super) fn problem(&self, kind: &'static str, what: &str, message: impl FnOnce() -> String) {
        self.errors.with_label_values(&[SOURCE, kind]).inc();
        let first = self
            .warned
            .lock()
            .expect("not poisoned")
            .insert(format!("{kind} {what}"));
        if first {
            tracing::warn!(bucket = self.bucket.name(), kind, "{}", message());
        }
    }

    async fn list_all(
        &self,
        prefix: &str,
        delimiter: bool,
    ) -> Result<(Vec<Listed>, Vec<String>), Fault> {
        let (mut objects, mut prefixes, mut token) = (Vec::new(), Vec::new(), None);
        loop {
            let page = {
                let _permit = self.permits.acquire().await.expect("never closed");
                self.bucket.list(prefix, delimiter, token).await?
            };
            objects.extend(page.objects);
            prefixes.extend(page.prefixes);
            match page.next {
                Some(t) => token = Some(t),
                None => return Ok((objects, prefixes)),
            }
        }
    }

    /// The hour partitions under the prefix for `hours`: every account and region, and
    /// whether the regions of some account could not be listed (that account is left out of
    /// this poll; the others go on).
    pub(super) async fn partitions(
        &self,
        hours: std::ops::RangeInclusive<i64>,
    ) -> Result<(Vec<Partition>, bool), Fault> {
        let top = layout::accounts_prefix(&self.prefix);
        let (_, accounts) = self.list_all(&top, true).await?;
        let mut out = Vec::new();
        let mut incomplete = false;
        for a in accounts.iter().filter_map(|p| layout::segment(p, &top)) {
            let under = layout::regions_prefix(&self.prefix, a);
            let regions = match self.list_all(&under, true).await {
                Ok((_, regions)) => regions,
                Err(f) => {
                    self.problem(f.kind(), &under, || {
                        format!(
                            "cannot list the regions of account {a} (s3://{}/{under}): {f}; retrying on the next poll",
                            self.bucket.name()
                        )
                    });
                    incomplete = true;
                    continue;
                }
            };
            for r in regions.iter().filter_map(|p| layout::segment(p, &under)) {
                out.extend(hours.clone().map(|hour| Partition {
                    hour,
                    account: a.to_string(),
                    region: r.to_string(),
                }));
            }
        }
        out.sort();
        Ok((out, incomplete))
    }

    /// Lists one hour and reads what is new in it.
    pub(super) async fn read_partition(
        self: Arc<Self>,
        p: Partition,
        read: BTreeSet<String>,
        stop: CancellationToken,
    ) -> (Partition, Outcome) {
        let prefix = p.key_prefix(&self.prefix);
        // With the delimiter, `data/` (large bodies, not records) is one common prefix: its
        // objects are never listed one by one.
        let listed = match self.list_all(&prefix, true).await {
            Ok((objects, _)) => objects,
            Err(f) => {
                self.problem(f.kind(), &prefix, || {
                    format!(
                        "cannot list s3://{}/{prefix}: {f}; retrying on the next poll",
                        self.bucket.name()
                    )
                });
                let failed = Outcome {
                    failed: true,
                    ..Outcome::default()
                };
                return (p, failed);
            }
        };
        let new = listed
            .into_iter()
            .filter_map(|o| {
                let name = o.key.strip_prefix(&prefix)?.to_string();
                (!read.contains(&name)).then_some((o.key, name))
            })
            .collect();
        let out = self.read_objects(&p, read, new, Via::Listing, &stop).await;
        (p, out)
    }

    /// Downloads `objects` (key, name) of partition `p` and commits them in batches, each with
    /// the partition's read keys so far.
    pub(super) async fn read_objects(
        &self,
        p: &Partition,
        mut read: BTreeSet<String>,
        objects: Vec<(String, String)>,
        via: Via,
        stop: &CancellationToken,
    ) -> Outcome {
        let mut out = Outcome::default();
        let mut batch = Pending::new(self.origin.clone());
        for (key, name) in objects {
            if stop.is_cancelled() {
                out.stopped = true;
                return out;
            }
            if layout::parse_key(&self.prefix, &key).is_none_or(|k| k.kind != Kind::Records) {
                // Not a log object (a marker, a copied file): remembered so it is looked at once.
                tracing::debug!(
                    bucket = self.bucket.name(),
                    "skipping {key}: not an invocation-log object"
                );
                batch.skip(name);
                continue;
            }
            let got = {
                let _permit = self.permits.acquire().await.expect("never closed");
                self.bucket.get(&key).await
            };
            match got {
                Ok(body) => {
                    let (text, damage) = object::gunzip(&body.bytes);
                    if let Some(d) = damage {
                        self.problem(d.kind(), &key, || match d {
                            object::Damage::NotGzip => format!("s3://{}/{key} is not gzip; it is skipped (not read again)", self.bucket.name()),
                            object::Damage::Truncated => format!("s3://{}/{key} is cut short; the whole lines before the damage are counted, the rest is lost (not read again)", self.bucket.name()),
                        });
                        batch.input.rejected.push(match d {
                            object::Damage::NotGzip => "object_not_gzip",
                            object::Damage::Truncated => "object_truncated",
                        });
                    }
                    batch.add(name, &text, body.bytes.len() as u64, body.modified_ms);
                }
                Err(Fault::Gone) => {
                    self.problem("gone", &key, || {
                        format!(
                            "s3://{}/{key} was deleted between listing and download; skipped",
                            self.bucket.name()
                        )
                    });
                }
                Err(f) => {
                    self.problem(f.kind(), &key, || {
                        format!(
                            "cannot download s3://{}/{key}: {f}; retrying on the next poll",
                            self.bucket.name()
                        )
                    });
                    out.failed = true;
                    // Throttling and outages hit the next object too: leave the partition
                    // for the next poll. A denied object may be alone: go on with the others.
                    if !matches!(f, Fault::Denied(_) | Fault::Client(_)) {
                        break;
                    }
                }
            }
            if batch.input.buf.len() >= self.batch_bytes
                && !self.commit(p, &mut read, &mut batch, via, &mut out).await
            {
                return out;
            }
        }
        if !batch.names.is_empty() {
            self.commit(p, &mut read, &mut batch, via, &mut out).await;
        }
        out
    }

    /// Commits the pending batch with the partition's read keys; false when it could not.
    async fn commit(
        &self,
        p: &Partition,
        read: &mut BTreeSet<String>,
        batch: &mut Pending,
        via: Via,
        out: &mut Outcome,
    ) -> bool {
        let done = std::mem::replace(batch, Pending::new(self.origin.clone()));
        let mut names = read.clone();
        names.extend(done.names.iter().cloned());
        let mut input = done.input;
        input.checkpoints.push(state::row(&self.key, p, &names));
        match submit(&self.tx, input).await {
            Ok(_) => {
                *read = names;
                self.metrics.objects.inc_by(done.objects);
                self.metrics.bytes.inc_by(done.bytes);
                if let Some(m) = done.newest_ms {
                    let s = m as f64 / 1000.0;
                    if s > self.metrics.newest.get() {
                        self.metrics.newest.set(s);
                    }
                    let lag = (self.clock.now_ms() - m).max(0) as f64 / 1000.0;
                    match via {
                        Via::Listing => self.metrics.listing_lag.set(lag),
                        Via::Notification => self.metrics.notification_lag.set(lag),
                    }
                }
                out.committed.extend(done.names);
                true
            }
            Err(SubmitError::Store(_)) => {
                self.errors.with_label_values(&[SOURCE, "commit"]).inc();
                out.failed = true;
                false
            }
            Err(SubmitError::Stopped) => {
                out.stopped = true;
                false
            }
        }
    }
}

/// A batch being filled: the objects' lines and which names they came from.
struct Pending {
    input: Input,
    names: Vec<String>,
    objects: u64,
    bytes: u64,
    newest_ms: Option<i64>,
}

impl Pending {
    fn new(origin: Arc<str>) -> Pending {
        Pending {
            input: Input::empty(SOURCE.into(), origin),
            names: Vec::new(),
            objects: 0,
            bytes: 0,
            newest_ms: None,
        }
    }

    fn skip(&mut self, name: String) {
        self.names.push(name);
    }

    /// Appends one object's text (newline-delimited records; blank lines are not records).
    fn add(&mut self, name: String, text: &[u8], bytes: u64, modified_ms: Option<i64>) {
        let buf = &mut self.input.buf;
        let mut start = 0;
        for (n, end) in (1..).zip(memchr::memchr_iter(b'\n', text).chain([text.len()])) {
            if start >= text.len() {
                break;
            }
            let line = &text[start..end];
            if !line.iter().all(u8::is_ascii_whitespace) {
                let at = buf.len();
                buf.extend_from_slice(line);
                self.input.lines.push(LineRef {
                    start: at,
                    end: buf.len(),
                    line: n,
                    event_key: None,
                });
                buf.push(b'\n');
            }
            start = end + 1;
        }
        self.names.push(name);
        self.objects += 1;
        self.bytes += bytes;
        self.newest_ms = self.newest_ms.max(modified_ms);
    }
}
