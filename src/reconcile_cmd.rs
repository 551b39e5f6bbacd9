//! The `reconcile` command and the daemon's reconciliation task: read the bill's CUR files
//! and the store's daily totals, and hand both to [`crate::reconcile`]. Flags and I/O only.
//!
//! An S3 prefix among the CUR locations is synced to a local cache first ([`cur::s3`]), in
//! async code: the daemon's task does it before its blocking read; the command makes a
//! current-thread runtime for it. The command's cache is a temporary directory removed at
//! exit unless `--cache-dir` names one to keep (then only changed objects are downloaded on
//! the next run). It is not the state directory's `cur-cache/`, which is the daemon's: the
//! command only reads the state directory, often as another user.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use rust_decimal::Decimal;

use crate::cli::{StateTarget, StoreArgs};
use crate::cur::{self, Billed, Location};
use crate::pricelist::mapping::{self, Mapping};
use crate::reconcile::{self, BillItem, Reconciler, Report, Window};

/// The daemon's cache of S3 CUR files, under its state directory: one directory per prefix.
pub const CACHE_DIR: &str = "cur-cache";

/// Exit status when drift passes `--max-drift` (1 is an error, 2 a usage error).
pub const EXIT_DRIFT: u8 = 3;

#[derive(Args)]
pub struct ReconcileArgs {
    /// CUR 2.0 (Data Exports) files, directories or S3 prefixes to read: CSV, gzip CSV or
    /// Parquet. Directories and prefixes (s3://BUCKET/PREFIX/) are walked; manifests and other
    /// files are skipped. S3 needs s3:ListBucket on the bucket and s3:GetObject on the prefix,
    /// with credentials and region from the AWS default chain (AWS_ENDPOINT_URL is honoured).
    #[arg(long, value_name = "PATH|S3_URL", num_args = 1.., required = true)]
    cur: Vec<Location>,
    /// Where S3 objects are downloaded to, kept for the next run (only changed objects are
    /// downloaded again). Default: a temporary directory removed at exit.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    // The store whose daily totals are the estimate.
    #[command(flatten)]
    store: StoreArgs,
    /// Mapping table from Price List names to Bedrock model ids. Default: the bundled table.
    #[arg(long)]
    mapping: Option<PathBuf>,
    /// First day to compare (UTC, YYYY-MM-DD). Default: the bill's first day.
    #[arg(long)]
    since: Option<String>,
    /// Last day to compare (UTC, YYYY-MM-DD). Default: the bill's last day.
    #[arg(long)]
    until: Option<String>,
    /// Leave out the bill's newest N days (its newest day is still filling in).
    #[arg(long, default_value_t = 0)]
    skip_recent_days: u32,
    #[arg(long, value_parser = ["table", "csv", "json"], default_value = "table")]
    format: String,
    /// A row whose estimate and bill differ by less than this ratio is a match.
    #[arg(long, default_value = "0.01")]
    tolerance: String,
    /// Exit with status 3 when the total, or a row with at least --min-usd on either side,
    /// drifts past this ratio (0.05 = 5%).
    #[arg(long, default_value = "0.05")]
    max_drift: String,
    /// Rows under this many US dollars on both sides never fail the run.
    #[arg(long, default_value = "1")]
    min_usd: String,
}

fn ratio(what: &str, s: &str) -> anyhow::Result<Decimal> {
    crate::money::parse_decimal(s, 6)
        .map_err(|e| anyhow::anyhow!("{what} {s:?}: {e} (a ratio such as 0.05 for 5%)"))
}

fn day(what: &str, s: &Option<String>) -> anyhow::Result<()> {
    match s {
        Some(d) if crate::timefmt::parse_date(d).is_none() => {
            anyhow::bail!("{what} {d:?} is not a date (YYYY-MM-DD)")
        }
        _ => Ok(()),
    }
}

pub fn load_mapping(path: Option<&Path>) -> anyhow::Result<Mapping> {
    Ok(match path {
        Some(p) => mapping::load(p)?,
        None => Mapping::bundled(),
    })
}

/// Reads the bill and the estimate, and joins them.
pub fn reconcile(
    cur_paths: &[PathBuf],
    estimate: &StateTarget,
    mapping: &Mapping,
    window: &Window,
    tolerance: Decimal,
) -> anyhow::Result<Report> {
    let mut rec = Reconciler::new();
    let stats = cur::read(cur_paths, &mut |line| {
        let item = match cur::classify(&line, mapping) {
            Billed::Tokens {
                model,
                class,
                tokens,
                ..
            } => BillItem::Tokens {
                model,
                class,
                tokens,
            },
            Billed::Excluded(why) => BillItem::Excluded(why.to_string()),
            Billed::UnknownUsageType => BillItem::UnknownUsageType,
            // Listed with the usage types no grammar knows: the line cannot be compared.
            Billed::UnknownRegion(code) => BillItem::Unreadable(format!(
                "{} (billing region code {code:?} unknown, and no product_region_code)",
                line.usage_type
            )),
            Billed::UnknownUnit(unit) => BillItem::Unreadable(format!(
                "{} (pricing_unit {unit:?} is not a token unit)",
                line.usage_type
            )),
            Billed::UnmappedModel(key) => BillItem::UnmappedModel(key),
            Billed::OtherLineType(t) => BillItem::OtherLineType(t),
        };
        let principal = line.principal.as_deref();
        rec.bill(
            &line.day,
            &line.usage_type,
            principal,
            line.unblended_cost,
            item,
        );
    })
    .with_context(|| "cannot read the bill")?;
    for p in stats.problems {
        rec.problem(p);
    }
    let daily = estimate
        .daily(None, None)
        .with_context(|| format!("cannot read the daily totals in {estimate}"))?;
    for (k, v) in &daily.usage {
        rec.estimate_usage(&k.day, &k.model, k.class, v.tokens, v.cost);
    }
    for (k, v) in &daily.principals {
        rec.estimate_principal(&k.day, &k.principal, v.calls, v.cost);
    }
    Ok(rec.report(window, tolerance))
}

/// `bedrock-cost-exporter reconcile`: prints the report; `Ok(false)` when drift passes
/// `--max-drift`.
pub fn run(a: ReconcileArgs) -> anyhow::Result<bool> {
    let tolerance = ratio("--tolerance", &a.tolerance)?;
    let max_drift = ratio("--max-drift", &a.max_drift)?;
    let min_usd = crate::money::parse_decimal(&a.min_usd, 6)
        .map_err(|e| anyhow::anyhow!("--min-usd {:?}: {e}", a.min_usd))?;
    day("--since", &a.since)?;
    day("--until", &a.until)?;
    let format = reconcile::Format::from_str(&a.format).map_err(anyhow::Error::msg)?;
    let mapping = load_mapping(a.mapping.as_deref())?;
    let window = Window {
        since: a.since,
        until: a.until,
        skip_recent_days: a.skip_recent_days,
    };
    let estimate = a.store.target()?;
    let paths = local_paths(&a.cur, a.cache_dir)?;
    let report = reconcile(&paths.paths, &estimate, &mapping, &window, tolerance)?;
    print!("{}", reconcile::render(&report, format));
    let over = report.over(max_drift, min_usd);
    if !over.is_empty() {
        eprintln!(
            "drift past {}% in {} place(s): {}",
            (max_drift * Decimal::ONE_HUNDRED).normalize(),
            over.len(),
            over.join("; ")
        );
    }
    Ok(over.is_empty())
}

/// Local paths to read, and the temporary cache to remove once read.
struct LocalPaths {
    paths: Vec<PathBuf>,
    _temp: Option<TempDir>,
}

/// Syncs the S3 prefixes among `cur` (in a runtime of its own: the command has none).
fn local_paths(cur: &[Location], cache_dir: Option<PathBuf>) -> anyhow::Result<LocalPaths> {
    if !cur.iter().any(|l| matches!(l, Location::S3(_))) {
        let paths = cur.iter().map(|l| match l {
            Location::Local(p) => p.clone(),
            Location::S3(_) => unreachable!("none"),
        });
        return Ok(LocalPaths {
            paths: paths.collect(),
            _temp: None,
        });
    }
    let (root, temp) = match cache_dir {
        Some(dir) => (dir, None),
        None => {
            let t = TempDir::new()?;
            (t.0.clone(), Some(t))
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime for S3")?;
    let paths = rt.block_on(cur::s3::local_paths(cur, &root))?;
    Ok(LocalPaths { paths, _temp: temp })
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<TempDir> {
        let dir = std::env::temp_dir().join(format!(
            "bedrock-cost-exporter-cur-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir(&dir)
            .with_context(|| format!("cannot create {} for the S3 downloads", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The daemon's task: reconcile at start and every `interval`, publishing the gauges.
pub async fn every(
    config: crate::config::ReconcileConfig,
    estimate: StateTarget,
    gauges: crate::metrics::Reconciliation,
    clock: crate::clock::Clock,
    stop: tokio_util::sync::CancellationToken,
) {
    let mapping = match load_mapping(config.mapping.as_deref()) {
        Ok(m) => std::sync::Arc::new(m),
        Err(e) => {
            // Checked at startup (`check` and `run` load it first), so this is a file that
            // changed since: keep the daemon, report every run as failed.
            tracing::error!("reconciliation disabled: {e:#}");
            gauges.failed(clock.now());
            return;
        }
    };
    let window = Window {
        skip_recent_days: config.skip_recent_days,
        ..Window::default()
    };
    // S3 objects are cached under the state directory; a PostgreSQL store has none, so they
    // go to a temporary directory of this process (downloaded again after a restart).
    let (cache, _temp) = match &estimate {
        StateTarget::Dir(dir) => (dir.join(CACHE_DIR), None),
        StateTarget::Postgres { .. } => match TempDir::new() {
            Ok(t) => (t.0.clone(), Some(t)),
            Err(e) => {
                tracing::error!("reconciliation disabled: {e:#}");
                gauges.failed(clock.now());
                return;
            }
        },
    };
    loop {
        let started = std::time::Instant::now();
        // Dropping a sync cut short by shutdown leaves at most a `.partial` file, which the
        // next sync deletes.
        let synced = tokio::select! {
            _ = stop.cancelled() => return,
            r = cur::s3::local_paths(&config.cur, &cache) => r,
        };
        let (estimate, m, w) = (estimate.clone(), mapping.clone(), window.clone());
        let tolerance = config.tolerance;
        let result = match synced {
            Ok(paths) => {
                tokio::task::spawn_blocking(move || reconcile(&paths, &estimate, &m, &w, tolerance))
                    .await
                    .map_err(|e| anyhow::anyhow!("the reconciliation task failed: {e}"))
                    .and_then(|r| r)
            }
            Err(e) => Err(e.into()),
        };
        let now = clock.now();
        match result {
            Ok(report) => {
                gauges.publish(&report, now);
                tracing::info!(
                    days = ?report.days,
                    drift_usd = %report.total.drift_usd,
                    unknown_usage_types = report.unknown_usage_types.len(),
                    problems = report.problems.len(),
                    seconds = started.elapsed().as_secs_f64(),
                    "reconciled the estimate with the bill"
                );
            }
            Err(e) => {
                gauges.failed(now);
                tracing::warn!("reconciliation failed (the last figures stay): {e:#}");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(config.interval.max(Duration::from_secs(1))) => {}
        }
    }
}
