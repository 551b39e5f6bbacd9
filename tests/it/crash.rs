//! Exactly once under SIGKILL: a corpus fed in pieces (lines cut in half included) while the
//! daemon is killed at random points, restarted each time; at the end every total equals the
//! one computed here, independently, to the last decimal digit.

use std::collections::BTreeMap;
use std::io::Write;
use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;

use crate::daemon::{append, data, run_cli, sum, Daemon, Lcg};

/// Prices of the test card, per 1M tokens: (model, input, output).
const MODELS: [(&str, &str, &str); 2] = [
    ("amazon.nova-micro-v1:0", "0.035", "0.14"),
    ("amazon.nova-lite-v1:0", "0.06", "0.24"),
];

struct Corpus {
    lines: Vec<String>,
    cost_by_user: BTreeMap<String, Decimal>,
    tokens: u64,
}

fn corpus(n: usize, rng: &mut Lcg) -> Corpus {
    let mut c = Corpus {
        lines: Vec::new(),
        cost_by_user: BTreeMap::new(),
        tokens: 0,
    };
    for i in 0..n {
        let user = format!("user-{:03}", rng.next(150));
        let (model, p_in, p_out) = MODELS[rng.next(2) as usize];
        let (input, output) = (rng.next(20_000), rng.next(3_000));
        let cost = (Decimal::from(input) * Decimal::from_str(p_in).unwrap()
            + Decimal::from(output) * Decimal::from_str(p_out).unwrap())
            / Decimal::from(1_000_000);
        *c.cost_by_user.entry(user.clone()).or_default() += cost;
        c.tokens += input + output;
        c.lines.push(format!(
            r#"{{"timestamp":"2026-11-02T08:15:30Z","region":"us-east-1","requestId":"crash-{i:06}","operation":"Converse","modelId":"{model}","identity":{{"arn":"arn:aws:iam::1:user/{user}"}},"input":{{"inputContentType":"application/json","inputBodyJson":{{"messages":[{{"role":"user","content":[{{"text":"{pad}"}}]}}]}},"inputTokenCount":{input}}},"output":{{"outputTokenCount":{output}}}}}"#,
            pad = "x".repeat(rng.next(400) as usize),
        ) + "\n");
    }
    c
}

#[test]
fn sigkill_at_random_points_loses_nothing_and_counts_nothing_twice() {
    let kills: usize = std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut rng = Lcg(0x5eed);
    let c = corpus(30_000, &mut rng);
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.jsonl");

    // Planted duplicates: a renamed copy of the first 4,000 lines, an overlapping range,
    // and a gzipped archive of lines the live file also gets.
    let mut planted = 0;
    let copy: String = c.lines[..4000].concat();
    std::fs::write(dir.path().join("copy-of-start.jsonl"), &copy).unwrap();
    planted += 4000;
    let overlap: String = c.lines[9000..12_000].concat();
    std::fs::write(dir.path().join("overlap.jsonl"), &overlap).unwrap();
    planted += 3000;
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(dir.path().join("archive.jsonl.gz")).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(c.lines[20_000..25_000].concat().as_bytes())
        .unwrap();
    gz.finish().unwrap();
    planted += 5000;

    let glob = format!("{}/*.jsonl*", dir.path().display());
    let card = data("ratecard.toml");
    let s = state.path().to_str().unwrap().to_string();
    let args = [
        "--file",
        glob.as_str(),
        "--ratecard",
        card.as_str(),
        "--state-dir",
        s.as_str(),
    ];

    let whole: String = c.lines.concat();
    let bytes = whole.as_bytes();
    let mut written = 0;
    for k in 0..kills {
        // Feed the next slice, usually ending in the middle of a line.
        let end = if k + 1 == kills {
            bytes.len()
        } else {
            (bytes.len() * (k + 1) / kills + rng.next(200) as usize).min(bytes.len())
        };
        append(
            &live,
            std::str::from_utf8(&bytes[written..end]).unwrap_or_else(|_| panic!("ascii corpus")),
        );
        written = end;
        let d = Daemon::start(&args);
        std::thread::sleep(Duration::from_millis(20 + rng.next(400)));
        d.kill9();
    }
    assert_eq!(written, bytes.len());

    let d = Daemon::start(&args);
    let m = d.wait_for("every record", |m| {
        sum(m, "bedrock_records_total", &["result=\"accepted\""]) == c.lines.len() as f64
            && sum(m, "bedrock_records_total", &["result=\"duplicate\""]) == planted as f64
    });
    assert_eq!(
        sum(&m, "bedrock_records_total", &["result=\"malformed\""]),
        0.0,
        "a cut line was read before it was complete"
    );
    assert!(d.stop().success());

    let (code, out, err) = run_cli(
        &["state", "--state-dir", &s, "export", "--format", "json"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let mut cost_by_user: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut tokens = Decimal::ZERO;
    for line in out.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let v = Decimal::from_str(row["value"].as_str().unwrap()).unwrap();
        match row["metric"].as_str().unwrap() {
            "bedrock_cost_usd_total" => {
                *cost_by_user
                    .entry(row["labels"]["user"].as_str().unwrap().to_string())
                    .or_default() += v
            }
            "bedrock_tokens_total" => tokens += v,
            _ => {}
        }
    }
    let want: BTreeMap<String, Decimal> = c
        .cost_by_user
        .iter()
        .map(|(u, v)| (u.clone(), v.normalize()))
        .collect();
    let got: BTreeMap<String, Decimal> = cost_by_user
        .iter()
        .map(|(u, v)| (u.clone(), v.normalize()))
        .collect();
    assert_eq!(got, want, "per-user cost must equal the corpus exactly");
    assert_eq!(tokens, Decimal::from(c.tokens));
}
