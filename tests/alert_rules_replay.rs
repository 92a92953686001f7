//! Alert rules are input of the alerting processor, versioned by when they changed: an anomaly
//! meets the rules in force when it was appended to kpi.anomalies. Live, a rule added after a
//! series' breach does not alert on it; a replay of every kpi.anomalies record by a fresh
//! consumer group, with the rule long known, gives exactly the same alerts, and `rules` changes
//! leave a version history behind.

mod common;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use common::*;
use signalcraft::{app, Roles, RunOptions};
use signalcraft_kafka::RecordProducer;
use signalcraft_model::KpiAnomaly;
use tokio_util::sync::CancellationToken;

/// Ten minutes of `series` above the rule's threshold, then three normal points.
fn breach(series: &str, start_minute: i64) -> Vec<KpiAnomaly> {
    (0..13)
        .map(|i| KpiAnomaly {
            series_id: format!("test:{series}"),
            tenant_id: Some("acme".into()),
            ts: DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("instant")
                + TimeDelta::minutes(start_minute + i),
            value: if i < 10 { 500.0 } else { 10.0 },
            // Unremarkable to the detector: only the rule can open an alert.
            score: 0.1,
            is_anomaly: false,
            detector: "test".into(),
        })
        .collect()
}

/// Every notification: (series, transition, occurred at).
async fn notifications(database: &TestDatabase) -> Vec<(String, String, DateTime<Utc>)> {
    sqlx::query_as("SELECT series_id, transition, occurred_at FROM alert_notifications ORDER BY 1, 3, 2")
        .fetch_all(&database.pool)
        .await
        .expect("notifications")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_meets_the_rules_as_they_were_when_each_anomaly_was_appended() {
    let database = TestDatabase::new().await;
    let broker = broker(1);
    let producer = RecordProducer::new(&kafka_settings(&broker), "test").expect("producer");
    // Appended before the rule exists.
    producer.send_all(&breach("before", 0)).await.expect("produced");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let add =
        ["rules", "add", "--name", "load above 100", "--series", "test:%", "--comparison", ">", "--threshold", "100"];
    let added = signalcraft(&database, &add).await;
    assert!(added.status.success(), "{}", stderr(&added));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // Appended after.
    producer.send_all(&breach("after", 60)).await.expect("produced");

    let live = || RunOptions {
        roles: Roles { ingest: false, process: true, sink: true, serve: false },
        replay: None,
        exit_when_done: true,
    };
    let config = config_for(&broker, &database);
    tokio::time::timeout(Duration::from_secs(120), app::run(config.clone(), live(), CancellationToken::new()))
        .await
        .expect("drains")
        .expect("runs");
    let first = notifications(&database).await;
    let after_opened = breach("after", 60)[0].ts;
    assert_eq!(
        first,
        vec![
            ("test:after".to_string(), "OPENED".to_string(), after_opened),
            ("test:after".to_string(), "RESOLVED".to_string(), after_opened + TimeDelta::minutes(12)),
        ],
        "only the series appended after the rule alerts"
    );

    // A fresh consumer group reads kpi.anomalies from its start, the rule known from the outset.
    let mut replay = config;
    replay.process.group_prefix = "signalcraft-replay".into();
    tokio::time::timeout(Duration::from_secs(120), app::run(replay, live(), CancellationToken::new()))
        .await
        .expect("replay drains")
        .expect("replay runs");
    assert_eq!(notifications(&database).await, first, "the replay gave the same alerts");

    // Each change of the rule is a version; the removed rule's last version is closed.
    let id = sqlx::query_scalar::<_, i64>("SELECT id FROM alert_rules").fetch_one(&database.pool).await.expect("id");
    for change in [&["rules", "disable", &id.to_string()][..], &["rules", "remove", &id.to_string()][..]] {
        let changed = signalcraft(&database, change).await;
        assert!(changed.status.success(), "{}", stderr(&changed));
    }
    let versions: Vec<(bool, bool)> = sqlx::query_as(
        "SELECT enabled, valid_until IS NULL FROM alert_rule_versions WHERE rule_id = $1 ORDER BY version",
    )
    .bind(id)
    .fetch_all(&database.pool)
    .await
    .expect("versions");
    assert_eq!(versions, vec![(true, false), (false, false)], "added, disabled, removed");
    let (versions, _) = signalcraft_store::alert_rules::load_versions(&database.pool).await.expect("loads");
    assert_eq!(versions.len(), 1, "the enabled version, in force from the add until the disable");
    assert!(versions[0].valid_from.is_some() && versions[0].valid_until.is_some(), "{versions:?}");
}
