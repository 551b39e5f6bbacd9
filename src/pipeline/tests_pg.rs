//! The pipeline on a shared PostgreSQL store, driven by `run` as the daemon drives it: the
//! conflict retry, the refreshes that bring in what another replica committed, and the
//! fold metrics they bring up to date.

use super::*;
use crate::budgets::Budgets;
use crate::store::tests::pg::{shared, sql};
use crate::store::{Adopt, NoSeries, PgStore, SeriesRow};
use tokio::sync::{mpsc, watch};

/// A real PostgreSQL store whose commits lose a real race: before each of the first `races`
/// commits, another replica (a second store on the same database) commits the first of the
/// batch's dedupe keys. It counts its lookups (`seen` calls), and says it refuses taken keys
/// (as the PostgreSQL store does) only if `skips`: the tests of the race look every key up.
struct Raced {
    inner: PgStore,
    other: PgStore,
    races: usize,
    skips: bool,
    lookups: Arc<std::sync::atomic::AtomicUsize>,
}

impl Raced {
    fn new(url: &str, races: usize, skips: bool) -> Raced {
        Raced {
            inner: PgStore::open(url, None).unwrap(),
            other: PgStore::open(url, None).unwrap(),
            races,
            skips,
            lookups: Default::default(),
        }
    }
}

impl Store for Raced {
    fn load(
        &mut self,
        series: &mut dyn FnMut(SeriesRow<'_>),
    ) -> Result<HashMap<String, String>, StoreError> {
        self.inner.load(series)
    }
    fn seen(&mut self, keys: &[DedupeKey]) -> Result<Vec<bool>, StoreError> {
        (self.lookups).fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.seen(keys)
    }
    fn refuses_taken_keys(&self) -> bool {
        self.skips && self.inner.refuses_taken_keys()
    }
    fn commit(&mut self, c: &Commit<'_>) -> Result<(), StoreError> {
        if self.races > 0 && !c.dedupe.is_empty() {
            self.races -= 1;
            self.other.commit(&Commit {
                created: Vec::new(),
                values: &[],
                all: &NoSeries,
                removed: &[],
                dedupe: &c.dedupe[..1],
                checkpoints: &[],
                drop_checkpoints: &[],
                now: c.now,
                purge_before: None,
                daily: &Deltas::default(),
                daily_before: None,
                fence: None,
            })?;
        }
        self.inner.commit(c)
    }
    fn refresh(&mut self, adopt: &mut Adopt<'_>) -> Result<Option<usize>, StoreError> {
        self.inner.refresh(adopt)
    }
    fn folds(&self) -> Option<crate::store::Folds> {
        self.inner.folds()
    }
}

fn records(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| format!("{{\"timestamp\":\"2026-11-03T00:00:00Z\",\"region\":\"us-east-1\",\"requestId\":\"{id}\",\"modelId\":\"amazon.nova-micro-v1:0\",\"identity\":{{\"arn\":\"arn:aws:iam::1:user/ann\"}},\"input\":{{\"inputTokenCount\":1000}}}}\n"))
        .collect()
}

/// The pipeline's thread as the daemon runs it, and what the test talks to it with.
struct Running {
    runtime: tokio::runtime::Runtime,
    tx: Option<mpsc::Sender<Input>>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    health: crate::metrics::Health,
    metrics: crate::metrics::Metrics,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    fn start(url: &str, races: usize) -> Running {
        Running::with(Raced::new(url, races, false))
    }

    fn with(store: Raced) -> Running {
        let (p, _) = Pipeline::open(ctx(1000), Box::new(store)).unwrap();
        let (snap_tx, snapshots) = watch::channel(Arc::new(p.snapshot(None)));
        let metrics = crate::metrics::Metrics::new(
            snapshots.clone(),
            Budgets::default(),
            Clock::fixed(2_000_000_000),
        );
        let health = metrics.health.clone();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (tx, rx) = mpsc::channel(4);
        let h = health.clone();
        let done = runtime.spawn_blocking(move || run(p, rx, snap_tx, h, None, false));
        Running {
            runtime,
            tx: Some(tx),
            snapshots,
            health,
            metrics,
            done: Some(done),
        }
    }

    fn send(&self, text: &str) -> Result<Summary, crate::batch::Refused> {
        let mut batch = input(text);
        let (ack, answer) = tokio::sync::oneshot::channel();
        batch.ack = Some(ack);
        let tx = self.tx.as_ref().unwrap();
        self.runtime.block_on(async {
            tx.send(batch).await.unwrap();
            answer.await.unwrap()
        })
    }

    fn conflicts(&self) -> u64 {
        self.health
            .commit_errors
            .with_label_values(&["conflict"])
            .get()
    }

    fn ledger_cost(&self) -> Decimal {
        let snap = self.snapshots.borrow().clone();
        let cost = snap.ledger().sum(Metric::Cost, &[]);
        cost
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(done) = self.done.take() {
            self.runtime.block_on(done).unwrap();
        }
    }
}

#[test]
fn pg_a_batch_that_loses_a_race_is_processed_again_and_counts_that_request_once() {
    let url = shared().database();
    let p = Running::start(&url, 1);
    let s = p.send(&records(&["r1", "r2"])).unwrap();
    // the other replica committed r1 first: r1 is a duplicate here, r2 is counted
    assert_eq!((s.accepted, s.duplicates), (1, 1), "{s:?}");
    assert_eq!(p.conflicts(), 1);
    assert!(p.snapshots.borrow().store_writable);
    let one = p.ledger_cost();
    assert!(one > Decimal::ZERO);
    // a batch that keeps losing is refused after three attempts, as a conflict, and the
    // store stays writable (ready)
    drop(p);
    let p = Running::start(&url, 3);
    let refused = p.send(&records(&["r3", "r4", "r5", "r6"])).unwrap_err();
    assert_eq!(refused.error.kind(), "conflict", "{}", refused.error);
    assert_eq!(p.conflicts(), 3);
    assert!(p.snapshots.borrow().store_writable);
    // retried by its source, it counts what no one else did
    let s = p.send(&records(&["r3", "r4", "r5", "r6"])).unwrap();
    assert_eq!((s.accepted, s.duplicates), (1, 3), "{s:?}");
}

/// The lookups a pipeline has made so far.
fn lookups(r: &Arc<std::sync::atomic::AtomicUsize>) -> usize {
    r.load(std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn pg_batches_skip_the_key_lookups_until_a_commit_meets_a_taken_key() {
    let url = shared().database();
    let store = Raced::new(&url, 0, true);
    let made = store.lookups.clone();
    let (mut p, _) = Pipeline::open(ctx(1000), Box::new(store)).unwrap();
    let t = 2_000_000_000;
    let s = p.process(&input(&records(&["k1", "k2"])), t).unwrap();
    assert_eq!((s.accepted, s.duplicates, lookups(&made)), (2, 0, 0));
    let two = p.ledger().sum(Metric::Cost, &[]);
    // Not looked up, k2 reaches the commit, which refuses the batch whole.
    let e = p.process(&input(&records(&["k2", "k3"])), t).unwrap_err();
    assert_eq!(e.kind(), "conflict", "{e}");
    assert_eq!(p.ledger().sum(Metric::Cost, &[]), two, "nothing of it kept");
    // From then on batches look their keys up, for LOOKUPS_AFTER_CONFLICT seconds.
    let s = p.process(&input(&records(&["k2", "k3"])), t + 1).unwrap();
    assert_eq!((s.accepted, s.duplicates, lookups(&made)), (1, 1, 1));
    let last = t + LOOKUPS_AFTER_CONFLICT - 1;
    p.process(&input(&records(&["k4"])), last).unwrap();
    assert_eq!(lookups(&made), 2);
    let s = p.process(&input(&records(&["k5"])), last + 1).unwrap();
    assert_eq!((s.accepted, lookups(&made)), (1, 2), "skipped again");
    assert_eq!(
        p.ledger().sum(Metric::Cost, &[]),
        two * Decimal::from(5) / Decimal::from(2)
    );
}

#[test]
fn pg_an_attempt_without_lookups_is_not_one_of_the_three_a_race_gets() {
    let url = shared().database();
    let store = Raced::new(&url, 3, true);
    let made = store.lookups.clone();
    let p = Running::with(store);
    // Each of the first three commits loses a race: the first attempt (no lookups) is not
    // counted, so the three attempts a race gets still follow, and the last one commits.
    // Counted, it would be the third, and the batch refused.
    let s = p.send(&records(&["d1", "d2", "d3", "d4"])).unwrap();
    assert_eq!((s.accepted, s.duplicates), (1, 3), "{s:?}");
    assert_eq!((p.conflicts(), lookups(&made)), (3, 3));
}

#[test]
fn pg_an_idle_pipeline_refreshes_what_another_replica_commits_within_seconds() {
    let url = shared().database();
    let a = Running::start(&url, 0);
    let b = Running::start(&url, 0);
    let no_labels: &[&str] = &[];
    let s = a.send(&records(&["x1", "x2", "x3"])).unwrap();
    assert_eq!(s.accepted, 3);
    let want = a.ledger_cost();
    // b gets no batch: it refreshes on its own, at least every second
    let started = Instant::now();
    while b.ledger_cost() != want {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "b still shows {} of {want}",
            b.ledger_cost()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let at = b.health.last_refresh.with_label_values(no_labels).get();
    assert_eq!(
        at, 2_000_000_000,
        "the last refresh's time, from the daemon's clock"
    );
    let kinds = ["io", "corrupt", "disk_full"];
    for k in kinds {
        assert_eq!(b.health.refresh_errors.with_label_values(&[k]).get(), 0);
    }
    // b counts on from the refreshed totals: the database holds both
    let s = b.send(&records(&["x3", "y1"])).unwrap();
    assert_eq!((s.accepted, s.duplicates), (1, 1));
    assert!(b.ledger_cost() > want);
    let both = b.ledger_cost();
    let started = Instant::now();
    while a.ledger_cost() != both {
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The database goes away: refreshes fail (counted, no panic) and the replica keeps showing
/// its last view; a refresh alone does not refuse batches, a failed commit does, and all of
/// it recovers when the database is back.
#[test]
fn pg_a_failed_refresh_is_counted_and_the_replica_keeps_its_last_view() {
    let server = crate::store::tests::pg::Server::start();
    let url = server.database();
    let p = Running::start(&url, 0);
    assert_eq!(p.send(&records(&["d1"])).unwrap().accepted, 1);
    let view = p.ledger_cost();
    server.stop();
    let io = || p.health.refresh_errors.with_label_values(&["io"]).get();
    let started = Instant::now();
    while io() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no failed refresh counted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(p.ledger_cost(), view);
    assert!(p.snapshots.borrow().store_writable);
    let refused = p.send(&records(&["d2"])).unwrap_err();
    assert_eq!(refused.error.kind(), "io");
    assert!(!p.snapshots.borrow().store_writable);
    server.restart();
    assert_eq!(p.send(&records(&["d2"])).unwrap().accepted, 1);
    assert!(p.snapshots.borrow().store_writable);
    assert!(p.ledger_cost() > view);
}

/// Folds fail on the database (a trigger refuses them): this replica's fold errors count
/// up and the age of the oldest unfolded row grows on /metrics; once folds work again the
/// age is back to 0 and the count stops. Both series are there from the first refresh.
#[test]
fn pg_failed_folds_show_in_the_fold_metrics_until_folds_work_again() {
    let url = shared().database();
    let mut store = Raced::new(&url, 0, false);
    // every commit makes a fold due
    store.inner.set_journal(1, Duration::from_secs(600));
    let p = Running::with(store);
    let no_labels: &[&str] = &[];
    let errors = || p.health.fold_errors.with_label_values(no_labels).get();
    let age = || p.health.unfolded_age.with_label_values(no_labels).get();
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < Duration::from_secs(20), "{what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for("no refresh exposed the fold metrics", &|| {
        let m = p.metrics.render();
        m.contains("\nbedrock_store_fold_errors_total 0\n")
            && m.contains("\nbedrock_store_unfolded_journal_age_seconds 0\n")
    });

    sql(&url, crate::store::tests::pg::fold::BREAK_FOLDS);
    assert_eq!(p.send(&records(&["f1"])).unwrap().accepted, 1);
    wait_for("no failed fold counted", &|| errors() >= 1);
    wait_for("the unfolded age did not grow", &|| age() >= 1.5);
    // commits go on meanwhile
    assert_eq!(p.send(&records(&["f2"])).unwrap().accepted, 1);
    wait_for("the second fold did not fail", &|| errors() >= 2);

    sql(&url, "DROP TRIGGER no_folds ON journal");
    wait_for("the journal was never folded", &|| age() == 0.0);
    let failed = errors();
    assert_eq!(p.send(&records(&["f3"])).unwrap().accepted, 1);
    std::thread::sleep(Duration::from_millis(1500));
    wait_for("the fold after the commit did not happen", &|| age() == 0.0);
    assert_eq!(errors(), failed);
}
