//! Sending ahead: a source that re-reads nothing hands the pipeline its next batches before
//! the first is committed (at most [`Ahead::most`] at a time), so the pipeline accounts one
//! while the commit of the one before is written, and the source reads while both happen.
//!
//! Order is what makes it safe: each batch carries its place in the sender's sequence
//! ([`Order`]), and the pipeline refuses a batch whose predecessor was refused. When a batch
//! is refused (the store cannot commit), every batch sent after it is refused too; they come
//! back with their buffers and are sent again, in order, after a backoff. A checkpoint thus
//! never moves past lines that were not counted, and nothing is read twice.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::batch::{Input, Order, Refused, Summary};

/// Longest wait between retries of batches the store could not commit (e.g. disk full):
/// short enough that counting resumes soon after space returns.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

/// What a batch is made of, but for its buffer (which a refusal hands back).
pub struct Batch {
    pub source: Arc<str>,
    pub origin: Arc<str>,
    pub first_line: u64,
    /// The source's checkpoint after this batch, stored with it.
    pub checkpoint: (String, String),
}

struct InFlight {
    batch: Batch,
    seq: u64,
    answer: oneshot::Receiver<Result<Summary, Refused>>,
}

/// Why sending stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// The pipeline is gone.
    PipelineGone,
    /// Shutdown came while waiting to send refused batches again.
    Shutdown,
}

pub struct Ahead {
    tx: mpsc::Sender<Input>,
    /// Batches in flight at most (1: each batch waits for the commit of the one before).
    most: usize,
    stream: u64,
    next_seq: u64,
    in_flight: VecDeque<InFlight>,
    backoff: Duration,
    /// Counted once per refusal (of the first refused batch; those after it follow).
    refusals: prometheus::IntCounter,
}

impl Ahead {
    pub fn new(tx: mpsc::Sender<Input>, most: usize, refusals: prometheus::IntCounter) -> Ahead {
        Ahead {
            tx,
            most: most.max(1),
            stream: Order::new_stream(),
            next_seq: 0,
            in_flight: VecDeque::new(),
            backoff: Duration::from_secs(1),
            refusals,
        }
    }

    /// Sends `buf` as the next batch; returns what the batches committed meanwhile counted
    /// (it waits for the oldest while [`Ahead::most`] are in flight).
    pub fn send(
        &mut self,
        batch: Batch,
        buf: Vec<u8>,
        shutdown: &CancellationToken,
    ) -> Result<Summary, Stopped> {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.push(batch, seq, buf)?;
        let mut summary = Summary::default();
        while self.in_flight.len() >= self.most {
            summary.add(&self.settle_oldest(shutdown)?);
        }
        Ok(summary)
    }

    /// Waits until every batch sent is committed.
    pub fn drain(&mut self, shutdown: &CancellationToken) -> Result<Summary, Stopped> {
        let mut summary = Summary::default();
        while !self.in_flight.is_empty() {
            summary.add(&self.settle_oldest(shutdown)?);
        }
        Ok(summary)
    }

    fn push(&mut self, batch: Batch, seq: u64, buf: Vec<u8>) -> Result<(), Stopped> {
        let mut input = Input::from_ndjson(
            batch.source.clone(),
            batch.origin.clone(),
            buf,
            batch.first_line,
        );
        input.checkpoints.push(batch.checkpoint.clone());
        input.order = Some(Order {
            stream: self.stream,
            seq,
        });
        let (ack, answer) = oneshot::channel();
        input.ack = Some(ack);
        self.tx
            .blocking_send(input)
            .map_err(|_| Stopped::PipelineGone)?;
        self.in_flight.push_back(InFlight { batch, seq, answer });
        Ok(())
    }

    /// Waits for the oldest batch's commit. If it was refused, takes every later one back
    /// (refused after it), waits the backoff and sends them all again, in order, until the
    /// oldest is committed.
    fn settle_oldest(&mut self, shutdown: &CancellationToken) -> Result<Summary, Stopped> {
        loop {
            let oldest = self.in_flight.pop_front().expect("a batch in flight");
            let refused = match oldest.answer.blocking_recv() {
                Ok(Ok(summary)) => {
                    self.backoff = Duration::from_secs(1);
                    return Ok(summary);
                }
                Ok(Err(refused)) => refused,
                Err(_) => return Err(Stopped::PipelineGone),
            };
            self.refusals.inc();
            let mut again = vec![(oldest.batch, oldest.seq, refused.buf)];
            let mut committed = Summary::default();
            for later in std::mem::take(&mut self.in_flight) {
                match later.answer.blocking_recv() {
                    Ok(Err(r)) => again.push((later.batch, later.seq, r.buf)),
                    // Cannot be: the pipeline refuses a batch whose predecessor it refused.
                    Ok(Ok(summary)) => {
                        tracing::error!(origin = &*later.batch.origin, "a batch was committed after the one before it was refused; its checkpoint may have moved past lines not counted");
                        committed.add(&summary);
                    }
                    Err(_) => return Err(Stopped::PipelineGone),
                }
            }
            if sleep_or_cancel(self.backoff, shutdown) {
                return Err(Stopped::Shutdown);
            }
            self.backoff = (self.backoff * 2).min(MAX_RETRY_WAIT);
            for (batch, seq, buf) in again {
                self.push(batch, seq, buf)?;
            }
            if committed != Summary::default() {
                return Ok(committed);
            }
        }
    }
}

/// Sleeps in short steps; true if shutdown came first.
pub fn sleep_or_cancel(d: Duration, shutdown: &CancellationToken) -> bool {
    let step = Duration::from_millis(50);
    let mut left = d;
    while !left.is_zero() {
        if shutdown.is_cancelled() {
            return true;
        }
        let s = left.min(step);
        std::thread::sleep(s);
        left -= s;
    }
    shutdown.is_cancelled()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: u64) -> Batch {
        Batch {
            source: "file".into(),
            origin: "f".into(),
            first_line: n,
            checkpoint: ("file:f".into(), n.to_string()),
        }
    }

    fn counter() -> prometheus::IntCounter {
        prometheus::IntCounter::new("refusals", "test").unwrap()
    }

    /// What the pipeline received: (seq, bytes, checkpoint), in order.
    type Received = Vec<(u64, String, String)>;

    /// Sends batches "0".."n-1" through an [`Ahead`] of `most` into `answer`, which is given
    /// every batch received and the number received so far before it, and says whether to
    /// commit it.
    fn send_all(
        n: u64,
        most: usize,
        mut answer: impl FnMut(&Input, usize) -> bool + Send + 'static,
    ) -> (Summary, Received, u64) {
        let (tx, mut rx) = mpsc::channel::<Input>(16);
        let pipeline = std::thread::spawn(move || {
            let mut received = Vec::new();
            while let Some(mut input) = rx.blocking_recv() {
                let seq = input.order.unwrap().seq;
                let text = String::from_utf8(input.buf.clone()).unwrap();
                received.push((seq, text, input.checkpoints[0].1.clone()));
                let ack = input.ack.take().unwrap();
                if answer(&input, received.len()) {
                    let summary = Summary {
                        accepted: 1,
                        ..Summary::default()
                    };
                    let _ = ack.send(Ok(summary));
                } else {
                    let error = Arc::new(crate::store::StoreError::Io("injected".into()));
                    let buf = std::mem::take(&mut input.buf);
                    let _ = ack.send(Err(Refused { error, buf }));
                }
            }
            received
        });
        let refusals = counter();
        let mut ahead = Ahead::new(tx, most, refusals.clone());
        ahead.backoff = Duration::from_millis(1);
        let shutdown = CancellationToken::new();
        let mut total = Summary::default();
        for i in 0..n {
            let buf = format!("{i}\n").into_bytes();
            total.add(&ahead.send(batch(i), buf, &shutdown).unwrap());
        }
        total.add(&ahead.drain(&shutdown).unwrap());
        drop(ahead);
        (total, pipeline.join().unwrap(), refusals.get())
    }

    #[test]
    fn batches_are_sent_before_the_ones_before_them_are_committed() {
        // The pipeline answers nothing until it holds three batches.
        let held = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, mut rx) = mpsc::channel::<Input>(16);
        let mut ahead = Ahead::new(tx, 3, counter());
        let waiting = held.clone();
        let pipeline = std::thread::spawn(move || {
            while let Some(mut input) = rx.blocking_recv() {
                let mut held = waiting.lock().unwrap();
                held.push(input.ack.take().unwrap());
                if held.len() >= 3 {
                    for ack in held.drain(..) {
                        let _ = ack.send(Ok(Summary::default()));
                    }
                }
            }
        });
        let shutdown = CancellationToken::new();
        for i in 0..9 {
            ahead.send(batch(i), vec![b'x'], &shutdown).unwrap();
        }
        ahead.drain(&shutdown).unwrap();
        drop(ahead);
        pipeline.join().unwrap();
        assert!(held.lock().unwrap().is_empty());
    }

    #[test]
    fn a_refused_batch_and_every_one_after_it_are_sent_again_in_order() {
        // Batch 2 is refused once; the pipeline then refuses 3 and 4 (sent after it), as it
        // refuses a batch whose predecessor it refused.
        let mut refusing = false;
        let (summary, received, refusals) = send_all(6, 3, move |input, nth| {
            let seq = input.order.unwrap().seq;
            if seq == 2 && nth == 3 {
                refusing = true;
                return false;
            }
            if refusing && seq > 2 {
                return false;
            }
            refusing = false;
            true
        });
        let seqs: Vec<u64> = received.iter().map(|r| r.0).collect();
        assert_eq!(seqs, [0, 1, 2, 3, 4, 2, 3, 4, 5]);
        for (seq, text, checkpoint) in &received {
            assert_eq!((text, checkpoint), (&format!("{seq}\n"), &seq.to_string()));
        }
        assert_eq!(summary.accepted, 6, "each batch counted once");
        assert_eq!(refusals, 1);
    }

    #[test]
    fn with_one_in_flight_each_batch_waits_for_the_one_before() {
        let (summary, received, _) = send_all(4, 1, |input, nth| {
            // Refused the first time it comes: with nothing else in flight, only it returns.
            input.order.unwrap().seq != 1 || nth != 2
        });
        let seqs: Vec<u64> = received.iter().map(|r| r.0).collect();
        assert_eq!(seqs, [0, 1, 1, 2, 3]);
        assert_eq!(summary.accepted, 4);
    }
}
