//! Wiring: load the rate cards and the store, start the pipeline thread, the HTTP server and
//! the sources, and shut them down in order (stop intake, commit what is in flight, exit).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use axum_server::tls_rustls::RustlsConfig;

use crate::batch::Input;
use crate::clock::Clock;
use crate::config::{Config, StateMode};
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::pipeline::{self, Context, Pipeline, Summary};
use crate::pricing::{identity, ratecard, RateCards};
use crate::reload;
use crate::sinks::{self, jsonl, Exporter};
use crate::sources::{cloudwatch, demo, file, firehose, livetail};
use crate::store::{self, SqliteStore, Store};
use crate::supervise::{Fault, Supervisor};
use crate::timefmt;

/// Batches in flight between the sources and the pipeline; a full channel makes sources wait.
const CHANNEL_DEPTH: usize = 16;
/// How long shutdown waits for in-flight batches to commit before giving up.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Export rows queued per sink before new ones are dropped (and counted as dropped).
const EXPORT_QUEUE: usize = 100_000;

/// What `run` should do beyond the configured sources.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// Feed the bundled examples and synthetic calls at this rate per second.
    pub demo_rate: Option<f64>,
    /// Move the store aside and start from zero.
    pub reset_state: bool,
    /// Make one task panic (tests of supervision; see [`Fault`]).
    pub inject: Option<Fault>,
}

pub fn load_cards(config: &Config) -> anyhow::Result<RateCards> {
    Ok(match &config.ratecards {
        None => ratecard::bundled(),
        Some(paths) => ratecard::load(paths)?,
    })
}

/// Opens the store and the pipeline over it, and rebuilds the spend history from the stored
/// daily totals. Blocking (the PostgreSQL client runs its own runtime, which must not start
/// or stop on an async thread): run it with `spawn_blocking`.
fn open_pipeline(
    ctx: Arc<Context>,
    state: &StateMode,
    reset: bool,
) -> anyhow::Result<(Pipeline, std::collections::HashMap<String, String>)> {
    let now = ctx.clock.now();
    let since = history_since(now);
    let (store, daily): (Box<dyn Store>, _) = match state {
        StateMode::InMemory => (Box::new(SqliteStore::in_memory()?), None),
        StateMode::Dir(dir) => {
            if reset {
                if let Some(kept) = store::reset(dir, now).with_context(|| {
                    format!("cannot move the old store in {} aside", dir.display())
                })? {
                    tracing::warn!(
                        "--reset-state: the previous store was kept as {}; totals start from zero",
                        kept.display()
                    );
                }
            }
            let s = SqliteStore::open(dir)?;
            (
                Box::new(s),
                Some(store::read_daily(dir, Some(&since), None)),
            )
        }
        StateMode::Postgres(pg) => {
            if reset {
                anyhow::bail!("--reset-state moves a state directory aside; to start a PostgreSQL store from zero, point --store at a new, empty database");
            }
            let mut s = store::PgStore::open(&pg.url, pg.password.as_ref())?;
            tracing::info!("the state store is PostgreSQL at {}", pg.url);
            let daily = s.daily(Some(&since), None);
            (Box::new(s), Some(daily))
        }
    };
    let (mut pipe, checkpoints) = Pipeline::open(ctx, store)?;
    if let Some(daily) = daily {
        restore_history(&mut pipe, daily, &since, now);
    }
    Ok((pipe, checkpoints))
}

/// Runs until `shutdown` resolves, or (with `--once`) until every source has read its input.
pub async fn run(
    config: Config,
    extras: Extras,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<Summary> {
    let cards = load_cards(&config)?;
    for c in cards.cards() {
        let from = timefmt::format_date(c.effective_from / 86_400);
        if c.bundled {
            tracing::info!(version = %c.version, sha256 = %c.sha256, models = c.models.len(), "rate card {} (bundled, sha256 {}) in force from {from}", c.version, c.sha256);
        } else {
            tracing::info!(version = %c.version, sha256 = %c.sha256, models = c.models.len(), "rate card {} loaded from {} (sha256 {}) in force from {from}", c.version, c.path, c.sha256);
        }
    }
    let clock = Clock::system();
    let ctx = Arc::new(Context {
        cards: Arc::new(cards),
        aliases: config.aliases.clone(),
        attribution: config.attribution.clone(),
        limits: config.ledger_limits(),
        dedupe_window: config.dedupe_window,
        export: config.export_jsonl.is_some() || config.export_firehose.is_some(),
        budget_periods: config.budgets.tracked(),
        daily_retention_days: config.daily_retention_days,
        clock: clock.clone(),
    });
    let started = std::time::Instant::now();
    let (state, reset) = (config.state.clone(), extras.reset_state);
    let opening = ctx.clone();
    let (pipe, checkpoints) =
        tokio::task::spawn_blocking(move || open_pipeline(opening, &state, reset)).await??;
    let changed = identity::changed_in_place(&ctx.cards, &checkpoints);
    if !changed.is_empty() {
        anyhow::bail!(
            "the rate cards were changed in place:\n  - {}",
            changed.join("\n  - ")
        );
    }
    let series = pipe.ledger().len();
    tracing::info!(
        series,
        "loaded {series} series from the state store in {:.2?}",
        started.elapsed()
    );

    let (snap_tx, snap_rx) = watch::channel(Arc::new(pipe.snapshot(None)));
    let metrics = Metrics::new(snap_rx.clone(), config.budgets.clone(), clock.clone());
    let health = metrics.health.clone();
    let source_errors = metrics.health.source_errors.clone();
    let ratecard_failures = metrics.health.ratecard_reload_failures.clone();
    let reconciliation = metrics.health.reconciliation.clone();
    if let Some(r) = &config.reconcile {
        // A mapping table that does not load stops startup, like a bad card.
        crate::reconcile_cmd::load_mapping(r.mapping.as_deref())?;
    }
    let metrics_s3 = metrics.health.s3.clone();
    let metrics_cloudwatch = metrics.health.cloudwatch.clone();
    let (livetail_sessions, livetail_sampled) = (
        metrics.health.livetail_sessions.clone(),
        metrics.health.livetail_sampled.clone(),
    );
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    // The first batch records what each card version in force says (see pricing::identity).
    let mut cards_in_force = Input::empty("ratecard".into(), "rate cards in force".into());
    cards_in_force.checkpoints = identity::checkpoints(&ctx.cards);
    tx.try_send(cards_in_force)
        .expect("the channel is empty and its receiver alive");

    // Export sinks drain their queues until the pipeline (the only sender) is gone.
    let mut sinks = Vec::new();
    let mut exporter = Exporter::new(metrics.health.export_records.clone());
    if let Some(j) = &config.export_jsonl {
        let rx = exporter.add(jsonl::NAME, EXPORT_QUEUE);
        let sink = jsonl::JsonlSink {
            path: j.path.clone(),
            max_bytes: j.max_bytes,
            keep: j.keep,
        };
        let counts = metrics.health.export_records.clone();
        tracing::info!("exporting every priced call to {}", j.path.display());
        sinks.push(tokio::task::spawn_blocking(move || sink.run(rx, counts)));
    }
    if let Some(stream) = &config.export_firehose {
        let rx = exporter.add(sinks::firehose::NAME, EXPORT_QUEUE);
        let sink = sinks::firehose::FirehoseSink::from_env(stream.clone()).await;
        let counts = metrics.health.export_records.clone();
        tracing::info!("exporting every priced call to Firehose delivery stream {stream}");
        sinks.push(tokio::spawn(sink.run(rx, counts)));
    }
    let exporter = (!exporter.is_empty()).then_some(exporter);
    let sup = Supervisor::default();
    let inject = |f: Fault| extras.inject == Some(f);
    let trip_pipeline = inject(Fault::Pipeline);
    // With --once the pipeline ends when the sources have read everything.
    let pipeline_done = sup.watch(
        "the pipeline",
        config.once,
        tokio::task::spawn_blocking(move || {
            pipeline::run(pipe, rx, snap_tx, health, exporter, trip_pipeline)
        }),
    );

    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    if !config.once {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        tracing::info!("listening on {scheme}://{addr} (/metrics, /healthz, /readyz)");
        let firehose = match &config.firehose {
            None => None,
            Some(f) => {
                let dead_letter = match &f.dead_letter {
                    None => None,
                    Some(path) => Some(std::sync::Mutex::new(
                        firehose::DeadLetter::open(path.clone(), f.dead_letter_max).with_context(
                            || {
                                format!(
                                    "cannot open the Firehose dead-letter file {}",
                                    path.display()
                                )
                            },
                        )?,
                    )),
                };
                tracing::info!(path = %f.path, keys = f.keys.len(), "Firehose endpoint enabled at POST {}", f.path);
                let handler = firehose::Firehose {
                    keys: f.keys.clone(),
                    tx: tx.clone(),
                    max_body: f.max_body,
                    max_record: f.max_record,
                    ack_timeout: f.ack_timeout,
                    dead_letter,
                    intake: firehose::intake::Intake::new(
                        f.max_in_flight_requests,
                        f.max_in_flight_bytes,
                        metrics.health.firehose_in_flight_gauges(),
                    ),
                    requests: metrics.health.firehose_requests.clone(),
                    dead_letters: metrics.health.dead_letters.clone(),
                    clock: clock.clone(),
                };
                Some((f.path.clone(), Arc::new(handler)))
            }
        };
        let metrics_reloads = metrics.health.tls_reloads.clone();
        let state = Arc::new(AppState {
            metrics,
            snapshots: snap_rx.clone(),
            budgets: config.budgets.clone(),
            clock: clock.clone(),
            supervisor: sup.clone(),
        });
        let trip_http = inject(Fault::Http);
        let auth = config.http.auth.clone().map(|(files, credentials)| {
            tracing::info!(
                "HTTP authentication on: {}; /healthz, /readyz and the Firehose path need none",
                credentials.summary()
            );
            let firehose_path = config.firehose.as_ref().map(|f| f.path.as_str());
            Arc::new(http::auth::Auth::new(credentials, files, firehose_path))
        });
        if let Some(a) = &auth {
            tracker.spawn(a.clone().watch(token.clone()));
        }
        let app = http::router(state, firehose, auth);
        let rustls = match &config.tls {
            None => None,
            Some(tls) => {
                let rustls = RustlsConfig::from_pem_file(&tls.cert, &tls.key)
                    .await
                    .with_context(|| {
                        format!(
                            "cannot load the TLS certificate {} and key {}",
                            tls.cert.display(),
                            tls.key.display()
                        )
                    })?;
                tracing::info!("serving HTTPS with {}", tls.cert.display());
                tracker.spawn(reload::tls(
                    tls.clone(),
                    rustls.clone(),
                    metrics_reloads.clone(),
                    token.clone(),
                ));
                Some(rustls)
            }
        };
        let server = http::serve::serve(
            listener.into_std()?,
            app,
            rustls,
            config.http.limits.clone(),
            token.clone(),
            SHUTDOWN_GRACE,
        );
        let serve = tracker.spawn(async move {
            if let Err(e) = with_fault(trip_http, server).await {
                tracing::error!("the HTTP server stopped: {e}");
            }
        });
        sup.watch("the HTTP server", false, serve);
    }

    let mut sources = Vec::new();
    if !config.files.is_empty() {
        let progress =
            (config.once && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
                let pb = indicatif::ProgressBar::new(0);
                pb.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} {bytes}/{total_bytes} {wide_bar} {eta}",
                    )
                    .expect("valid template"),
                );
                pb
            });
        let src = file::FileSource {
            patterns: config.files.clone(),
            once: config.once,
            poll: config.poll_interval,
            out: crate::sources::ahead::Ahead::new(
                tx.clone(),
                file::AHEAD,
                source_errors.with_label_values(&["file", "commit"]),
            ),
            checkpoints: checkpoints.clone(),
            progress,
            damaged: Default::default(),
            errors: source_errors.clone(),
            batch: file::BatchSize::for_state(&config.state),
        };
        for kind in ["read", "decompress", "commit"] {
            source_errors.with_label_values(&["file", kind]);
        }
        let stop = token.clone();
        let trip = inject(Fault::Source);
        let task = tokio::task::spawn_blocking(move || {
            if trip {
                std::thread::sleep(Duration::from_millis(500));
                Fault::Source.trip();
            }
            src.run(stop)
        });
        sources.push(sup.watch("the file source", config.once, task));
    }
    if config.stdin {
        let (tx, stop) = (tx.clone(), token.clone());
        let task = tokio::task::spawn_blocking(move || file::run_stdin(tx, stop));
        // Standard input may end at any time: only a panic is a failure.
        sources.push(sup.watch("the stdin source", true, task));
    }
    if let Some(cw) = &config.cloudwatch {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &cw.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let sdk = loader.load().await;
        let mut conf = aws_sdk_cloudwatchlogs::config::Builder::from(&sdk);
        if sdk.endpoint_url().is_some() {
            conf = conf.interceptor(livetail::NoStreamHostPrefix);
        }
        let client = aws_sdk_cloudwatchlogs::Client::from_conf(conf.build());
        for kind in ["throttled", "server", "network", "client", "commit"] {
            source_errors.with_label_values(&[cloudwatch::SOURCE, kind]);
        }
        // On a shared store each group is polled by one replica at a time, under a lease.
        let shared = match &config.state {
            StateMode::Postgres(pg) => {
                let holder = store::holder_id();
                tracing::info!(holder = %holder, "replicas share the log groups on the PostgreSQL store: each is polled by the holder of its lease; this replica's holder id is {holder}");
                Some((pg, holder))
            }
            _ => None,
        };
        for group in &cw.log_groups {
            tracing::info!(group = %group, "reading CloudWatch Logs log group {group}");
            let checkpoint = format!("{}{group}", cloudwatch::CHECKPOINT_PREFIX);
            let lease = match &shared {
                Some((pg, holder)) => {
                    let lease =
                        store::Lease::open(&pg.url, pg.password.as_ref(), &checkpoint, holder)?;
                    let m = metrics_cloudwatch.lease(group);
                    Some(cloudwatch::Guard::new(lease, group.clone(), m))
                }
                None => None,
            };
            let src = cloudwatch::CloudWatchSource {
                client: client.clone(),
                group: group.clone(),
                overlap: cw.overlap,
                poll: cw.poll_interval,
                page_limit: cw.page_limit,
                start_ms: cw.start_ms,
                checkpoint: checkpoints.get(&checkpoint).cloned(),
                tx: tx.clone(),
                errors: source_errors.clone(),
                clock: clock.clone(),
                requests: metrics_cloudwatch.requests(group),
                lease,
            };
            let task = tracker.spawn(src.run(token.clone()));
            sup.watch(format!("the CloudWatch source of {group}"), false, task);
        }
        if cw.live_tail {
            tracing::info!("streaming {} with Live Tail", cw.log_groups.join(", "));
            let src = livetail::LiveTailSource {
                client: client.clone(),
                groups: cw.log_groups.clone(),
                tx: tx.clone(),
                errors: source_errors.clone(),
                sessions: livetail_sessions,
                sampled: livetail_sampled,
            };
            let task = tracker.spawn(src.run(token.clone()));
            sup.watch("the Live Tail source", false, task);
        }
    }
    if let Some(s3) = &config.s3 {
        start_s3(
            s3,
            file::BatchSize::for_state(&config.state).bytes,
            &tracker,
            &sup,
            &tx,
            &checkpoints,
            &metrics_s3,
            &source_errors,
            &clock,
            &token,
        )
        .await;
    }
    match (&config.ratecards, config.once) {
        (Some(paths), false) => {
            let known = checkpoints
                .iter()
                .filter(|(k, _)| k.starts_with(identity::CHECKPOINT_PREFIX))
                .map(|(k, v)| (k.clone(), v.clone()))
                .chain(identity::checkpoints(&ctx.cards))
                .collect();
            tracker.spawn(reload::cards(
                paths.clone(),
                known,
                config.ratecard_reload_interval,
                tx.clone(),
                ratecard_failures,
                token.clone(),
            ));
        }
        // SIGHUP's default action ends the process: a reload request must not stop counting.
        (None, false) => {
            tracker.spawn(reload::ignore_hangup(token.clone()));
        }
        _ => {}
    }
    let estimate = match &config.state {
        StateMode::Dir(dir) => Some(crate::cli::StateTarget::Dir(dir.clone())),
        StateMode::Postgres(pg) => Some(crate::cli::StateTarget::Postgres {
            url: pg.url.clone(),
            password: pg.password.clone(),
        }),
        StateMode::InMemory => None,
    };
    if let (Some(r), Some(estimate), false) = (&config.reconcile, estimate, config.once) {
        tracing::info!(
            cur = %r.cur.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            interval = ?r.interval,
            "reconciling with the bill at start and every {:?}",
            r.interval
        );
        tracker.spawn(crate::reconcile_cmd::every(
            r.clone(),
            estimate,
            reconciliation,
            clock.clone(),
            token.clone(),
        ));
    }
    if let Some(rate) = extras.demo_rate {
        let (tx, stop) = (tx.clone(), token.clone());
        let errors = source_errors.clone();
        let task = tracker.spawn(demo::run(tx, rate, clock.clone(), errors, stop));
        sup.watch("the demo source", false, task);
    }
    drop(tx);

    let all_read = async {
        let mut total = Summary::default();
        for s in sources.iter_mut() {
            if let Ok(Some(s)) = s.await {
                total.add(&s);
            }
        }
        total
    };
    let total = if config.once {
        tokio::select! {
            t = all_read => t,
            _ = shutdown => Summary::default(),
            _ = sup.failed() => Summary::default(),
        }
    } else {
        tokio::select! {
            _ = shutdown => {}
            _ = sup.failed() => {}
        }
        tracing::info!("shutting down: stopping intake and committing what is in flight");
        sup.stopping();
        token.cancel();
        tokio::time::timeout(SHUTDOWN_GRACE, all_read)
            .await
            .unwrap_or_default()
    };
    sup.stopping();
    token.cancel();
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, pipeline_done)
        .await
        .is_err()
    {
        tracing::warn!("the pipeline did not finish within {SHUTDOWN_GRACE:?}; the last batch was not acknowledged and will be read again");
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait()).await;
    for s in sinks {
        if tokio::time::timeout(SHUTDOWN_GRACE, s).await.is_err() {
            tracing::warn!(
                "an export sink did not drain within {SHUTDOWN_GRACE:?}; its queued rows are lost"
            );
        }
    }
    match sup.failure() {
        Some(why) => Err(anyhow::anyhow!("{why}; exiting after a clean shutdown")),
        None => Ok(total),
    }
}

/// The first day of the status page's per-day spend history.
fn history_since(now: i64) -> String {
    let window = crate::history::Resolution::Day.window() as i32;
    crate::daily::format_day(crate::daily::day_of(now) - window)
}

/// Rebuilds the status page's per-day spend history from the store's daily totals; without
/// them (a store too old, unreadable) the history starts empty, which costs only the charts.
fn restore_history(
    pipe: &mut Pipeline,
    daily: Result<crate::daily::DailyTotals, store::StoreError>,
    since: &str,
    now: i64,
) {
    match daily {
        Ok(totals) => {
            pipe.restore_history(&totals, now);
            tracing::debug!(rows = totals.usage.len(), "rebuilt the per-day spend history from the daily totals since {since}");
        }
        Err(e) => tracing::warn!(
            "cannot rebuild the spend history from the daily totals ({e}); the status page's charts start empty"
        ),
    }
}

/// Starts one supervised S3 source per prefix and, with a queue, the SQS receiver that feeds
/// them notified objects.
#[allow(clippy::too_many_arguments)]
async fn start_s3(
    s3: &crate::config::S3Config,
    batch_bytes: usize,
    tracker: &TaskTracker,
    sup: &Supervisor,
    tx: &mpsc::Sender<Input>,
    checkpoints: &std::collections::HashMap<String, String>,
    metrics: &crate::metrics::S3Health,
    errors: &prometheus::IntCounterVec,
    clock: &Clock,
    token: &CancellationToken,
) {
    use crate::sources::s3;
    let client = crate::cur::s3::client().await;
    for kind in s3::ERROR_KINDS {
        errors.with_label_values(&[s3::SOURCE, kind]);
    }
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut routes = Vec::new();
    for p in &s3.prefixes {
        let notifications = s3.sqs_queue_url.as_ref().map(|_| {
            // One request per receive at a time: a small queue is enough.
            let (ntx, nrx) = mpsc::channel(4);
            routes.push(s3::sqs::Route {
                bucket: p.bucket.clone(),
                prefix: p.prefix.clone(),
                tx: ntx,
            });
            nrx
        });
        let poll = match notifications {
            Some(_) => s3.reconcile_interval,
            None => s3.poll_interval,
        };
        tracing::info!(lookback = ?s3.lookback, "reading Bedrock invocation logs from {p}, listing every {poll:?}");
        let src = s3::S3Source {
            bucket: s3::client::SdkBucket {
                client: client.clone(),
                bucket: p.bucket.clone(),
            },
            prefix: p.prefix.clone(),
            lookback: s3.lookback,
            poll,
            start_ms: s3.start_ms,
            concurrency: s3.concurrency,
            batch_bytes,
            checkpoints: checkpoints
                .iter()
                .filter(|(k, _)| {
                    k.starts_with(&s3::state::ReadState::key_for(&p.bucket, &p.prefix))
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            tx: tx.clone(),
            errors: errors.clone(),
            metrics: metrics.bucket(&p.bucket),
            clock: clock.clone(),
            progress,
            notifications,
        };
        let task = tracker.spawn(src.run(token.clone()));
        sup.watch(format!("the S3 source of {p}"), false, task);
    }
    if let Some(url) = &s3.sqs_queue_url {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        for kind in ["denied", "server", "client", "network", "delete"] {
            errors.with_label_values(&[s3::sqs::SOURCE, kind]);
        }
        for result in ["objects", "retried", "test_event", "ignored"] {
            metrics.notifications.with_label_values(&[result]);
        }
        tracing::info!("receiving S3 event notifications from {url}");
        let src = s3::sqs::SqsSource {
            client: aws_sdk_sqs::Client::new(&sdk),
            queue_url: url.clone(),
            routes,
            wait: s3.sqs_wait,
            notifications: metrics.notifications.clone(),
            errors: errors.clone(),
        };
        let task = tracker.spawn(src.run(token.clone()));
        sup.watch("the S3 notification receiver", false, task);
    }
}

/// The HTTP server, or (tests of supervision, [`Fault::Http`]) a panic half a second after
/// it starts serving.
async fn with_fault<T>(trip: bool, task: impl Future<Output = T>) -> T {
    if !trip {
        return task.await;
    }
    tokio::select! {
        t = task => t,
        _ = tokio::time::sleep(Duration::from_millis(500)) => Fault::Http.trip(),
    }
}
