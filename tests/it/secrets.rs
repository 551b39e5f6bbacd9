//! Secrets stay secret: no access key, token or password reaches the log, even at trace
//! level and even when it is wrong; and the Firehose endpoint does not start without a key.

use std::process::{Command, Stdio};

use crate::auth::{basic, credential_files, exchange, get_as, PASSWORD, TOKEN, USER};
use crate::daemon::{data, Daemon, BIN};

const KEY: &str = "fh-right-key-7f3a9c";
const WRONG_KEY: &str = "fh-wrong-key-4b8e2d";
const WRONG_TOKEN: &str = "tok-wrong-9d1c5e7a3b";
const HASH_KEY: &str = "hash-key-6e2f8a4c1d9b";

fn firehose(addr: &str, rid: &str, key: &str) -> u16 {
    let record = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        crate::follow::call(rid, "ann", 10),
    );
    let body =
        format!(r#"{{"requestId":"{rid}","timestamp":1,"records":[{{"data":"{record}"}}]}}"#);
    exchange(
        addr,
        &format!("POST /firehose HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\nX-Amz-Firehose-Request-Id: {rid}\r\nX-Amz-Firehose-Access-Key: {key}\r\n\r\n", body.len()),
        body.as_bytes(),
    )
    .status
}

#[test]
fn no_key_token_or_password_reaches_the_log_even_at_trace_level() {
    let dir = tempfile::tempdir().unwrap();
    let (tokens, users) = credential_files(dir.path());
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[attribution]\nhash_users = true\n").unwrap();
    let card = data("ratecard.toml");
    let d = Daemon::start_with_env(
        &[
            "--log-level",
            "trace",
            "--config",
            config.to_str().unwrap(),
            "--ratecard",
            &card,
            "--in-memory",
            "--http-bearer-token-file",
            &tokens,
            "--http-basic-auth-file",
            &users,
        ],
        &[
            ("BEDROCK_COST_FIREHOSE_ACCESS_KEYS", KEY),
            ("BEDROCK_COST_USER_HASH_KEY", HASH_KEY),
        ],
    );
    assert_eq!(firehose(&d.addr, "rid-right", KEY), 200);
    assert_eq!(firehose(&d.addr, "rid-wrong", WRONG_KEY), 401);
    assert_eq!(firehose(&d.addr, "rid-none", ""), 401);
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(get_as(&d.addr, "/metrics", &bearer).status, 200);
    assert_eq!(get_as(&d.addr, "/", &basic(USER, PASSWORD)).status, 200);
    let wrong_basic = basic(USER, WRONG_TOKEN);
    for wrong in [format!("Bearer {WRONG_TOKEN}"), wrong_basic.clone()] {
        assert_eq!(get_as(&d.addr, "/metrics", &wrong).status, 401);
    }
    let m = get_as(&d.addr, "/metrics", &bearer).body;
    assert!(m.contains("user=\"u_"), "users are hashed: {m}");
    let log = d.log.clone();
    assert!(d.stop().success());

    let log = log.lock().unwrap().join("\n");
    assert!(
        log.contains("refused a Firehose request")
            && log.contains("DEBUG refused a request without an accepted credential"),
        "the refusals are logged, at debug level for HTTP:\n{log}"
    );
    let b64 = |s: &str| s.split_once(' ').unwrap().1.to_string();
    for secret in [
        KEY,
        WRONG_KEY,
        TOKEN,
        WRONG_TOKEN,
        PASSWORD,
        HASH_KEY,
        &b64(&basic(USER, PASSWORD)),
        &b64(&wrong_basic),
    ] {
        assert!(!log.contains(secret), "{secret} is in the log:\n{log}");
    }
}

/// `run` with a config and environment; (exit code, standard error).
fn run(config: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(BIN)
        .args(["run", "--in-memory", "--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .args(args)
        .env_remove("BEDROCK_COST_FIREHOSE_ACCESS_KEYS")
        .env_remove("BEDROCK_COST_FIREHOSE_ACCESS_KEY_FILE")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_firehose_endpoint_does_not_start_without_a_key_and_says_what_to_set() {
    let (code, err) = run("[firehose]\nenabled = true\npath = \"/fh\"\n", &[], &[]);
    assert_eq!(code, 1, "{err}");
    for want in [
        "firehose.enabled is true but no access key is configured",
        "firehose.access_key_file",
        "--firehose-access-key-file",
        "BEDROCK_COST_FIREHOSE_ACCESS_KEYS",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    let (code, err) = run("", &[], &[("BEDROCK_COST_FIREHOSE_ACCESS_KEYS", " , ")]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("BEDROCK_COST_FIREHOSE_ACCESS_KEYS is set but holds no key"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "# rotate here\n\n").unwrap();
    let (code, err) = run(
        "",
        &["--firehose-access-key-file", keys.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("holds no key; write one key per line"),
        "{err}"
    );
}
