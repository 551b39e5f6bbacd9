//! Built-in TLS: HTTPS with PEM files, and a renewed certificate picked up without a restart
//! (a broken replacement keeps the old one serving). Real `openssl` makes the certificates,
//! real `curl` is the client.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::daemon::{data, Daemon};

fn make_cert(dir: &Path, cn: &str) {
    let (cert, key) = (dir.join("new-cert.pem"), dir.join("new-key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
        ])
        .args([
            "-subj",
            &format!("/CN={cn}"),
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl makes the test certificates");
    assert!(ok.success());
    // Key first, then the certificate, each by rename, as a renewal tool does.
    std::fs::rename(&key, dir.join("key.pem")).unwrap();
    std::fs::rename(&cert, dir.join("cert.pem")).unwrap();
}

/// (body, the certificate subject curl saw)
fn https_get(addr: &str, path: &str) -> (String, String) {
    let out = Command::new("curl")
        .args([
            "-sk",
            "-v",
            "--max-time",
            "10",
            &format!("https://{addr}{path}"),
        ])
        .output()
        .expect("curl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let subject = stderr
        .lines()
        .find_map(|l| l.split("subject: ").nth(1))
        .unwrap_or("")
        .trim()
        .to_string();
    (String::from_utf8_lossy(&out.stdout).into_owned(), subject)
}

fn wait_for_subject(addr: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, subject) = https_get(addr, "/healthz");
        if subject.contains(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still serving {subject:?}, want {want}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn https_serves_and_a_renewed_certificate_is_picked_up_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    make_cert(dir.path(), "first.example");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "tls_reload_interval = \"100ms\"\n").unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "tls-test-key\n").unwrap();
    let card = data("ratecard.toml");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let d = Daemon::start(&[
        "--config",
        config.to_str().unwrap(),
        "--ratecard",
        &card,
        "--in-memory",
        "--tls-cert-file",
        cert.to_str().unwrap(),
        "--tls-key-file",
        key.to_str().unwrap(),
        "--firehose-access-key-file",
        keys.to_str().unwrap(),
    ]);
    let (body, subject) = https_get(&d.addr, "/healthz");
    assert_eq!(body, "ok\n");
    assert!(subject.contains("first.example"), "{subject}");

    // A Firehose delivery over HTTPS, as Firehose makes it.
    let record = crate::follow::call("tls-1", "t", 1000);
    let payload = format!(
        r#"{{"requestId":"tls-req","timestamp":1,"records":[{{"data":"{}"}}]}}"#,
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            record.as_bytes()
        )
    );
    let out = Command::new("curl")
        .args([
            "-sk",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code}",
            "-X",
            "POST",
        ])
        .args([
            "-H",
            "Content-Type: application/json",
            "-H",
            "X-Amz-Firehose-Request-Id: tls-req",
            "-H",
            "X-Amz-Firehose-Access-Key: tls-test-key",
        ])
        .args([
            "--data-binary",
            &payload,
            &format!("https://{}/firehose", d.addr),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.ends_with("\n200") && text.contains("\"requestId\":\"tls-req\""),
        "{text}"
    );

    make_cert(dir.path(), "second.example");
    wait_for_subject(&d.addr, "second.example");

    // A broken renewal: reported, and the last good certificate keeps serving.
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (m, _) = https_get(&d.addr, "/metrics");
        if m.contains("bedrock_tls_reloads_total{result=\"failed\"} 1") {
            assert!(
                m.contains("bedrock_tls_reloads_total{result=\"ok\"} 1"),
                "{m}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the failed reload was not reported"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (body, subject) = https_get(&d.addr, "/healthz");
    assert_eq!(body, "ok\n");
    assert!(subject.contains("second.example"), "{subject}");
    assert!(d.stop().success());
}

/// curl over HTTPS: (status, HTTP version) of a GET with extra arguments.
fn curl_status(addr: &str, path: &str, args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "10", "-o", "/dev/null"])
        .args(["-w", "%{http_code} %{http_version}"])
        .args(args)
        .arg(format!("https://{addr}{path}"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (code, version) = text.split_once(' ').unwrap_or((&text, ""));
    (code.to_string(), version.to_string())
}

#[test]
fn https_asks_for_credentials_and_limits_headers_over_http1_and_http2() {
    let dir = tempfile::tempdir().unwrap();
    make_cert(dir.path(), "auth.example");
    let (tokens, users) = crate::auth::credential_files(dir.path());
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[http]\nmax_header_bytes = 16384\n").unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let logs = dir.path().join("none-yet.jsonl");
    let d = Daemon::start(&[
        "--config",
        config.to_str().unwrap(),
        "--in-memory",
        "--file",
        logs.to_str().unwrap(),
        "--tls-cert-file",
        cert.to_str().unwrap(),
        "--tls-key-file",
        key.to_str().unwrap(),
        "--http-bearer-token-file",
        &tokens,
        "--http-basic-auth-file",
        &users,
    ]);
    let bearer = format!("Authorization: Bearer {}", crate::auth::TOKEN);
    let user = format!("{}:{}", crate::auth::USER, crate::auth::PASSWORD);
    let big = format!("X-Big: {}", "a".repeat(17_000));
    for version in ["--http1.1", "--http2"] {
        let v = if version == "--http2" { "2" } else { "1.1" };
        let s = |path: &str, args: &[&str]| {
            let mut all = vec![version];
            all.extend_from_slice(args);
            curl_status(&d.addr, path, &all)
        };
        assert_eq!(s("/metrics", &[]), ("401".into(), v.into()));
        assert_eq!(s("/metrics", &["-H", &bearer]), ("200".into(), v.into()));
        assert_eq!(s("/", &["-u", &user]), ("200".into(), v.into()));
        assert_eq!(s("/healthz", &[]), ("200".into(), v.into()));
        assert_eq!(s("/healthz", &["-H", &big]).0, "431", "{version}");
        assert_eq!(s("/readyz", &[]).0, "200", "still serving after a 431");
    }
    assert!(d.stop().success());
}
