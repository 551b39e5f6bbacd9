//! The status page's spend-over-time panels: the account per minute, hour and day, the top
//! users and features as lines, budget burn with the month-end projection, and one subject's
//! own history (`/?user=alice`). Pure: HTML from the history, the ledger and the budgets.

use std::fmt::Write;

use rust_decimal::Decimal;

use super::{esc, usd};
use crate::budgets::{Budgets, Gauge, Period};
use crate::chart::{Chart, Line, Style, TimeLabel, PALETTE};
use crate::history::{Dim, History, Resolution, OTHER};
use crate::ledger::{Ledger, Metric};
use crate::timefmt;

/// Subjects drawn as lines of their own in a top chart; the rest is one "all others" line.
const LINES: usize = 5;

/// Percent-encodes a query value (everything but unreserved characters).
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The link to a subject's own page.
pub fn link(dim: Dim, name: &str) -> String {
    format!(
        "<a href=\"/?{}={}\">{}</a>",
        dim.as_str(),
        urlencode(name),
        esc(name)
    )
}

/// The time range a chart at `res` shows: from the oldest spend kept (at least `min` buckets
/// back) to the current bucket.
fn range(h: &History, res: Resolution, now: i64, min: i64) -> (i64, i64) {
    let secs = res.seconds();
    let current = res.bucket(now) * secs;
    let earliest = current - (res.window() as i64 - 1) * secs;
    let shortest = current - (min - 1) * secs;
    let from = h.first(res, now).unwrap_or(shortest).min(shortest);
    (from.max(earliest), current)
}

fn line(name: &str, i: usize, points: Vec<(i64, Decimal)>) -> Line {
    Line {
        name: name.to_string(),
        color: PALETTE[i % PALETTE.len()],
        style: Style::Solid,
        points,
    }
}

/// The legend under a chart: a swatch, the name (a link for a subject) and the amount.
fn legend(entries: &[(String, &str, Decimal)]) -> String {
    let mut s = String::from("<ul class=\"legend\">");
    for (label, color, amount) in entries {
        let _ = write!(
            s,
            "<li><i style=\"background:{color}\"></i>{label} <span class=\"n\">{}</span></li>",
            usd(*amount)
        );
    }
    s.push_str("</ul>");
    s
}

fn panel(h2: &str, chart: &Chart, legend: &str, note: &str) -> String {
    format!(
        "<section class=\"wide\"><h2>{}</h2>{}{legend}{note}</section>",
        esc(h2),
        chart.svg()
    )
}

fn sum(points: &[(i64, Decimal)]) -> Decimal {
    points.iter().map(|p| p.1).sum()
}

/// One line of a subject (or the account) over a range.
fn total_chart(
    h: &History,
    id: &str,
    title: &str,
    res: Resolution,
    from: i64,
    now: i64,
) -> (Chart, Decimal) {
    let points = h.line(Dim::Total, "", res, from, now).unwrap_or_default();
    let total = sum(&points);
    let chart = Chart {
        id: id.into(),
        title: title.into(),
        from,
        to: res.bucket(now) * res.seconds(),
        labels: labels(res),
        lines: vec![line("all spend", 0, points)],
    };
    (chart, total)
}

fn labels(res: Resolution) -> TimeLabel {
    match res {
        Resolution::Minute => TimeLabel::Clock,
        Resolution::Hour => TimeLabel::DayHour,
        Resolution::Day => TimeLabel::Day,
    }
}

/// The top subjects of a dimension per hour, and everyone else as one line, so the lines
/// add up to the account.
fn top_chart(h: &History, dim: Dim, from: i64, now: i64) -> String {
    let res = Resolution::Hour;
    let ranked = h.ranked(dim, res, now);
    let top: Vec<&String> = (ranked.iter())
        .filter(|(n, v)| n != OTHER && !v.is_zero())
        .map(|(n, _)| n)
        .take(LINES)
        .collect();
    let total = h.line(Dim::Total, "", res, from, now).unwrap_or_default();
    let mut rest = total.clone();
    let mut lines = Vec::new();
    let mut entries = Vec::new();
    for (i, name) in top.iter().enumerate() {
        let points = h.line(dim, name, res, from, now).unwrap_or_default();
        for (r, p) in rest.iter_mut().zip(&points) {
            r.1 -= p.1;
        }
        entries.push((link(dim, name), PALETTE[i], sum(&points)));
        lines.push(line(name, i, points));
    }
    let others = sum(&rest);
    if !others.is_zero() {
        let i = lines.len();
        entries.push(("all others".to_string(), PALETTE[i], others));
        lines.push(line("all others", i, rest));
    }
    let what = format!("{}s", dim.as_str());
    let chart = Chart {
        id: format!("chart-top-{}", dim.as_str()),
        title: format!("Spend per hour of the top {what}"),
        from,
        to: res.bucket(now) * res.seconds(),
        labels: labels(res),
        lines,
    };
    let note = if ranked.iter().any(|(n, _)| n == OTHER) {
        format!("<p class=\"note\">Past the first {} {what} seen since the start, spend is counted in \"all others\" only.</p>", crate::history::TOP)
    } else {
        String::new()
    };
    panel(
        &format!("Top {what}, spend per hour"),
        &chart,
        &legend(&entries),
        &note,
    )
}

/// Start and end (unix seconds) of the UTC month `now` falls in.
fn month(now: i64) -> (i64, i64) {
    let (y, m, _) = timefmt::civil_from_days(now.div_euclid(86_400));
    let start = timefmt::days_from_civil(y, m, 1) * 86_400;
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    (start, timefmt::days_from_civil(ny, nm, 1) * 86_400)
}

/// The spend of a whole month at the pace so far (linear).
pub fn projection(spend: Decimal, start: i64, end: i64, now: i64) -> Decimal {
    let elapsed = (now - start).max(1);
    (spend.checked_mul(Decimal::from(end - start)))
        .and_then(|v| v.checked_div(Decimal::from(elapsed)))
        .unwrap_or(Decimal::MAX)
        .round_dp(6)
}

/// The spend at `end`: `spend` so far plus the pace of `recent` USD over `seconds`, for the
/// time left.
pub fn projection_from_pace(
    spend: Decimal,
    recent: Decimal,
    seconds: i64,
    end: i64,
    now: i64,
) -> Decimal {
    let left = Decimal::from((end - now).max(0));
    recent
        .checked_mul(left)
        .and_then(|v| v.checked_div(Decimal::from(seconds.max(1))))
        .and_then(|v| v.checked_add(spend))
        .unwrap_or(Decimal::MAX)
        .round_dp(6)
}

/// Budget burn of one monthly budget: spend so far (cumulative per day where the history
/// has the subject's days), the pace projected to the month's end, and the budget.
fn burn(h: &History, g: &Gauge<'_>, now: i64) -> String {
    let (start, end) = month(now);
    let dim = match g.label {
        "user" => Some(Dim::User),
        "feature" => Some(Dim::Feature),
        _ => None,
    };
    let days = dim.and_then(|d| h.line(d, &g.subject, Resolution::Day, start, now));
    let mut cumulative = vec![(start, Decimal::ZERO)];
    let mut acc = Decimal::ZERO;
    for (t, v) in days.iter().flatten() {
        acc += v;
        cumulative.push(((t + 86_400).min(now), acc));
    }
    // The history is in memory: after a restart it lacks the days before. The exact spend
    // (from the ledger) then draws as one straight stretch rather than a wrong shape.
    let detailed = acc == g.spend;
    let (actual, note) = if detailed {
        (cumulative, "")
    } else {
        (
            vec![(start, Decimal::ZERO), (now, g.spend)],
            "<p class=\"note\">No daily detail for this subject since the start of the month (the history is kept in memory): spend so far is drawn as a straight line.</p>",
        )
    };
    // In a month's first week the month's own pace rests on a few hours or days: the pace of
    // the last seven days (across the month's start) is steadier, when the history holds them.
    let week = now - 7 * 86_400;
    let recent = dim
        .filter(|_| detailed && week < start)
        .and_then(|d| h.line(d, &g.subject, Resolution::Day, week, now))
        .map(|days| {
            let spent: Decimal = days.iter().map(|(_, v)| *v).sum();
            (spent, now - days.first().map_or(week, |(t, _)| *t))
        });
    let projected = match recent {
        Some((spent, seconds)) => projection_from_pace(g.spend, spent, seconds, end, now),
        None => projection(g.spend, start, end, now),
    };
    let over = projected > g.limit;
    let lines = vec![
        line("spend so far", 0, actual),
        Line {
            name: "projection to month end".into(),
            color: PALETTE[1],
            style: Style::Dashed,
            points: vec![(now, g.spend), (end, projected)],
        },
        Line {
            name: "budget".into(),
            color: PALETTE[3],
            style: Style::Dashed,
            points: vec![(start, g.limit), (end, g.limit)],
        },
    ];
    let chart = Chart {
        id: "chart-burn".into(),
        title: format!("Budget burn of {}={}", g.label, g.subject),
        from: start,
        to: end,
        labels: TimeLabel::Day,
        lines,
    };
    let entries = [
        ("spend so far".to_string(), PALETTE[0], g.spend),
        ("projected by month end".to_string(), PALETTE[1], projected),
        ("budget".to_string(), PALETTE[3], g.limit),
    ];
    let class = if over { " class=\"bad\"" } else { "" };
    let summary = format!(
        "<p{class}>Budget <b>{}</b> for {}={}: {} of {} this month; at this pace {} by the month's end.</p>",
        esc(g.budget),
        esc(g.label),
        esc(&g.subject),
        usd(g.spend),
        usd(g.limit),
        usd(projected)
    );
    panel(
        &format!(
            "Budget burn, {}",
            timefmt::format_date(start / 86_400).get(..7).unwrap_or("")
        ),
        &chart,
        &legend(&entries),
        &format!("{summary}{note}"),
    )
}

/// Monthly budget gauges, the most at risk first.
fn monthly<'a>(budgets: &'a Budgets, ledger: &Ledger, now: i64) -> Vec<Gauge<'a>> {
    let mut g: Vec<Gauge<'a>> = (budgets.gauges(ledger, now).into_iter())
        .filter(|g| g.period == Period::Month && !g.limit.is_zero())
        .collect();
    g.sort_by(|a, b| {
        (b.spend / b.limit)
            .cmp(&(a.spend / a.limit))
            .then_with(|| a.subject.cmp(&b.subject))
    });
    g
}

/// The overview's panels.
pub fn overview(h: &History, ledger: &Ledger, budgets: &Budgets, now: i64) -> String {
    let mut s = String::new();
    let (from, _) = range(h, Resolution::Hour, now, 24);
    let (chart, total) = total_chart(
        h,
        "chart-hour",
        "Spend per hour",
        Resolution::Hour,
        from,
        now,
    );
    let entries = [("all spend".to_string(), PALETTE[0], total)];
    s.push_str(&panel("Spend per hour", &chart, &legend(&entries), ""));
    s.push_str(&top_chart(h, Dim::User, from, now));
    s.push_str(&top_chart(h, Dim::Feature, from, now));
    match monthly(budgets, ledger, now).first() {
        Some(g) => s.push_str(&burn(h, g, now)),
        None => s.push_str("<section class=\"wide\"><h2>Budget burn</h2><p class=\"empty\">No monthly budget configured, or no spend against one this month.</p></section>"),
    }
    let (from, _) = range(h, Resolution::Minute, now, 60);
    let (chart, total) = total_chart(
        h,
        "chart-minute",
        "Spend per minute, last 24 hours",
        Resolution::Minute,
        from,
        now,
    );
    let entries = [("all spend".to_string(), PALETTE[0], total)];
    s.push_str(&panel(
        "Spend per minute (last 24 hours)",
        &chart,
        &legend(&entries),
        "",
    ));
    let (from, _) = range(h, Resolution::Day, now, 7);
    let (chart, total) = total_chart(h, "chart-day", "Spend per day", Resolution::Day, from, now);
    let entries = [("all spend".to_string(), PALETTE[0], total)];
    let note = "<p class=\"note\">Per day survives a restart (rebuilt from the daily totals in the store); per hour and per minute start again.</p>";
    s.push_str(&panel("Spend per day", &chart, &legend(&entries), note));
    s
}

/// The exact ledger totals of a subject: (cost, calls), if it has any.
fn subject_totals(ledger: &Ledger, dim: Dim, name: &str) -> Option<(Decimal, Decimal)> {
    let (cost, calls) = match dim {
        Dim::User => (Metric::UserCost, Metric::UserInvocations),
        Dim::Feature => (Metric::FeatureCost, Metric::FeatureInvocations),
        Dim::Model => (Metric::ModelCost, Metric::Invocations),
        Dim::Total => return None,
    };
    let label = [(dim.as_str(), name)];
    let has = ledger
        .iter()
        .any(|(_, k, _)| k.metric == cost && ledger.label(k, dim.as_str()) == Some(name));
    has.then(|| (ledger.sum(cost, &label), ledger.sum(calls, &label)))
}

/// One subject's own page body: its totals, its lines per hour, minute and day, and its
/// monthly budgets' burn; a plain "no data" for a subject never seen.
pub fn subject(
    h: &History,
    ledger: &Ledger,
    budgets: &Budgets,
    now: i64,
    dim: Dim,
    name: &str,
) -> String {
    let mut s = String::new();
    let totals = subject_totals(ledger, dim, name);
    let _ = write!(
        s,
        "<p><a href=\"/\">&larr; all spend</a></p><h1 id=\"subject\">{} {}</h1>",
        dim.as_str(),
        esc(name)
    );
    if totals.is_none() && !h.has(dim, name) {
        let _ = write!(
            s,
            "<section id=\"no-data\"><p class=\"empty\">No data for {} \"{}\": no priced call has been counted for it.</p></section>",
            dim.as_str(),
            esc(name)
        );
        return s;
    }
    if let Some((cost, calls)) = totals {
        let _ = write!(
            s,
            "<div class=\"kpi\"><div>total spend<b id=\"subject-total\">{}</b></div><div>calls<b>{calls}</b></div></div>",
            usd(cost)
        );
    }
    if !h.has(dim, name) {
        let _ = write!(
            s,
            "<section class=\"wide\"><p class=\"empty\">No history of its own: past the first {} {}s seen since the start, spend over time is counted with all others.</p></section>",
            crate::history::TOP,
            dim.as_str()
        );
        return s;
    }
    s.push_str("<div class=\"grid\">");
    let charts = [
        (Resolution::Hour, 24, "chart-hour", "Spend per hour"),
        (
            Resolution::Minute,
            60,
            "chart-minute",
            "Spend per minute (last 24 hours)",
        ),
        (Resolution::Day, 7, "chart-day", "Spend per day"),
    ];
    for (res, min, id, title) in charts {
        let (from, to) = range(h, res, now, min);
        let points = h.line(dim, name, res, from, now).unwrap_or_default();
        let entries = [(esc(name), PALETTE[0], sum(&points))];
        let chart = Chart {
            id: id.into(),
            title: format!("{title} of {} {name}", dim.as_str()),
            from,
            to,
            labels: labels(res),
            lines: vec![line(name, 0, points)],
        };
        s.push_str(&panel(title, &chart, &legend(&entries), ""));
        if res == Resolution::Hour {
            for g in monthly(budgets, ledger, now)
                .iter()
                .filter(|g| g.label == dim.as_str() && g.subject == name)
            {
                s.push_str(&burn(h, g, now));
            }
        }
    }
    s.push_str("</div>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budgets::Budget;
    use crate::history::Spent;
    use crate::ledger::Limits;

    /// 2026-11-23T12:00:00Z
    const NOON: i64 = 1_795_435_200;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn history() -> History {
        let mut h = History::new();
        for m in 0..600 {
            let at = NOON - m * 60;
            // alice ramps up towards now; bob is flat
            let alice =
                crate::money::to_units(Decimal::from(600 - m) / Decimal::from(100), 18).unwrap();
            let bob = crate::money::to_units(d("0.5"), 18).unwrap();
            for (user, feature, units) in [("alice", "chat", alice), ("bob <&>", "search", bob)] {
                let s = Spent {
                    at,
                    user: user.into(),
                    feature: feature.into(),
                    model: "m".into(),
                    units,
                };
                h.add(&s, NOON);
            }
        }
        h
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(urlencode("alice"), "alice");
        assert_eq!(urlencode("bob <&> é/?"), "bob%20%3C%26%3E%20%C3%A9%2F%3F");
        assert_eq!(
            link(Dim::User, "a&b"),
            "<a href=\"/?user=a%26b\">a&amp;b</a>"
        );
    }

    #[test]
    fn the_projection_is_the_pace_so_far_over_the_whole_month() {
        let (start, end) = month(NOON);
        assert_eq!(timefmt::format_rfc3339(start), "2026-11-01T00:00:00Z");
        assert_eq!(timefmt::format_rfc3339(end), "2026-12-01T00:00:00Z");
        // 22.5 days of 30 gone: 30 USD so far is 40 by the end
        assert_eq!(projection(d("30"), start, end, NOON), d("40"));
        assert_eq!(month(end - 1), (start, end));
    }

    #[test]
    fn early_in_a_month_the_projection_follows_the_last_week() {
        let (start, end) = month(NOON);
        // 70 USD over the last 7 days is 10 a day: 5 so far plus 10 a day for 10 days left
        let now = end - 10 * 86_400;
        assert_eq!(
            projection_from_pace(d("5"), d("70"), 7 * 86_400, end, now),
            d("105")
        );
        assert_eq!(projection_from_pace(d("5"), d("70"), 0, end, end), d("5"));
        assert!(start < now);
    }

    #[test]
    fn the_overview_draws_hours_top_lines_and_budget_burn() {
        let h = history();
        let mut ledger = Ledger::new(&Limits::uniform(100, &["user", "feature"], 100));
        let units = |s: &str| crate::money::to_units(d(s), 18).unwrap();
        ledger.add_named(
            Metric::PeriodSpend,
            &[
                ("label", "user"),
                ("subject", "alice"),
                ("period", "month"),
                ("start", "2026-11"),
            ],
            units("120"),
        );
        let budgets = Budgets {
            list: vec![Budget {
                name: "per-user".into(),
                label: "user".into(),
                subject: None,
                limits: vec![(Period::Month, d("100"))],
            }],
        };
        let html = overview(&h, &ledger, &budgets, NOON);
        for id in [
            "chart-hour",
            "chart-top-user",
            "chart-top-feature",
            "chart-burn",
            "chart-minute",
            "chart-day",
        ] {
            assert!(html.contains(&format!("<svg id=\"{id}\"")), "no {id}");
        }
        let minute = html.split("<svg id=\"chart-minute\"").nth(1).unwrap();
        let d_attr = minute
            .split("<path d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(d_attr.matches('L').count() >= 599, "one point a minute");
        assert!(html.contains("<a href=\"/?user=bob%20%3C%26%3E\">bob &lt;&amp;&gt;</a>"));
        assert!(!html.contains("<&>"));
        // the burn: 120 of 100 so far, 160 at this pace, flagged
        assert!(
            html.contains("<p class=\"bad\">Budget <b>per-user</b> for user=alice: $120 of $100")
        );
        assert!(html.contains("at this pace $160 by"), "{html}");
        assert!(
            html.contains("No daily detail"),
            "the history has 10 h of alice, not 120 USD"
        );
    }

    #[test]
    fn a_subject_page_shows_its_lines_and_an_unknown_one_says_no_data() {
        let h = history();
        let mut ledger = Ledger::new(&Limits::uniform(100, &["user", "feature"], 100));
        let units = crate::money::to_units(d("3"), 18).unwrap();
        ledger.add_named(Metric::UserCost, &[("user", "alice")], units);
        let b = Budgets::default();
        let page = subject(&h, &ledger, &b, NOON, Dim::User, "alice");
        assert!(page.contains("<h1 id=\"subject\">user alice</h1>"));
        assert!(page.contains("<b id=\"subject-total\">$3</b>"), "{page}");
        assert!(
            page.contains("<svg id=\"chart-hour\"") && page.contains("<svg id=\"chart-minute\"")
        );
        let page = subject(&h, &ledger, &b, NOON, Dim::Feature, "<nope>");
        assert!(page.contains("id=\"no-data\"") && page.contains("&lt;nope&gt;"));
        assert!(!page.contains("<svg") && !page.contains("<nope>"));
    }
}
