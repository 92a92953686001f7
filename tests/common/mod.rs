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

use chrono::{TimeDelta, TimeZone};
use signalcraft::Config;
use signalcraft_kafka::{EmbeddedBroker, KafkaSettings};
use signalcraft_model::{
    AlertNotification, AlertTransition, ForecastPoint, KpiForecast, KpiPoint, NewsArticle, ScoredArticle, Severity,
};
use signalcraft_sink::PostgresSink;
use signalcraft_store::PrivatePostgres;
use sqlx::{postgres::PgPoolOptions, Connection, PgConnection, PgPool};
use tokio::process::{Child, Command};

pub mod browser;
pub mod tansu;

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
        signalcraft_store::migrate(&pool).await.expect("migrations apply");
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

/// Checks every read model against the rows it summarises, recomputed with `GROUP BY`:
/// counts, min, max and latest points exactly; sums and means to within float rounding (the
/// read models add in batch order, a GROUP BY in scan order; see `chaos::checks`). Returns the
/// rollup rows compared.
pub async fn assert_read_models_match_their_rows(pool: &PgPool) -> i64 {
    // The chaos harness's check, so the suite and the harness hold the read models to one rule.
    let mismatches = signalcraft::chaos::checks::rollup_mismatches(pool).await.expect("read-model checks run");
    for (model, mismatched) in mismatches {
        assert_eq!(mismatched, 0, "{model}: {mismatched} rows differ from a GROUP BY over their rows");
    }
    sqlx::query_scalar("SELECT (SELECT count(*) FROM kpi_hourly) + (SELECT count(*) FROM kpi_daily)")
        .fetch_one(pool)
        .await
        .expect("rollups counted")
}

/// Creates the monthly partition of `table` holding `at`, as the sink would before writing a
/// row there: for tests that store rows with plain SQL.
pub async fn ensure_partition(pool: &PgPool, table: &str, at: chrono::DateTime<chrono::Utc>) {
    sqlx::query("SELECT signalcraft_ensure_month_partition($1, $2)")
        .bind(table)
        .bind(at.date_naive())
        .execute(pool)
        .await
        .expect("partition created");
}

/// `records` as the consumer hands them to a stage: encoded, on their topic's partition 0, at
/// offsets from `first_offset` on.
pub fn consumed<R: signalcraft_model::Record>(records: &[R], first_offset: i64) -> Vec<rdkafka::message::OwnedMessage> {
    let codec = signalcraft_model::RecordCodec::<R>::new(signalcraft_model::WireFormat::SingleObject);
    records
        .iter()
        .zip(first_offset..)
        .map(|(record, offset)| {
            let payload = codec.encode(record).expect("encodes");
            rdkafka::message::OwnedMessage::new(
                Some(payload),
                None,
                R::TOPIC.name().into(),
                rdkafka::Timestamp::NotAvailable,
                0,
                offset,
                None,
            )
        })
        .collect()
}

/// The anomaly score of each of `points`, unremarkable (score 0.1).
pub fn unremarkable_scores(points: &[signalcraft_model::KpiPoint]) -> Vec<signalcraft_model::KpiAnomaly> {
    points
        .iter()
        .map(|p| signalcraft_model::KpiAnomaly {
            series_id: p.series_id.clone(),
            tenant_id: p.tenant_id.clone(),
            ts: p.ts,
            value: p.value,
            score: 0.1,
            is_anomaly: false,
            detector: "test".into(),
        })
        .collect()
}

/// Rows of every tenant table for tenants `acme` and `globex` and for no tenant, written by the sink.
pub async fn store_tenant_rows(pool: &PgPool) {
    let mut sink = PostgresSink::new(pool.clone(), "test-sink");
    let at = chrono::Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).single().expect("instant");
    let tenants = [Some("acme"), Some("globex"), None];
    let label = |tenant: Option<&str>| tenant.unwrap_or("public").to_string();
    let points: Vec<KpiPoint> = tenants
        .iter()
        .flat_map(|&tenant| {
            (0..3).map(move |hour| KpiPoint {
                series_id: format!("custom:{}:sales", label(tenant)),
                tenant_id: tenant.map(str::to_string),
                metric: "sales".into(),
                unit: "count".into(),
                ts: at + TimeDelta::hours(hour),
                value: hour as f64,
                source: "test".into(),
            })
        })
        .collect();
    let anomalies = unremarkable_scores(&points);
    let forecasts: Vec<KpiForecast> = tenants
        .iter()
        .map(|&tenant| KpiForecast {
            series_id: format!("custom:{}:sales", label(tenant)),
            tenant_id: tenant.map(str::to_string),
            issued_at: at,
            model: "test".into(),
            step_seconds: 3600,
            points: vec![ForecastPoint {
                ts: at + TimeDelta::hours(4),
                mean: 1.0,
                lower_80: 0.5,
                upper_80: 1.5,
                lower_95: 0.0,
                upper_95: 2.0,
            }],
        })
        .collect();
    let articles: Vec<NewsArticle> = tenants
        .iter()
        .map(|&tenant| NewsArticle {
            url: format!("https://news.example/{}", label(tenant)),
            title: "a title".into(),
            seen_at: at,
            domain: None,
            language: None,
            source_country: None,
            social_image: None,
            tenant_id: tenant.map(str::to_string),
            query: "q".into(),
            fetched_at: at,
        })
        .collect();
    let scored: Vec<ScoredArticle> = articles
        .iter()
        .map(|a| ScoredArticle {
            url: a.url.clone(),
            tenant_id: a.tenant_id.clone(),
            title: a.title.clone(),
            seen_at: a.seen_at,
            neg: 0.0,
            neu: 1.0,
            pos: 0.0,
            compound: -0.3,
        })
        .collect();
    let notifications: Vec<AlertNotification> = tenants
        .iter()
        .map(|&tenant| AlertNotification {
            notification_id: format!("n-{}", label(tenant)),
            alert_id: format!("a-{}", label(tenant)),
            dedupe_key: format!("k-{}", label(tenant)),
            rule_id: None,
            series_id: format!("custom:{}:sales", label(tenant)),
            tenant_id: tenant.map(str::to_string),
            transition: AlertTransition::Opened,
            severity: Severity::Warning,
            message: "m".into(),
            value: 1.0,
            score: Some(0.99),
            occurred_at: at,
        })
        .collect();
    for batch in [
        consumed(&points, 0),
        consumed(&anomalies, 0),
        consumed(&forecasts, 0),
        consumed(&articles, 0),
        consumed(&scored, 0),
        consumed(&notifications, 0),
    ] {
        assert!(sink.write_batch(&batch).await.expect("written").is_empty());
    }
    sqlx::query(
        "INSERT INTO fx_rates (base, quote, rate_date, rate, provider, fetched_at) \
         VALUES ('USD', 'EUR', '2024-05-01', 0.93, 'test', now())",
    )
    .execute(pool)
    .await
    .expect("a public row");
    sqlx::query(
        "INSERT INTO alert_rules (name, series_pattern, comparison, threshold, tenant_id) \
         VALUES ('acme rule', 'custom:%', '>', 1, 'acme'), ('acme rule 2', 'custom:%', '<', 0, 'acme'), \
                ('globex rule', 'custom:%', '>', 1, 'globex'), ('operator rule', '%', '>', 1, NULL)",
    )
    .execute(pool)
    .await
    .expect("a rule of each tenant and of the operator");
}

/// Uniform in [0, 1), from a splitmix64-style hash of `i`: noise that is the same on every run.
pub fn noise(i: u64) -> f64 {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(0x6a09_e667_f3bc_c909);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// The replay directory's own configuration (its watch list and processor settings), pointed at
/// the broker at `bootstrap` and `database`.
pub fn replay_config(bootstrap: &str, database: &TestDatabase) -> Config {
    let recorded = Config::load_files(&[fixture("replay/signalcraft.toml").as_path()]).expect("replay config loads");
    let mut config = Config { ingest: recorded.ingest, process: recorded.process, ..Config::default() };
    config.kafka.brokers = Some(bootstrap.to_string());
    config.kafka.session_timeout_ms = 3_000;
    config.database.url = Some(database.url.clone());
    config.http.listen = "127.0.0.1:0".parse().expect("address");
    config
}
