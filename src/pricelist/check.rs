//! `ratecard check CARD --price-list FILE...`: where a card disagrees with the Price List.
//! Pure: compares a parsed card with an in-memory import on the same expansion.
//!
//! Each Price List price (model, region, scope, tier, band, class) is looked up the way the
//! daemon prices a call: the card row naming that region, else its `"*"` row. Then the other
//! way: each card price that the Price List lacks, in the card's own regions and, for a `"*"`
//! row, in every Price List region of that model the row serves. A card model that the Price
//! List files do not price at all is one line, and so is each model's list of card regions the
//! files do not price it in (offer files of a single region are common), not one per price.
//! List prices are compared (before the card's discount).

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde_json::json;

use super::expand::{each_class, row_assumptions, Band, KeyJson, PriceKey, COLUMNS};
use super::import::Imported;
use crate::pricing::ratecard::RateCard;
use crate::pricing::Scope;
use crate::texttable::table;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Both price it, differently.
    Different,
    /// The Price List prices it; the card does not.
    PriceListOnly,
    /// The card prices it; the Price List does not.
    CardOnly,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Different => "different",
            Kind::PriceListOnly => "price-list-only",
            Kind::CardOnly => "card-only",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    pub kind: Kind,
    pub key: PriceKey,
    pub card: Option<Decimal>,
    pub price_list: Option<Decimal>,
    /// `usagetype (SKU)` of the Price List price.
    pub source: Option<String>,
    /// The assumptions the card's price rests on (none when the card has no price).
    pub card_assumptions: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Check {
    pub disagreements: Vec<Disagreement>,
    pub agree: usize,
    /// Card models with no price in the Price List files (absent, or unmapped).
    pub card_models_not_in_price_list: Vec<String>,
    /// Regions a card row names for a model that the Price List files price in other regions
    /// only (one line per model rather than one per price: files of one region are common).
    pub card_regions_not_in_price_list: BTreeMap<String, BTreeSet<String>>,
}

impl Check {
    pub fn ok(&self) -> bool {
        self.disagreements.is_empty()
            && self.card_models_not_in_price_list.is_empty()
            && self.card_regions_not_in_price_list.is_empty()
    }
}

fn scopes(global: bool) -> &'static [Scope] {
    if global {
        &[Scope::Global]
    } else {
        &[Scope::InRegion, Scope::Geo]
    }
}

/// The import as (key → price, source), regions explicit.
fn expand_import(imp: &Imported) -> BTreeMap<PriceKey, (Decimal, String)> {
    let mut out = BTreeMap::new();
    for row in &imp.rows {
        let mut bands = vec![(Band::Base, &row.prices)];
        if let Some((above, band)) = &row.long_context {
            bands.push((Band::Above(*above), band));
        }
        for &scope in scopes(row.global) {
            for (band, prices) in &bands {
                for (class, p) in prices.iter() {
                    out.insert(
                        PriceKey {
                            model: row.model.clone(),
                            region: row.region.clone(),
                            scope,
                            tier: row.tier as u8,
                            band: *band,
                            class: *class,
                        },
                        (
                            p.per_1m,
                            format!("{} ({})", p.source.usagetype, p.source.sku),
                        ),
                    );
                }
            }
        }
    }
    out
}

/// The card's list price for a key, via the row the daemon would use.
fn card_price(card: &RateCard, k: &PriceKey) -> Option<Decimal> {
    let row = card.lookup(&k.model, &k.region, k.scope, k.tier()).ok()?;
    match k.band {
        Band::Base => row.list_prices.get(k.class),
        Band::Above(n) => row
            .long_context
            .as_ref()
            .filter(|lc| lc.above_tokens == n)
            .and_then(|lc| lc.list_prices.get(k.class)),
    }
}

pub fn check(card: &RateCard, imp: &Imported) -> Check {
    let pl = expand_import(imp);
    let mut out = Check::default();
    for (k, (p, source)) in &pl {
        match card_price(card, k) {
            Some(c) if c == *p => out.agree += 1,
            c => out.disagreements.push(Disagreement {
                kind: if c.is_some() {
                    Kind::Different
                } else {
                    Kind::PriceListOnly
                },
                key: k.clone(),
                card: c,
                price_list: Some(*p),
                source: Some(source.clone()),
                card_assumptions: if c.is_some() {
                    row_assumptions(card, k)
                } else {
                    Vec::new()
                },
            }),
        }
    }
    // The other way round, over the regions where it matters.
    let pl_regions: BTreeMap<&str, BTreeSet<&str>> =
        imp.rows.iter().fold(BTreeMap::new(), |mut m, r| {
            m.entry(r.model.as_str())
                .or_default()
                .insert(r.region.as_str());
            m
        });
    let mut models: Vec<&String> = card.models.keys().collect();
    models.sort();
    for model in models {
        let Some(regions) = pl_regions.get(model.as_str()) else {
            out.card_models_not_in_price_list.push(model.clone());
            continue;
        };
        for row in &card.models[model].rows {
            let serves: Vec<String> = match &row.regions {
                Some(list) => list.clone(),
                None => regions.iter().map(|r| r.to_string()).collect(),
            };
            let mut bands = vec![(Band::Base, &row.list_prices)];
            if let Some(lc) = &row.long_context {
                bands.push((Band::Above(lc.above_tokens), &lc.list_prices));
            }
            for region in &serves {
                if !regions.contains(region.as_str()) {
                    out.card_regions_not_in_price_list
                        .entry(model.clone())
                        .or_default()
                        .insert(region.clone());
                    continue;
                }
                for &scope in &row.scopes {
                    // a "*" row only speaks for regions without a row of their own
                    let used = card
                        .lookup(model, region, scope, row.tier)
                        .is_ok_and(|r| std::ptr::eq(r, row));
                    if !used {
                        continue;
                    }
                    for (band, prices) in &bands {
                        for (class, price) in each_class(prices) {
                            let k = PriceKey {
                                model: model.clone(),
                                region: region.clone(),
                                scope,
                                tier: row.tier as u8,
                                band: *band,
                                class,
                            };
                            if !pl.contains_key(&k) {
                                out.disagreements.push(Disagreement {
                                    kind: Kind::CardOnly,
                                    key: k,
                                    card: Some(price),
                                    price_list: None,
                                    source: None,
                                    card_assumptions: row.assumptions.clone(),
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    out.disagreements
        .sort_by(|a, b| a.key.cmp(&b.key).then(a.kind.cmp(&b.kind)));
    out
}

fn dec(d: Option<Decimal>) -> String {
    d.map(|d| d.normalize().to_string())
        .unwrap_or_else(|| "-".into())
}

pub fn render_text(c: &Check, card: &RateCard) -> String {
    let mut out = String::new();
    let tagged = !card.assumptions.is_empty();
    if !c.disagreements.is_empty() {
        let mut rows = vec![{
            let mut h = vec!["disagreement".to_string()];
            h.extend(COLUMNS.iter().map(|c| c.to_string()));
            h.extend(["card", "price list", "price list source"].map(String::from));
            if tagged {
                h.push("card assumptions".into());
            }
            h
        }];
        for d in &c.disagreements {
            let mut r = vec![d.kind.as_str().to_string()];
            r.extend(d.key.columns());
            r.push(dec(d.card));
            r.push(dec(d.price_list));
            r.push(d.source.clone().unwrap_or_default());
            if tagged {
                r.push(d.card_assumptions.join(","));
            }
            rows.push(r);
        }
        out.push_str(&table(&rows, 0..0));
        out.push('\n');
    }
    if !c.card_models_not_in_price_list.is_empty() {
        out.push_str(&format!(
            "card models the Price List files do not price (absent from them, or unmapped): {}\n",
            c.card_models_not_in_price_list.join(", ")
        ));
    }
    if !c.card_regions_not_in_price_list.is_empty() {
        out.push_str("card regions the Price List files do not price for that model:\n");
        for (model, regions) in &c.card_regions_not_in_price_list {
            let r: Vec<&str> = regions.iter().map(String::as_str).collect();
            out.push_str(&format!("  {model}: {}\n", r.join(", ")));
        }
    }
    let count = |k| c.disagreements.iter().filter(|d| d.kind == k).count();
    out.push_str(&format!(
        "{}: {} prices agree, {} differ, {} only in the Price List, {} only in the card, {} card models not in the Price List\n",
        card.path,
        c.agree,
        count(Kind::Different),
        count(Kind::PriceListOnly),
        count(Kind::CardOnly),
        c.card_models_not_in_price_list.len()
    ));
    out
}

pub fn render_json(c: &Check, card: &RateCard) -> serde_json::Value {
    let list: Vec<serde_json::Value> = c
        .disagreements
        .iter()
        .map(|d| {
            let mut v = serde_json::to_value(KeyJson::from(&d.key)).expect("plain struct");
            v["disagreement"] = json!(d.kind.as_str());
            v["card"] = json!(d.card.map(|x| x.normalize().to_string()));
            v["price_list"] = json!(d.price_list.map(|x| x.normalize().to_string()));
            v["price_list_source"] = json!(d.source);
            if !card.assumptions.is_empty() {
                v["card_assumptions"] = json!(d.card_assumptions);
            }
            v
        })
        .collect();
    json!({
        "card": card.path,
        "version": card.version,
        "agree": c.agree,
        "disagreements": list,
        "card_models_not_in_price_list": c.card_models_not_in_price_list,
        "card_regions_not_in_price_list": c.card_regions_not_in_price_list,
    })
}
