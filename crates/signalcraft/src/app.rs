//! `signalcraft run`: stands on the [`Infrastructure`] the configuration asks for (or embedded
//! stand-ins), starts the chosen roles as supervised tasks sharing one shutdown token from
//! plain lists (the upstreams of [`IngestConfig::components`], the processors and the sinks
//! below), and, for replay runs, stops once every replayed record has been processed and says
//! what landed where.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use anyhow::Context;
use futures::FutureExt;
use signalcraft_ingest::{HighWaterMarks, PollLog, ReplayServer, RunError, SourceContext, WatchListReader};
use signalcraft_kafka::{
    run_consumer, BatchHandler, ConsumerSettings, KafkaSettings, LagMonitor, OffsetStore, RecordProducer,
};
use signalcraft_model::{Record, Topic};
use signalcraft_process::{
    alerting::RuleSet,
    kpi::{BrandToKpi, FxToKpi, ObservationToKpi, WeatherToKpi},
    sentiment::ScoreArticles,
    ProcessConfig, Processor, ProcessorStage, SeriesHistory, SideInput, WarmUpSettings,
};
use signalcraft_sink::{PgOffsetStore, PostgresSink, WebhookDeliverer};
use signalcraft_store::{alert_rules as rules, PgHighWaterMarks, PgPollLog, PgSeriesHistory, PgWatchList};
use sqlx::PgPool;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{
    config::Config,
    http,
    infrastructure::{Infrastructure, Needs},
    progress,
    tasks::{self, TaskBoard},
};

/// Which parts of the data path this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub ingest: bool,
    pub process: bool,
    pub sink: bool,
    /// The tenant API, on the operational listener.
    pub serve: bool,
}

impl Roles {
    pub const ALL: Roles = Roles { ingest: true, process: true, sink: true, serve: true };
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

/// Runs the pipeline until `shutdown` (or, with `exit_when_done`, until the input is processed).
pub async fn run(
    config: Config,
    options: RunOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<Option<progress::RunSummary>> {
    // Every role uses the database: the sink writes there, the processors read their alert
    // rules and series history there, the ingestors keep their high-water marks there.
    let mut infrastructure = Infrastructure::start(&config, Needs::RUN).await?;
    let replay = match &options.replay {
        Some(dir) => Some(replay_upstreams(dir).await?),
        None => None,
    };
    let mut running = Running::start(&config, &mut infrastructure, options.roles.serve, shutdown).await?;
    if let (Some(signer), Some(_)) = (&running.api_signer, &options.replay) {
        crate::serve::print_viewer_tokens(&config, &running.pool, signer, running.http_address).await?;
    }
    if options.roles.ingest {
        running.start_sources(replay.as_ref(), options.exit_when_done.then_some(1))?;
    }
    if options.roles.process {
        running.start_processors().await?;
    }
    if options.roles.sink {
        running.start_sinks()?;
    }
    let summary = running.until_done(options).await;
    drop(replay);
    summary
}

/// Serves the recorded payloads of `dir`, for the sources to be pointed at.
async fn replay_upstreams(dir: &Path) -> anyhow::Result<ReplayServer> {
    let server =
        ReplayServer::start(dir).await.with_context(|| format!("starting the replay server on {}", dir.display()))?;
    tracing::info!(dir = %dir.display(), url = server.base_url(), "replaying recorded upstream payloads");
    Ok(server)
}

/// A run in progress: what its roles are started with, and the tasks they run as.
struct Running<'a> {
    config: &'a Config,
    kafka: KafkaSettings,
    cluster_id: String,
    pool: PgPool,
    producer: RecordProducer,
    shutdown: CancellationToken,
    board: TaskBoard,
    health: http::Health,
    lag: LagMonitor,
    /// Tasks that end when their input ends: the sources.
    ingestors: RoleTasks,
    /// Tasks that run until shutdown: consumers and the HTTP server.
    consumers: RoleTasks,
    failed_polls: FailedPolls,
    /// Where `/metrics`, `/healthz`, `/readyz` (and the tenant API) answer.
    http_address: std::net::SocketAddr,
    /// The tenant API's token signer, when this process serves it.
    api_signer: Option<signalcraft_api::TokenSigner>,
    /// Every processor's (consumer group, input topic), for the drain check.
    processor_groups: Vec<(String, String)>,
}

impl<'a> Running<'a> {
    /// Health checks and the operational endpoints (with the tenant API when `serve`), and the
    /// one producer every role shares.
    async fn start(
        config: &'a Config,
        infrastructure: &mut Infrastructure,
        serve: bool,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Running<'a>> {
        let pool = infrastructure.pool()?.clone();
        let kafka = infrastructure.kafka.clone();
        let board = TaskBoard::default();
        let http_config = &config.http;
        let timeout = Duration::from_millis(http_config.check_timeout_ms);
        let checks: Vec<Box<dyn http::Check>> = vec![
            Box::new(http::KafkaCheck::new(kafka.clone(), timeout)),
            Box::new(http::PostgresCheck::new(&pool, timeout)),
        ];
        let (cache_for, stall_after) =
            (Duration::from_millis(http_config.check_cache_ms), Duration::from_secs(http_config.stall_secs));
        let health = http::Health::new(checks, cache_for, stall_after, board.clone());
        let producer = RecordProducer::new(&kafka, "producer").context("creating the Kafka producer")?;
        let mut consumers = RoleTasks::new();
        let (api, api_signer) = if serve {
            let signer = crate::serve::signer(config, true)?;
            let intake =
                signalcraft_api::Intake { producer: producer.clone(), window: kafka.plausibility(Topic::RawKpi) };
            let api = crate::serve::start_api(config, signer.clone(), &pool, Some(intake), &shutdown).await?;
            for (name, task) in api.tasks {
                spawn_role(&mut consumers, &board, name, task.map(Ok));
            }
            (Some(api.router), Some(signer))
        } else {
            (None, None)
        };
        let listener = infrastructure.listener.take().context("the HTTP listener was not bound")?;
        let http_address = listener.local_addr().context("reading the HTTP listener's address")?;
        let http_server = http::serve_on(listener, health.clone(), api, shutdown.clone())?;
        // Without its endpoints the process cannot be watched: the server ending ends the run.
        spawn_role(&mut consumers, &board, "http", http_server);
        let lag = LagMonitor::new(kafka.clone(), Duration::from_millis(http_config.lag_interval_ms));
        Ok(Running {
            config,
            kafka,
            cluster_id: infrastructure.cluster_id.clone(),
            pool,
            producer,
            shutdown,
            board,
            health,
            lag,
            ingestors: RoleTasks::new(),
            consumers,
            failed_polls: FailedPolls::default(),
            http_address,
            api_signer,
            processor_groups: Vec::new(),
        })
    }

    /// Every upstream of `[ingest]`, `cycles` polls each (unbounded: `None`), and the KPI
    /// histories a replay directory names. Every source reads the watch list at the start of
    /// each cycle.
    fn start_sources(&mut self, replay: Option<&ReplayServer>, cycles: Option<u64>) -> anyhow::Result<()> {
        let pool = self.pool.clone();
        let context = SourceContext {
            watch_list: WatchListReader::new(Arc::new(PgWatchList::new(pool.clone()))),
            marks: Arc::new(move |source: &'static str| {
                Arc::new(PgHighWaterMarks::new(pool.clone(), source)) as Arc<dyn HighWaterMarks>
            }),
            replay: replay.map(ReplayServer::address),
        };
        // Each delivered poll is recorded in source_status, for `signalcraft status`.
        let poll_log: Arc<dyn PollLog> = Arc::new(PgPollLog::new(self.pool.clone()));
        // A replay directory's KPI histories, imported once as `import kpi` would: ingestors
        // like the sources, so a run that exits when done waits for them too.
        for kpi in replay.map(ReplayServer::kpi_files).unwrap_or_default() {
            let (producer, window) = (self.producer.clone(), self.kafka.plausibility(Topic::RawKpi));
            let (tenant, file) = (kpi.tenant.clone(), kpi.file.clone());
            spawn_role(&mut self.ingestors, &self.board, &format!("replay-kpi:{tenant}"), async move {
                crate::import::replay_kpi(&producer, &window, &tenant, &file)
                    .await
                    .map(|_| ())
                    .map_err(|error| format!("{error:#}"))
            });
        }
        for component in self.config.ingest.components() {
            for source in component.build(&context)? {
                let source = source.with_poll_log(poll_log.clone());
                let name = source.name().to_string();
                signalcraft_ingest::telemetry::source_started(&name);
                let (producer, shutdown, failed_polls) =
                    (self.producer.clone(), self.shutdown.clone(), self.failed_polls.clone());
                spawn_role(&mut self.ingestors, &self.board, &format!("source:{name}"), async move {
                    let result = source.run(producer, cycles, shutdown).await;
                    // Each loop counts its own failed polls; a loop cut short by shutdown still did.
                    let summary = match &result {
                        Ok(summary) | Err(RunError::Undelivered { summary, .. }) => summary,
                    };
                    failed_polls.add(&name, summary.failed_polls);
                    result.map(|_| ()).map_err(|e| e.to_string())
                });
            }
        }
        Ok(())
    }

    /// Every processor, each in its own consumer group.
    async fn start_processors(&mut self) -> anyhow::Result<()> {
        let process = &self.config.process;
        // Stateful processors rebuild a series' state from the points the sink stored.
        let history = process.warmup.settings().map(|settings| {
            let store =
                PgSeriesHistory::new(self.pool.clone(), self.config.sink.group_id.clone(), self.cluster_id.clone());
            (Arc::new(store) as Arc<dyn SeriesHistory>, settings)
        });
        // Alerts evaluate each anomaly against the rule versions in force when it was appended,
        // read from the database before the batches that need them.
        let rule_set = RuleSet::default();
        let rule_history = rules::RuleHistory::new(self.pool.clone(), rule_set.clone());
        rule_history.refresh().await.context("loading alert_rule_versions")?;
        let mut alerting = process.alerting.build(rule_set);
        let max_keys = alerting.max_keys();
        // Open alerts and cooldowns survive a restart: restored from the notifications issued.
        alerting.restore(rules::load_issued_alerts(&self.pool, max_keys).await.context("loading issued alerts")?);
        tracing::info!(open_alerts = alerting.open_alerts(), "alerting state restored from alert_notifications");

        let group_prefix = &process.group_prefix;
        let history = history.as_ref();
        self.processor_groups = vec![
            self.spawn_processor(FxToKpi, group_prefix, history, None),
            self.spawn_processor(WeatherToKpi::new(process.weather.clone()), group_prefix, history, None),
            self.spawn_processor(BrandToKpi, group_prefix, history, None),
            self.spawn_processor(ObservationToKpi, group_prefix, history, None),
            self.spawn_processor(ScoreArticles::new(), group_prefix, history, None),
            self.spawn_processor(process.sentiment.build(), group_prefix, history, None),
            // Second tier: they read kpi.points, which the processors above write.
            self.spawn_processor(process.anomaly.build(), group_prefix, history, None),
            self.spawn_processor(process.forecast.build(), group_prefix, history, None),
            // Third tier: alerts from kpi.anomalies, with the rule versions as side input.
            self.spawn_processor(alerting, group_prefix, history, Some(Arc::new(rule_history))),
        ];
        // `signalcraft status` measures the groups `processor_groups` lists: the same ones.
        debug_assert_eq!(self.processor_groups, processor_groups(process), "processor_groups is out of date");
        Ok(())
    }

    /// The PostgreSQL sink (with partition and retention upkeep) and, when endpoints are
    /// configured, the webhook deliverer.
    fn start_sinks(&mut self) -> anyhow::Result<()> {
        let (config, pool) = (self.config, self.pool.clone());
        let sink_config = &config.sink;
        let mut settings = ConsumerSettings::new("sink", sink_config.group_id.clone(), PostgresSink::topics());
        settings.session_timeout = Duration::from_millis(config.kafka.session_timeout_ms);
        settings.batch_max_records = sink_config.batch_max_rows;
        settings.batch_max_wait = Duration::from_millis(sink_config.batch_max_wait_ms);
        let sink = PostgresSink::new(pool.clone(), sink_config.group_id.clone())
            .accept_schema_ids(&self.kafka.registry_ids)
            .with_plausibility(&self.kafka.plausibility)
            .with_cluster_id(self.cluster_id.clone());
        // The coming months' partitions, and retention, beside the writes.
        {
            let (pool, retention, shutdown) = (pool.clone(), config.retention.clone(), self.shutdown.clone());
            tasks::spawn_restarting(&self.board, "retention", shutdown.clone(), move || {
                signalcraft_sink::postgres::retention::maintain(pool.clone(), retention.clone(), shutdown.clone())
                    .map(Ok)
            });
        }
        let offsets: Arc<dyn OffsetStore> =
            Arc::new(PgOffsetStore::new(pool.clone()).with_cluster_id(self.cluster_id.clone()));
        self.spawn_consumer(settings, Some(offsets), sink);

        // Notifications also leave by webhook when endpoints are configured. Offsets are
        // committed to Kafka; webhook_deliveries keeps each outcome so a re-read batch is not
        // sent again.
        if !config.webhooks.endpoints.is_empty() {
            let group = config.webhooks.group_id.clone();
            let mut settings = ConsumerSettings::new("webhooks", group, vec![WebhookDeliverer::topic().to_string()]);
            settings.session_timeout = Duration::from_millis(config.kafka.session_timeout_ms);
            let mut deliverer = WebhookDeliverer::new(pool.clone(), &config.webhooks, self.shutdown.clone())
                .context("setting up webhook deliveries")?
                .with_plausibility(self.kafka.plausibility(Topic::AlertsNotifications))
                .with_redactor(&crate::secrets::redactor(config));
            if let Some(&id) = self.kafka.registry_ids.get(&Topic::AlertsNotifications) {
                deliverer = deliverer.accept_schema_id(id);
            }
            self.spawn_consumer(settings, None, deliverer);
        }
        Ok(())
    }

    /// Starts `processor` in its own consumer group (`<group_prefix>-<name>`), rebuilding its
    /// per-series state from `history` when given, and reading `side_input` before each batch;
    /// returns (group, input topic) for the drain check.
    fn spawn_processor<P: Processor>(
        &mut self,
        processor: P,
        group_prefix: &str,
        history: Option<&(Arc<dyn SeriesHistory>, WarmUpSettings)>,
        side_input: Option<Arc<dyn SideInput>>,
    ) -> (String, String) {
        let input = P::Input::TOPIC;
        let (group, _) = processor_group(&processor, group_prefix);
        let mut settings = ConsumerSettings::new(processor.name(), group.clone(), vec![input.name().into()]);
        settings.session_timeout = Duration::from_millis(self.config.kafka.session_timeout_ms);
        let mut stage =
            ProcessorStage::new(processor, self.producer.clone()).with_plausibility(self.kafka.plausibility(input));
        if let Some((history, settings)) = history {
            stage = stage.with_history(history.clone(), settings.clone()).stop_waiting_on(self.shutdown.clone());
        }
        if let Some(&id) = self.kafka.registry_ids.get(&input) {
            stage = stage.accept_schema_id(id);
        }
        if let Some(side_input) = side_input {
            stage = stage.with_side_input(side_input);
        }
        self.spawn_consumer(settings, None, stage);
        (group, input.name().to_string())
    }

    /// Runs `handler` in the consumer loop of `settings`, watched for stalls and lag.
    fn spawn_consumer<H: BatchHandler + 'static>(
        &mut self,
        settings: ConsumerSettings,
        offsets: Option<Arc<dyn OffsetStore>>,
        handler: H,
    ) {
        self.health.watch_stage(&settings.stage, settings.health.clone());
        self.lag.watch(settings.group_id.clone(), settings.topics.clone());
        let (kafka, producer, shutdown) = (self.kafka.clone(), self.producer.clone(), self.shutdown.clone());
        let name = format!("consumer:{}", settings.stage);
        spawn_role(&mut self.consumers, &self.board, &name, async move {
            run_consumer(&kafka, &settings, offsets, &producer, handler, shutdown).await.map_err(|e| e.to_string())
        });
    }

    /// Waits for shutdown (or, with `exit_when_done`, the end of the input), stops every task,
    /// and for replay runs says what landed where.
    async fn until_done(mut self, options: RunOptions) -> anyhow::Result<Option<progress::RunSummary>> {
        // Restarted: lag figures are worth having back, and the monitor holds nothing.
        let lag_monitor = {
            let (lag, shutdown) = (self.lag.clone(), self.shutdown.clone());
            tasks::spawn_restarting(&self.board, "lag-monitor", shutdown.clone(), move || {
                lag.clone().run(shutdown.clone())
            })
        };
        self.health.set_started();
        tracing::info!(roles = ?options.roles, "signalcraft is running");

        let groups = progress::Groups {
            processors: self.processor_groups.clone(),
            sink: options.roles.sink.then(|| (self.config.sink.group_id.clone(), PostgresSink::topics())),
        };
        let stopped_early = supervise(
            &self.board,
            &mut self.ingestors,
            &mut self.consumers,
            options.exit_when_done,
            &self.kafka,
            &groups,
            &self.shutdown,
        )
        .await;
        self.shutdown.cancel();
        while let Some(result) = self.consumers.join_next().await {
            task_failure(&self.board, result);
        }
        // Its Kafka clients must be gone before an embedded broker stops, or they log its absence.
        if tokio::time::timeout(Duration::from_secs(15), lag_monitor).await.is_err() {
            tracing::warn!("the lag monitor did not stop within 15 s of shutdown");
        }
        if let Err(error) = self.producer.flush(Duration::from_secs(10)) {
            tracing::warn!(%error, "producer did not flush every record before exit");
        }
        if let Some(failure) = stopped_early {
            anyhow::bail!(failure);
        }
        if !options.exit_when_done {
            return Ok(None);
        }
        let summary = progress::summarize(&self.kafka, &self.pool, self.failed_polls.counts()).await;
        Ok(Some(summary.context("summarizing the run")?))
    }
}

/// The consumer group of `processor` (`<group_prefix>-<name>`) and its input topic.
fn processor_group<P: Processor>(processor: &P, group_prefix: &str) -> (String, String) {
    (format!("{group_prefix}-{}", processor.name()), P::Input::TOPIC.name().to_string())
}

/// (consumer group, input topic) of every processor `run` starts, in its order.
pub fn processor_groups(process: &ProcessConfig) -> Vec<(String, String)> {
    let prefix = &process.group_prefix;
    vec![
        processor_group(&FxToKpi, prefix),
        processor_group(&WeatherToKpi::new(process.weather.clone()), prefix),
        processor_group(&BrandToKpi, prefix),
        processor_group(&ObservationToKpi, prefix),
        processor_group(&ScoreArticles::new(), prefix),
        processor_group(&process.sentiment.build(), prefix),
        processor_group(&process.anomaly.build(), prefix),
        processor_group(&process.forecast.build(), prefix),
        processor_group(&process.alerting.build(RuleSet::default()), prefix),
    ]
}

/// Every consumer group `run` starts with `config` (processors, the sink, the webhook
/// deliverer when endpoints are configured) and the topics each reads: what `signalcraft
/// status` measures lag for, whether or not the group is running now.
pub fn consumer_groups(config: &Config) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> =
        processor_groups(&config.process).into_iter().map(|(group, topic)| (group, vec![topic])).collect();
    groups.push((config.sink.group_id.clone(), PostgresSink::topics()));
    if !config.webhooks.endpoints.is_empty() {
        groups.push((config.webhooks.group_id.clone(), vec![WebhookDeliverer::topic().to_string()]));
    }
    groups
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
