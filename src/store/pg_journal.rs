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
use rustc_hash::FxHashMap;

use super::codec::{put_signed, put_varint, Reader};
use super::postgres::{Failed, KEYED_PLANS, ROWS_PER_STATEMENT};
use super::StoreError;
use crate::ledger::Metric;

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

/// A stored series of a metric this build exports: its definition and value.
pub(super) struct Series {
    pub metric: Metric,
    pub labels: Vec<u8>,
    pub value: i128,
}

/// Every live series of the metrics this build exports, by database id.
pub(super) type Values = BTreeMap<i64, Series>;

pub(super) fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 8);
    for e in entries {
        put_varint(&mut out, ((e.id as u128) << 1) | u128::from(e.created));
        put_signed(&mut out, e.delta);
    }
    out
}

/// Hands each entry of a row to `f`, in order, without collecting them (a whole-store read
/// goes through millions); `None` if the row is not well formed (`f` has seen the entries
/// before the fault, so a caller drops what it summed).
pub(super) fn each(blob: &[u8], mut f: impl FnMut(Entry)) -> Option<()> {
    let mut r = Reader(blob);
    while !r.0.is_empty() {
        let tagged = r.varint()?;
        f(Entry {
            id: i64::try_from(tagged >> 1).ok()?,
            delta: r.signed()?,
            created: tagged & 1 == 1,
        });
    }
    Some(())
}

/// The unfolded rows' changes to the series, summed: each id's deltas (wrapping) and the ids
/// removed. Summed first, then applied in one pass over the series ([`Changes::apply`]): a
/// whole-store read applies every unfolded row, millions of entries after a backfill, and a
/// lookup per entry in the map of series was most of a restart's time (issue 12).
pub(super) struct Changes {
    sums: Sums,
    removed: Vec<i64>,
}

/// Each series' summed deltas.
enum Sums {
    /// One slot per id from `base` (ids come from a sequence, so the series' ids are dense
    /// but for the gaps removed series leave): an entry costs one index, not a hash lookup
    /// in a table of every series.
    Dense { base: i64, sums: Vec<i128> },
    /// By id, when the gaps outweigh the series ([`DENSE_SLOTS_PER_SERIES`]).
    Sparse(FxHashMap<i64, i128>),
}

/// How many slots per stored series [`Sums::Dense`] may take (16 bytes each).
const DENSE_SLOTS_PER_SERIES: u64 = 4;

impl Changes {
    /// Changes to be applied to `values` (whose ids set their layout).
    pub(super) fn new(values: &Values) -> Changes {
        match (values.first_key_value(), values.last_key_value()) {
            (Some((&lo, _)), Some((&hi, _))) => {
                Changes::over(lo, hi, DENSE_SLOTS_PER_SERIES * values.len() as u64)
            }
            _ => Changes::over(1, 0, 0),
        }
    }

    /// Changes to series of ids in `lo..=hi`: one slot per id if that is fewer than
    /// `max_slots`, else by id (an entry out of the range is dropped in the first layout).
    fn over(lo: i64, hi: i64, max_slots: u64) -> Changes {
        let sums = if hi >= lo && hi.abs_diff(lo) < max_slots {
            Sums::Dense {
                base: lo,
                sums: vec![0; hi.abs_diff(lo) as usize + 1],
            }
        } else {
            Sums::Sparse(FxHashMap::default())
        };
        Changes {
            sums,
            removed: Vec::new(),
        }
    }

    /// The non-zero sums, by id in id order (what a fold writes).
    fn nonzero(self) -> Vec<(i64, i128)> {
        match self.sums {
            Sums::Dense { base, sums } => (sums.into_iter().enumerate())
                .filter(|s| s.1 != 0)
                .map(|(i, s)| (base + i as i64, s))
                .collect(),
            Sums::Sparse(sums) => {
                let mut v: Vec<(i64, i128)> = sums.into_iter().filter(|s| s.1 != 0).collect();
                v.sort_unstable();
                v
            }
        }
    }

    /// Adds one entry of a row: its delta (but not that of a series the row's commit stored,
    /// whose `series` row holds it already).
    pub(super) fn add(&mut self, e: Entry) {
        if e.created {
            return;
        }
        let sum = match &mut self.sums {
            // An id out of range has no series: dropped as `apply` drops it.
            Sums::Dense { base, sums } => {
                let i = usize::try_from(e.id.wrapping_sub(*base)).ok();
                match i.and_then(|i| sums.get_mut(i)) {
                    Some(s) => s,
                    None => return,
                }
            }
            Sums::Sparse(sums) => sums.entry(e.id).or_default(),
        };
        *sum = sum.wrapping_add(e.delta);
    }

    /// Adds the ids a row removed (after its entries).
    pub(super) fn remove(&mut self, ids: &[i64]) {
        self.removed.extend_from_slice(ids);
    }

    /// Applies the rows added to the `values` they were made for, as applying them one by
    /// one would, since ids are never reused: a removed series is gone whatever came before
    /// or after its removal (a delta to it after the removal was written by a replica that
    /// had not read the removal yet, and the database dropped it too), a delta to an id with
    /// no series is dropped, and wrapping sums add up in any order.
    pub(super) fn apply(self, values: &mut Values) {
        for (&id, s) in values.iter_mut() {
            let d = match &self.sums {
                Sums::Dense { base, sums } => sums[id.abs_diff(*base) as usize],
                Sums::Sparse(sums) => sums.get(&id).copied().unwrap_or(0),
            };
            s.value = s.value.wrapping_add(d);
        }
        for id in &self.removed {
            values.remove(id);
        }
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
        // A metric this build no longer exports stays in the database, unread.
        let Some(metric) = Metric::from_name(r.get(1)) else {
            continue;
        };
        let labels = r.get(2);
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
    let mut changes = Changes::new(&values);
    for r in tx.query(
        "SELECT id, deltas, removed FROM journal WHERE NOT folded ORDER BY id",
        &[],
    )? {
        if each(r.get(1), |e| changes.add(e)).is_none() {
            return Ok(None);
        }
        let removed: Option<Vec<i64>> = r.get(2);
        changes.remove(removed.as_deref().unwrap_or_default());
        last = last.max(r.get(0));
    }
    changes.apply(&mut values);
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
    // The entries' ids first (decoding is cheap, a hash lookup per entry in a table of
    // every series touched is not: it was most of a fold's time), so the sums can take a
    // slot per id when the ids are no more than the entries.
    let (mut lo, mut hi, mut entries) = (i64::MAX, i64::MIN, 0u64);
    let mut upto = 0i64;
    for r in &rows {
        let read = each(r.get(1), |e| {
            if !e.created {
                (lo, hi, entries) = (lo.min(e.id), hi.max(e.id), entries + 1);
            }
        });
        if read.is_none() {
            return Ok(false);
        }
        upto = upto.max(r.get(0));
    }
    let mut changes = Changes::over(lo, hi, entries);
    for r in &rows {
        each(r.get(1), |e| changes.add(e));
    }
    drop(rows);
    tx.batch_execute(KEYED_PLANS)?;
    // By primary key (whatever the statistics: a hash join would scan all of `series`), in
    // id order (two folds never lock rows in opposite orders); `value` has no index and the
    // pages have room, so the updates can be HOT.
    let sums = changes.nonzero();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows applied one by one, as whole-store reads applied them before [`Changes`].
    fn one_by_one(values: &mut Values, rows: &[(Vec<Entry>, Vec<i64>)]) {
        for (entries, removed) in rows {
            for e in entries.iter().filter(|e| !e.created) {
                if let Some(s) = values.get_mut(&e.id) {
                    s.value = s.value.wrapping_add(e.delta);
                }
            }
            for id in removed {
                values.remove(id);
            }
        }
    }

    fn entry(id: i64, delta: i128) -> Entry {
        Entry {
            id,
            delta,
            created: false,
        }
    }

    fn values(ids: &[i64]) -> Values {
        ids.iter()
            .map(|&id| {
                let labels = vec![id as u8];
                let s = Series {
                    metric: Metric::Cost,
                    labels,
                    value: i128::from(id) * 1000,
                };
                (id, s)
            })
            .collect()
    }

    /// Summed changes give what one-by-one application gives, with ids dense enough for one
    /// slot per id and too sparse for it: deltas before and after a removal, to ids with no
    /// series (below, between and above the stored ones), created entries skipped, sums that
    /// wrap.
    #[test]
    fn summed_changes_equal_rows_applied_one_by_one() {
        let rows = |ids: &[i64]| {
            let (a, b, c) = (ids[0], ids[1], ids[2]);
            vec![
                (
                    vec![
                        entry(a, 5),
                        entry(b, i128::MAX),
                        entry(c, 7),
                        entry(-3, 1),
                        entry(a + 1, 2),
                    ],
                    vec![],
                ),
                (vec![entry(b, 10), entry(c, 1)], vec![c]),
                (
                    vec![
                        entry(c, 100),
                        Entry {
                            id: a,
                            delta: 1_000_000,
                            created: true,
                        },
                        entry(i64::MAX, 9),
                        entry(a, -2),
                    ],
                    vec![],
                ),
            ]
        };
        let dense = |c: &Changes| matches!(c.sums, Sums::Dense { .. });
        for ids in [vec![10, 12, 13], vec![1, 500, 1_000_000]] {
            let mut expected = values(&ids);
            let mut got = values(&ids);
            let mut changes = Changes::new(&got);
            assert_eq!(dense(&changes), ids[2] < 100, "layout for {ids:?}");
            let rows = rows(&ids);
            one_by_one(&mut expected, &rows);
            for (entries, removed) in &rows {
                entries.iter().for_each(|e| changes.add(*e));
                changes.remove(removed);
            }
            changes.apply(&mut got);
            let pairs = |v: &Values| v.iter().map(|(id, s)| (*id, s.value)).collect::<Vec<_>>();
            assert_eq!(pairs(&got), pairs(&expected), "{ids:?}");
            assert_eq!(got.len(), 2);
        }
        let mut empty = Values::new();
        let mut changes = Changes::new(&empty);
        assert!(!dense(&changes));
        changes.add(entry(1, 1));
        changes.remove(&[1]);
        changes.apply(&mut empty);
        assert!(empty.is_empty());
    }

    /// What a fold writes: the non-zero sums by id, in id order, the same in both layouts.
    #[test]
    fn a_folds_sums_are_the_same_in_both_layouts() {
        let rows = [
            vec![entry(7, 5), entry(3, i128::MAX), entry(5, 1)],
            vec![entry(3, 2), entry(5, -1), entry(9, 4)],
            vec![
                Entry {
                    id: 4,
                    delta: 8,
                    created: true,
                },
                entry(7, -5),
                entry(3, 1),
            ],
        ];
        let want = vec![(3, i128::MAX.wrapping_add(3)), (9, 4)];
        let sum = |max_slots: u64| {
            let mut c = Changes::over(3, 9, max_slots);
            rows.iter().flatten().for_each(|e| c.add(*e));
            (matches!(c.sums, Sums::Dense { .. }), c.nonzero())
        };
        assert_eq!(sum(8), (true, want.clone()));
        assert_eq!(sum(6), (false, want));
        assert_eq!(Changes::over(i64::MAX, i64::MIN, 0).nonzero(), vec![]);
    }
}
