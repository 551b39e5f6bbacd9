//! The CloudWatch source's lease on a PostgreSQL store: replicas share the log groups, and
//! one replica at a time polls each, the holder of the group's lease (`store::Lease`).
//!
//! The holder renews every third of the TTL, so two renewals can fail before it runs out. A
//! replica that does not hold the lease tries again every [`RETRY_EVERY`]: when the holder
//! dies, its lease runs out within [`TTL`] of its last renewal and a peer takes it at most
//! [`RETRY_EVERY`] later (under a minute in all), then reads from the committed checkpoint.
//! A holder that cannot reach the store counts its lease as lost once the TTL from its last
//! renewal has passed (measured from before that renewal was sent, so never later than the
//! server's expiry): it never polls on a lease that another replica may already hold.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::metrics::LeaseMetrics;
use crate::store::{Lease, StoreError};

/// How long a lease runs without renewal.
pub const TTL: Duration = Duration::from_secs(30);
/// How often a replica that does not hold the lease tries to take it.
pub const RETRY_EVERY: Duration = Duration::from_secs(5);

pub struct Guard {
    lease: Arc<Mutex<Lease>>,
    /// The lease's name and this replica's holder id (copies: the client is locked while
    /// it talks to the store).
    name: String,
    holder: String,
    metrics: LeaseMetrics,
    group: String,
    /// While held: the fence, when to renew next, and until when the lease is surely still
    /// this replica's.
    held: Option<Held>,
    /// A failure to reach the store was logged (once until it works again).
    failing: bool,
}

#[derive(Clone, Copy)]
struct Held {
    fence: i64,
    next_try: Instant,
    until: Instant,
}

/// What a renewal means for the reader.
pub enum Turn {
    /// Still this replica's, under the same fence: read on.
    Kept,
    /// Newly this replica's: read from this checkpoint, remembering nothing of earlier reads.
    Acquired(Option<String>),
    /// Another replica's, or unknown: do not read.
    NotHeld,
}

impl Guard {
    pub fn new(lease: Lease, group: String, metrics: LeaseMetrics) -> Guard {
        Guard {
            name: lease.name().to_string(),
            holder: lease.holder().to_string(),
            lease: Arc::new(Mutex::new(lease)),
            metrics,
            group,
            held: None,
            failing: false,
        }
    }

    /// The lease's name and fence while held, for the batches read under it.
    pub fn fence(&self) -> Option<(String, i64)> {
        self.held.map(|h| (self.name.clone(), h.fence))
    }

    /// When the next renewal (or, not held, the next try) is due.
    pub fn next_due(&self) -> Instant {
        match self.held {
            Some(h) => h.next_try,
            None => Instant::now(),
        }
    }

    /// Renews the lease, or tries to take it.
    pub async fn renew(&mut self) -> Turn {
        let sent = Instant::now();
        let lease = self.lease.clone();
        let answer = tokio::task::spawn_blocking(move || {
            lease
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .acquire_or_renew(TTL)
        })
        .await
        .unwrap_or_else(|e| Err(StoreError::Io(format!("the lease call failed: {e}"))));
        match answer {
            Ok(Some(got)) => {
                if self.failing {
                    tracing::info!(group = %self.group, "the lease of {} can be renewed again", self.group);
                    self.failing = false;
                }
                let same = self.held.is_some_and(|h| h.fence == got.fence);
                self.held = Some(Held {
                    fence: got.fence,
                    next_try: sent + TTL / 3,
                    until: sent + TTL,
                });
                if same {
                    return Turn::Kept;
                }
                tracing::info!(group = %self.group, holder = %self.holder, fence = got.fence, "this replica ({}) took the lease of {} (fence {}) and polls it from the committed checkpoint", self.holder, self.group, got.fence);
                self.metrics.held.set(1);
                self.metrics.acquired.inc();
                Turn::Acquired(got.checkpoint)
            }
            Ok(None) => {
                self.lose("another replica holds it");
                Turn::NotHeld
            }
            Err(e) => {
                if !self.failing {
                    tracing::warn!(group = %self.group, kind = e.kind(), "cannot renew or take the lease of {}: {e}", self.group);
                    self.failing = true;
                }
                let now = Instant::now();
                match self.held.as_mut() {
                    Some(h) if now < h.until => {
                        // Tried again soon, and once more when the lease would run out.
                        h.next_try = (now + RETRY_EVERY).min(h.until);
                        Turn::Kept
                    }
                    _ => {
                        self.lose("its TTL ran out without a renewal");
                        Turn::NotHeld
                    }
                }
            }
        }
    }

    /// Stops counting the lease as this replica's (logged and counted if it was).
    pub fn lose(&mut self, why: &str) {
        if self.held.take().is_some() {
            tracing::info!(group = %self.group, holder = %self.holder, "this replica ({}) lost the lease of {} ({why}) and stops polling it", self.holder, self.group);
            self.metrics.held.set(0);
            self.metrics.lost.inc();
        }
    }

    /// Gives the lease up at shutdown, so a peer takes over at its next try.
    pub async fn release(mut self) {
        if self.held.is_none() {
            return;
        }
        let lease = self.lease.clone();
        let done = tokio::task::spawn_blocking(move || {
            lease.lock().unwrap_or_else(|e| e.into_inner()).release()
        })
        .await
        .unwrap_or_else(|e| Err(StoreError::Io(format!("the lease call failed: {e}"))));
        match done {
            Ok(()) => self.lose("released at shutdown"),
            Err(e) => {
                tracing::warn!(group = %self.group, "cannot release the lease of {} ({e}); a peer takes it over when it runs out", self.group)
            }
        }
    }
}
