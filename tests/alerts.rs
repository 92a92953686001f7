//! Alerting end to end: a KPI series with an injected spike flows through the real processors
//! (anomaly scores, then alerts) and the sink. The spike opens exactly one anomaly alert and
//! one rule alert (the rule added with `signalcraft rules add`), each with one notification, and
//! the series' return to normal resolves both.

mod common;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use common::*;
use signalcraft::{app, Roles, RunOptions};
use signalcraft_kafka::RecordProducer;
use signalcraft_model::KpiPoint;
use tokio_util::sync::CancellationToken;

const SPIKE_AT: usize = 400;

/// A row of the `alerts` view: dedupe key, rule, severity, state, opened at, resolved at.
type AlertRow = (String, Option<i64>, String, String, DateTime<Utc>, Option<DateTime<Utc>>);
const POINTS: usize = 460;

fn series() -> Vec<KpiPoint> {
    let origin = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("instant");
    (0..POINTS)
        .map(|i| {
            // A steady load with small measurement noise (deterministic, hashed from the index), and one spike.
            let wobble = noise(i as u64);
            let value = if i == SPIKE_AT { 500.0 } else { 40.0 + wobble };
            KpiPoint {
                series_id: "test:load".into(),
                tenant_id: Some("acme".into()),
                metric: "load".into(),
                unit: "requests/s".into(),
                ts: origin + TimeDelta::minutes(5 * i as i64),
                value,
                source: "test".into(),
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spike_opens_one_alert_per_condition_and_the_return_to_normal_resolves_it() {
    let database = TestDatabase::new().await;
    let added = signalcraft(
        &database,
        &["rules", "add", "--name", "load above 100", "--series", "test:%", "--comparison", ">"],
    )
    .await;
    assert!(!added.status.success(), "--threshold is required");
    let added = signalcraft(
        &database,
        &[
            "rules",
            "add",
            "--name",
            "load above 100",
            "--series",
            "test:%",
            "--comparison",
            ">",
            "--threshold",
            "100",
            "--severity",
            "critical",
        ],
    )
    .await;
    assert!(added.status.success(), "{}", stderr(&added));
    let rule_id: i64 = sqlx::query_scalar("SELECT id FROM alert_rules WHERE name = 'load above 100'")
        .fetch_one(&database.pool)
        .await
        .expect("rule stored");
    assert_eq!(stdout(&added).trim(), format!("added rule #{rule_id} load above 100"));
    let broker = broker(1);
    let config = config_for(&broker, &database);
    let shutdown = CancellationToken::new();
    let options = RunOptions {
        roles: Roles { ingest: false, process: true, sink: true, serve: false },
        replay: None,
        exit_when_done: false,
    };
    let pipeline = tokio::spawn(app::run(config, options, shutdown.clone()));

    let producer = RecordProducer::new(&kafka_settings(&broker), "test").expect("producer");
    producer.send_all(&series()).await.expect("series produced");

    let scored =
        eventually(Duration::from_secs(90), || async { database.count("kpi_anomalies").await == POINTS as i64 }).await;
    assert!(scored, "every point was scored");
    let notified =
        eventually(Duration::from_secs(30), || async { database.count("alert_notifications").await >= 4 }).await;
    assert!(notified, "the alerts were opened and resolved");
    tokio::time::sleep(Duration::from_secs(3)).await;

    let rows: Vec<AlertRow> = sqlx::query_as(
        "SELECT dedupe_key, rule_id, severity, state, opened_at, resolved_at FROM alerts ORDER BY dedupe_key",
    )
    .fetch_all(&database.pool)
    .await
    .expect("alerts");
    let spike_at = series()[SPIKE_AT].ts;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (anomaly, rule) = (&rows[0], &rows[1]);
    assert_eq!(
        (anomaly.0.as_str(), anomaly.1, anomaly.3.as_str()),
        ("anomaly/test:load", None, "RESOLVED"),
        "{rows:?}"
    );
    assert_eq!(anomaly.4, spike_at, "the anomaly alert opened on the spike");
    assert_eq!(rule.0, format!("rule/{rule_id}/test:load"));
    assert_eq!((rule.1, rule.2.as_str(), rule.3.as_str()), (Some(rule_id), "CRITICAL", "RESOLVED"), "{rows:?}");
    assert_eq!(rule.4, spike_at);
    assert_eq!(rule.5, Some(spike_at + TimeDelta::minutes(15)), "resolved on the third normal point");
    assert_eq!(database.count("alert_notifications").await, 4, "one OPENED and one RESOLVED per alert");

    shutdown.cancel();
    pipeline.await.expect("pipeline task").expect("pipeline stops cleanly");
}

/// What a restarted alerting processor restores from: the latest notification of each key.
#[tokio::test]
async fn issued_alerts_load_as_the_latest_notification_per_key() {
    let database = TestDatabase::new().await;
    let at =
        |minute: i64| DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("instant") + TimeDelta::minutes(minute);
    for (id, alert, key, transition, minute) in [
        ("n1", "a1", "anomaly/test:cpu", "OPENED", 0),
        ("n2", "a1", "anomaly/test:cpu", "RESOLVED", 5),
        ("n3", "a2", "rule/7/test:load", "OPENED", 3),
        ("n4", "a3", "anomaly/test:mem", "OPENED", 8),
        ("n5", "a3", "anomaly/test:mem", "RESOLVED", 8),
    ] {
        sqlx::query(
            "INSERT INTO alert_notifications (notification_id, alert_id, dedupe_key, rule_id, series_id, transition, \
             severity, message, value, occurred_at) VALUES ($1, $2, $3, NULL, 'test', $4, 'WARNING', 'm', 1.0, $5)",
        )
        .bind(id)
        .bind(alert)
        .bind(key)
        .bind(transition)
        .bind(at(minute))
        .execute(&database.pool)
        .await
        .expect("inserted");
    }
    let issued = signalcraft_store::alert_rules::load_issued_alerts(&database.pool, 100).await.expect("loads");
    let latest: Vec<(&str, &str)> =
        issued.iter().map(|n| (n.dedupe_key.as_str(), n.notification_id.as_str())).collect();
    // Newest first; at one instant the resolution wins.
    assert_eq!(latest, [("anomaly/test:mem", "n5"), ("anomaly/test:cpu", "n2"), ("rule/7/test:load", "n3")]);
    let newest = signalcraft_store::alert_rules::load_issued_alerts(&database.pool, 1).await.expect("loads");
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].notification_id, "n5");
}
