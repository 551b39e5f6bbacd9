//! Cardinality (issue 9): caps limit detail, never money or attribution.
//!
//! Guards the two kinds of cap documented in docs/cardinality.md and the README section
//! "Series cap and `__other__`":
//!
//! - the drill-down (`bedrock_cost_usd_total{user,feature,model}`, `bedrock_tokens_total`,
//!   `bedrock_invocations_total`) holds at most `max_series_per_metric` series and folds model
//!   first, yet every per-user, per-feature and per-model total stays exact, and every view
//!   sums to the same money;
//! - a per-dimension metric (here `max_users`) admits values up to its cap, counts later ones
//!   as `__other__`, keeps the admitted ones exact, and remembers what it admitted across a
//!   restart;
//! - SIGKILLs while the daemon reads lose nothing, count nothing twice, change no admission
//!   decision, and never make a scraped counter go down.
//!
//! Every expected value is computed here, independently of the daemon, in integer units:
//! prices in 10^-12 USD per 1M tokens, so tokens × price is a cost in 10^-18 USD. The daemon's
//! float must be the float nearest to that exact decimal: equal, not close. Sums over many
//! series are compared exactly too, from the store's decimal export.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::daemon::{append, data, run_cli, sum, Daemon, Lcg};

const OTHER: &str = "__other__";

/// Priced models of tests/data/ratecard.toml, with their in-region prices per 1M tokens as the
/// card writes them: (model, input, output). A `modelId` without a geo prefix is in-region.
const MODELS: [(&str, &str, &str); 3] = [
    ("amazon.nova-micro-v1:0", "0.035", "0.14"),
    ("amazon.nova-lite-v1:0", "0.06", "0.24"),
    ("anthropic.claude-3-haiku-20240307-v1:0", "0.25", "1.25"),
];

/// A plain decimal string as an integer count of `10^-scale` units, exactly.
fn units(s: &str, scale: usize) -> i128 {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    assert!(frac.len() <= scale, "{s} has more than {scale} decimals");
    format!("{int}{frac:0<scale$}")
        .parse()
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// `atto` × 10^-18 USD as its exact decimal string.
fn usd_string(atto: i128) -> String {
    assert!(atto >= 0);
    let digits = format!("{atto:019}");
    let (int, frac) = digits.split_at(digits.len() - 18);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

/// The float nearest to the exact cost (Rust's `parse` rounds correctly).
fn usd(atto: i128) -> f64 {
    usd_string(atto).parse().unwrap()
}

struct Call {
    id: String,
    user: String,
    feature: String,
    model: usize,
    input: u64,
    output: u64,
    pad: usize,
}

impl Call {
    /// Cost in 10^-18 USD: tokens × (USD per 1M tokens in 10^-12 USD).
    fn cost(&self) -> i128 {
        let (_, p_in, p_out) = MODELS[self.model];
        self.input as i128 * units(p_in, 12) + self.output as i128 * units(p_out, 12)
    }

    fn line(&self) -> String {
        format!(
            r#"{{"timestamp":"2026-11-02T08:15:30Z","region":"us-east-1","requestId":"{id}","operation":"Converse","modelId":"{model}","identity":{{"arn":"arn:aws:iam::1:user/gateway"}},"requestMetadata":{{"user":"{user}","feature":"{feature}"}},"input":{{"inputContentType":"application/json","inputBodyJson":{{"messages":[{{"role":"user","content":[{{"text":"{pad}"}}]}}]}},"inputTokenCount":{input}}},"output":{{"outputTokenCount":{output}}}}}"#,
            id = self.id,
            model = MODELS[self.model].0,
            user = self.user,
            feature = self.feature,
            pad = "x".repeat(self.pad),
            input = self.input,
            output = self.output,
        ) + "\n"
    }
}

/// Exact totals of one user, feature or model.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Tally {
    cost: i128,
    calls: u64,
    input: u64,
    output: u64,
}

impl Tally {
    fn add(&mut self, c: &Call) {
        self.cost += c.cost();
        self.calls += 1;
        self.input += c.input;
        self.output += c.output;
    }
}

fn tally<'a>(
    calls: impl IntoIterator<Item = &'a Call>,
    key: impl Fn(&Call) -> String,
) -> BTreeMap<String, Tally> {
    let mut out: BTreeMap<String, Tally> = BTreeMap::new();
    for c in calls {
        out.entry(key(c)).or_default().add(c);
    }
    out
}

fn total<'a>(calls: impl IntoIterator<Item = &'a Call>) -> Tally {
    let mut t = Tally::default();
    for c in calls {
        t.add(c);
    }
    t
}

/// `n` calls by `users` users on `features` features and the three models, users interleaved
/// (each call picks its user, feature and model at random). Every user and feature occurs.
fn corpus(prefix: &str, n: usize, users: u64, features: u64, rng: &mut Lcg) -> Vec<Call> {
    let calls: Vec<Call> = (0..n)
        .map(|i| Call {
            id: format!("{prefix}-{i:06}"),
            user: format!("user-{:03}", rng.next(users)),
            feature: format!("feat-{:02}", rng.next(features)),
            model: rng.next(MODELS.len() as u64) as usize,
            input: 1 + rng.next(50_000),
            output: rng.next(5_000),
            pad: rng.next(300) as usize,
        })
        .collect();
    let seen: BTreeSet<&str> = calls.iter().map(|c| c.user.as_str()).collect();
    assert_eq!(seen.len() as u64, users, "the corpus must use every user");
    let seen: BTreeSet<&str> = calls.iter().map(|c| c.feature.as_str()).collect();
    assert_eq!(
        seen.len() as u64,
        features,
        "the corpus must use every feature"
    );
    calls
}

/// One sample of /metrics: its labels and value.
type Sample = (BTreeMap<String, String>, f64);

/// Every sample of `name`, labels parsed (values here never contain quotes or backslashes,
/// but escapes are honoured anyway).
fn samples(m: &str, name: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in m.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (labels, value) = if let Some(body) = rest.strip_prefix('{') {
            let end = body.rfind('}').expect("a closing brace");
            (parse_labels(&body[..end]), &body[end + 1..])
        } else if rest.starts_with(' ') {
            (BTreeMap::new(), rest)
        } else {
            continue; // another metric whose name starts with this one
        };
        let v: f64 = value
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        out.push((labels, v));
    }
    out
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    while chars.peek().is_some() {
        let name: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "in {s}");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c) => value.push(c),
                    None => break,
                },
                '"' => break,
                c => value.push(c),
            }
        }
        out.insert(name.trim_start_matches(',').to_string(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    out
}

/// `label` → value of the samples of `name` that match `filter`, one sample per label value.
fn by(m: &str, name: &str, label: &str, filter: &[(&str, &str)]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (labels, v) in samples(m, name) {
        if !filter
            .iter()
            .all(|(k, want)| labels.get(*k).map(String::as_str) == Some(*want))
        {
            continue;
        }
        let key = labels[label].clone();
        if let Some(prev) = out.insert(key.clone(), v) {
            panic!("{name}: two samples for {label}={key:?} with {filter:?}: {prev} and {v}");
        }
    }
    out
}

/// Panics with every difference (named, both values) when `got` is not exactly `want`.
fn assert_exact(what: &str, got: &BTreeMap<String, f64>, want: &BTreeMap<String, f64>) {
    let mut diffs = Vec::new();
    for (k, w) in want {
        match got.get(k) {
            Some(g) if g == w => {}
            Some(g) => diffs.push(format!("  {k}: daemon {g:?}, expected {w:?}")),
            None => diffs.push(format!("  {k}: no series, expected {w:?}")),
        }
    }
    for (k, g) in got {
        if !want.contains_key(k) {
            diffs.push(format!("  {k}: daemon {g:?}, expected no series"));
        }
    }
    if !diffs.is_empty() {
        let n = diffs.len();
        diffs.truncate(40);
        panic!(
            "{what}: {n} of {} differ (first {}):\n{}",
            want.len(),
            diffs.len(),
            diffs.join("\n")
        );
    }
}

/// Checks the per-dimension metrics of `label` (`user` or `feature`) against `want`, exactly.
fn assert_dimension(m: &str, label: &str, want: &BTreeMap<String, Tally>) {
    let metric = |kind: &str| format!("bedrock_{label}_{kind}");
    let pick = |f: fn(&Tally) -> f64| -> BTreeMap<String, f64> {
        want.iter().map(|(k, t)| (k.clone(), f(t))).collect()
    };
    assert_exact(
        &format!("{} per {label}", metric("cost_usd_total")),
        &by(m, &metric("cost_usd_total"), label, &[]),
        &pick(|t| usd(t.cost)),
    );
    assert_exact(
        &format!(
            "{}{{outcome=\"success\"}} per {label}",
            metric("invocations_total")
        ),
        &by(
            m,
            &metric("invocations_total"),
            label,
            &[("outcome", "success")],
        ),
        &pick(|t| t.calls as f64),
    );
    assert_exact(
        &format!(
            "{}{{token_type=\"input\"}} per {label}",
            metric("tokens_total")
        ),
        &by(
            m,
            &metric("tokens_total"),
            label,
            &[("token_type", "input")],
        ),
        &pick(|t| t.input as f64),
    );
    // A user or feature with no output tokens at all has no output series.
    let outputs: BTreeMap<String, f64> = pick(|t| t.output as f64)
        .into_iter()
        .filter(|(_, v)| *v > 0.0)
        .collect();
    assert_exact(
        &format!(
            "{}{{token_type=\"output\"}} per {label}",
            metric("tokens_total")
        ),
        &by(
            m,
            &metric("tokens_total"),
            label,
            &[("token_type", "output")],
        ),
        &outputs,
    );
}

/// The drill-down keeps full detail for the combinations it admitted, each decided the first
/// time it was seen: such a series holds every call of its user, feature and model, exactly,
/// and the dollars of every other call are counted as folded.
fn assert_drill_down_detail(m: &str, calls: &[Call]) {
    let combos = tally(calls, |c| {
        format!("{}/{}/{}", c.user, c.feature, MODELS[c.model].0)
    });
    let detail = |metric: &str, value: fn(&Tally) -> f64, filter: &[(&str, &str)]| {
        let mut got = BTreeMap::new();
        let mut want = BTreeMap::new();
        let mut detailed = Tally::default();
        for (l, v) in samples(m, metric) {
            if l["model"] == OTHER
                || !filter
                    .iter()
                    .all(|(k, w)| l.get(*k).map(String::as_str) == Some(*w))
            {
                continue;
            }
            let combo = format!("{}/{}/{}", l["user"], l["feature"], l["model"]);
            got.insert(combo.clone(), v);
            if let Some(t) = combos.get(&combo) {
                want.insert(combo, value(t));
                detailed.cost += t.cost;
            }
        }
        assert_exact(
            &format!("{metric} series with full detail (user/feature/model)"),
            &got,
            &want,
        );
        detailed
    };
    let detailed = detail("bedrock_cost_usd_total", |t| usd(t.cost), &[]);
    detail(
        "bedrock_invocations_total",
        |t| t.calls as f64,
        &[("outcome", "success")],
    );
    let folded = total(calls).cost - detailed.cost;
    assert_eq!(
        sum(
            m,
            "bedrock_folded_cost_usd_total",
            &["metric=\"bedrock_cost_usd_total\""]
        ),
        usd(folded),
        "bedrock_folded_cost_usd_total{{metric=\"bedrock_cost_usd_total\"}} (left) must be \
         the exact cost of the calls outside the full-detail series (right)"
    );
}

fn accepted(m: &str) -> f64 {
    sum(m, "bedrock_records_total", &["result=\"accepted\""])
}

/// A log file, a state directory and the daemon's arguments for them, with `[limits]` set.
struct Setup {
    dir: tempfile::TempDir,
    state: tempfile::TempDir,
    log: std::path::PathBuf,
}

impl Setup {
    fn new(limits: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(&config, format!("[limits]\n{limits}\n")).unwrap();
        let log = dir.path().join("calls.jsonl");
        Setup {
            dir,
            state: tempfile::tempdir().unwrap(),
            log,
        }
    }

    fn state(&self) -> &str {
        self.state.path().to_str().unwrap()
    }

    fn args(&self) -> Vec<String> {
        let config = self.dir.path().join("config.toml");
        [
            "--file",
            self.log.to_str().unwrap(),
            "--ratecard",
            &data("ratecard.toml"),
            "--config",
            config.to_str().unwrap(),
            "--state-dir",
            self.state(),
        ]
        .map(String::from)
        .to_vec()
    }

    fn start(&self) -> Daemon {
        let args = self.args();
        Daemon::start(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

/// Sums, exactly, the money of every series of each metric in the stopped daemon's store:
/// metric name → total in 10^-18 USD.
fn stored_money(state: &str) -> BTreeMap<String, i128> {
    let (code, out, err) = run_cli(
        &["state", "--state-dir", state, "export", "--format", "json"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let mut totals: BTreeMap<String, i128> = BTreeMap::new();
    for line in out.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let metric = row["metric"].as_str().unwrap();
        if metric.contains("usd") {
            *totals.entry(metric.to_string()).or_default() +=
                units(row["value"].as_str().unwrap(), 18);
        }
    }
    totals
}

#[test]
fn more_combinations_than_the_series_cap_keep_every_user_and_feature_exact() {
    const CAP: usize = 200;
    let mut rng = Lcg(0xca4d_1a11);
    let calls = corpus("wide", 6000, 150, 20, &mut rng);
    let combos: BTreeSet<(&str, &str, usize)> = calls
        .iter()
        .map(|c| (c.user.as_str(), c.feature.as_str(), c.model))
        .collect();
    assert!(
        combos.len() > 10 * CAP,
        "the corpus must overflow the drill-down"
    );

    let run = Setup::new(&format!("max_series_per_metric = {CAP}"));
    append(&run.log, &calls.iter().map(Call::line).collect::<String>());
    let d = run.start();
    let m = d.wait_for("every record", |m| accepted(m) == calls.len() as f64);

    // Per user and per feature: every one admitted (default caps), every one exact.
    let users = tally(&calls, |c| c.user.clone());
    let features = tally(&calls, |c| c.feature.clone());
    assert_dimension(&m, "user", &users);
    assert_dimension(&m, "feature", &features);
    assert_eq!(
        sum(&m, "bedrock_dimension_values", &["dimension=\"user\""]),
        150.0
    );
    assert_eq!(
        sum(&m, "bedrock_dimension_values", &["dimension=\"feature\""]),
        20.0
    );
    for metric in [
        "bedrock_user_cost_usd_total",
        "bedrock_feature_cost_usd_total",
    ] {
        assert_eq!(
            sum(
                &m,
                "bedrock_folded_cost_usd_total",
                &[&format!("metric=\"{metric}\"")]
            ),
            0.0,
            "no dimension is past its cap, so nothing may fold in {metric}"
        );
    }

    // Per model and token type: never folded, exact.
    let mut want_model = BTreeMap::new();
    for (i, (model, _, _)) in MODELS.iter().enumerate() {
        let t = total(calls.iter().filter(|c| c.model == i));
        let (_, p_in, p_out) = MODELS[i];
        want_model.insert(
            format!("{model} input"),
            usd(t.input as i128 * units(p_in, 12)),
        );
        want_model.insert(
            format!("{model} output"),
            usd(t.output as i128 * units(p_out, 12)),
        );
    }
    let got_model: BTreeMap<String, f64> = samples(&m, "bedrock_model_cost_usd_total")
        .into_iter()
        .map(|(l, v)| (format!("{} {}", l["model"], l["token_type"]), v))
        .filter(|(_, v)| *v != 0.0)
        .collect();
    assert_exact(
        "bedrock_model_cost_usd_total per model and token type",
        &got_model,
        &want_model,
    );

    // The drill-down: folded, within its cap, model first.
    let all = total(&calls);
    let drill = samples(&m, "bedrock_cost_usd_total");
    // One fully folded series may exist beyond the cap per combination of kept labels: the
    // cost keeps none, tokens keep token_type (2 here), calls keep outcome (1 here).
    for (metric, extra) in [
        ("bedrock_cost_usd_total", 1),
        ("bedrock_tokens_total", 2),
        ("bedrock_invocations_total", 1),
    ] {
        let n = samples(&m, metric).len();
        assert!(
            n <= CAP + extra,
            "{metric} has {n} series, over its cap of {CAP} (+{extra} fully folded)"
        );
    }
    for (labels, v) in &drill {
        let other = |l: &str| labels[l] == OTHER;
        assert!(
            (!other("feature") || other("model")) && (!other("user") || other("feature")),
            "folding must go model, then feature, then user; found {labels:?} = {v}"
        );
    }
    let model_folded: Vec<&Sample> = drill
        .iter()
        .filter(|(l, _)| l["model"] == OTHER && users.contains_key(&l["user"]))
        .collect();
    assert!(
        !model_folded.is_empty(),
        "past the cap, model must fold first, keeping real users: no series \
         {{user=<a user>, model=\"__other__\"}} among {} drill-down series",
        drill.len()
    );
    assert!(
        sum(
            &m,
            "bedrock_folded_cost_usd_total",
            &["metric=\"bedrock_cost_usd_total\""]
        ) > 0.0,
        "the drill-down folded, so bedrock_folded_cost_usd_total must say so"
    );
    assert_drill_down_detail(&m, &calls);
    // Counts are integers, so their float sums are exact.
    assert_eq!(
        sum(&m, "bedrock_tokens_total", &["token_type=\"input\""]),
        all.input as f64,
        "drill-down input tokens"
    );
    assert_eq!(
        sum(&m, "bedrock_tokens_total", &["token_type=\"output\""]),
        all.output as f64,
        "drill-down output tokens"
    );
    assert_eq!(
        sum(&m, "bedrock_invocations_total", &[]),
        calls.len() as f64,
        "drill-down calls"
    );
    assert!(d.stop().success());

    // Every view sums to the same money, exactly: the store holds the exact decimals.
    let stored = stored_money(run.state());
    for metric in [
        "bedrock_user_cost_usd_total",
        "bedrock_feature_cost_usd_total",
        "bedrock_cost_usd_total",
        "bedrock_model_cost_usd_total",
    ] {
        let got = stored.get(metric).copied().unwrap_or(0);
        assert_eq!(
            usd_string(got),
            usd_string(all.cost),
            "the sum of every series of {metric} (daemon, left) must be the corpus total (right)"
        );
    }
}

/// Every counter series of these metrics must never go down, nor vanish, across scrapes and
/// restarts.
const MONOTONIC: [&str; 9] = [
    "bedrock_user_cost_usd_total",
    "bedrock_user_tokens_total",
    "bedrock_user_invocations_total",
    "bedrock_feature_cost_usd_total",
    "bedrock_feature_tokens_total",
    "bedrock_feature_invocations_total",
    "bedrock_cost_usd_total",
    "bedrock_tokens_total",
    "bedrock_invocations_total",
];

/// Records the highest value seen of every series of [`MONOTONIC`], and panics if a scrape
/// shows one lower than before, or without a series it had.
fn check_monotonic(seen: &mut HashMap<String, f64>, m: &str, when: &str) {
    let mut now = HashMap::new();
    for metric in MONOTONIC {
        for (labels, v) in samples(m, metric) {
            now.insert(format!("{metric}{labels:?}"), v);
        }
    }
    let mut lower = Vec::new();
    for (series, before) in seen.iter() {
        match now.get(series) {
            Some(v) if v >= before => {}
            Some(v) => lower.push(format!("  {series}: {before} then {v}")),
            None => lower.push(format!("  {series}: {before} then no series")),
        }
    }
    if !lower.is_empty() {
        lower.sort();
        let n = lower.len();
        lower.truncate(40);
        panic!(
            "{when}: {n} counter series went down or vanished (first {}):\n{}",
            lower.len(),
            lower.join("\n")
        );
    }
    seen.extend(now);
}

#[test]
fn sigkill_and_restarts_keep_every_user_exact_and_no_counter_goes_down() {
    const KILLS: usize = 8;
    let mut rng = Lcg(0x51c_c111);
    let mut calls = corpus("kill", 24_000, 150, 20, &mut rng);
    for c in &mut calls {
        c.pad *= 4; // about 1 KB a line: 24 batches of 1 MiB
    }
    let run = Setup::new("max_series_per_metric = 200");

    // The file holds the first half of the corpus, cut in the middle of a line; the rest is
    // appended halfway through the kills. The daemon reads 1 MiB per batch, a dozen batches per
    // half, so a run killed soon after its first commit dies while it reads.
    let whole: String = calls.iter().map(Call::line).collect();
    let half = whole.len() / 2 + rng.next(300) as usize;
    append(&run.log, &whole[..half]);
    let mut complete_lines = whole[..half].matches('\n').count() as f64;
    let mut seen: HashMap<String, f64> = HashMap::new();
    let mut killed_while_reading = 0;
    for k in 0..KILLS {
        if k == KILLS / 2 {
            append(&run.log, &whole[half..]);
            complete_lines = calls.len() as f64;
        }
        let d = run.start();
        let mut scrape = |when: &str| {
            let m = d.metrics();
            check_monotonic(&mut seen, &m, &format!("run {k}, {when}"));
            accepted(&m)
        };
        let at_start = scrape("first scrape");
        // Wait for this run's first commit (bounded), then kill it a moment later.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut now = at_start;
        while now == at_start && now < complete_lines && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            now = scrape("waiting for a commit");
        }
        std::thread::sleep(Duration::from_millis(rng.next(40)));
        if scrape("just before SIGKILL") < complete_lines {
            killed_while_reading += 1;
        }
        d.kill9();
    }
    assert!(
        killed_while_reading >= KILLS / 2,
        "only {killed_while_reading} of {KILLS} runs were killed while still reading: \
         the test no longer exercises a SIGKILL during a read"
    );

    let d = run.start();
    check_monotonic(&mut seen, &d.metrics(), "the last start, first scrape");
    let m = d.wait_for("every record", |m| accepted(m) == calls.len() as f64);
    check_monotonic(&mut seen, &m, "the end");
    assert!(
        seen.keys()
            .any(|s| s.starts_with("bedrock_user_cost_usd_total")),
        "no per-user series was ever scraped"
    );
    for result in ["duplicate", "malformed"] {
        assert_eq!(
            sum(
                &m,
                "bedrock_records_total",
                &[&format!("result=\"{result}\"")]
            ),
            0.0,
            "{result} records: each line was written once, and whole before it was read"
        );
    }
    assert_dimension(&m, "user", &tally(&calls, |c| c.user.clone()));
    assert_dimension(&m, "feature", &tally(&calls, |c| c.feature.clone()));
    // A combination refused before a SIGKILL stays refused after it, and vice versa.
    assert_drill_down_detail(&m, &calls);
    assert!(d.stop().success());

    let stored = stored_money(run.state());
    let all = total(&calls);
    for metric in ["bedrock_user_cost_usd_total", "bedrock_cost_usd_total"] {
        assert_eq!(
            usd_string(stored.get(metric).copied().unwrap_or(0)),
            usd_string(all.cost),
            "the sum of {metric} after {KILLS} SIGKILLs (daemon, left) against the corpus (right)"
        );
    }
}

#[test]
fn a_full_user_dimension_folds_new_users_and_remembers_its_admissions() {
    const MAX_USERS: usize = 50;
    let mut rng = Lcg(0xf0_1d);
    let calls = corpus("fold", 2000, 80, 5, &mut rng);
    // The daemon reads the one file in order: the first 50 distinct users are admitted.
    let mut admitted: Vec<&str> = Vec::new();
    for c in &calls {
        if admitted.len() < MAX_USERS && !admitted.contains(&c.user.as_str()) {
            admitted.push(&c.user);
        }
    }
    let admitted: BTreeSet<String> = admitted.into_iter().map(String::from).collect();
    let user_of = |adm: &BTreeSet<String>, c: &Call| {
        if adm.contains(&c.user) {
            c.user.clone()
        } else {
            OTHER.to_string()
        }
    };

    let run = Setup::new(&format!("max_users = {MAX_USERS}"));
    append(&run.log, &calls.iter().map(Call::line).collect::<String>());

    let check = |m: &str, calls: &[Call], when: &str| {
        let want = tally(calls, |c| user_of(&admitted, c));
        assert_eq!(
            want.len(),
            MAX_USERS + 1,
            "{when}: the corpus must overflow the cap"
        );
        assert_dimension(m, "user", &want);
        assert_eq!(
            sum(
                m,
                "bedrock_folded_cost_usd_total",
                &["metric=\"bedrock_user_cost_usd_total\""]
            ),
            usd(want[OTHER].cost),
            "{when}: bedrock_folded_cost_usd_total{{metric=\"bedrock_user_cost_usd_total\"}} \
             (left) must be the __other__ user's exact total (right)"
        );
        assert_eq!(
            sum(m, "bedrock_dimension_values", &["dimension=\"user\""]),
            MAX_USERS as f64,
            "{when}: bedrock_dimension_values{{dimension=\"user\"}}"
        );
        assert_eq!(
            sum(m, "bedrock_dimension_values_limit", &["dimension=\"user\""]),
            MAX_USERS as f64,
            "{when}: bedrock_dimension_values_limit{{dimension=\"user\"}}"
        );
        // The other dimensions are not full: features stay exact and unfolded.
        assert_dimension(m, "feature", &tally(calls, |c| c.feature.clone()));
    };

    let d = run.start();
    let m = d.wait_for("every record", |m| accepted(m) == calls.len() as f64);
    check(&m, &calls, "first run");
    assert!(d.stop().success());

    // After a restart: an admitted user keeps growing under its own name; a user never seen
    // and one that was folded before both land in __other__.
    let first_admitted = calls[0].user.clone();
    let folded_before = calls
        .iter()
        .find(|c| !admitted.contains(&c.user))
        .unwrap()
        .user
        .clone();
    let mut more = Vec::new();
    for (i, user) in [first_admitted.as_str(), "user-new", folded_before.as_str()]
        .iter()
        .cycle()
        .take(12)
        .enumerate()
    {
        more.push(Call {
            id: format!("more-{i:02}"),
            user: user.to_string(),
            feature: format!("feat-{:02}", rng.next(5)),
            model: rng.next(MODELS.len() as u64) as usize,
            input: 1 + rng.next(50_000),
            output: rng.next(5_000),
            pad: 0,
        });
    }
    append(&run.log, &more.iter().map(Call::line).collect::<String>());
    let all: Vec<Call> = calls.into_iter().chain(more).collect();

    let d = run.start();
    let m = d.wait_for("the records after the restart", |m| {
        accepted(m) == all.len() as f64
    });
    check(&m, &all, "after the restart");
    // (assert_dimension checked the exact set of user series; this says it in words.)
    for user in ["user-new", folded_before.as_str()] {
        assert!(
            !by(&m, "bedrock_user_cost_usd_total", "user", &[]).contains_key(user),
            "{user} arrived past max_users = {MAX_USERS}: it must have no series of its own"
        );
    }
    assert!(d.stop().success());
}
