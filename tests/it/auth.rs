//! Authentication of `/`, `/metrics` and every other path but the probes and the Firehose
//! path: bearer tokens and basic-auth users from files, rotated by editing the files.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;

use crate::daemon::{data, Daemon};

pub const TOKEN: &str = "tok-0123456789abcdef-scrape";
pub const USER: &str = "prometheus";
pub const PASSWORD: &str = "pw-0123456789abcdef-basic";

/// A response: status, head (lower-cased) and body.
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// Sends `head` (and `body`) on a fresh connection and reads the whole response.
pub fn exchange(addr: &str, head: &str, body: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Reply {
        status: head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

/// GET with an `Authorization` header (none when empty).
pub fn get_as(addr: &str, path: &str, authorization: &str) -> Reply {
    let auth = if authorization.is_empty() {
        String::new()
    } else {
        format!("Authorization: {authorization}\r\n")
    };
    exchange(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"),
        b"",
    )
}

pub fn basic(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// Writes the credential files: (bearer token file, basic-auth file).
pub fn credential_files(dir: &Path) -> (String, String) {
    let (tokens, users) = (dir.join("http-tokens"), dir.join("http-users"));
    std::fs::write(&tokens, format!("# the scraper's token\n{TOKEN}\n")).unwrap();
    std::fs::write(&users, format!("{USER}:{PASSWORD}\n")).unwrap();
    (
        tokens.to_str().unwrap().into(),
        users.to_str().unwrap().into(),
    )
}

fn wait_until(what: &str, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_path_but_the_probes_and_firehose_needs_a_credential_and_rotation_needs_no_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (tokens, users) = credential_files(dir.path());
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[http]\nauth_reload_interval = \"100ms\"\n").unwrap();
    let keys = dir.path().join("firehose-keys");
    std::fs::write(&keys, "fh-key-0123456789abcdef\n").unwrap();
    let card = data("ratecard.toml");
    let d = Daemon::start(&[
        "--config",
        config.to_str().unwrap(),
        "--ratecard",
        &card,
        "--in-memory",
        "--firehose-access-key-file",
        keys.to_str().unwrap(),
        "--http-bearer-token-file",
        &tokens,
        "--http-basic-auth-file",
        &users,
    ]);
    let bearer = format!("Bearer {TOKEN}");

    for path in ["/", "/metrics", "/no-such-path"] {
        let r = get_as(&d.addr, path, "");
        assert_eq!(r.status, 401, "{path}");
        assert!(
            r.head
                .contains("www-authenticate: bearer realm=\"bedrock-cost-exporter\"")
                && r.head.contains(
                    "www-authenticate: basic realm=\"bedrock-cost-exporter\", charset=\"utf-8\""
                ),
            "{path}: {}",
            r.head
        );
        assert_eq!(r.body, "unauthorized\n", "no detail: {path}");
    }
    for wrong in [
        format!("Bearer {TOKEN}x"),
        "Bearer ".to_string(),
        basic(USER, "wrong-password-0123456789"),
        basic("someone", PASSWORD),
        TOKEN.to_string(),
    ] {
        let r = get_as(&d.addr, "/metrics", &wrong);
        assert_eq!(
            (r.status, r.body.as_str()),
            (401, "unauthorized\n"),
            "{wrong}"
        );
    }
    let m = get_as(&d.addr, "/metrics", &bearer);
    assert_eq!(m.status, 200);
    assert!(m.body.contains("bedrock_build_info"), "{}", m.body);
    assert_eq!(get_as(&d.addr, "/", &basic(USER, PASSWORD)).status, 200);
    assert_eq!(
        get_as(&d.addr, "/metrics", &basic(USER, PASSWORD)).status,
        200
    );
    // Probes and Firehose need no HTTP credential (Firehose checks its own key).
    assert_eq!(get_as(&d.addr, "/healthz", "").status, 200);
    assert_eq!(get_as(&d.addr, "/readyz", "").status, 200);
    let body = r#"{"requestId":"auth-fh","timestamp":1,"records":[]}"#;
    let fh = exchange(
        &d.addr,
        &format!(
            "POST /firehose HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\nX-Amz-Firehose-Request-Id: auth-fh\r\nX-Amz-Firehose-Access-Key: fh-key-0123456789abcdef\r\n\r\n",
            body.len()
        ),
        body.as_bytes(),
    );
    assert_eq!(fh.status, 200, "{}", fh.body);

    // Rotation: the new token is added, then the old one removed; no restart.
    let new = "tok-new-0123456789abcdef";
    std::fs::write(&tokens, format!("{TOKEN}\n{new}\n")).unwrap();
    wait_until("the new token", || {
        get_as(&d.addr, "/metrics", &format!("Bearer {new}")).status == 200
    });
    assert_eq!(get_as(&d.addr, "/metrics", &bearer).status, 200);
    std::fs::write(&tokens, format!("{new}\n")).unwrap();
    wait_until("the old token to go", || {
        get_as(&d.addr, "/metrics", &bearer).status == 401
    });
    // A file that does not load keeps the credentials in force, and says why.
    std::fs::write(&tokens, "too-short\n").unwrap();
    wait_until("the reload error", || {
        d.log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("cannot reload the HTTP credentials"))
    });
    assert_eq!(
        get_as(&d.addr, "/metrics", &format!("Bearer {new}")).status,
        200
    );
    let log = d.log.lock().unwrap().join("\n");
    assert!(!log.contains("too-short"), "{log}");
    assert!(d.stop().success());
}

#[test]
fn credential_files_are_checked_at_startup_with_every_problem_listed() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "short\n").unwrap();
    let users = dir.path().join("users");
    std::fs::write(&users, "nocolon\n").unwrap();
    let (code, _, err) = crate::daemon::run_cli(
        &[
            "run",
            "--in-memory",
            "--stdin",
            "--http-bearer-token-file",
            tokens.to_str().unwrap(),
            "--http-basic-auth-file",
            users.to_str().unwrap(),
        ],
        Some(""),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("2 problem(s)"), "{err}");
    assert!(
        err.contains("tokens line 1: a bearer token must be at least 16 characters"),
        "{err}"
    );
    assert!(err.contains("users line 1: write user:password"), "{err}");
    assert!(
        !err.contains("short\n") && !err.contains("nocolon"),
        "{err}"
    );
}
