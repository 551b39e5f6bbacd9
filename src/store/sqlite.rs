//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL` (a committed batch
//! survives power loss, so a Firehose 200 or a checkpoint is never ahead of the totals).
//! Chosen because it is one file, needs no server, reports a full disk as its own error code
//! and ships its own integrity check.
//!
//! Layout (schema 3), shaped so a batch costs a handful of row writes whatever its size:
//! - `journal`: one row per batch: the series it created (metric and labels, written once),
//!   the series it deleted, and the new value of every series it changed;
//! - `defs` and `chunk`: series definitions and values by id, 1,024 ids per row; the journal
//!   is folded into them (only the rows it touched) once it passes [`FOLD_BYTES`], so loading
//!   replays at most that much;
//! - `dedupe`: one row per batch holding all its dedupe keys, deleted by age; the keys of
//!   the window are held in memory, so looking one up never touches the disk;
//! - `checkpoints`, `meta`;
//! - the daily totals by UTC day and their journal (schema 3, see `daily.rs`).

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use rustc_hash::FxHashSet;

use super::codec::{self, CHUNK};
use super::daily::{self, Failed};
use super::{classify, AllSeries, Commit, DedupeKey, SeriesRow, Stats, Store, StoreError};
use crate::daily::DailyTotals;
use crate::ledger::Metric;

/// Bump when the table layout changes; an older daemon refuses a newer store.
pub const SCHEMA_VERSION: i64 = 3;
/// The first schema with daily totals.
const DAILY_SINCE: i64 = 3;
pub const DB_FILE: &str = "state.db";
const LOCK_FILE: &str = "lock";
/// Journal bytes past which a commit also folds the journal into the value chunks.
const FOLD_BYTES: usize = 32 << 20;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS defs (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS chunk (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY, created BLOB NOT NULL, removed BLOB NOT NULL, vals BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS dedupe (batch INTEGER PRIMARY KEY, seen_at INTEGER NOT NULL, keys BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS dedupe_seen_at ON dedupe (seen_at);
CREATE TABLE IF NOT EXISTS checkpoints (source TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
";

/// The layout of this schema version.
pub fn schema() -> &'static str {
    SCHEMA
}

pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    _lock: Option<File>,
    /// Dedupe keys inside the window; `None` until first needed.
    keys: Option<FxHashSet<DedupeKey>>,
    journal_bytes: usize,
    /// Value chunks and definition chunks the journal has touched since the last fold.
    dirty_chunks: BTreeSet<usize>,
    dirty_defs: BTreeSet<usize>,
    daily_journal_bytes: usize,
}

/// Where a loaded series' definition lies: in which blob, at which bytes.
struct DefAt {
    metric: Metric,
    blob: u32,
    start: u32,
    end: u32,
}

/// Everything stored about the series, read back: definitions, values by id.
#[derive(Default)]
struct Image {
    blobs: Vec<Vec<u8>>,
    defs: Vec<Option<DefAt>>,
    values: Vec<i128>,
}

impl Image {
    /// Takes in a blob of definitions; `on_id` sees each id it defines.
    fn add_defs(&mut self, blob: Vec<u8>, mut on_id: impl FnMut(u32)) -> Option<()> {
        let b = self.blobs.len() as u32;
        let base = blob.as_ptr() as usize;
        for def in codec::decode_defs(&blob) {
            let (id, metric, labels) = def?;
            on_id(id);
            let id = id as usize;
            if self.defs.len() <= id {
                self.defs.resize_with(id + 1, || None);
            }
            let start = (labels.as_ptr() as usize - base) as u32;
            // A metric this build no longer exports is kept in the file but not loaded.
            self.defs[id] = Metric::from_name(metric).map(|metric| DefAt {
                metric,
                blob: b,
                start,
                end: start + labels.len() as u32,
            });
        }
        self.blobs.push(blob);
        Some(())
    }

    fn ids(&self) -> usize {
        self.defs.len().max(self.values.len())
    }

    fn set_value(&mut self, id: u32, v: i128) {
        let id = id as usize;
        if self.values.len() <= id {
            self.values.resize(id + 1, 0);
        }
        self.values[id] = v;
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir`. Refuses a corrupt or newer store and a
    /// directory another process holds; migrates an older layout in one transaction.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Io(format!(
                "cannot create state directory {}: {e}",
                dir.display()
            ))
        })?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::create(&lock_path)
            .map_err(|e| StoreError::Io(format!("cannot create {}: {e}", lock_path.display())))?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Locked(dir.to_path_buf()));
        }
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|e| classify(e, &path))?;
        let mut store = SqliteStore::new(conn, path, Some(lock));
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

    /// A store that lives in memory only: totals do not survive a restart (`--in-memory`).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|e| classify(e, &path))?;
        let mut store = SqliteStore::new(conn, path, None);
        store.init()?;
        Ok(store)
    }

    fn new(conn: Connection, path: PathBuf, lock: Option<File>) -> SqliteStore {
        SqliteStore {
            conn,
            path,
            _lock: lock,
            keys: None,
            journal_bytes: 0,
            dirty_chunks: BTreeSet::new(),
            dirty_defs: BTreeSet::new(),
            daily_journal_bytes: 0,
        }
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |e| classify(e, &self.path)
    }

    fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            detail: detail.into(),
        }
    }

    fn init(&mut self) -> Result<(), StoreError> {
        let err = |e| classify(e, &self.path);
        let c = &self.conn;
        c.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        // FULL: a committed batch survives power loss, not just a process crash.
        c.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        c.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        let check: String = c
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(err)?;
        if check != "ok" {
            return Err(self.corrupt(check));
        }
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",
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
        let version = match version.map(|v| v.parse::<i64>()) {
            None => None,
            Some(Ok(v)) if v <= SCHEMA_VERSION => Some(v),
            Some(Ok(found)) => {
                return Err(StoreError::TooNew {
                    path: self.path.clone(),
                    found,
                    knows: SCHEMA_VERSION,
                })
            }
            Some(Err(_)) => return Err(self.corrupt("bad schema_version")),
        };
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(err)?;
        if version == Some(1) {
            super::migrate::from_v1(&tx, &path)?;
        }
        if version.is_some_and(|v| v < DAILY_SINCE) {
            super::migrate::from_v2(&tx, &path)?;
        }
        tx.execute_batch(schema()).map_err(|e| classify(e, &path))?;
        tx.execute_batch(daily::SCHEMA)
            .map_err(|e| classify(e, &path))?;
        if version != Some(SCHEMA_VERSION) {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![SCHEMA_VERSION.to_string()],
            )
            .map_err(|e| classify(e, &path))?;
        }
        tx.commit().map_err(|e| classify(e, &path))?;
        self.journal_bytes = self
            .conn
            .query_row(
                "SELECT COALESCE(SUM(LENGTH(created) + LENGTH(vals)), 0) FROM journal",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(self.err())? as usize;
        self.daily_journal_bytes = self
            .conn
            .query_row(
                "SELECT COALESCE(SUM(LENGTH(data)), 0) FROM daily_journal",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(self.err())? as usize;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads every definition and value: the folded chunks, then the journal replayed over
    /// them. Also notes which chunks the journal touched (the next fold rewrites them).
    fn image(&mut self) -> Result<Image, StoreError> {
        let path = self.path.clone();
        let err = |e| classify(e, &path);
        let corrupt = |what: &str| StoreError::Corrupt {
            path: path.clone(),
            detail: what.to_string(),
        };
        let blob = |row: &rusqlite::Row<'_>, i: usize| -> Result<Vec<u8>, StoreError> {
            Ok(row
                .get_ref(i)
                .map_err(err)?
                .as_blob()
                .unwrap_or_default()
                .to_vec())
        };
        let mut img = Image::default();
        self.each_row("SELECT data FROM defs ORDER BY id", |row| {
            img.add_defs(blob(row, 0)?, |_| {})
                .ok_or_else(|| corrupt("a malformed series definition"))
        })?;
        self.each_row("SELECT id, data FROM chunk ORDER BY id", |row| {
            let chunk: i64 = row.get(0).map_err(err)?;
            let data = blob(row, 1)?;
            let from = chunk as usize * CHUNK;
            img.values
                .resize(img.values.len().max(from + data.len() / 16), 0);
            for (i, v) in codec::decode_chunk(&data).enumerate() {
                img.values[from + i] = v;
            }
            Ok(())
        })?;
        let (mut dirty, mut dirty_defs) = (BTreeSet::new(), BTreeSet::new());
        let journal = "SELECT created, removed, vals FROM journal ORDER BY seq";
        self.each_row(journal, |row| {
            img.add_defs(blob(row, 0)?, |id| {
                dirty_defs.insert(id as usize / CHUNK);
            })
            .ok_or_else(|| corrupt("a malformed journal row"))?;
            for id in codec::decode_ids(&blob(row, 1)?) {
                if let Some(d) = img.defs.get_mut(id as usize) {
                    *d = None;
                }
                dirty_defs.insert(id as usize / CHUNK);
            }
            let vals = blob(row, 2)?;
            let pairs = codec::decode_values(&vals)
                .ok_or_else(|| corrupt("a journal row of the wrong length"))?;
            for (id, v) in pairs {
                img.set_value(id, v);
                dirty.insert(id as usize / CHUNK);
            }
            Ok(())
        })?;
        self.dirty_chunks = dirty;
        self.dirty_defs = dirty_defs;
        Ok(img)
    }

    /// Calls `f` on every row of a query, in order.
    fn each_row(
        &self,
        sql: &str,
        mut f: impl FnMut(&rusqlite::Row<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let err = |e| classify(e, &self.path);
        let mut stmt = self.conn.prepare(sql).map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        while let Some(row) = rows.next().map_err(err)? {
            f(row)?;
        }
        Ok(())
    }

    fn load_keys(&self, keys: &mut FxHashSet<DedupeKey>) -> Result<(), StoreError> {
        keys.clear();
        self.each_row("SELECT keys FROM dedupe", |row| {
            let blob = row.get_ref(0).map_err(|e| classify(e, &self.path))?;
            keys.extend(codec::decode_keys(blob.as_blob().unwrap_or_default()));
            Ok(())
        })
    }

    fn keys(&mut self) -> Result<&mut FxHashSet<DedupeKey>, StoreError> {
        if self.keys.is_none() {
            let mut keys = FxHashSet::default();
            self.load_keys(&mut keys)?;
            self.keys = Some(keys);
        }
        Ok(self.keys.as_mut().expect("just loaded"))
    }

    pub fn stats(&mut self) -> Result<Stats, StoreError> {
        let mut by_metric: std::collections::BTreeMap<&'static str, u64> = Default::default();
        for d in self.image()?.defs.iter().flatten() {
            *by_metric.entry(d.metric.name()).or_default() += 1;
        }
        let series_by_metric = by_metric
            .into_iter()
            .map(|(m, n)| (m.to_string(), n))
            .collect();
        let err = |e| classify(e, &self.path);
        let (dedupe_keys, oldest): (u64, Option<i64>) = self
            .conn
            .query_row(
                "SELECT COALESCE(SUM(LENGTH(keys)), 0) / 16, MIN(seen_at) FROM dedupe",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(err)?;
        let checkpoints = self.checkpoints()?.into_iter().collect();
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

    /// Deletes expired dedupe keys, folds the journals into the chunks and the daily tables,
    /// and rewrites the file to its minimum size. Returns how many dedupe keys were deleted.
    pub fn compact(&mut self, purge_before: i64) -> Result<u64, StoreError> {
        let img = self.image()?;
        let path = self.path.clone();
        let err = |e| classify(e, &path);
        let tx = self.conn.transaction().map_err(err)?;
        let n: i64 = tx
            .query_row(
                "SELECT COALESCE(SUM(LENGTH(keys)), 0) / 16 FROM dedupe WHERE seen_at < ?1",
                params![purge_before],
                |r| r.get(0),
            )
            .map_err(err)?;
        tx.execute(
            "DELETE FROM dedupe WHERE seen_at < ?1",
            params![purge_before],
        )
        .map_err(err)?;
        let chunks: BTreeSet<usize> = (0..img.ids().div_ceil(CHUNK)).collect();
        write_chunks(&tx, &img, chunks.clone(), chunks).map_err(err)?;
        daily::fold(&tx).map_err(|f| failed(f, &path))?;
        tx.commit().map_err(err)?;
        self.journal_bytes = 0;
        self.daily_journal_bytes = 0;
        self.dirty_chunks.clear();
        self.dirty_defs.clear();
        self.keys = None;
        self.conn
            .execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(err)?;
        Ok(n as u64)
    }

    /// Every dedupe key of the window and when its batch was committed (unix seconds): what
    /// `state copy` carries over.
    pub fn dedupe_keys(&self) -> Result<Vec<(DedupeKey, i64)>, StoreError> {
        let mut out = Vec::new();
        self.each_row("SELECT seen_at, keys FROM dedupe ORDER BY batch", |row| {
            let err = |e| classify(e, &self.path);
            let at: i64 = row.get(0).map_err(err)?;
            let blob = row.get_ref(1).map_err(err)?;
            out.extend(codec::decode_keys(blob.as_blob().unwrap_or_default()).map(|k| (k, at)));
            Ok(())
        })?;
        Ok(out)
    }

    /// Every source's checkpoint, by source.
    fn checkpoints(&self) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        let err = |e| classify(e, &self.path);
        let mut stmt = self
            .conn
            .prepare("SELECT source, value FROM checkpoints")
            .map_err(err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    #[cfg(test)]
    pub(super) fn conn(&self) -> &Connection {
        &self.conn
    }
}

fn failed(f: Failed, path: &Path) -> StoreError {
    match f {
        Failed::Sql(e) => classify(e, path),
        Failed::Corrupt(detail) => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail,
        },
    }
}

/// The daily totals of the days in `[since, until]` (inclusive, `YYYY-MM-DD`, UTC; `None`:
/// unbounded) stored in `state_dir`. Opens the file read-only and takes no lock, so it runs
/// beside the daemon: SQLite's WAL gives it every batch committed so far, in one consistent
/// snapshot. A store from before schema 3 holds no daily totals: empty.
pub fn read_daily(
    state_dir: &Path,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<DailyTotals, StoreError> {
    let path = state_dir.join(DB_FILE);
    let err = |e| classify(e, &path);
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(&path, flags).map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(err)?;
    let tx = conn.transaction().map_err(err)?;
    let version: Option<String> = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?;
    match version.and_then(|v| v.parse::<i64>().ok()) {
        Some(found) if found > SCHEMA_VERSION => {
            return Err(StoreError::TooNew {
                path,
                found,
                knows: SCHEMA_VERSION,
            })
        }
        Some(v) if v >= DAILY_SINCE => {}
        Some(_) => return Ok(DailyTotals::default()),
        None => {
            return Err(StoreError::Corrupt {
                path,
                detail: "no schema version".into(),
            })
        }
    }
    daily::read(&tx, since, until).map_err(|f| failed(f, &path))
}

impl AllSeries for Image {
    fn ids(&self) -> usize {
        Image::ids(self)
    }
    fn value(&self, id: u32) -> i128 {
        self.values.get(id as usize).copied().unwrap_or(0)
    }
    fn definition(&self, id: u32) -> Option<(&'static str, Vec<u8>)> {
        let d = self.defs.get(id as usize)?.as_ref()?;
        let blob = &self.blobs[d.blob as usize][d.start as usize..d.end as usize];
        Some((d.metric.name(), blob.to_vec()))
    }
}

/// Writes the given definition and value chunks and empties the journal.
fn write_chunks(
    tx: &rusqlite::Transaction<'_>,
    all: &dyn AllSeries,
    def_chunks: BTreeSet<usize>,
    value_chunks: BTreeSet<usize>,
) -> rusqlite::Result<()> {
    let ids = all.ids();
    let mut put = tx.prepare_cached(
        "INSERT INTO defs (id, data) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET data = excluded.data",
    )?;
    for c in def_chunks {
        let mut data = Vec::new();
        for id in c * CHUNK..((c + 1) * CHUNK).min(ids) {
            if let Some((metric, labels)) = all.definition(id as u32) {
                codec::encode_def_raw(&mut data, id as u32, metric, &labels);
            }
        }
        put.execute(params![c as i64, data])?;
    }
    let mut put = tx.prepare_cached(
        "INSERT INTO chunk (id, data) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET data = excluded.data",
    )?;
    for c in value_chunks {
        put.execute(params![
            c as i64,
            codec::encode_chunk(ids, |i| all.value(i), c)
        ])?;
    }
    tx.execute("DELETE FROM journal", [])?;
    Ok(())
}

impl Store for SqliteStore {
    fn load(
        &mut self,
        sink: &mut dyn FnMut(SeriesRow<'_>),
    ) -> Result<HashMap<String, String>, StoreError> {
        let img = self.image()?;
        let mut labels = Vec::with_capacity(crate::ledger::MAX_LABELS);
        for (id, d) in img.defs.iter().enumerate() {
            let Some(d) = d else { continue };
            let blob = &img.blobs[d.blob as usize][d.start as usize..d.end as usize];
            if codec::decode_labels(blob, &mut labels).is_none() {
                return Err(
                    self.corrupt(format!("bad labels in series {id} of {}", d.metric.name()))
                );
            }
            sink(SeriesRow {
                id: id as u32,
                metric: d.metric,
                labels: &labels,
                value: img.values.get(id).copied().unwrap_or(0),
            });
        }
        Ok(self.checkpoints()?.into_iter().collect())
    }

    fn seen(&mut self, keys: &[DedupeKey]) -> Result<Vec<bool>, StoreError> {
        let set = self.keys()?;
        Ok(keys.iter().map(|k| set.contains(k)).collect())
    }

    fn commit(&mut self, c: &Commit<'_>) -> Result<(), StoreError> {
        self.keys()?;
        let path = self.path.clone();
        let err = |e| classify(e, &path);
        let mut created = Vec::new();
        for s in &c.created {
            codec::encode_def(&mut created, s.id, s.metric.name(), &s.labels);
        }
        let removed = codec::encode_ids(c.removed);
        let vals = codec::encode_values(c.values);
        let mut dirty = self.dirty_chunks.clone();
        dirty.extend(c.values.iter().map(|(id, _)| *id as usize / CHUNK));
        let mut dirty_defs = self.dirty_defs.clone();
        dirty_defs.extend(c.created.iter().map(|s| s.id as usize / CHUNK));
        dirty_defs.extend(c.removed.iter().map(|id| *id as usize / CHUNK));
        let bytes = created.len() + vals.len();
        let fold_now = self.journal_bytes + bytes > FOLD_BYTES;
        let daily_row = match c.daily.is_empty() {
            true => None,
            false => Some(daily::encode(c.daily)),
        };
        let daily_bytes = self.daily_journal_bytes + daily_row.as_ref().map_or(0, Vec::len);
        let fold_daily = c.daily_before.is_some() || daily_bytes > daily::FOLD_BYTES;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        if fold_now {
            let (defs, values) = (std::mem::take(&mut dirty_defs), std::mem::take(&mut dirty));
            write_chunks(&tx, c.all, defs, values).map_err(err)?;
        } else if bytes + removed.len() > 0 {
            tx.prepare_cached("INSERT INTO journal (created, removed, vals) VALUES (?1, ?2, ?3)")
                .map_err(err)?
                .execute(params![created, removed, vals])
                .map_err(err)?;
        }
        if !c.dedupe.is_empty() {
            tx.prepare_cached("INSERT INTO dedupe (seen_at, keys) VALUES (?1, ?2)")
                .map_err(err)?
                .execute(params![c.now, codec::encode_keys(c.dedupe)])
                .map_err(err)?;
        }
        {
            let mut cp = tx
                .prepare_cached("INSERT INTO checkpoints (source, value) VALUES (?1, ?2) ON CONFLICT (source) DO UPDATE SET value = excluded.value")
                .map_err(err)?;
            for (source, value) in c.checkpoints {
                cp.execute(params![source, value]).map_err(err)?;
            }
            let mut drop = tx
                .prepare_cached("DELETE FROM checkpoints WHERE source = ?1")
                .map_err(err)?;
            for source in c.drop_checkpoints {
                drop.execute(params![source]).map_err(err)?;
            }
        }
        if let Some(before) = c.purge_before {
            tx.execute("DELETE FROM dedupe WHERE seen_at < ?1", params![before])
                .map_err(err)?;
        }
        if let Some(row) = &daily_row {
            tx.prepare_cached("INSERT INTO daily_journal (data) VALUES (?1)")
                .map_err(err)?
                .execute([row])
                .map_err(err)?;
        }
        if fold_daily {
            daily::fold(&tx).map_err(|f| failed(f, &path))?;
        }
        if let Some(day) = c.daily_before {
            daily::prune(&tx, day).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        self.journal_bytes = if fold_now {
            0
        } else {
            self.journal_bytes + bytes
        };
        self.daily_journal_bytes = if fold_daily { 0 } else { daily_bytes };
        self.dirty_chunks = dirty;
        self.dirty_defs = dirty_defs;
        if c.purge_before.is_some() {
            let mut keys = self.keys.take().unwrap_or_default();
            self.load_keys(&mut keys)?;
            self.keys = Some(keys);
        } else {
            self.keys()?.extend(c.dedupe.iter().copied());
        }
        Ok(())
    }
}
