//! Record parser, the whole decode → price → attribute path of one log line.
//!
//! Input: one line as bytes (what a file, stdin, Firehose or CloudWatch hands the pipeline).
//! It goes through `bedrock::split_records` and `bedrock::parse`, then every record is priced
//! with the bundled rate card and attributed twice (default settings, and settings with
//! extra labels, rules and user hashing), as the pipeline does with `PricedCall::new`.
//!
//! Checks, beyond "no panic": a decoded record has every token class within
//! `MAX_TOKENS_PER_CLASS` and a cache-write split that adds up; a priced call has
//! non-negative costs whose sum is the total, fits the ledger's fixed-point units (money is
//! never dropped) and a non-negative cache-read saving; label values are sanitised.
#![no_main]

use std::sync::OnceLock;

use bedrock_cost_exporter::account::PricedCall;
use bedrock_cost_exporter::attribution::{self, Attribution, Matcher, Rule, Source};
use bedrock_cost_exporter::bedrock::{self, MAX_TOKENS_PER_CLASS};
use bedrock_cost_exporter::money;
use bedrock_cost_exporter::pricing::{ratecard, Aliases, Outcome, RateCards};
use bedrock_cost_exporter::record::{CacheSplit, TokenClass};
use libfuzzer_sys::fuzz_target;

struct Setup {
    cards: RateCards,
    aliases: Aliases,
    plain: Attribution,
    configured: Attribution,
}

/// Built once: parsing the 150 KB bundled card on every input would dominate the run.
fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let aliases = Aliases::new(
            [(
                "arn:aws:bedrock:us-east-1:1:application-inference-profile/p".to_string(),
                "global.anthropic.claude-haiku-4-5-20251001-v1:0".to_string(),
            )]
            .into(),
        );
        let configured = Attribution {
            extra: vec![
                ("team".into(), Source::Metadata("team".into())),
                ("role".into(), Source::ArnRole),
                ("cost_center".into(), Source::Rules),
            ],
            rules: vec![
                Rule {
                    matcher: Matcher::Glob(
                        glob::Pattern::new("arn:aws:sts::*:assumed-role/*/*").unwrap(),
                    ),
                    set: vec![("cost_center".into(), "CC-1".into())],
                },
                Rule {
                    matcher: Matcher::Regex(regex::Regex::new(r"^arn:aws:iam::\d+:user/").unwrap()),
                    set: vec![("cost_center".into(), "CC-2".into())],
                },
            ],
            user_hash_key: Some(bedrock_cost_exporter::secret::Secret::new(
                b"0123456789abcdef-fuzz".to_vec(),
            )),
            ..Attribution::default()
        };
        Setup {
            cards: ratecard::bundled(),
            aliases,
            plain: Attribution::default(),
            configured,
        }
    })
}

fuzz_target!(|line: &[u8]| {
    let s = setup();
    let delivery = [("team".to_string(), "from-delivery".to_string())];
    for piece in bedrock::split_records(line) {
        let Ok(rec) = bedrock::parse(piece) else {
            continue;
        };
        for class in TokenClass::ALL {
            assert!(rec.tokens.get(class) <= MAX_TOKENS_PER_CLASS, "{class:?}");
        }
        let writes = rec.tokens.cache_write_5m + rec.tokens.cache_write_1h;
        assert!(writes <= MAX_TOKENS_PER_CLASS, "cache writes {writes}");
        if rec.cache_split == CacheSplit::Assumed5m {
            assert_eq!(rec.tokens.cache_write_1h, 0);
        }

        for attribution in [&s.plain, &s.configured] {
            let call = PricedCall::new(&s.cards, &s.aliases, attribution, &rec, &delivery);
            if let Outcome::Priced(p) = &call.outcome {
                let mut sum = p.cost[0];
                for c in p.cost {
                    assert!(!c.is_sign_negative(), "negative cost {c} in {p:?}");
                }
                for c in &p.cost[1..] {
                    sum += *c;
                }
                assert_eq!(sum, p.total);
                assert!(!p.cache_read_savings.is_sign_negative(), "{p:?}");
                assert!(
                    money::to_units(p.total, money::USD_SCALE).is_some(),
                    "total {} does not fit the ledger's units",
                    p.total
                );
            }
            let l = &call.labels;
            for v in [&l.user, &l.feature].into_iter().chain(&l.extra) {
                assert!(v.chars().count() <= attribution::MAX_LABEL_LEN, "{v:?}");
                // What `sanitize` lets through; not idempotence: cutting at the length cap may
                // leave a trailing space, which is harmless in a label value.
                let allowed = |c: char| c.is_ascii_alphanumeric() || " ._:@/+=,#$-_".contains(c);
                assert!(v.chars().all(allowed), "not sanitised: {v:?}");
            }
            assert_eq!(l.extra.len(), attribution.extra.len());
            if attribution.user_hash_key.is_some() {
                assert!(l.user.starts_with("u_") && l.user.len() == 18, "{}", l.user);
            }
        }
    }
});
