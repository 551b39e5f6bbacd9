//! The pipeline: the one task that owns the ledger. For each batch a source sends it
//! decodes every line, drops what a committed batch already counted, prices and attributes
//! the rest ([`PricedCall`]), adds them to the ledger ([`Accounting`]) and to the batch's
//! daily totals ([`daily::Batch`]), commits totals + daily totals + dedupe keys + the source's
//! checkpoint in one transaction, and only then adds the batch's spend to the history
//! ([`History`]), publishes a snapshot and acknowledges the batch. A failed commit rolls the
//! batch back (the history never sees it).
//!
//! `process` is synchronous (SQLite is); `run` (`drive.rs`) drives it on a blocking thread
//! (on PostgreSQL committing batches that wait together in one transaction, and accounting
//! the next ones while it is written), and between batches refreshes the totals from a
//! store other replicas write too (`replica.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

pub use crate::batch::{Ack, Input, LineRef, Summary};
use crate::snapshot::Snapshot;

use crate::account::{Accounting, PricedCall};
use crate::attribution::Attribution;
use crate::bedrock::{self, DecodeError};
use crate::clock::Clock;
use crate::daily::{self, Deltas};
use crate::history::{self, History};
use crate::ledger::{Ledger, Limits};
use crate::pricing::{Aliases, Outcome, RateCards};
use crate::record::Record;
use crate::store::{self, Commit, DedupeKey, Prepared, Store, StoreError};

mod drive;
mod replica;
mod sequence;
pub use drive::run;
pub use replica::REFRESH_EVERY;

/// Everything pricing and accounting need. Fixed but for the rate cards, which a reload
/// replaces between batches.
#[derive(Clone)]
pub struct Context {
    pub cards: Arc<RateCards>,
    pub aliases: Aliases,
    pub attribution: Attribution,
    /// The series cap of the cross-product metrics and each dimension's cap of values.
    pub limits: Limits,
    pub dedupe_window: Duration,
    /// Build a per-request export row for every newly counted call.
    pub export: bool,
    /// (label, period) pairs whose spend budgets need, accumulated per record timestamp.
    pub budget_periods: Vec<(String, crate::budgets::Period)>,
    /// Days of daily totals kept before today (UTC); older ones are pruned.
    pub daily_retention_days: u32,
    pub clock: Clock,
}

/// Caps noisy warnings: at most `burst` lines per minute per kind, then one line saying how
/// many were left out.
struct Throttle {
    burst: u32,
    windows: HashMap<&'static str, (Instant, u32, u64)>,
}

impl Throttle {
    fn allow(&mut self, kind: &'static str) -> bool {
        let now = Instant::now();
        let w = self.windows.entry(kind).or_insert((now, 0, 0));
        if now.duration_since(w.0) >= Duration::from_secs(60) {
            if w.2 > 0 {
                tracing::warn!(
                    kind,
                    suppressed = w.2,
                    "{} more {kind} warnings were left out in the last minute",
                    w.2
                );
            }
            *w = (now, 0, 0);
        }
        if w.1 < self.burst {
            w.1 += 1;
            true
        } else {
            w.2 += 1;
            false
        }
    }
}

/// Times a batch is processed when its commit meets a request another replica committed
/// meanwhile (each attempt after the first counts that request as a duplicate, unless
/// another one raced it too), before it is refused like any failed commit.
const CONFLICT_ATTEMPTS: u32 = 3;
/// On a store whose commit refuses a key a committed batch already holds
/// ([`Store::refuses_taken_keys`]), a batch's keys are not looked up before it is accounted
/// (the lookup was a fifth of a PostgreSQL commit's statement time, for keys that are almost
/// never there): a duplicate then costs a refused commit and one more attempt, with lookups.
/// After such a conflict, batches look their keys up for this long (seconds), so a stream of
/// duplicates (a file read again, say) is not accounted twice per batch.
const LOOKUPS_AFTER_CONFLICT: i64 = 300;
/// How often expired dedupe keys are purged (inside a normal commit).
const PURGE_EVERY: Duration = Duration::from_secs(600);
/// Distinct (model, reason) pairs remembered for "warn once"; past it, new pairs are only
/// counted in `bedrock_unpriced_invocations_total`, not logged.
const UNPRICED_WARNED_MAX: usize = 1000;

pub struct Pipeline {
    ctx: Arc<Context>,
    /// Locked by the pipeline's thread, and by the thread that writes a batch's prepared
    /// commit while the next batch is accounted (`drive.rs`).
    store: Arc<Mutex<Box<dyn Store>>>,
    /// [`Store::refuses_taken_keys`], asked once: asking again would wait for a write.
    refuses_taken_keys: bool,
    ledger: Arc<RwLock<Ledger>>,
    /// Spend over time for the status page; only committed batches add to it.
    history: Arc<RwLock<History>>,
    accounting: Accounting,
    last_purge: Option<Instant>,
    throttle: Throttle,
    unpriced_warned: HashSet<(String, &'static str)>,
    /// Export rows of the last committed batch.
    export_rows: Vec<Vec<u8>>,
    /// Unix time until which batches look their keys up before accounting even on a store
    /// that refuses taken keys at commit (see [`LOOKUPS_AFTER_CONFLICT`]).
    lookups_until: i64,
    /// Which batches of a source that sends ahead may be accounted ([`crate::batch::Order`]).
    sequences: sequence::Sequences,
}

/// Lines handed at a time from the decoding thread to the accounting one: the two overlap,
/// so a batch costs about the larger of parsing and accounting, not their sum.
const CHUNK_LINES: usize = 512;

/// A record of the batch, decoded, with every key it is deduplicated on.
struct Decoded<'a> {
    line: usize,
    record: Result<Record<'a>, DecodeError>,
    /// The record's own key (request id, else its canonical form) and the source's event id.
    keys: [Option<DedupeKey>; 2],
}

fn decode<'a>(buf: &'a [u8], lines: &[LineRef], range: std::ops::Range<usize>) -> Vec<Decoded<'a>> {
    let mut out = Vec::with_capacity(range.len());
    for i in range {
        let l = &lines[i];
        let bytes = &buf[l.start..l.end];
        // A line holding a JSON array is several records (some S3 writers frame them so).
        let records = bedrock::split_records(bytes);
        let single = records.len() == 1;
        for bytes in records {
            let record = bedrock::parse(bytes);
            let own = record.as_ref().ok().map(|r| match &r.request_id {
                Some(id) => store::dedupe_key("req", id.as_bytes()),
                // Parsed, so it is JSON: its canonical form keys it whatever its framing.
                None => store::dedupe_key(
                    "rec",
                    &bedrock::canonical(bytes).unwrap_or_else(|| bytes.to_vec()),
                ),
            });
            out.push(Decoded {
                line: i,
                record,
                keys: [own, l.event_key.filter(|_| single)],
            });
        }
    }
    out
}

/// Prices and attributes every decoded record (`None` for those that did not decode).
fn price_all<'a>(
    ctx: &'a Context,
    delivery: &'a [(String, String)],
    decoded: &'a [Decoded<'a>],
) -> Vec<Option<PricedCall<'a>>> {
    decoded
        .iter()
        .map(|d| {
            let r = d.record.as_ref().ok()?;
            let (cards, aliases, attribution) = (&ctx.cards, &ctx.aliases, &ctx.attribution);
            Some(PricedCall::new(cards, aliases, attribution, r, delivery))
        })
        .collect()
}

/// What several batches committed together write: each one's keys, checkpoints and daily
/// totals, in order.
struct Merged {
    dedupe: Vec<DedupeKey>,
    checkpoints: Vec<(String, String)>,
    drop_checkpoints: Vec<String>,
    daily: Deltas,
}

impl Merged {
    fn of(inputs: &[&Input], tallies: &[Tally]) -> Merged {
        let mut daily = Deltas::default();
        for t in tallies {
            daily.append(&t.daily);
        }
        Merged {
            dedupe: tallies
                .iter()
                .flat_map(|t| t.new_keys.iter().copied())
                .collect(),
            checkpoints: inputs.iter().flat_map(|i| i.checkpoints.clone()).collect(),
            drop_checkpoints: inputs
                .iter()
                .flat_map(|i| i.drop_checkpoints.clone())
                .collect(),
            daily,
        }
    }
}

/// What a batch has done so far.
#[derive(Default)]
struct Tally {
    summary: Summary,
    /// Dedupe keys to commit, and the same as a set (a key twice in one batch is a duplicate),
    /// with the keys of the batches accounted before it into the same ledger batch.
    new_keys: Vec<DedupeKey>,
    batch_keys: rustc_hash::FxHashSet<DedupeKey>,
    newest: Option<i64>,
    /// What the batch adds to the daily totals.
    daily: Deltas,
    /// What the batch adds to the spend history (after its commit).
    spent: Vec<history::Spent>,
    /// Whether the batch's keys are looked up in the store before they are accounted (if
    /// not, its commit refuses a key that is there).
    look_up: bool,
    /// Export rows of the newly counted calls, handed over only after the commit.
    export: Vec<Vec<u8>>,
    /// The commit carries the periodic purge.
    purges: bool,
}

impl Pipeline {
    /// Loads the totals and returns the sources' checkpoints.
    pub fn open(
        ctx: Arc<Context>,
        mut store: Box<dyn Store>,
    ) -> Result<(Pipeline, HashMap<String, String>), StoreError> {
        let mut ledger = Ledger::new(&ctx.limits);
        let checkpoints = store.load(&mut |row| {
            ledger.restore(row.id, row.metric, row.labels, row.value);
        })?;
        ledger.finish_restore();
        let accounting = Accounting::new(&mut ledger, &ctx.attribution, &ctx.budget_periods);
        let p = Pipeline {
            ctx,
            refuses_taken_keys: store.refuses_taken_keys(),
            store: Arc::new(Mutex::new(store)),
            ledger: Arc::new(RwLock::new(ledger)),
            history: Default::default(),
            accounting,
            last_purge: None,
            throttle: Throttle {
                burst: 5,
                windows: HashMap::new(),
            },
            unpriced_warned: HashSet::new(),
            export_rows: Vec::new(),
            lookups_until: i64::MIN,
            sequences: Default::default(),
        };
        Ok((p, checkpoints))
    }

    pub fn snapshot(&self, store_error: Option<String>) -> Snapshot {
        Snapshot {
            ledger: self.ledger.clone(),
            history: self.history.clone(),
            store_writable: store_error.is_none(),
            store_error,
            cards: self.ctx.cards.clone(),
        }
    }

    /// Rebuilds the per-day spend history from the store's daily totals (see
    /// [`History::restore_days`]); before the first batch.
    pub fn restore_history(&mut self, totals: &daily::DailyTotals, now_unix: i64) {
        let mut h = self.history.write().unwrap_or_else(|e| e.into_inner());
        h.restore_days(totals, now_unix);
    }

    /// Prices every later batch with `cards`.
    pub fn replace_cards(&mut self, cards: Arc<RateCards>) {
        let mut ctx = (*self.ctx).clone();
        ctx.cards = cards;
        self.ctx = Arc::new(ctx);
    }

    /// Takes what other replicas committed to a shared store into the ledger, and returns how
    /// many series changed (`None`: no one else writes this store). Between batches only: a
    /// batch rolled back after it must not undo the adopted values.
    ///
    /// Counters never go back: the store hands over the database's value of a series, and
    /// that value only grows (every commit adds a delta, what one replica's ledger added since
    /// its base, which is never negative). Between batches this ledger's value of a series is
    /// its base in the store (everything it counted is committed), and a base is either a
    /// value the database held (loaded or refreshed) or such a value plus this replica's
    /// delta, which the database added on top of a value at least as large. So the ledger's
    /// value is at most the database's, and adopting the database's raises it or keeps it.
    /// (Spend of past budget periods is deleted, but that series is never exposed.)
    pub fn refresh(&mut self) -> Result<Option<usize>, StoreError> {
        let lock = self.ledger.clone();
        // Locked at the first adopted series, not for the query: scrapes are not held up by
        // the database's round trip, nor at all when nothing changed.
        let mut ledger = None;
        self.store().refresh(&mut |series, value| {
            let ledger =
                ledger.get_or_insert_with(|| lock.write().unwrap_or_else(|e| e.into_inner()));
            crate::store::adopt_into(ledger, series, value)
        })
    }

    /// The export rows of the last committed batch.
    pub fn take_export(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.export_rows)
    }

    /// Read access to the committed totals.
    pub fn ledger(&self) -> std::sync::RwLockReadGuard<'_, Ledger> {
        self.ledger.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The store, locked.
    fn store(&self) -> MutexGuard<'_, Box<dyn Store>> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Accounts one batch and commits it. On error nothing of the batch is kept.
    pub fn process(&mut self, input: &Input, now_unix: i64) -> Result<Summary, StoreError> {
        if !self.sequences.admit(input.order) {
            return Err(StoreError::OutOfOrder(input.origin.to_string()));
        }
        let lock = self.ledger.clone();
        let mut ledger = lock.write().unwrap_or_else(|e| e.into_inner());
        ledger.begin();
        let done =
            self.start(&mut ledger, &[input], now_unix)
                .and_then(|(mut tallies, prepared)| {
                    if let Some(p) = prepared {
                        self.store().write(p)?;
                    }
                    Ok(tallies.pop().expect("one tally a batch"))
                });
        match done {
            Ok(tally) => {
                ledger.keep();
                Ok(self.finish(&mut ledger, input, tally, now_unix))
            }
            Err(e) => {
                self.failed(&e, now_unix);
                ledger.rollback();
                Err(e)
            }
        }
    }

    /// Accounts `inputs` into the ledger's open batch (the caller opened it) and commits
    /// them together (one transaction), or, on a store that can, prepares that commit for
    /// [`Store::write`] (`Some`). A record counted by one of them is a duplicate in the
    /// others, as within one batch; processed at `now_unix`. On error the caller rolls the
    /// ledger back.
    fn start(
        &mut self,
        ledger: &mut Ledger,
        inputs: &[&Input],
        now_unix: i64,
    ) -> Result<(Vec<Tally>, Option<Prepared>), StoreError> {
        let mut tallies = self.account_group(ledger, inputs, now_unix)?;
        let prepared = self.commit(ledger, inputs, &mut tallies, now_unix)?;
        Ok((tallies, prepared))
    }

    /// What [`Pipeline::start`] does before the commit.
    fn account_group(
        &mut self,
        ledger: &mut Ledger,
        inputs: &[&Input],
        now_unix: i64,
    ) -> Result<Vec<Tally>, StoreError> {
        let mut tallies: Vec<Tally> = Vec::with_capacity(inputs.len());
        let mut keys = Default::default();
        for input in inputs {
            let mut tally = self.account_batch(ledger, input, now_unix, keys)?;
            keys = std::mem::take(&mut tally.batch_keys);
            tallies.push(tally);
        }
        Ok(tallies)
    }

    /// Accounts `input` into the ledger's open batch. `batch_keys`: the keys the batches
    /// accounted before it into the same ledger batch counted.
    fn account_batch(
        &mut self,
        ledger: &mut Ledger,
        input: &Input,
        now_unix: i64,
        batch_keys: rustc_hash::FxHashSet<DedupeKey>,
    ) -> Result<Tally, StoreError> {
        self.accounting.set_now(now_unix);
        let mut tally = Tally {
            look_up: self.looks_up(input, now_unix),
            batch_keys,
            ..Tally::default()
        };
        let first_day = daily::first_kept_day(now_unix, self.ctx.daily_retention_days);
        self.account(ledger, input, &mut tally, first_day)?;
        Ok(tally)
    }

    /// After a batch's commit succeeded and the ledger kept it: what only a committed batch
    /// adds (the spend history, the export rows, the freshness of its source).
    fn finish(
        &mut self,
        ledger: &mut Ledger,
        input: &Input,
        tally: Tally,
        now_unix: i64,
    ) -> Summary {
        if let Some(ts) = tally.newest {
            ledger.note_record_time(&input.source, ts);
        }
        if !tally.spent.is_empty() {
            let mut h = self.history.write().unwrap_or_else(|e| e.into_inner());
            for s in &tally.spent {
                h.add(s, now_unix);
            }
        }
        if tally.purges {
            self.last_purge = Some(Instant::now());
        }
        self.sequences.committed(input.order);
        self.export_rows = tally.export;
        tally.summary
    }

    /// After a batch's commit failed (the caller rolls the ledger back): what was accounted
    /// since the last commit is undone.
    fn failed(&mut self, e: &StoreError, now_unix: i64) {
        self.sequences.rollback();
        if matches!(e, StoreError::Conflict(_)) {
            self.lookups_until = now_unix.saturating_add(LOOKUPS_AFTER_CONFLICT);
        }
    }

    /// Whether a batch processed at `now_unix` looks its keys up before accounting them. A
    /// batch read under a lease always does: its conflict is not retried (it may be the lease
    /// that moved), so a duplicate must not make one.
    fn looks_up(&self, input: &Input, now_unix: i64) -> bool {
        !self.refuses_taken_keys || input.fence.is_some() || now_unix < self.lookups_until
    }

    /// Commits what the open batch changed, with its daily totals, dedupe keys and the
    /// source's checkpoint (and, every few minutes, the purge of expired keys, past budget
    /// periods and daily totals past the retention); or prepares that commit (`Some`), on a
    /// store that can write it beside the next batch's accounting.
    ///
    /// Several batches accounted into one ledger batch ([`Pipeline::start`]) commit
    /// together: their keys, checkpoints and daily totals in one transaction.
    fn commit(
        &mut self,
        ledger: &mut Ledger,
        inputs: &[&Input],
        tallies: &mut [Tally],
        now_unix: i64,
    ) -> Result<Option<Prepared>, StoreError> {
        let purge_before = match self.last_purge {
            Some(t) if t.elapsed() < PURGE_EVERY => None,
            _ => Some(now_unix - self.ctx.dedupe_window.as_secs() as i64),
        };
        let daily_before = purge_before.map(|_| {
            daily::format_day(daily::first_kept_day(
                now_unix,
                self.ctx.daily_retention_days,
            ))
        });
        if purge_before.is_some() {
            crate::budgets::prune_past_periods(ledger, now_unix);
        }
        tallies[0].purges = purge_before.is_some();
        let merged: Merged;
        let (dedupe, checkpoints, drop_checkpoints, daily, fence) = match (inputs, &*tallies) {
            ([input], [tally]) => (
                &tally.new_keys[..],
                &input.checkpoints[..],
                &input.drop_checkpoints[..],
                &tally.daily,
                input.fence.as_ref(),
            ),
            _ => {
                merged = Merged::of(inputs, tallies);
                // A batch read under a lease is never grouped (see `drive.rs`).
                let m = &merged;
                (
                    &m.dedupe[..],
                    &m.checkpoints[..],
                    &m.drop_checkpoints[..],
                    &m.daily,
                    None,
                )
            }
        };
        let changes = ledger.changes();
        let commit = Commit {
            created: ledger.new_series(&changes.created),
            values: &changes.values,
            all: &*ledger,
            removed: &changes.removed,
            dedupe,
            checkpoints,
            drop_checkpoints,
            now: now_unix,
            purge_before,
            daily,
            daily_before: daily_before.as_deref(),
            fence: fence.map(|(name, fence)| (name.as_str(), *fence)),
        };
        let mut store = self.store();
        match store.prepare(&commit) {
            Some(prepared) => Ok(Some(prepared)),
            None => store.commit(&commit).map(|()| None),
        }
    }

    /// Adds the batch's new records to the ledger and its daily totals (those of days from
    /// `first_day`). Records are decoded on a second thread, a chunk of lines at a time, while
    /// this one accounts the chunk before.
    fn account(
        &mut self,
        ledger: &mut Ledger,
        input: &Input,
        tally: &mut Tally,
        first_day: i32,
    ) -> Result<(), StoreError> {
        let source = ledger.intern(&input.source);
        let (buf, lines) = (&input.buf[..], &input.lines[..]);
        if let Some(k) = input.batch_key {
            // Unless the batch looks its keys up, a delivery committed before is found by its
            // commit (a conflict), and processed again with lookups.
            let seen =
                tally.batch_keys.contains(&k) || (tally.look_up && self.store().seen(&[k])?[0]);
            if seen {
                // A retried delivery: acknowledged again, counted once, as duplicates.
                let n = lines
                    .iter()
                    .map(|l| bedrock::split_records(&buf[l.start..l.end]).len() as u64)
                    .sum();
                tally.summary.duplicates = n;
                self.accounting.records(ledger, source, "duplicate", n);
                return Ok(());
            }
            tally.batch_keys.insert(k);
            tally.new_keys.push(k);
        }
        for reason in &input.rejected {
            tally.summary.malformed += 1;
            self.accounting.malformed(ledger, source, reason);
        }
        let ctx = self.ctx.clone();
        let (ctx, attributes) = (&*ctx, &input.attributes[..]);
        // The daily totals borrow the batch's strings, so each path declares them after what
        // they borrow from, and turns them into owned rows before that goes.
        if lines.len() <= CHUNK_LINES {
            let decoded = decode(buf, lines, 0..lines.len());
            let calls = price_all(ctx, attributes, &decoded);
            let mut days = (daily::Batch::default(), history::Batch::default());
            self.account_records(ledger, input, source, &decoded, calls, tally, &mut days)?;
            tally.daily = days.0.finish(first_day);
            tally.spent = days.1.finish();
            return Ok(());
        }
        // Decoded chunks live here, outside the decoding thread, so the priced calls it
        // sends along can borrow from them.
        let chunks: Vec<std::sync::OnceLock<Vec<Decoded<'_>>>> =
            (0..lines.len().div_ceil(CHUNK_LINES))
                .map(|_| std::sync::OnceLock::new())
                .collect();
        let mut days = (daily::Batch::default(), history::Batch::default());
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel(4);
            let chunks = &chunks;
            scope.spawn(move || {
                for (c, slot) in chunks.iter().enumerate() {
                    let start = c * CHUNK_LINES;
                    let end = (start + CHUNK_LINES).min(lines.len());
                    let decoded = slot.get_or_init(|| decode(buf, lines, start..end));
                    let calls = price_all(ctx, attributes, decoded);
                    if tx.send((decoded, calls)).is_err() {
                        return; // the accounting side failed and stopped listening
                    }
                }
            });
            for (decoded, calls) in rx {
                self.account_records(ledger, input, source, decoded, calls, tally, &mut days)?;
            }
            Ok::<(), StoreError>(())
        })?;
        tally.daily = days.0.finish(first_day);
        tally.spent = days.1.finish();
        Ok(())
    }

    /// Accounts decoded records: drops what a committed batch (or this one) already counted,
    /// prices, attributes and adds the rest (to the ledger, and to the batch's daily totals
    /// and spend history in `days`).
    #[allow(clippy::too_many_arguments)]
    fn account_records<'d>(
        &mut self,
        ledger: &mut Ledger,
        input: &Input,
        source: crate::ledger::Sym,
        decoded: &[Decoded<'_>],
        calls: Vec<Option<PricedCall<'d>>>,
        tally: &mut Tally,
        days: &mut (daily::Batch<'d>, history::Batch<'d>),
    ) -> Result<(), StoreError> {
        let ctx = self.ctx.clone();
        let keys: Vec<DedupeKey> = decoded
            .iter()
            .flat_map(|d| d.keys.iter().flatten().copied())
            .collect();
        let seen: rustc_hash::FxHashSet<DedupeKey> = if tally.look_up {
            (keys.iter().zip(self.store().seen(&keys)?))
                .filter_map(|(k, s)| s.then_some(*k))
                .collect()
        } else {
            Default::default()
        };
        for (d, call) in decoded.iter().zip(calls) {
            let line = &input.lines[d.line];
            let (rec, call) = match (&d.record, call) {
                (Ok(r), Some(call)) => (r, call),
                (Ok(_), None) => unreachable!("every decoded record is priced"),
                (Err(e), _) => {
                    tally.summary.malformed += 1;
                    let bytes = input.buf[line.start..line.end].to_vec();
                    tally.summary.malformed_lines.push((line.line, bytes));
                    self.accounting.malformed(ledger, source, e.reason());
                    if self.throttle.allow("malformed") {
                        tracing::warn!(
                            source = &*input.source,
                            origin = &*input.origin,
                            line = line.line,
                            reason = e.reason(),
                            "skipped a malformed record at {}:{}: {e}",
                            input.origin,
                            line.line
                        );
                    }
                    continue;
                }
            };
            let keys = d.keys.iter().flatten();
            if keys
                .clone()
                .any(|k| seen.contains(k) || tally.batch_keys.contains(k))
            {
                tally.summary.duplicates += 1;
                self.accounting.records(ledger, source, "duplicate", 1);
                // An event seen under a new id (a re-delivered CloudWatch event) is remembered
                // under every id, so a later copy is caught whichever id it carries.
                for k in keys {
                    if !seen.contains(k) && tally.batch_keys.insert(*k) {
                        tally.new_keys.push(*k);
                    }
                }
                continue;
            }
            for k in keys {
                tally.batch_keys.insert(*k);
                tally.new_keys.push(*k);
            }
            tally.newest = Some(tally.newest.map_or(rec.timestamp, |n| n.max(rec.timestamp)));
            if let Outcome::Unpriced { model, reason, .. } = &call.outcome {
                tally.summary.unpriced += 1;
                self.warn_unpriced(model, reason, input, line.line);
            } else {
                tally.summary.accepted += 1;
            }
            self.accounting.call(ledger, source, &call);
            days.0.add(&call);
            days.1.add(&call);
            if ctx.export {
                let row = crate::sinks::row(&call, &ctx.attribution);
                tally
                    .export
                    .push(serde_json::to_vec(&row).expect("JSON values serialise"));
            }
        }
        Ok(())
    }

    fn warn_unpriced(
        &mut self,
        model: &str,
        reason: &crate::pricing::UnpricedReason,
        input: &Input,
        line: u64,
    ) {
        let first = self.unpriced_warned.len() < UNPRICED_WARNED_MAX
            && self
                .unpriced_warned
                .insert((model.to_string(), reason.as_str()));
        if first {
            tracing::warn!(
                model,
                reason = reason.as_str(),
                origin = &*input.origin,
                line,
                "cannot price calls to {model} ({}): {}",
                reason.as_str(),
                reason.hint()
            );
        }
    }
}

#[cfg(test)]
mod tests;
