//! `signalcraft run`: brings up what the configuration asks for (or embedded stand-ins), starts
//! the chosen roles as tasks sharing one shutdown token, and, for replay runs, stops once every
//! replayed record has been processed and prints what landed where.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use anyhow::Context;
use futures::{future::BoxFuture, FutureExt};
use signalcraft_ingest::{
    run_source, DigiCadenceSource, FxSource, GdeltSource, HighWaterMarks, OpenMeteoSource, ReplayServer, RunError,
    Source, WatchListReader,
};
use signalcraft_kafka::{run_consumer, ConsumerSettings, EmbeddedBroker, KafkaSettings, LagMonitor, RecordProducer};
use signalcraft_model::{Record, Topic};
use signalcraft_process::{
    alerting::{RaiseAlerts, RuleSet},
    anomaly::DetectAnomalies,
    forecast::ForecastSeries,
    kpi::{BrandToKpi, FxToKpi, SentimentToKpi, WeatherToKpi},
    sentiment::ScoreArticles,
    Processor, ProcessorStage, SeriesHistory, WarmUpSettings,
};
use signalcraft_sink::{PgOffsetStore, PostgresSink, WebhookDeliverer};
pub use signalcraft_store::PrivateServer;
use signalcraft_store::{
    alert_rules as rules, DatabaseOptions, PgHighWaterMarks, PgSeriesHistory, PgWatchList, PrivatePostgres,
};
use sqlx::PgPool;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{
    config::Config,
    http, progress, registry,
    tasks::{self, TaskBoard},
};

/// How long the start waits for any broker of `kafka.brokers` to answer before giving up.
const BROKER_WAIT: Duration = Duration::from_secs(15);

/// Which parts of the data path this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub ingest: bool,
    pub process: bool,
    pub sink: bool,
}

impl Roles {
    pub const ALL: Roles = Roles { ingest: true, process: true, sink: true };
}

/// Options of one `run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub roles: Roles,
    /// Serve recorded upstream payloads from this directory instead of calling the internet.
    pub replay: Option<PathBuf>,
    /// Stop once the ingestors have run one cycle and every record has been processed.
    pub exit_when_done: bool,
}

/// The embedded stand-ins this run started; dropped (stopped) when the run ends.
struct Infrastructure {
    _broker: Option<EmbeddedBroker>,
    _postgres: Option<PrivatePostgres>,
}

/// Connects to (or starts) PostgreSQL and applies the migrations.
pub async fn connect_database(config: &Config) -> anyhow::Result<(PgPool, Option<PrivatePostgres>)> {
    connect_database_with(config, PrivateServer::Own).await
}

/// [`connect_database`], saying what to do with a private server that already runs.
pub async fn connect_database_with(
    config: &Config,
    private_server: PrivateServer,
) -> anyhow::Result<(PgPool, Option<PrivatePostgres>)> {
    let options = DatabaseOptions {
        url: config.database.url.clone(),
        data_dir: config.database.data_dir.clone(),
        max_connections: config.sink.max_connections,
    };
    Ok(signalcraft_store::connect(&options, private_server).await?)
}

/// Runs the pipeline until `shutdown` (or, with `exit_when_done`, until the input is processed).
pub async fn run(
    config: Config,
    options: RunOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<Option<progress::RunSummary>> {
    let mut config = config;
    let broker = match &config.kafka.brokers {
        Some(_) => None,
        None => {
            let broker = EmbeddedBroker::start(config.kafka.embedded_partitions)
                .map_err(anyhow::Error::msg)
                .context("starting the embedded Kafka broker")?;
            tracing::info!(
                bootstrap = broker.bootstrap_servers(),
                "no kafka.brokers configured: embedded broker started"
            );
            Some(broker)
        }
    };
    let brokers = match &broker {
        Some(broker) => broker.bootstrap_servers().to_string(),
        None => config.kafka.brokers.clone().unwrap_or_default(),
    };
    let mut kafka = KafkaSettings::new(brokers);
    kafka.properties = config.kafka.properties.clone();
    kafka.plausibility = config.validation.windows();
    // Fail fast on a wrong address: otherwise every client retries it forever.
    {
        let probe = kafka.clone();
        tokio::task::spawn_blocking(move || probe.check_brokers(BROKER_WAIT))
            .await
            .context("asking the cluster for its metadata")?
            .map_err(anyhow::Error::msg)
            .with_context(|| {
                format!(
                    "no Kafka broker answered at kafka.brokers = {:?} within {} s (SIGNALCRAFT_KAFKA__BROKERS)",
                    kafka.brokers,
                    BROKER_WAIT.as_secs()
                )
            })?;
    }
    // Offsets the sink stores belong to this cluster (see PostgresSink::with_cluster_id).
    let cluster_id = {
        let kafka = kafka.clone();
        tokio::task::spawn_blocking(move || kafka.fetch_cluster_id(Duration::from_secs(10)))
            .await
            .context("asking the cluster for its id")?
            .unwrap_or_default()
    };
    if cluster_id.is_empty() {
        tracing::warn!(
            "the Kafka cluster reported no id; stored sink offsets cannot be told apart from another cluster's"
        );
    }
    if let Some(url) = &config.kafka.schema_registry_url {
        kafka.registry_ids = registry::register_all(url).await.map_err(anyhow::Error::msg)?;
    }

    // Every role uses the database: the sink writes there, the processors read their alert
    // rules there, the ingestors keep their high-water marks there.
    let (pool, postgres) = connect_database(&config).await?;
    let _infrastructure = Infrastructure { _broker: broker, _postgres: postgres };

    let replay = match &options.replay {
        Some(dir) => {
            let server = ReplayServer::start(dir)
                .await
                .with_context(|| format!("starting the replay server on {}", dir.display()))?;
            let ingest = &mut config.ingest;
            for provider in &mut ingest.fx.providers {
                provider.base_url = server.provider_base_url(provider.kind.as_str());
            }
            ingest.gdelt.base_url = server.provider_base_url("gdelt");
            ingest.openmeteo.base_url = server.provider_base_url("openmeteo");
            ingest.openmeteo.archive_base_url = server.provider_base_url("openmeteo");
            if let Some(digicadence) = &mut ingest.digicadence {
                digicadence.base_url = server.provider_base_url("digicadence");
                digicadence.multi_data_base_url = None;
                digicadence.normalized_base_url = None;
            }
            tracing::info!(dir = %dir.display(), url = server.base_url(), "replaying recorded upstream payloads");
            Some(server)
        }
        None => None,
    };

    let board = TaskBoard::default();
    let health = {
        let http = &config.http;
        let timeout = Duration::from_millis(http.check_timeout_ms);
        let checks: Vec<Box<dyn http::Check>> = vec![
            Box::new(http::KafkaCheck::new(kafka.clone(), timeout)),
            Box::new(http::PostgresCheck::new(&pool, timeout)),
        ];
        let (cache_for, stall_after) =
            (Duration::from_millis(http.check_cache_ms), Duration::from_secs(http.stall_secs));
        http::Health::new(checks, cache_for, stall_after, board.clone())
    };
    let (_, http_server) = http::serve(config.http.listen, health.clone(), shutdown.clone())
        .await
        .with_context(|| format!("binding http.listen {}", config.http.listen))?;

    let producer = RecordProducer::new(&kafka, "producer").context("creating the Kafka producer")?;
    let session_timeout = Duration::from_millis(config.kafka.session_timeout_ms);
    let mut ingestors = RoleTasks::new();
    let mut consumers = RoleTasks::new();
    let failed_polls = FailedPolls::default();
    // Without its endpoints the process cannot be watched: the server ending ends the run.
    spawn_role(&mut consumers, &board, "http", http_server);
    let mut lag = LagMonitor::new(kafka.clone(), Duration::from_millis(config.http.lag_interval_ms));

    if options.roles.ingest {
        let cycles = options.exit_when_done.then_some(1);
        let spawn = |tasks: &mut RoleTasks, (name, source): SourceRun| {
            let run = source(producer.clone(), shutdown.clone(), failed_polls.clone());
            spawn_role(tasks, &board, &format!("source:{name}"), run)
        };
        let ingest = &config.ingest;
        // Every source reads the watch list at the start of each cycle. News and weather run
        // even with nothing configured: businesses added later are picked up by their next cycle.
        let watch_list = WatchListReader::new(Arc::new(PgWatchList::new(pool.clone())));
        for source in FxSource::from_config(&ingest.fx).context("building the exchange-rate sources")? {
            let source = source.with_watch_list(watch_list.clone());
            spawn(&mut ingestors, run_boxed(source, ingest.fx.interval(), cycles));
        }
        let marks: Arc<dyn HighWaterMarks> = Arc::new(PgHighWaterMarks::new(pool.clone(), "gdelt"));
        let source = GdeltSource::new(ingest.gdelt.clone(), marks)
            .context("building the GDELT source")?
            .with_watch_list(watch_list.clone());
        // The tone timelines share the article source's limiter: one request per 5 s in all.
        if ingest.gdelt.tone {
            spawn(&mut ingestors, run_boxed(source.tone_source(), ingest.gdelt.interval(), cycles));
        }
        spawn(&mut ingestors, run_boxed(source, ingest.gdelt.interval(), cycles));
        let source = OpenMeteoSource::new(ingest.openmeteo.clone())
            .context("building the Open-Meteo source")?
            .with_watch_list(watch_list.clone());
        spawn(&mut ingestors, run_boxed(source, ingest.openmeteo.interval(), cycles));
        // Digi-Cadence has no public host: it runs when `[ingest.digicadence]` says where.
        if let Some(digicadence) = ingest.digicadence.clone() {
            let interval = digicadence.interval();
            let source = DigiCadenceSource::new(digicadence)
                .context("building the Digi-Cadence source")?
                .with_watch_list(watch_list.clone());
            spawn(&mut ingestors, run_boxed(source, interval, cycles));
        }
    }

    // Every processor, its own consumer group: (group, input topic) for the drain check.
    let mut processor_groups = Vec::new();
    if options.roles.process {
        // Stateful processors rebuild a series' state from the points the sink stored.
        let history = config.process.warmup_settings().map(|settings| {
            let store = PgSeriesHistory::new(pool.clone(), config.sink.group_id.clone(), cluster_id.clone());
            (Arc::new(store) as Arc<dyn SeriesHistory>, settings)
        });
        let context = ProcessorContext {
            kafka: &kafka,
            producer: &producer,
            group_prefix: &config.process.group_prefix,
            session_timeout,
            shutdown: &shutdown,
            history,
            board: &board,
            health: &health,
        };
        processor_groups.push(context.spawn(FxToKpi, &mut consumers));
        processor_groups.push(context.spawn(WeatherToKpi, &mut consumers));
        processor_groups.push(context.spawn(BrandToKpi, &mut consumers));
        processor_groups.push(context.spawn(ScoreArticles::new(), &mut consumers));
        processor_groups.push(context.spawn(SentimentToKpi::default(), &mut consumers));
        // Second tier: they read kpi.points, which the processors above write.
        processor_groups.push(context.spawn(DetectAnomalies::new(config.process.anomaly_config()), &mut consumers));
        processor_groups.push(context.spawn(ForecastSeries::new(config.process.forecast_config()), &mut consumers));
        // Third tier: alerts from kpi.anomalies, with the threshold rules kept fresh from the database.
        let rule_set = RuleSet::new(rules::load(&pool).await.context("loading alert_rules")?);
        let reload = Duration::from_secs(config.process.rules_reload_secs);
        {
            let (pool, rule_set, shutdown) = (pool.clone(), rule_set.clone(), shutdown.clone());
            // Restarted: a reload that panics on one bad rule must not stop later reloads.
            tasks::spawn_restarting(&board, "rules-reload", shutdown.clone(), move || {
                rules::reload_until_shutdown(pool.clone(), rule_set.clone(), reload, shutdown.clone()).map(Ok)
            });
        }
        let alerting_config = config.process.alerting_config();
        let max_keys = alerting_config.max_keys;
        let mut alerting = RaiseAlerts::new(alerting_config, rule_set);
        // Open alerts and cooldowns survive a restart: restored from the notifications issued.
        alerting.restore(rules::load_issued_alerts(&pool, max_keys).await.context("loading issued alerts")?);
        tracing::info!(open_alerts = alerting.open_alerts(), "alerting state restored from alert_notifications");
        processor_groups.push(context.spawn(alerting, &mut consumers));
    }

    if options.roles.sink {
        let sink_config = &config.sink;
        let mut settings = ConsumerSettings::new("sink", sink_config.group_id.clone(), PostgresSink::topics());
        settings.session_timeout = session_timeout;
        settings.batch_max_records = sink_config.batch_max_rows;
        settings.batch_max_wait = Duration::from_millis(sink_config.batch_max_wait_ms);
        let sink = PostgresSink::new(pool.clone(), sink_config.group_id.clone())
            .accept_schema_ids(&kafka.registry_ids)
            .with_plausibility(&kafka.plausibility)
            .with_cluster_id(cluster_id.clone());
        // The coming months' partitions, and retention, beside the writes.
        {
            let (pool, retention, shutdown) = (pool.clone(), config.retention.clone(), shutdown.clone());
            tasks::spawn_restarting(&board, "retention", shutdown.clone(), move || {
                signalcraft_sink::postgres::retention::maintain(pool.clone(), retention.clone(), shutdown.clone())
                    .map(Ok)
            });
        }
        let offsets = Arc::new(PgOffsetStore::new(pool.clone()).with_cluster_id(cluster_id.clone()));
        health.watch_stage(&settings.stage, settings.health.clone());
        lag.watch(settings.group_id.clone(), settings.topics.clone());
        {
            let (kafka, producer, shutdown) = (kafka.clone(), producer.clone(), shutdown.clone());
            spawn_role(&mut consumers, &board, "consumer:sink", async move {
                run_consumer(&kafka, &settings, Some(offsets), &producer, sink, shutdown)
                    .await
                    .map_err(|e| e.to_string())
            });
        }

        // Notifications also leave by webhook when endpoints are configured. Offsets are
        // committed to Kafka; webhook_deliveries keeps each outcome so a re-read batch is not
        // sent again.
        if !config.webhooks.endpoints.is_empty() {
            let group = config.webhooks.group_id.clone();
            let mut settings = ConsumerSettings::new("webhooks", group, vec![WebhookDeliverer::topic().to_string()]);
            settings.session_timeout = session_timeout;
            let mut deliverer = WebhookDeliverer::new(pool.clone(), &config.webhooks, shutdown.clone())
                .context("setting up webhook deliveries")?
                .with_plausibility(kafka.plausibility(Topic::AlertsNotifications))
                .with_redactor(&crate::secrets::redactor(&config));
            if let Some(&id) = kafka.registry_ids.get(&Topic::AlertsNotifications) {
                deliverer = deliverer.accept_schema_id(id);
            }
            health.watch_stage(&settings.stage, settings.health.clone());
            lag.watch(settings.group_id.clone(), settings.topics.clone());
            let (kafka, producer, shutdown) = (kafka.clone(), producer.clone(), shutdown.clone());
            spawn_role(&mut consumers, &board, "consumer:webhooks", async move {
                run_consumer(&kafka, &settings, None, &producer, deliverer, shutdown).await.map_err(|e| e.to_string())
            });
        }
    }
    for (group, topic) in &processor_groups {
        lag.watch(group.clone(), vec![topic.clone()]);
    }
    // Restarted: lag figures are worth having back, and the monitor holds nothing.
    let lag_monitor = {
        let shutdown = shutdown.clone();
        tasks::spawn_restarting(&board, "lag-monitor", shutdown.clone(), move || lag.clone().run(shutdown.clone()))
    };
    health.set_started();
    tracing::info!(roles = ?options.roles, "signalcraft is running");

    let groups = progress::Groups {
        processors: processor_groups,
        sink: options.roles.sink.then(|| (config.sink.group_id.clone(), PostgresSink::topics())),
    };
    let stopped_early =
        supervise(&board, &mut ingestors, &mut consumers, options.exit_when_done, &kafka, &groups, &shutdown).await;
    shutdown.cancel();
    while let Some(result) = consumers.join_next().await {
        task_failure(&board, result);
    }
    // Its Kafka clients must be gone before an embedded broker stops, or they log its absence.
    if tokio::time::timeout(Duration::from_secs(15), lag_monitor).await.is_err() {
        tracing::warn!("the lag monitor did not stop within 15 s of shutdown");
    }
    if let Err(error) = producer.flush(Duration::from_secs(10)) {
        tracing::warn!(%error, "producer did not flush every record before exit");
    }
    drop(replay);

    if let Some(failure) = stopped_early {
        anyhow::bail!(failure);
    }
    let summary = if options.exit_when_done {
        Some(progress::summarize(&kafka, &pool, failed_polls.counts()).await.context("summarizing the run")?)
    } else {
        None
    };
    Ok(summary)
}

/// Tasks whose end ends the run (see [`tasks`]), each with its name and outcome.
type RoleTasks = JoinSet<(String, Result<(), String>)>;

/// Spawns a role task on `tasks` under `name`; a panic becomes its error.
fn spawn_role<F>(tasks: &mut RoleTasks, board: &TaskBoard, name: &str, task: F)
where
    F: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    board.started(name);
    let name = name.to_string();
    tasks.spawn(async move { (name, tasks::catch_panic(task).await) });
}

/// One source's `run_source` loop, waiting for the producer, the shutdown token and where to
/// count its failed polls. Sources differ in type; boxing them lets one loop start them all.
type SourceLoop =
    Box<dyn FnOnce(RecordProducer, CancellationToken, FailedPolls) -> BoxFuture<'static, Result<(), String>>>;
/// A source's name (for supervision) and its loop.
type SourceRun = (String, SourceLoop);

fn run_boxed<S: Source + 'static>(source: S, interval: Duration, cycles: Option<u64>) -> SourceRun {
    let name = source.name().to_string();
    signalcraft_ingest::telemetry::source_started(&name);
    let run: SourceLoop = Box::new(move |producer, shutdown, failed_polls| {
        async move {
            let name = source.name().to_string();
            let result = run_source(source, producer, interval, cycles, shutdown).await;
            // Each loop counts its own failed polls; a loop cut short by shutdown still did.
            let summary = match &result {
                Ok(summary) | Err(RunError::Undelivered { summary, .. }) => summary,
            };
            failed_polls.add(&name, summary.failed_polls);
            result.map(|_| ()).map_err(|e| e.to_string())
        }
        .boxed()
    });
    (name, run)
}

/// Failed polls per source name, gathered from the sources' loops as they end, for the run
/// summary. Sources of one name (none today) add up.
#[derive(Clone, Default)]
struct FailedPolls(Arc<Mutex<BTreeMap<String, u64>>>);

impl FailedPolls {
    fn add(&self, source: &str, failed: u64) {
        // A panic while holding this lock leaves the map whole: adding is one insert.
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry(source.to_string()).or_default() += failed;
    }

    fn counts(&self) -> Vec<(String, u64)> {
        let counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        counts.iter().map(|(source, failed)| (source.clone(), *failed)).collect()
    }
}

/// What every processor stage is started with.
struct ProcessorContext<'a> {
    kafka: &'a KafkaSettings,
    producer: &'a RecordProducer,
    group_prefix: &'a str,
    session_timeout: Duration,
    shutdown: &'a CancellationToken,
    /// Where stateful processors rebuild per-series state from; `None`: warm-up is off.
    history: Option<(Arc<dyn SeriesHistory>, WarmUpSettings)>,
    board: &'a TaskBoard,
    health: &'a http::Health,
}

impl ProcessorContext<'_> {
    /// Starts `processor` in its own consumer group; returns (group, input topic).
    fn spawn<P: Processor>(&self, processor: P, tasks: &mut RoleTasks) -> (String, String) {
        let input = P::Input::TOPIC;
        let group = format!("{}-{}", self.group_prefix, processor.name());
        let mut settings = ConsumerSettings::new(processor.name(), group.clone(), vec![input.name().into()]);
        settings.session_timeout = self.session_timeout;
        let mut stage =
            ProcessorStage::new(processor, self.producer.clone()).with_plausibility(self.kafka.plausibility(input));
        if let Some((history, settings)) = &self.history {
            stage = stage.with_history(history.clone(), settings.clone()).stop_waiting_on(self.shutdown.clone());
        }
        if let Some(&id) = self.kafka.registry_ids.get(&input) {
            stage = stage.accept_schema_id(id);
        }
        self.health.watch_stage(&settings.stage, settings.health.clone());
        let (kafka, producer, shutdown) = (self.kafka.clone(), self.producer.clone(), self.shutdown.clone());
        spawn_role(tasks, self.board, &format!("consumer:{}", settings.stage), async move {
            run_consumer(&kafka, &settings, None, &producer, stage, shutdown).await.map_err(|e| e.to_string())
        });
        (group, input.name().to_string())
    }
}

/// Waits for the end of the run: shutdown; or, for `exit_when_done`, every ingestor done and
/// every record processed. A consumer (or the HTTP server) that stops on its own, or an
/// ingestor that fails, ends the run early (so an orchestrator restarts the process rather than
/// keep a role dead): returns what went wrong.
async fn supervise(
    board: &TaskBoard,
    ingestors: &mut RoleTasks,
    consumers: &mut RoleTasks,
    exit_when_done: bool,
    kafka: &KafkaSettings,
    groups: &progress::Groups,
    shutdown: &CancellationToken,
) -> Option<String> {
    loop {
        let ingest_done = ingestors.is_empty();
        let drained = async {
            if exit_when_done && ingest_done {
                progress::wait_until_drained(kafka, groups).await
            } else {
                std::future::pending().await
            }
        };
        tokio::select! {
            // Biased: tasks ending because shutdown was asked for are not failures.
            biased;
            _ = shutdown.cancelled() => return None,
            Some(result) = ingestors.join_next(), if !ingest_done => {
                if let Some(failure) = task_failure(board, result) {
                    return Some(failure);
                }
            }
            Some(result) = consumers.join_next(), if !consumers.is_empty() => {
                if shutdown.is_cancelled() {
                    task_failure(board, result);
                    return None;
                }
                let name = result.as_ref().map(|(name, _)| name.clone()).unwrap_or_default();
                let failure = task_failure(board, result).unwrap_or_else(|| {
                    let failure = format!("{name} stopped on its own");
                    board.died(&name, &failure);
                    failure
                });
                return Some(failure);
            }
            result = drained => match result {
                Ok(()) => {
                    tracing::info!("every replayed record is processed; stopping");
                    return None;
                }
                Err(error) => return Some(format!("waiting for the pipeline to drain: {error}")),
            },
        }
    }
}

/// Records a finished role task (logged, counted and shown on `/healthz` if it failed); returns
/// its failure, if it failed.
fn task_failure(
    board: &TaskBoard,
    result: Result<(String, Result<(), String>), tokio::task::JoinError>,
) -> Option<String> {
    match result {
        Ok((_, Ok(()))) => None,
        Ok((name, Err(error))) => {
            board.died(&name, &error);
            Some(format!("{name} failed: {error}"))
        }
        // Role tasks catch their own panics, and none is aborted: only a runtime going away
        // gets here.
        Err(error) => {
            tracing::error!(%error, "a role task was cancelled");
            Some(format!("a role task was cancelled: {error}"))
        }
    }
}
