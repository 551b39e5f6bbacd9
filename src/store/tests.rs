use super::*;
use crate::daily::{DailyTotals, Deltas};
use crate::ledger::{Ledger, Limits};
use crate::store::NoSeries;

fn ledger() -> Ledger {
    Ledger::new(&Limits::uniform(100, &["user"], 100))
}

#[path = "tests_pg.rs"]
pub(crate) mod pg;

/// Adds to one series in a batch and commits it, as the pipeline does.
fn commit_one(store: &mut dyn Store, l: &mut Ledger, user: &str, keys: &[DedupeKey], now: i64) {
    try_commit_one(store, l, user, keys, now).unwrap();
}

/// As [`commit_one`], returning the store's answer (the ledger keeps the batch only if Ok).
fn try_commit_one(
    store: &mut dyn Store,
    l: &mut Ledger,
    user: &str,
    keys: &[DedupeKey],
    now: i64,
) -> Result<(), StoreError> {
    l.begin();
    l.add_named(Metric::Cost, &[("user", user), ("model", "m")], 5);
    let ch = l.changes();
    let cps = [("file:/x".to_string(), "{\"offset\":10}".to_string())];
    let done = store.commit(&Commit {
        created: l.new_series(&ch.created),
        values: &ch.values,
        all: &*l,
        removed: &ch.removed,
        dedupe: keys,
        checkpoints: &cps,
        drop_checkpoints: &[],
        now,
        purge_before: Some(now - 100),
        daily: &Deltas::default(),
        daily_before: None,
        fence: None,
    });
    match done {
        Ok(()) => l.keep(),
        Err(_) => l.rollback(),
    }
    done
}

/// Stored series as (id, metric, labels, value).
type Rows = Vec<(u32, Metric, Vec<(String, String)>, i128)>;

fn load(store: &mut dyn Store) -> (Rows, HashMap<String, String>) {
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
            drop_checkpoints: &[],
            now: 1,
            purge_before: None,
            daily: &Deltas::default(),
            daily_before: None,
            fence: None,
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
    // and it opens again as the current schema without migrating twice, daily tables and all
    let mut s = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(load(&mut s).0, rows);
    assert!(read_daily(dir.path(), None, None).unwrap().is_empty());
}

mod daily {
    use super::*;
    use crate::daily::{PrincipalDelta, PrincipalKey, UsageDelta, UsageKey};
    use crate::pricing::Scope;
    use crate::record::{Tier, TokenClass};
    use rust_decimal::Decimal;
    use std::str::FromStr;

    pub(super) fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    pub(super) fn key(day: &str, class: TokenClass) -> UsageKey {
        UsageKey {
            day: day.into(),
            model: "amazon.nova-micro-v1:0".into(),
            region: "us-east-1".into(),
            scope: Scope::Geo,
            tier: Tier::Priority,
            long_context: false,
            class,
        }
    }

    pub(super) fn who(day: &str, principal: &str) -> PrincipalKey {
        PrincipalKey {
            day: day.into(),
            principal: principal.into(),
        }
    }

    pub(super) fn units(cost: &str) -> i128 {
        crate::money::to_units(d(cost), crate::money::USD_SCALE).unwrap()
    }

    /// A batch's daily deltas: `tokens` input tokens costing `cost`, by one call of `principal`.
    pub(super) fn batch(day: &str, tokens: u64, cost: &str, principal: &str) -> Deltas {
        let (day, units) = (crate::daily::parse_day(day).unwrap(), units(cost));
        let mut t = Deltas::default();
        t.push_usage(UsageDelta {
            day,
            model: "amazon.nova-micro-v1:0",
            region: "us-east-1",
            scope: Scope::Geo,
            tier: Tier::Priority,
            long_context: false,
            class: TokenClass::Input,
            tokens,
            units,
        });
        let calls = 1;
        t.push_principal(PrincipalDelta {
            day,
            principal,
            calls,
            units,
        });
        t
    }

    fn commit(
        s: &mut SqliteStore,
        daily: &Deltas,
        keys: &[DedupeKey],
        before: Option<&str>,
    ) -> Result<(), StoreError> {
        s.commit(&Commit {
            created: vec![],
            values: &[],
            all: &NoSeries,
            removed: &[],
            dedupe: keys,
            checkpoints: &[],
            drop_checkpoints: &[],
            now: 1,
            purge_before: None,
            daily,
            daily_before: before,
            fence: None,
        })
    }

    fn journal_rows(s: &SqliteStore) -> i64 {
        s.conn()
            .query_row("SELECT COUNT(*) FROM daily_journal", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn daily_totals_read_back_exactly_while_the_store_is_open_and_after() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteStore::open(dir.path()).unwrap();
        let alice = "arn:aws:iam::1:user/alice";
        commit(
            &mut s,
            &batch("2026-11-01", 1000, "0.000035", alice),
            &[],
            None,
        )
        .unwrap();
        commit(
            &mut s,
            &batch("2026-11-01", 7, "0.00000006125", ""),
            &[],
            None,
        )
        .unwrap();
        commit(
            &mut s,
            &batch("2026-11-02", 1, "0.000000035", alice),
            &[],
            None,
        )
        .unwrap();
        assert_eq!(journal_rows(&s), 3, "not folded yet: read from the journal");
        let check = |t: &DailyTotals| {
            let u = t.usage[&key("2026-11-01", TokenClass::Input)];
            assert_eq!((u.tokens, u.cost), (1007, d("0.00003506125")));
            let p = t.principals[&who("2026-11-01", alice)];
            assert_eq!((p.calls, p.cost), (1, d("0.000035")));
            assert_eq!(t.principals[&who("2026-11-01", "")].calls, 1);
            assert_eq!(t.usage.len(), 2);
            assert_eq!(t.principals.len(), 3);
        };
        // the daemon holds the lock; the reader does not need it
        check(&read_daily(dir.path(), None, None).unwrap());
        // a purge commit folds the journal into the tables: the same totals
        commit(&mut s, &Deltas::default(), &[], Some("2000-01-01")).unwrap();
        assert_eq!(journal_rows(&s), 0);
        check(&read_daily(dir.path(), None, None).unwrap());
        // folded rows and new journal rows add up
        commit(
            &mut s,
            &batch("2026-11-01", 3, "0.000000105", alice),
            &[],
            None,
        )
        .unwrap();
        let t = read_daily(dir.path(), None, None).unwrap();
        let u = t.usage[&key("2026-11-01", TokenClass::Input)];
        assert_eq!((u.tokens, u.cost), (1010, d("0.00003516625")));
        let stored: String = s
            .conn()
            .query_row(
                "SELECT cost_usd FROM daily_usage WHERE day = '2026-11-01'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            stored, "0.00003506125",
            "an exact decimal, readable in sqlite3"
        );
        drop(s);
        let after = read_daily(dir.path(), None, None).unwrap();
        assert_eq!(after, t, "and with no daemon running");
        // days are inclusive at both ends
        let one = read_daily(dir.path(), Some("2026-11-02"), Some("2026-11-02")).unwrap();
        assert_eq!(one.usage.len(), 1);
        assert!(one.principals.keys().all(|k| k.day == "2026-11-02"));
        let none = read_daily(dir.path(), Some("2026-11-03"), None).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn a_failed_commit_adds_no_daily_totals() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteStore::open(dir.path()).unwrap();
        commit(&mut s, &batch("2026-11-01", 1, "0.5", "a"), &[], None).unwrap();
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
        let err = commit(&mut s, &batch("2026-11-01", 2, "1", "a"), &keys, None).unwrap_err();
        assert_eq!(err.kind(), "disk_full", "{err}");
        s.conn()
            .pragma_update(None, "max_page_count", 1 << 30)
            .unwrap();
        let t = read_daily(dir.path(), None, None).unwrap();
        assert_eq!(t.usage[&key("2026-11-01", TokenClass::Input)].tokens, 1);
        assert_eq!(t.principals[&who("2026-11-01", "a")].cost, d("0.5"));
        // the batch, retried, counts once
        commit(
            &mut s,
            &batch("2026-11-01", 2, "1", "a"),
            &keys,
            Some("2000-01-01"),
        )
        .unwrap();
        let t = read_daily(dir.path(), None, None).unwrap();
        assert_eq!(t.principals[&who("2026-11-01", "a")].cost, d("1.5"));
        assert_eq!(t.principals[&who("2026-11-01", "a")].calls, 2);
    }

    #[test]
    fn a_journal_past_its_size_is_folded_without_waiting_for_the_purge() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteStore::open(dir.path()).unwrap();
        let mut all = Deltas::default();
        let mut batches = 0;
        while journal_rows(&s) == batches {
            let mut t = Deltas::default();
            for n in 0..100 {
                let p = format!("arn:aws:sts::1:assumed-role/R/{batches}-{n}");
                let day = crate::daily::parse_day("2026-11-01").unwrap();
                let (calls, units) = (1, units("0.000001"));
                let delta = PrincipalDelta {
                    day,
                    principal: &p,
                    calls,
                    units,
                };
                t.push_principal(delta);
                all.push_principal(delta);
            }
            commit(&mut s, &t, &[], None).unwrap();
            batches += 1;
        }
        assert!(batches > 1, "not the first batch: {batches}");
        assert_eq!(journal_rows(&s), 0, "folded in a commit");
        assert_eq!(read_daily(dir.path(), None, None).unwrap(), all.to_totals());
    }

    #[test]
    fn retention_prunes_folded_and_journaled_days_alike() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteStore::open(dir.path()).unwrap();
        commit(&mut s, &batch("2025-12-31", 1, "1", "a"), &[], None).unwrap();
        commit(&mut s, &Deltas::default(), &[], Some("2000-01-01")).unwrap();
        commit(&mut s, &batch("2026-01-01", 2, "2", "a"), &[], None).unwrap();
        commit(&mut s, &batch("2026-01-02", 3, "3", "a"), &[], None).unwrap();
        commit(&mut s, &Deltas::default(), &[], Some("2026-01-02")).unwrap();
        let t = read_daily(dir.path(), None, None).unwrap();
        let days: Vec<&str> = t.principals.keys().map(|k| k.day.as_str()).collect();
        assert_eq!(days, ["2026-01-02"]);
        assert_eq!(t.usage.len(), 1);
    }

    #[test]
    fn costs_beyond_an_i64_of_units_add_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteStore::open(dir.path()).unwrap();
        // 20 USD is 2 * 10^19 units: more than an i64 holds
        for _ in 0..3 {
            let b = batch("2026-11-01", 1, "20.000000000000000001", "a");
            commit(&mut s, &b, &[], Some("2000-01-01")).unwrap();
        }
        let t = read_daily(dir.path(), None, None).unwrap();
        assert_eq!(
            t.principals[&who("2026-11-01", "a")].cost,
            d("60.000000000000000003")
        );
    }

    /// A schema 2 store (this layout without the daily tables) upgrades in place: its totals,
    /// keys and checkpoints are kept, and the daily totals start empty.
    #[test]
    fn a_schema_2_store_is_upgraded_and_keeps_its_totals() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = ledger();
        {
            let mut s = SqliteStore::open(dir.path()).unwrap();
            commit_one(&mut s, &mut l, "a", &[dedupe_key("req", b"1")], 1000);
            commit_one(&mut s, &mut l, "b", &[], 1000);
        }
        let before = {
            let c = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
            c.execute_batch(
                "DROP TABLE daily_usage; DROP TABLE daily_principal; DROP TABLE daily_journal;
                 UPDATE meta SET value = '2' WHERE key = 'schema_version';",
            )
            .unwrap();
            drop(c);
            assert!(
                read_daily(dir.path(), None, None).unwrap().is_empty(),
                "a schema 2 store holds no daily totals"
            );
            let mut s = SqliteStore::open(dir.path()).unwrap();
            load(&mut s)
        };
        let mut s = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(load(&mut s), before);
        assert_eq!(before.0[0].3, 5);
        assert_eq!(before.1["file:/x"], "{\"offset\":10}");
        assert_eq!(s.seen(&[dedupe_key("req", b"1")]).unwrap(), [true]);
        let version: String = s
            .conn()
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION.to_string());
        assert!(read_daily(dir.path(), None, None).unwrap().is_empty());
        commit(&mut s, &batch("2026-11-01", 1, "1", "a"), &[], None).unwrap();
        assert_eq!(read_daily(dir.path(), None, None).unwrap().usage.len(), 1);
    }

    #[test]
    fn a_malformed_daily_journal_row_is_reported_as_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteStore::open(dir.path()).unwrap();
        commit(&mut s, &batch("2026-11-01", 1, "1", "a"), &[], None).unwrap();
        s.conn()
            .execute("UPDATE daily_journal SET data = substr(data, 1, 9)", [])
            .unwrap();
        let err = read_daily(dir.path(), None, None).unwrap_err();
        assert_eq!(err.kind(), "corrupt", "{err}");
        let err = commit(&mut s, &Deltas::default(), &[], Some("2000-01-01")).unwrap_err();
        assert_eq!(err.kind(), "corrupt", "the fold refuses it too: {err}");
    }

    #[test]
    fn a_newer_store_is_refused_by_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let c = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        c.execute(
            "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
        drop(c);
        let err = read_daily(dir.path(), None, None).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    }
}

/// A batch can delete checkpoints (the S3 source's read keys of hours it no longer lists) in
/// the same transaction that writes others; a reopened store sees only what is left.
pub(super) fn checkpoints_dropped(open: &dyn Fn() -> Box<dyn Store>) {
    let write = |s: &mut dyn Store, cps: &[(String, String)], drop: &[String]| {
        s.commit(&Commit {
            created: Vec::new(),
            values: &[],
            all: &NoSeries,
            removed: &[],
            dedupe: &[],
            checkpoints: cps,
            drop_checkpoints: drop,
            now: 1000,
            purge_before: None,
            daily: &Deltas::default(),
            daily_before: None,
            fence: None,
        })
        .unwrap();
    };
    {
        let mut s = open();
        let cps: Vec<(String, String)> = ["s3:b/|h1", "s3:b/|h2", "s3:b/"]
            .iter()
            .map(|k| (k.to_string(), "1".to_string()))
            .collect();
        write(&mut *s, &cps, &[]);
        write(
            &mut *s,
            &[("s3:b/".into(), "2".into())],
            &["s3:b/|h1".into(), "s3:b/|absent".into()],
        );
    }
    let mut s = open();
    let (_, cps) = load(&mut *s);
    let mut keys: Vec<_> = cps.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    keys.sort();
    assert_eq!(keys, [("s3:b/", "2"), ("s3:b/|h2", "1")]);
}

#[test]
fn checkpoints_are_dropped_in_the_commit_that_writes_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    checkpoints_dropped(&|| Box::new(SqliteStore::open(&path).unwrap()));
}

/// SQLite has one writer (its lock): there is nothing to refresh, and nothing is adopted.
#[test]
fn a_sqlite_store_has_nothing_to_refresh() {
    let mut s = SqliteStore::in_memory().unwrap();
    let mut l = ledger();
    commit_one(&mut s, &mut l, "a", &[dedupe_key("req", b"1")], 1000);
    let mut adopted = 0;
    let got = s
        .refresh(&mut |_, _| {
            adopted += 1;
            0
        })
        .unwrap();
    assert_eq!((got, adopted), (None, 0));
}
