//! The reviewed table from Price List names to Bedrock model ids
//! (`ratecards/mapping/price-list-models.toml`, embedded; `--mapping FILE` replaces it).
//!
//! The Price List never states a Bedrock model id: native usage types carry a compact name
//! (`NovaPro`), Marketplace products a listing name (`servicename`, `Claude Sonnet 4.6 (Amazon
//! Bedrock Edition)`). Each entry joins one such name to one id, with the evidence for it. An
//! entry with `reviewed = false` is a candidate: it is shown in the import report but never
//! applied. Only reviewed entries price anything, so an unknown name fails closed.
//!
//! The Price List gives no long-context threshold either; `long_context_above_tokens` says
//! where a model's band starts. Without it, long-context prices are reported, not imported.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The table shipped in the binary.
pub const BUNDLED: (&str, &str) = (
    "ratecards/mapping/price-list-models.toml",
    include_str!("../../ratecards/mapping/price-list-models.toml"),
);

/// The Price List name an entry keys on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// The compact name of a native usage type (`NovaPro` in `APN1-NovaPro-input-tokens`).
    UsagetypeName(String),
    /// A Marketplace product's `servicename` attribute.
    Servicename(String),
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::UsagetypeName(n) => write!(f, "usagetype name {n:?}"),
            Key::Servicename(n) => write!(f, "servicename {n:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    /// The `[[models]]` name of the id in a written card.
    pub name: String,
    pub long_context_above_tokens: Option<u64>,
    pub reviewed: bool,
    pub evidence: String,
}

#[derive(Debug, Clone, Default)]
pub struct Mapping {
    pub file: String,
    pub entries: BTreeMap<Key, Entry>,
}

/// Every problem in a mapping table, one line each.
#[derive(Debug, thiserror::Error)]
#[error("the mapping table has {} problem(s):\n  - {}", .0.len(), .0.join("\n  - "))]
pub struct MappingErrors(pub Vec<String>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    #[serde(default)]
    models: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    usagetype_name: Option<String>,
    servicename: Option<String>,
    id: Option<String>,
    name: Option<String>,
    long_context_above_tokens: Option<i64>,
    reviewed: Option<bool>,
    evidence: Option<String>,
}

impl Mapping {
    pub fn bundled() -> Mapping {
        parse(BUNDLED.1, BUNDLED.0).expect("the bundled mapping table is validated by a unit test")
    }

    /// The reviewed entry for a name, if any.
    pub fn get(&self, key: &Key) -> Option<&Entry> {
        self.entries.get(key).filter(|e| e.reviewed)
    }

    /// A candidate entry awaiting review, if any.
    pub fn candidate(&self, key: &Key) -> Option<&Entry> {
        self.entries.get(key).filter(|e| !e.reviewed)
    }
}

pub fn load(path: &std::path::Path) -> Result<Mapping, MappingErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| MappingErrors(vec![format!("{}: cannot read: {e}", path.display())]))?;
    parse(&text, &path.display().to_string())
}

pub fn parse(text: &str, file: &str) -> Result<Mapping, MappingErrors> {
    let raw: RawTable = toml::from_str(text)
        .map_err(|e| MappingErrors(vec![format!("{file}: {}", e.to_string().trim())]))?;
    let mut errors = Vec::new();
    let mut entries = BTreeMap::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut thresholds: BTreeMap<String, Option<u64>> = BTreeMap::new();
    for (i, e) in raw.models.into_iter().enumerate() {
        let loc = format!("{file}: models[{i}]");
        let key = match (e.usagetype_name, e.servicename) {
            (Some(n), None) if !n.is_empty() => Some(Key::UsagetypeName(n)),
            (None, Some(n)) if !n.is_empty() => Some(Key::Servicename(n)),
            _ => {
                errors.push(format!(
                    "{loc}: give exactly one of `usagetype_name` or `servicename`"
                ));
                None
            }
        };
        let mut need = |field: &str, v: Option<String>| match v {
            Some(v) if !v.trim().is_empty() => Some(v),
            _ => {
                errors.push(format!("{loc}: `{field}` is missing"));
                None
            }
        };
        let (id, name, evidence) = (
            need("id", e.id),
            need("name", e.name),
            need("evidence", e.evidence),
        );
        let above = match e.long_context_above_tokens {
            None => None,
            Some(n) if n > 0 => Some(n as u64),
            Some(_) => {
                errors.push(format!(
                    "{loc}: `long_context_above_tokens` must be a positive number of tokens"
                ));
                None
            }
        };
        let Some(reviewed) = e.reviewed else {
            errors.push(format!(
                "{loc}: `reviewed` is missing (true once someone checked the evidence)"
            ));
            continue;
        };
        let (Some(key), Some(id), Some(name), Some(evidence)) = (key, id, name, evidence) else {
            continue;
        };
        if reviewed {
            if let Some(other) = thresholds.insert(id.clone(), above) {
                if other != above {
                    errors.push(format!(
                        "{loc}: model {id:?} has long_context_above_tokens {above:?} here and \
                         {other:?} in another reviewed entry; they must agree"
                    ));
                }
            }
        }
        if let Some(other) = names.insert(id.clone(), name.clone()) {
            if other != name {
                errors.push(format!(
                    "{loc}: model {id:?} is named {name:?} here and {other:?} in another entry"
                ));
            }
        }
        let entry = Entry {
            id,
            name,
            long_context_above_tokens: above,
            reviewed,
            evidence,
        };
        if entries.insert(key.clone(), entry).is_some() {
            errors.push(format!("{loc}: {key} is mapped twice"));
        }
    }
    if errors.is_empty() {
        Ok(Mapping {
            file: file.to_string(),
            entries,
        })
    } else {
        Err(MappingErrors(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_table_is_valid_and_maps_what_price_list_md_evidences() {
        let m = Mapping::bundled();
        let id = |k: Key| m.get(&k).map(|e| e.id.as_str());
        assert_eq!(
            id(Key::UsagetypeName("NovaPro".into())),
            Some("amazon.nova-pro-v1:0")
        );
        assert_eq!(
            id(Key::UsagetypeName("Claude3Haiku".into())),
            Some("anthropic.claude-3-haiku-20240307-v1:0")
        );
        assert_eq!(
            id(Key::Servicename(
                "Claude Sonnet 4.6 (Amazon Bedrock Edition)".into()
            )),
            Some("anthropic.claude-sonnet-4-6")
        );
        let sonnet4 = m.get(&Key::UsagetypeName("Claude4Sonnet".into())).unwrap();
        assert_eq!(sonnet4.long_context_above_tokens, Some(200_000));
        // every id is one the newest bundled card prices
        let cards = crate::pricing::ratecard::bundled();
        let card = cards.cards().last().unwrap();
        for e in m.entries.values() {
            assert!(
                card.models.contains_key(&e.id),
                "{} is not a model of the bundled card {}",
                e.id,
                card.version
            );
        }
    }

    #[test]
    fn every_problem_is_reported() {
        let bad = r#"
[[models]]
usagetype_name = "A"
servicename = "B"
id = "x"
name = "X"
reviewed = true
evidence = "e"

[[models]]
usagetype_name = "C"
name = "X"
long_context_above_tokens = 0
reviewed = true
evidence = ""

[[models]]
usagetype_name = "D"
id = "x"
name = "Y"
evidence = "e"
reviewed = true

[[models]]
usagetype_name = "D"
id = "z"
name = "Z"
evidence = "e"
reviewed = false

[[models]]
usagetype_name = "E"
id = "x"
name = "Y"
long_context_above_tokens = 100
evidence = "e"
reviewed = true
"#;
        let errs = parse(bad, "m.toml").unwrap_err().0;
        let all = errs.join("\n");
        for want in [
            "models[0]: give exactly one of `usagetype_name` or `servicename`",
            "models[1]: `id` is missing",
            "models[1]: `evidence` is missing",
            "models[1]: `long_context_above_tokens` must be a positive",
            "models[3]: usagetype name \"D\" is mapped twice",
            "models[4]: model \"x\" has long_context_above_tokens Some(100) here and None in another reviewed entry",
        ] {
            assert!(all.contains(want), "{want} not in:\n{all}");
        }
        assert_eq!(errs.len(), 6, "{all}");
        let unknown = parse("[[models]]\ncolour = 1\n", "m.toml").unwrap_err().0;
        assert!(unknown[0].contains("unknown field `colour`"), "{unknown:?}");
    }

    #[test]
    fn candidates_are_never_applied() {
        let m = parse(
            "[[models]]\nservicename = \"S\"\nid = \"a.b\"\nname = \"B\"\nreviewed = false\nevidence = \"e\"\n",
            "m.toml",
        )
        .unwrap();
        let k = Key::Servicename("S".into());
        assert!(m.get(&k).is_none());
        assert_eq!(m.candidate(&k).unwrap().id, "a.b");
    }
}
