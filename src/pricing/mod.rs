//! Pricing: a [`Record`] and the rate cards in, a [`Priced`] call (or the reason it cannot
//! be priced) out. Pure: no I/O, no clock; the record's own timestamp picks the card.
//!
//! `model.rs` turns any `modelId` form into (base model, scope); `ratecard.rs` loads and
//! validates the cards and finds the row for (model, source region, scope, tier);
//! `identity.rs` keeps a card version's content from changing once it priced calls.

pub mod identity;
pub mod model;
pub mod ratecard;

use rust_decimal::Decimal;

pub use model::{Aliases, Scope};
pub use ratecard::{RateCard, RateCards};

use crate::money;
use crate::record::{Record, Tier, TokenClass};
use ratecard::LookupMiss;

/// Why a call could not be priced: the `reason` label of `bedrock_unpriced_invocations_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnpricedReason {
    UnknownModel,
    ApplicationProfileUnmapped,
    UnsupportedModelArn,
    NoRatecardInForce,
    NoPriceForTier,
    NoPriceForScope,
    NoPriceForRegion,
    MissingTokenClassPrice,
    NoTokenCounts,
    Overflow,
}

impl UnpricedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            UnpricedReason::UnknownModel => "unknown_model",
            UnpricedReason::ApplicationProfileUnmapped => "application_profile_unmapped",
            UnpricedReason::UnsupportedModelArn => "unsupported_model_arn",
            UnpricedReason::NoRatecardInForce => "no_ratecard_in_force",
            UnpricedReason::NoPriceForTier => "no_price_for_tier",
            UnpricedReason::NoPriceForScope => "no_price_for_scope",
            UnpricedReason::NoPriceForRegion => "no_price_for_region",
            UnpricedReason::MissingTokenClassPrice => "missing_token_class_price",
            UnpricedReason::NoTokenCounts => "no_token_counts",
            UnpricedReason::Overflow => "overflow",
        }
    }

    /// What an operator should do about it (used in logs).
    pub fn hint(self) -> &'static str {
        match self {
            UnpricedReason::UnknownModel => "add the model to a rate card",
            UnpricedReason::ApplicationProfileUnmapped => {
                "map the profile ARN in [models.aliases] of the config"
            }
            UnpricedReason::UnsupportedModelArn => {
                "map the ARN to a priced model in [models.aliases], or leave it unpriced"
            }
            UnpricedReason::NoRatecardInForce => {
                "add a rate card whose effective_from is before the record"
            }
            UnpricedReason::NoPriceForTier
            | UnpricedReason::NoPriceForScope
            | UnpricedReason::NoPriceForRegion
            | UnpricedReason::MissingTokenClassPrice => {
                "add the missing price row to the rate card"
            }
            UnpricedReason::NoTokenCounts => "the record carries no token counts; nothing to price",
            UnpricedReason::Overflow => "the token counts are too large to price",
        }
    }
}

/// A priced call: cost per token class (exact, USD) and how it was priced.
#[derive(Debug, Clone, PartialEq)]
pub struct Priced<'a> {
    pub model: &'a str,
    pub scope: Scope,
    pub tier: Tier,
    pub card_version: &'a str,
    pub long_context: bool,
    /// Indexed by `TokenClass as usize`.
    pub cost: [Decimal; 5],
    pub total: Decimal,
    /// What the cache reads would have cost as plain input, minus what they cost.
    pub cache_read_savings: Decimal,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<'a> {
    Priced(Priced<'a>),
    /// A failed call with no tokens: AWS bills nothing, and there is nothing to price.
    NotBilled {
        model: &'a str,
    },
    Unpriced {
        model: &'a str,
        reason: UnpricedReason,
        /// How the call was routed, when the model id resolved (daily totals keep it).
        scope: Option<Scope>,
    },
}

pub fn price<'a>(cards: &'a RateCards, aliases: &'a Aliases, rec: &'a Record<'_>) -> Outcome<'a> {
    let resolved = match model::resolve(&rec.model_id, aliases) {
        Ok(r) => r,
        Err(reason) => {
            return Outcome::Unpriced {
                model: &rec.model_id,
                reason,
                scope: None,
            }
        }
    };
    let model = resolved.base;
    let billed_tokens = rec.tokens.prompt_total() + rec.tokens.output;
    if rec.error_code.is_some() && billed_tokens == 0 {
        return Outcome::NotBilled { model };
    }
    let scope = Some(resolved.scope);
    let unpriced = |reason| Outcome::Unpriced {
        model,
        reason,
        scope,
    };
    if !rec.has_token_counts {
        return unpriced(UnpricedReason::NoTokenCounts);
    }
    let Some(card) = cards.card_for(rec.timestamp) else {
        return unpriced(UnpricedReason::NoRatecardInForce);
    };
    let row = match card.lookup(model, &rec.region, resolved.scope, rec.tier) {
        Ok(row) => row,
        Err(miss) => {
            return unpriced(match miss {
                LookupMiss::UnknownModel => UnpricedReason::UnknownModel,
                LookupMiss::NoTier => UnpricedReason::NoPriceForTier,
                LookupMiss::NoScope => UnpricedReason::NoPriceForScope,
                LookupMiss::NoRegion => UnpricedReason::NoPriceForRegion,
            })
        }
    };
    let (prices, long_context) = match &row.long_context {
        Some(lc) if rec.tokens.prompt_total() > lc.above_tokens => (&lc.prices, true),
        _ => (&row.prices, false),
    };
    let mut cost = [Decimal::ZERO; 5];
    for class in TokenClass::ALL {
        let tokens = rec.tokens.get(class);
        if tokens == 0 {
            continue;
        }
        let Some(p) = prices.get(class) else {
            return unpriced(UnpricedReason::MissingTokenClassPrice);
        };
        match money::cost(tokens, p) {
            Some(c) => cost[class as usize] = c,
            None => return unpriced(UnpricedReason::Overflow),
        }
    }
    let total = cost.iter().copied().sum();
    let cache_read_savings = match (
        prices.get(TokenClass::Input),
        prices.get(TokenClass::CacheRead),
    ) {
        (Some(input), Some(read)) if input > read => {
            money::cost(rec.tokens.cache_read, input - read).unwrap_or(Decimal::ZERO)
        }
        _ => Decimal::ZERO,
    };
    Outcome::Priced(Priced {
        model,
        scope: resolved.scope,
        tier: rec.tier,
        card_version: &card.version,
        long_context,
        cost,
        total,
        cache_read_savings,
    })
}

#[cfg(test)]
mod tests;
