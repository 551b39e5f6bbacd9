//! The shared store: a PostgreSQL database (`--store postgres://...`), for daemons that run
//! beside a database their team already operates, and shaped from the start for several
//! replicas writing one set of totals.
//!
//! Layout (schema [`PG_SCHEMA_VERSION`], created and migrated by the daemon, see `SCHEMA`
//! and `UPGRADES`):
//! - `series`: one row per series: its database id (`id`, drawn when a commit first stores
//!   the series' definition, with its first value), its definition (metric, encoded labels;
//!   stored once, under the commit lock, and found through a hash index on the labels, schema
//!   4) and its exact value as of its creation and the last fold (`numeric(39,0)`, in
//!   the metric's units, as the ledger's `i128`). A series' value is its row plus the
//!   unfolded journal rows, which this store's fold thread folds in beside the commits
//!   (`pg_fold.rs`). A commit that removes a series deletes its row, so a series created
//!   again with the same labels gets a new id and counts from zero;
//! - `journal` (schema 3, see `pg_journal.rs`): one row per commit holding the DELTA of each
//!   series the batch changed since this store last wrote or read it, by database id, and
//!   the ids it removed. Series are named by what they are in the database, not by this
//!   process's ledger ids, so replicas that count different requests into the same series
//!   add up instead of overwriting each other. One row per commit, not one upsert per series
//!   touched (issue 12);
//! - `dedupe`: one row per key, `INSERT ... ON CONFLICT DO NOTHING` inside the commit. A key
//!   another replica committed first makes the commit fail and roll back (the batch is not
//!   acknowledged; on its retry [`Store::seen`] knows the key): a unique key, not a
//!   read-then-write;
//! - `checkpoints`, `daily_usage`, `daily_principal` (the daily totals as SQLite keeps them,
//!   cost as an exact `numeric` of USD) and `daily_journal` (schema 5: one row per commit
//!   holding its batch's daily deltas, folded into those tables beside the commits; see
//!   `pg_daily.rs`), `meta` (the schema version);
//! - `leases` (schema 2): which replica may read a source that only one may read at a time,
//!   and its fence (see `lease.rs`). A batch read under a lease carries its fence, and the
//!   commit refuses it when the lease has moved on.
//!
//! Replicas (several daemons on one database):
//! - every commit takes the advisory lock [`COMMIT_LOCK`] as its first statement, so the
//!   commits of all replicas run one at a time. Journal ids are then drawn in commit order (a
//!   commit draws its id only after the one before it is committed and visible), so a reader
//!   that has read id `n` has read every committed row up to `n`, and [`Store::refresh`]'s
//!   `id > last` never misses a row another replica committed late. It also rules out
//!   deadlocks between replicas updating the same rows. Folds do not take it, and reads of
//!   the whole store (`load`, a resync) need not: they read `series` and the journal in one
//!   snapshot, which a fold is entirely in or not at all;
//! - [`Store::refresh`] reads the journal rows past the last one this store read (`load`
//!   records it too), skipping its own, adds each delta to the value it holds for the series
//!   (reading the definitions of ids it does not know, one statement) and hands the sum to
//!   the ledger: every replica shows the database's totals, not only what it counted. A
//!   refreshed value becomes the base of the series' next delta. Folded
//!   rows are kept [`JOURNAL_RETENTION`] for replicas that are behind; one whose last id is
//!   older than the rows deleted since reads the whole store again (a resync). The statement
//!   that reads the mark of those deletions also reads the age of the oldest unfolded row (no
//!   round trip of its own), which [`Store::folds`] hands on: it grows only while no replica
//!   folds;
//! - a dedupe key the database holds fails the commit with [`StoreError::Conflict`] (rolled
//!   back; processed again, the request is a duplicate): one another replica committed
//!   between `seen` and the commit, or any, when the pipeline skipped `seen` (it does unless
//!   a batch met a conflict in the last minutes: [`Store::refuses_taken_keys`]).
//!
//! Memory: per ledger series the store keeps its database id and the base of its next delta
//! (`written`), and a map from database id to ledger id; no labels (the ledger has them, and
//! a commit encodes those of the series it stores for the first time).
//!
//! The client is the synchronous `postgres` crate: it runs its own single-thread runtime, so
//! it must be created, used and dropped off the daemon's async threads (the pipeline runs on
//! a blocking thread; `app.rs` opens the store on one too). A lost connection fails the commit
//! (`Io`: nothing acknowledged, the batch is retried) and the next call connects again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use postgres::{Client, IsolationLevel, Transaction};
use rustc_hash::FxHashMap;

use super::daily::{Pending, ALL_DAYS};
use super::pg_daily;
use super::pg_fold::{Folder, Settings};
use super::pg_journal::{self, Entry};
use super::pg_tls;
use super::{
    Adopt, Adopted, Commit, DedupeKey, Folds, NewSeries, Prepared, SeriesRow, Stats, Store,
    StoreError,
};
use crate::daily::{self, DailyTotals};
use crate::ledger::Metric;
use crate::money::{self, USD_SCALE};
use crate::secret::Secret;

/// Bump when the table layout changes; an older daemon refuses a newer database.
pub const PG_SCHEMA_VERSION: i64 = 5;
/// Taken for the schema check and creation, so replicas starting together do not race on
/// `CREATE TABLE IF NOT EXISTS` (an arbitrary constant: "bce" in ASCII).
const SCHEMA_LOCK: i64 = 0x62_63_65;
/// Taken as the first statement of every commit: the commits of all replicas serialise, so
/// journal ids follow commit order (see the module doc). Distinct from [`SCHEMA_LOCK`].
pub(super) const COMMIT_LOCK: i64 = 0x62_63_65_63;
/// How long a connection attempt may take before the commit fails (and is retried).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long sent data may go unacknowledged before the connection counts as lost.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) const SCHEMA: &str = "
CREATE SEQUENCE IF NOT EXISTS series_version;
CREATE TABLE IF NOT EXISTS series (metric text NOT NULL, labels bytea NOT NULL, value numeric(39,0) NOT NULL, version bigint NOT NULL DEFAULT nextval('series_version'), PRIMARY KEY (metric, labels)) WITH (fillfactor = 80);
CREATE INDEX IF NOT EXISTS series_by_version ON series (version);
CREATE TABLE IF NOT EXISTS dedupe (key bytea PRIMARY KEY, first_seen bigint NOT NULL);
CREATE INDEX IF NOT EXISTS dedupe_by_first_seen ON dedupe (first_seen);
CREATE TABLE IF NOT EXISTS checkpoints (source text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS daily_usage (day text NOT NULL, model text NOT NULL, region text NOT NULL, scope text NOT NULL, tier text NOT NULL, long_context boolean NOT NULL, token_type text NOT NULL, tokens bigint NOT NULL, cost_usd numeric NOT NULL, PRIMARY KEY (day, model, region, scope, tier, long_context, token_type));
CREATE TABLE IF NOT EXISTS daily_principal (day text NOT NULL, principal text NOT NULL, calls bigint NOT NULL, cost_usd numeric NOT NULL, PRIMARY KEY (day, principal));
";

/// `UPGRADES[n]` takes schema `n + 1` to `n + 2`; a new database gets `SCHEMA` (schema 1) and
/// then every upgrade, so both paths end in the same layout.
pub(super) const UPGRADES: [&str; 4] = [
    // 1 -> 2: the leases (nothing else changes).
    "CREATE TABLE IF NOT EXISTS leases (name text PRIMARY KEY, holder text NOT NULL, fence bigint NOT NULL, expires_at timestamptz NOT NULL);",
    // 2 -> 3: the journal, and a database id per series (journal rows name series by it).
    // Like the others, it may run again on its own result, or on a later one (the id is
    // added once).
    // `series` keeps its values (they become the folded values, the journal starts empty)
    // and loses `version`: with no index on a column every update changes, and room left in
    // its pages, a fold's updates can be HOT. A row's deltas are varints that compress
    // little: stored as they are, without pglz on the server's CPU.
    "CREATE SEQUENCE IF NOT EXISTS journal_id;
     CREATE TABLE IF NOT EXISTS journal (id bigint PRIMARY KEY DEFAULT nextval('journal_id'), writer text NOT NULL, deltas bytea NOT NULL, removed bigint[], folded boolean NOT NULL DEFAULT false, at timestamptz NOT NULL DEFAULT clock_timestamp());
     ALTER TABLE journal ALTER COLUMN deltas SET STORAGE EXTERNAL;
     CREATE INDEX IF NOT EXISTS journal_unfolded ON journal (id) WHERE NOT folded;
     DROP INDEX IF EXISTS series_by_version;
     ALTER TABLE series DROP COLUMN IF EXISTS version;
     DROP SEQUENCE IF EXISTS series_version;
     DO $$ BEGIN
       IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'series'::regclass AND attname = 'id' AND NOT attisdropped) THEN
         ALTER TABLE series DROP CONSTRAINT series_pkey;
         ALTER TABLE series ADD COLUMN id bigint GENERATED BY DEFAULT AS IDENTITY;
         ALTER TABLE series ADD PRIMARY KEY (id);
         ALTER TABLE series ADD CONSTRAINT series_definition UNIQUE (metric, labels);
       END IF;
     END $$;
     ALTER TABLE series SET (fillfactor = 80);",
    // 3 -> 4: a series' definition is found through a hash index on its labels instead of
    // the unique B-tree on (metric, labels), whose wide entries made storing a new series
    // (a heap row and two B-tree inserts, after a probe) the largest cost of a commit (issue
    // 12). The index is only an access path: a probe compares metric and labels themselves,
    // so two definitions whose labels hash alike stay two series. That a definition is
    // stored once rests on the commit lock, under which `pg_journal::define` stores only what
    // its probe does not find, and on `import` taking the same lock. No row changes.
    "ALTER TABLE series DROP CONSTRAINT IF EXISTS series_definition;
     CREATE INDEX IF NOT EXISTS series_by_labels ON series USING hash (labels);",
    // 4 -> 5: the daily totals' journal (see `pg_daily.rs`): a commit writes one row instead
    // of upserting a row per (day, principal), which was the largest statement of a commit
    // once the series existed (issue 12). A table of its own, not a column of `journal`:
    // replicas of schema 4 still running in a rolling upgrade mark `journal` rows folded
    // without knowing of it, and would drop what a column held. Stored as it is (front-coded
    // text and varints; pglz would cost the server's CPU in the commit).
    "CREATE TABLE IF NOT EXISTS daily_journal (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, data bytea NOT NULL);
     ALTER TABLE daily_journal ALTER COLUMN data SET STORAGE EXTERNAL;",
];

/// How full `series`' pages are filled ([`set_series_fillfactor`]).
const SERIES_FILLFACTOR: u32 = 45;

/// Gives `series` pages with room for a new version of every row they hold: a fold updates
/// close to every row of a busy store's table in one transaction, and with room on the page
/// the update is HOT (no index entries, a third of the WAL, about half the fold's time in
/// issue 12's measure); at 80, most updates went to another page. A storage setting, not a
/// schema change (builds that know nothing of it read and write the table as before), so it
/// is set where it differs rather than by an upgrade. It applies to pages written from then
/// on; `VACUUM FULL series` applies it to the rest at once. A role that does not own the
/// table cannot set it: the store works as before, and the start says what to run.
fn set_series_fillfactor(tx: &mut Transaction<'_>) -> Result<(), Failed> {
    let want = format!("fillfactor={SERIES_FILLFACTOR}");
    let set: bool = tx
        .query_one(
            "SELECT coalesce($1 = ANY(reloptions), false) FROM pg_class WHERE oid = 'series'::regclass",
            &[&want],
        )?
        .get(0);
    if set {
        return Ok(());
    }
    let alter = format!("ALTER TABLE series SET (fillfactor = {SERIES_FILLFACTOR})");
    // In a savepoint: a refusal must not abort the transaction that checked the schema.
    let mut sp = tx.transaction()?;
    match sp.batch_execute(&alter) {
        Ok(()) => sp.commit()?,
        Err(e) if e.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) => {
            drop(sp);
            tracing::warn!(
                "this role does not own the table series, so it cannot give it room for the folds' updates (slower folds); the table's owner can run: {alter}"
            );
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Unfolded journal rows that make a fold due (see `pg_fold.rs`).
const FOLD_EVERY: i64 = 64;
/// The age of the oldest unfolded row that makes a fold due: a store that commits little
/// still folds, so whole-store reads stay short.
const FOLD_AFTER: Duration = Duration::from_secs(10);
/// How long folded journal rows are kept for replicas that are behind.
const JOURNAL_RETENTION: Duration = Duration::from_secs(600);

pub struct PgStore {
    config: postgres::Config,
    /// The URL as given (it never holds the password), for messages.
    url: String,
    client: Option<Client>,
    /// What this store last wrote or loaded for each ledger id: the series' database id and
    /// the base of its next delta.
    written: Vec<Option<Written>>,
    /// The ledger id of each database id in `written`: journal rows name series by the latter.
    by_db: FxHashMap<i64, u32>,
    /// The highest journal id this store has read (by `load` or `refresh`): the next refresh
    /// reads the rows past it.
    last: i64,
    /// This store's name in the journal's `writer` column: its own rows are already in its
    /// ledger, `refresh` skips them. Unique per open store.
    writer: String,
    fold: Settings,
    /// The fold thread, started by the first commit or refresh (see [`PgStore::folder`]).
    folder: Option<Folder>,
    /// What the last successful refresh read of the unfolded journal (see [`Folds`]).
    unfolded_age: Option<f64>,
}

struct Written {
    db: i64,
    value: i128,
}

/// A name for this store's journal rows, distinct from every other store open on the
/// database (another process, or another store of this one).
fn writer_name() -> String {
    format!("{}:{:08x}", super::lease::holder_id(), fastrand::u32(..))
}

/// Why a URL cannot be used, found without connecting (config validation lists these).
pub fn check_url(url: &str) -> Result<(), String> {
    let (rest, tls) = pg_tls::split(url)?;
    let config: postgres::Config = rest.parse().map_err(|e| {
        format!("{url:?} is not a PostgreSQL URL like postgres://user@host:5432/db ({e})")
    })?;
    tls.check()?;
    if config.get_password().is_some() {
        return Err(
            "the URL holds a password; give it in a file (--store-password-file) or BEDROCK_COST_STORE_PASSWORD instead"
                .into(),
        );
    }
    Ok(())
}

impl PgStore {
    /// Connects, creates the schema in an empty database and refuses a newer one. Call it off
    /// the async threads (see the module doc).
    pub fn open(url: &str, password: Option<&Secret<String>>) -> Result<PgStore, StoreError> {
        check_url(url).map_err(StoreError::Io)?;
        let mut store = PgStore::open_only(url, password)?;
        store.init()?;
        Ok(store)
    }

    /// The store's settings, not connected yet.
    fn open_only(url: &str, password: Option<&Secret<String>>) -> Result<PgStore, StoreError> {
        Ok(PgStore {
            config: client_config(url, password)?,
            url: url.to_string(),
            client: None,
            written: Vec::new(),
            by_db: FxHashMap::default(),
            last: 0,
            writer: writer_name(),
            fold: Settings {
                every: FOLD_EVERY,
                after: Some(FOLD_AFTER),
                retention: JOURNAL_RETENTION,
            },
            folder: None,
            unfolded_age: None,
        })
    }

    /// As [`PgStore::open`], refusing a database that holds no store (`state` commands: a
    /// mistyped URL must not become a new, empty store).
    pub fn open_existing(
        url: &str,
        password: Option<&Secret<String>>,
    ) -> Result<PgStore, StoreError> {
        check_url(url).map_err(StoreError::Io)?;
        let mut store = PgStore::open_only(url, password)?;
        let held = store.in_tx(|tx| {
            let meta: Option<String> = tx
                .query_one("SELECT to_regclass('meta')::text", &[])?
                .get(0);
            Ok(meta.is_some())
        })?;
        if !held {
            return Err(StoreError::Io(format!(
                "there is no bedrock-cost-exporter store in the database {url}; check --store"
            )));
        }
        store.init()?;
        Ok(store)
    }

    /// Every dedupe key and when it was first seen (`state copy` checks its copy with them).
    pub fn dedupe_keys(&mut self) -> Result<Vec<(DedupeKey, i64)>, StoreError> {
        let rows = self.in_tx(|tx| Ok(tx.query("SELECT key, first_seen FROM dedupe", &[])?))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let key: &[u8] = r.get(0);
            let key = key
                .try_into()
                .map_err(|_| self.corrupt("a dedupe key that is not 16 bytes"))?;
            out.push((key, r.get(1)));
        }
        Ok(out)
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(&self.url)
    }

    fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        corrupt_at(&self.url, detail)
    }

    fn client(&mut self) -> Result<&mut Client, StoreError> {
        connected(&mut self.client, &self.config, &self.url)
    }

    /// Runs `f` in one transaction. On a failure without a server error (the connection is
    /// gone) the client is dropped, so the next call connects again.
    fn in_tx<T>(
        &mut self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, Failed>,
    ) -> Result<T, StoreError> {
        self.run_tx(IsolationLevel::ReadCommitted, f)
    }

    /// As [`PgStore::in_tx`], every statement reading the same snapshot of the database: a
    /// fold is either entirely visible to them or not at all, so `series` and the unfolded
    /// journal add up without holding any lock (see `pg_fold.rs`).
    fn in_snapshot<T>(
        &mut self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, Failed>,
    ) -> Result<T, StoreError> {
        self.run_tx(IsolationLevel::RepeatableRead, f)
    }

    fn run_tx<T>(
        &mut self,
        isolation: IsolationLevel,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, Failed>,
    ) -> Result<T, StoreError> {
        let url = self.url.clone();
        let done = (|| {
            let client = self.client().map_err(Failed::Store)?;
            let mut tx = client
                .build_transaction()
                .isolation_level(isolation)
                .start()?;
            let t = f(&mut tx)?;
            tx.commit()?;
            Ok(t)
        })();
        match done {
            Ok(t) => Ok(t),
            Err(Failed::Store(e)) => Err(e),
            Err(Failed::Pg(e)) => {
                if e.code().is_none() {
                    self.client = None;
                }
                Err(classify(&e, &url))
            }
        }
    }

    fn init(&mut self) -> Result<(), StoreError> {
        let url = self.url.clone();
        let found = self.in_tx(|tx| {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL)",
            )?;
            let row = tx.query_opt("SELECT value FROM meta WHERE key = 'schema_version'", &[])?;
            let version = match row.map(|r| r.get::<_, String>(0)) {
                None => None,
                Some(v) => match v.parse::<i64>() {
                    Ok(v) => Some(v),
                    Err(_) => {
                        return Err(Failed::Store(StoreError::Corrupt {
                            path: PathBuf::from(&url),
                            detail: format!("bad schema_version {v:?}"),
                        }))
                    }
                },
            };
            let from = match version {
                Some(found) if found > PG_SCHEMA_VERSION => return Ok(Some(found)),
                Some(found) if found < 1 => {
                    return Err(Failed::Store(StoreError::Corrupt {
                        path: PathBuf::from(&url),
                        detail: format!("bad schema_version {found}"),
                    }))
                }
                Some(found) => found,
                None => {
                    tx.batch_execute(SCHEMA)?;
                    tx.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', '1')",
                        &[],
                    )?;
                    1
                }
            };
            // An older database is upgraded in place, in this transaction: all or nothing.
            if from < PG_SCHEMA_VERSION {
                for upgrade in &UPGRADES[(from - 1) as usize..] {
                    tx.batch_execute(upgrade)?;
                }
                tx.execute(
                    "UPDATE meta SET value = $1 WHERE key = 'schema_version'",
                    &[&PG_SCHEMA_VERSION.to_string()],
                )?;
            }
            set_series_fillfactor(tx)?;
            Ok(None)
        })?;
        match found {
            Some(found) => Err(StoreError::TooNew {
                path: self.path(),
                found,
                knows: PG_SCHEMA_VERSION,
            }),
            None => Ok(()),
        }
    }

    /// What `state show` prints.
    pub fn stats(&mut self) -> Result<Stats, StoreError> {
        let (bytes, by_metric, keys, oldest, cps) = self.in_tx(|tx| {
            let bytes: i64 = tx
                .query_one("SELECT pg_database_size(current_database())", &[])?
                .get(0);
            // Every live series has its row (a commit stores a new series' definition, and
            // deletes the row of one it removes): the journal adds values, not series.
            let by_metric: Vec<(String, u64)> = tx
                .query(
                    "SELECT metric, count(*) FROM series GROUP BY metric ORDER BY metric",
                    &[],
                )?
                .iter()
                .map(|r| (r.get(0), r.get::<_, i64>(1).max(0) as u64))
                .collect();
            let row = tx.query_one("SELECT count(*), min(first_seen) FROM dedupe", &[])?;
            let (keys, oldest): (i64, Option<i64>) = (row.get(0), row.get(1));
            Ok((bytes, by_metric, keys, oldest, checkpoints(tx)?))
        })?;
        Ok(Stats {
            path: self.url.clone(),
            file_bytes: bytes.max(0) as u64,
            series_by_metric: by_metric,
            dedupe_keys: keys.max(0) as u64,
            oldest_dedupe_key: oldest.map(crate::timefmt::format_rfc3339),
            checkpoints: cps.into_iter().collect(),
        })
    }

    /// The daily totals of the days in `[since, until]` (inclusive, `YYYY-MM-DD`; `None`:
    /// unbounded), as [`super::read_daily`] reads them from SQLite.
    pub fn daily(
        &mut self,
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<DailyTotals, StoreError> {
        let url = self.url.clone();
        self.in_snapshot(|tx| pg_daily::read(tx, since, until, &url))
    }

    /// Writes a whole store's content into this empty database in one transaction (`state
    /// copy`); refuses a database that holds any series, key, checkpoint or daily total.
    pub fn import(&mut self, image: &Image) -> Result<(), StoreError> {
        let url = self.url.clone();
        self.in_tx(|tx| {
            // As a commit: nothing else stores series meanwhile (definitions are unique by
            // this lock, not by an index), and a second copy into the same database waits
            // for this one and then finds it not empty.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&COMMIT_LOCK])?;
            let held: i64 = tx
                .query_one(
                    "SELECT (SELECT count(*) FROM series) + (SELECT count(*) FROM journal) + (SELECT count(*) FROM dedupe) + (SELECT count(*) FROM checkpoints) + (SELECT count(*) FROM daily_usage) + (SELECT count(*) FROM daily_principal) + (SELECT count(*) FROM daily_journal)",
                    &[],
                )?
                .get(0);
            if held > 0 {
                return Err(Failed::Store(StoreError::Io(format!(
                    "the target database {url} is not empty ({held} rows of totals, keys, checkpoints or daily totals); copy into a new database"
                ))));
            }
            for part in image.series.chunks(ROWS_PER_STATEMENT) {
                let metrics: Vec<&str> = part.iter().map(|s| s.0).collect();
                let labels: Vec<&[u8]> = part.iter().map(|s| &s.1[..]).collect();
                let values: Vec<String> = part.iter().map(|s| s.2.to_string()).collect();
                tx.execute(
                    "INSERT INTO series (metric, labels, value) SELECT m, l, v::numeric FROM unnest($1::text[], $2::bytea[], $3::text[]) AS t(m, l, v)",
                    &[&metrics, &labels, &values],
                )?;
            }
            for part in image.keys.chunks(ROWS_PER_STATEMENT) {
                let keys: Vec<&[u8]> = part.iter().map(|k| &k.0[..]).collect();
                let at: Vec<i64> = part.iter().map(|k| k.1).collect();
                tx.execute(
                    "INSERT INTO dedupe (key, first_seen) SELECT * FROM unnest($1::bytea[], $2::bigint[]) ON CONFLICT (key) DO NOTHING",
                    &[&keys, &at],
                )?;
            }
            write_checkpoints(tx, &image.checkpoints)?;
            let mut d = Pending::new(ALL_DAYS.0, ALL_DAYS.1);
            for (k, t) in &image.daily.usage {
                let day = daily::parse_day(&k.day).ok_or_else(|| Failed::Store(StoreError::Io(format!("bad day {:?}", k.day))))?;
                let units = money::to_units(t.cost, USD_SCALE).ok_or_else(|| Failed::Store(StoreError::Io(format!("bad cost {}", t.cost))))?;
                d.add_usage(daily::UsageDelta { day, model: &k.model, region: &k.region, scope: k.scope, tier: k.tier, long_context: k.long_context, class: k.class, tokens: t.tokens, units });
            }
            for (k, t) in &image.daily.principals {
                let day = daily::parse_day(&k.day).ok_or_else(|| Failed::Store(StoreError::Io(format!("bad day {:?}", k.day))))?;
                let units = money::to_units(t.cost, USD_SCALE).ok_or_else(|| Failed::Store(StoreError::Io(format!("bad cost {}", t.cost))))?;
                d.add_principal(day, &k.principal, t.calls, units);
            }
            pg_daily::write(tx, &d)?;
            Ok(())
        })
    }
}

impl Drop for PgStore {
    /// The client's runtime may not be dropped on an async thread (tokio panics): if this
    /// store is dropped inside a runtime (e.g. the daemon fails to start after opening it),
    /// the client is dropped on a thread of its own.
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                std::thread::spawn(move || drop(c));
            }
        }
    }
}

/// A whole store's content, for [`PgStore::import`].
#[derive(Debug, Default, PartialEq)]
pub struct Image {
    /// (metric name, encoded labels, value in the metric's units).
    pub series: Vec<(&'static str, Vec<u8>, i128)>,
    /// Dedupe keys and when each was first seen (unix seconds).
    pub keys: Vec<(DedupeKey, i64)>,
    pub checkpoints: Vec<(String, String)>,
    pub daily: DailyTotals,
}

/// Looks up a batch's dedupe keys: driven from the keys, one primary-key probe each.
pub(super) const SEEN: &str = "SELECT k FROM unnest($1::bytea[]) AS t(k) WHERE EXISTS (SELECT 1 FROM dedupe d WHERE d.key = t.k)";

/// Set first in the transactions of [`SEEN`] and the commit: their statements are meant to
/// probe indexes, whatever the statistics say. Issue 12's bench saw `SEEN` planned as a
/// sequential scan or hash join over a young `dedupe` whose statistics autovacuum had not
/// caught up with (reading the whole table per call, slower with every batch) until the
/// next analyze. Only what reads a relation is affected: `unnest` stays a function scan. A
/// plan that must scan anyway is costed past `jit_above_cost` by the disabled nodes, and JIT
/// compiling it took 130 ms for a 50 ms statement: off too (it never pays for these).
pub(super) const KEYED_PLANS: &str =
    "SET LOCAL enable_seqscan = off; SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; SET LOCAL jit = off";

/// Rows sent in one statement (as arrays): bounds a statement's size, keeps round trips few.
pub(super) const ROWS_PER_STATEMENT: usize = 10_000;

/// A failure inside a transaction: the server's (classified once, outside), or one of ours.
pub(super) enum Failed {
    Pg(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for Failed {
    fn from(e: postgres::Error) -> Failed {
        Failed::Pg(e)
    }
}

/// PostgreSQL's errors as the store's kinds: no server error code means the connection is
/// gone or unusable (`Io`: retried); `53100` (disk full) and other out-of-resource codes are
/// `Full`; anything else the server refused is `Io` with its message.
pub(super) fn classify(e: &postgres::Error, url: &str) -> StoreError {
    use postgres::error::SqlState;
    let detail = match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    };
    match e.code() {
        Some(c) if *c == SqlState::DISK_FULL || *c == SqlState::OUT_OF_MEMORY => {
            StoreError::Full(format!("PostgreSQL at {url}: {detail}"))
        }
        _ => StoreError::Io(format!("PostgreSQL at {url}: {detail}")),
    }
}

/// The connection settings of `url` (which holds no password) with `password` and the
/// daemon's timeouts; for the store and its lease clients alike.
pub(super) fn client_config(
    url: &str,
    password: Option<&Secret<String>>,
) -> Result<postgres::Config, StoreError> {
    let (rest, tls) = pg_tls::split(url).map_err(StoreError::Io)?;
    let mut config: postgres::Config = rest.parse().map_err(|e| StoreError::Io(format!("{e}")))?;
    tls.apply(&mut config);
    if let Some(p) = password {
        config.password(p.expose());
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    // A server that vanishes without closing the connection must fail the commit (and
    // let it be retried) within seconds, not after the kernel's 15-minute retransmissions.
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("bedrock-cost-exporter");
    }
    // The server's notices are the schema's "already exists, skipping" when replicas start
    // together: the crate logs them at info, which is noise in the daemon's log.
    config.notice_callback(|n| {
        tracing::debug!(
            severity = n.severity(),
            "PostgreSQL notice: {}",
            n.message()
        )
    });
    Ok(config)
}

/// What a batch's commit writes, owned: taken from a [`Commit`] and this store's bases
/// between commits ([`PgStore::batch`]), and written by [`PgStore::write_batch`], on the
/// pipeline's thread or beside it.
pub struct Batch {
    /// Series with a database row: (ledger id, database id, stored base, new value).
    known: Vec<(u32, i64, i128, i128)>,
    /// Series stored by definition first: (ledger id, metric, encoded labels, value).
    fresh: Vec<(u32, &'static str, Vec<u8>, i128)>,
    /// Ledger ids the batch removed, and the database ids of those with a row.
    removed: Vec<u32>,
    removed_db: Vec<i64>,
    keys: Vec<DedupeKey>,
    checkpoints: Vec<(String, String)>,
    drop_checkpoints: Vec<String>,
    now: i64,
    purge_before: Option<i64>,
    daily: crate::daily::Deltas,
    daily_before: Option<String>,
    fence: Option<(String, i64)>,
}

impl PgStore {
    /// The batch `c` commits, against this store's bases as they are now (so it is written
    /// before any later batch is taken).
    fn batch(&self, c: &Commit<'_>) -> Batch {
        // The series this store has a database id for: their deltas, by that id. The others
        // (created by this batch, or whose row was removed since this store wrote them) are
        // stored by definition first and then counted whole.
        let created: HashMap<u32, &NewSeries<'_>> = c.created.iter().map(|s| (s.id, s)).collect();
        let mut known: Vec<(u32, i64, i128, i128)> = Vec::with_capacity(c.values.len());
        let mut fresh: Vec<(u32, &'static str, Vec<u8>, i128)> = Vec::new();
        for &(id, value) in c.values {
            if let Some(s) = created.get(&id) {
                let labels = super::codec::encode_labels(&s.labels);
                fresh.push((id, s.metric.name(), labels, value));
            } else if let Some(w) = self.written(id) {
                known.push((id, w.db, w.value, value));
            } else if let Some((m, l)) = c.all.definition(id) {
                fresh.push((id, m, l, value));
            }
        }
        // A series created at zero is stored too: that it exists (was admitted under the
        // cardinality caps) is part of the state.
        let changed: HashSet<u32> = c.values.iter().map(|v| v.0).collect();
        for s in c.created.iter().filter(|s| !changed.contains(&s.id)) {
            let labels = super::codec::encode_labels(&s.labels);
            fresh.push((s.id, s.metric.name(), labels, 0));
        }
        let removed_db = c
            .removed
            .iter()
            .filter_map(|id| Some(self.written(*id)?.db))
            .collect();
        let mut keys = c.dedupe.to_vec();
        keys.sort_unstable();
        keys.dedup();
        Batch {
            known,
            fresh,
            removed: c.removed.to_vec(),
            removed_db,
            keys,
            checkpoints: c.checkpoints.to_vec(),
            drop_checkpoints: c.drop_checkpoints.to_vec(),
            now: c.now,
            purge_before: c.purge_before,
            daily: c.daily.clone(),
            daily_before: c.daily_before.map(str::to_string),
            fence: c.fence.map(|(n, f)| (n.to_string(), f)),
        }
    }

    /// Writes a batch in one transaction, then takes its values as the new bases.
    fn write_batch(&mut self, b: Batch) -> Result<(), StoreError> {
        let Batch {
            known,
            fresh,
            removed: removed_ids,
            removed_db: removed,
            keys,
            ..
        } = &b;
        let keys: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
        let mut entries: Vec<Entry> = known
            .iter()
            .map(|(_, db, before, after)| Entry {
                id: *db,
                delta: after.wrapping_sub(*before),
                created: false,
            })
            .collect();
        let url = self.url.clone();
        let writer = self.writer.clone();
        let fence = b.fence.as_ref().map(|(n, f)| (n.as_str(), *f));
        let (fresh_ids, journal_id) = self.in_tx(|tx| {
            // First: one commit at a time across replicas (see the module doc).
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&COMMIT_LOCK])?;
            // The purge of old keys, among others, must not scan the whole table.
            tx.batch_execute(KEYED_PLANS)?;
            // Then the lease the batch was read under, if any: still this replica's.
            check_fence(tx, fence, &url)?;
            // Keys next: a key another replica committed fails the batch before it adds a cent.
            insert_keys(tx, &keys, b.now, &url)?;
            let fresh_ids = pg_journal::define(tx, fresh)?;
            entries.extend(fresh_ids.iter().zip(fresh).map(|(&(id, created), f)| Entry {
                id,
                delta: f.3,
                created,
            }));
            // The batch's one journal row: each changed series' delta, then the removals (a
            // series changed and removed in one batch ends removed).
            let mut journal_id = None;
            if !entries.is_empty() || !removed.is_empty() {
                let removed = (!removed.is_empty()).then_some(removed);
                journal_id = tx
                    .query_one(
                        "INSERT INTO journal (writer, deltas, removed) VALUES ($1, $2, $3) RETURNING id",
                        &[&writer, &pg_journal::encode(&entries), &removed],
                    )?
                    .get(0);
            }
            pg_daily::journal(tx, &b.daily)?;
            if let Some(day) = &b.daily_before {
                // The journal's rows hold days of their own: folded first, as SQLite does.
                // Before the removals below: a fold under way (which takes the daily
                // journal's rows before any series row) is waited for while this commit
                // holds no row it needs, so the two cannot deadlock.
                if !pg_daily::fold(tx)? {
                    return Err(Failed::Store(corrupt_at(
                        &url,
                        "a daily journal row that does not decode",
                    )));
                }
                tx.execute("DELETE FROM daily_usage WHERE day < $1", &[&day])?;
                tx.execute("DELETE FROM daily_principal WHERE day < $1", &[&day])?;
            }
            if !removed.is_empty() {
                tx.execute("DELETE FROM series WHERE id = ANY($1)", &[removed])?;
            }
            write_checkpoints(tx, &b.checkpoints)?;
            if !b.drop_checkpoints.is_empty() {
                tx.execute(
                    "DELETE FROM checkpoints WHERE source = ANY($1)",
                    &[&b.drop_checkpoints],
                )?;
            }
            if let Some(before) = b.purge_before {
                tx.execute("DELETE FROM dedupe WHERE first_seen < $1", &[&before])?;
            }
            Ok((fresh_ids, journal_id))
        })?;
        if let Some(id) = journal_id {
            self.folder().committed(id);
        }
        // Committed: the new bases of the next deltas.
        for &(id, db, _, value) in known {
            self.set_written(id, db, value);
        }
        for ((db, _), &(id, _, _, value)) in fresh_ids.into_iter().zip(fresh) {
            self.set_written(id, db, value);
        }
        for id in removed_ids {
            self.forget(*id);
        }
        Ok(())
    }
}

/// A damaged store at `url` (the method of the same name, for closures that hold the store).
fn corrupt_at(url: &str, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        path: PathBuf::from(url),
        detail: detail.into(),
    }
}

/// Refuses the batch when the lease it was read under is no longer at its fence: another
/// replica took the source over (and may already have read the same events). The lease row
/// stays share-locked to the end of the commit, so a takeover waits for this commit (and
/// then reads the checkpoint it wrote) or comes first (and this commit is refused): never
/// both readers' checkpoints interleaved.
fn check_fence(
    tx: &mut Transaction<'_>,
    fence: Option<(&str, i64)>,
    url: &str,
) -> Result<(), Failed> {
    let Some((name, fence)) = fence else {
        return Ok(());
    };
    let now: Option<i64> = tx
        .query_opt(
            "SELECT fence FROM leases WHERE name = $1 FOR SHARE",
            &[&name],
        )?
        .map(|r| r.get(0));
    if now == Some(fence) {
        return Ok(());
    }
    Err(Failed::Store(StoreError::Conflict(format!(
        "PostgreSQL at {url}: the lease {name} moved to another replica (this batch was read under fence {fence}, the lease is at {}); the batch is not acknowledged, and that replica reads from the committed checkpoint",
        now.map_or("none".to_string(), |f| f.to_string())
    ))))
}

/// Stores a batch's dedupe keys; a key a committed batch holds (another writer's, or one
/// whose keys the pipeline did not look up first: [`Store::refuses_taken_keys`]) fails the
/// commit with [`StoreError::Conflict`]. Each part is first inserted plainly, in a savepoint:
/// a key that is there already fails it at once (none can be in flight, all writers hold the
/// commit lock), and that is rare, while `ON CONFLICT`'s extra probe of every key made the
/// insert about a third slower (issue 12).
/// Only a part that failed is inserted again with `ON CONFLICT`, to count the keys taken.
fn insert_keys(
    tx: &mut Transaction<'_>,
    keys: &[&[u8]],
    now: i64,
    url: &str,
) -> Result<(), Failed> {
    use postgres::error::SqlState;
    for part in keys.chunks(ROWS_PER_STATEMENT) {
        let mut plain = tx.transaction()?;
        match plain.execute(
            "INSERT INTO dedupe (key, first_seen) SELECT unnest($1::bytea[]), $2",
            &[&part, &now],
        ) {
            Ok(_) => {
                plain.commit()?;
                continue;
            }
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => plain.rollback()?,
            Err(e) => return Err(e.into()),
        }
        let n = tx.execute(
            "INSERT INTO dedupe (key, first_seen) SELECT unnest($1::bytea[]), $2 ON CONFLICT (key) DO NOTHING",
            &[&part, &now],
        )?;
        // Exactly as when every part took this path: only keys that are there count.
        if n as usize != part.len() {
            return Err(Failed::Store(StoreError::Conflict(format!(
                "PostgreSQL at {url}: {} of the batch's requests were committed meanwhile by another writer; the batch is rolled back and processed again without them",
                part.len() - n as usize
            ))));
        }
    }
    Ok(())
}

fn checkpoints(tx: &mut Transaction<'_>) -> Result<BTreeMap<String, String>, postgres::Error> {
    Ok(tx
        .query("SELECT source, value FROM checkpoints", &[])?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

fn write_checkpoints(
    tx: &mut Transaction<'_>,
    cps: &[(String, String)],
) -> Result<(), postgres::Error> {
    if cps.is_empty() {
        return Ok(());
    }
    let (sources, values): (Vec<&str>, Vec<&str>) =
        cps.iter().map(|(s, v)| (s.as_str(), v.as_str())).unzip();
    // Later entries of a source win, as with one upsert each (ON CONFLICT cannot touch a row twice).
    let mut last: BTreeMap<&str, &str> = BTreeMap::new();
    for (s, v) in sources.into_iter().zip(values) {
        last.insert(s, v);
    }
    let (sources, values): (Vec<&str>, Vec<&str>) = last.into_iter().unzip();
    tx.execute(
        "INSERT INTO checkpoints (source, value) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (source) DO UPDATE SET value = EXCLUDED.value",
        &[&sources, &values],
    )?;
    Ok(())
}

impl Store for PgStore {
    fn load(
        &mut self,
        sink: &mut dyn FnMut(SeriesRow<'_>),
    ) -> Result<HashMap<String, String>, StoreError> {
        let ((values, last), cps) = self
            .in_snapshot(|tx| Ok((pg_journal::image(tx)?, checkpoints(tx)?)))
            .and_then(|(image, cps)| match image {
                Some(image) => Ok((image, cps)),
                None => Err(self.corrupt("a series value or journal row that does not decode")),
            })?;
        self.written.clear();
        self.written.reserve(values.len());
        self.by_db.clear();
        self.by_db.reserve(values.len());
        self.last = last;
        let mut labels = Vec::with_capacity(crate::ledger::MAX_LABELS);
        for (db, s) in &values {
            let metric = s.metric;
            labels.clear();
            if super::codec::decode_labels(&s.labels, &mut labels).is_none() {
                return Err(self.corrupt(format!("bad labels in a series of {}", metric.name())));
            }
            let id = self.written.len() as u32;
            sink(SeriesRow {
                id,
                metric,
                labels: &labels,
                value: s.value,
            });
            self.set_written(id, *db, s.value);
        }
        Ok(cps.into_iter().collect())
    }

    fn seen(&mut self, keys: &[DedupeKey]) -> Result<Vec<bool>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let found: HashSet<Vec<u8>> = self.in_tx(|tx| {
            let mut found = HashSet::new();
            tx.batch_execute(KEYED_PLANS)?;
            for part in keys.chunks(ROWS_PER_STATEMENT) {
                let arr: Vec<&[u8]> = part.iter().map(|k| &k[..]).collect();
                for r in tx.query(SEEN, &[&arr])? {
                    found.insert(r.get::<_, Vec<u8>>(0));
                }
            }
            Ok(found)
        })?;
        Ok(keys.iter().map(|k| found.contains(&k[..])).collect())
    }

    /// `insert_keys` refuses a taken key, whoever committed it.
    fn refuses_taken_keys(&self) -> bool {
        true
    }

    fn commit(&mut self, c: &Commit<'_>) -> Result<(), StoreError> {
        let batch = self.batch(c);
        self.write_batch(batch)
    }

    fn prepare(&mut self, c: &Commit<'_>) -> Option<Prepared> {
        Some(Prepared(self.batch(c)))
    }

    fn write(&mut self, p: Prepared) -> Result<(), StoreError> {
        self.write_batch(p.0)
    }

    fn refresh(&mut self, adopt: &mut Adopt<'_>) -> Result<Option<usize>, StoreError> {
        self.folder();
        let (last, url) = (self.last, self.url.clone());
        let writer = self.writer.clone();
        // The map is lent to the transaction, which reads the definitions of the ids it lacks.
        let by_db = std::mem::take(&mut self.by_db);
        let read = self.in_snapshot(|tx| {
            // The rows past `last` and the definitions of a few ids: by index, not a scan.
            tx.batch_execute(KEYED_PLANS)?;
            // This store's own rows are in its ledger and its bases already: only their ids.
            let rows = tx.query(
                "SELECT id, CASE WHEN writer = $2 THEN NULL ELSE deltas END, CASE WHEN writer = $2 THEN NULL ELSE removed END FROM journal WHERE id > $1 ORDER BY id",
                &[&last, &writer],
            )?;
            // The same snapshot: if a fold deleted rows this store had not read, it shows here.
            let (pruned, unfolded_age) = pg_journal::pruned_and_unfolded_age(tx)?;
            if pruned > last {
                return Ok((unfolded_age, None));
            }
            // What other writers did to each series, in the order first changed: the sum of
            // their deltas, or `None` once removed (a removed id is never used again).
            let mut order: Vec<i64> = Vec::new();
            let mut now: FxHashMap<i64, Option<i128>> = FxHashMap::default();
            let mut upto = last;
            for r in &rows {
                upto = upto.max(r.get(0));
                let Some(blob) = r.get::<_, Option<&[u8]>>(1) else {
                    continue;
                };
                let summed = pg_journal::each(blob, |e| {
                    let sum = now.entry(e.id).or_insert_with(|| {
                        order.push(e.id);
                        Some(0)
                    });
                    if let Some(s) = sum {
                        *s = s.wrapping_add(e.delta);
                    }
                });
                if summed.is_none() {
                    return Err(Failed::Store(corrupt_at(
                        &url,
                        "a journal row that does not decode",
                    )));
                }
                for db in r.get::<_, Option<Vec<i64>>>(2).unwrap_or_default() {
                    if now.insert(db, None).is_none() {
                        order.push(db);
                    }
                }
            }
            let unknown: Vec<i64> = order
                .iter()
                .filter(|db| now[db].is_some() && !by_db.contains_key(db))
                .copied()
                .collect();
            let mut defs: HashMap<i64, (String, Vec<u8>)> = HashMap::new();
            for part in unknown.chunks(ROWS_PER_STATEMENT) {
                for r in tx.query(
                    "SELECT id, metric, labels FROM series WHERE id = ANY($1)",
                    &[&part],
                )? {
                    defs.insert(r.get(0), (r.get(1), r.get(2)));
                }
            }
            Ok((unfolded_age, Some((order, now, defs, upto))))
        });
        self.by_db = by_db;
        let (unfolded_age, read) = read?;
        self.unfolded_age = Some(unfolded_age);
        let (order, now, defs, upto) = match read {
            // Rows this store had not read are gone: start again from the whole store.
            None => return self.resync(adopt).map(Some),
            Some(read) => read,
        };
        // Every definition is checked before any series is adopted, so a bad one leaves this
        // store as it was (and is read again next time).
        let mut labels = Vec::with_capacity(crate::ledger::MAX_LABELS);
        for (name, blob) in defs.values() {
            if super::codec::decode_labels(blob, &mut labels).is_none() {
                return Err(self.corrupt(format!("bad labels in a series of {name}")));
            }
        }
        let mut changed = 0;
        for db in order {
            match (now[&db], self.by_db.get(&db).copied()) {
                // A series this store knows: its base plus the others' deltas.
                (Some(sum), Some(id)) => {
                    let value = self.written(id).map_or(0, |w| w.value).wrapping_add(sum);
                    let id = adopt(Adopted::Id(id), value);
                    self.set_written(id, db, value);
                    changed += 1;
                }
                // One new to it: from zero. A metric this build does not export (as `load`),
                // or an id with no definition (removed in a row this read already applied),
                // stays in the database only.
                (Some(value), None) => {
                    let Some((name, blob)) = defs.get(&db) else {
                        continue;
                    };
                    let Some(metric) = Metric::from_name(name) else {
                        continue;
                    };
                    labels.clear();
                    super::codec::decode_labels(blob, &mut labels).expect("checked above");
                    let id = adopt(Adopted::New(metric, &labels), value);
                    self.set_written(id, db, value);
                    changed += 1;
                }
                // Removed in the database: no base any more (a later change of this
                // replica's is written whole). The ledger drops it by its own periods.
                (None, Some(id)) => self.forget(id),
                (None, None) => {}
            }
        }
        self.last = upto;
        Ok(Some(changed))
    }

    fn folds(&self) -> Option<Folds> {
        Some(Folds {
            failed: self.folder.as_ref().map_or(0, Folder::failed),
            unfolded_age: self.unfolded_age,
        })
    }
}

impl PgStore {
    /// Tests: how many unfolded rows make a fold due (by count only, not by age), and how
    /// long folded rows stay. Stops the fold thread; the next commit or refresh starts it again.
    #[cfg(test)]
    pub(crate) fn set_journal(&mut self, fold_every: i64, retention: Duration) {
        self.folder = None;
        self.fold = Settings {
            every: fold_every,
            after: None,
            retention,
        };
    }

    /// Tests: folds the journal now, on the store's connection (waiting for a fold under way).
    #[cfg(test)]
    pub(crate) fn fold_now(&mut self) -> Result<(), StoreError> {
        let retention = self.fold.retention;
        assert!(self.in_tx(|tx| {
            tx.execute(
                "SELECT pg_advisory_xact_lock($1)",
                &[&super::pg_fold::FOLD_LOCK],
            )?;
            super::pg_fold::fold(tx, retention)
        })?);
        Ok(())
    }

    /// Tests: a server setting as this store's connection has it (`SHOW`).
    #[cfg(test)]
    pub(crate) fn show(&mut self, name: &str) -> Result<String, StoreError> {
        self.in_tx(|tx| Ok(tx.query_one(&format!("SHOW {name}"), &[])?.get(0)))
    }

    /// Tests: holds this store's folds before they commit (see [`Folder::pause`]).
    #[cfg(test)]
    pub(crate) fn pause_folds(&mut self, paused: bool) {
        self.folder().pause(paused);
    }

    /// This store's fold thread, started by its first commit or refresh: a daemon's store
    /// (the `state` commands' stores do neither, and fold nothing). A replica that only
    /// refreshes (no batch reaches it) folds too: otherwise the rows a `run --once` backfill
    /// or a dead replica left unfolded would stay so while no other replica commits.
    fn folder(&mut self) -> &Folder {
        let (config, url, fold) = (&self.config, &self.url, self.fold);
        self.folder
            .get_or_insert_with(|| Folder::start(config.clone(), url.clone(), fold))
    }

    /// What this store last wrote or read of ledger series `id`.
    fn written(&self, id: u32) -> Option<&Written> {
        self.written.get(id as usize)?.as_ref()
    }

    /// Ledger series `id` is database series `db`, whose value is `value` as far as this
    /// store knows (the base of its next delta).
    fn set_written(&mut self, id: u32, db: i64, value: i128) {
        let i = id as usize;
        if self.written.len() <= i {
            self.written.resize_with(i + 1, || None);
        }
        if let Some(old) = self.written[i].replace(Written { db, value }) {
            if old.db != db {
                self.by_db.remove(&old.db);
            }
        }
        self.by_db.insert(db, id);
    }

    /// Ledger series `id` has no row in the database any more.
    fn forget(&mut self, id: u32) {
        if let Some(w) = self.written.get_mut(id as usize).and_then(Option::take) {
            self.by_db.remove(&w.db);
        }
    }

    /// Adopts every series' value from the database (`series` and the unfolded journal), for
    /// a store that fell behind the journal's retention: it cannot know which rows it missed.
    /// Values only grow, so no counter goes back.
    fn resync(&mut self, adopt: &mut Adopt<'_>) -> Result<usize, StoreError> {
        let (values, last) = self
            .in_snapshot(pg_journal::image)?
            .ok_or_else(|| self.corrupt("a series value or journal row that does not decode"))?;
        let mut labels = Vec::with_capacity(crate::ledger::MAX_LABELS);
        for s in values.values() {
            if super::codec::decode_labels(&s.labels, &mut labels).is_none() {
                let name = s.metric.name();
                return Err(self.corrupt(format!("bad labels in a series of {name}")));
            }
        }
        let old = std::mem::take(&mut self.by_db);
        let mut n = 0;
        for (db, s) in &values {
            let metric = s.metric;
            labels.clear();
            super::codec::decode_labels(&s.labels, &mut labels).expect("checked above");
            let id = adopt(Adopted::New(metric, &labels), s.value);
            self.set_written(id, *db, s.value);
            n += 1;
        }
        // Series gone from the database: no base any more.
        for (db, id) in old {
            if !values.contains_key(&db) && self.written(id).is_some_and(|w| w.db == db) {
                self.written[id as usize] = None;
            }
        }
        self.last = last;
        Ok(n)
    }
}

/// The open connection in `client`, or a new one when there is none or the server closed it
/// (the store's and each lease's own connection).
pub(super) fn connected<'c>(
    client: &'c mut Option<Client>,
    config: &postgres::Config,
    url: &str,
) -> Result<&'c mut Client, StoreError> {
    if client.as_ref().is_some_and(Client::is_closed) {
        *client = None;
    }
    if client.is_none() {
        let fail =
            |e: String| StoreError::Io(format!("cannot connect to PostgreSQL at {url}: {e}"));
        let (_, tls) = pg_tls::split(url).map_err(fail)?;
        let c = config
            .connect(tls.connector(config).map_err(fail)?)
            .map_err(|e| fail(pg_tls::explain(&e)))?;
        *client = Some(c);
    }
    Ok(client.as_mut().expect("just connected"))
}
