//! The sections of the config that resolve on their own (`[s3]`, `[reconcile]`, `[http]`,
//! `[[budgets]]`, `[firehose]`, `[attribution]`): each merges its flags over its raw section
//! and validates it, adding every problem to the caller's list.

use super::*;

/// What to set to give the Firehose endpoint its access keys (error messages).
const FIREHOSE_KEY_HOW: &str = "set firehose.access_key_file, --firehose-access-key-file or BEDROCK_COST_FIREHOSE_ACCESS_KEY_FILE to a file with one key per line";

/// Label names a configured label may not take: the exporter's own, and Prometheus's.
const RESERVED_LABELS: [&str; 14] = [
    "user",
    "feature",
    "model",
    "token_type",
    "outcome",
    "region",
    "scope",
    "source",
    "result",
    "reason",
    "metric",
    "le",
    "job",
    "instance",
];
const ARN_LABELS: [&str; 1] = ["role"];

fn valid_label_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
        && !n.starts_with("__")
}

/// The S3 settings given as flags (they win over `[s3]`).
pub(super) struct S3Flags {
    pub(super) uris: Vec<String>,
    pub(super) queue: Option<String>,
    pub(super) lookback: Option<String>,
    pub(super) concurrency: Option<usize>,
    pub(super) start: Option<String>,
    pub(super) once: bool,
}

pub(super) fn resolve_s3(
    raw: RawS3,
    o: S3Flags,
    now_ms: i64,
    errors: &mut Vec<String>,
) -> Option<S3Config> {
    use crate::cur::location::Location;
    let mut uris = raw.uris;
    uris.extend(o.uris);
    let queue = o.queue.or(raw.sqs_queue_url);
    if uris.is_empty() {
        if queue.is_some() {
            errors.push("an S3 event queue (s3.sqs_queue_url, --s3-sqs-queue) needs the prefixes it notifies about (s3.uris, --s3-uri)".into());
        }
        return None;
    }
    let mut prefixes = Vec::new();
    for u in &uris {
        match u.parse::<Location>() {
            Ok(Location::S3(p)) if p.prefix.contains("AWSLogs/") => errors.push(format!(
                "S3 URI {u:?} reaches into AWSLogs/: give the prefix Bedrock writes under (the part before AWSLogs/); every account and region below it is read"
            )),
            Ok(Location::S3(p)) if prefixes.contains(&p) => {
                errors.push(format!("S3 URI {u:?} is given twice"))
            }
            Ok(Location::S3(p))
                if prefixes.iter().any(|q: &crate::cur::location::S3Prefix| {
                    q.bucket == p.bucket
                        && (q.prefix.starts_with(&p.prefix) || p.prefix.starts_with(&q.prefix))
                }) =>
            {
                errors.push(format!(
                    "S3 URI {u:?} overlaps another one in the same bucket: give each prefix once"
                ))
            }
            Ok(Location::S3(p)) => prefixes.push(p),
            Ok(Location::Local(_)) => errors.push(format!(
                "S3 URI {u:?} is not s3://BUCKET/PREFIX/"
            )),
            Err(e) => errors.push(format!("S3 URI {e}")),
        }
    }
    let lookback = positive_duration(
        errors,
        "s3.lookback",
        o.lookback.or(raw.lookback),
        DEFAULT_S3_LOOKBACK,
    );
    let poll_interval = positive_duration(
        errors,
        "s3.poll_interval",
        raw.poll_interval,
        DEFAULT_S3_POLL,
    );
    let reconcile_interval = positive_duration(
        errors,
        "s3.reconcile_interval",
        raw.reconcile_interval,
        DEFAULT_S3_RECONCILE,
    );
    // SQS long polling waits at most 20 s.
    let sqs_wait = match raw.sqs_wait {
        Some(text) => parse_duration(&text)
            .filter(|d| !d.is_zero() && *d <= Duration::from_secs(20))
            .unwrap_or_else(|| {
                errors.push(format!(
                    "s3.sqs_wait {text:?} is not a duration from 1s to 20s"
                ));
                Duration::from_secs(20)
            }),
        None => Duration::from_secs(20),
    };
    let concurrency = o
        .concurrency
        .or(raw.concurrency)
        .unwrap_or(DEFAULT_S3_CONCURRENCY);
    if !(1..=256).contains(&concurrency) {
        errors.push(format!(
            "s3.concurrency {concurrency} must be between 1 and 256"
        ));
    }
    let start_text = o.start.or(raw.start).unwrap_or_else(|| "now".into());
    let start_ms = crate::timefmt::parse_start(&start_text, now_ms).unwrap_or_else(|| {
        errors.push(format!(
            "start {start_text:?} is not now, a relative time like -1h, or an RFC 3339 time"
        ));
        now_ms
    });
    if queue
        .as_deref()
        .is_some_and(|q| !q.starts_with("https://") && !q.starts_with("http://"))
    {
        errors.push(
            "s3.sqs_queue_url must be a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"
                .into(),
        );
    }
    if o.once {
        errors.push("--once reads files to their end; S3 prefixes are followed continuously (use --start for a backfill)".into());
    }
    Some(S3Config {
        prefixes,
        lookback,
        poll_interval,
        reconcile_interval,
        concurrency,
        start_ms,
        sqs_queue_url: queue,
        sqs_wait,
    })
}

pub(super) fn resolve_reconcile(
    raw: RawReconcile,
    state: &StateMode,
    errors: &mut Vec<String>,
) -> Option<ReconcileConfig> {
    if raw.cur.is_empty() {
        if raw.interval.is_some() || raw.mapping.is_some() || raw.tolerance.is_some() {
            errors.push(
                "reconcile: settings without reconcile.cur (the CUR files, directories or s3:// prefixes to read)"
                    .into(),
            );
        }
        return None;
    }
    match state {
        StateMode::InMemory => errors.push("reconcile needs a store (a state directory, or a PostgreSQL store): the daily totals it compares with the bill live in the store".into()),
        StateMode::Postgres(_) | StateMode::Dir(_) => {}
    }
    let interval = positive_duration(
        errors,
        "reconcile.interval",
        raw.interval,
        DEFAULT_RECONCILE_INTERVAL,
    );
    let text = raw
        .tolerance
        .unwrap_or_else(|| DEFAULT_RECONCILE_TOLERANCE.into());
    let tolerance = crate::money::parse_decimal(&text, 6).unwrap_or_else(|e| {
        errors.push(format!(
            "reconcile.tolerance {text:?}: {e} (a ratio such as \"0.01\" for 1%)"
        ));
        rust_decimal::Decimal::ZERO
    });
    let cur = raw
        .cur
        .iter()
        .filter_map(|c| {
            c.parse()
                .map_err(|e| errors.push(format!("reconcile.cur: {e}")))
                .ok()
        })
        .collect();
    Some(ReconcileConfig {
        cur,
        interval,
        mapping: raw.mapping,
        tolerance,
        skip_recent_days: raw
            .skip_recent_days
            .unwrap_or(DEFAULT_RECONCILE_SKIP_RECENT_DAYS),
    })
}

pub(super) fn resolve_http(
    raw: RawHttp,
    bearer: Option<PathBuf>,
    basic: Option<PathBuf>,
    errors: &mut Vec<String>,
) -> HttpConfig {
    let files = AuthFiles {
        bearer_token_file: bearer.or(raw.bearer_token_file),
        basic_auth_file: basic.or(raw.basic_auth_file),
        reload_interval: positive_duration(
            errors,
            "http.auth_reload_interval",
            raw.auth_reload_interval,
            DEFAULT_AUTH_RELOAD_INTERVAL,
        ),
    };
    let auth = if files.bearer_token_file.is_none() && files.basic_auth_file.is_none() {
        None
    } else {
        Credentials::load(&files)
            .map_err(|e| errors.extend(e))
            .ok()
            .map(|c| (files, c))
    };
    let max_header_bytes = raw.max_header_bytes.unwrap_or(DEFAULT_MAX_HEADER_BYTES);
    if !(MIN_HEADER_BYTES..=16 << 20).contains(&max_header_bytes) {
        errors.push(format!(
            "http.max_header_bytes must be between {MIN_HEADER_BYTES} and 16777216 (16 MiB)"
        ));
    }
    let max_headers = raw.max_headers.unwrap_or(DEFAULT_MAX_HEADERS);
    if !(1..=10_000).contains(&max_headers) {
        errors.push("http.max_headers must be between 1 and 10000".into());
    }
    let header_read_timeout = positive_duration(
        errors,
        "http.header_read_timeout",
        raw.header_read_timeout,
        DEFAULT_HEADER_READ_TIMEOUT,
    );
    HttpConfig {
        auth,
        limits: Limits {
            max_header_bytes,
            max_headers,
            header_read_timeout,
        },
    }
}

pub(super) fn resolve_budgets(
    raw: Vec<RawBudget>,
    attribution: &Attribution,
    errors: &mut Vec<String>,
) -> Budgets {
    let mut list = Vec::new();
    let mut names = BTreeSet::new();
    for (i, b) in raw.into_iter().enumerate() {
        let loc = format!("budgets[{i}]");
        let Some(name) = b.name.filter(|n| !n.is_empty()) else {
            errors.push(format!("{loc}: `name` is missing"));
            continue;
        };
        if !names.insert(name.clone()) {
            errors.push(format!("{loc}: budget name {name:?} is used twice"));
        }
        let label = b.label.unwrap_or_else(|| "user".into());
        if !(label == "user" || label == "feature" || attribution.extra_names().any(|n| n == label))
        {
            errors.push(format!("{loc} ({name}): label {label:?} is not user, feature or a configured attribution label"));
        }
        let mut limits = Vec::new();
        for (period, amount) in [(Period::Month, b.monthly_usd), (Period::Day, b.daily_usd)] {
            let Some(amount) = amount else { continue };
            match crate::money::parse_decimal(&amount, 4) {
                Ok(v) if !v.is_zero() => limits.push((period, v)),
                Ok(_) => errors.push(format!(
                    "{loc} ({name}): a {} budget of 0 would always be exceeded",
                    period.as_str()
                )),
                Err(e) => errors.push(format!("{loc} ({name}): {e}")),
            }
        }
        if limits.is_empty() {
            errors.push(format!("{loc} ({name}): give monthly_usd, daily_usd or both (decimal strings, e.g. \"500\")"));
        }
        let subject = b.value.filter(|v| v != "*");
        list.push(Budget {
            name,
            label,
            subject,
            limits,
        });
    }
    Budgets { list }
}

pub(super) fn resolve_firehose(
    raw: RawFirehose,
    key_file: Option<PathBuf>,
    keys_env: Option<Secret<String>>,
    state: &StateMode,
    errors: &mut Vec<String>,
) -> Option<FirehoseConfig> {
    if raw.enabled == Some(false) {
        return None;
    }
    let key_name = named(
        key_file.is_some(),
        "--firehose-access-key-file",
        "BEDROCK_COST_FIREHOSE_ACCESS_KEY_FILE",
        "firehose.access_key_file",
    );
    let key_file = key_file.or(raw.access_key_file);
    let keys = match (&key_file, keys_env) {
        (Some(f), _) => match std::fs::read_to_string(f) {
            // One key per line, so a rotation can accept the old and the new key at once.
            Ok(text) => {
                let keys: Vec<&str> = crate::secret::lines(&text).collect();
                if keys.is_empty() {
                    errors.push(format!(
                        "{key_name} {}: holds no key; write one key per line (blank lines and # comments are ignored)",
                        f.display()
                    ));
                }
                KeySet::new(keys)
            }
            Err(e) => {
                errors.push(format!("{key_name} {}: cannot read: {e}", f.display()));
                return None;
            }
        },
        (None, Some(v)) => {
            let keys: Vec<&str> = v
                .expose()
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .collect();
            if keys.is_empty() {
                errors.push(format!("{FIREHOSE_KEYS_ENV} is set but holds no key: give the keys, comma-separated, or unset it and {FIREHOSE_KEY_HOW}"));
            }
            KeySet::new(keys)
        }
        (None, None) if raw.enabled == Some(true) => {
            errors.push(format!(
                "firehose.enabled is true but no access key is configured: {FIREHOSE_KEY_HOW}, or set {FIREHOSE_KEYS_ENV} to the keys, comma-separated"
            ));
            return None;
        }
        (None, None) => return None,
    };
    let path = raw.path.unwrap_or_else(|| DEFAULT_FIREHOSE_PATH.into());
    if !path.starts_with('/') || ["/metrics", "/healthz", "/readyz", "/"].contains(&path.as_str()) {
        errors.push(format!(
            "firehose.path {path:?} must start with / and not be one of the daemon's own paths"
        ));
    }
    let ack_text = raw
        .ack_timeout
        .unwrap_or_else(|| DEFAULT_FIREHOSE_ACK_TIMEOUT.into());
    let ack_timeout = parse_duration(&ack_text).filter(|d| !d.is_zero() && *d < Duration::from_secs(180)).unwrap_or_else(|| {
        errors.push(format!("firehose.ack_timeout {ack_text:?} must be a duration under 3m (Firehose stops waiting at 3 minutes)"));
        Duration::from_secs(60)
    });
    let max_body = raw.max_body_bytes.unwrap_or(DEFAULT_FIREHOSE_MAX_BODY);
    let max_in_flight_requests = raw
        .max_in_flight_requests
        .unwrap_or(DEFAULT_FIREHOSE_MAX_IN_FLIGHT_REQUESTS);
    if max_in_flight_requests == 0 {
        errors.push("firehose.max_in_flight_requests must be at least 1".into());
    }
    let max_in_flight_bytes = raw
        .max_in_flight_bytes
        .unwrap_or(DEFAULT_FIREHOSE_MAX_IN_FLIGHT_BYTES);
    if max_in_flight_bytes < max_body {
        errors.push(format!("firehose.max_in_flight_bytes ({max_in_flight_bytes}) must be at least firehose.max_body_bytes ({max_body}), so that a request of the largest size fits"));
    }
    let dead_letter = raw.dead_letter_file.or_else(|| match state {
        StateMode::Dir(d) => Some(d.join("firehose-dead-letter.jsonl")),
        StateMode::InMemory | StateMode::Postgres(_) => None,
    });
    Some(FirehoseConfig {
        path,
        keys,
        max_body,
        max_record: raw.max_record_bytes.unwrap_or(DEFAULT_FIREHOSE_MAX_RECORD),
        dead_letter,
        dead_letter_max: raw.dead_letter_max_bytes.unwrap_or(DEFAULT_DEAD_LETTER_MAX),
        ack_timeout,
        max_in_flight_requests,
        max_in_flight_bytes,
    })
}

pub(super) fn resolve_attribution(
    raw: RawAttribution,
    hash_key_env: Option<Secret<String>>,
    errors: &mut Vec<String>,
) -> Attribution {
    let mut a = Attribution::default();
    if let Some(keys) = raw.user_keys {
        a.user_keys = keys;
    }
    if let Some(k) = raw.feature_key {
        a.feature_key = k;
    }
    let mut seen = BTreeSet::new();
    // `key` is where the label is configured, so the message points at it.
    let mut check = |key: &str, name: &str, errors: &mut Vec<String>| {
        if !valid_label_name(name) {
            errors.push(format!("{key}: {name:?} is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"));
        } else if RESERVED_LABELS.contains(&name) {
            errors.push(format!(
                "{key}: label {name:?} is reserved by the exporter; pick another name"
            ));
        } else if !seen.insert(name.to_string()) {
            errors.push(format!("{key}: label {name:?} is configured twice"));
        }
    };
    for k in raw.metadata_labels {
        check("attribution.metadata_labels", &k, errors);
        a.extra.push((k.clone(), Source::Metadata(k)));
    }
    for k in raw.arn_labels {
        if !ARN_LABELS.contains(&k.as_str()) {
            errors.push(format!(
                "attribution.arn_labels: {k:?} is not an ARN part (available: {})",
                ARN_LABELS.join(", ")
            ));
            continue;
        }
        check("attribution.arn_labels", &k, errors);
        a.extra.push((k, Source::ArnRole));
    }
    for (i, r) in raw.rules.into_iter().enumerate() {
        let loc = format!("attribution.rules[{i}]");
        let matcher = match (r.principal_glob, r.principal_regex) {
            (Some(g), None) => glob::Pattern::new(&g)
                .map(Matcher::Glob)
                .map_err(|e| format!("{loc}: principal_glob {g:?}: {e}")),
            (None, Some(re)) => regex::Regex::new(&re)
                .map(Matcher::Regex)
                .map_err(|e| format!("{loc}: principal_regex {re:?}: {e}")),
            _ => Err(format!(
                "{loc}: give exactly one of principal_glob or principal_regex"
            )),
        };
        if r.labels.is_empty() {
            errors.push(format!(
                "{loc}: `labels` is empty; the rule would do nothing"
            ));
        }
        for name in r.labels.keys() {
            if !a.extra.iter().any(|(n, _)| n == name) {
                check(&format!("{loc}.labels"), name, errors);
                a.extra.push((name.clone(), Source::Rules));
            }
        }
        match matcher {
            Ok(matcher) => a.rules.push(Rule {
                matcher,
                set: r.labels.into_iter().collect(),
            }),
            Err(e) => errors.push(e),
        }
    }
    if raw.hash_users {
        let key = match (&raw.hash_key_file, hash_key_env) {
            (Some(f), _) => std::fs::read(f).map_err(|e| format!("attribution.hash_key_file {}: cannot read: {e}", f.display())),
            (None, Some(k)) => Ok(k.expose().as_bytes().to_vec()),
            (None, None) => Err(format!("attribution.hash_users needs a key: set attribution.hash_key_file or {HASH_KEY_ENV}")),
        };
        match key {
            Ok(k) if k.trim_ascii().len() >= 16 => {
                a.user_hash_key = Some(Secret::new(k.trim_ascii().to_vec()))
            }
            Ok(_) => errors.push(
                "the user-hashing key must be at least 16 bytes (e.g. `openssl rand -hex 32`)"
                    .into(),
            ),
            Err(e) => errors.push(e),
        }
    }
    if a.extra.len() > crate::ledger::MAX_EXTRA_LABELS {
        let names: Vec<&str> = a.extra_names().collect();
        errors.push(format!(
            "attribution: {} extra labels are configured ({}); at most {} are supported, since every one multiplies the cross-product series",
            names.len(),
            names.join(", "),
            crate::ledger::MAX_EXTRA_LABELS
        ));
    }
    a
}
