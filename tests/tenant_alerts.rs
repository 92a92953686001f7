//! Two tenants, each with its own threshold rule over the same pattern and its own webhook
//! endpoint: each tenant's alert opens only on its own series, and reaches only its own
//! endpoint. An operator's endpoint (no tenant) receives both.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::post,
    Router,
};
use chrono::{DateTime, TimeDelta, Utc};
use common::*;
use signalcraft::{app, Roles, RunOptions};
use signalcraft_kafka::RecordProducer;
use signalcraft_model::KpiAnomaly;
use signalcraft_sink::WebhookEndpointConfig;
use tokio_util::sync::CancellationToken;

const KEY_VAR: &str = "TEST_TENANT_WEBHOOK_KEY_SIGNALCRAFT";

/// (route, tenant_id in the body) of every request received.
type Received = Arc<Mutex<Vec<(String, String)>>>;

async fn receive(
    State(received): State<Received>,
    Path(route): Path<String>,
    _: HeaderMap,
    body: String,
) -> StatusCode {
    let body: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let tenant = body["tenant_id"].as_str().unwrap_or("none").to_string();
    received.lock().expect("not poisoned").push((route, tenant));
    StatusCode::NO_CONTENT
}

fn scored(tenant: &str, minutes: i64) -> KpiAnomaly {
    KpiAnomaly {
        series_id: format!("custom:{tenant}:sales"),
        tenant_id: Some(tenant.into()),
        ts: DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("instant") + TimeDelta::minutes(minutes),
        value: 500.0,
        // Unremarkable to the detector: only the rules can open an alert.
        score: 0.1,
        is_anomaly: false,
        detector: "test".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenants_rule_fires_on_its_own_series_and_reaches_its_own_endpoint() {
    // The test binary holds this one test, so setting the variable races with nothing.
    std::env::set_var(KEY_VAR, "whsec-tenants");
    let received = Received::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let router = Router::new().route("/hooks/{route}", post(receive)).with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let database = TestDatabase::new().await;
    for tenant in ["acme", "globex"] {
        let added = signalcraft(
            &database,
            &[
                "rules",
                "add",
                "--name",
                &format!("{tenant} sales high"),
                "--series",
                "custom:%:sales",
                "--comparison",
                ">",
                "--threshold",
                "100",
                "--tenant-id",
                tenant,
            ],
        )
        .await;
        assert!(added.status.success(), "{}", stderr(&added));
    }
    let broker = broker(1);
    let mut config = config_for(&broker, &database);
    let endpoint = |name: &str, tenant: Option<&str>| {
        let mut endpoint = WebhookEndpointConfig::new(name, format!("{base}/hooks/{name}"), KEY_VAR);
        endpoint.tenant_id = tenant.map(str::to_string);
        endpoint
    };
    config.webhooks.endpoints =
        vec![endpoint("acme-hook", Some("acme")), endpoint("globex-hook", Some("globex")), endpoint("ops", None)];

    let producer = RecordProducer::new(&kafka_settings(&broker), "test").expect("producer");
    producer.send_all(&[scored("acme", 0), scored("globex", 0)]).await.expect("produced");
    let shutdown = CancellationToken::new();
    let options = RunOptions {
        roles: Roles { ingest: false, process: true, sink: true, serve: false },
        replay: None,
        exit_when_done: false,
    };
    let pipeline = tokio::spawn(app::run(config, options, shutdown.clone()));

    let delivered = eventually(Duration::from_secs(60), || async { received.lock().expect("lock").len() >= 4 }).await;
    // Room for a stray third alert or delivery to show up before the counts are taken.
    tokio::time::sleep(Duration::from_secs(2)).await;
    shutdown.cancel();
    pipeline.await.expect("the pipeline task").expect("the pipeline stops cleanly");
    assert!(delivered, "{:?}", received.lock().expect("lock"));

    let alerts: Vec<(String, Option<String>, String)> = sqlx::query_as(
        "SELECT n.series_id, n.tenant_id, r.name FROM alert_notifications n JOIN alert_rules r ON r.id = n.rule_id \
         WHERE n.transition = 'OPENED' ORDER BY 1",
    )
    .fetch_all(&database.pool)
    .await
    .expect("alerts");
    assert_eq!(
        alerts,
        vec![
            ("custom:acme:sales".to_string(), Some("acme".to_string()), "acme sales high".to_string()),
            ("custom:globex:sales".to_string(), Some("globex".to_string()), "globex sales high".to_string()),
        ],
        "one alert per tenant, each from its own rule on its own series"
    );
    let mut got = received.lock().expect("lock").clone();
    got.sort();
    assert_eq!(
        got,
        [("acme-hook", "acme"), ("globex-hook", "globex"), ("ops", "acme"), ("ops", "globex")]
            .map(|(route, tenant)| (route.to_string(), tenant.to_string()))
            .to_vec(),
        "a tenant's endpoint receives its own alerts only; the operator's receives all"
    );
}
