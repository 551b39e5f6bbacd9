//! A card as a flat map: (model, region, scope, tier, band, class) → list price. What
//! `ratecard diff` and `ratecard check` compare. Pure.
//!
//! List prices are the prices as written, before the card's discount: a negotiated discount
//! is not a price change. A `"*"` row expands under region `"*"`.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::pricing::ratecard::{ClassPrices, RateCard};
use crate::pricing::Scope;
use crate::record::{Tier, TokenClass};

/// The long-context band a price belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Band {
    Base,
    /// The band above this many prompt tokens.
    Above(u64),
}

impl Band {
    pub fn label(self) -> String {
        match self {
            Band::Base => "-".into(),
            Band::Above(n) => format!(">{n}"),
        }
    }

    pub fn above_tokens(self) -> Option<u64> {
        match self {
            Band::Base => None,
            Band::Above(n) => Some(n),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PriceKey {
    pub model: String,
    pub region: String,
    pub scope: Scope,
    /// `Tier as u8`, so keys sort in the order of `Tier::ALL`.
    pub tier: u8,
    pub band: Band,
    pub class: TokenClass,
}

impl PriceKey {
    pub fn tier(&self) -> Tier {
        Tier::ALL
            .into_iter()
            .find(|t| *t as u8 == self.tier)
            .unwrap_or_default()
    }

    pub fn columns(&self) -> [String; 6] {
        [
            self.model.clone(),
            self.region.clone(),
            self.scope.as_str().into(),
            self.tier().as_str().into(),
            self.class.as_str().into(),
            self.band.label(),
        ]
    }
}

/// The JSON shape of a key (`ratecard diff|check --format json`).
#[derive(Serialize)]
pub struct KeyJson<'a> {
    pub model: &'a str,
    pub region: &'a str,
    pub scope: &'static str,
    pub tier: &'static str,
    pub class: &'static str,
    pub long_context_above_tokens: Option<u64>,
}

impl<'a> From<&'a PriceKey> for KeyJson<'a> {
    fn from(k: &'a PriceKey) -> Self {
        KeyJson {
            model: &k.model,
            region: &k.region,
            scope: k.scope.as_str(),
            tier: k.tier().as_str(),
            class: k.class.as_str(),
            long_context_above_tokens: k.band.above_tokens(),
        }
    }
}

pub const COLUMNS: [&str; 6] = ["model", "region", "scope", "tier", "class", "band"];

pub fn each_class(p: &ClassPrices) -> impl Iterator<Item = (TokenClass, Decimal)> + '_ {
    TokenClass::ALL
        .into_iter()
        .filter_map(|c| p.get(c).map(|d| (c, d)))
}

pub fn expand_card(card: &RateCard) -> BTreeMap<PriceKey, Decimal> {
    let mut out = BTreeMap::new();
    for (model, entry) in &card.models {
        for row in &entry.rows {
            let regions = row.regions.clone().unwrap_or_else(|| vec!["*".to_string()]);
            let mut bands = vec![(Band::Base, &row.list_prices)];
            if let Some(lc) = &row.long_context {
                bands.push((Band::Above(lc.above_tokens), &lc.list_prices));
            }
            for region in &regions {
                for &scope in &row.scopes {
                    for (band, prices) in &bands {
                        for (class, price) in each_class(prices) {
                            out.insert(
                                PriceKey {
                                    model: model.clone(),
                                    region: region.clone(),
                                    scope,
                                    tier: row.tier as u8,
                                    band: *band,
                                    class,
                                },
                                price,
                            );
                        }
                    }
                }
            }
        }
    }
    out
}

/// The assumption ids of the row that holds a key's price (none if no row does).
pub fn row_assumptions(card: &RateCard, k: &PriceKey) -> Vec<String> {
    card.lookup(&k.model, &k.region, k.scope, k.tier())
        .map(|r| r.assumptions.clone())
        .unwrap_or_default()
}

/// How many of the card's prices (expanded keys) rest on each assumption it defines.
pub fn assumption_counts(card: &RateCard) -> BTreeMap<String, usize> {
    let mut out: BTreeMap<String, usize> =
        card.assumptions.iter().map(|a| (a.id.clone(), 0)).collect();
    for k in expand_card(card).keys() {
        for id in row_assumptions(card, k) {
            *out.entry(id).or_default() += 1;
        }
    }
    out
}
