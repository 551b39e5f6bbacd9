//! Line charts as inline SVG for the status page: no script, no font or file fetched, a
//! `viewBox` so the chart scales to the width of a phone or a desktop. Pure: points in,
//! markup out. Money becomes `f64` here, for drawing only.

use std::fmt::Write;

use rust_decimal::Decimal;

/// The drawing's coordinate space; the browser scales it to the width available.
const W: f64 = 640.0;
const H: f64 = 220.0;
/// Room for the y labels (left) and the x labels (bottom); the page's phone layout sets a
/// larger font, which still fits.
const LEFT: f64 = 66.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;
/// Gridlines (and y labels) above zero.
const Y_TICKS: u32 = 4;
/// Time labels along the x axis.
const X_TICKS: i64 = 4;

/// Line colours, in legend order (readable on white, distinct for common colour blindness).
pub const PALETTE: [&str; 8] = [
    "#3572b0", "#e8710a", "#1a7f37", "#c62828", "#8e44ad", "#00838f", "#795548", "#7f8c8d",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Solid,
    Dashed,
}

/// One line: (unix seconds, USD) points, oldest first.
#[derive(Debug, Clone)]
pub struct Line {
    pub name: String,
    pub color: &'static str,
    pub style: Style,
    pub points: Vec<(i64, Decimal)>,
}

/// How x labels are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeLabel {
    /// `14:35`
    Clock,
    /// `11-23 14h`
    DayHour,
    /// `11-23`
    Day,
}

#[derive(Debug, Clone)]
pub struct Chart {
    /// The `id` of the `<svg>` (tests and links find it by that).
    pub id: String,
    /// Read aloud by screen readers (`<title>`).
    pub title: String,
    /// The time range drawn.
    pub from: i64,
    pub to: i64,
    pub labels: TimeLabel,
    pub lines: Vec<Line>,
}

/// The SVG path of points already in drawing coordinates: `M x y` then `L x y` for each
/// next point, one decimal (a tenth of a unit is below a pixel at any width).
pub fn path(points: &[(f64, f64)]) -> String {
    let mut d = String::with_capacity(points.len() * 14);
    for (i, (x, y)) in points.iter().enumerate() {
        let cmd = if i == 0 { 'M' } else { 'L' };
        let _ = write!(d, "{cmd}{x:.1} {y:.1}");
    }
    d
}

/// The smallest 1, 2 or 5 times a power of ten at or above `v` (a round top for the y axis);
/// 1 for nothing to show.
pub fn nice_max(v: f64) -> f64 {
    if !v.is_finite() || v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|c| *c >= v * (1.0 - 1e-12))
        .unwrap_or(10.0 * p)
}

/// A y label: dollars with as many decimals as the scale needs, thousands as `k` and millions
/// as `M` (short enough for a phone).
fn usd_label(v: f64, top: f64) -> String {
    if top >= 1e6 {
        return format!("${}M", trim(v / 1e6));
    }
    if top >= 1e4 {
        return format!("${}k", trim(v / 1e3));
    }
    let places = if top >= 10.0 {
        0
    } else if top >= 0.1 {
        2
    } else {
        (-top.log10().floor() as usize) + 2
    };
    format!("${v:.places$}")
}

/// A number with up to two decimals, without trailing zeros.
fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn time_label(unix: i64, kind: TimeLabel) -> String {
    let s = crate::timefmt::format_rfc3339(unix); // 2026-11-23T14:35:00Z
    match kind {
        TimeLabel::Clock => s[11..16].to_string(),
        TimeLabel::DayHour => format!("{} {}h", &s[5..10], &s[11..13]),
        TimeLabel::Day => s[5..10].to_string(),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Chart {
    /// Drawing coordinates of a point, given the y axis top.
    fn xy(&self, t: i64, usd: f64, top: f64) -> (f64, f64) {
        let span = (self.to - self.from).max(1) as f64;
        let x = LEFT + (t - self.from) as f64 / span * (W - LEFT - RIGHT);
        let y = H - BOTTOM - usd / top * (H - TOP - BOTTOM);
        (x, y)
    }

    /// The `<svg>` element. Lines with fewer than two points inside the range draw nothing.
    pub fn svg(&self) -> String {
        let visible = |l: &Line| -> Vec<(i64, f64)> {
            (l.points.iter())
                .filter(|(t, _)| (self.from..=self.to).contains(t))
                .map(|(t, v)| (*t, crate::money::to_f64(*v)))
                .collect()
        };
        let lines: Vec<(&Line, Vec<(i64, f64)>)> =
            self.lines.iter().map(|l| (l, visible(l))).collect();
        let max = (lines.iter())
            .flat_map(|(_, p)| p.iter().map(|(_, v)| *v))
            .fold(0.0, f64::max);
        let top = nice_max(max);
        let mut s = String::with_capacity(4096);
        let _ = write!(
            s,
            r#"<svg id="{}" class="chart" viewBox="0 0 {W} {H}" width="100%" preserveAspectRatio="xMidYMid meet" role="img"><title>{}</title>"#,
            esc(&self.id),
            esc(&self.title)
        );
        s.push_str(r##"<g font-size="11" fill="#5b6572" font-family="system-ui,sans-serif">"##);
        for i in 0..=Y_TICKS {
            let v = top * f64::from(i) / f64::from(Y_TICKS);
            let (_, y) = self.xy(self.from, v, top);
            let _ = write!(
                s,
                r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#e3e6ea"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                W - RIGHT,
                LEFT - 4.0,
                y + 4.0,
                usd_label(v, top)
            );
        }
        for i in 0..=X_TICKS {
            let t = self.from + (self.to - self.from) * i / X_TICKS;
            let (x, _) = self.xy(t, 0.0, top);
            let anchor = match i {
                0 => "start",
                X_TICKS => "end",
                _ => "middle",
            };
            // Every other label can be hidden where the larger phone font would overlap.
            let class = if i % 2 == 1 { " class=\"xo\"" } else { "" };
            let _ = write!(
                s,
                r#"<text x="{x:.1}" y="{:.1}" text-anchor="{anchor}"{class}>{}</text>"#,
                H - 6.0,
                time_label(t, self.labels)
            );
        }
        s.push_str("</g>");
        for (l, points) in &lines {
            if points.len() < 2 {
                continue;
            }
            let xy: Vec<(f64, f64)> = points.iter().map(|(t, v)| self.xy(*t, *v, top)).collect();
            let dash = match l.style {
                Style::Solid => "",
                Style::Dashed => r#" stroke-dasharray="6 4""#,
            };
            let _ = write!(
                s,
                r#"<path d="{}" fill="none" stroke="{}" stroke-width="1.6" stroke-linejoin="round"{dash}><title>{}</title></path>"#,
                path(&xy),
                l.color,
                esc(&l.name)
            );
        }
        s.push_str("</svg>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_moves_to_the_first_point_and_draws_lines_to_the_rest() {
        assert_eq!(path(&[]), "");
        assert_eq!(path(&[(1.0, 2.0)]), "M1.0 2.0");
        assert_eq!(
            path(&[(58.0, 186.0), (100.25, 40.04), (632.0, 10.0)]),
            "M58.0 186.0L100.2 40.0L632.0 10.0"
        );
    }

    #[test]
    fn the_y_axis_tops_at_a_round_amount() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(f64::NAN), 1.0);
        assert_eq!(nice_max(3.2), 5.0);
        assert_eq!(nice_max(5.0), 5.0);
        assert_eq!(nice_max(0.013), 0.02);
        assert_eq!(nice_max(120.0), 200.0);
        assert_eq!(nice_max(7000.0), 10_000.0);
    }

    #[test]
    fn y_labels_are_short() {
        assert_eq!(usd_label(0.005, 0.02), "$0.0050");
        assert_eq!(usd_label(1.25, 5.0), "$1.25");
        assert_eq!(usd_label(50.0, 200.0), "$50");
        assert_eq!(usd_label(37_500.0, 50_000.0), "$37.5k");
        assert_eq!(usd_label(1_500_000.0, 2_000_000.0), "$1.5M");
    }

    fn chart(points: Vec<(i64, Decimal)>) -> Chart {
        Chart {
            id: "c<1>".into(),
            title: "spend & more".into(),
            from: 0,
            to: 3600,
            labels: TimeLabel::Clock,
            lines: vec![Line {
                name: "<alice>".into(),
                color: PALETTE[0],
                style: Style::Dashed,
                points,
            }],
        }
    }

    #[test]
    fn a_chart_scales_its_points_into_the_plot_and_escapes_names() {
        let pts = (0..=60).map(|m| (m * 60, Decimal::from(m % 7))).collect();
        let svg = chart(pts).svg();
        assert!(svg.starts_with("<svg id=\"c&lt;1&gt;\""));
        assert!(svg.contains("viewBox=\"0 0 640 220\""));
        assert!(svg.contains("<title>spend &amp; more</title>"));
        assert!(svg.contains("<title>&lt;alice&gt;</title>") && !svg.contains("<alice>"));
        assert!(svg.contains("stroke-dasharray"));
        let d = svg
            .split("<path d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(d.matches('M').count(), 1);
        assert_eq!(d.matches('L').count(), 60);
        // the first point is at the plot's left edge and zero, the 6 (max) is under the top
        assert!(d.starts_with("M66.0 196.0L"), "{d}");
        let ys: Vec<f64> = (d[1..].split('L'))
            .map(|p| p.split(' ').nth(1).unwrap().parse().unwrap())
            .collect();
        let highest = ys.iter().copied().fold(f64::MAX, f64::min);
        assert!((10.0..=196.0).contains(&highest), "{highest}");
        // x labels of the range, y labels in dollars
        assert!(svg.contains(">00:00</text>") && svg.contains(">01:00</text>"));
        assert!(svg.contains(">$10</text>") || svg.contains(">$10.00</text>"));
        assert!(!svg.contains("<script") && !svg.contains("href"));
    }

    #[test]
    fn a_line_of_fewer_than_two_points_in_range_draws_nothing() {
        let svg = chart(vec![(10, Decimal::ONE), (99_999, Decimal::TEN)]).svg();
        assert!(!svg.contains("<path"), "{svg}");
        assert!(
            svg.contains(">$1.00</text>"),
            "the axis still scales to the visible point"
        );
    }
}
