//! The tenant API: what a dashboard reads, for one tenant at a time, under `/api/v1`, and the
//! dashboard page itself at `/`.
//!
//! - [`auth`]: bearer JWTs (`sub`, `tenant`, `role`), and what viewers, editors and admins may do.
//! - [`keys`]: API keys for machines, stored as digests, exchanged for tokens.
//! - [`kpi_csv`]: KPI rows (CSV columns, JSON items) made into observations, for pushes and imports.
//! - [`access`]: every request's queries in one transaction as `signalcraft_reader` (or
//!   `signalcraft_editor`) with the tenant set, so row-level security walls tenants apart
//!   behind the handlers' own check.
//! - [`routes`]: the handlers — series, points, forecasts, news, alerts, alert rules, token,
//!   events (Server-Sent Events from the sink's commits), KPI pushes onto raw.kpi.
//! - [`router`]: the routes as one router with its generated OpenAPI 3.1 document and CORS,
//!   beside the dashboard.
//! - [`dashboard`]: the dashboard page and its assets (uPlot vendored), embedded in the binary.
//! - [`params`], [`problem`]: checked inputs, and RFC 9457 problem bodies for every refusal.
//! - [`state`], [`config`]: what handlers share, and `[api]`.
//!
//! [`TenantApi::start`] brings it up beside the pipeline (`run`) or alone (`serve`).

pub mod access;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod keys;
pub mod kpi_csv;
pub mod params;
pub mod problem;
pub mod router;
pub mod routes;
pub mod state;

use std::{future::Future, pin::Pin};

use axum::Router;
use sqlx::{postgres::PgPoolOptions, PgPool};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use auth::{Role, TokenSigner};
pub use config::ApiConfig;
pub use params::TenantId;
pub use state::{ApiState, Intake};

/// A task the API needs running beside its router, for the caller to supervise.
pub type ApiTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The API, ready to serve: its router, and the tasks behind live events.
pub struct TenantApi {
    pub router: Router,
    pub state: ApiState,
    /// LISTEN on the events channel; prune old events. Both run until shutdown.
    pub tasks: Vec<(&'static str, ApiTask)>,
}

impl TenantApi {
    /// Connects the API's own pool (`api.database_url`, or `owner`'s server and login), checks it
    /// may act as the reader and editor roles, and builds the router. Events are pruned through
    /// `owner`, the tables' owner.
    pub async fn start(
        config: &ApiConfig,
        signer: TokenSigner,
        owner: &PgPool,
        shutdown: CancellationToken,
    ) -> Result<TenantApi, String> {
        TenantApi::start_with_intake(config, signer, owner, None, shutdown).await
    }

    /// [`TenantApi::start`], with pushed KPI values (`POST …/kpis`) going to `intake`.
    pub async fn start_with_intake(
        config: &ApiConfig,
        signer: TokenSigner,
        owner: &PgPool,
        intake: Option<state::Intake>,
        shutdown: CancellationToken,
    ) -> Result<TenantApi, String> {
        config.check()?;
        let options = match &config.database_url {
            Some(url) => url.parse().map_err(|error| format!("api.database_url: {error}"))?,
            None => owner.connect_options().as_ref().clone(),
        };
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_lazy_with(options);
        access::check_roles(&pool).await?;
        let (wake, events) = watch::channel(0u64);
        let state = ApiState::with_intake(pool.clone(), signer, config, events, intake, shutdown.clone());
        let router = router::router(state.clone(), &config.cors_allowed_origins);
        let tasks: Vec<(&'static str, ApiTask)> = vec![
            ("api-events-listener", Box::pin(routes::events::listen(pool, wake, shutdown.clone()))),
            (
                "api-events-retention",
                Box::pin(routes::events::maintain(
                    owner.clone(),
                    state.clone(),
                    config.events_retention_hours,
                    shutdown,
                )),
            ),
        ];
        Ok(TenantApi { router, state, tasks })
    }
}
