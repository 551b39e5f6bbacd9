//! Wire model of the Bedrock model invocation-log record, and its one conversion to [`Record`].
//!
//! Format: <https://docs.aws.amazon.com/bedrock/latest/userguide/model-invocation-logging.html>
//! ("Log entry format"); field notes in the project's docs. Fields are read by name in any
//! order; unknown fields are ignored. Prompt and completion bodies are skipped by the parser
//! without being built: from `output.outputBodyJson` only the small `usage` part (cache-write
//! TTL split, fallback token counts), `serviceTier` and `performanceConfig` are read, from the
//! top level of the body, from an Anthropic `message`, or from each chunk of a stream array.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::record::{CacheSplit, Record, Tier, Tokens};
use crate::timefmt;

/// A single token class above this count in one call is rejected as absurd. The largest
/// Bedrock context window is 1M tokens; ten times that leaves room for any real call while
/// catching corrupted or forged counts before they become money.
pub const MAX_TOKENS_PER_CLASS: u64 = 10_000_000;

/// Why a line could not become a [`Record`]. `reason()` is the metric label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not valid JSON: {0}")]
    InvalidJson(String),
    #[error("a field has the wrong type: {0}")]
    WrongType(String),
    #[error("required field `{0}` is missing")]
    MissingField(&'static str),
    #[error("timestamp {0:?} is not an ISO-8601 time")]
    BadTimestamp(String),
    #[error("region {0:?} is not an AWS region name")]
    BadRegion(String),
    #[error("token count `{0}` is negative")]
    NegativeCount(&'static str),
    #[error("token count `{field}` = {value} is above the sanity limit of {MAX_TOKENS_PER_CLASS}")]
    AbsurdCount { field: &'static str, value: i64 },
}

impl DecodeError {
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::InvalidJson(_) => "invalid_json",
            DecodeError::WrongType(_) => "wrong_type",
            DecodeError::MissingField(_) => "missing_field",
            DecodeError::BadTimestamp(_) => "bad_timestamp",
            DecodeError::BadRegion(_) => "bad_region",
            DecodeError::NegativeCount(_) => "negative_token_count",
            DecodeError::AbsurdCount { .. } => "absurd_token_count",
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRecord<'a> {
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    request_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    operation: Option<Cow<'a, str>>,
    #[serde(borrow)]
    model_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    region: Option<Cow<'a, str>>,
    #[serde(borrow)]
    identity: Option<WireIdentity<'a>>,
    #[serde(borrow, default)]
    request_metadata: Metadata<'a>,
    #[serde(default)]
    input: WireInput,
    #[serde(default)]
    output: WireOutput,
    #[serde(borrow)]
    error_code: Option<Cow<'a, str>>,
    performance_config: Option<Lenient<PerformanceConfig>>,
}

#[derive(Deserialize)]
struct WireIdentity<'a> {
    #[serde(borrow)]
    arn: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireInput {
    input_token_count: Option<i64>,
    cache_read_input_token_count: Option<i64>,
    cache_write_input_token_count: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireOutput {
    output_token_count: Option<i64>,
    #[serde(default)]
    output_body_json: BodyHints,
}

/// `requestMetadata` as pairs in record order; values must be strings (AWS allows only those).
#[derive(Default)]
struct Metadata<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Metadata<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Metadata<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Metadata::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some((k, v)) = map.next_entry::<CowStr<'a>, CowStr<'a>>()? {
                    pairs.push((k.0, v.0));
                }
                Ok(Metadata(pairs))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A string that borrows from the input when it can (serde's `Cow` alone never borrows).
struct CowStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wrap<'a>(#[serde(borrow)] Cow<'a, str>);
        Wrap::deserialize(d).map(|w| CowStr(w.0))
    }
}

/// Accepts any JSON value: the inner type when it fits, `None` when it does not. Bodies are
/// free-form, so nothing found in them may fail the record.
struct Lenient<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either<T> {
            Fits(T),
            Other(IgnoredAny),
        }
        Ok(match Either::<T>::deserialize(d)? {
            Either::Fits(t) => Lenient(Some(t)),
            Either::Other(_) => Lenient(None),
        })
    }
}

#[derive(Deserialize)]
struct PerformanceConfig {
    latency: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ServiceTier {
    Object {
        #[serde(rename = "type")]
        kind: Option<String>,
    },
    Name(String),
}

/// Converse `usage`, Anthropic `usage`, or `amazon-bedrock-invocationMetrics`; every field
/// optional because each shape carries a different subset.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Usage {
    // Converse
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_write_input_tokens: Option<u64>,
    cache_details: Option<Vec<CacheDetail>>,
    // Anthropic Messages
    #[serde(rename = "input_tokens")]
    a_input_tokens: Option<u64>,
    #[serde(rename = "output_tokens")]
    a_output_tokens: Option<u64>,
    #[serde(rename = "cache_read_input_tokens")]
    a_cache_read: Option<u64>,
    #[serde(rename = "cache_creation_input_tokens")]
    a_cache_creation: Option<u64>,
    #[serde(rename = "cache_creation")]
    cache_creation: Option<Lenient<AnthropicCacheCreation>>,
    // amazon-bedrock-invocationMetrics
    input_token_count: Option<u64>,
    output_token_count: Option<u64>,
    cache_read_input_token_count: Option<u64>,
    cache_write_input_token_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CacheDetail {
    ttl: String,
    input_tokens: u64,
}

#[derive(Deserialize)]
struct AnthropicCacheCreation {
    ephemeral_5m_input_tokens: Option<u64>,
    ephemeral_1h_input_tokens: Option<u64>,
}

/// What the output body tells us, merged over every chunk of a stream.
#[derive(Default, Debug, Clone, Copy, PartialEq)]
struct BodyHints {
    input: Option<u64>,
    output: Option<u64>,
    cache_read: Option<u64>,
    cache_write: Option<u64>,
    /// (5-minute, 1-hour) cache-write tokens.
    split: Option<(u64, u64)>,
    tier: Option<Tier>,
}

impl BodyHints {
    fn absorb_usage(&mut self, u: Usage) {
        let pick = |a: Option<u64>, b: Option<u64>, c: Option<u64>| a.or(b).or(c);
        let set = |slot: &mut Option<u64>, v: Option<u64>| {
            if v.is_some() {
                *slot = v;
            }
        };
        set(
            &mut self.input,
            pick(u.input_tokens, u.a_input_tokens, u.input_token_count),
        );
        set(
            &mut self.output,
            pick(u.output_tokens, u.a_output_tokens, u.output_token_count),
        );
        set(
            &mut self.cache_read,
            pick(
                u.cache_read_input_tokens,
                u.a_cache_read,
                u.cache_read_input_token_count,
            ),
        );
        set(
            &mut self.cache_write,
            pick(
                u.cache_write_input_tokens,
                u.a_cache_creation,
                u.cache_write_input_token_count,
            ),
        );
        if let Some(details) = u.cache_details {
            let (mut m5, mut h1) = (0u64, 0u64);
            // Saturating: forged counts must not wrap around into a split that adds up.
            for d in details {
                match d.ttl.as_str() {
                    "1h" => h1 = h1.saturating_add(d.input_tokens),
                    _ => m5 = m5.saturating_add(d.input_tokens),
                }
            }
            self.split = Some((m5, h1));
        }
        if let Some(Lenient(Some(cc))) = u.cache_creation {
            if cc.ephemeral_5m_input_tokens.is_some() || cc.ephemeral_1h_input_tokens.is_some() {
                self.split = Some((
                    cc.ephemeral_5m_input_tokens.unwrap_or(0),
                    cc.ephemeral_1h_input_tokens.unwrap_or(0),
                ));
            }
        }
    }

    fn absorb(&mut self, other: BodyHints) {
        let keep = |a: Option<u64>, b: Option<u64>| b.or(a);
        self.input = keep(self.input, other.input);
        self.output = keep(self.output, other.output);
        self.cache_read = keep(self.cache_read, other.cache_read);
        self.cache_write = keep(self.cache_write, other.cache_write);
        self.split = other.split.or(self.split);
        self.tier = other.tier.or(self.tier);
    }
}

impl<'de> Deserialize<'de> for BodyHints {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BodyVisitor)
    }
}

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = BodyHints;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BodyHints, A::Error> {
        let mut hints = BodyHints::default();
        while let Some(key) = map.next_key::<CowStr<'de>>()? {
            match key.0.as_ref() {
                "usage" | "amazon-bedrock-invocationMetrics" => {
                    if let Lenient(Some(u)) = map.next_value::<Lenient<Usage>>()? {
                        hints.absorb_usage(u);
                    }
                }
                "message" => hints.absorb(map.next_value::<BodyHints>()?),
                "serviceTier" => {
                    let tier = match map.next_value::<Lenient<ServiceTier>>()?.0 {
                        Some(ServiceTier::Object { kind: Some(k) })
                        | Some(ServiceTier::Name(k)) => service_tier(&k),
                        _ => None,
                    };
                    hints.tier = tier.or(hints.tier);
                }
                "performanceConfig" => {
                    if let Lenient(Some(p)) = map.next_value::<Lenient<PerformanceConfig>>()? {
                        if p.latency.as_deref() == Some("optimized") {
                            hints.tier = Some(Tier::LatencyOptimized);
                        }
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(hints)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BodyHints, A::Error> {
        let mut hints = BodyHints::default();
        while let Some(chunk) = seq.next_element::<BodyHints>()? {
            hints.absorb(chunk);
        }
        Ok(hints)
    }

    fn visit_bool<E>(self, _: bool) -> Result<BodyHints, E> {
        Ok(BodyHints::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<BodyHints, E> {
        Ok(BodyHints::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<BodyHints, E> {
        Ok(BodyHints::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<BodyHints, E> {
        Ok(BodyHints::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<BodyHints, E> {
        Ok(BodyHints::default())
    }
    fn visit_unit<E>(self) -> Result<BodyHints, E> {
        Ok(BodyHints::default())
    }
}

/// Converse `serviceTier.type` → billing tier. `default` is standard; reserved capacity is
/// prepaid, so it is its own tier (a card prices it only if the team says how).
fn service_tier(name: &str) -> Option<Tier> {
    match name {
        "default" | "standard" => Some(Tier::Standard),
        "priority" => Some(Tier::Priority),
        "flex" => Some(Tier::Flex),
        "reserved" => Some(Tier::Reserved),
        _ => None,
    }
}

/// The records in one line: the line itself, or each element when the line holds a JSON
/// array of records (some writers frame S3 log objects so).
pub fn split_records(line: &[u8]) -> Vec<&[u8]> {
    let array = line.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    match array.then(|| serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(line)) {
        Some(Ok(elems)) => elems.into_iter().map(|e| e.get().as_bytes()).collect(),
        _ => vec![line],
    }
}

/// A record's bytes in one canonical form: compact JSON, object keys sorted, strings with the
/// same escapes. The dedupe key of a record without a `requestId`, so that the same record
/// framed differently (whitespace, key order, `\u` escapes, inside an array) is counted once.
/// `None` if the bytes are not JSON.
pub fn canonical(bytes: &[u8]) -> Option<Vec<u8>> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let mut out = Vec::with_capacity(bytes.len());
    write_canonical(&value, &mut out);
    Some(out)
}

fn write_canonical(v: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k).expect("a string serialises");
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar).expect("a scalar serialises"),
    }
}

/// Parses one record (one log line, one CloudWatch message, one NDJSON line).
pub fn parse(line: &[u8]) -> Result<Record<'_>, DecodeError> {
    let wire: WireRecord<'_> = serde_json::from_slice(line).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => DecodeError::WrongType(e.to_string()),
        _ => DecodeError::InvalidJson(e.to_string()),
    })?;
    into_record(wire)
}

fn count(field: &'static str, v: Option<i64>) -> Result<Option<u64>, DecodeError> {
    match v {
        None => Ok(None),
        Some(n) if n < 0 => Err(DecodeError::NegativeCount(field)),
        Some(n) if n as u64 > MAX_TOKENS_PER_CLASS => {
            Err(DecodeError::AbsurdCount { field, value: n })
        }
        Some(n) => Ok(Some(n as u64)),
    }
}

fn body_count(field: &'static str, v: Option<u64>) -> Result<Option<u64>, DecodeError> {
    count(field, v.map(|n| i64::try_from(n).unwrap_or(i64::MAX)))
}

fn into_record(w: WireRecord<'_>) -> Result<Record<'_>, DecodeError> {
    let model_id = w.model_id.ok_or(DecodeError::MissingField("modelId"))?;
    let region = w.region.ok_or(DecodeError::MissingField("region"))?;
    if !looks_like_region(&region) {
        return Err(DecodeError::BadRegion(region.into_owned()));
    }
    let ts = w.timestamp.ok_or(DecodeError::MissingField("timestamp"))?;
    let timestamp =
        timefmt::parse_timestamp(&ts).ok_or_else(|| DecodeError::BadTimestamp(ts.into_owned()))?;

    let body = w.output.output_body_json;
    // The record's own counters win; the body's usage block fills in what they lack.
    let input = count("inputTokenCount", w.input.input_token_count)?
        .or(body_count("usage.inputTokens", body.input)?);
    let output = count("outputTokenCount", w.output.output_token_count)?
        .or(body_count("usage.outputTokens", body.output)?);
    let cache_read = count(
        "cacheReadInputTokenCount",
        w.input.cache_read_input_token_count,
    )?
    .or(body_count("usage.cacheReadInputTokens", body.cache_read)?);
    let cache_write = count(
        "cacheWriteInputTokenCount",
        w.input.cache_write_input_token_count,
    )?
    .or(body_count("usage.cacheWriteInputTokens", body.cache_write)?);
    let has_token_counts =
        input.is_some() || output.is_some() || cache_read.is_some() || cache_write.is_some();
    let cache_write = cache_write.unwrap_or(0);

    let (cache_write_5m, cache_write_1h, cache_split) = match body.split {
        _ if cache_write == 0 => (0, 0, CacheSplit::Known),
        // Trust the split only when it accounts for every write the record counted.
        Some((m5, h1)) if m5.saturating_add(h1) == cache_write => (m5, h1, CacheSplit::Known),
        _ => (cache_write, 0, CacheSplit::Assumed5m),
    };
    let top_tier = w
        .performance_config
        .and_then(|p| p.0)
        .and_then(|p| p.latency)
        .filter(|l| l == "optimized")
        .map(|_| Tier::LatencyOptimized);

    Ok(Record {
        timestamp,
        request_id: w.request_id.filter(|r| !r.is_empty()),
        operation: w.operation,
        model_id,
        region,
        principal_arn: w.identity.and_then(|i| i.arn),
        metadata: w.request_metadata.0,
        tokens: Tokens {
            input: input.unwrap_or(0),
            output: output.unwrap_or(0),
            cache_read: cache_read.unwrap_or(0),
            cache_write_5m,
            cache_write_1h,
        },
        has_token_counts,
        cache_split,
        error_code: w.error_code.filter(|e| !e.is_empty()),
        tier: top_tier.or(body.tier).unwrap_or_default(),
    })
}

/// `us-east-1`, `ap-southeast-2`, `us-gov-west-1`, `eu-central-2`: lower-case words joined by
/// hyphens, ending in a number. Anything else is not a region and would be an unbounded label.
pub fn looks_like_region(s: &str) -> bool {
    let mut parts = s.split('-');
    let first = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    first.len() == 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && rest.len() >= 2
        && rest
            .last()
            .is_some_and(|n| !n.is_empty() && n.len() <= 2 && n.bytes().all(|b| b.is_ascii_digit()))
        && rest[..rest.len() - 1]
            .iter()
            .all(|w| !w.is_empty() && w.len() <= 12 && w.bytes().all(|b| b.is_ascii_lowercase()))
}

#[cfg(test)]
mod tests;
