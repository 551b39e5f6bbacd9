//! The normalised invocation: one Bedrock model call as the rest of the pipeline sees it.
//!
//! A [`Record`] borrows its strings from the input line (no copy unless the JSON escaped
//! them). It knows nothing of wire formats (see `bedrock.rs`) or prices (see `pricing/`).
//! Also here: the token classes and the parts of an IAM/STS principal ARN.

use std::borrow::Cow;

/// The five token classes Bedrock bills separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenClass {
    Input,
    Output,
    CacheRead,
    CacheWrite5m,
    CacheWrite1h,
}

impl TokenClass {
    pub const ALL: [TokenClass; 5] = [
        TokenClass::Input,
        TokenClass::Output,
        TokenClass::CacheRead,
        TokenClass::CacheWrite5m,
        TokenClass::CacheWrite1h,
    ];

    /// The `token_type` label value and the rate-card key.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenClass::Input => "input",
            TokenClass::Output => "output",
            TokenClass::CacheRead => "cache_read",
            TokenClass::CacheWrite5m => "cache_write_5m",
            TokenClass::CacheWrite1h => "cache_write_1h",
        }
    }
}

/// Token counts per class for one call. Cache writes are already split by TTL here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write_5m: u64,
    pub cache_write_1h: u64,
}

impl Tokens {
    pub fn get(&self, class: TokenClass) -> u64 {
        match class {
            TokenClass::Input => self.input,
            TokenClass::Output => self.output,
            TokenClass::CacheRead => self.cache_read,
            TokenClass::CacheWrite5m => self.cache_write_5m,
            TokenClass::CacheWrite1h => self.cache_write_1h,
        }
    }

    /// The prompt size that selects a long-context band: every input token, cached or not.
    pub fn prompt_total(&self) -> u64 {
        self.input + self.cache_read + self.cache_write_5m + self.cache_write_1h
    }
}

/// The service tier a call was billed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Tier {
    #[default]
    Standard,
    Batch,
    Priority,
    Flex,
    LatencyOptimized,
    Reserved,
}

impl Tier {
    pub const ALL: [Tier; 6] = [
        Tier::Standard,
        Tier::Batch,
        Tier::Priority,
        Tier::Flex,
        Tier::LatencyOptimized,
        Tier::Reserved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Standard => "standard",
            Tier::Batch => "batch",
            Tier::Priority => "priority",
            Tier::Flex => "flex",
            Tier::LatencyOptimized => "latency_optimized",
            Tier::Reserved => "reserved",
        }
    }

    pub fn parse(s: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Where the cache-write TTL split came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheSplit {
    /// No cache writes, or the body said how they split.
    Known,
    /// The body did not say: every write is priced at the 5-minute rate.
    Assumed5m,
}

/// One Bedrock model invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'a> {
    /// Unix seconds of the record's `timestamp` (when the call was made).
    pub timestamp: i64,
    pub request_id: Option<Cow<'a, str>>,
    pub operation: Option<Cow<'a, str>>,
    /// The `modelId` exactly as the caller passed it.
    pub model_id: Cow<'a, str>,
    /// The source region: the one the call was made to, which the price depends on.
    pub region: Cow<'a, str>,
    pub principal_arn: Option<Cow<'a, str>>,
    /// `requestMetadata`, in record order (at most 16 pairs by AWS's rules).
    pub metadata: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub tokens: Tokens,
    /// False when the record carried no token count at all (neither the counters nor a
    /// usage block in the body): such a call cannot be priced.
    pub has_token_counts: bool,
    pub cache_split: CacheSplit,
    pub error_code: Option<Cow<'a, str>>,
    pub tier: Tier,
}

impl Record<'_> {
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }
}

/// The parts of an IAM or STS principal ARN that attribution uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal<'a> {
    /// `arn:aws:sts::<acct>:assumed-role/<role>/<session>`
    AssumedRole { role: &'a str, session: &'a str },
    /// `arn:aws:iam::<acct>:user/<path/><name>`
    User { name: &'a str },
    /// `arn:aws:sts::<acct>:federated-user/<name>`
    FederatedUser { name: &'a str },
    /// Anything else (root, a service principal, a truncated or masked ARN).
    Other,
}

impl<'a> Principal<'a> {
    pub fn parse(arn: &'a str) -> Principal<'a> {
        // arn:partition:service:region:account:resource
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(_), Some(service), Some(_), Some(_), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Principal::Other;
        };
        let non_empty = |s: &'a str| (!s.is_empty()).then_some(s);
        match (service, resource.split_once('/')) {
            ("sts", Some(("assumed-role", rest))) => match rest.split_once('/') {
                Some((role, session)) if !role.is_empty() && !session.is_empty() => {
                    Principal::AssumedRole { role, session }
                }
                _ => Principal::Other,
            },
            ("iam", Some(("user", rest))) => rest
                .rsplit('/')
                .next()
                .and_then(non_empty)
                .map_or(Principal::Other, |name| Principal::User { name }),
            ("sts", Some(("federated-user", name))) => {
                non_empty(name).map_or(Principal::Other, |name| Principal::FederatedUser { name })
            }
            _ => Principal::Other,
        }
    }

    pub fn role(&self) -> Option<&'a str> {
        match self {
            Principal::AssumedRole { role, .. } => Some(role),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumed_role_arn_gives_role_and_session() {
        assert_eq!(
            Principal::parse("arn:aws:sts::123456789012:assumed-role/AppRole/alice@example.com"),
            Principal::AssumedRole {
                role: "AppRole",
                session: "alice@example.com"
            }
        );
    }

    #[test]
    fn iam_user_arn_gives_the_last_path_segment() {
        assert_eq!(
            Principal::parse("arn:aws:iam::123456789012:user/dept/bob"),
            Principal::User { name: "bob" }
        );
        assert_eq!(
            Principal::parse("arn:aws-us-gov:iam::123456789012:user/carol"),
            Principal::User { name: "carol" }
        );
    }

    #[test]
    fn federated_user_arn_gives_its_name() {
        assert_eq!(
            Principal::parse("arn:aws:sts::123456789012:federated-user/dave"),
            Principal::FederatedUser { name: "dave" }
        );
    }

    #[test]
    fn truncated_root_and_garbage_arns_are_other() {
        for arn in [
            "arn:aws:sts::111111111111:assumed-role/...",
            "arn:aws:iam::123456789012:root",
            "arn:aws:sts::1:assumed-role/Role/",
            "not an arn",
            "",
        ] {
            assert_eq!(Principal::parse(arn), Principal::Other, "{arn}");
        }
    }

    #[test]
    fn prompt_total_counts_cached_tokens() {
        let t = Tokens {
            input: 1,
            output: 9,
            cache_read: 10,
            cache_write_5m: 100,
            cache_write_1h: 1000,
        };
        assert_eq!(t.prompt_total(), 1111);
    }
}
