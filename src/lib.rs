//! bedrock-cost-exporter: Amazon Bedrock invocation logs in, exact per-user cost out.
//!
//! The data path, one module per stage (each arrow is a plain value):
//!
//! ```text
//! sources/ (file, stdin, demo) --Input--> pipeline --Record--> pricing --Priced--> ledger --commit--> store
//!                                             |                                      |
//!                                             +--> attribution (labels)              +--> metrics -> http (/metrics)
//! ```
//!
//! - [`bedrock`]: wire format of an invocation-log record -> [`record::Record`] (pure)
//! - [`record`]: the normalised invocation, token classes, principal ARNs
//! - [`pricing`]: rate cards, model-id normalisation, `price(&cards, &record)` (pure)
//! - [`attribution`]: user, feature and extra labels from metadata, ARN and rules (pure)
//! - [`ledger`]: exact totals per label set, cardinality guard (pure)
//! - [`store`]: one atomic commit per batch of totals, dedupe keys and checkpoints
//! - [`pipeline`]: the task that owns the ledger; acknowledges only after the commit
//! - [`sources`]: files/globs/archives, stdin, Firehose HTTP endpoint, CloudWatch Logs polling and Live Tail, demo traffic
//! - [`metrics`], [`http`]: exposition and the HTTP surface
//! - [`budgets`]: monthly/daily budgets per label value, from period spend in the ledger
//! - [`sinks`]: per-request export (JSON lines, Firehose PutRecordBatch)
//! - [`status`]: the HTML status page at `/`
//! - [`config`], [`app`], [`reload`], [`cli`]: settings, wiring and shutdown, live reloads, one-shot commands
pub mod account;
pub mod app;
pub mod attribution;
pub mod bedrock;
pub mod budgets;
pub mod cli;
pub mod clock;
pub mod config;
pub mod http;
pub mod ledger;
pub mod metrics;
pub mod money;
pub mod pipeline;
pub mod pricing;
pub mod record;
pub mod reload;
pub mod sinks;
pub mod sources;
pub mod status;
pub mod store;
pub mod timefmt;
