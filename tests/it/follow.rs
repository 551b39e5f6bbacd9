//! Following files like `tail -F`: appends, partial lines, rotation, truncation, archives.

use std::io::Write;

use crate::daemon::{append, sum, Daemon};

/// A Nova Micro call of `input` tokens by `user` (0.035 USD per 1M input tokens in the test card).
pub fn call(id: &str, user: &str, input: u64) -> String {
    format!(
        r#"{{"timestamp":"2026-11-02T08:15:30Z","region":"us-east-1","requestId":"{id}","operation":"Converse","modelId":"amazon.nova-micro-v1:0","identity":{{"arn":"arn:aws:iam::1:user/{user}"}},"input":{{"inputTokenCount":{input}}},"output":{{"outputTokenCount":0}}}}"#
    ) + "\n"
}

fn tokens(m: &str) -> f64 {
    sum(m, "bedrock_tokens_total", &["token_type=\"input\""])
}

#[test]
fn appended_lines_rotation_truncation_and_archives_are_each_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.jsonl");
    append(&log, &call("a1", "u", 100));
    let glob = format!("{}/*.jsonl*", dir.path().display());
    let card = crate::daemon::data("ratecard.toml");
    let d = Daemon::start(&[
        "--file",
        &glob,
        "--ratecard",
        &card,
        "--state-dir",
        state.path().to_str().unwrap(),
    ]);
    d.wait_for("the first line", |m| tokens(m) == 100.0);

    // a line written in two parts is counted once it is complete
    let line = call("a2", "u", 20);
    append(&log, &line[..30]);
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(
        tokens(&d.metrics()),
        100.0,
        "a partial line must wait for its newline"
    );
    append(&log, &line[30..]);
    d.wait_for("the completed line", |m| tokens(m) == 120.0);

    // rotation: the old file is renamed (and still matches the glob), a new one starts
    std::fs::rename(&log, dir.path().join("app.jsonl.1")).unwrap();
    append(&dir.path().join("app.jsonl.1"), &call("a3", "u", 3));
    append(&log, &call("b1", "u", 1000));
    d.wait_for("rotation", |m| tokens(m) == 1123.0);

    // truncation: the file is emptied and written again from the start
    std::fs::write(&log, "").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    append(&log, &call("c1", "u", 10_000));
    d.wait_for("truncation", |m| tokens(m) == 11_123.0);

    // a gzipped archive in the S3 layout, one record per line
    let gz = dir
        .path()
        .join("20261102T081530000Z_0123456789abcdef.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(
        (call("z1", "v", 50_000) + &call("z2", "v", 50_000) + &call("a1", "u", 100)).as_bytes(),
    )
    .unwrap();
    enc.finish().unwrap();
    let m = d.wait_for("the archive", |m| tokens(m) == 111_123.0);
    assert_eq!(
        sum(&m, "bedrock_records_total", &["result=\"duplicate\""]),
        1.0
    );
    assert!(d.stop().success());
}

#[test]
fn stdin_is_read_to_its_end() {
    let card = crate::daemon::data("ratecard.toml");
    let state = tempfile::tempdir().unwrap();
    let input = call("s1", "x", 5) + &call("s2", "x", 6) + "not json\n";
    let (code, _, err) = crate::daemon::run_cli(
        &[
            "run",
            "--stdin",
            "--once",
            "--ratecard",
            &card,
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
        Some(&input),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("read 3 records: 2 priced, 0 unpriced, 0 duplicates, 1 malformed"),
        "{err}"
    );
    assert!(
        err.contains("skipped a malformed record at stdin:3"),
        "{err}"
    );
}

#[test]
fn a_backfill_of_the_s3_layout_skips_large_body_objects() {
    let root = tempfile::tempdir().unwrap();
    let hour = root
        .path()
        .join("logs/AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/2026/11/02/08");
    std::fs::create_dir_all(hour.join("data")).unwrap();
    let write_gz = |path: std::path::PathBuf, text: &str| {
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(path).unwrap(),
            flate2::Compression::default(),
        );
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
    };
    write_gz(
        hour.join("20261102T081530000Z_9b86bf4994c4ab1c.json.gz"),
        &(call("s3-1", "w", 100) + &call("s3-2", "w", 200)),
    );
    write_gz(
        hour.join("20261102T082000000Z_1111111111111111.json.gz"),
        &call("s3-3", "w", 300),
    );
    write_gz(
        hour.join("data/s3-1_output.json.gz"),
        "{\"a large\": \"response body, not a record\"}\n",
    );
    std::fs::write(root.path().join("logs/AWSLogs/123456789012/BedrockModelInvocationLogs/amazon-bedrock-logs-permission-check"), "").unwrap();
    let glob = format!("{}/logs/**/*.json.gz", root.path().display());
    let card = crate::daemon::data("ratecard.toml");
    let (code, _, err) = crate::daemon::run_cli(
        &[
            "run",
            "--once",
            "--in-memory",
            "--file",
            &glob,
            "--ratecard",
            &card,
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("read 3 records: 3 priced, 0 unpriced, 0 duplicates, 0 malformed"),
        "{err}"
    );
}

#[test]
fn an_archive_still_being_written_is_finished_when_it_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut whole = Vec::new();
    let mut enc = flate2::write::GzEncoder::new(&mut whole, flate2::Compression::default());
    let text: String = (0..200)
        .map(|i| call(&format!("gzw-{i}"), "g", 10))
        .collect();
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap();
    let path = dir.path().join("part.json.gz");
    std::fs::write(&path, &whole[..whole.len() * 2 / 3]).unwrap();
    let glob = format!("{}/*.json.gz", dir.path().display());
    let card = crate::daemon::data("ratecard.toml");
    let d = Daemon::start(&[
        "--file",
        &glob,
        "--ratecard",
        &card,
        "--state-dir",
        state.path().to_str().unwrap(),
    ]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    std::fs::write(&path, &whole).unwrap();
    let m = d.wait_for("the whole archive", |m| tokens(m) == 2000.0);
    assert_eq!(
        sum(&m, "bedrock_records_total", &["result=\"malformed\""]),
        0.0
    );
    assert_eq!(
        sum(&m, "bedrock_records_total", &["result=\"duplicate\""]),
        0.0
    );
    assert!(d.stop().success());
}

/// copytruncate: the file is copied away and truncated, then grows past the old offset before
/// the next poll (a slow poll makes that certain). Its new lines are all counted, from the
/// start; and so are lines rewritten the same way while the daemon was stopped.
#[test]
fn a_file_truncated_and_grown_past_the_checkpoint_is_read_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.jsonl");
    append(&log, &(call("old-1", "u", 1) + &call("old-2", "u", 2)));
    let card = crate::daemon::data("ratecard.toml");
    let args = [
        "run",
        "--file",
        log.to_str().unwrap(),
        "--ratecard",
        &card,
        "--state-dir",
        state.path().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--poll-interval",
        "3s",
    ];
    let d = Daemon::spawn(&args);
    d.wait_for("the first lines", |m| tokens(m) == 3.0);

    // One write: truncate and fill with more than was there (copytruncate, then a burst).
    let rewritten: String = (0..4)
        .map(|i| call(&format!("new-{i}"), "u", 10 * 10u64.pow(i)))
        .collect();
    std::fs::write(&log, &rewritten).unwrap();
    let m = d.wait_for("the rewritten lines", |m| tokens(m) == 11_113.0);
    assert_eq!(
        sum(&m, "bedrock_records_total", &["result=\"malformed\""]),
        0.0,
        "the file was read from the old offset, mid-line"
    );
    assert!(d.stop().success());

    // The same while the daemon is down: its checkpoint (same inode, offset within the new
    // size) must not be trusted.
    let again: String = (0..5)
        .map(|i| call(&format!("down-{i}"), "u", 100_000))
        .collect();
    std::fs::write(&log, &again).unwrap();
    let d = Daemon::spawn(&args);
    let m = d.wait_for("the lines rewritten while down", |m| tokens(m) == 511_113.0);
    assert_eq!(
        sum(&m, "bedrock_records_total", &["result=\"malformed\""]),
        0.0
    );
    assert!(d.stop().success());
}
