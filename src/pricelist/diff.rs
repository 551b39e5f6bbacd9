//! `ratecard diff OLD NEW`: every list price that changed, appeared or disappeared, by model,
//! region, scope, tier, token class and long-context band, in a stable order. Pure.
//!
//! Prices compare as numbers (`"3"` = `"3.00"`); a change of a band's threshold shows as the
//! old band's prices removed and the new band's added.

use rust_decimal::Decimal;
use serde_json::json;

use super::expand::{expand_card, table, KeyJson, PriceKey, COLUMNS};
use crate::pricing::ratecard::RateCard;
use crate::timefmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    Changed,
    Added,
    Removed,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Changed => "changed",
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub key: PriceKey,
    pub old: Option<Decimal>,
    pub new: Option<Decimal>,
}

#[derive(Debug, Clone)]
pub struct Diff {
    pub changes: Vec<Change>,
    pub unchanged: usize,
}

pub fn diff(old: &RateCard, new: &RateCard) -> Diff {
    let (a, b) = (expand_card(old), expand_card(new));
    let mut changes = Vec::new();
    let mut unchanged = 0;
    for (key, &o) in &a {
        match b.get(key) {
            Some(&n) if n == o => unchanged += 1,
            Some(&n) => changes.push(Change {
                kind: ChangeKind::Changed,
                key: key.clone(),
                old: Some(o),
                new: Some(n),
            }),
            None => changes.push(Change {
                kind: ChangeKind::Removed,
                key: key.clone(),
                old: Some(o),
                new: None,
            }),
        }
    }
    for (key, &n) in &b {
        if !a.contains_key(key) {
            changes.push(Change {
                kind: ChangeKind::Added,
                key: key.clone(),
                old: None,
                new: Some(n),
            });
        }
    }
    changes.sort_by(|x, y| x.key.cmp(&y.key).then(x.kind.cmp(&y.kind)));
    Diff { changes, unchanged }
}

fn card_line(c: &RateCard) -> String {
    format!(
        "{} (version {}, effective from {})",
        c.path,
        c.version,
        timefmt::format_date(c.effective_from / 86_400)
    )
}

fn dec(d: Option<Decimal>) -> String {
    d.map(|d| d.normalize().to_string())
        .unwrap_or_else(|| "-".into())
}

/// `+10%` style relative change, exact to two decimals (rounded half away from zero).
fn percent(old: Decimal, new: Decimal) -> String {
    if old.is_zero() {
        return String::new();
    }
    let p = ((new - old) / old * Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        .normalize();
    if p.is_sign_positive() {
        format!("+{p}%")
    } else {
        format!("{p}%")
    }
}

pub fn render_text(d: &Diff, old: &RateCard, new: &RateCard) -> String {
    let mut out = format!("old: {}\nnew: {}\n", card_line(old), card_line(new));
    if d.changes.is_empty() {
        out.push_str(&format!("no price changed ({} prices)\n", d.unchanged));
        return out;
    }
    let mut rows = vec![{
        let mut h = vec!["change".to_string()];
        h.extend(COLUMNS.iter().map(|c| c.to_string()));
        h.extend(["old", "new", ""].map(String::from));
        h
    }];
    for c in &d.changes {
        let mut r = vec![c.kind.as_str().to_string()];
        r.extend(c.key.columns());
        r.push(dec(c.old));
        r.push(dec(c.new));
        r.push(match (c.old, c.new) {
            (Some(o), Some(n)) => percent(o, n),
            _ => String::new(),
        });
        rows.push(r);
    }
    out.push('\n');
    out.push_str(&table(&rows));
    let count = |k| d.changes.iter().filter(|c| c.kind == k).count();
    out.push_str(&format!(
        "\n{} changed, {} added, {} removed, {} unchanged\n",
        count(ChangeKind::Changed),
        count(ChangeKind::Added),
        count(ChangeKind::Removed),
        d.unchanged
    ));
    out
}

pub fn render_json(d: &Diff, old: &RateCard, new: &RateCard) -> serde_json::Value {
    let card = |c: &RateCard| {
        json!({
            "path": c.path,
            "version": c.version,
            "effective_from": timefmt::format_date(c.effective_from / 86_400),
        })
    };
    let changes: Vec<serde_json::Value> = d
        .changes
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(KeyJson::from(&c.key)).expect("plain struct");
            v["change"] = json!(c.kind.as_str());
            v["old"] = json!(c.old.map(|d| d.normalize().to_string()));
            v["new"] = json!(c.new.map(|d| d.normalize().to_string()));
            v
        })
        .collect();
    json!({"old": card(old), "new": card(new), "changes": changes, "unchanged": d.unchanged})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::ratecard::parse;

    const A: &str = r#"
version = "a"
effective_from = 2026-01-01
currency = "USD"
unit = "per_1m_tokens"
source = "t"
discount_percent = "10"
[[models]]
id = "m.one"
name = "One"
[[models]]
id = "m.two"
name = "Two"
[[prices]]
model = "m.one"
regions = ["*"]
scopes = ["in_region", "geo"]
input = "3.00"
output = "15"
long_context = { above_tokens = 200000, input = "6", output = "22.5" }
[[prices]]
model = "m.two"
regions = ["us-east-1"]
scopes = ["global"]
tier = "batch"
input = "1"
"#;

    #[test]
    fn every_change_is_listed_by_key_and_equal_decimals_are_equal() {
        let old = parse(A, "a.toml").unwrap();
        let new_text = A
            .replace("version = \"a\"", "version = \"b\"")
            .replace("discount_percent = \"10\"", "discount_percent = \"0\"")
            .replace("input = \"3.00\"", "input = \"3\"")
            .replace("output = \"15\"", "output = \"16.5\"")
            .replace("input = \"1\"", "input = \"1\"\ncache_read = \"0.1\"")
            .replace("regions = [\"us-east-1\"]", "regions = [\"us-west-2\"]");
        let new = parse(&new_text, "b.toml").unwrap();
        let d = diff(&old, &new);
        let lines: Vec<String> = d
            .changes
            .iter()
            .map(|c| {
                format!(
                    "{} {} {} {}",
                    c.kind.as_str(),
                    c.key.columns().join(" "),
                    dec(c.old),
                    dec(c.new)
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                "changed m.one * in_region standard output - 15 16.5",
                "changed m.one * geo standard output - 15 16.5",
                "removed m.two us-east-1 global batch input - 1 -",
                "added m.two us-west-2 global batch input - - 1",
                "added m.two us-west-2 global batch cache_read - - 0.1",
            ],
            "{lines:#?}"
        );
        // the discount changed too, but list prices did not: not a price change
        assert_eq!(d.unchanged, 6);
        let text = render_text(&d, &old, &new);
        assert!(
            text.contains("2 changed, 2 added, 1 removed, 6 unchanged"),
            "{text}"
        );
        assert!(text.contains("+10%"), "{text}");
        let j = render_json(&d, &old, &new);
        assert_eq!(j["changes"][0]["change"], "changed");
        assert_eq!(j["changes"][0]["old"], "15");
        assert_eq!(j["changes"][0]["new"], "16.5");
        assert_eq!(
            j["changes"][0]["long_context_above_tokens"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn percent_is_exact_and_signed() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(percent(d("3"), d("3.3")), "+10%");
        assert_eq!(percent(d("3"), d("2")), "-33.33%");
        assert_eq!(percent(d("0"), d("2")), "");
    }
}
