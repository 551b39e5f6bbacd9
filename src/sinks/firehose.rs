//! Amazon Data Firehose sink: rows go out with `PutRecordBatch`
//! (<https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html>) in
//! batches of at most 500 records and 4 MiB; only the records a response reports as failed
//! are retried, with exponential backoff and jitter, a bounded number of times.

use std::time::Duration;

use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use prometheus::IntCounterVec;
use tokio::sync::mpsc;

pub const NAME: &str = "firehose";
/// PutRecordBatch limits.
const MAX_RECORDS: usize = 500;
const MAX_BYTES: usize = 4 << 20;
/// How long a partial batch waits for more rows before it is sent.
const LINGER: Duration = Duration::from_secs(1);
/// Attempts per record before it is counted as failed and logged.
const MAX_ATTEMPTS: u32 = 8;

pub struct FirehoseSink {
    pub client: aws_sdk_firehose::Client,
    pub stream: String,
}

impl FirehoseSink {
    pub async fn from_env(stream: String) -> FirehoseSink {
        let conf = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        FirehoseSink {
            client: aws_sdk_firehose::Client::new(&conf),
            stream,
        }
    }

    /// Sends rows until every sender is gone, then flushes what is left.
    pub async fn run(self, mut rx: mpsc::Receiver<Vec<u8>>, counts: IntCounterVec) {
        loop {
            let Some(first) = rx.recv().await else { return };
            let mut batch = vec![first];
            let mut bytes = batch[0].len() + 1;
            let deadline = tokio::time::Instant::now() + LINGER;
            while batch.len() < MAX_RECORDS {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(row)) if bytes + row.len() < MAX_BYTES => {
                        bytes += row.len() + 1;
                        batch.push(row);
                    }
                    Ok(Some(row)) => {
                        self.send(std::mem::take(&mut batch), &counts).await;
                        bytes = row.len() + 1;
                        batch.push(row);
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            self.send(batch, &counts).await;
        }
    }

    async fn send(&self, rows: Vec<Vec<u8>>, counts: &IntCounterVec) {
        let mut pending: Vec<Vec<u8>> = rows;
        let mut wait = Duration::from_millis(200);
        for attempt in 1..=MAX_ATTEMPTS {
            let records: Vec<Record> = pending
                .iter()
                .map(|r| {
                    let mut data = r.clone();
                    data.push(b'\n'); // one row per line in the delivered objects
                    Record::builder()
                        .data(Blob::new(data))
                        .build()
                        .expect("data is set")
                })
                .collect();
            let result = self
                .client
                .put_record_batch()
                .delivery_stream_name(&self.stream)
                .set_records(Some(records))
                .send()
                .await;
            match result {
                Ok(out) if out.failed_put_count() == 0 => {
                    counts
                        .with_label_values(&[NAME, "sent"])
                        .inc_by(pending.len() as u64);
                    return;
                }
                Ok(out) => {
                    let failed: Vec<Vec<u8>> = out
                        .request_responses()
                        .iter()
                        .zip(pending)
                        .filter_map(|(resp, row)| resp.error_code().is_some().then_some(row))
                        .collect();
                    let sent = out.request_responses().len() - failed.len();
                    counts
                        .with_label_values(&[NAME, "sent"])
                        .inc_by(sent as u64);
                    pending = failed;
                }
                Err(e) => {
                    if attempt == 1 {
                        tracing::warn!(stream = %self.stream, "PutRecordBatch to {} failed, retrying: {}", self.stream, aws_sdk_firehose::error::DisplayErrorContext(&e));
                    }
                }
            }
            if attempt == MAX_ATTEMPTS {
                break;
            }
            counts
                .with_label_values(&[NAME, "retried"])
                .inc_by(pending.len() as u64);
            let jitter = Duration::from_millis(fastrand::u64(0..=wait.as_millis() as u64 / 2));
            tokio::time::sleep(wait + jitter).await;
            wait = (wait * 2).min(Duration::from_secs(30));
        }
        counts
            .with_label_values(&[NAME, "failed"])
            .inc_by(pending.len() as u64);
        tracing::error!(stream = %self.stream, rows = pending.len(), "gave up sending {} rows to Firehose stream {} after {MAX_ATTEMPTS} attempts", pending.len(), self.stream);
    }
}
