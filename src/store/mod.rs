//! The durable state: totals, dedupe keys, source checkpoints and daily totals, written in one
//! atomic transaction per batch, so a crash loses nothing acknowledged and counts nothing twice.
//!
//! The pipeline sees only the narrow [`Store`] trait (load, look up keys, commit a batch);
//! [`SqliteStore`] is the embedded implementation (see `sqlite.rs` for its layout);
//! [`PgStore`] the shared one, a PostgreSQL database several replicas can write (`postgres.rs`),
//! where [`Lease`] lets one replica at a time read a source they share (`lease.rs`).

pub(crate) mod codec;
mod copy;
mod daily;
mod lease;
mod migrate;
mod pg_daily;
mod pg_fold;
mod pg_journal;
mod pg_tls;
mod postgres;
mod sqlite;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::daily::Deltas;
use crate::ledger::{Ledger, Metric};

pub use copy::{sqlite_to_pg, Copied};
pub use lease::{holder_id, Held, Lease};
pub use postgres::{check_url, Image, PgStore, PG_SCHEMA_VERSION};
use sqlite::schema as sqlite_schema;
pub use sqlite::{read_daily, SqliteStore, DB_FILE, SCHEMA_VERSION};

/// 128 bits of SHA-256 over a namespaced id: `req:<requestId>`, `cwl:<eventId>`, `line:<bytes>`.
pub type DedupeKey = [u8; 16];

pub fn dedupe_key(namespace: &str, id: &[u8]) -> DedupeKey {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(namespace.as_bytes());
    h.update(b":");
    h.update(id);
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize()[..16]);
    out
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the state store {path} is unreadable or corrupt ({detail}). Totals were NOT reset. \
         Restore the state directory from a backup, or start again from zero with --reset-state \
         (it keeps the old file beside the new one)"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error("the state store {path} was written by a newer version (schema {found}, this build knows {knows}); run the newer version or restore a backup")]
    TooNew {
        path: PathBuf,
        found: i64,
        /// The newest schema this build reads (SQLite's and PostgreSQL's are numbered apart).
        knows: i64,
    },
    #[error("another process is using the state directory {0} (its lock file is held); run one daemon per state directory")]
    Locked(PathBuf),
    #[error("the disk holding the state store is full ({0}); nothing is acknowledged until space returns")]
    Full(String),
    #[error("the state store failed: {0}")]
    Io(String),
    /// Another replica got there first: it committed one of the batch's dedupe keys between
    /// [`Store::seen`] and the commit (processed again, the batch counts that request as a
    /// duplicate), or the lease the batch was read under moved to it (the batch must not be
    /// committed as it is). Nothing of the batch was kept.
    #[error("the state store refused the batch: {0}")]
    Conflict(String),
    /// Not the store's doing: the batch before it from the same source (see
    /// [`crate::batch::Order`]) was refused, so committing this one would move the source's
    /// checkpoint past lines never counted. Nothing of the batch was kept; the source sends
    /// both again, in order.
    #[error("the batch before it from {0} was not committed; it is sent again after that one")]
    OutOfOrder(String),
}

impl StoreError {
    /// The `kind` label of `bedrock_store_commit_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Corrupt { .. } | StoreError::TooNew { .. } => "corrupt",
            StoreError::Locked(_) => "locked",
            StoreError::Full(_) => "disk_full",
            StoreError::Io(_) => "io",
            StoreError::Conflict(_) => "conflict",
            StoreError::OutOfOrder(_) => "out_of_order",
        }
    }
}

fn classify(e: rusqlite::Error, path: &Path) -> StoreError {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::Full(e.to_string()),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: e.to_string(),
        },
        _ => StoreError::Io(e.to_string()),
    }
}

/// One stored series, as [`Store::load`] hands it over (borrowed: nothing is copied).
pub struct SeriesRow<'a> {
    pub id: u32,
    pub metric: Metric,
    pub labels: &'a [(&'a str, &'a str)],
    /// In the metric's units ([`Metric::scale`]).
    pub value: i128,
}

/// A series a batch created: its labels are written once.
pub struct NewSeries<'a> {
    pub id: u32,
    pub metric: Metric,
    pub labels: Vec<(&'a str, &'a str)>,
}

/// One batch's changes, applied all or nothing.
pub struct Commit<'a> {
    pub created: Vec<NewSeries<'a>>,
    /// New values of the series the batch changed, by id.
    pub values: &'a [(u32, i128)],
    /// Every series after the batch (the store may rewrite any of them).
    pub all: &'a dyn AllSeries,
    /// Series to delete (spend of budget periods that are over).
    pub removed: &'a [u32],
    pub dedupe: &'a [DedupeKey],
    pub checkpoints: &'a [(String, String)],
    /// Checkpoints deleted in the same transaction.
    pub drop_checkpoints: &'a [String],
    /// Unix seconds, stored with new dedupe keys.
    pub now: i64,
    /// Dedupe keys first seen before this are deleted in the same transaction.
    pub purge_before: Option<i64>,
    /// What the batch adds to the daily totals, in the same transaction.
    pub daily: &'a Deltas,
    /// Daily totals of days before this (`YYYY-MM-DD`, UTC) are deleted in the same
    /// transaction (the retention; given with the periodic purge).
    pub daily_before: Option<&'a str>,
    /// The lease the batch was read under (its name and fence): a store shared by replicas
    /// refuses the whole batch when the lease has moved on since (see `lease.rs`). SQLite
    /// ignores it (one process per state directory).
    pub fence: Option<(&'a str, i64)>,
}

/// A batch's commit, prepared by [`Store::prepare`] to be written by [`Store::write`].
pub struct Prepared(postgres::Batch);

/// Every series by id, as a store folding its journal reads them.
pub trait AllSeries {
    /// One past the highest id.
    fn ids(&self) -> usize;
    fn value(&self, id: u32) -> i128;
    /// The metric name and encoded labels of a live series; `None` for an id with none.
    fn definition(&self, id: u32) -> Option<(&'static str, Vec<u8>)>;
}

/// No series at all (a commit that only carries keys or checkpoints, in tests).
pub struct NoSeries;

impl AllSeries for NoSeries {
    fn ids(&self) -> usize {
        0
    }
    fn value(&self, _: u32) -> i128 {
        0
    }
    fn definition(&self, _: u32) -> Option<(&'static str, Vec<u8>)> {
        None
    }
}

/// A series [`Store::refresh`] hands over: one the store knows by its ledger id (it loaded,
/// wrote or adopted it before), or one new to it, by metric and labels.
pub enum Adopted<'a> {
    Id(u32),
    New(Metric, &'a [(&'a str, &'a str)]),
}

/// What [`Store::refresh`] hands each changed series to, with its value in the store; it
/// returns the series' ledger id.
pub type Adopt<'a> = dyn FnMut(Adopted<'_>, i128) -> u32 + 'a;

/// Takes an adopted series' value into `ledger` (see [`Ledger::adopt`]); its ledger id.
pub fn adopt_into(ledger: &mut Ledger, series: Adopted<'_>, value: i128) -> u32 {
    match series {
        Adopted::Id(id) => {
            ledger.adopt_id(id, value);
            id
        }
        Adopted::New(metric, labels) => ledger.adopt(metric, labels, value),
    }
}

pub trait Store: Send {
    /// Hands every stored series to `series` (ids ascending) and returns the checkpoints.
    fn load(
        &mut self,
        series: &mut dyn FnMut(SeriesRow<'_>),
    ) -> Result<HashMap<String, String>, StoreError>;
    /// For each key, whether a committed batch already counted it.
    fn seen(&mut self, keys: &[DedupeKey]) -> Result<Vec<bool>, StoreError>;
    fn commit(&mut self, commit: &Commit<'_>) -> Result<(), StoreError>;
    /// A commit in two steps, for a store that can write a batch while the pipeline accounts
    /// the next one: `prepare` takes what the commit writes (from `commit` and the store's
    /// own bases, as they are after the last write), [`Store::write`] writes it, exactly as
    /// `commit` would have. Every prepared batch is written, or its failure seen, before the
    /// next is prepared. `None`: this store only commits whole (SQLite).
    fn prepare(&mut self, _commit: &Commit<'_>) -> Option<Prepared> {
        None
    }
    fn write(&mut self, _prepared: Prepared) -> Result<(), StoreError> {
        unreachable!("only a store whose prepare returns a batch writes one")
    }
    /// Whether `commit` refuses, with [`StoreError::Conflict`] and nothing kept, a batch
    /// holding a dedupe key that a committed batch already holds. Then the pipeline may skip
    /// `seen` before accounting (a duplicate costs a refused commit and one more attempt).
    fn refuses_taken_keys(&self) -> bool {
        false
    }
    /// Pulls what other writers committed since this store last loaded or refreshed: hands
    /// each changed series to `adopt` (which returns its ledger id) with its value in the
    /// store, and takes that value as the base of the series' next commit. Returns how many
    /// series changed, or `None` for a store no one else writes (SQLite: one process holds
    /// its lock), which has nothing to pull. Call it between batches, never inside one.
    fn refresh(&mut self, _adopt: &mut Adopt<'_>) -> Result<Option<usize>, StoreError> {
        Ok(None)
    }
    /// How the folding of a store's journal goes, as of its last refresh; `None` for a
    /// store with no journal (SQLite).
    fn folds(&self) -> Option<Folds> {
        None
    }
}

/// The health of a journal's folds (PostgreSQL: see `pg_fold.rs`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Folds {
    /// Folds this store's fold thread tried that failed, since it opened.
    pub failed: u64,
    /// Seconds since the oldest journal row no fold has taken in yet was written (0: none),
    /// by the database's clock, as the last successful refresh read it (`None`: none yet).
    /// It grows only while no replica folds: a replica that skips because another is
    /// folding leaves it as it is.
    pub unfolded_age: Option<f64>,
}

/// What `bedrock-cost-exporter state` shows.
#[derive(Debug, serde::Serialize)]
pub struct Stats {
    pub path: String,
    pub file_bytes: u64,
    pub series_by_metric: Vec<(String, u64)>,
    pub dedupe_keys: u64,
    pub oldest_dedupe_key: Option<String>,
    pub checkpoints: Vec<(String, String)>,
}

/// Moves a store aside (keeping it) so the daemon can start from zero: `--reset-state`.
pub fn reset(dir: &Path, now: i64) -> std::io::Result<Option<PathBuf>> {
    let db = dir.join(DB_FILE);
    if !db.exists() {
        return Ok(None);
    }
    let kept = dir.join(format!("{DB_FILE}.reset-{now}"));
    std::fs::rename(&db, &kept)?;
    for suffix in ["-wal", "-shm"] {
        let side = dir.join(format!("{DB_FILE}{suffix}"));
        if side.exists() {
            std::fs::rename(&side, dir.join(format!("{DB_FILE}.reset-{now}{suffix}")))?;
        }
    }
    Ok(Some(kept))
}
