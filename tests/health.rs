//! Health that tells the truth, through the real binary: `/readyz` follows PostgreSQL and the
//! broker going away and coming back, the lag gauges rise while the sink cannot write and fall
//! back to 0 after, metrics exist at zero from the start, SIGTERM is prompt while the database
//! is down, and a start without a reachable broker fails fast naming `kafka.brokers`.

mod common;

use std::{net::TcpListener, process::Stdio, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};
use common::*;
use signalcraft_kafka::RecordProducer;
use signalcraft_model::KpiPoint;
use signalcraft_store::PrivatePostgres;
use tokio::process::{Child, Command};

const SINK_GROUP: &str = "signalcraft-sink";

fn points(count: usize) -> Vec<KpiPoint> {
    let origin = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("instant");
    (0..count)
        .map(|i| KpiPoint {
            series_id: format!("test:series-{}", i % 5),
            tenant_id: None,
            metric: "load".into(),
            unit: "count".into(),
            ts: origin + TimeDelta::minutes(i as i64),
            value: i as f64,
            source: "test".into(),
        })
        .collect()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("a free port").port()
}

/// A sink role on `broker` and `database_url`, its HTTP endpoints on `port`, checking and
/// measuring often so the test need not wait long.
fn start_sink(broker: &str, database_url: &str, port: u16, dir: &tempfile::TempDir) -> Child {
    let config_file = dir.path().join("signalcraft.toml");
    std::fs::write(&config_file, "").expect("config written");
    let env = [
        ("SIGNALCRAFT_HTTP__LISTEN", format!("127.0.0.1:{port}")),
        ("SIGNALCRAFT_HTTP__CHECK_CACHE_MS", "500".to_string()),
        ("SIGNALCRAFT_HTTP__LAG_INTERVAL_MS", "500".to_string()),
    ];
    start_role("sink", broker, database_url, &config_file, &env)
}

/// Status and body of `GET path`, or `None` while nothing answers.
async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
    let response = client.get(format!("http://127.0.0.1:{port}{path}")).send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

async fn readyz(port: u16) -> Option<(u16, serde_json::Value)> {
    let (status, body) = get(port, "/readyz").await?;
    Some((status, serde_json::from_str(&body).expect("/readyz answers JSON")))
}

/// The sum of the samples of `metric` whose labels include every one of `labels`
/// (`name="value"`); `None` when there is none.
async fn metric(port: u16, metric: &str, labels: &[&str]) -> Option<f64> {
    let (_, text) = get(port, "/metrics").await?;
    let values: Vec<f64> = text
        .lines()
        .filter(|line| line.starts_with(&format!("{metric}{{")) || line.starts_with(&format!("{metric} ")))
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .filter_map(|line| line.rsplit_once(' ').and_then(|(_, value)| value.parse().ok()))
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// Polls `/readyz` until `wanted` holds of its answer or `timeout` passes; returns whether it
/// held, and the last answer.
async fn readyz_until(
    port: u16,
    timeout: Duration,
    wanted: impl Fn(u16, &serde_json::Value) -> bool,
) -> (bool, Option<(u16, serde_json::Value)>) {
    let deadline = std::time::Instant::now() + timeout;
    let mut last = None;
    while std::time::Instant::now() < deadline {
        last = readyz(port).await;
        if let Some((status, body)) = &last {
            if wanted(*status, body) {
                return (true, last);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (false, last)
}

fn check_ok(body: &serde_json::Value, check: &str) -> Option<bool> {
    body["checks"][check]["ok"].as_bool()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_and_lag_follow_a_database_outage() {
    let postgres = PrivatePostgres::start_temporary("signalcraft").await.expect("private PostgreSQL starts");
    let broker = broker(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let sink = start_sink(broker.bootstrap_servers(), &postgres.url(), port, &dir);
    let ready = eventually(Duration::from_secs(60), || async { matches!(readyz(port).await, Some((200, _))) }).await;
    assert!(ready, "the sink becomes ready");

    postgres.stop().expect("PostgreSQL stops");
    let (unready, seen) = readyz_until(port, Duration::from_secs(5), |status, body| {
        status == 503 && check_ok(body, "postgres") == Some(false)
    })
    .await;
    assert!(unready, "/readyz is 503 naming postgres within 5 s of the outage: {seen:?}");
    let (_, body) = seen.expect("an answer");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(check_ok(&body, "kafka"), Some(true), "the broker is fine: {body}");
    assert!(body["checks"]["postgres"]["error"].as_str().is_some_and(|e| !e.is_empty()), "says why: {body}");

    // Records arrive while the sink cannot write them: the lag must show it.
    let producer = RecordProducer::new(&kafka_settings(&broker), "test").expect("producer");
    producer.send_all(&points(100)).await.expect("points produced");
    let group = format!("group=\"{SINK_GROUP}\"");
    let topic = "topic=\"kpi.points\"";
    let lagging = eventually(Duration::from_secs(30), || async {
        metric(port, "signalcraft_consumer_lag_records", &[&group, topic]).await == Some(100.0)
            && metric(port, "signalcraft_consumer_lag_seconds", &[&group, topic]).await.is_some_and(|s| s > 0.0)
    })
    .await;
    assert!(
        lagging,
        "lag rises during the outage: {:?} records, {:?} s",
        metric(port, "signalcraft_consumer_lag_records", &[&group, topic]).await,
        metric(port, "signalcraft_consumer_lag_seconds", &[&group, topic]).await
    );

    postgres.restart().expect("PostgreSQL starts again");
    let (ready, seen) = readyz_until(port, Duration::from_secs(5), |status, _| status == 200).await;
    assert!(ready, "/readyz is 200 within 5 s of the database's return: {seen:?}");
    let caught_up = eventually(Duration::from_secs(60), || async {
        metric(port, "signalcraft_consumer_lag_records", &[&group]).await == Some(0.0)
            && metric(port, "signalcraft_consumer_lag_seconds", &[&group]).await == Some(0.0)
    })
    .await;
    assert!(caught_up, "lag is back to 0 once the sink has written everything");
    stop(sink).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_start_at_zero_and_sigterm_is_prompt_while_the_database_is_down() {
    let postgres = PrivatePostgres::start_temporary("signalcraft").await.expect("private PostgreSQL starts");
    let broker = broker(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut sink = start_sink(broker.bootstrap_servers(), &postgres.url(), port, &dir);
    let ready = eventually(Duration::from_secs(60), || async { matches!(readyz(port).await, Some((200, _))) }).await;
    assert!(ready, "the sink becomes ready");

    // Before anything happened, the series exist at 0, so increase() sees the first event.
    for (name, labels) in [
        ("signalcraft_dlq_records_total", vec!["source_topic=\"kpi.points\"", "stage=\"sink\""]),
        ("signalcraft_dlq_records_total", vec!["source_topic=\"raw.fx\"", "stage=\"sink\""]),
        ("signalcraft_consumed_records_total", vec!["stage=\"sink\""]),
        ("signalcraft_batch_failures_total", vec!["stage=\"sink\""]),
        ("signalcraft_task_failures_total", vec!["task=\"consumer:sink\""]),
        ("signalcraft_records_produced_total", vec!["topic=\"dlq\""]),
    ] {
        assert_eq!(metric(port, name, &labels).await, Some(0.0), "{name}{labels:?} is registered at 0");
    }
    let group = format!("group=\"{SINK_GROUP}\"");
    let measured = eventually(Duration::from_secs(30), || async {
        metric(port, "signalcraft_consumer_lag_records", &[&group, "topic=\"kpi.points\""]).await == Some(0.0)
    })
    .await;
    assert!(measured, "the lag of an idle group is measured as 0");

    // Once the sink holds its partitions (their offsets are loaded from PostgreSQL on
    // assignment) and has written a first record, the database goes away.
    let producer = RecordProducer::new(&kafka_settings(&broker), "test").expect("producer");
    producer.send_all(&points(1)).await.expect("a point produced");
    let consuming = eventually(Duration::from_secs(60), || async {
        metric(port, "signalcraft_consumed_records_total", &["stage=\"sink\""]).await == Some(1.0)
    })
    .await;
    assert!(consuming, "the sink writes a first record");
    postgres.stop().expect("PostgreSQL stops");
    producer.send_all(&points(10)).await.expect("points produced");
    // The sink has the records in hand: its first attempt waits for a database connection
    // (up to the pool's 30 s acquire timeout) when SIGTERM comes.
    let behind = eventually(Duration::from_secs(30), || async {
        metric(port, "signalcraft_consumer_lag_records", &[&group, "topic=\"kpi.points\""]).await == Some(10.0)
    })
    .await;
    assert!(behind, "the sink is behind by the records it cannot write");
    tokio::time::sleep(Duration::from_secs(1)).await;

    let pid = sink.id().expect("running").to_string();
    let signalled = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
    assert!(signalled.success());
    let status = tokio::time::timeout(Duration::from_secs(10), sink.wait())
        .await
        .expect("the sink stops within 10 s of SIGTERM although PostgreSQL is down")
        .expect("exit status");
    assert!(status.success(), "SIGTERM is a clean exit: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_broker_the_start_fails_fast_and_a_lost_broker_makes_readyz_503() {
    let database = TestDatabase::new().await;
    let nobody = format!("127.0.0.1:{}", free_port());
    let run = Command::new(env!("CARGO_BIN_EXE_signalcraft"))
        .args(["run", "--role", "sink"])
        .env("SIGNALCRAFT_KAFKA__BROKERS", &nobody)
        .env("SIGNALCRAFT_HTTP__LISTEN", "127.0.0.1:0")
        .env("DATABASE_URL", &database.url)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the start gives up instead of retrying forever")
        .expect("the binary runs");
    assert!(!output.status.success(), "no broker is a failed start");
    let error = stderr(&output);
    assert!(error.contains("kafka.brokers") && error.contains(&nobody), "the error names the setting: {error}");

    let broker = broker(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let _sink = start_sink(broker.bootstrap_servers(), &database.url, port, &dir);
    let ready = eventually(Duration::from_secs(60), || async { matches!(readyz(port).await, Some((200, _))) }).await;
    assert!(ready, "the sink becomes ready");
    drop(broker);
    let (unready, seen) = readyz_until(port, Duration::from_secs(10), |status, body| {
        status == 503 && check_ok(body, "kafka") == Some(false)
    })
    .await;
    assert!(unready, "/readyz is 503 naming kafka once the broker is gone: {seen:?}");
    let (_, body) = seen.expect("an answer");
    assert_eq!(check_ok(&body, "postgres"), Some(true), "the database is fine: {body}");
}
