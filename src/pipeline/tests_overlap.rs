//! Batches committed in groups, and accounted while the commit before them is written
//! (`drive.rs`), on a real PostgreSQL store: the totals are those of processing the batches
//! one after the other, a failed commit undoes the group accounted beside it too, and a
//! request twice in one group, or in the group still being written, counts once.

use super::*;
use crate::budgets::Budgets;
use crate::pipeline::drive::{chain, Chained, Outlets, Queue};
use crate::store::tests::pg::shared;
use crate::store::{PgStore, SeriesRow};

/// A PostgreSQL store whose next `fail` writes of a prepared commit fail (the commit is not
/// made), as a database that went away does, and whose writes take `slow` longer (so that a
/// test sees the next batch accounted while one is written).
struct Flaky {
    inner: PgStore,
    fail: usize,
    slow: Duration,
}

impl Flaky {
    fn new(url: &str, fail: usize) -> Flaky {
        Flaky {
            inner: PgStore::open(url, None).unwrap(),
            fail,
            slow: Duration::ZERO,
        }
    }
}

impl Store for Flaky {
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
        self.inner.commit(c)
    }
    fn prepare(&mut self, c: &Commit<'_>) -> Option<Prepared> {
        self.inner.prepare(c)
    }
    fn write(&mut self, p: Prepared) -> Result<(), StoreError> {
        std::thread::sleep(self.slow);
        if self.fail > 0 {
            self.fail -= 1;
            return Err(StoreError::Io("the database went away".into()));
        }
        self.inner.write(p)
    }
}

/// Calls of `user` with the request ids `ids`.
fn calls(user: &str, ids: &[&str]) -> String {
    ids.iter()
        .map(|id| format!("{{\"timestamp\":\"2026-11-03T00:00:00Z\",\"region\":\"us-east-1\",\"requestId\":\"{id}\",\"modelId\":\"amazon.nova-micro-v1:0\",\"identity\":{{\"arn\":\"arn:aws:iam::1:user/{user}\"}},\"input\":{{\"inputTokenCount\":1000}},\"output\":{{\"outputTokenCount\":10}}}}\n"))
        .collect()
}

/// Every series as (metric, labels) -> value.
type View = HashMap<(Metric, Vec<(String, String)>), i128>;

fn view(l: &Ledger) -> View {
    crate::ledger::tests::by_labels(l)
}

/// The total cost of every call in a view.
fn cost(v: &View) -> i128 {
    v.iter()
        .filter(|((m, _), _)| *m == Metric::Cost)
        .map(|(_, v)| *v)
        .sum()
}

/// The totals of `texts` processed one after the other into an empty SQLite store.
fn one_by_one(texts: &[&str]) -> View {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let (mut p, _) = Pipeline::open(ctx(1000), Box::new(store)).unwrap();
    for t in texts {
        p.process(&input(t), 2_000_000_000).unwrap();
    }
    let v = view(&p.ledger());
    v
}

/// The daily totals of `texts` processed one after the other into an empty SQLite store.
fn daily_one_by_one(texts: &[&str]) -> crate::daily::DailyTotals {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let (mut p, _) = Pipeline::open(ctx(1000), Box::new(store)).unwrap();
    for t in texts {
        p.process(&input(t), 2_000_000_000).unwrap();
    }
    drop(p);
    crate::store::read_daily(dir.path(), None, None).unwrap()
}

/// The totals the database holds, as a replica starting on it loads them.
fn stored(url: &str) -> View {
    let (p, _) = Pipeline::open(ctx(1000), Box::new(PgStore::open(url, None).unwrap())).unwrap();
    let v = view(&p.ledger());
    v
}

type Answer = tokio::sync::oneshot::Receiver<Result<Summary, crate::batch::Refused>>;

/// A batch of `text` with its acknowledgement.
fn batch(text: &str) -> (Input, Answer) {
    let mut b = input(text);
    let (ack, answer) = tokio::sync::oneshot::channel();
    b.ack = Some(ack);
    (b, answer)
}

/// A pipeline on `store` and where its outcomes go.
fn open(store: Flaky) -> (Pipeline, Outlets) {
    let (p, _) = Pipeline::open(ctx(1000), Box::new(store)).unwrap();
    let (snapshots, view) = tokio::sync::watch::channel(Arc::new(p.snapshot(None)));
    let metrics = crate::metrics::Metrics::new(view, Budgets::default(), Clock::fixed(0));
    let out = Outlets {
        snapshots,
        health: metrics.health.clone(),
        exporter: None,
        trip: false,
    };
    (p, out)
}

/// Runs a chain from the first of `texts`, the others waiting on the channel; also returns
/// the batches left to process again.
fn run_chain(
    p: &mut Pipeline,
    out: &Outlets,
    texts: &[String],
) -> (Chained, Vec<Answer>, Vec<Input>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(texts.len());
    let mut answers = Vec::new();
    let mut first = None;
    for t in texts {
        let (b, a) = batch(t);
        answers.push(a);
        match first {
            None => first = Some(b),
            Some(_) => tx.try_send(b).map_err(|_| "room").unwrap(),
        }
    }
    let mut queue = Queue {
        again: Default::default(),
        rx: &mut rx,
    };
    let chained = chain(p, first.unwrap(), &mut queue, out);
    let again = queue.again.into_iter().collect();
    (chained, answers, again)
}

/// `n` batches of one call each, by `n` users (request ids `r0`, `r1`, ...).
fn singles(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| calls(&format!("u{i}"), &[&format!("r{i}")]))
        .collect()
}

fn accepted(answers: Vec<Answer>) -> Vec<u64> {
    answers
        .into_iter()
        .map(|mut a| a.try_recv().unwrap().unwrap().accepted)
        .collect()
}

fn strs(texts: &[String]) -> Vec<&str> {
    texts.iter().map(String::as_str).collect()
}

#[test]
fn pg_waiting_batches_commit_in_groups_the_next_accounted_beside_and_total_exactly() {
    let url = shared().database();
    let store = Flaky {
        slow: Duration::from_millis(300),
        ..Flaky::new(&url, 0)
    };
    let (mut p, out) = open(store);
    // 70 batches waiting: a group of 64, then one of 6 accounted while the first is written.
    let texts = singles(70);
    let (chained, answers, again) = run_chain(&mut p, &out, &texts);
    assert_eq!(chained.commits, 2);
    assert_eq!(chained.beside, 6);
    assert_eq!(
        chained.overlapped, 6,
        "accounted while the commit before was written"
    );
    assert!(again.is_empty());
    assert_eq!(accepted(answers), vec![1; 70]);
    let expected = one_by_one(&strs(&texts));
    assert!(cost(&expected) > 0);
    assert_eq!(view(&p.ledger()), expected);
    drop(p);
    assert_eq!(stored(&url), expected, "the database holds the same");
    // The daily totals too (a group's rows are appended into one commit).
    let mut db = PgStore::open(&url, None).unwrap();
    let daily = db.daily(None, None).unwrap();
    assert!(!daily.principals.is_empty());
    assert_eq!(daily, daily_one_by_one(&strs(&texts)));
}

#[test]
fn pg_a_failed_commit_refuses_its_group_and_undoes_the_one_beside_it_which_is_processed_again() {
    let url = shared().database();
    let (mut p, out) = open(Flaky::new(&url, 1));
    let texts = singles(66);
    let (chained, mut answers, again) = run_chain(&mut p, &out, &texts);
    assert_eq!((chained.commits, chained.beside), (2, 2));
    for a in &mut answers[..64] {
        let refused = a.try_recv().unwrap().unwrap_err();
        assert_eq!(refused.error.kind(), "io");
    }
    assert!(p.ledger().is_empty(), "no batch is in the totals");
    assert!(
        answers[64].try_recv().is_err(),
        "the group beside it is not answered yet"
    );
    assert_eq!(again.len(), 2);
    // The daemon processes them again next: they count as if they came alone.
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    drop(tx);
    let mut queue = Queue {
        again: again.into(),
        rx: &mut rx,
    };
    let first = queue.again.pop_front().unwrap();
    let chained = chain(&mut p, first, &mut queue, &out);
    assert_eq!((chained.commits, chained.beside), (1, 0));
    assert_eq!(accepted(answers.split_off(64)), [1, 1]);
    let expected = one_by_one(&strs(&texts[64..]));
    assert_eq!(view(&p.ledger()), expected);
    drop(p);
    assert_eq!(stored(&url), expected);
}

#[test]
fn pg_a_request_twice_in_a_group_or_in_the_group_being_written_counts_once() {
    let url = shared().database();
    let (mut p, out) = open(Flaky::new(&url, 0));
    // r1 in batches 0 and 1 (one group), r0 in batch 0 and batch 64 (the next group,
    // accounted while the first is written, without looking its keys up).
    let mut texts = singles(65);
    texts[1] = calls("u1", &["r1", "r0"]);
    texts[64] = calls("u64", &["r64", "r0"]);
    let (chained, mut answers, _) = run_chain(&mut p, &out, &texts);
    assert_eq!((chained.commits, chained.beside), (2, 1));
    let s = answers[1].try_recv().unwrap().unwrap();
    assert_eq!((s.accepted, s.duplicates), (1, 1), "{s:?}");
    // Its commit met r0, and it was processed again.
    let s = answers[64].try_recv().unwrap().unwrap();
    assert_eq!((s.accepted, s.duplicates), (1, 1), "{s:?}");
    let conflicts = out.health.commit_errors.with_label_values(&["conflict"]);
    assert_eq!(conflicts.get(), 1);
    let expected = one_by_one(&strs(&singles(65)));
    assert_eq!(cost(&view(&p.ledger())), cost(&expected));
    drop(p);
    assert_eq!(cost(&stored(&url)), cost(&expected));
}

#[test]
fn pg_a_delivery_committed_before_or_twice_in_a_group_counts_once() {
    let url = shared().database();
    let (mut p, out) = open(Flaky::new(&url, 0));
    let delivery = |ids: &[&str]| {
        let (mut b, answer) = batch(&calls("ann", ids));
        b.batch_key = Some(crate::store::dedupe_key("firehose", b"request-1"));
        (b, answer)
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let mut queue = Queue {
        again: Default::default(),
        rx: &mut rx,
    };
    // The same request twice in one group (a retry that came before the first's answer).
    let (first, mut answer) = delivery(&["f1", "f2"]);
    let (retry, mut retried) = delivery(&["f1", "f2"]);
    tx.try_send(retry).map_err(|_| "room").unwrap();
    let chained = chain(&mut p, first, &mut queue, &out);
    assert_eq!(chained.commits, 1);
    assert_eq!(answer.try_recv().unwrap().unwrap().accepted, 2);
    let s = retried.try_recv().unwrap().unwrap();
    assert_eq!((s.accepted, s.duplicates), (0, 2), "{s:?}");
    let once = view(&p.ledger());
    // Again later (here with other records): its key is not looked up first, so its commit
    // is refused, and processed again it is a duplicate.
    let (retry, mut answer) = delivery(&["f3"]);
    chain(&mut p, retry, &mut queue, &out);
    let s = answer.try_recv().unwrap().unwrap();
    assert_eq!((s.accepted, s.duplicates), (0, 1), "{s:?}");
    let conflicts = out.health.commit_errors.with_label_values(&["conflict"]);
    assert_eq!(conflicts.get(), 1);
    assert_eq!(cost(&view(&p.ledger())), cost(&once));
    assert!(cost(&once) > 0);
}
