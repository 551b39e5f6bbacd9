//! CloudWatch Logs source: polls `FilterLogEvents` over a log group, gap-free.
//!
//! A tailer that restarts from the newest event *timestamp* drops records: Bedrock events
//! are ingested 8–13 s after their timestamp, and a long streaming call is logged at its
//! start. So each poll reads `[end of the previous poll − overlap, now]`: any event ingested
//! less than `overlap` after its timestamp falls in some window. The next window's start is
//! the checkpoint, committed with the window's last page. Events seen twice because windows overlap are
//! skipped here (by event id, remembered only once their page is committed, so a refused
//! commit reads them again); after a restart the store's dedupe (event id and Bedrock
//! `requestId`) catches them. Throttling and server errors back off with jitter, never
//! advancing the window, so they cannot open a gap.
//!
//! On a PostgreSQL store, replicas share the log groups: each group is polled only by the
//! holder of its lease (`lease.rs`), which starts from the checkpoint the previous holder
//! committed, and every batch carries the lease's fence so that a holder that lost it cannot
//! commit what its successor reads too.
//! API: <https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html>

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use prometheus::IntCounterVec;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::batch::{submit, Input, LineRef, SubmitError};
use crate::store;

mod lease;

use lease::Turn;
pub use lease::{Guard, RETRY_EVERY, TTL};

pub const SOURCE: &str = "cloudwatch";
pub const CHECKPOINT_PREFIX: &str = "cloudwatch:";
const MAX_BACKOFF: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Checkpoint {
    /// Where the next poll's window starts (ms since the epoch).
    next_start_ms: i64,
}

pub struct CloudWatchSource {
    pub client: aws_sdk_cloudwatchlogs::Client,
    pub group: String,
    pub overlap: Duration,
    pub poll: Duration,
    /// Events per page (the API's default is 10,000).
    pub page_limit: Option<i32>,
    /// Window start of the first poll when there is no checkpoint (ms).
    pub start_ms: i64,
    pub checkpoint: Option<String>,
    pub tx: mpsc::Sender<Input>,
    pub errors: IntCounterVec,
    pub clock: crate::clock::Clock,
    /// FilterLogEvents calls made.
    pub requests: prometheus::IntCounter,
    /// The group's lease, on a store several replicas share: polled only while held. `None`:
    /// this daemon is the group's only reader.
    pub lease: Option<Guard>,
}

/// Where the next poll starts, and the ids of the events handed over that the overlap will
/// show again (with their timestamps).
struct Window {
    next_start: i64,
    seen: HashMap<String, i64>,
}

/// The `kind` label for a failed call.
fn classify<E: ProvideErrorMetadata>(
    e: &aws_sdk_cloudwatchlogs::error::SdkError<
        E,
        aws_sdk_cloudwatchlogs::config::http::HttpResponse,
    >,
) -> &'static str {
    use aws_sdk_cloudwatchlogs::error::SdkError;
    match e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => "network",
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => match e.code() {
            Some(c)
                if c.contains("Throttl")
                    || c == "TooManyRequestsException"
                    || c == "LimitExceededException" =>
            {
                "throttled"
            }
            Some("ServiceUnavailableException") | Some("InternalFailure") => "server",
            _ => match e.raw_response().map(|r| r.status().as_u16()) {
                Some(429) => "throttled",
                Some(s) if s >= 500 => "server",
                _ => "client",
            },
        },
        _ => "client",
    }
}

enum PollError {
    Api(&'static str, String),
    Commit,
    /// The lease is no longer this replica's (or was taken anew): the window was reset.
    Lease,
    Stopped,
}

impl CloudWatchSource {
    fn checkpoint_key(&self) -> String {
        format!("{CHECKPOINT_PREFIX}{}", self.group)
    }

    pub async fn run(mut self, stop: CancellationToken) {
        let mut guard = self.lease.take();
        self.read(&mut guard, &stop).await;
        if let Some(g) = guard {
            g.release().await;
        }
    }

    async fn read(&self, guard: &mut Option<Guard>, stop: &CancellationToken) {
        let mut window = Window {
            next_start: self.start_of(self.checkpoint.as_deref()),
            seen: HashMap::new(),
        };
        let mut backoff = Duration::from_secs(1);
        let mut failing = false;
        loop {
            // Under a lease, only its holder polls; the others try to take it now and then.
            if let Some(g) = guard.as_mut() {
                if g.next_due() <= Instant::now()
                    && matches!(self.renew(g, &mut window).await, Turn::NotHeld)
                {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(RETRY_EVERY) => {}
                    }
                    continue;
                }
            }
            let wait = match self.poll_once(&mut window, guard, stop).await {
                Ok(()) => {
                    if failing {
                        tracing::info!(group = %self.group, "reading {} works again", self.group);
                    }
                    failing = false;
                    backoff = Duration::from_secs(1);
                    self.poll
                }
                Err(PollError::Stopped) => return,
                Err(PollError::Lease) => continue,
                Err(PollError::Commit) => {
                    self.errors.with_label_values(&[SOURCE, "commit"]).inc();
                    // A refused commit may be a fenced one: ask at once whether the lease
                    // is still this replica's.
                    if let Some(g) = guard.as_mut() {
                        if !matches!(self.renew(g, &mut window).await, Turn::Kept) {
                            continue;
                        }
                    }
                    backoff
                }
                Err(PollError::Api(kind, detail)) => {
                    self.errors.with_label_values(&[SOURCE, kind]).inc();
                    if !failing {
                        tracing::warn!(group = %self.group, kind, "FilterLogEvents on {} failed ({kind}): {detail}; retrying with backoff", self.group);
                    }
                    failing = true;
                    let jitter =
                        Duration::from_millis(fastrand::u64(0..=backoff.as_millis() as u64 / 2));
                    let w = backoff + jitter;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    w
                }
            };
            // The wait, woken to renew the lease on time (a backoff can outlast the TTL).
            let until = Instant::now() + wait;
            loop {
                let wake = guard.as_ref().map_or(until, |g| g.next_due().min(until));
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep_until(wake.into()) => {}
                }
                if Instant::now() >= until {
                    break;
                }
                if let Some(g) = guard.as_mut() {
                    if !matches!(self.renew(g, &mut window).await, Turn::Kept) {
                        break;
                    }
                }
            }
        }
    }

    /// Where a window starts after `checkpoint` (the configured start without one).
    fn start_of(&self, checkpoint: Option<&str>) -> i64 {
        checkpoint
            .and_then(|c| serde_json::from_str::<Checkpoint>(c).ok())
            .map_or(self.start_ms, |c| c.next_start_ms)
    }

    /// Renews the lease (or tries to take it); a new acquisition restarts the window at the
    /// checkpoint the store holds, forgetting the events seen before: what the previous
    /// holder committed is in the store's dedupe, what it did not is read again.
    async fn renew(&self, g: &mut Guard, window: &mut Window) -> Turn {
        let turn = g.renew().await;
        if let Turn::Acquired(checkpoint) = &turn {
            window.next_start = self.start_of(checkpoint.as_deref());
            window.seen.clear();
        }
        turn
    }

    async fn poll_once(
        &self,
        window: &mut Window,
        guard: &mut Option<Guard>,
        stop: &CancellationToken,
    ) -> Result<(), PollError> {
        let end = self.clock.now_ms();
        let start = window.next_start.min(end);
        let fence = guard.as_ref().and_then(Guard::fence);
        // Once this window is read, the next starts `overlap` before its end.
        let next = (end - self.overlap.as_millis() as i64).max(start);
        let mut token: Option<String> = None;
        loop {
            let mut req = self
                .client
                .filter_log_events()
                .log_group_name(&self.group)
                .start_time(start)
                .end_time(end);
            // Deprecated and ignored by AWS, which always interleaves; emulators honour it.
            #[allow(deprecated)]
            {
                req = req.interleaved(true);
            }
            if let Some(l) = self.page_limit {
                req = req.limit(l);
            }
            if let Some(t) = &token {
                req = req.next_token(t);
            }
            self.requests.inc();
            let out = req.send().await.map_err(|e| {
                PollError::Api(
                    classify(&e),
                    aws_sdk_cloudwatchlogs::error::DisplayErrorContext(&e).to_string(),
                )
            })?;
            let mut buf = Vec::new();
            let mut lines = Vec::new();
            // Marked as seen only once committed: a refused page is read again in full when
            // the window is retried.
            let mut page_ids = Vec::new();
            for e in out.events() {
                let (Some(id), Some(message)) = (e.event_id(), e.message()) else {
                    continue;
                };
                if window.seen.contains_key(id) {
                    continue;
                }
                page_ids.push((id.to_string(), e.timestamp().unwrap_or(end)));
                let begin = buf.len();
                buf.extend_from_slice(message.as_bytes());
                let key = store::dedupe_key("cwl", format!("{}:{id}", self.group).as_bytes());
                lines.push(LineRef {
                    start: begin,
                    end: buf.len(),
                    line: lines.len() as u64,
                    event_key: Some(key),
                });
                buf.push(b'\n');
            }
            let more = out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            let mut input = Input {
                buf,
                lines,
                fence: fence.clone(),
                ..self.input()
            };
            if more.is_none() {
                // The last page carries the next window's start, so the window's counts and
                // the position after them commit together.
                input.checkpoints.push((
                    self.checkpoint_key(),
                    serde_json::to_string(&Checkpoint {
                        next_start_ms: next,
                    })
                    .expect("serialisable"),
                ));
            }
            if !input.lines.is_empty() || more.is_none() {
                self.send(input).await?;
            }
            window.seen.extend(page_ids);
            // Pages can be empty while more follow: keep going until there is no token.
            match more {
                Some(t) => token = Some(t),
                None => break,
            }
            if stop.is_cancelled() {
                return Err(PollError::Stopped);
            }
            // A long window is paged under a live lease: renewed on time, and left at once
            // when it moved (the rest of the window is the new holder's).
            if let Some(g) = guard.as_mut() {
                if g.next_due() <= Instant::now()
                    && !matches!(self.renew(g, window).await, Turn::Kept)
                {
                    return Err(PollError::Lease);
                }
            }
        }
        window.next_start = next;
        window.seen.retain(|_, ts| *ts >= next);
        Ok(())
    }

    fn input(&self) -> Input {
        Input::empty(
            SOURCE.into(),
            Arc::from(format!("log group {}", self.group)),
        )
    }

    async fn send(&self, input: Input) -> Result<(), PollError> {
        match submit(&self.tx, input).await {
            Ok(_) => Ok(()),
            Err(SubmitError::Store(_)) => Err(PollError::Commit),
            Err(SubmitError::Stopped) => Err(PollError::Stopped),
        }
    }
}
