//! The hot-path side of the daily totals: one batch's calls added up under borrowed keys.

use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use super::{day_of, Deltas, PrincipalDelta, UsageDelta};
use crate::account::PricedCall;
use crate::money::{self, USD_SCALE};
use crate::pricing::{Outcome, Scope};
use crate::record::{Tier, TokenClass};

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

/// One batch's daily totals as they accumulate: two hash lookups a call, no copy. A batch
/// touches a handful of days, models and regions, and at most a caller per record.
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
                let units = |d: Decimal| match d.is_zero() {
                    true => 0,
                    false => money::to_units(d, USD_SCALE).unwrap_or(0),
                };
                let costs = p.cost.map(units);
                let slot = UsageSlot {
                    day,
                    model: p.model,
                    region: &rec.region,
                    scope: p.scope,
                    tier: p.tier,
                    long_context: p.long_context,
                };
                // The total is the sum of the classes' costs; adding units is cheaper than
                // converting it too.
                let total = costs.iter().fold(0i128, |a, &c| a.saturating_add(c));
                (slot, costs, total)
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

    /// The batch's rows with owned keys, leaving out days before `first_day` (past the
    /// retention: a backfill of older logs adds nothing there) and rows of no tokens and no
    /// cost.
    pub fn finish(self, first_day: i32) -> Deltas {
        let slot_text = |s: &UsageSlot<'_>| 5 * (s.model.len() + s.region.len());
        let text = self.usage.keys().map(slot_text).sum::<usize>()
            + self.principals.keys().map(|(_, p)| p.len()).sum::<usize>();
        let mut out = Deltas::with_capacity(5 * self.usage.len(), self.principals.len(), text);
        for (s, sums) in self.usage {
            if s.day < first_day {
                continue;
            }
            for class in TokenClass::ALL {
                let (tokens, units) = sums[class as usize];
                if tokens == 0 && units == 0 {
                    continue;
                }
                out.push_usage(UsageDelta {
                    day: s.day,
                    model: s.model,
                    region: s.region,
                    scope: s.scope,
                    tier: s.tier,
                    long_context: s.long_context,
                    class,
                    tokens,
                    units,
                });
            }
        }
        for ((day, principal), (calls, units)) in self.principals {
            if day >= first_day {
                out.push_principal(PrincipalDelta {
                    day,
                    principal,
                    calls,
                    units,
                });
            }
        }
        out
    }
}
