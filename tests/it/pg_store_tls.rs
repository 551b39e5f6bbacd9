//! The daemon and the `state` commands on a PostgreSQL store reached over verified TLS
//! (`sslmode=verify-full` with the test CA as `sslrootcert`), and a bad `sslrootcert` refused
//! at startup.

use crate::daemon::{append, data, run_cli, sum, Daemon};
use crate::follow::call;
use crate::pg_store::exported;
use crate::support::postgres::Server;

#[test]
fn the_daemon_counts_into_postgres_over_verified_tls() {
    let server = Server::start_tls();
    let ca = server.dir.join("tls/ca.pem");
    let db_url = server.database();
    let db = db_url.rsplit_once('/').unwrap().1.to_string();
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        db_url.replace("127.0.0.1", "localhost"),
        ca.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.jsonl");
    append(&log, &(call("r1", "u", 1000) + &call("r2", "v", 2000)));
    let args = [
        "--file",
        log.to_str().unwrap(),
        "--ratecard",
        &data("ratecard.toml"),
        "--store",
        &url,
    ];
    let d = Daemon::start(&args);
    d.wait_for("two records", |m| {
        sum(m, "bedrock_tokens_total", &["token_type=\"input\""]) == 3000.0
    });
    // the server sees the daemon's connections encrypted
    let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port);
    let mut admin = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    let row = admin
        .query_one(
            "SELECT count(*), bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = $1 AND a.application_name = 'bedrock-cost-exporter'",
            &[&db],
        )
        .unwrap();
    let (count, all): (i64, Option<bool>) = (row.get(0), row.get(1));
    assert!(count >= 1, "{count} connections");
    assert_eq!(all, Some(true));
    assert!(d.stop().success(), "SIGTERM must exit 0");

    let (code, out, err) = run_cli(&["state", "--store", &url, "export"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(exported(&out, "bedrock_tokens_total"), 3000.into());

    // the wrong CA: refused, naming the bundle
    let other = server.dir.join("tls/other-ca.pem");
    let wrong = url.replace("/ca.pem", "/other-ca.pem");
    let (code, _, err) = run_cli(&["state", "--store", &wrong, "export"], None);
    assert_ne!(code, 0);
    assert!(
        err.contains("does not verify against") && err.contains(&other.display().to_string()),
        "{err}"
    );
    // a bundle that is not there: refused before anything starts
    let missing = url.replace("/ca.pem", "/missing.pem");
    let (code, _, err) = run_cli(&["run", "--store", &missing, "--file", "/x.jsonl"], None);
    assert_ne!(code, 0);
    assert!(err.contains("missing.pem: cannot read it"), "{err}");
}
