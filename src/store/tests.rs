use super::*;
use crate::ledger::{Ledger, Limits};
use crate::store::NoSeries;

fn ledger() -> Ledger {
    Ledger::new(&Limits::uniform(100, &["user"], 100))
}

/// Adds to one series in a batch and commits it, as the pipeline does.
fn commit_one(store: &mut SqliteStore, l: &mut Ledger, user: &str, keys: &[DedupeKey], now: i64) {
    l.begin();
    l.add_named(Metric::Cost, &[("user", user), ("model", "m")], 5);
    let ch = l.changes();
    let cps = [("file:/x".to_string(), "{\"offset\":10}".to_string())];
    store
        .commit(&Commit {
            created: l.new_series(&ch.created),
            values: &ch.values,
            all: &*l,
            removed: &ch.removed,
            dedupe: keys,
            checkpoints: &cps,
            now,
            purge_before: Some(now - 100),
        })
        .unwrap();
    l.keep();
}

/// Stored series as (id, metric, labels, value).
type Rows = Vec<(u32, Metric, Vec<(String, String)>, i128)>;

fn load(store: &mut SqliteStore) -> (Rows, HashMap<String, String>) {
    let mut rows = Vec::new();
    let cps = store
        .load(&mut |r| {
            let labels = r
                .labels
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            rows.push((r.id, r.metric, labels, r.value));
        })
        .unwrap();
    (rows, cps)
}

#[test]
fn committed_batches_load_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = ledger();
    {
        let mut s = SqliteStore::open(dir.path()).unwrap();
        commit_one(&mut s, &mut l, "a", &[dedupe_key("req", b"1")], 1000);
        commit_one(&mut s, &mut l, "a", &[dedupe_key("req", b"2")], 1000);
        commit_one(&mut s, &mut l, "b", &[], 1000);
    }
    let mut s = SqliteStore::open(dir.path()).unwrap();
    let (rows, cps) = load(&mut s);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].0, 0);
    assert_eq!(rows[0].3, 10);
    assert_eq!(
        rows[1].2,
        [
            ("user".to_string(), "b".to_string()),
            ("model".into(), "m".into())
        ]
    );
    assert_eq!(cps["file:/x"], "{\"offset\":10}");
    assert_eq!(
        s.seen(&[dedupe_key("req", b"1"), dedupe_key("req", b"3")])
            .unwrap(),
        [true, false]
    );
}

#[test]
fn a_folded_journal_loads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = ledger();
    let mut s = SqliteStore::open(dir.path()).unwrap();
    for n in 0..50 {
        commit_one(&mut s, &mut l, &format!("u{}", n % 7), &[], 1000);
    }
    let before = load(&mut s).0;
    s.compact(0).unwrap();
    assert_eq!(
        s.conn()
            .query_row("SELECT COUNT(*) FROM journal", [], |r| r.get::<_, i64>(0))
            .unwrap(),
        0
    );
    drop(s);
    let mut s = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(load(&mut s).0, before);
}

#[test]
fn expired_dedupe_keys_are_purged() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(dir.path()).unwrap();
    let mut l = ledger();
    commit_one(&mut s, &mut l, "a", &[dedupe_key("req", b"old")], 1000);
    commit_one(&mut s, &mut l, "a", &[dedupe_key("req", b"new")], 1050);
    assert_eq!(
        s.seen(&[dedupe_key("req", b"old")]).unwrap(),
        [true],
        "inside the window"
    );
    commit_one(&mut s, &mut l, "a", &[], 1101);
    assert_eq!(
        s.seen(&[dedupe_key("req", b"old"), dedupe_key("req", b"new")])
            .unwrap(),
        [false, true]
    );
    assert_eq!(s.stats().unwrap().dedupe_keys, 1);
}

#[test]
fn a_second_process_cannot_open_the_same_directory() {
    let dir = tempfile::tempdir().unwrap();
    let _first = SqliteStore::open(dir.path()).unwrap();
    assert!(matches!(
        SqliteStore::open(dir.path()),
        Err(StoreError::Locked(_))
    ));
}

#[test]
fn a_corrupt_store_is_refused_not_reset() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(DB_FILE),
        b"this is not a sqlite file, it is garbage of some length........",
    )
    .unwrap();
    let err = SqliteStore::open(dir.path()).err().expect("refused");
    assert_eq!(err.kind(), "corrupt", "{err}");
    assert!(err.to_string().contains("--reset-state"), "{err}");
    let kept = reset(dir.path(), 42).unwrap().unwrap();
    assert!(kept.ends_with("state.db.reset-42"));
    SqliteStore::open(dir.path()).unwrap();
}

#[test]
fn a_full_disk_is_reported_as_such_and_nothing_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(dir.path()).unwrap();
    let page_count: i64 = s
        .conn()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    s.conn()
        .pragma_update(None, "max_page_count", page_count)
        .unwrap();
    let keys: Vec<DedupeKey> = (0..50_000u32)
        .map(|n| dedupe_key("req", &n.to_be_bytes()))
        .collect();
    let err = s
        .commit(&Commit {
            created: vec![],
            values: &[],
            all: &NoSeries,
            removed: &[],
            dedupe: &keys,
            checkpoints: &[],
            now: 1,
            purge_before: None,
        })
        .unwrap_err();
    assert_eq!(err.kind(), "disk_full", "{err}");
    assert_eq!(s.seen(&keys[..1]).unwrap(), [false]);
}

/// A store written by the previous layout (schema 1) upgrades in place: every series and
/// dedupe key is kept, and per-dimension totals are derived from the cross product.
#[test]
fn a_schema_1_store_is_upgraded_without_losing_a_cent() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        c.execute_batch(r#"
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
            INSERT INTO meta VALUES ('schema_version', '1');
            CREATE TABLE series (metric TEXT NOT NULL, labels TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (metric, labels)) WITHOUT ROWID;
            CREATE TABLE dedupe (key BLOB PRIMARY KEY, seen_at INTEGER NOT NULL) WITHOUT ROWID;
            CREATE INDEX dedupe_seen_at ON dedupe (seen_at);
            CREATE TABLE checkpoints (source TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
            INSERT INTO checkpoints VALUES ('file:/x', '42');
            INSERT INTO series VALUES ('bedrock_cost_usd_total', '[["user","a"],["feature","f"],["model","m1"],["team","t"]]', '0.0000035');
            INSERT INTO series VALUES ('bedrock_cost_usd_total', '[["user","a"],["feature","g"],["model","m2"],["team","t"]]', '1.5');
            INSERT INTO series VALUES ('bedrock_tokens_total', '[["user","a"],["feature","f"],["model","m1"],["token_type","input"]]', '700');
            INSERT INTO series VALUES ('bedrock_records_total', '[["source","file"],["result","accepted"]]', '2');
        "#).unwrap();
        c.execute(
            "INSERT INTO dedupe VALUES (?1, 5)",
            [&dedupe_key("req", b"x")[..]],
        )
        .unwrap();
    }
    let mut s = SqliteStore::open(dir.path()).unwrap();
    let (rows, cps) = load(&mut s);
    assert_eq!(cps["file:/x"], "42");
    let find = |metric: Metric, label: (&str, &str)| -> i128 {
        rows.iter()
            .filter(|r| r.1 == metric && r.2.iter().any(|(a, b)| a == label.0 && b == label.1))
            .map(|r| r.3)
            .sum()
    };
    let usd = |s: &str| crate::money::to_units(s.parse().unwrap(), 18).unwrap();
    assert_eq!(find(Metric::Cost, ("user", "a")), usd("1.5000035"));
    assert_eq!(find(Metric::UserCost, ("user", "a")), usd("1.5000035"));
    assert_eq!(find(Metric::FeatureCost, ("feature", "g")), usd("1.5"));
    assert_eq!(find(Metric::LabelCost, ("value", "t")), usd("1.5000035"));
    assert_eq!(find(Metric::UserTokens, ("user", "a")), 700);
    assert_eq!(find(Metric::Records, ("result", "accepted")), 2);
    assert_eq!(s.seen(&[dedupe_key("req", b"x")]).unwrap(), [true]);
    drop(s);
    // and it opens again as schema 2 without migrating twice
    let mut s = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(load(&mut s).0, rows);
}
