//! One chaos run. Two pipelines are fed the same generated events at the same paced rate, each
//! on its own broker process and PostgreSQL cluster, each with the ingest (replaying
//! `tests/fixtures/replay`), process and sink roles as processes of the real binary:
//!
//! - the reference runs uninterrupted (a throwaway cluster, fsync off);
//! - the chaos pipeline (a durable cluster) has its roles SIGKILLed at seeded random points and
//!   started again, and its PostgreSQL stopped with `pg_ctl -m immediate` and started again,
//!   while the events flow. A role that exits on its own is counted and started again.
//!
//! Once both have settled (every processor group and the sink past the end of its topics, the
//! topics no longer growing), the chaos database is held to the generated events, to its own
//! rollups and, table by table, to the reference ([`super::checks`]).
//!
//! The processors run with `process.forecast.refit_every` and `history_cap` set by
//! [`ChaosOptions`] (both 250 for `signalcraft chaos run`: forecasts of hourly
//! series carry 720 points, and at the default of 24 the forecasts would outweigh everything
//! else) and `process.warmup.sink_wait_ms = 60000`, so that a processor restarted while the
//! sink is down or catching up waits for the history it rebuilds from rather than going on
//! with an incomplete one (which the README documents as approximate).

use std::{
    collections::BTreeMap,
    fmt,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::Context;
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    Offset, TopicPartitionList,
};
use signalcraft_kafka::{KafkaSettings, RecordProducer};
use signalcraft_model::{Record, Topic};
use signalcraft_sink::PostgresSink;
use signalcraft_store::PrivatePostgres;
use sqlx::{postgres::PgPoolOptions, PgPool};

use super::{
    checks::{self, GeneratedRows, TableComparison},
    generator::{unit, Chunk, Generator},
    processes::{ticks_per_second, BrokerProcess, Pipeline, Role, RoleRecord, Usage},
};

/// What to run.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// The signalcraft binary the roles and brokers run as.
    pub binary: PathBuf,
    /// What the ingest role replays (`tests/fixtures/replay`); `None`: no ingest role.
    pub replay: Option<PathBuf>,
    /// Generated events (rounded up to a multiple of 20).
    pub events: u64,
    pub seed: u64,
    /// SIGKILLs of each role.
    pub kills_per_role: u32,
    /// `pg_ctl -m immediate` stops (and starts) of the chaos pipeline's PostgreSQL.
    pub postgres_restarts: u32,
    /// Events produced per second (both pipelines get each).
    pub rate: u64,
    /// Partitions per topic.
    pub partitions: i32,
    /// `process.forecast.refit_every` of both pipelines' process roles.
    pub forecast_refit_every: usize,
    /// `process.forecast.history_cap` of both pipelines' process roles.
    pub forecast_history_cap: usize,
    /// How long both pipelines may take to settle once the events are in and the kills done.
    pub settle_timeout: Duration,
    /// Where the role logs and the chaos cluster go.
    pub work_dir: PathBuf,
}

/// Every figure of a run, and every defect found.
#[derive(Debug, Clone)]
pub struct ChaosReport {
    pub seed: u64,
    pub events: u64,
    pub events_per_topic: Vec<(&'static str, u64)>,
    /// What the harness did when, in order.
    pub actions: Vec<String>,
    pub postgres_restarts: u32,
    pub roles: BTreeMap<Role, RoleRecord>,
    pub reference_roles: BTreeMap<Role, RoleRecord>,
    pub broker: Usage,
    pub rows: Vec<(&'static str, i64)>,
    pub reference_rows: Vec<(&'static str, i64)>,
    pub generated: Vec<GeneratedRows>,
    pub reference_generated: Vec<GeneratedRows>,
    pub duplicates: Vec<(&'static str, i64)>,
    pub rollups: Vec<(&'static str, i64)>,
    pub reference_rollups: Vec<(&'static str, i64)>,
    pub comparisons: Vec<TableComparison>,
    /// Whether both pipelines settled before the timeout.
    pub settled: bool,
    pub wall: Duration,
    pub ticks_per_second: u64,
}

impl ChaosReport {
    /// Rows lost: generated rows absent, and rows the uninterrupted run has that this one lacks.
    pub fn lost(&self) -> i64 {
        self.generated.iter().map(GeneratedRows::lost).sum::<i64>()
            + self.comparisons.iter().map(|c| c.missing).sum::<i64>()
    }

    /// Natural keys held twice.
    pub fn duplicated(&self) -> i64 {
        self.duplicates.iter().map(|(_, n)| n).sum()
    }

    /// Rows with other contents than they must have: values unlike the events', rollups unlike
    /// their `GROUP BY`, rows unlike (or absent from) the uninterrupted run's.
    pub fn mismatches(&self) -> i64 {
        self.generated.iter().map(|g| g.wrong_values).sum::<i64>()
            + self.rollups.iter().map(|(_, n)| n).sum::<i64>()
            + self.comparisons.iter().map(|c| c.differing + c.extra).sum::<i64>()
    }

    /// The reference's own defects: it must hold the generated rows and its rollups too, or the
    /// comparison means nothing.
    pub fn reference_defects(&self) -> i64 {
        self.reference_generated.iter().map(|g| g.lost() + g.wrong_values).sum::<i64>()
            + self.reference_rollups.iter().map(|(_, n)| n).sum::<i64>()
    }

    pub fn kills(&self, role: Role) -> u32 {
        self.roles.get(&role).map(|r| r.kills).unwrap_or(0)
    }
}

fn megabytes(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

impl fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "chaos run, seed {}", self.seed)?;
        writeln!(f, "  events in: {}", self.events)?;
        for (topic, n) in &self.events_per_topic {
            writeln!(f, "    {topic:<22} {n:>10}")?;
        }
        writeln!(f, "  actions ({}):", self.actions.len())?;
        for action in &self.actions {
            writeln!(f, "    {action}")?;
        }
        writeln!(f, "  roles (chaos pipeline):          kills  exits  starts  peak RSS MB  CPU s  clean stop")?;
        let secs = |ticks: u64| ticks as f64 / self.ticks_per_second.max(1) as f64;
        for (role, r) in &self.roles {
            writeln!(
                f,
                "    {role:<30} {:>5}  {:>5}  {:>6}  {:>11.1}  {:>5.1}  {}",
                r.kills,
                r.unplanned_exits,
                r.starts,
                megabytes(r.peak_rss_kb),
                secs(r.cpu_ticks),
                r.clean_stop
            )?;
        }
        for (role, r) in &self.reference_roles {
            writeln!(
                f,
                "    reference {role:<20} {:>5}  {:>5}  {:>6}  {:>11.1}  {:>5.1}  {}",
                r.kills,
                r.unplanned_exits,
                r.starts,
                megabytes(r.peak_rss_kb),
                secs(r.cpu_ticks),
                r.clean_stop
            )?;
        }
        writeln!(
            f,
            "    broker (chaos)                    peak RSS {:.1} MB, CPU {:.1} s",
            megabytes(self.broker.peak_rss_kb),
            secs(self.broker.cpu_ticks)
        )?;
        writeln!(f, "  PostgreSQL restarts (pg_ctl -m immediate): {}", self.postgres_restarts)?;
        writeln!(f, "  rows per table:             chaos   reference")?;
        let reference = checks::by_table(&self.reference_rows);
        for (table, n) in &self.rows {
            writeln!(f, "    {table:<22} {n:>10}  {:>10}", reference.get(table).copied().unwrap_or(0))?;
        }
        writeln!(f, "  generated rows (chaos):   expected      found  lost  wrong values")?;
        for g in &self.generated {
            writeln!(
                f,
                "    {:<22} {:>10} {:>10} {:>5} {:>13}",
                g.table,
                g.expected,
                g.found,
                g.lost(),
                g.wrong_values
            )?;
        }
        writeln!(f, "  duplicates:")?;
        for (check, n) in &self.duplicates {
            writeln!(f, "    {check:<48} {n}")?;
        }
        writeln!(f, "  rollups unlike their GROUP BY (chaos / reference):")?;
        for ((model, n), (_, m)) in self.rollups.iter().zip(&self.reference_rollups) {
            writeln!(f, "    {model:<22} {n} / {m}")?;
        }
        writeln!(f, "  against the uninterrupted run (scores, forecasts, alerts of the replayed fx:USD:* left out):")?;
        writeln!(f, "                                  rows  missing  extra  differing")?;
        for c in &self.comparisons {
            writeln!(f, "    {:<22} {:>10} {:>8} {:>6} {:>10}", c.table, c.rows, c.missing, c.extra, c.differing)?;
            if let Some(example) = &c.example {
                writeln!(f, "      first: {example}")?;
            }
        }
        writeln!(
            f,
            "  kills: ingest {}, process {}, sink {}",
            self.kills(Role::Ingest),
            self.kills(Role::Process),
            self.kills(Role::Sink)
        )?;
        writeln!(f, "  settled: {}", self.settled)?;
        writeln!(f, "  lost: {}", self.lost())?;
        writeln!(f, "  duplicated: {}", self.duplicated())?;
        writeln!(f, "  mismatches: {}", self.mismatches())?;
        writeln!(f, "  reference defects: {}", self.reference_defects())?;
        write!(f, "  wall time: {:.1} s", self.wall.as_secs_f64())
    }
}

/// The consumer groups `run --role process` starts (at the default group prefix) with their
/// input topics: settled means each is past the end of its input.
const PROCESSOR_GROUPS: [(&str, Topic); 9] = [
    ("signalcraft-process-kpi-fx", Topic::RawFx),
    ("signalcraft-process-kpi-weather", Topic::RawWeather),
    ("signalcraft-process-kpi-brand", Topic::RawBrandMetrics),
    ("signalcraft-process-kpi-custom", Topic::RawKpi),
    ("signalcraft-process-sentiment", Topic::RawNews),
    ("signalcraft-process-kpi-sentiment", Topic::NewsScored),
    ("signalcraft-process-anomaly", Topic::KpiPoints),
    ("signalcraft-process-forecast", Topic::KpiPoints),
    ("signalcraft-process-alerting", Topic::KpiAnomalies),
];

/// The sink's consumer group (its default), whose offsets PostgreSQL stores.
const SINK_GROUP: &str = "signalcraft-sink";

/// The `SIGNALCRAFT_*` settings both pipelines' roles run with (see the module docs).
fn role_env(options: &ChaosOptions) -> Vec<(String, String)> {
    let (refit, cap) = (options.forecast_refit_every.to_string(), options.forecast_history_cap.to_string());
    [
        ("SIGNALCRAFT_PROCESS__FORECAST__REFIT_EVERY", refit.as_str()),
        ("SIGNALCRAFT_PROCESS__FORECAST__HISTORY_CAP", cap.as_str()),
        ("SIGNALCRAFT_PROCESS__WARMUP__SINK_WAIT_MS", "60000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A pool on `url`, after migrating it (the roles do too; this makes the tables exist before
/// the harness first reads them).
pub async fn connect(url: &str) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(60))
        .connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    signalcraft_store::migrate(&pool).await.context("migrating")?;
    Ok(pool)
}

/// A broker and what reads its positions.
struct Positions {
    consumer: BaseConsumer,
    kafka: KafkaSettings,
    partitions: i32,
}

impl Positions {
    fn new(bootstrap: &str, partitions: i32) -> anyhow::Result<Positions> {
        let kafka = KafkaSettings::new(bootstrap);
        let consumer: BaseConsumer = kafka.client_config("chaos-positions").create()?;
        Ok(Positions { consumer, kafka, partitions })
    }

    /// High watermark of every partition of `topic`.
    fn ends(&self, topic: &str) -> anyhow::Result<Vec<i64>> {
        (0..self.partitions).map(|p| Ok(self.consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?.1)).collect()
    }

    /// Records on every topic together: it stops growing once the pipeline is quiet.
    fn total(&self) -> anyhow::Result<i64> {
        let mut total = 0;
        for topic in Topic::ALL {
            total += self.ends(topic.name())?.iter().sum::<i64>();
        }
        Ok(total)
    }

    /// Whether `group` has committed past the end of `topic`.
    fn group_done(&self, group: &str, topic: &str) -> anyhow::Result<bool> {
        let mut config = self.kafka.client_config("chaos-positions");
        config.set("group.id", group).set("enable.auto.commit", "false");
        let consumer: BaseConsumer = config.create()?;
        let ends = self.ends(topic)?;
        let mut list = TopicPartitionList::new();
        for p in 0..self.partitions {
            list.add_partition(topic, p);
        }
        let committed = consumer.committed_offsets(list, Duration::from_secs(10))?;
        Ok(ends.iter().enumerate().all(|(p, &end)| {
            let at = match committed.find_partition(topic, p as i32).map(|e| e.offset()) {
                Some(Offset::Offset(offset)) => offset,
                _ => 0,
            };
            end == 0 || at >= end
        }))
    }

    /// The groups not past the end of their topics, for the report of a run that did not settle.
    async fn behind(&self, pool: &PgPool) -> anyhow::Result<Vec<String>> {
        let mut behind = Vec::new();
        for (group, topic) in PROCESSOR_GROUPS {
            if !self.group_done(group, topic.name())? {
                behind.push(format!("{group} on {topic}"));
            }
        }
        for topic in PostgresSink::topics() {
            if !self.sink_done(pool, &topic).await? {
                behind.push(format!("{SINK_GROUP} on {topic}"));
            }
        }
        Ok(behind)
    }

    /// Whether the sink's offsets stored in PostgreSQL are past the end of `topic`.
    async fn sink_done(&self, pool: &PgPool, topic: &str) -> anyhow::Result<bool> {
        let stored: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(next_offset), 0)::bigint FROM sink_offsets WHERE consumer_group = $1 AND topic = $2",
        )
        .bind(SINK_GROUP)
        .bind(topic)
        .fetch_one(pool)
        .await?;
        Ok(stored >= self.ends(topic)?.iter().sum::<i64>())
    }

    /// Whether every processor group and the sink (offsets in PostgreSQL) are past the end of
    /// their topics.
    async fn drained(&self, pool: &PgPool) -> anyhow::Result<bool> {
        for (group, topic) in PROCESSOR_GROUPS {
            if !self.group_done(group, topic.name())? {
                return Ok(false);
            }
        }
        for topic in PostgresSink::topics() {
            if !self.sink_done(pool, &topic).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// A kill-schedule step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Kill(Role),
    RestartPostgres,
}

/// The actions, in a seeded order, each with the wait before it.
fn schedule(options: &ChaosOptions, roles: &[Role]) -> Vec<(Duration, Action)> {
    let mut actions: Vec<Action> = Vec::new();
    for _ in 0..options.kills_per_role {
        actions.extend(roles.iter().map(|&role| Action::Kill(role)));
    }
    actions.extend((0..options.postgres_restarts).map(|_| Action::RestartPostgres));
    // Fisher–Yates with the run's seed.
    for i in (1..actions.len()).rev() {
        let j = (unit(options.seed, 11, i as u64) * (i + 1) as f64) as usize;
        actions.swap(i, j.min(i));
    }
    // Spread over the time the events take to produce, each wait 0.5–1.5× the mean.
    let producing = options.events as f64 / options.rate.max(1) as f64;
    let mean = producing / (actions.len() + 1) as f64;
    actions
        .into_iter()
        .enumerate()
        .map(|(i, action)| (Duration::from_secs_f64(mean * (0.5 + unit(options.seed, 12, i as u64))), action))
        .collect()
}

/// Sends `records` (if any) and waits for the broker's acknowledgement.
async fn send_some<R: Record>(producer: &RecordProducer, records: &[R]) -> anyhow::Result<()> {
    if !records.is_empty() {
        producer.send_all(records).await?;
    }
    Ok(())
}

/// Sends `chunk` to `producer`, every topic at once.
async fn send(producer: &RecordProducer, chunk: &Chunk) -> anyhow::Result<()> {
    futures::try_join!(
        send_some(producer, &chunk.kpi),
        send_some(producer, &chunk.fx),
        send_some(producer, &chunk.weather),
        send_some(producer, &chunk.brand),
        send_some(producer, &chunk.news),
    )?;
    Ok(())
}

/// Produces every event to each of `brokers`, `rate` per second in tenths of a second; each
/// tenth is sent to every broker and topic at once, so acknowledgements do not slow the rate.
async fn produce(generator: Generator, brokers: Vec<String>, rate: u64) -> anyhow::Result<()> {
    let producers = brokers
        .iter()
        .map(|b| RecordProducer::new(&KafkaSettings::new(b.as_str()), "chaos-generator"))
        .collect::<Result<Vec<_>, _>>()?;
    let per_tick = (rate / 10).max(1);
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    let mut next = 0;
    while next < generator.events {
        ticks.tick().await;
        let chunk = generator.chunk(next, next + per_tick);
        futures::future::try_join_all(producers.iter().map(|producer| send(producer, &chunk))).await?;
        next += per_tick;
    }
    for producer in &producers {
        producer.flush(Duration::from_secs(30))?;
    }
    Ok(())
}

/// Restarts roles that exited on their own, in both pipelines.
fn supervise(pipelines: &mut [&mut Pipeline]) -> anyhow::Result<()> {
    for pipeline in pipelines.iter_mut() {
        pipeline.restart_exited()?;
    }
    Ok(())
}

/// Waits `wait`, restarting roles that exit meanwhile.
async fn wait_supervising(wait: Duration, pipelines: &mut [&mut Pipeline]) -> anyhow::Result<()> {
    let until = Instant::now() + wait;
    loop {
        supervise(pipelines)?;
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        tokio::time::sleep(left.min(Duration::from_millis(250))).await;
    }
}

/// One chaos run (see the module docs).
pub async fn run(options: ChaosOptions) -> anyhow::Result<ChaosReport> {
    let started = Instant::now();
    let generator = Generator::new(options.seed, options.events);
    std::fs::create_dir_all(&options.work_dir).with_context(|| format!("creating {}", options.work_dir.display()))?;
    let chaos_postgres = PrivatePostgres::start(&options.work_dir.join("postgres"), "chaos").await?;
    let reference_postgres = PrivatePostgres::start_temporary("reference").await?;
    let pool = connect(&chaos_postgres.url()).await?;
    let reference_pool = connect(&reference_postgres.url()).await?;
    let chaos_broker = BrokerProcess::start(&options.binary, options.partitions).await?;
    let reference_broker = BrokerProcess::start(&options.binary, options.partitions).await?;

    let roles: Vec<Role> = if options.replay.is_some() { Role::ALL.to_vec() } else { vec![Role::Process, Role::Sink] };
    let mut chaos = Pipeline::new(
        "chaos",
        &options.binary,
        chaos_broker.bootstrap_servers(),
        &chaos_postgres.url(),
        role_env(&options),
        options.replay.clone(),
        &options.work_dir,
    );
    let mut reference = Pipeline::new(
        "reference",
        &options.binary,
        reference_broker.bootstrap_servers(),
        &reference_postgres.url(),
        role_env(&options),
        options.replay.clone(),
        &options.work_dir,
    );
    chaos.start_all(&roles)?;
    reference.start_all(&roles)?;

    let producing = tokio::spawn(produce(
        generator,
        vec![chaos_broker.bootstrap_servers().to_string(), reference_broker.bootstrap_servers().to_string()],
        options.rate,
    ));

    let mut actions = Vec::new();
    let mut postgres_restarts = 0;
    let mut broker_usage = Usage::default();
    for (wait, action) in schedule(&options, &roles) {
        wait_supervising(wait, &mut [&mut chaos, &mut reference]).await?;
        if let Some(reading) = chaos_broker.usage() {
            broker_usage = reading;
        }
        let at = started.elapsed().as_secs_f64();
        match action {
            Action::Kill(role) => {
                let pid = chaos.pid(role).unwrap_or(0);
                chaos.kill(role).await?;
                actions.push(format!("{at:>7.1} s  SIGKILL {role} (pid {pid})"));
                // Down for a seeded moment, as a crashed pod would be.
                let down = Duration::from_secs_f64(unit(options.seed, 13, actions.len() as u64));
                wait_supervising(down, &mut [&mut chaos, &mut reference]).await?;
                chaos.start(role)?;
            }
            Action::RestartPostgres => {
                chaos_postgres.stop().context("pg_ctl stop -m immediate")?;
                actions.push(format!("{at:>7.1} s  pg_ctl stop -m immediate; start again after 3 s"));
                wait_supervising(Duration::from_secs(3), &mut [&mut chaos, &mut reference]).await?;
                chaos_postgres.restart().context("starting PostgreSQL again")?;
                postgres_restarts += 1;
            }
        }
    }
    // The generator is the partner: it is never killed, and all it sends must arrive.
    while !producing.is_finished() {
        wait_supervising(Duration::from_millis(500), &mut [&mut chaos, &mut reference]).await?;
    }
    producing.await.context("the generator task")??;
    actions.push(format!("{:>7.1} s  every event produced", started.elapsed().as_secs_f64()));

    // Settling: both pipelines drained and quiet for 5 s.
    let deadline = Instant::now() + options.settle_timeout;
    let chaos_positions = Positions::new(chaos_broker.bootstrap_servers(), options.partitions)?;
    let reference_positions = Positions::new(reference_broker.bootstrap_servers(), options.partitions)?;
    let mut settled = false;
    let mut quiet_since: Option<(Instant, i64, i64)> = None;
    while Instant::now() < deadline {
        wait_supervising(Duration::from_secs(1), &mut [&mut chaos, &mut reference]).await?;
        if let Some(reading) = chaos_broker.usage() {
            broker_usage = reading;
        }
        let totals = (chaos_positions.total()?, reference_positions.total()?);
        let drained = chaos_positions.drained(&pool).await.unwrap_or(false)
            && reference_positions.drained(&reference_pool).await.unwrap_or(false);
        match quiet_since {
            Some((since, a, b)) if drained && (a, b) == totals => {
                if since.elapsed() >= Duration::from_secs(5) {
                    settled = true;
                    break;
                }
            }
            _ => quiet_since = drained.then(|| (Instant::now(), totals.0, totals.1)),
        }
    }
    actions.push(format!("{:>7.1} s  settled: {settled}", started.elapsed().as_secs_f64()));
    if !settled {
        for (name, positions, pool) in
            [("chaos", &chaos_positions, &pool), ("reference", &reference_positions, &reference_pool)]
        {
            for behind in positions.behind(pool).await.unwrap_or_default() {
                actions.push(format!("          {name}: {behind} not drained"));
            }
        }
    }
    chaos.stop_all().await;
    reference.stop_all().await;
    chaos_broker.stop().await;
    reference_broker.stop().await;

    let report = ChaosReport {
        seed: options.seed,
        events: generator.events,
        events_per_topic: generator.per_topic(),
        actions,
        postgres_restarts,
        roles: chaos.records(),
        reference_roles: reference.records(),
        broker: broker_usage,
        rows: checks::row_counts(&pool).await?,
        reference_rows: checks::row_counts(&reference_pool).await?,
        generated: checks::generated_rows(&pool, &generator).await?,
        reference_generated: checks::generated_rows(&reference_pool, &generator).await?,
        duplicates: checks::duplicates(&pool).await?,
        rollups: checks::rollup_mismatches(&pool).await?,
        reference_rollups: checks::rollup_mismatches(&reference_pool).await?,
        comparisons: checks::compare_with_reference(&pool, &reference_pool).await?,
        settled,
        wall: started.elapsed(),
        ticks_per_second: ticks_per_second(),
    };
    pool.close().await;
    reference_pool.close().await;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_kills_each_role_as_often_as_asked_in_a_seeded_order() {
        let options = ChaosOptions {
            binary: PathBuf::new(),
            replay: None,
            events: 20_000,
            seed: 5,
            kills_per_role: 3,
            postgres_restarts: 1,
            rate: 1_000,
            partitions: 3,
            forecast_refit_every: 250,
            forecast_history_cap: 250,
            settle_timeout: Duration::from_secs(1),
            work_dir: PathBuf::new(),
        };
        let plan = schedule(&options, &Role::ALL);
        assert_eq!(plan.len(), 10);
        for role in Role::ALL {
            assert_eq!(plan.iter().filter(|(_, a)| *a == Action::Kill(role)).count(), 3);
        }
        assert_eq!(plan.iter().filter(|(_, a)| *a == Action::RestartPostgres).count(), 1);
        assert_eq!(plan, schedule(&options, &Role::ALL), "the same seed, the same schedule");
        let total: f64 = plan.iter().map(|(wait, _)| wait.as_secs_f64()).sum();
        assert!(total > 5.0 && total < 30.0, "spread over the 20 s of producing: {total}");
    }
}
