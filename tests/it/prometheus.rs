//! The dashboard and the alert rules against a real Prometheus scraping the real daemon:
//! every panel's query must parse and return data (but those of [`POSTGRES_ONLY`] when the
//! store is not PostgreSQL), and every rule must evaluate cleanly.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon::{append, data, get, post, Daemon};

pub(crate) struct Prometheus {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_prometheus(target: &str) -> Prometheus {
    start_prometheus_with(&format!(
        "scrape_configs:\n  - job_name: bedrock-cost-exporter\n    static_configs: [{{targets: ['{target}']}}]\n"
    ))
}

/// A real Prometheus with the rule files and `scrape_configs` (YAML, from the top level).
pub(crate) fn start_prometheus_with(scrape_configs: &str) -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    // The recording rules and the alert rules, as a user loads them.
    let rules = ["bedrock-cost-rules.yml", "bedrock-cost-alerts.yml"]
        .map(|f| format!("'{}/deploy/prometheus/{f}'", env!("CARGO_MANIFEST_DIR")))
        .join(", ");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [{rules}]\n{scrape_configs}"
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus is not installed: run scripts/test, which installs the Debian `prometheus` package");
    let mut prom = Prometheus {
        child,
        addr,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&prom.addr).is_err() {
        if let Ok(Some(status)) = prom.child.try_wait() {
            panic!("prometheus exited at start ({status})");
        }
        assert!(
            Instant::now() < deadline,
            "prometheus did not listen on {}",
            prom.addr
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    prom
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) fn query(addr: &str, q: &str) -> serde_json::Value {
    let (_, body) = get(addr, &format!("/api/v1/query?query={}", encode(q)));
    serde_json::from_str(&body)
        .unwrap_or_else(|_| serde_json::json!({"status": "error", "error": body}))
}

/// Grafana's variables as the dashboard would send them for "All" and a 1-hour view.
pub(crate) fn expand(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "1h")
        .replace("${user:regex}", ".*")
        .replace("${feature:regex}", ".*")
        .replace("${model:regex}", ".*")
        .replace("${user}", ".*")
        .replace("${feature}", ".*")
        .replace("${model}", ".*")
        .replace("$user", ".*")
        .replace("$feature", ".*")
        .replace("$model", ".*")
}

/// Inputs that fill every panel of the dashboard: a config with an extra label, budgets and
/// reconciliation against a bill for today, calls made now in a file the daemon follows, every
/// record shape and bad line, and a Firehose key. `args` are the daemon's `run` arguments but
/// the store (the caller adds `--state-dir`).
pub(crate) struct Fixture {
    pub dir: tempfile::TempDir,
    pub args: Vec<String>,
    pub live: std::path::PathBuf,
}

/// `n` calls made now, numbered from `first`: 12 users, 4 features, 3 teams.
pub(crate) fn calls_now(first: u64, n: u64) -> String {
    let ts = bedrock_cost_exporter::timefmt::format_rfc3339(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    );
    (first..first + n)
        .map(|i| {
            crate::follow::call(&format!("prom-{i}"), &format!("user-{}", i % 12), 1000 + i)
                .replace("2026-11-02T08:15:30Z", &ts)
                .replace("\"operation\"", &format!("\"requestMetadata\":{{\"team\":\"team-{}\",\"feature\":\"f{}\"}},\"operation\"", i % 3, i % 4))
        })
        .collect()
}

pub(crate) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    // A bill for today, so the reconciliation panels have data: Nova Micro input tokens.
    let cur = dir.path().join("cur");
    std::fs::create_dir(&cur).unwrap();
    let today = bedrock_cost_exporter::timefmt::format_rfc3339(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    );
    let usage = crate::support::cur::CurRow::usage(
        &today,
        "AmazonBedrock",
        "USE1-NovaMicro-input-tokens",
        "45",
        "0.001575",
    );
    crate::support::cur::write_csv(cur.join("bill.csv"), &[usage]);
    // The bundled mapping table has NovaMicro unreviewed (so its lines are not compared).
    let mapping = dir.path().join("mapping.toml");
    std::fs::write(
        &mapping,
        "[[models]]\nusagetype_name = \"NovaMicro\"\nid = \"amazon.nova-micro-v1:0\"\nname = \"Nova Micro\"\nreviewed = true\nevidence = \"test\"\n",
    )
    .unwrap();
    std::fs::write(
        &config,
        format!("[attribution]\nmetadata_labels = [\"team\"]\n[[budgets]]\nname = \"per-user\"\nlabel = \"user\"\nmonthly_usd = \"100\"\ndaily_usd = \"10\"\n[[budgets]]\nname = \"per-team\"\nlabel = \"team\"\nmonthly_usd = \"1000\"\n[reconcile]\ncur = [{:?}]\nmapping = {:?}\ninterval = \"2s\"\nskip_recent_days = 0\n", cur.to_str().unwrap(), mapping.to_str().unwrap()),
    )
    .unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "prom-test-key\n").unwrap();
    // Calls made now (budgets count the current period) plus every record shape and bad line.
    let live = dir.path().join("live.jsonl");
    let calls = calls_now(0, 30);
    // The first call again: a duplicate, as a retried delivery or a re-read file gives.
    let first = calls.lines().next().unwrap().to_string() + "\n";
    append(&live, &(calls.clone() + &first));
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--ratecard",
        &data("ratecard.toml"),
        "--file",
        &data("shapes.jsonl"),
        "--file",
        &data("bad.jsonl"),
        "--file",
        live.to_str().unwrap(),
        "--firehose-access-key-file",
        keys.to_str().unwrap(),
        "--max-series",
        "12",
    ]
    .map(String::from)
    .to_vec();
    Fixture { dir, args, live }
}

/// Records every fixture daemon counts from its files before anything is appended.
pub(crate) const FIXTURE_RECORDS: f64 = 62.0;

/// Starts a fixture daemon with its own state directory and waits until it counted the files.
pub(crate) fn start_fixture_daemon(f: &Fixture, state: &str) -> Daemon {
    let state = f.dir.path().join(state);
    start_fixture_daemon_on(f, &["--state-dir", state.to_str().unwrap()])
}

/// Starts a fixture daemon on the store that `store` names (`--store` and a URL, or
/// `--state-dir` and a directory) and waits until it shows the files counted.
pub(crate) fn start_fixture_daemon_on(f: &Fixture, store: &[&str]) -> Daemon {
    let mut args: Vec<&str> = f.args.iter().map(String::as_str).collect();
    args.extend(store);
    let d = Daemon::start(&args);
    d.wait_for("every record", |m| {
        crate::daemon::sum(m, "bedrock_records_total", &[]) == FIXTURE_RECORDS
    });
    d
}

/// One accepted and one refused Firehose request, so the Firehose panel has data.
pub(crate) fn post_firehose(addr: &str) {
    let body = r#"{"requestId":"prom-fh","timestamp":1,"records":[]}"#;
    let ok = [
        ("X-Amz-Firehose-Request-Id", "prom-fh"),
        ("X-Amz-Firehose-Access-Key", "prom-test-key"),
    ];
    assert_eq!(post(addr, "/firehose", &ok, body.as_bytes()).0, 200);
    let wrong = [
        ("X-Amz-Firehose-Request-Id", "prom-fh2"),
        ("X-Amz-Firehose-Access-Key", "wrong"),
    ];
    assert_eq!(post(addr, "/firehose", &wrong, body.as_bytes()).0, 401);
}

#[test]
fn every_dashboard_panel_but_the_postgres_ones_returns_data_and_every_rule_evaluates() {
    let f = fixture();
    let d = start_fixture_daemon(&f, "state");
    post_firehose(&d.addr);

    let prom = start_prometheus(&d.addr);
    wait_for_scrapes(&prom);
    let problems = dashboard_problems(&prom);
    assert!(problems.0 >= 20, "only {} panel queries found", problems.0);
    assert_empty_panels("one daemon on SQLite", &problems, &[POSTGRES_ONLY_LIST]);

    let (_, rules) = get(&prom.addr, "/api/v1/rules");
    let rules: serde_json::Value = serde_json::from_str(&rules).unwrap();
    let mut evaluated = 0;
    for g in rules["data"]["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            evaluated += 1;
            assert_eq!(
                r["health"], "ok",
                "rule {} in group {}: {}",
                r["name"], g["name"], r["lastError"]
            );
        }
    }
    assert!(
        evaluated >= 26,
        "{evaluated} rules loaded (recording and alerting)"
    );
    drop(prom);
    assert!(d.stop().success());
}

/// Panels of metrics only a PostgreSQL store has (several replicas sharing one database): a
/// SQLite store (one daemon) and the demo (in memory) have nothing to refresh or fold.
pub(crate) const POSTGRES_ONLY: [&str; 4] = [
    "Seconds since each replica's last refresh",
    "Age of the oldest unfolded journal row",
    "Refresh errors per second by replica and kind",
    "Fold errors per second by replica",
];

/// [`POSTGRES_ONLY`] with what it lists, for [`assert_empty_panels`].
pub(crate) const POSTGRES_ONLY_LIST: (&str, &[&str]) = (
    "POSTGRES_ONLY, of panels only a PostgreSQL store fills,",
    &POSTGRES_ONLY,
);

/// Panels the demo cannot fill: it has no Firehose endpoint and no bill to reconcile (its
/// totals are in memory, and reconciliation reads the daily totals from a store).
const DEMO_EMPTY: [&str; 3] = [
    "Firehose requests per second by HTTP code",
    "Drift from the bill by model and token class",
    "Estimate and bill by model and token class (last reconciliation)",
];

/// Asserts that the panels with no data in `problems` (from [`dashboard_problems`]) are
/// exactly those of `lists` (each what it lists, and panel titles): every title of a list
/// has no data (else the list is out of date), and every other query returned data. A query
/// that failed is never excused.
pub(crate) fn assert_empty_panels(
    when: &str,
    (checked, problems): &(usize, Vec<String>),
    lists: &[(&str, &[&str])],
) {
    let no_data =
        |p: &str, title: &str| p.starts_with(&format!("{title}: ")) && p.ends_with(": no data");
    for (what, titles) in lists {
        let empty: Vec<&str> = (titles.iter().copied())
            .filter(|t| problems.iter().any(|p| no_data(p, t)))
            .collect();
        assert_eq!(&empty, titles, "{when}: the list {what} is out of date");
    }
    let unexpected: Vec<&str> = (problems.iter().map(String::as_str))
        .filter(|p| !lists.iter().any(|(_, ts)| ts.iter().any(|t| no_data(p, t))))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{when}: {} of {checked} panel queries failed or have nothing to show:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
}

#[test]
fn the_demo_fills_every_dashboard_panel_but_firehose_reconciliation_and_postgres() {
    let d = Daemon::spawn(&["demo", "--listen", "127.0.0.1:0", "--rate", "20"]);
    let prom = start_prometheus(&d.addr);
    wait_for_scrapes(&prom);
    let problems = dashboard_problems(&prom);
    assert!(problems.0 >= 20, "only {} panel queries found", problems.0);
    let demo = (
        "DEMO_EMPTY, of panels the demo cannot fill,",
        &DEMO_EMPTY[..],
    );
    assert_empty_panels("the demo", &problems, &[demo, POSTGRES_ONLY_LIST]);
    drop(prom);
    assert!(d.stop().success());
}

/// Waits until Prometheus has scraped the daemon a few times (it applies new targets about
/// 5 s after start; rates need a few scrapes).
pub(crate) fn wait_for_scrapes(prom: &Prometheus) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = query(&prom.addr, "count_over_time(bedrock_build_info[1m])");
        if r["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            >= 4.0
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped the daemon: {r}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The shipped Grafana dashboard.
pub(crate) fn dashboard() -> serde_json::Value {
    let path = format!(
        "{}/deploy/grafana/bedrock-cost.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Runs every panel query of the dashboard; returns how many, and those that failed or
/// returned no series (`title: expr: why`).
pub(crate) fn dashboard_problems(prom: &Prometheus) -> (usize, Vec<String>) {
    let dashboard = dashboard();
    let mut problems = Vec::new();
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let Some(expr) = target["expr"].as_str() else {
                continue;
            };
            checked += 1;
            let r = query(&prom.addr, &expand(expr));
            let title = panel["title"].as_str().unwrap_or("?");
            if r["status"] != "success" {
                problems.push(format!("{title}: {expr}: {}", r["error"]));
            } else if r["data"]["result"].as_array().is_none_or(|a| a.is_empty()) {
                problems.push(format!("{title}: {expr}: no data"));
            }
        }
    }
    (checked, problems)
}

/// `up` of each job, once Prometheus has scraped every one at least twice.
fn up_by_job(prom: &Prometheus, jobs: usize) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = query(&prom.addr, "count_over_time(up[1m]) >= 2");
        if r["data"]["result"]
            .as_array()
            .is_some_and(|a| a.len() == jobs)
        {
            let up = query(&prom.addr, "up");
            let mut v: Vec<(String, String)> = up["data"]["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    let job = s["metric"]["job"].as_str().unwrap().to_string();
                    (job, s["value"][1].as_str().unwrap().to_string())
                })
                .collect();
            v.sort();
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape every job: {r}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn prometheus_scrapes_with_the_deploy_example_token_or_basic_auth_and_is_refused_without() {
    let dir = tempfile::tempdir().unwrap();
    let (tokens, users) = crate::auth::credential_files(dir.path());
    let card = data("ratecard.toml");
    let logs = dir.path().join("none-yet.jsonl");
    let d = Daemon::start(&[
        "--ratecard",
        &card,
        "--in-memory",
        "--file",
        logs.to_str().unwrap(),
        "--http-bearer-token-file",
        &tokens,
        "--http-basic-auth-file",
        &users,
    ]);
    // The deploy example as written, pointed at this daemon and a token file.
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    std::fs::write(secrets.join("token"), format!("{}\n", crate::auth::TOKEN)).unwrap();
    std::fs::write(secrets.join("password"), crate::auth::PASSWORD).unwrap();
    let example = std::fs::read_to_string(format!(
        "{}/deploy/prometheus/scrape-config.yml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace(
        "/etc/prometheus/secrets/bedrock-cost-exporter/",
        &format!("{}/", secrets.display()),
    )
    .replace("bedrock-cost-exporter:9464", &d.addr);
    assert!(example.contains(&d.addr) && example.contains("credentials_file"));
    let more = format!(
        "  - job_name: basic\n    basic_auth: {{username: {}, password_file: '{}'}}\n    static_configs: [{{targets: ['{addr}']}}]\n  - job_name: anonymous\n    static_configs: [{{targets: ['{addr}']}}]\n",
        crate::auth::USER,
        secrets.join("password").display(),
        addr = d.addr
    );
    let prom = start_prometheus_with(&(example + &more));
    assert_eq!(
        up_by_job(&prom, 3),
        [
            ("anonymous".to_string(), "0".to_string()),
            ("basic".into(), "1".into()),
            ("bedrock-cost-exporter".into(), "1".into())
        ]
    );
    let (_, targets) = get(&prom.addr, "/api/v1/targets");
    let targets: serde_json::Value = serde_json::from_str(&targets).unwrap();
    let anonymous = targets["data"]["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["labels"]["job"] == "anonymous")
        .unwrap();
    assert!(
        anonymous["lastError"].as_str().unwrap().contains("401"),
        "{anonymous}"
    );
    let r = query(
        &prom.addr,
        "bedrock_build_info{job=\"bedrock-cost-exporter\"}",
    );
    assert_eq!(r["data"]["result"].as_array().map(Vec::len), Some(1), "{r}");
    drop(prom);
    assert!(d.stop().success());
}
