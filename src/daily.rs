//! Daily totals by UTC day, for reconciliation against the AWS bill (which is by UTC day):
//! tokens and cost per (day, model, region, scope, tier, long-context band, token class), and
//! calls and cost per (day, calling principal ARN).
//!
//! [`Batch`] accumulates one batch's newly counted calls on the hot path, keyed by the day
//! number and strings borrowed from the batch; [`Batch::finish`] turns the handful of keys a
//! batch touches into owned [`DailyTotals`], which the store adds to the stored ones in the
//! batch's own commit (so a duplicate or rolled-back batch adds nothing). The day is the
//! record's `timestamp`, never the wall clock. Pure: no I/O, no clock.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use crate::account::PricedCall;
use crate::money::{self, USD_SCALE};
use crate::pricing::{Outcome, Scope};
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

/// Daily totals: one batch's (what a commit adds) or the stored ones (what a read returns).
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

/// The first day kept when `retention_days` are kept before today (UTC): older rows are
/// pruned and no longer added to.
pub fn first_kept_day(now_unix: i64, retention_days: u32) -> i32 {
    let today = now_unix.div_euclid(SECS_PER_DAY);
    (today - i64::from(retention_days)).clamp(MIN_DAY, MAX_DAY) as i32
}

/// A per-model row as the hot path keys it: nothing is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct UsageSlot<'a> {
    day: i32,
    model: &'a str,
    region: &'a str,
    scope: Scope,
    tier: Tier,
    long_context: bool,
}

/// Tokens and cost (ledger units of 10^-18 USD: exact, and an add is one instruction).
type Sum = (u64, i128);

fn add(sum: &mut Sum, tokens: u64, units: i128) {
    sum.0 = sum.0.saturating_add(tokens);
    sum.1 = sum.1.saturating_add(units);
}

/// One batch's daily totals as they accumulate. A batch touches a handful of days, models and
/// regions, so the maps stay small; each call costs two hash lookups.
#[derive(Default)]
pub struct Batch<'a> {
    /// All five token classes of a slot in one entry: one lookup per call, not five.
    usage: FxHashMap<UsageSlot<'a>, [Sum; 5]>,
    /// (day, principal ARN) -> (calls, cost).
    principals: FxHashMap<(i32, &'a str), Sum>,
}

impl<'a> Batch<'a> {
    /// Adds one newly counted call.
    pub fn add(&mut self, call: &PricedCall<'a>) {
        let rec = call.record;
        let day = day_of(rec.timestamp);
        let principal = rec.principal_arn.as_deref().unwrap_or("");
        let (slot, costs, total) = match &call.outcome {
            Outcome::Priced(p) => {
                // As the ledger does, a call whose cost does not fit the ledger's units adds no
                // money (the ledger counts it as an overflow); its tokens still count.
                let units = |d| money::to_units(d, USD_SCALE);
                let costs = TokenClass::ALL.map(|c| units(p.cost[c as usize]).unwrap_or(0));
                let slot = UsageSlot {
                    day,
                    model: p.model,
                    region: &rec.region,
                    scope: p.scope,
                    tier: p.tier,
                    long_context: p.long_context,
                };
                (slot, costs, units(p.total).unwrap_or(0))
            }
            Outcome::Unpriced { scope, .. } => {
                let slot = UsageSlot {
                    day,
                    model: &rec.model_id,
                    region: &rec.region,
                    scope: scope.unwrap_or(Scope::InRegion),
                    tier: rec.tier,
                    long_context: false,
                };
                (slot, [0; 5], 0)
            }
            // A failed call AWS does not bill: no tokens, no cost, but still a call.
            Outcome::NotBilled { .. } => {
                add(self.principals.entry((day, principal)).or_default(), 1, 0);
                return;
            }
        };
        add(
            self.principals.entry((day, principal)).or_default(),
            1,
            total,
        );
        let sums = self.usage.entry(slot).or_default();
        for class in TokenClass::ALL {
            let i = class as usize;
            add(&mut sums[i], rec.tokens.get(class), costs[i]);
        }
    }

    /// The batch's totals with owned keys, leaving out days before `first_day` (past the
    /// retention: a backfill of older logs adds nothing there) and rows of no tokens and no
    /// cost.
    pub fn finish(self, first_day: i32) -> DailyTotals {
        let mut days: FxHashMap<i32, String> = FxHashMap::default();
        let mut day = |d: i32| days.entry(d).or_insert_with(|| format_day(d)).clone();
        let cost = |units| money::units_to_decimal(units, USD_SCALE);
        let mut out = DailyTotals::default();
        for (s, sums) in self.usage {
            if s.day < first_day {
                continue;
            }
            for class in TokenClass::ALL {
                let (tokens, units) = sums[class as usize];
                if tokens == 0 && units == 0 {
                    continue;
                }
                let key = UsageKey {
                    day: day(s.day),
                    model: s.model.to_string(),
                    region: s.region.to_string(),
                    scope: s.scope,
                    tier: s.tier,
                    long_context: s.long_context,
                    class,
                };
                let t = UsageTotal {
                    tokens,
                    cost: cost(units),
                };
                out.usage.insert(key, t);
            }
        }
        for ((d, principal), (calls, units)) in self.principals {
            if d < first_day {
                continue;
            }
            let key = PrincipalKey {
                day: day(d),
                principal: principal.to_string(),
            };
            let t = PrincipalTotal {
                calls,
                cost: cost(units),
            };
            out.principals.insert(key, t);
        }
        out
    }
}

#[cfg(test)]
mod tests;
