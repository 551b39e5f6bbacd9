//! The drift report as a table (for people), CSV (for a spreadsheet) or JSON (for a job).
//! Money and ratios stay decimal strings in every format.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::{Amount, Aside, ModelKey, PrincipalKey, Report, Row};
use crate::texttable::{self, head};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            _ => Err(format!("unknown format {s:?} (table, csv, json)")),
        }
    }
}

pub fn render(r: &Report, format: Format) -> String {
    match format {
        Format::Table => table(r),
        Format::Csv => csv(r),
        Format::Json => serde_json::to_string_pretty(&to_json(r)).expect("JSON values") + "\n",
    }
}

fn dec(d: Decimal) -> String {
    d.normalize().to_string()
}

fn opt(d: Option<Decimal>) -> String {
    d.map(dec).unwrap_or_default()
}

/// A ratio as a signed percentage with two decimals; "n/a" when nothing was billed.
fn pct(d: Option<Decimal>) -> String {
    match d {
        Some(d) => format!("{:+.2}%", (d * Decimal::ONE_HUNDRED).round_dp(2)),
        None => "n/a".into(),
    }
}

/// Dollars to the cent for reading (the CSV and JSON keep every digit).
fn usd(d: Decimal) -> String {
    format!("{:.2}", d.round_dp(2))
}

fn principal(p: &str) -> &str {
    if p.is_empty() {
        "(no principal)"
    } else {
        p
    }
}

fn table(r: &Report) -> String {
    let mut out = String::new();
    let Some((first, last)) = &r.days else {
        out.push_str("the bill holds no Bedrock token usage: nothing to compare\n");
        aside_text(&mut out, r);
        return out;
    };
    let _ = writeln!(
        out,
        "estimate against the bill, {first} to {last} (UTC days), tolerance {}\n",
        pct(Some(r.tolerance)).trim_start_matches('+')
    );
    out.push_str("by day, model and token class:\n");
    let head_row = head(&[
        "day",
        "model",
        "token_type",
        "est_tokens",
        "billed_tokens",
        "token_drift",
        "est_usd",
        "billed_usd",
        "drift_usd",
        "drift",
        "finding",
    ]);
    let mut rows: Vec<Vec<String>> = std::iter::once(head_row)
        .chain(r.models.iter().map(|m| {
            let mut row = vec![
                m.key.day.clone(),
                m.key.model.clone(),
                m.key.class.as_str().into(),
            ];
            row.extend(numbers(m));
            row
        }))
        .collect();
    let mut total = vec!["total".to_string(), String::new(), String::new()];
    total.extend(numbers(&r.total));
    rows.push(total);
    out.push_str(&texttable::table(&rows, 3..10));
    out.push_str("\nby day and principal:\n");
    let head_row = head(&[
        "day",
        "principal",
        "est_calls",
        "est_usd",
        "billed_usd",
        "drift_usd",
        "drift",
        "finding",
    ]);
    let rows: Vec<Vec<String>> = std::iter::once(head_row)
        .chain(r.principals.iter().map(|p| {
            vec![
                p.key.day.clone(),
                principal(&p.key.principal).to_string(),
                dec(p.estimated.tokens),
                usd(p.estimated.usd),
                usd(p.billed.usd),
                usd(p.drift_usd),
                pct(p.drift_ratio),
                p.finding.as_str().into(),
            ]
        }))
        .collect();
    out.push_str(&texttable::table(&rows, 2..7));
    aside_text(&mut out, r);
    out
}

fn numbers<K>(m: &Row<K>) -> Vec<String> {
    vec![
        dec(m.estimated.tokens),
        dec(m.billed.tokens),
        pct(m.token_drift_ratio),
        usd(m.estimated.usd),
        usd(m.billed.usd),
        usd(m.drift_usd),
        pct(m.drift_ratio),
        m.finding.as_str().into(),
    ]
}

fn aside_text(out: &mut String, r: &Report) {
    let groups: [(&str, &BTreeMap<String, Aside>); 4] = [
        (
            "unknown usage types (not compared; add them to the grammars once understood)",
            &r.unknown_usage_types,
        ),
        (
            "usage types of models the mapping table does not map (not compared)",
            &r.unmapped_models,
        ),
        (
            "usage that invocation logs never show (not compared)",
            &r.excluded,
        ),
        (
            "other line item types: credits, discounts, taxes (not compared)",
            &r.other_line_types,
        ),
    ];
    for (title, items) in groups {
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title}:");
        for (what, a) in items {
            let _ = writeln!(out, "  {what}: {} line(s), {} USD", a.lines, dec(a.usd));
        }
    }
    if !r.problems.is_empty() {
        let _ = writeln!(
            out,
            "\nbill lines that could not be read ({}):",
            r.problems.len()
        );
        for p in &r.problems {
            let _ = writeln!(out, "  {p}");
        }
    }
}

const CSV_HEAD: &str = "view,day,model_or_principal,token_type,estimated_tokens,billed_tokens,token_drift_ratio,estimated_usd,billed_usd,drift_usd,drift_ratio,finding,lines\n";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv(r: &Report) -> String {
    let mut out = String::from(CSV_HEAD);
    let mut row = |view: &str,
                   day: &str,
                   who: &str,
                   class: &str,
                   e: &Amount,
                   b: &Amount,
                   tr: Option<Decimal>,
                   d: Decimal,
                   dr: Option<Decimal>,
                   finding: &str,
                   lines: String| {
        let cells = [
            view.to_string(),
            day.to_string(),
            csv_field(who),
            class.to_string(),
            dec(e.tokens),
            dec(b.tokens),
            opt(tr),
            dec(e.usd),
            dec(b.usd),
            dec(d),
            opt(dr),
            finding.to_string(),
            lines,
        ];
        out.push_str(&cells.join(","));
        out.push('\n');
    };
    for m in &r.models {
        let k: &ModelKey = &m.key;
        row(
            "model",
            &k.day,
            &k.model,
            k.class.as_str(),
            &m.estimated,
            &m.billed,
            m.token_drift_ratio,
            m.drift_usd,
            m.drift_ratio,
            m.finding.as_str(),
            String::new(),
        );
    }
    for p in &r.principals {
        let k: &PrincipalKey = &p.key;
        row(
            "principal",
            &k.day,
            &k.principal,
            "",
            &p.estimated,
            &p.billed,
            None,
            p.drift_usd,
            p.drift_ratio,
            p.finding.as_str(),
            String::new(),
        );
    }
    if r.days.is_some() {
        let t = &r.total;
        row(
            "total",
            "",
            "",
            "",
            &t.estimated,
            &t.billed,
            t.token_drift_ratio,
            t.drift_usd,
            t.drift_ratio,
            t.finding.as_str(),
            String::new(),
        );
    }
    for (view, items) in asides(r) {
        for (what, a) in items {
            let billed = Amount {
                tokens: Decimal::ZERO,
                usd: a.usd,
            };
            row(
                view,
                "",
                what,
                "",
                &Amount::default(),
                &billed,
                None,
                -a.usd,
                None,
                "not_compared",
                a.lines.to_string(),
            );
        }
    }
    out
}

fn asides(r: &Report) -> [(&'static str, &BTreeMap<String, Aside>); 4] {
    [
        ("unknown_usage_type", &r.unknown_usage_types),
        ("unmapped_model", &r.unmapped_models),
        ("excluded", &r.excluded),
        ("other_line_type", &r.other_line_types),
    ]
}

fn row_json<K>(m: &Row<K>, key: Value) -> Value {
    let mut v = json!({
        "estimated_tokens": dec(m.estimated.tokens),
        "billed_tokens": dec(m.billed.tokens),
        "token_drift_ratio": m.token_drift_ratio.map(dec),
        "estimated_usd": dec(m.estimated.usd),
        "billed_usd": dec(m.billed.usd),
        "drift_usd": dec(m.drift_usd),
        "drift_ratio": m.drift_ratio.map(dec),
        "finding": m.finding.as_str(),
    });
    if let (Value::Object(v), Value::Object(k)) = (&mut v, key) {
        let mut keyed = k;
        keyed.append(v);
        return Value::Object(keyed);
    }
    v
}

fn to_json(r: &Report) -> Value {
    let mut v = json!({
        "days": r.days.as_ref().map(|(f, l)| json!({"first": f, "last": l})),
        "tolerance": dec(r.tolerance),
        "total": row_json(&r.total, json!({})),
        "models": r.models.iter().map(|m| row_json(m, json!({
            "day": m.key.day, "model": m.key.model, "token_type": m.key.class.as_str(),
        }))).collect::<Vec<_>>(),
        "principals": r.principals.iter().map(|p| {
            let mut row = row_json(p, json!({"day": p.key.day, "principal": p.key.principal}));
            // The estimate's "tokens" here are calls; the bill's are line items.
            if let Value::Object(o) = &mut row {
                o.remove("estimated_tokens");
                o.remove("billed_tokens");
                o.remove("token_drift_ratio");
                o.insert("estimated_calls".into(), json!(dec(p.estimated.tokens)));
                o.insert("billed_lines".into(), json!(dec(p.billed.tokens)));
            }
            row
        }).collect::<Vec<_>>(),
        "problems": r.problems,
    });
    for (view, items) in asides(r) {
        let list: Vec<Value> = items
            .iter()
            .map(|(what, a)| json!({"name": what, "lines": a.lines, "usd": dec(a.usd)}))
            .collect();
        v[format!("{view}s")] = Value::Array(list);
    }
    v
}
