use std::str::FromStr;

use super::*;
use crate::account::PricedCall;
use crate::attribution::Attribution;
use crate::bedrock;
use crate::pricing::{ratecard, Aliases, RateCards};
use crate::record::Record;

const CARD: &str = include_str!("../../tests/data/ratecard.toml");

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn line(ts: &str, model: &str, arn: Option<&str>, input: u64, output: u64) -> String {
    let identity = arn.map_or(String::new(), |a| format!(r#""identity":{{"arn":"{a}"}},"#));
    format!(
        r#"{{"timestamp":"{ts}","region":"us-east-1","requestId":"r",{identity}"modelId":"{model}","input":{{"inputTokenCount":{input}}},"output":{{"outputTokenCount":{output}}}}}"#
    )
}

/// Accumulates the records as the pipeline does, then finishes keeping every day.
fn totals(records: &[Record<'_>]) -> DailyTotals {
    let cards = RateCards::new(vec![ratecard::parse(CARD, "card.toml").unwrap()]).unwrap();
    let (aliases, attribution) = (Aliases::default(), Attribution::default());
    let calls: Vec<PricedCall<'_>> = records
        .iter()
        .map(|r| PricedCall::new(&cards, &aliases, &attribution, r, &[]))
        .collect();
    let mut batch = Batch::default();
    for c in &calls {
        batch.add(c);
    }
    batch.finish(i32::MIN).to_totals()
}

fn parse(lines: &[String]) -> Vec<Record<'_>> {
    lines
        .iter()
        .map(|l| bedrock::parse(l.as_bytes()).unwrap())
        .collect()
}

fn usage<'a>(
    t: &'a DailyTotals,
    day: &str,
    class: TokenClass,
) -> Vec<(&'a UsageKey, &'a UsageTotal)> {
    t.usage
        .iter()
        .filter(|(k, _)| k.day == day && k.class == class)
        .collect()
}

const NOVA: &str = "amazon.nova-micro-v1:0";
const ALICE: &str = "arn:aws:iam::1:user/alice";

#[test]
fn a_call_lands_on_the_utc_day_of_its_timestamp() {
    let lines = [
        line("2026-11-01T23:59:59Z", NOVA, Some(ALICE), 1000, 10),
        line("2026-11-02T00:00:00Z", NOVA, Some(ALICE), 2000, 0),
        // 01:30 at +02:00 is 23:30 UTC the day before
        line("2026-11-03T01:30:00+02:00", NOVA, Some(ALICE), 4000, 0),
    ];
    let t = totals(&parse(&lines));
    let input = |day| usage(&t, day, TokenClass::Input);
    assert_eq!(input("2026-11-01")[0].1.tokens, 1000);
    assert_eq!(input("2026-11-01")[0].1.cost, d("0.000035"));
    assert_eq!(input("2026-11-02")[0].1.tokens, 6000);
    assert_eq!(input("2026-11-02")[0].1.cost, d("0.00021"));
    assert_eq!(usage(&t, "2026-11-01", TokenClass::Output)[0].1.tokens, 10);
    assert!(
        usage(&t, "2026-11-02", TokenClass::Output).is_empty(),
        "no tokens and no cost: no row"
    );
    let k = input("2026-11-01")[0].0;
    assert_eq!((k.model.as_str(), k.region.as_str()), (NOVA, "us-east-1"));
    assert_eq!(
        (k.scope, k.tier, k.long_context),
        (Scope::InRegion, Tier::Standard, false)
    );
    let p = |day: &str| {
        t.principals[&PrincipalKey {
            day: day.into(),
            principal: ALICE.into(),
        }]
    };
    assert_eq!(p("2026-11-01").calls, 1);
    assert_eq!(p("2026-11-01").cost, d("0.0000364"));
    assert_eq!(p("2026-11-02").calls, 2);
    assert_eq!(p("2026-11-02").cost, d("0.00021"));
}

#[test]
fn day_numbers_split_at_midnight_by_division() {
    assert_eq!(day_of(0), 0);
    assert_eq!(day_of(86_399), 0);
    assert_eq!(day_of(86_400), 1);
    assert_eq!(day_of(-1), -1, "1969-12-31, not day 0");
    assert_eq!(format_day(day_of(-1)), "1969-12-31");
    assert_eq!(format_day(day_of(1_793_491_200)), "2026-11-01");
}

#[test]
fn absurd_timestamps_are_clamped_to_four_digit_years_without_panic() {
    assert_eq!(MIN_DAY, crate::timefmt::days_from_civil(0, 1, 1));
    assert_eq!(MAX_DAY, crate::timefmt::days_from_civil(9999, 12, 31));
    assert_eq!(format_day(day_of(i64::MIN)), "0000-01-01");
    assert_eq!(format_day(day_of(i64::MAX)), "9999-12-31");
    let lines = [line("2026-11-01T00:00:00Z", NOVA, Some(ALICE), 5, 0)];
    let mut records = parse(&lines);
    records.push(records[0].clone());
    records.push(records[0].clone());
    records[0].timestamp = i64::MIN;
    records[1].timestamp = i64::MAX;
    records[2].timestamp = -1;
    let t = totals(&records);
    let days: Vec<&str> = t.principals.keys().map(|k| k.day.as_str()).collect();
    assert_eq!(days, ["0000-01-01", "1969-12-31", "9999-12-31"]);
    assert!(t.usage.values().all(|u| u.tokens == 5));
    // no card is in force before 2024: unpriced, tokens counted; the card still is in 9999
    let costs: Vec<Decimal> = t.usage.values().map(|u| u.cost).collect();
    assert_eq!(costs, [Decimal::ZERO, Decimal::ZERO, d("0.000000175")]);
    assert_eq!(first_kept_day(i64::MIN, u32::MAX), MIN_DAY as i32);
    assert_eq!(first_kept_day(i64::MAX, 0), MAX_DAY as i32);
}

#[test]
fn unpriced_calls_count_their_tokens_under_the_model_id_as_logged() {
    let lines = [
        line("2026-11-02T10:00:00Z", "eu.acme.mystery-v1:0", None, 700, 3),
        line("2026-11-02T11:00:00Z", "acme.mystery-v1:0", None, 300, 0),
    ];
    let t = totals(&parse(&lines));
    let rows = usage(&t, "2026-11-02", TokenClass::Input);
    assert_eq!(rows.len(), 2);
    let (k, v) = rows[0];
    assert_eq!(k.model, "acme.mystery-v1:0");
    assert_eq!(
        (k.scope, v.tokens, v.cost),
        (Scope::InRegion, 300, Decimal::ZERO)
    );
    let (k, v) = rows[1];
    assert_eq!(k.model, "eu.acme.mystery-v1:0", "as logged, prefix and all");
    assert_eq!((k.scope, v.tokens), (Scope::Geo, 700), "scope as resolved");
    let p = t.principals[&PrincipalKey {
        day: "2026-11-02".into(),
        principal: String::new(),
    }];
    assert_eq!(
        (p.calls, p.cost),
        (2, Decimal::ZERO),
        "no ARN: principal \"\""
    );
}

#[test]
fn a_failed_call_without_tokens_is_a_call_with_no_usage() {
    let failed = line("2026-11-02T10:00:00Z", NOVA, Some(ALICE), 0, 0).replace(
        r#""modelId""#,
        r#""errorCode":"ThrottlingException","modelId""#,
    );
    let t = totals(&parse(&[failed]));
    assert!(t.usage.is_empty());
    assert_eq!(t.principals.values().next().unwrap().calls, 1);
}

#[test]
fn priced_calls_keep_scope_tier_and_long_context() {
    let sonnet = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";
    let lines = [
        line("2026-11-02T10:00:00Z", sonnet, Some(ALICE), 250_000, 0),
        line("2026-11-02T10:00:00Z", sonnet, Some(ALICE), 1_000, 0),
    ];
    let t = totals(&parse(&lines));
    let rows = usage(&t, "2026-11-02", TokenClass::Input);
    assert_eq!(rows.len(), 2, "one row per long-context band");
    let (short, long) = (rows[0], rows[1]);
    assert_eq!(short.0.model, "anthropic.claude-sonnet-4-5-20250929-v1:0");
    assert_eq!(short.0.scope, Scope::Global);
    assert!(!short.0.long_context && long.0.long_context);
    assert_eq!(short.1.cost, d("0.003"));
    assert_eq!(long.1.cost, d("1.5"));
}

#[test]
fn days_before_the_retention_are_left_out() {
    let lines = [
        line("2026-11-01T12:00:00Z", NOVA, Some(ALICE), 1, 0),
        line("2026-11-02T12:00:00Z", NOVA, Some(ALICE), 1, 0),
    ];
    let records = parse(&lines);
    let cards = RateCards::new(vec![ratecard::parse(CARD, "card.toml").unwrap()]).unwrap();
    let (aliases, attribution) = (Aliases::default(), Attribution::default());
    let mut batch = Batch::default();
    let calls: Vec<_> = records
        .iter()
        .map(|r| PricedCall::new(&cards, &aliases, &attribution, r, &[]))
        .collect();
    calls.iter().for_each(|c| batch.add(c));
    // now is 2026-11-03; one day of retention keeps 2026-11-02 onwards
    let first = first_kept_day(1_793_664_000 + 3600, 1);
    assert_eq!(format_day(first), "2026-11-02");
    let t = batch.finish(first).to_totals();
    assert!(t.usage.keys().all(|k| k.day == "2026-11-02"));
    assert_eq!(t.principals.len(), 1);
    assert_eq!(t.principals.keys().next().unwrap().day, "2026-11-02");
}

#[test]
fn deltas_keep_their_rows_and_add_them_up_by_key() {
    let mut deltas = Deltas::default();
    let day = parse_day("2026-11-02").unwrap();
    for (principal, units) in [("a", 1), ("", 2), ("a", 40)] {
        let calls = 1;
        deltas.push_principal(PrincipalDelta {
            day,
            principal,
            calls,
            units,
        });
    }
    assert_eq!(deltas.principals().len(), 3, "rows as pushed");
    assert_eq!(deltas.principals().nth(2).unwrap().units, 40);
    let t = deltas.to_totals();
    let a = t.principals[&PrincipalKey {
        day: "2026-11-02".into(),
        principal: "a".into(),
    }];
    assert_eq!((a.calls, a.cost), (2, d("0.000000000000000041")));
    assert_eq!(t.principals.len(), 2);
    assert!(!deltas.is_empty() && Deltas::default().is_empty());
    assert_eq!(parse_day("9999-12-31"), Some(MAX_DAY as i32));
    assert_eq!(parse_day("2026-02-30"), None);
}
