//! The one integration test binary: the real daemon, fed through its real interfaces.
mod budgets;
mod cardinality;
mod cli;
mod cloudwatch;
mod crash;
mod daemon;
mod diskfull;
mod export;
mod exposition;
mod firehose;
mod follow;
mod moto;
mod prometheus;
mod reload;
mod restart;
mod status;
mod tls;
