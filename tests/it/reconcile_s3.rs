//! `reconcile` with a bill on S3 (a real moto server): the same report as from a directory, a
//! replaced object read again (its ETag changed), a deleted one gone from the report and the
//! cache; a missing bucket named in the error; and the daemon's gauges from an S3 prefix.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::daemon::{aws_env, run_cli_with_env, sum, Daemon};
use crate::moto::Moto;
use crate::reconcile::{bill, count, model_row, principal_row, records, ALICE, BOB, CARD};
use crate::support::cur::{write_csv_gz, write_parquet, CurRow};

const BUCKET: &str = "billing-exports";
const DATA: &str = "cur/bedrock/data/BILLING_PERIOD=2026-11/";

/// Runs tests/peers/s3_objects.py against moto.
fn s3(moto: &Moto, args: &[&str]) {
    let helper = format!("{}/tests/peers/s3_objects.py", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(helper)
        .arg(args[0])
        .arg(&moto.url)
        .args(&args[1..])
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "s3_objects.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn put(moto: &Moto, key: &str, file: &Path) {
    s3(moto, &["put", BUCKET, key, file.to_str().unwrap()]);
}

/// The bill in two objects: Nova Pro, the unknown usage type and the credit in Parquet;
/// Sonnet in gzip CSV. Beside them a manifest, and outside the prefix a file that is no CUR.
fn upload_bill(moto: &Moto, dir: &Path, nova: &[CurRow]) {
    s3(moto, &["bucket", BUCKET]);
    let rows = bill();
    write_parquet(dir.join("nova.parquet"), nova);
    write_csv_gz(dir.join("sonnet.csv.gz"), &rows[2..6]);
    std::fs::write(dir.join("manifest.json"), r#"{"dataFiles":[]}"#).unwrap();
    std::fs::write(dir.join("not-cur.csv"), "not,a,cur,header\n").unwrap();
    put(
        moto,
        &format!("{DATA}nova-00001.parquet"),
        &dir.join("nova.parquet"),
    );
    put(
        moto,
        &format!("{DATA}sonnet-00001.csv.gz"),
        &dir.join("sonnet.csv.gz"),
    );
    put(
        moto,
        "cur/bedrock/metadata/BILLING_PERIOD=2026-11/bedrock-Manifest.json",
        &dir.join("manifest.json"),
    );
    put(moto, "elsewhere/bill.csv", &dir.join("not-cur.csv"));
}

fn nova_rows() -> Vec<CurRow> {
    let rows = bill();
    vec![
        rows[0].clone(),
        rows[1].clone(),
        rows[6].clone(),
        rows[7].clone(),
    ]
}

fn reconcile(env: &[(&str, &str)], state: &str, extra: &[&str]) -> (i32, Value, String) {
    let url = format!("s3://{BUCKET}/cur/");
    let mut args = vec![
        "reconcile",
        "--cur",
        &url,
        "--state-dir",
        state,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = run_cli_with_env(&args, None, env);
    let json = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, json, err)
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

#[test]
fn reconcile_reads_a_bill_from_an_s3_prefix_and_follows_its_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _) = count(dir.path());
    let moto = Moto::start();
    upload_bill(&moto, dir.path(), &nova_rows());
    let home = dir.path().to_str().unwrap();
    let env = aws_env(&moto.url, home);
    let cache = dir.path().join("cache");
    let keep = ["--cache-dir", cache.to_str().unwrap()];

    // As from a directory: zero drift, the principal view, the lines left out.
    let (code, r, err) = reconcile(&env, &state, &keep);
    assert_eq!(code, 0, "{err}\n{r:#}");
    assert_eq!(r["models"].as_array().unwrap().len(), 6, "{r:#}");
    for m in r["models"].as_array().unwrap() {
        assert_eq!(m["finding"], "match", "{m}");
    }
    assert_eq!(r["total"]["billed_usd"], "0.20268");
    assert_eq!(r["total"]["estimated_usd"], "0.20268");
    assert_eq!(
        principal_row(&r, "2026-11-02", ALICE)["billed_usd"],
        "0.00768"
    );
    assert_eq!(principal_row(&r, "2026-11-03", BOB)["billed_usd"], "0.135");
    assert_eq!(
        r["unknown_usage_types"][0]["name"],
        "APN1-NovaPro-input-tokens-hyperspeed"
    );
    assert_eq!(r["other_line_types"][0]["usd"], "-0.25");
    assert!(err.contains("objects=2 downloaded=2 removed=0"), "{err}");
    assert_eq!(
        files_under(&cache),
        [".etags.json", "nova-00001.parquet", "sonnet-00001.csv.gz"],
        "the data files only, no manifest, nothing from outside the prefix"
    );

    // An export set to "overwrite" replaces an object: read again, and only that one.
    let mut changed = nova_rows();
    changed[0].unblended_cost = "0.0042".into();
    write_parquet(dir.path().join("nova.parquet"), &changed);
    put(
        &moto,
        &format!("{DATA}nova-00001.parquet"),
        &dir.path().join("nova.parquet"),
    );
    let (code, r, err) = reconcile(&env, &state, &[&keep[..], &["--min-usd", "0"]].concat());
    assert_eq!(code, 3, "{err}\n{r:#}");
    assert!(err.contains("objects=2 downloaded=1 removed=0"), "{err}");
    let nova = model_row(&r, "2026-11-02", "amazon.nova-pro-v1:0", "input");
    assert_eq!(nova["finding"], "price");
    assert_eq!(nova["drift_usd"], "-0.00036");
    assert_eq!(r["total"]["drift_usd"], "-0.00036");

    // An object deleted: gone from the report and from the cache.
    s3(
        &moto,
        &["delete", BUCKET, &format!("{DATA}sonnet-00001.csv.gz")],
    );
    let (_, r, err) = reconcile(&env, &state, &keep);
    assert!(err.contains("objects=1 downloaded=0 removed=1"), "{err}");
    assert_eq!(r["total"]["billed_usd"], "0.00804", "{r:#}"); // Nova Pro alone
    assert_eq!(r["days"]["last"], "2026-11-02", "{r:#}");
    assert_eq!(files_under(&cache), [".etags.json", "nova-00001.parquet"]);

    // Without --cache-dir, a temporary directory that is gone afterwards.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let with_tmp: Vec<(&str, &str)> = [&env[..], &[("TMPDIR", tmp.to_str().unwrap())]].concat();
    let (_, r, err) = reconcile(&with_tmp, &state, &[]);
    assert_eq!(r["total"]["billed_usd"], "0.00804", "{err}");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "the temporary cache is removed"
    );
}

#[test]
fn a_missing_bucket_is_an_error_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _) = count(dir.path());
    let moto = Moto::start();
    let env = aws_env(&moto.url, dir.path().to_str().unwrap());
    let (code, out, err) = run_cli_with_env(
        &[
            "reconcile",
            "--cur",
            "s3://no-such-bill/cur/",
            "--state-dir",
            &state,
        ],
        None,
        &env,
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("cannot list s3://no-such-bill/cur/: NoSuchBucket")
            && err.contains("there is no bucket \"no-such-bill\""),
        "{err}"
    );
}

#[test]
fn the_daemon_reconciles_with_a_bill_on_s3() {
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    let mut nova = nova_rows();
    nova[0].unblended_cost = "0.0042".into();
    upload_bill(&moto, dir.path(), &nova);
    let card = dir.path().join("card.toml");
    std::fs::write(&card, CARD).unwrap();
    let log = dir.path().join("calls.jsonl");
    std::fs::write(&log, records()).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[reconcile]\ncur = [\"s3://{BUCKET}/cur/\"]\ninterval = \"1s\"\nskip_recent_days = 0\n"),
    )
    .unwrap();
    let state = dir.path().join("state");
    let home = dir.path().to_str().unwrap();
    let d = Daemon::start_with_env(
        &[
            "--config",
            config.to_str().unwrap(),
            "--file",
            log.to_str().unwrap(),
            "--ratecard",
            card.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
        &aws_env(&moto.url, home),
    );
    let nova = ["model=\"amazon.nova-pro-v1:0\"", "token_type=\"input\""];
    let m = d.wait_for("a reconciliation after the records were counted", |m| {
        sum(m, "bedrock_reconciliation_estimated_usd", &nova) > 0.0
    });
    assert_eq!(sum(&m, "bedrock_reconciliation_billed_usd", &nova), 0.0042);
    let drift = sum(&m, "bedrock_reconciliation_drift_ratio", &nova);
    assert!((drift - -0.085714).abs() < 1e-9, "{drift}\n{m}");
    assert_eq!(
        sum(
            &m,
            "bedrock_reconciliation_runs_total",
            &["result=\"failed\""]
        ),
        0.0
    );
    assert_eq!(
        files_under(&state.join("cur-cache")),
        [".etags.json", "nova-00001.parquet", "sonnet-00001.csv.gz"]
    );
    assert!(d.stop().success());
}
