//! Daily totals by UTC day, for reconciliation against the AWS bill (which is by UTC day):
//! tokens and cost per (day, model, region, scope, tier, long-context band, token class), and
//! calls and cost per (day, calling principal ARN).
//!
//! [`Batch`] accumulates one batch's newly counted calls on the hot path, keyed by the day
//! number and strings borrowed from the batch. [`Batch::finish`] copies the keys the batch
//! touched into [`Deltas`], which the store adds to the stored totals in the batch's own
//! commit (so a duplicate or rolled-back batch adds nothing). [`DailyTotals`] is what a read
//! returns. The day is the record's `timestamp`, never the wall clock. Pure: no I/O, no clock.

mod batch;

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

pub use batch::Batch;

use crate::money::{self, USD_SCALE};
use crate::pricing::Scope;
use crate::record::{Tier, TokenClass};

const SECS_PER_DAY: i64 = 86_400;
/// 0000-01-01 and 9999-12-31 as days since 1970-01-01. The decoder only yields four-digit
/// years; clamping a record built otherwise keeps every day a sortable `YYYY-MM-DD`.
const MIN_DAY: i64 = -719_528;
const MAX_DAY: i64 = 2_932_896;

/// One row of the per-model view: what AWS bills as one usage line per day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UsageKey {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// The priced model id (the rate card's), or for an unpriced call the id as logged.
    pub model: String,
    pub region: String,
    pub scope: Scope,
    pub tier: Tier,
    pub long_context: bool,
    pub class: TokenClass,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UsageTotal {
    pub tokens: u64,
    /// USD, exact (0 for unpriced calls).
    pub cost: Decimal,
}

/// One row of the per-principal view.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PrincipalKey {
    pub day: String,
    /// The caller's IAM/STS ARN as logged, or "" when the record has none.
    pub principal: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrincipalTotal {
    /// Every counted call: priced, unpriced and failed.
    pub calls: u64,
    pub cost: Decimal,
}

/// Daily totals by key, as a read returns them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DailyTotals {
    pub usage: BTreeMap<UsageKey, UsageTotal>,
    pub principals: BTreeMap<PrincipalKey, PrincipalTotal>,
}

impl DailyTotals {
    pub fn is_empty(&self) -> bool {
        self.usage.is_empty() && self.principals.is_empty()
    }
}

/// The UTC day of a unix time, as days since 1970-01-01 (by division: no calendar work on
/// the hot path).
pub fn day_of(unix: i64) -> i32 {
    unix.div_euclid(SECS_PER_DAY).clamp(MIN_DAY, MAX_DAY) as i32
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(day: i32) -> String {
    crate::timefmt::format_date(i64::from(day))
}

/// The day number of a `YYYY-MM-DD` date.
pub fn parse_day(s: &str) -> Option<i32> {
    let d = crate::timefmt::parse_date(s)?;
    (MIN_DAY..=MAX_DAY).contains(&d).then_some(d as i32)
}

/// The first day kept when `retention_days` are kept before today (UTC): older rows are
/// pruned and no longer added to.
pub fn first_kept_day(now_unix: i64, retention_days: u32) -> i32 {
    let today = now_unix.div_euclid(SECS_PER_DAY);
    (today - i64::from(retention_days)).clamp(MIN_DAY, MAX_DAY) as i32
}

/// Ledger units (10^-18 USD) as an exact `Decimal`.
pub fn cost_of(units: i128) -> Decimal {
    money::units_to_decimal(units, USD_SCALE)
}

/// One per-model row of a batch's deltas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageDelta<'a> {
    pub day: i32,
    pub model: &'a str,
    pub region: &'a str,
    pub scope: Scope,
    pub tier: Tier,
    pub long_context: bool,
    pub class: TokenClass,
    pub tokens: u64,
    /// 10^-18 USD.
    pub units: i128,
}

/// One per-principal row of a batch's deltas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrincipalDelta<'a> {
    pub day: i32,
    pub principal: &'a str,
    pub calls: u64,
    /// 10^-18 USD.
    pub units: i128,
}

/// A string of [`Deltas::text`]: start and length.
type Span = (u32, u32);

#[derive(Debug, Clone)]
struct UsageRow {
    day: i32,
    model: Span,
    region: Span,
    scope: Scope,
    tier: Tier,
    long_context: bool,
    class: TokenClass,
    tokens: u64,
    units: i128,
}

#[derive(Debug, Clone)]
struct PrincipalRow {
    day: i32,
    principal: Span,
    calls: u64,
    units: i128,
}

/// What one batch adds to the daily totals, as its commit carries it: day numbers, money in
/// ledger units, and the key strings copied into one buffer, in no particular order. A
/// batch may touch thousands of callers; this costs a copy of each key, where owned maps
/// (`DailyTotals`) cost two allocations and a sorted insert per row.
#[derive(Debug, Clone, Default)]
pub struct Deltas {
    text: String,
    usage: Vec<UsageRow>,
    principals: Vec<PrincipalRow>,
}

impl Deltas {
    /// Room for `usage` and `principals` rows and `text` bytes of keys, so that filling it
    /// does not reallocate.
    pub fn with_capacity(usage: usize, principals: usize, text: usize) -> Deltas {
        Deltas {
            text: String::with_capacity(text),
            usage: Vec::with_capacity(usage),
            principals: Vec::with_capacity(principals),
        }
    }

    /// Bytes of key text held.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.usage.is_empty() && self.principals.is_empty()
    }

    fn keep(&mut self, s: &str) -> Span {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        (start, s.len() as u32)
    }

    fn text(&self, (start, len): Span) -> &str {
        &self.text[start as usize..(start + len) as usize]
    }

    pub fn push_usage(&mut self, d: UsageDelta<'_>) {
        let (model, region) = (self.keep(d.model), self.keep(d.region));
        self.usage.push(UsageRow {
            day: d.day,
            model,
            region,
            scope: d.scope,
            tier: d.tier,
            long_context: d.long_context,
            class: d.class,
            tokens: d.tokens,
            units: d.units,
        });
    }

    pub fn push_principal(&mut self, d: PrincipalDelta<'_>) {
        let principal = self.keep(d.principal);
        self.principals.push(PrincipalRow {
            day: d.day,
            principal,
            calls: d.calls,
            units: d.units,
        });
    }

    /// Adds `other`'s rows (a key in both stays two rows: whoever reads deltas adds them up).
    pub fn append(&mut self, other: &Deltas) {
        for d in other.usage() {
            self.push_usage(d);
        }
        for d in other.principals() {
            self.push_principal(d);
        }
    }

    pub fn usage(&self) -> impl ExactSizeIterator<Item = UsageDelta<'_>> {
        self.usage.iter().map(|r| UsageDelta {
            day: r.day,
            model: self.text(r.model),
            region: self.text(r.region),
            scope: r.scope,
            tier: r.tier,
            long_context: r.long_context,
            class: r.class,
            tokens: r.tokens,
            units: r.units,
        })
    }

    pub fn principals(&self) -> impl ExactSizeIterator<Item = PrincipalDelta<'_>> {
        self.principals.iter().map(|r| PrincipalDelta {
            day: r.day,
            principal: self.text(r.principal),
            calls: r.calls,
            units: r.units,
        })
    }

    /// The same rows by key, added up (tests and small callers; the store does not need it).
    pub fn to_totals(&self) -> DailyTotals {
        let mut days: FxHashMap<i32, String> = FxHashMap::default();
        let mut day = |d: i32| days.entry(d).or_insert_with(|| format_day(d)).clone();
        let mut usage: BTreeMap<UsageKey, (u64, i128)> = BTreeMap::new();
        for d in self.usage() {
            let key = UsageKey {
                day: day(d.day),
                model: d.model.to_string(),
                region: d.region.to_string(),
                scope: d.scope,
                tier: d.tier,
                long_context: d.long_context,
                class: d.class,
            };
            let sum = usage.entry(key).or_default();
            *sum = (
                sum.0.saturating_add(d.tokens),
                sum.1.saturating_add(d.units),
            );
        }
        let mut principals: BTreeMap<PrincipalKey, (u64, i128)> = BTreeMap::new();
        for d in self.principals() {
            let key = PrincipalKey {
                day: day(d.day),
                principal: d.principal.to_string(),
            };
            let sum = principals.entry(key).or_default();
            *sum = (sum.0.saturating_add(d.calls), sum.1.saturating_add(d.units));
        }
        DailyTotals {
            usage: (usage.into_iter())
                .map(|(k, (tokens, u))| {
                    (
                        k,
                        UsageTotal {
                            tokens,
                            cost: cost_of(u),
                        },
                    )
                })
                .collect(),
            principals: (principals.into_iter())
                .map(|(k, (calls, u))| {
                    (
                        k,
                        PrincipalTotal {
                            calls,
                            cost: cost_of(u),
                        },
                    )
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
