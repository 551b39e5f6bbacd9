//! The command line: parse flags, set up logging, hand over to `app` or `cli`. Nothing else.

use std::path::PathBuf;
use std::process::ExitCode;

use bedrock_cost_exporter::{app, cli, config, ratecard_cmd, reconcile_cmd};
use clap::{Args, Parser, Subcommand};

/// Turns Amazon Bedrock model invocation logs into exact per-user and per-feature cost,
/// exposed as Prometheus metrics.
///
/// Records are priced with a versioned rate card (USD per 1M tokens, exact decimals),
/// attributed to a user and feature from requestMetadata or the caller's IAM identity,
/// counted once each (deduplicated on the Bedrock requestId), and kept across restarts.
#[derive(Parser)]
#[command(
    name = "bedrock-cost-exporter",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    /// Log level or filter (error, warn, info, debug; or a RUST_LOG-style filter).
    #[arg(long, global = true, env = "BEDROCK_COST_LOG", default_value = "info")]
    log_level: String,
    /// Log format.
    #[arg(long, global = true, env = "BEDROCK_COST_LOG_FORMAT", value_parser = ["text", "json"], default_value = "text")]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: read records, price them, serve /metrics.
    ///
    /// Example: bedrock-cost-exporter run --file '/var/log/bedrock/*.jsonl' --state-dir /var/lib/bedrock-cost-exporter
    Run(Box<RunArgs>),
    /// Run on the bundled rate card and example logs, with 35 days of synthetic history, live
    /// synthetic traffic, budgets, team and experiment labels, and in-memory totals (no AWS
    /// account needed).
    Demo {
        /// Address to serve /metrics on.
        #[arg(long, env = "BEDROCK_COST_LISTEN", default_value = config::DEFAULT_LISTEN)]
        listen: String,
        /// Synthetic calls per second.
        #[arg(long, default_value_t = 2.0)]
        rate: f64,
    },
    /// Price records from files (or standard input) and print one JSON line per call:
    /// request_id, cost_usd (a decimal string) and the cost and tokens per token class.
    Price {
        /// Files to read (plain NDJSON or .gz); standard input when none.
        files: Vec<PathBuf>,
        #[command(flatten)]
        pricing: PricingArgs,
    },
    /// Sum the calls of log files (or standard input) by any attribution label, over a time
    /// range: calls, tokens and exact cost per group, as a table, CSV or JSON.
    ///
    /// Example: bedrock-cost-exporter report --group-by feature,experiment --since 2026-11-01
    /// --format csv /var/log/bedrock/*.jsonl.gz
    Report {
        /// Files to read (plain NDJSON or .gz); standard input when none.
        files: Vec<PathBuf>,
        /// Labels to group by, comma-separated: user, feature, model, region, day, or an extra
        /// label of the config (attribution.metadata_labels, attribution.arn_labels, rules).
        #[arg(long, value_delimiter = ',', default_value = "user")]
        group_by: Vec<String>,
        /// First day (YYYY-MM-DD, UTC, inclusive) or time (RFC 3339) of the calls counted.
        #[arg(long)]
        since: Option<String>,
        /// Last day (YYYY-MM-DD, UTC, inclusive) or time (RFC 3339, exclusive).
        #[arg(long)]
        until: Option<String>,
        #[arg(long, value_parser = ["table", "csv", "json"], default_value = "table")]
        format: String,
        #[command(flatten)]
        pricing: PricingArgs,
    },
    /// Watch a running daemon in the terminal: total spend, the spend rate, and the users and
    /// features spending most over the last interval (read from its /metrics).
    ///
    /// Example: bedrock-cost-exporter top --url http://127.0.0.1:9464 --interval 5s
    Top {
        /// The daemon's address or URL (its /metrics unless a path is given).
        #[arg(
            long,
            env = "BEDROCK_COST_TOP_URL",
            default_value = "http://127.0.0.1:9464"
        )]
        url: String,
        /// Time between two samples (rates are over it), e.g. 5s.
        #[arg(long, default_value = "5s")]
        interval: String,
        /// Users and features shown.
        #[arg(long, default_value_t = 10)]
        rows: usize,
        /// Print one frame (two samples an interval apart) and exit.
        #[arg(long)]
        once: bool,
        /// Send the first token of FILE as a bearer token (a daemon with
        /// --http-bearer-token-file).
        #[arg(long)]
        bearer_token_file: Option<PathBuf>,
    },
    /// Validate a configuration and rate cards, listing every problem.
    Check {
        #[command(flatten)]
        pricing: PricingArgs,
    },
    /// Inspect or maintain the state store (stop the daemon first; `daily` runs beside it).
    State {
        #[command(flatten)]
        store: cli::StoreArgs,
        #[command(subcommand)]
        action: StateAction,
    },
    /// Build rate cards from the AWS Price List, compare cards, check a card against it.
    Ratecard {
        #[command(subcommand)]
        action: ratecard_cmd::Action,
    },
    /// Compare the daemon's estimate with the AWS bill (CUR 2.0 files), per day, model and
    /// token class and per principal. Exit status 3 when drift passes --max-drift. The store
    /// is read while the daemon runs (no lock is taken).
    ///
    /// Example: bedrock-cost-exporter reconcile --cur /data/cur/bedrock-export/ --state-dir
    /// /var/lib/bedrock-cost-exporter --skip-recent-days 1
    ///
    /// From S3: bedrock-cost-exporter reconcile --cur s3://my-billing-bucket/cur/bedrock-export/
    /// --state-dir /var/lib/bedrock-cost-exporter --skip-recent-days 1
    ///
    /// On a PostgreSQL store: bedrock-cost-exporter reconcile --cur /data/cur/bedrock-export/
    /// --store postgres://exporter@db:5432/bedrock_cost --store-password-file /run/secrets/pg
    Reconcile(Box<reconcile_cmd::ReconcileArgs>),
}

#[derive(Subcommand)]
enum StateAction {
    /// Show what the store holds: series per metric, dedupe keys, checkpoints, size.
    Show {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print every total (metric, labels, exact value).
    Export {
        #[arg(long, value_parser = ["csv", "json"], default_value = "csv")]
        format: String,
    },
    /// Print the daily totals by UTC day, for reconciling with the AWS bill: tokens and cost
    /// per model, region, scope, tier and token type, and calls and cost per principal ARN.
    /// Reads without the lock: safe while the daemon runs.
    Daily {
        /// First day to print (YYYY-MM-DD, UTC, inclusive).
        #[arg(long, value_parser = cli::parse_day)]
        since: Option<String>,
        /// Last day to print (YYYY-MM-DD, UTC, inclusive).
        #[arg(long, value_parser = cli::parse_day)]
        until: Option<String>,
        #[arg(long, value_parser = ["table", "json"], default_value = "table")]
        format: String,
    },
    /// Copy the SQLite store of --state-dir into an empty PostgreSQL database (stop the
    /// daemon first), in one transaction, and check the copy: every series value, dedupe key,
    /// checkpoint and daily total. The password: --store-password-file or
    /// BEDROCK_COST_STORE_PASSWORD.
    ///
    /// Example: bedrock-cost-exporter state --state-dir /var/lib/bedrock-cost-exporter copy
    /// --to postgres://bce@db:5432/bce
    Copy {
        /// The PostgreSQL store to create: postgres://user@host:port/db.
        #[arg(long)]
        to: String,
    },
    /// Delete dedupe keys older than the window and shrink the file.
    Compact {
        /// Dedupe window to keep.
        #[arg(long, default_value = config::DEFAULT_DEDUPE_WINDOW)]
        dedupe_window: String,
    },
}

#[derive(Args)]
struct PricingArgs {
    /// Configuration file (TOML). Flags and environment variables override it.
    #[arg(long, short = 'c', env = "BEDROCK_COST_CONFIG")]
    config: Option<PathBuf>,
    /// Rate card file or directory of *.toml cards (repeatable). Default: the bundled card.
    #[arg(
        long = "ratecard",
        env = "BEDROCK_COST_RATECARD",
        value_delimiter = ','
    )]
    ratecards: Vec<PathBuf>,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    pricing: PricingArgs,
    /// File or glob to read and follow like `tail -F` (repeatable; .gz archives are read once).
    #[arg(long = "file", env = "BEDROCK_COST_FILES", value_delimiter = ',')]
    files: Vec<String>,
    /// Read records from standard input.
    #[arg(long)]
    stdin: bool,
    /// Address to serve /metrics, /healthz and /readyz on.
    #[arg(long, env = "BEDROCK_COST_LISTEN")]
    listen: Option<String>,
    /// Directory for the state store (totals, dedupe keys, checkpoints).
    #[arg(long, env = "BEDROCK_COST_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Keep totals in memory only: they reset when the process exits.
    #[arg(long, conflicts_with = "state_dir")]
    in_memory: bool,
    /// Keep the state in PostgreSQL instead of a state directory: postgres://user@host:port/db
    /// (no password in it: see --store-password-file).
    #[arg(long, env = "BEDROCK_COST_STORE")]
    store: Option<String>,
    /// File whose first line is the PostgreSQL password (or set BEDROCK_COST_STORE_PASSWORD).
    #[arg(long, env = "BEDROCK_COST_STORE_PASSWORD_FILE")]
    store_password_file: Option<PathBuf>,
    /// Move the existing store aside (it is kept, renamed) and start from zero.
    #[arg(long)]
    reset_state: bool,
    /// Read the files to their end, then exit (backfill); no HTTP server.
    #[arg(long)]
    once: bool,
    /// Series cap of each drill-down metric (user x feature x model) before new combinations
    /// fold into __other__, model first.
    #[arg(long, env = "BEDROCK_COST_MAX_SERIES")]
    max_series: Option<usize>,
    /// Distinct users with exact totals of their own (default 10000); later ones are counted
    /// as user="__other__".
    #[arg(long, env = "BEDROCK_COST_MAX_USERS")]
    max_users: Option<usize>,
    /// Distinct features with exact totals of their own (default 10000).
    #[arg(long, env = "BEDROCK_COST_MAX_FEATURES")]
    max_features: Option<usize>,
    /// Distinct values of each extra label with exact totals of their own (default 10000).
    #[arg(long, env = "BEDROCK_COST_MAX_VALUES_PER_LABEL")]
    max_values_per_label: Option<usize>,
    /// How long a requestId is remembered for deduplication (e.g. 48h).
    #[arg(long, env = "BEDROCK_COST_DEDUPE_WINDOW")]
    dedupe_window: Option<String>,
    /// How often followed files are checked for new lines (e.g. 1s, 250ms).
    #[arg(long, env = "BEDROCK_COST_POLL_INTERVAL")]
    poll_interval: Option<String>,
    /// Enable the Firehose HTTP endpoint (POST /firehose), accepting the access keys in FILE
    /// (one per line). Keys can also come from BEDROCK_COST_FIREHOSE_ACCESS_KEYS; never a flag.
    #[arg(long, env = "BEDROCK_COST_FIREHOSE_ACCESS_KEY_FILE")]
    firehose_access_key_file: Option<PathBuf>,
    /// Write every priced call as a JSON line to FILE (rotated by size).
    #[arg(long, env = "BEDROCK_COST_EXPORT_JSONL")]
    export_jsonl: Option<PathBuf>,
    /// Send every priced call to this Amazon Data Firehose delivery stream (AWS credentials
    /// and region from the default chain; AWS_ENDPOINT_URL overrides the endpoint).
    #[arg(long, env = "BEDROCK_COST_EXPORT_FIREHOSE_STREAM")]
    export_firehose_stream: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key-file); re-read when it
    /// changes, so a renewed certificate needs no restart.
    #[arg(long, env = "BEDROCK_COST_TLS_CERT_FILE", requires = "tls_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// The PEM private key for --tls-cert-file.
    #[arg(long, env = "BEDROCK_COST_TLS_KEY_FILE", requires = "tls_cert_file")]
    tls_key_file: Option<PathBuf>,
    /// Require `Authorization: Bearer <token>` on every path but /healthz, /readyz and the
    /// Firehose path, accepting the tokens in FILE (one per line; re-read when it changes).
    #[arg(long, env = "BEDROCK_COST_HTTP_BEARER_TOKEN_FILE")]
    http_bearer_token_file: Option<PathBuf>,
    /// Require HTTP basic auth likewise, accepting the `user:password` lines of FILE.
    #[arg(long, env = "BEDROCK_COST_HTTP_BASIC_AUTH_FILE")]
    http_basic_auth_file: Option<PathBuf>,
    /// Read a CloudWatch Logs log group with FilterLogEvents (repeatable). AWS credentials and
    /// region come from the SDK's default chain; AWS_ENDPOINT_URL overrides the endpoint.
    #[arg(
        long = "cloudwatch-log-group",
        env = "BEDROCK_COST_CLOUDWATCH_LOG_GROUPS",
        value_delimiter = ','
    )]
    cloudwatch_log_groups: Vec<String>,
    /// Read Bedrock invocation logs from this S3 prefix, the keyPrefix Bedrock delivers under
    /// (repeatable): every AWSLogs/<account>/BedrockModelInvocationLogs/<region>/ hour below
    /// it, each object once. AWS credentials and region come from the default chain;
    /// AWS_ENDPOINT_URL overrides the endpoint.
    #[arg(
        long = "s3-uri",
        env = "BEDROCK_COST_S3_URIS",
        value_delimiter = ',',
        value_name = "s3://BUCKET/PREFIX/"
    )]
    s3_uris: Vec<String>,
    /// Also receive S3 ObjectCreated event notifications from this SQS queue URL: objects are
    /// read seconds after they are written, and each message is deleted once its objects are
    /// committed. Listing still reconciles behind it (every s3.reconcile_interval, 10m).
    #[arg(long, env = "BEDROCK_COST_S3_SQS_QUEUE", value_name = "URL")]
    s3_sqs_queue: Option<String>,
    /// How long after an hour ends its S3 partition is still listed for late objects
    /// (default 3h). Objects that arrive later than that are found only by notifications.
    #[arg(long, env = "BEDROCK_COST_S3_LOOKBACK")]
    s3_lookback: Option<String>,
    /// Parallel S3 requests per prefix (listing and downloads; default 16): a backfill of
    /// days reads that many hour partitions at once.
    #[arg(long, env = "BEDROCK_COST_S3_CONCURRENCY")]
    s3_concurrency: Option<usize>,
    /// Where a log group or S3 prefix without a checkpoint starts: now, -1h, -7d, or an
    /// RFC 3339 time (S3: rounded down to the hour).
    // `-1h` must not be taken for a flag.
    #[arg(long, env = "BEDROCK_COST_START", allow_hyphen_values = true)]
    start: Option<String>,
    /// Also stream the log groups with CloudWatch Logs Live Tail for second-level latency
    /// (billed per minute of session; FilterLogEvents polling still reconciles behind it).
    #[arg(long, env = "BEDROCK_COST_CLOUDWATCH_LIVE_TAIL")]
    cloudwatch_live_tail: bool,
}

fn init_logging(level: &str, format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}

fn main() -> ExitCode {
    // Before clap reads the environment, which would take an empty BEDROCK_COST_STATE_DIR for
    // an empty --state-dir. Still one thread here, so removing variables is safe.
    for name in config::empty_means_unset(std::env::vars_os()) {
        std::env::remove_var(name);
    }
    let cli = Cli::parse();
    init_logging(&cli.log_level, &cli.log_format);
    let result = match cli.command {
        Command::Run(a) => run(*a),
        Command::Demo { listen, rate } => {
            let overrides = config::Overrides {
                listen: Some(listen),
                in_memory: true,
                ..Default::default()
            };
            config::parse(
                bedrock_cost_exporter::sources::demo::CONFIG,
                "the demo's config",
            )
            .and_then(|raw| config::resolve(raw, overrides, config::Env::default()))
            .map_err(anyhow::Error::from)
            .and_then(|c| {
                block_on(app::run(
                    c,
                    app::Extras {
                        demo_rate: Some(rate),
                        reset_state: false,
                        inject: None,
                    },
                    shutdown_signal(),
                ))
                .map(|_| ())
            })
        }
        Command::Price { files, pricing } => {
            cli::price(pricing.config.as_deref(), pricing.ratecards, &files)
        }
        Command::Report {
            files,
            group_by,
            since,
            until,
            format,
            pricing,
        } => cli::report(
            pricing.config.as_deref(),
            pricing.ratecards,
            &cli::ReportArgs {
                files: &files,
                group_by: &group_by,
                since: since.as_deref(),
                until: until.as_deref(),
                format: &format,
            },
        ),
        Command::Top {
            url,
            interval,
            rows,
            once,
            bearer_token_file,
        } => cli::top(&cli::TopArgs {
            url: &url,
            interval: &interval,
            rows,
            once,
            bearer_token_file: bearer_token_file.as_deref(),
        }),
        Command::Check { pricing } => cli::check(pricing.config.as_deref(), pricing.ratecards),
        Command::State { store, action } => store.target().and_then(|t| match action {
            StateAction::Show { json } => cli::state_show(&t, json),
            StateAction::Export { format } => cli::state_export(&t, &format),
            StateAction::Daily {
                since,
                until,
                format,
            } => cli::state_daily(&t, since.as_deref(), until.as_deref(), &format),
            StateAction::Copy { to } => cli::state_copy(&t, &to, store.store_password_file),
            StateAction::Compact { dedupe_window } => cli::state_compact(&t, &dedupe_window),
        }),
        Command::Ratecard { action } => ratecard_cmd::run(action),
        Command::Reconcile(a) => match reconcile_cmd::run(*a) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(reconcile_cmd::EXIT_DRIFT),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `state export | head`: the reader has what it wanted.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

fn run(a: RunArgs) -> anyhow::Result<()> {
    let raw = config::load_raw(a.pricing.config.as_deref())?;
    let overrides = config::Overrides {
        listen: a.listen,
        state_dir: a.state_dir,
        in_memory: a.in_memory,
        store: a.store,
        store_password_file: a.store_password_file,
        ratecards: a.pricing.ratecards,
        files: a.files,
        stdin: a.stdin,
        once: a.once,
        max_series: a.max_series,
        max_users: a.max_users,
        max_features: a.max_features,
        max_values_per_label: a.max_values_per_label,
        dedupe_window: a.dedupe_window,
        poll_interval: a.poll_interval,
        firehose_access_key_file: a.firehose_access_key_file,
        export_jsonl: a.export_jsonl,
        export_firehose_stream: a.export_firehose_stream,
        tls_cert_file: a.tls_cert_file,
        tls_key_file: a.tls_key_file,
        cloudwatch_log_groups: a.cloudwatch_log_groups,
        start: a.start,
        cloudwatch_live_tail: a.cloudwatch_live_tail,
        s3_uris: a.s3_uris,
        s3_sqs_queue: a.s3_sqs_queue,
        s3_lookback: a.s3_lookback,
        s3_concurrency: a.s3_concurrency,
        http_bearer_token_file: a.http_bearer_token_file,
        http_basic_auth_file: a.http_basic_auth_file,
    };
    let config = config::resolve(raw, overrides, config::Env::read())?;
    if config.files.is_empty()
        && !config.stdin
        && config.firehose.is_none()
        && config.cloudwatch.is_none()
        && config.s3.is_none()
    {
        anyhow::bail!("nothing to read: give --file GLOB (repeatable), --stdin, --cloudwatch-log-group NAME, --s3-uri s3://BUCKET/PREFIX/, --firehose-access-key-file FILE, or sources in the config");
    }
    let once = config.once;
    let total = block_on(app::run(
        config,
        app::Extras {
            demo_rate: None,
            reset_state: a.reset_state,
            inject: bedrock_cost_exporter::supervise::Fault::from_env(),
        },
        shutdown_signal(),
    ))?;
    if once {
        eprintln!(
            "read {} records: {} priced, {} unpriced, {} duplicates, {} malformed",
            total.accepted + total.unpriced + total.duplicates + total.malformed,
            total.accepted,
            total.unpriced,
            total.duplicates,
            total.malformed
        );
    }
    Ok(())
}
