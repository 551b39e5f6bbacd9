//! The PostgreSQL store's daily totals (`daily_usage`, `daily_principal`): a batch's deltas
//! added up by row and added to the tables in SQL (`x = x + EXCLUDED.x`, exact whoever else
//! adds too), and the totals of a range of days read back. Costs are exact `numeric`s of USD.

use std::collections::BTreeMap;
use std::path::PathBuf;

use postgres::Transaction;

use super::postgres::{Failed, ROWS_PER_STATEMENT};
use super::StoreError;
use crate::daily::{self, DailyTotals, Deltas, PrincipalKey, PrincipalTotal, UsageKey, UsageTotal};
use crate::money::{self, USD_SCALE};
use crate::pricing::Scope;
use crate::record::{Tier, TokenClass};

/// Counts above this stay at it (PostgreSQL's bigint), as in the SQLite store.
const SATURATE: &str = "9223372036854775807";

fn cost_of(text: &str) -> Option<rust_decimal::Decimal> {
    money::parse_units(text, USD_SCALE).map(daily::cost_of)
}

/// The totals of the days in `[since, until]` (inclusive, `YYYY-MM-DD`; `None`: unbounded).
pub(super) fn read(
    tx: &mut Transaction<'_>,
    since: Option<&str>,
    until: Option<&str>,
    url: &str,
) -> Result<DailyTotals, Failed> {
    let (since, until) = (since.unwrap_or(""), until.unwrap_or("\u{10FFFF}"));
    let bad = |detail: String| {
        Failed::Store(StoreError::Corrupt {
            path: PathBuf::from(url),
            detail,
        })
    };
    let mut out = DailyTotals::default();
    let rows = tx.query(
        "SELECT day, model, region, scope, tier, long_context, token_type, tokens, cost_usd::text FROM daily_usage WHERE day >= $1 AND day <= $2",
        &[&since, &until],
    )?;
    for r in rows {
        let (scope, tier, class): (String, String, String) = (r.get(3), r.get(4), r.get(6));
        let key = UsageKey {
            day: r.get(0),
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
        };
        let cost =
            cost_of(&r.get::<_, String>(8)).ok_or_else(|| bad("daily_usage: bad cost".into()))?;
        let tokens = u64::try_from(r.get::<_, i64>(7))
            .map_err(|_| bad("daily_usage: negative tokens".into()))?;
        out.usage.insert(key, UsageTotal { tokens, cost });
    }
    let rows = tx.query(
        "SELECT day, principal, calls, cost_usd::text FROM daily_principal WHERE day >= $1 AND day <= $2",
        &[&since, &until],
    )?;
    for r in rows {
        let key = PrincipalKey {
            day: r.get(0),
            principal: r.get(1),
        };
        let cost = cost_of(&r.get::<_, String>(3))
            .ok_or_else(|| bad("daily_principal: bad cost".into()))?;
        let calls = u64::try_from(r.get::<_, i64>(2))
            .map_err(|_| bad("daily_principal: negative calls".into()))?;
        out.principals.insert(key, PrincipalTotal { calls, cost });
    }
    Ok(out)
}

pub(super) type UsageAt = (i32, String, String, Scope, Tier, bool, TokenClass);

/// A batch's daily deltas added up by row (a batch may hold several deltas of one row, and one
/// upsert statement may touch a row once).
#[derive(Default)]
pub(super) struct DailySums {
    usage: BTreeMap<UsageAt, (u64, i128)>,
    principals: BTreeMap<(i32, String), (u64, i128)>,
}

impl DailySums {
    pub(super) fn of(d: &Deltas) -> DailySums {
        let mut s = DailySums::default();
        for u in d.usage() {
            let key = (
                u.day,
                u.model.into(),
                u.region.into(),
                u.scope,
                u.tier,
                u.long_context,
                u.class,
            );
            s.add_usage(key, u.tokens, u.units);
        }
        for p in d.principals() {
            s.add_principal((p.day, p.principal.into()), p.calls, p.units);
        }
        s
    }

    pub(super) fn add_usage(&mut self, key: UsageAt, n: u64, units: i128) {
        let e = self.usage.entry(key).or_default();
        *e = (e.0.saturating_add(n), e.1.saturating_add(units));
    }

    pub(super) fn add_principal(&mut self, key: (i32, String), n: u64, units: i128) {
        let e = self.principals.entry(key).or_default();
        *e = (e.0.saturating_add(n), e.1.saturating_add(units));
    }

    /// Adds the sums to the tables (`x = x + EXCLUDED.x`): exact, whoever else adds too.
    pub(super) fn write(&self, tx: &mut Transaction<'_>) -> Result<(), postgres::Error> {
        let count = |n: u64| n.to_string();
        let cost = |u: i128| money::format_units(u, USD_SCALE);
        let rows: Vec<_> = self.usage.iter().collect();
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
        let rows: Vec<_> = self.principals.iter().collect();
        for part in rows.chunks(ROWS_PER_STATEMENT) {
            let day: Vec<String> = part.iter().map(|(k, _)| daily::format_day(k.0)).collect();
            let principal: Vec<&str> = part.iter().map(|(k, _)| k.1.as_str()).collect();
            let calls: Vec<String> = part.iter().map(|(_, v)| count(v.0)).collect();
            let costs: Vec<String> = part.iter().map(|(_, v)| cost(v.1)).collect();
            tx.execute(
                &format!("INSERT INTO daily_principal (day, principal, calls, cost_usd) \
                 SELECT d, p, least(n::numeric, {SATURATE})::bigint, u::numeric FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS x(d, p, n, u) \
                 ON CONFLICT (day, principal) DO UPDATE SET calls = least(daily_principal.calls::numeric + EXCLUDED.calls, {SATURATE})::bigint, cost_usd = daily_principal.cost_usd + EXCLUDED.cost_usd"),
                &[&day, &principal, &calls, &costs],
            )?;
        }
        Ok(())
    }
}
