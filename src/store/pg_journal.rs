//! The journal of the PostgreSQL store (schema 3): one row per commit holding the batch's
//! series deltas, so a commit writes O(1) rows for its series instead of one upsert per
//! series touched (issue 12). Owns the rows' byte layout, reading a store's values (`series`
//! plus the journal rows not folded into it yet), folding the journal into `series` and
//! deleting folded rows past their retention.
//!
//! Values are summed with wrapping `i128` arithmetic: a delta is `new - old` of two `i128`s,
//! which may not fit one, but every true value fits, and wrapping sums are exact modulo
//! 2^128, so base + the wrapped deltas is the true value. The fold adds in `numeric` and
//! wraps the same way (see `WRAPPED_ADD`).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use postgres::Transaction;

use super::codec::{put_signed, put_varint, Reader};
use super::postgres::{Failed, ROWS_PER_STATEMENT};

/// A series as the database keys it: metric name, encoded labels.
pub(super) type Key = (String, Vec<u8>);

/// Every series' value, by key (sorted, as `load` hands them out).
pub(super) type Values = BTreeMap<Key, i128>;

/// One change in a journal row.
pub(super) enum Entry<'a> {
    /// The series' value moved by this much (a series created at zero has a delta of 0: it
    /// exists).
    Delta(&'a str, &'a [u8], i128),
    /// The series was deleted (its budget period is over): deltas before it no longer count.
    Removed(&'a str, &'a [u8]),
}

const DELTA: u8 = 0;
const REMOVED: u8 = 1;

pub(super) fn encode(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let (tag, metric, labels) = match e {
            Entry::Delta(m, l, _) => (DELTA, m, l),
            Entry::Removed(m, l) => (REMOVED, m, l),
        };
        out.push(tag);
        put_varint(&mut out, metric.len() as u128);
        out.extend_from_slice(metric.as_bytes());
        put_varint(&mut out, labels.len() as u128);
        out.extend_from_slice(labels);
        if let Entry::Delta(_, _, d) = e {
            put_signed(&mut out, *d);
        }
    }
    out
}

fn take<'a>(r: &mut Reader<'a>, n: u128) -> Option<&'a [u8]> {
    let n = usize::try_from(n).ok()?;
    if r.0.len() < n {
        return None;
    }
    let (head, rest) = r.0.split_at(n);
    r.0 = rest;
    Some(head)
}

/// The entries of a row, in order; `None` if it is not well formed.
pub(super) fn decode(blob: &[u8]) -> Option<Vec<Entry<'_>>> {
    let mut r = Reader(blob);
    let mut out = Vec::new();
    while !r.0.is_empty() {
        let tag = r.byte()?;
        let n = r.varint()?;
        let metric = std::str::from_utf8(take(&mut r, n)?).ok()?;
        let n = r.varint()?;
        let labels = take(&mut r, n)?;
        out.push(match tag {
            DELTA => Entry::Delta(metric, labels, r.signed()?),
            REMOVED => Entry::Removed(metric, labels),
            _ => return None,
        });
    }
    Some(out)
}

/// Applies one row's entries to `values`, in order.
pub(super) fn apply(values: &mut Values, entries: &[Entry<'_>]) {
    for e in entries {
        match e {
            Entry::Delta(m, l, d) => {
                let v = values.entry((m.to_string(), l.to_vec())).or_insert(0);
                *v = v.wrapping_add(*d);
            }
            Entry::Removed(m, l) => {
                values.remove(&(m.to_string(), l.to_vec()));
            }
        }
    }
}

/// The highest journal id deleted so far: a reader whose last id is below it missed rows.
pub(super) fn pruned(tx: &mut Transaction<'_>) -> Result<i64, Failed> {
    let v: Option<String> = tx
        .query_opt("SELECT value FROM meta WHERE key = 'journal_pruned'", &[])?
        .map(|r| r.get(0));
    Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// Every series' value (`series` plus the unfolded journal) and the highest journal id they
/// include. Call it under the commit lock: a fold between the two reads would count rows
/// twice.
pub(super) fn image(tx: &mut Transaction<'_>) -> Result<Option<(Values, i64)>, Failed> {
    let mut values = Values::new();
    for r in tx.query("SELECT metric, labels, value::text FROM series", &[])? {
        let v: &str = r.get(2);
        let Ok(v) = v.parse::<i128>() else {
            return Ok(None);
        };
        values.insert((r.get(0), r.get(1)), v);
    }
    let mut last = pruned(tx)?;
    for r in tx.query(
        "SELECT id, deltas FROM journal WHERE NOT folded ORDER BY id",
        &[],
    )? {
        let Some(entries) = decode(r.get(1)) else {
            return Ok(None);
        };
        apply(&mut values, &entries);
        last = last.max(r.get(0));
    }
    let max: Option<i64> = tx.query_one("SELECT max(id) FROM journal", &[])?.get(0);
    Ok(Some((values, last.max(max.unwrap_or(0)))))
}

/// `series.value + EXCLUDED.value` wrapped into `i128` (see the module doc): the sum is at
/// least -2^128, so adding 2^127 + 2^128 keeps `mod`'s argument positive.
const WRAPPED_ADD: &str = "mod(series.value + EXCLUDED.value + 510423550381407695195061911147652317184, 340282366920938463463374607431768211456) - 170141183460469231731687303715884105728";

/// Folds every unfolded journal row into `series` and marks them folded, then deletes the
/// folded rows older than `retention` (a replica that is behind may still read them until
/// then). Runs inside a commit, under the commit lock. Returns false for a row that does not
/// decode (nothing is folded then).
pub(super) fn fold(tx: &mut Transaction<'_>, retention: Duration) -> Result<bool, Failed> {
    let rows = tx.query(
        "SELECT id, deltas FROM journal WHERE NOT folded ORDER BY id",
        &[],
    )?;
    // Per series: whether a removal is among the rows (the row in `series` is then deleted
    // first: older deltas must not bring it back), and the sum of the deltas after it.
    let mut sums: HashMap<Key, (bool, Option<i128>)> = HashMap::new();
    let mut upto = 0i64;
    for r in &rows {
        let Some(entries) = decode(r.get(1)) else {
            return Ok(false);
        };
        for e in entries {
            match e {
                Entry::Delta(m, l, d) => {
                    let s = sums.entry((m.to_string(), l.to_vec())).or_default();
                    s.1 = Some(s.1.unwrap_or(0).wrapping_add(d));
                }
                Entry::Removed(m, l) => {
                    sums.insert((m.to_string(), l.to_vec()), (true, None));
                }
            }
        }
        upto = upto.max(r.get(0));
    }
    let removed: Vec<&Key> = sums.iter().filter(|(_, s)| s.0).map(|(k, _)| k).collect();
    for part in removed.chunks(ROWS_PER_STATEMENT) {
        let metrics: Vec<&str> = part.iter().map(|k| k.0.as_str()).collect();
        let labels: Vec<&[u8]> = part.iter().map(|k| &k.1[..]).collect();
        tx.execute(
            "DELETE FROM series s USING unnest($1::text[], $2::bytea[]) AS t(m, l) WHERE s.metric = t.m AND s.labels = t.l",
            &[&metrics, &labels],
        )?;
    }
    let added: Vec<(&Key, i128)> = sums.iter().filter_map(|(k, s)| Some((k, s.1?))).collect();
    let upsert = format!(
        "INSERT INTO series (metric, labels, value) SELECT m, l, d::numeric FROM unnest($1::text[], $2::bytea[], $3::text[]) AS t(m, l, d) \
         ON CONFLICT (metric, labels) DO UPDATE SET value = {WRAPPED_ADD}"
    );
    for part in added.chunks(ROWS_PER_STATEMENT) {
        let metrics: Vec<&str> = part.iter().map(|(k, _)| k.0.as_str()).collect();
        let labels: Vec<&[u8]> = part.iter().map(|(k, _)| &k.1[..]).collect();
        let deltas: Vec<String> = part.iter().map(|(_, d)| d.to_string()).collect();
        tx.execute(&upsert, &[&metrics, &labels, &deltas])?;
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
