//! The journal of the PostgreSQL store (schema 3) against a real server (the server of
//! `tests_pg.rs`): refreshes by three writers' journal rows, folds, the retention and the
//! resync of a replica that fell behind it, removed series that a fold must not bring back,
//! a removal that wins over a late delta, the upgrades from schemas 1, 2 and 3 (and what
//! keeps definitions unique in schema 4, which has no unique index on them: a commit holding
//! one twice is refused, a copy waits for the commit lock), reads (load, stats, the copy's
//! image) that give the same answer before and after a fold, and commits that do not wait
//! for a fold under way.

use std::collections::BTreeMap;
use std::time::Duration;

use super::super::*;
use super::{database_view, loaded, open, refresh, shared, sql, view};
use crate::daily::Deltas;
use crate::ledger::Ledger;

fn query_i64(url: &str, q: &str) -> i64 {
    let mut c = ::postgres::Client::connect(url, ::postgres::NoTls).unwrap();
    c.query_one(q, &[]).unwrap().get(0)
}

/// A fold count no test reaches: the store's fold thread never folds (tests fold by hand).
const NEVER: i64 = 1_000_000;

/// A batch of 5 for `user` (no dedupe key), as the pipeline commits it.
fn add(s: &mut PgStore, l: &mut Ledger, user: &str) {
    commit_one(s, l, user, &[], 1000);
}

/// Three writers commit on their own threads (their fold threads folding every few commits,
/// keeping folded rows for no time) while a reader refreshes: it never sees a series go
/// down, and ends equal to the database, though rows it had not read were folded and deleted
/// under it. Whole-store reads meanwhile (`load`: `series` plus the unfolded journal, with
/// folds running beside them) never see the total go down either.
#[test]
fn pg_journal_three_writers_and_a_reader_never_go_back_and_end_equal() {
    let url = shared().database();
    let writer = |name: &'static str| {
        let url = url.clone();
        std::thread::spawn(move || {
            let mut s = open(&url);
            s.set_journal(5, Duration::ZERO);
            let mut l = loaded(&mut s);
            for i in 0..80u32 {
                let user = match i % 3 {
                    0 => format!("{name}{i}"),
                    _ => format!("u{}", i % 5),
                };
                let key = dedupe_key("req", format!("{name}{i}").as_bytes());
                commit_one(&mut s, &mut l, &user, &[key], 1000);
            }
        })
    };
    let writers = [writer("a"), writer("b"), writer("c")];
    let mut r = open(&url);
    let mut lr = loaded(&mut r);
    let mut seen: BTreeMap<(Metric, Vec<(String, String)>), i128> = BTreeMap::new();
    let mut check = |l: &Ledger| {
        for (k, v) in view(l) {
            let before = seen.insert(k.clone(), v).unwrap_or(0);
            assert!(v >= before, "{k:?} went from {before} to {v}");
        }
    };
    let mut whole = open(&url);
    let mut total = 0;
    while !writers.iter().all(|w| w.is_finished()) {
        refresh(&mut r, &mut lr);
        check(&lr);
        let now = cost_of(&load(&mut whole).0);
        assert!(now >= total, "the whole store went from {total} to {now}");
        total = now;
    }
    for w in writers {
        w.join().unwrap();
    }
    refresh(&mut r, &mut lr);
    check(&lr);
    let db = database_view(&url);
    assert_eq!(view(&lr), db);
    let cost: i128 = db
        .iter()
        .filter(|((m, _), _)| *m == Metric::Cost)
        .map(|(_, v)| v)
        .sum();
    assert_eq!(cost, 3 * 80 * 5);
    assert_eq!(cost_of(&load(&mut whole).0), cost);
    assert_eq!(
        query_i64(
            &url,
            "SELECT count(*) FROM meta WHERE key = 'journal_pruned'"
        ),
        1,
        "the writers folded (and deleted folded rows)"
    );
}

/// The sum of the cost series among rows `load` read.
fn cost_of(rows: &Rows) -> i128 {
    rows.iter()
        .filter(|r| r.1 == Metric::Cost)
        .map(|r| r.3)
        .sum()
}

/// A fold moves the journal into `series`; a replica behind it reads the folded rows while
/// they are kept, and one behind the rows deleted after the retention resyncs from the
/// whole store.
#[test]
fn pg_a_fold_keeps_rows_for_replicas_behind_and_one_behind_the_retention_resyncs() {
    let url = shared().database();
    let (mut a, mut b) = (open(&url), open(&url));
    let (mut la, mut lb) = (ledger(), ledger());
    load(&mut a);
    load(&mut b);
    // kept for ten minutes: B, behind, reads the folded rows themselves
    a.set_journal(NEVER, Duration::from_secs(600));
    for u in ["x", "y", "x", "z"] {
        add(&mut a, &mut la, u);
    }
    a.fold_now().unwrap();
    assert_eq!(
        query_i64(&url, "SELECT count(*) FROM journal WHERE NOT folded"),
        0
    );
    assert_eq!(query_i64(&url, "SELECT count(*) FROM series"), 3);
    assert_eq!(query_i64(&url, "SELECT count(*) FROM journal"), 4);
    assert_eq!(refresh(&mut b, &mut lb), 3, "x, y, z from the folded rows");
    assert_eq!(view(&lb), database_view(&url));
    // kept for no time: the next fold deletes every folded row, B has not read them
    a.set_journal(NEVER, Duration::ZERO);
    for u in ["x", "w"] {
        add(&mut a, &mut la, u);
    }
    a.fold_now().unwrap();
    assert_eq!(query_i64(&url, "SELECT count(*) FROM journal"), 0);
    add(&mut a, &mut la, "y");
    // B adds to x before it refreshes: its delta counts, on top of what it resyncs to
    add(&mut b, &mut lb, "x");
    assert_eq!(
        refresh(&mut b, &mut lb),
        4,
        "a resync adopts every series: w, x, y, z"
    );
    let db = database_view(&url);
    assert_eq!(view(&lb), db);
    assert_eq!(db.values().sum::<i128>(), 8 * 5);
    refresh(&mut a, &mut la);
    assert_eq!(view(&la), db);
    // and both go on adding from there
    add(&mut b, &mut lb, "z");
    add(&mut a, &mut la, "z");
    refresh(&mut a, &mut la);
    refresh(&mut b, &mut lb);
    let db = database_view(&url);
    assert_eq!(db.values().sum::<i128>(), 10 * 5);
    assert_eq!((view(&la), view(&lb)), (db.clone(), db));
}

/// A commit over the store's raw interface: `created`, new `values`, `removed`.
fn raw(s: &mut PgStore, created: Vec<NewSeries<'_>>, values: &[(u32, i128)], removed: &[u32]) {
    raw_with(s, &NoSeries, created, values, removed);
}

/// As [`raw`], with the ledger's series (what a store reads the definition of a series it
/// has no id for from).
fn raw_with(
    s: &mut PgStore,
    all: &dyn AllSeries,
    created: Vec<NewSeries<'_>>,
    values: &[(u32, i128)],
    removed: &[u32],
) {
    try_raw_with(s, all, created, values, removed).unwrap();
}

fn try_raw_with(
    s: &mut PgStore,
    all: &dyn AllSeries,
    created: Vec<NewSeries<'_>>,
    values: &[(u32, i128)],
    removed: &[u32],
) -> Result<(), StoreError> {
    s.commit(&Commit {
        created,
        values,
        all,
        removed,
        dedupe: &[],
        checkpoints: &[],
        drop_checkpoints: &[],
        now: 1,
        purge_before: None,
        daily: &Deltas::default(),
        daily_before: None,
        fence: None,
    })
}

fn series(id: u32, user: &str) -> NewSeries<'_> {
    NewSeries {
        id,
        metric: Metric::Cost,
        labels: vec![("user", user)],
    }
}

/// Every series `load` reads, sorted by labels.
fn values(url: &str) -> Vec<(Vec<(String, String)>, i128)> {
    let mut v: Vec<_> = load(&mut open(url))
        .0
        .into_iter()
        .map(|r| (r.2, r.3))
        .collect();
    v.sort();
    v
}

fn user(u: &str) -> Vec<(String, String)> {
    vec![("user".to_string(), u.to_string())]
}

/// A removed series (its budget period is over) is gone at once, and a fold of the deltas
/// written before its removal does not bring it back, folded or not, nor add them to a
/// series of the same name created after it.
#[test]
fn pg_a_removed_series_is_not_resurrected_by_a_fold() {
    let url = shared().database();
    let mut s = open(&url);
    s.set_journal(NEVER, Duration::ZERO);
    // p is folded before its removal; q is not
    raw(&mut s, vec![series(0, "p")], &[(0, 10)], &[]);
    s.fold_now().unwrap();
    raw(&mut s, vec![series(1, "q")], &[(0, 20), (1, 7)], &[]);
    assert_eq!(values(&url), [(user("p"), 20), (user("q"), 7)]);
    raw(&mut s, vec![], &[], &[0, 1]);
    assert_eq!(values(&url), []);
    // q again, new (a series of the same name after the removal)
    raw(&mut s, vec![series(2, "q")], &[(2, 3)], &[]);
    assert_eq!(values(&url), [(user("q"), 3)]);
    s.fold_now().unwrap();
    assert_eq!(values(&url), [(user("q"), 3)]);
    assert_eq!(query_i64(&url, "SELECT count(*) FROM series"), 1);
    assert_eq!(
        query_i64(
            &url,
            "SELECT value::bigint FROM series WHERE labels = (SELECT labels FROM series LIMIT 1)"
        ),
        3
    );
    // a reader that loaded before the removal drops its base: it adopts q at 3, not 10
    let mut b = open(&url);
    let mut lb = ledger();
    load(&mut b);
    raw(&mut s, vec![], &[(2, 4)], &[2]);
    raw(&mut s, vec![series(3, "q")], &[(3, 1)], &[]);
    refresh(&mut b, &mut lb);
    assert_eq!(values(&url), [(user("q"), 1)]);
    s.fold_now().unwrap();
    assert_eq!(values(&url), [(user("q"), 1)]);
}

/// A fold that changes every series leaves each row on its page (a HOT update: no index
/// entries, a third of the WAL): `series` keeps room for a new version of every row it
/// holds, also in a store whose table an earlier build made with less room.
#[test]
fn pg_a_fold_that_changes_every_series_keeps_each_row_on_its_page() {
    let url = shared().database();
    drop(open(&url));
    sql(&url, "ALTER TABLE series SET (fillfactor = 80)");
    let mut s = open(&url);
    s.set_journal(NEVER, Duration::ZERO);
    let users: Vec<String> = (0..2000).map(|i| format!("user-{i:05}")).collect();
    let created = (users.iter().enumerate())
        .map(|(i, u)| series(i as u32, u))
        .collect();
    let at = |v: i128| (0..2000).map(|i| (i, v)).collect::<Vec<(u32, i128)>>();
    raw(&mut s, created, &at(1000), &[]);
    let pages = || {
        let mut c = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
        let rows = c
            .query(
                "SELECT id, (ctid::text::point)[0]::bigint FROM series ORDER BY id",
                &[],
            )
            .unwrap();
        rows.iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect::<Vec<(i64, i64)>>()
    };
    let before = pages();
    assert!(before.last().unwrap().1 >= 10, "the series fill pages");
    raw(&mut s, vec![], &at(2500), &[]);
    s.fold_now().unwrap();
    assert_eq!(
        query_i64(&url, "SELECT count(*) FROM series WHERE value = 2500"),
        2000
    );
    assert_eq!(pages(), before);
}

/// A role that may write the tables but does not own `series` cannot set its fillfactor:
/// the store still opens and counts (folds are slower, the start says what to run).
#[test]
fn pg_a_role_that_does_not_own_series_still_opens_the_store() {
    let url = shared().database();
    drop(open(&url));
    sql(&url, "ALTER TABLE series SET (fillfactor = 80)");
    let role = format!("writer_{}", fastrand::u32(..));
    sql(
        &url,
        &format!(
            "CREATE ROLE {role} LOGIN; GRANT CREATE, USAGE ON SCHEMA public TO {role}; \
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}; \
         GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}"
        ),
    );
    let as_role = url.replacen("postgres://postgres@", &format!("postgres://{role}@"), 1);
    let mut s = open(&as_role);
    s.set_journal(NEVER, Duration::ZERO);
    raw(&mut s, vec![series(0, "p")], &[(0, 10)], &[]);
    s.fold_now().unwrap();
    assert_eq!(
        query_i64(&url, "SELECT count(*) FROM pg_class WHERE oid = 'series'::regclass AND 'fillfactor=80' = ANY(reloptions)"),
        1,
        "unchanged by a role that does not own it"
    );
    // (the table's owner, opening it, sets it)
    assert_eq!(values(&url), [(user("p"), 10)]);
}

/// The layouts of schemas 1 and 2 (a `version` on every series, no journal), as those
/// daemons created them.
const OLD_SCHEMA: &str = "
CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
CREATE SEQUENCE series_version;
CREATE TABLE series (metric text NOT NULL, labels bytea NOT NULL, value numeric(39,0) NOT NULL, version bigint NOT NULL DEFAULT nextval('series_version'), PRIMARY KEY (metric, labels));
CREATE INDEX series_by_version ON series (version);
CREATE TABLE dedupe (key bytea PRIMARY KEY, first_seen bigint NOT NULL);
CREATE INDEX dedupe_by_first_seen ON dedupe (first_seen);
CREATE TABLE checkpoints (source text PRIMARY KEY, value text NOT NULL);
CREATE TABLE daily_usage (day text NOT NULL, model text NOT NULL, region text NOT NULL, scope text NOT NULL, tier text NOT NULL, long_context boolean NOT NULL, token_type text NOT NULL, tokens bigint NOT NULL, cost_usd numeric NOT NULL, PRIMARY KEY (day, model, region, scope, tier, long_context, token_type));
CREATE TABLE daily_principal (day text NOT NULL, principal text NOT NULL, calls bigint NOT NULL, cost_usd numeric NOT NULL, PRIMARY KEY (day, principal));
";

#[test]
fn pg_schemas_1_and_2_are_upgraded_keeping_every_total_exactly() {
    for from in [1, 2] {
        let url = shared().database();
        sql(&url, OLD_SCHEMA);
        if from == 2 {
            sql(&url, "CREATE TABLE leases (name text PRIMARY KEY, holder text NOT NULL, fence bigint NOT NULL, expires_at timestamptz NOT NULL)");
        }
        sql(
            &url,
            &format!("INSERT INTO meta VALUES ('schema_version', '{from}')"),
        );
        let old: Vec<(&str, i128)> = vec![
            ("max", i128::MAX),
            ("min", i128::MIN),
            ("one", 1),
            ("zero", 0),
        ];
        let mut c = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
        for (u, v) in &old {
            let labels = codec::encode_labels(&[("user", u)]);
            c.execute(
                "INSERT INTO series (metric, labels, value) VALUES ($1, $2, $3::text::numeric)",
                &[&Metric::Cost.name(), &labels, &v.to_string()],
            )
            .unwrap();
        }
        let want: Vec<_> = old.iter().map(|(u, v)| (user(u), *v)).collect();
        let mut s = open(&url);
        let version: String = c
            .query_one("SELECT value FROM meta WHERE key = 'schema_version'", &[])
            .unwrap()
            .get(0);
        assert_eq!(version, PG_SCHEMA_VERSION.to_string());
        assert_eq!(values(&url), want, "from schema {from}");
        let gone: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_attribute WHERE attrelid = 'series'::regclass AND attname = 'version' AND NOT attisdropped",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(gone, 0);
        let left: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_class WHERE relname IN ('series_by_version', 'series_version')",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(left, 0);
        // and it goes on from there: a new store's commits add to the migrated values
        let mut l = ledger();
        load(&mut s);
        commit_one(&mut s, &mut l, "one", &[], 1000);
        s.fold_now().unwrap();
        let mut after = want.clone();
        after.push((
            vec![("user".into(), "one".into()), ("model".into(), "m".into())],
            5,
        ));
        after.sort();
        assert_eq!(values(&url), after, "a commit to another series");
        drop(open(&url));
        assert_eq!(values(&url), after, "opening it again changes nothing");
    }
}

/// Schema 3 (a unique B-tree on each series' definition) is upgraded to 4 (a hash index on
/// the labels instead) in place: every value, folded into `series` or still in the journal,
/// is kept to the unit, and a commit afterwards finds through the new index the series
/// stored before (adds to it: no second row).
#[test]
fn pg_schema_3_is_upgraded_keeping_every_total_exactly() {
    use super::super::pg_journal::{encode, Entry};
    use super::super::postgres::{SCHEMA, UPGRADES};
    let url = shared().database();
    // a schema 3 store as that daemon made it: schema 1, then its upgrades to 3
    sql(
        &url,
        "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)",
    );
    for step in [SCHEMA, UPGRADES[0], UPGRADES[1]] {
        sql(&url, step);
    }
    sql(&url, "INSERT INTO meta VALUES ('schema_version', '3')");
    let mut c = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    let old: Vec<(&str, i128, i128)> = vec![
        ("max", i128::MAX - 7, 7),
        ("min", i128::MIN, 0),
        ("one", 1, -1),
        ("zero", 0, 12),
    ];
    let mut entries = Vec::new();
    for (u, folded, delta) in &old {
        let labels = codec::encode_labels(&[("user", u), ("model", "m")]);
        let id: i64 = c
            .query_one(
                "INSERT INTO series (metric, labels, value) VALUES ($1, $2, $3::text::numeric) RETURNING id",
                &[&Metric::Cost.name(), &labels, &folded.to_string()],
            )
            .unwrap()
            .get(0);
        entries.push(Entry {
            id,
            delta: *delta,
            created: false,
        });
    }
    c.execute(
        "INSERT INTO journal (writer, deltas) VALUES ('old', $1)",
        &[&encode(&entries)],
    )
    .unwrap();
    let labels = |u: &str| {
        vec![
            ("user".to_string(), u.to_string()),
            ("model".into(), "m".into()),
        ]
    };
    let mut want: Vec<_> = old.iter().map(|(u, f, d)| (labels(u), f + d)).collect();
    want.sort();
    let mut s = open(&url);
    let version: String = c
        .query_one("SELECT value FROM meta WHERE key = 'schema_version'", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, PG_SCHEMA_VERSION.to_string());
    assert_eq!(values(&url), want);
    let indexes: Vec<(String, String)> = c
        .query(
            "SELECT i.relname::text, a.amname::text FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am a ON a.oid = i.relam WHERE x.indrelid = 'series'::regclass ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let names = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        indexes,
        names(&[("series_by_labels", "hash"), ("series_pkey", "btree")])
    );
    // a new ledger's series "one" is the stored one: its 5 is added to it
    let mut l = ledger();
    load(&mut s);
    commit_one(&mut s, &mut l, "one", &[], 1000);
    s.fold_now().unwrap();
    for w in want.iter_mut().filter(|w| w.0 == labels("one")) {
        w.1 += 5;
    }
    assert_eq!(values(&url), want, "a commit to a series stored before");
    let rows: i64 = c
        .query_one("SELECT count(*) FROM series", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 4);
    drop(open(&url));
    assert_eq!(values(&url), want, "opening it again changes nothing");
}

/// Schema 4 has no unique index on a series' definition: a commit holding one definition
/// twice (two ledger ids, the same metric and labels) is refused whole, as that index
/// refused it, not stored as two series.
#[test]
fn pg_a_commit_holding_one_definition_twice_is_refused() {
    let url = shared().database();
    let mut s = open(&url);
    s.set_journal(NEVER, Duration::ZERO);
    let err = try_raw_with(
        &mut s,
        &NoSeries,
        vec![series(0, "q"), series(1, "q")],
        &[(0, 1), (1, 2)],
        &[],
    )
    .unwrap_err();
    assert_eq!(err.kind(), "io", "{err}");
    assert!(values(&url).is_empty());
    assert_eq!(query_i64(&url, "SELECT count(*) FROM series"), 0);
    raw(&mut s, vec![series(0, "q")], &[(0, 1)], &[]);
    raw(&mut s, vec![series(1, "r")], &[(1, 2)], &[]);
    assert_eq!(values(&url), [(user("q"), 1), (user("r"), 2)]);
}

/// `state copy` takes the commit lock, as commits do: with no unique index on definitions,
/// nothing may store series beside it (a commit, or a second copy, which then finds the
/// database not empty).
#[test]
fn pg_a_copy_waits_for_the_commit_lock() {
    let url = shared().database();
    drop(open(&url));
    let mut holder = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    let mut tx = holder.transaction().unwrap();
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&super::super::postgres::COMMIT_LOCK],
    )
    .unwrap();
    let copy = {
        let url = url.clone();
        std::thread::spawn(move || open(&url).import(&Image::default()))
    };
    std::thread::sleep(Duration::from_millis(500));
    assert!(!copy.is_finished(), "the copy did not wait for the lock");
    tx.commit().unwrap();
    copy.join().unwrap().unwrap();
}

/// Everything `state export`, `state show` and `state copy` read from the store is the same
/// before and after a fold, to the unit.
#[test]
fn pg_reads_are_the_same_before_and_after_a_fold() {
    let url = shared().database();
    let mut s = open(&url);
    s.set_journal(NEVER, Duration::ZERO);
    let mut l = ledger();
    load(&mut s);
    for (i, u) in ["a", "b", "a", "c", "a"].iter().enumerate() {
        commit_one(
            &mut s,
            &mut l,
            u,
            &[dedupe_key("req", format!("{i}").as_bytes())],
            1000,
        );
    }
    raw(
        &mut s,
        vec![series(1000, "big")],
        &[(1000, i128::MAX - 3)],
        &[],
    );
    let image = |url: &str| super::super::super::copy::read_pg(&mut open(url)).unwrap();
    let stats = |url: &str| {
        let st = open(url).stats().unwrap();
        (st.series_by_metric, st.dedupe_keys, st.checkpoints)
    };
    let (before, before_stats) = (image(&url), stats(&url));
    assert!(query_i64(&url, "SELECT count(*) FROM journal WHERE NOT folded") > 0);
    s.fold_now().unwrap();
    assert_eq!(
        query_i64(&url, "SELECT count(*) FROM journal WHERE NOT folded"),
        0
    );
    assert_eq!(image(&url), before);
    assert_eq!(stats(&url), before_stats);
    assert_eq!(before.series.len(), 4);
}

/// Whether some session holds the fold lock of this database (an advisory lock on a bigint:
/// its high and low halves are `classid` and `objid`; other tests' databases have their own).
fn folding(url: &str) -> bool {
    query_i64(
        url,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 0 AND objid = 1650681190 AND objsubid = 1 \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    ) == 1
}

/// A commit neither waits for a fold under way (here held open just before it commits, its
/// updates of `series` done), on the folding replica or another, nor does a replica that
/// stores a series the fold is updating; whole-store reads meanwhile see the journal as if
/// the fold had not run, and the same totals once it has.
#[test]
fn pg_commits_do_not_wait_for_a_fold_and_totals_stay_exact() {
    let url = shared().database();
    let mut a = open(&url);
    a.set_journal(4, Duration::from_secs(600));
    let mut la = loaded(&mut a);
    a.pause_folds(true);
    for u in ["x", "y", "x", "z"] {
        add(&mut a, &mut la, u);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !folding(&url) {
        assert!(
            std::time::Instant::now() < deadline,
            "the fold never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let cost = |url: &str| -> i128 {
        database_view(url)
            .iter()
            .filter(|((m, _), _)| *m == Metric::Cost)
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(cost(&url), 4 * 5);
    // on threads, so a commit that waits fails the test instead of hanging it
    let commit = |url: &str, user: &'static str| {
        let url = url.to_string();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // not loaded: it stores its series by definition, one the fold is updating too
            let mut b = open(&url);
            add(&mut b, &mut ledger(), user);
            tx.send(()).unwrap();
        });
        rx.recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("a commit to {user} waited for the fold"));
    };
    // another replica, to a series the fold is updating and to a new one
    commit(&url, "x");
    commit(&url, "w");
    // the folding replica itself
    add(&mut a, &mut la, "y");
    assert!(folding(&url), "the fold was still held open");
    let during = database_view(&url);
    assert_eq!(cost(&url), 7 * 5);
    assert_eq!(
        query_i64(&url, "SELECT count(*) FROM journal WHERE NOT folded"),
        7
    );
    a.pause_folds(false);
    while folding(&url) || query_i64(&url, "SELECT count(*) FROM journal WHERE NOT folded") > 3 {
        assert!(std::time::Instant::now() < deadline, "the fold never ended");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(database_view(&url), during);
    a.fold_now().unwrap();
    assert_eq!(database_view(&url), during);
    refresh(&mut a, &mut la);
    assert_eq!(view(&la), during);
}

/// A ledger of one series, id 0: the cost of user p.
struct OnlyP;

impl AllSeries for OnlyP {
    fn ids(&self) -> usize {
        1
    }
    fn value(&self, _: u32) -> i128 {
        0
    }
    fn definition(&self, id: u32) -> Option<(&'static str, Vec<u8>)> {
        (id == 0).then(|| (Metric::Cost.name(), codec::encode_labels(&[("user", "p")])))
    }
}

/// A replica that has not read another's removal of a series yet and adds to it: that delta
/// finds no row and is dropped (folded or not); once it has read the removal, its next change
/// of the series stores it anew with its whole value.
#[test]
fn pg_a_removal_wins_over_a_late_delta_and_a_later_change_is_stored_whole() {
    let url = shared().database();
    let mut a = open(&url);
    a.set_journal(NEVER, Duration::ZERO);
    raw(&mut a, vec![series(0, "p")], &[(0, 10)], &[]);
    let mut b = open(&url);
    b.set_journal(NEVER, Duration::ZERO);
    load(&mut b);
    raw(&mut a, vec![], &[], &[0]);
    raw_with(&mut b, &OnlyP, vec![], &[(0, 15)], &[]);
    assert_eq!(values(&url), []);
    b.fold_now().unwrap();
    assert_eq!(values(&url), []);
    assert_eq!(refresh(&mut b, &mut ledger()), 0);
    raw_with(&mut b, &OnlyP, vec![], &[(0, 16)], &[]);
    assert_eq!(values(&url), [(user("p"), 16)]);
    b.fold_now().unwrap();
    assert_eq!(values(&url), [(user("p"), 16)]);
}
