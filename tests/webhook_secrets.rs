//! A webhook URL's path token never reaches a log line or `webhook_deliveries.last_error`, even
//! when the receiver echoes the request path in its error answers: the sink role runs as the
//! real binary (its log read from standard error) against a local receiver and a real
//! PostgreSQL.

mod common;

use std::{process::Stdio, sync::Arc, time::Duration};

use axum::{http::StatusCode, http::Uri, response::IntoResponse, Router};
use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine,
};
use chrono::{DateTime, Utc};
use common::*;
use signalcraft_kafka::RecordProducer;
use signalcraft_model::{AlertNotification, AlertTransition, Severity};
use tokio::{io::AsyncReadExt, process::Command, sync::Mutex};

/// The secret parts of a chat-style webhook URL.
const WORKSPACE: &str = "T0SECRET1";
const HOOK: &str = "B0SECRET2";
const TOKEN: &str = "XyZ123tokenTOKENabc";
const KEY_VAR: &str = "TEST_CHAT_HOOK_KEY";
const KEY: &str = "whsec-chat-77e1";

fn notification(id: &str) -> AlertNotification {
    AlertNotification {
        notification_id: id.into(),
        alert_id: "alert-1".into(),
        dedupe_key: "anomaly:test:load".into(),
        rule_id: None,
        series_id: "test:load".into(),
        tenant_id: None,
        transition: AlertTransition::Opened,
        severity: Severity::Critical,
        message: "load 500 is anomalous".into(),
        value: 500.0,
        score: Some(0.99),
        occurred_at: DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("instant"),
    }
}

/// A receiver that fails every request with a 500 whose body echoes the path and query it was
/// asked for, as many error pages do.
async fn echoing_receiver() -> String {
    let router = Router::new().fallback(|uri: Uri| async move {
        (StatusCode::INTERNAL_SERVER_ERROR, format!("no hook at {uri} ({})", uri.path())).into_response()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_token_echoed_by_the_receiver_is_neither_logged_nor_stored() {
    let base = echoing_receiver().await;
    let url = format!("{base}/services/{WORKSPACE}/{HOOK}/{TOKEN}?thread=Q9threadKEY77");
    let database = TestDatabase::new().await;
    let broker = broker(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let config_file = dir.path().join("signalcraft.toml");
    std::fs::write(
        &config_file,
        format!(
            "[[webhooks.endpoints]]\nname = \"chat\"\nurl = \"{url}\"\nsecret_env = \"{KEY_VAR}\"\n\
             http = {{ max_attempts = 2, initial_backoff_ms = 50 }}\n"
        ),
    )
    .expect("config written");

    let mut child = Command::new(env!("CARGO_BIN_EXE_signalcraft"))
        .args(["--config", config_file.to_str().expect("utf-8 path"), "run", "--role", "sink"])
        .env("SIGNALCRAFT_KAFKA__BROKERS", broker.bootstrap_servers())
        .env("SIGNALCRAFT_KAFKA__SESSION_TIMEOUT_MS", "3000")
        .env("SIGNALCRAFT_HTTP__LISTEN", "127.0.0.1:0")
        .env("DATABASE_URL", &database.url)
        .env(KEY_VAR, KEY)
        // Every line the deliverer writes, retries included.
        .env("RUST_LOG", "info,librdkafka=error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the signalcraft binary starts");
    // Read as it comes, so a full pipe never blocks the child.
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut stderr = child.stderr.take().expect("piped");
    let reader = {
        let log = log.clone();
        tokio::spawn(async move {
            let mut chunk = [0u8; 4096];
            while let Ok(read @ 1..) = stderr.read(&mut chunk).await {
                log.lock().await.extend_from_slice(&chunk[..read]);
            }
        })
    };

    let producer = RecordProducer::new(&kafka_settings(&broker), "test").expect("producer");
    producer.send_all(&[notification("n-secret")]).await.expect("produced");
    let recorded = eventually(Duration::from_secs(60), || async {
        let rows: i64 =
            sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE notification_id = 'n-secret'")
                .fetch_one(&database.pool)
                .await
                .expect("count");
        rows == 1
    })
    .await;
    assert!(recorded, "the delivery outcome is recorded");
    stop(child).await;
    reader.await.expect("stderr read to its end");

    let (status, last_error): (String, Option<String>) =
        sqlx::query_as("SELECT status, last_error FROM webhook_deliveries WHERE notification_id = 'n-secret'")
            .fetch_one(&database.pool)
            .await
            .expect("the outcome");
    let last_error = last_error.unwrap_or_default();
    let log = String::from_utf8_lossy(&log.lock().await).into_owned();
    let secrets = [
        format!("{WORKSPACE}/{HOOK}/{TOKEN}"),
        WORKSPACE.to_string(),
        HOOK.to_string(),
        TOKEN.to_string(),
        "Q9threadKEY77".to_string(),
        KEY.to_string(),
        STANDARD.encode(TOKEN),
        URL_SAFE_NO_PAD.encode(TOKEN),
        STANDARD.encode(KEY),
    ];
    for secret in &secrets {
        assert!(!last_error.contains(secret.as_str()), "`{secret}` stored in last_error: {last_error}");
        let leaked: Vec<&str> = log.lines().filter(|line| line.contains(secret.as_str())).collect();
        assert!(leaked.is_empty(), "`{secret}` logged: {leaked:#?}");
    }
    // Not vacuous: the receiver's answer is kept, with the secret parts replaced.
    assert_eq!(status, "FAILED");
    assert!(last_error.starts_with("HTTP 500: no hook at REDACTED"), "{last_error}");
    let attempts: Vec<&str> = log.lines().filter(|line| line.contains("webhook attempt failed")).collect();
    assert!(attempts.iter().any(|line| line.contains("no hook at REDACTED")), "{log}");
    assert!(log.contains("webhook delivery failed for good"), "{log}");
}
