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
//! read concurrently within a budget of parallel requests (a backfill of days); reading one
//! partition is `read.rs`.
//!
//! With an SQS queue ([`sqs`]) objects also arrive as S3 event notifications; they are read
//! here, between polls, against the same read keys, and the listing (at a slower pace)
//! reconciles behind them, so a lost notification never loses an object that arrived within
//! the lookback. The poll interval opens no gap: a poll lists every hour from the floor it
//! found and moves the floor only past hours it has just listed.
//!
//! Bad objects (not gzip, cut short, deleted between list and get, access denied) are counted
//! in `bedrock_source_errors_total{source="s3"}` by kind and logged once; damaged ones also as
//! a malformed record, and marked read (reading again cannot help); denied and transient
//! failures are retried on the next poll and hold the floor back.

pub mod client;
pub mod event;
pub mod layout;
pub mod object;
mod read;
pub mod sqs;
pub mod state;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::IntCounterVec;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::batch::{submit, Input, SubmitError};
use crate::clock::Clock;
use crate::metrics::BucketMetrics;
use client::{Bucket, Fault};
use layout::{Kind, Partition};
use read::{Shared, Via};
use state::ReadState;

pub const SOURCE: &str = "s3";
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How long past its lookback an hour with objects that cannot be read (denied, failing) is
/// retried before the floor moves past it anyway: a day to fix a policy.
const RETRY_FOR: Duration = Duration::from_secs(24 * 3600);
/// Every `kind` of `bedrock_source_errors_total{source="s3"}`, created at zero.
pub const ERROR_KINDS: [&str; 10] = [
    "not_gzip",
    "truncated",
    "gone",
    "denied",
    "throttled",
    "server",
    "network",
    "client",
    "commit",
    "abandoned",
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
    /// Decompressed bytes after which a batch is committed (objects are never split, so one
    /// large object is one batch): the file source's batch size for the store
    /// (`file::BatchSize::for_state`: 1 MiB for SQLite, 4 MiB for PostgreSQL, whose commits
    /// cost more each). In memory: `concurrency` batches being read, plus the pipeline's
    /// channel.
    pub batch_bytes: usize,
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

#[derive(Debug)]
enum PollError {
    Api(Fault),
    Commit,
    Stopped,
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
            batch_bytes: self.batch_bytes,
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
        let (parts, incomplete) = shared.partitions(hours).await.map_err(PollError::Api)?;
        let progress = Progress::new(
            self.progress && parts.len() > 24,
            parts.len(),
            &shared.origin,
        );
        let mut todo = parts.into_iter();
        let mut running = JoinSet::new();
        // An account whose regions could not be listed holds the floor where it is.
        let mut failed: Option<i64> = incomplete.then_some(st.floor);
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
        let lookback = self.lookback.as_millis() as i64;
        let mut to = layout::final_before(now, lookback);
        if let Some(f) = failed {
            // A partition that keeps failing (a KMS key the daemon may not use) would hold the
            // floor for ever and make every poll list more hours: past RETRY_FOR it is given up.
            let give_up = layout::final_before(now, lookback + RETRY_FOR.as_millis() as i64);
            if f < give_up {
                shared.problem("abandoned", &f.to_string(), || {
                    format!("giving up on objects of {} that could not be read for {RETRY_FOR:?} after their hour's lookback (errors above); hours before {} are not listed again",
                        shared.origin, crate::timefmt::format_rfc3339(give_up * 3600))
                });
            }
            to = to.min(f.max(give_up));
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
