//! A file source that sends batches ahead of their commits (`sources/ahead.rs`), driven by
//! the daemon's pipeline loop on SQLite and on PostgreSQL (where the next batch is accounted
//! while the one before is written): when a commit fails with later batches already on
//! their way, none of them is committed before it, the checkpoint never moves past lines
//! not counted, and every call counts exactly once.

use std::path::Path;

use super::*;
use crate::sources::ahead::Ahead;
use crate::sources::file::{BatchSize, FileSource};
use crate::store::tests::pg::shared;
use crate::store::{PgStore, SeriesRow};

/// A store whose `fail_at`-th commit (1-based, whole or written) fails once, whose commits
/// take `slow` (so the source is ahead), and which logs the file checkpoints it committed,
/// in order.
struct Logged {
    inner: Box<dyn Store>,
    fail_at: usize,
    slow: Duration,
    commits: usize,
    /// Checkpoints of the last prepared commit. A commit is prepared only once the one
    /// before is written, and one prepared beside a failed write is dropped unwritten: the
    /// next prepared replaces it.
    pending: Vec<String>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Logged {
    fn new(inner: Box<dyn Store>, fail_at: usize) -> (Logged, Arc<Mutex<Vec<String>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let store = Logged {
            inner,
            fail_at,
            slow: Duration::from_millis(30),
            commits: 0,
            pending: Vec::new(),
            log: log.clone(),
        };
        (store, log)
    }

    /// Whether this commit is the one that fails.
    fn fails(&mut self) -> bool {
        std::thread::sleep(self.slow);
        self.commits += 1;
        self.commits == self.fail_at
    }
}

fn file_checkpoints(c: &Commit<'_>) -> Vec<String> {
    c.checkpoints
        .iter()
        .filter(|(k, _)| k.starts_with(crate::sources::file::CHECKPOINT_PREFIX))
        .map(|(_, v)| v.clone())
        .collect()
}

impl Store for Logged {
    fn load(
        &mut self,
        series: &mut dyn FnMut(SeriesRow<'_>),
    ) -> Result<HashMap<String, String>, StoreError> {
        self.inner.load(series)
    }
    fn seen(&mut self, keys: &[DedupeKey]) -> Result<Vec<bool>, StoreError> {
        self.inner.seen(keys)
    }
    fn refuses_taken_keys(&self) -> bool {
        self.inner.refuses_taken_keys()
    }
    fn commit(&mut self, c: &Commit<'_>) -> Result<(), StoreError> {
        if self.fails() {
            return Err(StoreError::Io("injected".into()));
        }
        self.inner.commit(c)?;
        self.log.lock().unwrap().extend(file_checkpoints(c));
        Ok(())
    }
    fn prepare(&mut self, c: &Commit<'_>) -> Option<Prepared> {
        let prepared = self.inner.prepare(c)?;
        self.pending = file_checkpoints(c);
        Some(prepared)
    }
    fn write(&mut self, p: Prepared) -> Result<(), StoreError> {
        let checkpoints = std::mem::take(&mut self.pending);
        if self.fails() {
            return Err(StoreError::Io("injected".into()));
        }
        self.inner.write(p)?;
        self.log.lock().unwrap().extend(checkpoints);
        Ok(())
    }
}

/// Every series as (metric, labels) -> value.
type View = HashMap<(crate::ledger::Metric, Vec<(String, String)>), i128>;

/// 200 calls, one per line, each with its own user and request id.
fn calls() -> String {
    (0..200)
        .map(|i| format!("{{\"timestamp\":\"2026-11-03T00:00:00Z\",\"region\":\"us-east-1\",\"requestId\":\"a{i}\",\"modelId\":\"amazon.nova-micro-v1:0\",\"identity\":{{\"arn\":\"arn:aws:iam::1:user/u{i}\"}},\"input\":{{\"inputTokenCount\":1000}},\"output\":{{\"outputTokenCount\":10}}}}\n"))
        .collect()
}

/// Reads `path` once into a pipeline on `store` driven as the daemon drives it, in batches
/// of about 20 lines sent 3 ahead; the source's summary and the pipeline's totals.
fn replay(path: &Path, store: Box<dyn Store>) -> (Summary, View) {
    let (p, checkpoints) = Pipeline::open(ctx(1000), store).unwrap();
    assert!(checkpoints.is_empty());
    let ledger = p.ledger.clone();
    let (snap_tx, snapshots) = tokio::sync::watch::channel(Arc::new(p.snapshot(None)));
    let metrics = crate::metrics::Metrics::new(
        snapshots,
        crate::budgets::Budgets::default(),
        Clock::fixed(2_000_000_000),
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let health = metrics.health.clone();
    let done = runtime.spawn_blocking(move || run(p, rx, snap_tx, health, None, false));
    let errors = prometheus::IntCounterVec::new(
        prometheus::Opts::new("errors", "test"),
        &["source", "kind"],
    )
    .unwrap();
    let src = FileSource {
        patterns: vec![path.display().to_string()],
        once: true,
        poll: Duration::from_millis(10),
        out: Ahead::new(
            tx,
            crate::sources::file::AHEAD,
            errors.with_label_values(&["file", "commit"]),
        ),
        checkpoints: HashMap::new(),
        progress: None,
        damaged: Default::default(),
        errors,
        batch: BatchSize {
            bytes: 20 * 240,
            lines: 20,
        },
    };
    let summary = src.run(tokio_util::sync::CancellationToken::new());
    runtime.block_on(done).unwrap();
    let view = crate::ledger::tests::by_labels(&ledger.read().unwrap());
    (summary, view)
}

/// The offsets of logged file checkpoints.
fn offsets(log: &[String]) -> Vec<u64> {
    log.iter()
        .map(|v| {
            serde_json::from_str::<serde_json::Value>(v).unwrap()["offset"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

/// What the test expects of a replay whose third commit failed: every call once, and the
/// checkpoints committed strictly in order up to the file's end.
fn check(summary: &Summary, view: &View, log: &[String], len: u64) {
    assert_eq!(
        (summary.accepted, summary.duplicates),
        (200, 0),
        "{summary:?}"
    );
    let text = calls();
    let state = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(state.path()).unwrap();
    let mut one = Pipeline::open(ctx(1000), Box::new(store)).unwrap().0;
    one.process(&input(&text), 2_000_000_000).unwrap();
    assert_eq!(view, &crate::ledger::tests::by_labels(&one.ledger()));
    let offsets = offsets(log);
    assert!(offsets.len() > 5, "{offsets:?}");
    assert!(
        offsets.windows(2).all(|w| w[0] < w[1]),
        "a checkpoint moved past a batch not committed: {offsets:?}"
    );
    assert_eq!(offsets.last(), Some(&len));
}

#[test]
fn a_file_sent_ahead_onto_sqlite_commits_in_order_after_a_failed_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calls.jsonl");
    std::fs::write(&path, calls()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let (store, log) = Logged::new(Box::new(SqliteStore::open(state.path()).unwrap()), 3);
    let (summary, view) = replay(&path, Box::new(store));
    check(&summary, &view, &log.lock().unwrap(), calls().len() as u64);
}

#[test]
fn pg_a_file_sent_ahead_commits_in_order_after_a_failed_commit_beside_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calls.jsonl");
    std::fs::write(&path, calls()).unwrap();
    let url = shared().database();
    let (store, log) = Logged::new(Box::new(PgStore::open(&url, None).unwrap()), 3);
    let (summary, view) = replay(&path, Box::new(store));
    check(&summary, &view, &log.lock().unwrap(), calls().len() as u64);
    // The database holds the same totals and the file's last checkpoint.
    let (p, checkpoints) =
        Pipeline::open(ctx(1000), Box::new(PgStore::open(&url, None).unwrap())).unwrap();
    assert_eq!(crate::ledger::tests::by_labels(&p.ledger()), view);
    let stored: Vec<String> = checkpoints.into_values().collect();
    assert_eq!(offsets(&stored), [calls().len() as u64]);
}
