//! The priced call, and how one adds to the ledger.
//!
//! [`PricedCall`] is the value between pricing and attribution on one side and the ledger on
//! the other: the daemon accounts it, `price` prints it, the export sinks ship it. One path.
//! [`Accounting`] turns a call into counter increments: it resolves the call's label values
//! to interned ids once, admits them per attribution dimension, and adds to the exact
//! per-dimension metrics, the drill-down cross product, the per-model cost and the budgets.

use crate::attribution::{Attribution, Labels};
use crate::budgets::Period;
use crate::ledger::{Ledger, Metric, Sym};
use crate::money;
use crate::pricing::{self, Aliases, Outcome, RateCards};
use crate::record::{CacheSplit, Record, TokenClass};

/// One invocation, priced and attributed.
pub struct PricedCall<'a> {
    pub record: &'a Record<'a>,
    pub outcome: Outcome<'a>,
    pub labels: Labels<'a>,
}

impl<'a> PricedCall<'a> {
    /// Prices and attributes `record`; `delivery` holds labels the delivery itself carries
    /// (Firehose common attributes), a fallback for metadata labels the record lacks.
    pub fn new(
        cards: &'a RateCards,
        aliases: &'a Aliases,
        attribution: &'a Attribution,
        record: &'a Record<'a>,
        delivery: &'a [(String, String)],
    ) -> PricedCall<'a> {
        PricedCall {
            record,
            outcome: pricing::price(cards, aliases, record),
            labels: attribution.attribute_with(record, delivery),
        }
    }

    /// The model label: the priced base model, or the id as the caller sent it.
    pub fn model(&self) -> &'a str {
        match &self.outcome {
            Outcome::Priced(p) => p.model,
            Outcome::NotBilled { model } | Outcome::Unpriced { model, .. } => model,
        }
    }
}

/// Label shapes and bounded label values, interned once for the hot path.
pub struct Accounting {
    cross_cost: u16,
    cross_tokens: u16,
    cross_invocations: u16,
    user_tokens: u16,
    user_invocations: u16,
    feature_tokens: u16,
    feature_invocations: u16,
    user: u16,
    feature: u16,
    label: u16,
    model_cost: u16,
    model: u16,
    unpriced: u16,
    records: u16,
    malformed: u16,
    period: u16,
    token_types: [Sym; 5],
    success: Sym,
    error: Sym,
    /// Each extra label's name, as a value of `bedrock_label_cost_usd_total{label}`.
    extra_names: Vec<Sym>,
    /// Budgeted (dimension index, label name, period).
    budgets: Vec<(usize, Sym, Period, Sym)>,
}

/// Index of the `user` and `feature` dimensions; extra labels follow.
const USER: usize = 0;
const FEATURE: usize = 1;

/// The ledger dimensions an attribution config has: user, feature, then each extra label.
pub fn dimensions(attribution: &Attribution) -> Vec<String> {
    ["user", "feature"]
        .into_iter()
        .chain(attribution.extra_names())
        .map(String::from)
        .collect()
}

impl Accounting {
    pub fn new(
        ledger: &mut Ledger,
        attribution: &Attribution,
        budget_periods: &[(String, Period)],
    ) -> Accounting {
        let extras: Vec<&str> = attribution.extra_names().collect();
        let mut cross: Vec<&str> = vec!["user", "feature", "model"];
        cross.extend(&extras);
        let dims = dimensions(attribution);
        let budgets = budget_periods
            .iter()
            .filter_map(|(label, period)| {
                let dim = dims.iter().position(|d| d == label)?;
                Some((
                    dim,
                    ledger.intern(label),
                    *period,
                    ledger.intern(period.as_str()),
                ))
            })
            .collect();
        Accounting {
            cross_cost: ledger.shape(&cross),
            cross_tokens: ledger.shape(&["user", "feature", "model", "token_type"]),
            cross_invocations: ledger.shape(&["user", "feature", "model", "outcome"]),
            user_tokens: ledger.shape(&["user", "token_type"]),
            user_invocations: ledger.shape(&["user", "outcome"]),
            feature_tokens: ledger.shape(&["feature", "token_type"]),
            feature_invocations: ledger.shape(&["feature", "outcome"]),
            user: ledger.shape(&["user"]),
            feature: ledger.shape(&["feature"]),
            label: ledger.shape(&["label", "value"]),
            model_cost: ledger.shape(&["model", "region", "scope", "token_type"]),
            model: ledger.shape(&["model"]),
            unpriced: ledger.shape(&["model", "reason"]),
            records: ledger.shape(&["source", "result"]),
            malformed: ledger.shape(&["source", "reason"]),
            period: ledger.shape(&["label", "subject", "period", "start"]),
            token_types: TokenClass::ALL.map(|c| ledger.intern(c.as_str())),
            success: ledger.intern("success"),
            error: ledger.intern("error"),
            extra_names: extras.iter().map(|n| ledger.intern(n)).collect(),
            budgets,
        }
    }

    /// `bedrock_records_total{source, result}` += n.
    pub fn records(&self, ledger: &mut Ledger, source: Sym, result: &str, n: u64) {
        let r = ledger.intern(result);
        ledger.add(Metric::Records, self.records, &[source, r], n.into());
    }

    /// A record that could not be decoded.
    pub fn malformed(&self, ledger: &mut Ledger, source: Sym, reason: &str) {
        self.records(ledger, source, "malformed", 1);
        let r = ledger.intern(reason);
        ledger.add(Metric::Malformed, self.malformed, &[source, r], 1);
    }

    /// A value of dimension `dim`, admitted or folded (and its fold counted on `metrics`).
    fn admit(&self, ledger: &mut Ledger, dim: usize, value: &str) -> (Sym, bool) {
        let v = ledger.intern(value);
        ledger.admit(dim, v)
    }

    /// Adds one newly counted call. Unpriced and failed calls still count their tokens and
    /// invocations; only priced calls add money.
    pub fn call(&self, ledger: &mut Ledger, source: Sym, call: &PricedCall<'_>) {
        let rec = call.record;
        let (u, u_folded) = self.admit(ledger, USER, &call.labels.user);
        let (f, f_folded) = self.admit(ledger, FEATURE, &call.labels.feature);
        let model = crate::attribution::sanitize(call.model());
        let m = ledger.intern(&model);
        let result = match call.outcome {
            Outcome::Unpriced { .. } => "unpriced",
            _ => "accepted",
        };
        self.records(ledger, source, result, 1);

        let outcome = if rec.error_code.is_some() {
            self.error
        } else {
            self.success
        };
        let per_dim =
            |ledger: &mut Ledger, metric: Metric, shape, vals: &[Sym], n: i128, folded| {
                ledger.add(metric, shape, vals, n);
                if folded {
                    ledger.count_fold(metric, n);
                }
            };
        ledger.add(
            Metric::Invocations,
            self.cross_invocations,
            &[u, f, m, outcome],
            1,
        );
        per_dim(
            ledger,
            Metric::UserInvocations,
            self.user_invocations,
            &[u, outcome],
            1,
            u_folded,
        );
        per_dim(
            ledger,
            Metric::FeatureInvocations,
            self.feature_invocations,
            &[f, outcome],
            1,
            f_folded,
        );
        for class in TokenClass::ALL {
            let n = i128::from(rec.tokens.get(class));
            if n > 0 {
                let t = self.token_types[class as usize];
                ledger.add(Metric::Tokens, self.cross_tokens, &[u, f, m, t], n);
                per_dim(
                    ledger,
                    Metric::UserTokens,
                    self.user_tokens,
                    &[u, t],
                    n,
                    u_folded,
                );
                per_dim(
                    ledger,
                    Metric::FeatureTokens,
                    self.feature_tokens,
                    &[f, t],
                    n,
                    f_folded,
                );
            }
        }

        match &call.outcome {
            Outcome::Priced(p) => {
                let units = |d| money::to_units(d, money::USD_SCALE);
                let Some(total) = units(p.total) else {
                    return ledger.note_overflow();
                };
                let mut extras = [0; crate::ledger::MAX_EXTRA_LABELS];
                let mut cross = [u, f, m, 0, 0, 0, 0, 0];
                for (i, v) in call.labels.extra.iter().enumerate() {
                    let (e, folded) = self.admit(ledger, 2 + i, v);
                    cross[3 + i] = e;
                    extras[i] = e;
                    per_dim(
                        ledger,
                        Metric::LabelCost,
                        self.label,
                        &[self.extra_names[i], e],
                        total,
                        folded,
                    );
                }
                ledger.add(
                    Metric::Cost,
                    self.cross_cost,
                    &cross[..3 + call.labels.extra.len()],
                    total,
                );
                per_dim(ledger, Metric::UserCost, self.user, &[u], total, u_folded);
                per_dim(
                    ledger,
                    Metric::FeatureCost,
                    self.feature,
                    &[f],
                    total,
                    f_folded,
                );
                let region = ledger.intern(&rec.region);
                let scope = ledger.intern(p.scope.as_str());
                for class in TokenClass::ALL {
                    if rec.tokens.get(class) > 0 {
                        let Some(c) = units(p.cost[class as usize]) else {
                            return ledger.note_overflow();
                        };
                        let t = self.token_types[class as usize];
                        ledger.add(
                            Metric::ModelCost,
                            self.model_cost,
                            &[m, region, scope, t],
                            c,
                        );
                    }
                }
                if !p.cache_read_savings.is_zero() {
                    match units(p.cache_read_savings) {
                        Some(s) => ledger.add(Metric::CacheSavings, self.model, &[m], s),
                        None => ledger.note_overflow(),
                    }
                }
                if rec.cache_split == CacheSplit::Assumed5m {
                    let n = i128::from(rec.tokens.cache_write_5m);
                    ledger.add(Metric::TtlAssumed, self.model, &[m], n);
                }
                for &(dim, label, period, period_sym) in &self.budgets {
                    let subject = match dim {
                        USER => u,
                        FEATURE => f,
                        i => extras[i - 2],
                    };
                    let start = ledger.intern(&period.key(rec.timestamp));
                    ledger.add(
                        Metric::PeriodSpend,
                        self.period,
                        &[label, subject, period_sym, start],
                        total,
                    );
                }
            }
            Outcome::Unpriced { reason, .. } => {
                let r = ledger.intern(reason.as_str());
                ledger.add(Metric::Unpriced, self.unpriced, &[m, r], 1);
            }
            Outcome::NotBilled { .. } => {}
        }
    }
}
