//! `ratecard diff OLD NEW`: every list price that changed, appeared or disappeared, by model,
//! region, scope, tier, token class and long-context band, in a stable order. Pure.
//!
//! Prices compare as numbers (`"3"` = `"3.00"`); a change of a band's threshold shows as the
//! old band's prices removed and the new band's added.

use rust_decimal::Decimal;
use serde_json::json;

use super::expand::{assumption_counts, expand_card, row_assumptions, KeyJson, PriceKey, COLUMNS};
use crate::pricing::ratecard::RateCard;
use crate::texttable::table;
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
    /// The assumptions the price rests on: the new card's row, or the old one's if removed.
    pub assumptions: Vec<String>,
}

/// One assumption either card defines: how many prices rest on it in each, and whether its
/// definition changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumptionChange {
    pub id: String,
    pub old_prices: usize,
    pub new_prices: usize,
    /// `added`, `removed`, `changed` (text or source) or `unchanged`.
    pub definition: &'static str,
}

#[derive(Debug, Clone)]
pub struct Diff {
    pub changes: Vec<Change>,
    pub unchanged: usize,
    /// Empty when neither card defines assumptions.
    pub assumptions: Vec<AssumptionChange>,
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
                assumptions: row_assumptions(new, key),
            }),
            None => changes.push(Change {
                kind: ChangeKind::Removed,
                key: key.clone(),
                old: Some(o),
                new: None,
                assumptions: row_assumptions(old, key),
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
                assumptions: row_assumptions(new, key),
            });
        }
    }
    changes.sort_by(|x, y| x.key.cmp(&y.key).then(x.kind.cmp(&y.kind)));
    Diff {
        changes,
        unchanged,
        assumptions: assumption_changes(old, new),
    }
}

fn assumption_changes(old: &RateCard, new: &RateCard) -> Vec<AssumptionChange> {
    let (a, b) = (assumption_counts(old), assumption_counts(new));
    let mut ids: Vec<&String> = a.keys().chain(b.keys()).collect();
    ids.sort();
    ids.dedup();
    ids.into_iter()
        .map(|id| {
            let def = |c: &RateCard| c.assumptions.iter().find(|x| x.id == *id).cloned();
            let definition = match (def(old), def(new)) {
                (None, Some(_)) => "added",
                (Some(_), None) => "removed",
                (Some(x), Some(y)) if x != y => "changed",
                _ => "unchanged",
            };
            AssumptionChange {
                id: id.clone(),
                old_prices: a.get(id).copied().unwrap_or(0),
                new_prices: b.get(id).copied().unwrap_or(0),
                definition,
            }
        })
        .collect()
}

fn assumptions_text(d: &Diff) -> String {
    if d.assumptions.is_empty() {
        return String::new();
    }
    let mut rows = vec![["assumption", "old prices", "new prices", "definition"]
        .map(String::from)
        .to_vec()];
    for a in &d.assumptions {
        rows.push(vec![
            a.id.clone(),
            a.old_prices.to_string(),
            a.new_prices.to_string(),
            a.definition.to_string(),
        ]);
    }
    format!(
        "\nprices resting on each assumption:\n{}",
        table(&rows, 0..0)
    )
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
        out.push_str(&assumptions_text(d));
        return out;
    }
    let tagged = !d.assumptions.is_empty();
    let mut rows = vec![{
        let mut h = vec!["change".to_string()];
        h.extend(COLUMNS.iter().map(|c| c.to_string()));
        h.extend(["old", "new", ""].map(String::from));
        if tagged {
            h.push("assumptions".into());
        }
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
        if tagged {
            r.push(c.assumptions.join(","));
        }
        rows.push(r);
    }
    out.push('\n');
    out.push_str(&table(&rows, 0..0));
    let count = |k| d.changes.iter().filter(|c| c.kind == k).count();
    out.push_str(&format!(
        "\n{} changed, {} added, {} removed, {} unchanged\n",
        count(ChangeKind::Changed),
        count(ChangeKind::Added),
        count(ChangeKind::Removed),
        d.unchanged
    ));
    out.push_str(&assumptions_text(d));
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
            if !d.assumptions.is_empty() {
                v["assumptions"] = json!(c.assumptions);
            }
            v
        })
        .collect();
    let mut out =
        json!({"old": card(old), "new": card(new), "changes": changes, "unchanged": d.unchanged});
    if !d.assumptions.is_empty() {
        out["assumptions"] = d
            .assumptions
            .iter()
            .map(|a| {
                json!({
                    "id": a.id,
                    "old_prices": a.old_prices,
                    "new_prices": a.new_prices,
                    "definition": a.definition,
                })
            })
            .collect();
    }
    out
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
    fn the_assumptions_behind_each_price_are_shown() {
        let old = parse(A, "a.toml").unwrap();
        let new_text = A
            .replace("version = \"a\"", "version = \"b\"")
            .replace(
                "[[models]]\nid = \"m.one\"",
                "[[assumptions]]\nid = \"geo-priced-as-source-region\"\ntext = \"t\"\nsource = \"s\"\n\n[[assumptions]]\nid = \"unused\"\ntext = \"t\"\nsource = \"s\"\n\n[[models]]\nid = \"m.one\"",
            )
            .replace(
                "scopes = [\"in_region\", \"geo\"]\n",
                "scopes = [\"in_region\", \"geo\"]\nassumptions = [\"geo-priced-as-source-region\"]\n",
            )
            .replace("output = \"15\"", "output = \"16.5\"");
        let new = parse(&new_text, "b.toml").unwrap();
        let d = diff(&old, &new);
        assert_eq!(d.changes[0].assumptions, ["geo-priced-as-source-region"]);
        assert_eq!(
            d.assumptions,
            [
                AssumptionChange {
                    id: "geo-priced-as-source-region".into(),
                    old_prices: 0,
                    new_prices: 8,
                    definition: "added",
                },
                AssumptionChange {
                    id: "unused".into(),
                    old_prices: 0,
                    new_prices: 0,
                    definition: "added",
                },
            ]
        );
        let text = render_text(&d, &old, &new);
        assert!(
            text.lines().next_back().unwrap().starts_with("unused  "),
            "{text}"
        );
        assert!(text.contains("assumptions\n"), "{text}");
        assert!(text.contains("+10%  geo-priced-as-source-region"), "{text}");
        assert!(
            text.contains("prices resting on each assumption:"),
            "{text}"
        );
        let j = render_json(&d, &old, &new);
        assert_eq!(
            j["changes"][0]["assumptions"][0],
            "geo-priced-as-source-region"
        );
        assert_eq!(j["assumptions"][0]["new_prices"], 8);
        // cards without assumptions keep the plain output
        let plain = render_text(&diff(&old, &old), &old, &old);
        assert!(!plain.contains("assumption"), "{plain}");
        assert!(render_json(&diff(&old, &old), &old, &old)
            .get("assumptions")
            .is_none());
    }

    #[test]
    fn percent_is_exact_and_signed() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(percent(d("3"), d("3.3")), "+10%");
        assert_eq!(percent(d("3"), d("2")), "-33.33%");
        assert_eq!(percent(d("0"), d("2")), "");
    }
}
