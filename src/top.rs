//! `top`: a live terminal view of a running daemon, read from its `/metrics` like Prometheus
//! reads it: total spend, the spend rate over the last interval, and the users and features
//! spending most in it. Pure: [`Sample::parse`] reads the exposition text, [`frame`] renders
//! two samples; `cli::top` fetches and redraws.

use std::collections::BTreeMap;
use std::fmt::Write;

use rust_decimal::Decimal;

/// The per-user and per-feature spend counters of one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    pub users: BTreeMap<String, Decimal>,
    pub features: BTreeMap<String, Decimal>,
}

/// A label's value in a Prometheus text line (`name{a="x",b="y\"z"} 1`), unescaped.
fn label(line: &str, name: &str) -> Option<String> {
    let start = line.find(&format!("{name}=\""))? + name.len() + 2;
    let mut out = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// A sample value as an exact decimal (the exposition writes floats, sometimes in exponent
/// form); `None` for NaN, infinities or garbage.
fn value(line: &str) -> Option<Decimal> {
    let v = line.rsplit(' ').next()?;
    v.parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_scientific(v).ok())
}

impl Sample {
    /// Reads `bedrock_user_cost_usd_total` and `bedrock_feature_cost_usd_total` (the exact
    /// per-dimension totals); other lines are ignored, as is a line that does not parse.
    pub fn parse(text: &str) -> Sample {
        let mut s = Sample::default();
        for line in text.lines() {
            let (map, name) = if line.starts_with("bedrock_user_cost_usd_total{") {
                (&mut s.users, "user")
            } else if line.starts_with("bedrock_feature_cost_usd_total{") {
                (&mut s.features, "feature")
            } else {
                continue;
            };
            if let (Some(k), Some(v)) = (label(line, name), value(line)) {
                let e = map.entry(k).or_default();
                // Values near Decimal's limit do not come from a real exporter: skip, not panic.
                if let Some(sum) = e.checked_add(v) {
                    *e = sum;
                }
            }
        }
        s
    }

    /// The sum of the users (which hold every dollar, `__other__` included).
    pub fn total(&self) -> Decimal {
        (self.users.values()).fold(Decimal::ZERO, |a, v| a.checked_add(*v).unwrap_or(a))
    }
}

/// USD per hour of an increase over `seconds`.
fn per_hour(delta: Decimal, seconds: f64) -> Decimal {
    let secs = Decimal::try_from(seconds.max(0.001)).unwrap_or(Decimal::ONE);
    (delta.checked_mul(Decimal::from(3600)))
        .and_then(|d| d.checked_div(secs))
        .unwrap_or(Decimal::MAX)
        .round_dp(4)
        .normalize()
}

/// Rows of one dimension: name, USD/h over the interval, total; most spending first.
fn rows(
    prev: &BTreeMap<String, Decimal>,
    cur: &BTreeMap<String, Decimal>,
    seconds: f64,
    n: usize,
) -> Vec<Vec<String>> {
    let mut r: Vec<(&String, Decimal, Decimal)> = (cur.iter())
        .map(|(k, v)| {
            // A value new since `prev` spent all of it in the interval; a counter below its
            // previous value means the daemon restarted on a fresh store (no rate then).
            let before = prev.get(k).copied().unwrap_or_default();
            let delta = v.checked_sub(before).unwrap_or_default().max(Decimal::ZERO);
            (k, per_hour(delta, seconds), *v)
        })
        .collect();
    r.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(b.0)));
    (r.into_iter().take(n))
        .map(|(k, rate, total)| vec![k.clone(), rate.to_string(), total.round_dp(4).to_string()])
        .collect()
}

/// One screen: the totals and the top `n` users and features by spend rate between `prev`
/// and `cur`, taken `seconds` apart.
pub fn frame(
    source: &str,
    at: &str,
    prev: &Sample,
    cur: &Sample,
    seconds: f64,
    n: usize,
) -> String {
    let mut s = String::new();
    let delta = cur.total().checked_sub(prev.total()).unwrap_or_default();
    let rate = per_hour(delta.max(Decimal::ZERO), seconds);
    let _ = writeln!(
        s,
        "bedrock-cost-exporter top: {source} at {at}, rates over the last {seconds:.0} s"
    );
    let _ = writeln!(
        s,
        "total spend {} USD, now {rate} USD/h\n",
        cur.total().round_dp(4)
    );
    for (label, p, c) in [
        ("user", &prev.users, &cur.users),
        ("feature", &prev.features, &cur.features),
    ] {
        let head = crate::texttable::head(&[label, "usd_per_hour", "total_usd"]);
        let body = rows(p, c, seconds, n);
        if body.is_empty() {
            let _ = writeln!(s, "no {label} spend yet\n");
            continue;
        }
        let table: Vec<Vec<String>> = std::iter::once(head).chain(body).collect();
        let _ = writeln!(s, "{}", crate::texttable::table(&table, 1..3));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    const TEXT: &str = r#"# HELP bedrock_user_cost_usd_total Cost per user.
# TYPE bedrock_user_cost_usd_total counter
bedrock_user_cost_usd_total{user="alice"} 12.5
bedrock_user_cost_usd_total{user="b\"o\\b"} 1e-3
bedrock_user_cost_usd_total{user="nan"} NaN
bedrock_feature_cost_usd_total{feature="chat"} 12.501
bedrock_cost_usd_total{user="alice",feature="chat",model="m"} 99
bedrock_user_cost_usd_total{user="broken
"#;

    #[test]
    fn the_exact_per_user_and_per_feature_totals_are_read() {
        let s = Sample::parse(TEXT);
        assert_eq!(s.users.get("alice"), Some(&d("12.5")));
        assert_eq!(s.users.get("b\"o\\b"), Some(&d("0.001")));
        assert_eq!(s.users.len(), 2, "NaN and a cut line are skipped");
        assert_eq!(s.features.get("chat"), Some(&d("12.501")));
        assert_eq!(s.total(), d("12.501"));
    }

    #[test]
    fn values_at_decimal_s_limit_do_not_panic() {
        let big = "bedrock_user_cost_usd_total{user=\"a\"} 70000000000000000000000000000\n";
        let prev = Sample::default();
        let cur = Sample::parse(&format!("{big}{big}{big}"));
        let f = frame("u", "t", &prev, &cur, 0.0, 5);
        assert!(f.contains("user "), "{f}");
    }

    #[test]
    fn a_frame_ranks_by_spend_rate_over_the_interval() {
        let prev = Sample::parse("bedrock_user_cost_usd_total{user=\"alice\"} 10\nbedrock_user_cost_usd_total{user=\"bob\"} 1\n");
        let cur = Sample::parse("bedrock_user_cost_usd_total{user=\"alice\"} 10.1\nbedrock_user_cost_usd_total{user=\"bob\"} 1.5\nbedrock_user_cost_usd_total{user=\"carol\"} 0.2\n");
        let f = frame(
            "http://x/metrics",
            "2026-11-23T12:00:00Z",
            &prev,
            &cur,
            10.0,
            2,
        );
        assert!(f.contains("total spend 11.8 USD, now 288 USD/h"), "{f}");
        let lines: Vec<&str> = f.lines().collect();
        let at = lines.iter().position(|l| l.starts_with("user ")).unwrap();
        // bob 0.5 in 10 s = 180/h; carol, new, 0.2 = 72/h; alice 0.1 = 36/h (not in the top 2)
        assert!(
            lines[at + 1].starts_with("bob") && lines[at + 1].contains("180"),
            "{f}"
        );
        assert!(
            lines[at + 2].starts_with("carol") && lines[at + 2].contains("72"),
            "{f}"
        );
        assert!(!f.contains("alice"));
        assert!(f.contains("no feature spend yet"));
    }
}
