//! File source: follows files like `tail -F` (globs re-expanded on every poll, rotation
//! detected by inode, truncation by size or by the bytes before the checkpoint changing, as
//! copytruncate does), reads `.gz` archives (the S3 delivery layout: gzipped NDJSON), and
//! stops at the end with `--once` (backfill).
//!
//! Each batch (1 MiB, or 4 MiB when the store is PostgreSQL: see [`BatchSize`]) carries the
//! file's checkpoint (device, inode, byte offset or line count); the pipeline commits it with
//! the totals. The source sends up to [`AHEAD`] batches before the first is committed (see
//! `ahead.rs`: a batch whose predecessor was refused is refused too, and all are sent again in
//! order), and waits for every commit before it sleeps or stops. A restart resumes from the
//! last committed checkpoint; a renamed file is found again by its inode, and a new file on a
//! deleted one's inode is told from it by its first bytes.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::ahead::{self, sleep_or_cancel, Ahead};
use crate::batch::{submit_blocking, Input, SubmitError, Summary};

/// Batches a file source has in flight at most: one committed, one accounted beside that
/// commit (on PostgreSQL), one read meanwhile.
pub const AHEAD: usize = 3;

/// Bytes read per batch from standard input, and from a file on SQLite ([`BatchSize::SMALL`]).
const BATCH_BYTES: usize = 1 << 20;

/// How much of a file one batch (one commit) holds: at most `bytes` from a plain file, at
/// most `lines` (or `bytes`) from an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSize {
    pub bytes: usize,
    pub lines: usize,
}

impl BatchSize {
    /// For SQLite (and the in-memory store): 4 MiB batches replayed no faster there.
    pub const SMALL: BatchSize = BatchSize {
        bytes: BATCH_BYTES,
        lines: 5_000,
    };
    /// For PostgreSQL, where a commit's fixed costs (its round trips, the WAL flush, the
    /// dedupe lookup) and the daily rows several records share are paid per batch: 4 MiB
    /// batches took 40% less statement time than 1 MiB in issue 12's replay (16 MiB another
    /// 20% less, at 200 instead of 140 MB of RSS). In memory: at most the pipeline's channel
    /// (16 batches) of them in flight, 64 MiB of lines.
    pub const LARGE: BatchSize = BatchSize {
        bytes: 4 << 20,
        lines: 20_000,
    };

    /// The batches for the daemon's store (the S3 source takes its `bytes`).
    pub fn for_state(state: &crate::config::StateMode) -> BatchSize {
        use crate::config::StateMode;
        match state {
            StateMode::Postgres(_) => BatchSize::LARGE,
            StateMode::Dir(_) | StateMode::InMemory => BatchSize::SMALL,
        }
    }
}
/// A line longer than this is passed on whole and counted as malformed rather than
/// buffered without bound (CloudWatch caps an event at 1 MB; bodies over 100 KB go to S3).
const MAX_LINE_BYTES: usize = 16 << 20;
const SOURCE: &str = "file";
pub const CHECKPOINT_PREFIX: &str = "file:";

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
struct Checkpoint {
    dev: u64,
    ino: u64,
    /// Bytes consumed (plain files) or decompressed lines consumed (archives).
    offset: u64,
    /// Lines consumed, for messages.
    line: u64,
    #[serde(default)]
    done: bool,
    /// The bytes just before `offset` (plain files): if they change, the file was truncated
    /// and written again (copytruncate), even when it has grown past `offset` since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tail: Option<Print>,
    /// The file's first bytes (raw bytes, archives too): if they differ, this is another file,
    /// e.g. a new one given the inode of a deleted one, even when it ends like it at `offset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    head: Option<Print>,
}

/// A fingerprint of `len` bytes of a file (its first, or the last before a checkpoint).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
struct Print {
    len: u16,
    hash: u64,
}

/// Bytes fingerprinted before a checkpoint: a line's end (token counts, ids) differs between
/// any two records.
const TAIL_BYTES: usize = 64;
/// Bytes fingerprinted at a file's start: a record's first 64 bytes are the same in every
/// record (`{"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timest`), its
/// timestamp and requestId follow within the first few hundred.
const HEAD_BYTES: usize = 1024;

impl Print {
    fn of(bytes: &[u8]) -> Print {
        let digest = sha2::Sha256::digest(bytes);
        Print {
            len: bytes.len() as u16,
            hash: u64::from_le_bytes(digest[..8].try_into().expect("8 bytes")),
        }
    }

    /// The last [`TAIL_BYTES`] of `bytes`.
    fn tail(bytes: &[u8]) -> Print {
        Print::of(&bytes[bytes.len().saturating_sub(TAIL_BYTES)..])
    }

    /// The first [`HEAD_BYTES`] of `bytes`.
    fn head(bytes: &[u8]) -> Print {
        Print::of(&bytes[..bytes.len().min(HEAD_BYTES)])
    }

    /// Whether `file` holds the bytes fingerprinted, `len` of them ending at `end`.
    fn matches(self, file: &mut File, end: u64) -> bool {
        let n = u64::from(self.len).min(end);
        match read_at(file, end - n, n as usize) {
            Ok(bytes) => bytes.len() as u64 == n && Print::of(&bytes) == self,
            Err(_) => true, // a read error is reported when the file is read
        }
    }
}

impl Checkpoint {
    /// Whether the file still holds what this checkpoint consumed: not shorter than the
    /// offset, and its first bytes and the bytes before the offset unchanged.
    fn still_holds(&self, file: &mut File, len: u64) -> bool {
        len >= self.offset
            && self.same_start(file)
            && self.tail.is_none_or(|t| t.matches(file, self.offset))
    }

    /// Whether the file starts with the bytes this checkpoint's file started with (true for
    /// a checkpoint from before head fingerprints, or at offset 0).
    fn same_start(&self, file: &mut File) -> bool {
        self.head.is_none_or(|h| h.matches(file, u64::from(h.len)))
    }
}

/// The fingerprint of `file`'s first bytes, up to `end` (what was consumed, or all of it).
fn head_of(file: &mut File, end: u64) -> Option<Print> {
    let bytes = read_at(file, 0, HEAD_BYTES.min(end as usize)).ok()?;
    (!bytes.is_empty()).then(|| Print::head(&bytes))
}

struct Tracked {
    file: File,
    cp: Checkpoint,
    gz: bool,
}

pub struct FileSource {
    pub patterns: Vec<String>,
    pub once: bool,
    pub poll: Duration,
    /// Where batches go: to the pipeline, [`AHEAD`] at a time.
    pub out: Ahead,
    /// Checkpoints from the store, by `file:<path>`.
    pub checkpoints: HashMap<String, String>,
    pub progress: Option<indicatif::ProgressBar>,
    /// Archives already reported as damaged (reported once each).
    pub damaged: std::collections::HashSet<PathBuf>,
    /// `bedrock_source_errors_total{source, kind}`: read, decompress (`out` counts commit).
    pub errors: prometheus::IntCounterVec,
    /// How much one batch holds (larger for a PostgreSQL store).
    pub batch: BatchSize,
}

/// Why the source stopped early.
#[derive(Debug, thiserror::Error)]
pub enum FileSourceError {
    #[error("the pipeline stopped")]
    PipelineGone,
    #[error("stopped by shutdown")]
    Shutdown,
}

impl FileSource {
    /// Runs until shutdown (follow) or until every file is read (`once`). Blocking.
    pub fn run(mut self, shutdown: CancellationToken) -> Summary {
        let mut files: HashMap<PathBuf, Tracked> = HashMap::new();
        let mut total = Summary::default();
        let mut by_inode: HashMap<(u64, u64), Checkpoint> = self
            .checkpoints
            .iter()
            .filter(|(k, _)| k.starts_with(CHECKPOINT_PREFIX))
            .filter_map(|(_, v)| serde_json::from_str::<Checkpoint>(v).ok())
            .map(|c| ((c.dev, c.ino), c))
            .collect();
        let mut warned_empty = false;
        loop {
            let paths = expand(&self.patterns);
            if paths.is_empty() && !warned_empty {
                tracing::warn!(patterns = ?self.patterns, "no file matches {:?} yet; still looking", self.patterns);
                warned_empty = true;
            }
            if let Some(pb) = &self.progress {
                let size: u64 = paths
                    .iter()
                    .filter_map(|p| std::fs::metadata(p).ok())
                    .map(|m| m.len())
                    .sum();
                pb.set_length(size);
            }
            for path in &paths {
                match self.poll_file(path, &mut files, &mut by_inode, &shutdown) {
                    Ok(s) => total.add(&s),
                    Err(FileSourceError::PipelineGone | FileSourceError::Shutdown) => return total,
                }
            }
            // Every batch of this pass committed before the source sleeps or stops.
            match self.out.drain(&shutdown) {
                Ok(s) => total.add(&s),
                Err(_) => return total,
            }
            if self.once {
                if let Some(pb) = &self.progress {
                    pb.finish_and_clear();
                }
                return total;
            }
            if sleep_or_cancel(self.poll, &shutdown) {
                return total;
            }
        }
    }

    fn poll_file(
        &mut self,
        path: &Path,
        files: &mut HashMap<PathBuf, Tracked>,
        by_inode: &mut HashMap<(u64, u64), Checkpoint>,
        shutdown: &CancellationToken,
    ) -> Result<Summary, FileSourceError> {
        let meta = match std::fs::metadata(path) {
            Ok(m) if m.is_file() => m,
            _ => return Ok(Summary::default()),
        };
        let (dev, ino) = (meta.dev(), meta.ino());
        let mut summary = Summary::default();
        if let Some(t) = files.get(path) {
            if (t.cp.dev, t.cp.ino) != (dev, ino) {
                // Rotated: finish the old file through the handle we hold, then start the new one.
                let mut old = files.remove(path).expect("checked above");
                tracing::info!(path = %path.display(), "{} was rotated; finishing the old file and starting the new one", path.display());
                let drained = self.read(path, &mut old, true, shutdown);
                // If the old file shows up again under a rotated name, resume it, not re-read it.
                by_inode.insert((old.cp.dev, old.cp.ino), old.cp);
                summary.add(&drained?);
            }
        }
        if !files.contains_key(path) {
            // Renamed (rotated) under a name that also matches: keep reading where we were.
            let renamed = files
                .iter()
                .find(|(_, t)| (t.cp.dev, t.cp.ino) == (dev, ino))
                .map(|(p, _)| p.clone());
            if let Some(t) = renamed.and_then(|old| files.remove(&old)) {
                files.insert(path.to_path_buf(), t);
            }
        }
        if !files.contains_key(path) {
            let file = match File::open(path) {
                Ok(f) => f,
                Err(e) => {
                    self.errors.with_label_values(&[SOURCE, "read"]).inc();
                    if self.damaged.insert(path.to_path_buf()) {
                        tracing::warn!(path = %path.display(), "cannot open {}: {e}; retrying on every poll", path.display());
                    }
                    return Ok(summary);
                }
            };
            let mut file = file;
            let gz = path.extension().is_some_and(|e| e == "gz");
            let saved = self
                .checkpoints
                .get(&format!("{CHECKPOINT_PREFIX}{}", path.display()))
                .and_then(|v| serde_json::from_str::<Checkpoint>(v).ok())
                .filter(|c| (c.dev, c.ino) == (dev, ino))
                .or_else(|| by_inode.get(&(dev, ino)).copied());
            let cp = match saved {
                Some(c) if gz && c.same_start(&mut file) => c,
                Some(c) if !gz && c.still_holds(&mut file, meta.len()) => c,
                _ => Checkpoint {
                    dev,
                    ino,
                    offset: 0,
                    line: 0,
                    done: false,
                    tail: None,
                    head: None,
                },
            };
            files.insert(path.to_path_buf(), Tracked { file, cp, gz });
        }
        let mut t = files.remove(path).expect("present");
        let r = self.read(path, &mut t, self.once, shutdown);
        files.insert(path.to_path_buf(), t);
        summary.add(&r?);
        Ok(summary)
    }

    /// Reads what is new in one file; `to_end` also takes a last line without a newline.
    fn read(
        &mut self,
        path: &Path,
        t: &mut Tracked,
        to_end: bool,
        shutdown: &CancellationToken,
    ) -> Result<Summary, FileSourceError> {
        if t.gz {
            return self.read_gz(path, t, shutdown);
        }
        let mut summary = Summary::default();
        let mut want = self.batch.bytes;
        loop {
            if shutdown.is_cancelled() {
                return Err(FileSourceError::Shutdown);
            }
            // Before every read, not only every poll: a file truncated and written again
            // while a batch was being committed must not be read on from the old offset.
            rewind_if_truncated(path, t);
            let buf = match read_at(&mut t.file, t.cp.offset, want) {
                Ok(b) => b,
                Err(e) => {
                    self.errors.with_label_values(&[SOURCE, "read"]).inc();
                    tracing::warn!(path = %path.display(), "cannot read {}: {e}", path.display());
                    return Ok(summary);
                }
            };
            if buf.is_empty() {
                return Ok(summary);
            }
            let full = buf.len() == want;
            let (consumed, lines) = match frame(&buf, full, want < MAX_LINE_BYTES, to_end) {
                Frame::Take { bytes, lines } => (bytes, lines),
                Frame::Grow => {
                    want *= 2;
                    continue;
                }
                Frame::Wait => return Ok(summary),
            };
            want = self.batch.bytes;
            let mut buf = buf;
            buf.truncate(consumed);
            let head = match t.cp.head {
                Some(h) => Some(h),
                None if t.cp.offset == 0 => Some(Print::head(&buf)),
                // A checkpoint from before head fingerprints: the file it resumed holds it.
                None => head_of(&mut t.file, t.cp.offset),
            };
            let next = Checkpoint {
                offset: t.cp.offset + consumed as u64,
                line: t.cp.line + lines,
                tail: Some(Print::tail(&buf)),
                head,
                ..t.cp
            };
            summary.add(&self.send(path, buf, t.cp.line + 1, next, shutdown)?);
            if let Some(pb) = &self.progress {
                pb.inc(consumed as u64);
            }
            t.cp = next;
        }
    }

    fn read_gz(
        &mut self,
        path: &Path,
        t: &mut Tracked,
        shutdown: &CancellationToken,
    ) -> Result<Summary, FileSourceError> {
        let mut summary = Summary::default();
        if t.cp.done {
            return Ok(summary);
        }
        // The compressed bytes' start, so that another archive given this one's inode is not
        // taken for it (read before the decoder takes the handle; an archive only grows).
        if t.cp.head.is_none() {
            let len = t.file.metadata().map_or(0, |m| m.len());
            t.cp.head = head_of(&mut t.file, len);
        }
        if t.file.seek(SeekFrom::Start(0)).is_err() {
            return Ok(summary);
        }
        let mut reader = BufReader::new(MultiGzDecoder::new(&t.file));
        let mut line = Vec::new();
        let mut skipped = 0;
        while skipped < t.cp.offset {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => skipped += 1,
                Err(e) => {
                    tracing::warn!(path = %path.display(), "cannot decompress {}: {e}", path.display());
                    return Ok(summary);
                }
            }
        }
        loop {
            let mut buf = Vec::new();
            let mut n = 0u64;
            let mut failed = None;
            let BatchSize { bytes, lines } = self.batch;
            while (n as usize) < lines && buf.len() < bytes {
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) => break,
                    Ok(_) => n += 1,
                    Err(e) => {
                        // Drop the partial line: only whole lines are counted.
                        let whole = memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1);
                        buf.truncate(whole);
                        failed = Some(e);
                        break;
                    }
                }
            }
            // A damaged archive may still be being written: in follow mode it is read again on
            // the next poll (from its checkpoint); with --once what could be read is final.
            let done = match failed {
                Some(_) => self.once,
                None => n == 0 || (n as usize) < lines && buf.len() < bytes,
            };
            let next = Checkpoint {
                offset: t.cp.offset + n,
                line: t.cp.line + n,
                done,
                ..t.cp
            };
            if let Some(e) = &failed {
                if self.damaged.insert(path.to_path_buf()) {
                    self.errors.with_label_values(&[SOURCE, "decompress"]).inc();
                    tracing::warn!(path = %path.display(), line = next.line, "{} cannot be decompressed after line {} ({e}); {}", path.display(), next.line,
                        if self.once { "the rest of it is not counted" } else { "it is read again as it grows" });
                }
            }
            summary.add(&self.send(path, buf, t.cp.line + 1, next, shutdown)?);
            t.cp = next;
            if failed.is_some() && !done {
                return Ok(summary);
            }
            if done {
                if let Some(pb) = &self.progress {
                    pb.inc(t.file.metadata().map_or(0, |m| m.len()));
                }
                return Ok(summary);
            }
        }
    }

    /// Hands a batch to the pipeline (it is sent again while the store cannot commit it: the
    /// same bytes, nothing skipped); returns what the batches committed meanwhile counted.
    fn send(
        &mut self,
        path: &Path,
        buf: Vec<u8>,
        first_line: u64,
        next: Checkpoint,
        shutdown: &CancellationToken,
    ) -> Result<Summary, FileSourceError> {
        let batch = ahead::Batch {
            source: SOURCE.into(),
            origin: path.display().to_string().into(),
            first_line,
            checkpoint: (
                format!("{CHECKPOINT_PREFIX}{}", path.display()),
                serde_json::to_string(&next).expect("serialisable"),
            ),
        };
        self.out.send(batch, buf, shutdown).map_err(|e| match e {
            ahead::Stopped::PipelineGone => FileSourceError::PipelineGone,
            ahead::Stopped::Shutdown => FileSourceError::Shutdown,
        })
    }
}

/// What to do with a chunk read from a plain file at the checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Hand over the first `bytes` (whole lines; `lines` of them) and move the checkpoint on.
    Take { bytes: usize, lines: u64 },
    /// A full chunk without a newline: read a bigger one.
    Grow,
    /// A line still being written: wait for the rest.
    Wait,
}

/// Line framing of a plain file: only whole lines are taken, except a line too long to
/// buffer (`full` and not `can_grow`) or the file's last line with `to_end` (it is complete
/// when the file is read to its end, e.g. `--once` or a rotated file being finished).
pub fn frame(buf: &[u8], full: bool, can_grow: bool, to_end: bool) -> Frame {
    let bytes = match memchr::memrchr(b'\n', buf) {
        Some(i) => i + 1,
        None if buf.is_empty() => return Frame::Wait,
        None if full && can_grow => return Frame::Grow,
        None if full || to_end => buf.len(),
        None => return Frame::Wait,
    };
    let taken = &buf[..bytes];
    let lines =
        memchr::memchr_iter(b'\n', taken).count() as u64 + u64::from(!taken.ends_with(b"\n"));
    Frame::Take { bytes, lines }
}

/// Starts a plain file again from its beginning if it no longer holds what its checkpoint
/// consumed (truncated, or copied and truncated and written again).
fn rewind_if_truncated(path: &Path, t: &mut Tracked) {
    let Ok(len) = t.file.metadata().map(|m| m.len()) else {
        return; // a read error is reported when the file is read
    };
    if !t.cp.still_holds(&mut t.file, len) {
        tracing::warn!(path = %path.display(), "{} was truncated (or copied and truncated); reading it again from the start", path.display());
        t.cp.offset = 0;
        t.cp.line = 0;
        t.cp.tail = None;
        t.cp.head = None;
    }
}

fn read_at(file: &mut File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(len.min(BATCH_BYTES));
    file.take(len as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Expands glob patterns (a plain path is its own pattern), sorted and without repeats.
pub fn expand(patterns: &[String]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = patterns
        .iter()
        .flat_map(|p| match glob::glob(p) {
            Ok(paths) => paths.filter_map(Result::ok).collect::<Vec<_>>(),
            Err(_) => vec![PathBuf::from(p)],
        })
        .filter(|p| p.is_file() && !is_large_body_object(p))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Bodies over 100 KB (and media) are delivered as their own objects under `.../HH/data/`
/// (`<requestId>_input.json.gz`, `_output.json.gz`, `_input_media_00.pdf`): they are not
/// records, so a glob over the whole S3 layout must not count them as malformed.
fn is_large_body_object(p: &Path) -> bool {
    let in_data_dir = p
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d == "data");
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    in_data_dir && (name.contains("_input") || name.contains("_output"))
}

/// Reads standard input to its end, in batches (no checkpoint: a pipe cannot be re-read).
pub fn run_stdin(tx: mpsc::Sender<Input>, shutdown: CancellationToken) -> Summary {
    let stdin = std::io::stdin();
    let mut reader = BufReader::with_capacity(BATCH_BYTES, stdin.lock());
    let mut total = Summary::default();
    let mut line_no = 1;
    loop {
        let mut buf = Vec::new();
        let mut n = 0;
        // Send what is there without waiting for more, so a slow pipe is counted promptly.
        loop {
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => n += 1,
            }
            if buf.len() >= BATCH_BYTES || reader.buffer().is_empty() {
                break;
            }
        }
        if n == 0 || shutdown.is_cancelled() {
            return total;
        }
        let input = Input::from_ndjson("stdin".into(), "stdin".into(), buf, line_no);
        line_no += n;
        match submit_blocking(&tx, input) {
            Ok(s) => total.add(&s),
            Err(SubmitError::Store(refused)) => {
                tracing::error!(
                    "stdin: a batch could not be committed and standard input cannot be re-read: {}",
                    refused.error
                );
                return total;
            }
            Err(SubmitError::Stopped) => return total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn line(id: &str) -> String {
        format!(
            "{{\"requestId\":\"{id}\",\"pad\":\"{}\"}}\n",
            "x".repeat(40)
        )
    }

    /// A source that reads `path` once, in batches of `batch`, into `tx`, `ahead` batches
    /// at a time.
    fn once(path: &Path, batch: BatchSize, tx: mpsc::Sender<Input>, ahead: usize) -> FileSource {
        let errors = prometheus::IntCounterVec::new(
            prometheus::Opts::new("errors", "test"),
            &["source", "kind"],
        )
        .unwrap();
        FileSource {
            patterns: vec![path.display().to_string()],
            once: true,
            poll: Duration::from_millis(10),
            out: Ahead::new(tx, ahead, errors.with_label_values(&[SOURCE, "commit"])),
            checkpoints: HashMap::new(),
            progress: None,
            damaged: Default::default(),
            errors,
            batch,
        }
    }

    /// The file is copied and truncated and written again, longer, while its first batch is
    /// being committed: the read that follows the commit starts again from the beginning.
    #[test]
    fn a_file_rewritten_during_a_commit_is_read_again_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.jsonl");
        std::fs::write(&path, line("old-1") + &line("old-2")).unwrap();
        let (tx, mut rx) = mpsc::channel(1);
        let src = once(&path, BatchSize::SMALL, tx, 1);
        let reader = std::thread::spawn(move || src.run(CancellationToken::new()));
        let mut batches = Vec::new();
        while let Some(mut input) = rx.blocking_recv() {
            batches.push(String::from_utf8(input.buf.clone()).unwrap());
            if batches.len() == 1 {
                let rewritten: String = (0..4).map(|i| line(&format!("new-{i}"))).collect();
                std::fs::write(&path, rewritten).unwrap();
            }
            let _ = input.ack.take().unwrap().send(Ok(Summary::default()));
        }
        reader.join().unwrap();
        let new: String = (0..4).map(|i| line(&format!("new-{i}"))).collect();
        assert_eq!(batches, [line("old-1") + &line("old-2"), new]);
    }

    /// A line whose last 64 bytes are the same for every id.
    fn padded(id: &str) -> String {
        format!(
            "{{\"requestId\":\"{id}\",\"pad\":\"{}\"}}\n",
            "x".repeat(100)
        )
    }

    /// Reads `path` once with `checkpoints` from a store; returns each batch's text and the
    /// last checkpoint sent.
    fn read_once(path: &Path, checkpoints: HashMap<String, String>) -> (Vec<String>, String) {
        let (tx, mut rx) = mpsc::channel(1);
        let mut src = once(path, BatchSize::SMALL, tx, 1);
        src.checkpoints = checkpoints;
        let reader = std::thread::spawn(move || src.run(CancellationToken::new()));
        let (mut batches, mut last) = (Vec::new(), String::new());
        while let Some(mut input) = rx.blocking_recv() {
            batches.push(String::from_utf8(input.buf.clone()).unwrap());
            last = input.checkpoints.last().unwrap().1.clone();
            let _ = input.ack.take().unwrap().send(Ok(Summary::default()));
        }
        reader.join().unwrap();
        (batches, last)
    }

    /// A file deleted after it was read, and a new one given its inode (the file system
    /// recycles them) that ends like it where its checkpoint was but starts otherwise: the
    /// new file is read whole, not resumed from the old one's offset. A file renamed after
    /// it was read is still resumed where it was.
    #[test]
    fn a_new_file_on_a_recycled_inode_is_not_taken_for_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.jsonl");
        let lines = |prefix: &str, n: usize| -> String {
            (0..n).map(|i| padded(&format!("{prefix}-{i}"))).collect()
        };
        std::fs::write(&old, lines("a", 3)).unwrap();
        let (_, cp) = read_once(&old, HashMap::new());

        // The file system gives a new file the old one's (device, inode): the store's
        // checkpoint now names the new file's inode.
        let new = dir.path().join("new.jsonl");
        std::fs::write(&new, lines("b", 3) + &lines("c", 2)).unwrap();
        let meta = std::fs::metadata(&new).unwrap();
        let mut recycled: Checkpoint = serde_json::from_str(&cp).unwrap();
        (recycled.dev, recycled.ino) = (meta.dev(), meta.ino());
        assert!(
            recycled
                .tail
                .is_some_and(|t| t.matches(&mut File::open(&new).unwrap(), recycled.offset)),
            "the test needs the new file to end like the old one at the checkpoint"
        );
        let stored = HashMap::from([(
            format!("{CHECKPOINT_PREFIX}{}", old.display()),
            serde_json::to_string(&recycled).unwrap(),
        )]);
        let (batches, _) = read_once(&new, stored);
        assert_eq!(batches, [lines("b", 3) + &lines("c", 2)]);

        // Renamed: same inode, same bytes; only what was appended since is read.
        let renamed = dir.path().join("old.jsonl.1");
        std::fs::rename(&old, &renamed).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&renamed)
            .unwrap()
            .write_all(lines("d", 1).as_bytes())
            .unwrap();
        let stored = HashMap::from([(format!("{CHECKPOINT_PREFIX}{}", old.display()), cp)]);
        let (batches, _) = read_once(&renamed, stored);
        assert_eq!(batches, [lines("d", 1)]);
    }

    /// The same for archives, whose checkpoint counts lines: a new archive on a read one's
    /// inode is read whole, not taken as read.
    #[test]
    fn a_new_archive_on_a_recycled_inode_is_not_taken_for_the_old_one() {
        let gz = |text: &str| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(text.as_bytes()).unwrap();
            e.finish().unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.json.gz");
        std::fs::write(&old, gz(&(padded("a-0") + &padded("a-1")))).unwrap();
        let (_, cp) = read_once(&old, HashMap::new());
        let new = dir.path().join("new.json.gz");
        std::fs::write(&new, gz(&(padded("b-0") + &padded("b-1")))).unwrap();
        let meta = std::fs::metadata(&new).unwrap();
        let mut recycled: Checkpoint = serde_json::from_str(&cp).unwrap();
        assert!(recycled.done);
        (recycled.dev, recycled.ino) = (meta.dev(), meta.ino());
        let stored = HashMap::from([(
            format!("{CHECKPOINT_PREFIX}{}", old.display()),
            serde_json::to_string(&recycled).unwrap(),
        )]);
        let (batches, _) = read_once(&new, stored);
        assert_eq!(batches.concat(), padded("b-0") + &padded("b-1"));
        // The read one, renamed: nothing more to read.
        let renamed = dir.path().join("old-1.json.gz");
        std::fs::rename(&old, &renamed).unwrap();
        let stored = HashMap::from([(format!("{CHECKPOINT_PREFIX}{}", old.display()), cp)]);
        let (batches, _) = read_once(&renamed, stored);
        assert_eq!(batches.concat(), "");
    }

    /// The lines of each batch a source with `batch` sends for `path`, read once.
    fn batch_lines(path: &Path, batch: BatchSize) -> Vec<usize> {
        let (tx, mut rx) = mpsc::channel(1);
        let src = once(path, batch, tx, AHEAD);
        let reader = std::thread::spawn(move || src.run(CancellationToken::new()));
        let mut lines = Vec::new();
        while let Some(mut input) = rx.blocking_recv() {
            lines.push(input.buf.iter().filter(|&&b| b == b'\n').count());
            let _ = input.ack.take().unwrap().send(Ok(Summary::default()));
        }
        reader.join().unwrap();
        lines
    }

    /// A PostgreSQL store gets batches of 4 MiB (fewer, larger commits), SQLite and the
    /// in-memory store of 1 MiB; a batch holds whole lines either way, and every line once.
    #[test]
    fn a_postgresql_store_reads_larger_batches() {
        use crate::config::{PgTarget, StateMode};
        let pg = StateMode::Postgres(PgTarget {
            url: "postgres://u@h/db".into(),
            password: None,
        });
        assert_eq!(BatchSize::for_state(&pg), BatchSize::LARGE);
        let dir = StateMode::Dir(PathBuf::from("/x"));
        assert_eq!(BatchSize::for_state(&dir), BatchSize::SMALL);
        assert_eq!(BatchSize::for_state(&StateMode::InMemory), BatchSize::SMALL);

        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("app.jsonl");
        // 40,000 lines of 74 bytes: 2.96 MB
        let text: String = (0..40_000).map(|i| line(&format!("{i:08}"))).collect();
        std::fs::write(&path, &text).unwrap();
        let small = batch_lines(&path, BatchSize::SMALL);
        let large = batch_lines(&path, BatchSize::LARGE);
        assert_eq!(small.len(), 3, "{small:?}");
        assert_eq!(large, [40_000]);
        assert_eq!(small.iter().sum::<usize>(), 40_000);
    }
}
