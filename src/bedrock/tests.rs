use super::*;

const SHAPES: &str = include_str!("../../tests/data/shapes.jsonl");
const BAD: &str = include_str!("../../tests/data/bad.jsonl");

fn shape(id: &str) -> Record<'static> {
    let line = SHAPES
        .lines()
        .find(|l| l.contains(&format!("\"requestId\": \"{id}\"")))
        .unwrap_or_else(|| panic!("no fixture {id}"));
    parse(line.as_bytes()).unwrap_or_else(|e| panic!("{id}: {e}"))
}

fn tokens(input: u64, output: u64, cache_read: u64, w5: u64, w1h: u64) -> Tokens {
    Tokens {
        input,
        output,
        cache_read,
        cache_write_5m: w5,
        cache_write_1h: w1h,
    }
}

#[test]
fn every_shape_fixture_parses() {
    for line in SHAPES.lines() {
        parse(line.as_bytes()).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
}

#[test]
fn aws_doc_example_with_empty_bodies_and_metadata() {
    let r = shape("shape-converse-doc-example");
    assert_eq!(r.operation.as_deref(), Some("Converse"));
    assert_eq!(r.model_id, "anthropic.claude-sonnet-4-20250514-v1:0");
    assert_eq!(r.tokens, tokens(25, 150, 0, 0, 0));
    assert_eq!(r.metadata("team"), Some("search"));
    assert_eq!(r.metadata("feature"), Some("summarize"));
    assert_eq!(r.timestamp, 1_793_607_330);
    assert!(r.has_token_counts);
}

#[test]
fn newer_field_order_without_bodies() {
    let r = shape("shape-no-bodies-geo-profile");
    assert_eq!(r.region, "ap-northeast-1");
    assert_eq!(r.tokens, tokens(1, 8, 0, 0, 0));
    assert!(r
        .principal_arn
        .as_deref()
        .unwrap()
        .ends_with("BatchJobs/nightly-report"));
}

#[test]
fn stream_chunk_array_gives_the_cache_write_split() {
    let r = shape("shape-stream-chunks-cache-split");
    assert_eq!(r.tokens, tokens(12, 50, 1000, 1000, 2000));
    assert_eq!(r.cache_split, CacheSplit::Known);
}

#[test]
fn converse_cache_details_give_the_split() {
    let r = shape("shape-converse-cache-details");
    assert_eq!(r.tokens, tokens(100, 10, 5000, 500, 2000));
    assert_eq!(r.cache_split, CacheSplit::Known);
}

#[test]
fn cache_writes_without_a_body_are_assumed_5m() {
    let r = shape("shape-cache-write-ttl-unknown");
    assert_eq!(r.tokens, tokens(1, 512, 238_604, 1314, 0));
    assert_eq!(r.cache_split, CacheSplit::Assumed5m);
}

#[test]
fn guardrail_records_keep_their_counts() {
    assert_eq!(
        shape("shape-guardrail-input-blocked").tokens,
        tokens(0, 0, 0, 0, 0)
    );
    assert_eq!(
        shape("shape-guardrail-output-blocked").tokens,
        tokens(70, 209, 0, 0, 0)
    );
}

#[test]
fn missing_counts_are_flagged_not_zeroed_silently() {
    let r = shape("shape-missing-counts");
    assert!(!r.has_token_counts);
    assert_eq!(r.timestamp, 1_793_607_330, "space-separated timestamp form");
}

#[test]
fn body_usage_fills_in_missing_counters() {
    let r = shape("shape-body-usage-only");
    assert!(r.has_token_counts);
    assert_eq!(r.tokens, tokens(40, 60, 0, 0, 0));
}

#[test]
fn error_records_carry_the_error_code() {
    let r = shape("shape-error-record");
    assert_eq!(r.error_code.as_deref(), Some("ResourceNotFoundException"));
    assert!(!r.has_token_counts);
}

#[test]
fn tiers_come_from_performance_config_and_service_tier() {
    assert_eq!(
        shape("shape-latency-optimized").tier,
        Tier::LatencyOptimized
    );
    assert_eq!(shape("shape-priority-tier").tier, Tier::Priority);
    assert_eq!(shape("shape-converse-doc-example").tier, Tier::Standard);
}

#[test]
fn escaped_strings_are_decoded() {
    let r = shape("shape-escaped-strings");
    assert_eq!(r.metadata("user"), Some("jos\u{e9} \"j\""));
    assert!(r
        .principal_arn
        .as_deref()
        .unwrap()
        .ends_with("o\u{2019}brien"));
}

#[test]
fn a_text_that_looks_like_usage_does_not_count() {
    // the content_block_delta text holds `{"usage": ...}` as a string: never parsed
    assert_eq!(shape("shape-stream-chunks-cache-split").tokens.output, 50);
}

#[test]
fn odd_body_values_never_fail_a_record() {
    for body in [
        r#""text""#,
        "42",
        "null",
        "[1,[2],{}]",
        r#"{"usage":"x","message":7,"serviceTier":[1]}"#,
        r#"{"usage":{"inputTokens":-5}}"#,
    ] {
        let line = format!(
            r#"{{"timestamp":"2026-11-02T08:15:30Z","region":"us-east-1","modelId":"m","output":{{"outputBodyJson":{body},"outputTokenCount":3}}}}"#
        );
        let r = parse(line.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert_eq!(r.tokens.output, 3);
    }
}

#[test]
fn a_split_that_disagrees_with_the_counter_is_not_trusted() {
    let line = r#"{"timestamp":"2026-11-02T08:15:30Z","region":"us-east-1","modelId":"m","input":{"cacheWriteInputTokenCount":100},"output":{"outputBodyJson":{"usage":{"cacheDetails":[{"ttl":"1h","inputTokens":60}]}}}}"#;
    let r = parse(line.as_bytes()).unwrap();
    assert_eq!((r.tokens.cache_write_5m, r.tokens.cache_write_1h), (100, 0));
    assert_eq!(r.cache_split, CacheSplit::Assumed5m);
}

/// Found while writing the record_parser fuzz target (its replay panicked): the 1-hour entries
/// were summed with `+=`, which overflowed (a panic with overflow checks; in a release build
/// the sum wrapped to 100, a split that "adds up" to the counter).
#[test]
fn cache_detail_counts_that_overflow_are_not_a_split() {
    let line = br#"{"timestamp":"2026-11-02T08:15:30Z","region":"us-east-1","modelId":"m","input":{"cacheWriteInputTokenCount":100},"output":{"outputBodyJson":{"usage":{"cacheDetails":[{"ttl":"1h","inputTokens":18446744073709551615},{"ttl":"1h","inputTokens":101}]}}}}"#;
    let r = parse(line).unwrap();
    assert_eq!(r.cache_split, CacheSplit::Assumed5m);
    assert_eq!(r.tokens, tokens(0, 0, 0, 100, 0));
}

#[test]
fn bad_lines_fail_with_a_reason() {
    let reasons: Vec<&str> = BAD
        .lines()
        .map(|l| parse(l.as_bytes()).unwrap_err().reason())
        .collect();
    assert_eq!(
        reasons,
        [
            "invalid_json",
            "invalid_json",
            "wrong_type",
            "negative_token_count",
            "absurd_token_count",
            "bad_timestamp",
            "missing_field",
            "bad_region"
        ]
    );
}

#[test]
fn region_names() {
    for ok in [
        "us-east-1",
        "ap-southeast-2",
        "us-gov-west-1",
        "eu-central-2",
        "ca-west-1",
    ] {
        assert!(looks_like_region(ok), "{ok}");
    }
    for bad in [
        "",
        "us",
        "us-east",
        "US-EAST-1",
        "us-east-1a",
        "<script>",
        "us--1",
        "global",
    ] {
        assert!(!looks_like_region(bad), "{bad}");
    }
}
