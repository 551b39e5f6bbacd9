//! The durable state: totals, dedupe keys and source checkpoints, written in one atomic
//! transaction per batch, so a crash loses nothing acknowledged and counts nothing twice.
//!
//! The pipeline sees only the narrow [`Store`] trait (load, look up keys, commit a batch);
//! [`SqliteStore`] is the embedded implementation (SQLite in WAL mode, `synchronous=FULL`),
//! chosen because it is one file, needs no server, survives power loss with FULL sync,
//! reports a full disk as its own error code, and ships its own integrity check. A shared
//! backend (e.g. PostgreSQL for replicas behind one Firehose stream) implements the same trait.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, ErrorCode, OptionalExtension};
use rust_decimal::Decimal;

use crate::ledger::{Metric, SeriesKey};

/// Bump when the table layout changes; an older daemon refuses a newer store.
const SCHEMA_VERSION: i64 = 1;
pub const DB_FILE: &str = "state.db";
const LOCK_FILE: &str = "lock";

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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the state store {path} is unreadable or corrupt ({detail}). Totals were NOT reset. \
         Restore the state directory from a backup, or start again from zero with --reset-state \
         (it keeps the old file beside the new one)"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error("the state store {path} was written by a newer version (schema {found}, this build knows {SCHEMA_VERSION}); run the newer version or restore a backup")]
    TooNew { path: PathBuf, found: i64 },
    #[error("another process is using the state directory {0} (its lock file is held); run one daemon per state directory")]
    Locked(PathBuf),
    #[error("the disk holding the state store is full ({0}); nothing is acknowledged until space returns")]
    Full(String),
    #[error("the state store failed: {0}")]
    Io(String),
}

impl StoreError {
    /// The `kind` label of `bedrock_store_commit_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Corrupt { .. } | StoreError::TooNew { .. } => "corrupt",
            StoreError::Locked(_) => "locked",
            StoreError::Full(_) => "disk_full",
            StoreError::Io(_) => "io",
        }
    }
}

fn classify(e: rusqlite::Error, path: &Path) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::Full(e.to_string()),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: e.to_string(),
        },
        _ => StoreError::Io(e.to_string()),
    }
}

/// One stored series: the metric, its label pairs in exposition order, and its exact total.
pub type StoredSeries = (Metric, Vec<(String, String)>, Decimal);

/// What a restart starts from.
#[derive(Debug, Default)]
pub struct Loaded {
    pub series: Vec<StoredSeries>,
    pub checkpoints: HashMap<String, String>,
}

/// One batch's changes, applied all or nothing.
pub struct Commit<'a> {
    pub series: Vec<(&'a SeriesKey, Decimal)>,
    /// Series to delete (spend of budget periods that are over).
    pub removed: Vec<&'a SeriesKey>,
    pub dedupe: &'a [DedupeKey],
    pub checkpoints: &'a [(String, String)],
    /// Unix seconds, stored with new dedupe keys.
    pub now: i64,
    /// Dedupe keys first seen before this are deleted in the same transaction.
    pub purge_before: Option<i64>,
}

pub trait Store: Send {
    fn load(&mut self) -> Result<Loaded, StoreError>;
    /// For each key, whether a committed batch already counted it.
    fn seen(&mut self, keys: &[DedupeKey]) -> Result<Vec<bool>, StoreError>;
    fn commit(&mut self, commit: &Commit<'_>) -> Result<(), StoreError>;
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

pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    _lock: Option<File>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir`. Refuses a corrupt or newer store and a
    /// directory another process holds.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Io(format!(
                "cannot create state directory {}: {e}",
                dir.display()
            ))
        })?;
        let lock = File::create(dir.join(LOCK_FILE)).map_err(|e| {
            StoreError::Io(format!(
                "cannot create {}: {e}",
                dir.join(LOCK_FILE).display()
            ))
        })?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Locked(dir.to_path_buf()));
        }
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|e| classify(e, &path))?;
        let store = SqliteStore {
            conn,
            path,
            _lock: Some(lock),
        };
        store.init().map_err(|e| match e {
            StoreError::Io(detail)
                if detail.contains("not a database") || detail.contains("malformed") =>
            {
                StoreError::Corrupt {
                    path: store.path.clone(),
                    detail,
                }
            }
            e => e,
        })?;
        Ok(store)
    }

    fn init(&self) -> Result<(), StoreError> {
        let c = &self.conn;
        let err = |e| classify(e, &self.path);
        c.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        // FULL: a committed batch survives power loss, not just a process crash.
        c.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        c.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        let check: String = c
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(err)?;
        if check != "ok" {
            return Err(StoreError::Corrupt {
                path: self.path.clone(),
                detail: check,
            });
        }
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS series (metric TEXT NOT NULL, labels TEXT NOT NULL, value TEXT NOT NULL,
                 PRIMARY KEY (metric, labels)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS dedupe (key BLOB PRIMARY KEY, seen_at INTEGER NOT NULL) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS dedupe_seen_at ON dedupe (seen_at);
             CREATE TABLE IF NOT EXISTS checkpoints (source TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",
        )
        .map_err(err)?;
        let version: Option<String> = c
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        match version.map(|v| v.parse::<i64>()) {
            None => {
                c.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                    params![SCHEMA_VERSION.to_string()],
                )
                .map_err(err)?;
            }
            Some(Ok(v)) if v <= SCHEMA_VERSION => {}
            Some(Ok(found)) => {
                return Err(StoreError::TooNew {
                    path: self.path.clone(),
                    found,
                })
            }
            Some(Err(_)) => {
                return Err(StoreError::Corrupt {
                    path: self.path.clone(),
                    detail: "bad schema_version".into(),
                })
            }
        }
        Ok(())
    }

    /// A store that lives in memory only: totals do not survive a restart (`--in-memory`).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|e| classify(e, &path))?;
        let store = SqliteStore {
            conn,
            path,
            _lock: None,
        };
        store.init()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn stats(&self) -> Result<Stats, StoreError> {
        let err = |e| classify(e, &self.path);
        let mut stmt = self
            .conn
            .prepare("SELECT metric, COUNT(*) FROM series GROUP BY metric ORDER BY metric")
            .map_err(err)?;
        let series_by_metric = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(err)?
            .collect::<Result<_, _>>()
            .map_err(err)?;
        let (dedupe_keys, oldest): (u64, Option<i64>) = self
            .conn
            .query_row("SELECT COUNT(*), MIN(seen_at) FROM dedupe", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(err)?;
        let mut stmt = self
            .conn
            .prepare("SELECT source, value FROM checkpoints ORDER BY source")
            .map_err(err)?;
        let checkpoints = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(err)?
            .collect::<Result<_, _>>()
            .map_err(err)?;
        let file_bytes = ["", "-wal"]
            .iter()
            .filter_map(|s| std::fs::metadata(format!("{}{s}", self.path.display())).ok())
            .map(|m| m.len())
            .sum();
        Ok(Stats {
            path: self.path.display().to_string(),
            file_bytes,
            series_by_metric,
            dedupe_keys,
            oldest_dedupe_key: oldest.map(crate::timefmt::format_rfc3339),
            checkpoints,
        })
    }

    /// Deletes expired dedupe keys and rewrites the file to its minimum size.
    pub fn compact(&mut self, purge_before: i64) -> Result<u64, StoreError> {
        let err = |e| classify(e, &self.path);
        let n = self
            .conn
            .execute(
                "DELETE FROM dedupe WHERE seen_at < ?1",
                params![purge_before],
            )
            .map_err(err)?;
        self.conn
            .execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(err)?;
        Ok(n as u64)
    }
}

impl Store for SqliteStore {
    fn load(&mut self) -> Result<Loaded, StoreError> {
        let err = |e| classify(e, &self.path);
        let mut out = Loaded::default();
        let mut stmt = self
            .conn
            .prepare("SELECT metric, labels, value FROM series")
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        while let Some(row) = rows.next().map_err(err)? {
            let (metric, labels, value): (String, String, String) = (
                row.get(0).map_err(err)?,
                row.get(1).map_err(err)?,
                row.get(2).map_err(err)?,
            );
            let corrupt = |what: &str| StoreError::Corrupt {
                path: self.path.clone(),
                detail: format!("{what} in series {metric} {labels}"),
            };
            // A metric this build no longer exports is kept in the file but not loaded.
            let Some(m) = Metric::from_name(&metric) else {
                continue;
            };
            let labels: Vec<(String, String)> =
                serde_json::from_str(&labels).map_err(|_| corrupt("bad labels"))?;
            let value: Decimal = value.parse().map_err(|_| corrupt("bad value"))?;
            out.series.push((m, labels, value));
        }
        let mut stmt = self
            .conn
            .prepare("SELECT source, value FROM checkpoints")
            .map_err(err)?;
        out.checkpoints = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(err)?
            .collect::<Result<_, _>>()
            .map_err(err)?;
        Ok(out)
    }

    fn seen(&mut self, keys: &[DedupeKey]) -> Result<Vec<bool>, StoreError> {
        let err = |e| classify(e, &self.path);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM dedupe WHERE key = ?1")
            .map_err(err)?;
        keys.iter()
            .map(|k| stmt.exists(params![&k[..]]).map_err(err))
            .collect()
    }

    fn commit(&mut self, c: &Commit<'_>) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |e| classify(e, &path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        {
            let mut put = tx
                .prepare_cached("INSERT INTO series (metric, labels, value) VALUES (?1, ?2, ?3) ON CONFLICT (metric, labels) DO UPDATE SET value = excluded.value")
                .map_err(err)?;
            for (key, value) in &c.series {
                put.execute(params![
                    key.metric.name(),
                    labels_json(key),
                    value.to_string()
                ])
                .map_err(err)?;
            }
            let mut del = tx
                .prepare_cached("DELETE FROM series WHERE metric = ?1 AND labels = ?2")
                .map_err(err)?;
            for key in &c.removed {
                del.execute(params![key.metric.name(), labels_json(key)])
                    .map_err(err)?;
            }
            let mut key_stmt = tx
                .prepare_cached("INSERT OR IGNORE INTO dedupe (key, seen_at) VALUES (?1, ?2)")
                .map_err(err)?;
            for k in c.dedupe {
                key_stmt.execute(params![&k[..], c.now]).map_err(err)?;
            }
            let mut cp = tx
                .prepare_cached("INSERT INTO checkpoints (source, value) VALUES (?1, ?2) ON CONFLICT (source) DO UPDATE SET value = excluded.value")
                .map_err(err)?;
            for (source, value) in c.checkpoints {
                cp.execute(params![source, value]).map_err(err)?;
            }
            if let Some(before) = c.purge_before {
                tx.execute("DELETE FROM dedupe WHERE seen_at < ?1", params![before])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }
}

fn labels_json(key: &SeriesKey) -> String {
    let pairs: Vec<(&str, &str)> = key.labels.iter().map(|(a, b)| (&**a, &**b)).collect();
    serde_json::to_string(&pairs).expect("strings serialise")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Batch, Interner, Totals};

    fn commit_one(
        store: &mut SqliteStore,
        totals: &mut Totals,
        user: &str,
        keys: &[DedupeKey],
        now: i64,
    ) {
        let mut i = Interner::default();
        let mut b = Batch::new(totals, &mut i, 100);
        b.add(
            Metric::Cost,
            &[("user", user), ("model", "m")],
            "0.5".parse().unwrap(),
        );
        let series: Vec<_> = b
            .dirty
            .iter()
            .map(|k| (k, b.totals.get(k).unwrap()))
            .collect();
        let cps = [("file:/x".to_string(), "{\"offset\":10}".to_string())];
        store
            .commit(&Commit {
                series,
                removed: vec![],
                dedupe: keys,
                checkpoints: &cps,
                now,
                purge_before: Some(now - 100),
            })
            .unwrap();
        *totals = b.totals;
    }

    #[test]
    fn committed_batches_load_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let mut totals = Totals::default();
        {
            let mut s = SqliteStore::open(dir.path()).unwrap();
            commit_one(&mut s, &mut totals, "a", &[dedupe_key("req", b"1")], 1000);
            commit_one(&mut s, &mut totals, "a", &[dedupe_key("req", b"2")], 1000);
        }
        let mut s = SqliteStore::open(dir.path()).unwrap();
        let loaded = s.load().unwrap();
        assert_eq!(loaded.series.len(), 1);
        assert_eq!(loaded.series[0].2, "1.0".parse::<Decimal>().unwrap());
        assert_eq!(loaded.checkpoints["file:/x"], "{\"offset\":10}");
        assert_eq!(
            s.seen(&[dedupe_key("req", b"1"), dedupe_key("req", b"3")])
                .unwrap(),
            [true, false]
        );
    }

    #[test]
    fn expired_dedupe_keys_are_purged() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteStore::open(dir.path()).unwrap();
        let mut t = Totals::default();
        commit_one(&mut s, &mut t, "a", &[dedupe_key("req", b"old")], 1000);
        commit_one(&mut s, &mut t, "a", &[dedupe_key("req", b"new")], 1050);
        assert_eq!(
            s.seen(&[dedupe_key("req", b"old")]).unwrap(),
            [true],
            "inside the window"
        );
        commit_one(&mut s, &mut t, "a", &[], 1101);
        assert_eq!(
            s.seen(&[dedupe_key("req", b"old"), dedupe_key("req", b"new")])
                .unwrap(),
            [false, true]
        );
        assert_eq!(s.stats().unwrap().dedupe_keys, 1);
    }

    #[test]
    fn a_second_process_cannot_open_the_same_directory() {
        let dir = tempfile::tempdir().unwrap();
        let _first = SqliteStore::open(dir.path()).unwrap();
        assert!(matches!(
            SqliteStore::open(dir.path()),
            Err(StoreError::Locked(_))
        ));
    }

    #[test]
    fn a_corrupt_store_is_refused_not_reset() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(DB_FILE),
            b"this is not a sqlite file, it is garbage of some length........",
        )
        .unwrap();
        let err = SqliteStore::open(dir.path()).err().expect("refused");
        assert_eq!(err.kind(), "corrupt", "{err}");
        assert!(err.to_string().contains("--reset-state"), "{err}");
        let kept = reset(dir.path(), 42).unwrap().unwrap();
        assert!(kept.ends_with("state.db.reset-42"));
        SqliteStore::open(dir.path()).unwrap();
    }

    #[test]
    fn a_full_disk_is_reported_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteStore::open(dir.path()).unwrap();
        let page_count: i64 = s
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        s.conn
            .pragma_update(None, "max_page_count", page_count)
            .unwrap();
        let keys: Vec<DedupeKey> = (0..5000u32)
            .map(|n| dedupe_key("req", &n.to_be_bytes()))
            .collect();
        let err = s
            .commit(&Commit {
                series: vec![],
                removed: vec![],
                dedupe: &keys,
                checkpoints: &[],
                now: 1,
                purge_before: None,
            })
            .unwrap_err();
        assert_eq!(err.kind(), "disk_full", "{err}");
        // nothing of the failed batch was kept
        assert_eq!(s.seen(&keys[..1]).unwrap(), [false]);
    }
}
