//! Firehose source: the daemon as an Amazon Data Firehose HTTP endpoint destination.
//!
//! A request is authenticated (access key, constant-time), decoded (`decode.rs`), handed to
//! the pipeline as one batch keyed by the Firehose request id, and answered 200 only after
//! that batch is committed; a retried request id is acknowledged without being counted
//! again. Records that cannot be decoded are counted and written to a bounded dead-letter
//! file, and the rest of the batch goes on. Requests in flight are bounded (`intake.rs`):
//! past the bound a request is answered 503 before its body is buffered.

pub mod decode;
pub mod errors;
pub mod intake;
pub mod models;

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use prometheus::IntCounterVec;
use tokio::sync::mpsc;

use crate::batch::{submit, Input, SubmitError};
use crate::secret::KeySet;
use crate::store;
use errors::FirehoseError;
use models::{
    CommonAttributes, Response, ACCESS_KEY_HEADER, COMMON_ATTRIBUTES_HEADER, REQUEST_ID_HEADER,
};

pub const SOURCE: &str = "firehose";

pub struct Firehose {
    /// Accepted access keys (several during a rotation), compared in constant time.
    pub keys: KeySet,
    pub tx: mpsc::Sender<Input>,
    pub max_body: usize,
    pub max_record: usize,
    /// How long a request may wait for its commit; Firehose itself waits 3 minutes.
    pub ack_timeout: Duration,
    pub dead_letter: Option<Mutex<DeadLetter>>,
    /// The bound on requests and bytes in flight.
    pub intake: intake::Intake,
    pub requests: IntCounterVec,
    pub dead_letters: IntCounterVec,
    pub clock: crate::clock::Clock,
}

/// A JSON-lines file of what could not be counted, capped in size: past the cap, rows are
/// counted as dropped instead of filling the disk.
pub struct DeadLetter {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
    max: u64,
}

impl DeadLetter {
    pub fn open(path: PathBuf, max: u64) -> std::io::Result<DeadLetter> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let size = file.metadata()?.len();
        Ok(DeadLetter {
            path,
            file,
            size,
            max,
        })
    }

    /// Appends one row; false if it was dropped (cap reached or write failed).
    fn write(&mut self, row: &serde_json::Value) -> bool {
        let mut line = serde_json::to_vec(row).expect("JSON values serialise");
        line.push(b'\n');
        if self.size + line.len() as u64 > self.max {
            return false;
        }
        match self.file.write_all(&line).and_then(|_| self.file.flush()) {
            Ok(()) => {
                self.size += line.len() as u64;
                true
            }
            Err(e) => {
                tracing::error!(
                    "cannot write the dead-letter file {}: {e}",
                    self.path.display()
                );
                false
            }
        }
    }
}

fn respond(
    fh: &Firehose,
    status: StatusCode,
    request_id: &str,
    error: Option<String>,
) -> HttpResponse {
    let body = serde_json::to_vec(&Response {
        request_id,
        timestamp: fh.clock.now_ms(),
        error_message: error,
    })
    .expect("serialisable");
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub async fn handle(
    State(fh): State<Arc<Firehose>>,
    headers: HeaderMap,
    body: Body,
) -> HttpResponse {
    let request_id = headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let result = accept(&fh, &headers, &request_id, body).await;
    let status = result
        .as_ref()
        .map_or_else(|e| e.status(), |_| StatusCode::OK);
    fh.requests.with_label_values(&[status.as_str()]).inc();
    match result {
        Ok(()) => respond(&fh, StatusCode::OK, &request_id, None),
        Err(e) => {
            match &e {
                FirehoseError::Unauthorized => {
                    tracing::warn!(request_id, "refused a Firehose request: {e}")
                }
                // One line per refusal would flood the log exactly when the daemon is
                // busiest: the intake logs the overload itself.
                FirehoseError::Busy(..) => {}
                _ => tracing::warn!(
                    request_id,
                    status = status.as_u16(),
                    "Firehose request {request_id} failed: {e}"
                ),
            }
            respond(&fh, status, &request_id, Some(e.to_string()))
        }
    }
}

async fn accept(
    fh: &Firehose,
    headers: &HeaderMap,
    request_id: &str,
    body: Body,
) -> Result<(), FirehoseError> {
    let key = headers
        .get(ACCESS_KEY_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !fh.keys.contains(key) {
        return Err(FirehoseError::Unauthorized);
    }
    if request_id.is_empty() {
        return Err(FirehoseError::MissingRequestId);
    }
    // Charged before the body is read: a request past the bound costs a 503, not memory.
    let charge = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .map_or(fh.max_body, |n| n.min(fh.max_body));
    let mut admitted = match fh.intake.admit(charge) {
        Ok(a) => a,
        Err(full) => {
            if !headers.contains_key(header::EXPECT) {
                discard(body, fh.max_body, fh.ack_timeout).await;
            }
            return Err(FirehoseError::Busy(full.requests, full.bytes));
        }
    };
    // A stalled upload must not keep its place in the intake for ever.
    let bytes = tokio::time::timeout(fh.ack_timeout, axum::body::to_bytes(body, fh.max_body))
        .await
        .map_err(|_| FirehoseError::BodyTimeout(fh.ack_timeout))?
        .map_err(|_| FirehoseError::TooLarge(fh.max_body))?;
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let attributes: Vec<(String, String)> = headers
        .get(COMMON_ATTRIBUTES_HEADER)
        .and_then(|v| serde_json::from_slice::<CommonAttributes>(v.as_bytes()).ok())
        .map(|a| a.common_attributes.into_iter().collect())
        .unwrap_or_default();
    let (max_body, max_record) = (fh.max_body, fh.max_record);
    // Decompressing and base64-decoding up to 64 MiB is CPU work: keep it off the I/O threads.
    let decoded = tokio::task::spawn_blocking(move || {
        let req = decode::decode_body(&bytes, gzip, max_body)?;
        Ok::<_, FirehoseError>(decode::decode_records(&req, max_record))
    })
    .await
    .map_err(|e| FirehoseError::Unavailable(e.to_string()))??;
    admitted.hold(decoded.buf.len() + std::mem::size_of_val(&decoded.lines[..]));

    let rejected_reasons: Vec<&'static str> = decoded.rejected.iter().map(|r| r.reason).collect();
    for r in &decoded.rejected {
        tracing::warn!(request_id, record = r.index, reason = r.reason, "Firehose request {request_id} record {} could not be decoded ({}); kept in the dead-letter file", r.index, r.reason);
        dead_letter(
            fh,
            serde_json::json!({"firehose_request_id": request_id, "record": r.index, "reason": r.reason, "data": r.data}),
        );
    }
    let input = Input {
        source: SOURCE.into(),
        origin: format!("firehose request {request_id}").into(),
        buf: decoded.buf,
        lines: decoded.lines,
        checkpoints: Vec::new(),
        drop_checkpoints: Vec::new(),
        ack: None,
        batch_key: Some(store::dedupe_key("fh", request_id.as_bytes())),
        attributes,
        rejected: rejected_reasons,
        new_cards: None,
        fence: None,
        order: None,
    };
    let summary = tokio::time::timeout(fh.ack_timeout, submit(&fh.tx, input))
        .await
        .map_err(|_| FirehoseError::Unavailable(format!("no commit within {:?}", fh.ack_timeout)))?
        .map_err(|e| match e {
            SubmitError::Stopped => {
                FirehoseError::Unavailable("the daemon is shutting down".into())
            }
            SubmitError::Store(refused) => FirehoseError::Unavailable(refused.error.to_string()),
        })?;
    for (line, bytes) in &summary.malformed_lines {
        let text = String::from_utf8_lossy(bytes);
        dead_letter(
            fh,
            serde_json::json!({"firehose_request_id": request_id, "record": line, "reason": "malformed_invocation_record", "line": text}),
        );
    }
    Ok(())
}

/// Reads a refused body and throws it away, chunk by chunk (nothing is kept). Answering
/// before the body is read would make the server close the connection with bytes unread,
/// which resets it: the client may then see a broken connection instead of the 503, and must
/// connect again. A client that sent `Expect: 100-continue` has not sent its body: skipped.
async fn discard(mut body: Body, limit: usize, deadline: Duration) {
    use axum::body::HttpBody;
    let drain = async {
        let mut read = 0usize;
        while let Some(Ok(frame)) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
        {
            read += frame.data_ref().map_or(0, |d| d.len());
            if read > limit {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(deadline, drain).await;
}

fn dead_letter(fh: &Firehose, row: serde_json::Value) {
    let written = fh
        .dead_letter
        .as_ref()
        .is_some_and(|d| d.lock().expect("dead-letter lock").write(&row));
    fh.dead_letters
        .with_label_values(&[if written { "written" } else { "dropped" }])
        .inc();
}
