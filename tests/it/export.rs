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
        &[
            ("AWS_ENDPOINT_URL", moto.url.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("HOME", dir.path().to_str().unwrap()),
        ],
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
