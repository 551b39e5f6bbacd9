//! Rate-card parser: `pricing::ratecard::parse` on any UTF-8 text, then every use a loaded
//! card gets.
//!
//! Checks, beyond "no panic": a card that parses has a model, non-negative prices, and a
//! long-context band that prices every class its base row prices; `RateCards::new` accepts it
//! alone and refuses it twice (same `effective_from`, same version); `lookup` for every
//! model, region, scope and tier returns a row for exactly that tier and scope; every row is
//! found for its own region, scopes and tier; and pricing calls on it (each token class
//! alone, every class at the maximum, prompts past each long-context threshold) gives
//! non-negative costs that add up to the total and fit the ledger's fixed-point units, or an
//! `overflow` reason, never a panic.
#![no_main]

use std::borrow::Cow;

use bedrock_cost_exporter::bedrock::MAX_TOKENS_PER_CLASS;
use bedrock_cost_exporter::money;
use bedrock_cost_exporter::pricing::{self, ratecard, Aliases, Outcome, RateCards, Scope};
use bedrock_cost_exporter::record::{CacheSplit, Record, Tier, TokenClass, Tokens};
use libfuzzer_sys::fuzz_target;

fn record(
    model_id: String,
    region: &str,
    timestamp: i64,
    tokens: Tokens,
    tier: Tier,
) -> Record<'_> {
    Record {
        timestamp,
        request_id: Some(Cow::Borrowed("r")),
        operation: None,
        model_id: Cow::Owned(model_id),
        region: Cow::Borrowed(region),
        principal_arn: None,
        metadata: Vec::new(),
        tokens,
        has_token_counts: true,
        cache_split: CacheSplit::Known,
        error_code: None,
        tier,
    }
}

fn prefixed(model: &str, scope: Scope) -> String {
    match scope {
        Scope::InRegion => model.to_string(),
        Scope::Geo => format!("us.{model}"),
        Scope::Global => format!("global.{model}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(card) = ratecard::parse(text, "fuzz.toml") else {
        return;
    };
    assert!(!card.models.is_empty());
    let mut regions = vec!["us-east-1".to_string()];
    let mut bands = Vec::new();
    for entry in card.models.values() {
        for row in &entry.rows {
            regions.extend(row.regions.iter().flatten().cloned());
            bands.extend(row.long_context.as_ref().map(|lc| lc.above_tokens));
            for class in TokenClass::ALL {
                let base = row.prices.get(class);
                assert!(base.is_none_or(|p| !p.is_sign_negative()), "{row:?}");
                if let Some(lc) = &row.long_context {
                    let band = lc.prices.get(class);
                    assert!(band.is_some() || base.is_none(), "{row:?}");
                    assert!(band.is_none_or(|p| !p.is_sign_negative()), "{row:?}");
                }
            }
        }
    }
    assert!(RateCards::new(vec![card.clone(), card.clone()]).is_err());
    let cards = RateCards::new(vec![card]).expect("one card alone is valid");
    let card = &cards.cards()[0];
    regions.sort();
    regions.dedup();
    regions.truncate(8);

    let one = |class: TokenClass, n: u64| {
        let mut t = Tokens::default();
        match class {
            TokenClass::Input => t.input = n,
            TokenClass::Output => t.output = n,
            TokenClass::CacheRead => t.cache_read = n,
            TokenClass::CacheWrite5m => t.cache_write_5m = n,
            TokenClass::CacheWrite1h => t.cache_write_1h = n,
        }
        t
    };
    // One class at a time (a row need not price every class), every class at once, and
    // prompts just past each long-context threshold.
    let mut token_sets: Vec<Tokens> = TokenClass::ALL.iter().map(|c| one(*c, 1)).collect();
    token_sets.push(one(TokenClass::Output, MAX_TOKENS_PER_CLASS));
    token_sets.push(Tokens {
        input: MAX_TOKENS_PER_CLASS,
        output: MAX_TOKENS_PER_CLASS,
        cache_read: MAX_TOKENS_PER_CLASS,
        cache_write_5m: MAX_TOKENS_PER_CLASS,
        cache_write_1h: MAX_TOKENS_PER_CLASS,
    });
    bands.sort_unstable();
    bands.dedup();
    token_sets.extend(bands.iter().take(2).map(|above| Tokens {
        input: above.saturating_add(1).min(MAX_TOKENS_PER_CLASS),
        ..one(TokenClass::Output, 7)
    }));

    // Every lookup: the row found is for the tier and scope asked.
    for model in card.models.keys().take(8) {
        for region in &regions {
            for scope in Scope::ALL {
                for tier in Tier::ALL {
                    if let Ok(row) = card.lookup(model, region, scope, tier) {
                        assert_eq!(row.tier, tier);
                        assert!(row.scopes.contains(&scope));
                    }
                }
            }
        }
    }

    // Every row prices what it claims, and the money fits the ledger.
    let aliases = Aliases::default();
    for (model, entry) in card.models.iter().take(8) {
        for row in entry.rows.iter().take(8) {
            let region = match &row.regions {
                Some(list) => list[0].as_str(),
                None => "us-east-1",
            };
            for &scope in &row.scopes {
                assert!(
                    card.lookup(model, region, scope, row.tier).is_ok(),
                    "{row:?}"
                );
                for tokens in &token_sets {
                    let id = prefixed(model, scope);
                    let rec = record(id, region, card.effective_from, *tokens, row.tier);
                    if let Outcome::Priced(p) = pricing::price(&cards, &aliases, &rec) {
                        for c in p.cost {
                            assert!(!c.is_sign_negative(), "{p:?}");
                        }
                        let sum: rust_decimal::Decimal = p.cost.iter().copied().sum();
                        assert_eq!(sum, p.total);
                        assert!(!p.cache_read_savings.is_sign_negative());
                        assert!(
                            money::to_units(p.total, money::USD_SCALE).is_some(),
                            "a cost of {} cannot be counted exactly ({p:?})",
                            p.total
                        );
                    }
                }
            }
        }
    }
});
