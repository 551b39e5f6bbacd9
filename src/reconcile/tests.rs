use std::str::FromStr;

use rust_decimal::Decimal;

use super::*;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

const SONNET: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const ALICE: &str = "arn:aws:iam::123456789012:user/alice";

fn tokens(model: &str, class: TokenClass, n: &str) -> BillItem {
    BillItem::Tokens {
        model: model.into(),
        class,
        tokens: d(n),
    }
}

/// 1M input tokens at $3 and 100k output at $15 on one day, estimated and billed.
fn matching() -> Reconciler {
    let mut r = Reconciler::new();
    r.estimate_usage("2026-11-02", SONNET, TokenClass::Input, 1_000_000, d("3"));
    r.estimate_usage("2026-11-02", SONNET, TokenClass::Output, 100_000, d("1.5"));
    r.estimate_principal("2026-11-02", ALICE, 10, d("4.5"));
    let ut = "USE1-MP:USE1_InputTokenCount-Units";
    r.bill(
        "2026-11-02",
        ut,
        Some(ALICE),
        d("3"),
        tokens(SONNET, TokenClass::Input, "1000000"),
    );
    let ut = "USE1-MP:USE1_OutputTokenCount-Units";
    r.bill(
        "2026-11-02",
        ut,
        Some(ALICE),
        d("1.5"),
        tokens(SONNET, TokenClass::Output, "100000"),
    );
    r
}

#[test]
fn a_matching_bill_has_zero_drift() {
    let rep = matching().report(&Window::default(), d("0.01"));
    assert_eq!(rep.days, Some(("2026-11-02".into(), "2026-11-02".into())));
    assert_eq!(rep.models.len(), 2);
    for m in &rep.models {
        assert_eq!(m.drift_usd, Decimal::ZERO);
        assert_eq!(m.drift_ratio, Some(Decimal::ZERO));
        assert_eq!(m.finding, Finding::Match);
    }
    assert_eq!(rep.total.estimated.usd, d("4.5"));
    assert_eq!(rep.total.billed.usd, d("4.5"));
    assert_eq!(rep.principals.len(), 1);
    assert_eq!(rep.principals[0].drift_usd, Decimal::ZERO);
    assert_eq!(rep.principals[0].finding, Finding::Match);
    assert!(rep.over(d("0.01"), d("0.01")).is_empty());
}

#[test]
fn a_price_error_and_a_token_error_are_told_apart() {
    let mut r = Reconciler::new();
    // Price: same tokens, the bill charges 10% more (an in-region premium the card lacks).
    r.estimate_usage("2026-11-02", SONNET, TokenClass::Input, 1_000_000, d("3"));
    r.bill(
        "2026-11-02",
        "x",
        None,
        d("3.3"),
        tokens(SONNET, TokenClass::Input, "1000000"),
    );
    // Tokens: same price, the bill has 5% more tokens (calls that were not logged).
    r.estimate_usage("2026-11-02", SONNET, TokenClass::Output, 100_000, d("1.5"));
    r.bill(
        "2026-11-02",
        "y",
        None,
        d("1.575"),
        tokens(SONNET, TokenClass::Output, "105000"),
    );
    let rep = r.report(&Window::default(), d("0.01"));
    let input = &rep.models[0];
    assert_eq!(input.key.class, TokenClass::Input);
    assert_eq!(input.drift_usd, d("-0.3"));
    assert_eq!(input.drift_ratio, Some(d("-0.090909")));
    assert_eq!(input.token_drift_ratio, Some(Decimal::ZERO));
    assert_eq!(input.finding, Finding::Price);
    let output = &rep.models[1];
    assert_eq!(output.drift_usd, d("-0.075"));
    assert_eq!(output.token_drift_ratio, Some(d("-0.047619")));
    assert_eq!(output.finding, Finding::Tokens);
    assert_eq!(rep.total.drift_usd, d("-0.375"));
    let over = rep.over(d("0.01"), d("0.01"));
    assert_eq!(over.len(), 4, "{over:?}"); // total, two rows, the principal
}

#[test]
fn only_the_billed_days_are_compared() {
    let mut r = matching();
    // The estimate has the next day too; the bill does not cover it yet.
    r.estimate_usage("2026-11-03", SONNET, TokenClass::Input, 5, d("0.000015"));
    r.estimate_principal("2026-11-03", ALICE, 1, d("0.000015"));
    let rep = r.report(&Window::default(), d("0.01"));
    assert!(rep.models.iter().all(|m| m.key.day == "2026-11-02"));
    assert!(rep.principals.iter().all(|m| m.key.day == "2026-11-02"));
}

#[test]
fn one_sided_rows_are_named() {
    let mut r = matching();
    r.estimate_usage(
        "2026-11-02",
        "amazon.nova-pro-v1:0",
        TokenClass::Input,
        1000,
        d("0.0008"),
    );
    r.bill(
        "2026-11-02",
        "z",
        None,
        d("2"),
        tokens("meta.llama3-3-70b-instruct-v1:0", TokenClass::Input, "1000"),
    );
    let rep = r.report(&Window::default(), d("0.01"));
    let find = |m: &str| rep.models.iter().find(|r| r.key.model == m).unwrap();
    assert_eq!(find("amazon.nova-pro-v1:0").finding, Finding::NotBilled);
    assert_eq!(find("amazon.nova-pro-v1:0").drift_ratio, None);
    assert_eq!(
        find("meta.llama3-3-70b-instruct-v1:0").finding,
        Finding::NotEstimated
    );
    let nobody = rep
        .principals
        .iter()
        .find(|p| p.key.principal.is_empty())
        .unwrap();
    assert_eq!(nobody.finding, Finding::NotEstimated);
    // Under min_usd, an estimate the bill lacks is noise; over it, it fails the check.
    let over = rep.over(d("0.01"), d("0.01"));
    assert!(over.iter().any(|o| o.contains("llama")), "{over:?}");
    assert!(!over.iter().any(|o| o.contains("nova")), "{over:?}");
}

#[test]
fn lines_not_compared_are_listed_with_their_dollars() {
    let mut r = matching();
    r.bill(
        "2026-11-02",
        "USE1-Mystery-tokens",
        None,
        d("0.5"),
        BillItem::UnknownUsageType,
    );
    r.bill(
        "2026-11-02",
        "USE1-Mystery-tokens",
        None,
        d("0.25"),
        BillItem::UnknownUsageType,
    );
    r.bill(
        "2026-11-02",
        "u",
        None,
        d("1"),
        BillItem::UnmappedModel("servicename \"X\"".into()),
    );
    r.bill(
        "2026-11-02",
        "c",
        None,
        d("-4"),
        BillItem::OtherLineType("Credit".into()),
    );
    r.bill(
        "2026-11-02",
        "r",
        None,
        d("9"),
        BillItem::Excluded("reserved throughput".into()),
    );
    let rep = r.report(&Window::default(), d("0.01"));
    assert_eq!(
        rep.unknown_usage_types["USE1-Mystery-tokens"],
        Aside {
            lines: 2,
            usd: d("0.75")
        }
    );
    assert_eq!(rep.other_line_types["Credit"].usd, d("-4"));
    assert_eq!(rep.excluded.len(), 1);
    assert_eq!(rep.unmapped_models.len(), 1);
    // They do not move the compared totals.
    assert_eq!(rep.total.billed.usd, d("4.5"));
    for f in [Format::Table, Format::Csv, Format::Json] {
        let text = render(&rep, f);
        assert!(text.contains("USE1-Mystery-tokens"), "{f:?}: {text}");
        assert!(text.contains("Credit"), "{f:?}");
    }
}

#[test]
fn formats_keep_money_exact() {
    let mut r = Reconciler::new();
    r.estimate_usage("2026-11-02", SONNET, TokenClass::Input, 7, d("0.000021"));
    r.bill(
        "2026-11-02",
        "x",
        Some(ALICE),
        d("0.0000231"),
        tokens(SONNET, TokenClass::Input, "7"),
    );
    let rep = r.report(&Window::default(), d("0.01"));
    let json: serde_json::Value = serde_json::from_str(&render(&rep, Format::Json)).unwrap();
    let m = &json["models"][0];
    assert_eq!(m["estimated_usd"], "0.000021");
    assert_eq!(m["billed_usd"], "0.0000231");
    assert_eq!(m["drift_usd"], "-0.0000021");
    assert_eq!(m["drift_ratio"], "-0.090909");
    assert_eq!(m["finding"], "price");
    assert_eq!(json["principals"][0]["principal"], ALICE);
    assert_eq!(json["total"]["billed_usd"], "0.0000231");
    let csv = render(&rep, Format::Csv);
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("view,day,"));
    assert_eq!(
        lines.next().unwrap(),
        format!(
            "model,2026-11-02,{SONNET},input,7,7,0,0.000021,0.0000231,-0.0000021,-0.090909,price,"
        )
    );
    let table = render(&rep, Format::Table);
    assert!(table.contains("-9.09%"), "{table}");
}

#[test]
fn a_bill_with_nothing_to_compare_still_lists_what_was_left_out() {
    let mut r = Reconciler::new();
    r.bill(
        "2026-11-02",
        "USE1-NovaMicro-input-tokens",
        None,
        d("1"),
        BillItem::UnmappedModel("usagetype name \"NovaMicro\"".into()),
    );
    let rep = r.report(&Window::default(), d("0.01"));
    assert!(rep.days.is_none());
    assert_eq!(rep.unmapped_models.len(), 1);
    assert!(render(&rep, Format::Table).contains("NovaMicro"));
}

#[test]
fn an_empty_bill_says_so() {
    let rep = Reconciler::new().report(&Window::default(), d("0.01"));
    assert!(rep.days.is_none());
    assert!(render(&rep, Format::Table).contains("no Bedrock token usage"));
    assert!(rep.over(d("0.01"), d("0.01")).is_empty());
}

#[test]
fn the_daemon_view_sums_days_per_model_and_class() {
    let mut r = matching();
    r.estimate_usage("2026-11-03", SONNET, TokenClass::Input, 1_000_000, d("3"));
    r.bill(
        "2026-11-03",
        "x",
        None,
        d("3.3"),
        tokens(SONNET, TokenClass::Input, "1000000"),
    );
    let rep = r.report(&Window::default(), d("0.01"));
    let m = by_model(&rep);
    assert_eq!(m.len(), 2);
    let (e, b) = m[&(SONNET.to_string(), TokenClass::Input)];
    assert_eq!((e.usd, b.usd), (d("6"), d("6.3")));
    assert_eq!(drift_ratio(e.usd, b.usd), Some(d("-0.047619")));
}

#[test]
fn the_window_cuts_both_sides_and_skips_the_newest_days() {
    let mut r = Reconciler::new();
    for day in ["2026-11-01", "2026-11-02", "2026-11-03"] {
        r.estimate_usage(day, SONNET, TokenClass::Input, 1_000_000, d("3"));
        r.bill(
            day,
            "x",
            None,
            d("3"),
            tokens(SONNET, TokenClass::Input, "1000000"),
        );
        r.bill(day, "USE1-Odd", None, d("1"), BillItem::UnknownUsageType);
    }
    let w = Window {
        skip_recent_days: 1,
        ..Window::default()
    };
    let rep = r.report(&w, d("0.01"));
    assert_eq!(rep.days, Some(("2026-11-01".into(), "2026-11-02".into())));
    assert_eq!(rep.models.len(), 2);
    assert_eq!(rep.total.billed.usd, d("6"));
    assert_eq!(rep.unknown_usage_types["USE1-Odd"].lines, 2);

    let mut r = Reconciler::new();
    r.bill(
        "2026-11-01",
        "x",
        None,
        d("3"),
        tokens(SONNET, TokenClass::Input, "1"),
    );
    r.bill(
        "2026-11-02",
        "x",
        None,
        d("3"),
        tokens(SONNET, TokenClass::Input, "1"),
    );
    let w = Window {
        since: Some("2026-11-02".into()),
        ..Window::default()
    };
    let rep = r.report(&w, d("0.01"));
    assert_eq!(rep.days, Some(("2026-11-02".into(), "2026-11-02".into())));
    assert_eq!(rep.models.len(), 1);
    // Skipping every billed day leaves nothing to compare.
    let mut r = Reconciler::new();
    r.bill(
        "2026-11-01",
        "x",
        None,
        d("3"),
        tokens(SONNET, TokenClass::Input, "1"),
    );
    let w = Window {
        skip_recent_days: 1,
        ..Window::default()
    };
    assert!(r.report(&w, d("0.01")).days.is_none());
}
