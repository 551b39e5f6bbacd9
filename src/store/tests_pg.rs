//! The store's behaviour against a real PostgreSQL server (`tests/peers/postgres.sh`): one
//! server per test binary, one database per test. Without PostgreSQL's binaries these tests
//! fail; they never skip. The pipeline's tests on PostgreSQL share the server (`shared`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use super::daily::{batch, d, key, units, who};
use super::*;
use crate::record::TokenClass;

#[path = "tests_lease.rs"]
mod lease;
#[path = "tests_pg_tls.rs"]
mod tls;

#[path = "tests_pg_daily.rs"]
mod daily_journal;
#[path = "tests_fold.rs"]
pub(crate) mod fold;
#[path = "tests_journal.rs"]
mod journal;

/// A running server: its directory and port. The script's watcher stops it and deletes the
/// directory when this process exits.
pub(crate) struct Server {
    dir: PathBuf,
    port: u16,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/postgres.sh")
}

impl Server {
    pub(crate) fn start() -> Server {
        Server::run("start")
    }

    /// With ssl=on, and a certificate for `localhost` signed by `dir/tls/ca.pem` (see the
    /// script).
    pub(crate) fn start_tls() -> Server {
        Server::run("start-tls")
    }

    fn run(command: &str) -> Server {
        // Kept: the script's watcher deletes it when this process exits.
        let dir = tempfile::tempdir().unwrap().keep();
        // The server may run as another user (root cannot): it must reach its directory.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = Command::new("bash")
            .arg(script())
            .arg(command)
            .arg(&dir)
            .arg(std::process::id().to_string())
            .output()
            .expect("run tests/peers/postgres.sh");
        assert!(
            out.status.success(),
            "cannot start PostgreSQL (run scripts/install-peers.sh): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        Server { dir, port }
    }

    /// A new, empty database's URL.
    pub(crate) fn database(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("t{}", N.fetch_add(1, Ordering::Relaxed));
        let mut c = self.admin();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    fn admin(&self) -> ::postgres::Client {
        let url = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap()
    }

    /// Stops the server (a later `restart` starts it again on the same port).
    pub(crate) fn stop(&self) {
        let ok = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(&self.dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "stop failed");
    }

    /// Stops the server at once and starts it again on the same port.
    pub(crate) fn restart(&self) {
        let ok = Command::new("bash")
            .arg(script())
            .arg("restart")
            .arg(&self.dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "restart failed");
    }
}

pub(crate) fn shared() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(Server::start)
}

pub(crate) fn open(url: &str) -> PgStore {
    PgStore::open(url, None).unwrap()
}

pub(crate) fn sql(url: &str, q: &str) {
    let mut c = ::postgres::Client::connect(url, ::postgres::NoTls).unwrap();
    c.batch_execute(q).unwrap();
}

#[test]
fn pg_committed_batches_load_back_exactly() {
    let url = shared().database();
    let mut l = ledger();
    {
        let mut s = open(&url);
        commit_one(&mut s, &mut l, "a", &[dedupe_key("req", b"1")], 1000);
        commit_one(&mut s, &mut l, "a", &[dedupe_key("req", b"2")], 1000);
        commit_one(&mut s, &mut l, "b", &[], 1000);
    }
    let mut s = open(&url);
    let (rows, cps) = load(&mut s);
    let mut values: Vec<(Vec<(String, String)>, i128)> =
        rows.iter().map(|r| (r.2.clone(), r.3)).collect();
    values.sort();
    let labels = |u: &str| {
        vec![
            ("user".to_string(), u.to_string()),
            ("model".into(), "m".into()),
        ]
    };
    assert_eq!(values, [(labels("a"), 10), (labels("b"), 5)]);
    assert_eq!(cps["file:/x"], "{\"offset\":10}");
    assert_eq!(
        s.seen(&[dedupe_key("req", b"1"), dedupe_key("req", b"3")])
            .unwrap(),
        [true, false]
    );
    // and a daemon that reloads them goes on adding to them
    let mut l2 = ledger();
    for (id, metric, labels, value) in &rows {
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        l2.restore(*id, *metric, &pairs, *value);
    }
    l2.finish_restore();
    commit_one(&mut s, &mut l2, "a", &[], 1000);
    let (rows, _) = load(&mut open(&url));
    let a: i128 = rows
        .iter()
        .filter(|r| r.2 == labels("a"))
        .map(|r| r.3)
        .sum();
    assert_eq!(a, 15);
    let stats = s.stats().unwrap();
    assert_eq!(stats.dedupe_keys, 2);
    assert_eq!(
        stats.series_by_metric,
        [(Metric::Cost.name().to_string(), 2)]
    );
}

/// Two stores on one database are two replicas: they add to the same series, and a request
/// one of them committed makes the other's batch fail whole, then count once on its retry.
#[test]
fn pg_checkpoints_are_dropped_in_the_commit_that_writes_others() {
    let url = shared().database();
    super::checkpoints_dropped(&|| Box::new(open(&url)));
}

#[test]
fn pg_two_replicas_add_up_and_count_a_request_once() {
    let url = shared().database();
    let (mut a, mut b) = (open(&url), open(&url));
    let (mut la, mut lb) = (ledger(), ledger());
    load(&mut a);
    load(&mut b);
    let k1 = dedupe_key("req", b"1");
    commit_one(&mut a, &mut la, "u", &[k1], 1000);
    commit_one(&mut b, &mut lb, "u", &[dedupe_key("req", b"2")], 1000);
    commit_one(&mut a, &mut la, "u", &[dedupe_key("req", b"3")], 1000);
    // b had not seen k1 when it read; its commit is refused whole
    let err =
        try_commit_one(&mut b, &mut lb, "u", &[dedupe_key("req", b"4"), k1], 1000).unwrap_err();
    assert_eq!(err.kind(), "conflict", "{err}");
    assert_eq!(
        b.seen(&[k1, dedupe_key("req", b"4")]).unwrap(),
        [true, false]
    );
    // the retry without k1 counts
    commit_one(&mut b, &mut lb, "u", &[dedupe_key("req", b"4")], 1000);
    let (rows, _) = load(&mut open(&url));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].3, 20, "four requests of 5 each");
    assert_eq!(open(&url).stats().unwrap().dedupe_keys, 4);
}

#[test]
fn pg_a_newer_schema_is_refused() {
    let url = shared().database();
    drop(open(&url));
    sql(
        &url,
        "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
    );
    let err = PgStore::open(&url, None).err().expect("refused");
    assert!(
        matches!(
            err,
            StoreError::TooNew {
                found: 99,
                knows: PG_SCHEMA_VERSION,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.kind(), "corrupt");
    sql(
        &url,
        "UPDATE meta SET value = 'x' WHERE key = 'schema_version'",
    );
    let err = PgStore::open(&url, None).err().expect("refused");
    assert_eq!(err.kind(), "corrupt", "{err}");
}

#[test]
fn pg_expired_dedupe_keys_are_purged() {
    let url = shared().database();
    let mut s = open(&url);
    let mut l = ledger();
    commit_one(&mut s, &mut l, "a", &[dedupe_key("req", b"old")], 1000);
    commit_one(&mut s, &mut l, "a", &[dedupe_key("req", b"new")], 1050);
    assert_eq!(s.seen(&[dedupe_key("req", b"old")]).unwrap(), [true]);
    commit_one(&mut s, &mut l, "a", &[], 1101);
    assert_eq!(
        s.seen(&[dedupe_key("req", b"old"), dedupe_key("req", b"new")])
            .unwrap(),
        [false, true]
    );
    assert_eq!(s.stats().unwrap().dedupe_keys, 1);
}

/// The plan of `statement` (with `params`) in a transaction that set [`crate::store::postgres::KEYED_PLANS`].
fn keyed_plan(
    c: &mut ::postgres::Client,
    statement: &str,
    params: &[&(dyn ::postgres::types::ToSql + Sync)],
) -> String {
    let mut tx = c.transaction().unwrap();
    tx.batch_execute(crate::store::postgres::KEYED_PLANS)
        .unwrap();
    let plan = tx.query(&format!("EXPLAIN {statement}"), params).unwrap();
    plan.iter().map(|r| r.get::<_, String>(0) + "\n").collect()
}

/// `seen`, the commit's key insert and the purge probe `dedupe`'s indexes on a young table
/// that grows and was never analyzed (issue 12's bench saw `seen` scan the whole table then).
#[test]
fn pg_dedupe_lookups_stay_on_the_indexes_whatever_the_statistics() {
    let url = shared().database();
    drop(open(&url));
    let mut c = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    c.batch_execute("ALTER TABLE dedupe SET (autovacuum_enabled = false)")
        .unwrap();
    let batch: Vec<Vec<u8>> = (0..500u32)
        .map(|i| dedupe_key("req", &i.to_be_bytes()).to_vec())
        .collect();
    for rows in [0, 1_000, 50_000, 200_000] {
        c.execute(
            "INSERT INTO dedupe (key, first_seen) SELECT decode(md5(i::text), 'hex'), i FROM generate_series(1, $1::int) AS i ON CONFLICT DO NOTHING",
            &[&rows],
        )
        .unwrap();
        let analyzed: Option<std::time::SystemTime> = c
            .query_one(
                "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'dedupe'",
                &[],
            )
            .unwrap()
            .get(0);
        assert!(analyzed.is_none());
        let seen = keyed_plan(&mut c, crate::store::postgres::SEEN, &[&batch]);
        assert!(
            seen.contains("Index Only Scan using dedupe_pkey")
                || seen.contains("Index Scan using dedupe_pkey"),
            "{rows} rows: {seen}"
        );
        assert!(
            !seen.contains("Seq Scan on dedupe") && !seen.contains("Hash"),
            "{rows} rows: {seen}"
        );
        let insert = keyed_plan(
            &mut c,
            "INSERT INTO dedupe (key, first_seen) SELECT unnest($1::bytea[]), $2 ON CONFLICT (key) DO NOTHING",
            &[&batch, &1i64],
        );
        assert!(
            insert.contains("Conflict Arbiter Indexes: dedupe_pkey")
                && !insert.contains("Seq Scan on dedupe"),
            "{insert}"
        );
        let purge = keyed_plan(
            &mut c,
            "DELETE FROM dedupe WHERE first_seen < $1",
            &[&100i64],
        );
        assert!(
            purge.contains("dedupe_by_first_seen") && !purge.contains("Seq Scan"),
            "{rows} rows: {purge}"
        );
    }
}

fn raw_commit(s: &mut PgStore, created: Vec<NewSeries<'_>>, values: &[(u32, i128)]) {
    s.commit(&Commit {
        created,
        values,
        all: &NoSeries,
        removed: &[],
        dedupe: &[],
        checkpoints: &[],
        drop_checkpoints: &[],
        now: 1,
        purge_before: None,
        daily: &Deltas::default(),
        daily_before: None,
        fence: None,
    })
    .unwrap();
}

#[test]
fn pg_i128_extremes_are_stored_exactly() {
    let url = shared().database();
    let mut s = open(&url);
    let series = |id| NewSeries {
        id,
        metric: Metric::Cost,
        labels: vec![("user", if id == 0 { "max" } else { "min" })],
    };
    raw_commit(
        &mut s,
        vec![series(0), series(1)],
        &[(0, i128::MAX), (1, i128::MIN)],
    );
    let values = |url: &str| -> Vec<i128> { load(&mut open(url)).0.iter().map(|r| r.3).collect() };
    // ordered by labels: "max" < "min"
    assert_eq!(values(&url), [i128::MAX, i128::MIN]);
    // from one extreme to the other: a delta no i128 holds
    raw_commit(&mut s, vec![], &[(0, i128::MIN), (1, i128::MAX)]);
    assert_eq!(values(&url), [i128::MIN, i128::MAX]);
    // a series created at zero is kept
    raw_commit(
        &mut s,
        vec![NewSeries {
            id: 2,
            metric: Metric::Cost,
            labels: vec![("user", "zero")],
        }],
        &[],
    );
    assert_eq!(values(&url), [i128::MIN, i128::MAX, 0]);
    // folded into `series` (the sums wrap as the deltas do): the same values
    s.fold_now().unwrap();
    assert_eq!(values(&url), [i128::MIN, i128::MAX, 0]);
    raw_commit(&mut s, vec![], &[(0, i128::MAX), (1, i128::MIN)]);
    s.fold_now().unwrap();
    assert_eq!(values(&url), [i128::MAX, i128::MIN, 0]);
}

pub(crate) fn commit_daily(s: &mut PgStore, daily: &Deltas, before: Option<&str>) {
    s.commit(&Commit {
        created: vec![],
        values: &[],
        all: &NoSeries,
        removed: &[],
        dedupe: &[],
        checkpoints: &[],
        drop_checkpoints: &[],
        now: 1,
        purge_before: None,
        daily,
        daily_before: before,
        fence: None,
    })
    .unwrap();
}

#[test]
fn pg_daily_totals_add_exactly_and_are_pruned() {
    let url = shared().database();
    let mut s = open(&url);
    let alice = "arn:aws:iam::1:user/alice";
    commit_daily(&mut s, &batch("2026-11-01", 1000, "0.000035", alice), None);
    commit_daily(&mut s, &batch("2026-11-01", 7, "0.00000006125", ""), None);
    // 20 USD is 2 * 10^19 units: more than an i64 holds
    let mut two = batch("2026-11-02", 1, "20.000000000000000001", alice);
    for d in batch("2026-11-02", 2, "20.000000000000000001", alice).usage() {
        two.push_usage(d);
    }
    commit_daily(&mut s, &two, None);
    let t = open(&url).daily(None, None).unwrap();
    let u = t.usage[&key("2026-11-01", TokenClass::Input)];
    assert_eq!((u.tokens, u.cost), (1007, d("0.00003506125")));
    assert_eq!(t.principals[&who("2026-11-01", alice)].cost, d("0.000035"));
    assert_eq!(t.principals[&who("2026-11-01", "")].calls, 1);
    let u = t.usage[&key("2026-11-02", TokenClass::Input)];
    assert_eq!((u.tokens, u.cost), (3, d("40.000000000000000002")));
    assert_eq!(units("40.000000000000000002"), 40_000_000_000_000_000_002);
    let one = s.daily(Some("2026-11-02"), Some("2026-11-02")).unwrap();
    assert_eq!((one.usage.len(), one.principals.len()), (1, 1));
    commit_daily(&mut s, &Deltas::default(), Some("2026-11-02"));
    let t = s.daily(None, None).unwrap();
    let days: Vec<&str> = t.principals.keys().map(|k| k.day.as_str()).collect();
    assert_eq!(days, ["2026-11-02"]);
}

/// The server goes away between two commits: the next commit fails (not acknowledged) and
/// the one after connects again; nothing is lost or doubled.
#[test]
fn pg_a_dropped_connection_fails_one_commit_and_the_next_reconnects() {
    let server = Server::start();
    let url = server.database();
    let mut s = open(&url);
    let mut l = ledger();
    load(&mut s);
    commit_one(&mut s, &mut l, "a", &[dedupe_key("req", b"1")], 1000);
    server.restart();
    let err = try_commit_one(&mut s, &mut l, "a", &[dedupe_key("req", b"2")], 1000).unwrap_err();
    assert_eq!(err.kind(), "io", "{err}");
    commit_one(&mut s, &mut l, "a", &[dedupe_key("req", b"2")], 1000);
    commit_one(&mut s, &mut l, "a", &[dedupe_key("req", b"3")], 1000);
    let (rows, _) = load(&mut open(&url));
    assert_eq!(rows[0].3, 15);
    assert_eq!(open(&url).stats().unwrap().dedupe_keys, 3);
    // with the server down, opening fails as I/O (the daemon retries), not as corruption
    let ok = Command::new("bash")
        .arg(script())
        .arg("stop")
        .arg(&server.dir)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let err = PgStore::open(&url, None).err().expect("no server");
    assert_eq!(err.kind(), "io", "{err}");
    let err = try_commit_one(&mut s, &mut l, "a", &[], 1000).unwrap_err();
    assert_eq!(err.kind(), "io", "{err}");
}

#[test]
fn pg_a_url_with_a_password_is_refused_and_none_is_shown() {
    let err = check_url("postgres://u:hunter2@127.0.0.1:5432/db").unwrap_err();
    assert!(
        err.contains("password") && !err.contains("hunter2"),
        "{err}"
    );
    assert!(check_url("postgres://u@127.0.0.1:5432/db").is_ok());
    assert!(check_url("not a url").is_err());
}

/// The URL's libpq-style `options` reach the server: `synchronous_commit=off` (documented as
/// the opt-in for faster commits) is in force on the store's connection, and commits still
/// count; without it the server's default (`on`) stays.
#[test]
fn pg_the_urls_options_reach_the_server() {
    let url = shared().database();
    let show = |s: &mut PgStore| s.show("synchronous_commit").unwrap();
    assert_eq!(show(&mut open(&url)), "on");
    let off = format!("{url}?options=-c%20synchronous_commit%3Doff");
    check_url(&off).unwrap();
    let mut s = open(&off);
    assert_eq!(show(&mut s), "off");
    let mut l = ledger();
    load(&mut s);
    commit_one(&mut s, &mut l, "a", &[dedupe_key("req", b"1")], 1000);
    // the fold thread's and the leases' connections are made from the same settings
    assert_eq!(
        super::super::postgres::client_config(&off, None)
            .unwrap()
            .get_options(),
        Some("-c synchronous_commit=off")
    );
    let (rows, _) = load(&mut open(&url));
    assert_eq!(rows[0].3, 5);
}

/// A batch holding keys another writer committed fails whole, naming how many, though its
/// first insert of the keys (in a savepoint) failed on the first of them: the transaction
/// goes on after it, and nothing of the batch is kept. Its other keys commit afterwards.
#[test]
fn pg_a_batch_with_taken_keys_is_refused_whole_and_counts_them() {
    let url = shared().database();
    let (mut a, mut b) = (open(&url), open(&url));
    let (mut la, mut lb) = (ledger(), ledger());
    load(&mut a);
    load(&mut b);
    let k = |i: u32| dedupe_key("req", format!("r{i}").as_bytes());
    commit_one(&mut a, &mut la, "a", &[k(1), k(3)], 1000);
    let err = try_commit_one(&mut b, &mut lb, "b", &[k(0), k(1), k(2), k(3)], 1000).unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert!(
        err.to_string().contains(" 2 of the batch's requests"),
        "{err}"
    );
    assert_eq!(open(&url).stats().unwrap().dedupe_keys, 2);
    assert_eq!(database_view(&url).values().sum::<i128>(), 5);
    commit_one(&mut b, &mut lb, "b", &[k(0), k(2)], 1000);
    assert_eq!(open(&url).stats().unwrap().dedupe_keys, 4);
    assert_eq!(database_view(&url).values().sum::<i128>(), 10);
}

/// `state copy`: a SQLite store with totals, keys, checkpoints and daily totals lands in
/// PostgreSQL with every value as it was; a second copy into the same database is refused and
/// changes nothing.
#[test]
fn pg_a_sqlite_store_is_copied_without_losing_or_doubling_a_cent() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = ledger();
    let mut sqlite = SqliteStore::open(dir.path()).unwrap();
    for n in 0..40u32 {
        let key = dedupe_key("req", &n.to_be_bytes());
        commit_one(
            &mut sqlite,
            &mut l,
            &format!("u{}", n % 7),
            &[key],
            1000 + i64::from(n),
        );
    }
    // a value no i64 holds, and daily totals (one folded, one in the journal)
    l.begin();
    l.add_named(
        Metric::Cost,
        &[("user", "big"), ("model", "m")],
        i128::MAX / 3,
    );
    let ch = l.changes();
    let cps = [("cwl:g".to_string(), "{\"t\":5}".to_string())];
    let daily = batch("2026-11-01", 1000, "20.000000000000000001", "arn:a");
    sqlite
        .commit(&Commit {
            created: l.new_series(&ch.created),
            values: &ch.values,
            all: &l,
            removed: &ch.removed,
            dedupe: &[],
            checkpoints: &cps,
            drop_checkpoints: &[],
            now: 2000,
            purge_before: None,
            daily: &daily,
            daily_before: Some("2000-01-01"),
            fence: None,
        })
        .unwrap();
    l.keep();
    let more = batch("2026-11-02", 3, "0.000000000000000003", "arn:b");
    commit_daily_sqlite(&mut sqlite, &more);
    let url = shared().database();
    let mut pg = open(&url);
    let copied = sqlite_to_pg(&mut sqlite, dir.path(), &mut pg).unwrap();
    assert_eq!(
        copied,
        Copied {
            series: 8,
            dedupe_keys: 40,
            checkpoints: 2,
            daily_rows: 4
        }
    );
    // compared independently of the copy's own check
    let (mut from, _) = load(&mut sqlite);
    let (mut to, cps) = load(&mut open(&url));
    let strip = |rows: &mut Rows| {
        rows.iter_mut().for_each(|r| r.0 = 0);
        rows.sort();
    };
    strip(&mut from);
    strip(&mut to);
    assert_eq!(to, from);
    assert!(to.iter().any(|r| r.3 == i128::MAX / 3));
    assert_eq!(cps["cwl:g"], "{\"t\":5}");
    assert_eq!(cps["file:/x"], "{\"offset\":10}");
    let mut reopened = open(&url);
    assert_eq!(reopened.stats().unwrap().dedupe_keys, 40);
    assert_eq!(
        reopened
            .seen(&[dedupe_key("req", &7u32.to_be_bytes())])
            .unwrap(),
        [true]
    );
    assert_eq!(
        reopened.daily(None, None).unwrap(),
        read_daily(dir.path(), None, None).unwrap()
    );
    assert_eq!(
        reopened.daily(None, None).unwrap().principals[&who("2026-11-01", "arn:a")].cost,
        d("20.000000000000000001")
    );
    // a second copy is refused whole
    let err = sqlite_to_pg(&mut sqlite, dir.path(), &mut open(&url)).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    let (mut again, _) = load(&mut open(&url));
    strip(&mut again);
    assert_eq!(again, from);
    assert_eq!(open(&url).stats().unwrap().dedupe_keys, 40);
}

fn commit_daily_sqlite(s: &mut SqliteStore, daily: &Deltas) {
    s.commit(&Commit {
        created: vec![],
        values: &[],
        all: &NoSeries,
        removed: &[],
        dedupe: &[],
        checkpoints: &[],
        drop_checkpoints: &[],
        now: 1,
        purge_before: None,
        daily,
        daily_before: None,
        fence: None,
    })
    .unwrap();
}

/// The client runs a runtime of its own, which tokio refuses to drop on an async thread: a
/// store dropped there (a daemon failing to start after opening it) must not panic.
#[test]
fn pg_a_store_dropped_inside_the_daemons_runtime_does_not_panic() {
    let url = shared().database();
    let mut s = open(&url);
    load(&mut s);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move { drop(s) });
    assert_eq!(load(&mut open(&url)).0.len(), 0);
}

/// A commit the server refuses part-way (here a full disk, `53100`, raised by a trigger on
/// a table the commit writes after the totals and keys) adds nothing: no total, no key. It is
/// reported as a full disk, and the retried batch counts once.
#[test]
fn pg_a_refused_commit_adds_nothing_and_a_full_disk_is_reported_as_such() {
    let url = shared().database();
    let mut s = open(&url);
    let mut l = ledger();
    load(&mut s);
    commit_one(&mut s, &mut l, "a", &[dedupe_key("req", b"1")], 1000);
    sql(
        &url,
        "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'no space left' USING ERRCODE = '53100'; END $$ LANGUAGE plpgsql;
         CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON checkpoints FOR EACH ROW EXECUTE FUNCTION refuse();",
    );
    let key = dedupe_key("req", b"2");
    let err = try_commit_one(&mut s, &mut l, "a", &[key], 1000).unwrap_err();
    assert_eq!(err.kind(), "disk_full", "{err}");
    assert_eq!(s.seen(&[key]).unwrap(), [false]);
    assert_eq!(load(&mut open(&url)).0[0].3, 5);
    sql(&url, "DROP TRIGGER refuse ON checkpoints");
    commit_one(&mut s, &mut l, "a", &[key], 1000);
    assert_eq!(load(&mut open(&url)).0[0].3, 10);
    assert_eq!(s.seen(&[key]).unwrap(), [true]);
}

/// A replica's store loaded into a new ledger, as the daemon starts (a writer may have
/// committed before it: its series must be in the ledger, under the store's ids).
fn loaded(s: &mut PgStore) -> Ledger {
    let mut l = ledger();
    for (id, metric, labels, value) in load(s).0 {
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        l.restore(id, metric, &pairs, value);
    }
    l.finish_restore();
    l
}

/// A replica's ledger after a refresh of its store: the other replicas' commits adopted.
fn refresh(s: &mut PgStore, l: &mut Ledger) -> usize {
    s.refresh(&mut |series, v| adopt_into(l, series, v))
        .unwrap()
        .expect("PostgreSQL is shared: it refreshes")
}

/// Every live series of a ledger by (metric, labels), for comparing with the database.
fn view(l: &Ledger) -> BTreeMap<(Metric, Vec<(String, String)>), i128> {
    l.iter()
        .map(|(_, k, v)| {
            let labels = l.labels(k).map(|(a, b)| (a.into(), b.into())).collect();
            ((k.metric, labels), v)
        })
        .collect()
}

fn database_view(url: &str) -> BTreeMap<(Metric, Vec<(String, String)>), i128> {
    load(&mut open(url))
        .0
        .into_iter()
        .map(|(_, m, labels, v)| ((m, labels), v))
        .collect()
}

fn user_value(l: &Ledger, user: &str) -> i128 {
    view(l)
        .into_iter()
        .filter(|((_, labels), _)| labels.iter().any(|(a, b)| a == "user" && b == user))
        .map(|(_, v)| v)
        .sum()
}

/// Replica B sees what A commits (new series and changed ones) exactly, and what B commits
/// after a refresh adds to the totals it refreshed (the delta base moved with it).
#[test]
fn pg_a_refresh_adopts_another_replicas_commits_and_keeps_the_delta_base() {
    let url = shared().database();
    let (mut a, mut b) = (open(&url), open(&url));
    let (mut la, mut lb) = (ledger(), ledger());
    load(&mut a);
    load(&mut b);
    assert_eq!(refresh(&mut b, &mut lb), 0, "nothing committed yet");
    commit_one(&mut a, &mut la, "x", &[dedupe_key("req", b"1")], 1000);
    assert_eq!(refresh(&mut b, &mut lb), 1);
    assert_eq!(user_value(&lb, "x"), 5);
    commit_one(&mut a, &mut la, "x", &[dedupe_key("req", b"2")], 1000);
    commit_one(&mut a, &mut la, "y", &[dedupe_key("req", b"3")], 1000);
    assert_eq!(refresh(&mut b, &mut lb), 2, "x changed, y is new");
    assert_eq!((user_value(&lb, "x"), user_value(&lb, "y")), (10, 5));
    assert_eq!(refresh(&mut b, &mut lb), 0, "nothing since");
    // B adds to x from the 10 it refreshed: the database holds A's 10 and B's 5
    commit_one(&mut b, &mut lb, "x", &[dedupe_key("req", b"4")], 1000);
    assert_eq!(user_value(&lb, "x"), 15);
    commit_one(&mut a, &mut la, "x", &[dedupe_key("req", b"5")], 1000);
    let db = database_view(&url);
    assert_eq!(db.values().sum::<i128>(), 25, "{db:?}");
    // B's own commit comes back (same value) with A's: B's view is the database's
    refresh(&mut b, &mut lb);
    refresh(&mut a, &mut la);
    assert_eq!(view(&lb), db);
    assert_eq!(view(&la), db);
    // and both keep adding from there
    commit_one(&mut b, &mut lb, "y", &[], 1000);
    commit_one(&mut a, &mut la, "y", &[], 1000);
    assert_eq!(database_view(&url).values().sum::<i128>(), 35);
}

/// A and C commit in a loop on two threads while B refreshes (and commits now and then) on
/// a third: B never sees a series go down, misses no commit (versions follow commit order
/// whichever writer commits), and its final view is the database's.
#[test]
fn pg_refreshes_during_commits_never_go_back_and_end_equal_to_the_database() {
    let url = shared().database();
    let writer = |name: &'static str| {
        let url = url.clone();
        std::thread::spawn(move || {
            let mut a = open(&url);
            let mut la = ledger();
            load(&mut a);
            for i in 0..150u32 {
                // Half the commits create a series no one writes again: a refresh that
                // missed it (a version drawn out of commit order) would never see it.
                let user = match i % 2 {
                    0 => format!("{name}{i}"),
                    _ => format!("u{}", i % 7),
                };
                let key = dedupe_key("req", format!("{name}{i}").as_bytes());
                commit_one(&mut a, &mut la, &user, &[key], 1000);
            }
        })
    };
    let writers = [writer("a"), writer("c")];
    let mut b = open(&url);
    let mut lb = loaded(&mut b);
    let mut seen: BTreeMap<(Metric, Vec<(String, String)>), i128> = BTreeMap::new();
    let mut own = 0;
    let mut check = |lb: &Ledger| {
        for (k, v) in view(lb) {
            let before = seen.insert(k.clone(), v).unwrap_or(0);
            assert!(v >= before, "{k:?} went from {before} to {v}");
        }
    };
    while !writers.iter().all(|w| w.is_finished()) {
        refresh(&mut b, &mut lb);
        check(&lb);
        if own < 40 {
            let key = dedupe_key("req", format!("b{own}").as_bytes());
            commit_one(&mut b, &mut lb, &format!("u{}", own % 3), &[key], 1000);
            check(&lb);
            own += 1;
        }
    }
    for w in writers {
        w.join().unwrap();
    }
    refresh(&mut b, &mut lb);
    check(&lb);
    let (db, mine) = (database_view(&url), view(&lb));
    let differ: Vec<_> = db
        .iter()
        .filter(|(k, v)| mine.get(*k) != Some(*v))
        .map(|(k, v)| (k, v, mine.get(k)))
        .collect();
    assert!(differ.is_empty(), "(series, database, B): {differ:?}");
    assert_eq!(mine.len(), db.len());
    // (past the test ledgers' cap of 100 series some fold: the fold counters are series too)
    let cost: i128 = db
        .iter()
        .filter(|((m, _), _)| *m == Metric::Cost)
        .map(|(_, v)| v)
        .sum();
    assert_eq!(cost, (300 + own) * 5);
}

/// Two replicas race to commit the same requests: for each, one commit wins and the other
/// fails as a conflict (nothing of it kept); processed again, it counts the request as seen.
#[test]
fn pg_two_replicas_racing_on_one_key_count_it_once() {
    let url = shared().database();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let racer = |name: &'static str| {
        let (url, barrier) = (url.clone(), barrier.clone());
        std::thread::spawn(move || {
            let mut s = open(&url);
            let mut l = ledger();
            load(&mut s);
            let (mut won, mut conflicts) = (0, 0);
            for i in 0..60u32 {
                let key = dedupe_key("req", format!("r{i}").as_bytes());
                barrier.wait();
                if s.seen(&[key]).unwrap()[0] {
                    continue;
                }
                match try_commit_one(&mut s, &mut l, name, &[key], 1000) {
                    Ok(()) => won += 1,
                    Err(e) => {
                        assert!(matches!(e, StoreError::Conflict(_)), "{e}");
                        assert_eq!(e.kind(), "conflict");
                        assert!(s.seen(&[key]).unwrap()[0], "the retry sees the key");
                        conflicts += 1;
                    }
                }
            }
            (won, conflicts)
        })
    };
    let (a, b) = (racer("a"), racer("b"));
    let ((wa, ca), (wb, cb)) = (a.join().unwrap(), b.join().unwrap());
    assert_eq!(wa + wb, 60, "each request committed once");
    assert!(ca + cb > 0, "the race was run: ({wa}, {ca}) ({wb}, {cb})");
    assert_eq!(database_view(&url).values().sum::<i128>(), 60 * 5);
    assert_eq!(open(&url).stats().unwrap().dedupe_keys, 60);
}
