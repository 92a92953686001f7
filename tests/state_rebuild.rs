//! Processor state rebuilt after a restart: the process role runs as its own process next to a
//! sink and is stopped twice — once politely (SIGTERM, offsets committed), once killed (SIGKILL)
//! with processed but uncommitted points that the next run reads again — and every anomaly score
//! and forecast in PostgreSQL, for the points of all three runs, equals what an uninterrupted run
//! computes. Also the PostgreSQL history itself: counts, the aligned depth, strictly-before, and
//! completeness from the sink's stored offsets.

mod common;

use std::{collections::HashMap, path::Path, sync::Arc, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};
use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use signalcraft::Config;
use signalcraft_kafka::{EmbeddedBroker, RecordProducer};
use signalcraft_model::{KpiAnomaly, KpiForecast, KpiPoint};
use signalcraft_process::{
    anomaly::DetectAnomalies,
    forecast::ForecastSeries,
    history::{HistoryDepth, StreamPosition},
    HistoryKind, HistoryRequest, Processor, SeriesHistory,
};
use signalcraft_store::PgSeriesHistory;
use tokio::process::Child;

const SERIES: usize = 4;
const POINTS_PER_SERIES: usize = 1_500;
/// Points per series the first run handles before it is stopped with SIGTERM.
const FIRST_RUN: usize = 600;
/// Points per series handled by the end of the second run, killed before it commits them.
const SECOND_RUN: usize = 1_000;

fn origin() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("instant")
}

/// Hourly points of `SERIES` series with a daily cycle, noise and a spike every ~300 hours.
fn series_point(series: usize, i: usize) -> KpiPoint {
    let hour = i as f64;
    let cycle = 10.0 * (std::f64::consts::TAU * hour / 24.0).sin();
    let noise = ((hour * 12.9898 + series as f64 * 78.233).sin() * 43_758.547).fract();
    let spike = if i % 297 == 296 { 30.0 } else { 0.0 };
    KpiPoint {
        series_id: format!("test:rebuild-{series}"),
        tenant_id: Some("acme".into()),
        metric: "load".into(),
        unit: "count".into(),
        ts: origin() + TimeDelta::hours(i as i64),
        value: 100.0 * (series + 1) as f64 + cycle + noise + spike,
        source: "test".into(),
    }
}

/// Points `from..to` of every series, interleaved as they would arrive.
fn points(from: usize, to: usize) -> Vec<KpiPoint> {
    (from..to).flat_map(|i| (0..SERIES).map(move |s| series_point(s, i))).collect()
}

/// The process role's settings, shared by the child and the uninterrupted reference run.
fn process_config() -> Config {
    let mut config = Config::default();
    config.process.forecast.refit_every = 400;
    config.process.forecast.history_cap = 200;
    config
}

/// Starts one role of the binary. Consumers commit offsets once a minute (and on SIGTERM), so
/// a run killed within a minute of starting commits nothing.
fn start_role(role: &str, broker: &str, database_url: &str, config_file: &Path) -> Child {
    let config = process_config();
    let env = [
        ("SIGNALCRAFT_PROCESS__FORECAST__REFIT_EVERY", config.process.forecast.refit_every.to_string()),
        ("SIGNALCRAFT_PROCESS__FORECAST__HISTORY_CAP", config.process.forecast.history_cap.to_string()),
    ];
    common::start_role(role, broker, database_url, config_file, &env)
}

type AnomalyRow = (String, DateTime<Utc>, f64, f64, bool, String);
type ForecastRow = (String, DateTime<Utc>, String, i64, DateTime<Utc>, f64, f64, f64, f64, f64);

async fn anomaly_rows(database: &TestDatabase) -> Vec<AnomalyRow> {
    sqlx::query_as("SELECT series_id, ts, value, score, is_anomaly, detector FROM kpi_anomalies ORDER BY series_id, ts")
        .fetch_all(&database.pool)
        .await
        .expect("anomalies read")
}

/// Every forecast point, its values read as float8 (PostgreSQL parses jsonb numbers exactly).
async fn forecast_rows(database: &TestDatabase) -> Vec<ForecastRow> {
    sqlx::query_as(
        "SELECT f.series_id, f.issued_at, f.model, f.step_seconds, p.ts, p.mean, p.lower_80, p.upper_80, \
                p.lower_95, p.upper_95 \
         FROM kpi_forecasts f, jsonb_to_recordset(f.points) \
              AS p(ts timestamptz, mean float8, lower_80 float8, upper_80 float8, lower_95 float8, upper_95 float8) \
         ORDER BY f.series_id, f.issued_at, p.ts",
    )
    .fetch_all(&database.pool)
    .await
    .expect("forecasts read")
}

/// What a process role that never stopped computes: each series' points in order.
fn uninterrupted(all: &[KpiPoint]) -> (Vec<AnomalyRow>, Vec<ForecastRow>) {
    let config = process_config().process;
    let mut detector = DetectAnomalies::new(config.anomaly.detect_anomalies_config());
    let mut forecaster = ForecastSeries::new(config.forecast.forecast_series_config());
    let mut anomalies: Vec<KpiAnomaly> = Vec::new();
    let mut forecasts: Vec<KpiForecast> = Vec::new();
    for point in all {
        anomalies.extend(detector.process(point.clone()).expect("finite point"));
        forecasts.extend(forecaster.process(point.clone()).expect("finite point"));
    }
    let mut anomaly_rows: Vec<AnomalyRow> =
        anomalies.into_iter().map(|a| (a.series_id, a.ts, a.value, a.score, a.is_anomaly, a.detector)).collect();
    anomaly_rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut forecast_rows: Vec<ForecastRow> = forecasts
        .into_iter()
        .flat_map(|f| {
            f.points.into_iter().map(move |p| {
                let (series_id, model) = (f.series_id.clone(), f.model.clone());
                (
                    series_id,
                    f.issued_at,
                    model,
                    f.step_seconds,
                    p.ts,
                    p.mean,
                    p.lower_80,
                    p.upper_80,
                    p.lower_95,
                    p.upper_95,
                )
            })
        })
        .collect();
    forecast_rows.sort_by(|a, b| (&a.0, a.1, a.4).cmp(&(&b.0, b.1, b.4)));
    (anomaly_rows, forecast_rows)
}

/// Records on `topic` (every partition's high watermark; nothing is deleted in a test).
fn records_on(broker: &EmbeddedBroker, topic: &str) -> i64 {
    let consumer: BaseConsumer = kafka_settings(broker).client_config("test").create().expect("client");
    (0..3)
        .map(|partition| consumer.fetch_watermarks(topic, partition, Duration::from_secs(10)).expect("watermarks").1)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_process_role_rebuilds_its_state_and_emits_what_an_uninterrupted_run_does() {
    let database = TestDatabase::new().await;
    let broker = broker(3);
    let dir = tempfile::tempdir().expect("temp dir");
    let config_file = rare_commits_config(dir.path());
    let producer = RecordProducer::new(&kafka_settings(&broker), "test").expect("producer");
    let all = points(0, POINTS_PER_SERIES);
    let (expected_anomalies, expected_forecasts) = uninterrupted(&all);
    let mut issued: Vec<(String, DateTime<Utc>)> = expected_forecasts.iter().map(|f| (f.0.clone(), f.1)).collect();
    issued.dedup();
    assert_eq!(
        issued.len(),
        SERIES * (5 + 3),
        "forecasts at the 16th, 32nd, 64th, 128th and 256th point of each series (before its first refit), and at \
         the 400th, 800th and 1,200th"
    );
    let count_after = |points_per_series: usize| (points_per_series * SERIES) as i64;
    let sink = start_role("sink", broker.bootstrap_servers(), &database.url, &config_file);
    let scored = |n: i64| {
        let database = &database;
        async move { eventually(Duration::from_secs(180), || async { database.count("kpi_anomalies").await == n }).await }
    };

    // Run 1 scores the first points and stops politely, committing its offsets.
    producer.send_all(&all[..count_after(FIRST_RUN) as usize]).await.expect("produced");
    let process = start_role("process", broker.bootstrap_servers(), &database.url, &config_file);
    assert!(scored(count_after(FIRST_RUN)).await, "run 1 scored its points");
    stop(process).await;

    // Run 2 starts with no state, scores the next points, and is killed before it commits.
    producer.send_all(&all[count_after(FIRST_RUN) as usize..count_after(SECOND_RUN) as usize]).await.expect("produced");
    let mut process = start_role("process", broker.bootstrap_servers(), &database.url, &config_file);
    assert!(scored(count_after(SECOND_RUN)).await, "run 2 scored its points");
    process.start_kill().expect("SIGKILL sent");
    process.wait().await.expect("run 2 is gone");

    // Run 3 reads run 2's points again (their rows are stored already) and the rest.
    producer.send_all(&all[count_after(SECOND_RUN) as usize..]).await.expect("produced");
    let process = start_role("process", broker.bootstrap_servers(), &database.url, &config_file);
    let forecasts = issued.len() as i64;
    let finished = eventually(Duration::from_secs(300), || async {
        database.count("kpi_anomalies").await == all.len() as i64 && database.count("kpi_forecasts").await == forecasts
    })
    .await;
    assert!(
        finished,
        "every point scored and every forecast issued: {} of {} anomalies, {} of {forecasts} forecasts",
        database.count("kpi_anomalies").await,
        all.len(),
        database.count("kpi_forecasts").await
    );
    stop(process).await;
    stop(sink).await;
    let replayed = count_after(SECOND_RUN) - count_after(FIRST_RUN);
    assert_eq!(records_on(&broker, "kpi.anomalies"), all.len() as i64 + replayed, "run 2's points were scored twice");

    // Every row as an uninterrupted run has it: the same scores to the bit, the same forecasts.
    let anomalies = anomaly_rows(&database).await;
    assert_eq!(anomalies.len(), expected_anomalies.len());
    for (got, want) in anomalies.iter().zip(&expected_anomalies) {
        assert_eq!(got, want);
        assert_eq!(got.3.to_bits(), want.3.to_bits(), "score of {} at {}", got.0, got.1);
    }
    let restarted_at = origin() + TimeDelta::hours(FIRST_RUN as i64);
    assert!(
        anomalies.iter().any(|a| a.1 >= restarted_at && a.4),
        "spikes after the first restart are flagged as in the uninterrupted run"
    );
    assert_eq!(forecast_rows(&database).await, expected_forecasts);
    let after_restarts: HashMap<&str, usize> = issued.iter().fold(HashMap::new(), |mut counts, (series, issued_at)| {
        if *issued_at >= restarted_at {
            *counts.entry(series.as_str()).or_default() += 1;
        }
        counts
    });
    assert_eq!(after_restarts.len(), SERIES, "every series was forecast after a restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stored_history_is_counted_aligned_strictly_before_and_checked_against_the_sink() {
    let database = TestDatabase::new().await;
    // 30 hourly points of series a, two of them not finite; the latest has no tenant.
    for i in 0..30i64 {
        let value = match i {
            5 => f64::NAN,
            7 => f64::INFINITY,
            _ => i as f64,
        };
        let tenant = if i == 19 { None } else { Some(format!("t{i}")) };
        ensure_partition(&database.pool, "kpi_points", origin() + TimeDelta::hours(i)).await;
        sqlx::query("INSERT INTO kpi_points VALUES ('a', $1, $2, 'm', 'u', $3, 'test')")
            .bind(origin() + TimeDelta::hours(i))
            .bind(tenant)
            .bind(value)
            .execute(&database.pool)
            .await
            .expect("point stored");
    }
    // The sink has stored partition 1 up to offset 41 on cluster c1; another cluster's offsets
    // and another group's do not count.
    for (group, cluster, partition, next_offset) in
        [("sink", "c1", 1, 41), ("sink", "c1", 2, 3), ("other", "c1", 2, 900), ("sink", "c0", 3, 900)]
    {
        sqlx::query(
            "INSERT INTO sink_offsets (consumer_group, topic, partition, next_offset, cluster_id) \
             VALUES ($1, 'kpi.points', $2, $3, $4)",
        )
        .bind(group)
        .bind(partition)
        .bind(next_offset)
        .bind(cluster)
        .execute(&database.pool)
        .await
        .expect("offset stored");
    }
    let history = Arc::new(PgSeriesHistory::new(database.pool.clone(), "sink", "c1"));
    let at = |partition: i32, offset: i64| Some(StreamPosition { topic: "kpi.points".into(), partition, offset });
    let request = |series: &str, hour: i64, depth: HistoryDepth, position| HistoryRequest {
        series_id: series.into(),
        before: origin() + TimeDelta::hours(hour),
        kind: HistoryKind::Points(depth),
        position,
    };
    let aligned = HistoryDepth { max_points: 16, align_to: 5 };
    let requests = [
        request("a", 20, aligned, at(1, 40)),
        request("a", 20, HistoryDepth::points(100), at(1, 41)),
        request("a", 3, HistoryDepth::points(100), at(1, 42)),
        request("unknown", 20, aligned, at(2, 5)),
        request("unknown", 20, aligned, None),
        request("unknown", 20, aligned, at(3, 5)),
    ];
    let pasts = history.load(&requests).await.expect("history loads");
    assert_eq!(pasts.len(), requests.len());

    // 20 points before hour 20, 18 of them finite; 13 replayed (the most not above 16 that is
    // congruent to 18 modulo 5): hours 6 and 8..=19.
    assert_eq!(pasts[0].points_before, 18);
    assert_eq!(aligned.points_to_replay(18), 13);
    let hours: Vec<i64> = pasts[0].points.iter().map(|p| (p.ts - origin()).num_hours()).collect();
    assert_eq!(hours, [6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    assert!(pasts[0].points.iter().all(|p| p.value == (p.ts - origin()).num_hours() as f64));
    assert_eq!(pasts[0].tenant_id.as_deref(), Some("t18"), "the latest tenant a point has");
    assert!(pasts[0].complete, "the sink has stored offset 40 of partition 1");
    assert_eq!((pasts[1].points.len(), pasts[1].complete), (18, true));
    assert_eq!(pasts[2].points_before, 3, "strictly before hour 3");
    assert!(!pasts[2].complete, "offset 41 of partition 1 is not stored yet");
    assert_eq!((pasts[3].points_before, pasts[3].points.len(), pasts[3].complete), (0, 0, false));
    assert!(pasts[4].complete, "without a position nothing is checked");
    assert!(!pasts[5].complete, "offsets stored for another cluster say nothing about this one");
    assert!(history.load(&[]).await.expect("nothing to load").is_empty());
}
