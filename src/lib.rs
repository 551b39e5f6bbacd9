//! bedrock-cost-exporter: Amazon Bedrock invocation logs in, exact per-user cost out.
//!
//! The data path, one module per stage (each arrow is a plain value):
//!
//! ```text
//! sources/ --Input (batch)--> pipeline --Record--> pricing + attribution --PricedCall--> account
//!   (files, stdin, Firehose,                                                               |
//!    CloudWatch, S3, demo)                     ledger (exact totals) <---------------------+
//!                                                 |  one commit per batch --> store
//!                                                 +--> snapshot --> metrics, status, budgets --> http
//! ```
//!
//! - [`bedrock`]: wire format of an invocation-log record -> [`record::Record`] (pure)
//! - [`record`]: the normalised invocation, token classes, principal ARNs
//! - [`pricing`]: rate cards, model-id normalisation, `price(&cards, &record)` (pure)
//! - [`pricelist`]: AWS Price List offer files → rate-card rows, card diff and check (`ratecard` command)
//! - [`cur`]: AWS Cost and Usage Report 2.0 files (CSV, gzip, Parquet; local or an S3 prefix synced to a cache) → Bedrock bill lines, classified
//! - [`attribution`]: user, feature and extra labels from metadata, ARN and rules (pure)
//! - [`account`]: the priced call, and how one adds to the ledger's counters
//! - [`daily`]: totals by UTC day per model line and per principal, accumulated per batch (pure)
//! - [`ledger`]: exact totals per series, per-dimension caps and folding (pure)
//! - [`store`]: one atomic commit per batch of totals, dedupe keys and checkpoints (SQLite,
//!   or a PostgreSQL database)
//! - [`batch`]: the contract between sources and the pipeline (batch, checkpoint, acknowledgement)
//! - [`pipeline`]: the task that owns the ledger; acknowledges only after the commit
//! - [`snapshot`]: what readers of the totals see
//! - [`sources`]: files/globs/archives, stdin, Firehose HTTP endpoint, CloudWatch Logs polling and Live Tail, S3 delivery layout (listing + SQS event notifications), demo traffic
//! - [`metrics`], [`http`]: exposition and the HTTP surface
//! - [`budgets`]: monthly/daily budgets per label value, from period spend in the ledger
//! - [`sinks`]: per-request export (JSON lines, Firehose PutRecordBatch)
//! - [`history`]: spend over time in memory (per minute, hour, day), fed from committed batches (pure)
//! - [`status`], [`chart`]: the HTML status page at `/`, its charts as inline SVG (pure)
//! - [`config`], [`app`], [`reload`], [`cli`]: settings, wiring and shutdown, live reloads, one-shot commands
//! - [`report`]: the `report` command's summary of calls by any label, as a table, CSV or JSON (pure)
//! - [`top`]: the `top` command's live terminal view of a daemon's spend, from its `/metrics` (pure)
//! - [`ratecard_cmd`]: the `ratecard import|diff|check` command
//! - [`reconcile`]: the estimate against the bill, per day x model x token class and per principal (pure)
//! - [`reconcile_cmd`]: the `reconcile` command and the daemon's periodic reconciliation
//! - [`supervise`]: a needed task that ends unexpectedly fails `/readyz` and restarts the daemon
//! - [`secret`]: keys and tokens as digests compared in constant time, redacted in `Debug`
//! - [`clock`], [`money`], [`timefmt`], [`texttable`]: wall time, exact USD, time formats, text tables
pub mod account;
pub mod app;
pub mod attribution;
pub mod batch;
pub mod bedrock;
pub mod budgets;
pub mod chart;
pub mod cli;
pub mod clock;
pub mod config;
pub mod cur;
pub mod daily;
pub mod history;
pub mod http;
pub mod ledger;
pub mod metrics;
pub mod money;
pub mod pipeline;
pub mod pricelist;
pub mod pricing;
pub mod ratecard_cmd;
pub mod reconcile;
pub mod reconcile_cmd;
pub mod record;
pub mod reload;
pub mod report;
pub mod secret;
pub mod sinks;
pub mod snapshot;
pub mod sources;
pub mod status;
pub mod store;
pub mod supervise;
pub mod texttable;
pub mod timefmt;
pub mod top;
