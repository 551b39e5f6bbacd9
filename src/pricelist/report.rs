//! The text report of `ratecard import` (and the summary `ratecard check` prints): what was
//! read, what became a price, and every item that did not, grouped by why. Pure.

use std::fmt::Write as _;

use super::import::Imported;

/// Usage types shown per unmapped product (a listing has up to dozens).
const EXAMPLES: usize = 4;

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub fn render(imp: &Imported) -> String {
    let r = &imp.report;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "read {}, {}:",
        plural(imp.offers.len(), "offer file", "offer files"),
        plural(r.items, "price item", "price items")
    );
    for o in &imp.offers {
        let _ = writeln!(
            out,
            "  {} version {} (published {}) from {}",
            o.offer_code, o.version, o.publication_date, o.file
        );
    }
    let prices: usize = imp
        .rows
        .iter()
        .map(|r| r.prices.len() + r.long_context.as_ref().map_or(0, |l| l.1.len()))
        .sum();
    let _ = writeln!(
        out,
        "imported {} for {} ({})",
        plural(imp.rows.len(), "row", "rows"),
        plural(imp.models.len(), "model", "models"),
        plural(prices, "price", "prices")
    );
    if r.duplicates > 0 {
        let _ = writeln!(
            out,
            "{} at the same price as another item for the same card price (kept once)",
            plural(r.duplicates, "item was", "items were")
        );
    }
    if !r.unmapped.is_empty() {
        let _ = writeln!(
            out,
            "unmapped products ({}): not imported; add them to the mapping table (--mapping FILE) once reviewed",
            r.unmapped.len()
        );
        for ((offer, key), u) in &r.unmapped {
            let mut shown: Vec<&str> = u
                .usagetypes
                .iter()
                .take(EXAMPLES)
                .map(String::as_str)
                .collect();
            let more = u.usagetypes.len().saturating_sub(EXAMPLES);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            if shown.is_empty() {
                shown.push("-");
            }
            let mut line = format!(
                "  {offer} {key}: {} ({}{more})",
                plural(u.skus.len(), "SKU", "SKUs"),
                shown.join(", ")
            );
            if let Some(d) = &u.display {
                let _ = write!(line, "; model attribute {d:?}");
            }
            if let Some(c) = &u.candidate {
                let _ = write!(
                    line,
                    "; candidate entry {c} awaits review (reviewed = false)"
                );
            }
            let _ = writeln!(out, "{line}");
        }
    }
    if !r.unknown.is_empty() {
        let _ = writeln!(
            out,
            "unknown usage types ({}): not classified, never guessed",
            r.unknown.len()
        );
        for ((offer, ut), skus) in &r.unknown {
            let skus: Vec<&str> = skus.iter().map(String::as_str).collect();
            let _ = writeln!(out, "  {offer} {ut:?} (SKU {})", skus.join(", "));
        }
    }
    if !r.excluded.is_empty() {
        let n: usize = r.excluded.values().sum();
        let _ = writeln!(out, "excluded ({}):", plural(n, "item", "items"));
        for (why, n) in &r.excluded {
            let _ = writeln!(out, "  {why}: {}", plural(*n, "item", "items"));
        }
    }
    for (title, list) in [
        ("unit problems", &r.unit_problems),
        ("other problems", &r.problems),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "{title} ({}):", list.len());
            for p in list {
                let _ = writeln!(out, "  {p}");
            }
        }
    }
    out
}
