//! Effectively-once under a crash: the sink runs as its own process and is killed (SIGKILL,
//! no goodbye) in the middle of the stream, then started again. Every record ends up in
//! PostgreSQL exactly once and the stored offsets equal the number of records consumed. The
//! second run ends with SIGTERM, which must drain and exit cleanly. Then two sinks share the
//! group, one is killed, and the survivor takes its partitions over. Each case runs on
//! librdkafka's mock cluster and on tansu, a broker written by other people than our client.

mod common;

use std::{process::Stdio, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};
use common::*;
use signalcraft_kafka::RecordProducer;
use signalcraft_model::KpiPoint;
use tokio::process::{Child, Command};

const SERIES: usize = 50;

fn points(from: usize, count: usize) -> Vec<KpiPoint> {
    let origin = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("instant");
    (from..from + count)
        .map(|i| KpiPoint {
            series_id: format!("test:series-{}", i % SERIES),
            tenant_id: Some("acme".into()),
            metric: "load".into(),
            unit: "count".into(),
            ts: origin + TimeDelta::minutes((i / SERIES) as i64),
            value: i as f64,
            source: "test".into(),
        })
        .collect()
}

fn start_sink(broker: &str, database_url: &str, session_timeout_ms: u32) -> Child {
    start_sink_logging_to(broker, database_url, session_timeout_ms, None)
}

/// A sink; with `log`, its log (its consumer's assignments among it) goes to that file.
fn start_sink_logging_to(
    broker: &str,
    database_url: &str,
    session_timeout_ms: u32,
    log: Option<&std::path::Path>,
) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_signalcraft"));
    command
        .args(["run", "--role", "sink"])
        .env("SIGNALCRAFT_KAFKA__BROKERS", broker)
        .env("SIGNALCRAFT_KAFKA__SESSION_TIMEOUT_MS", session_timeout_ms.to_string())
        .env("SIGNALCRAFT_SINK__BATCH_MAX_ROWS", "500")
        .env("SIGNALCRAFT_HTTP__LISTEN", "127.0.0.1:0")
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true);
    if let Some(log) = log {
        command
            .env("RUST_LOG", "warn,signalcraft_kafka=info")
            .env("NO_COLOR", "1")
            .stderr(std::fs::File::create(log).expect("a log file"));
    }
    command.spawn().expect("the signalcraft binary starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sink_restarts_where_postgres_says_and_writes_every_row_once() {
    let broker = broker(3);
    kill_and_restart_the_sink(broker.bootstrap_servers(), 3_000).await;
}

/// The same through tansu, a second Kafka-protocol broker of its own process, written by other
/// people than our client: the group's rebalance after the kill, the committed offsets and the
/// seek to PostgreSQL's offsets must hold there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sink_writes_every_row_once_through_a_second_broker_too() {
    let tansu = common::tansu::Tansu::start(3).await;
    // Tansu makes each group join wait about half the session timeout.
    kill_and_restart_the_sink(tansu.bootstrap_servers(), 6_000).await;
}

/// Produces, starts the sink, SIGKILLs it mid-stream, produces more, restarts it, stops it with
/// SIGTERM, and checks every row landed once with its offsets.
async fn kill_and_restart_the_sink(bootstrap: &str, session_timeout_ms: u32) {
    let database = TestDatabase::new().await;
    let producer = RecordProducer::new(&signalcraft_kafka::KafkaSettings::new(bootstrap), "test").expect("producer");
    let first_half = 60_000;
    for chunk in points(0, first_half).chunks(10_000) {
        producer.send_all(chunk).await.expect("first half produced");
    }

    let mut sink = start_sink(bootstrap, &database.url, session_timeout_ms);
    let started = eventually(Duration::from_secs(60), || async { database.count("kpi_points").await > 0 }).await;
    assert!(started, "the sink began writing");
    sink.start_kill().expect("SIGKILL sent");
    sink.wait().await.expect("the sink is gone");
    let at_kill = database.count("kpi_points").await;
    assert!(at_kill > 0 && at_kill < first_half as i64, "killed mid-stream: {at_kill} of {first_half} rows written");
    // Rows and offsets committed together: the stored offsets count exactly the rows written.
    let stored: i64 = sqlx::query_scalar("SELECT coalesce(sum(next_offset), 0)::bigint FROM sink_offsets")
        .fetch_one(&database.pool)
        .await
        .expect("offsets");
    assert_eq!(stored, at_kill, "offsets and rows are committed in one transaction");

    // The stream goes on while the sink is down, then the sink comes back.
    let second_half = 40_000;
    for chunk in points(first_half, second_half).chunks(10_000) {
        producer.send_all(chunk).await.expect("second half produced");
    }
    let mut sink = start_sink(bootstrap, &database.url, session_timeout_ms);
    let total = (first_half + second_half) as i64;
    let finished = eventually(Duration::from_secs(120), || async { database.count("kpi_points").await == total }).await;
    assert!(finished, "every row arrived after the restart");
    // A polite stop this time: SIGTERM drains, commits and exits cleanly.
    let pid = sink.id().expect("the sink is running").to_string();
    let signalled = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
    assert!(signalled.success());
    let status = tokio::time::timeout(Duration::from_secs(30), sink.wait())
        .await
        .expect("the sink stops within 30 s of SIGTERM")
        .expect("exit status");
    assert!(status.success(), "SIGTERM is a clean exit: {status}");

    assert_eq!(database.count("kpi_points").await, total, "no row lost, none twice");
    let distinct: i64 = sqlx::query_scalar("SELECT count(DISTINCT (series_id, ts)) FROM kpi_points")
        .fetch_one(&database.pool)
        .await
        .expect("distinct");
    assert_eq!(distinct, total);
    let value_sum: f64 =
        sqlx::query_scalar("SELECT sum(value) FROM kpi_points").fetch_one(&database.pool).await.expect("sum");
    assert_eq!(value_sum, (0..total).sum::<i64>() as f64, "each point carries its own value");
    let stored: i64 =
        sqlx::query_scalar("SELECT sum(next_offset)::bigint FROM sink_offsets WHERE topic = 'kpi.points'")
            .fetch_one(&database.pool)
            .await
            .expect("offsets");
    assert_eq!(stored, total, "the stored offsets end exactly at the end of the topic");
    // The rollups committed with the rows: the batch the kill cut short folded nothing.
    assert!(assert_read_models_match_their_rows(&database.pool).await > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sinks_split_the_partitions_and_the_survivor_takes_over_a_killed_ones_rows_once() {
    let broker = broker(3);
    share_then_take_over(broker.bootstrap_servers(), 3_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sinks_split_the_partitions_and_the_survivor_takes_over_through_a_second_broker_too() {
    let tansu = common::tansu::Tansu::start(3).await;
    share_then_take_over(tansu.bootstrap_servers(), 6_000).await;
}

/// The `kpi.points` partitions a sink holds, by the last assignment its log reports (the group
/// protocol revokes everything and assigns the whole new set at each rebalance).
fn points_partitions_held(log: &std::path::Path) -> Vec<i32> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let Some(line) = text.lines().rev().find(|line| line.contains("partitions assigned")) else {
        return Vec::new();
    };
    let mut partitions: Vec<i32> =
        line.split("\"kpi.points/").skip(1).filter_map(|rest| rest.split('"').next()?.parse().ok()).collect();
    partitions.sort_unstable();
    partitions
}

/// Two sinks in one group, both writing: one is SIGKILLed mid-stream, the group rebalances, the
/// survivor resumes the dead one's partitions at the offsets PostgreSQL holds (not the broker's),
/// and every row lands exactly once.
async fn share_then_take_over(bootstrap: &str, session_timeout_ms: u32) {
    let database = TestDatabase::new().await;
    let producer = RecordProducer::new(&signalcraft_kafka::KafkaSettings::new(bootstrap), "test").expect("producer");
    let logs = tempfile::tempdir().expect("a log directory");
    let (first_log, second_log) = (logs.path().join("first.log"), logs.path().join("second.log"));
    let mut first = start_sink_logging_to(bootstrap, &database.url, session_timeout_ms, Some(&first_log));
    let second = start_sink_logging_to(bootstrap, &database.url, session_timeout_ms, Some(&second_log));
    let shared = eventually(Duration::from_secs(60), || async {
        let (mine, theirs) = (points_partitions_held(&first_log), points_partitions_held(&second_log));
        !mine.is_empty() && !theirs.is_empty() && mine.len() + theirs.len() == 3
    })
    .await;
    assert!(
        shared,
        "both sinks hold part of kpi.points: {:?} and {:?}",
        points_partitions_held(&first_log),
        points_partitions_held(&second_log)
    );

    let first_part = 60_000;
    for chunk in points(0, first_part).chunks(10_000) {
        producer.send_all(chunk).await.expect("first part produced");
    }
    let writing = eventually(Duration::from_secs(60), || async { database.count("kpi_points").await > 0 }).await;
    assert!(writing, "the sinks began writing");
    first.start_kill().expect("SIGKILL sent");
    first.wait().await.expect("the first sink is gone");

    let second_part = 40_000;
    for chunk in points(first_part, second_part).chunks(10_000) {
        producer.send_all(chunk).await.expect("second part produced");
    }
    let total = (first_part + second_part) as i64;
    let finished = eventually(Duration::from_secs(120), || async { database.count("kpi_points").await == total }).await;
    assert!(finished, "the survivor wrote every row, its partner's partitions included");
    assert_eq!(points_partitions_held(&second_log), [0, 1, 2], "the survivor took every partition over");
    stop(second).await;

    let distinct: i64 = sqlx::query_scalar("SELECT count(DISTINCT (series_id, ts)) FROM kpi_points")
        .fetch_one(&database.pool)
        .await
        .expect("distinct");
    assert_eq!((database.count("kpi_points").await, distinct), (total, total), "no row lost, none twice");
    let stored: i64 =
        sqlx::query_scalar("SELECT sum(next_offset)::bigint FROM sink_offsets WHERE topic = 'kpi.points'")
            .fetch_one(&database.pool)
            .await
            .expect("offsets");
    assert_eq!(stored, total, "the stored offsets end exactly at the end of the topic");
    assert!(assert_read_models_match_their_rows(&database.pool).await > 0);
}
