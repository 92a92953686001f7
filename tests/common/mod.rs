//! Shared harness of the end-to-end tests: a real Kafka-protocol broker (librdkafka's mock
//! cluster on TCP) and a real PostgreSQL (`DATABASE_URL`'s server with a fresh database per
//! test, or a throwaway private server started from the machine's binaries).

#![allow(dead_code)] // each test binary uses its own subset

use std::{
    path::{Path, PathBuf},
    process::{Output, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use signalcraft::Config;
use signalcraft_kafka::{EmbeddedBroker, KafkaSettings};
use signalcraft_sink::PrivatePostgres;
use sqlx::{postgres::PgPoolOptions, Connection, PgConnection, PgPool};
use tokio::process::{Child, Command};

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

/// Runs the real binary with `args` against `database`, as an operator would.
pub async fn signalcraft(database: &TestDatabase, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_signalcraft"))
        .args(args)
        .env("DATABASE_URL", &database.url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("the signalcraft binary runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A configuration file in `dir` whose consumers commit their offsets only once a minute (and
/// on SIGTERM), so that a role killed sooner has committed nothing and reads its input again:
/// the worst case a restart must survive.
pub fn rare_commits_config(dir: &Path) -> PathBuf {
    let config_file = dir.join("signalcraft.toml");
    std::fs::write(&config_file, "[kafka]\nproperties = { \"auto.commit.interval.ms\" = \"60000\" }\n")
        .expect("config written");
    config_file
}

/// Starts one role of the binary as a child process, on `broker` and `database_url`, with the
/// configuration file `config_file` and `env` on top (`SIGNALCRAFT_*` overrides).
pub fn start_role(role: &str, broker: &str, database_url: &str, config_file: &Path, env: &[(&str, String)]) -> Child {
    let config_file = config_file.to_str().expect("utf-8 path");
    let mut command = Command::new(env!("CARGO_BIN_EXE_signalcraft"));
    command
        .args(["--config", config_file, "run", "--role", role])
        .env("SIGNALCRAFT_KAFKA__BROKERS", broker)
        .env("SIGNALCRAFT_KAFKA__SESSION_TIMEOUT_MS", "3000")
        .env("SIGNALCRAFT_HTTP__LISTEN", "127.0.0.1:0")
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn,librdkafka=error")
        .stdout(Stdio::null())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().expect("the signalcraft binary starts")
}

/// Stops a child started by [`start_role`] with SIGTERM and checks it exits cleanly.
pub async fn stop(mut child: Child) {
    let pid = child.id().expect("running").to_string();
    let signalled = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
    assert!(signalled.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stops within 30 s of SIGTERM")
        .expect("exit status");
    assert!(status.success(), "SIGTERM is a clean exit: {status}");
}
