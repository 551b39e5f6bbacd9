//! Writes imported rows as a rate card (the format of `ratecards/README.md`). Pure and
//! deterministic: the same offer files give the same bytes, so a new card reviews as a diff.
//!
//! Every price carries its Price List provenance (`price_list` entries); the long-context band
//! is written as a `[prices.long_context]` sub-table so each entry stays on its own line.

use std::fmt::Write as _;

use super::import::{Imported, Price};
use crate::record::TokenClass;

/// The top of the card the user chooses (or the defaults of `ratecard import`).
#[derive(Debug, Clone)]
pub struct Header {
    pub version: String,
    /// `YYYY-MM-DD`
    pub effective_from: String,
    pub review_by: Option<String>,
}

/// A TOML basic string, escaped.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

pub fn render(imp: &Imported, h: &Header) -> String {
    let mut out = String::new();
    let offers: Vec<String> = imp
        .offers
        .iter()
        .map(|o| {
            format!(
                "{} version {} (published {}, sha256 {})",
                o.offer_code, o.version, o.publication_date, o.sha256
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "# Rate card imported from the AWS Price List by `bedrock-cost-exporter ratecard import`.\n\
         # Review it with `bedrock-cost-exporter ratecard diff OLD.toml THIS.toml` before use; every\n\
         # price names the usage type, SKU and offer file it comes from (`price_list`). See\n\
         # ratecards/README.md, \"Regenerating a card from the AWS Price List\".\n"
    );
    let _ = writeln!(out, "version = {}", q(&h.version));
    let _ = writeln!(out, "effective_from = {}", h.effective_from);
    if let Some(r) = &h.review_by {
        let _ = writeln!(out, "review_by = {r}");
    }
    let _ = writeln!(out, "currency = \"USD\"");
    let _ = writeln!(out, "unit = \"per_1m_tokens\"");
    let _ = writeln!(
        out,
        "source = {}",
        q(&format!(
            "AWS Price List offer files: {}. Imported with the model mapping table; prices \
             converted to USD per 1M tokens exactly.",
            offers.join("; ")
        ))
    );
    let _ = writeln!(out, "discount_percent = \"0\"");
    for (id, name) in &imp.models {
        let _ = writeln!(out, "\n[[models]]\nid = {}\nname = {}", q(id), q(name));
    }
    for row in &imp.rows {
        let _ = writeln!(out, "\n[[prices]]");
        let _ = writeln!(out, "model = {}", q(&row.model));
        let _ = writeln!(out, "regions = [{}]", q(&row.region));
        let scopes = if row.global {
            "[\"global\"]"
        } else {
            "[\"in_region\", \"geo\"]"
        };
        let _ = writeln!(out, "scopes = {scopes}");
        if row.tier != crate::record::Tier::Standard {
            let _ = writeln!(out, "tier = {}", q(row.tier.as_str()));
        }
        prices(&mut out, imp, &row.prices);
        let _ = writeln!(out, "note = \"AWS Price List\"");
        if let Some((above, band)) = &row.long_context {
            let _ = writeln!(out, "\n[prices.long_context]\nabove_tokens = {above}");
            prices(&mut out, imp, band);
        }
    }
    out
}

fn prices(
    out: &mut String,
    imp: &Imported,
    prices: &std::collections::BTreeMap<TokenClass, Price>,
) {
    for (class, p) in prices {
        let _ = writeln!(out, "{} = {}", class.as_str(), q(&p.per_1m.to_string()));
    }
    let _ = writeln!(out, "price_list = [");
    for (class, p) in prices {
        let s = &p.source;
        let o = &imp.offers[s.offer];
        let _ = writeln!(
            out,
            "  {{ class = {}, usagetype = {}, sku = {}, offer = {}, version = {}, published = {}, unit = {}, unit_price = {} }},",
            q(class.as_str()),
            q(&s.usagetype),
            q(&s.sku),
            q(&o.offer_code),
            q(&o.version),
            q(&o.publication_date),
            q(&s.unit),
            q(&s.unit_price)
        );
    }
    let _ = writeln!(out, "]");
}
