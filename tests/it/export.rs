//! Per-request export: the JSON-lines file and the Firehose sink (against moto with an S3
//! destination) carry exactly the rows `price` prints for the same calls.

use std::collections::BTreeMap;
use std::process::Command;

use crate::daemon::{data, run_cli, sum, Daemon};
use crate::moto::Moto;

/// `price` output for the shape fixtures, keyed by request id.
fn priced_rows() -> BTreeMap<String, serde_json::Value> {
    let (code, out, err) = run_cli(
        &[
            "price",
            "--ratecard",
            &data("ratecard.toml"),
            "--config",
            &data("config.toml"),
            &data("shapes.jsonl"),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    rows(&out)
}

fn rows(text: &str) -> BTreeMap<String, serde_json::Value> {
    text.lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"))
        })
        .map(|v| (v["request_id"].as_str().unwrap().to_string(), v))
        .collect()
}

#[test]
fn the_jsonl_export_holds_every_counted_call_once() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export/calls.jsonl");
    let state = dir.path().join("state");
    let shapes = data("shapes.jsonl");
    // The same file twice under two names: every call is exported once.
    let copy = dir.path().join("copy.jsonl");
    std::fs::copy(&shapes, &copy).unwrap();
    let (card, config) = (data("ratecard.toml"), data("config.toml"));
    let d = Daemon::start(&[
        "--file",
        &shapes,
        "--file",
        copy.to_str().unwrap(),
        "--ratecard",
        &card,
        "--config",
        &config,
        "--state-dir",
        state.to_str().unwrap(),
        "--export-jsonl",
        export.to_str().unwrap(),
    ]);
    d.wait_for("every row written", |m| {
        sum(
            m,
            "bedrock_export_records_total",
            &["sink=\"jsonl\"", "result=\"sent\""],
        ) == 23.0
    });
    assert!(d.stop().success());
    let got = rows(&std::fs::read_to_string(&export).unwrap());
    assert_eq!(
        std::fs::read_to_string(&export).unwrap().lines().count(),
        23,
        "no call exported twice"
    );
    assert_eq!(got, priced_rows());
    assert!(
        !std::fs::read_to_string(&export).unwrap().contains("Nile"),
        "no prompt or completion text"
    );
}

#[test]
fn the_firehose_sink_delivers_every_row_to_the_stream() {
    let moto = Moto::start();
    let helper = format!("{}/tests/peers/firehose_s3.py", env!("CARGO_MANIFEST_DIR"));
    let ok = Command::new("python3")
        .args([
            helper.as_str(),
            "create",
            &moto.url,
            "priced-calls",
            "priced-calls-bucket",
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    let dir = tempfile::tempdir().unwrap();
    let (card, config, shapes) = (
        data("ratecard.toml"),
        data("config.toml"),
        data("shapes.jsonl"),
    );
    let d = Daemon::start_with_env(
        &[
            "--file",
            &shapes,
            "--ratecard",
            &card,
            "--config",
            &config,
            "--in-memory",
            "--export-firehose-stream",
            "priced-calls",
        ],
        &crate::daemon::aws_env(moto.url.as_str(), dir.path().to_str().unwrap()),
    );
    d.wait_for("every row sent", |m| {
        sum(
            m,
            "bedrock_export_records_total",
            &["sink=\"firehose\"", "result=\"sent\""],
        ) == 23.0
    });
    let m = d.metrics();
    assert_eq!(
        sum(&m, "bedrock_export_records_total", &["result=\"failed\""]),
        0.0
    );
    assert_eq!(
        sum(&m, "bedrock_export_records_total", &["result=\"dropped\""]),
        0.0
    );
    d.signal("-TERM");
    let out = Command::new("python3")
        .args([helper.as_str(), "dump", &moto.url, "priced-calls-bucket"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.lines().count(),
        23,
        "one row per line in the delivered objects"
    );
    assert_eq!(rows(&text), priced_rows());
    d.wait_exit();
}

/// A stand-in Firehose API that fails records 1 and 3 of its first PutRecordBatch call and
/// accepts everything after: no real peer here returns partial failures on demand.
fn partial_failure_firehose() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>>) {
    use std::io::{BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Vec<String>>::new()));
    let seen = calls.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let Some((_, body)) = crate::daemon::read_request(&mut reader) else {
                        return;
                    };
                    let req: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let rows: Vec<String> = req["Records"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| {
                            let data = base64::Engine::decode(
                                &base64::engine::general_purpose::STANDARD,
                                r["Data"].as_str().unwrap(),
                            )
                            .unwrap();
                            String::from_utf8(data).unwrap()
                        })
                        .collect();
                    let first = {
                        let mut calls = seen.lock().unwrap();
                        calls.push(rows.clone());
                        calls.len() == 1
                    };
                    let responses: Vec<serde_json::Value> = (0..rows.len())
                        .map(|i| {
                            if first && (i == 1 || i == 3) {
                                serde_json::json!({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."})
                            } else {
                                serde_json::json!({"RecordId": format!("r{i}")})
                            }
                        })
                        .collect();
                    let failed = responses
                        .iter()
                        .filter(|r| r.get("ErrorCode").is_some())
                        .count();
                    let out = serde_json::json!({"FailedPutCount": failed, "Encrypted": false, "RequestResponses": responses}).to_string();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: fake\r\nContent-Length: {}\r\n\r\n",
                        out.len()
                    );
                    if conn
                        .write_all(head.as_bytes())
                        .and_then(|_| conn.write_all(out.as_bytes()))
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), calls)
}

#[test]
fn the_firehose_sink_retries_only_the_records_that_failed() {
    let (endpoint, calls) = partial_failure_firehose();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.jsonl");
    let lines: String = (0..5)
        .map(|i| crate::follow::call(&format!("retry-{i}"), "r", 10 + i))
        .collect();
    std::fs::write(&log, lines).unwrap();
    let card = data("ratecard.toml");
    let d = Daemon::start_with_env(
        &[
            "--file",
            log.to_str().unwrap(),
            "--ratecard",
            &card,
            "--in-memory",
            "--export-firehose-stream",
            "s",
        ],
        &crate::daemon::aws_env(endpoint.as_str(), dir.path().to_str().unwrap()),
    );
    let m = d.wait_for("every row sent", |m| {
        sum(
            m,
            "bedrock_export_records_total",
            &["sink=\"firehose\"", "result=\"sent\""],
        ) == 5.0
    });
    assert_eq!(
        sum(&m, "bedrock_export_records_total", &["result=\"retried\""]),
        2.0
    );
    assert_eq!(
        sum(&m, "bedrock_export_records_total", &["result=\"failed\""]),
        0.0
    );
    assert!(d.stop().success());
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 2, "one batch, then one retry");
    assert_eq!(calls[0].len(), 5);
    assert_eq!(
        calls[1],
        vec![calls[0][1].clone(), calls[0][3].clone()],
        "only the failed records are sent again"
    );
}
