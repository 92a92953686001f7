//! `signalcraft webhooks redeliver`, as an operator runs it once a receiver is back: every
//! delivery recorded as FAILED for a configured endpoint is sent again with its recorded
//! payload, its idempotency key and a fresh signature, and its row says what happened now.

mod common;

use std::sync::{Arc, Mutex};

use axum::{extract::State, http::HeaderMap, http::StatusCode, routing::post, Router};
use common::*;
use signalcraft_sink::webhook::signature;

const KEY_VAR: &str = "TEST_REDELIVERY_KEY_SIGNALCRAFT";
const KEY: &str = "whsec-redelivery-77";

type Received = Arc<Mutex<Vec<(String, String, String)>>>;
/// notification_id, endpoint, status, attempts, http_status, last_error
type DeliveryRow = (String, String, String, i32, Option<i32>, Option<String>);

async fn receive(State(received): State<Received>, headers: HeaderMap, body: String) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    received.lock().expect("not poisoned").push((header("idempotency-key"), header("signalcraft-signature"), body));
    StatusCode::NO_CONTENT
}

async fn insert(database: &TestDatabase, notification_id: &str, endpoint: &str, status: &str) {
    sqlx::query(
        "INSERT INTO webhook_deliveries (notification_id, endpoint, status, attempts, http_status, last_error, \
         payload, first_attempt_at, finished_at) \
         VALUES ($1, $2, $3, 5, 500, 'HTTP 500: down', $4::jsonb, now(), now())",
    )
    .bind(notification_id)
    .bind(endpoint)
    .bind(status)
    .bind(format!(r#"{{"notification_id":"{notification_id}","transition":"OPENED","value":500.0}}"#))
    .execute(&database.pool)
    .await
    .expect("inserted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_are_sent_again_and_their_rows_updated() {
    let received: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hooks", listener.local_addr().expect("address"));
    let router = Router::new().route("/hooks", post(receive)).with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let database = TestDatabase::new().await;
    insert(&database, "n-9", "ops", "FAILED").await;
    insert(&database, "n-8", "ops", "DELIVERED").await;
    insert(&database, "n-7", "retired", "FAILED").await;

    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("signalcraft.toml");
    std::fs::write(
        &config,
        format!(
            "[[webhooks.endpoints]]\nname = \"ops\"\nurl = \"{url}\"\nsecret_env = \"{KEY_VAR}\"\n\
             http = {{ initial_backoff_ms = 50 }}\n"
        ),
    )
    .expect("config written");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_signalcraft"))
        .args(["--config", config.to_str().expect("utf-8 path"), "webhooks", "redeliver"])
        .env("DATABASE_URL", &database.url)
        .env(KEY_VAR, KEY)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("the signalcraft binary runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "redelivered 1 of 1 failed webhook deliveries");

    let rows: Vec<DeliveryRow> = sqlx::query_as(
        "SELECT notification_id, endpoint, status, attempts, http_status, last_error FROM webhook_deliveries \
         ORDER BY notification_id",
    )
    .fetch_all(&database.pool)
    .await
    .expect("rows");
    assert_eq!(
        rows,
        vec![
            ("n-7".into(), "retired".into(), "FAILED".into(), 5, Some(500), Some("HTTP 500: down".into())),
            ("n-8".into(), "ops".into(), "DELIVERED".into(), 5, Some(500), Some("HTTP 500: down".into())),
            ("n-9".into(), "ops".into(), "DELIVERED".into(), 6, Some(204), None),
        ],
        "only the configured endpoint's FAILED delivery is sent; attempts add up"
    );

    let received = received.lock().expect("not poisoned").clone();
    assert_eq!(received.len(), 1);
    let (key, signed, body) = &received[0];
    assert_eq!(key, "n-9");
    assert!(signature::verify(KEY.as_bytes(), signed, body.as_bytes()).is_some(), "{signed}");
    let payload: serde_json::Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(payload, serde_json::json!({"notification_id": "n-9", "transition": "OPENED", "value": 500.0}));
}
