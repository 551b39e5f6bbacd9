//! The health of the PostgreSQL store's folds as [`Store::folds`] reports it, against a real
//! server: failed folds are counted, and the age of the oldest unfolded journal row (read by
//! the refresh) grows while no fold succeeds and falls back to 0 once one does, read on an
//! index however long the journal grew. SQLite has no journal and reports nothing.

use std::time::{Duration, Instant};

use super::super::*;
use super::{keyed_plan, loaded, open, refresh, shared, sql};

/// Makes every fold on the database fail (a fold marks its rows folded; commits only insert).
pub(crate) const BREAK_FOLDS: &str = "CREATE FUNCTION no_folds() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'folds are broken by the test'; END $$; \
     CREATE TRIGGER no_folds BEFORE UPDATE ON journal FOR EACH STATEMENT EXECUTE FUNCTION no_folds();";

/// Waits until `done` holds, for at most 20 s (the fold thread looks every 5 s).
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(20), "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn pg_failed_folds_are_counted_and_the_unfolded_age_grows_until_one_succeeds() {
    let url = shared().database();
    let mut s = open(&url);
    // every commit makes a fold due
    s.set_journal(1, Duration::from_secs(600));
    let mut l = loaded(&mut s);
    let folds = |s: &PgStore| s.folds().expect("PostgreSQL has a journal");
    assert_eq!(
        folds(&s),
        Folds {
            failed: 0,
            unfolded_age: None
        },
        "no fold tried and no refresh yet"
    );
    refresh(&mut s, &mut l);
    assert_eq!(folds(&s).unfolded_age, Some(0.0), "an empty journal");

    sql(&url, BREAK_FOLDS);
    commit_one(&mut s, &mut l, "x", &[], 1000);
    wait_for("no failed fold counted", || folds(&s).failed >= 1);
    std::thread::sleep(Duration::from_millis(300));
    refresh(&mut s, &mut l);
    let first = folds(&s).unfolded_age.unwrap();
    assert!(
        first >= 0.3,
        "the row is unfolded since the commit: {first}"
    );
    std::thread::sleep(Duration::from_millis(300));
    refresh(&mut s, &mut l);
    let later = folds(&s).unfolded_age.unwrap();
    assert!(later >= first + 0.3, "{first} then {later}");
    // later commits leave the oldest row where it was, and every fold they wake fails too
    let failed = folds(&s).failed;
    commit_one(&mut s, &mut l, "y", &[], 1000);
    wait_for("the next fold did not fail", || folds(&s).failed > failed);
    refresh(&mut s, &mut l);
    assert!(folds(&s).unfolded_age.unwrap() >= later);

    // folds work again: the next look folds every row, and the count stays where it was
    sql(&url, "DROP TRIGGER no_folds ON journal");
    wait_for("the journal was never folded", || {
        refresh(&mut s, &mut l);
        folds(&s).unfolded_age == Some(0.0)
    });
    let failed = folds(&s).failed;
    commit_one(&mut s, &mut l, "z", &[], 1000);
    wait_for("the fold after the commit did not happen", || {
        refresh(&mut s, &mut l);
        folds(&s).unfolded_age == Some(0.0)
    });
    assert_eq!(folds(&s).failed, failed);
}

/// A replica that only reads never folds: it counts no failure, and still sees the age.
#[test]
fn pg_a_replica_that_does_not_fold_counts_nothing_and_sees_the_age() {
    let url = shared().database();
    let mut writer = open(&url);
    writer.set_journal(1_000_000, Duration::from_secs(600));
    let mut lw = loaded(&mut writer);
    let mut reader = open(&url);
    let mut lr = loaded(&mut reader);
    commit_one(&mut writer, &mut lw, "x", &[], 1000);
    std::thread::sleep(Duration::from_millis(200));
    refresh(&mut reader, &mut lr);
    let folds = reader.folds().unwrap();
    assert_eq!(folds.failed, 0);
    assert!(folds.unfolded_age.unwrap() >= 0.2, "{folds:?}");
}

/// A long stall leaves many unfolded rows: the refresh's read of the oldest one's age still
/// takes one index entry, not a scan of them all.
#[test]
fn pg_the_unfolded_age_is_read_on_the_index_whatever_the_journal_holds() {
    let url = shared().database();
    drop(open(&url));
    let mut c = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    c.batch_execute(
        "INSERT INTO journal (writer, deltas, folded) SELECT 'w', '\\x', i < 50000 FROM generate_series(1, 100000) AS i; ANALYZE journal",
    )
    .unwrap();
    let plan = keyed_plan(
        &mut c,
        super::super::pg_journal::PRUNED_AND_UNFOLDED_AGE,
        &[],
    );
    assert!(
        plan.contains("Limit") && plan.contains("Index Scan using journal_unfolded"),
        "{plan}"
    );
    assert!(
        !plan.contains("Seq Scan on journal") && !plan.contains("Sort"),
        "{plan}"
    );
}

#[test]
fn sqlite_reports_no_folds() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(s.folds(), None);
}

/// A replica no batch reaches folds the rows others left unfolded (a `run --once` backfill,
/// a replica that stopped): its fold thread starts with its first refresh, not only with its
/// first commit.
#[test]
fn pg_a_replica_that_only_refreshes_folds_rows_others_left_unfolded() {
    let url = shared().database();
    let unfolded = || {
        let mut c = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
        let q = "SELECT count(*) FROM journal WHERE NOT folded";
        c.query_one(q, &[]).unwrap().get::<_, i64>(0)
    };
    let mut writer = open(&url);
    // a writer that never folds, as a `run --once` that exits first
    writer.set_journal(1_000_000, Duration::from_secs(600));
    let mut l = loaded(&mut writer);
    commit_one(&mut writer, &mut l, "x", &[], 1000);
    commit_one(&mut writer, &mut l, "y", &[], 1000);
    drop(writer);
    assert_eq!(unfolded(), 2);

    let mut reader = open(&url);
    reader.set_journal(1, Duration::from_secs(600));
    let mut l = loaded(&mut reader);
    refresh(&mut reader, &mut l);
    wait_for("the reader did not fold the writer's rows", || {
        unfolded() == 0
    });
    assert_eq!(reader.folds().unwrap().failed, 0);
}

/// A fold under way when its store is dropped commits before the drop returns, also inside
/// the daemon's runtime (a `run --once` that exits, a replica that stops): before, it was
/// rolled back with the process, and a store only `run --once` backfills wrote never folded.
#[test]
fn pg_a_fold_under_way_when_its_store_is_dropped_is_finished_first() {
    let url = shared().database();
    let count = |q: &str| {
        let mut c = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
        c.query_one(q, &[]).unwrap().get::<_, i64>(0)
    };
    let mut s = open(&url);
    s.set_journal(1, Duration::from_secs(600));
    let mut l = loaded(&mut s);
    // The fold's first statement waits for this lock, released half a second after the drop
    // starts: a drop that does not wait for the fold returns while it is still held.
    let mut holder = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    (holder.batch_execute("BEGIN; LOCK TABLE daily_journal IN ACCESS EXCLUSIVE MODE")).unwrap();
    commit_one(&mut s, &mut l, "x", &[], 1000);
    wait_for("the fold never started", || {
        count("SELECT count(*) FROM pg_locks WHERE relation = 'daily_journal'::regclass AND NOT granted") > 0
    });
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        holder.batch_execute("ROLLBACK").unwrap();
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move { drop(s) });
    assert_eq!(
        count("SELECT count(*) FROM journal WHERE NOT folded"),
        0,
        "the drop did not wait for the fold"
    );
    release.join().unwrap();
}
