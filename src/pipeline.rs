//! The pipeline: the one task that owns the ledger. For each batch a source sends it
//! decodes every line, drops what a committed batch already counted, prices and attributes
//! the rest, commits totals + dedupe keys + the source's checkpoint in one transaction, and
//! only then publishes a snapshot for `/metrics` and acknowledges the batch.
//!
//! `process` is synchronous (SQLite is); `run` drives it on a blocking thread.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use tokio::sync::{mpsc, oneshot, watch};

use crate::attribution::{Attribution, Labels};
use crate::bedrock::{self, DecodeError};
use crate::ledger::{Batch, Interner, Metric, SeriesKey, Totals};
use crate::pricing::{self, Aliases, Outcome, RateCards};
use crate::record::{CacheSplit, Record, TokenClass};
use crate::store::{self, Commit, DedupeKey, Store, StoreError};

/// Everything pricing and accounting need. Fixed but for the rate cards, which a reload
/// replaces between batches.
#[derive(Clone)]
pub struct Context {
    pub cards: Arc<RateCards>,
    pub aliases: Aliases,
    pub attribution: Attribution,
    pub max_series: usize,
    pub dedupe_window: Duration,
    /// Build a per-request export row for every newly counted call.
    pub export: bool,
    /// (label, period) pairs whose spend budgets need, accumulated per record timestamp.
    pub budget_periods: Vec<(String, crate::budgets::Period)>,
}

/// One line inside a batch buffer.
#[derive(Debug, Clone)]
pub struct LineRef {
    pub start: usize,
    pub end: usize,
    /// Where it came from, for logs: a line number, an event index.
    pub line: u64,
    /// An id the source itself gives the event (a CloudWatch eventId): deduped as well.
    pub event_key: Option<DedupeKey>,
}

pub type Ack = oneshot::Sender<Result<Summary, Arc<StoreError>>>;

/// What a source hands over: lines in one buffer, the checkpoint to store with them, and
/// where to report the commit.
pub struct Input {
    /// The `source` label: `file`, `stdin`, `demo`, …
    pub source: Arc<str>,
    /// What logs name as the origin (a path, a request id).
    pub origin: Arc<str>,
    pub buf: Vec<u8>,
    pub lines: Vec<LineRef>,
    pub checkpoints: Vec<(String, String)>,
    pub ack: Option<Ack>,
    /// The id of the whole delivery (a Firehose request id): a batch already committed under
    /// it is acknowledged again without being counted.
    pub batch_key: Option<DedupeKey>,
    /// Labels the delivery itself carries (Firehose common attributes): a fallback source for
    /// the configured metadata labels.
    pub attributes: Vec<(String, String)>,
    /// Records the source could not decode, by reason: counted as malformed here.
    pub rejected: Vec<&'static str>,
    /// Rate cards to price this batch and every later one with (a reload).
    pub new_cards: Option<Arc<RateCards>>,
}

impl Input {
    /// A batch with no lines yet (to fill, or to carry only a checkpoint or new rate cards).
    pub fn empty(source: Arc<str>, origin: Arc<str>) -> Input {
        Input::from_ndjson(source, origin, Vec::new(), 1)
    }

    /// Splits newline-delimited text into lines (blank lines are not records).
    pub fn from_ndjson(source: Arc<str>, origin: Arc<str>, buf: Vec<u8>, first_line: u64) -> Input {
        let mut lines = Vec::new();
        let mut start = 0;
        let ends = memchr::memchr_iter(b'\n', &buf).chain(std::iter::once(buf.len()));
        for (n, end) in (first_line..).zip(ends) {
            if start >= buf.len() {
                break;
            }
            let slice = &buf[start..end];
            if !slice.iter().all(u8::is_ascii_whitespace) {
                lines.push(LineRef {
                    start,
                    end,
                    line: n,
                    event_key: None,
                });
            }
            start = end + 1;
        }
        Input {
            source,
            origin,
            buf,
            lines,
            checkpoints: Vec::new(),
            ack: None,
            batch_key: None,
            attributes: Vec::new(),
            rejected: Vec::new(),
            new_cards: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub accepted: u64,
    pub unpriced: u64,
    pub duplicates: u64,
    pub malformed: u64,
    /// Indexes into `Input::lines` of the lines that were not valid records.
    pub malformed_at: Vec<usize>,
}

impl Summary {
    pub fn add(&mut self, other: &Summary) {
        self.accepted += other.accepted;
        self.unpriced += other.unpriced;
        self.duplicates += other.duplicates;
        self.malformed += other.malformed;
    }
}

/// What `/metrics` and `/readyz` read: an O(1) copy of the totals and the pipeline's health.
#[derive(Clone, Default)]
pub struct Snapshot {
    pub totals: Totals,
    /// Unix seconds of the newest record timestamp read, per source.
    pub last_record: BTreeMap<String, i64>,
    /// False after a failed commit, until one succeeds.
    pub store_writable: bool,
    pub store_error: Option<String>,
    /// The rate cards in force.
    pub cards: Arc<RateCards>,
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

/// How often expired dedupe keys are purged (inside a normal commit).
const PURGE_EVERY: Duration = Duration::from_secs(600);
/// Distinct (model, reason) pairs remembered for "warn once"; past it, new pairs are only
/// counted in `bedrock_unpriced_invocations_total`, not logged.
const UNPRICED_WARNED_MAX: usize = 1000;

pub struct Pipeline {
    ctx: Arc<Context>,
    store: Box<dyn Store>,
    totals: Totals,
    interner: Interner,
    last_record: BTreeMap<String, i64>,
    last_purge: Option<Instant>,
    throttle: Throttle,
    unpriced_warned: HashSet<(String, &'static str)>,
    /// Export rows of the batch being processed, handed over only after its commit.
    export_rows: Vec<Vec<u8>>,
}

impl Pipeline {
    /// Loads the totals and returns the sources' checkpoints.
    pub fn open(
        ctx: Arc<Context>,
        mut store: Box<dyn Store>,
    ) -> Result<(Pipeline, HashMap<String, String>), StoreError> {
        let loaded = store.load()?;
        let mut interner = Interner::default();
        let mut totals = Totals::default();
        for (metric, labels, value) in &loaded.series {
            let pairs: Vec<(&str, &str)> = labels
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            totals.insert(
                SeriesKey {
                    metric: *metric,
                    labels: interner.get(&pairs),
                },
                *value,
            );
        }
        let p = Pipeline {
            ctx,
            store,
            totals,
            interner,
            last_record: BTreeMap::new(),
            last_purge: None,
            throttle: Throttle {
                burst: 5,
                windows: HashMap::new(),
            },
            unpriced_warned: HashSet::new(),
            export_rows: Vec::new(),
        };
        Ok((p, loaded.checkpoints))
    }

    pub fn snapshot(&self, store_error: Option<String>) -> Snapshot {
        Snapshot {
            totals: self.totals.clone(),
            last_record: self.last_record.clone(),
            store_writable: store_error.is_none(),
            store_error,
            cards: self.ctx.cards.clone(),
        }
    }

    /// Prices every later batch with `cards`.
    pub fn replace_cards(&mut self, cards: Arc<RateCards>) {
        let mut ctx = (*self.ctx).clone();
        ctx.cards = cards;
        self.ctx = Arc::new(ctx);
    }

    /// The export rows of the last committed batch.
    pub fn take_export(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.export_rows)
    }

    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Accounts one batch and commits it. On error nothing of the batch is kept.
    pub fn process(&mut self, input: &Input, now_unix: i64) -> Result<Summary, StoreError> {
        let ctx = self.ctx.clone();
        let source = &*input.source;
        self.export_rows.clear();
        let mut summary = Summary::default();
        let mut batch = Batch::new(&self.totals, &mut self.interner, ctx.max_series);
        let mut newest = None::<i64>;

        // Decode, and gather every dedupe key so the store is asked once per batch. A line
        // holding a JSON array is several records (some S3 writers frame them so).
        let mut items: Vec<(usize, &[u8], Option<DedupeKey>)> =
            Vec::with_capacity(input.lines.len());
        for (i, l) in input.lines.iter().enumerate() {
            let bytes = &input.buf[l.start..l.end];
            match bedrock::split_records(bytes).as_slice() {
                [one] => items.push((i, one, l.event_key)),
                many => items.extend(many.iter().map(|e| (i, *e, None))),
            }
        }
        let mut parsed: Vec<(usize, Result<Record<'_>, DecodeError>, Vec<DedupeKey>)> =
            Vec::with_capacity(items.len());
        for (i, bytes, event_key) in items {
            let rec = bedrock::parse(bytes);
            let mut keys = Vec::with_capacity(2);
            if let Ok(r) = &rec {
                keys.push(match &r.request_id {
                    Some(id) => store::dedupe_key("req", id.as_bytes()),
                    None => store::dedupe_key("line", bytes),
                });
            }
            keys.extend(event_key);
            parsed.push((i, rec, keys));
        }
        let all_keys: Vec<DedupeKey> = parsed
            .iter()
            .flat_map(|(_, _, k)| k.iter().copied())
            .chain(input.batch_key)
            .collect();
        let seen = self.store.seen(&all_keys)?;
        let seen: HashSet<DedupeKey> = all_keys
            .iter()
            .zip(seen)
            .filter(|(_, s)| *s)
            .map(|(k, _)| *k)
            .collect();

        let mut new_keys: Vec<DedupeKey> = Vec::new();
        let mut batch_keys: HashSet<DedupeKey> = HashSet::new();
        if let Some(k) = input.batch_key {
            if seen.contains(&k) {
                // A retried delivery: acknowledged again, counted once, as duplicates.
                summary.duplicates = parsed.len() as u64;
                parsed.clear();
                batch.add(
                    Metric::Records,
                    &[("source", source), ("result", "duplicate")],
                    Decimal::from(summary.duplicates),
                );
            } else {
                new_keys.push(k);
            }
        }
        let retried = input.batch_key.is_some_and(|k| seen.contains(&k));
        for reason in input.rejected.iter().filter(|_| !retried) {
            summary.malformed += 1;
            batch.inc(
                Metric::Records,
                &[("source", source), ("result", "malformed")],
            );
            batch.inc(Metric::Malformed, &[("source", source), ("reason", reason)]);
        }
        for (i, rec, keys) in &parsed {
            let line = &input.lines[*i];
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    summary.malformed += 1;
                    summary.malformed_at.push(*i);
                    batch.inc(
                        Metric::Records,
                        &[("source", source), ("result", "malformed")],
                    );
                    batch.inc(
                        Metric::Malformed,
                        &[("source", source), ("reason", e.reason())],
                    );
                    if self.throttle.allow("malformed") {
                        tracing::warn!(
                            source,
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
            if keys
                .iter()
                .any(|k| seen.contains(k) || batch_keys.contains(k))
            {
                summary.duplicates += 1;
                batch.inc(
                    Metric::Records,
                    &[("source", source), ("result", "duplicate")],
                );
                // An event seen under a new id (a re-delivered CloudWatch event) is remembered
                // under every id, so a later copy is caught whichever id it carries.
                for k in keys {
                    if !seen.contains(k) && batch_keys.insert(*k) {
                        new_keys.push(*k);
                    }
                }
                continue;
            }
            for k in keys {
                batch_keys.insert(*k);
                new_keys.push(*k);
            }
            newest = Some(newest.map_or(rec.timestamp, |n| n.max(rec.timestamp)));
            let outcome = pricing::price(&ctx.cards, &ctx.aliases, rec);
            let labels = ctx.attribution.attribute_with(rec, &input.attributes);
            if let Outcome::Unpriced { model, reason } = &outcome {
                summary.unpriced += 1;
                let first = self.unpriced_warned.len() < UNPRICED_WARNED_MAX
                    && self
                        .unpriced_warned
                        .insert((model.to_string(), reason.as_str()));
                if first {
                    tracing::warn!(
                        model,
                        reason = reason.as_str(),
                        origin = &*input.origin,
                        line = line.line,
                        "cannot price calls to {model} ({}): {}",
                        reason.as_str(),
                        reason.hint()
                    );
                }
            } else {
                summary.accepted += 1;
            }
            account(&mut batch, &ctx.attribution, source, rec, &outcome, &labels);
            if let Outcome::Priced(p) = &outcome {
                for (label, period) in &ctx.budget_periods {
                    let subject = match label.as_str() {
                        "user" => &*labels.user,
                        "feature" => &*labels.feature,
                        other => ctx
                            .attribution
                            .extra_names()
                            .zip(&labels.extra)
                            .find(|(n, _)| *n == other)
                            .map_or("none", |(_, v)| &**v),
                    };
                    let start = period.key(rec.timestamp);
                    batch.add(
                        Metric::PeriodSpend,
                        &[
                            ("label", label),
                            ("subject", subject),
                            ("period", period.as_str()),
                            ("start", &start),
                        ],
                        p.total,
                    );
                }
            }
            if ctx.export {
                let row = crate::sinks::row(rec, &labels, &ctx.attribution, &outcome);
                self.export_rows
                    .push(serde_json::to_vec(&row).expect("JSON values serialise"));
            }
        }

        let purge_before = match self.last_purge {
            Some(t) if t.elapsed() < PURGE_EVERY => None,
            _ => Some(now_unix - ctx.dedupe_window.as_secs() as i64),
        };
        if purge_before.is_some() {
            prune_past_periods(&mut batch, now_unix);
        }
        let removed = batch.removed.clone();
        let series: Vec<(&SeriesKey, Decimal)> = batch
            .dirty
            .iter()
            .map(|k| (k, batch.totals.get(k).expect("dirty keys exist")))
            .collect();
        self.store.commit(&Commit {
            series,
            removed: removed.iter().collect(),
            dedupe: &new_keys,
            checkpoints: &input.checkpoints,
            now: now_unix,
            purge_before,
        })?;
        if purge_before.is_some() {
            self.last_purge = Some(Instant::now());
        }
        self.totals = batch.totals;
        if let Some(ts) = newest {
            let e = self.last_record.entry(source.to_string()).or_insert(ts);
            *e = (*e).max(ts);
        }
        Ok(summary)
    }
}

/// Drops budget spend of periods before the previous one: budgets show only the current
/// period, and the previous one stays for late records.
fn prune_past_periods(batch: &mut Batch<'_>, now_unix: i64) {
    use crate::budgets::Period;
    let keep = |period: &str, start: &str| {
        Period::parse(period)
            .is_some_and(|p| start == p.key(now_unix) || start == p.previous_key(now_unix))
    };
    let stale: Vec<SeriesKey> = batch
        .totals
        .iter()
        .filter(|(k, _)| k.metric == Metric::PeriodSpend)
        .filter(|(k, _)| {
            let get = |n: &str| {
                k.labels
                    .iter()
                    .find(|(a, _)| &**a == n)
                    .map(|(_, v)| &**v)
                    .unwrap_or("")
            };
            !keep(get("period"), get("start"))
        })
        .map(|(k, _)| k.clone())
        .collect();
    for k in &stale {
        batch.remove(k);
    }
}

/// Adds one call to the counters. Unpriced and failed calls still count their tokens and
/// invocations; only priced calls add money.
fn account(
    batch: &mut Batch<'_>,
    attribution: &Attribution,
    source: &str,
    rec: &Record<'_>,
    outcome: &Outcome<'_>,
    labels: &Labels<'_>,
) {
    let (model, result) = match outcome {
        Outcome::Priced(p) => (p.model, "accepted"),
        Outcome::NotBilled { model } => (*model, "accepted"),
        Outcome::Unpriced { model, .. } => (*model, "unpriced"),
    };
    let model = crate::attribution::sanitize(model);
    let (user, feature) = (&*labels.user, &*labels.feature);
    batch.inc(Metric::Records, &[("source", source), ("result", result)]);
    let status = if rec.error_code.is_some() {
        "error"
    } else {
        "success"
    };
    batch.inc(
        Metric::Invocations,
        &[
            ("user", user),
            ("feature", feature),
            ("model", &model),
            ("outcome", status),
        ],
    );
    for class in TokenClass::ALL {
        let n = rec.tokens.get(class);
        if n > 0 {
            batch.add(
                Metric::Tokens,
                &[
                    ("user", user),
                    ("feature", feature),
                    ("model", &model),
                    ("token_type", class.as_str()),
                ],
                Decimal::from(n),
            );
        }
    }
    match outcome {
        Outcome::Priced(p) => {
            let mut pairs: Vec<(&str, &str)> =
                vec![("user", user), ("feature", feature), ("model", &model)];
            pairs.extend(
                attribution
                    .extra_names()
                    .zip(labels.extra.iter().map(|v| &**v)),
            );
            batch.add(Metric::Cost, &pairs, p.total);
            for class in TokenClass::ALL {
                if rec.tokens.get(class) > 0 {
                    batch.add(
                        Metric::ModelCost,
                        &[
                            ("model", &model),
                            ("region", &rec.region),
                            ("scope", p.scope.as_str()),
                            ("token_type", class.as_str()),
                        ],
                        p.cost[class as usize],
                    );
                }
            }
            if !p.cache_read_savings.is_zero() {
                batch.add(
                    Metric::CacheSavings,
                    &[("model", &model)],
                    p.cache_read_savings,
                );
            }
            if rec.cache_split == CacheSplit::Assumed5m {
                batch.add(
                    Metric::TtlAssumed,
                    &[("model", &model)],
                    Decimal::from(rec.tokens.cache_write_5m),
                );
            }
        }
        Outcome::Unpriced { reason, .. } => batch.inc(
            Metric::Unpriced,
            &[("model", &model), ("reason", reason.as_str())],
        ),
        Outcome::NotBilled { .. } => {}
    }
}

/// Drives the pipeline until every sender is gone: process, publish, acknowledge.
pub fn run(
    mut pipeline: Pipeline,
    mut rx: mpsc::Receiver<Input>,
    snapshots: watch::Sender<Arc<Snapshot>>,
    health: crate::metrics::Health,
    exporter: Option<crate::sinks::Exporter>,
) {
    let _ = snapshots.send(Arc::new(pipeline.snapshot(None)));
    while let Some(mut input) = rx.blocking_recv() {
        if let Some(cards) = input.new_cards.take() {
            pipeline.replace_cards(cards);
        }
        let started = Instant::now();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let result = pipeline.process(&input, now);
        health
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        let ack = input.ack.take();
        match result {
            Ok(summary) => {
                if !snapshots.borrow().store_writable {
                    tracing::info!("the state store accepts commits again; acknowledging resumes");
                }
                let _ = snapshots.send(Arc::new(pipeline.snapshot(None)));
                if let Some(e) = &exporter {
                    e.offer(&pipeline.take_export());
                }
                if let Some(ack) = ack {
                    let _ = ack.send(Ok(summary));
                }
            }
            Err(e) => {
                health.commit_errors.with_label_values(&[e.kind()]).inc();
                if snapshots.borrow().store_writable {
                    tracing::error!(
                        kind = e.kind(),
                        "cannot commit a batch from {}: {e}",
                        input.origin
                    );
                }
                let _ = snapshots.send(Arc::new(pipeline.snapshot(Some(e.to_string()))));
                if let Some(ack) = ack {
                    let _ = ack.send(Err(Arc::new(e)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
