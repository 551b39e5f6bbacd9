//! S3 source: reads Bedrock invocation-log objects from `s3://bucket/prefix/`, every account
//! and region under it, each object once, gap-free.
//!
//! A poll discovers accounts and regions with delimiter listings (`AWSLogs/`, then each
//! account's `BedrockModelInvocationLogs/`), then lists each hour partition from the floor
//! (see [`state`]) to the current hour by its key prefix, never the whole bucket. Objects for
//! an hour keep arriving after it ends, so an hour is listed again on every poll until the
//! lookback has passed it; then the floor moves past it and its read keys are pruned. The
//! names of the objects a batch holds are committed with the batch (the partition's row), so
//! a crash or a refused commit reads them again and nothing is counted twice. Partitions are
//! read concurrently within a budget of parallel requests (a backfill of days).
//!
//! With an SQS queue ([`sqs`]) objects also arrive as S3 event notifications; they are read
//! here, between polls, against the same read keys, and the listing (at a slower pace)
//! reconciles behind them, so a lost notification never loses an object.
//!
//! Bad objects (not gzip, cut short, deleted between list and get, access denied) are counted
//! in `bedrock_source_errors_total{source="s3"}` by kind and logged once; damaged ones also as
//! a malformed record, and marked read (reading again cannot help); denied and transient
//! failures are retried on the next poll and hold the floor back.

pub mod client;
pub mod event;
pub mod layout;
pub mod object;
pub mod sqs;
pub mod state;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::IntCounterVec;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::batch::{submit, Input, LineRef, SubmitError};
use crate::clock::Clock;
use crate::metrics::BucketMetrics;
use client::{Bucket, Fault, Listed};
use layout::{Kind, Partition};
use state::ReadState;

pub const SOURCE: &str = "s3";
/// Decompressed bytes per batch: large enough that a backfill commits rarely, small enough
/// that the concurrent partitions together hold tens of MiB.
const BATCH_BYTES: usize = 8 << 20;
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Every `kind` of `bedrock_source_errors_total{source="s3"}`, created at zero.
pub const ERROR_KINDS: [&str; 9] = [
    "not_gzip",
    "truncated",
    "gone",
    "denied",
    "throttled",
    "server",
    "network",
    "client",
    "commit",
];

/// Objects named by S3 event notifications; `done` answers whether all were committed (or
/// are past helping), so the messages can be deleted.
pub struct Notified {
    pub keys: Vec<String>,
    pub done: oneshot::Sender<bool>,
}

pub struct S3Source<B: Bucket> {
    pub bucket: B,
    /// Empty or ending in `/`.
    pub prefix: String,
    pub lookback: Duration,
    /// Between listings.
    pub poll: Duration,
    /// Where a prefix without a checkpoint starts (ms; rounded down to its hour).
    pub start_ms: i64,
    /// Parallel S3 requests (and partitions read at once).
    pub concurrency: usize,
    /// The store's checkpoints (this source takes its own).
    pub checkpoints: HashMap<String, String>,
    pub tx: mpsc::Sender<Input>,
    pub errors: IntCounterVec,
    pub metrics: BucketMetrics,
    pub clock: Clock,
    /// Show a progress line on stderr while a poll reads many partitions (a terminal).
    pub progress: bool,
    pub notifications: Option<mpsc::Receiver<Notified>>,
}

/// What the concurrent partition readers share.
struct Shared<B> {
    bucket: B,
    prefix: String,
    /// `s3:<bucket>/<prefix>`: the read-keys rows' namespace.
    key: String,
    origin: Arc<str>,
    permits: Semaphore,
    tx: mpsc::Sender<Input>,
    errors: IntCounterVec,
    metrics: BucketMetrics,
    clock: Clock,
    /// Problems already logged (kind and key): each is logged once, counted every time.
    warned: Mutex<HashSet<String>>,
}

#[derive(Debug)]
enum PollError {
    Api(Fault),
    Commit,
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Listing,
    Notification,
}

/// What reading one partition (or the notified objects in it) did.
#[derive(Debug, Default)]
struct Outcome {
    /// Names committed (to add to the read keys).
    committed: Vec<String>,
    /// Something is to be retried: the floor stays before this partition.
    failed: bool,
    stopped: bool,
}

impl<B: Bucket> Shared<B> {
    /// Counts a problem and logs it the first time it is seen for `what`.
    fn problem(&self, kind: &'static str, what: &str, message: impl FnOnce() -> String) {
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

    /// The hour partitions under the prefix for `hours`: every account and region.
    async fn partitions(
        &self,
        hours: std::ops::RangeInclusive<i64>,
    ) -> Result<Vec<Partition>, Fault> {
        let top = layout::accounts_prefix(&self.prefix);
        let (_, accounts) = self.list_all(&top, true).await?;
        let mut out = Vec::new();
        for a in accounts.iter().filter_map(|p| layout::segment(p, &top)) {
            let under = layout::regions_prefix(&self.prefix, a);
            let (_, regions) = self.list_all(&under, true).await?;
            for r in regions.iter().filter_map(|p| layout::segment(p, &under)) {
                out.extend(hours.clone().map(|hour| Partition {
                    hour,
                    account: a.to_string(),
                    region: r.to_string(),
                }));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Lists one hour and reads what is new in it.
    async fn read_partition(
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
    async fn read_objects(
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
            if batch.input.buf.len() >= BATCH_BYTES {
                if !self.commit(p, &mut read, &mut batch, via, &mut out).await {
                    return out;
                }
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

impl<B: Bucket> S3Source<B> {
    /// The read keys stored for this prefix (or its start) and what its readers share.
    fn begin(&mut self) -> (ReadState, Arc<Shared<B>>) {
        let key = ReadState::key_for(self.bucket.name(), &self.prefix);
        let st = ReadState::load(
            key.clone(),
            &self.checkpoints,
            layout::hour_of_ms(self.start_ms),
        );
        self.checkpoints = HashMap::new();
        let shared = Arc::new(Shared {
            origin: Arc::from(format!("s3://{}/{}", self.bucket.name(), self.prefix)),
            bucket: self.bucket.clone(),
            prefix: self.prefix.clone(),
            key,
            permits: Semaphore::new(self.concurrency.max(1)),
            tx: self.tx.clone(),
            errors: self.errors.clone(),
            metrics: self.metrics.clone(),
            clock: self.clock.clone(),
            warned: Mutex::default(),
        });
        (st, shared)
    }

    pub async fn run(mut self, stop: CancellationToken) {
        let (mut st, shared) = self.begin();
        let mut notes = self.notifications.take();
        let mut backoff = Duration::from_secs(1);
        let mut failing = false;
        let mut next = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                n = recv(&mut notes) => match n {
                    Some(n) => {
                        let ok = self.notified(&shared, &mut st, n.keys, &stop).await;
                        let _ = n.done.send(ok);
                    }
                    None => notes = None,
                },
                _ = tokio::time::sleep_until(next) => {
                    let wait = match self.poll_once(&shared, &mut st, &stop).await {
                        Ok(()) => {
                            if failing {
                                tracing::info!(bucket = self.bucket.name(), "listing {} works again", shared.origin);
                            }
                            failing = false;
                            backoff = Duration::from_secs(1);
                            self.poll
                        }
                        Err(PollError::Stopped) => return,
                        Err(PollError::Commit) => {
                            self.errors.with_label_values(&[SOURCE, "commit"]).inc();
                            backoff
                        }
                        Err(PollError::Api(f)) => {
                            self.errors.with_label_values(&[SOURCE, f.kind()]).inc();
                            if !failing {
                                tracing::warn!(bucket = self.bucket.name(), "cannot list the accounts and regions under {}: {f}; retrying with backoff", shared.origin);
                            }
                            failing = true;
                            let w = backoff + Duration::from_millis(fastrand::u64(0..=backoff.as_millis() as u64 / 2));
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                            w
                        }
                    };
                    next = tokio::time::Instant::now() + wait;
                }
            }
        }
    }

    async fn poll_once(
        &self,
        shared: &Arc<Shared<B>>,
        st: &mut ReadState,
        stop: &CancellationToken,
    ) -> Result<(), PollError> {
        let now = self.clock.now_ms();
        let hours = layout::hours_to_list(st.floor, now);
        if hours.is_empty() {
            return Ok(());
        }
        let parts = shared.partitions(hours).await.map_err(PollError::Api)?;
        let progress = Progress::new(
            self.progress && parts.len() > 24,
            parts.len(),
            &shared.origin,
        );
        let mut todo = parts.into_iter();
        let mut running = JoinSet::new();
        let mut failed: Option<i64> = None;
        let mut stopped = false;
        loop {
            while running.len() < self.concurrency.max(1) && !stopped {
                let Some(p) = todo.next() else { break };
                let read = st.names(&p);
                running.spawn(shared.clone().read_partition(p, read, stop.clone()));
            }
            let Some(done) = running.join_next().await else {
                break;
            };
            let (p, out) = match done {
                Ok(d) => d,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => return Err(PollError::Stopped),
            };
            st.mark(&p, out.committed);
            if out.failed {
                failed = Some(failed.map_or(p.hour, |f| f.min(p.hour)));
            }
            stopped |= out.stopped;
            progress.step(shared.metrics.bytes.get());
        }
        progress.finish();
        if stopped {
            return Err(PollError::Stopped);
        }
        let mut to = layout::final_before(now, self.lookback.as_millis() as i64);
        if let Some(f) = failed {
            to = to.min(f);
        }
        if let Some((floor, drop)) = st.advance(to) {
            let mut input = Input::empty(SOURCE.into(), shared.origin.clone());
            input.checkpoints.push(floor);
            input.drop_checkpoints = drop;
            match submit(&self.tx, input).await {
                Ok(_) => st.advanced(to),
                Err(SubmitError::Store(_)) => return Err(PollError::Commit),
                Err(SubmitError::Stopped) => return Err(PollError::Stopped),
            }
        }
        Ok(())
    }

    /// Reads the notified objects that are not read yet; true when nothing is left to retry.
    async fn notified(
        &self,
        shared: &Shared<B>,
        st: &mut ReadState,
        keys: Vec<String>,
        stop: &CancellationToken,
    ) -> bool {
        let mut by_partition: std::collections::BTreeMap<Partition, Vec<(String, String)>> =
            Default::default();
        for key in keys {
            let Some(k) = layout::parse_key(&self.prefix, &key) else {
                continue;
            };
            if k.kind == Kind::Records && !st.is_read(&k.partition, &k.name) {
                by_partition
                    .entry(k.partition)
                    .or_default()
                    .push((key, k.name));
            }
        }
        let mut ok = true;
        for (p, mut objects) in by_partition {
            objects.dedup();
            let out = shared
                .read_objects(&p, st.names(&p), objects, Via::Notification, stop)
                .await;
            ok &= !out.failed && !out.stopped;
            st.mark(&p, out.committed);
        }
        ok
    }
}

async fn recv(rx: &mut Option<mpsc::Receiver<Notified>>) -> Option<Notified> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// A one-line progress display for a backfill, rewritten in place on stderr.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(on: bool, partitions: usize, origin: &str) -> Progress {
        Progress(on.then(|| {
            let pb = indicatif::ProgressBar::new(partitions as u64);
            pb.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} {pos}/{len} hour partitions {wide_bar} {eta}",
                )
                .expect("valid template"),
            );
            pb.set_message(origin.to_string());
            pb
        }))
    }

    fn step(&self, bytes: u64) {
        if let Some(pb) = &self.0 {
            pb.inc(1);
            pb.set_message(format!("{} MiB", bytes >> 20));
        }
    }

    fn finish(&self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests;
