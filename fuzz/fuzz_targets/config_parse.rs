//! Config parser: `config::parse` on any UTF-8 text, then `config::resolve` (merge and
//! validate) twice: with no flags and no environment, and with `--in-memory` and both
//! secrets in the environment (which reaches the Firehose endpoint and user hashing).
//!
//! Files named in the config are pointed at a directory that does not exist before
//! `resolve`, so a fuzzed path can never make it read a real file (`/dev/zero` would block):
//! reading them then fails, which is a reported problem like any other.
//!
//! Checks, beyond "no panic": a config that resolves has every cap at least 1, non-zero
//! durations, a Firehose acknowledgement timeout under 3 minutes, valid and unique label
//! names within the supported count, and `ledger_limits()` works on it.
#![no_main]

use std::path::PathBuf;
use std::time::Duration;

use bedrock_cost_exporter::config::{self, Env, Overrides, RawConfig};
use bedrock_cost_exporter::ledger::MAX_EXTRA_LABELS;
use bedrock_cost_exporter::secret::Secret;
use libfuzzer_sys::fuzz_target;

const NOWHERE: &str = "/nonexistent-bedrock-cost-exporter-fuzz";

fn defuse(raw: &mut RawConfig) {
    let nowhere = |p: &mut Option<PathBuf>| {
        if let Some(p) = p {
            *p = PathBuf::from(NOWHERE).join(p.file_name().unwrap_or_default());
        }
    };
    nowhere(&mut raw.attribution.hash_key_file);
    nowhere(&mut raw.firehose.access_key_file);
    nowhere(&mut raw.store.password_file);
    nowhere(&mut raw.http.bearer_token_file);
    nowhere(&mut raw.http.basic_auth_file);
}

fn check(c: &config::Config) {
    assert!(c.max_series >= 1 && c.max_users >= 1 && c.max_features >= 1);
    assert!(c.max_values_per_label >= 1);
    for d in [c.poll_interval, c.dedupe_window, c.ratecard_reload_interval] {
        assert!(!d.is_zero());
    }
    if let Some(f) = &c.firehose {
        assert!(!f.ack_timeout.is_zero() && f.ack_timeout < Duration::from_secs(180));
        assert!(!f.keys.is_empty() && f.path.starts_with('/'));
    }
    if let Some(cw) = &c.cloudwatch {
        assert!(!cw.overlap.is_zero() && !cw.poll_interval.is_zero());
    }
    let names: Vec<&str> = c.attribution.extra_names().collect();
    assert!(names.len() <= MAX_EXTRA_LABELS, "{names:?}");
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        names.len(),
        "a label configured twice: {names:?}"
    );
    let limits = c.ledger_limits();
    assert_eq!(limits.dims.len(), 2 + names.len());
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut raw) = config::parse(text, "fuzz.toml") else {
        return;
    };
    defuse(&mut raw);
    if let Ok(c) = config::resolve(raw, Overrides::default(), Env::default()) {
        check(&c);
    }

    let mut raw = config::parse(text, "fuzz.toml").expect("parsed once already");
    defuse(&mut raw);
    let o = Overrides {
        in_memory: true,
        ..Overrides::default()
    };
    let env = Env {
        hash_key: Some(Secret::new("0123456789abcdef0123456789abcdef".into())),
        firehose_keys: Some(Secret::new("key-1, key-2".into())),
        store_password: Some(Secret::new("store-password".into())),
        now_ms: 1_795_000_000_000,
    };
    if let Ok(c) = config::resolve(raw, o, env) {
        check(&c);
    }
});
