//! What readers of the totals see: `/metrics`, the status page, `/readyz` and budgets read a
//! [`Snapshot`] the pipeline publishes after every commit.

use std::sync::{Arc, RwLock};

use crate::history::History;
use crate::ledger::Ledger;
use crate::pricing::RateCards;

/// What `/metrics`, the status page and `/readyz` read: the ledger (read-locked; the pipeline
/// holds the write lock from a batch's first add to its commit, so readers see only committed
/// totals) and the pipeline's health.
#[derive(Clone)]
pub struct Snapshot {
    pub ledger: Arc<RwLock<Ledger>>,
    /// Spend over time (the pipeline adds each committed batch after its commit).
    pub history: Arc<RwLock<History>>,
    /// False after a failed commit, until one succeeds.
    pub store_writable: bool,
    pub store_error: Option<String>,
    /// The rate cards in force.
    pub cards: Arc<RateCards>,
}

impl Snapshot {
    /// Read access to the committed totals.
    pub fn ledger(&self) -> std::sync::RwLockReadGuard<'_, Ledger> {
        self.ledger.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Read access to the spend history.
    pub fn history(&self) -> std::sync::RwLockReadGuard<'_, History> {
        self.history.read().unwrap_or_else(|e| e.into_inner())
    }
}
