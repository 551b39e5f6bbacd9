//! What a card's version stands for: its content, fixed once totals were priced with it.
//!
//! Totals do not record which prices produced them, only which card version was in force.
//! So a version's content must never change: the digest of each version in use is committed
//! to the store (as a checkpoint `ratecard:<version>`), and a card whose version is known with
//! another digest is refused, on reload and at startup. The digest covers the parsed TOML in
//! a canonical form, so comments, formatting and key order can change; a price, a model, a
//! date or a note cannot without a new version.

use std::collections::HashMap;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};
use toml::{Table, Value};

use super::ratecard::RateCards;

/// Store checkpoint key prefix: `ratecard:<version>` → content digest.
pub const CHECKPOINT_PREFIX: &str = "ratecard:";

/// The hex sha256 of the card's canonical form.
pub fn content_digest(table: &Table) -> String {
    let mut out = String::new();
    canonical_table(table, &mut out);
    hex::encode(Sha256::digest(out.as_bytes()))
}

fn canonical_table(t: &Table, out: &mut String) {
    let mut keys: Vec<&String> = t.keys().collect();
    keys.sort();
    out.push('{');
    for k in keys {
        let _ = write!(out, "{k:?}=");
        canonical(&t[k.as_str()], out);
        out.push(',');
    }
    out.push('}');
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Table(t) => canonical_table(t, out),
        Value::Array(a) => {
            out.push('[');
            for x in a {
                canonical(x, out);
                out.push(',');
            }
            out.push(']');
        }
        Value::String(s) => {
            let _ = write!(out, "s{s:?}");
        }
        Value::Integer(i) => {
            let _ = write!(out, "i{i}");
        }
        Value::Float(f) => {
            let _ = write!(out, "f{f:?}");
        }
        Value::Boolean(b) => {
            let _ = write!(out, "b{b}");
        }
        Value::Datetime(d) => {
            let _ = write!(out, "d{d}");
        }
    }
}

/// The checkpoints that record each loaded card's content.
pub fn checkpoints(cards: &RateCards) -> Vec<(String, String)> {
    cards
        .cards()
        .iter()
        .map(|c| {
            (
                format!("{CHECKPOINT_PREFIX}{}", c.version),
                c.content.clone(),
            )
        })
        .collect()
}

/// Every card whose version was committed before with other content, as a message saying
/// what to do. `known` holds the store's checkpoints (other keys are ignored).
pub fn changed_in_place(cards: &RateCards, known: &HashMap<String, String>) -> Vec<String> {
    cards
        .cards()
        .iter()
        .filter(|c| {
            known
                .get(&format!("{CHECKPOINT_PREFIX}{}", c.version))
                .is_some_and(|d| *d != c.content)
        })
        .map(|c| {
            format!(
                "{}: version {:?} already priced counted calls with other content; a changed \
                 card needs a new version (and an effective_from for the prices it changes), \
                 so that every total stays traceable to the prices that made it",
                c.source(),
                c.version
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::ratecard;

    fn card(text: &str) -> RateCards {
        RateCards::new(vec![ratecard::parse(text, "t.toml").unwrap()]).unwrap()
    }

    #[test]
    fn formatting_and_comments_keep_the_digest_and_a_price_changes_it() {
        let base = ratecard::bundled_newest().1;
        let a = card(base);
        let commented = card(&format!(
            "# a comment\n\n{}",
            base.replace("\n[[", "\n\n# row\n[[")
        ));
        let edited = card(&base.replacen("input = \"", "input = \"1", 1));
        let known: HashMap<String, String> = checkpoints(&a).into_iter().collect();
        assert!(changed_in_place(&commented, &known).is_empty());
        let errs = changed_in_place(&edited, &known);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].contains("new version"), "{}", errs[0]);
        assert!(changed_in_place(&edited, &HashMap::new()).is_empty());
    }

    /// The bundled cards ship in the binary: editing one without a new version would stop
    /// every daemon that counted with it from starting. Pinned here so that fails in review.
    /// A new card is a new entry; an old one stays, with its digest, for as long as it ships.
    #[test]
    fn the_bundled_cards_change_only_with_a_new_version() {
        let cards = ratecard::bundled();
        let got: Vec<(&str, &str)> = cards
            .cards()
            .iter()
            .map(|c| (c.version.as_str(), c.content.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("2026-11-22", "b48191158da94985ee7bceb76fdd3a76b73d3543abc5bf7a6122334f1af2b6d4"),
                ("2026-11-30", "269bef27331452aae7d22562de5f52c56ad2d6aa1a9b50c0039ed18de12ed830"),
            ],
            "a bundled card changed: give it a new version (and file name), then pin its digest here"
        );
    }
}
