//! Rate cards: versioned TOML price lists → validated [`RateCards`].
//!
//! `load(paths)` reads files and directories (`*.toml`) and hands each text to the pure
//! [`parse`]; every problem in every file is collected and reported at once, each with its
//! file and row. The format is documented in `ratecards/README.md`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use toml::{Table, Value};

use super::model::Scope;
use crate::money;
use crate::record::{Tier, TokenClass};
use crate::timefmt;

/// The only unit a card may state; a different one would silently scale every price.
pub const UNIT: &str = "per_1m_tokens";
pub const CURRENCY: &str = "USD";
/// More decimals than any published price (Nova Micro cache read: 0.00875 per 1M).
const MAX_PRICE_DECIMALS: usize = 10;
/// The highest price a card may state, in USD per 1M tokens: over 1,000 times the dearest
/// published one (about 75). Higher is a unit slip, and it bounds a call's cost (at most
/// 10M tokens per class, 5 classes: $5M) far inside what the ledger counts exactly.
/// Found by fuzzing `ratecard_parse`: a 22-digit price made a cost the ledger cannot hold.
pub const MAX_PRICE: u32 = 100_000;
/// Decimals a price may have once discounted: a cost (price x tokens / 1M) then has at most
/// `USD_SCALE`, which the ledger counts exactly. A discount adds decimals to a price.
const MAX_DISCOUNTED_DECIMALS: u32 = money::USD_SCALE - 6;

/// Every problem found in the rate cards, one line each with its location.
#[derive(Debug, thiserror::Error)]
#[error("the rate cards have {} problem(s):\n  - {}", .0.len(), .0.join("\n  - "))]
pub struct RateCardErrors(pub Vec<String>);

/// USD per 1M tokens for each token class a row prices (after any discount).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClassPrices([Option<Decimal>; 5]);

impl ClassPrices {
    pub fn get(&self, class: TokenClass) -> Option<Decimal> {
        self.0[class as usize]
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LongContext {
    /// The band applies when the prompt (input + cache read + cache write) is above this.
    pub above_tokens: u64,
    pub prices: ClassPrices,
    /// The prices as written, before any discount (what `ratecard diff` and `check` compare).
    pub list_prices: ClassPrices,
    pub provenance: Vec<Provenance>,
}

/// Where one class price of a row comes from in the AWS Price List (optional `price_list`
/// entries of a row or of its long-context band).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub class: TokenClass,
    pub usagetype: String,
    pub sku: String,
    /// Offer code: AmazonBedrock, AmazonBedrockFoundationModels or AmazonBedrockService.
    pub offer: String,
    /// The offer file's `version` (its publication timestamp, e.g. `20260901205051`).
    pub version: String,
    /// The offer file's `publicationDate`.
    pub published: String,
    /// The price dimension's unit and price as published (e.g. `1K tokens`, `0.0009600000`).
    pub unit: Option<String>,
    pub unit_price: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PriceRow {
    /// `None` is the `"*"` row: any source region no specific row names.
    pub regions: Option<Vec<String>>,
    pub scopes: Vec<Scope>,
    pub tier: Tier,
    pub prices: ClassPrices,
    /// The prices as written, before any discount (what `ratecard diff` and `check` compare).
    pub list_prices: ClassPrices,
    pub long_context: Option<LongContext>,
    pub provenance: Vec<Provenance>,
    /// Ids of the card's [`Assumption`]s this row's prices rest on (optional `assumptions`).
    pub assumptions: Vec<String>,
}

/// A choice the card makes where no source states the price (a `[[assumptions]]` entry).
/// Rows name the ones they rest on, so a reviewer can find every price an assumption touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assumption {
    /// Short stable name, e.g. `in-region-premium-10pct`: lowercase letters, digits, `.` and `-`.
    pub id: String,
    /// What is assumed, and what it does to a charge if it is wrong.
    pub text: String,
    /// Where the assumption comes from: public addresses or files in the repository.
    pub source: String,
}

#[derive(Debug, Clone)]
pub struct ModelEntry {
    pub name: String,
    pub rows: Vec<PriceRow>,
}

#[derive(Debug, Clone)]
pub struct RateCard {
    pub version: String,
    /// Unix seconds of 00:00 UTC on the `effective_from` date.
    pub effective_from: i64,
    pub review_by: Option<i64>,
    /// sha256 of the file as written.
    pub sha256: String,
    /// Digest of what the card says (see [`super::identity`]): fixed for a version.
    pub content: String,
    /// The file it was read from; for a card bundled in the binary, its path in the source
    /// tree (which does not exist where the binary runs: see [`RateCard::source`]).
    pub path: String,
    /// Compiled into the binary ([`BUNDLED`]) rather than read from a file.
    pub bundled: bool,
    pub models: HashMap<String, ModelEntry>,
    /// The card's `[[assumptions]]`, in file order.
    pub assumptions: Vec<Assumption>,
}

/// Why no row matched, from the most to the least specific miss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupMiss {
    UnknownModel,
    NoTier,
    NoScope,
    NoRegion,
}

impl RateCard {
    /// Where the card comes from, as logs and the status page say it: `bundled` or its file.
    pub fn source(&self) -> &str {
        if self.bundled {
            "bundled"
        } else {
            &self.path
        }
    }

    /// The row that prices (model, source region, scope, tier): a row naming the region wins
    /// over the `"*"` row.
    pub fn lookup(
        &self,
        model: &str,
        region: &str,
        scope: Scope,
        tier: Tier,
    ) -> Result<&PriceRow, LookupMiss> {
        let entry = self.models.get(model).ok_or(LookupMiss::UnknownModel)?;
        let mut rows = entry.rows.iter().filter(|r| r.tier == tier).peekable();
        rows.peek().ok_or(LookupMiss::NoTier)?;
        let mut rows = rows.filter(|r| r.scopes.contains(&scope)).peekable();
        rows.peek().ok_or(LookupMiss::NoScope)?;
        let mut star = None;
        for row in rows {
            match &row.regions {
                Some(list) if list.iter().any(|r| r == region) => return Ok(row),
                Some(_) => {}
                None => star = Some(row),
            }
        }
        star.ok_or(LookupMiss::NoRegion)
    }
}

/// All loaded cards, oldest first.
#[derive(Debug, Clone, Default)]
pub struct RateCards {
    cards: Vec<RateCard>,
}

impl RateCards {
    pub fn new(mut cards: Vec<RateCard>) -> Result<RateCards, RateCardErrors> {
        cards.sort_by_key(|c| c.effective_from);
        let mut errors = Vec::new();
        for pair in cards.windows(2) {
            if pair[0].effective_from == pair[1].effective_from {
                errors.push(format!(
                    "{} and {}: both take effect on {}; give one a later effective_from",
                    pair[0].path,
                    pair[1].path,
                    timefmt::format_date(pair[0].effective_from / 86_400)
                ));
            }
        }
        let mut versions = HashSet::new();
        for c in &cards {
            if !versions.insert(c.version.as_str()) {
                errors.push(format!(
                    "{}: version {:?} is used by another card",
                    c.path, c.version
                ));
            }
        }
        if errors.is_empty() {
            Ok(RateCards { cards })
        } else {
            Err(RateCardErrors(errors))
        }
    }

    /// The card in force at `timestamp` (Unix seconds).
    pub fn card_for(&self, timestamp: i64) -> Option<&RateCard> {
        self.cards
            .iter()
            .rev()
            .find(|c| c.effective_from <= timestamp)
    }

    pub fn cards(&self) -> &[RateCard] {
        &self.cards
    }
}

/// The cards shipped in the binary (path, text), oldest first, used when no `--ratecard` is
/// given. Each prices the records from its `effective_from` until the next one's: a card
/// replaced by a later one stays, so that records dated before the later card's
/// `effective_from` are still priced, and priced as they were.
pub const BUNDLED: &[(&str, &str)] = &[
    (
        "ratecards/2026-11-22.toml",
        include_str!("../../ratecards/2026-11-22.toml"),
    ),
    (
        "ratecards/2026-11-30.toml",
        include_str!("../../ratecards/2026-11-30.toml"),
    ),
];

/// The newest bundled card (path, text): the one that prices new records.
pub fn bundled_newest() -> (&'static str, &'static str) {
    *BUNDLED.last().expect("at least one bundled card")
}

pub fn bundled() -> RateCards {
    let cards = BUNDLED
        .iter()
        .map(|(path, text)| {
            let card =
                parse(text, path).expect("the bundled rate cards are validated by a unit test");
            RateCard {
                bundled: true,
                ..card
            }
        })
        .collect();
    RateCards::new(cards).expect("the bundled cards have distinct versions and dates (unit test)")
}

/// Reads cards from files and directories (every `*.toml` directly inside).
pub fn load(paths: &[PathBuf]) -> Result<RateCards, RateCardErrors> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        match toml_files(p) {
            Ok(f) if f.is_empty() => errors.push(format!(
                "{}: no *.toml rate card in this directory",
                p.display()
            )),
            Ok(f) => files.extend(f),
            Err(e) => errors.push(format!("{}: cannot read: {e}", p.display())),
        }
    }
    let mut cards = Vec::new();
    for f in files {
        match std::fs::read_to_string(&f) {
            Ok(text) => match parse(&text, &f.display().to_string()) {
                Ok(c) => cards.push(c),
                Err(RateCardErrors(e)) => errors.extend(e),
            },
            Err(e) => errors.push(format!("{}: cannot read: {e}", f.display())),
        }
    }
    if !errors.is_empty() {
        return Err(RateCardErrors(errors));
    }
    RateCards::new(cards)
}

fn toml_files(p: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !p.is_dir() {
        std::fs::metadata(p)?;
        return Ok(vec![p.to_path_buf()]);
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(p)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    out.sort();
    Ok(out)
}

/// Collects problems while reading a TOML table by hand, so that all of them are reported.
struct Reader<'a> {
    file: &'a str,
    errors: Vec<String>,
}

impl Reader<'_> {
    fn err(&mut self, loc: &str, msg: impl std::fmt::Display) {
        self.errors.push(format!("{}: {loc}: {msg}", self.file));
    }

    fn unknown_keys(&mut self, t: &Table, loc: &str, allowed: &[&str]) {
        for k in t.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.err(
                loc,
                format!("unknown key `{k}` (allowed: {})", allowed.join(", ")),
            );
        }
    }

    fn str<'t>(&mut self, t: &'t Table, loc: &str, key: &str, required: bool) -> Option<&'t str> {
        match t.get(key) {
            Some(Value::String(s)) => Some(s),
            Some(v) => {
                self.err(
                    loc,
                    format!("`{key}` must be a string, not {}", v.type_str()),
                );
                None
            }
            None if required => {
                self.err(loc, format!("`{key}` is missing"));
                None
            }
            None => None,
        }
    }

    fn date(&mut self, t: &Table, loc: &str, key: &str, required: bool) -> Option<i64> {
        let days = match t.get(key) {
            Some(Value::Datetime(dt)) if dt.time.is_none() && dt.offset.is_none() => dt
                .date
                .map(|d| timefmt::days_from_civil(d.year as i64, d.month as u32, d.day as u32)),
            Some(Value::String(s)) => timefmt::parse_date(s),
            None if !required => return None,
            None => {
                self.err(
                    loc,
                    format!("`{key}` is missing (a date like {key} = 2026-11-22)"),
                );
                return None;
            }
            Some(_) => None,
        };
        if days.is_none() {
            self.err(
                loc,
                format!("`{key}` must be a date like {key} = 2026-11-22"),
            );
        }
        days.map(|d| d * 86_400)
    }

    fn decimal(&mut self, t: &Table, loc: &str, key: &str, max_decimals: usize) -> Option<Decimal> {
        match t.get(key)? {
            Value::String(s) => match money::parse_decimal(s, max_decimals) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.err(loc, format!("`{key}`: {e}"));
                    None
                }
            },
            v => {
                self.err(loc, format!("`{key}` must be a decimal string like \"3.75\" (not a {}), so no float rounding can creep in", v.type_str()));
                None
            }
        }
    }

    fn percent(&mut self, t: &Table, loc: &str, key: &str) -> Option<Decimal> {
        let p = self.decimal(t, loc, key, 4)?;
        if p > Decimal::ONE_HUNDRED {
            self.err(loc, format!("`{key}` = {p} is above 100"));
            return None;
        }
        Some(p)
    }

    /// Found while writing the ratecard_parse fuzz target (its check that every cost fits the
    /// ledger failed): a 10-decimal price with a discount such as 12.5% parsed, but its costs
    /// had more decimals than the ledger holds, so every call on that row was dropped as an
    /// overflow instead of counted.
    fn discounted_prices_fit(&mut self, prices: &ClassPrices, loc: &str, discount: Decimal) {
        for class in TokenClass::ALL {
            let Some(p) = prices.get(class) else { continue };
            if p.normalize().scale() > MAX_DISCOUNTED_DECIMALS {
                self.err(loc, format!(
                    "`{}` is {p} after the {discount}% discount: more than {MAX_DISCOUNTED_DECIMALS} decimal places, so costs could not be counted exactly; use fewer decimals in the price or the discount",
                    class.as_str()
                ));
            }
        }
    }

    fn class_prices(&mut self, t: &Table, loc: &str) -> ClassPrices {
        let mut out = ClassPrices::default();
        for class in TokenClass::ALL {
            let key = class.as_str();
            let price = self.decimal(t, loc, key, MAX_PRICE_DECIMALS);
            out.0[class as usize] = match price {
                Some(p) if p > Decimal::from(MAX_PRICE) => {
                    self.err(loc, format!("`{key}` = {p} is above {MAX_PRICE} USD per 1M tokens: a price in another unit? (the card's unit is {UNIT})"));
                    None
                }
                p => p,
            };
        }
        out
    }

    /// The optional `price_list` entries of a row or band: each names a class that `prices`
    /// prices, at most once.
    fn provenance(&mut self, t: &Table, loc: &str, prices: &ClassPrices) -> Vec<Provenance> {
        let items = match t.get("price_list") {
            None => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.err(loc, "`price_list` must be a list of tables like [{ class = \"input\", usagetype = \"...\", sku = \"...\", offer = \"...\", version = \"...\", published = \"...\" }]");
                return Vec::new();
            }
        };
        let mut out: Vec<Provenance> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let ploc = format!("{loc}.price_list[{i}]");
            let Value::Table(p) = item else {
                self.err(
                    &ploc,
                    "must be a table like { class = \"input\", usagetype = \"...\", ... }",
                );
                continue;
            };
            self.unknown_keys(p, &ploc, PROVENANCE_KEYS);
            let class = self.str(p, &ploc, "class", true).and_then(|c| {
                let found = TokenClass::ALL.into_iter().find(|x| x.as_str() == c);
                if found.is_none() {
                    let all: Vec<&str> = TokenClass::ALL.iter().map(|c| c.as_str()).collect();
                    self.err(
                        &ploc,
                        format!("class {c:?} is not one of {}", all.join(", ")),
                    );
                }
                found
            });
            let mut field =
                |key: &str, required: bool| self.str(p, &ploc, key, required).map(str::to_string);
            let (usagetype, sku, offer, version, published) = (
                field("usagetype", true),
                field("sku", true),
                field("offer", true),
                field("version", true),
                field("published", true),
            );
            let (unit, unit_price) = (field("unit", false), field("unit_price", false));
            let Some(class) = class else { continue };
            if prices.get(class).is_none() {
                self.err(
                    &ploc,
                    format!(
                        "names class `{}`, which this row does not price",
                        class.as_str()
                    ),
                );
            }
            if out.iter().any(|o| o.class == class) {
                self.err(&ploc, format!("class `{}` is listed twice", class.as_str()));
            }
            if let (Some(usagetype), Some(sku), Some(offer), Some(version), Some(published)) =
                (usagetype, sku, offer, version, published)
            {
                out.push(Provenance {
                    class,
                    usagetype,
                    sku,
                    offer,
                    version,
                    published,
                    unit,
                    unit_price,
                });
            }
        }
        out
    }

    fn array_of_tables<'t>(&mut self, t: &'t Table, key: &str) -> Vec<&'t Table> {
        match t.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    Value::Table(t) => Some(t),
                    _ => {
                        self.err(&format!("{key}[{i}]"), "must be a table ([[{key}]])");
                        None
                    }
                })
                .collect(),
            Some(_) => {
                self.err(key, format!("must be an array of tables ([[{key}]])"));
                Vec::new()
            }
        }
    }

    /// The row's optional `assumptions`: each must be an id of the card's `[[assumptions]]`,
    /// listed once.
    fn assumption_ids(&mut self, t: &Table, loc: &str, known: &[Assumption]) -> Vec<String> {
        let items = match t.get("assumptions") {
            None => return Vec::new(),
            Some(Value::Array(items)) if !items.is_empty() => items,
            Some(_) => {
                self.err(
                    loc,
                    "`assumptions` must be a non-empty list of assumption ids like [\"in-region-premium-10pct\"]",
                );
                return Vec::new();
            }
        };
        let mut out: Vec<String> = Vec::new();
        for v in items {
            let Value::String(id) = v else {
                self.err(loc, "`assumptions` must list strings (assumption ids)");
                continue;
            };
            if !known.iter().any(|a| a.id == *id) {
                let all: Vec<&str> = known.iter().map(|a| a.id.as_str()).collect();
                let defined = if all.is_empty() {
                    "the card defines none".to_string()
                } else {
                    format!("defined: {}", all.join(", "))
                };
                self.err(
                    loc,
                    format!("assumption {id:?} is not defined in [[assumptions]] ({defined})"),
                );
            } else if out.contains(id) {
                self.err(loc, format!("assumption {id:?} is listed twice"));
            } else {
                out.push(id.clone());
            }
        }
        out
    }

    fn str_list(&mut self, t: &Table, loc: &str, key: &str) -> Vec<String> {
        match t.get(key) {
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    _ => {
                        self.err(loc, format!("`{key}` must list strings"));
                        None
                    }
                })
                .collect(),
            Some(_) => {
                self.err(loc, format!("`{key}` must be a non-empty list of strings"));
                Vec::new()
            }
            None => {
                self.err(loc, format!("`{key}` is missing"));
                Vec::new()
            }
        }
    }
}

const CARD_KEYS: &[&str] = &[
    "version",
    "effective_from",
    "review_by",
    "currency",
    "unit",
    "source",
    "discount_percent",
    "model_discounts",
    "models",
    "prices",
    "assumptions",
];
const ASSUMPTION_KEYS: &[&str] = &["id", "text", "source"];
const MODEL_KEYS: &[&str] = &["id", "name", "note"];
const ROW_KEYS: &[&str] = &[
    "model",
    "regions",
    "scopes",
    "tier",
    "input",
    "output",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "note",
    "long_context",
    "price_list",
    "assumptions",
];
const LONG_KEYS: &[&str] = &[
    "above_tokens",
    "input",
    "output",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "price_list",
];
const PROVENANCE_KEYS: &[&str] = &[
    "class",
    "usagetype",
    "sku",
    "offer",
    "version",
    "published",
    "unit",
    "unit_price",
];

/// Parses and validates one card. `file` names it in messages.
pub fn parse(text: &str, file: &str) -> Result<RateCard, RateCardErrors> {
    let table: Table = text.parse().map_err(|e: toml::de::Error| {
        RateCardErrors(vec![format!(
            "{file}: not valid TOML: {}",
            e.to_string().trim()
        )])
    })?;
    let mut r = Reader {
        file,
        errors: Vec::new(),
    };
    r.unknown_keys(&table, "top level", CARD_KEYS);
    let version = r
        .str(&table, "top level", "version", true)
        .unwrap_or_default()
        .to_string();
    let effective_from = r
        .date(&table, "top level", "effective_from", true)
        .unwrap_or(0);
    let review_by = r.date(&table, "top level", "review_by", false);
    r.str(&table, "top level", "source", true);
    for (key, want) in [("currency", CURRENCY), ("unit", UNIT)] {
        if let Some(got) = r.str(&table, "top level", key, true) {
            if got != want {
                r.err(
                    "top level",
                    format!("`{key}` = {got:?}: only {want:?} is supported"),
                );
            }
        }
    }
    let card_discount = r
        .percent(&table, "top level", "discount_percent")
        .unwrap_or(Decimal::ZERO);
    let mut model_discounts = BTreeMap::new();
    match table.get("model_discounts") {
        Some(Value::Table(t)) => {
            for id in t.keys() {
                if let Some(p) = r.percent(t, "model_discounts", id) {
                    model_discounts.insert(id.clone(), p);
                }
            }
        }
        Some(_) => r.err(
            "model_discounts",
            "must be a table of model id = \"percent\"",
        ),
        None => {}
    }

    let mut assumptions: Vec<Assumption> = Vec::new();
    for (i, a) in r
        .array_of_tables(&table, "assumptions")
        .into_iter()
        .enumerate()
    {
        let loc = format!("assumptions[{i}]");
        r.unknown_keys(a, &loc, ASSUMPTION_KEYS);
        let id = r.str(a, &loc, "id", true);
        let text = r.str(a, &loc, "text", true);
        let source = r.str(a, &loc, "source", true);
        for (key, v) in [("text", text), ("source", source)] {
            if v.is_some_and(|v| v.trim().is_empty()) {
                r.err(&loc, format!("`{key}` is empty"));
            }
        }
        let Some(id) = id else { continue };
        let well_formed = id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !well_formed {
            r.err(
                &loc,
                format!("id {id:?} must be lowercase letters, digits, `-` and `.` (e.g. \"in-region-premium-10pct\")"),
            );
        }
        if assumptions.iter().any(|x| x.id == id) {
            r.err(&loc, format!("assumption {id:?} is defined twice"));
            continue;
        }
        assumptions.push(Assumption {
            id: id.to_string(),
            text: text.unwrap_or_default().to_string(),
            source: source.unwrap_or_default().to_string(),
        });
    }

    let mut models: HashMap<String, ModelEntry> = HashMap::new();
    for (i, m) in r.array_of_tables(&table, "models").into_iter().enumerate() {
        let loc = format!("models[{i}]");
        r.unknown_keys(m, &loc, MODEL_KEYS);
        let id = r.str(m, &loc, "id", true);
        let name = r.str(m, &loc, "name", true).unwrap_or_default();
        if let Some(id) = id {
            if models
                .insert(
                    id.to_string(),
                    ModelEntry {
                        name: name.to_string(),
                        rows: Vec::new(),
                    },
                )
                .is_some()
            {
                r.err(&loc, format!("model {id:?} is declared twice"));
            }
        }
    }
    for id in model_discounts
        .keys()
        .filter(|id| !models.contains_key(*id))
    {
        r.err(
            "model_discounts",
            format!("model {id:?} is not declared in [[models]]"),
        );
    }

    // (model, region or "*", scope, tier) → the row that first claimed it
    let mut claimed: HashMap<(String, String, Scope, Tier), usize> = HashMap::new();
    for (i, row) in r.array_of_tables(&table, "prices").into_iter().enumerate() {
        let model = r
            .str(row, &format!("prices[{i}]"), "model", true)
            .unwrap_or("?")
            .to_string();
        let loc = format!("prices[{i}] ({model})");
        r.unknown_keys(row, &loc, ROW_KEYS);
        let regions = r.str_list(row, &loc, "regions");
        let row_assumptions = r.assumption_ids(row, &loc, &assumptions);
        let scopes: Vec<Scope> = r
            .str_list(row, &loc, "scopes")
            .iter()
            .filter_map(|s| {
                let parsed = Scope::parse(s);
                if parsed.is_none() {
                    r.err(
                        &loc,
                        format!("scope {s:?} is not one of in_region, geo, global"),
                    );
                }
                parsed
            })
            .collect();
        let tier = match r.str(row, &loc, "tier", false) {
            None => Tier::Standard,
            Some(t) => Tier::parse(t).unwrap_or_else(|| {
                let all: Vec<&str> = Tier::ALL.iter().map(|t| t.as_str()).collect();
                r.err(&loc, format!("tier {t:?} is not one of {}", all.join(", ")));
                Tier::Standard
            }),
        };
        let discount = model_discounts
            .get(&model)
            .copied()
            .unwrap_or(card_discount);
        let mut prices = r.class_prices(row, &loc);
        if prices.get(TokenClass::Input).is_none() && prices.get(TokenClass::Output).is_none() {
            r.err(&loc, "a row must price at least `input` or `output`");
        }
        let provenance = r.provenance(row, &loc, &prices);
        let list_prices = prices.clone();
        discount_all(&mut prices, discount);
        r.discounted_prices_fit(&prices, &loc, discount);
        let long_context = match row.get("long_context") {
            None => None,
            Some(Value::Table(lt)) => {
                let lloc = format!("{loc}.long_context");
                r.unknown_keys(lt, &lloc, LONG_KEYS);
                let above = match lt.get("above_tokens") {
                    Some(Value::Integer(n)) if *n > 0 => *n as u64,
                    _ => {
                        r.err(
                            &lloc,
                            "`above_tokens` must be a positive integer (e.g. 200000)",
                        );
                        0
                    }
                };
                let mut lp = r.class_prices(lt, &lloc);
                for class in TokenClass::ALL {
                    if prices.get(class).is_some() && lp.get(class).is_none() {
                        r.err(
                            &lloc,
                            format!(
                                "prices `{}` in the base row but not in the long-context band",
                                class.as_str()
                            ),
                        );
                    }
                }
                let provenance = r.provenance(lt, &lloc, &lp);
                let list_prices = lp.clone();
                discount_all(&mut lp, discount);
                r.discounted_prices_fit(&lp, &lloc, discount);
                Some(LongContext {
                    above_tokens: above,
                    prices: lp,
                    list_prices,
                    provenance,
                })
            }
            Some(_) => {
                r.err(&loc, "`long_context` must be a table");
                None
            }
        };
        let star = regions.iter().any(|x| x == "*");
        if star && regions.len() > 1 {
            r.err(
                &loc,
                "`regions` is either [\"*\"] or a list of region names, not both",
            );
        }
        for reg in regions.iter().filter(|x| *x != "*") {
            if !crate::bedrock::looks_like_region(reg) {
                r.err(&loc, format!("{reg:?} is not an AWS region name"));
            }
        }
        for reg in &regions {
            for &scope in &scopes {
                if let Some(first) = claimed.insert((model.clone(), reg.clone(), scope, tier), i) {
                    r.err(
                        &loc,
                        format!(
                            "prices[{first}] already prices region {reg} scope {} tier {}",
                            scope.as_str(),
                            tier.as_str()
                        ),
                    );
                }
            }
        }
        match models.get_mut(&model) {
            Some(entry) => entry.rows.push(PriceRow {
                regions: (!star).then_some(regions),
                scopes,
                tier,
                prices,
                list_prices,
                long_context,
                provenance,
                assumptions: row_assumptions,
            }),
            None if model != "?" => r.err(
                &loc,
                format!("model {model:?} is not declared in [[models]]"),
            ),
            None => {}
        }
    }
    if models.is_empty() {
        r.err("top level", "no [[models]]: the card prices nothing");
    }
    if !r.errors.is_empty() {
        return Err(RateCardErrors(r.errors));
    }
    Ok(RateCard {
        version,
        effective_from,
        review_by,
        sha256: hex::encode(Sha256::digest(text.as_bytes())),
        content: super::identity::content_digest(&table),
        path: file.to_string(),
        bundled: false,
        models,
        assumptions,
    })
}

fn discount_all(prices: &mut ClassPrices, percent: Decimal) {
    for p in prices.0.iter_mut().flatten() {
        *p = money::discounted(*p, percent);
    }
}

#[cfg(test)]
pub(crate) mod tests;
