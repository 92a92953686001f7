//! Webhook deliveries end to end: notifications on alerts.notifications are POSTed by the sink
//! role to local HTTP receivers — signed, with the notification id as idempotency key, retried
//! within bounds while the receiver is failing (honouring its Retry-After), and every outcome,
//! including exhausted and refused deliveries, recorded in `webhook_deliveries`. A notification
//! consumed again is not sent again.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
    routing::post,
    Router,
};
use chrono::{DateTime, Utc};
use common::*;
use signalcraft::{app, Roles, RunOptions};
use signalcraft_kafka::RecordProducer;
use signalcraft_model::{AlertNotification, AlertTransition, Severity};
use signalcraft_sink::{webhook::signature, WebhookEndpointConfig};
use tokio_util::sync::CancellationToken;

const KEY_VAR: &str = "TEST_WEBHOOK_KEY_SIGNALCRAFT";
const KEY: &str = "whsec-test-4f1c";

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    route: String,
    at: Instant,
    idempotency_key: String,
    signature: String,
    attempt: String,
    body: String,
}

#[derive(Clone, Default)]
struct Receivers {
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receivers {
    fn of(&self, route: &str) -> Vec<Received> {
        self.received.lock().expect("not poisoned").iter().filter(|r| r.route == route).cloned().collect()
    }
}

/// `flaky` answers 503 + Retry-After: 1 to its first two requests, then 204; `down` always
/// 500; `refuses` always 400.
async fn receive(
    State(receivers): State<Receivers>,
    Path(route): Path<String>,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let received = Received {
        route: route.clone(),
        at: Instant::now(),
        idempotency_key: header("idempotency-key"),
        signature: header("signalcraft-signature"),
        attempt: header("signalcraft-delivery-attempt"),
        body,
    };
    let earlier = {
        let mut all = receivers.received.lock().expect("not poisoned");
        let earlier = all.iter().filter(|r| r.route == route).count();
        all.push(received);
        earlier
    };
    match route.as_str() {
        "flaky" if earlier < 2 => {
            (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "1")], "warming up").into_response()
        }
        "flaky" => StatusCode::NO_CONTENT.into_response(),
        "down" => (StatusCode::INTERNAL_SERVER_ERROR, "database on fire").into_response(),
        _ => (StatusCode::BAD_REQUEST, "unknown event type").into_response(),
    }
}

fn notification(id: &str, severity: Severity) -> AlertNotification {
    AlertNotification {
        notification_id: id.into(),
        alert_id: "alert-1".into(),
        dedupe_key: "anomaly:test:load".into(),
        rule_id: None,
        series_id: "test:load".into(),
        tenant_id: Some("acme".into()),
        transition: AlertTransition::Opened,
        severity,
        message: "load 500 is anomalous (score 0.99)".into(),
        value: 500.0,
        score: Some(0.99),
        occurred_at: DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("instant"),
    }
}

/// (endpoint, status, attempts, http_status) of every recorded outcome.
type Outcome = (String, String, i32, Option<i32>);

async fn outcomes(database: &TestDatabase, notification_id: &str) -> Vec<Outcome> {
    sqlx::query_as(
        "SELECT endpoint, status, attempts, http_status FROM webhook_deliveries \
         WHERE notification_id = $1 ORDER BY endpoint",
    )
    .bind(notification_id)
    .fetch_all(&database.pool)
    .await
    .expect("outcomes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_signed_retried_within_bounds_and_every_outcome_is_recorded() {
    // The test binary holds this one test, so setting the variable races with nothing.
    std::env::set_var(KEY_VAR, KEY);
    let receivers = Receivers::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let router = Router::new().route("/hooks/{route}", post(receive)).with_state(receivers.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let database = TestDatabase::new().await;
    let broker = broker(1);
    let mut config = config_for(&broker, &database);
    let endpoint = |name: &str, max_attempts: u32| {
        let mut endpoint = WebhookEndpointConfig::new(name, format!("{base}/hooks/{name}"), KEY_VAR);
        endpoint.http.max_attempts = Some(max_attempts);
        endpoint.http.initial_backoff_ms = Some(50);
        endpoint.http.max_backoff_ms = Some(5_000);
        endpoint
    };
    let mut critical_only = endpoint("pager", 3);
    critical_only.min_severity = Severity::Critical;
    config.webhooks.endpoints = vec![endpoint("flaky", 5), endpoint("down", 3), endpoint("refuses", 5), critical_only];

    let producer = RecordProducer::new(&kafka_settings(&broker), "test").expect("producer");
    let first = notification("n-1", Severity::Warning);
    producer.send_all(std::slice::from_ref(&first)).await.expect("produced");

    let shutdown = CancellationToken::new();
    let options = RunOptions {
        roles: Roles { ingest: false, process: false, sink: true, serve: false },
        replay: None,
        exit_when_done: false,
    };
    let pipeline = tokio::spawn(app::run(config, options, shutdown.clone()));

    let settled = eventually(Duration::from_secs(30), || async { outcomes(&database, "n-1").await.len() == 3 }).await;
    assert!(settled, "{:?}", outcomes(&database, "n-1").await);
    assert_eq!(
        outcomes(&database, "n-1").await,
        vec![
            ("down".into(), "FAILED".into(), 3, Some(500)),
            ("flaky".into(), "DELIVERED".into(), 3, Some(204)),
            ("refuses".into(), "FAILED".into(), 1, Some(400)),
        ],
        "the WARNING skips the CRITICAL-only pager; 5xx is retried up to max_attempts, 400 is final"
    );
    let (payload, last_error): (serde_json::Value, Option<String>) = sqlx::query_as(
        "SELECT payload, last_error FROM webhook_deliveries WHERE notification_id = 'n-1' AND endpoint = 'down'",
    )
    .fetch_one(&database.pool)
    .await
    .expect("the exhausted delivery");
    assert_eq!(payload["notification_id"], "n-1", "an exhausted delivery keeps its payload");
    assert_eq!(last_error.as_deref(), Some("HTTP 500: database on fire"));

    // What the flaky receiver saw: three attempts of the same signed body, the same key, and
    // at least the Retry-After second between attempts.
    let flaky = receivers.of("flaky");
    assert_eq!(flaky.iter().map(|r| r.attempt.as_str()).collect::<Vec<_>>(), ["1", "2", "3"]);
    for request in &flaky {
        assert_eq!(request.idempotency_key, "n-1");
        let signed_at = signature::verify(KEY.as_bytes(), &request.signature, request.body.as_bytes());
        assert!(signed_at.is_some_and(|t| (Utc::now().timestamp() - t).abs() < 60), "{}", request.signature);
        assert!(signature::verify(b"another key", &request.signature, request.body.as_bytes()).is_none());
    }
    // Sends are a full second apart (the backoff alone would be 50 ms); arrivals get 100 ms of
    // slack for a loaded machine.
    for pair in flaky.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(900), "Retry-After honoured");
    }
    let body: serde_json::Value = serde_json::from_str(&flaky[0].body).expect("JSON body");
    assert_eq!(body["transition"], "OPENED");
    assert_eq!(body["severity"], "WARNING");
    assert_eq!(body["tenant_id"], "acme");
    assert_eq!(body["occurred_at"], "2023-11-14T22:13:20Z");
    assert!(!flaky[0].body.contains(KEY), "the key is never sent");

    // The same notification again (a replay), then a new CRITICAL one: the replay is not sent
    // anywhere again; the new one reaches the pager too.
    producer.send_all(&[first.clone(), notification("n-2", Severity::Critical)]).await.expect("produced");
    let second = eventually(Duration::from_secs(30), || async { outcomes(&database, "n-2").await.len() == 4 }).await;
    assert!(second, "{:?}", outcomes(&database, "n-2").await);
    assert_eq!(receivers.of("flaky").iter().filter(|r| r.idempotency_key == "n-1").count(), 3, "n-1 not resent");
    assert_eq!(receivers.of("refuses").iter().filter(|r| r.idempotency_key == "n-1").count(), 1);
    assert_eq!(receivers.of("pager").len(), 1);
    assert_eq!(receivers.of("pager")[0].idempotency_key, "n-2");

    shutdown.cancel();
    pipeline.await.expect("the pipeline task").expect("the pipeline stops cleanly");
}
