//! The journal of the PostgreSQL store (schema 3): one row per commit holding the batch's
//! series deltas, so a commit writes O(1) rows for its series instead of one upsert per
//! series touched (issue 12). Owns the rows' byte layout, storing the definitions of new
//! series (which give them the ids the rows name them by), reading a store's values
//! (`series` plus the journal rows not folded into it yet), folding the journal into
//! `series` and deleting folded rows past their retention.
//!
//! A row names each series by its database id (`series.id`, drawn when a commit first
//! stores the series' definition), so an entry is a few bytes: the id and the delta, both
//! varints. The ids a commit removed are a column of their own (`removed`): readers apply
//! them after the row's deltas, and a fold has nothing to do for them (the commit deleted
//! the series' row, and ids are never reused: a delta to a removed id finds no row).
//!
//! Values are summed with wrapping `i128` arithmetic: a delta is `new - old` of two `i128`s,
//! which may not fit one, but every true value fits, and wrapping sums are exact modulo
//! 2^128, so base + the wrapped deltas is the true value. The fold adds in `numeric` and
//! wraps the same way (see `WRAPPED_ADD`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use postgres::Transaction;

use super::codec::{put_signed, put_varint, Reader};
use super::postgres::{Failed, KEYED_PLANS, ROWS_PER_STATEMENT};
use super::StoreError;

/// One change in a journal row: the series' database id and how much its value moved (a
/// series created at zero has a delta of 0: that it exists is news to other replicas).
#[derive(Clone, Copy)]
pub(super) struct Entry {
    pub id: i64,
    pub delta: i128,
    /// The commit that wrote the row stored the series' definition with this value: its
    /// `series` row holds it already, so folds and whole-store reads skip the entry, and
    /// refreshes add it like any other (a series new to the database is new to every
    /// replica). The bench's folds were mostly the first value of new series.
    pub created: bool,
}

/// A stored series: its definition and value.
pub(super) struct Series {
    pub metric: String,
    pub labels: Vec<u8>,
    pub value: i128,
}

/// Every live series, by database id.
pub(super) type Values = BTreeMap<i64, Series>;

pub(super) fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 8);
    for e in entries {
        put_varint(&mut out, ((e.id as u128) << 1) | u128::from(e.created));
        put_signed(&mut out, e.delta);
    }
    out
}

/// The entries of a row, in order; `None` if it is not well formed.
pub(super) fn decode(blob: &[u8]) -> Option<Vec<Entry>> {
    let mut r = Reader(blob);
    let mut out = Vec::new();
    while !r.0.is_empty() {
        let tagged = r.varint()?;
        out.push(Entry {
            id: i64::try_from(tagged >> 1).ok()?,
            delta: r.signed()?,
            created: tagged & 1 == 1,
        });
    }
    Some(out)
}

/// Applies one row to `values`: its deltas, then its removals. A delta to an id with no
/// series is one written after the series was removed (by a replica that had not read the
/// removal yet): the database dropped it too.
pub(super) fn apply(values: &mut Values, entries: &[Entry], removed: &[i64]) {
    for e in entries.iter().filter(|e| !e.created) {
        if let Some(s) = values.get_mut(&e.id) {
            s.value = s.value.wrapping_add(e.delta);
        }
    }
    for id in removed {
        values.remove(id);
    }
}

/// The highest journal id deleted so far: a reader whose last id is below it missed rows.
pub(super) fn pruned(tx: &mut Transaction<'_>) -> Result<i64, Failed> {
    let v: Option<String> = tx
        .query_opt("SELECT value FROM meta WHERE key = 'journal_pruned'", &[])?
        .map(|r| r.get(0));
    Ok(pruned_mark(v))
}

/// The stored mark of [`pruned`] (none yet: 0).
fn pruned_mark(v: Option<String>) -> i64 {
    v.and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// [`pruned`], and the age in seconds of the oldest unfolded row (0: none). The oldest is the
/// first by id (ids follow commit order), found on the index of unfolded rows however many
/// there are (a stalled fold leaves many).
pub(super) const PRUNED_AND_UNFOLDED_AGE: &str = "SELECT (SELECT value FROM meta WHERE key = 'journal_pruned'), \
     coalesce((SELECT extract(epoch FROM clock_timestamp() - at)::float8 FROM journal WHERE NOT folded ORDER BY id LIMIT 1), 0)";

/// [`PRUNED_AND_UNFOLDED_AGE`], in one round trip (a refresh reads both every second).
pub(super) fn pruned_and_unfolded_age(tx: &mut Transaction<'_>) -> Result<(i64, f64), Failed> {
    let r = tx.query_one(PRUNED_AND_UNFOLDED_AGE, &[])?;
    Ok((pruned_mark(r.get(0)), r.get(1)))
}

/// Every series' value (`series` plus the unfolded journal) and the highest journal id they
/// include; `None` for a value or row that does not decode. Both reads must see the same
/// database (one snapshot): a fold committed between them would count rows twice.
pub(super) fn image(tx: &mut Transaction<'_>) -> Result<Option<(Values, i64)>, Failed> {
    let mut values = Values::new();
    for r in tx.query("SELECT id, metric, labels, value::text FROM series", &[])? {
        let Ok(value) = r.get::<_, &str>(3).parse::<i128>() else {
            return Ok(None);
        };
        let (metric, labels) = (r.get(1), r.get(2));
        values.insert(
            r.get(0),
            Series {
                metric,
                labels,
                value,
            },
        );
    }
    let mut last = pruned(tx)?;
    for r in tx.query(
        "SELECT id, deltas, removed FROM journal WHERE NOT folded ORDER BY id",
        &[],
    )? {
        let Some(entries) = decode(r.get(1)) else {
            return Ok(None);
        };
        let removed: Option<Vec<i64>> = r.get(2);
        apply(
            &mut values,
            &entries,
            removed.as_deref().unwrap_or_default(),
        );
        last = last.max(r.get(0));
    }
    let max: Option<i64> = tx.query_one("SELECT max(id) FROM journal", &[])?.get(0);
    Ok(Some((values, last.max(max.unwrap_or(0)))))
}

/// `series.value + t.d` wrapped into `i128` (see the module doc): the sum is at least
/// -2^128, so adding 2^127 + 2^128 keeps `mod`'s argument positive.
const WRAPPED_ADD: &str = "mod(s.value + t.d::numeric + 510423550381407695195061911147652317184, 340282366920938463463374607431768211456) - 170141183460469231731687303715884105728";

/// Folds every unfolded journal row into `series` and marks them folded, then deletes the
/// folded rows older than `retention` (a replica that is behind may still read them until
/// then). Returns false for a row that does not decode (nothing is folded then).
pub(super) fn fold(tx: &mut Transaction<'_>, retention: Duration) -> Result<bool, Failed> {
    let rows = tx.query(
        "SELECT id, deltas FROM journal WHERE NOT folded ORDER BY id",
        &[],
    )?;
    let mut sums: HashMap<i64, i128> = HashMap::new();
    let mut upto = 0i64;
    for r in &rows {
        let Some(entries) = decode(r.get(1)) else {
            return Ok(false);
        };
        for e in entries.iter().filter(|e| !e.created) {
            let s = sums.entry(e.id).or_default();
            *s = s.wrapping_add(e.delta);
        }
        upto = upto.max(r.get(0));
    }
    drop(rows);
    tx.batch_execute(KEYED_PLANS)?;
    // By primary key (whatever the statistics: a hash join would scan all of `series`), in
    // id order (two folds never lock rows in opposite orders); `value` has no index and the
    // pages have room, so the updates can be HOT.
    let mut sums: Vec<(i64, i128)> = sums.into_iter().filter(|s| s.1 != 0).collect();
    sums.sort_unstable();
    let update = format!(
        "UPDATE series s SET value = {WRAPPED_ADD} FROM unnest($1::bigint[], $2::text[]) AS t(i, d) WHERE s.id = t.i"
    );
    for part in sums.chunks(ROWS_PER_STATEMENT) {
        let ids: Vec<i64> = part.iter().map(|s| s.0).collect();
        let deltas: Vec<String> = part.iter().map(|s| s.1.to_string()).collect();
        tx.execute(&update, &[&ids, &deltas])?;
    }
    tx.execute(
        "UPDATE journal SET folded = true WHERE NOT folded AND id <= $1",
        &[&upto],
    )?;
    let gone: Option<i64> = tx
        .query_one(
            "WITH d AS (DELETE FROM journal WHERE folded AND at < clock_timestamp() - make_interval(secs => $1) RETURNING id) SELECT max(id) FROM d",
            &[&retention.as_secs_f64()],
        )?
        .get(0);
    if let Some(gone) = gone {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('journal_pruned', $1) \
             ON CONFLICT (key) DO UPDATE SET value = greatest(meta.value::bigint, EXCLUDED.value::bigint)::text",
            &[&gone.to_string()],
        )?;
    }
    Ok(true)
}

/// Stores the definitions of `fresh` series (metric, encoded labels) with their values and
/// returns their database ids, in order, each with whether this commit stored it (false: a
/// series another replica stored already keeps its row, and the value is a delta to it).
/// Under the commit lock: no other commit stores or removes a definition meanwhile, so what
/// the insert's read does not find, it creates. That read is what keeps a definition stored
/// once (schema 4 has no unique index on it, see `UPGRADES`): it compares metric and labels,
/// the hash index on the labels only finds the candidates. A commit that holds one
/// definition twice is refused, as the unique index refused it (the second would not find
/// the first, inserted by the same statement).
pub(super) fn define(
    tx: &mut Transaction<'_>,
    fresh: &[(u32, &'static str, Vec<u8>, i128)],
) -> Result<Vec<(i64, bool)>, Failed> {
    let distinct: HashSet<(&str, &[u8])> = fresh.iter().map(|f| (f.1, &f.2[..])).collect();
    if distinct.len() != fresh.len() {
        return Err(Failed::Store(StoreError::Io(
            "two series of one commit have the same definition".into(),
        )));
    }
    let mut ids = Vec::with_capacity(fresh.len());
    for part in fresh.chunks(ROWS_PER_STATEMENT) {
        let metrics: Vec<&str> = part.iter().map(|f| f.1).collect();
        let labels: Vec<&[u8]> = part.iter().map(|f| &f.2[..]).collect();
        let values: Vec<String> = part.iter().map(|f| f.3.to_string()).collect();
        let at: HashMap<(&str, &[u8]), usize> = metrics
            .iter()
            .zip(&labels)
            .enumerate()
            .map(|(i, (m, l))| ((*m, *l), i))
            .collect();
        let mut found: Vec<Option<(i64, bool)>> = vec![None; part.len()];
        let mut left = part.len();
        for r in tx.query(
            "INSERT INTO series (metric, labels, value) SELECT m, l, v::numeric FROM unnest($1::text[], $2::bytea[], $3::text[]) AS t(m, l, v) \
             WHERE NOT EXISTS (SELECT 1 FROM series s WHERE s.metric = t.m AND s.labels = t.l) RETURNING id, metric, labels",
            &[&metrics, &labels, &values],
        )? {
            if let Some(&i) = at.get(&(r.get::<_, &str>(1), r.get::<_, &[u8]>(2))) {
                found[i] = Some((r.get(0), true));
                left -= 1;
            }
        }
        // Those another replica stored: only they are looked up again.
        if left > 0 {
            let (m, l): (Vec<&str>, Vec<&[u8]>) = (0..part.len())
                .filter(|&i| found[i].is_none())
                .map(|i| (metrics[i], labels[i]))
                .unzip();
            for r in tx.query(
                "SELECT s.id, s.metric, s.labels FROM unnest($1::text[], $2::bytea[]) AS t(m, l) JOIN series s ON s.metric = t.m AND s.labels = t.l",
                &[&m, &l],
            )? {
                if let Some(&i) = at.get(&(r.get::<_, &str>(1), r.get::<_, &[u8]>(2))) {
                    found[i].get_or_insert((r.get(0), false));
                }
            }
        }
        for id in found {
            ids.push(id.ok_or_else(|| {
                Failed::Store(StoreError::Io(
                    "a series definition just stored is not there".into(),
                ))
            })?);
        }
    }
    Ok(ids)
}
