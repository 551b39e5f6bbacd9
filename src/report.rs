//! The `report` command's summary: priced calls grouped by any attribution label (user,
//! feature, model, region, the UTC day, or a configured extra label such as team or an
//! allow-listed metadata key), within a time range, as a table, CSV or JSON. Each request id
//! counts once, as in the daemon. Pure: calls in, text out; `cli::report` reads the files.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::account::PricedCall;
use crate::attribution::Attribution;
use crate::pricing::Outcome;
use crate::record::TokenClass;

/// Labels every report can group by; configured extra labels come on top.
pub const BUILTIN: [&str; 5] = ["user", "feature", "model", "region", "day"];

/// One grouping label, resolved against the attribution config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    User,
    Feature,
    Model,
    Region,
    Day,
    /// An extra label, by its index in `Attribution::extra`.
    Extra(usize),
}

/// Sums of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Every counted call: priced, unpriced and failed.
    pub calls: u64,
    /// Calls no rate card prices (counted, at no cost: see `bedrock-cost-exporter price`).
    pub unpriced: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Cache reads and writes.
    pub cache_tokens: u64,
    pub cost: Decimal,
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.calls = self.calls.saturating_add(o.calls);
        self.unpriced = self.unpriced.saturating_add(o.unpriced);
        self.input_tokens = self.input_tokens.saturating_add(o.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(o.output_tokens);
        self.cache_tokens = self.cache_tokens.saturating_add(o.cache_tokens);
        // A call's cost is bounded by the card's price cap and the token sanity limit.
        self.cost += o.cost;
    }
}

/// A summary as it accumulates.
#[derive(Debug)]
pub struct Report {
    names: Vec<String>,
    keys: Vec<Key>,
    /// Unix seconds: `[since, until)`.
    since: Option<i64>,
    until: Option<i64>,
    groups: BTreeMap<Vec<String>, Totals>,
    seen: HashSet<String>,
    /// Records of a request id already counted.
    pub duplicates: u64,
    /// Records outside the time range.
    pub outside: u64,
}

impl Report {
    /// A report grouped by `group_by` (label names, in order). An unknown label is an error
    /// naming the ones available.
    pub fn new(
        group_by: &[String],
        attribution: &Attribution,
        since: Option<i64>,
        until: Option<i64>,
    ) -> Result<Report, String> {
        let extra: Vec<&str> = attribution.extra_names().collect();
        let mut keys = Vec::new();
        for name in group_by {
            let key = match name.as_str() {
                "user" => Key::User,
                "feature" => Key::Feature,
                "model" => Key::Model,
                "region" => Key::Region,
                "day" => Key::Day,
                n => match extra.iter().position(|e| *e == n) {
                    Some(i) => Key::Extra(i),
                    None => {
                        let all: Vec<&str> = BUILTIN.iter().copied().chain(extra.clone()).collect();
                        return Err(format!(
                            "--group-by: {name:?} is not a label (available: {}; more with attribution.metadata_labels or attribution.arn_labels in the config)",
                            all.join(", ")
                        ));
                    }
                },
            };
            if keys.contains(&key) {
                return Err(format!("--group-by: {name:?} is given twice"));
            }
            keys.push(key);
        }
        Ok(Report {
            names: group_by.to_vec(),
            keys,
            since,
            until,
            groups: BTreeMap::new(),
            seen: HashSet::new(),
            duplicates: 0,
            outside: 0,
        })
    }

    /// Adds one call, unless its request id was counted already or it is out of range.
    pub fn add(&mut self, call: &PricedCall<'_>) {
        let rec = call.record;
        let t = rec.timestamp;
        if self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t >= u) {
            self.outside += 1;
            return;
        }
        if let Some(id) = rec.request_id.as_deref().filter(|i| !i.is_empty()) {
            if !self.seen.insert(id.to_string()) {
                self.duplicates += 1;
                return;
            }
        }
        let key: Vec<String> = (self.keys.iter())
            .map(|k| match k {
                Key::User => call.labels.user.to_string(),
                Key::Feature => call.labels.feature.to_string(),
                Key::Model => call.model().to_string(),
                Key::Region => rec.region.to_string(),
                Key::Day => crate::timefmt::format_date(t.div_euclid(86_400)),
                Key::Extra(i) => call.labels.extra[*i].to_string(),
            })
            .collect();
        let tokens = |c: TokenClass| rec.tokens.get(c);
        let mut one = Totals {
            calls: 1,
            input_tokens: tokens(TokenClass::Input),
            output_tokens: tokens(TokenClass::Output),
            cache_tokens: tokens(TokenClass::CacheRead)
                + tokens(TokenClass::CacheWrite5m)
                + tokens(TokenClass::CacheWrite1h),
            ..Totals::default()
        };
        match &call.outcome {
            Outcome::Priced(p) => one.cost = p.total,
            Outcome::Unpriced { .. } => one.unpriced = 1,
            Outcome::NotBilled { .. } => {}
        }
        self.groups.entry(key).or_default().add(&one);
    }

    /// Groups, largest cost first (then by key).
    pub fn groups(&self) -> Vec<(&Vec<String>, &Totals)> {
        let mut g: Vec<_> = self.groups.iter().collect();
        g.sort_by(|a, b| b.1.cost.cmp(&a.1.cost).then_with(|| a.0.cmp(b.0)));
        g
    }

    pub fn total(&self) -> Totals {
        let mut t = Totals::default();
        for v in self.groups.values() {
            t.add(v);
        }
        t
    }

    fn head(&self) -> Vec<String> {
        let cols = [
            "calls",
            "unpriced_calls",
            "input_tokens",
            "output_tokens",
            "cache_tokens",
            "cost_usd",
        ];
        (self.names.iter().cloned())
            .chain(cols.iter().map(|c| c.to_string()))
            .collect()
    }

    fn cells(t: &Totals) -> [String; 6] {
        [
            t.calls.to_string(),
            t.unpriced.to_string(),
            t.input_tokens.to_string(),
            t.output_tokens.to_string(),
            t.cache_tokens.to_string(),
            t.cost.normalize().to_string(),
        ]
    }

    /// A text table, a total line last.
    pub fn table(&self) -> String {
        let mut rows = vec![self.head()];
        for (k, t) in self.groups() {
            rows.push(k.iter().cloned().chain(Self::cells(t)).collect());
        }
        let mut total: Vec<String> = vec![String::new(); self.names.len()];
        match total.first_mut() {
            Some(first) => *first = "total".into(),
            None => total.push("total".into()),
        }
        let width = total.len();
        rows.push(
            total
                .into_iter()
                .chain(Self::cells(&self.total()))
                .collect(),
        );
        crate::texttable::table(&rows, width..width + 6)
    }

    /// CSV (RFC 4180): a header, one row per group, no total.
    pub fn csv(&self) -> String {
        let mut out = String::new();
        let line = |out: &mut String, cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
            let _ = writeln!(out, "{}", cells.join(","));
        };
        line(&mut out, &self.head());
        for (k, t) in self.groups() {
            let row: Vec<String> = k.iter().cloned().chain(Self::cells(t)).collect();
            line(&mut out, &row);
        }
        out
    }

    /// JSON: the grouping, the range, each group with its labels and sums (`cost_usd` a
    /// decimal string, never a float), and the total.
    pub fn json(&self) -> Value {
        let sums = |t: &Totals| {
            json!({
                "calls": t.calls,
                "unpriced_calls": t.unpriced,
                "input_tokens": t.input_tokens,
                "output_tokens": t.output_tokens,
                "cache_tokens": t.cache_tokens,
                "cost_usd": t.cost.normalize().to_string(),
            })
        };
        let groups: Vec<Value> = (self.groups().into_iter())
            .map(|(k, t)| {
                let labels: serde_json::Map<String, Value> = (self.names.iter().cloned())
                    .zip(k.iter().map(|v| json!(v)))
                    .collect();
                json!({"labels": labels, "totals": sums(t)})
            })
            .collect();
        let time = |t: Option<i64>| t.map(crate::timefmt::format_rfc3339);
        json!({
            "group_by": self.names,
            "since": time(self.since),
            "until": time(self.until),
            "groups": groups,
            "total": sums(&self.total()),
        })
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A `--since`/`--until` bound: a UTC day (`2026-11-30`, its start) or an RFC 3339 time.
/// With `end_of_day`, a day means the end of it (an inclusive `--until`).
pub fn parse_bound(s: &str, end_of_day: bool) -> Option<i64> {
    if let Some(day) = crate::timefmt::parse_date(s) {
        return Some((day + i64::from(end_of_day)) * 86_400);
    }
    crate::timefmt::parse_timestamp(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::Source;
    use crate::pricing::{ratecard, Aliases};

    fn attribution() -> Attribution {
        Attribution {
            extra: vec![("experiment".into(), Source::Metadata("experiment".into()))],
            ..Attribution::default()
        }
    }

    fn record(id: &str, ts: &str, user: &str, experiment: &str, input: u64) -> String {
        format!(
            r#"{{"timestamp":"{ts}","requestId":"{id}","region":"us-east-1","operation":"Converse","modelId":"amazon.nova-lite-v1:0","input":{{"inputTokenCount":{input}}},"output":{{"outputTokenCount":0}},"requestMetadata":{{"user":"{user}","feature":"chat","experiment":"{experiment}"}}}}"#
        )
    }

    fn report(group_by: &[&str], since: Option<i64>, lines: &[String]) -> Report {
        let (cards, aliases, a) = (ratecard::bundled(), Aliases::default(), attribution());
        let g: Vec<String> = group_by.iter().map(|s| s.to_string()).collect();
        let mut r = Report::new(&g, &a, since, None).unwrap();
        for l in lines {
            let rec = crate::bedrock::parse(l.as_bytes()).unwrap();
            r.add(&PricedCall::new(&cards, &aliases, &a, &rec, &[]));
        }
        r
    }

    #[test]
    fn calls_group_by_two_labels_count_once_and_stay_in_range() {
        let lines = [
            record("a", "2026-11-23T10:00:00Z", "alice", "x", 1_000_000),
            record("b", "2026-11-23T11:00:00Z", "alice", "x", 2_000_000),
            record("a", "2026-11-23T10:00:00Z", "alice", "x", 1_000_000), // repeated
            record("c", "2026-11-23T12:00:00Z", "alice", "y", 1_000_000),
            record("d", "2026-11-22T12:00:00Z", "bob", "x", 1_000_000), // before --since
        ];
        let since = parse_bound("2026-11-23", false);
        let r = report(&["user", "experiment"], since, &lines);
        assert_eq!((r.duplicates, r.outside), (1, 1));
        let g = r.groups();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].0, &["alice", "x"]);
        assert_eq!((g[0].1.calls, g[0].1.input_tokens), (2, 3_000_000));
        assert_eq!(g[0].1.cost * Decimal::ONE, g[1].1.cost * Decimal::from(3));
        let json = r.json();
        assert!(json["groups"][0]["totals"]["cost_usd"].is_string());
        assert_eq!(json["groups"][1]["labels"]["experiment"], "y");
        assert_eq!(json["since"], "2026-11-23T00:00:00Z");
    }

    #[test]
    fn an_unknown_or_repeated_label_is_named_with_the_available_ones() {
        let a = attribution();
        let e = Report::new(&["team".into()], &a, None, None).unwrap_err();
        assert!(e.contains("\"team\" is not a label"), "{e}");
        assert!(
            e.contains("user, feature, model, region, day, experiment"),
            "{e}"
        );
        let e = Report::new(&["user".into(), "user".into()], &a, None, None).unwrap_err();
        assert!(e.contains("given twice"), "{e}");
    }

    #[test]
    fn csv_quotes_what_needs_quoting_and_the_table_ends_with_a_total() {
        let lines = [
            record("a", "2026-11-23T10:00:00Z", "a,\\\"b\\\"", "x", 1_000_000),
            record("b", "2026-11-23T10:00:00Z", "carol", "x", 1_000_000),
        ];
        let r = report(&["user"], None, &lines);
        let csv = r.csv();
        assert!(csv.starts_with(
            "user,calls,unpriced_calls,input_tokens,output_tokens,cache_tokens,cost_usd\n"
        ));
        // attribution turned the quotes into _; the comma stays and is quoted
        assert!(csv.contains("\"a,_b_\",1,0,1000000,0,0,"), "{csv}");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
        let table = r.table();
        let last = table.lines().last().unwrap();
        assert!(last.starts_with("total") && last.contains(" 2 "), "{table}");
    }

    #[test]
    fn bounds_are_days_or_times() {
        assert_eq!(parse_bound("2026-11-23", false), Some(1_795_392_000));
        assert_eq!(
            parse_bound("2026-11-23", true),
            Some(1_795_392_000 + 86_400)
        );
        assert_eq!(
            parse_bound("2026-11-23T12:00:00Z", true),
            Some(1_795_435_200)
        );
        assert_eq!(parse_bound("yesterday", false), None);
    }
}
