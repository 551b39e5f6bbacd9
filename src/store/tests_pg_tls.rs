//! TLS to a real PostgreSQL server (`postgres.sh start-tls`: ssl=on, a certificate for
//! `localhost` only, signed by a CA made for the test): each `sslmode`, the server's view of
//! the connection, and the errors that say what to fix.

use std::sync::OnceLock;
use std::time::Duration;

use super::*;

fn tls_server() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(Server::start_tls)
}

/// A new database on the TLS server, reached through `host`, with the URL parameters `query`.
fn tls_url(host: &str, query: &str) -> String {
    let url = tls_server().database();
    format!("{}?{query}", url.replace("127.0.0.1", host))
}

fn ca(file: &str) -> String {
    tls_server()
        .dir
        .join("tls")
        .join(file)
        .display()
        .to_string()
}

fn open_err(url: &str) -> String {
    PgStore::open(url, None)
        .err()
        .expect("no connection")
        .to_string()
}

#[test]
fn pg_tls_verify_full_with_the_right_ca_commits_reads_back_and_is_encrypted() {
    let query = format!("sslmode=verify-full&sslrootcert={}", ca("ca.pem"));
    let url = tls_url("localhost", &query);
    assert_eq!(check_url(&url), Ok(()));
    let mut l = ledger();
    let mut s = open(&url);
    commit_one(&mut s, &mut l, "a", &[dedupe_key("req", b"1")], 1000);
    let (rows, _) = load(&mut open(&url));
    assert_eq!(rows.iter().map(|r| r.3).sum::<i128>(), 5);
    // the lease's own connection goes the same way
    let mut lease = Lease::open(&url, None, "cloudwatch:/g", "me").unwrap();
    assert!(lease
        .acquire_or_renew(Duration::from_secs(5))
        .unwrap()
        .is_some());
    // the server sees every connection of the store and the lease encrypted
    let db = url.split('?').next().unwrap().rsplit_once('/').unwrap().1;
    let mut admin = tls_server().admin();
    let row = admin
        .query_one(
            "SELECT count(*), bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = $1 AND a.application_name = 'bedrock-cost-exporter'",
            &[&db],
        )
        .unwrap();
    let (count, all): (i64, Option<bool>) = (row.get(0), row.get(1));
    assert!(count >= 2, "{count} connections");
    assert_eq!(all, Some(true));
}

#[test]
fn pg_tls_verify_full_refuses_a_certificate_from_another_ca_and_names_the_bundle() {
    let query = format!("sslmode=verify-full&sslrootcert={}", ca("other-ca.pem"));
    let err = open_err(&tls_url("localhost", &query));
    assert!(
        err.contains("does not verify against the CA certificates in")
            && err.contains("other-ca.pem"),
        "{err}"
    );
}

#[test]
fn pg_tls_verify_full_refuses_a_host_the_certificate_does_not_name_and_verify_ca_accepts_it() {
    let query = format!("sslmode=verify-full&sslrootcert={}", ca("ca.pem"));
    let err = open_err(&tls_url("127.0.0.1", &query));
    assert!(
        err.contains("not valid for the host name 127.0.0.1") && err.contains("verify-ca"),
        "{err}"
    );
    let query = format!("sslmode=verify-ca&sslrootcert={}", ca("ca.pem"));
    open(&tls_url("127.0.0.1", &query));
    // `require` with a bundle is verify-ca, as in libpq
    let query = format!("sslmode=require&sslrootcert={}", ca("other-ca.pem"));
    let err = open_err(&tls_url("127.0.0.1", &query));
    assert!(err.contains("other-ca.pem"), "{err}");
}

#[test]
fn pg_tls_require_and_prefer_encrypt_without_checking_the_certificate() {
    for mode in ["require", "prefer"] {
        open(&tls_url("127.0.0.1", &format!("sslmode={mode}")));
    }
}

#[test]
fn pg_tls_prefer_goes_plain_over_a_unix_socket() {
    let url = tls_url("localhost", "sslmode=prefer");
    let dir = tls_server().dir.display().to_string().replace('/', "%2F");
    open(&url.replacen("localhost", &dir, 1));
}

#[test]
fn pg_tls_require_fails_clearly_against_a_server_without_tls_and_prefer_goes_plain() {
    let url = format!("{}?sslmode=require", shared().database());
    let err = open_err(&url);
    assert!(
        err.contains("server does not support TLS") && err.contains("sslmode=prefer"),
        "{err}"
    );
    open(&format!("{}?sslmode=prefer", shared().database()));
    open(&format!("{}?sslmode=disable", shared().database()));
}

#[test]
fn pg_tls_url_parameters_are_checked_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let base = "postgres://u@db.example:5432/x";
    let err = check_url(&format!("{base}?sslmode=verify-everything")).unwrap_err();
    assert!(
        err.contains("sslmode=verify-everything is not one of"),
        "{err}"
    );
    let missing = dir.path().join("missing.pem");
    let err = check_url(&format!(
        "{base}?sslmode=verify-full&sslrootcert={}",
        missing.display()
    ))
    .unwrap_err();
    assert!(
        err.contains("missing.pem") && err.contains("cannot read"),
        "{err}"
    );
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    let err = check_url(&format!("{base}?sslrootcert={}", not_pem.display())).unwrap_err();
    assert!(err.contains("holds no PEM certificate"), "{err}");
    // a percent-encoded path, beside parameters the postgres crate reads itself
    let spaced = dir.path().join("my ca.pem");
    std::fs::copy(ca("ca.pem"), &spaced).unwrap();
    let encoded = spaced.display().to_string().replace(' ', "%20");
    let url = format!(
        "{base}?application_name=x&sslrootcert={encoded}&sslmode=verify-ca&connect_timeout=3"
    );
    assert_eq!(check_url(&url), Ok(()));
}
