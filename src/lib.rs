//! bedrock-cost-exporter: Amazon Bedrock invocation logs in, exact per-user cost out.
pub mod attribution;
pub mod bedrock;
pub mod ledger;
pub mod money;
pub mod pricing;
pub mod record;
pub mod store;
pub mod timefmt;
pub mod http;
pub mod metrics;
pub mod pipeline;
