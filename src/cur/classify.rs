//! What a CUR bill line is: tokens of one model, class, tier and scope in one region, or why
//! not. Pure; the usage-type grammars are the Price List's (`pricelist::usagetype`), the
//! model comes from the reviewed mapping (`pricelist::mapping`), so a bill and a rate card
//! built from the Price List name things the same way and an unknown name fails closed.
//!
//! - Only `Usage` lines are tokens. Credits, discounts, savings-plan negations, taxes, refunds
//!   and the rest are [`Billed::OtherLineType`], for the report to total on their own.
//! - Region: `product_region_code` when the line has it, else the usage type's billing code
//!   through [`super::region`].
//! - Unit: `pricing_unit` when it names 1K or 1M tokens. Otherwise (absent, or the opaque
//!   `Units` Marketplace products use) by grammar: native usage types count thousands,
//!   Marketplace (`-MP:`) ones millions. That split is an operator's note in
//!   `shared/pricing/price-list.md` §3 [inferred, not from AWS]: check one real export.

use rust_decimal::Decimal;

use super::region;
use super::BillLine;
use crate::pricelist::mapping::{Key, Mapping};
use crate::pricelist::usagetype::{self, Name, Usage};
use crate::record::{Tier, TokenClass};

#[derive(Debug, Clone, PartialEq)]
pub enum Billed {
    Tokens {
        /// The mapping entry's Bedrock model id.
        model: String,
        region: String,
        class: TokenClass,
        tier: Tier,
        global: bool,
        long_context: bool,
        /// `usage_amount` × the unit.
        tokens: Decimal,
    },
    /// A known usage type that is not per-token inference; the reason says which.
    Excluded(&'static str),
    UnknownUsageType,
    /// The mapping has no reviewed entry for this key (shown as text).
    UnmappedModel(String),
    /// A billing code with no known region and no `product_region_code` on the line.
    UnknownRegion(String),
    /// A `pricing_unit` that is neither a token unit nor `Units`.
    UnknownUnit(String),
    OtherLineType(String),
}

const THOUSAND: Decimal = Decimal::from_parts(1_000, 0, 0, false, 0);
const MILLION: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

pub fn classify(line: &BillLine, mapping: &Mapping) -> Billed {
    if line.line_item_type != "Usage" {
        return Billed::OtherLineType(line.line_item_type.clone());
    }
    let price = match usagetype::classify(&line.usage_type) {
        Usage::Token(t) => t,
        Usage::Excluded(e) => return Billed::Excluded(e.reason()),
        Usage::Unknown => return Billed::UnknownUsageType,
    };
    let (key, per_amount) = match &price.name {
        Name::Compact(n) => (Key::UsagetypeName(n.clone()), THOUSAND),
        Name::Listing => match &line.servicename {
            Some(s) => (Key::Servicename(s.clone()), MILLION),
            None => return Billed::UnmappedModel("servicename (none on the line)".into()),
        },
    };
    let Some(entry) = mapping.get(&key) else {
        return Billed::UnmappedModel(key.to_string());
    };
    let region = match line.region_code.as_deref() {
        Some(r) => r.to_string(),
        None => {
            let code = region::code_of(&line.usage_type).unwrap_or_default();
            match region::region_of(code) {
                Some(r) => r.to_string(),
                None => return Billed::UnknownRegion(code.to_string()),
            }
        }
    };
    let per_amount = match line.pricing_unit.as_deref().map(unit) {
        Some(Unit::Tokens(n)) => n,
        None | Some(Unit::Opaque) => per_amount,
        Some(Unit::Other) => {
            return Billed::UnknownUnit(line.pricing_unit.clone().unwrap_or_default())
        }
    };
    Billed::Tokens {
        model: entry.id.clone(),
        region,
        class: price.class,
        tier: price.tier,
        global: price.global,
        long_context: price.long_context,
        tokens: (line.usage_amount * per_amount).normalize(),
    }
}

#[derive(Debug, PartialEq)]
enum Unit {
    Tokens(Decimal),
    /// `Units`: says nothing about how many tokens one is.
    Opaque,
    Other,
}

/// `1K tokens`, `1M tokens` and their spellings (`1,000 Tokens`, `Million tokens`, ...).
fn unit(text: &str) -> Unit {
    let t: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ',')
        .collect::<String>()
        .to_ascii_lowercase();
    let Some(count) = t.strip_suffix("tokens").or_else(|| t.strip_suffix("token")) else {
        return if t == "units" || t == "unit" {
            Unit::Opaque
        } else {
            Unit::Other
        };
    };
    match count {
        "1k" | "1000" | "thousand" | "1thousand" => Unit::Tokens(THOUSAND),
        "1m" | "1000000" | "million" | "1million" => Unit::Tokens(MILLION),
        _ => Unit::Other,
    }
}

#[cfg(test)]
mod tests;
