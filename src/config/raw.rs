//! The config file's wire format: the serde types one TOML file deserialises into, every
//! field optional, and `parse`, which collects every unknown key. Validation and defaults
//! are `resolve`'s (the parent module).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigErrors;

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

#[derive(Debug, Default, Deserialize)]
pub struct RawHttp {
    pub bearer_token_file: Option<PathBuf>,
    pub basic_auth_file: Option<PathBuf>,
    pub auth_reload_interval: Option<String>,
    pub max_header_bytes: Option<usize>,
    pub max_headers: Option<usize>,
    pub header_read_timeout: Option<String>,
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
