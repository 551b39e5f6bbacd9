//! The status page at `/`: one self-contained HTML page (no scripts, no external assets) with
//! the top spenders by user and by feature, spend over time and budget burn as inline SVG
//! charts (`over_time.rs`), budgets, the rate cards in force and pipeline health, for teams
//! without Grafana; and one user's, feature's or model's own page (`/?user=alice`). Pure:
//! rendered from a snapshot.

mod over_time;

use std::collections::BTreeMap;
use std::fmt::Write;

use rust_decimal::Decimal;

use crate::budgets::Budgets;
use crate::history::Dim;
use crate::ledger::{Ledger, Metric};
use crate::snapshot::Snapshot;
use crate::timefmt;

/// Rows in each top-spender table.
const TOP: usize = 10;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// USD with cents, or more decimals for amounts under a cent (so small spend is not "$0.00").
fn usd(d: Decimal) -> String {
    let places = if d.abs() >= Decimal::ONE_HUNDRED || d.is_zero() {
        2
    } else if d.abs() >= Decimal::new(1, 2) {
        4
    } else {
        6
    };
    format!("${}", d.round_dp(places))
}

/// Sum of a metric by one label, largest first.
fn by_label(ledger: &Ledger, metric: Metric, label: &str) -> Vec<(String, Decimal)> {
    let mut m: BTreeMap<&str, i128> = BTreeMap::new();
    for (_, k, v) in ledger.iter().filter(|(_, k, _)| k.metric == metric) {
        if let Some(value) = ledger.label(k, label) {
            *m.entry(value).or_default() += v;
        }
    }
    let mut out: Vec<(String, Decimal)> = m
        .into_iter()
        .map(|(k, v)| (k.to_string(), Ledger::decimal(metric, v)))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// The exact per-dimension metrics of a label: (cost, invocations).
fn dimension_metrics(label: &str) -> (Metric, Metric) {
    match label {
        "user" => (Metric::UserCost, Metric::UserInvocations),
        _ => (Metric::FeatureCost, Metric::FeatureInvocations),
    }
}

/// What the page shows: everything, or one subject's own history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    Overview,
    Subject(Dim, String),
}

impl View {
    /// The view a query string asks for: `user=`, `feature=` or `model=` (the first given, in
    /// that order); anything else is the overview.
    pub fn from_query(q: &std::collections::HashMap<String, String>) -> View {
        (Dim::SUBJECTS.into_iter())
            .find_map(|d| q.get(d.as_str()).map(|v| View::Subject(d, v.clone())))
            .unwrap_or(View::Overview)
    }
}

fn spenders(html: &mut String, ledger: &Ledger, label: &str, title: &str) {
    let (cost_metric, calls_metric) = dimension_metrics(label);
    let cost = by_label(ledger, cost_metric, label);
    let calls: BTreeMap<String, Decimal> =
        by_label(ledger, calls_metric, label).into_iter().collect();
    let total: Decimal = cost.iter().map(|(_, v)| *v).sum();
    let _ = write!(html, "<section><h2>{title}</h2><table id=\"top-{label}\"><thead><tr><th>{label}</th><th class=\"n\">cost</th><th class=\"n\">share</th><th class=\"n\">calls</th></tr></thead><tbody>");
    if cost.is_empty() {
        html.push_str("<tr><td colspan=\"4\" class=\"empty\">no priced calls yet</td></tr>");
    }
    for (name, v) in cost.iter().take(TOP) {
        let share = if total.is_zero() {
            Decimal::ZERO
        } else {
            (*v * Decimal::ONE_HUNDRED / total).round_dp(1)
        };
        let n = calls.get(name).copied().unwrap_or_default();
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\"><span class=\"bar\" style=\"width:{}px\"></span>{share}%</td><td class=\"n\">{n}</td></tr>",
            subject_link(label, name),
            usd(*v),
            share.round().min(Decimal::ONE_HUNDRED)
        );
    }
    html.push_str("</tbody></table></section>");
}

/// A spender's name, linked to its own page (not `__other__`, which has none).
fn subject_link(label: &str, name: &str) -> String {
    let dim = match label {
        "user" => Dim::User,
        "feature" => Dim::Feature,
        _ => return esc(name),
    };
    if name == crate::ledger::OTHER {
        return esc(name);
    }
    over_time::link(dim, name)
}

/// The overview.
pub fn render(snap: &Snapshot, budgets: &Budgets, now: i64) -> String {
    render_view(snap, budgets, now, &View::Overview)
}

pub fn render_view(snap: &Snapshot, budgets: &Budgets, now: i64, view: &View) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let ledger = snap.ledger();
    let total = ledger.sum(Metric::UserCost, &[]);
    let records = |result: &str| ledger.sum(Metric::Records, &[("result", result)]);
    let _ = write!(
        h,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="15">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Bedrock cost</title><style>
body{{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d232a;background:#f7f8fa}}
@media (max-width:600px){{body{{margin:8px}}section{{padding:8px}}th,td{{padding:3px 4px}}svg.chart text{{font-size:20px}}svg.chart .xo{{display:none}}}}
a{{color:#1f5a96}}section{{overflow-x:auto}}.wide{{grid-column:1/-1}}svg.chart{{display:block;max-width:100%;height:auto}}
.legend{{list-style:none;padding:0;margin:4px 0 0;display:flex;flex-wrap:wrap;gap:4px 16px}}.legend i{{display:inline-block;width:12px;height:3px;margin-right:6px;vertical-align:middle}}
.note{{color:#5b6572;font-size:12px;margin:4px 0 0}}
h1{{font-size:20px;margin:0 0 4px}}h2{{font-size:15px;margin:0 0 8px}}
.sub{{color:#5b6572;margin-bottom:16px}}
.grid{{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(420px,100%),1fr));gap:16px}}
section{{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:12px 16px}}
table{{border-collapse:collapse;width:100%}}th,td{{text-align:left;padding:4px 8px;border-bottom:1px solid #eef0f3}}
th{{color:#5b6572;font-weight:600}}.n{{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}}
.bar{{display:inline-block;height:8px;background:#3572b0;margin-right:6px;vertical-align:middle}}
.kpi{{display:flex;gap:16px;flex-wrap:wrap;margin-bottom:16px}}.kpi div{{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:8px 16px}}
.kpi b{{display:block;font-size:20px}}.ok{{color:#1a7f37}}.bad{{color:#c62828;font-weight:600}}.empty{{color:#5b6572}}
</style></head><body><h1>Bedrock cost</h1><div class="sub">Estimated from invocation logs at list prices of the rate cards below. Updated {} (refreshes every 15 s).</div>"#,
        timefmt::format_rfc3339(now)
    );
    if let View::Subject(dim, name) = view {
        let history = snap.history();
        h.push_str(&over_time::subject(
            &history, &ledger, budgets, now, *dim, name,
        ));
        h.push_str("</body></html>\n");
        return h;
    }
    let store = if snap.store_writable {
        "<b class=\"ok\">writable</b>".to_string()
    } else {
        format!(
            "<b class=\"bad\" title=\"{}\">NOT writable</b>",
            esc(snap.store_error.as_deref().unwrap_or(""))
        )
    };
    let _ = write!(
        h,
        "<div class=\"kpi\"><div>total spend<b id=\"total\">{}</b></div><div>calls priced<b>{}</b></div><div>unpriced<b>{}</b></div><div>malformed<b>{}</b></div><div>duplicates<b>{}</b></div><div>state store{store}</div></div><div class=\"grid\">",
        usd(total),
        records("accepted"),
        records("unpriced"),
        records("malformed"),
        records("duplicate")
    );
    spenders(&mut h, &ledger, "user", "Top users by spend");
    spenders(&mut h, &ledger, "feature", "Top features by spend");
    h.push_str(&over_time::overview(&snap.history(), &ledger, budgets, now));

    h.push_str("<section><h2>Budgets (current UTC period)</h2><table id=\"budgets\"><thead><tr><th>budget</th><th>subject</th><th>period</th><th class=\"n\">spend</th><th class=\"n\">budget</th><th class=\"n\">used</th></tr></thead><tbody>");
    let mut gauges = budgets.gauges(&ledger, now);
    // Most at risk first.
    gauges.sort_by(|a, b| {
        (b.spend / b.limit)
            .cmp(&(a.spend / a.limit))
            .then_with(|| a.subject.cmp(&b.subject))
    });
    if gauges.is_empty() {
        h.push_str("<tr><td colspan=\"6\" class=\"empty\">no budgets configured, or no spend this period</td></tr>");
    }
    for g in gauges {
        let used = (g.spend * Decimal::ONE_HUNDRED / g.limit).round_dp(1);
        let class = if used >= Decimal::ONE_HUNDRED {
            " bad"
        } else {
            ""
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}={}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n{class}\">{used}%</td></tr>",
            esc(g.budget),
            esc(g.label),
            esc(&g.subject),
            g.period.as_str(),
            usd(g.spend),
            usd(g.limit)
        );
    }
    h.push_str("</tbody></table></section>");

    let in_force = snap.cards.card_for(now).map(|c| c.version.clone());
    h.push_str("<section><h2>Rate cards</h2><table id=\"ratecards\"><thead><tr><th>version</th><th>source</th><th>effective from</th><th>review by</th><th>sha256</th></tr></thead><tbody>");
    for c in snap.cards.cards() {
        let mark = if in_force.as_deref() == Some(c.version.as_str()) {
            " <b class=\"ok\">(in force)</b>"
        } else {
            ""
        };
        let _ = write!(
            h,
            "<tr><td>{}{mark}</td><td>{}</td><td>{}</td><td>{}</td><td><code title=\"{}\">{}</code></td></tr>",
            esc(&c.version),
            esc(c.source()),
            timefmt::format_date(c.effective_from / 86_400),
            c.review_by
                .map_or("-".to_string(), |r| timefmt::format_date(r / 86_400)),
            esc(&c.sha256),
            esc(c.sha256.get(..12).unwrap_or(&c.sha256))
        );
    }
    h.push_str("</tbody></table></section>");

    h.push_str("<section><h2>Pipeline</h2><table id=\"pipeline\"><thead><tr><th>source</th><th class=\"n\">accepted</th><th class=\"n\">unpriced</th><th class=\"n\">duplicate</th><th class=\"n\">malformed</th><th>newest record</th></tr></thead><tbody>");
    let mut sources: Vec<String> = by_label(&ledger, Metric::Records, "source")
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    sources.sort();
    for s in &sources {
        let n = |r: &str| ledger.sum(Metric::Records, &[("source", s), ("result", r)]);
        let newest = ledger.last_record().get(s).map_or("-".to_string(), |t| {
            format!(
                "{} ({} s ago)",
                timefmt::format_rfc3339(*t),
                (now - t).max(0)
            )
        });
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{newest}</td></tr>",
            esc(s),
            n("accepted"),
            n("unpriced"),
            n("duplicate"),
            n("malformed")
        );
    }
    h.push_str("</tbody></table></section></div></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Limits;
    use std::sync::{Arc, RwLock};

    #[test]
    fn the_query_picks_the_view() {
        let q = |pairs: &[(&str, &str)]| {
            let map = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            View::from_query(&map)
        };
        assert_eq!(q(&[]), View::Overview);
        assert_eq!(q(&[("refresh", "1")]), View::Overview);
        assert_eq!(
            q(&[("user", "a b")]),
            View::Subject(Dim::User, "a b".into())
        );
        assert_eq!(
            q(&[("feature", "chat"), ("user", "alice")]),
            View::Subject(Dim::User, "alice".into()),
            "user first"
        );
        assert_eq!(q(&[("model", "m")]), View::Subject(Dim::Model, "m".into()));
    }

    #[test]
    fn the_page_ranks_spenders_and_escapes_label_values() {
        let mut b = Ledger::new(&Limits::uniform(100, &["user", "feature"], 100));
        let usd = |s: &str| crate::money::to_units(s.parse().unwrap(), 18).unwrap();
        b.add_named(Metric::UserCost, &[("user", "alice")], usd("3.5"));
        b.add_named(Metric::UserCost, &[("user", "<bob>")], usd("0.004"));
        b.add_named(Metric::FeatureCost, &[("feature", "chat")], usd("3.504"));
        b.add_named(
            Metric::Records,
            &[("source", "file"), ("result", "accepted")],
            1,
        );
        let snap = Snapshot {
            ledger: Arc::new(RwLock::new(b)),
            history: Default::default(),
            store_writable: true,
            store_error: None,
            cards: Default::default(),
        };
        let html = render(&snap, &Budgets::default(), 1_795_420_800);
        let alice = html
            .find("<td><a href=\"/?user=alice\">alice</a></td>")
            .unwrap();
        let bob = (html.find("<td><a href=\"/?user=%3Cbob%3E\">&lt;bob&gt;</a></td>"))
            .expect("escaped, and encoded in the link");
        assert!(alice < bob, "largest first");
        assert!(html.contains("$3.5") && html.contains("$0.004"));
        assert!(!html.contains("<bob>"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no external assets"
        );
    }
}
