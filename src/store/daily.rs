//! The daily totals in the embedded store (schema 3): two tables a person can query with
//! `sqlite3`, and a journal that keeps a batch's commit to one row write.
//!
//! - `daily_usage`: one row per (day, model, region, scope, tier, long_context, token_type);
//! - `daily_principal`: one row per (day, principal);
//! - `daily_journal`: one row per committed batch holding its deltas. A batch of many callers
//!   touches a row per caller; writing those rows one by one cost more than the rest of the
//!   commit, so they are folded into the tables at the periodic purge and when the journal
//!   passes [`FOLD_BYTES`]. Readers add the journal to the tables in one snapshot.
//!
//! Costs are stored as exact decimal strings of USD (`cost_usd`, e.g. "0.000245"): an `i128`
//! of ledger units does not fit SQLite's 64-bit INTEGER, a REAL would round, and a string
//! reads as itself in `sqlite3` and maps to a PostgreSQL NUMERIC. Sums are done in Rust, in
//! `i128` units, so adding is exact.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};
use rustc_hash::FxHashMap;

use super::codec;
use crate::daily::{self, DailyTotals, Deltas, PrincipalKey, PrincipalTotal, UsageKey};
use crate::daily::{UsageDelta, UsageTotal};
use crate::money::{self, USD_SCALE};
use crate::pricing::Scope;
use crate::record::{Tier, TokenClass};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS daily_usage (day TEXT NOT NULL, model TEXT NOT NULL, region TEXT NOT NULL, scope TEXT NOT NULL, tier TEXT NOT NULL, long_context INTEGER NOT NULL, token_type TEXT NOT NULL, tokens INTEGER NOT NULL, cost_usd TEXT NOT NULL, PRIMARY KEY (day, model, region, scope, tier, long_context, token_type)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS daily_principal (day TEXT NOT NULL, principal TEXT NOT NULL, calls INTEGER NOT NULL, cost_usd TEXT NOT NULL, PRIMARY KEY (day, principal)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS daily_journal (seq INTEGER PRIMARY KEY, data BLOB NOT NULL);
";

/// Journal bytes past which a commit folds the journal into the tables (it is also folded at
/// every purge). Bounds what a fold and a reader hold in memory. Small in unit tests, so that
/// they fold often.
#[cfg(not(test))]
pub const FOLD_BYTES: usize = 8 << 20;
#[cfg(test)]
pub const FOLD_BYTES: usize = 4 << 10;

pub(super) type Sum = (u64, i128);

fn add(sum: &mut Sum, n: u64, units: i128) {
    sum.0 = sum.0.saturating_add(n);
    sum.1 = sum.1.saturating_add(units);
}

/// A per-model row's key by day number (which sorts as its date does).
pub(super) type UsageAt = (i32, String, String, Scope, Tier, bool, TokenClass);

/// Rows of days in a range, added up as they are read (here, and by the PostgreSQL store,
/// which keeps the same journal rows: `pg_daily.rs`).
pub(super) struct Pending {
    since: String,
    until: String,
    pub(super) usage: BTreeMap<UsageAt, Sum>,
    /// By day, then principal, looked up by `&str`: a journal holds a row per caller and
    /// batch, and adding one to a key already seen allocates nothing.
    pub(super) principals: FxHashMap<i32, FxHashMap<String, Sum>>,
    /// The last day number asked about, and whether it is in the range.
    last: Option<(i32, bool)>,
}

impl Pending {
    pub(super) fn new(since: &str, until: &str) -> Pending {
        Pending {
            since: since.to_string(),
            until: until.to_string(),
            usage: BTreeMap::new(),
            principals: FxHashMap::default(),
            last: None,
        }
    }

    /// Whether `day` is in `[since, until]`, comparing dates as text (the range is given as
    /// text); a journal row holds a day or two, so the answer is kept.
    fn wants(&mut self, day: i32) -> bool {
        match self.last {
            Some((d, yes)) if d == day => yes,
            _ => {
                let s = daily::format_day(day);
                let yes = *self.since <= *s && *s <= *self.until;
                self.last = Some((day, yes));
                yes
            }
        }
    }

    pub(super) fn add_usage(&mut self, d: UsageDelta<'_>) {
        let key = (
            d.day,
            d.model.to_string(),
            d.region.to_string(),
            d.scope,
            d.tier,
            d.long_context,
            d.class,
        );
        add(self.usage.entry(key).or_default(), d.tokens, d.units);
    }

    pub(super) fn add_principal(&mut self, day: i32, principal: &str, calls: u64, units: i128) {
        let by_day = self.principals.entry(day).or_default();
        match by_day.get_mut(principal) {
            Some(sum) => add(sum, calls, units),
            None => {
                by_day.insert(principal.to_string(), (calls, units));
            }
        }
    }

    pub(super) fn into_totals(self) -> DailyTotals {
        let cost = daily::cost_of;
        let usage = (self.usage.into_iter())
            .map(
                |((day, model, region, scope, tier, long_context, class), (tokens, u))| {
                    let key = UsageKey {
                        day: daily::format_day(day),
                        model,
                        region,
                        scope,
                        tier,
                        long_context,
                        class,
                    };
                    (
                        key,
                        UsageTotal {
                            tokens,
                            cost: cost(u),
                        },
                    )
                },
            )
            .collect();
        let principals = (self.principals.into_iter())
            .flat_map(|(day, by)| {
                let day = daily::format_day(day);
                by.into_iter().map(move |(p, sum)| (day.clone(), p, sum))
            })
            .map(|(day, principal, (calls, u))| {
                let t = PrincipalTotal {
                    calls,
                    cost: cost(u),
                };
                (PrincipalKey { day, principal }, t)
            })
            .collect();
        DailyTotals { usage, principals }
    }
}

/// The journal row layout's version, its first byte.
const ROW_FORMAT: u8 = 1;

// A journal row: [u8 ROW_FORMAT], [varint usage rows], each: [zigzag day number], model and
// region (front-coded against the previous row's), [u8 scope][u8 tier][u8 long_context]
// [u8 token class] (indexes into Scope::ALL, Tier::ALL, TokenClass::ALL), [varint tokens]
// [zigzag units]; then [varint principal rows], each: [zigzag day number], principal
// (front-coded), [varint calls][zigzag units]. See codec.rs for varints and front coding.

fn index<T: PartialEq>(all: &[T], v: &T) -> u8 {
    all.iter().position(|x| x == v).unwrap_or(0) as u8
}

/// One batch's deltas as a journal row.
pub fn encode(d: &Deltas) -> Vec<u8> {
    // At most the key text and 40 bytes of numbers a row: one allocation.
    let rows = d.usage().len() + d.principals().len();
    let mut out = Vec::with_capacity(1 + 2 * 19 + d.text_len() + 40 * rows);
    out.push(ROW_FORMAT);
    let (mut model, mut region) = ("", "");
    codec::put_varint(&mut out, d.usage().len() as u128);
    for u in d.usage() {
        codec::put_signed(&mut out, u.day.into());
        codec::put_front(&mut out, &mut model, u.model);
        codec::put_front(&mut out, &mut region, u.region);
        out.push(index(&Scope::ALL, &u.scope));
        out.push(index(&Tier::ALL, &u.tier));
        out.push(u8::from(u.long_context));
        out.push(u.class as u8);
        codec::put_varint(&mut out, u.tokens.into());
        codec::put_signed(&mut out, u.units);
    }
    let mut principal = "";
    codec::put_varint(&mut out, d.principals().len() as u128);
    for p in d.principals() {
        codec::put_signed(&mut out, p.day.into());
        codec::put_front(&mut out, &mut principal, p.principal);
        codec::put_varint(&mut out, p.calls.into());
        codec::put_signed(&mut out, p.units);
    }
    out
}

/// Reads a journal row into `into` (rows of days it does not want are skipped); `None` if the
/// row is not well formed.
pub(super) fn decode(blob: &[u8], into: &mut Pending) -> Option<()> {
    let mut r = codec::Reader(blob);
    if r.byte()? != ROW_FORMAT {
        return None;
    }
    let day = |r: &mut codec::Reader<'_>| i32::try_from(r.signed()?).ok();
    let count = |r: &mut codec::Reader<'_>| u64::try_from(r.varint()?).ok();
    let [m, g] = &mut <[Vec<u8>; 2]>::default();
    for _ in 0..r.varint()? {
        let d = day(&mut r)?;
        let (model, region) = (r.front(m)?, r.front(g)?);
        let (scope, tier, lc, class) = (r.byte()?, r.byte()?, r.byte()?, r.byte()?);
        let (tokens, units) = (count(&mut r)?, r.signed()?);
        if into.wants(d) {
            into.add_usage(UsageDelta {
                day: d,
                model,
                region,
                scope: *Scope::ALL.get(scope as usize)?,
                tier: *Tier::ALL.get(tier as usize)?,
                long_context: lc != 0,
                class: *TokenClass::ALL.get(class as usize)?,
                tokens,
                units,
            });
        }
    }
    let p = &mut Vec::new();
    for _ in 0..r.varint()? {
        let d = day(&mut r)?;
        let principal = r.front(p)?;
        let (calls, units) = (count(&mut r)?, r.signed()?);
        if into.wants(d) {
            into.add_principal(d, principal, calls, units);
        }
    }
    r.0.is_empty().then_some(())
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

/// Adds the whole journal to `into`.
fn journal(c: &Connection, into: &mut Pending) -> Result<(), Failed> {
    let mut stmt = c.prepare_cached("SELECT data FROM daily_journal ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let blob = row.get_ref(0)?.as_blob().unwrap_or_default();
        decode(blob, into)
            .ok_or_else(|| Failed::Corrupt("a malformed daily journal row".into()))?;
    }
    Ok(())
}

fn stored_count(v: i64, what: &str) -> Result<u64, Failed> {
    u64::try_from(v).map_err(|_| Failed::Corrupt(format!("a negative {what} in a daily row")))
}

fn stored_cost(s: &str) -> Result<i128, Failed> {
    money::parse_units(s, USD_SCALE)
        .ok_or_else(|| Failed::Corrupt(format!("daily cost {s:?} is not a decimal")))
}

fn stored_day(s: &str) -> Result<i32, Failed> {
    daily::parse_day(s).ok_or_else(|| Failed::Corrupt(format!("daily row of day {s:?}")))
}

/// Counts are stored as SQLite's signed 64-bit INTEGER: one past 2^63 - 1 tokens in a day
/// is a corrupt record, not a bill, and stays at the maximum.
fn count_to_store(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Every day, as text.
pub(super) const ALL_DAYS: (&str, &str) = ("", "\u{10FFFF}");

/// Adds the journal to the tables (read, add in Rust, write back: only the rows it touched)
/// and empties it. Run inside the commit's transaction.
pub fn fold(c: &Connection) -> Result<(), Failed> {
    let mut d = Pending::new(ALL_DAYS.0, ALL_DAYS.1);
    journal(c, &mut d)?;
    let mut get = c.prepare_cached(
        "SELECT tokens, cost_usd FROM daily_usage WHERE day = ?1 AND model = ?2 AND region = ?3 AND scope = ?4 AND tier = ?5 AND long_context = ?6 AND token_type = ?7",
    )?;
    let mut put = c.prepare_cached(
        "INSERT INTO daily_usage (day, model, region, scope, tier, long_context, token_type, tokens, cost_usd) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (day, model, region, scope, tier, long_context, token_type) DO UPDATE SET tokens = excluded.tokens, cost_usd = excluded.cost_usd",
    )?;
    for ((day, model, region, scope, tier, lc, class), (tokens, u)) in d.usage {
        let (day, scope, tier, class) = (
            daily::format_day(day),
            scope.as_str(),
            tier.as_str(),
            class.as_str(),
        );
        let key = params![day, model, region, scope, tier, lc, class];
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
        let (n, cost) = (count_to_store(sum.0), money::format_units(sum.1, USD_SCALE));
        put.execute(params![day, model, region, scope, tier, lc, class, n, cost])?;
    }
    let mut get = c.prepare_cached(
        "SELECT calls, cost_usd FROM daily_principal WHERE day = ?1 AND principal = ?2",
    )?;
    let mut put = c.prepare_cached(
        "INSERT INTO daily_principal (day, principal, calls, cost_usd) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (day, principal) DO UPDATE SET calls = excluded.calls, cost_usd = excluded.cost_usd",
    )?;
    for (day, by_principal) in &d.principals {
        let day = daily::format_day(*day);
        for (principal, &(calls, u)) in by_principal {
            let old: Option<(i64, String)> = get
                .query_row(params![day, principal], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let mut sum = (calls, u);
            if let Some((n, cost)) = old {
                add(
                    &mut sum,
                    stored_count(n, "call count")?,
                    stored_cost(&cost)?,
                );
            }
            let (n, cost) = (count_to_store(sum.0), money::format_units(sum.1, USD_SCALE));
            put.execute(params![day, principal, n, cost])?;
        }
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

/// The stored totals of days in `[since, until]` (inclusive, `YYYY-MM-DD`, compared as
/// text; `None`: unbounded), journal included. Call it inside one read transaction, so that
/// a fold in between cannot count a batch twice or not at all.
pub fn read(
    c: &Connection,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<DailyTotals, Failed> {
    let (since, until) = (since.unwrap_or(ALL_DAYS.0), until.unwrap_or(ALL_DAYS.1));
    let mut d = Pending::new(since, until);
    journal(c, &mut d)?;
    let mut stmt = c.prepare(
        "SELECT day, model, region, scope, tier, long_context, token_type, tokens, cost_usd FROM daily_usage WHERE day >= ?1 AND day <= ?2",
    )?;
    let mut rows = stmt.query([since, until])?;
    while let Some(r) = rows.next()? {
        let text = |i| -> Result<String, Failed> { Ok(r.get::<_, String>(i)?) };
        let (scope, tier, class) = (text(3)?, text(4)?, text(6)?);
        let bad = |what: &str, v: &str| Failed::Corrupt(format!("daily_usage: bad {what} {v:?}"));
        d.add_usage(UsageDelta {
            day: stored_day(&text(0)?)?,
            model: &text(1)?,
            region: &text(2)?,
            scope: Scope::parse(&scope).ok_or_else(|| bad("scope", &scope))?,
            tier: Tier::parse(&tier).ok_or_else(|| bad("tier", &tier))?,
            long_context: r.get(5)?,
            class: (TokenClass::ALL.into_iter())
                .find(|c| c.as_str() == class)
                .ok_or_else(|| bad("token_type", &class))?,
            tokens: stored_count(r.get(7)?, "token count")?,
            units: stored_cost(&text(8)?)?,
        });
    }
    let mut stmt = c.prepare(
        "SELECT day, principal, calls, cost_usd FROM daily_principal WHERE day >= ?1 AND day <= ?2",
    )?;
    let mut rows = stmt.query([since, until])?;
    while let Some(r) = rows.next()? {
        let (day, principal): (String, String) = (r.get(0)?, r.get(1)?);
        let calls = stored_count(r.get(2)?, "call count")?;
        let units = stored_cost(&r.get::<_, String>(3)?)?;
        d.add_principal(stored_day(&day)?, &principal, calls, units);
    }
    Ok(d.into_totals())
}
