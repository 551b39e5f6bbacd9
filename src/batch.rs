//! The contract between sources and the pipeline: a source hands over an [`Input`] (lines in
//! one buffer, the checkpoint to store with them, where to report), the pipeline commits it
//! in one transaction and only then answers on the batch's [`Ack`]. [`submit`] and
//! [`submit_blocking`] are that send-and-wait, the one way sources use it.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::pricing::RateCards;
use crate::store::{DedupeKey, StoreError};

/// One line inside a batch buffer.
#[derive(Debug, Clone)]
pub struct LineRef {
    pub start: usize,
    pub end: usize,
    /// Where it came from, for logs: a line number, an event index.
    pub line: u64,
    /// An id the source itself gives the event (a CloudWatch eventId): deduped as well.
    pub event_key: Option<DedupeKey>,
}

/// Where the pipeline answers: the batch's summary once committed, or why it was refused
/// (with its buffer, so the sender can send it again without having kept a copy).
pub type Ack = oneshot::Sender<Result<Summary, Refused>>;

/// A batch the store could not commit: nothing of it was kept.
#[derive(Debug)]
pub struct Refused {
    pub error: Arc<StoreError>,
    pub buf: Vec<u8>,
}

/// What a source hands over: lines in one buffer, the checkpoint to store with them, and
/// where to report the commit.
pub struct Input {
    /// The `source` label: `file`, `stdin`, `demo`, …
    pub source: Arc<str>,
    /// What logs name as the origin (a path, a request id).
    pub origin: Arc<str>,
    pub buf: Vec<u8>,
    pub lines: Vec<LineRef>,
    pub checkpoints: Vec<(String, String)>,
    /// Checkpoints to delete in the same transaction (state a source no longer needs, such as
    /// the S3 source's read keys of hours its lookback has passed).
    pub drop_checkpoints: Vec<String>,
    pub ack: Option<Ack>,
    /// The id of the whole delivery (a Firehose request id): a batch already committed under
    /// it is acknowledged again without being counted.
    pub batch_key: Option<DedupeKey>,
    /// Labels the delivery itself carries (Firehose common attributes): a fallback source for
    /// the configured metadata labels.
    pub attributes: Vec<(String, String)>,
    /// Records the source could not decode, by reason: counted as malformed here.
    pub rejected: Vec<&'static str>,
    /// Rate cards to price this batch and every later one with (a reload).
    pub new_cards: Option<Arc<RateCards>>,
    /// The lease the lines were read under (its name and fence), when a source reads only
    /// while it holds one: the commit is refused if the lease moved to another replica since.
    pub fence: Option<(String, i64)>,
    /// Where the batch stands in its source's sequence, when the source sends the next batch
    /// before this one is committed: it is refused unless the one before is committed.
    pub order: Option<Order>,
}

/// A batch's place in a sequence of batches one source sends without waiting for each
/// commit (a file's next chunk while the chunk before it is committed). The pipeline refuses
/// ([`crate::store::StoreError::OutOfOrder`]) a batch whose predecessor, the batch `seq - 1`
/// of the same stream, is not committed or accounted before it (it was refused): committing it
/// would move the source's checkpoint past lines never counted. The source sends the refused
/// batches again, in order, from the first one refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    /// One sender's sequence, unique in the process (see [`Order::new_stream`]).
    pub stream: u64,
    /// 0 for the stream's first batch, which follows nothing.
    pub seq: u64,
}

impl Order {
    /// A stream id no other sender of this process holds: random (the standard library's
    /// per-process random hash keys, different for each call), so no counter is shared.
    pub fn new_stream() -> u64 {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    }
}

impl Input {
    /// A batch with no lines yet (to fill, or to carry only a checkpoint or new rate cards).
    pub fn empty(source: Arc<str>, origin: Arc<str>) -> Input {
        Input::from_ndjson(source, origin, Vec::new(), 1)
    }

    /// Splits newline-delimited text into lines (blank lines are not records).
    pub fn from_ndjson(source: Arc<str>, origin: Arc<str>, buf: Vec<u8>, first_line: u64) -> Input {
        let mut lines = Vec::new();
        let mut start = 0;
        let ends = memchr::memchr_iter(b'\n', &buf).chain(std::iter::once(buf.len()));
        for (n, end) in (first_line..).zip(ends) {
            if start >= buf.len() {
                break;
            }
            let slice = &buf[start..end];
            if !slice.iter().all(u8::is_ascii_whitespace) {
                lines.push(LineRef {
                    start,
                    end,
                    line: n,
                    event_key: None,
                });
            }
            start = end + 1;
        }
        Input {
            source,
            origin,
            buf,
            lines,
            checkpoints: Vec::new(),
            drop_checkpoints: Vec::new(),
            ack: None,
            batch_key: None,
            attributes: Vec::new(),
            rejected: Vec::new(),
            new_cards: None,
            fence: None,
            order: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub accepted: u64,
    pub unpriced: u64,
    pub duplicates: u64,
    pub malformed: u64,
    /// The lines that were not valid records: (line number as `LineRef::line`, the bytes),
    /// for a dead-letter file. Only malformed lines are copied.
    pub malformed_lines: Vec<(u64, Vec<u8>)>,
}

impl Summary {
    pub fn add(&mut self, other: &Summary) {
        self.accepted += other.accepted;
        self.unpriced += other.unpriced;
        self.duplicates += other.duplicates;
        self.malformed += other.malformed;
    }
}

/// Why a submitted batch was not counted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The pipeline is gone (shutdown): nothing more will be counted.
    #[error("the pipeline has stopped")]
    Stopped,
    /// The commit failed; nothing of the batch was kept, so it can be sent again (its buffer
    /// comes back in [`Refused::buf`]).
    #[error("{}", .0.error)]
    Store(Refused),
}

/// Sends a batch and waits until it is committed (or refused).
pub async fn submit(tx: &mpsc::Sender<Input>, mut input: Input) -> Result<Summary, SubmitError> {
    let (ack, answer) = oneshot::channel();
    input.ack = Some(ack);
    tx.send(input).await.map_err(|_| SubmitError::Stopped)?;
    match answer.await {
        Ok(Ok(summary)) => Ok(summary),
        Ok(Err(e)) => Err(SubmitError::Store(e)),
        Err(_) => Err(SubmitError::Stopped),
    }
}

/// [`submit`] from a blocking thread (file and stdin sources).
pub fn submit_blocking(tx: &mpsc::Sender<Input>, mut input: Input) -> Result<Summary, SubmitError> {
    let (ack, answer) = oneshot::channel();
    input.ack = Some(ack);
    tx.blocking_send(input).map_err(|_| SubmitError::Stopped)?;
    match answer.blocking_recv() {
        Ok(Ok(summary)) => Ok(summary),
        Ok(Err(e)) => Err(SubmitError::Store(e)),
        Err(_) => Err(SubmitError::Stopped),
    }
}
