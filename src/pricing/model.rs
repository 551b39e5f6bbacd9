//! Model-id normalisation: whatever the caller passed as `modelId` → (base model id, scope).
//!
//! Forms (Bedrock user guide, "Supported Regions and models for inference profiles" and the
//! `InvokeModel` request syntax): a base id (`anthropic.claude-…-v1:0`), a geo or global
//! system profile id (`us.`/`eu.`/`apac.`/`jp.`/`au.`/`ca.`/`sa.`/`us-gov.`/`global.` + base),
//! an inference-profile ARN, a foundation-model ARN, and an application-inference-profile
//! ARN, which is opaque and must be mapped in the config (`[models.aliases]`).

use std::collections::HashMap;

use super::UnpricedReason;

/// How a call was routed, which the price depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// A base model id or foundation-model ARN: served in the source region.
    InRegion,
    /// A geographic cross-region profile (`us.`, `eu.`, …).
    Geo,
    /// The global cross-region profile (`global.`).
    Global,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::InRegion, Scope::Geo, Scope::Global];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::InRegion => "in_region",
            Scope::Geo => "geo",
            Scope::Global => "global",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// System-defined geographic profile prefixes. `us-gov.` is listed before `us.` only for
/// readers: matching includes the dot, so the order does not matter.
const GEO_PREFIXES: [&str; 8] = ["us-gov.", "us.", "eu.", "apac.", "jp.", "au.", "ca.", "sa."];
const GLOBAL_PREFIX: &str = "global.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved<'a> {
    pub base: &'a str,
    pub scope: Scope,
}

/// Model ids the config maps to another model id (application inference profiles, custom
/// names). The target is resolved like any `modelId`, so its prefix sets the scope.
#[derive(Debug, Clone, Default)]
pub struct Aliases(HashMap<String, String>);

impl Aliases {
    pub fn new(map: HashMap<String, String>) -> Aliases {
        Aliases(map)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }
}

pub fn resolve<'a>(
    model_id: &'a str,
    aliases: &'a Aliases,
) -> Result<Resolved<'a>, UnpricedReason> {
    if let Some(target) = aliases.0.get(model_id) {
        return resolve_unaliased(target);
    }
    resolve_unaliased(model_id)
}

fn resolve_unaliased(model_id: &str) -> Result<Resolved<'_>, UnpricedReason> {
    if let Some(rest) = model_id.strip_prefix("arn:") {
        // arn:<partition>:bedrock:<region>:<account>:<type>/<id>
        let resource = rest.splitn(5, ':').nth(4).unwrap_or("");
        return match resource.split_once('/') {
            Some(("inference-profile", id)) => Ok(profile_id(id)),
            Some(("foundation-model", id)) if !id.is_empty() => Ok(Resolved {
                base: id,
                scope: Scope::InRegion,
            }),
            Some(("application-inference-profile", _)) => {
                Err(UnpricedReason::ApplicationProfileUnmapped)
            }
            _ => Err(UnpricedReason::UnsupportedModelArn),
        };
    }
    Ok(profile_id(model_id))
}

fn profile_id(id: &str) -> Resolved<'_> {
    if let Some(base) = id.strip_prefix(GLOBAL_PREFIX) {
        return Resolved {
            base,
            scope: Scope::Global,
        };
    }
    for p in GEO_PREFIXES {
        if let Some(base) = id.strip_prefix(p) {
            return Resolved {
                base,
                scope: Scope::Geo,
            };
        }
    }
    Resolved {
        base: id,
        scope: Scope::InRegion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(id: &str) -> Result<(String, Scope), UnpricedReason> {
        let aliases = Aliases::new(HashMap::from([(
            "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123"
                .to_string(),
            "us.anthropic.claude-haiku-4-5-20251001-v1:0".to_string(),
        )]));
        resolve(id, &aliases).map(|x| (x.base.to_string(), x.scope))
    }

    const HAIKU: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";

    #[test]
    fn every_model_id_form_resolves_to_the_same_base() {
        let cases = [
            (HAIKU.to_string(), Scope::InRegion),
            (format!("us.{HAIKU}"), Scope::Geo),
            (format!("eu.{HAIKU}"), Scope::Geo),
            (format!("apac.{HAIKU}"), Scope::Geo),
            (format!("jp.{HAIKU}"), Scope::Geo),
            (format!("au.{HAIKU}"), Scope::Geo),
            (format!("ca.{HAIKU}"), Scope::Geo),
            (format!("sa.{HAIKU}"), Scope::Geo),
            (format!("us-gov.{HAIKU}"), Scope::Geo),
            (format!("global.{HAIKU}"), Scope::Global),
            (format!("arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.{HAIKU}"), Scope::Geo),
            (format!("arn:aws:bedrock:us-east-1:111122223333:inference-profile/global.{HAIKU}"), Scope::Global),
            (format!("arn:aws-us-gov:bedrock:us-gov-west-1:111122223333:inference-profile/us-gov.{HAIKU}"), Scope::Geo),
            (format!("arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}"), Scope::InRegion),
            ("arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123".to_string(), Scope::Geo),
        ];
        for (id, scope) in cases {
            assert_eq!(r(&id), Ok((HAIKU.to_string(), scope)), "{id}");
        }
    }

    #[test]
    fn dotted_base_ids_keep_their_dots() {
        assert_eq!(
            r("us.deepseek.v3.2"),
            Ok(("deepseek.v3.2".to_string(), Scope::Geo))
        );
        assert_eq!(
            r("deepseek.v3.2"),
            Ok(("deepseek.v3.2".to_string(), Scope::InRegion))
        );
    }

    #[test]
    fn opaque_arns_are_unpriced_with_a_reason() {
        assert_eq!(
            r("arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/zzz"),
            Err(UnpricedReason::ApplicationProfileUnmapped)
        );
        for id in [
            "arn:aws:bedrock:us-east-1:111122223333:custom-model/x",
            "arn:aws:bedrock:us-east-1:111122223333:provisioned-model/x",
            "arn:aws:bedrock:us-east-1:111122223333:imported-model/x",
            "arn:aws:sagemaker:us-east-1:111122223333:endpoint/x",
            "arn:broken",
        ] {
            assert_eq!(r(id), Err(UnpricedReason::UnsupportedModelArn), "{id}");
        }
    }
}
