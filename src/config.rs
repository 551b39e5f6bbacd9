//! Configuration: one TOML file, every setting also a flag or environment variable.
//! `parse` reads the file into raw serde types (collecting every unknown key); `resolve`
//! merges the flags over it and validates, reporting every problem at once. The raw types
//! are in `raw`; the sections that resolve on their own are in `sections`.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::attribution::{Attribution, Matcher, Rule, Source};
use crate::budgets::{Budget, Budgets, Period};
use crate::http::auth::{AuthFiles, Credentials};
use crate::http::serve::{Limits, MIN_HEADER_BYTES};
use crate::pricing::Aliases;
use crate::secret::{KeySet, Secret};
pub use crate::timefmt::parse_duration;

mod raw;
mod sections;
pub use raw::*;
use sections::*;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";
pub const DEFAULT_MAX_SERIES: usize = 10_000;
/// Distinct values each attribution dimension (user, feature, each extra label) keeps exact
/// totals for, unless configured.
pub const DEFAULT_MAX_VALUES: usize = 10_000;
/// Firehose retries for up to 2 hours and CloudWatch reads overlap by minutes; 48 hours
/// covers both with room for a long outage and restart.
pub const DEFAULT_DEDUPE_WINDOW: &str = "48h";
pub const DEFAULT_POLL: &str = "1s";
/// Days of daily totals kept before today: a year of bills plus a month's margin, so last
/// year's same month can still be reconciled.
pub const DEFAULT_DAILY_RETENTION_DAYS: u32 = 400;
/// Environment variable that can hold the user-hashing key instead of a file.
pub const HASH_KEY_ENV: &str = "BEDROCK_COST_USER_HASH_KEY";
/// Environment variable that can hold the Firehose access keys (comma-separated) instead of a file.
pub const FIREHOSE_KEYS_ENV: &str = "BEDROCK_COST_FIREHOSE_ACCESS_KEYS";
pub const DEFAULT_FIREHOSE_PATH: &str = "/firehose";
/// Firehose sends at most 64 MiB before compression (its largest buffer size).
pub const DEFAULT_FIREHOSE_MAX_BODY: usize = 64 << 20;
/// One record is at most 1,000 KiB on the wire; a CloudWatch envelope inflates several-fold.
pub const DEFAULT_FIREHOSE_MAX_RECORD: usize = 16 << 20;
pub const DEFAULT_DEAD_LETTER_MAX: u64 = 256 << 20;
/// Firehose waits 3 minutes for an answer; answer 503 well before, so it retries.
pub const DEFAULT_FIREHOSE_ACK_TIMEOUT: &str = "60s";
/// A request head (request line and headers) larger than this is refused with 431. Firehose's
/// headers, common attributes included, and a scraper's fit many times over.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 << 10;
/// hyper's own default, made explicit.
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// hyper's own default (which axum-server turns off): a client that has not sent a whole
/// request head by then is disconnected, so slow senders cannot hold connections open.
pub const DEFAULT_HEADER_READ_TIMEOUT: &str = "30s";
pub const DEFAULT_AUTH_RELOAD_INTERVAL: &str = "30s";
/// Firehose requests held at once (reading, decoding, waiting for their commit); past it, 503.
/// Twice the pipeline's queue (16 batches): enough to keep it busy, short enough that a
/// request waits seconds, not minutes.
pub const DEFAULT_FIREHOSE_MAX_IN_FLIGHT_REQUESTS: usize = 32;
/// Body bytes held at once: two requests of the largest size. A request holds about three
/// times its body while it is decoded, so this bounds the intake to a few hundred MiB.
pub const DEFAULT_FIREHOSE_MAX_IN_FLIGHT_BYTES: usize = 128 << 20;

#[derive(Debug, thiserror::Error)]
#[error("the configuration has {} problem(s):\n  - {}", .0.len(), .0.join("\n  - "))]
pub struct ConfigErrors(pub Vec<String>);

/// Comparing the estimate with the bill's CUR 2.0 files at an interval (`[reconcile]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ReconcileConfig {
    /// CUR files, directories (walked for .csv, .csv.gz, .parquet) or S3 prefixes (synced to
    /// `<state_dir>/cur-cache/` first).
    pub cur: Vec<crate::cur::Location>,
    pub interval: Duration,
    /// `None`: the bundled mapping table.
    pub mapping: Option<PathBuf>,
    /// The relative difference under which a row is a match.
    pub tolerance: rust_decimal::Decimal,
    /// The newest days of the bill left out (a CUR export's last day is still filling in).
    pub skip_recent_days: u32,
}

pub const DEFAULT_RECONCILE_INTERVAL: &str = "6h";
pub const DEFAULT_RECONCILE_TOLERANCE: &str = "0.01";
pub const DEFAULT_RECONCILE_SKIP_RECENT_DAYS: u32 = 1;

/// The HTTP server's own settings: who may read it, and what a request head may be.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// `Some` when a bearer-token or basic-auth file is given.
    pub auth: Option<(AuthFiles, Credentials)>,
    pub limits: Limits,
}

/// Reading CloudWatch Logs log groups with FilterLogEvents.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudWatchConfig {
    pub log_groups: Vec<String>,
    /// `None`: the AWS SDK's region chain.
    pub region: Option<String>,
    pub overlap: Duration,
    pub poll_interval: Duration,
    pub page_limit: Option<i32>,
    /// Window start (ms) of the first poll when a group has no checkpoint.
    pub start_ms: i64,
    /// Also stream new events with StartLiveTail (polling still reconciles).
    pub live_tail: bool,
}

/// Reading invocation-log objects from S3 prefixes (and their event notifications).
#[derive(Debug, Clone, PartialEq)]
pub struct S3Config {
    pub prefixes: Vec<crate::cur::location::S3Prefix>,
    /// How long after an hour ends its partition is still listed (late objects).
    pub lookback: Duration,
    /// Between listings without a queue.
    pub poll_interval: Duration,
    /// Between listings with a queue (they reconcile behind the notifications).
    pub reconcile_interval: Duration,
    /// Parallel S3 requests per prefix.
    pub concurrency: usize,
    /// Where a prefix without a checkpoint starts (ms).
    pub start_ms: i64,
    pub sqs_queue_url: Option<String>,
    pub sqs_wait: Duration,
}

/// Bedrock delivers a batch of records to S3 minutes after the calls, and the batch's hour is
/// when it was written: three hours of lookback catches stragglers with a wide margin, at
/// the cost of listing three or four prefixes per account and region on each poll.
pub const DEFAULT_S3_LOOKBACK: &str = "3h";
pub const DEFAULT_S3_POLL: &str = "60s";
pub const DEFAULT_S3_RECONCILE: &str = "10m";
/// Parallel requests per prefix: enough to keep a backfill busy on a small machine.
pub const DEFAULT_S3_CONCURRENCY: usize = 16;

/// Bedrock events reach CloudWatch 8-13 s after their timestamp, and a streaming call is
/// logged at its start: ten minutes covers both with a wide margin.
pub const DEFAULT_CLOUDWATCH_OVERLAP: &str = "10m";
pub const DEFAULT_CLOUDWATCH_POLL: &str = "10s";

impl Config {
    /// The ledger's caps: the cross-product series cap and each dimension's cap of values.
    pub fn ledger_limits(&self) -> crate::ledger::Limits {
        let caps = [self.max_users, self.max_features]
            .into_iter()
            .chain(std::iter::repeat(self.max_values_per_label));
        crate::ledger::Limits {
            series: self.max_series,
            dims: crate::account::dimensions(&self.attribution)
                .into_iter()
                .zip(caps)
                .collect(),
        }
    }
}

/// Settings given as flags or environment variables; they win over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub state_dir: Option<PathBuf>,
    pub in_memory: bool,
    /// `--store postgres://...`.
    pub store: Option<String>,
    pub store_password_file: Option<PathBuf>,
    pub ratecards: Vec<PathBuf>,
    pub files: Vec<String>,
    pub stdin: bool,
    pub once: bool,
    pub max_series: Option<usize>,
    pub max_users: Option<usize>,
    pub max_features: Option<usize>,
    pub max_values_per_label: Option<usize>,
    pub dedupe_window: Option<String>,
    pub poll_interval: Option<String>,
    pub firehose_access_key_file: Option<PathBuf>,
    pub export_jsonl: Option<PathBuf>,
    pub export_firehose_stream: Option<String>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub cloudwatch_log_groups: Vec<String>,
    pub start: Option<String>,
    pub cloudwatch_live_tail: bool,
    pub s3_uris: Vec<String>,
    pub s3_sqs_queue: Option<String>,
    pub s3_lookback: Option<String>,
    pub s3_concurrency: Option<usize>,
    pub http_bearer_token_file: Option<PathBuf>,
    pub http_basic_auth_file: Option<PathBuf>,
}

/// Serve HTTPS with these PEM files, re-read when they change (e.g. a renewed certificate).
#[derive(Debug, Clone, PartialEq)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub reload_interval: Duration,
}

pub const DEFAULT_TLS_RELOAD_INTERVAL: &str = "30s";

#[derive(Debug, Clone, PartialEq)]
pub struct JsonlExport {
    pub path: PathBuf,
    pub max_bytes: u64,
    pub keep: usize,
}

#[derive(Debug, Clone)]
pub struct FirehoseConfig {
    pub path: String,
    pub keys: KeySet,
    pub max_body: usize,
    pub max_record: usize,
    pub dead_letter: Option<PathBuf>,
    pub dead_letter_max: u64,
    pub ack_timeout: Duration,
    pub max_in_flight_requests: usize,
    pub max_in_flight_bytes: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StateMode {
    Dir(PathBuf),
    InMemory,
    /// A PostgreSQL database (`--store postgres://...`).
    Postgres(PgTarget),
}

/// Where the PostgreSQL store is: its URL (without a password) and the password, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct PgTarget {
    pub url: String,
    pub password: Option<Secret<String>>,
}

/// The PostgreSQL password from the environment, like libpq's `PGPASSWORD`.
pub const STORE_PASSWORD_ENV: &str = "BEDROCK_COST_STORE_PASSWORD";

/// The state directory from the environment. The container image sets it, and Kubernetes can
/// override an image's variable but not remove it: so an empty value counts as unset, which
/// is how a deployment on a store URL (which refuses a state directory) switches it off.
pub const STATE_DIR_ENV: &str = "BEDROCK_COST_STATE_DIR";

/// The variables among `vars` (name, value) to remove before the command line is parsed,
/// because their empty value means unset: [`STATE_DIR_ENV`] only. Clap would take an empty
/// variable for an empty `--state-dir` and refuse it, and count it in conflicts.
pub fn empty_means_unset(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Vec<OsString> {
    vars.into_iter()
        .filter(|(name, value)| name == STATE_DIR_ENV && value.is_empty())
        .map(|(name, _)| name)
        .collect()
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub state: StateMode,
    /// `None`: the bundled rate card.
    pub ratecards: Option<Vec<PathBuf>>,
    pub files: Vec<String>,
    pub stdin: bool,
    pub once: bool,
    pub poll_interval: Duration,
    pub attribution: Attribution,
    pub aliases: Aliases,
    pub max_series: usize,
    /// Distinct values with exact totals: users, features, and each extra label's values.
    pub max_users: usize,
    pub max_features: usize,
    pub max_values_per_label: usize,
    pub dedupe_window: Duration,
    /// Days of daily totals kept before today (UTC).
    pub daily_retention_days: u32,
    /// `Some` when the Firehose endpoint is enabled (an access key source is given).
    pub firehose: Option<FirehoseConfig>,
    pub tls: Option<Tls>,
    pub http: HttpConfig,
    pub cloudwatch: Option<CloudWatchConfig>,
    pub s3: Option<S3Config>,
    /// How often the rate-card files are checked for changes (they are also re-read on SIGHUP).
    pub ratecard_reload_interval: Duration,
    pub budgets: Budgets,
    pub export_jsonl: Option<JsonlExport>,
    /// Delivery stream that receives every priced call (`PutRecordBatch`).
    pub export_firehose: Option<String>,
    pub reconcile: Option<ReconcileConfig>,
}

/// Rows kept per export file before it rotates: 100 MiB.
pub const DEFAULT_EXPORT_MAX_BYTES: u64 = 100 << 20;
pub const DEFAULT_EXPORT_KEEP: usize = 5;

/// Secrets read from the environment by the caller (never from flags).
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub hash_key: Option<Secret<String>>,
    pub firehose_keys: Option<Secret<String>>,
    pub store_password: Option<Secret<String>>,
    /// Wall time, for relative start positions (`--start -1h`).
    pub now_ms: i64,
}

impl Env {
    pub fn read() -> Env {
        Env {
            hash_key: std::env::var(HASH_KEY_ENV).ok().map(Secret::new),
            firehose_keys: std::env::var(FIREHOSE_KEYS_ENV).ok().map(Secret::new),
            store_password: std::env::var(STORE_PASSWORD_ENV).ok().map(Secret::new),
            now_ms: crate::clock::Clock::system().now_ms(),
        }
    }
}

/// The PostgreSQL password: the first line of the file, else the environment variable.
pub fn store_password(
    file: Option<PathBuf>,
    env: Option<Secret<String>>,
    errors: &mut Vec<String>,
) -> Option<Secret<String>> {
    let Some(f) = file else { return env };
    match std::fs::read_to_string(&f) {
        Ok(text) => match crate::secret::lines(&text).next() {
            Some(p) => Some(Secret::new(p.to_string())),
            None => {
                errors.push(format!(
                    "store password file {}: holds no password",
                    f.display()
                ));
                None
            }
        },
        Err(e) => {
            errors.push(format!(
                "store password file {}: cannot read: {e}",
                f.display()
            ));
            None
        }
    }
}

/// A setting's name as the user wrote it: the flag and its environment variable (one of the
/// two: clap does not say which) when the value came from there, else the config key.
fn named(from_flag: bool, flag: &str, env: &str, key: &str) -> String {
    if from_flag {
        format!("{flag} (or {env})")
    } else {
        key.to_string()
    }
}

/// A duration setting that must be positive (`what`: its name as the user wrote it), or its
/// default, with the problem added to `errors`.
fn positive_duration(
    errors: &mut Vec<String>,
    what: &str,
    value: Option<String>,
    default: &str,
) -> Duration {
    let text = value.unwrap_or_else(|| default.into());
    parse_duration(&text)
        .filter(|d| !d.is_zero())
        .unwrap_or_else(|| {
            errors.push(format!(
                "{what} {text:?} is not a duration like 500ms, 30s, 5m, 6h or 7d"
            ));
            parse_duration(default).expect("valid default")
        })
}

/// The environment variable of a flag, where it follows the usual rule (`--max-users` ->
/// `BEDROCK_COST_MAX_USERS`).
fn env_of(flag: &str) -> String {
    let name = flag
        .trim_start_matches('-')
        .replace('-', "_")
        .to_uppercase();
    format!("BEDROCK_COST_{name}")
}

/// Merges flags over the file and validates everything, reporting every problem at once.
/// `hash_key_env` is the value of [`HASH_KEY_ENV`], read by the caller.
pub fn resolve(raw: RawConfig, o: Overrides, env: Env) -> Result<Config, ConfigErrors> {
    let mut errors = Vec::new();
    let listen_name = named(
        o.listen.is_some(),
        "--listen",
        "BEDROCK_COST_LISTEN",
        "listen",
    );
    let listen_text = o
        .listen
        .or(raw.listen)
        .unwrap_or_else(|| DEFAULT_LISTEN.into());
    let listen = listen_text.parse().unwrap_or_else(|_| {
        errors.push(format!(
            "{listen_name}: address {listen_text:?} is not HOST:PORT (e.g. 127.0.0.1:9464, 0.0.0.0:9464)"
        ));
        DEFAULT_LISTEN.parse().expect("valid default")
    });
    let store_url =
        (o.store.clone())
            .map(|u| (true, u))
            .or(raw.store.url.clone().map(|u| (false, u)));
    let password_file = o
        .store_password_file
        .clone()
        .or(raw.store.password_file.clone());
    let state_dir = o.state_dir.or(raw.state_dir);
    if store_url.is_none() && password_file.is_some() {
        errors.push(
            "a store password file (--store-password-file or store.password_file) without a store URL (--store or store.url)".into(),
        );
    }
    // --in-memory wins over a store in the file, as over a state_dir there (commands that
    // need no state, like `check`, run with it), not over a --store flag.
    let state = match (o.in_memory, state_dir, store_url) {
        (true, _, Some((true, _))) => {
            errors.push("--store and --in-memory: give one of them".into());
            StateMode::InMemory
        }
        (true, _, _) => StateMode::InMemory,
        (false, dir, Some((from_flag, url))) => {
            let name = named(from_flag, "--store", "BEDROCK_COST_STORE", "store.url");
            if dir.is_some() {
                errors.push(format!(
                    "{name} and a state directory (--state-dir or state_dir) are both given: the totals live in one store, PostgreSQL or SQLite; give one of them"
                ));
            }
            if let Err(e) = crate::store::check_url(&url) {
                errors.push(format!("{name}: {e}"));
            }
            let password = store_password(password_file, env.store_password.clone(), &mut errors);
            StateMode::Postgres(PgTarget { url, password })
        }
        (false, Some(d), None) => StateMode::Dir(d),
        (false, None, None) => {
            errors.push(
                "no state directory: give --state-dir DIR (or state_dir in the config) so totals survive restarts, \
                 or --in-memory to keep them in memory only"
                    .into(),
            );
            StateMode::InMemory
        }
    };
    let ratecards = if o.ratecards.is_empty() {
        raw.ratecards
    } else {
        Some(o.ratecards)
    };
    for (from_flag, p) in
        (raw.files.paths.iter().map(|p| (false, p))).chain(o.files.iter().map(|p| (true, p)))
    {
        if let Err(e) = glob::Pattern::new(p) {
            let name = named(from_flag, "--file", "BEDROCK_COST_FILES", "files.paths");
            errors.push(format!("{name}: {p:?} is not a valid glob: {e}"));
        }
    }
    let mut files = raw.files.paths;
    files.extend(o.files);
    let poll_interval = positive_duration(
        &mut errors,
        &named(
            o.poll_interval.is_some(),
            "--poll-interval",
            "BEDROCK_COST_POLL_INTERVAL",
            "files.poll_interval",
        ),
        o.poll_interval.or(raw.files.poll_interval),
        DEFAULT_POLL,
    );
    let dedupe_window = positive_duration(
        &mut errors,
        &named(
            o.dedupe_window.is_some(),
            "--dedupe-window",
            "BEDROCK_COST_DEDUPE_WINDOW",
            "dedupe.window",
        ),
        o.dedupe_window.or(raw.dedupe.window),
        DEFAULT_DEDUPE_WINDOW,
    );
    let daily_retention_days = raw
        .store
        .daily_retention_days
        .unwrap_or(DEFAULT_DAILY_RETENTION_DAYS);
    if daily_retention_days == 0 {
        errors.push("store.daily_retention_days must be at least 1".into());
    }
    let max_series_name = named(
        o.max_series.is_some(),
        "--max-series",
        "BEDROCK_COST_MAX_SERIES",
        "limits.max_series_per_metric",
    );
    let max_series = o
        .max_series
        .or(raw.limits.max_series_per_metric)
        .unwrap_or(DEFAULT_MAX_SERIES);
    if max_series == 0 {
        errors.push(format!("{max_series_name} must be at least 1"));
    }
    let mut cap = |key: &str, flag: Option<usize>, file: Option<usize>| match flag.or(file) {
        Some(0) => {
            let flag_name = format!("--{}", key.replace('_', "-"));
            let name = named(
                flag.is_some(),
                &flag_name,
                &env_of(&flag_name),
                &format!("limits.{key}"),
            );
            errors.push(format!("{name} must be at least 1"));
            0
        }
        v => v.unwrap_or(DEFAULT_MAX_VALUES),
    };
    let max_users = cap("max_users", o.max_users, raw.limits.max_users);
    let max_features = cap("max_features", o.max_features, raw.limits.max_features);
    let max_values_per_label = cap(
        "max_values_per_label",
        o.max_values_per_label,
        raw.limits.max_values_per_label,
    );
    let attribution = resolve_attribution(raw.attribution, env.hash_key, &mut errors);
    let firehose = resolve_firehose(
        raw.firehose,
        o.firehose_access_key_file,
        env.firehose_keys,
        &state,
        &mut errors,
    );
    let aliases = Aliases::new(raw.models.aliases);
    let budgets = resolve_budgets(raw.budgets, &attribution, &mut errors);
    let s3 = resolve_s3(
        raw.s3,
        S3Flags {
            uris: o.s3_uris,
            queue: o.s3_sqs_queue,
            lookback: o.s3_lookback,
            concurrency: o.s3_concurrency,
            start: o.start.clone(),
            once: o.once,
        },
        env.now_ms,
        &mut errors,
    );
    let mut groups = raw.cloudwatch.log_groups;
    groups.extend(o.cloudwatch_log_groups);
    let cloudwatch = if groups.is_empty() {
        None
    } else {
        let overlap = positive_duration(
            &mut errors,
            "cloudwatch.overlap",
            raw.cloudwatch.overlap,
            DEFAULT_CLOUDWATCH_OVERLAP,
        );
        let poll_interval = positive_duration(
            &mut errors,
            "cloudwatch.poll_interval",
            raw.cloudwatch.poll_interval,
            DEFAULT_CLOUDWATCH_POLL,
        );
        let start_name = named(
            o.start.is_some(),
            "--start",
            "BEDROCK_COST_START",
            "cloudwatch.start",
        );
        let start_text = o
            .start
            .or(raw.cloudwatch.start)
            .unwrap_or_else(|| "now".into());
        let now_ms = env.now_ms;
        let start_ms = crate::timefmt::parse_start(&start_text, now_ms).unwrap_or_else(|| {
            errors.push(format!(
                "{start_name}: {start_text:?} is not now, a relative time like -1h, or an RFC 3339 time"
            ));
            now_ms
        });
        if raw
            .cloudwatch
            .page_limit
            .is_some_and(|l| !(1..=10_000).contains(&l))
        {
            errors.push("cloudwatch.page_limit must be between 1 and 10000".into());
        }
        if o.once {
            errors.push("--once reads files to their end; CloudWatch log groups are followed continuously (use --start for a backfill)".into());
        }
        Some(CloudWatchConfig {
            log_groups: groups,
            region: raw.cloudwatch.region,
            overlap,
            poll_interval,
            page_limit: raw.cloudwatch.page_limit,
            start_ms,
            live_tail: o.cloudwatch_live_tail || raw.cloudwatch.live_tail,
        })
    };
    let ratecard_reload_interval = positive_duration(
        &mut errors,
        "ratecard_reload_interval",
        raw.ratecard_reload_interval,
        "30s",
    );
    let reload_interval = positive_duration(
        &mut errors,
        "tls_reload_interval",
        raw.tls_reload_interval,
        DEFAULT_TLS_RELOAD_INTERVAL,
    );
    let tls = match (
        o.tls_cert_file.or(raw.tls_cert_file),
        o.tls_key_file.or(raw.tls_key_file),
    ) {
        (Some(cert), Some(key)) => Some(Tls {
            cert,
            key,
            reload_interval,
        }),
        (None, None) => None,
        _ => {
            errors.push("TLS needs both a certificate and a key file (tls_cert_file and tls_key_file, or --tls-cert-file and --tls-key-file)".into());
            None
        }
    };
    let http = resolve_http(
        raw.http,
        o.http_bearer_token_file,
        o.http_basic_auth_file,
        &mut errors,
    );
    let jsonl = raw.export.jsonl.unwrap_or_default();
    let export_jsonl = o.export_jsonl.or(jsonl.path).map(|path| JsonlExport {
        path,
        max_bytes: jsonl.max_bytes.unwrap_or(DEFAULT_EXPORT_MAX_BYTES),
        keep: jsonl.keep.unwrap_or(DEFAULT_EXPORT_KEEP),
    });
    if export_jsonl
        .as_ref()
        .is_some_and(|j| j.max_bytes == 0 || j.keep == 0)
    {
        errors.push("export.jsonl: max_bytes and keep must be at least 1".into());
    }
    let stream_name = named(
        o.export_firehose_stream.is_some(),
        "--export-firehose-stream",
        "BEDROCK_COST_EXPORT_FIREHOSE_STREAM",
        "export.firehose.delivery_stream",
    );
    let export_firehose = o
        .export_firehose_stream
        .or(raw.export.firehose.and_then(|f| f.delivery_stream));
    if export_firehose
        .as_deref()
        .is_some_and(|s| s.is_empty() || s.len() > 64)
    {
        errors.push(format!(
            "{stream_name} must be a delivery stream name (1-64 characters)"
        ));
    }
    let reconcile = resolve_reconcile(raw.reconcile, &state, &mut errors);
    if errors.is_empty() {
        Ok(Config {
            listen,
            state,
            ratecards,
            files,
            stdin: o.stdin,
            once: o.once,
            poll_interval,
            attribution,
            aliases,
            max_series,
            max_users,
            max_features,
            max_values_per_label,
            dedupe_window,
            daily_retention_days,
            firehose,
            tls,
            http,
            cloudwatch,
            s3,
            ratecard_reload_interval,
            budgets,
            export_jsonl,
            export_firehose,
            reconcile,
        })
    } else {
        Err(ConfigErrors(errors))
    }
}

#[cfg(test)]
mod keys;
#[cfg(test)]
mod tests;
