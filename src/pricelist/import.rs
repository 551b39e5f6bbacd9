//! Price List items + the mapping table → rate-card rows in USD per 1M tokens, and a report
//! of everything that did not become a price. Pure.
//!
//! An item becomes a price only when every step is certain:
//! - its term is `OnDemand` (Reserved terms are commitments, not per-token prices);
//! - its usage type is one of the four grammars ([`super::usagetype`]) and not excluded (an
//!   unknown usage type is listed, unless its unit shows it is no token price at all);
//! - its name is mapped by a reviewed entry ([`super::mapping`]);
//! - it has a `regionCode`, one USD price, and a range from 0 to `Inf` (a tiered price is
//!   reported: a card has no volume tiers);
//! - its unit is exact: `1K tokens` (×1000), `1M tokens` (×1) or `Units` when the description
//!   says Million (×1), and the description does not contradict it;
//! - for a long-context price, the mapping says where the band starts.
//!
//! Scopes: a regional price serves in-region calls and geo profiles (no on-demand geo rate
//! exists; geo profiles bill at the source region's regional row); a global price serves
//! global profiles. Two items for one price agree or the price is dropped and reported.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use super::mapping::{Key, Mapping};
use super::offer::{Offer, OfferMeta, PriceItem};
use super::usagetype::{self, Name, Usage};
use crate::record::{Tier, TokenClass};

/// Prices in a card have at most this many decimals (see `pricing::ratecard`).
const MAX_DECIMALS: u32 = 10;
/// Units a token price is published in. An unknown usage type in another unit (images,
/// seconds, requests) cannot be a token price, so it is counted as excluded rather than listed.
const TOKEN_UNITS: [&str; 3] = ["1K tokens", "1M tokens", "Units"];

/// Where one imported price comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub usagetype: String,
    pub sku: String,
    /// Index into [`Imported::offers`].
    pub offer: usize,
    pub unit: String,
    pub unit_price: String,
    /// The term's effectiveDate.
    pub effective: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    pub per_1m: Decimal,
    pub source: Source,
}

/// One card row: a model in one region, for one scope set and tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub model: String,
    pub region: String,
    pub global: bool,
    pub tier: Tier,
    pub prices: BTreeMap<TokenClass, Price>,
    /// (above_tokens, band prices)
    pub long_context: Option<(u64, BTreeMap<TokenClass, Price>)>,
}

/// Products whose name no reviewed entry maps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unmapped {
    pub skus: BTreeSet<String>,
    pub usagetypes: BTreeSet<String>,
    /// The product's display `model` attribute, when it has one (helps a reviewer).
    pub display: Option<String>,
    /// The id of a candidate entry awaiting review.
    pub candidate: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub items: usize,
    /// (offer code, name) → what was seen
    pub unmapped: BTreeMap<(String, Key), Unmapped>,
    /// (offer code, usagetype) → SKUs
    pub unknown: BTreeMap<(String, String), BTreeSet<String>>,
    /// reason → item count
    pub excluded: BTreeMap<String, usize>,
    pub unit_problems: Vec<String>,
    /// Everything else that kept a price out: no region, tiered ranges, other currencies,
    /// conflicts, long-context prices without a threshold, incomplete bands.
    pub problems: Vec<String>,
    /// Items at the same price as another item for the same card price (kept once).
    pub duplicates: usize,
}

impl Report {
    /// Whether anything was left out for a reason a reviewer must look at (`--strict`).
    pub fn has_gaps(&self) -> bool {
        !(self.unmapped.is_empty()
            && self.unknown.is_empty()
            && self.unit_problems.is_empty()
            && self.problems.is_empty())
    }
}

#[derive(Debug, Clone)]
pub struct Imported {
    pub offers: Vec<OfferMeta>,
    /// id → card name, for every model with a row.
    pub models: BTreeMap<String, String>,
    /// Sorted by model, region, scope (regional first), tier.
    pub rows: Vec<Row>,
    pub report: Report,
}

impl Imported {
    /// The latest `effectiveDate` (as `YYYY-MM-DD`) of the prices written.
    pub fn newest_effective_date(&self) -> Option<String> {
        self.rows
            .iter()
            .flat_map(|r| {
                r.prices
                    .values()
                    .chain(r.long_context.iter().flat_map(|l| l.1.values()))
            })
            .filter_map(|p| p.source.effective.get(..10).map(str::to_string))
            .max()
    }

    /// The latest publication date of the offer files read.
    pub fn newest_publication(&self) -> Option<&str> {
        self.offers
            .iter()
            .map(|o| o.publication_date.as_str())
            .max()
    }
}

type RowKey = (String, String, bool, u8);

#[derive(Default)]
struct Slot {
    price: Option<Price>,
    conflict: Vec<String>,
}

pub fn import(offers: Vec<Offer>, mapping: &Mapping) -> Imported {
    let mut report = Report::default();
    let mut metas = Vec::new();
    // row key → (band?, class) → slot
    let mut slots: BTreeMap<RowKey, BTreeMap<(bool, TokenClass), Slot>> = BTreeMap::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut no_threshold: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (oi, offer) in offers.into_iter().enumerate() {
        let code = offer.meta.offer_code.clone();
        metas.push(offer.meta);
        for item in offer.items {
            report.items += 1;
            let Some((usage, key)) = classify(&item, &code, &mut report) else {
                continue;
            };
            let Some(entry) = mapping.get(&key) else {
                let u = report
                    .unmapped
                    .entry((code.clone(), key.clone()))
                    .or_default();
                u.skus.insert(item.sku.clone());
                u.usagetypes
                    .insert(item.attr("usagetype").unwrap_or("").to_string());
                if u.display.is_none() {
                    u.display = item.attr("model").map(str::to_string);
                }
                u.candidate = mapping.candidate(&key).map(|e| e.id.clone());
                continue;
            };
            if usage.long_context && entry.long_context_above_tokens.is_none() {
                no_threshold
                    .entry(entry.id.clone())
                    .or_default()
                    .insert(item.attr("usagetype").unwrap_or("").to_string());
                continue;
            }
            let Some(region) = region(&item, &code, &mut report) else {
                continue;
            };
            let Some(price) = price(&item, &code, oi, &mut report) else {
                continue;
            };
            names.insert(entry.id.clone(), entry.name.clone());
            let rk = (entry.id.clone(), region, usage.global, usage.tier as u8);
            let slot = slots
                .entry(rk)
                .or_default()
                .entry((usage.long_context, usage.class))
                .or_default();
            match &slot.price {
                None if slot.conflict.is_empty() => slot.price = Some(price),
                None => slot.conflict.push(describe(&price)),
                Some(p) if p.per_1m == price.per_1m => {
                    report.duplicates += 1;
                    if price.source.sku < p.source.sku {
                        slot.price = Some(price);
                    }
                }
                Some(_) => {
                    let first = slot.price.take().expect("matched Some");
                    slot.conflict.push(describe(&first));
                    slot.conflict.push(describe(&price));
                }
            }
        }
    }
    for (id, usagetypes) in no_threshold {
        report.problems.push(format!(
            "{id}: long-context prices ({}) left out: the Price List gives no threshold; add \
             long_context_above_tokens to its mapping entry once a source states it",
            usagetypes.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let rows = build_rows(slots, mapping, &mut report);
    let models = names
        .into_iter()
        .filter(|(id, _)| rows.iter().any(|r| &r.model == id))
        .collect();
    Imported {
        offers: metas,
        models,
        rows,
        report,
    }
}

/// The item's usage and mapping key, or None (reported) when it is not a mapped candidate.
fn classify(
    item: &PriceItem,
    code: &str,
    report: &mut Report,
) -> Option<(usagetype::TokenPrice, Key)> {
    if item.term_type != "OnDemand" {
        *report
            .excluded
            .entry(format!(
                "{} term (a commitment, not a per-token price)",
                if item.term_type.is_empty() {
                    "unnamed"
                } else {
                    &item.term_type
                }
            ))
            .or_default() += 1;
        return None;
    }
    let ut = item.attr("usagetype").unwrap_or("");
    let usage = match usagetype::classify(ut) {
        Usage::Token(t) => t,
        Usage::Excluded(x) => {
            *report.excluded.entry(x.reason().to_string()).or_default() += 1;
            return None;
        }
        // A usage type of no grammar, priced per image, second or request: not a token price.
        Usage::Unknown if !TOKEN_UNITS.contains(&item.unit.as_str()) => {
            *report
                .excluded
                .entry(format!("not priced per token (unit {:?})", item.unit))
                .or_default() += 1;
            return None;
        }
        Usage::Unknown => {
            report
                .unknown
                .entry((code.to_string(), ut.to_string()))
                .or_default()
                .insert(item.sku.clone());
            return None;
        }
    };
    let key = match &usage.name {
        Name::Compact(n) => Key::UsagetypeName(n.clone()),
        Name::Listing => match item.attr("servicename") {
            Some(s) if !s.is_empty() => Key::Servicename(s.to_string()),
            _ => {
                report.problems.push(format!(
                    "{code} SKU {}: {ut} is a Marketplace usage type but the product has no \
                     servicename to say which model it prices",
                    item.sku
                ));
                return None;
            }
        },
    };
    Some((usage, key))
}

fn region(item: &PriceItem, code: &str, report: &mut Report) -> Option<String> {
    match item.attr("regioncode") {
        Some(r) if crate::bedrock::looks_like_region(r) => Some(r.to_string()),
        other => {
            report.problems.push(format!(
                "{code} SKU {} ({}): regionCode {:?} is not an AWS region, so the price has no \
                 region to apply to",
                item.sku,
                item.attr("usagetype").unwrap_or(""),
                other.unwrap_or("")
            ));
            None
        }
    }
}

/// The item's price per 1M tokens, exactly, or None (reported).
fn price(item: &PriceItem, code: &str, offer: usize, report: &mut Report) -> Option<Price> {
    let ut = item.attr("usagetype").unwrap_or("");
    let at = format!("{code} SKU {} ({ut})", item.sku);
    let begin_ok = matches!(item.begin_range.as_str(), "" | "0");
    let end_ok = matches!(item.end_range.as_str(), "" | "Inf");
    if !begin_ok || !end_ok {
        report.problems.push(format!(
            "{at}: priced from {} to {} {}: a volume-tiered price, which a rate card cannot \
             state; left out",
            item.begin_range, item.end_range, item.unit
        ));
        return None;
    }
    let Some(raw) = &item.usd else {
        report.problems.push(format!(
            "{at}: no USD price (currencies: {}); only USD is imported",
            item.other_currencies.join(", ")
        ));
        return None;
    };
    let desc = item.description.to_ascii_lowercase();
    let says_million = desc.contains("million") || desc.contains("1m ");
    let says_thousand =
        desc.contains("thousand") || desc.contains("1k ") || desc.contains("1,000 ");
    let factor = match item.unit.as_str() {
        "1K tokens" if !says_million => Decimal::from(1000),
        "1M tokens" if !says_thousand => Decimal::ONE,
        "Units" if says_million => Decimal::ONE,
        unit => {
            report.unit_problems.push(format!(
                "{at}: unit {unit:?} with description {:?}: cannot tell how many tokens the \
                 price is for (known: \"1K tokens\", \"1M tokens\", and \"Units\" described as \
                 Million)",
                item.description
            ));
            return None;
        }
    };
    let per_unit = match crate::money::parse_decimal(raw, 20) {
        Ok(d) => d,
        Err(e) => {
            report.problems.push(format!("{at}: price {e}"));
            return None;
        }
    };
    let Some(per_1m) = per_unit.checked_mul(factor).map(|d| d.normalize()) else {
        report
            .problems
            .push(format!("{at}: price {raw} is too large"));
        return None;
    };
    if per_1m.scale() > MAX_DECIMALS {
        report.problems.push(format!(
            "{at}: {raw} per {} is {per_1m} per 1M tokens, more than {MAX_DECIMALS} decimals",
            item.unit
        ));
        return None;
    }
    Some(Price {
        per_1m,
        source: Source {
            usagetype: ut.to_string(),
            sku: item.sku.clone(),
            offer,
            unit: item.unit.clone(),
            unit_price: raw.clone(),
            effective: item.effective_date.clone(),
        },
    })
}

fn describe(p: &Price) -> String {
    format!("{} SKU {} = {}", p.source.usagetype, p.source.sku, p.per_1m)
}

fn tier_of(n: u8) -> Tier {
    Tier::ALL
        .into_iter()
        .find(|t| *t as u8 == n)
        .unwrap_or_default()
}

fn build_rows(
    slots: BTreeMap<RowKey, BTreeMap<(bool, TokenClass), Slot>>,
    mapping: &Mapping,
    report: &mut Report,
) -> Vec<Row> {
    let above_of = |id: &str| {
        mapping
            .entries
            .values()
            .find(|e| e.reviewed && e.id == id)
            .and_then(|e| e.long_context_above_tokens)
    };
    let mut rows = Vec::new();
    for ((model, region, global, tier), classes) in slots {
        let scope = if global { "global" } else { "in_region+geo" };
        let tier = tier_of(tier);
        let at = format!("{model} {region} {scope} {}", tier.as_str());
        let mut base = BTreeMap::new();
        let mut band = BTreeMap::new();
        for ((long, class), slot) in classes {
            if !slot.conflict.is_empty() {
                report.problems.push(format!(
                    "{at}{} {}: items disagree ({}); the price is left out",
                    if long { " long-context" } else { "" },
                    class.as_str(),
                    slot.conflict.join("; ")
                ));
                continue;
            }
            if let Some(p) = slot.price {
                if long { &mut band } else { &mut base }.insert(class, p);
            }
        }
        if !band.is_empty() {
            if base.is_empty() {
                report.problems.push(format!(
                    "{at}: long-context prices without base prices; left out"
                ));
                continue;
            }
            let missing: Vec<TokenClass> = base
                .keys()
                .filter(|c| !band.contains_key(c))
                .copied()
                .collect();
            if !missing.is_empty() {
                let names: Vec<&str> = missing.iter().map(|c| c.as_str()).collect();
                report.problems.push(format!(
                    "{at}: the long-context band has no {} price, so the row leaves {} out too \
                     (such tokens stay unpriced rather than be charged the short-context price)",
                    names.join(", "),
                    if missing.len() == 1 { "it" } else { "them" }
                ));
                for c in missing {
                    base.remove(&c);
                }
            }
        }
        if !base.contains_key(&TokenClass::Input) && !base.contains_key(&TokenClass::Output) {
            if !base.is_empty() {
                report.problems.push(format!(
                    "{at}: prices neither input nor output ({}); left out",
                    base.keys()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            continue;
        }
        let long_context = if band.is_empty() {
            None
        } else {
            above_of(&model).map(|a| (a, band))
        };
        rows.push(Row {
            model,
            region,
            global,
            tier,
            prices: base,
            long_context,
        });
    }
    rows
}

#[cfg(test)]
mod tests;
