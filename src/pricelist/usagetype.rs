//! What a Price List `usagetype` says: which model name, token class, tier, scope and
//! whether it is the long-context band. Pure; the four grammars of
//! `shared/pricing/price-list.md` §3, each form evidenced there:
//!
//! 1. Native: `{R}-{Name}-{input-tokens|output-tokens|cache-read-input-token-count|
//!    cache-write-input-token-count}` then optionally `-long-context`, `-cross-region-global`,
//!    and one of `-batch`, `-flex`, `-priority`, `-latency-optimized`, in that order
//!    (`APN1-NovaPro-input-tokens-batch`, `USE1-Claude4Sonnet-output-tokens-long-context-cross-region-global`).
//!    A name ending in `-LatencyOptimized` is the latency-optimized tier
//!    (`USE1-Llama3-1-70B-LatencyOptimized-input-tokens`). `-custom-model` and
//!    `Customization` forms price fine-tuned models or training: excluded.
//! 2. Mantle: `{R}-{modelId}-mantle-...`: the OpenAI-compatible endpoint, whose calls are not
//!    in invocation logs: excluded.
//! 3. Marketplace camel: `{R}-MP:{R}_{InputTokenCount|OutputTokenCount|CacheReadInputTokenCount|
//!    CacheWriteInputTokenCount|CacheWrite1hInputTokenCount|MillionBatchInputTokens|
//!    MillionBatchOutputTokens}[_Global][_Batch|_LatencyOptimized]-Units`; `Reserved_...` is
//!    reserved throughput: excluded.
//! 4. Marketplace snake: `{R}-MP:{R}_{input|output}_tokens[_long_ctx][_global]_{standard|batch|flex|priority}-Units`,
//!    `cache_read_tokens_...`, `cache_write_tokens[_1h|_30m]_...` (no duration = 5 minutes).
//!
//! Anything else is [`Usage::Unknown`]: reported, never guessed. In particular a geo
//! cross-region marker is unknown: no on-demand geo rate is known to exist (geo profiles bill
//! at the regional row), so one appearing is news for a reviewer.

use crate::record::{Tier, TokenClass};

/// Who the model is, as the usage type says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    /// Grammar 1: the compact name (`NovaPro`, `Claude4Sonnet`, `Llama3-1-70B`).
    Compact(String),
    /// Grammars 3 and 4 name no model: the product's `servicename` attribute does.
    Listing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPrice {
    pub name: Name,
    pub class: TokenClass,
    pub tier: Tier,
    /// The global cross-region profile price; otherwise the regional price, which applies to
    /// in-region calls and geo profiles alike.
    pub global: bool,
    pub long_context: bool,
}

/// Why a known form is not imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exclusion {
    Mantle,
    Reserved,
    CustomModel,
    Customization,
    CacheWrite30m,
}

impl Exclusion {
    pub fn reason(self) -> &'static str {
        match self {
            Exclusion::Mantle => {
                "mantle (OpenAI-compatible endpoint; its calls are not in invocation logs)"
            }
            Exclusion::Reserved => {
                "reserved throughput (a commitment per TPM-hour, not a per-token price)"
            }
            Exclusion::CustomModel => {
                "custom-model inference (prices a fine-tuned model, not the base model)"
            }
            Exclusion::Customization => "model customization or training",
            Exclusion::CacheWrite30m => {
                "30-minute cache writes (a rate card has no such token class)"
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Usage {
    Token(TokenPrice),
    Excluded(Exclusion),
    Unknown,
}

pub fn classify(usagetype: &str) -> Usage {
    // `{R}-`: a billing region code, upper case letters and digits.
    let Some((region, rest)) = usagetype.split_once('-') else {
        return Usage::Unknown;
    };
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Usage::Unknown;
    }
    if let Some(mp) = rest.strip_prefix("MP:") {
        return marketplace(mp);
    }
    if rest.contains("-mantle-") {
        return Usage::Excluded(Exclusion::Mantle);
    }
    if rest.contains("Customization") {
        return Usage::Excluded(Exclusion::Customization);
    }
    native(rest)
}

const NATIVE_CLASSES: [(&str, TokenClass); 4] = [
    ("-input-tokens", TokenClass::Input),
    ("-output-tokens", TokenClass::Output),
    ("-cache-read-input-token-count", TokenClass::CacheRead),
    ("-cache-write-input-token-count", TokenClass::CacheWrite5m),
];

fn native(rest: &str) -> Usage {
    // The class word is the last of these in the string (a name never contains one).
    let Some((at, word, class)) = NATIVE_CLASSES
        .iter()
        .filter_map(|(w, c)| rest.rfind(w).map(|at| (at, *w, *c)))
        .max_by_key(|x| x.0)
    else {
        return Usage::Unknown;
    };
    let (name, mut suffix) = (&rest[..at], &rest[at + word.len()..]);
    if suffix.contains("-custom-model") {
        return Usage::Excluded(Exclusion::CustomModel);
    }
    let mut tier = Tier::Standard;
    let name = match name.strip_suffix("-LatencyOptimized") {
        Some(n) => {
            tier = Tier::LatencyOptimized;
            n
        }
        None => name,
    };
    if name.is_empty() {
        return Usage::Unknown;
    }
    let mut take = |part: &str| match suffix.strip_prefix(part) {
        Some(r) => {
            suffix = r;
            true
        }
        None => false,
    };
    let long_context = take("-long-context");
    let global = take("-cross-region-global");
    for (word, t) in [
        ("-batch", Tier::Batch),
        ("-flex", Tier::Flex),
        ("-priority", Tier::Priority),
        ("-latency-optimized", Tier::LatencyOptimized),
    ] {
        if tier == Tier::Standard && take(word) {
            tier = t;
        }
    }
    if !suffix.is_empty() {
        return Usage::Unknown;
    }
    Usage::Token(TokenPrice {
        name: Name::Compact(name.to_string()),
        class,
        tier,
        global,
        long_context,
    })
}

fn marketplace(mp: &str) -> Usage {
    // `{R}_` again, then the body, then `-Units`.
    let Some((region, body)) = mp.split_once('_') else {
        return Usage::Unknown;
    };
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Usage::Unknown;
    }
    let Some(body) = body.strip_suffix("-Units") else {
        return Usage::Unknown;
    };
    if body.starts_with("Reserved_") {
        return Usage::Excluded(Exclusion::Reserved);
    }
    let parts: Vec<&str> = body.split('_').collect();
    match parts[0].bytes().next() {
        Some(b'A'..=b'Z') => camel(&parts),
        Some(b'a'..=b'z') => snake(&parts),
        _ => Usage::Unknown,
    }
}

fn camel(parts: &[&str]) -> Usage {
    let (class, mut tier) = match parts[0] {
        "InputTokenCount" => (TokenClass::Input, Tier::Standard),
        "OutputTokenCount" => (TokenClass::Output, Tier::Standard),
        "CacheReadInputTokenCount" => (TokenClass::CacheRead, Tier::Standard),
        "CacheWriteInputTokenCount" => (TokenClass::CacheWrite5m, Tier::Standard),
        "CacheWrite1hInputTokenCount" => (TokenClass::CacheWrite1h, Tier::Standard),
        "MillionBatchInputTokens" => (TokenClass::Input, Tier::Batch),
        "MillionBatchOutputTokens" => (TokenClass::Output, Tier::Batch),
        _ => return Usage::Unknown,
    };
    let mut rest = &parts[1..];
    let global = rest.first() == Some(&"Global");
    if global {
        rest = &rest[1..];
    }
    match rest {
        [] => {}
        ["Batch"] if tier == Tier::Standard => tier = Tier::Batch,
        ["LatencyOptimized"] if tier == Tier::Standard => tier = Tier::LatencyOptimized,
        _ => return Usage::Unknown,
    }
    Usage::Token(TokenPrice {
        name: Name::Listing,
        class,
        tier,
        global,
        long_context: false,
    })
}

fn snake(parts: &[&str]) -> Usage {
    let (class, mut rest) = match parts {
        ["input", "tokens", rest @ ..] => (TokenClass::Input, rest),
        ["output", "tokens", rest @ ..] => (TokenClass::Output, rest),
        ["cache", "read", "tokens", rest @ ..] => (TokenClass::CacheRead, rest),
        ["cache", "write", "tokens", "1h", rest @ ..] => (TokenClass::CacheWrite1h, rest),
        ["cache", "write", "tokens", "30m", ..] => {
            return Usage::Excluded(Exclusion::CacheWrite30m)
        }
        ["cache", "write", "tokens", rest @ ..] => (TokenClass::CacheWrite5m, rest),
        _ => return Usage::Unknown,
    };
    let long_context = matches!(rest, ["long", "ctx", ..]);
    if long_context {
        rest = &rest[2..];
    }
    let global = rest.first() == Some(&"global");
    if global {
        rest = &rest[1..];
    }
    let tier = match rest {
        ["standard"] => Tier::Standard,
        ["batch"] => Tier::Batch,
        ["flex"] => Tier::Flex,
        ["priority"] => Tier::Priority,
        _ => return Usage::Unknown,
    };
    Usage::Token(TokenPrice {
        name: Name::Listing,
        class,
        tier,
        global,
        long_context,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: Name, class: TokenClass, tier: Tier, global: bool, long: bool) -> Usage {
        Usage::Token(TokenPrice {
            name,
            class,
            tier,
            global,
            long_context: long,
        })
    }

    fn compact(n: &str) -> Name {
        Name::Compact(n.into())
    }

    #[test]
    fn native_forms() {
        use TokenClass::*;
        let cases = [
            (
                "APN1-NovaPro-input-tokens",
                token(compact("NovaPro"), Input, Tier::Standard, false, false),
            ),
            (
                "APN1-NovaPro-output-tokens",
                token(compact("NovaPro"), Output, Tier::Standard, false, false),
            ),
            (
                "APN1-NovaPro-input-tokens-batch",
                token(compact("NovaPro"), Input, Tier::Batch, false, false),
            ),
            (
                "APN1-NovaPro-cache-read-input-token-count",
                token(compact("NovaPro"), CacheRead, Tier::Standard, false, false),
            ),
            (
                "USE1-NovaPro-cache-write-input-token-count",
                token(
                    compact("NovaPro"),
                    CacheWrite5m,
                    Tier::Standard,
                    false,
                    false,
                ),
            ),
            (
                "USE1-NovaPro-input-tokens-flex",
                token(compact("NovaPro"), Input, Tier::Flex, false, false),
            ),
            (
                "USE1-NovaPro-output-tokens-priority",
                token(compact("NovaPro"), Output, Tier::Priority, false, false),
            ),
            (
                "USE1-NovaPro-input-tokens-latency-optimized",
                token(
                    compact("NovaPro"),
                    Input,
                    Tier::LatencyOptimized,
                    false,
                    false,
                ),
            ),
            (
                "USE1-Llama3-1-70B-LatencyOptimized-input-tokens",
                token(
                    compact("Llama3-1-70B"),
                    Input,
                    Tier::LatencyOptimized,
                    false,
                    false,
                ),
            ),
            (
                "USE1-Llama3-1-405B-output-tokens-batch",
                token(compact("Llama3-1-405B"), Output, Tier::Batch, false, false),
            ),
            (
                "USE1-Claude4Sonnet-input-tokens-cross-region-global",
                token(compact("Claude4Sonnet"), Input, Tier::Standard, true, false),
            ),
            (
                "USE1-Claude4Sonnet-input-tokens-cross-region-global-batch",
                token(compact("Claude4Sonnet"), Input, Tier::Batch, true, false),
            ),
            (
                "USE1-Claude4Sonnet-cache-write-input-token-count-long-context-cross-region-global",
                token(
                    compact("Claude4Sonnet"),
                    CacheWrite5m,
                    Tier::Standard,
                    true,
                    true,
                ),
            ),
            (
                "APN1-zai.glm5-input-tokens",
                token(compact("zai.glm5"), Input, Tier::Standard, false, false),
            ),
            (
                "USE2-TitanEmbeddingV2-Text-input-tokens",
                token(
                    compact("TitanEmbeddingV2-Text"),
                    Input,
                    Tier::Standard,
                    false,
                    false,
                ),
            ),
        ];
        for (ut, want) in cases {
            assert_eq!(classify(ut), want, "{ut}");
        }
    }

    #[test]
    fn marketplace_camel_forms() {
        use TokenClass::*;
        let l = || Name::Listing;
        let cases = [
            (
                "USE1-MP:USE1_InputTokenCount-Units",
                token(l(), Input, Tier::Standard, false, false),
            ),
            (
                "USE1-MP:USE1_InputTokenCount_Global-Units",
                token(l(), Input, Tier::Standard, true, false),
            ),
            (
                "USE1-MP:USE1_OutputTokenCount_Batch-Units",
                token(l(), Output, Tier::Batch, false, false),
            ),
            (
                "USE1-MP:USE1_InputTokenCount_Global_Batch-Units",
                token(l(), Input, Tier::Batch, true, false),
            ),
            (
                "USE1-MP:USE1_CacheReadInputTokenCount-Units",
                token(l(), CacheRead, Tier::Standard, false, false),
            ),
            (
                "USE1-MP:USE1_CacheWriteInputTokenCount_Global-Units",
                token(l(), CacheWrite5m, Tier::Standard, true, false),
            ),
            (
                "USE1-MP:USE1_CacheWrite1hInputTokenCount_Global-Units",
                token(l(), CacheWrite1h, Tier::Standard, true, false),
            ),
            (
                "USE1-MP:USE1_MillionBatchInputTokens-Units",
                token(l(), Input, Tier::Batch, false, false),
            ),
            (
                "USE2-MP:USE2_InputTokenCount_LatencyOptimized-Units",
                token(l(), Input, Tier::LatencyOptimized, false, false),
            ),
        ];
        for (ut, want) in cases {
            assert_eq!(classify(ut), want, "{ut}");
        }
    }

    #[test]
    fn marketplace_snake_forms() {
        use TokenClass::*;
        let l = || Name::Listing;
        let cases = [
            (
                "USE1-MP:USE1_input_tokens_standard-Units",
                token(l(), Input, Tier::Standard, false, false),
            ),
            (
                "USE1-MP:USE1_input_tokens_global_standard-Units",
                token(l(), Input, Tier::Standard, true, false),
            ),
            (
                "USE1-MP:USE1_output_tokens_long_ctx_global_standard-Units",
                token(l(), Output, Tier::Standard, true, true),
            ),
            (
                "USE1-MP:USE1_input_tokens_long_ctx_batch-Units",
                token(l(), Input, Tier::Batch, false, true),
            ),
            (
                "USE1-MP:USE1_cache_read_tokens_global_standard-Units",
                token(l(), CacheRead, Tier::Standard, true, false),
            ),
            (
                "USE1-MP:USE1_cache_write_tokens_standard-Units",
                token(l(), CacheWrite5m, Tier::Standard, false, false),
            ),
            (
                "USE1-MP:USE1_cache_write_tokens_1h_global_standard-Units",
                token(l(), CacheWrite1h, Tier::Standard, true, false),
            ),
        ];
        for (ut, want) in cases {
            assert_eq!(classify(ut), want, "{ut}");
        }
    }

    #[test]
    fn excluded_forms_say_why() {
        let cases = [
            (
                "USE1-openai.gpt-oss-120b-mantle-input-tokens-standard",
                Exclusion::Mantle,
            ),
            (
                "USE1-openai.gpt-5.6-luna-mantle-cache-write-tokens-5m-long-ctx-flex",
                Exclusion::Mantle,
            ),
            (
                "USE1-MP:USE1_Reserved_1Month_InputTPM_Global-Units",
                Exclusion::Reserved,
            ),
            (
                "USE1-MP:USE1_Reserved_3Month_OutputTPM_Geo-Units",
                Exclusion::Reserved,
            ),
            (
                "USE1-NovaLite-input-tokens-custom-model",
                Exclusion::CustomModel,
            ),
            (
                "USE1-NovaPro-Customization-Training",
                Exclusion::Customization,
            ),
            (
                "USE1-NovaPro-Model-Customization-Storage",
                Exclusion::Customization,
            ),
            (
                "USE1-MP:USE1_cache_write_tokens_30m_standard-Units",
                Exclusion::CacheWrite30m,
            ),
        ];
        for (ut, want) in cases {
            assert_eq!(classify(ut), Usage::Excluded(want), "{ut}");
        }
    }

    #[test]
    fn anything_else_is_unknown_never_guessed() {
        for ut in [
            "",
            "NovaPro-input-tokens",
            "use1-NovaPro-input-tokens",
            "USE1-input-tokens",
            "USE1-NovaPro-input-tokens-hyperspeed",
            "USE1-NovaPro-input-tokens-cross-region-geo",
            "USE1-NovaPro-input-tokens-batch-flex",
            "USE1-NovaCanvas-T2I-1024-Standard",
            "USE1-MP:USE1_InputTokenCount",
            "USE1-MP:USE1_InputTokenCount_Geo-Units",
            "USE1-MP:USE1_InputTokenCount_Batch_Global-Units",
            "USE1-MP:USE1_MillionBatchInputTokens_Batch-Units",
            "USE1-MP:USE1_input_tokens-Units",
            "USE1-MP:USE1_input_tokens_global-Units",
            "USE1-MP:USE1_input_tokens_geo_standard-Units",
            "USE1-MP:USE1_created_image_stable_image_core-Units",
        ] {
            assert_eq!(classify(ut), Usage::Unknown, "{ut}");
        }
    }
}
