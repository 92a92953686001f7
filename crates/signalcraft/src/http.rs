//! The operational HTTP endpoints: `/metrics` (Prometheus text format), `/healthz` (is the
//! process making progress?) and `/readyz` (can it do its work right now?); the tenant API's
//! routes (`signalcraft_api`) are merged in on the same listener when this process serves it.
//!
//! - `/readyz` checks the real dependencies on each call — broker metadata and a database
//!   round trip, each bounded by `http.check_timeout_ms` — and reuses an answer for
//!   `http.check_cache_ms` so frequent scrapes do not hammer them. 200 when every check passes,
//!   503 otherwise (and while the roles are starting), with a JSON body naming each check.
//! - `/healthz` is 503 when a consumer stage has been stuck longer than `http.stall_secs` (see
//!   `signalcraft_kafka::health` for what stuck means) or a supervised task is down
//!   ([`crate::tasks`]), with a JSON body naming them; otherwise 200.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use axum::{extract::State, http::StatusCode, response::IntoResponse, routing::get, Router};
use prometheus::{Encoder, TextEncoder};
use serde::Serialize;
use signalcraft_kafka::{KafkaSettings, StageHealth};
use sqlx::{postgres::PgPoolOptions, PgPool};
use tokio_util::sync::CancellationToken;

use crate::tasks::{TaskBoard, TaskState};

/// One dependency `/readyz` checks.
#[async_trait]
pub trait Check: Send + Sync {
    /// The name in the JSON body.
    fn name(&self) -> &'static str;
    /// Whether the dependency answers; the error says why not.
    async fn check(&self) -> Result<(), String>;
}

/// The broker answers a metadata request.
pub struct KafkaCheck {
    kafka: KafkaSettings,
    timeout: Duration,
}

impl KafkaCheck {
    pub fn new(kafka: KafkaSettings, timeout: Duration) -> Self {
        KafkaCheck { kafka, timeout }
    }
}

#[async_trait]
impl Check for KafkaCheck {
    fn name(&self) -> &'static str {
        "kafka"
    }

    async fn check(&self) -> Result<(), String> {
        // A fresh client each time (at most once per cache period): it bootstraps from
        // `kafka.brokers` as a restarted process would, and librdkafka blocks, so it runs on a
        // blocking thread.
        let (kafka, timeout) = (self.kafka.clone(), self.timeout);
        tokio::task::spawn_blocking(move || kafka.check_brokers(timeout))
            .await
            .map_err(|error| format!("metadata check failed: {error}"))?
    }
}

/// The database answers `SELECT 1`.
pub struct PostgresCheck {
    /// A pool of its own, so a sink holding every connection of the shared pool does not make
    /// the database look down.
    pool: PgPool,
    timeout: Duration,
}

impl PostgresCheck {
    /// Checks the database `pool` connects to, through one connection of its own.
    pub fn new(pool: &PgPool, timeout: Duration) -> Self {
        let options = pool.connect_options().as_ref().clone();
        let pool = PgPoolOptions::new().max_connections(1).acquire_timeout(timeout).connect_lazy_with(options);
        PostgresCheck { pool, timeout }
    }
}

#[async_trait]
impl Check for PostgresCheck {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn check(&self) -> Result<(), String> {
        match tokio::time::timeout(self.timeout, sqlx::query("SELECT 1").execute(&self.pool)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        }
    }
}

/// What the endpoints read: readiness checks, the stages' progress and the tasks' states.
/// Cheap to clone.
#[derive(Clone)]
pub struct Health(Arc<HealthState>);

struct HealthState {
    started: AtomicBool,
    checks: Vec<Box<dyn Check>>,
    cache_for: Duration,
    last_report: tokio::sync::Mutex<Option<(Instant, Arc<ReadyReport>)>>,
    stall_after: Duration,
    stages: Mutex<Vec<(String, StageHealth)>>,
    tasks: TaskBoard,
}

#[derive(Debug, Serialize)]
struct ReadyReport {
    status: &'static str,
    checks: BTreeMap<&'static str, CheckResult>,
}

#[derive(Debug, Serialize)]
struct CheckResult {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct LiveReport {
    status: &'static str,
    stalled: Vec<StalledStage>,
    tasks: Vec<DownTask>,
}

#[derive(Debug, Serialize)]
struct StalledStage {
    stage: String,
    busy_secs: u64,
    failed_attempts: u32,
}

#[derive(Debug, Serialize)]
struct DownTask {
    task: String,
    state: &'static str,
    error: String,
}

impl Health {
    /// Health with these readiness `checks`, answers reused for `cache_for`, stages stuck after
    /// `stall_after`, and the tasks on `tasks`.
    pub fn new(checks: Vec<Box<dyn Check>>, cache_for: Duration, stall_after: Duration, tasks: TaskBoard) -> Self {
        Health(Arc::new(HealthState {
            started: AtomicBool::new(false),
            checks,
            cache_for,
            last_report: tokio::sync::Mutex::new(None),
            stall_after,
            stages: Mutex::new(Vec::new()),
            tasks,
        }))
    }

    /// Every role has started: `/readyz` now answers from its checks.
    pub fn set_started(&self) {
        self.0.started.store(true, Ordering::SeqCst);
    }

    /// Watches the progress of `stage`'s consumer loop.
    pub fn watch_stage(&self, stage: &str, health: StageHealth) {
        self.stages().push((stage.to_string(), health));
    }

    fn stages(&self) -> std::sync::MutexGuard<'_, Vec<(String, StageHealth)>> {
        // A plain list, consistent after every write: a poisoned lock is still good to read.
        self.0.stages.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn ready_report(&self) -> Arc<ReadyReport> {
        // Holding the lock through the checks makes concurrent scrapes share one round.
        let mut last = self.0.last_report.lock().await;
        if let Some((at, report)) = last.as_ref() {
            if at.elapsed() < self.0.cache_for {
                return report.clone();
            }
        }
        let results = futures::future::join_all(self.0.checks.iter().map(|check| check.check())).await;
        let mut checks = BTreeMap::new();
        for (check, result) in self.0.checks.iter().zip(results) {
            let (ok, error) = match result {
                Ok(()) => (true, None),
                Err(error) => (false, Some(error)),
            };
            checks.insert(check.name(), CheckResult { ok, error });
        }
        let status = if checks.values().all(|c| c.ok) { "ready" } else { "unavailable" };
        let report = Arc::new(ReadyReport { status, checks });
        if report.status != "ready" {
            tracing::warn!(checks = ?report.checks, "not ready: a dependency does not answer");
        }
        *last = Some((Instant::now(), report.clone()));
        report
    }

    fn live_report(&self) -> LiveReport {
        let stalled: Vec<StalledStage> = self
            .stages()
            .iter()
            .filter_map(|(stage, health)| {
                health.stalled(self.0.stall_after).map(|(busy, failed_attempts)| StalledStage {
                    stage: stage.clone(),
                    busy_secs: busy.as_secs(),
                    failed_attempts,
                })
            })
            .collect();
        let tasks: Vec<DownTask> = self
            .0
            .tasks
            .down()
            .into_iter()
            .filter_map(|(task, state)| match state {
                TaskState::Running => None,
                TaskState::Restarting { error } => Some(DownTask { task, state: "restarting", error }),
                TaskState::Dead { error } => Some(DownTask { task, state: "dead", error }),
            })
            .collect();
        let status = if stalled.is_empty() && tasks.is_empty() { "ok" } else { "unhealthy" };
        LiveReport { status, stalled, tasks }
    }
}

fn json(status: StatusCode, body: &impl Serialize) -> axum::response::Response {
    match serde_json::to_string(body) {
        Ok(text) => (status, [("content-type", "application/json")], text + "\n").into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, format!("encoding the report: {error}\n")).into_response(),
    }
}

async fn metrics() -> impl IntoResponse {
    let mut body = Vec::new();
    match TextEncoder::new().encode(&prometheus::gather(), &mut body) {
        Ok(()) => (StatusCode::OK, [("content-type", prometheus::TEXT_FORMAT)], body).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, format!("encoding metrics: {error}")).into_response(),
    }
}

async fn healthz(State(health): State<Health>) -> axum::response::Response {
    let report = health.live_report();
    let status = if report.status == "ok" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    json(status, &report)
}

async fn readyz(State(health): State<Health>) -> axum::response::Response {
    if !health.0.started.load(Ordering::SeqCst) {
        return json(StatusCode::SERVICE_UNAVAILABLE, &ReadyReport { status: "starting", checks: BTreeMap::new() });
    }
    let report = health.ready_report().await;
    let status = if report.status == "ready" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    json(status, report.as_ref())
}

fn router(health: Health) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(health)
}

/// Binds `listen` and serves until `shutdown`; returns the bound address (port 0 picks one)
/// and the server, to be run (and supervised) by the caller.
pub async fn serve(
    listen: SocketAddr,
    health: Health,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, impl std::future::Future<Output = Result<(), String>>)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    Ok((address, serve_on(listener, health, None, shutdown)?))
}

/// [`serve`] on a listener already bound (by [`crate::infrastructure::Infrastructure::start`]),
/// with the tenant API's routes beside the operational ones when `api` is given.
pub fn serve_on(
    listener: tokio::net::TcpListener,
    health: Health,
    api: Option<Router>,
    shutdown: CancellationToken,
) -> std::io::Result<impl std::future::Future<Output = Result<(), String>>> {
    let address = listener.local_addr()?;
    let serves_api = api.is_some();
    let routes = match api {
        Some(api) => router(health).merge(api),
        None => router(health),
    };
    let server = async move {
        axum::serve(listener, routes)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .map_err(|error| format!("HTTP server stopped: {error}"))
    };
    if serves_api {
        tracing::info!(%address, "serving /metrics, /healthz, /readyz, the tenant API under /api/v1 and the dashboard at /");
    } else {
        tracing::info!(%address, "serving /metrics, /healthz and /readyz");
    }
    Ok(server)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;

    /// A dependency whose answer the test sets, counting how often it is asked.
    struct Fake {
        down: Arc<AtomicBool>,
        calls: Arc<AtomicU32>,
    }

    #[async_trait]
    impl Check for Fake {
        fn name(&self) -> &'static str {
            "postgres"
        }
        async fn check(&self) -> Result<(), String> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                Err("connection refused".into())
            } else {
                Ok(())
            }
        }
    }

    async fn get(health: &Health, path: &str) -> (StatusCode, serde_json::Value) {
        let (address, server) =
            serve("127.0.0.1:0".parse().expect("address"), health.clone(), CancellationToken::new())
                .await
                .expect("binds");
        tokio::spawn(server);
        let response = reqwest::get(format!("http://{address}{path}")).await.expect("answers");
        let status = StatusCode::from_u16(response.status().as_u16()).expect("status");
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).expect("a JSON body"))
    }

    #[tokio::test]
    async fn readyz_names_the_dependency_that_is_down_and_reuses_answers_briefly() {
        let (down, calls) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU32::new(0)));
        let fake = Fake { down: down.clone(), calls: calls.clone() };
        let health = Health::new(
            vec![Box::new(fake)],
            Duration::from_millis(300),
            Duration::from_secs(60),
            TaskBoard::default(),
        );
        let (status, body) = get(&health, "/readyz").await;
        assert_eq!((status, body["status"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("starting")));

        health.set_started();
        let (status, body) = get(&health, "/readyz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, serde_json::json!({"status": "ready", "checks": {"postgres": {"ok": true}}}));

        down.store(true, Ordering::SeqCst);
        let (status, _) = get(&health, "/readyz").await;
        assert_eq!(status, StatusCode::OK, "the cached answer");
        tokio::time::sleep(Duration::from_millis(400)).await;
        let (status, body) = get(&health, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            serde_json::json!({"status": "unavailable", "checks": {"postgres": {"ok": false, "error": "connection refused"}}})
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2, "one check per cache period");
    }

    #[tokio::test]
    async fn healthz_names_a_stalled_stage_and_a_task_that_died() {
        let tasks = TaskBoard::default();
        let health = Health::new(Vec::new(), Duration::ZERO, Duration::from_millis(50), tasks.clone());
        let stage = StageHealth::default();
        health.watch_stage("sink", stage.clone());
        let (status, body) = get(&health, "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, serde_json::json!({"status": "ok", "stalled": [], "tasks": []}));

        stage.batch_started();
        stage.attempt_failed();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (status, body) = get(&health, "/healthz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["stalled"][0]["stage"], "sink");
        assert_eq!(body["stalled"][0]["failed_attempts"], 1);

        stage.batch_finished();
        tasks.started("rules-reload");
        tasks.died("rules-reload", "panicked: TimeDelta::seconds out of bounds");
        let (status, body) = get(&health, "/healthz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            serde_json::json!({"status": "unhealthy", "stalled": [], "tasks": [
                {"task": "rules-reload", "state": "dead", "error": "panicked: TimeDelta::seconds out of bounds"}
            ]})
        );
    }
}
