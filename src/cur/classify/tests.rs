use std::str::FromStr;
use std::sync::Arc;

use rust_decimal::Decimal;

use super::*;
use crate::pricelist::mapping;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

const MAPPING: &str = r#"
[[models]]
usagetype_name = "NovaPro"
id = "amazon.nova-pro-v1:0"
name = "Amazon Nova Pro"
reviewed = true
evidence = "test"

[[models]]
usagetype_name = "Claude4Sonnet"
id = "anthropic.claude-sonnet-4-20250514-v1:0"
name = "Claude Sonnet 4"
long_context_above_tokens = 200000
reviewed = true
evidence = "test"

[[models]]
servicename = "Claude Sonnet 4.6 (Amazon Bedrock Edition)"
id = "anthropic.claude-sonnet-4-6"
name = "Claude Sonnet 4.6"
reviewed = true
evidence = "test"

[[models]]
servicename = "Claude Opus 4.7 (Amazon Bedrock Edition)"
id = "anthropic.claude-opus-4-7"
name = "Claude Opus 4.7"
reviewed = true
evidence = "test"

[[models]]
servicename = "Claude Haiku 4.5 (Amazon Bedrock Edition)"
id = "anthropic.claude-haiku-4-5-20251001-v1:0"
name = "Claude Haiku 4.5"
reviewed = false
evidence = "a candidate: never applied"
"#;

fn mapping() -> Mapping {
    mapping::parse(MAPPING, "test.toml").unwrap()
}

fn line(usage_type: &str, amount: &str) -> BillLine {
    BillLine {
        day: "2026-11-03".into(),
        line_item_type: "Usage".into(),
        product_code: "AmazonBedrock".into(),
        usage_type: usage_type.into(),
        servicename: None,
        principal: None,
        region_code: None,
        pricing_unit: None,
        usage_amount: d(amount),
        unblended_cost: d("0.01"),
        file: Arc::from("t.csv"),
        row: 1,
    }
}

fn listing(usage_type: &str, amount: &str, servicename: &str) -> BillLine {
    BillLine {
        product_code: "opaque-listing-id".into(),
        servicename: Some(servicename.into()),
        ..line(usage_type, amount)
    }
}

struct Want {
    model: &'static str,
    region: &'static str,
    class: TokenClass,
    tier: Tier,
    global: bool,
    long_context: bool,
    tokens: &'static str,
}

fn tokens(w: Want) -> Billed {
    Billed::Tokens {
        model: w.model.into(),
        region: w.region.into(),
        class: w.class,
        tier: w.tier,
        global: w.global,
        long_context: w.long_context,
        tokens: d(w.tokens),
    }
}

const SONNET46: &str = "Claude Sonnet 4.6 (Amazon Bedrock Edition)";
const OPUS47: &str = "Claude Opus 4.7 (Amazon Bedrock Edition)";

#[test]
fn native_lines_count_thousands() {
    let m = mapping();
    assert_eq!(
        classify(&line("USE1-NovaPro-input-tokens", "12.345"), &m),
        tokens(Want {
            model: "amazon.nova-pro-v1:0",
            region: "us-east-1",
            class: TokenClass::Input,
            tier: Tier::Standard,
            global: false,
            long_context: false,
            tokens: "12345",
        })
    );
    // batch, in Tokyo: the region from the billing code
    assert_eq!(
        classify(&line("APN1-NovaPro-output-tokens-batch", "2"), &m),
        tokens(Want {
            model: "amazon.nova-pro-v1:0",
            region: "ap-northeast-1",
            class: TokenClass::Output,
            tier: Tier::Batch,
            global: false,
            long_context: false,
            tokens: "2000",
        })
    );
    // long context through the global profile
    assert_eq!(
        classify(
            &line(
                "USE1-Claude4Sonnet-cache-read-input-token-count-long-context-cross-region-global",
                "0.5"
            ),
            &m
        ),
        tokens(Want {
            model: "anthropic.claude-sonnet-4-20250514-v1:0",
            region: "us-east-1",
            class: TokenClass::CacheRead,
            tier: Tier::Standard,
            global: true,
            long_context: true,
            tokens: "500",
        })
    );
}

#[test]
fn marketplace_lines_count_millions_camel_and_snake() {
    let m = mapping();
    assert_eq!(
        classify(
            &listing(
                "USE1-MP:USE1_OutputTokenCount_Global-Units",
                "0.0042",
                SONNET46
            ),
            &m
        ),
        tokens(Want {
            model: "anthropic.claude-sonnet-4-6",
            region: "us-east-1",
            class: TokenClass::Output,
            tier: Tier::Standard,
            global: true,
            long_context: false,
            tokens: "4200",
        })
    );
    assert_eq!(
        classify(
            &listing(
                "USE2-MP:USE2_CacheWrite1hInputTokenCount_Batch-Units",
                "1",
                SONNET46
            ),
            &m
        ),
        tokens(Want {
            model: "anthropic.claude-sonnet-4-6",
            region: "us-east-2",
            class: TokenClass::CacheWrite1h,
            tier: Tier::Batch,
            global: false,
            long_context: false,
            tokens: "1000000",
        })
    );
    assert_eq!(
        classify(
            &listing(
                "EU-MP:EU_input_tokens_long_ctx_global_standard-Units",
                "0.25",
                OPUS47
            ),
            &m
        ),
        tokens(Want {
            model: "anthropic.claude-opus-4-7",
            region: "eu-west-1",
            class: TokenClass::Input,
            tier: Tier::Standard,
            global: true,
            long_context: true,
            tokens: "250000",
        })
    );
    assert_eq!(
        classify(
            &listing("APS3-MP:APS3_cache_read_tokens_flex-Units", "3", OPUS47),
            &m
        ),
        tokens(Want {
            model: "anthropic.claude-opus-4-7",
            region: "ap-south-1",
            class: TokenClass::CacheRead,
            tier: Tier::Flex,
            global: false,
            long_context: false,
            tokens: "3000000",
        })
    );
}

#[test]
fn the_line_s_own_region_and_unit_win() {
    let m = mapping();
    let mut l = listing("USE1-MP:USE1_InputTokenCount-Units", "7", SONNET46);
    l.region_code = Some("us-west-2".into());
    l.pricing_unit = Some("1K tokens".into());
    let Billed::Tokens { region, tokens, .. } = classify(&l, &m) else {
        panic!()
    };
    assert_eq!((region.as_str(), tokens), ("us-west-2", d("7000")));
    // `Units` says nothing: the grammar decides
    l.pricing_unit = Some("Units".into());
    let Billed::Tokens { tokens, .. } = classify(&l, &m) else {
        panic!()
    };
    assert_eq!(tokens, d("7000000"));
    let mut n = line("USE1-NovaPro-input-tokens", "0.003");
    n.pricing_unit = Some("1M tokens".into());
    let Billed::Tokens { tokens, .. } = classify(&n, &m) else {
        panic!()
    };
    assert_eq!(tokens, d("3000"));
}

#[test]
fn unit_spellings() {
    for (text, want) in [
        ("1K tokens", Unit::Tokens(THOUSAND)),
        ("1K Tokens", Unit::Tokens(THOUSAND)),
        ("1,000 tokens", Unit::Tokens(THOUSAND)),
        ("Thousand Tokens", Unit::Tokens(THOUSAND)),
        ("1M tokens", Unit::Tokens(MILLION)),
        ("1 million tokens", Unit::Tokens(MILLION)),
        ("Million Tokens", Unit::Tokens(MILLION)),
        ("1,000,000 Tokens", Unit::Tokens(MILLION)),
        ("Units", Unit::Opaque),
        ("Images", Unit::Other),
        ("tokens", Unit::Other),
        ("10K tokens", Unit::Other),
    ] {
        assert_eq!(unit(text), want, "{text}");
    }
}

#[test]
fn what_is_not_tokens_says_why() {
    let m = mapping();
    assert_eq!(
        classify(&line("USE1-NovaCanvas-T2I-1024-Standard", "1"), &m),
        Billed::UnknownUsageType
    );
    assert_eq!(
        classify(
            &line("USE1-openai.gpt-oss-120b-mantle-input-tokens-standard", "1"),
            &m
        ),
        Billed::Excluded(crate::pricelist::usagetype::Exclusion::Mantle.reason())
    );
    assert_eq!(
        classify(
            &listing(
                "USE1-MP:USE1_InputTokenCount-Units",
                "1",
                "Acme Chat (Amazon Bedrock Edition)"
            ),
            &m
        ),
        Billed::UnmappedModel("servicename \"Acme Chat (Amazon Bedrock Edition)\"".into())
    );
    // a candidate entry is never applied
    assert_eq!(
        classify(
            &listing(
                "USE1-MP:USE1_InputTokenCount-Units",
                "1",
                "Claude Haiku 4.5 (Amazon Bedrock Edition)"
            ),
            &m
        ),
        Billed::UnmappedModel("servicename \"Claude Haiku 4.5 (Amazon Bedrock Edition)\"".into())
    );
    assert_eq!(
        classify(&line("USE1-NovaLite-input-tokens", "1"), &m),
        Billed::UnmappedModel("usagetype name \"NovaLite\"".into())
    );
    assert_eq!(
        classify(&line("USE1-MP:USE1_InputTokenCount-Units", "1"), &m),
        Billed::UnmappedModel("servicename (none on the line)".into())
    );
    assert_eq!(
        classify(&line("XYZ9-NovaPro-input-tokens", "1"), &m),
        Billed::UnknownRegion("XYZ9".into())
    );
    let mut odd_unit = line("USE1-NovaPro-input-tokens", "1");
    odd_unit.pricing_unit = Some("Images".into());
    assert_eq!(
        classify(&odd_unit, &m),
        Billed::UnknownUnit("Images".into())
    );
}

#[test]
fn only_usage_lines_are_tokens() {
    let m = mapping();
    for kind in [
        "Credit",
        "Discount",
        "EdpDiscount",
        "SavingsPlanNegation",
        "Tax",
        "Refund",
        "Fee",
    ] {
        let l = BillLine {
            line_item_type: kind.into(),
            ..line("USE1-NovaPro-input-tokens", "1")
        };
        assert_eq!(classify(&l, &m), Billed::OtherLineType(kind.into()));
    }
}

#[test]
fn the_bundled_mapping_classifies_real_names() {
    let m = Mapping::bundled();
    let Billed::Tokens { model, .. } = classify(
        &listing("USE1-MP:USE1_InputTokenCount-Units", "1", SONNET46),
        &m,
    ) else {
        panic!()
    };
    assert_eq!(model, "anthropic.claude-sonnet-4-6");
    let Billed::Tokens { model, .. } = classify(&line("APN1-NovaPro-input-tokens", "1"), &m) else {
        panic!()
    };
    assert_eq!(model, "amazon.nova-pro-v1:0");
}
