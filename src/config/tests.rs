use super::*;

#[test]
fn a_full_config_resolves() {
    let raw = parse(
        r#"
listen = "0.0.0.0:9464"
state_dir = "/var/lib/bce"
[files]
paths = ["/logs/*.jsonl"]
poll_interval = "250ms"
[attribution]
user_keys = ["uid"]
metadata_labels = ["team"]
arn_labels = ["role"]
[[attribution.rules]]
principal_glob = "arn:aws:sts::*:assumed-role/Search*/*"
labels = { team = "search", cost_center = "CC-1" }
[models.aliases]
"arn:aws:bedrock:us-east-1:1:application-inference-profile/x" = "us.amazon.nova-lite-v1:0"
[limits]
max_series_per_metric = 500
max_users = 100000
[dedupe]
window = "72h"
[store]
daily_retention_days = 800
"#,
        "c.toml",
    )
    .unwrap();
    let c = resolve(
        raw,
        Overrides {
            files: vec!["/more/*.gz".into()],
            ..Default::default()
        },
        Env::default(),
    )
    .unwrap();
    assert_eq!(c.listen.to_string(), "0.0.0.0:9464");
    assert_eq!(c.state, StateMode::Dir("/var/lib/bce".into()));
    assert_eq!(c.files, ["/logs/*.jsonl", "/more/*.gz"]);
    assert_eq!(c.poll_interval, Duration::from_millis(250));
    assert_eq!(c.dedupe_window, Duration::from_secs(72 * 3600));
    assert_eq!(c.daily_retention_days, 800);
    assert_eq!(c.max_series, 500);
    assert_eq!((c.max_users, c.max_features), (100_000, DEFAULT_MAX_VALUES));
    let dims: Vec<(String, usize)> = c.ledger_limits().dims;
    assert_eq!(dims[0], ("user".to_string(), 100_000));
    let names: Vec<&str> = c.attribution.extra_names().collect();
    assert_eq!(names, ["team", "role", "cost_center"]);
}

#[test]
fn reconcile_defaults_and_every_problem_at_once() {
    let text = "state_dir = \"/s\"\n[reconcile]\ncur = [\"/cur\"]\n";
    let c = resolve(
        parse(text, "c.toml").unwrap(),
        Overrides::default(),
        Env::default(),
    )
    .unwrap();
    let r = c.reconcile.unwrap();
    assert_eq!(r.cur, [crate::cur::Location::Local("/cur".into())]);
    assert_eq!(r.interval, Duration::from_secs(6 * 3600));
    assert_eq!(r.tolerance, rust_decimal::Decimal::new(1, 2));
    assert_eq!((r.skip_recent_days, r.mapping), (1, None));

    // The daily totals of a PostgreSQL store are read the same way.
    let text = "[store]\nurl = \"postgres://u@db/x\"\n[reconcile]\ncur = [\"/cur\"]\n";
    let c = resolve(
        parse(text, "c.toml").unwrap(),
        Overrides::default(),
        Env::default(),
    )
    .unwrap();
    assert!(matches!(c.state, StateMode::Postgres(_)), "{:?}", c.state);
    assert!(c.reconcile.is_some());

    let text = "state_dir = \"/s\"\n[reconcile]\ncur = [\"s3://bill/cur\"]\n";
    let c = resolve(
        parse(text, "c.toml").unwrap(),
        Overrides::default(),
        Env::default(),
    )
    .unwrap();
    assert_eq!(
        c.reconcile.unwrap().cur,
        [crate::cur::Location::S3(crate::cur::S3Prefix {
            bucket: "bill".into(),
            prefix: "cur/".into()
        })]
    );

    let text = "[reconcile]\ncur = [\"/cur\", \"s3://Bad_Bucket/\"]\ninterval = \"often\"\ntolerance = \"-1\"\n";
    let o = Overrides {
        in_memory: true,
        ..Default::default()
    };
    let e = resolve(parse(text, "c.toml").unwrap(), o, Env::default()).unwrap_err();
    let all = e.0.join("\n");
    assert!(all.contains("reconcile needs a store"), "{all}");
    assert!(all.contains("reconcile.interval \"often\""), "{all}");
    assert!(all.contains("reconcile.tolerance \"-1\""), "{all}");
    assert!(all.contains("reconcile.cur: \"s3://Bad_Bucket/\""), "{all}");

    let text = "state_dir = \"/s\"\n[reconcile]\ninterval = \"1h\"\n";
    let e = resolve(
        parse(text, "c.toml").unwrap(),
        Overrides::default(),
        Env::default(),
    )
    .unwrap_err();
    assert!(e.0[0].contains("without reconcile.cur"), "{:?}", e.0);
}

#[test]
fn flags_win_over_the_file() {
    let raw = parse("listen = \"127.0.0.1:1\"\nstate_dir = \"/a\"", "c.toml").unwrap();
    let c = resolve(
        raw,
        Overrides {
            listen: Some("127.0.0.1:2".into()),
            state_dir: Some("/b".into()),
            ..Default::default()
        },
        Env::default(),
    )
    .unwrap();
    assert_eq!((c.listen.port(), c.state), (2, StateMode::Dir("/b".into())));
    assert_eq!(c.daily_retention_days, DEFAULT_DAILY_RETENTION_DAYS);
}

#[test]
fn an_empty_state_dir_variable_counts_as_unset() {
    let vars = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(n, v)| (OsString::from(n), OsString::from(v)))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        empty_means_unset(vars(&[
            ("HOME", "/root"),
            (STATE_DIR_ENV, ""),
            ("BEDROCK_COST_LISTEN", ""),
            (STORE_PASSWORD_ENV, ""),
        ])),
        vec![OsString::from(STATE_DIR_ENV)],
        "only the state directory: other empty variables keep their meaning"
    );
    assert!(empty_means_unset(vars(&[(STATE_DIR_ENV, "/var/lib/bce")])).is_empty());
    assert!(empty_means_unset(vars(&[(STATE_DIR_ENV, " ")])).is_empty());
}

#[test]
fn unknown_settings_are_all_reported() {
    let errs = parse(
        "listn = \"x\"\n[files]\npath = []\n[attribution]\nfeature = \"f\"",
        "c.toml",
    )
    .unwrap_err()
    .0;
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(
        errs.iter()
            .any(|e| e.contains("unknown setting `files.path`")),
        "{errs:?}"
    );
}

#[test]
fn s3_settings_resolve_and_every_problem_is_listed_at_once() {
    let raw = parse(
            "state_dir = \"/s\"\n[s3]\nuris = [\"s3://logs-bucket/bedrock\"]\nlookback = \"90m\"\nstart = \"-7d\"\nsqs_queue_url = \"https://sqs.us-east-1.amazonaws.com/1/q\"\n",
            "c.toml",
        )
        .unwrap();
    let env = Env {
        now_ms: 10 * 86_400_000,
        ..Env::default()
    };
    let o = Overrides {
        s3_uris: vec!["s3://other-bucket".into()],
        s3_concurrency: Some(4),
        ..Default::default()
    };
    let c = resolve(raw, o, env.clone()).unwrap().s3.unwrap();
    let uris: Vec<String> = c.prefixes.iter().map(ToString::to_string).collect();
    assert_eq!(uris, ["s3://logs-bucket/bedrock/", "s3://other-bucket/"]);
    assert_eq!(c.lookback, Duration::from_secs(90 * 60));
    assert_eq!(c.start_ms, 3 * 86_400_000);
    assert_eq!(c.concurrency, 4);
    assert_eq!(c.sqs_wait, Duration::from_secs(20));
    assert_eq!(c.reconcile_interval, Duration::from_secs(600));

    let raw = parse(
            "state_dir = \"/s\"\n[s3]\nuris = [\"s3://B\", \"/local\", \"s3://bbb/x/AWSLogs/1/\", \"s3://okay/\", \"s3://okay\", \"s3://okay/sub/\"]\nlookback = \"soon\"\nconcurrency = 0\nsqs_queue_url = \"q\"\nsqs_wait = \"60s\"\nstart = \"yesterday\"\n",
            "c.toml",
        )
        .unwrap();
    let o = Overrides {
        once: true,
        ..Default::default()
    };
    let all = resolve(raw, o, env.clone()).unwrap_err().0.join("\n");
    for want in [
        "\"B\" is not an S3 bucket name",
        "\"/local\" is not s3://BUCKET/PREFIX/",
        "reaches into AWSLogs/",
        "\"s3://okay\" is given twice",
        "\"s3://okay/sub/\" overlaps another one",
        "s3.lookback \"soon\"",
        "s3.concurrency 0",
        "s3.sqs_queue_url must be a queue URL",
        "s3.sqs_wait \"60s\" is not a duration from 1s to 20s",
        "start \"yesterday\"",
        "S3 prefixes are followed continuously",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
    let raw = parse(
        "state_dir = \"/s\"\n[s3]\nsqs_queue_url = \"https://q\"\n",
        "c.toml",
    )
    .unwrap();
    let all = resolve(raw, Overrides::default(), env)
        .unwrap_err()
        .0
        .join("\n");
    assert!(
        all.contains("needs the prefixes it notifies about"),
        "{all}"
    );
}

#[test]
fn every_problem_is_listed_at_once() {
    let raw = parse(
        r#"
listen = "nowhere"
[files]
poll_interval = "soon"
[attribution]
metadata_labels = ["model", "bad-name", "team", "team"]
arn_labels = ["account"]
hash_users = true
[[attribution.rules]]
principal_glob = "a"
principal_regex = "b"
[limits]
max_series_per_metric = 0
max_features = 0
[store]
daily_retention_days = 0
"#,
        "c.toml",
    )
    .unwrap();
    let errs = resolve(raw, Overrides::default(), Env::default())
        .unwrap_err()
        .0;
    let all = errs.join("\n");
    for want in [
        "listen: address \"nowhere\"",
        "no state directory",
        "files.poll_interval \"soon\"",
        "label \"model\" is reserved",
        "\"bad-name\" is not a valid Prometheus label name",
        "label \"team\" is configured twice",
        "\"account\" is not an ARN part",
        "give exactly one of principal_glob or principal_regex",
        "`labels` is empty",
        "max_series_per_metric must be at least 1",
        "limits.max_features must be at least 1",
        "store.daily_retention_days must be at least 1",
        "hash_users needs a key",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
}

#[test]
fn a_setting_given_as_a_flag_is_named_as_the_flag_and_its_variable() {
    let o = Overrides {
        listen: Some("nowhere".into()),
        in_memory: true,
        poll_interval: Some("soon".into()),
        dedupe_window: Some("0s".into()),
        max_series: Some(0),
        max_users: Some(0),
        files: vec!["[".into()],
        start: Some("yesterday".into()),
        cloudwatch_log_groups: vec!["g".into()],
        export_firehose_stream: Some(String::new()),
        firehose_access_key_file: Some("/nonexistent/keys".into()),
        ..Default::default()
    };
    let errs = resolve(RawConfig::default(), o, Env::default())
        .unwrap_err()
        .0;
    let all = errs.join("\n");
    for want in [
            "--listen (or BEDROCK_COST_LISTEN): address \"nowhere\"",
            "--poll-interval (or BEDROCK_COST_POLL_INTERVAL) \"soon\" is not a duration",
            "--dedupe-window (or BEDROCK_COST_DEDUPE_WINDOW) \"0s\"",
            "--max-series (or BEDROCK_COST_MAX_SERIES) must be at least 1",
            "--max-users (or BEDROCK_COST_MAX_USERS) must be at least 1",
            "--file (or BEDROCK_COST_FILES): \"[\" is not a valid glob",
            "--start (or BEDROCK_COST_START): \"yesterday\"",
            "--export-firehose-stream (or BEDROCK_COST_EXPORT_FIREHOSE_STREAM) must be",
            "--firehose-access-key-file (or BEDROCK_COST_FIREHOSE_ACCESS_KEY_FILE) /nonexistent/keys: cannot read",
        ] {
            assert!(all.contains(want), "missing {want:?} in:\n{all}");
        }
    for internal in [
        "files.poll_interval",
        "dedupe.window",
        "limits.",
        "cloudwatch.start",
        "export.firehose",
    ] {
        assert!(
            !all.contains(internal),
            "{internal} named for a flag:\n{all}"
        );
    }
}

#[test]
fn a_setting_from_the_file_is_named_by_its_key() {
    let raw = parse(
            "listen = \"nowhere\"\n[dedupe]\nwindow = \"x\"\n[limits]\nmax_users = 0\n[files]\npaths = [\"[\"]\n[attribution]\nmetadata_labels = [\"bad-name\"]\n",
            "c.toml",
        )
        .unwrap();
    let o = Overrides {
        in_memory: true,
        ..Default::default()
    };
    let all = resolve(raw, o, Env::default()).unwrap_err().0.join("\n");
    for want in [
        "listen: address \"nowhere\"",
        "dedupe.window \"x\"",
        "limits.max_users must be at least 1",
        "files.paths: \"[\" is not a valid glob",
        "attribution.metadata_labels: \"bad-name\" is not a valid Prometheus label name",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
}

#[test]
fn firehose_in_flight_bounds_default_and_must_admit_a_largest_request() {
    let firehose = |toml: &str| {
        let raw = parse(&format!("state_dir = \"/s\"\n[firehose]\n{toml}"), "c.toml").unwrap();
        let env = Env {
            firehose_keys: Some(Secret::new("k".into())),
            ..Env::default()
        };
        resolve(raw, Overrides::default(), env).map(|c| c.firehose.unwrap())
    };
    let f = firehose("").unwrap();
    assert_eq!(
        (f.max_in_flight_requests, f.max_in_flight_bytes),
        (32, 128 << 20)
    );
    let errs =
        firehose("max_in_flight_requests = 0\nmax_in_flight_bytes = 1000\nmax_body_bytes = 1001")
            .unwrap_err()
            .0
            .join("\n");
    assert!(
        errs.contains("max_in_flight_requests must be at least 1"),
        "{errs}"
    );
    assert!(
        errs.contains("max_in_flight_bytes (1000) must be at least firehose.max_body_bytes (1001)"),
        "{errs}"
    );
}

#[test]
fn the_firehose_endpoint_needs_a_key_and_says_where_to_set_it() {
    let resolve_with = |toml: &str, env: Env| {
        let o = Overrides {
            in_memory: true,
            ..Default::default()
        };
        resolve(parse(toml, "c.toml").unwrap(), o, env)
    };
    let all = resolve_with("[firehose]\nenabled = true\n", Env::default())
        .unwrap_err()
        .0
        .join("\n");
    for want in [
        "firehose.enabled is true but no access key is configured",
        "firehose.access_key_file",
        "--firehose-access-key-file",
        FIREHOSE_KEYS_ENV,
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
    let blank = Env {
        firehose_keys: Some(Secret::new(" , ".into())),
        ..Default::default()
    };
    let all = resolve_with("", blank).unwrap_err().0.join("\n");
    assert!(
        all.contains("BEDROCK_COST_FIREHOSE_ACCESS_KEYS is set but holds no key"),
        "{all}"
    );
    let dir = tempfile::tempdir().unwrap();
    let comments = dir.path().join("keys");
    std::fs::write(&comments, "# the key goes here\n\n").unwrap();
    let toml = format!("[firehose]\naccess_key_file = {:?}\n", comments);
    let all = resolve_with(&toml, Env::default())
        .unwrap_err()
        .0
        .join("\n");
    assert!(
        all.contains("holds no key; write one key per line"),
        "{all}"
    );
    // Settings without a key source (a shared config): the endpoint stays off, as does
    // `enabled = false` whatever keys are around.
    let one = Env {
        firehose_keys: Some(Secret::new("k".into())),
        ..Default::default()
    };
    assert!(resolve_with("[firehose]\npath = \"/fh\"\n", Env::default())
        .unwrap()
        .firehose
        .is_none());
    assert!(resolve_with("[firehose]\nenabled = false\n", one.clone())
        .unwrap()
        .firehose
        .is_none());
    assert!(resolve_with("", one).unwrap().firehose.is_some());
}

#[test]
fn a_config_dump_shows_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "firehose-key-0123456789\n").unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "http-token-0123456789\n").unwrap();
    let users = dir.path().join("users");
    std::fs::write(&users, "prometheus:http-password-0123456789\n").unwrap();
    let toml = format!(
        "[attribution]\nhash_users = true\n[firehose]\naccess_key_file = {keys:?}\n\
             [http]\nbearer_token_file = {tokens:?}\nbasic_auth_file = {users:?}\n"
    );
    let env = Env {
        hash_key: Some(Secret::new("hash-key-0123456789".into())),
        ..Default::default()
    };
    let o = Overrides {
        in_memory: true,
        ..Default::default()
    };
    let c = resolve(parse(&toml, "c.toml").unwrap(), o, env.clone()).unwrap();
    let dump = format!("{c:?} {env:?}");
    assert!(
        !dump.contains("0123456789") && !dump.contains("48, 49, 50"),
        "{dump}"
    );
    assert!(!dump.contains("prometheus:"), "{dump}");
    assert!(c.http.auth.is_some());
    assert!(c
        .firehose
        .unwrap()
        .keys
        .contains(b"firehose-key-0123456789"));
}

#[test]
fn a_postgres_store_takes_its_password_from_a_file_or_the_environment_and_never_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "\n  db-password-0123456789 \n").unwrap();
    let toml = format!("[store]\nurl = \"postgres://bce@db:5432/bce\"\npassword_file = {pw:?}\n");
    let env = Env {
        store_password: Some(Secret::new("env-password-9876543210".into())),
        ..Default::default()
    };
    let c = resolve(
        parse(&toml, "c.toml").unwrap(),
        Overrides::default(),
        env.clone(),
    )
    .unwrap();
    let StateMode::Postgres(pg) = &c.state else {
        panic!("{:?}", c.state)
    };
    assert_eq!(pg.url, "postgres://bce@db:5432/bce");
    assert_eq!(
        pg.password.as_ref().unwrap().expose(),
        "db-password-0123456789"
    );
    let dump = format!("{c:?} {env:?}");
    assert!(
        !dump.contains("0123456789") && !dump.contains("9876543210"),
        "{dump}"
    );
    // the flag wins over the file; without a password file, the environment's
    let o = Overrides {
        store: Some("postgres://other@db:5432/x".into()),
        ..Default::default()
    };
    let c = resolve(Default::default(), o, env).unwrap();
    let StateMode::Postgres(pg) = &c.state else {
        panic!("{:?}", c.state)
    };
    assert_eq!(pg.url, "postgres://other@db:5432/x");
    assert_eq!(
        pg.password.as_ref().unwrap().expose(),
        "env-password-9876543210"
    );
}

#[test]
fn a_postgres_store_lists_every_problem_at_once() {
    let toml = "state_dir = \"/s\"\n[store]\nurl = \"postgres://u:secret-in-url@db/x\"\npassword_file = \"/nonexistent/pw\"\n";
    let err = resolve(
        parse(toml, "c.toml").unwrap(),
        Overrides::default(),
        Env::default(),
    )
    .unwrap_err();
    let text = err.to_string();
    assert_eq!(err.0.len(), 3, "{text}");
    for want in [
        "store.url and a state directory",
        "holds a password",
        "/nonexistent/pw: cannot read",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    assert!(!text.contains("secret-in-url"), "{text}");
    // --in-memory (as `check` runs) wins over a store in the file, not over the flag
    let toml = "[store]\nurl = \"postgres://u@db/x\"\npassword_file = \"/nonexistent/pw\"\n";
    let memory = || Overrides {
        in_memory: true,
        ..Default::default()
    };
    let c = resolve(parse(toml, "c.toml").unwrap(), memory(), Env::default()).unwrap();
    assert_eq!(c.state, StateMode::InMemory);
    let o = Overrides {
        store: Some("postgres://u@db/x".into()),
        ..memory()
    };
    let err = resolve(Default::default(), o, Env::default()).unwrap_err();
    assert!(err.to_string().contains("--store and --in-memory"), "{err}");
    let o = Overrides {
        store_password_file: Some("/pw".into()),
        ..memory()
    };
    let err = resolve(Default::default(), o, Env::default()).unwrap_err();
    assert!(err.to_string().contains("without a store URL"), "{err}");
}

#[test]
fn a_postgres_store_url_with_bad_tls_parameters_is_listed_with_the_other_problems() {
    let toml = "[store]\nurl = \"postgres://u@db/x?sslmode=verify\"\npassword_file = \"/nonexistent/pw\"\n";
    let err = resolve(
        parse(toml, "c.toml").unwrap(),
        Overrides::default(),
        Env::default(),
    )
    .unwrap_err();
    let text = err.to_string();
    assert_eq!(err.0.len(), 2, "{text}");
    assert!(text.contains("sslmode=verify is not one of"), "{text}");
    let o = Overrides {
        store: Some("postgres://u@db/x?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem".into()),
        ..Default::default()
    };
    let err = resolve(Default::default(), o, Env::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("sslrootcert=/nonexistent/ca.pem: cannot read it"),
        "{err}"
    );
}

#[test]
fn the_readme_example_config_uses_only_known_settings() {
    let readme = include_str!("../../docs/configuration.md");
    let from = readme
        .find("## Example with every key")
        .expect("the section");
    let example = readme[from..]
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("a toml block");
    let raw = parse(example, "docs/configuration.md").unwrap();
    assert!(raw.http.bearer_token_file.is_some() && raw.firehose.enabled == Some(true));
}

/// Every setting the serde types accept is in the reference: a key of the example with
/// every key, or named as `table.key` in the text.
#[test]
fn the_reference_names_every_setting() {
    fn flatten(v: &toml::Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    out.insert(format!("{prefix}{k}"));
                    flatten(v, &format!("{prefix}{k}."), out);
                }
            }
            toml::Value::Array(a) => a.iter().for_each(|v| flatten(v, prefix, out)),
            _ => {}
        }
    }
    let doc = include_str!("../../docs/configuration.md");
    let from = doc.find("## Example with every key").expect("the section");
    let example = doc[from..]
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("a toml block");
    let mut named = std::collections::BTreeSet::new();
    flatten(&toml::from_str(example).unwrap(), "", &mut named);
    let keys = keys::all_keys();
    assert!(keys.contains("limits.max_users") && keys.contains("budgets.monthly_usd"));
    let missing: Vec<_> = keys
        .iter()
        .filter(|k| !named.contains(*k) && !doc.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "settings docs/configuration.md does not name: {missing:?}"
    );
    // Each setting that is not a table has a row of its own in the Settings table.
    let rows: Vec<_> = keys
        .iter()
        .filter(|k| !keys.iter().any(|o| o.starts_with(&format!("{k}."))))
        .filter(|k| !doc.contains(&format!("\n| `{k}` |")))
        .collect();
    assert!(
        rows.is_empty(),
        "settings without a row in the Settings table: {rows:?}"
    );
}

#[test]
fn durations() {
    assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
    assert_eq!(parse_duration("5"), None);
    assert_eq!(parse_duration("h"), None);
}

/// Every duration setting refuses zero and text that is not a duration, named by its full key
/// in one shared message, whichever section it is in.
#[test]
fn every_duration_setting_refuses_zero_and_nonsense_by_its_full_name() {
    let text = r#"
state_dir = "/s"
ratecard_reload_interval = "0s"
tls_reload_interval = "soon"
[files]
poll_interval = "0ms"
[http]
auth_reload_interval = "0s"
header_read_timeout = "later"
[s3]
uris = ["s3://bucket/"]
poll_interval = "0s"
reconcile_interval = "x"
[reconcile]
cur = ["/cur"]
interval = "0s"
"#;
    let all = resolve(
        parse(text, "c.toml").unwrap(),
        Overrides::default(),
        Env::default(),
    )
    .unwrap_err()
    .0
    .join("\n");
    for (key, value) in [
        ("ratecard_reload_interval", "0s"),
        ("tls_reload_interval", "soon"),
        ("files.poll_interval", "0ms"),
        ("http.auth_reload_interval", "0s"),
        ("http.header_read_timeout", "later"),
        ("s3.poll_interval", "0s"),
        ("s3.reconcile_interval", "x"),
        ("reconcile.interval", "0s"),
    ] {
        let want = format!("{key} {value:?} is not a duration like 500ms, 30s, 5m, 6h or 7d");
        assert!(all.contains(&want), "missing {want:?} in:\n{all}");
    }
}
