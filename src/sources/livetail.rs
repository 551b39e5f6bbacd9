//! CloudWatch Logs Live Tail: second-level latency on top of the polling source.
//!
//! `StartLiveTail` streams new events about once a second, but it samples above 500 events/s,
//! drops updates for slow readers, and its events carry no eventId. So it never counts alone:
//! the FilterLogEvents poller (`cloudwatch.rs`) keeps reconciling behind it, and the Bedrock
//! `requestId` dedupe makes the two paths count each call once. Sessions end after at most 3
//! hours; this source reconnects before that, and whenever a session ends or fails.
//! API: <https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_StartLiveTail.html>

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudwatchlogs::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_cloudwatchlogs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_cloudwatchlogs::types::StartLiveTailResponseStream;
use prometheus::IntCounterVec;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::batch::{submit, Input, LineRef, SubmitError};

pub const SOURCE: &str = "cloudwatch_livetail";
/// Sessions end at 3 hours; start a new one a little before.
const SESSION: Duration = Duration::from_secs(3 * 3600 - 300);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The Live Tail API is served on a `stream-` host prefix, which a custom endpoint (a local
/// emulator, a proxy) does not have: with `AWS_ENDPOINT_URL` set, send it to that host as is.
#[derive(Debug)]
pub struct NoStreamHostPrefix;

impl Intercept for NoStreamHostPrefix {
    fn name(&self) -> &'static str {
        "NoStreamHostPrefix"
    }

    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_cloudwatchlogs::error::BoxError> {
        let uri = ctx.request().uri().replacen("://stream-", "://", 1);
        ctx.request_mut().set_uri(uri)?;
        Ok(())
    }
}

pub struct LiveTailSource {
    pub client: aws_sdk_cloudwatchlogs::Client,
    /// Log group names or ARNs (names are looked up: Live Tail takes ARNs).
    pub groups: Vec<String>,
    pub tx: mpsc::Sender<Input>,
    pub errors: IntCounterVec,
    /// `bedrock_livetail_sessions_total{result}`: started, ended, failed.
    pub sessions: IntCounterVec,
    /// `bedrock_livetail_sampled_updates_total`: updates CloudWatch sampled (over 500 events/s).
    pub sampled: prometheus::IntCounter,
}

impl LiveTailSource {
    async fn arns(&self) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for g in &self.groups {
            if g.starts_with("arn:") {
                out.push(g.trim_end_matches(":*").to_string());
                continue;
            }
            let resp = self
                .client
                .describe_log_groups()
                .log_group_name_prefix(g)
                .send()
                .await
                .map_err(|e| aws_sdk_cloudwatchlogs::error::DisplayErrorContext(&e).to_string())?;
            let found = resp
                .log_groups()
                .iter()
                .find(|lg| lg.log_group_name() == Some(g.as_str()))
                .ok_or_else(|| format!("log group {g} not found"))?;
            let arn = found
                .log_group_arn()
                .or(found.arn())
                .ok_or_else(|| format!("log group {g} has no ARN"))?;
            out.push(arn.trim_end_matches(":*").to_string());
        }
        Ok(out)
    }

    pub async fn run(self, stop: CancellationToken) {
        let mut backoff = Duration::from_secs(1);
        loop {
            let ended_cleanly = tokio::select! {
                _ = stop.cancelled() => return,
                r = self.session() => r,
            };
            let wait = match ended_cleanly {
                Ok(()) => {
                    self.sessions.with_label_values(&["ended"]).inc();
                    backoff = Duration::from_secs(1);
                    Duration::from_millis(500)
                }
                Err(e) => {
                    self.sessions.with_label_values(&["failed"]).inc();
                    self.errors.with_label_values(&[SOURCE, "session"]).inc();
                    tracing::warn!("Live Tail session failed: {e}; reconnecting in {backoff:?} (polling keeps counting)");
                    let w = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    w
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One session, until it ends, fails, or reaches the session limit.
    async fn session(&self) -> Result<(), String> {
        let arns = self.arns().await?;
        let out = self
            .client
            .start_live_tail()
            .set_log_group_identifiers(Some(arns))
            .send()
            .await
            .map_err(|e| aws_sdk_cloudwatchlogs::error::DisplayErrorContext(&e).to_string())?;
        self.sessions.with_label_values(&["started"]).inc();
        let mut stream = out.response_stream;
        let limit = tokio::time::sleep(SESSION);
        tokio::pin!(limit);
        loop {
            let event = tokio::select! {
                _ = &mut limit => return Ok(()),
                e = stream.recv() => e.map_err(|e| aws_sdk_cloudwatchlogs::error::DisplayErrorContext(&e).to_string())?,
            };
            match event {
                None => return Ok(()),
                Some(StartLiveTailResponseStream::SessionUpdate(u)) => {
                    if u.session_metadata().is_some_and(|m| m.sampled()) {
                        self.sampled.inc();
                    }
                    let mut buf = Vec::new();
                    let mut lines = Vec::new();
                    for e in u.session_results() {
                        let Some(m) = e.message() else { continue };
                        let start = buf.len();
                        buf.extend_from_slice(m.as_bytes());
                        lines.push(LineRef {
                            start,
                            end: buf.len(),
                            line: lines.len() as u64,
                            event_key: None,
                        });
                        buf.push(b'\n');
                    }
                    if !lines.is_empty() {
                        let mut input = Input::empty(SOURCE.into(), Arc::from("live tail"));
                        input.buf = buf;
                        input.lines = lines;
                        // A failed commit is not retried here: polling reconciles these records.
                        if let Err(SubmitError::Stopped) = submit(&self.tx, input).await {
                            return Err("the pipeline stopped".to_string());
                        }
                    }
                }
                Some(_) => {} // sessionStart, or a kind newer than this build
            }
        }
    }
}
