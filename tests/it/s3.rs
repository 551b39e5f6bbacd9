//! The S3 source against a real moto server (S3 and SQS; tests/peers/s3_logs.py): a bucket
//! laid out as Bedrock delivers, several accounts, regions and hours, large-body objects
//! beside the records, a backlog, late objects, restarts, a SIGKILL, and the notification
//! queue with a lost, a repeated and a refused notification.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::daemon::{aws_env, data, promtool_check, run_cli, sum, Daemon};
use crate::moto::Moto;

const BUCKET: &str = "bedrock-logs";
const PREFIX: &str = "org/";
const ACCOUNTS: [&str; 2] = ["111111111111", "222222222222"];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

fn peer(moto: &Moto, args: &[&str]) -> String {
    let script = format!("{}/tests/peers/s3_logs.py", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(&script)
        .arg(args[0])
        .arg(&moto.url)
        .args(&args[1..])
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn hour_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        / 3600
}

/// The hour prefix of `account`/`region` `hours_ago` hours before now.
fn partition(account: &str, region: &str, hours_ago: i64) -> String {
    let hour = hour_now() - hours_ago;
    let days = hour.div_euclid(24);
    // civil_from_days (Howard Hinnant), as the daemon's timefmt
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{PREFIX}AWSLogs/{account}/BedrockModelInvocationLogs/{region}/{y:04}/{m:02}/{d:02}/{:02}/",
        hour.rem_euclid(24)
    )
}

/// One invocation record: `user` from the caller's ARN, `feature` from the request metadata.
fn record(id: &str, user: &str, feature: &str, tokens: u64) -> String {
    format!(
        r#"{{"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":"2026-11-02T08:15:30Z","accountId":"111111111111","region":"us-east-1","requestId":"{id}","operation":"Converse","modelId":"amazon.nova-micro-v1:0","identity":{{"arn":"arn:aws:iam::1:user/{user}"}},"requestMetadata":{{"feature":"{feature}"}},"input":{{"inputContentType":"application/json","inputTokenCount":{tokens}}},"output":{{"outputContentType":"application/json","outputTokenCount":0}}}}"#
    ) + "\n"
}

/// What the test put, to compare with what the daemon counted.
#[derive(Default)]
struct Want {
    records: u64,
    by_user: BTreeMap<String, u64>,
    by_feature: BTreeMap<String, u64>,
    seq: u64,
}

impl Want {
    /// `n` records for an object, users and features rotating; counted unless `counted` is false.
    fn object(&mut self, n: u64, counted: bool) -> String {
        let mut text = String::new();
        for _ in 0..n {
            self.seq += 1;
            let (user, feature) = (format!("u{}", self.seq % 5), format!("f{}", self.seq % 3));
            let tokens = 100 + self.seq * 7;
            text += &record(&format!("s3-req-{}", self.seq), &user, &feature, tokens);
            if counted {
                self.records += 1;
                *self.by_user.entry(user).or_default() += tokens;
                *self.by_feature.entry(feature).or_default() += tokens;
            }
        }
        text
    }

    fn check(&self, m: &str) {
        assert_eq!(accepted(m), self.records as f64, "records");
        for (u, t) in &self.by_user {
            let got = sum(
                m,
                "bedrock_tokens_total",
                &[&format!("user=\"{u}\""), "token_type=\"input\""],
            );
            assert_eq!(got, *t as f64, "tokens of user {u}");
        }
        for (f, t) in &self.by_feature {
            let got = sum(
                m,
                "bedrock_tokens_total",
                &[&format!("feature=\"{f}\""), "token_type=\"input\""],
            );
            assert_eq!(got, *t as f64, "tokens of feature {f}");
        }
        assert_eq!(
            sum(m, "bedrock_records_total", &["result=\"duplicate\""]),
            0.0,
            "no object is read twice"
        );
    }
}

fn accepted(m: &str) -> f64 {
    sum(
        m,
        "bedrock_records_total",
        &["source=\"s3\"", "result=\"accepted\""],
    )
}

/// Uploads objects: (key, text, mode) with mode gz, raw or cut.
fn put(moto: &Moto, dir: &Path, objects: &[(String, String, &str)]) {
    let manifest = dir.join("manifest.tsv");
    let mut m = std::fs::File::create(&manifest).unwrap();
    for (i, (key, text, mode)) in objects.iter().enumerate() {
        let body = dir.join(format!("body-{i}"));
        std::fs::write(&body, text).unwrap();
        writeln!(m, "{key}\t{}\t{mode}", body.display()).unwrap();
    }
    drop(m);
    peer(moto, &["put", BUCKET, manifest.to_str().unwrap()]);
}

fn object_name(n: u64) -> String {
    format!("20261130T100000{n:03}Z_{n:016x}.json.gz")
}

#[test]
fn s3_backlog_late_objects_restarts_and_a_sigkill_count_each_object_once() {
    let moto = Moto::start();
    peer(&moto, &["setup", BUCKET]);
    let dir = tempfile::tempdir().unwrap();
    let mut want = Want::default();
    let mut objects = Vec::new();
    let mut n = 0;
    // The backlog: 2 accounts x 2 regions x hours 3..0 ago, 3 records each; a large-body
    // object beside each (records inside: counting them would show); one object before the
    // start; Bedrock's permission-check marker.
    for a in ACCOUNTS {
        for r in REGIONS {
            for ago in 0..=3 {
                n += 1;
                let p = partition(a, r, ago);
                objects.push((format!("{p}{}", object_name(n)), want.object(3, true), "gz"));
                let body = want.object(1, false);
                objects.push((format!("{p}data/s3-req-{n}_input.json.gz"), body, "gz"));
            }
            let old = want.object(2, false);
            objects.push((
                format!("{}{}", partition(a, r, 5), object_name(900)),
                old,
                "gz",
            ));
        }
    }
    objects.push((
        format!("{PREFIX}AWSLogs/amazon-bedrock-logs-permission-check"),
        String::new(),
        "raw",
    ));
    put(&moto, dir.path(), &objects);

    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[s3]\npoll_interval = \"300ms\"\nlookback = \"2h\"\nconcurrency = 3\n",
    )
    .unwrap();
    let (card, state) = (data("ratecard.toml"), dir.path().join("state"));
    let home = dir.path().to_str().unwrap().to_string();
    let uri = format!("s3://{BUCKET}/{PREFIX}");
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--ratecard",
        &card,
        "--state-dir",
        state.to_str().unwrap(),
        "--s3-uri",
        &uri,
        // An hour before the oldest backlog hour: an hour that turns while the test runs
        // cannot push it out.
        "--start",
        "-4h",
    ];
    let env = aws_env(&moto.url, &home);
    let d = Daemon::start_with_env(&args, &env);
    let objects_read = |m: &str| {
        sum(
            m,
            "bedrock_s3_objects_read_total",
            &[&format!("bucket=\"{BUCKET}\"")],
        )
    };
    // The source counts its objects once their commit is acknowledged, just after the totals.
    let m = d.wait_for("the backlog", |m| {
        accepted(m) == want.records as f64 && objects_read(m) == 16.0
    });
    want.check(&m);
    assert!(sum(&m, "bedrock_s3_read_bytes_total", &[]) > 0.0);
    assert!(sum(&m, "bedrock_s3_newest_object_timestamp_seconds", &[]) > 1.7e9);
    promtool_check(&m);

    // A late object in an hour the listing has already read (inside the lookback).
    let late = want.object(2, true);
    put(
        &moto,
        dir.path(),
        &[(
            format!(
                "{}{}",
                partition(ACCOUNTS[1], REGIONS[0], 1),
                object_name(500)
            ),
            late,
            "gz",
        )],
    );
    d.wait_for("the late object", |m| {
        accepted(m) == want.records as f64 && objects_read(m) == 17.0
    });
    std::thread::sleep(Duration::from_millis(1000));
    want.check(&d.metrics());
    assert_eq!(objects_read(&d.metrics()), 17.0);
    assert!(d.stop().success());

    // Written while the daemon is down: read after the restart, nothing before it again.
    let mut while_down = Vec::new();
    for (i, a) in ACCOUNTS.iter().enumerate() {
        let text = want.object(4, true);
        while_down.push((
            format!(
                "{}{}",
                partition(a, REGIONS[1], 0),
                object_name(600 + i as u64)
            ),
            text,
            "gz",
        ));
    }
    put(&moto, dir.path(), &while_down);
    let d = Daemon::start_with_env(&args, &env);
    d.wait_for("the objects written while down", |m| {
        accepted(m) == want.records as f64 && objects_read(m) == 2.0
    });
    std::thread::sleep(Duration::from_millis(1000));
    let m = d.metrics();
    want.check(&m);
    assert_eq!(
        objects_read(&m),
        2.0,
        "only the new objects in this process"
    );

    // A burst, then SIGKILL as soon as part of it is counted: whatever was committed is
    // remembered as read, the rest is read after the restart, nothing twice.
    let before = want.records;
    let mut burst = Vec::new();
    for i in 0..24u64 {
        let text = want.object(2, true);
        let (a, r) = (ACCOUNTS[(i % 2) as usize], REGIONS[(i / 2 % 2) as usize]);
        burst.push((
            format!(
                "{}{}",
                partition(a, r, (i % 3) as i64),
                object_name(700 + i)
            ),
            text,
            "gz",
        ));
    }
    put(&moto, dir.path(), &burst);
    d.wait_for("part of the burst", |m| accepted(m) > before as f64);
    d.kill9();
    let d = Daemon::start_with_env(&args, &env);
    d.wait_for("the rest of the burst", |m| {
        accepted(m) == want.records as f64
    });
    std::thread::sleep(Duration::from_millis(1000));
    want.check(&d.metrics());
    assert!(d.stop().success());

    // The read keys are in the store beside the floor, nothing older than the lookback.
    let (code, out, err) = run_cli(
        &[
            "state",
            "--state-dir",
            state.to_str().unwrap(),
            "show",
            "--json",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("s3:{BUCKET}/{PREFIX}|")), "{out}");
    assert!(out.contains("floor_hour"), "{out}");
}

#[test]
fn s3_bad_objects_are_counted_with_a_reason_and_the_rest_is_read() {
    let moto = Moto::start();
    peer(&moto, &["setup", BUCKET]);
    let dir = tempfile::tempdir().unwrap();
    let mut want = Want::default();
    let p = partition(ACCOUNTS[0], REGIONS[0], 0);
    let good = want.object(3, true);
    let plain = want.object(2, false);
    // Many records, so that cutting the archive's end loses some but not all.
    let cut = Want {
        seq: 10_000,
        ..Want::default()
    }
    .object(300, false);
    put(
        &moto,
        dir.path(),
        &[
            (format!("{p}{}", object_name(1)), good, "gz"),
            (format!("{p}{}", object_name(2)), plain, "raw"),
            (format!("{p}{}", object_name(3)), cut, "cut"),
        ],
    );
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[s3]\npoll_interval = \"300ms\"\n").unwrap();
    let card = data("ratecard.toml");
    let home = dir.path().to_str().unwrap().to_string();
    let uri = format!("s3://{BUCKET}/{PREFIX}");
    let d = Daemon::start_with_env(
        &[
            "--config",
            config.to_str().unwrap(),
            "--ratecard",
            &card,
            "--in-memory",
            "--s3-uri",
            &uri,
            "--start",
            "-1h",
        ],
        &aws_env(&moto.url, &home),
    );
    let m = d.wait_for("the damaged objects counted", |m| {
        sum(m, "bedrock_s3_objects_read_total", &[]) == 3.0
            && sum(
                m,
                "bedrock_source_errors_total",
                &["source=\"s3\"", "kind=\"truncated\""],
            ) == 1.0
            && sum(
                m,
                "bedrock_source_errors_total",
                &["source=\"s3\"", "kind=\"not_gzip\""],
            ) == 1.0
    });
    // The good object whole, the cut one up to its damage; each damage also a malformed record.
    assert!(
        accepted(&m) > 3.0 && accepted(&m) < 303.0,
        "{}",
        accepted(&m)
    );
    for reason in ["object_not_gzip", "object_truncated"] {
        assert_eq!(
            sum(
                &m,
                "bedrock_malformed_records_total",
                &["source=\"s3\"", &format!("reason=\"{reason}\"")]
            ),
            1.0,
            "{reason}: {m}"
        );
    }
    std::thread::sleep(Duration::from_millis(1000));
    let again = d.metrics();
    assert_eq!(
        sum(&again, "bedrock_source_errors_total", &["source=\"s3\""]),
        2.0,
        "damaged objects are not read again"
    );
    let log = d.log.lock().unwrap().join("\n");
    assert_eq!(log.matches("is not gzip").count(), 1, "{log}");
    assert_eq!(
        sum(&again, "bedrock_records_total", &["result=\"duplicate\""]),
        0.0
    );
    assert!(d.stop().success());
}

/// The notification queue: objects read seconds after the event, a notification lost (an
/// account the bucket's notification filter leaves out: only the listing finds it), one
/// delivered twice, one whose batch the store refuses (the message stays and comes back).
#[test]
fn s3_notifications_lost_repeated_and_refused_still_count_each_object_once() {
    let moto = Moto::start();
    let notified = format!("{PREFIX}AWSLogs/{}/", ACCOUNTS[0]);
    let queue = peer(&moto, &["setup", BUCKET, "bedrock-logs-events", &notified]);
    assert!(queue.starts_with("http"), "{queue}");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let fs = crate::diskfull::Tmpfs::mount(&state, "256k");
    let config = dir.path().join("config.toml");
    // The listing reconciles every 2 s here (10 minutes by default).
    std::fs::write(
        &config,
        "[s3]\nreconcile_interval = \"2s\"\nsqs_wait = \"1s\"\n",
    )
    .unwrap();
    let card = data("ratecard.toml");
    let home = dir.path().to_str().unwrap().to_string();
    let uri = format!("s3://{BUCKET}/{PREFIX}");
    let d = Daemon::start_with_env(
        &[
            "--config",
            config.to_str().unwrap(),
            "--ratecard",
            &card,
            "--state-dir",
            state.to_str().unwrap(),
            "--s3-uri",
            &uri,
            "--s3-sqs-queue",
            &queue,
        ],
        &aws_env(&moto.url, &home),
    );
    let notifications = |m: &str, result: &str| {
        sum(
            m,
            "bedrock_s3_notifications_total",
            &[&format!("result=\"{result}\"")],
        )
    };
    d.wait_for("the test event", |m| notifications(m, "test_event") >= 1.0);
    let mut want = Want::default();
    let notified_key = format!(
        "{}{}",
        partition(ACCOUNTS[0], REGIONS[0], 0),
        object_name(1)
    );
    let text = want.object(3, true);
    put(&moto, dir.path(), &[(notified_key.clone(), text, "gz")]);
    let m = d.wait_for("the notified object", |m| {
        accepted(m) == want.records as f64 && notifications(m, "objects") >= 1.0
    });
    assert!(
        sum(&m, "bedrock_s3_lag_seconds", &["via=\"notification\""]) >= 0.0,
        "{m}"
    );

    // Lost: no notification for the other account; the listing finds the object.
    let lost = want.object(2, true);
    let lost_key = format!(
        "{}{}",
        partition(ACCOUNTS[1], REGIONS[1], 0),
        object_name(2)
    );
    put(&moto, dir.path(), &[(lost_key, lost, "gz")]);
    d.wait_for("the object no notification named", |m| {
        accepted(m) == want.records as f64 && sum(m, "bedrock_s3_objects_read_total", &[]) == 2.0
    });

    // Twice: the same event again. It is deleted, its object not read again.
    let event = serde_json::json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put", "eventTime": "2026-11-30T10:00:00.000Z",
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": notified_key.replace(' ', "+")}}}]});
    let body = dir.path().join("event.json");
    std::fs::write(&body, event.to_string()).unwrap();
    let objects_before = notifications(&d.metrics(), "objects");
    peer(&moto, &["send", &queue, body.to_str().unwrap()]);
    // And a malformed message: counted and dropped.
    std::fs::write(&body, "this is not an S3 event").unwrap();
    peer(&moto, &["send", &queue, body.to_str().unwrap()]);
    let m = d.wait_for("the repeated and the malformed message", |m| {
        notifications(m, "objects") > objects_before && notifications(m, "not_json") == 1.0
    });
    assert_eq!(accepted(&m), want.records as f64);
    let objects_read = sum(&m, "bedrock_s3_objects_read_total", &[]);
    assert_eq!(objects_read, 2.0);

    // Refused: a full disk, then an object with many new users (a commit that cannot fit).
    let filler = state.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    while f.write_all(&[0u8; 4096]).is_ok() {}
    drop(f);
    let mut big = String::new();
    for i in 0..400u64 {
        let user = format!("refused-user-with-a-long-name-{i:04}");
        big += &record(&format!("refused-{i}"), &user, "fr", 1000 + i);
        want.records += 1;
        *want.by_user.entry(user).or_default() += 1000 + i;
        *want.by_feature.entry("fr".into()).or_default() += 1000 + i;
    }
    let refused_key = format!(
        "{}{}",
        partition(ACCOUNTS[0], REGIONS[1], 0),
        object_name(3)
    );
    put(&moto, dir.path(), &[(refused_key, big, "gz")]);
    d.wait_for("a refused commit with the message kept", |m| {
        sum(
            m,
            "bedrock_source_errors_total",
            &["source=\"s3\"", "kind=\"commit\""],
        ) >= 1.0
            && notifications(m, "retried") >= 1.0
    });
    std::fs::remove_file(&filler).unwrap();
    fs.resize("64m");
    let m = d.wait_for("the refused object after the disk recovered", |m| {
        accepted(m) == want.records as f64
    });
    want.check(&m);
    // Every message is deleted in the end.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while peer(&moto, &["depth", &queue]) != "0" {
        assert!(
            std::time::Instant::now() < deadline,
            "messages left on the queue"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_millis(1000));
    want.check(&d.metrics());
    assert!(d.stop().success());
}
