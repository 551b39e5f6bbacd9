use std::collections::BTreeMap;

use super::*;
use crate::pricelist::mapping;
use crate::pricelist::offer::OfferMeta;

fn meta(code: &str) -> OfferMeta {
    OfferMeta {
        file: format!("{code}.json"),
        offer_code: code.into(),
        version: "20260901205051".into(),
        publication_date: "2026-09-01T20:50:51Z".into(),
        sha256: "00".into(),
    }
}

fn item(sku: &str, usagetype: &str, unit: &str, usd: &str) -> PriceItem {
    let mut attributes = BTreeMap::new();
    attributes.insert("usagetype".to_string(), usagetype.to_string());
    attributes.insert("regioncode".to_string(), region_of(usagetype).to_string());
    PriceItem {
        sku: sku.into(),
        term_type: "OnDemand".into(),
        effective_date: "2026-09-01T00:00:00Z".into(),
        description: if unit == "1K tokens" {
            String::new()
        } else {
            "AWS Marketplace software usage|x|Million Input Tokens".into()
        },
        begin_range: "0".into(),
        end_range: "Inf".into(),
        unit: unit.into(),
        usd: Some(usd.into()),
        attributes,
        ..Default::default()
    }
}

fn region_of(ut: &str) -> &'static str {
    match ut.split('-').next() {
        Some("APN1") => "ap-northeast-1",
        Some("USW2") => "us-west-2",
        _ => "us-east-1",
    }
}

fn listing(mut i: PriceItem, servicename: &str) -> PriceItem {
    i.attributes
        .insert("servicename".into(), servicename.into());
    i
}

const S46: &str = "Claude Sonnet 4.6 (Amazon Bedrock Edition)";

fn run(offers: Vec<(&str, Vec<PriceItem>)>, m: &Mapping) -> Imported {
    import(
        offers
            .into_iter()
            .map(|(code, items)| Offer {
                meta: meta(code),
                items,
            })
            .collect(),
        m,
    )
}

fn prices(r: &Row) -> Vec<(TokenClass, String)> {
    r.prices
        .iter()
        .map(|(c, p)| (*c, p.per_1m.to_string()))
        .collect()
}

#[test]
fn units_are_converted_exactly_and_rows_are_keyed_by_region_scope_and_tier() {
    let imp = run(
        vec![
            (
                "AmazonBedrock",
                vec![
                    item(
                        "N1",
                        "APN1-NovaPro-input-tokens",
                        "1K tokens",
                        "0.0009600000",
                    ),
                    item(
                        "N2",
                        "APN1-NovaPro-output-tokens",
                        "1K tokens",
                        "0.0038400000",
                    ),
                    item(
                        "N3",
                        "APN1-NovaPro-input-tokens-batch",
                        "1K tokens",
                        "0.0004800000",
                    ),
                ],
            ),
            (
                "AmazonBedrockFoundationModels",
                vec![
                    listing(
                        item(
                            "S1",
                            "USE1-MP:USE1_InputTokenCount-Units",
                            "1M tokens",
                            "3.3000000000",
                        ),
                        S46,
                    ),
                    listing(
                        item(
                            "S2",
                            "USE1-MP:USE1_InputTokenCount_Global-Units",
                            "Units",
                            "3.0000000000",
                        ),
                        S46,
                    ),
                ],
            ),
        ],
        &Mapping::bundled(),
    );
    assert!(
        !imp.report.has_gaps(),
        "{}",
        crate::pricelist::report::render(&imp)
    );
    let rows: Vec<_> = imp
        .rows
        .iter()
        .map(|r| {
            (
                r.model.as_str(),
                r.region.as_str(),
                r.global,
                r.tier,
                prices(r),
            )
        })
        .collect();
    use TokenClass::*;
    assert_eq!(
        rows,
        vec![
            (
                "amazon.nova-pro-v1:0",
                "ap-northeast-1",
                false,
                Tier::Standard,
                vec![(Input, "0.96".into()), (Output, "3.84".into())]
            ),
            (
                "amazon.nova-pro-v1:0",
                "ap-northeast-1",
                false,
                Tier::Batch,
                vec![(Input, "0.48".into())]
            ),
            (
                "anthropic.claude-sonnet-4-6",
                "us-east-1",
                false,
                Tier::Standard,
                vec![(Input, "3.3".into())]
            ),
            (
                "anthropic.claude-sonnet-4-6",
                "us-east-1",
                true,
                Tier::Standard,
                vec![(Input, "3".into())]
            ),
        ]
    );
    let src = &imp.rows[0].prices[&Input].source;
    assert_eq!(
        (
            src.sku.as_str(),
            src.usagetype.as_str(),
            src.unit.as_str(),
            src.unit_price.as_str()
        ),
        (
            "N1",
            "APN1-NovaPro-input-tokens",
            "1K tokens",
            "0.0009600000"
        )
    );
    assert_eq!(imp.offers[src.offer].offer_code, "AmazonBedrock");
    assert_eq!(imp.newest_effective_date().as_deref(), Some("2026-09-01"));
    assert_eq!(imp.models["amazon.nova-pro-v1:0"], "Amazon Nova Pro");
}

#[test]
fn unclear_units_are_reported_never_guessed() {
    let mut contradicts = item("U3", "USE1-NovaPro-output-tokens", "1K tokens", "0.0032");
    contradicts.description = "per Million tokens".into();
    let mut units = item("U2", "USE1-NovaPro-input-tokens", "Units", "0.8");
    units.description = "input tokens".into();
    let imp = run(
        vec![(
            "AmazonBedrock",
            vec![
                item("U1", "USE1-NovaPro-input-tokens", "1K characters", "0.1"),
                units,
                contradicts,
            ],
        )],
        &Mapping::bundled(),
    );
    assert!(imp.rows.is_empty());
    let p = &imp.report.unit_problems;
    assert_eq!(p.len(), 3, "{p:#?}");
    assert!(
        p[0].contains("SKU U1") && p[0].contains("unit \"1K characters\""),
        "{}",
        p[0]
    );
    assert!(
        p[1].contains("SKU U2") && p[1].contains("unit \"Units\""),
        "{}",
        p[1]
    );
    assert!(
        p[2].contains("SKU U3") && p[2].contains("per Million tokens"),
        "{}",
        p[2]
    );
}

#[test]
fn unmapped_unknown_and_excluded_items_are_each_reported() {
    let mut reserved = item("R1", "USE1-NovaPro-input-tokens", "1K tokens", "1");
    reserved.term_type = "Reserved".into();
    let mut display = item("X2", "USE1-AcmeChat-output-tokens", "1K tokens", "0.001");
    display
        .attributes
        .insert("model".into(), "Acme Chat".into());
    let imp = run(
        vec![
            (
                "AmazonBedrock",
                vec![
                    item("X1", "USE1-AcmeChat-input-tokens", "1K tokens", "0.001"),
                    display,
                    item(
                        "K1",
                        "USE1-NovaPro-input-tokens-hyperspeed",
                        "1K tokens",
                        "0.001",
                    ),
                    item("I1", "USE1-NovaCanvas-T2I-1024-Standard", "Images", "0.04"),
                    item(
                        "M1",
                        "USE1-openai.gpt-oss-120b-mantle-input-tokens-standard",
                        "1K tokens",
                        "0.00015",
                    ),
                    reserved,
                ],
            ),
            (
                "AmazonBedrockFoundationModels",
                vec![
                    listing(
                        item(
                            "O1",
                            "USE1-MP:USE1_input_tokens_global_standard-Units",
                            "1M tokens",
                            "5",
                        ),
                        "Claude Opus 4.7 (Amazon Bedrock Edition)",
                    ),
                    item(
                        "O2",
                        "USE1-MP:USE1_output_tokens_global_standard-Units",
                        "1M tokens",
                        "25",
                    ),
                    listing(
                        item(
                            "T1",
                            "USE1-MP:USE1_Reserved_1Month_InputTPM_Global-Units",
                            "1M TPM Hour",
                            "9",
                        ),
                        S46,
                    ),
                ],
            ),
        ],
        &Mapping::bundled(),
    );
    let r = &imp.report;
    assert!(imp.rows.is_empty());
    assert!(r.has_gaps());
    let acme = &r.unmapped[&(
        "AmazonBedrock".to_string(),
        mapping::Key::UsagetypeName("AcmeChat".into()),
    )];
    assert_eq!(acme.skus.len(), 2);
    assert_eq!(acme.display.as_deref(), Some("Acme Chat"));
    assert_eq!(acme.candidate, None);
    let opus = &r.unmapped[&(
        "AmazonBedrockFoundationModels".to_string(),
        mapping::Key::Servicename("Claude Opus 4.7 (Amazon Bedrock Edition)".into()),
    )];
    assert_eq!(
        opus.candidate.as_deref(),
        Some("anthropic.claude-opus-4-7"),
        "a candidate entry is shown, not applied"
    );
    assert_eq!(r.unknown.len(), 1);
    assert!(r.unknown.contains_key(&(
        "AmazonBedrock".to_string(),
        "USE1-NovaPro-input-tokens-hyperspeed".to_string()
    )));
    assert_eq!(r.excluded.len(), 4, "{:?}", r.excluded);
    assert_eq!(r.excluded["not priced per token (unit \"Images\")"], 1);
    assert!(r.excluded.keys().any(|k| k.starts_with("mantle")));
    assert!(r.excluded.keys().any(|k| k.starts_with("Reserved term")));
    assert!(r
        .excluded
        .keys()
        .any(|k| k.starts_with("reserved throughput")));
    assert!(
        r.problems
            .iter()
            .any(|p| p.contains("SKU O2") && p.contains("no servicename")),
        "{:?}",
        r.problems
    );
}

#[test]
fn items_that_disagree_are_left_out_and_duplicates_kept_once() {
    let imp = run(
        vec![(
            "AmazonBedrock",
            vec![
                item("A2", "USE1-NovaPro-input-tokens", "1K tokens", "0.0008"),
                item("A1", "USE1-NovaPro-input-tokens", "1K tokens", "0.00080"),
                item("B1", "USE1-NovaPro-output-tokens", "1K tokens", "0.0032"),
                item("B2", "USE1-NovaPro-output-tokens", "1K tokens", "0.0033"),
            ],
        )],
        &Mapping::bundled(),
    );
    assert_eq!(imp.report.duplicates, 1);
    assert_eq!(imp.rows.len(), 1);
    assert_eq!(
        prices(&imp.rows[0]),
        vec![(TokenClass::Input, "0.8".to_string())]
    );
    assert_eq!(
        imp.rows[0].prices[&TokenClass::Input].source.sku,
        "A1",
        "the lowest SKU, whatever the order"
    );
    let p = &imp.report.problems;
    assert!(
        p.len() == 1
            && p[0].contains("output: items disagree")
            && p[0].contains("B1 = 3.2")
            && p[0].contains("B2 = 3.3"),
        "{p:?}"
    );
}

#[test]
fn long_context_prices_need_a_threshold_and_a_complete_band() {
    let sonnet4 = |sku: &str, what: &str, usd: &str| {
        item(sku, &format!("USE1-Claude4Sonnet-{what}"), "1K tokens", usd)
    };
    let imp = run(
        vec![(
            "AmazonBedrockService",
            vec![
                sonnet4("G1", "input-tokens-cross-region-global", "0.003"),
                sonnet4("G2", "output-tokens-cross-region-global", "0.015"),
                sonnet4(
                    "G3",
                    "cache-read-input-token-count-cross-region-global",
                    "0.0003",
                ),
                sonnet4(
                    "L1",
                    "input-tokens-long-context-cross-region-global",
                    "0.006",
                ),
                sonnet4(
                    "L2",
                    "output-tokens-long-context-cross-region-global",
                    "0.0225",
                ),
                // a band without base prices
                item(
                    "W1",
                    "USW2-Claude4Sonnet-input-tokens-long-context-cross-region-global",
                    "1K tokens",
                    "0.006",
                ),
            ],
        )],
        &Mapping::bundled(),
    );
    assert_eq!(imp.rows.len(), 1, "{:?}", imp.rows);
    let row = &imp.rows[0];
    assert_eq!((row.region.as_str(), row.global), ("us-east-1", true));
    // the band has no cache-read price, so the row does not price cache reads either
    assert_eq!(
        prices(row),
        vec![
            (TokenClass::Input, "3".into()),
            (TokenClass::Output, "15".into())
        ]
    );
    let (above, band) = row.long_context.as_ref().unwrap();
    assert_eq!(*above, 200_000);
    assert_eq!(band[&TokenClass::Output].per_1m.to_string(), "22.5");
    let p = imp.report.problems.join("\n");
    assert!(
        p.contains("us-east-1 global standard: the long-context band has no cache_read price"),
        "{p}"
    );
    assert!(
        p.contains("us-west-2 global standard: long-context prices without base prices"),
        "{p}"
    );

    let m = mapping::parse(
        "[[models]]\nservicename = \"O\"\nid = \"anthropic.claude-opus-4-7\"\nname = \"Opus\"\nreviewed = true\nevidence = \"test\"\n",
        "m.toml",
    )
    .unwrap();
    let imp = run(
        vec![(
            "AmazonBedrockFoundationModels",
            vec![
                listing(
                    item(
                        "O1",
                        "USE1-MP:USE1_input_tokens_global_standard-Units",
                        "1M tokens",
                        "5",
                    ),
                    "O",
                ),
                listing(
                    item(
                        "O2",
                        "USE1-MP:USE1_input_tokens_long_ctx_global_standard-Units",
                        "1M tokens",
                        "10",
                    ),
                    "O",
                ),
            ],
        )],
        &m,
    );
    assert_eq!(imp.rows.len(), 1);
    assert!(imp.rows[0].long_context.is_none());
    assert!(imp.report.problems[0].contains("anthropic.claude-opus-4-7: long-context prices (USE1-MP:USE1_input_tokens_long_ctx_global_standard-Units) left out: the Price List gives no threshold"), "{:?}", imp.report.problems);
}

#[test]
fn prices_without_a_region_a_flat_range_or_usd_are_reported() {
    let mut no_region = item("P1", "USE1-NovaPro-input-tokens", "1K tokens", "0.0008");
    no_region.attributes.remove("regioncode");
    let mut tiered = item("P2", "USE1-NovaPro-input-tokens", "1K tokens", "0.0008");
    tiered.begin_range = "1000000".into();
    let mut eur = item("P3", "USE1-NovaPro-input-tokens", "1K tokens", "0.0008");
    eur.usd = None;
    eur.other_currencies = vec!["EUR".into()];
    let fine = item(
        "P4",
        "USE1-NovaPro-output-tokens",
        "1K tokens",
        "0.0000000000000001",
    );
    let imp = run(
        vec![("AmazonBedrock", vec![no_region, tiered, eur, fine])],
        &Mapping::bundled(),
    );
    assert!(imp.rows.is_empty());
    let p = imp.report.problems.join("\n");
    assert!(
        p.contains("SKU P1 (USE1-NovaPro-input-tokens): regionCode \"\" is not an AWS region"),
        "{p}"
    );
    assert!(
        p.contains("SKU P2 (USE1-NovaPro-input-tokens): priced from 1000000 to Inf"),
        "{p}"
    );
    assert!(
        p.contains("SKU P3 (USE1-NovaPro-input-tokens): no USD price (currencies: EUR)"),
        "{p}"
    );
    assert!(p.contains("SKU P4 (USE1-NovaPro-output-tokens): 0.0000000000000001 per 1K tokens is 0.0000000000001 per 1M tokens, more than 10 decimals"), "{p}");
}

#[test]
fn the_written_card_is_valid_deterministic_and_cites_every_price() {
    let items = || {
        vec![
            item(
                "N3",
                "APN1-NovaPro-input-tokens-batch",
                "1K tokens",
                "0.0004800000",
            ),
            item(
                "N1",
                "APN1-NovaPro-input-tokens",
                "1K tokens",
                "0.0009600000",
            ),
            item(
                "N2",
                "APN1-NovaPro-output-tokens",
                "1K tokens",
                "0.0038400000",
            ),
            item(
                "G1",
                "USE1-Claude4Sonnet-input-tokens-cross-region-global",
                "1K tokens",
                "0.003",
            ),
            item(
                "L1",
                "USE1-Claude4Sonnet-input-tokens-long-context-cross-region-global",
                "1K tokens",
                "0.006",
            ),
        ]
    };
    let header = crate::pricelist::card::Header {
        version: "pl-1".into(),
        effective_from: "2026-09-01".into(),
        review_by: Some("2026-12-01".into()),
    };
    let a = crate::pricelist::card::render(
        &run(vec![("AmazonBedrock", items())], &Mapping::bundled()),
        &header,
    );
    let mut reversed = items();
    reversed.reverse();
    let b = crate::pricelist::card::render(
        &run(vec![("AmazonBedrock", reversed)], &Mapping::bundled()),
        &header,
    );
    assert_eq!(a, b, "the same prices give the same bytes");
    let card =
        crate::pricing::ratecard::parse(&a, "imported.toml").unwrap_or_else(|e| panic!("{e}\n{a}"));
    assert_eq!(card.version, "pl-1");
    let nova = card
        .lookup(
            "amazon.nova-pro-v1:0",
            "ap-northeast-1",
            crate::pricing::Scope::Geo,
            Tier::Batch,
        )
        .unwrap();
    assert_eq!(
        nova.prices.get(TokenClass::Input).unwrap().to_string(),
        "0.48"
    );
    assert_eq!(nova.provenance.len(), 1);
    assert_eq!(nova.provenance[0].sku, "N3");
    assert_eq!(
        nova.provenance[0].unit_price.as_deref(),
        Some("0.0004800000")
    );
    let sonnet = card
        .lookup(
            "anthropic.claude-sonnet-4-20250514-v1:0",
            "us-east-1",
            crate::pricing::Scope::Global,
            Tier::Standard,
        )
        .unwrap();
    let lc = sonnet.long_context.as_ref().unwrap();
    assert_eq!(
        (lc.above_tokens, lc.provenance[0].sku.as_str()),
        (200_000, "L1")
    );
    assert!(
        card.lookup(
            "amazon.nova-pro-v1:0",
            "us-east-1",
            crate::pricing::Scope::Geo,
            Tier::Batch
        )
        .is_err(),
        "no \"*\" rows"
    );
}
