//! A full disk: the daemon stops acknowledging, keeps serving /metrics, says so in /readyz
//! and a metric, and resumes by itself, exactly, when space returns. Uses a real tmpfs
//! (root can mount one on this machine kind; the test fails, never skips, if it cannot).

use std::process::Command;

use crate::daemon::{append, data, sum, Daemon};
use crate::follow::call;

pub struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    pub fn mount(path: &std::path::Path, size: &str) -> Tmpfs {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test needs to mount a small tmpfs (run as root, as CI does): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(path.to_path_buf())
    }

    pub fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap()
            .success();
        assert!(ok, "remount failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_stops_acknowledging_and_counting_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let fs = Tmpfs::mount(&state, "160k");
    let log = dir.path().join("live.jsonl");
    append(&log, &call("df-0", "u-0", 1));
    let card = data("ratecard.toml");
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "disk-full-key\n").unwrap();
    let d = Daemon::start(&[
        "--file",
        log.to_str().unwrap(),
        "--ratecard",
        &card,
        "--state-dir",
        state.to_str().unwrap(),
        "--firehose-access-key-file",
        keys.to_str().unwrap(),
    ]);
    d.wait_for("the first record", |m| {
        sum(m, "bedrock_records_total", &[]) == 1.0
    });

    // Many distinct users: every record adds series, so the store must grow until it cannot.
    let mut sent = 1;
    while d.get("/readyz").0 == 200 {
        assert!(sent < 20_000, "the store never filled its 160k tmpfs");
        let chunk: String = (sent..sent + 50)
            .map(|i| call(&format!("df-{i}"), &format!("u-{i}"), 1))
            .collect();
        append(&log, &chunk);
        sent += 50;
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (status, body) = d.get("/readyz");
    assert_eq!(status, 503);
    assert!(body.contains("disk") && body.contains("full"), "{body}");
    let m = d.metrics();
    assert!(
        m.contains("bedrock_store_writable 0"),
        "/metrics must still be served and say the store is not writable"
    );
    assert!(
        sum(
            &m,
            "bedrock_store_commit_errors_total",
            &["kind=\"disk_full\""]
        ) >= 1.0
    );

    let m = d.wait_for("the file source to report its retries", |m| {
        sum(
            m,
            "bedrock_source_errors_total",
            &["source=\"file\"", "kind=\"commit\""],
        ) >= 1.0
    });
    assert!(m.contains("bedrock_store_writable 0"));

    // Firehose is told to retry (503, spec-shaped), and its retry lands once there is space.
    // The delivery is large (many new users, so many new series): a commit as small as one
    // record can still find a free page on a "full" disk, and is then rightly acknowledged.
    const FIREHOSE_RECORDS: usize = 400;
    let records: Vec<String> = (0..FIREHOSE_RECORDS)
        .map(|i| {
            let record = call(&format!("df-firehose-{i}"), &format!("fh-{i}"), 1);
            let data = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                record.as_bytes(),
            );
            format!(r#"{{"data":"{data}"}}"#)
        })
        .collect();
    let body = format!(
        r#"{{"requestId":"df-req","timestamp":1,"records":[{}]}}"#,
        records.join(",")
    );
    let headers = [
        ("X-Amz-Firehose-Request-Id", "df-req"),
        ("X-Amz-Firehose-Access-Key", "disk-full-key"),
    ];
    let (status, resp) = crate::daemon::post(&d.addr, "/firehose", &headers, body.as_bytes());
    assert_eq!(status, 503, "{resp}");
    let resp: serde_json::Value = serde_json::from_str(&resp).unwrap();
    assert_eq!(resp["requestId"], "df-req");
    assert!(
        resp["errorMessage"].as_str().unwrap().contains("full"),
        "{resp}"
    );

    fs.resize("64m");
    let accepted = |m: &str, source: &str| {
        sum(
            m,
            "bedrock_records_total",
            &[&format!("source=\"{source}\""), "result=\"accepted\""],
        )
    };
    d.wait_for("counting to resume", |m| accepted(m, "file") == sent as f64);
    let (status, _) = crate::daemon::post(&d.addr, "/firehose", &headers, body.as_bytes());
    assert_eq!(status, 200);
    let m = d.metrics();
    assert_eq!(accepted(&m, "firehose"), FIREHOSE_RECORDS as f64);
    assert!(m.contains("bedrock_store_writable 1"));
    assert_eq!(
        sum(&m, "bedrock_records_total", &["result=\"duplicate\""]),
        0.0
    );
    assert_eq!(
        sum(&m, "bedrock_tokens_total", &[]),
        (sent + FIREHOSE_RECORDS) as f64
    );
    assert_eq!(d.get("/readyz").0, 200);
    assert!(d.stop().success());
}
