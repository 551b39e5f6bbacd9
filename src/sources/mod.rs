//! Sources: where invocation records come from. Each runs as its own task or thread and
//! hands the pipeline batches of raw lines with the checkpoint to commit alongside them.
pub mod ahead;
pub mod cloudwatch;
pub mod demo;
pub mod file;
pub mod firehose;
pub mod livetail;
pub mod s3;
