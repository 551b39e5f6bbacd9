use super::*;
use crate::bedrock;
use std::collections::HashMap;
use std::str::FromStr;

const SHAPES: &str = include_str!("../../tests/data/shapes.jsonl");

fn cards() -> RateCards {
    let card = ratecard::parse(ratecard::tests::CARD, "card.toml").unwrap();
    let old = ratecard::parse(
        &ratecard::tests::CARD
            .replace("test-2026-11", "old")
            .replace("2026-11-01", "2026-01-01")
            .replace("\"0.035\"", "\"0.04\""),
        "old.toml",
    )
    .unwrap();
    RateCards::new(vec![card, old]).unwrap()
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn line(model: &str, ts: &str, input: u64, output: u64, extra: &str) -> String {
    format!(
        r#"{{"timestamp":"{ts}","region":"us-east-1","requestId":"r","modelId":"{model}","input":{{"inputTokenCount":{input}{extra}}},"output":{{"outputTokenCount":{output}}}}}"#
    )
}

fn priced(l: &str) -> Priced<'static> {
    let cards: &'static RateCards = Box::leak(Box::new(cards()));
    let aliases: &'static Aliases = Box::leak(Box::new(Aliases::new(HashMap::from([(
        "arn:aws:bedrock:us-east-1:210987654321:application-inference-profile/a1b2c3d4e5f6".into(),
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0".into(),
    )]))));
    let rec: &'static Record<'static> = Box::leak(Box::new(
        bedrock::parse(Box::leak(l.to_string().into_boxed_str()).as_bytes()).unwrap(),
    ));
    match price(cards, aliases, rec) {
        Outcome::Priced(p) => p,
        other => panic!("not priced: {other:?}"),
    }
}

fn outcome(l: &str) -> Outcome<'static> {
    let cards: &'static RateCards = Box::leak(Box::new(cards()));
    let aliases: &'static Aliases = Box::leak(Box::default());
    let rec: &'static Record<'static> = Box::leak(Box::new(
        bedrock::parse(Box::leak(l.to_string().into_boxed_str()).as_bytes()).unwrap(),
    ));
    price(cards, aliases, rec)
}

fn shape(id: &str) -> &'static str {
    SHAPES
        .lines()
        .find(|l| l.contains(&format!("\"requestId\": \"{id}\"")))
        .unwrap()
}

#[test]
fn geo_profile_cache_heavy_call_is_priced_per_class_exactly() {
    // 1 input, 238,604 cache reads, 1,314 cache writes (TTL unknown → 5m), 512 output, us. profile
    let p = priced(shape("shape-cache-write-ttl-unknown"));
    assert_eq!(p.model, "anthropic.claude-sonnet-4-5-20250929-v1:0");
    assert_eq!(p.scope, Scope::Geo);
    assert_eq!(p.cost[TokenClass::Input as usize], d("0.0000033"));
    assert_eq!(p.cost[TokenClass::CacheRead as usize], d("0.07873932"));
    assert_eq!(p.cost[TokenClass::CacheWrite5m as usize], d("0.00542025"));
    assert_eq!(p.cost[TokenClass::Output as usize], d("0.008448"));
    assert_eq!(p.total, d("0.09261087"));
    // savings: 238,604 × (3.30 − 0.33) / 1M
    assert_eq!(p.cache_read_savings, d("0.70865388"));
}

#[test]
fn known_ttl_split_prices_1h_writes_at_the_1h_rate() {
    let p = priced(shape("shape-stream-chunks-cache-split"));
    assert_eq!(p.cost[TokenClass::CacheWrite5m as usize], d("0.004125"));
    assert_eq!(p.cost[TokenClass::CacheWrite1h as usize], d("0.0132"));
}

#[test]
fn the_long_context_band_counts_cached_input_and_starts_above_the_threshold() {
    let at = |input: u64, read: u64| {
        priced(&line(
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "2026-11-02T00:00:00Z",
            input,
            1000,
            &format!(",\"cacheReadInputTokenCount\":{read}"),
        ))
    };
    let exactly = at(140_000, 60_000);
    assert!(!exactly.long_context);
    assert_eq!(exactly.total, d("0.42") + d("0.018") + d("0.015"));
    let above = at(140_001, 60_000);
    assert!(above.long_context);
    assert_eq!(above.cost[TokenClass::Input as usize], d("0.840006"));
    assert_eq!(above.cost[TokenClass::CacheRead as usize], d("0.036"));
    assert_eq!(above.cost[TokenClass::Output as usize], d("0.0225"));
}

#[test]
fn the_card_in_force_at_the_record_timestamp_prices_it() {
    let before = priced(&line(
        "amazon.nova-micro-v1:0",
        "2026-10-31T23:59:59Z",
        1_000_000,
        0,
        "",
    ));
    assert_eq!((before.card_version, before.total), ("old", d("0.04")));
    let after = priced(&line(
        "amazon.nova-micro-v1:0",
        "2026-11-01T00:00:00Z",
        1_000_000,
        0,
        "",
    ));
    assert_eq!(
        (after.card_version, after.total),
        ("test-2026-11", d("0.035"))
    );
    assert!(matches!(
        outcome(&line(
            "amazon.nova-micro-v1:0",
            "2025-12-31T23:59:59Z",
            1,
            1,
            ""
        )),
        Outcome::Unpriced {
            reason: UnpricedReason::NoRatecardInForce,
            ..
        }
    ));
}

#[test]
fn source_region_and_tier_pick_the_row() {
    let tokyo = line(
        "apac.amazon.nova-micro-v1:0",
        "2026-11-02T00:00:00Z",
        1_000_000,
        1_000_000,
        "",
    )
    .replace("us-east-1", "ap-northeast-1");
    assert_eq!(priced(&tokyo).total, d("0.205"));
    let prio = r#"{"timestamp":"2026-11-02T00:00:00Z","region":"us-east-1","modelId":"amazon.nova-micro-v1:0","input":{"inputTokenCount":1000000},"output":{"outputTokenCount":0,"outputBodyJson":{"serviceTier":{"type":"priority"}}}}"#;
    assert_eq!(priced(prio).total, d("0.06125"));
}

#[test]
fn application_profiles_price_through_their_alias() {
    let p = priced(shape("shape-application-profile"));
    assert_eq!(
        (p.model, p.scope),
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", Scope::Global)
    );
    assert_eq!(p.total, d("0.0045"));
}

#[test]
fn what_cannot_be_priced_says_why() {
    let cases = [
        (shape("shape-unknown-model"), UnpricedReason::UnknownModel),
        (
            shape("shape-application-profile"),
            UnpricedReason::ApplicationProfileUnmapped,
        ),
        (shape("shape-missing-counts"), UnpricedReason::NoTokenCounts),
        (
            &line(
                "global.amazon.nova-micro-v1:0",
                "2026-11-02T00:00:00Z",
                1,
                1,
                "",
            ),
            UnpricedReason::NoPriceForScope,
        ),
        (
            &line(
                "amazon.nova-micro-v1:0",
                "2026-11-02T00:00:00Z",
                1,
                1,
                ",\"cacheWriteInputTokenCount\":5",
            ),
            UnpricedReason::MissingTokenClassPrice,
        ),
        (
            shape("shape-latency-optimized"),
            UnpricedReason::UnknownModel,
        ),
    ];
    for (l, want) in cases {
        match outcome(l) {
            Outcome::Unpriced { reason, .. } => assert_eq!(reason, want, "{l}"),
            other => panic!("{l}: {other:?}"),
        }
    }
    let no_counts = shape("shape-missing-counts").replace(
        "anthropic.claude-3-haiku-20240307-v1:0",
        "amazon.nova-micro-v1:0",
    );
    assert!(matches!(
        outcome(&no_counts),
        Outcome::Unpriced {
            reason: UnpricedReason::NoTokenCounts,
            ..
        }
    ));
}

#[test]
fn failed_calls_without_tokens_are_not_billed() {
    assert!(matches!(
        outcome(shape("shape-error-record")),
        Outcome::NotBilled {
            model: "anthropic.claude-haiku-4-5-20251001-v1:0"
        }
    ));
}

#[test]
fn zero_token_guardrail_blocks_cost_nothing_but_are_priced() {
    let l = line("amazon.nova-micro-v1:0", "2026-11-02T00:00:00Z", 0, 0, "");
    assert_eq!(priced(&l).total, Decimal::ZERO);
}

#[test]
fn an_unpriced_call_keeps_its_scope_when_the_model_id_resolved() {
    let ts = "2026-11-20T00:00:00Z";
    let scope = |model: &str| match outcome(&line(model, ts, 1, 1, "")) {
        Outcome::Unpriced { scope, .. } => scope,
        other => panic!("priced: {other:?}"),
    };
    assert_eq!(scope("eu.acme.unknown-v1:0"), Some(Scope::Geo));
    assert_eq!(scope("global.acme.unknown-v1:0"), Some(Scope::Global));
    assert_eq!(scope("acme.unknown-v1:0"), Some(Scope::InRegion));
    let unmapped = "arn:aws:bedrock:us-east-1:1:application-inference-profile/x";
    assert_eq!(scope(unmapped), None, "nothing says how it was routed");
}
