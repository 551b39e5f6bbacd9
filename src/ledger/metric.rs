//! The business counters the ledger keeps: names, help text, units, and how each one is
//! bounded (never folded, folded per dimension by attribution, or folded per series past the
//! series cap, from the least informative label up).

use crate::money::USD_SCALE;

/// The persisted counters. The order here is the exposition order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Metric {
    /// Drill-down cross product: user × feature × model × extra labels.
    Cost,
    Tokens,
    Invocations,
    /// Exact per-dimension totals (bounded by each dimension's own cap of values).
    UserCost,
    UserTokens,
    UserInvocations,
    FeatureCost,
    FeatureTokens,
    FeatureInvocations,
    LabelCost,
    ModelCost,
    CacheSavings,
    Unpriced,
    Records,
    Malformed,
    TtlAssumed,
    Folded,
    FoldedCost,
    /// Spend per budget subject per calendar period (UTC); exposed through the budget gauges.
    PeriodSpend,
}

/// How a metric's series count is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// Its labels come from bounded sets (the rate card, token classes, sources, reasons).
    ByConstruction,
    /// Its identity label was already admitted (or folded) by an attribution dimension.
    ByDimension,
    /// A new series folds labels into `__other__` in this order until it finds a series that
    /// exists or there is room at its level: full detail may fill half of the series cap, one
    /// step folded the next quarter, and so on; the last step (all folded) is always admitted.
    SeriesCap(&'static [&'static str]),
}

/// Label names that fold on the cross product, least informative first. Extra labels (not
/// named here) fold right after the model: their exact totals are in the label metric.
const CROSS_FOLD: &[&str] = &["model", "*extra", "feature", "user"];

impl Metric {
    pub const COUNT: usize = 19;
    pub const ALL: [Metric; Metric::COUNT] = [
        Metric::Cost,
        Metric::Tokens,
        Metric::Invocations,
        Metric::UserCost,
        Metric::UserTokens,
        Metric::UserInvocations,
        Metric::FeatureCost,
        Metric::FeatureTokens,
        Metric::FeatureInvocations,
        Metric::LabelCost,
        Metric::ModelCost,
        Metric::CacheSavings,
        Metric::Unpriced,
        Metric::Records,
        Metric::Malformed,
        Metric::TtlAssumed,
        Metric::Folded,
        Metric::FoldedCost,
        Metric::PeriodSpend,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Cost => "bedrock_cost_usd_total",
            Metric::Tokens => "bedrock_tokens_total",
            Metric::Invocations => "bedrock_invocations_total",
            Metric::UserCost => "bedrock_user_cost_usd_total",
            Metric::UserTokens => "bedrock_user_tokens_total",
            Metric::UserInvocations => "bedrock_user_invocations_total",
            Metric::FeatureCost => "bedrock_feature_cost_usd_total",
            Metric::FeatureTokens => "bedrock_feature_tokens_total",
            Metric::FeatureInvocations => "bedrock_feature_invocations_total",
            Metric::LabelCost => "bedrock_label_cost_usd_total",
            Metric::ModelCost => "bedrock_model_cost_usd_total",
            Metric::CacheSavings => "bedrock_cache_read_savings_usd_total",
            Metric::Unpriced => "bedrock_unpriced_invocations_total",
            Metric::Records => "bedrock_records_total",
            Metric::Malformed => "bedrock_malformed_records_total",
            Metric::TtlAssumed => "bedrock_cache_write_ttl_assumed_tokens_total",
            Metric::Folded => "bedrock_series_folded_total",
            Metric::FoldedCost => "bedrock_folded_cost_usd_total",
            Metric::PeriodSpend => "bedrock_period_spend_usd",
        }
    }

    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn help(self) -> &'static str {
        match self {
            Metric::Cost => "Estimated Bedrock cost in US dollars by user, feature, model and extra labels (drill-down: past the series cap it folds model, extra labels, feature, then user into __other__; exact per-user and per-feature totals are in bedrock_user_cost_usd_total and bedrock_feature_cost_usd_total).",
            Metric::Tokens => "Tokens billed by user, feature, model and token class (drill-down, folds like bedrock_cost_usd_total).",
            Metric::Invocations => "Model invocations by user, feature, model and outcome (drill-down, folds like bedrock_cost_usd_total).",
            Metric::UserCost => "Estimated cost in US dollars per user, exact for every user up to the user cap.",
            Metric::UserTokens => "Tokens billed per user and token class, exact up to the user cap.",
            Metric::UserInvocations => "Model invocations per user and outcome, exact up to the user cap.",
            Metric::FeatureCost => "Estimated cost in US dollars per feature, exact for every feature up to the feature cap.",
            Metric::FeatureTokens => "Tokens billed per feature and token class, exact up to the feature cap.",
            Metric::FeatureInvocations => "Model invocations per feature and outcome, exact up to the feature cap.",
            Metric::LabelCost => "Estimated cost in US dollars per value of each configured extra label, exact up to that label's cap.",
            Metric::ModelCost => "Estimated cost in US dollars by model, source region, profile scope and token class (never folded; the grain the AWS bill is reconciled at).",
            Metric::CacheSavings => "What prompt-cache reads saved in US dollars against the plain input price.",
            Metric::Unpriced => "Invocations that could not be priced, by model and reason.",
            Metric::Records => "Invocation-log records read, by source and result (accepted, unpriced, duplicate, malformed).",
            Metric::Malformed => "Records rejected as malformed, by source and reason.",
            Metric::TtlAssumed => "Cache-write tokens priced at the 5-minute rate because the record did not say their TTL.",
            Metric::Folded => "Increments whose labels were folded into __other__ because the metric or dimension reached its cap.",
            Metric::FoldedCost => "US dollars counted in an __other__ series of the named metric because it or its dimension reached its cap (the money is still in every total).",
            Metric::PeriodSpend => "Spend per budget subject and calendar period (internal; see bedrock_budget_spend_usd).",
        }
    }

    /// Decimal places of the stored integer: money is fixed-point USD, the rest are counts.
    pub fn scale(self) -> u32 {
        match self {
            Metric::Cost
            | Metric::UserCost
            | Metric::FeatureCost
            | Metric::LabelCost
            | Metric::ModelCost
            | Metric::CacheSavings
            | Metric::FoldedCost
            | Metric::PeriodSpend => USD_SCALE,
            _ => 0,
        }
    }

    pub fn is_money(self) -> bool {
        self.scale() != 0
    }

    pub fn bound(self) -> Bound {
        match self {
            Metric::Cost | Metric::Tokens | Metric::Invocations => Bound::SeriesCap(CROSS_FOLD),
            // Unpriced calls name whatever model id the caller sent.
            Metric::Unpriced => Bound::SeriesCap(&["model"]),
            // Subjects are admitted by their dimension; a fast backfill of many past periods
            // can still outrun pruning, so the subject folds past the cap as well.
            Metric::PeriodSpend => Bound::SeriesCap(&["subject"]),
            Metric::UserCost
            | Metric::UserTokens
            | Metric::UserInvocations
            | Metric::FeatureCost
            | Metric::FeatureTokens
            | Metric::FeatureInvocations
            | Metric::LabelCost => Bound::ByDimension,
            _ => Bound::ByConstruction,
        }
    }

    /// The attribution dimension whose values this metric's identity label holds.
    pub fn dimension_label(self) -> Option<&'static str> {
        match self {
            Metric::UserCost | Metric::UserTokens | Metric::UserInvocations => Some("user"),
            Metric::FeatureCost | Metric::FeatureTokens | Metric::FeatureInvocations => {
                Some("feature")
            }
            _ => None,
        }
    }
}
