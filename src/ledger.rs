//! The ledger: every business counter as an exact `Decimal` per label set, with the
//! cardinality guard. Pure and in memory; `store.rs` makes it durable.
//!
//! Totals live in a persistent ordered map, so a snapshot for `/metrics` is an O(1) clone and
//! a batch is applied to a working copy that is kept only if the store commit succeeds.
//! Past `max_series` series per metric, new label sets fold their identity labels (user,
//! feature, extras; the model too except on the cost metric, whose models come from the
//! rate card) into `__other__`: the money still lands in the total, and `bedrock_series_folded_total` counts
//! how many increments were folded.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::Arc;

use rust_decimal::Decimal;

pub const OTHER: &str = "__other__";

/// The persisted counters. The order here is the exposition order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    Cost,
    Tokens,
    Invocations,
    ModelCost,
    CacheSavings,
    Unpriced,
    Records,
    Malformed,
    TtlAssumed,
    Folded,
    /// Spend per budget subject per calendar period (UTC); exposed through the budget gauges.
    PeriodSpend,
}

impl Metric {
    pub const ALL: [Metric; 11] = [
        Metric::Cost,
        Metric::Tokens,
        Metric::Invocations,
        Metric::ModelCost,
        Metric::CacheSavings,
        Metric::Unpriced,
        Metric::Records,
        Metric::Malformed,
        Metric::TtlAssumed,
        Metric::Folded,
        Metric::PeriodSpend,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Cost => "bedrock_cost_usd_total",
            Metric::Tokens => "bedrock_tokens_total",
            Metric::Invocations => "bedrock_invocations_total",
            Metric::ModelCost => "bedrock_model_cost_usd_total",
            Metric::CacheSavings => "bedrock_cache_read_savings_usd_total",
            Metric::Unpriced => "bedrock_unpriced_invocations_total",
            Metric::Records => "bedrock_records_total",
            Metric::Malformed => "bedrock_malformed_records_total",
            Metric::TtlAssumed => "bedrock_cache_write_ttl_assumed_tokens_total",
            Metric::Folded => "bedrock_series_folded_total",
            Metric::PeriodSpend => "bedrock_period_spend_usd",
        }
    }

    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn help(self) -> &'static str {
        match self {
            Metric::Cost => "Estimated Bedrock cost in US dollars, by caller and feature.",
            Metric::Tokens => "Tokens billed, by caller, feature, model and token class.",
            Metric::Invocations => "Model invocations, by caller, feature, model and outcome.",
            Metric::ModelCost => "Estimated cost in US dollars by model, source region, profile scope and token class (never folded; the grain the AWS bill is reconciled at).",
            Metric::CacheSavings => "What prompt-cache reads saved in US dollars against the plain input price.",
            Metric::Unpriced => "Invocations that could not be priced, by model and reason.",
            Metric::Records => "Invocation-log records read, by source and result (accepted, unpriced, duplicate, malformed).",
            Metric::Malformed => "Records rejected as malformed, by source and reason.",
            Metric::TtlAssumed => "Cache-write tokens priced at the 5-minute rate because the record did not say their TTL.",
            Metric::Folded => "Increments whose labels were folded into __other__ because the metric reached its series cap.",
            Metric::PeriodSpend => "Spend per budget subject and calendar period (internal; see bedrock_budget_spend_usd).",
        }
    }

    /// Whether a label keeps its value when a new series is folded. Only metrics with
    /// caller-controlled labels are ever folded; the rest are bounded by construction.
    fn keeps_on_fold(self, label: &str) -> bool {
        match self {
            // Priced models come from the rate card, so `model` is bounded on the cost metric.
            Metric::Cost => label == "model",
            // Tokens and invocations also count calls to models nobody priced, whose ids are
            // whatever the caller sent: only the bounded class labels survive a fold.
            Metric::Tokens => label == "token_type",
            Metric::Invocations => label == "outcome",
            Metric::Unpriced => label == "reason",
            Metric::PeriodSpend => label != "subject",
            _ => true,
        }
    }

    fn foldable(self) -> bool {
        matches!(
            self,
            Metric::Cost
                | Metric::Tokens
                | Metric::Invocations
                | Metric::Unpriced
                | Metric::PeriodSpend
        )
    }
}

/// Label pairs in exposition order, shared between series and snapshots.
pub type LabelSet = Arc<[(Arc<str>, Arc<str>)]>;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub metric: Metric,
    pub labels: LabelSet,
}

/// Hands out one shared `LabelSet` per distinct label set, so a recurring set costs a hash
/// lookup and no allocation.
#[derive(Default)]
pub struct Interner {
    sets: HashMap<u64, Vec<LabelSet>>,
    strings: HashSet<Arc<str>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Interner {
    pub fn get(&mut self, pairs: &[(&str, &str)]) -> LabelSet {
        let bucket = self.sets.entry(self.hasher.hash_one(pairs)).or_default();
        let same = |set: &&LabelSet| {
            set.len() == pairs.len()
                && set
                    .iter()
                    .zip(pairs)
                    .all(|((a, b), (c, d))| &**a == *c && &**b == *d)
        };
        if let Some(found) = bucket.iter().find(same) {
            return found.clone();
        }
        let mut intern = |s: &str| match self.strings.get(s) {
            Some(a) => a.clone(),
            None => {
                let a: Arc<str> = Arc::from(s);
                self.strings.insert(a.clone());
                a
            }
        };
        let set: LabelSet = pairs.iter().map(|(k, v)| (intern(k), intern(v))).collect();
        bucket.push(set.clone());
        set
    }
}

/// All totals. Cloning is O(1).
#[derive(Clone, Default)]
pub struct Totals {
    series: imbl::OrdMap<SeriesKey, Decimal>,
    counts: imbl::HashMap<Metric, usize>,
}

impl Totals {
    pub fn get(&self, key: &SeriesKey) -> Option<Decimal> {
        self.series.get(key).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&SeriesKey, &Decimal)> {
        self.series.iter()
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    pub fn series_count(&self, metric: Metric) -> usize {
        self.counts.get(&metric).copied().unwrap_or(0)
    }

    /// Sets a series outright (loading from the store).
    pub fn insert(&mut self, key: SeriesKey, value: Decimal) {
        if self.series.insert(key.clone(), value).is_none() {
            *self.counts.entry(key.metric).or_insert(0) += 1;
        }
    }

    /// The sum over every series of `metric` whose labels include all of `filter`.
    pub fn sum(&self, metric: Metric, filter: &[(&str, &str)]) -> Decimal {
        self.series
            .iter()
            .filter(|(k, _)| {
                k.metric == metric
                    && filter
                        .iter()
                        .all(|(n, v)| k.labels.iter().any(|(a, b)| &**a == *n && &**b == *v))
            })
            .map(|(_, v)| *v)
            .sum()
    }
}

/// A batch being applied: a working copy of the totals and the keys it changed.
pub struct Batch<'l> {
    pub totals: Totals,
    pub dirty: HashSet<SeriesKey>,
    pub removed: Vec<SeriesKey>,
    interner: &'l mut Interner,
    max_series: usize,
}

impl<'l> Batch<'l> {
    pub fn new(base: &Totals, interner: &'l mut Interner, max_series: usize) -> Batch<'l> {
        Batch {
            totals: base.clone(),
            dirty: HashSet::new(),
            removed: Vec::new(),
            interner,
            max_series,
        }
    }

    /// Adds `value` to the series, folding it into `__other__` past the cap.
    pub fn add(&mut self, metric: Metric, pairs: &[(&str, &str)], value: Decimal) {
        let labels = self.interner.get(pairs);
        let mut key = SeriesKey { metric, labels };
        if metric.foldable()
            && !self.totals.series.contains_key(&key)
            && self.totals.series_count(metric) >= self.cap(metric)
        {
            let folded: Vec<(&str, &str)> = pairs
                .iter()
                .map(|&(n, v)| (n, if metric.keeps_on_fold(n) { v } else { OTHER }))
                .collect();
            key.labels = self.interner.get(&folded);
            self.add(Metric::Folded, &[("metric", metric.name())], Decimal::ONE);
        }
        if value.is_zero() && self.totals.series.contains_key(&key) {
            return;
        }
        let entry = self.totals.series.entry(key.clone());
        match entry {
            imbl::ordmap::Entry::Occupied(mut e) => *e.get_mut() += value,
            imbl::ordmap::Entry::Vacant(e) => {
                e.insert(value);
                *self.totals.counts.entry(metric).or_insert(0) += 1;
            }
        }
        self.dirty.insert(key);
    }

    pub fn inc(&mut self, metric: Metric, pairs: &[(&str, &str)]) {
        self.add(metric, pairs, Decimal::ONE);
    }

    /// A subject holds at most four period-spend series at once (this and the previous
    /// month and day; older ones are pruned), so that metric gets four times the cap.
    fn cap(&self, metric: Metric) -> usize {
        match metric {
            Metric::PeriodSpend => self.max_series.saturating_mul(4),
            _ => self.max_series,
        }
    }

    /// Deletes a series (in memory now, in the store with this batch's commit).
    pub fn remove(&mut self, key: &SeriesKey) {
        if self.totals.series.remove(key).is_some() {
            if let Some(n) = self.totals.counts.get_mut(&key.metric) {
                *n -= 1;
            }
            self.dirty.remove(key);
            self.removed.push(key.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: i64) -> Decimal {
        Decimal::from(n)
    }

    #[test]
    fn adds_are_exact_and_dirty_keys_tracked() {
        let mut i = Interner::default();
        let mut b = Batch::new(&Totals::default(), &mut i, 10);
        let cent: Decimal = "0.01".parse().unwrap();
        for _ in 0..10 {
            b.add(Metric::Cost, &[("user", "a"), ("model", "m")], cent);
        }
        assert_eq!(
            b.totals.sum(Metric::Cost, &[]),
            "0.10".parse::<Decimal>().unwrap()
        );
        assert_eq!(b.dirty.len(), 1);
    }

    #[test]
    fn past_the_cap_new_series_fold_and_the_sum_stays_exact() {
        let mut i = Interner::default();
        let mut b = Batch::new(&Totals::default(), &mut i, 3);
        let mut want = Decimal::ZERO;
        for n in 0..50 {
            let user = format!("user-{n}");
            let v = Decimal::new(n + 1, 3);
            want += v;
            b.add(
                Metric::Cost,
                &[("user", &user), ("feature", "f"), ("model", "m")],
                v,
            );
        }
        assert_eq!(b.totals.sum(Metric::Cost, &[]), want);
        assert_eq!(
            b.totals.series_count(Metric::Cost),
            4,
            "3 admitted + __other__"
        );
        assert_eq!(
            b.totals.sum(
                Metric::Cost,
                &[("user", OTHER), ("feature", OTHER), ("model", "m")]
            ),
            want - Decimal::new(6, 3)
        );
        assert_eq!(
            b.totals
                .sum(Metric::Folded, &[("metric", "bedrock_cost_usd_total")]),
            d(47)
        );
        // an admitted series keeps growing after the cap
        b.add(
            Metric::Cost,
            &[("user", "user-0"), ("feature", "f"), ("model", "m")],
            d(1),
        );
        assert_eq!(
            b.totals.sum(Metric::Cost, &[("user", "user-0")]),
            Decimal::new(1001, 3)
        );
    }

    #[test]
    fn unbounded_models_fold_in_the_unpriced_metric() {
        let mut i = Interner::default();
        let mut b = Batch::new(&Totals::default(), &mut i, 1);
        b.inc(
            Metric::Unpriced,
            &[("model", "x1"), ("reason", "unknown_model")],
        );
        b.inc(
            Metric::Unpriced,
            &[("model", "x2"), ("reason", "unknown_model")],
        );
        assert_eq!(
            b.totals.sum(
                Metric::Unpriced,
                &[("model", OTHER), ("reason", "unknown_model")]
            ),
            d(1)
        );
    }

    #[test]
    fn bounded_metrics_never_fold() {
        let mut i = Interner::default();
        let mut b = Batch::new(&Totals::default(), &mut i, 1);
        for r in ["us-east-1", "eu-west-1", "ap-south-1"] {
            b.inc(Metric::ModelCost, &[("model", "m"), ("region", r)]);
        }
        assert_eq!(b.totals.series_count(Metric::ModelCost), 3);
    }

    #[test]
    fn the_interner_shares_equal_sets() {
        let mut i = Interner::default();
        let a = i.get(&[("user", "a"), ("model", "m")]);
        let b = i.get(&[("user", "a"), ("model", "m")]);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &i.get(&[("user", "b"), ("model", "m")])));
    }

    #[test]
    fn a_batch_is_a_copy_until_kept() {
        let mut i = Interner::default();
        let base = Totals::default();
        let mut b = Batch::new(&base, &mut i, 10);
        b.inc(
            Metric::Records,
            &[("source", "file"), ("result", "accepted")],
        );
        assert!(base.is_empty());
        assert_eq!(b.totals.len(), 1);
    }
}
