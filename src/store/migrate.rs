//! Upgrades an older store in place, in the transaction that opens it: nothing counted is
//! lost, and a failed upgrade leaves the old layout untouched.
//!
//! Schema 1 kept one row per series with its labels as JSON and its value as a decimal
//! string, and one row per dedupe key. Schema 2 (see `sqlite.rs`) keeps labels once per
//! series id, values in chunks and a journal, and one dedupe row per batch. Schema 1 had no
//! per-dimension metrics: their totals are derived from the cross-product series (a value that
//! had folded into `__other__` there stays in `__other__`). Schema 3 adds the daily totals'
//! tables, nothing else: an upgrade chains 1 -> 2 -> 3 in the one transaction.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{params, Transaction};

use super::codec::{self, CHUNK};
use super::{classify, StoreError};
use crate::ledger::Metric;
use crate::money;

type Labels = Vec<(String, String)>;

pub fn from_v1(tx: &Transaction<'_>, path: &Path) -> Result<(), StoreError> {
    let err = |e| classify(e, path);
    let corrupt = |detail: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    tx.execute_batch(
        "DROP INDEX IF EXISTS dedupe_seen_at;
         ALTER TABLE series RENAME TO series_v1;
         ALTER TABLE dedupe RENAME TO dedupe_v1;",
    )
    .map_err(err)?;
    tx.execute_batch(super::sqlite_schema()).map_err(err)?;

    let mut series: Vec<(Metric, Labels, i128)> = Vec::new();
    {
        let mut stmt = tx
            .prepare("SELECT metric, labels, value FROM series_v1 ORDER BY metric, labels")
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        while let Some(row) = rows.next().map_err(err)? {
            let (name, labels, value): (String, String, String) = (
                row.get(0).map_err(err)?,
                row.get(1).map_err(err)?,
                row.get(2).map_err(err)?,
            );
            let Some(metric) = Metric::from_name(&name) else {
                continue;
            };
            let bad = |what: &str| corrupt(format!("{what} in series {name} {labels}"));
            let labels: Labels = serde_json::from_str(&labels).map_err(|_| bad("bad labels"))?;
            let value = value
                .parse()
                .ok()
                .and_then(|d| money::to_units(d, metric.scale()))
                .ok_or_else(|| bad("bad value"))?;
            series.push((metric, labels, value));
        }
    }
    let derived = per_dimension(&series);
    let all: Vec<(Metric, &Labels, i128)> = series
        .iter()
        .map(|(m, l, v)| (*m, l, *v))
        .chain(derived.iter().map(|((m, l), v)| (*m, l, *v)))
        .collect();
    {
        let mut defs = tx
            .prepare("INSERT INTO defs (id, data) VALUES (?1, ?2)")
            .map_err(err)?;
        let mut chunk = tx
            .prepare("INSERT INTO chunk (id, data) VALUES (?1, ?2)")
            .map_err(err)?;
        let values: Vec<i128> = all.iter().map(|(_, _, v)| *v).collect();
        for (c, part) in all.chunks(CHUNK).enumerate() {
            let mut data = Vec::new();
            for (i, (metric, labels, _)) in part.iter().enumerate() {
                let pairs: Vec<(&str, &str)> = labels
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                codec::encode_def(&mut data, (c * CHUNK + i) as u32, metric.name(), &pairs);
            }
            defs.execute(params![c as i64, data]).map_err(err)?;
            chunk
                .execute(params![
                    c as i64,
                    codec::encode_chunk(values.len(), |i| values[i as usize], c)
                ])
                .map_err(err)?;
        }
    }
    {
        let mut by_time: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
        let mut stmt = tx
            .prepare("SELECT key, seen_at FROM dedupe_v1")
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        while let Some(row) = rows.next().map_err(err)? {
            let key: Vec<u8> = row.get(0).map_err(err)?;
            let seen_at: i64 = row.get(1).map_err(err)?;
            if key.len() == 16 {
                by_time.entry(seen_at).or_default().extend_from_slice(&key);
            }
        }
        let mut put = tx
            .prepare("INSERT INTO dedupe (seen_at, keys) VALUES (?1, ?2)")
            .map_err(err)?;
        for (seen_at, keys) in by_time {
            put.execute(params![seen_at, keys]).map_err(err)?;
        }
    }
    tx.execute_batch("DROP TABLE series_v1; DROP TABLE dedupe_v1;")
        .map_err(err)?;
    tracing::info!(
        series = series.len(),
        derived = derived.len(),
        "upgraded the state store from schema 1 to {}; per-user and per-feature totals were derived from the cross-product series",
        super::SCHEMA_VERSION
    );
    Ok(())
}

/// Schema 2 -> 3: the daily totals' tables, empty. Schema 2 kept no per-day figures, so daily
/// history starts at the upgrade; every total kept so far stays as it was.
pub fn from_v2(tx: &Transaction<'_>, path: &Path) -> Result<(), StoreError> {
    tx.execute_batch(super::daily::SCHEMA)
        .map_err(|e| classify(e, path))?;
    tracing::info!(
        "upgraded the state store to schema {}: daily totals by UTC day start empty now (days before the upgrade are not in them)",
        super::SCHEMA_VERSION
    );
    Ok(())
}

/// Per-user, per-feature and per-label totals summed from the cross-product series.
fn per_dimension(series: &[(Metric, Labels, i128)]) -> BTreeMap<(Metric, Labels), i128> {
    let mut out: BTreeMap<(Metric, Labels), i128> = BTreeMap::new();
    let mut add = |m: Metric, labels: Labels, v: i128| {
        let e = out.entry((m, labels)).or_default();
        *e = e.saturating_add(v);
    };
    for (metric, labels, value) in series {
        let get = |n: &str| labels.iter().find(|(a, _)| a == n).map(|(_, v)| v.clone());
        let (Some(user), Some(feature)) = (get("user"), get("feature")) else {
            continue;
        };
        let pair = |n: &str, v: String| vec![(n.to_string(), v)];
        match metric {
            Metric::Cost => {
                add(Metric::UserCost, pair("user", user), *value);
                add(Metric::FeatureCost, pair("feature", feature), *value);
                for (n, v) in labels {
                    if !["user", "feature", "model"].contains(&n.as_str()) {
                        let l = vec![("label".into(), n.clone()), ("value".into(), v.clone())];
                        add(Metric::LabelCost, l, *value);
                    }
                }
            }
            Metric::Tokens | Metric::Invocations => {
                let (class, user_m, feature_m) = if *metric == Metric::Tokens {
                    ("token_type", Metric::UserTokens, Metric::FeatureTokens)
                } else {
                    (
                        "outcome",
                        Metric::UserInvocations,
                        Metric::FeatureInvocations,
                    )
                };
                let Some(c) = get(class) else { continue };
                let with =
                    |n: &str, v: String| vec![(n.to_string(), v), (class.to_string(), c.clone())];
                add(user_m, with("user", user), *value);
                add(feature_m, with("feature", feature), *value);
            }
            _ => {}
        }
    }
    out
}
