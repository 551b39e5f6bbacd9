//! The daily totals in the embedded store (schema 3): two tables a person can query with
//! `sqlite3`, and a journal that keeps a batch's commit to one row write.
//!
//! - `daily_usage`: one row per (day, model, region, scope, tier, long_context, token_type);
//! - `daily_principal`: one row per (day, principal);
//! - `daily_journal`: one row per committed batch holding its daily deltas. A batch of many
//!   callers touches a row per caller; writing those rows one by one cost more than the rest
//!   of the commit, so they are folded into the tables at the periodic purge and when the
//!   journal passes [`FOLD_BYTES`]. Readers add the journal to the tables in one snapshot.
//!
//! Costs are stored as exact decimal strings of USD (`cost_usd`, e.g. "0.000245"): an `i128`
//! of ledger units does not fit SQLite's 64-bit INTEGER, a REAL would round, and a string
//! reads as itself in `sqlite3` and maps to a PostgreSQL NUMERIC. Sums are done in Rust, in
//! `i128` units, so adding is exact.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};

use crate::daily::{DailyTotals, PrincipalKey, PrincipalTotal, UsageKey, UsageTotal};
use crate::money::{self, USD_SCALE};
use crate::pricing::Scope;
use crate::record::{Tier, TokenClass};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS daily_usage (day TEXT NOT NULL, model TEXT NOT NULL, region TEXT NOT NULL, scope TEXT NOT NULL, tier TEXT NOT NULL, long_context INTEGER NOT NULL, token_type TEXT NOT NULL, tokens INTEGER NOT NULL, cost_usd TEXT NOT NULL, PRIMARY KEY (day, model, region, scope, tier, long_context, token_type)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS daily_principal (day TEXT NOT NULL, principal TEXT NOT NULL, calls INTEGER NOT NULL, cost_usd TEXT NOT NULL, PRIMARY KEY (day, principal)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS daily_journal (seq INTEGER PRIMARY KEY, data BLOB NOT NULL);
";

/// Journal bytes past which a commit folds the journal into the tables (it is also folded at
/// every purge). Bounds what a fold and a reader hold in memory.
pub const FOLD_BYTES: usize = 8 << 20;

/// Counts and costs (in 10^-18 USD) by key, as they are added up.
#[derive(Default)]
pub struct Deltas {
    usage: BTreeMap<UsageKey, (u64, i128)>,
    principals: BTreeMap<PrincipalKey, (u64, i128)>,
}

fn add(sum: &mut (u64, i128), n: u64, units: i128) {
    sum.0 = sum.0.saturating_add(n);
    sum.1 = sum.1.saturating_add(units);
}

impl Deltas {
    pub fn into_totals(self) -> DailyTotals {
        let cost = |u| money::units_to_decimal(u, USD_SCALE);
        DailyTotals {
            usage: (self.usage.into_iter())
                .map(|(k, (tokens, u))| {
                    (
                        k,
                        UsageTotal {
                            tokens,
                            cost: cost(u),
                        },
                    )
                })
                .collect(),
            principals: (self.principals.into_iter())
                .map(|(k, (calls, u))| {
                    (
                        k,
                        PrincipalTotal {
                            calls,
                            cost: cost(u),
                        },
                    )
                })
                .collect(),
        }
    }
}

/// A cost as ledger units; `Err` for one finer than 10^-18 USD (no commit of the pipeline
/// makes one).
fn units(d: rust_decimal::Decimal) -> Result<i128, String> {
    money::to_units(d, USD_SCALE)
        .ok_or_else(|| format!("a daily cost of {d} USD does not fit the ledger's units"))
}

// Journal row layout: [u32 usage rows] then per row: day, model, region (each [u32 len][utf-8]),
// [u8 scope][u8 tier][u8 long_context][u8 token class][u64 tokens][i128 units]; then
// [u32 principal rows] and per row: day, principal, [u64 calls][i128 units]. Little-endian.

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn index<T: PartialEq>(all: &[T], v: &T) -> u8 {
    all.iter().position(|x| x == v).unwrap_or(0) as u8
}

/// One batch's totals as a journal row.
pub fn encode(t: &DailyTotals) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    out.extend_from_slice(&(t.usage.len() as u32).to_le_bytes());
    for (k, v) in &t.usage {
        for s in [&k.day, &k.model, &k.region] {
            put_str(&mut out, s);
        }
        out.push(index(&Scope::ALL, &k.scope));
        out.push(index(&Tier::ALL, &k.tier));
        out.push(u8::from(k.long_context));
        out.push(k.class as u8);
        out.extend_from_slice(&v.tokens.to_le_bytes());
        out.extend_from_slice(&units(v.cost)?.to_le_bytes());
    }
    out.extend_from_slice(&(t.principals.len() as u32).to_le_bytes());
    for (k, v) in &t.principals {
        put_str(&mut out, &k.day);
        put_str(&mut out, &k.principal);
        out.extend_from_slice(&v.calls.to_le_bytes());
        out.extend_from_slice(&units(v.cost)?.to_le_bytes());
    }
    Ok(out)
}

/// Reads a journal row and adds it to `into` (rows outside `[since, until]` are skipped);
/// `None` if the row is not well formed.
fn decode(mut b: &[u8], into: &mut Deltas, since: &str, until: &str) -> Option<()> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (b.get(..n)?, b.get(n..)?);
        *b = rest;
        Some(head)
    }
    fn u32_(b: &mut &[u8]) -> Option<u32> {
        Some(u32::from_le_bytes(take(b, 4)?.try_into().ok()?))
    }
    fn u64_(b: &mut &[u8]) -> Option<u64> {
        Some(u64::from_le_bytes(take(b, 8)?.try_into().ok()?))
    }
    fn i128_(b: &mut &[u8]) -> Option<i128> {
        Some(i128::from_le_bytes(take(b, 16)?.try_into().ok()?))
    }
    fn str_<'a>(b: &mut &'a [u8]) -> Option<&'a str> {
        let n = u32_(b)? as usize;
        std::str::from_utf8(take(b, n)?).ok()
    }
    let in_range = |day: &str| since <= day && day <= until;
    for _ in 0..u32_(&mut b)? {
        let (day, model, region) = (str_(&mut b)?, str_(&mut b)?, str_(&mut b)?);
        let f = take(&mut b, 4)?;
        let key = UsageKey {
            day: day.to_string(),
            model: model.to_string(),
            region: region.to_string(),
            scope: *Scope::ALL.get(f[0] as usize)?,
            tier: *Tier::ALL.get(f[1] as usize)?,
            long_context: f[2] != 0,
            class: *TokenClass::ALL.get(f[3] as usize)?,
        };
        let (tokens, u) = (u64_(&mut b)?, i128_(&mut b)?);
        if in_range(day) {
            add(into.usage.entry(key).or_default(), tokens, u);
        }
    }
    for _ in 0..u32_(&mut b)? {
        let (day, principal) = (str_(&mut b)?, str_(&mut b)?);
        let (calls, u) = (u64_(&mut b)?, i128_(&mut b)?);
        if in_range(day) {
            let key = PrincipalKey {
                day: day.to_string(),
                principal: principal.to_string(),
            };
            add(into.principals.entry(key).or_default(), calls, u);
        }
    }
    b.is_empty().then_some(())
}

/// What can go wrong reading or folding: SQLite's error, or a row that does not read back.
pub enum Failed {
    Sql(rusqlite::Error),
    Corrupt(String),
}

impl From<rusqlite::Error> for Failed {
    fn from(e: rusqlite::Error) -> Failed {
        Failed::Sql(e)
    }
}

/// The whole journal, added up.
fn journal(c: &Connection, since: &str, until: &str) -> Result<Deltas, Failed> {
    let mut d = Deltas::default();
    let mut stmt = c.prepare_cached("SELECT data FROM daily_journal ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let blob = row.get_ref(0)?.as_blob().unwrap_or_default();
        decode(blob, &mut d, since, until)
            .ok_or_else(|| Failed::Corrupt("a malformed daily journal row".into()))?;
    }
    Ok(d)
}

fn stored_count(v: i64, what: &str) -> Result<u64, Failed> {
    u64::try_from(v).map_err(|_| Failed::Corrupt(format!("a negative {what} in a daily row")))
}

fn stored_cost(s: &str) -> Result<i128, Failed> {
    money::parse_units(s, USD_SCALE)
        .ok_or_else(|| Failed::Corrupt(format!("daily cost {s:?} is not a decimal")))
}

/// Counts are stored as SQLite's signed 64-bit INTEGER: one past 2^63 - 1 tokens in a day
/// is a corrupt record, not a bill, and stays at the maximum.
fn count_to_store(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Adds the journal to the tables (read, add in Rust, write back: only the rows it touched)
/// and empties it. Run inside the commit's transaction.
pub fn fold(c: &Connection) -> Result<(), Failed> {
    let d = journal(c, "", "\u{10FFFF}")?;
    let mut get = c.prepare_cached(
        "SELECT tokens, cost_usd FROM daily_usage WHERE day = ?1 AND model = ?2 AND region = ?3 AND scope = ?4 AND tier = ?5 AND long_context = ?6 AND token_type = ?7",
    )?;
    let mut put = c.prepare_cached(
        "INSERT INTO daily_usage (day, model, region, scope, tier, long_context, token_type, tokens, cost_usd) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (day, model, region, scope, tier, long_context, token_type) DO UPDATE SET tokens = excluded.tokens, cost_usd = excluded.cost_usd",
    )?;
    for (k, (tokens, u)) in d.usage {
        let key = params![
            k.day,
            k.model,
            k.region,
            k.scope.as_str(),
            k.tier.as_str(),
            k.long_context,
            k.class.as_str()
        ];
        let old: Option<(i64, String)> = get
            .query_row(key, |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let mut sum = (tokens, u);
        if let Some((t, cost)) = old {
            add(
                &mut sum,
                stored_count(t, "token count")?,
                stored_cost(&cost)?,
            );
        }
        let cost = money::format_units(sum.1, USD_SCALE);
        put.execute(params![
            k.day,
            k.model,
            k.region,
            k.scope.as_str(),
            k.tier.as_str(),
            k.long_context,
            k.class.as_str(),
            count_to_store(sum.0),
            cost
        ])?;
    }
    let mut get = c.prepare_cached(
        "SELECT calls, cost_usd FROM daily_principal WHERE day = ?1 AND principal = ?2",
    )?;
    let mut put = c.prepare_cached(
        "INSERT INTO daily_principal (day, principal, calls, cost_usd) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (day, principal) DO UPDATE SET calls = excluded.calls, cost_usd = excluded.cost_usd",
    )?;
    for (k, (calls, u)) in d.principals {
        let old: Option<(i64, String)> = get
            .query_row(params![k.day, k.principal], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let mut sum = (calls, u);
        if let Some((n, cost)) = old {
            add(
                &mut sum,
                stored_count(n, "call count")?,
                stored_cost(&cost)?,
            );
        }
        let cost = money::format_units(sum.1, USD_SCALE);
        put.execute(params![k.day, k.principal, count_to_store(sum.0), cost])?;
    }
    c.execute("DELETE FROM daily_journal", [])?;
    Ok(())
}

/// Deletes the rows of days before `day` (`YYYY-MM-DD`). Run after a fold, so the journal
/// holds nothing older.
pub fn prune(c: &Connection, day: &str) -> rusqlite::Result<()> {
    c.prepare_cached("DELETE FROM daily_usage WHERE day < ?1")?
        .execute([day])?;
    c.prepare_cached("DELETE FROM daily_principal WHERE day < ?1")?
        .execute([day])?;
    Ok(())
}

/// The stored totals of days in `[since, until]` (inclusive, `YYYY-MM-DD`), journal included.
/// Call it inside one read transaction, so that a fold in between cannot count a batch twice
/// or not at all.
pub fn read(c: &Connection, since: &str, until: &str) -> Result<DailyTotals, Failed> {
    let mut d = journal(c, since, until)?;
    let mut stmt = c.prepare(
        "SELECT day, model, region, scope, tier, long_context, token_type, tokens, cost_usd FROM daily_usage WHERE day >= ?1 AND day <= ?2",
    )?;
    let mut rows = stmt.query([since, until])?;
    while let Some(r) = rows.next()? {
        let text = |i| -> Result<String, Failed> { Ok(r.get::<_, String>(i)?) };
        let (scope, tier, class) = (text(3)?, text(4)?, text(6)?);
        let bad = |what: &str, v: &str| Failed::Corrupt(format!("daily_usage: bad {what} {v:?}"));
        let key = UsageKey {
            day: text(0)?,
            model: text(1)?,
            region: text(2)?,
            scope: Scope::parse(&scope).ok_or_else(|| bad("scope", &scope))?,
            tier: Tier::parse(&tier).ok_or_else(|| bad("tier", &tier))?,
            long_context: r.get(5)?,
            class: (TokenClass::ALL.into_iter())
                .find(|c| c.as_str() == class)
                .ok_or_else(|| bad("token_type", &class))?,
        };
        let tokens = stored_count(r.get(7)?, "token count")?;
        let u = stored_cost(&text(8)?)?;
        add(d.usage.entry(key).or_default(), tokens, u);
    }
    let mut stmt = c.prepare(
        "SELECT day, principal, calls, cost_usd FROM daily_principal WHERE day >= ?1 AND day <= ?2",
    )?;
    let mut rows = stmt.query([since, until])?;
    while let Some(r) = rows.next()? {
        let key = PrincipalKey {
            day: r.get(0)?,
            principal: r.get(1)?,
        };
        let calls = stored_count(r.get(2)?, "call count")?;
        let u = stored_cost(&r.get::<_, String>(3)?)?;
        add(d.principals.entry(key).or_default(), calls, u);
    }
    Ok(d.into_totals())
}
