//! bedrock-cost-exporter: Amazon Bedrock invocation logs in, exact per-user cost out.
pub mod bedrock;
pub mod record;
pub mod timefmt;
