//! Plain-text tables for command output (`ratecard diff|check`, `state daily`, `reconcile`):
//! columns padded to their widest cell, two spaces apart, trailing spaces trimmed.

use std::ops::Range;

/// `rows` with its header first; the columns in `right` (numbers) are aligned right, header
/// included, the others left.
pub fn table(rows: &[Vec<String>], right: Range<usize>) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = (r.iter().zip(&widths).enumerate())
            .map(|(i, (c, &w))| match right.contains(&i) {
                true => format!("{c:>w$}"),
                false => format!("{c:<w$}"),
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// A header row as owned cells, to put before the rows.
pub fn head(names: &[&str]) -> Vec<String> {
    names.iter().map(|h| h.to_string()).collect()
}
