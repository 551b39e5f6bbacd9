//! Configuration: one TOML file, every setting also a flag or environment variable.
//! `parse` reads the file into raw serde types (collecting every unknown key); `resolve`
//! merges the flags over it and validates, reporting every problem at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::attribution::{Attribution, Matcher, Rule, Source};
use crate::budgets::{Budget, Budgets, Period};
use crate::http::auth::{AuthFiles, Credentials};
use crate::http::serve::{Limits, MIN_HEADER_BYTES};
use crate::pricing::Aliases;
use crate::secret::{KeySet, Secret};
pub use crate::timefmt::parse_duration;

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

#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    pub listen: Option<String>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub tls_reload_interval: Option<String>,
    pub ratecard_reload_interval: Option<String>,
    pub state_dir: Option<PathBuf>,
    pub ratecards: Option<Vec<PathBuf>>,
    #[serde(default)]
    pub files: RawFiles,
    #[serde(default)]
    pub attribution: RawAttribution,
    #[serde(default)]
    pub models: RawModels,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub dedupe: RawDedupe,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub firehose: RawFirehose,
    #[serde(default)]
    pub export: RawExport,
    #[serde(default)]
    pub budgets: Vec<RawBudget>,
    #[serde(default)]
    pub cloudwatch: RawCloudWatch,
    #[serde(default)]
    pub s3: RawS3,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub reconcile: RawReconcile,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawReconcile {
    #[serde(default)]
    pub cur: Vec<String>,
    pub interval: Option<String>,
    pub mapping: Option<PathBuf>,
    pub tolerance: Option<String>,
    pub skip_recent_days: Option<u32>,
}

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

#[derive(Debug, Default, Deserialize)]
pub struct RawHttp {
    pub bearer_token_file: Option<PathBuf>,
    pub basic_auth_file: Option<PathBuf>,
    pub auth_reload_interval: Option<String>,
    pub max_header_bytes: Option<usize>,
    pub max_headers: Option<usize>,
    pub header_read_timeout: Option<String>,
}

/// The HTTP server's own settings: who may read it, and what a request head may be.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// `Some` when a bearer-token or basic-auth file is given.
    pub auth: Option<(AuthFiles, Credentials)>,
    pub limits: Limits,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawCloudWatch {
    #[serde(default)]
    pub log_groups: Vec<String>,
    pub region: Option<String>,
    pub overlap: Option<String>,
    pub poll_interval: Option<String>,
    pub page_limit: Option<i32>,
    pub start: Option<String>,
    #[serde(default)]
    pub live_tail: bool,
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

#[derive(Debug, Default, Deserialize)]
pub struct RawS3 {
    #[serde(default)]
    pub uris: Vec<String>,
    pub lookback: Option<String>,
    pub poll_interval: Option<String>,
    pub reconcile_interval: Option<String>,
    pub concurrency: Option<usize>,
    pub start: Option<String>,
    pub sqs_queue_url: Option<String>,
    pub sqs_wait: Option<String>,
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

#[derive(Debug, Default, Deserialize)]
pub struct RawBudget {
    pub name: Option<String>,
    pub label: Option<String>,
    pub value: Option<String>,
    pub monthly_usd: Option<String>,
    pub daily_usd: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawExport {
    pub jsonl: Option<RawJsonlExport>,
    pub firehose: Option<RawFirehoseExport>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawJsonlExport {
    pub path: Option<PathBuf>,
    pub max_bytes: Option<u64>,
    pub keep: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawFirehoseExport {
    pub delivery_stream: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawFirehose {
    pub enabled: Option<bool>,
    pub path: Option<String>,
    pub access_key_file: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
    pub max_record_bytes: Option<usize>,
    pub dead_letter_file: Option<PathBuf>,
    pub dead_letter_max_bytes: Option<u64>,
    pub ack_timeout: Option<String>,
    pub max_in_flight_requests: Option<usize>,
    pub max_in_flight_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawFiles {
    #[serde(default)]
    pub paths: Vec<String>,
    pub poll_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawAttribution {
    pub user_keys: Option<Vec<String>>,
    pub feature_key: Option<String>,
    #[serde(default)]
    pub metadata_labels: Vec<String>,
    #[serde(default)]
    pub arn_labels: Vec<String>,
    #[serde(default)]
    pub hash_users: bool,
    pub hash_key_file: Option<PathBuf>,
    #[serde(default)]
    pub rules: Vec<RawRule>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawRule {
    pub principal_glob: Option<String>,
    pub principal_regex: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawModels {
    #[serde(default)]
    pub aliases: HashMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawLimits {
    pub max_series_per_metric: Option<usize>,
    pub max_users: Option<usize>,
    pub max_features: Option<usize>,
    pub max_values_per_label: Option<usize>,
}

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

#[derive(Debug, Default, Deserialize)]
pub struct RawDedupe {
    pub window: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawStore {
    pub daily_retention_days: Option<u32>,
    /// `postgres://user@host:port/db`: the shared PostgreSQL store instead of SQLite.
    pub url: Option<String>,
    pub password_file: Option<PathBuf>,
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

/// What to set to give the Firehose endpoint its access keys (error messages).
const FIREHOSE_KEY_HOW: &str = "set firehose.access_key_file, --firehose-access-key-file or BEDROCK_COST_FIREHOSE_ACCESS_KEY_FILE to a file with one key per line";

/// Reads the config file (if any); `None` gives the defaults.
pub fn load_raw(path: Option<&Path>) -> Result<RawConfig, ConfigErrors> {
    let Some(path) = path else {
        return Ok(RawConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigErrors(vec![format!("{}: cannot read: {e}", path.display())]))?;
    parse(&text, &path.display().to_string())
}

pub fn parse(text: &str, file: &str) -> Result<RawConfig, ConfigErrors> {
    let de = toml::Deserializer::parse(text)
        .map_err(|e| ConfigErrors(vec![format!("{file}: {}", e.to_string().trim())]))?;
    let mut unknown = Vec::new();
    let raw: Result<RawConfig, _> =
        serde_ignored::deserialize(de, |path| unknown.push(path.to_string()));
    let mut errors: Vec<String> = unknown
        .into_iter()
        .map(|k| format!("{file}: unknown setting `{k}`"))
        .collect();
    match raw {
        Ok(raw) if errors.is_empty() => Ok(raw),
        Ok(_) => Err(ConfigErrors(errors)),
        Err(e) => {
            errors.push(format!("{file}: {}", e.to_string().trim()));
            Err(ConfigErrors(errors))
        }
    }
}

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

/// Merges flags over the file and validates everything, reporting every problem at once.
/// `hash_key_env` is the value of [`HASH_KEY_ENV`], read by the caller.
/// A setting's name as the user wrote it: the flag and its environment variable (one of the
/// two: clap does not say which) when the value came from there, else the config key.
fn named(from_flag: bool, flag: &str, env: &str, key: &str) -> String {
    if from_flag {
        format!("{flag} (or {env})")
    } else {
        key.to_string()
    }
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
    let duration = |errors: &mut Vec<String>, what: &str, v: Option<String>, default: &str| {
        let text = v.unwrap_or_else(|| default.into());
        parse_duration(&text)
            .filter(|d| !d.is_zero())
            .unwrap_or_else(|| {
                errors.push(format!(
                    "{what} {text:?} is not a duration like 500ms, 30s, 5m, 48h or 7d"
                ));
                parse_duration(default).expect("valid default")
            })
    };
    let poll_interval = duration(
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
    let dedupe_window = duration(
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
        let overlap = duration(
            &mut errors,
            "cloudwatch.overlap",
            raw.cloudwatch.overlap,
            DEFAULT_CLOUDWATCH_OVERLAP,
        );
        let poll_interval = duration(
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
    let ratecard_reload_interval = duration(
        &mut errors,
        "ratecard_reload_interval",
        raw.ratecard_reload_interval,
        "30s",
    );
    let reload_interval = duration(
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

/// The S3 settings given as flags (they win over `[s3]`).
struct S3Flags {
    uris: Vec<String>,
    queue: Option<String>,
    lookback: Option<String>,
    concurrency: Option<usize>,
    start: Option<String>,
    once: bool,
}

fn resolve_s3(raw: RawS3, o: S3Flags, now_ms: i64, errors: &mut Vec<String>) -> Option<S3Config> {
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
    let mut duration = |what: &str, v: Option<String>, default: &str, max: Option<Duration>| {
        let text = v.unwrap_or_else(|| default.into());
        match parse_duration(&text).filter(|d| !d.is_zero()) {
            Some(d) if max.is_none_or(|m| d <= m) => d,
            _ => {
                errors.push(match max {
                    None => format!("{what} {text:?} is not a duration like 30s, 5m, 3h or 1d"),
                    Some(m) => format!(
                        "{what} {text:?} is not a duration from 1s to {}s",
                        m.as_secs()
                    ),
                });
                parse_duration(default).expect("valid default")
            }
        }
    };
    let lookback = duration(
        "s3.lookback",
        o.lookback.or(raw.lookback),
        DEFAULT_S3_LOOKBACK,
        None,
    );
    let poll_interval = duration("s3.poll_interval", raw.poll_interval, DEFAULT_S3_POLL, None);
    let reconcile_interval = duration(
        "s3.reconcile_interval",
        raw.reconcile_interval,
        DEFAULT_S3_RECONCILE,
        None,
    );
    // SQS long polling waits at most 20 s.
    let sqs_wait = duration(
        "s3.sqs_wait",
        raw.sqs_wait,
        "20s",
        Some(Duration::from_secs(20)),
    );
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

fn resolve_reconcile(
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
        StateMode::InMemory => errors.push("reconcile needs a state directory: the daily totals it compares with the bill live in the store".into()),
        StateMode::Postgres(_) => errors.push("reconcile in the daemon reads the daily totals from a SQLite state directory; it does not read the PostgreSQL store yet (run `bedrock-cost-exporter state daily --store ...` and compare, or reconcile from a SQLite daemon)".into()),
        StateMode::Dir(_) => {}
    }
    let text = raw
        .interval
        .unwrap_or_else(|| DEFAULT_RECONCILE_INTERVAL.into());
    let interval = parse_duration(&text)
        .filter(|d| !d.is_zero())
        .unwrap_or_else(|| {
            errors.push(format!(
                "reconcile.interval {text:?} is not a duration like 30m, 6h or 1d"
            ));
            parse_duration(DEFAULT_RECONCILE_INTERVAL).expect("valid default")
        });
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

fn resolve_http(
    raw: RawHttp,
    bearer: Option<PathBuf>,
    basic: Option<PathBuf>,
    errors: &mut Vec<String>,
) -> HttpConfig {
    let duration = |errors: &mut Vec<String>, what: &str, v: Option<String>, default: &str| {
        let text = v.unwrap_or_else(|| default.into());
        parse_duration(&text)
            .filter(|d| !d.is_zero())
            .unwrap_or_else(|| {
                errors.push(format!(
                    "http.{what} {text:?} is not a duration like 500ms, 30s or 5m"
                ));
                parse_duration(default).expect("valid default")
            })
    };
    let files = AuthFiles {
        bearer_token_file: bearer.or(raw.bearer_token_file),
        basic_auth_file: basic.or(raw.basic_auth_file),
        reload_interval: duration(
            errors,
            "auth_reload_interval",
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
    let header_read_timeout = duration(
        errors,
        "header_read_timeout",
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

fn resolve_budgets(
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

fn resolve_firehose(
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

fn resolve_attribution(
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

#[cfg(test)]
mod keys;

#[cfg(test)]
mod tests {
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
        assert!(all.contains("reconcile needs a state directory"), "{all}");
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
        let errs = firehose(
            "max_in_flight_requests = 0\nmax_in_flight_bytes = 1000\nmax_body_bytes = 1001",
        )
        .unwrap_err()
        .0
        .join("\n");
        assert!(
            errs.contains("max_in_flight_requests must be at least 1"),
            "{errs}"
        );
        assert!(
            errs.contains(
                "max_in_flight_bytes (1000) must be at least firehose.max_body_bytes (1001)"
            ),
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
        let toml =
            format!("[store]\nurl = \"postgres://bce@db:5432/bce\"\npassword_file = {pw:?}\n");
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
        let toml = "state_dir = \"/s\"\n[store]\nurl = \"postgres://u:secret-in-url@db/x\"\npassword_file = \"/nonexistent/pw\"\n[reconcile]\ncur = [\"/cur\"]\n";
        let err = resolve(
            parse(toml, "c.toml").unwrap(),
            Overrides::default(),
            Env::default(),
        )
        .unwrap_err();
        let text = err.to_string();
        assert_eq!(err.0.len(), 4, "{text}");
        for want in [
            "store.url and a state directory",
            "holds a password",
            "/nonexistent/pw: cannot read",
            "reconcile in the daemon",
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
    fn the_readme_example_config_uses_only_known_settings() {
        let readme = include_str!("../docs/configuration.md");
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
        let doc = include_str!("../docs/configuration.md");
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
}
