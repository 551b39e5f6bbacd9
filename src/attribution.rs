//! Attribution: who made a call and for what, as label values.
//!
//! `user` is the first present `requestMetadata` key of a configured list, else the session
//! name of an assumed-role ARN, else the IAM (or federated) user name, else the principal
//! ARN. `feature` is a configured metadata key, else `none`. Extra labels come from
//! allow-listed metadata keys, from the ARN (`role`), or from rules that match the principal
//! ARN; in that order, else `none`. Values are sanitised, and users can be replaced by a
//! keyed hash for teams that must not put identities in Prometheus.

use std::borrow::Cow;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::record::{Principal, Record};
use crate::secret::Secret;

/// Longest label value kept; longer ones are cut (metadata values may be 256 characters).
pub const MAX_LABEL_LEN: usize = 128;
/// The value of a label with nothing to say.
pub const NONE: &str = "none";
/// Hex digits of the keyed hash kept: 64 bits, collision-free for any real user count.
const HASH_HEX_LEN: usize = 16;

/// Where an extra label takes its value from.
#[derive(Debug, Clone)]
pub enum Source {
    Metadata(String),
    /// The role name of an assumed-role principal.
    ArnRole,
    /// Only rules set it.
    Rules,
}

#[derive(Debug, Clone)]
pub enum Matcher {
    Glob(glob::Pattern),
    Regex(regex::Regex),
}

impl Matcher {
    fn matches(&self, arn: &str) -> bool {
        match self {
            Matcher::Glob(p) => p.matches(arn),
            Matcher::Regex(r) => r.is_match(arn),
        }
    }
}

/// "Principals matching this get these label values" (when metadata does not say).
#[derive(Debug, Clone)]
pub struct Rule {
    pub matcher: Matcher,
    pub set: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Attribution {
    pub user_keys: Vec<String>,
    pub feature_key: String,
    /// Extra label names, in exposition order, with their sources.
    pub extra: Vec<(String, Source)>,
    pub rules: Vec<Rule>,
    /// HMAC-SHA256 key: when set, `user` values are `u_` + 16 hex digits of the keyed hash.
    pub user_hash_key: Option<Secret<Vec<u8>>>,
}

impl Default for Attribution {
    fn default() -> Self {
        Attribution {
            user_keys: vec!["user".into(), "user_id".into()],
            feature_key: "feature".into(),
            extra: Vec::new(),
            rules: Vec::new(),
            user_hash_key: None,
        }
    }
}

/// The label values of one call. `extra` follows `Attribution::extra`.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels<'a> {
    pub user: Cow<'a, str>,
    pub feature: Cow<'a, str>,
    pub extra: Vec<Cow<'a, str>>,
}

impl Attribution {
    pub fn extra_names(&self) -> impl Iterator<Item = &str> {
        self.extra.iter().map(|(n, _)| n.as_str())
    }

    pub fn attribute<'a>(&'a self, rec: &'a Record<'_>) -> Labels<'a> {
        self.attribute_with(rec, &[])
    }

    /// As [`Attribution::attribute`], with labels the delivery carries (Firehose common
    /// attributes) as a fallback for metadata labels the record itself lacks.
    pub fn attribute_with<'a>(
        &'a self,
        rec: &'a Record<'_>,
        delivery: &'a [(String, String)],
    ) -> Labels<'a> {
        let arn = rec.principal_arn.as_deref();
        let principal = arn.map(Principal::parse).unwrap_or(Principal::Other);
        let present = |k: &str| rec.metadata(k).filter(|v| !v.trim().is_empty());

        let user = self
            .user_keys
            .iter()
            .find_map(|k| present(k))
            .or(match principal {
                Principal::AssumedRole { session, .. } => Some(session),
                Principal::User { name } | Principal::FederatedUser { name } => Some(name),
                Principal::Other => None,
            })
            .or(arn)
            .unwrap_or("unknown");
        let user = match &self.user_hash_key {
            Some(key) => Cow::Owned(keyed_hash(key.expose(), user)),
            None => sanitize(user),
        };
        let feature = sanitize(present(&self.feature_key).unwrap_or(NONE));
        let extra = self
            .extra
            .iter()
            .map(|(name, source)| {
                let direct = match source {
                    Source::Metadata(key) => present(key).or_else(|| {
                        delivery
                            .iter()
                            .find(|(k, _)| k == key)
                            .map(|(_, v)| v.as_str())
                    }),
                    Source::ArnRole => principal.role(),
                    Source::Rules => None,
                };
                let from_rule = || {
                    let arn = arn?;
                    self.rules
                        .iter()
                        .filter(|r| r.matcher.matches(arn))
                        .find_map(|r| {
                            r.set
                                .iter()
                                .find(|(k, _)| k == name)
                                .map(|(_, v)| v.as_str())
                        })
                };
                sanitize(direct.or_else(from_rule).unwrap_or(NONE))
            })
            .collect();
        Labels {
            user,
            feature,
            extra,
        }
    }
}

fn keyed_hash(key: &[u8], value: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(value.as_bytes());
    let digest = hex::encode(mac.finalize().into_bytes());
    format!("u_{}", &digest[..HASH_HEX_LEN])
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || " ._:@/+=,#$-".contains(c)
}

/// Keeps the characters AWS allows in request metadata (plus `#`/`$`), replaces any other with
/// `_`, and cuts at [`MAX_LABEL_LEN`] characters. Borrows when nothing changes.
pub fn sanitize(v: &str) -> Cow<'_, str> {
    let v = v.trim();
    if v.len() <= MAX_LABEL_LEN && v.chars().all(allowed) {
        return Cow::Borrowed(v);
    }
    Cow::Owned(
        v.chars()
            .take(MAX_LABEL_LEN)
            .map(|c| if allowed(c) { c } else { '_' })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bedrock;

    const SHAPES: &str = include_str!("../tests/data/shapes.jsonl");

    fn shape(id: &str) -> Record<'static> {
        let line = SHAPES
            .lines()
            .find(|l| l.contains(&format!("\"requestId\": \"{id}\"")))
            .unwrap();
        bedrock::parse(line.as_bytes()).unwrap()
    }

    fn with_extras() -> Attribution {
        Attribution {
            extra: vec![
                ("team".into(), Source::Metadata("team".into())),
                ("role".into(), Source::ArnRole),
                ("cost_center".into(), Source::Rules),
            ],
            rules: vec![
                Rule {
                    matcher: Matcher::Glob(
                        glob::Pattern::new("arn:aws:sts::*:assumed-role/ChatService/*").unwrap(),
                    ),
                    set: vec![
                        ("team".into(), "chat".into()),
                        ("cost_center".into(), "CC-100".into()),
                    ],
                },
                Rule {
                    matcher: Matcher::Regex(regex::Regex::new(r"^arn:aws:iam::\d+:user/").unwrap()),
                    set: vec![("cost_center".into(), "CC-humans".into())],
                },
            ],
            ..Attribution::default()
        }
    }

    fn labels(a: &Attribution, id: &str) -> (String, String, Vec<String>) {
        let rec = shape(id);
        let l = a.attribute(&rec);
        (
            l.user.into_owned(),
            l.feature.into_owned(),
            l.extra.into_iter().map(Cow::into_owned).collect(),
        )
    }

    #[test]
    fn user_comes_from_metadata_then_session_then_iam_user() {
        let a = Attribution::default();
        assert_eq!(
            labels(&a, "shape-stream-chunks-cache-split").0,
            "alice@example.com"
        );
        assert_eq!(labels(&a, "shape-metadata-user-id").0, "dev-501");
        assert_eq!(labels(&a, "shape-converse-doc-example").0, "alice");
        assert_eq!(labels(&a, "shape-conversestream-nova-cache-zero").0, "bob");
    }

    #[test]
    fn an_unparseable_arn_is_the_user_and_no_arn_is_unknown() {
        let a = Attribution::default();
        let line = r#"{"timestamp":"2026-11-02T08:15:30Z","region":"us-east-1","modelId":"m","identity":{"arn":"arn:aws:iam::123456789012:root"}}"#;
        let rec = bedrock::parse(line.as_bytes()).unwrap();
        assert_eq!(a.attribute(&rec).user, "arn:aws:iam::123456789012:root");
        let line = r#"{"timestamp":"2026-11-02T08:15:30Z","region":"us-east-1","modelId":"m"}"#;
        let rec = bedrock::parse(line.as_bytes()).unwrap();
        assert_eq!(a.attribute(&rec).user, "unknown");
    }

    #[test]
    fn feature_defaults_to_none() {
        let a = Attribution::default();
        assert_eq!(labels(&a, "shape-converse-doc-example").1, "summarize");
        assert_eq!(labels(&a, "shape-no-bodies-geo-profile").1, "none");
    }

    #[test]
    fn extra_labels_come_from_metadata_then_arn_then_rules() {
        let a = with_extras();
        // metadata team wins over the ChatService rule; the rule still gives cost_center
        assert_eq!(
            labels(&a, "shape-converse-doc-example").2,
            ["search", "ChatService", "CC-100"]
        );
        // no metadata team: the rule fills it
        assert_eq!(
            labels(&a, "shape-converse-cache-details").2,
            ["chat", "ChatService", "CC-100"]
        );
        // an IAM user: no role, the regex rule gives the cost center
        assert_eq!(
            labels(&a, "shape-conversestream-nova-cache-zero").2,
            ["none", "none", "CC-humans"]
        );
    }

    #[test]
    fn hashed_users_are_stable_keyed_and_short() {
        let mut a = Attribution {
            user_hash_key: Some(Secret::new(b"k1".to_vec())),
            ..Attribution::default()
        };
        let h1 = labels(&a, "shape-converse-doc-example").0;
        assert_eq!(h1, labels(&a, "shape-converse-doc-example").0);
        assert!(h1.starts_with("u_") && h1.len() == 18, "{h1}");
        a.user_hash_key = Some(Secret::new(b"k2".to_vec()));
        assert_ne!(h1, labels(&a, "shape-converse-doc-example").0);
    }

    #[test]
    fn values_are_sanitised() {
        let a = Attribution::default();
        let (user, feature, _) = labels(&a, "shape-escaped-strings");
        assert_eq!(user, "jos_ _j_");
        assert_eq!(feature, "chat/v2");
        assert_eq!(sanitize(&"x".repeat(300)).len(), MAX_LABEL_LEN);
        assert!(matches!(sanitize("plain-value"), Cow::Borrowed(_)));
    }
}
