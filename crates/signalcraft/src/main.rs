//! The signalcraft command line: `run` the pipeline (all roles or some), edit the `watch` list
//! and the alert `rules`, `backfill` an upstream's archive, see its `status`, `migrate` the
//! database, or start a standalone embedded `broker`.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};
use signalcraft::{
    app, backfill, geocoding,
    infrastructure::{Infrastructure, Needs},
    rule_commands, watchlist, Config, Roles, RunOptions,
};
use signalcraft_ingest::{DqProjectConfig, GeoPoint, WatchedBusiness};
use signalcraft_sink::postgres::retention;
use signalcraft_store::{alert_rules as rules, PgWatchList};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "signalcraft",
    version,
    about = "Business signals: upstream APIs → Kafka (Avro) → processors → PostgreSQL"
)]
struct Cli {
    /// TOML configuration file; SIGNALCRAFT_<SECTION>__<KEY> environment variables override it.
    #[arg(long, global = true, env = "SIGNALCRAFT_CONFIG_FILE")]
    config: Option<PathBuf>,
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Role {
    Ingest,
    Process,
    Sink,
    /// The tenant API under /api/v1, on the operational listener.
    Serve,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipeline: with nothing configured, on an embedded broker and a private PostgreSQL.
    Run {
        /// Roles to run (repeat or comma-separate); all of them when absent.
        #[arg(long = "role", value_enum, value_delimiter = ',')]
        roles: Vec<Role>,
        /// Serve the recorded upstream payloads in DIR (see DIR/replay.toml) instead of the internet;
        /// DIR/signalcraft.toml, if present, is loaded first (the watch list the recordings answer).
        #[arg(long, value_name = "DIR")]
        replay: Option<PathBuf>,
        /// Stop once the ingestors ran one cycle and every record is processed; print a summary.
        #[arg(long)]
        exit_when_done: bool,
    },
    /// Show or edit the watch list: the businesses the ingestors fetch news, weather, rates and
    /// brand scores for. Kept in PostgreSQL; a running pipeline picks changes up on its next cycle.
    Watch {
        #[command(subcommand)]
        action: WatchAction,
    },
    /// Show or edit the threshold alert rules (table alert_rules). A running pipeline picks
    /// changes up with the anomalies appended after the change.
    Rules {
        #[command(subcommand)]
        action: RulesAction,
    },
    /// Fetch an upstream's history onto its raw topic, with a progress bar, and exit.
    Backfill {
        #[command(subcommand)]
        what: Backfill,
    },
    /// Retention: drop expired monthly partitions, delete expired articles, purge delivered
    /// webhook payloads ([retention] says how long each is kept).
    Retention {
        #[command(subcommand)]
        action: RetentionAction,
    },
    /// Webhook deliveries: send the ones recorded as FAILED again.
    Webhooks {
        #[command(subcommand)]
        action: WebhooksAction,
    },
    /// Serve the tenant API (/api/v1) and /metrics, /healthz, /readyz on http.listen, reading
    /// the pipeline's database; needs api.signing_key (SIGNALCRAFT_API__SIGNING_KEY).
    Serve,
    /// API keys of the tenant API, for machines: exchanged for short-lived tokens at
    /// POST /api/v1/token.
    Apikey {
        #[command(subcommand)]
        action: ApikeyAction,
    },
    /// Tokens of the tenant API, for operators.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Import a tenant's own KPI history onto raw.kpi, and exit.
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// How the pipeline stands: consumer lag per group/topic/partition (records and seconds),
    /// each source's last delivered poll, dead letters on the dlq topic, open alerts. Exits
    /// non-zero naming what it could not reach, after printing what it could.
    Status {
        /// One JSON document instead of tables (field names in the README).
        #[arg(long)]
        json: bool,
    },
    /// Apply the database migrations and exit.
    Migrate,
    /// Chaos harness and end-to-end latency bench, for operators: roles as processes of this
    /// binary around a broker process and private PostgreSQL clusters (README, "Chaos and latency").
    #[command(hide = true)]
    Chaos {
        #[command(subcommand)]
        what: ChaosWhat,
    },
    /// Run only an embedded Kafka-protocol broker (for multi-process local setups and tests).
    Broker {
        /// Partitions per topic (1–1000).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=1000))]
        partitions: i32,
    },
}

#[derive(Subcommand)]
enum ChaosWhat {
    /// Feed generated events to a pipeline whose roles are SIGKILLed at seeded points and whose
    /// PostgreSQL is stopped with `pg_ctl -m immediate`, and to an uninterrupted one; compare.
    /// Exits non-zero when anything was lost, duplicated or differs.
    Run {
        /// Events generated (rounded up to a multiple of 20).
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// SIGKILLs of each role (ingest, process, sink).
        #[arg(long, default_value_t = 5)]
        kills_per_role: u32,
        /// Immediate stops and restarts of PostgreSQL.
        #[arg(long, default_value_t = 2)]
        postgres_restarts: u32,
        /// Events produced per second.
        #[arg(long, default_value_t = 3_000)]
        rate: u64,
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=100))]
        partitions: i32,
        /// What the ingest role replays.
        #[arg(long, default_value = "tests/fixtures/replay")]
        replay: PathBuf,
        /// Role logs and the chaos cluster; a fresh directory under the system's temporary one
        /// when absent.
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Seconds both pipelines may take to settle after the last event and kill.
        #[arg(long, default_value_t = 900)]
        settle_timeout_secs: u64,
    },
    /// Produce → row visible in kpi_points and kpi_hourly, at fixed rates and then rising ones.
    Latency {
        /// Rates, events per second.
        #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
        rates: Vec<u64>,
        /// Further rates to find the highest sustained one: +50% while sustained, then halving
        /// the gap to the lowest that was not.
        #[arg(long, default_value_t = 4)]
        search_steps: u32,
        /// Seconds each rate is produced.
        #[arg(long, default_value_t = 20)]
        window_secs: u64,
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=100))]
        partitions: i32,
        #[arg(long)]
        work_dir: Option<PathBuf>,
    },
}

/// A fresh directory for a chaos or latency run's files.
fn chaos_work_dir(given: Option<PathBuf>, kind: &str) -> PathBuf {
    given.unwrap_or_else(|| std::env::temp_dir().join(format!("signalcraft-{kind}-{}", std::process::id())))
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ApiRole {
    /// Reads its tenant's data.
    Viewer,
    /// Reads, and manages its tenant's alert rules.
    Editor,
    /// Reads any tenant's data.
    Admin,
}

impl From<ApiRole> for signalcraft_api::Role {
    fn from(role: ApiRole) -> Self {
        match role {
            ApiRole::Viewer => signalcraft_api::Role::Viewer,
            ApiRole::Editor => signalcraft_api::Role::Editor,
            ApiRole::Admin => signalcraft_api::Role::Admin,
        }
    }
}

/// A tenant id given on the command line, checked.
fn parse_tenant(text: &str) -> Result<signalcraft_api::TenantId, String> {
    signalcraft_api::TenantId::parse(text)
}

#[derive(Subcommand)]
enum ApikeyAction {
    /// Make a key and print it, once: only its digest is stored.
    Create {
        /// The tenant whose data the key reads.
        #[arg(long, value_parser = parse_tenant)]
        tenant: signalcraft_api::TenantId,
        /// What the key may do.
        #[arg(long, value_enum)]
        role: ApiRole,
        /// A note for `apikey list` (which machine holds it).
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List the keys (never their secrets).
    List {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: it exchanges for no more tokens (those issued expire within
    /// api.token_ttl_secs).
    Revoke {
        /// The key's id (the 16 characters after `sck_`; see `apikey list`).
        key_id: String,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Print a token signed with api.signing_key.
    Issue {
        /// The tenant it reads.
        #[arg(long, value_parser = parse_tenant)]
        tenant: signalcraft_api::TenantId,
        /// What it may do.
        #[arg(long, value_enum)]
        role: ApiRole,
        /// Who it is for, recorded in the audit rows of its writes.
        #[arg(long, default_value = "operator")]
        subject: String,
    },
}

#[derive(Subcommand)]
enum ImportWhat {
    /// A CSV file with the header ts,metric,value[,unit][,dim=<key>…] (as POST …/kpis takes),
    /// sent in chunks, each acknowledged by the broker before the next; resumable: run the same
    /// command again after an interruption.
    Kpi {
        /// The CSV file.
        file: PathBuf,
        /// The tenant whose KPIs they are.
        #[arg(long, value_parser = parse_tenant)]
        tenant: signalcraft_api::TenantId,
        /// reject: one bad row stops the import before anything is sent; skip: send the valid rows.
        #[arg(long, value_enum, default_value = "reject")]
        on_error: OnError,
        /// Rows per chunk.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        chunk_rows: u64,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OnError {
    Reject,
    Skip,
}

#[derive(Subcommand)]
enum RetentionAction {
    /// Apply retention once, now, and print what was removed.
    Run {
        /// Print what would be removed, and remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum WebhooksAction {
    /// Send every delivery recorded as FAILED again, to the endpoints configured under
    /// [webhooks], with its payload and idempotency key; print how many got through.
    Redeliver {
        /// Only this endpoint's deliveries.
        #[arg(long)]
        endpoint: Option<String>,
    },
}

#[derive(Subcommand)]
enum RulesAction {
    /// Add a rule, enabled: an alert opens on every series matching --series whose value stays
    /// beyond the threshold for --duration-secs.
    Add(RuleArgs),
    /// List every rule, enabled or not.
    List {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Enable a disabled rule.
    Enable {
        /// The rule's id (see `rules list`).
        id: i64,
    },
    /// Disable a rule: it opens no more alerts, and the alerts it has open close at their
    /// series' next point.
    Disable {
        /// The rule's id (see `rules list`).
        id: i64,
    },
    /// Delete a rule (its notifications stay); its open alerts close as when disabled.
    Remove {
        /// The rule's id (see `rules list`).
        id: i64,
    },
}

#[derive(Args)]
struct RuleArgs {
    /// Name, quoted in every notification the rule raises.
    #[arg(long)]
    name: String,
    /// Series ids the rule watches, a SQL LIKE pattern: 'fx:USD:%', 'sentiment:acme:%'.
    #[arg(long = "series")]
    series_pattern: String,
    /// How the value compares with the threshold when the rule is breached: >, >=, < or <=
    /// (quote it in a shell).
    #[arg(long)]
    comparison: String,
    /// The threshold, in the series' own unit.
    #[arg(long, allow_hyphen_values = true)]
    threshold: f64,
    /// How long the breach must last before an alert opens, in seconds; 0 opens at once.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    duration_secs: i64,
    /// INFO, WARNING or CRITICAL.
    #[arg(long, default_value = "WARNING")]
    severity: String,
    /// The tenant whose series the rule watches (none: every tenant's, an operator's rule).
    #[arg(long)]
    tenant_id: Option<String>,
}

impl From<&RuleArgs> for rules::NewRule {
    fn from(args: &RuleArgs) -> Self {
        rules::NewRule {
            name: args.name.clone(),
            series_pattern: args.series_pattern.clone(),
            comparison: args.comparison.clone(),
            threshold: args.threshold,
            duration_secs: args.duration_secs,
            severity: args.severity.clone(),
            tenant_id: args.tenant_id.clone(),
        }
    }
}

/// A `rules` action, validated: what reaches the database.
enum RulesOperation {
    Add(rules::NewRule),
    List { json: bool },
    SetEnabled { id: i64, enabled: bool },
    Remove { id: i64 },
}

/// Runs a `rules` action against the configured database (or the private server, shared with
/// a pipeline that may be running on it).
async fn edit_rules(config: &Config, action: RulesAction) -> anyhow::Result<()> {
    // Checked before the database is touched, with a message naming the option.
    let operation = match action {
        RulesAction::Add(args) => RulesOperation::Add(rule_commands::validate(&rules::NewRule::from(&args))?),
        RulesAction::List { json } => RulesOperation::List { json },
        RulesAction::Enable { id } => RulesOperation::SetEnabled { id, enabled: true },
        RulesAction::Disable { id } => RulesOperation::SetEnabled { id, enabled: false },
        RulesAction::Remove { id } => RulesOperation::Remove { id },
    };
    let infrastructure = Infrastructure::start(config, Needs::ADMIN).await?;
    let pool = infrastructure.pool()?.clone();
    let outcome = async {
        match operation {
            RulesOperation::Add(rule) => {
                let id = rules::insert(&pool, &rule).await?;
                println!("added rule #{id} {}", rule.name);
            }
            RulesOperation::List { json } => {
                let stored = rules::list(&pool).await?;
                for rule in &stored {
                    println!("{}", if json { serde_json::to_string(rule)? } else { rule_commands::to_line(rule) });
                }
                if !json {
                    println!("{} rule(s)", stored.len());
                }
            }
            RulesOperation::SetEnabled { id, enabled } => {
                if !rules::set_enabled(&pool, id, enabled).await? {
                    anyhow::bail!("no alert rule has id {id}");
                }
                println!("{} rule #{id}", if enabled { "enabled" } else { "disabled" });
            }
            RulesOperation::Remove { id } => {
                if !rules::remove(&pool, id).await? {
                    anyhow::bail!("no alert rule has id {id}");
                }
                println!("removed rule #{id}");
            }
        }
        Ok(())
    }
    .await;
    pool.close().await;
    outcome
}

/// Runs an `apikey` action against the configured database.
async fn api_keys(config: &Config, action: ApikeyAction) -> anyhow::Result<()> {
    if let ApikeyAction::Create { label, .. } = &action {
        signalcraft::terminal::check_text("label", label, signalcraft_api::keys::MAX_LABEL_CHARS)?;
    }
    let infrastructure = Infrastructure::start(config, Needs::ADMIN).await?;
    let pool = infrastructure.pool()?.clone();
    let outcome = async {
        match action {
            ApikeyAction::Create { tenant, role, label } => {
                let role = signalcraft_api::Role::from(role);
                let key = signalcraft_api::keys::create(&pool, &tenant, role, &label).await?;
                eprintln!(
                    "API key {} for tenant {tenant} as {role}; shown once, keep it secret. Exchange it with \
                     POST /api/v1/token {{\"api_key\": \"…\"}}",
                    key.key_id
                );
                println!("{}", key.key);
            }
            ApikeyAction::List { json } => {
                let keys = signalcraft_api::keys::list(&pool).await?;
                for key in &keys {
                    if json {
                        println!("{}", serde_json::to_string(key)?);
                    } else {
                        println!(
                            "{} {} {} {}{}",
                            key.key_id,
                            key.tenant_id,
                            key.role,
                            signalcraft::terminal::printable(&key.label),
                            key.revoked_at.map(|at| format!(" (revoked {at})")).unwrap_or_default()
                        );
                    }
                }
                if !json {
                    println!("{} key(s)", keys.len());
                }
            }
            ApikeyAction::Revoke { key_id } => {
                if !signalcraft_api::keys::revoke(&pool, &key_id).await? {
                    anyhow::bail!("no unrevoked API key has id `{}`", signalcraft::terminal::printable(&key_id));
                }
                println!("revoked {key_id}");
            }
        }
        Ok(())
    }
    .await;
    pool.close().await;
    outcome
}

#[derive(Subcommand)]
enum WatchAction {
    /// Add a business, or replace every field of the one with the same tenant id.
    Add(BusinessArgs),
    /// List the watched businesses.
    List {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Stop watching a business (its stored data stays).
    Remove {
        /// Tenant id of the business.
        tenant_id: String,
    },
}

#[derive(Args)]
struct BusinessArgs {
    /// Tenant id its records and KPI series carry: a–z, 0–9, '.', '_', '-'.
    #[arg(long)]
    tenant_id: String,
    /// Display name.
    #[arg(long)]
    name: String,
    /// Latitude of its location (weather), degrees north.
    #[arg(long, requires = "longitude", allow_hyphen_values = true)]
    latitude: Option<f64>,
    /// Longitude of its location (weather), degrees east.
    #[arg(long, requires = "latitude", allow_hyphen_values = true)]
    longitude: Option<f64>,
    /// Its location by name instead, looked up with GeoNames (`[geocoding]`): "Berlin, DE" (a
    /// trailing ISO country code narrows the search). An ambiguous or unknown place is refused
    /// with the candidates.
    #[arg(long, conflicts_with_all = ["latitude", "longitude"])]
    place: Option<String>,
    /// Home currency, ISO 4217 (its exchange rates against the configured bases).
    #[arg(long)]
    currency: Option<String>,
    /// A GDELT query in GDELT's syntax, e.g. '"acme corp" sourcelang:eng' (repeatable).
    #[arg(long = "gdelt-query")]
    gdelt_queries: Vec<String>,
    /// A Digi-Cadence project and the first day of its period: ID@YYYY-MM-DD (repeatable).
    #[arg(long = "dq-project", value_parser = watchlist::parse_dq_project)]
    dq_projects: Vec<DqProjectConfig>,
    /// A Digi-Cadence brand id of the business (repeatable); none: every brand of its projects.
    #[arg(long = "dq-brand-id")]
    dq_brand_ids: Vec<i64>,
}

impl From<&BusinessArgs> for WatchedBusiness {
    fn from(args: &BusinessArgs) -> Self {
        WatchedBusiness {
            tenant_id: args.tenant_id.clone(),
            name: args.name.clone(),
            location: args.latitude.zip(args.longitude).map(|(latitude, longitude)| GeoPoint { latitude, longitude }),
            currency: args.currency.clone(),
            gdelt_queries: args.gdelt_queries.clone(),
            dq_projects: args.dq_projects.clone(),
            dq_brand_ids: args.dq_brand_ids.clone(),
        }
    }
}

/// Runs a `watch` action against the configured database (or the private server, shared with a
/// pipeline that may be running on it).
async fn watch(config: &Config, action: WatchAction) -> anyhow::Result<()> {
    // Checked before the database is touched, with a message naming the option.
    if let WatchAction::Add(args) = &action {
        watchlist::validate(&WatchedBusiness::from(args))?;
        if let Some(place) = &args.place {
            geocoding::PlaceQuery::parse(place).map_err(|problem| anyhow::anyhow!("--place: {problem}"))?;
            config.geocoding.username()?;
        }
    }
    let infrastructure = Infrastructure::start(config, Needs::ADMIN).await?;
    let pool = infrastructure.pool()?.clone();
    let store = PgWatchList::new(pool.clone());
    let outcome = async {
        match action {
            WatchAction::Add(args) => {
                let mut business = WatchedBusiness::from(&args);
                if let Some(place) = &args.place {
                    let found = geocoding::locate(&config.geocoding, &pool, place).await?;
                    println!("located {:?} at {},{}: {}", place, found.latitude, found.longitude, found.describe());
                    business.location = Some(found.point());
                    watchlist::validate(&business)?;
                }
                let new = store.upsert(&business).await?;
                println!("{} {}", if new { "added" } else { "replaced" }, business.tenant_id);
            }
            WatchAction::List { json } => {
                let businesses = store.list().await?;
                for business in &businesses {
                    println!(
                        "{}",
                        if json { watchlist::to_json(business).to_string() } else { watchlist::to_line(business) }
                    );
                }
                if !json {
                    println!("{} watched business(es)", businesses.len());
                }
            }
            WatchAction::Remove { tenant_id } => {
                if !store.remove(&tenant_id).await? {
                    anyhow::bail!("no watched business has tenant id `{tenant_id}`");
                }
                println!("removed {tenant_id}");
            }
        }
        Ok(())
    }
    .await;
    pool.close().await;
    outcome
}

#[derive(Subcommand)]
enum Backfill {
    /// Hourly weather from the Open-Meteo archive API for the watched locations, onto raw.weather.
    Weather {
        /// First day (UTC), YYYY-MM-DD.
        #[arg(long)]
        from: NaiveDate,
        /// Last day (UTC, included), YYYY-MM-DD.
        #[arg(long)]
        to: NaiveDate,
        /// Id of a watched location (ingest.openmeteo.locations) to backfill; repeat or
        /// comma-separate for several. Every watched location when absent.
        #[arg(long = "location", value_name = "NAME", value_delimiter = ',')]
        locations: Vec<String>,
        /// Serve the recorded payloads in DIR (see DIR/replay.toml) instead of the internet;
        /// DIR/signalcraft.toml, if present, is loaded first.
        #[arg(long, value_name = "DIR")]
        replay: Option<PathBuf>,
    },
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,librdkafka=warn"));
    // Standard error, written around a backfill's progress bar while one is drawn.
    // Configured secrets are scrubbed from every line once the configuration is read.
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(signalcraft::secrets::log_writer);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Cancels `token` on SIGINT or SIGTERM.
fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: draining and stopping"),
            _ = terminate => tracing::info!("SIGTERM: draining and stopping"),
        }
        token.cancel();
    });
}

/// The configuration files, in order: a replay directory's own `signalcraft.toml` (the watch
/// list its recordings answer), then `--config`.
fn config_files(cli: &Cli) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let replay = match &cli.command {
        Command::Run { replay, .. } | Command::Backfill { what: Backfill::Weather { replay, .. } } => replay.as_ref(),
        Command::Watch { .. }
        | Command::Rules { .. }
        | Command::Webhooks { .. }
        | Command::Retention { .. }
        | Command::Migrate
        | Command::Serve
        | Command::Apikey { .. }
        | Command::Token { .. }
        | Command::Import { .. }
        | Command::Status { .. }
        | Command::Chaos { .. }
        | Command::Broker { .. } => None,
    };
    if let Some(dir) = replay {
        let recorded = dir.join(REPLAY_CONFIG);
        if recorded.is_file() {
            files.push(recorded);
        }
    }
    files.extend(cli.config.clone());
    files
}

/// The configuration file a replay directory may carry.
const REPLAY_CONFIG: &str = "signalcraft.toml";

async fn execute(cli: Cli) -> anyhow::Result<()> {
    let files = config_files(&cli);
    let config = Config::load_files(&files.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
    signalcraft::secrets::redact_logs(signalcraft::secrets::redactor(&config));
    for file in &files {
        tracing::info!(file = %file.display(), "configuration file loaded");
    }
    let shutdown = CancellationToken::new();
    cancel_on_signals(shutdown.clone());
    match cli.command {
        Command::Run { roles, replay, exit_when_done } => {
            let roles = if roles.is_empty() {
                Roles::ALL
            } else {
                Roles {
                    ingest: roles.contains(&Role::Ingest),
                    process: roles.contains(&Role::Process),
                    sink: roles.contains(&Role::Sink),
                    serve: roles.contains(&Role::Serve),
                }
            };
            let summary = app::run(config, RunOptions { roles, replay, exit_when_done }, shutdown).await?;
            if let Some(summary) = summary {
                println!("{summary}");
            }
        }
        Command::Watch { action } => watch(&config, action).await?,
        Command::Rules { action } => edit_rules(&config, action).await?,
        Command::Backfill { what: Backfill::Weather { from, to, locations, replay } } => {
            let request = backfill::WeatherBackfill { from, to, locations, replay };
            let summary = backfill::backfill_weather(config, request, shutdown).await?;
            println!("{summary}");
        }
        Command::Webhooks { action: WebhooksAction::Redeliver { endpoint } } => {
            let infrastructure = Infrastructure::start(&config, Needs::ADMIN).await?;
            let pool = infrastructure.pool()?.clone();
            let deliverer = signalcraft_sink::WebhookDeliverer::new(pool.clone(), &config.webhooks, shutdown.clone())?
                .with_redactor(&signalcraft::secrets::redactor(&config));
            let done = deliverer.redeliver_failed(endpoint.as_deref()).await;
            pool.close().await;
            let done = done?;
            println!("redelivered {} of {} failed webhook deliveries", done.delivered, done.found);
        }
        Command::Retention { action: RetentionAction::Run { dry_run } } => {
            let infrastructure = Infrastructure::start(&config, Needs::ADMIN).await?;
            let pool = infrastructure.pool()?.clone();
            let report = retention::run_once(&pool, &config.retention, chrono::Utc::now(), dry_run).await;
            pool.close().await;
            let report = report.context("applying retention")?;
            println!("{}{report}", if dry_run { "would remove (dry run, nothing changed):\n" } else { "removed:\n" });
        }
        Command::Serve => signalcraft::serve::serve(&config, shutdown).await?,
        Command::Import { what: ImportWhat::Kpi { file, tenant, on_error, chunk_rows } } => {
            let request = signalcraft::import::KpiImport {
                file,
                tenant,
                skip_bad_rows: on_error == OnError::Skip,
                chunk_rows: usize::try_from(chunk_rows).unwrap_or(10_000),
            };
            let summary = signalcraft::import::import_kpi(&config, request, shutdown).await?;
            println!("{summary}");
        }
        Command::Apikey { action } => api_keys(&config, action).await?,
        Command::Token { action: TokenAction::Issue { tenant, role, subject } } => {
            if subject.is_empty() || subject.len() > 200 || subject.chars().any(char::is_control) {
                anyhow::bail!("--subject: must be 1–200 bytes without control characters");
            }
            let signer = signalcraft::serve::signer(&config, false)?;
            let token = signer.issue(&subject, &tenant, role.into()).map_err(anyhow::Error::msg)?;
            // Alone on its line, for scripts: TOKEN=$(signalcraft token issue …).
            println!("{token}");
        }
        Command::Status { json } => {
            let report = signalcraft::status::gather(&config).await;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{report}");
            }
            if let Some(failure) = report.failure() {
                anyhow::bail!(failure);
            }
        }
        Command::Migrate => {
            let infrastructure = Infrastructure::start(&config, Needs::ADMIN).await?;
            let pool = infrastructure.pool()?.clone();
            pool.close().await;
            println!("migrations applied");
        }
        Command::Chaos { what } => {
            let binary = std::env::current_exe().context("locating this binary")?;
            match what {
                ChaosWhat::Run {
                    events,
                    seed,
                    kills_per_role,
                    postgres_restarts,
                    rate,
                    partitions,
                    replay,
                    work_dir,
                    settle_timeout_secs,
                } => {
                    let work_dir = chaos_work_dir(work_dir, "chaos");
                    eprintln!("chaos run: role logs and the chaos cluster in {}", work_dir.display());
                    let options = signalcraft::chaos::ChaosOptions {
                        binary,
                        replay: Some(replay),
                        events,
                        seed,
                        kills_per_role,
                        postgres_restarts,
                        rate,
                        partitions,
                        forecast_refit_every: 250,
                        forecast_history_cap: 250,
                        settle_timeout: std::time::Duration::from_secs(settle_timeout_secs),
                        work_dir,
                    };
                    let report = signalcraft::chaos::run(options).await?;
                    println!("{report}");
                    if !report.settled || report.lost() + report.duplicated() + report.mismatches() > 0 {
                        anyhow::bail!("the chaos run found defects (see above)");
                    }
                }
                ChaosWhat::Latency { rates, search_steps, window_secs, partitions, work_dir } => {
                    let work_dir = chaos_work_dir(work_dir, "latency");
                    eprintln!("latency run: role logs and the cluster in {}", work_dir.display());
                    let options = signalcraft::chaos::latency::LatencyOptions {
                        binary,
                        rates,
                        search_steps,
                        window: std::time::Duration::from_secs(window_secs),
                        partitions,
                        work_dir,
                    };
                    println!("{}", signalcraft::chaos::latency::run(options).await?);
                }
            }
        }
        Command::Broker { partitions } => {
            let broker = signalcraft_kafka::EmbeddedBroker::start(partitions).map_err(anyhow::Error::msg)?;
            // Printed on stdout, alone on its line, so scripts and tests can read it.
            println!("{}", broker.bootstrap_servers());
            shutdown.cancelled().await;
            drop(broker);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_json);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
