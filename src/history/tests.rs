use super::*;
use crate::daily::{UsageKey, UsageTotal};
use crate::pricing::Scope;
use crate::record::{Tier, TokenClass};

/// 2026-11-23T12:00:00Z
const NOON: i64 = 1_795_435_200;

fn usd(s: &str) -> i128 {
    money::to_units(s.parse().unwrap(), USD_SCALE).unwrap()
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn spent(at: i64, user: &str, feature: &str, model: &str, amount: &str) -> Spent {
    Spent {
        at,
        user: user.into(),
        feature: feature.into(),
        model: model.into(),
        units: usd(amount),
    }
}

fn value_at(h: &History, dim: Dim, who: &str, res: Resolution, at: i64, now: i64) -> Decimal {
    let line = h.line(dim, who, res, now - 40 * 86_400, now).unwrap();
    let start = res.bucket(at) * res.seconds();
    line.iter()
        .find(|(t, _)| *t == start)
        .map_or(Decimal::ZERO, |p| p.1)
}

#[test]
fn spend_lands_in_the_bucket_of_the_record_time_at_every_resolution() {
    let mut h = History::new();
    let now = NOON + 3600;
    h.add(
        &spent(NOON + 34 * 60 + 56, "alice", "chat", "m", "1.5"),
        now,
    );
    h.add(
        &spent(NOON + 34 * 60 + 2, "alice", "chat", "m", "0.25"),
        now,
    );
    let minute = NOON + 34 * 60;
    assert_eq!(
        value_at(&h, Dim::Total, "", Resolution::Minute, minute, now),
        d("1.75")
    );
    assert_eq!(
        value_at(&h, Dim::User, "alice", Resolution::Minute, minute, now),
        d("1.75")
    );
    assert_eq!(
        value_at(&h, Dim::User, "alice", Resolution::Minute, minute - 60, now),
        d("0")
    );
    assert_eq!(
        value_at(&h, Dim::Feature, "chat", Resolution::Hour, NOON, now),
        d("1.75")
    );
    assert_eq!(
        value_at(&h, Dim::Model, "m", Resolution::Day, NOON, now),
        d("1.75")
    );
    // The line runs up to the current bucket, oldest first, one point a bucket.
    let line = h
        .line(Dim::Total, "", Resolution::Minute, NOON, now)
        .unwrap();
    assert_eq!(line.len(), 61);
    assert_eq!(line[0].0, NOON);
    assert!(line.windows(2).all(|w| w[1].0 - w[0].0 == 60));
}

#[test]
fn a_late_record_lands_in_its_own_bucket_while_in_range() {
    let mut h = History::new();
    let now = NOON;
    // three hours late: its own minute and hour, not the current ones
    h.add(&spent(NOON - 3 * 3600, "bob", "chat", "m", "2"), now);
    assert_eq!(
        value_at(&h, Dim::Total, "", Resolution::Minute, NOON - 3 * 3600, now),
        d("2")
    );
    assert_eq!(
        value_at(&h, Dim::Total, "", Resolution::Minute, NOON, now),
        d("0")
    );
    assert_eq!(
        value_at(&h, Dim::Total, "", Resolution::Hour, NOON - 3 * 3600, now),
        d("2")
    );
    // two days late: past the per-minute range, still in the hours and days
    h.add(&spent(NOON - 2 * 86_400, "bob", "chat", "m", "3"), now);
    let minutes: Decimal = (h.line(Dim::Total, "", Resolution::Minute, 0, now).unwrap())
        .iter()
        .map(|p| p.1)
        .sum();
    assert_eq!(minutes, d("2"), "48 h ago is out of the per-minute range");
    assert_eq!(
        value_at(&h, Dim::Total, "", Resolution::Hour, NOON - 2 * 86_400, now),
        d("3")
    );
    assert_eq!(
        value_at(&h, Dim::Total, "", Resolution::Day, NOON - 2 * 86_400, now),
        d("3")
    );
    // 40 days late: out of every range; 10 minutes ahead: past what a skewed clock may be
    h.add(&spent(NOON - 40 * 86_400, "bob", "chat", "m", "5"), now);
    h.add(&spent(NOON + 600, "bob", "chat", "m", "7"), now);
    let days: Decimal = (h
        .line(Dim::Total, "", Resolution::Day, 0, now + 86_400)
        .unwrap())
    .iter()
    .map(|p| p.1)
    .sum();
    assert_eq!(
        days,
        d("12"),
        "the 10-minutes-ahead call is in today's and the hour's bucket"
    );
    let minutes: Decimal = (h
        .line(Dim::Total, "", Resolution::Minute, 0, now + 600)
        .unwrap())
    .iter()
    .map(|p| p.1)
    .sum();
    assert_eq!(minutes, d("2"), "but not in a minute bucket");
}

#[test]
fn an_old_bucket_reads_as_zero_once_its_slot_is_reused() {
    let mut h = History::new();
    h.add(&spent(NOON, "a", "f", "m", "1"), NOON);
    // a day and an hour later the minute slot of NOON is in use for another minute
    let later = NOON + 86_400 + 3600;
    let slot_twin = NOON + (Resolution::Minute.slots() as i64) * 60;
    h.add(&spent(slot_twin, "a", "f", "m", "4"), later);
    let line = h
        .line(Dim::Total, "", Resolution::Minute, 0, later)
        .unwrap();
    assert_eq!(line.iter().map(|p| p.1).sum::<Decimal>(), d("4"));
    assert_eq!(line.len(), Resolution::Minute.window());
    assert_eq!(
        value_at(&h, Dim::Total, "", Resolution::Hour, NOON, later),
        d("1")
    );
}

#[test]
fn past_the_top_subjects_spend_folds_into_other_and_lines_add_up() {
    let mut h = History::new();
    for i in 0..(TOP + 7) {
        let user = format!("user{i:02}");
        h.add(&spent(NOON, &user, "chat", "m", "1.01"), NOON);
    }
    let users = h.ranked(Dim::User, Resolution::Hour, NOON);
    assert_eq!(users.len(), TOP + 1);
    let other = users.iter().find(|(n, _)| n == OTHER).unwrap();
    assert_eq!(other.1, d("7.07"), "seven late users folded");
    assert_eq!(users[0].0, OTHER, "largest first");
    let sum: Decimal = users.iter().map(|u| u.1).sum();
    assert_eq!(
        sum,
        value_at(&h, Dim::Total, "", Resolution::Hour, NOON, NOON)
    );
    assert!(h.has(Dim::User, "user00") && !h.has(Dim::User, "user15"));
    assert!(h
        .line(Dim::User, "user15", Resolution::Hour, 0, NOON)
        .is_none());
    // an admitted subject keeps its own line
    h.add(&spent(NOON, "user03", "chat", "m", "1"), NOON);
    assert_eq!(
        value_at(&h, Dim::User, "user03", Resolution::Hour, NOON, NOON),
        d("2.01")
    );
}

#[test]
fn memory_is_bounded_whatever_the_traffic() {
    let mut h = History::new();
    for i in 0..2000 {
        let s = format!("s{i}");
        h.add(&spent(NOON - i * 61, &s, &s, &s, "0.000001"), NOON);
    }
    assert_eq!(h.len(), MAX_SERIES);
    assert_eq!(MAX_SERIES, 34);
    let slots: usize = Resolution::ALL.iter().map(|r| r.slots()).sum();
    assert_eq!(slots, SLOTS);
    const { assert!(MAX_BYTES < 2_000_000) };
    let allocated: usize = (h.series.iter().flat_map(|m| m.values()))
        .flat_map(|s| s.rings.iter())
        .map(|r| r.buckets.len() * 4 + r.units.len() * 16)
        .sum();
    assert_eq!(allocated, MAX_BYTES);
}

#[test]
fn the_days_of_the_account_and_models_are_rebuilt_from_the_daily_totals() {
    let mut totals = DailyTotals::default();
    let mut put = |day: &str, model: &str, class: TokenClass, cost: &str| {
        let key = UsageKey {
            day: day.into(),
            model: model.into(),
            region: "us-east-1".into(),
            scope: Scope::InRegion,
            tier: Tier::Standard,
            long_context: false,
            class,
        };
        totals.usage.insert(
            key,
            UsageTotal {
                tokens: 1000,
                cost: d(cost),
            },
        );
    };
    put("2026-11-20", "m1", TokenClass::Input, "1.25");
    put("2026-11-20", "m1", TokenClass::Output, "2.5");
    put(
        "2026-11-22",
        "m2",
        TokenClass::Input,
        "0.000000000000000001",
    );
    put("2026-09-01", "m2", TokenClass::Input, "99"); // out of range
    let mut h = History::new();
    h.restore_days(&totals, NOON);
    let day = |y: &str| crate::timefmt::parse_date(y).unwrap() * 86_400;
    assert_eq!(
        value_at(&h, Dim::Total, "", Resolution::Day, day("2026-11-20"), NOON),
        d("3.75")
    );
    assert_eq!(
        value_at(
            &h,
            Dim::Model,
            "m1",
            Resolution::Day,
            day("2026-11-20"),
            NOON
        ),
        d("3.75")
    );
    assert_eq!(
        value_at(
            &h,
            Dim::Model,
            "m2",
            Resolution::Day,
            day("2026-11-22"),
            NOON
        ),
        d("0.000000000000000001")
    );
    let days: Decimal = (h.line(Dim::Total, "", Resolution::Day, 0, NOON).unwrap())
        .iter()
        .map(|p| p.1)
        .sum();
    assert_eq!(days, d("3.750000000000000001"), "September is out of range");
    // what cannot be rebuilt stays empty
    assert!(h
        .line(Dim::Total, "", Resolution::Hour, 0, NOON)
        .unwrap()
        .iter()
        .all(|p| p.1.is_zero()));
    assert!(h.ranked(Dim::User, Resolution::Day, NOON).is_empty());
    // live traffic adds on top
    h.add(&spent(NOON, "a", "f", "m1", "1"), NOON);
    assert_eq!(h.first(Resolution::Day, NOON), Some(day("2026-11-20")));
    assert_eq!(h.first(Resolution::Hour, NOON), Some(NOON));
}

#[test]
fn a_batch_sums_priced_calls_by_minute_and_labels() {
    use crate::attribution::Attribution;
    use crate::pricing::{ratecard, Aliases};
    let cards = ratecard::bundled();
    let (aliases, attribution) = (Aliases::default(), Attribution::default());
    let line = |id: &str, ts: &str, user: &str| {
        format!(
            r#"{{"timestamp":"{ts}","requestId":"{id}","region":"us-east-1","operation":"Converse","modelId":"amazon.nova-lite-v1:0","input":{{"inputTokenCount":1000000}},"output":{{"outputTokenCount":0}},"requestMetadata":{{"user":"{user}","feature":"chat"}}}}"#
        )
    };
    let texts = [
        line("a", "2026-11-23T12:00:05Z", "alice"),
        line("b", "2026-11-23T12:00:55Z", "alice"),
        line("c", "2026-11-23T12:01:00Z", "alice"),
        line("d", "2026-11-23T12:00:10Z", "bob"),
    ];
    let recs: Vec<_> = texts
        .iter()
        .map(|t| crate::bedrock::parse(t.as_bytes()).unwrap())
        .collect();
    let mut b = Batch::default();
    for r in &recs {
        let call = PricedCall::new(&cards, &aliases, &attribution, r, &[]);
        b.add(&call);
    }
    let mut out = b.finish();
    out.sort_by(|a, b| (a.at, &a.user).cmp(&(b.at, &b.user)));
    let price = out[1].units;
    assert!(price > 0);
    let who: Vec<(i64, &str, i128)> = out
        .iter()
        .map(|s| (s.at, s.user.as_str(), s.units))
        .collect();
    assert_eq!(
        who,
        [
            (NOON, "alice", 2 * price),
            (NOON, "bob", price),
            (NOON + 60, "alice", price)
        ]
    );
    assert_eq!(out[0].model, "amazon.nova-lite-v1:0");
}
