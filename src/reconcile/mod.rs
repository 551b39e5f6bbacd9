//! Reconciliation: the daemon's estimate against the bill (CUR 2.0), per day × model × token
//! class and per day × principal. Pure: the estimate comes in as daily totals from the store,
//! the bill as classified CUR line items; [`Reconciler::report`] joins them.
//!
//! Each row keeps tokens as well as dollars on both sides, so a reviewer can tell a price
//! error (same tokens, different dollars per token) from a counting error (different tokens,
//! same price). Only the days the bill covers are compared: a CUR file covers a month so far,
//! and the estimate outside it would all read as "not billed".

mod render;

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::record::TokenClass;

pub use render::{render, Format};

/// One side of a comparison: how many tokens (or calls) and how many dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amount {
    pub tokens: Decimal,
    pub usd: Decimal,
}

impl Amount {
    fn add(&mut self, tokens: Decimal, usd: Decimal) {
        self.tokens += tokens;
        self.usd += usd;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModelKey {
    pub day: String,
    pub model: String,
    pub class: TokenClass,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PrincipalKey {
    pub day: String,
    /// The full ARN; empty when the bill line or the record named none.
    pub principal: String,
}

/// What a row's numbers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// Within the tolerance on dollars and tokens.
    Match,
    /// The tokens agree but the dollars do not: the card's price is wrong (or a discount).
    Price,
    /// The tokens differ (calls not logged, log delivery delay, a parse error), the price
    /// per token agrees.
    Tokens,
    /// Both differ.
    PriceAndTokens,
    /// The dollars differ (the principal view, which has no token counts to say why).
    Dollars,
    /// Estimated, but not on the bill (yet).
    NotBilled,
    /// On the bill, but nothing was estimated (calls not in the logs, or not read).
    NotEstimated,
}

impl Finding {
    pub fn as_str(self) -> &'static str {
        match self {
            Finding::Match => "match",
            Finding::Price => "price",
            Finding::Tokens => "tokens",
            Finding::PriceAndTokens => "price_and_tokens",
            Finding::Dollars => "dollars",
            Finding::NotBilled => "not_billed",
            Finding::NotEstimated => "not_estimated",
        }
    }
}

/// A compared row: estimate, bill, and the drift (estimate − bill).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row<K> {
    pub key: K,
    pub estimated: Amount,
    pub billed: Amount,
    pub drift_usd: Decimal,
    /// `drift_usd / billed.usd`; `None` when nothing was billed.
    pub drift_ratio: Option<Decimal>,
    /// `(estimated.tokens − billed.tokens) / billed.tokens`; `None` when no tokens were billed.
    pub token_drift_ratio: Option<Decimal>,
    pub finding: Finding,
}

/// Bill lines that are not compared, with their dollars, by why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aside {
    pub lines: u64,
    pub usd: Decimal,
}

impl Aside {
    fn add(&mut self, usd: Decimal) {
        self.lines += 1;
        self.usd += usd;
    }
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    /// First and last day compared (inclusive), `None` when the bill had no Bedrock usage.
    pub days: Option<(String, String)>,
    pub models: Vec<Row<ModelKey>>,
    pub principals: Vec<Row<PrincipalKey>>,
    /// Totals over the model view (the principal view sums to the same bill).
    pub total: Row<()>,
    /// Bedrock usage lines whose usage type no grammar knows: listed, never guessed.
    pub unknown_usage_types: BTreeMap<String, Aside>,
    /// Usage types whose model the mapping table does not map (by mapping key).
    pub unmapped_models: BTreeMap<String, Aside>,
    /// Known usage types that invocation logs never show (reserved throughput, training...).
    pub excluded: BTreeMap<String, Aside>,
    /// Credits, discounts, taxes, refunds...: by `line_item_line_item_type`.
    pub other_line_types: BTreeMap<String, Aside>,
    /// Bill lines the reader could not use, with where and why.
    pub problems: Vec<String>,
    /// The tolerance the findings were judged with.
    pub tolerance: Decimal,
}

impl Default for Row<()> {
    fn default() -> Self {
        compare((), Amount::default(), Amount::default(), Decimal::ZERO)
    }
}

impl Report {
    /// Rows (and the total) whose dollar drift passes `max_ratio`, ignoring rows where both
    /// sides are under `min_usd` (a cent of drift on a cent of spend is noise).
    pub fn over(&self, max_ratio: Decimal, min_usd: Decimal) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |what: String, estimated: Decimal, billed: Decimal, ratio: Option<_>| {
            if estimated.abs().max(billed.abs()) < min_usd {
                return;
            }
            let over = match ratio {
                Some(r) => Decimal::abs(&r) > max_ratio,
                None => true, // billed nothing, estimated at least min_usd
            };
            if over {
                out.push(what);
            }
        };
        let t = &self.total;
        check("total".into(), t.estimated.usd, t.billed.usd, t.drift_ratio);
        for r in &self.models {
            let k = &r.key;
            check(
                format!("{} {} {}", k.day, k.model, k.class.as_str()),
                r.estimated.usd,
                r.billed.usd,
                r.drift_ratio,
            );
        }
        for r in &self.principals {
            let k = &r.key;
            let who = if k.principal.is_empty() {
                "(no principal)"
            } else {
                &k.principal
            };
            check(
                format!("{} {who}", k.day),
                r.estimated.usd,
                r.billed.usd,
                r.drift_ratio,
            );
        }
        out
    }
}

/// The compared days summed per model and token class: (estimate, bill). What the daemon
/// exposes as gauges (one series per model and class, whatever the number of days).
pub fn by_model(report: &Report) -> BTreeMap<(String, TokenClass), (Amount, Amount)> {
    let mut out: BTreeMap<(String, TokenClass), (Amount, Amount)> = BTreeMap::new();
    for r in &report.models {
        let e = out.entry((r.key.model.clone(), r.key.class)).or_default();
        e.0.add(r.estimated.tokens, r.estimated.usd);
        e.1.add(r.billed.tokens, r.billed.usd);
    }
    out
}

/// `(estimate − bill) / bill`, to 6 decimal places; `None` when nothing was billed.
pub fn drift_ratio(estimated: Decimal, billed: Decimal) -> Option<Decimal> {
    ratio(estimated, billed)
}

/// How a bill line was classified (see `cur::classify`), reduced to what the join needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillItem {
    Tokens {
        model: String,
        class: TokenClass,
        tokens: Decimal,
    },
    Excluded(String),
    UnknownUsageType,
    /// A usage type a grammar knows, on a line whose region or unit is unknown: listed with
    /// the unknown usage types, under this description.
    Unreadable(String),
    UnmappedModel(String),
    OtherLineType(String),
}

/// Which days to compare: at most `since..=until` (UTC, `YYYY-MM-DD`), within the days the
/// bill has token usage for, less its newest `skip_recent_days` (a CUR export's newest day is
/// still filling in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    pub since: Option<String>,
    pub until: Option<String>,
    pub skip_recent_days: u32,
}

/// Which list of [`Report`] a bill line that is not compared goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum AsideKind {
    Unknown,
    Unmapped,
    Excluded,
    Other,
}

/// Collects both sides, then joins them.
#[derive(Debug, Default)]
pub struct Reconciler {
    est_models: BTreeMap<ModelKey, Amount>,
    est_principals: BTreeMap<PrincipalKey, Amount>,
    bill_models: BTreeMap<ModelKey, Amount>,
    bill_principals: BTreeMap<PrincipalKey, Amount>,
    /// By day too, so the window applies to them as to the compared lines.
    asides: BTreeMap<(AsideKind, String, String), Aside>,
    problems: Vec<String>,
}

impl Reconciler {
    pub fn new() -> Reconciler {
        Reconciler::default()
    }

    /// One bill line: its UTC day, usage type, principal and cost, and its classification.
    pub fn bill(
        &mut self,
        day: &str,
        usage_type: &str,
        principal: Option<&str>,
        cost: Decimal,
        item: BillItem,
    ) {
        let (kind, name) = match item {
            BillItem::Tokens {
                model,
                class,
                tokens,
            } => {
                let key = ModelKey {
                    day: day.to_string(),
                    model,
                    class,
                };
                self.bill_models.entry(key).or_default().add(tokens, cost);
                let key = PrincipalKey {
                    day: day.to_string(),
                    principal: principal.unwrap_or("").to_string(),
                };
                let one = Decimal::ONE;
                self.bill_principals.entry(key).or_default().add(one, cost);
                return;
            }
            BillItem::Excluded(why) => (AsideKind::Excluded, why),
            BillItem::UnknownUsageType => (AsideKind::Unknown, usage_type.to_string()),
            BillItem::Unreadable(what) => (AsideKind::Unknown, what),
            BillItem::UnmappedModel(key) => (AsideKind::Unmapped, key),
            BillItem::OtherLineType(t) => (AsideKind::Other, t),
        };
        let key = (kind, name, day.to_string());
        self.asides.entry(key).or_default().add(cost);
    }

    /// A line the reader could not use.
    pub fn problem(&mut self, what: String) {
        self.problems.push(what);
    }

    /// The estimate of one day, model and token class (summed over region, scope, tier).
    pub fn estimate_usage(
        &mut self,
        day: &str,
        model: &str,
        class: TokenClass,
        tokens: u64,
        usd: Decimal,
    ) {
        let key = ModelKey {
            day: day.to_string(),
            model: model.to_string(),
            class,
        };
        self.est_models
            .entry(key)
            .or_default()
            .add(Decimal::from(tokens), usd);
    }

    /// The estimate of one day and principal: its calls and dollars.
    pub fn estimate_principal(&mut self, day: &str, principal: &str, calls: u64, usd: Decimal) {
        let key = PrincipalKey {
            day: day.to_string(),
            principal: principal.to_string(),
        };
        self.est_principals
            .entry(key)
            .or_default()
            .add(Decimal::from(calls), usd);
    }

    /// Joins the two sides over the days of `window`, judging findings with `tolerance` (a
    /// relative difference, e.g. 0.01).
    pub fn report(self, window: &Window, tolerance: Decimal) -> Report {
        let mut report = Report {
            tolerance,
            problems: self.problems,
            ..Report::default()
        };
        let days = days(&self.bill_models, window);
        // With no day to compare, every line left out is still listed: it may be why.
        let within = |day: &str| {
            days.as_ref()
                .is_none_or(|(f, l)| day >= f.as_str() && day <= l.as_str())
        };
        for ((kind, name, day), a) in self.asides {
            if !within(&day) {
                continue;
            }
            let list = match kind {
                AsideKind::Unknown => &mut report.unknown_usage_types,
                AsideKind::Unmapped => &mut report.unmapped_models,
                AsideKind::Excluded => &mut report.excluded,
                AsideKind::Other => &mut report.other_line_types,
            };
            let e = list.entry(name).or_default();
            e.lines += a.lines;
            e.usd += a.usd;
        }
        let Some((first, last)) = days else {
            return report;
        };
        let within = |day: &str| day >= first.as_str() && day <= last.as_str();
        report.models = join(
            self.est_models,
            self.bill_models,
            |k| within(&k.day),
            tolerance,
        );
        // A principal's "tokens" are calls on the estimate side and line items on the bill:
        // not comparable, so the principal view judges dollars only.
        report.principals = join(
            self.est_principals,
            self.bill_principals,
            |k| within(&k.day),
            tolerance,
        )
        .into_iter()
        .map(|mut r| {
            r.token_drift_ratio = None;
            r.finding = dollars_only(&r, tolerance);
            r
        })
        .collect();
        let (mut est, mut bill) = (Amount::default(), Amount::default());
        for r in &report.models {
            est.add(r.estimated.tokens, r.estimated.usd);
            bill.add(r.billed.tokens, r.billed.usd);
        }
        report.total = compare((), est, bill, tolerance);
        report.days = Some((first, last));
        report
    }
}

/// The first and last day to compare: the bill's days with token usage, cut to the window.
fn days(bill: &BTreeMap<ModelKey, Amount>, w: &Window) -> Option<(String, String)> {
    let mut billed: Vec<&str> = bill.keys().map(|k| k.day.as_str()).collect();
    billed.dedup(); // keys are sorted by day first
    let keep = billed.len().checked_sub(w.skip_recent_days as usize)?;
    let billed = &billed[..keep];
    let mut first = *billed.first()?;
    let mut last = *billed.last()?;
    if let Some(s) = w.since.as_deref() {
        first = first.max(s);
    }
    if let Some(u) = w.until.as_deref() {
        last = last.min(u);
    }
    (first <= last).then(|| (first.to_string(), last.to_string()))
}

fn join<K: Ord + Clone>(
    est: BTreeMap<K, Amount>,
    bill: BTreeMap<K, Amount>,
    keep: impl Fn(&K) -> bool,
    tolerance: Decimal,
) -> Vec<Row<K>> {
    let mut all: BTreeMap<K, (Amount, Amount)> = BTreeMap::new();
    for (k, a) in est.into_iter().filter(|(k, _)| keep(k)) {
        all.entry(k).or_default().0 = a;
    }
    for (k, a) in bill.into_iter().filter(|(k, _)| keep(k)) {
        all.entry(k).or_default().1 = a;
    }
    all.into_iter()
        .map(|(k, (e, b))| compare(k, e, b, tolerance))
        .collect()
}

/// `(a − b) / b`, to 6 decimal places; `None` when `b` is zero.
fn ratio(a: Decimal, b: Decimal) -> Option<Decimal> {
    if b.is_zero() {
        return None;
    }
    Some(((a - b) / b).round_dp(6).normalize())
}

fn compare<K>(key: K, estimated: Amount, billed: Amount, tolerance: Decimal) -> Row<K> {
    let drift_usd = estimated.usd - billed.usd;
    let drift_ratio = ratio(estimated.usd, billed.usd);
    let token_drift_ratio = ratio(estimated.tokens, billed.tokens);
    let mut row = Row {
        key,
        estimated,
        billed,
        drift_usd,
        drift_ratio,
        token_drift_ratio,
        finding: Finding::Match,
    };
    row.finding = judge(&row, tolerance);
    row
}

fn off(r: Option<Decimal>, tolerance: Decimal) -> bool {
    r.is_some_and(|r| r.abs() > tolerance)
}

fn judge<K>(r: &Row<K>, tolerance: Decimal) -> Finding {
    let (e, b) = (&r.estimated, &r.billed);
    let nothing = |a: &Amount| a.tokens.is_zero() && a.usd.is_zero();
    match (nothing(e), nothing(b)) {
        (true, true) => return Finding::Match,
        (false, true) => return Finding::NotBilled,
        (true, false) => return Finding::NotEstimated,
        _ => {}
    }
    let tokens_off = off(r.token_drift_ratio, tolerance);
    // Dollars per token on each side: equal prices with unequal tokens is a counting error.
    let price = |a: &Amount| (!a.tokens.is_zero()).then(|| a.usd / a.tokens);
    let price_off = match (price(e), price(b)) {
        (Some(pe), Some(pb)) => off(ratio(pe, pb), tolerance),
        _ => off(r.drift_ratio, tolerance),
    };
    match (price_off, tokens_off) {
        (false, false) => Finding::Match,
        (true, false) => Finding::Price,
        (false, true) => Finding::Tokens,
        (true, true) => Finding::PriceAndTokens,
    }
}

fn dollars_only<K>(r: &Row<K>, tolerance: Decimal) -> Finding {
    match r.finding {
        Finding::NotBilled | Finding::NotEstimated => r.finding,
        _ if off(r.drift_ratio, tolerance) => Finding::Dollars,
        _ => Finding::Match,
    }
}

#[cfg(test)]
mod tests;
