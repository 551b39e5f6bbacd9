//! The PostgreSQL store's daily journal (schema 5): a commit writes one row, folds move the
//! rows into the tables exactly, readers see the same totals before and after a fold, a
//! prune folds first, and a schema 4 database is upgraded keeping its daily totals.

use super::super::daily::{batch, d, key, who};
use super::{commit_daily, open, shared, sql};
use crate::daily::Deltas;
use crate::record::TokenClass;

fn count(url: &str, q: &str) -> i64 {
    let mut c = ::postgres::Client::connect(url, ::postgres::NoTls).unwrap();
    c.query_one(q, &[]).unwrap().get(0)
}

#[test]
fn pg_daily_totals_go_to_the_journal_and_folds_move_them_exactly() {
    let url = shared().database();
    let mut s = open(&url);
    let alice = "arn:aws:iam::1:user/alice";
    for _ in 0..3 {
        commit_daily(&mut s, &batch("2026-11-01", 1000, "0.000035", alice), None);
    }
    commit_daily(
        &mut s,
        &batch("2026-11-02", 2, "20.000000000000000001", ""),
        None,
    );
    // A batch without daily deltas writes no row.
    commit_daily(&mut s, &Deltas::default(), None);
    // Each commit wrote one journal row and no table row.
    assert_eq!(count(&url, "SELECT count(*) FROM daily_journal"), 4);
    assert_eq!(count(&url, "SELECT count(*) FROM daily_principal"), 0);
    assert_eq!(count(&url, "SELECT count(*) FROM daily_usage"), 0);
    let before = open(&url).daily(None, None).unwrap();
    let u = before.usage[&key("2026-11-01", TokenClass::Input)];
    assert_eq!((u.tokens, u.cost), (3000, d("0.000105")));
    assert_eq!(before.principals[&who("2026-11-01", alice)].calls, 3);
    assert_eq!(
        before.principals[&who("2026-11-02", "")].cost,
        d("20.000000000000000001")
    );
    // A range reads the journal's rows of its days only.
    let one = s.daily(Some("2026-11-02"), None).unwrap();
    assert_eq!((one.usage.len(), one.principals.len()), (1, 1));

    s.fold_now().unwrap();
    assert_eq!(count(&url, "SELECT count(*) FROM daily_journal"), 0);
    assert_eq!(count(&url, "SELECT count(*) FROM daily_principal"), 2);
    assert_eq!(open(&url).daily(None, None).unwrap(), before);
    // Rows after a fold add to the folded ones.
    commit_daily(&mut s, &batch("2026-11-01", 1, "0.000000035", alice), None);
    let after = s.daily(None, None).unwrap();
    let u = after.usage[&key("2026-11-01", TokenClass::Input)];
    assert_eq!((u.tokens, u.cost), (3001, d("0.000105035")));
    s.fold_now().unwrap();
    assert_eq!(s.daily(None, None).unwrap(), after);
}

/// A prune deletes the days before its cutoff whether their deltas were folded or still in the
/// journal (it folds first, as the SQLite store does).
#[test]
fn pg_a_prune_reaches_days_still_in_the_journal() {
    let url = shared().database();
    let mut s = open(&url);
    commit_daily(&mut s, &batch("2026-11-01", 5, "0.5", "a"), None);
    s.fold_now().unwrap();
    commit_daily(&mut s, &batch("2026-11-01", 5, "0.5", "b"), None);
    commit_daily(&mut s, &batch("2026-11-03", 1, "0.1", "a"), None);
    commit_daily(
        &mut s,
        &batch("2026-11-02", 2, "0.2", "c"),
        Some("2026-11-02"),
    );
    let t = s.daily(None, None).unwrap();
    let days: Vec<(&str, &str)> = (t.principals.keys())
        .map(|k| (k.day.as_str(), k.principal.as_str()))
        .collect();
    assert_eq!(days, [("2026-11-02", "c"), ("2026-11-03", "a")]);
    assert_eq!(count(&url, "SELECT count(*) FROM daily_journal"), 0);
}

/// A schema 4 database (daily totals in the tables only) is upgraded to 5 in place: its daily
/// totals read the same, and new batches add to them through the journal.
#[test]
fn pg_schema_4_is_upgraded_keeping_the_daily_totals() {
    use super::super::super::postgres::{PG_SCHEMA_VERSION, SCHEMA, UPGRADES};
    let url = shared().database();
    sql(
        &url,
        "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)",
    );
    for step in [SCHEMA, UPGRADES[0], UPGRADES[1], UPGRADES[2]] {
        sql(&url, step);
    }
    sql(
        &url,
        "INSERT INTO meta VALUES ('schema_version', '4');
         INSERT INTO daily_principal VALUES ('2026-11-01', 'arn:a', 2, 20.000000000000000001);
         INSERT INTO daily_usage VALUES ('2026-11-01', 'amazon.nova-micro-v1:0', 'us-east-1', 'geo', 'priority', false, 'input', 9, 0.25);",
    );
    let mut s = open(&url);
    let version = count(
        &url,
        "SELECT value::bigint FROM meta WHERE key = 'schema_version'",
    );
    assert_eq!(version, PG_SCHEMA_VERSION);
    assert_eq!(PG_SCHEMA_VERSION, 5);
    let t = s.daily(None, None).unwrap();
    assert_eq!(
        t.principals[&who("2026-11-01", "arn:a")].cost,
        d("20.000000000000000001")
    );
    commit_daily(&mut s, &batch("2026-11-01", 1, "0.75", "arn:a"), None);
    let t = s.daily(None, None).unwrap();
    let u = t.usage[&key("2026-11-01", TokenClass::Input)];
    assert_eq!((u.tokens, u.cost), (10, d("1")));
    assert_eq!(t.principals[&who("2026-11-01", "arn:a")].calls, 3);
    s.fold_now().unwrap();
    assert_eq!(s.daily(None, None).unwrap(), t);
}
