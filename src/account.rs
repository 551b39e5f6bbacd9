//! The priced call, and how one adds to the ledger.
//!
//! [`PricedCall`] is the value between pricing and attribution on one side and the ledger on
//! the other: the daemon accounts it, `price` prints it, the export sinks ship it. One path.
//! [`Accounting`] turns a call into counter increments: it resolves the call's label values
//! to interned ids once, admits them per attribution dimension, and adds to the exact
//! per-dimension metrics, the drill-down cross product, the per-model cost and the budgets.

use crate::attribution::{Attribution, Labels};
use crate::budgets::{Period, Spend};
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

/// A series as resolved once: its id, and whether the key folded into it. Later calls add
/// to it by index instead of a hash lookup each (valid until a rollback, see `epoch`).
type Resolved = (u32, bool);

const UNSET: u32 = u32::MAX;
const UNRESOLVED: Resolved = (UNSET, false);

/// Adds `n` to a series through its cached resolution (resolving it first if need be), and
/// counts the fold if the key folded or its dimension value did (`dim_folded`).
fn add_resolved(
    ledger: &mut Ledger,
    cached: &mut Resolved,
    (metric, shape): (Metric, u16),
    vals: &[Sym],
    n: i128,
    dim_folded: bool,
) {
    if cached.0 == UNSET {
        *cached = ledger.series_for(metric, shape, vals);
    }
    ledger.add_to(cached.0, n);
    if cached.1 || dim_folded {
        ledger.count_fold(metric, n);
    }
}

/// One dimension value's own series (per user or per feature).
#[derive(Clone, Copy)]
struct DimIds {
    cost: Resolved,
    invocations: [Resolved; 2],
    tokens: [Resolved; 5],
}

impl DimIds {
    const UNSET: DimIds = DimIds {
        cost: UNRESOLVED,
        invocations: [UNRESOLVED; 2],
        tokens: [UNRESOLVED; 5],
    };
}

/// The per-dimension series of one value: (cost, invocations, tokens) metrics and shapes.
struct DimMetrics {
    cost: (Metric, u16),
    invocations: (Metric, u16),
    tokens: (Metric, u16),
    /// By label value id.
    ids: Vec<DimIds>,
}

impl DimMetrics {
    fn slot(&mut self, v: Sym) -> &mut DimIds {
        let i = v as usize;
        if self.ids.len() <= i {
            self.ids.resize(i + 1, DimIds::UNSET);
        }
        &mut self.ids[i]
    }
}

/// Series of one (user, feature, model) combination in the drill-down tokens and invocations
/// metrics, each with whether it folded; resolved once, then added to by index.
#[derive(Clone, Copy)]
struct CrossIds {
    invocations: [Resolved; 2],
    tokens: [Resolved; 5],
}

impl CrossIds {
    const UNSET: CrossIds = CrossIds {
        invocations: [UNRESOLVED; 2],
        tokens: [UNRESOLVED; 5],
    };
}

/// Combinations remembered at most; past it the cache starts over (it is only a cache).
const CROSS_CACHE_MAX: usize = 1 << 18;

/// Label shapes and bounded label values, interned once for the hot path.
pub struct Accounting {
    cross: rustc_hash::FxHashMap<[Sym; 3], CrossIds>,
    /// `bedrock_model_cost_usd_total` ids by (model, region, scope) and token class.
    model_costs: rustc_hash::FxHashMap<[Sym; 3], [Resolved; 5]>,
    users: DimMetrics,
    features: DimMetrics,
    /// The ledger epoch the cached ids belong to.
    epoch: u64,
    cross_cost: u16,
    cross_tokens: u16,
    cross_invocations: u16,
    label: u16,
    model_cost: u16,
    model: u16,
    unpriced: u16,
    records: u16,
    malformed: u16,
    token_types: [Sym; 5],
    success: Sym,
    error: Sym,
    /// Each extra label's name, as a value of `bedrock_label_cost_usd_total{label}`.
    extra_names: Vec<Sym>,
    /// Spend per budgeted value and period.
    budgets: Spend,
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
        let budgets = Spend::new(ledger, budget_periods, &dims);
        let users = DimMetrics {
            cost: (Metric::UserCost, ledger.shape(&["user"])),
            invocations: (Metric::UserInvocations, ledger.shape(&["user", "outcome"])),
            tokens: (Metric::UserTokens, ledger.shape(&["user", "token_type"])),
            ids: Vec::new(),
        };
        let features = DimMetrics {
            cost: (Metric::FeatureCost, ledger.shape(&["feature"])),
            invocations: (
                Metric::FeatureInvocations,
                ledger.shape(&["feature", "outcome"]),
            ),
            tokens: (
                Metric::FeatureTokens,
                ledger.shape(&["feature", "token_type"]),
            ),
            ids: Vec::new(),
        };
        Accounting {
            cross: Default::default(),
            model_costs: Default::default(),
            users,
            features,
            epoch: ledger.epoch(),
            cross_cost: ledger.shape(&cross),
            cross_tokens: ledger.shape(&["user", "feature", "model", "token_type"]),
            cross_invocations: ledger.shape(&["user", "feature", "model", "outcome"]),
            label: ledger.shape(&["label", "value"]),
            model_cost: ledger.shape(&["model", "region", "scope", "token_type"]),
            model: ledger.shape(&["model"]),
            unpriced: ledger.shape(&["model", "reason"]),
            records: ledger.shape(&["source", "result"]),
            malformed: ledger.shape(&["source", "reason"]),
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
    /// Sets the wall time the next calls are accounted at (which budget periods are live).
    pub fn set_now(&mut self, now_unix: i64) {
        self.budgets.set_now(now_unix);
    }

    pub fn call(&mut self, ledger: &mut Ledger, source: Sym, call: &PricedCall<'_>) {
        if self.epoch != ledger.epoch() {
            self.users.ids.clear();
            self.features.ids.clear();
            self.cross.clear();
            self.model_costs.clear();
            self.epoch = ledger.epoch();
        }
        let rec = call.record;
        let (u, u_folded) = self.admit(ledger, USER, &call.labels.user);
        let (f, f_folded) = self.admit(ledger, FEATURE, &call.labels.feature);
        let dims = [(u, u_folded), (f, f_folded)];
        let model = crate::attribution::sanitize(call.model());
        let m = ledger.intern(&model);
        let result = match call.outcome {
            Outcome::Unpriced { .. } => "unpriced",
            _ => "accepted",
        };
        self.records(ledger, source, result, 1);

        let (outcome, o) = match rec.error_code {
            Some(_) => (self.error, 1),
            None => (self.success, 0),
        };
        if self.cross.len() >= CROSS_CACHE_MAX {
            self.cross.clear();
        }
        let ids = self.cross.entry([u, f, m]).or_insert(CrossIds::UNSET);
        let series = (Metric::Invocations, self.cross_invocations);
        let vals = [u, f, m, outcome];
        add_resolved(ledger, &mut ids.invocations[o], series, &vals, 1, false);
        for (d, &(v, folded)) in [&mut self.users, &mut self.features].into_iter().zip(&dims) {
            let series = d.invocations;
            let id = &mut d.slot(v).invocations[o];
            add_resolved(ledger, id, series, &[v, outcome], 1, folded);
        }
        for class in TokenClass::ALL {
            let n = i128::from(rec.tokens.get(class));
            if n == 0 {
                continue;
            }
            let t = self.token_types[class as usize];
            let vals = [u, f, m, t];
            let id = &mut ids.tokens[class as usize];
            let series = (Metric::Tokens, self.cross_tokens);
            add_resolved(ledger, id, series, &vals, n, false);
            for (d, &(v, folded)) in [&mut self.users, &mut self.features].into_iter().zip(&dims) {
                let series = d.tokens;
                let id = &mut d.slot(v).tokens[class as usize];
                add_resolved(ledger, id, series, &[v, t], n, folded);
            }
        }
        match &call.outcome {
            Outcome::Priced(p) => self.priced(ledger, call, p, m, &dims),
            Outcome::Unpriced { reason, .. } => {
                let r = ledger.intern(reason.as_str());
                ledger.add(Metric::Unpriced, self.unpriced, &[m, r], 1);
            }
            Outcome::NotBilled { .. } => {}
        }
    }

    /// The money of a priced call: cost per dimension and in the cross product, per model and
    /// token class, cache savings, and budget spend.
    fn priced(
        &mut self,
        ledger: &mut Ledger,
        call: &PricedCall<'_>,
        p: &crate::pricing::Priced<'_>,
        m: Sym,
        dims: &[(Sym, bool); 2],
    ) {
        let rec = call.record;
        let units = |d| money::to_units(d, money::USD_SCALE);
        let Some(total) = units(p.total) else {
            return ledger.note_overflow();
        };
        let (u, f) = (dims[0].0, dims[1].0);
        let mut extras = [0; crate::ledger::MAX_EXTRA_LABELS];
        let mut cross = [u, f, m, 0, 0, 0, 0, 0];
        for (i, v) in call.labels.extra.iter().enumerate() {
            let (e, folded) = self.admit(ledger, 2 + i, v);
            cross[3 + i] = e;
            extras[i] = e;
            ledger.add(
                Metric::LabelCost,
                self.label,
                &[self.extra_names[i], e],
                total,
            );
            if folded {
                ledger.count_fold(Metric::LabelCost, total);
            }
        }
        let n_cross = 3 + call.labels.extra.len();
        ledger.add(Metric::Cost, self.cross_cost, &cross[..n_cross], total);
        for (d, &(v, folded)) in [&mut self.users, &mut self.features].into_iter().zip(dims) {
            let series = d.cost;
            let id = &mut d.slot(v).cost;
            add_resolved(ledger, id, series, &[v], total, folded);
        }
        let region = ledger.intern(&rec.region);
        let scope = ledger.intern(p.scope.as_str());
        for class in TokenClass::ALL {
            if rec.tokens.get(class) == 0 {
                continue;
            }
            let Some(c) = units(p.cost[class as usize]) else {
                return ledger.note_overflow();
            };
            let ids = self
                .model_costs
                .entry([m, region, scope])
                .or_insert([UNRESOLVED; 5]);
            let t = self.token_types[class as usize];
            let series = (Metric::ModelCost, self.model_cost);
            let vals = [m, region, scope, t];
            add_resolved(ledger, &mut ids[class as usize], series, &vals, c, false);
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
        let n_extra = call.labels.extra.len();
        let mut subjects = [u, f, 0, 0, 0, 0, 0];
        subjects[2..2 + n_extra].copy_from_slice(&extras[..n_extra]);
        self.budgets.add(ledger, &subjects, rec.timestamp, total);
    }
}
