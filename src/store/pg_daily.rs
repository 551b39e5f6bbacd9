//! The PostgreSQL store's daily totals: the tables (`daily_usage`, `daily_principal`) and,
//! from schema 5, a journal in front of them (`daily_journal`), as the SQLite store keeps
//! them (`daily.rs`, whose row format and sums this module uses).
//!
//! A commit writes its batch's deltas as one `daily_journal` row; the fold thread
//! (`pg_fold.rs`) takes the rows out and adds their sums to the tables (`x = x + EXCLUDED.x`,
//! exact whoever else adds too), in one transaction. Upserting a row per (day, principal) in
//! every commit was the largest statement of a steady-state commit, under the commit lock
//! (issue 12); a fold adds up many batches' rows for a caller before it writes them. Readers
//! add the journal to the tables in one snapshot. Costs are exact `numeric`s of USD.

use std::path::PathBuf;

use postgres::Transaction;

use super::daily::{self as row_format, Pending, ALL_DAYS};
use super::postgres::{Failed, ROWS_PER_STATEMENT};
use super::StoreError;
use crate::daily::{self, DailyTotals, Deltas, UsageDelta};
use crate::money::{self, USD_SCALE};
use crate::pricing::Scope;
use crate::record::{Tier, TokenClass};

/// Counts above this stay at it (PostgreSQL's bigint), as in the SQLite store.
const SATURATE: &str = "9223372036854775807";

/// Writes a batch's deltas as one journal row (none when it has none).
pub(super) fn journal(tx: &mut Transaction<'_>, d: &Deltas) -> Result<(), postgres::Error> {
    if d.is_empty() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO daily_journal (data) VALUES ($1)",
        &[&row_format::encode(d)],
    )?;
    Ok(())
}

/// Takes every committed journal row out and adds it to the tables; `false` (nothing
/// changed, the caller rolls back) if a row does not decode. A row committed meanwhile is
/// not taken (the `DELETE` sees what was committed when it started): the next fold takes it.
pub(super) fn fold(tx: &mut Transaction<'_>) -> Result<bool, Failed> {
    let mut sums = Pending::new(ALL_DAYS.0, ALL_DAYS.1);
    for r in tx.query("DELETE FROM daily_journal RETURNING data", &[])? {
        if row_format::decode(r.get(0), &mut sums).is_none() {
            return Ok(false);
        }
    }
    write(tx, &sums)?;
    Ok(true)
}

/// The totals of the days in `[since, until]` (inclusive, `YYYY-MM-DD`; `None`: unbounded).
pub(super) fn read(
    tx: &mut Transaction<'_>,
    since: Option<&str>,
    until: Option<&str>,
    url: &str,
) -> Result<DailyTotals, Failed> {
    let (since, until) = (since.unwrap_or(ALL_DAYS.0), until.unwrap_or(ALL_DAYS.1));
    let bad = |detail: String| {
        Failed::Store(StoreError::Corrupt {
            path: PathBuf::from(url),
            detail,
        })
    };
    let mut out = Pending::new(since, until);
    for r in tx.query("SELECT data FROM daily_journal", &[])? {
        row_format::decode(r.get(0), &mut out)
            .ok_or_else(|| bad("daily_journal: a row that does not decode".into()))?;
    }
    let rows = tx.query(
        "SELECT day, model, region, scope, tier, long_context, token_type, tokens, cost_usd::text FROM daily_usage WHERE day >= $1 AND day <= $2",
        &[&since, &until],
    )?;
    for r in rows {
        let (day, scope, tier, class): (String, String, String, String) =
            (r.get(0), r.get(3), r.get(4), r.get(6));
        out.add_usage(UsageDelta {
            day: daily::parse_day(&day)
                .ok_or_else(|| bad(format!("daily_usage: bad day {day:?}")))?,
            model: r.get(1),
            region: r.get(2),
            scope: Scope::parse(&scope)
                .ok_or_else(|| bad(format!("daily_usage: bad scope {scope:?}")))?,
            tier: Tier::parse(&tier)
                .ok_or_else(|| bad(format!("daily_usage: bad tier {tier:?}")))?,
            long_context: r.get(5),
            class: (TokenClass::ALL.into_iter())
                .find(|c| c.as_str() == class)
                .ok_or_else(|| bad(format!("daily_usage: bad token_type {class:?}")))?,
            tokens: u64::try_from(r.get::<_, i64>(7))
                .map_err(|_| bad("daily_usage: negative tokens".into()))?,
            units: money::parse_units(r.get(8), USD_SCALE)
                .ok_or_else(|| bad("daily_usage: bad cost".into()))?,
        });
    }
    let rows = tx.query(
        "SELECT day, principal, calls, cost_usd::text FROM daily_principal WHERE day >= $1 AND day <= $2",
        &[&since, &until],
    )?;
    for r in rows {
        let day: String = r.get(0);
        let day = daily::parse_day(&day)
            .ok_or_else(|| bad(format!("daily_principal: bad day {day:?}")))?;
        let units = money::parse_units(r.get(3), USD_SCALE)
            .ok_or_else(|| bad("daily_principal: bad cost".into()))?;
        let calls = u64::try_from(r.get::<_, i64>(2))
            .map_err(|_| bad("daily_principal: negative calls".into()))?;
        out.add_principal(day, r.get(1), calls, units);
    }
    Ok(out.into_totals())
}

/// Adds `sums` to the tables (`x = x + EXCLUDED.x`): exact, whoever else adds too. Rows in key
/// order, so two writers never lock the same rows in opposite orders.
pub(super) fn write(tx: &mut Transaction<'_>, sums: &Pending) -> Result<(), postgres::Error> {
    let count = |n: u64| n.to_string();
    let cost = |u: i128| money::format_units(u, USD_SCALE);
    let rows: Vec<_> = sums.usage.iter().collect();
    for part in rows.chunks(ROWS_PER_STATEMENT) {
        let day: Vec<String> = part.iter().map(|(k, _)| daily::format_day(k.0)).collect();
        let model: Vec<&str> = part.iter().map(|(k, _)| k.1.as_str()).collect();
        let region: Vec<&str> = part.iter().map(|(k, _)| k.2.as_str()).collect();
        let scope: Vec<&str> = part.iter().map(|(k, _)| k.3.as_str()).collect();
        let tier: Vec<&str> = part.iter().map(|(k, _)| k.4.as_str()).collect();
        let lc: Vec<bool> = part.iter().map(|(k, _)| k.5).collect();
        let class: Vec<&str> = part.iter().map(|(k, _)| k.6.as_str()).collect();
        let tokens: Vec<String> = part.iter().map(|(_, v)| count(v.0)).collect();
        let costs: Vec<String> = part.iter().map(|(_, v)| cost(v.1)).collect();
        tx.execute(
            &format!("INSERT INTO daily_usage (day, model, region, scope, tier, long_context, token_type, tokens, cost_usd) \
             SELECT d, m, r, s, t, l, c, least(n::numeric, {SATURATE})::bigint, u::numeric FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[], $8::text[], $9::text[]) AS x(d, m, r, s, t, l, c, n, u) \
             ON CONFLICT (day, model, region, scope, tier, long_context, token_type) DO UPDATE SET tokens = least(daily_usage.tokens::numeric + EXCLUDED.tokens, {SATURATE})::bigint, cost_usd = daily_usage.cost_usd + EXCLUDED.cost_usd"),
            &[&day, &model, &region, &scope, &tier, &lc, &class, &tokens, &costs],
        )?;
    }
    let mut rows: Vec<(i32, &str, row_format::Sum)> = (sums.principals.iter())
        .flat_map(|(day, by)| by.iter().map(|(p, sum)| (*day, p.as_str(), *sum)))
        .collect();
    rows.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    for part in rows.chunks(ROWS_PER_STATEMENT) {
        let day: Vec<String> = part.iter().map(|r| daily::format_day(r.0)).collect();
        let principal: Vec<&str> = part.iter().map(|r| r.1).collect();
        let calls: Vec<String> = part.iter().map(|r| count(r.2 .0)).collect();
        let costs: Vec<String> = part.iter().map(|r| cost(r.2 .1)).collect();
        tx.execute(
            &format!("INSERT INTO daily_principal (day, principal, calls, cost_usd) \
             SELECT d, p, least(n::numeric, {SATURATE})::bigint, u::numeric FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS x(d, p, n, u) \
             ON CONFLICT (day, principal) DO UPDATE SET calls = least(daily_principal.calls::numeric + EXCLUDED.calls, {SATURATE})::bigint, cost_usd = daily_principal.cost_usd + EXCLUDED.cost_usd"),
            &[&day, &principal, &calls, &costs],
        )?;
    }
    Ok(())
}
