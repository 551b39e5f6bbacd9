//! The one-shot commands: `price` (a Unix filter), `report` (a summary by label), `top` (a
//! live view of a running daemon), `check` (validate config and cards) and
//! `state` (inspect, export, compact the store; read the daily totals, even beside the daemon).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::json;

use crate::account::PricedCall;
use crate::bedrock;
use crate::config::{self, Config, Overrides};
use crate::daily::DailyTotals;
use crate::pricing;
use crate::secret::Secret;
use crate::store::{PgStore, SqliteStore, Store};
use crate::texttable;
use crate::timefmt;

fn pricing_config(config_path: Option<&Path>, ratecards: Vec<PathBuf>) -> anyhow::Result<Config> {
    let raw = config::load_raw(config_path)?;
    // State and sources do not matter here; only pricing and attribution do.
    let o = Overrides {
        in_memory: true,
        ratecards,
        ..Default::default()
    };
    Ok(config::resolve(raw, o, config::Env::read())?)
}

fn open_input(path: &Path) -> anyhow::Result<Box<dyn BufRead>> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let r: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    Ok(Box::new(BufReader::new(r)))
}

/// Hands every priced and attributed call of `files` (standard input when none) to `each`,
/// in order. Malformed records are reported on stderr and skipped; returns how many.
fn each_call(
    c: &Config,
    files: &[PathBuf],
    each: &mut dyn FnMut(&PricedCall<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let cards = crate::app::load_cards(c)?;
    let mut inputs: Vec<(String, Box<dyn BufRead>)> = Vec::new();
    if files.is_empty() {
        inputs.push(("stdin".into(), Box::new(BufReader::new(std::io::stdin()))));
    }
    for f in files {
        inputs.push((f.display().to_string(), open_input(f)?));
    }
    let mut bad = 0u64;
    for (name, reader) in inputs {
        for (n, line) in reader.split(b'\n').enumerate() {
            let line = line.with_context(|| format!("cannot read {name}"))?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            for record in bedrock::split_records(&line) {
                let rec = match bedrock::parse(record) {
                    Ok(r) => r,
                    Err(e) => {
                        bad += 1;
                        eprintln!(
                            "{name}:{}: skipped a malformed record ({}): {e}",
                            n + 1,
                            e.reason()
                        );
                        continue;
                    }
                };
                let call = PricedCall::new(&cards, &c.aliases, &c.attribution, &rec, &[]);
                each(&call)?;
            }
        }
    }
    if bad > 0 {
        eprintln!("{bad} malformed record(s) skipped");
    }
    Ok(bad)
}

/// Prints one JSON line per call. Malformed lines are reported on stderr and skipped.
pub fn price(
    config_path: Option<&Path>,
    ratecards: Vec<PathBuf>,
    files: &[PathBuf],
) -> anyhow::Result<()> {
    let c = pricing_config(config_path, ratecards)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    each_call(&c, files, &mut |call| {
        let row = crate::sinks::row(call, &c.attribution);
        serde_json::to_writer(&mut out, &row)?;
        out.write_all(b"\n")?;
        Ok(())
    })?;
    out.flush()?;
    Ok(())
}

/// What `report` is asked for.
pub struct ReportArgs<'a> {
    pub files: &'a [PathBuf],
    pub group_by: &'a [String],
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub format: &'a str,
}

/// Prints the calls of `files` summed by the `group_by` labels (see [`crate::report`]).
pub fn report(
    config_path: Option<&Path>,
    ratecards: Vec<PathBuf>,
    a: &ReportArgs<'_>,
) -> anyhow::Result<()> {
    let c = pricing_config(config_path, ratecards)?;
    let bound = |flag: &str, v: Option<&str>, end: bool| -> anyhow::Result<Option<i64>> {
        v.map(|s| {
            crate::report::parse_bound(s, end).with_context(|| {
                format!("{flag} {s:?} is not a day like 2026-11-30 or an RFC 3339 time like 2026-11-30T12:00:00Z")
            })
        })
        .transpose()
    };
    let since = bound("--since", a.since, false)?;
    let until = bound("--until", a.until, true)?;
    let mut r = crate::report::Report::new(a.group_by, &c.attribution, since, until)
        .map_err(anyhow::Error::msg)?;
    each_call(&c, a.files, &mut |call| {
        r.add(call);
        Ok(())
    })?;
    if r.duplicates > 0 {
        eprintln!(
            "{} record(s) of a request id already counted were skipped",
            r.duplicates
        );
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match a.format {
        "json" => writeln!(out, "{}", serde_json::to_string_pretty(&r.json())?)?,
        "csv" => write!(out, "{}", r.csv())?,
        _ => write!(out, "{}", r.table())?,
    }
    out.flush()?;
    Ok(())
}

pub fn check(config_path: Option<&Path>, ratecards: Vec<PathBuf>) -> anyhow::Result<()> {
    let raw = config::load_raw(config_path);
    let mut problems = Vec::new();
    let resolved = raw.map_err(|e| problems.extend(e.0)).ok().and_then(|raw| {
        let o = Overrides {
            in_memory: true,
            ratecards: ratecards.clone(),
            ..Default::default()
        };
        config::resolve(raw, o, config::Env::read())
            .map_err(|e| problems.extend(e.0))
            .ok()
    });
    let cards = match &resolved {
        Some(c) => crate::app::load_cards(c)
            .map_err(|e| problems.push(e.to_string()))
            .ok(),
        None if ratecards.is_empty() => Some(pricing::ratecard::bundled()),
        None => pricing::ratecard::load(&ratecards)
            .map_err(|e| problems.push(e.to_string()))
            .ok(),
    };
    if let (Some(c), Some(cards)) = (&resolved, &cards) {
        for (from, to) in c.aliases.iter() {
            match pricing::model::resolve(to, &pricing::Aliases::default()) {
                Ok(r)
                    if cards
                        .cards()
                        .iter()
                        .any(|card| card.models.contains_key(r.base)) => {}
                Ok(r) => problems.push(format!(
                    "[models.aliases] {from:?} maps to {:?}, which no rate card prices",
                    r.base
                )),
                Err(reason) => problems.push(format!(
                    "[models.aliases] {from:?} maps to {to:?}, which is not a model id ({})",
                    reason.as_str()
                )),
            }
        }
    }
    if !problems.is_empty() {
        anyhow::bail!(
            "{} problem(s):\n  - {}",
            problems.len(),
            problems.join("\n  - ")
        );
    }
    if let Some(p) = config_path {
        println!("config {}: OK", p.display());
    }
    for c in cards.iter().flat_map(|c| c.cards()) {
        let rows: usize = c.models.values().map(|m| m.rows.len()).sum();
        println!(
            "rate card {} ({}): OK, effective from {}, {} models, {} price rows, sha256 {}",
            c.version,
            c.source(),
            timefmt::format_date(c.effective_from / 86_400),
            c.models.len(),
            rows,
            c.sha256
        );
        for a in &c.assumptions {
            let tagged = c
                .models
                .values()
                .flat_map(|m| &m.rows)
                .filter(|r| r.assumptions.contains(&a.id))
                .count();
            println!("  assumption {}: {tagged} price rows", a.id);
        }
    }
    Ok(())
}

/// The flags that name the store a command reads: `--state-dir`, or `--store` with its
/// password (`state`, `reconcile`).
#[derive(clap::Args)]
pub struct StoreArgs {
    /// The daemon's state directory (SQLite).
    #[arg(
        long,
        env = "BEDROCK_COST_STATE_DIR",
        required_unless_present = "store",
        conflicts_with = "store"
    )]
    pub state_dir: Option<PathBuf>,
    /// The daemon's PostgreSQL store instead: postgres://user@host:port/db.
    #[arg(long, env = "BEDROCK_COST_STORE")]
    pub store: Option<String>,
    /// File whose first line is the PostgreSQL password (or set BEDROCK_COST_STORE_PASSWORD).
    #[arg(long, env = "BEDROCK_COST_STORE_PASSWORD_FILE")]
    pub store_password_file: Option<PathBuf>,
}

impl StoreArgs {
    pub fn target(&self) -> anyhow::Result<StateTarget> {
        StateTarget::new(
            self.state_dir.clone(),
            self.store.clone(),
            self.store_password_file.clone(),
        )
    }
}

/// The store a `state` command works on: a state directory or a PostgreSQL database.
#[derive(Clone)]
pub enum StateTarget {
    Dir(PathBuf),
    Postgres {
        url: String,
        password: Option<Secret<String>>,
    },
}

impl StateTarget {
    /// From `--state-dir` or `--store` (clap requires exactly one).
    pub fn new(
        dir: Option<PathBuf>,
        store: Option<String>,
        password_file: Option<PathBuf>,
    ) -> anyhow::Result<StateTarget> {
        let password = pg_password(password_file)?;
        match (dir, store) {
            (Some(d), _) => Ok(StateTarget::Dir(d)),
            (None, Some(url)) => {
                crate::store::check_url(&url).map_err(|e| anyhow::anyhow!("--store: {e}"))?;
                Ok(StateTarget::Postgres { url, password })
            }
            (None, None) => anyhow::bail!("give --state-dir DIR or --store postgres://..."),
        }
    }

    /// The daily totals of `[since, until]`, read without the lock (the daemon may be
    /// running).
    pub fn daily(&self, since: Option<&str>, until: Option<&str>) -> anyhow::Result<DailyTotals> {
        Ok(match self {
            StateTarget::Postgres { url, password } => {
                open_pg(url, password)?.daily(since, until)?
            }
            StateTarget::Dir(dir) => {
                require_store(dir)?;
                crate::store::read_daily(dir, since, until)?
            }
        })
    }
}

impl std::fmt::Display for StateTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateTarget::Dir(dir) => write!(f, "{}", dir.display()),
            // `new` refused a URL that holds a password.
            StateTarget::Postgres { url, .. } => f.write_str(url),
        }
    }
}

/// The PostgreSQL store, opened only if it exists.
fn open_pg(url: &str, password: &Option<Secret<String>>) -> anyhow::Result<PgStore> {
    Ok(PgStore::open_existing(url, password.as_ref())?)
}

/// The password from its file, else from BEDROCK_COST_STORE_PASSWORD.
fn pg_password(file: Option<PathBuf>) -> anyhow::Result<Option<Secret<String>>> {
    let env = std::env::var(config::STORE_PASSWORD_ENV)
        .ok()
        .map(Secret::new);
    let mut errors = Vec::new();
    let p = config::store_password(file, env, &mut errors);
    match errors.is_empty() {
        true => Ok(p),
        false => Err(config::ConfigErrors(errors).into()),
    }
}

/// Refuses a directory without a store: a mistyped one must not become a new, empty store.
fn require_store(dir: &Path) -> anyhow::Result<()> {
    if !dir.join(crate::store::DB_FILE).is_file() {
        anyhow::bail!(
            "there is no state store in {} (expected {}); check --state-dir",
            dir.display(),
            crate::store::DB_FILE
        );
    }
    Ok(())
}

/// Opens an existing store only, taking its lock.
fn open_existing(dir: &Path) -> anyhow::Result<SqliteStore> {
    require_store(dir)?;
    Ok(SqliteStore::open(dir)?)
}

pub fn state_show(target: &StateTarget, as_json: bool) -> anyhow::Result<()> {
    let stats = match target {
        StateTarget::Postgres { url, password } => open_pg(url, password)?.stats()?,
        StateTarget::Dir(dir) => open_existing(dir)?.stats()?,
    };
    let mut out = std::io::stdout().lock();
    if as_json {
        writeln!(out, "{}", serde_json::to_string_pretty(&stats)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "store:       {} ({} bytes)",
        stats.path, stats.file_bytes
    )?;
    let oldest = stats.oldest_dedupe_key.as_deref().unwrap_or("-");
    writeln!(out, "dedupe keys: {} (oldest {oldest})", stats.dedupe_keys)?;
    writeln!(out, "series:")?;
    for (m, n) in &stats.series_by_metric {
        writeln!(out, "  {m:<48} {n}")?;
    }
    writeln!(out, "checkpoints:")?;
    for (s, v) in &stats.checkpoints {
        writeln!(out, "  {s} = {v}")?;
    }
    Ok(())
}

pub fn state_export(target: &StateTarget, format: &str) -> anyhow::Result<()> {
    let mut store: Box<dyn Store> = match target {
        StateTarget::Postgres { url, password } => Box::new(open_pg(url, password)?),
        StateTarget::Dir(dir) => Box::new(open_existing(dir)?),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if format == "csv" {
        writeln!(out, "metric,labels,value")?;
    }
    let mut failed: Option<std::io::Error> = None;
    store.load(&mut |row| {
        if failed.is_some() {
            return;
        }
        let labels: BTreeMap<&str, &str> = row.labels.iter().copied().collect();
        let value = crate::money::format_units(row.value, row.metric.scale());
        let name = row.metric.name();
        let written = if format == "csv" {
            let l = serde_json::to_string(&labels)
                .expect("strings serialise")
                .replace('"', "\"\"");
            writeln!(out, "{name},\"{l}\",{value}")
        } else {
            serde_json::to_writer(
                &mut out,
                &json!({"metric": name, "labels": labels, "value": value}),
            )
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
        };
        failed = written.err();
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    out.flush()?;
    Ok(())
}

pub fn state_compact(target: &StateTarget, window: &str) -> anyhow::Result<()> {
    let StateTarget::Dir(dir) = target else {
        anyhow::bail!("compact is for a SQLite state directory: the PostgreSQL store deletes expired dedupe keys in the daemon's commits, and PostgreSQL's autovacuum reclaims the space");
    };
    let w = config::parse_duration(window)
        .with_context(|| format!("--dedupe-window {window:?} is not a duration like 48h"))?;
    let mut store = open_existing(dir)?;
    let before = store.stats()?.file_bytes;
    let now = crate::clock::Clock::system().now();
    let purged = store.compact(now - w.as_secs() as i64)?;
    let after = store.stats()?.file_bytes;
    println!("purged {purged} expired dedupe keys; {before} -> {after} bytes");
    Ok(())
}

/// `state --state-dir DIR copy --to URL`: the SQLite store into an empty PostgreSQL one.
/// The target's password: `--store-password-file` or BEDROCK_COST_STORE_PASSWORD.
pub fn state_copy(
    from: &StateTarget,
    to: &str,
    password_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let StateTarget::Dir(dir) = from else {
        anyhow::bail!("copy reads a SQLite state directory: give --state-dir DIR (and the target as --to postgres://...)");
    };
    crate::store::check_url(to).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    let password = pg_password(password_file)?;
    let mut source = open_existing(dir)?;
    let mut target = PgStore::open(to, password.as_ref())?;
    let c = crate::store::sqlite_to_pg(&mut source, dir, &mut target)?;
    println!(
        "copied {} series, {} dedupe keys, {} checkpoints and {} daily rows from {} to {to}; the copy reads back the same",
        c.series,
        c.dedupe_keys,
        c.checkpoints,
        c.daily_rows,
        dir.display()
    );
    Ok(())
}

/// Checks a `--since`/`--until` day (clap value parser).
pub fn parse_day(s: &str) -> Result<String, String> {
    match timefmt::parse_date(s) {
        Some(_) => Ok(s.to_string()),
        None => Err(format!("{s:?} is not a day like 2026-11-30")),
    }
}

/// Prints the daily totals of `[since, until]`: per model line, then per principal. Reads
/// without the lock, so it runs while the daemon does.
pub fn state_daily(
    target: &StateTarget,
    since: Option<&str>,
    until: Option<&str>,
    format: &str,
) -> anyhow::Result<()> {
    let t = target.daily(since, until)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if format == "json" {
        let usage: Vec<_> = (t.usage.iter())
            .map(|(k, v)| {
                json!({"day": k.day, "model": k.model, "region": k.region,
                    "scope": k.scope.as_str(), "tier": k.tier.as_str(),
                    "long_context": k.long_context, "token_type": k.class.as_str(),
                    "tokens": v.tokens, "cost_usd": v.cost.normalize().to_string()})
            })
            .collect();
        let principals: Vec<_> = (t.principals.iter())
            .map(|(k, v)| {
                json!({"day": k.day, "principal": k.principal, "calls": v.calls,
                    "cost_usd": v.cost.normalize().to_string()})
            })
            .collect();
        let doc = json!({"usage": usage, "principals": principals});
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        let usage: Vec<Vec<String>> = (t.usage.iter())
            .map(|(k, v)| {
                let lc = if k.long_context { "yes" } else { "no" };
                vec![
                    k.day.clone(),
                    k.model.clone(),
                    k.region.clone(),
                    k.scope.as_str().into(),
                    k.tier.as_str().into(),
                    lc.into(),
                    k.class.as_str().into(),
                    v.tokens.to_string(),
                    v.cost.normalize().to_string(),
                ]
            })
            .collect();
        let head = [
            "day",
            "model",
            "region",
            "scope",
            "tier",
            "long_context",
            "token_type",
            "tokens",
            "cost_usd",
        ];
        writeln!(out, "Usage by UTC day (unpriced calls: cost 0)")?;
        let rows: Vec<Vec<String>> = std::iter::once(texttable::head(&head))
            .chain(usage)
            .collect();
        write!(out, "{}", texttable::table(&rows, 7..9))?;
        let principals: Vec<Vec<String>> = (t.principals.iter())
            .map(|(k, v)| {
                let p = if k.principal.is_empty() {
                    "-"
                } else {
                    &k.principal
                };
                vec![
                    k.day.clone(),
                    p.to_string(),
                    v.calls.to_string(),
                    v.cost.normalize().to_string(),
                ]
            })
            .collect();
        writeln!(out, "\nCalls and cost by UTC day and principal")?;
        let head = texttable::head(&["day", "principal", "calls", "cost_usd"]);
        let rows: Vec<Vec<String>> = std::iter::once(head).chain(principals).collect();
        write!(out, "{}", texttable::table(&rows, 2..4))?;
    }
    out.flush()?;
    Ok(())
}

/// What `top` is asked for.
pub struct TopArgs<'a> {
    pub url: &'a str,
    pub interval: &'a str,
    pub rows: usize,
    pub once: bool,
    pub bearer_token_file: Option<&'a Path>,
}

/// `http://host:port` (or a bare `host:port`) as the URL of its `/metrics`.
pub fn metrics_url(url: &str) -> String {
    let url = if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    if rest.contains('/') && !rest.ends_with('/') {
        url
    } else {
        format!("{}/metrics", url.trim_end_matches('/'))
    }
}

/// GETs `url` (http or https, with an optional bearer token) and returns the body as text.
async fn get_text(url: &str, bearer: Option<&str>) -> anyhow::Result<String> {
    use http_body_util::{BodyExt, Empty, Limited};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    /// Far above any exposition (10,000 series per metric is a few MB).
    const MAX_BYTES: usize = 256 << 20;
    let mut req = hyper::Request::get(url);
    if let Some(t) = bearer {
        req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = req
        .body(Empty::<bytes::Bytes>::new())
        .with_context(|| format!("{url} is not a URL"))?;
    let resp = if url.starts_with("https://") {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .context("no usable CA certificates on this machine")?
            .https_only()
            .enable_http1()
            .build();
        Client::builder(TokioExecutor::new())
            .build(https)
            .request(req)
            .await
    } else {
        let http = hyper_util::client::legacy::connect::HttpConnector::new();
        Client::builder(TokioExecutor::new())
            .build(http)
            .request(req)
            .await
    }
    .with_context(|| format!("cannot reach {url}"))?;
    let status = resp.status();
    if !status.is_success() {
        anyhow::bail!("{url} answered HTTP {status}");
    }
    let body = Limited::new(resp.into_body(), MAX_BYTES)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read {url}: {e}"))?;
    Ok(String::from_utf8_lossy(&body.to_bytes()).into_owned())
}

/// Samples a daemon's `/metrics` every interval and redraws the top spenders (with `once`:
/// prints one frame from two samples an interval apart, and exits).
pub fn top(a: &TopArgs<'_>) -> anyhow::Result<()> {
    use crate::top::{frame, Sample};
    let interval = config::parse_duration(a.interval)
        .filter(|d| !d.is_zero())
        .with_context(|| format!("--interval {:?} is not a duration like 5s", a.interval))?;
    let token =
        match a.bearer_token_file {
            None => None,
            Some(f) => {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("--bearer-token-file {}: cannot read", f.display()))?;
                let first = crate::secret::lines(&text).next().map(str::to_string);
                Some(first.with_context(|| {
                    format!("--bearer-token-file {}: holds no token", f.display())
                })?)
            }
        };
    let url = metrics_url(a.url);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let sample = || {
        rt.block_on(get_text(&url, token.as_deref()))
            .map(|t| Sample::parse(&t))
    };
    let mut prev = sample()?;
    let mut taken = std::time::Instant::now();
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    loop {
        std::thread::sleep(interval);
        let cur = match sample() {
            Ok(s) => s,
            Err(e) if !a.once => {
                eprintln!("{e:#}; trying again in {interval:?}");
                continue;
            }
            Err(e) => return Err(e),
        };
        let seconds = taken.elapsed().as_secs_f64();
        taken = std::time::Instant::now();
        let at = timefmt::format_rfc3339(crate::clock::Clock::system().now());
        let text = frame(&url, &at, &prev, &cur, seconds, a.rows);
        let mut out = std::io::stdout().lock();
        if tty && !a.once {
            // home and clear: redraw in place
            write!(out, "\x1b[H\x1b[2J")?;
        }
        write!(out, "{text}")?;
        out.flush()?;
        if a.once {
            return Ok(());
        }
        prev = cur;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_takes_an_address_or_a_url() {
        assert_eq!(
            metrics_url("127.0.0.1:9464"),
            "http://127.0.0.1:9464/metrics"
        );
        assert_eq!(metrics_url("http://h:1/"), "http://h:1/metrics");
        assert_eq!(metrics_url("https://h"), "https://h/metrics");
        assert_eq!(
            metrics_url("https://h/cost/metrics"),
            "https://h/cost/metrics"
        );
    }
}
