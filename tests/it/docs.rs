//! The documentation: the README stays a front page, every relative link and anchor in it and
//! in `docs/` resolves, and the metrics reference names every metric the daemon defines.
//! (Every config key is checked by the unit test `the_reference_names_every_setting`.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    for e in std::fs::read_dir(root().join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            pages.push(p);
        }
    }
    pages
}

/// Markdown lines outside fenced code blocks.
fn prose(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut fenced = false;
    text.lines().enumerate().filter(move |(_, l)| {
        if l.starts_with("```") {
            fenced = !fenced;
            return false;
        }
        !fenced
    })
}

/// GitHub's heading anchors: lower case, punctuation but `-` and `_` dropped, spaces to `-`,
/// repeats numbered.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, l) in prose(text) {
        let Some(h) = l.trim_start_matches('#').strip_prefix(' ') else {
            continue;
        };
        if !l.starts_with('#') {
            continue;
        }
        let slug: String = h
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut name = slug.clone();
        let mut n = 1;
        while !out.insert(name.clone()) {
            name = format!("{slug}-{n}");
            n += 1;
        }
    }
    out
}

#[test]
fn the_readme_is_a_front_page() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 300,
        "README.md has {lines} lines; reference belongs in docs/"
    );
    for section in ["## Quick start", "## Point it at your logs", "## Reference"] {
        assert!(readme.contains(section), "README.md lost {section}");
    }
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = page.parent().unwrap();
        for (n, line) in prose(&text) {
            for link in line.split("](").skip(1) {
                let Some(url) = link.split(')').next() else {
                    continue;
                };
                if url.contains("://") || url.starts_with("mailto:") || url.contains(' ') {
                    continue;
                }
                let (path, frag) = url.split_once('#').unwrap_or((url, ""));
                let target = if path.is_empty() {
                    page.clone()
                } else {
                    dir.join(path)
                };
                let at = format!("{}:{}: {url}", page.display(), n + 1);
                if !target.exists() {
                    broken.push(format!("{at} (no such file)"));
                } else if !frag.is_empty()
                    && target.extension().is_some_and(|x| x == "md")
                    && !anchors(&std::fs::read_to_string(&target).unwrap()).contains(frag)
                {
                    broken.push(format!("{at} (no such heading)"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Every `"bedrock_…"` name in the daemon's source that is a metric.
fn metric_names(dir: &Path, out: &mut BTreeSet<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            metric_names(&p, out);
            continue;
        }
        if p.extension().is_none_or(|x| x != "rs") || p.file_name().unwrap() == "tests.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for piece in text.split("\"bedrock_").skip(1) {
            let name: String = piece
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if piece[name.len()..].starts_with('"') {
                out.insert(format!("bedrock_{name}"));
            }
        }
    }
}

#[test]
fn the_metrics_reference_names_every_metric() {
    let mut names = BTreeSet::new();
    metric_names(&root().join("src"), &mut names);
    assert!(
        names.contains("bedrock_cost_usd_total") && names.len() > 40,
        "{names:?}"
    );
    let reference = std::fs::read_to_string(root().join("docs/metrics.md")).unwrap();
    let missing: Vec<_> = names
        .iter()
        .filter(|n| !reference.contains(&format!("`{n}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "metrics docs/metrics.md does not list: {missing:?}"
    );
}
