//! Drives the pipeline: takes the sources' batches off the channel, processes them (again,
//! after a conflict with another replica), publishes a snapshot and acknowledges each.
//!
//! On a store that writes prepared commits (PostgreSQL), batches that are waiting together
//! (Firehose requests on several connections, several sources) are accounted into one ledger
//! batch and committed in one transaction ([`group`]): a commit's cost is mostly per
//! transaction (the commit lock, round trips, the WAL flush), not per record. And a group's
//! commit is written on a second thread while this one accounts the next group, if one is
//! waiting: the ledger holds the second group open on top of the first
//! ([`Ledger::begin_next`]), so a failed commit undoes both (the second is processed again)
//! and a commit refused for the second undoes only it. Scrapes read the ledger under the lock
//! this thread holds for the whole chain, so they only ever see committed totals; a chain
//! lets go of the lock at least every [`HOLD_MOST`], and between chains the totals are
//! refreshed from the shared store.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::{replica, Input, Pipeline, Summary, Tally, CONFLICT_ATTEMPTS};
use crate::ledger::Ledger;
use crate::metrics::Health;
use crate::snapshot::Snapshot;
use crate::store::{Prepared, Store, StoreError};

/// The longest a chain of overlapped batches holds the ledger's lock before it writes its
/// last commit alone and lets readers in: scrapes wait at most about this plus one batch.
const HOLD_MOST: Duration = Duration::from_secs(1);

/// Where a processed batch's outcome goes.
pub(super) struct Outlets {
    pub snapshots: watch::Sender<Arc<Snapshot>>,
    pub health: Health,
    pub exporter: Option<crate::sinks::Exporter>,
    /// Panic on the first batch with lines (tests of supervision).
    pub trip: bool,
}

/// A batch taken off the channel, with when and how its processing started.
struct Taken {
    input: Input,
    now: i64,
    started: Instant,
    /// Whether its keys are looked up before accounting (a conflict of a batch that did not
    /// is not counted as an attempt).
    looked_up: bool,
}

/// Batches waiting together are accounted into one ledger batch and committed in one
/// transaction (on PostgreSQL), up to this many...
const GROUP_MOST: usize = 64;
/// ... and this many lines (a file batch's on PostgreSQL).
const GROUP_LINES: usize = 20_000;

/// Batches to process: those whose processing was undone with a failed batch before them
/// (first, in order), then the sources' channel.
pub(super) struct Queue<'a> {
    pub again: VecDeque<Input>,
    pub rx: &'a mut mpsc::Receiver<Input>,
}

impl Queue<'_> {
    /// The next batch if one is waiting.
    fn try_next(&mut self) -> Option<Input> {
        self.again.pop_front().or_else(|| self.rx.try_recv().ok())
    }
}

/// Drives the pipeline until every sender is gone: process, publish, acknowledge. `trip`
/// makes it panic on the first batch with lines (tests of supervision).
pub fn run(
    mut pipeline: Pipeline,
    mut rx: mpsc::Receiver<Input>,
    snapshots: watch::Sender<Arc<Snapshot>>,
    health: Health,
    exporter: Option<crate::sinks::Exporter>,
    trip: bool,
) {
    let out = Outlets {
        snapshots,
        health,
        exporter,
        trip,
    };
    let _ = out.snapshots.send(Arc::new(pipeline.snapshot(None)));
    // A blocking thread of the daemon's runtime (`spawn_blocking`): it may wait on the
    // channel with a timeout, so refreshes go on while no batch arrives.
    let runtime = tokio::runtime::Handle::current();
    let mut refresher = replica::Refresher::default();
    let mut queue = Queue {
        again: VecDeque::new(),
        rx: &mut rx,
    };
    loop {
        let next = match queue.again.pop_front() {
            Some(input) => Ok(Some(input)),
            None => runtime.block_on(tokio::time::timeout(refresher.wait(), queue.rx.recv())),
        };
        if refresher.due() {
            refresher.refresh(&mut pipeline, &out.snapshots, &out.health);
        }
        let input = match next {
            Ok(Some(input)) => input,
            Ok(None) => break,
            Err(_) => continue,
        };
        let chained = chain(&mut pipeline, input, &mut queue, &out);
        if chained.beside > 0 {
            tracing::trace!(
                batches = chained.beside,
                overlapped = chained.overlapped,
                commits = chained.commits,
                "accounted batches beside the commit of the ones before"
            );
        }
    }
}

/// Takes a batch into processing: its new rate cards, the fault injection, its start.
fn take(pipeline: &mut Pipeline, mut input: Input, out: &Outlets) -> Taken {
    if out.trip && !input.lines.is_empty() {
        crate::supervise::Fault::Pipeline.trip();
    }
    if let Some(cards) = input.new_cards.take() {
        pipeline.replace_cards(cards);
    }
    let now = pipeline.ctx.clock.now();
    Taken {
        looked_up: pipeline.looks_up(&input, now),
        input,
        now,
        started: Instant::now(),
    }
}

/// `first` and, on PostgreSQL (a store whose commit refuses a taken key), the batches
/// waiting after it that join it in one commit (not one read under a lease: its commit
/// checks the lease). A batch whose predecessor in its source's sequence was refused is
/// refused at once and ends the group (empty if it was `first`).
fn group(pipeline: &mut Pipeline, queue: &mut Queue, first: Input, out: &Outlets) -> Vec<Taken> {
    let mut group: Vec<Taken> = Vec::new();
    let mut lines = 0;
    let mut next = Some(first);
    while let Some(input) = next.take() {
        if !group.is_empty() && input.fence.is_some() {
            queue.again.push_front(input);
            break;
        }
        let b = take(pipeline, input, out);
        if !pipeline.sequences.admit(b.input.order) {
            let e = StoreError::OutOfOrder(b.input.origin.to_string());
            settle(pipeline, b, Err(e), out);
            break;
        }
        lines += b.input.lines.len();
        group.push(b);
        let grows = pipeline.refuses_taken_keys && group[0].input.fence.is_none();
        if grows && group.len() < GROUP_MOST && lines < GROUP_LINES {
            next = queue.try_next();
        }
    }
    group
}

fn inputs(group: &[Taken]) -> Vec<&Input> {
    group.iter().map(|t| &t.input).collect()
}

/// What a chain did.
pub(super) struct Chained {
    /// Batches accounted beside the commit of the ones before.
    pub beside: usize,
    /// Of those, the ones whose accounting was done before that commit was written (the two
    /// overlapped: a batch that looks its keys up first waits for the commit).
    pub overlapped: usize,
    /// Commits (groups of batches).
    pub commits: usize,
}

/// Processes `first` with the batches waiting after it (in one commit, [`group`]) and,
/// while that commit is written, the next group waiting, and so on, until none is waiting or
/// the chain has held the ledger for [`HOLD_MOST`].
pub(super) fn chain(
    pipeline: &mut Pipeline,
    first: Input,
    queue: &mut Queue,
    out: &Outlets,
) -> Chained {
    let mut chained = Chained {
        beside: 0,
        overlapped: 0,
        commits: 1,
    };
    let lock = pipeline.ledger.clone();
    let mut ledger = lock.write().unwrap_or_else(|e| e.into_inner());
    let held = Instant::now();
    let mut cur = group(pipeline, queue, first, out);
    if cur.is_empty() {
        return chained;
    }
    ledger.begin();
    let mut state = pipeline.start(&mut ledger, &inputs(&cur), cur[0].now);
    loop {
        let (tallies, prepared) = match state {
            Ok((tallies, Some(prepared))) => (tallies, prepared),
            // Committed whole (a store that does not prepare).
            Ok((tallies, None)) => {
                ledger.keep();
                done(pipeline, &mut ledger, cur, tallies, out);
                return chained;
            }
            Err(e) => {
                pipeline.failed(&e, cur[0].now);
                ledger.rollback();
                drop(ledger); // a retry takes the lock again
                refuse(pipeline, cur, e, out);
                return chained;
            }
        };
        let waiting = match held.elapsed() < HOLD_MOST {
            true => queue.try_next(),
            false => None,
        };
        let next = match waiting {
            Some(first) => group(pipeline, queue, first, out),
            None => Vec::new(),
        };
        if next.is_empty() {
            let written = pipeline.store().write(prepared);
            match written {
                Ok(()) => {
                    ledger.keep();
                    done(pipeline, &mut ledger, cur, tallies, out);
                }
                Err(e) => {
                    pipeline.failed(&e, cur[0].now);
                    ledger.rollback();
                    drop(ledger);
                    refuse(pipeline, cur, e, out);
                }
            }
            return chained;
        }
        chained.beside += next.len();
        chained.commits += 1;
        let store = pipeline.store.clone();
        let (written, next_state) = beside(store, prepared, |writing| {
            ledger.begin_next();
            let batches = inputs(&next);
            let mut tallies = pipeline.account_group(&mut ledger, &batches, next[0].now)?;
            if writing.load(Ordering::Acquire) {
                chained.overlapped += next.len();
            }
            let prepared = pipeline.commit(&mut ledger, &batches, &mut tallies, next[0].now)?;
            Ok((tallies, prepared))
        });
        match written {
            Ok(()) => {
                ledger.keep_outer();
                done(pipeline, &mut ledger, cur, tallies, out);
                (cur, state) = (next, next_state);
            }
            Err(e) => {
                pipeline.failed(&e, cur[0].now);
                ledger.rollback(); // both groups
                drop(ledger);
                refuse(pipeline, cur, e, out);
                for b in next.into_iter().rev() {
                    queue.again.push_front(b.input);
                }
                return chained;
            }
        }
    }
}

/// A group whose commit succeeded (and the ledger kept): each batch published and
/// acknowledged.
fn done(
    pipeline: &mut Pipeline,
    ledger: &mut Ledger,
    group: Vec<Taken>,
    tallies: Vec<Tally>,
    out: &Outlets,
) {
    for (b, tally) in group.into_iter().zip(tallies) {
        let summary = pipeline.finish(ledger, &b.input, tally, b.now);
        settle(pipeline, b, Ok(summary), out);
    }
}

/// A group whose commit failed (the ledger rolled back, its lock let go): each batch
/// processed again or refused, on its own.
fn refuse(pipeline: &mut Pipeline, group: Vec<Taken>, e: StoreError, out: &Outlets) {
    for b in group {
        settle(pipeline, b, Err(e.clone()), out);
    }
}

/// Writes `prepared` on a thread of its own while `f` runs on this one (`f` is told whether
/// the write is still under way). The writer holds the store from before `f` starts to the
/// end of the write, so whatever `f` asks the store (which keys are taken) it asks after the
/// write.
fn beside<T>(
    store: Arc<Mutex<Box<dyn Store>>>,
    prepared: Prepared,
    f: impl FnOnce(&AtomicBool) -> T,
) -> (Result<(), StoreError>, T) {
    let writing = AtomicBool::new(true);
    std::thread::scope(|scope| {
        let (locked, has_lock) = std::sync::mpsc::sync_channel(0);
        let writing = &writing;
        let writer = scope.spawn(move || {
            let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
            let _ = locked.send(());
            let written = store.write(prepared);
            writing.store(false, Ordering::Release);
            written
        });
        let _ = has_lock.recv();
        let t = f(writing);
        let written = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (written, t)
    })
}

/// A batch's outcome: a conflict with another replica is processed again (up to
/// [`CONFLICT_ATTEMPTS`]), then the batch is published and acknowledged, or refused. Called
/// without the ledger's lock unless `result` is a success or [`StoreError::OutOfOrder`]
/// (which touches neither the ledger nor the store).
fn settle(
    pipeline: &mut Pipeline,
    mut b: Taken,
    result: Result<Summary, StoreError>,
    out: &Outlets,
) {
    let health = &out.health;
    let mut attempt = 1;
    let mut result = Some(result);
    let result = loop {
        let (looked_up, result) = match result.take() {
            Some(r) => (b.looked_up, r),
            None => (
                pipeline.looks_up(&b.input, b.now),
                pipeline.process(&b.input, b.now),
            ),
        };
        match &result {
            // Rolled back whole; processed again, `seen` knows the other replica's key. A
            // batch read under a lease is not: its conflict may be the lease that moved,
            // which no retry mends (its source reads again from the committed checkpoint).
            // An attempt that did not look its keys up is not counted: the next one does.
            Err(e @ StoreError::Conflict(_))
                if (attempt < CONFLICT_ATTEMPTS || !looked_up) && b.input.fence.is_none() =>
            {
                health.commit_errors.with_label_values(&[e.kind()]).inc();
                tracing::debug!("processing a batch from {} again: {e}", b.input.origin);
                if looked_up {
                    attempt += 1;
                }
            }
            _ => break result,
        }
    };
    health
        .commit_seconds
        .observe(b.started.elapsed().as_secs_f64());
    let ack = b.input.ack.take();
    let snapshots = &out.snapshots;
    match result {
        Ok(summary) => {
            if !snapshots.borrow().store_writable {
                tracing::info!("the state store accepts commits again; acknowledging resumes");
            }
            let _ = snapshots.send(Arc::new(pipeline.snapshot(None)));
            if let Some(e) = &out.exporter {
                e.offer(&pipeline.take_export());
            }
            if let Some(ack) = ack {
                let _ = ack.send(Ok(summary));
            }
        }
        // The consequence of the refusal before it, already counted and logged; the store
        // is fine.
        Err(e @ StoreError::OutOfOrder(_)) => {
            tracing::debug!("{e}");
            refused(ack, &mut b.input, e);
        }
        Err(e) => {
            health.commit_errors.with_label_values(&[e.kind()]).inc();
            let conflict = matches!(e, StoreError::Conflict(_));
            if conflict {
                // Another replica got there first (its requests, or the batch's lease); the
                // store itself works, so readiness stays (the source retries the batch, or
                // the new lease holder reads it).
                if pipeline.throttle.allow("conflict") {
                    tracing::warn!(
                        kind = e.kind(),
                        "refused a batch from {} after {attempt} attempt(s): {e}",
                        b.input.origin
                    );
                }
            } else if snapshots.borrow().store_writable {
                tracing::error!(
                    kind = e.kind(),
                    "cannot commit a batch from {}: {e}",
                    b.input.origin
                );
            }
            if !conflict {
                let _ = snapshots.send(Arc::new(pipeline.snapshot(Some(e.to_string()))));
            }
            refused(ack, &mut b.input, e);
        }
    }
}

/// Tells the source its batch was refused, handing its buffer back.
fn refused(ack: Option<crate::batch::Ack>, input: &mut Input, e: StoreError) {
    if let Some(ack) = ack {
        let buf = std::mem::take(&mut input.buf);
        let error = Arc::new(e);
        let _ = ack.send(Err(crate::batch::Refused { error, buf }));
    }
}
