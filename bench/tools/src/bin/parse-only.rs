//! parse-only: the ceiling the exporter's replay is measured against.
//!
//! Reads an NDJSON file of Bedrock invocation-log records, splits it into lines and
//! deserialises every line into a struct that borrows just the fields the daemon needs
//! (requestId, timestamp, operation, modelId, region, identity.arn, requestMetadata, the token
//! counters, errorCode); prompt and completion bodies are skipped by the parser. Nothing is
//! priced, deduplicated, stored or exposed. One pass = read the file (from the page cache) +
//! split + parse, timed as a whole; the best of `--runs` passes is reported per parser.
//!
//! Usage: parse-only FILE [--runs 3] [--parsers serde_json,sonic-rs,simd-json]
//!
//! Output: one tab-separated line per parser on stdout:
//!   parser  records  malformed  bytes  seconds  records_per_s  mb_per_s  checksum
//! (MB = 10^6 bytes; `checksum` only keeps the optimiser from skipping work.)

use std::borrow::Cow;
use std::fmt;
use std::time::Instant;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// A string that borrows from the input when it has no escapes.
#[derive(Deserialize)]
struct S<'a>(#[serde(borrow)] Cow<'a, str>);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rec<'a> {
    #[serde(borrow)]
    timestamp: Option<S<'a>>,
    #[serde(borrow)]
    request_id: Option<S<'a>>,
    #[serde(borrow)]
    operation: Option<S<'a>>,
    #[serde(borrow)]
    model_id: Option<S<'a>>,
    #[serde(borrow)]
    region: Option<S<'a>>,
    #[serde(borrow)]
    identity: Option<Identity<'a>>,
    #[serde(borrow, default)]
    request_metadata: Meta<'a>,
    #[serde(default)]
    input: Option<In>,
    #[serde(default)]
    output: Option<Out>,
    #[serde(borrow)]
    error_code: Option<S<'a>>,
}

#[derive(Deserialize)]
struct Identity<'a> {
    #[serde(borrow)]
    arn: Option<S<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct In {
    input_token_count: Option<i64>,
    cache_read_input_token_count: Option<i64>,
    cache_write_input_token_count: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Out {
    output_token_count: Option<i64>,
}

/// `requestMetadata` as borrowed pairs, in record order.
#[derive(Default)]
struct Meta<'a>(Vec<(S<'a>, S<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Meta<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Meta<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Meta::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some(kv) = m.next_entry::<S<'a>, S<'a>>()? {
                    pairs.push(kv);
                }
                Ok(Meta(pairs))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Touches every field, so that no parser can skip building it.
fn digest(r: &Rec<'_>) -> u64 {
    let len = |s: &Option<S<'_>>| s.as_ref().map_or(0, |s| s.0.len() as u64);
    let mut d = len(&r.timestamp)
        + len(&r.request_id)
        + len(&r.operation)
        + len(&r.model_id)
        + len(&r.region)
        + len(&r.error_code)
        + r.identity.as_ref().map_or(0, |i| len(&i.arn));
    for (k, v) in &r.request_metadata.0 {
        d += (k.0.len() + v.0.len()) as u64;
    }
    if let Some(i) = &r.input {
        d += [
            i.input_token_count,
            i.cache_read_input_token_count,
            i.cache_write_input_token_count,
        ]
        .iter()
        .map(|c| c.unwrap_or(0) as u64)
        .sum::<u64>();
    }
    if let Some(o) = &r.output {
        d += o.output_token_count.unwrap_or(0) as u64;
    }
    d
}

#[derive(Default)]
struct Pass {
    records: u64,
    malformed: u64,
    bytes: u64,
    checksum: u64,
}

/// One pass: read the file, split it into lines, parse each line with `parse`.
fn pass(path: &str, mut parse: impl FnMut(&mut [u8]) -> Option<u64>) -> Pass {
    let mut data = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let mut p = Pass {
        bytes: data.len() as u64,
        ..Pass::default()
    };
    let mut rest: &mut [u8] = &mut data;
    while !rest.is_empty() {
        let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        let (line, tail) = rest.split_at_mut(end);
        rest = if tail.is_empty() {
            tail
        } else {
            &mut tail[1..]
        };
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match parse(line) {
            Some(d) => {
                p.records += 1;
                p.checksum = p.checksum.wrapping_add(d);
            }
            None => p.malformed += 1,
        }
    }
    p
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut runs = 3;
    let mut parsers = "serde_json,sonic-rs,simd-json".to_string();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            "--parsers" => parsers = args.next().expect("--parsers LIST"),
            "-h" | "--help" => {
                eprintln!(
                    "usage: parse-only FILE [--runs 3] [--parsers serde_json,sonic-rs,simd-json]"
                );
                return;
            }
            _ if path.is_none() => path = Some(a),
            _ => panic!("unexpected argument {a}"),
        }
    }
    let path = path.expect("usage: parse-only FILE [--runs N] [--parsers LIST]");
    for parser in parsers.split(',') {
        let mut best: Option<(f64, Pass)> = None;
        for _ in 0..runs.max(1) {
            let started = Instant::now();
            let p = match parser {
                "serde_json" => pass(&path, |l| {
                    serde_json::from_slice::<Rec>(l).ok().map(|r| digest(&r))
                }),
                "sonic-rs" => pass(&path, |l| {
                    sonic_rs::from_slice::<Rec>(l).ok().map(|r| digest(&r))
                }),
                // simd-json parses in place (it unescapes into the buffer), which is why the
                // pass hands out mutable lines.
                "simd-json" => pass(&path, |l| {
                    simd_json::serde::from_slice::<Rec>(l)
                        .ok()
                        .map(|r| digest(&r))
                }),
                other => panic!("unknown parser {other} (serde_json, sonic-rs, simd-json)"),
            };
            let secs = started.elapsed().as_secs_f64();
            if best.as_ref().is_none_or(|(b, _)| secs < *b) {
                best = Some((secs, p));
            }
        }
        let (secs, p) = best.expect("at least one run");
        println!(
            "{parser}\t{}\t{}\t{}\t{secs:.4}\t{:.0}\t{:.1}\t{}",
            p.records,
            p.malformed,
            p.bytes,
            p.records as f64 / secs,
            p.bytes as f64 / 1e6 / secs,
            p.checksum
        );
    }
}
