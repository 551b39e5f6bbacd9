//! Leases and fenced commits against a real PostgreSQL server (the server of `tests_pg.rs`):
//! one holder at a time, takeover after expiry with the next fence and the committed
//! checkpoint, release, a stale holder's commit refused whole, and the schema 1 -> 2 upgrade.

use std::time::Duration;

use super::super::*;
use super::{open, shared, sql};
use crate::daily::Deltas;
use crate::ledger::Ledger;

const NAME: &str = "cloudwatch:/bedrock/g";
const TTL: Duration = Duration::from_secs(2);

fn lease(url: &str, holder: &str) -> Lease {
    Lease::open(url, None, NAME, holder).unwrap()
}

fn held(fence: i64, checkpoint: Option<&str>) -> Option<Held> {
    Some(Held {
        fence,
        checkpoint: checkpoint.map(str::to_string),
    })
}

/// One batch of 5 for `user` with `key`, the lease's checkpoint at `at`, under `fence`.
fn commit_under(
    s: &mut dyn Store,
    l: &mut Ledger,
    user: &str,
    key: DedupeKey,
    at: &str,
    fence: Option<(&str, i64)>,
) -> Result<(), StoreError> {
    l.begin();
    l.add_named(Metric::Cost, &[("user", user), ("model", "m")], 5);
    let ch = l.changes();
    let cps = [(NAME.to_string(), at.to_string())];
    let done = s.commit(&Commit {
        created: l.new_series(&ch.created),
        values: &ch.values,
        all: &*l,
        removed: &ch.removed,
        dedupe: &[key],
        checkpoints: &cps,
        drop_checkpoints: &[],
        now: 1000,
        purge_before: None,
        daily: &Deltas::default(),
        daily_before: None,
        fence,
    });
    match done {
        Ok(()) => l.keep(),
        Err(_) => l.rollback(),
    }
    done
}

#[test]
fn pg_a_lease_has_one_holder_and_is_taken_over_after_expiry_with_the_next_fence() {
    let url = shared().database();
    let mut store = open(&url);
    let mut l = super::super::ledger();
    super::super::load(&mut store);
    let (mut a, mut b) = (lease(&url, "a"), lease(&url, "b"));

    assert_eq!(a.acquire_or_renew(TTL).unwrap(), held(1, None));
    assert_eq!(b.acquire_or_renew(TTL).unwrap(), None, "a holds it");
    assert_eq!(
        a.acquire_or_renew(TTL).unwrap(),
        held(1, None),
        "a renewal keeps the fence"
    );
    commit_under(
        &mut store,
        &mut l,
        "u",
        dedupe_key("cwl", b"1"),
        "c1",
        Some((NAME, 1)),
    )
    .unwrap();
    assert_eq!(b.acquire_or_renew(TTL).unwrap(), None);

    // expired, nobody took it: its holder renews under the same fence
    std::thread::sleep(TTL + Duration::from_millis(300));
    assert_eq!(a.acquire_or_renew(TTL).unwrap(), held(1, Some("c1")));

    // expired again: b takes it over with the next fence and a's committed checkpoint
    std::thread::sleep(TTL + Duration::from_millis(300));
    assert_eq!(b.acquire_or_renew(TTL).unwrap(), held(2, Some("c1")));
    assert_eq!(a.acquire_or_renew(TTL).unwrap(), None, "a's renewal fails");
    assert_eq!(b.acquire_or_renew(TTL).unwrap(), held(2, Some("c1")));

    // a batch a read under fence 1 is refused whole: no total, key or checkpoint
    let err = commit_under(
        &mut store,
        &mut l,
        "u",
        dedupe_key("cwl", b"2"),
        "c2",
        Some((NAME, 1)),
    )
    .unwrap_err();
    assert_eq!(err.kind(), "conflict", "{err}");
    assert!(
        err.to_string().contains("moved to another replica"),
        "{err}"
    );
    let (rows, cps) = super::super::load(&mut open(&url));
    assert_eq!(rows.iter().map(|r| r.3).sum::<i128>(), 5);
    assert_eq!(cps[NAME], "c1");
    assert_eq!(store.seen(&[dedupe_key("cwl", b"2")]).unwrap(), [false]);

    // b's batches under fence 2 commit
    commit_under(
        &mut store,
        &mut l,
        "u",
        dedupe_key("cwl", b"2"),
        "c2",
        Some((NAME, 2)),
    )
    .unwrap();
    let (rows, cps) = super::super::load(&mut open(&url));
    assert_eq!(rows.iter().map(|r| r.3).sum::<i128>(), 10);
    assert_eq!(cps[NAME], "c2");
    // a lease nobody ever took fences nothing through
    let err = commit_under(
        &mut store,
        &mut l,
        "u",
        dedupe_key("cwl", b"3"),
        "c3",
        Some(("cloudwatch:/other", 1)),
    )
    .unwrap_err();
    assert_eq!(err.kind(), "conflict", "{err}");
}

#[test]
fn pg_a_released_lease_is_taken_at_once_and_a_takeover_waits_for_the_holders_commit() {
    let url = shared().database();
    drop(open(&url));
    let (mut a, mut b) = (lease(&url, "a"), lease(&url, "b"));
    let long = Duration::from_secs(600);
    assert_eq!(a.acquire_or_renew(long).unwrap(), held(1, None));
    assert_eq!(b.acquire_or_renew(long).unwrap(), None);
    a.release().unwrap();
    assert_eq!(b.acquire_or_renew(long).unwrap(), held(2, None));
    // a release by a former holder leaves the new holder's lease alone
    a.release().unwrap();
    assert_eq!(a.acquire_or_renew(long).unwrap(), None);

    // b's lease ran out (released here) while its commit is in flight, the lease row
    // share-locked as the commit's fence check leaves it: a's takeover waits for that commit
    // and then reads the checkpoint it wrote
    b.release().unwrap();
    let mut c = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    let mut tx = c.transaction().unwrap();
    let fence: i64 = tx
        .query_one(
            "SELECT fence FROM leases WHERE name = $1 FOR SHARE",
            &[&NAME],
        )
        .unwrap()
        .get(0);
    assert_eq!(fence, 2);
    tx.execute(
        "INSERT INTO checkpoints (source, value) VALUES ($1, 'by-b')",
        &[&NAME],
    )
    .unwrap();
    let taking = std::thread::spawn(move || {
        let got = a.acquire_or_renew(long).unwrap();
        (a, got)
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(!taking.is_finished(), "the takeover waits for the commit");
    tx.commit().unwrap();
    let (_a, got) = taking.join().unwrap();
    assert_eq!(got, held(3, Some("by-b")));
}

#[test]
fn pg_schema_1_is_upgraded_in_place_and_keeps_what_it_held() {
    let url = shared().database();
    {
        let mut s = open(&url);
        let mut l = super::super::ledger();
        super::super::load(&mut s);
        commit_under(&mut s, &mut l, "u", dedupe_key("req", b"1"), "c1", None).unwrap();
    }
    // schema 1 is schema 2 without the leases table
    sql(
        &url,
        "DROP TABLE leases; UPDATE meta SET value = '1' WHERE key = 'schema_version'",
    );
    let mut s = open(&url);
    let mut c = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    let version: String = c
        .query_one("SELECT value FROM meta WHERE key = 'schema_version'", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, PG_SCHEMA_VERSION.to_string());
    assert_eq!(PG_SCHEMA_VERSION, 5);
    let (rows, cps) = super::super::load(&mut s);
    assert_eq!(rows.iter().map(|r| r.3).sum::<i128>(), 5);
    assert_eq!(cps[NAME], "c1");
    assert_eq!(s.seen(&[dedupe_key("req", b"1")]).unwrap(), [true]);
    assert_eq!(
        lease(&url, "a").acquire_or_renew(TTL).unwrap(),
        held(1, Some("c1"))
    );
    // opening it again changes nothing
    drop(open(&url));
    assert_eq!(lease(&url, "b").acquire_or_renew(TTL).unwrap(), None);
}

#[test]
fn sqlite_ignores_the_fence() {
    let mut s = SqliteStore::in_memory().unwrap();
    let mut l = super::super::ledger();
    super::super::load(&mut s);
    commit_under(
        &mut s,
        &mut l,
        "u",
        dedupe_key("req", b"1"),
        "c1",
        Some((NAME, 7)),
    )
    .unwrap();
    assert_eq!(super::super::load(&mut s).1[NAME], "c1");
}

#[test]
fn holder_ids_name_the_host_and_process_and_differ_between_clients() {
    let (a, b) = (holder_id(), holder_id());
    assert_ne!(a, b, "a random part tells two clients of one process apart");
    let parts: Vec<&str> = a.rsplitn(3, ':').collect();
    assert_eq!(parts.len(), 3, "{a}");
    assert_eq!(parts[1], std::process::id().to_string());
    assert_eq!(parts[0].len(), 8);
    assert!(!parts[2].is_empty());
}
