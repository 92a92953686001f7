//! End-to-end latency: a partner producing `KpiObservation`s onto `raw.kpi` at fixed rates, the
//! process and sink roles as processes of the real binary on a broker process and a durable
//! PostgreSQL, and a poller timing each observation from the moment it is handed to the
//! producer to the moment its row is visible in `kpi_points` and in the `kpi_hourly` read model.
//!
//! Each series is one Kafka key, so its points arrive in order: the newest `ts` visible for a
//! series says every earlier point of it is visible. Points are an hour apart, so each opens its
//! own `kpi_hourly` bucket and the bucket's appearance times the read model. The poller asks
//! both every 10 ms (one index lookup per series); a figure is late by up to one poll.
//!
//! A rate is sustained when every point is visible within 2 s of the last one being produced
//! (past that the backlog grew during the window). After the given rates it searches for the
//! highest sustained one ([`LatencyOptions::search_steps`]). Per role: CPU over the window (% of one
//! core, from /proc utime + stime) and peak RSS. The processors run as in the chaos harness
//! (forecast refit every 250 points, 250 kept).

use std::{
    collections::VecDeque,
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use anyhow::Context;
use chrono::{DateTime, TimeDelta, Utc};
use signalcraft_kafka::{KafkaSettings, RecordProducer};
use signalcraft_model::KpiObservation;
use signalcraft_store::PrivatePostgres;
use sqlx::PgPool;

use super::{
    generator::origin,
    harness::connect,
    processes::{ticks_per_second, usage, BrokerProcess, Pipeline, Role, Usage},
};

/// Series the generator spreads its points over.
const SERIES: usize = 200;
const TENANT: &str = "latency";

/// What to run.
#[derive(Debug, Clone)]
pub struct LatencyOptions {
    pub binary: PathBuf,
    /// Rates to run, events per second, in order.
    pub rates: Vec<u64>,
    /// After `rates`, at most this many more to find the highest rate sustained: half as much
    /// again while sustained, then halving the gap to the lowest that was not.
    pub search_steps: u32,
    /// How long each rate is produced.
    pub window: Duration,
    pub partitions: i32,
    pub work_dir: PathBuf,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    fn of(mut samples: Vec<f64>) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Percentiles { p50: at(0.50), p95: at(0.95), p99: at(0.99), max: at(1.0) }
    }
}

/// One rate's figures.
#[derive(Debug, Clone)]
pub struct RateResult {
    pub rate: u64,
    pub produced: u64,
    pub visible: u64,
    pub points: Percentiles,
    pub hourly: Percentiles,
    /// Events per second from the first produced to the last visible.
    pub throughput: f64,
    /// From the last produced to the last visible.
    pub drain: Duration,
    pub sustained: bool,
    /// CPU over the window, % of one core: process, sink, broker, this harness.
    pub cpu: [f64; 4],
}

/// Every rate's figures and the roles' peak RSS.
#[derive(Debug, Clone)]
pub struct LatencyReport {
    pub results: Vec<RateResult>,
    pub peak_rss_mb: [f64; 3],
}

impl LatencyReport {
    /// The highest rate sustained.
    pub fn highest_sustained(&self) -> Option<&RateResult> {
        self.results.iter().filter(|r| r.sustained).max_by_key(|r| r.rate)
    }
}

impl std::fmt::Display for LatencyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "end-to-end latency, produce → row visible (ms); CPU % of one core over the window")?;
        writeln!(
            f,
            "{:>7} {:>9} {:>9} | {:>7} {:>7} {:>7} {:>7} | {:>7} {:>7} | {:>9} {:>7} {:>9} | {:>7} {:>5} {:>6} {:>5}",
            "rate/s",
            "produced",
            "visible",
            "p50",
            "p95",
            "p99",
            "max",
            "hr p99",
            "hr max",
            "events/s",
            "drain s",
            "sustained",
            "process",
            "sink",
            "broker",
            "gen"
        )?;
        for r in &self.results {
            writeln!(
                f,
                "{:>7} {:>9} {:>9} | {:>7.0} {:>7.0} {:>7.0} {:>7.0} | {:>7.0} {:>7.0} | {:>9.0} {:>7.1} {:>9} | {:>7.0} {:>5.0} {:>6.0} {:>5.0}",
                r.rate,
                r.produced,
                r.visible,
                r.points.p50,
                r.points.p95,
                r.points.p99,
                r.points.max,
                r.hourly.p99,
                r.hourly.max,
                r.throughput,
                r.drain.as_secs_f64(),
                r.sustained,
                r.cpu[0],
                r.cpu[1],
                r.cpu[2],
                r.cpu[3]
            )?;
        }
        writeln!(
            f,
            "peak RSS: process {:.0} MB, sink {:.0} MB, broker {:.0} MB",
            self.peak_rss_mb[0], self.peak_rss_mb[1], self.peak_rss_mb[2]
        )?;
        match self.highest_sustained() {
            Some(r) => write!(f, "highest sustained rate: {} events/s (p99 {:.0} ms)", r.rate, r.points.p99),
            None => write!(f, "no rate was sustained"),
        }
    }
}

fn series_name(s: usize) -> String {
    format!("custom:{TENANT}:sales:store.s{s}")
}

fn ts_of(step: i64) -> DateTime<Utc> {
    origin() + TimeDelta::hours(step)
}

/// Produce instants not yet seen visible, per series, oldest first: (step, produced at).
type Pending = Arc<Mutex<Vec<VecDeque<(i64, Instant)>>>>;

/// The newest point and hourly bucket of one series, as stored.
type LatestSeen = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The newest step visible per series, in `kpi_points` and in `kpi_hourly`.
async fn visible_steps(pool: &PgPool, names: &[String]) -> anyhow::Result<(Vec<i64>, Vec<i64>)> {
    let rows: Vec<LatestSeen> = sqlx::query_as(
        "SELECT (SELECT max(ts) FROM kpi_points p WHERE p.series_id = s), \
                (SELECT max(hour) FROM kpi_hourly h WHERE h.series_id = s) \
         FROM unnest($1::text[]) WITH ORDINALITY AS u(s, n) ORDER BY n",
    )
    .bind(names)
    .fetch_all(pool)
    .await?;
    let step = |at: Option<DateTime<Utc>>| at.map(|at| (at - origin()).num_hours()).unwrap_or(-1);
    Ok(rows.into_iter().map(|(p, h)| (step(p), step(h))).unzip())
}

/// Produces `rate` events per second for `window`, from step `first_step` of every series on.
/// Returns how many and the instant of the last.
async fn produce_window(
    producer: &RecordProducer,
    pending: &Pending,
    rate: u64,
    window: Duration,
    next_steps: &mut [i64],
) -> anyhow::Result<(u64, Instant)> {
    let tick = Duration::from_millis(10);
    let per_tick = (rate as f64 / 100.0).max(1.0);
    let mut ticks = tokio::time::interval(tick);
    let started = Instant::now();
    let (mut produced, mut owed, mut series) = (0u64, 0.0f64, 0usize);
    let mut sends = tokio::task::JoinSet::new();
    let mut last = started;
    while started.elapsed() < window {
        ticks.tick().await;
        owed += per_tick;
        let n = owed.floor() as usize;
        owed -= n as f64;
        let mut batch = Vec::with_capacity(n);
        let now = Instant::now();
        {
            let mut pending = pending.lock().unwrap_or_else(PoisonError::into_inner);
            for _ in 0..n {
                let step = next_steps[series];
                next_steps[series] += 1;
                pending[series].push_back((step, now));
                batch.push(KpiObservation {
                    tenant_id: TENANT.into(),
                    metric: "sales".into(),
                    dimensions: [("store".to_string(), format!("s{series}"))].into(),
                    unit: Some("EUR".into()),
                    ts: ts_of(step),
                    value: 100.0 + (step % 24) as f64,
                    source: "latency".into(),
                    idempotency_key: None,
                });
                series = (series + 1) % SERIES;
            }
        }
        produced += n as u64;
        last = now;
        let producer = producer.clone();
        // Not awaited here: acknowledgements must not slow the rate down.
        sends.spawn(async move { producer.send_all(&batch).await.map(|_| ()) });
        while let Some(done) = sends.try_join_next() {
            done.context("a send task")??;
        }
    }
    while let Some(done) = sends.join_next().await {
        done.context("a send task")??;
    }
    Ok((produced, last))
}

/// Runs the rates (see the module docs).
pub async fn run(options: LatencyOptions) -> anyhow::Result<LatencyReport> {
    std::fs::create_dir_all(&options.work_dir)?;
    let postgres = PrivatePostgres::start(&options.work_dir.join("postgres"), "latency").await?;
    let pool = connect(&postgres.url()).await?;
    let broker = BrokerProcess::start(&options.binary, options.partitions).await?;
    let env =
        [("SIGNALCRAFT_PROCESS__FORECAST__REFIT_EVERY", "250"), ("SIGNALCRAFT_PROCESS__FORECAST__HISTORY_CAP", "250")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let mut pipeline = Pipeline::new(
        "latency",
        &options.binary,
        broker.bootstrap_servers(),
        &postgres.url(),
        env,
        None,
        &options.work_dir,
    );
    pipeline.start_all(&[Role::Process, Role::Sink])?;
    let producer = RecordProducer::new(&KafkaSettings::new(broker.bootstrap_servers()), "latency-generator")?;
    let names: Vec<String> = (0..SERIES).map(series_name).collect();
    let pending: Pending = Arc::new(Mutex::new(vec![VecDeque::new(); SERIES]));
    let mut next_steps = vec![0i64; SERIES];
    let ticks = ticks_per_second() as f64;

    // Warm up: a few points per series, so group joins and first partitions are behind us.
    let (_, _) = produce_window(&producer, &pending, 1_000, Duration::from_secs(2), &mut next_steps).await?;
    let warm = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let (points, _) = visible_steps(&pool, &names).await?;
            if points.iter().zip(&next_steps).all(|(v, n)| *v >= n - 1) {
                return anyhow::Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    warm.context("the pipeline did not warm up within 120 s")??;
    pending.lock().unwrap_or_else(PoisonError::into_inner).iter_mut().for_each(VecDeque::clear);

    let mut results: Vec<RateResult> = Vec::new();
    let mut rates: VecDeque<u64> = options.rates.iter().copied().collect();
    let mut search_left = options.search_steps;
    while let Some(rate) = rates.pop_front() {
        let before = cpu_now(&pipeline, &broker);
        let window_started = Instant::now();
        // The poller runs beside the producer.
        let poll_pending = pending.clone();
        let (poll_pool, poll_names) = (pool.clone(), names.clone());
        let stop = tokio_util::sync::CancellationToken::new();
        let poll_stop = stop.clone();
        let poller = tokio::spawn(async move {
            let (mut points, mut hourly) = (Vec::new(), Vec::new());
            let mut hourly_pending: Vec<VecDeque<(i64, Instant)>> = vec![VecDeque::new(); SERIES];
            let mut last_visible = Instant::now();
            loop {
                let (visible, visible_hourly) = visible_steps(&poll_pool, &poll_names).await?;
                let now = Instant::now();
                let mut outstanding = 0;
                {
                    let mut pending = poll_pending.lock().unwrap_or_else(PoisonError::into_inner);
                    for (s, queue) in pending.iter_mut().enumerate() {
                        while queue.front().is_some_and(|(step, _)| *step <= visible[s]) {
                            if let Some((step, at)) = queue.pop_front() {
                                points.push(now.duration_since(at).as_secs_f64() * 1e3);
                                hourly_pending[s].push_back((step, at));
                                last_visible = now;
                            }
                        }
                        outstanding += queue.len();
                    }
                }
                for (s, queue) in hourly_pending.iter_mut().enumerate() {
                    while queue.front().is_some_and(|(step, _)| *step <= visible_hourly[s]) {
                        if let Some((_, at)) = queue.pop_front() {
                            hourly.push(now.duration_since(at).as_secs_f64() * 1e3);
                        }
                    }
                }
                if poll_stop.is_cancelled() && outstanding == 0 && hourly_pending.iter().all(VecDeque::is_empty) {
                    return anyhow::Ok((points, hourly, last_visible));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        let (produced, last_produced) =
            produce_window(&producer, &pending, rate, options.window, &mut next_steps).await?;
        stop.cancel();
        // A rate far beyond what the pipeline takes may never drain in reasonable time.
        let drained = tokio::time::timeout(Duration::from_secs(120), poller).await;
        let after = cpu_now(&pipeline, &broker);
        let elapsed = window_started.elapsed().as_secs_f64();
        let cpu = std::array::from_fn(|i| (after[i].saturating_sub(before[i])) as f64 / ticks / elapsed * 100.0);
        let (points, hourly, last_visible) = match drained {
            Ok(done) => done.context("the poller")??,
            Err(_) => {
                anyhow::bail!("rate {rate}/s: points still not visible 120 s after the window; stopping the bench")
            }
        };
        let drain = last_visible.saturating_duration_since(last_produced);
        let visible = points.len() as u64;
        let result = RateResult {
            rate,
            produced,
            visible,
            points: Percentiles::of(points),
            hourly: Percentiles::of(hourly),
            throughput: visible as f64 / last_visible.duration_since(window_started).as_secs_f64().max(1e-9),
            drain,
            sustained: drain <= Duration::from_secs(2),
            cpu,
        };
        tracing::info!(rate, p99 = result.points.p99, sustained = result.sustained, "rate measured");
        results.push(result);
        if rates.is_empty() && search_left > 0 {
            if let Some(next) = next_rate(&results) {
                search_left -= 1;
                rates.push_back(next);
            }
        }
        // Let the forecaster and the anomaly detector finish what the window left them.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    pipeline.sample();
    let records = pipeline.records();
    let rss = |role| records.get(&role).map(|r| r.peak_rss_kb as f64 / 1024.0).unwrap_or(0.0);
    let broker_rss = broker.usage().map(|u| u.peak_rss_kb as f64 / 1024.0).unwrap_or(0.0);
    let report = LatencyReport { results, peak_rss_mb: [rss(Role::Process), rss(Role::Sink), broker_rss] };
    pipeline.stop_all().await;
    broker.stop().await;
    pool.close().await;
    drop(postgres);
    Ok(report)
}

/// The next rate to try after `results`: half as much again above the highest sustained while
/// none above it failed, else halfway between it and the lowest that failed (half the lowest
/// tried when none was sustained); none once they are within 10% of each other.
fn next_rate(results: &[RateResult]) -> Option<u64> {
    let sustained = results.iter().filter(|r| r.sustained).map(|r| r.rate).max();
    let failed = results.iter().filter(|r| !r.sustained && sustained.is_none_or(|s| r.rate > s)).map(|r| r.rate).min();
    match (sustained, failed) {
        (Some(low), None) => Some(low + low / 2),
        (Some(low), Some(high)) => (high > low + low / 10).then(|| (low + high) / 2),
        (None, Some(high)) => (high > 100).then_some(high / 2),
        (None, None) => None,
    }
}

/// CPU ticks so far: process role, sink role, broker, this process.
fn cpu_now(pipeline: &Pipeline, broker: &BrokerProcess) -> [u64; 4] {
    let of = |reading: Option<Usage>| reading.map(|u| u.cpu_ticks).unwrap_or(0);
    [
        of(pipeline.pid(Role::Process).and_then(usage)),
        of(pipeline.pid(Role::Sink).and_then(usage)),
        of(broker.usage()),
        of(usage(std::process::id())),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(rate: u64, sustained: bool) -> RateResult {
        RateResult {
            rate,
            produced: 0,
            visible: 0,
            points: Percentiles::default(),
            hourly: Percentiles::default(),
            throughput: 0.0,
            drain: Duration::ZERO,
            sustained,
            cpu: [0.0; 4],
        }
    }

    #[test]
    fn the_search_raises_while_sustained_then_halves_the_gap() {
        assert_eq!(next_rate(&[result(1_000, true), result(10_000, true)]), Some(15_000));
        assert_eq!(next_rate(&[result(1_000, true), result(10_000, false)]), Some(5_500));
        assert_eq!(next_rate(&[result(5_000, true), result(5_400, false)]), None, "within 10%");
        assert_eq!(next_rate(&[result(1_000, false)]), Some(500));
    }

    #[test]
    fn percentiles_are_read_from_the_sorted_samples() {
        let p = Percentiles::of((1..=100).rev().map(f64::from).collect());
        assert_eq!((p.p50, p.p95, p.p99, p.max), (51.0, 95.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(Vec::new()).max, 0.0);
    }
}
