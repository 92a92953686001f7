//! Shared harness of the end-to-end tests: a real Kafka-protocol broker (librdkafka's mock
//! cluster on TCP) and a real PostgreSQL (`DATABASE_URL`'s server with a fresh database per
//! test, or a throwaway private server started from the machine's binaries).

#![allow(dead_code)] // each test binary uses its own subset

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use signalcraft::Config;
use signalcraft_kafka::{EmbeddedBroker, KafkaSettings};
use signalcraft_sink::PrivatePostgres;
use sqlx::{postgres::PgPoolOptions, Connection, PgConnection, PgPool};

/// A database for one test; dropped with the test.
pub struct TestDatabase {
    pub url: String,
    pub pool: PgPool,
    _server: Option<PrivatePostgres>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique name for this test process and call.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

impl TestDatabase {
    /// A fresh, migrated database.
    pub async fn new() -> TestDatabase {
        let (url, server) = match std::env::var("DATABASE_URL") {
            Ok(admin_url) => {
                let name = unique_name("signalcraft_test");
                let mut admin = PgConnection::connect(&admin_url).await.expect("DATABASE_URL answers");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .expect("create test database");
                let base = admin_url.rsplit_once('/').map(|(base, _)| base.to_string()).unwrap_or(admin_url.clone());
                (format!("{base}/{name}"), None)
            }
            Err(_) => {
                let server = PrivatePostgres::start_temporary("signalcraft").await.expect("private PostgreSQL starts");
                (server.url(), Some(server))
            }
        };
        let pool = PgPoolOptions::new().max_connections(4).connect(&url).await.expect("test database answers");
        signalcraft_sink::migrate(&pool).await.expect("migrations apply");
        TestDatabase { url, pool, _server: server }
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&self.pool).await.expect("count")
    }
}

/// A broker with every signalcraft topic.
pub fn broker(partitions: i32) -> EmbeddedBroker {
    EmbeddedBroker::start(partitions).expect("embedded broker starts")
}

/// A configuration pointing at `broker` and `database`, HTTP on a free port.
pub fn config_for(broker: &EmbeddedBroker, database: &TestDatabase) -> Config {
    let mut config = Config::default();
    config.kafka.brokers = Some(broker.bootstrap_servers().to_string());
    config.kafka.session_timeout_ms = 3_000;
    config.database.url = Some(database.url.clone());
    config.http.listen = "127.0.0.1:0".parse().expect("address");
    config
}

pub fn kafka_settings(broker: &EmbeddedBroker) -> KafkaSettings {
    KafkaSettings::new(broker.bootstrap_servers())
}

/// tests/fixtures/<path>
pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path)
}

/// Polls `check` until it is true or `timeout` passes; returns whether it became true.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}
