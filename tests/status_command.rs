//! `signalcraft status` through the real binary, after the README's replay ran on a real broker
//! and PostgreSQL: the JSON document's numbers are the pipeline's (lag of the groups behind on
//! raw.fx in records and seconds, every replayed source's last success, the dead letters of a
//! garbage record, the open alerts), the terminal text says the same with outside text
//! escaped, and a broker that does not answer is named in a non-zero exit while the database's
//! parts are still printed.

mod common;

use std::{
    collections::BTreeSet,
    time::{SystemTime, UNIX_EPOCH},
};

use chrono::{DateTime, Utc};
use common::*;
use rdkafka::{
    producer::{FutureProducer, FutureRecord},
    util::Timeout,
};
use signalcraft::{app, Config, Roles, RunOptions};
use signalcraft_model::Topic;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// Records left on raw.fx after the run, an hour old.
const BEHIND: i64 = 4;

async fn status(database: &TestDatabase, brokers: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_signalcraft"))
        .arg("status")
        .args(args)
        .env("DATABASE_URL", &database.url)
        .env("SIGNALCRAFT_KAFKA__BROKERS", brokers)
        .env("RUST_LOG", "warn,librdkafka=off")
        .output()
        .await
        .expect("the signalcraft binary runs")
}

async fn open_alert(database: &TestDatabase, alert_id: &str, series_id: &str, resolved: bool) {
    let mut transitions = vec!["OPENED"];
    if resolved {
        transitions.push("RESOLVED");
    }
    for transition in transitions {
        sqlx::query(
            "INSERT INTO alert_notifications (notification_id, alert_id, dedupe_key, series_id, tenant_id, \
                 transition, severity, message, value, score, occurred_at) \
             VALUES ($1 || '/' || $2, $1, 'anomaly/' || $3, $3, 'acme', $2, 'WARNING', 'm', 1, 0.99, now())",
        )
        .bind(alert_id)
        .bind(transition)
        .bind(series_id)
        .execute(&database.pool)
        .await
        .expect("notification stored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_lag_sources_dead_letters_and_open_alerts_as_json_and_text() {
    let started = Utc::now();
    let database = TestDatabase::new().await;
    let broker = broker(1);
    let raw: FutureProducer = kafka_settings(&broker).client_config("test").create().expect("raw producer");
    raw.send(FutureRecord::to("raw.fx").key("junk").payload(&b"not avro \xff"[..]), Timeout::Never)
        .await
        .expect("garbage produced");

    let options = RunOptions { roles: Roles::ALL, replay: Some(fixture("replay")), exit_when_done: true };
    let summary = app::run(replay_config(broker.bootstrap_servers(), &database), options, CancellationToken::new())
        .await
        .expect("replay run succeeds")
        .expect("a summary");
    // Both stages reading raw.fx (its processor and the sink) dead-letter the garbage.
    assert_eq!(summary.dead_letters, 2, "{summary}");

    // Records nobody consumes any more, stamped an hour ago: the groups reading raw.fx lag behind.
    let hour_ago_ms = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64 - 3_600_000;
    for i in 0..BEHIND {
        let key = format!("late-{i}");
        let record = FutureRecord::to("raw.fx").key(&key).payload(&b"late"[..]).timestamp(hour_ago_ms + i);
        raw.send(record, Timeout::Never).await.expect("late record produced");
    }
    open_alert(&database, "a-1", "custom:acme:sales", false).await;
    open_alert(&database, "a-2", "custom:acme:sales", false).await;
    open_alert(&database, "a-3", "custom:acme:sales", true).await;
    open_alert(&database, "a-4", "custom:acme:\u{1b}[31mred", false).await;
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM alert_states WHERE state = 'OPEN'")
        .fetch_one(&database.pool)
        .await
        .expect("count");

    let output = status(&database, broker.bootstrap_servers(), &["--json"]).await;
    assert!(output.status.success(), "status fails: {}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("one JSON document");
    assert_eq!(report["unreachable"], serde_json::json!([]), "{report:#}");

    // Lag: the two groups reading raw.fx are BEHIND records and an hour behind; every other
    // group of the pipeline is caught up.
    let config = Config::default();
    let fx_group = app::processor_groups(&config.process)
        .into_iter()
        .find(|(_, topic)| topic == Topic::RawFx.name())
        .map(|(group, _)| group)
        .expect("a processor reads raw.fx");
    let lag = report["consumer_lag"].as_array().expect("lag rows");
    let groups: BTreeSet<&str> = lag.iter().filter_map(|row| row["group"].as_str()).collect();
    let expected_groups: BTreeSet<String> = app::consumer_groups(&config).into_iter().map(|(group, _)| group).collect();
    assert_eq!(groups, expected_groups.iter().map(String::as_str).collect(), "every group of the pipeline");
    for row in lag {
        let behind = row["topic"] == Topic::RawFx.name();
        if behind {
            assert!(row["group"] == fx_group.as_str() || row["group"] == config.sink.group_id.as_str(), "{row}");
            assert_eq!(row["records"], BEHIND, "{row}");
            let seconds = row["seconds"].as_f64().expect("the oldest record was read");
            assert!((3_600.0..3_900.0).contains(&seconds), "an hour behind: {row}");
        } else {
            assert_eq!((row["records"].as_i64(), row["seconds"].as_f64()), (Some(0), Some(0.0)), "{row}");
        }
    }
    assert_eq!(lag.iter().filter(|row| row["topic"] == Topic::RawFx.name()).count(), 2, "{lag:?}");

    // Sources: every one the replay polled, with the time of its delivered poll.
    let polled: BTreeSet<&str> = summary.failed_polls.iter().map(|(source, _)| source.as_str()).collect();
    let sources = report["sources"].as_array().expect("sources");
    let named: BTreeSet<&str> = sources.iter().filter_map(|s| s["source"].as_str()).collect();
    assert_eq!(named, polled, "{sources:?}");
    for source in sources {
        let at: DateTime<Utc> = source["last_success_at"].as_str().expect("time").parse().expect("RFC 3339");
        assert!(at >= started && at <= Utc::now(), "{source}");
        assert!(source["age_seconds"].as_f64().is_some_and(|age| age >= 0.0), "{source}");
    }

    // Dead letters: the two copies of the garbage record.
    assert_eq!(report["dead_letters"]["records"], 2, "{report:#}");
    assert_eq!(report["dead_letters"]["topic"], "dlq");

    // Open alerts: two on acme's sales, one on a series whose id a terminal would obey.
    assert_eq!(report["open_alerts"]["total"], open, "{report:#}");
    assert!(open >= 3);
    let by_series = report["open_alerts"]["by_series"].as_array().expect("counts");
    assert!(
        by_series.contains(&serde_json::json!({"tenant_id": "acme", "series_id": "custom:acme:sales", "open": 2})),
        "{by_series:?}"
    );
    let newest = report["open_alerts"]["newest"].as_array().expect("newest");
    assert!(newest.iter().all(|alert| alert["alert_id"] != "a-3"), "a resolved alert is not open: {newest:?}");

    // The same, as text for a terminal.
    let output = status(&database, broker.bootstrap_servers(), &[]).await;
    assert!(output.status.success(), "status fails: {}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("dead letters: 2 records on topic dlq"), "{text}");
    assert!(text.contains(&format!("open alerts: {open}")), "{text}");
    assert!(text.contains(&format!("consumer lag: {} records in all", 2 * BEHIND)), "{text}");
    let sink_line = text
        .lines()
        .find(|line| line.contains(&config.sink.group_id) && line.contains("raw.fx"))
        .expect("the sink's raw.fx line");
    let fields: Vec<&str> = sink_line.split_whitespace().collect();
    assert_eq!(fields[2..4], ["0", "4"], "partition and records: {sink_line}");
    assert!(sink_line.contains("1h 0m") || sink_line.contains("1h 1m"), "age: {sink_line}");
    for source in &polled {
        assert!(text.lines().any(|line| line.trim_start().starts_with(source)), "{source} listed: {text}");
    }
    assert!(text.contains("custom:acme:\\u{1b}[31mred"), "escaped: {text}");
    assert!(!text.contains('\u{1b}'), "no escape sequence reaches the terminal: {text}");

    // A broker that does not answer: named, non-zero, and the database's parts still printed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("address");
    let output = status(&database, &closed.to_string(), &["--json"]).await;
    assert!(!output.status.success(), "an unreachable broker fails the command");
    assert!(stderr(&output).contains("could not read: kafka"), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("still one JSON document");
    assert!(report["consumer_lag"].is_null() && report["dead_letters"].is_null(), "{report:#}");
    assert_eq!(report["open_alerts"]["total"], open, "the database was still read: {report:#}");
    assert_eq!(report["unreachable"][0]["part"], "kafka", "{report:#}");
}
