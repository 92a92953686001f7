//! The tenant API in this process: `signalcraft serve` (the API and the operational endpoints
//! alone, on the pipeline's database), the `serve` role of `run`, the token signer chosen from
//! `[api]`, and the viewer tokens a replay run prints so a new user can call the API at once.

use std::{collections::BTreeSet, net::SocketAddr, time::Duration};

use anyhow::Context;
use signalcraft_api::{Intake, Role, TenantApi, TenantId, TokenSigner};
use signalcraft_kafka::RecordProducer;
use signalcraft_model::Topic;
use signalcraft_store::PgWatchList;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::{
    config::Config,
    http,
    infrastructure::{Infrastructure, Needs, PrivateServer},
    tasks::TaskBoard,
};

/// What `serve` stands on: the database (shared with a pipeline that may run on the private
/// server), the HTTP listener, and the cluster of `kafka.brokers` when one is configured (for
/// pushed KPI values; without it, pushes are answered 503).
fn serve_needs(config: &Config) -> Needs {
    Needs { kafka: config.kafka.brokers.is_some(), database: Some(PrivateServer::Share), http: true }
}

/// The signer of `[api]`: its `signing_key`, or, where `random_allowed` (a `run`, whose tokens
/// may end with it), a key of this process's own.
pub fn signer(config: &Config, random_allowed: bool) -> anyhow::Result<TokenSigner> {
    let ttl = Duration::from_secs(config.api.token_ttl_secs);
    match &config.api.signing_key {
        Some(key) => Ok(TokenSigner::new(key.as_bytes(), ttl)),
        None if random_allowed => {
            tracing::info!(
                "api.signing_key is not set: tokens are signed with a key of this process's own and end with it \
                 (set SIGNALCRAFT_API__SIGNING_KEY to keep them across restarts and replicas)"
            );
            TokenSigner::random(ttl).context("making a token signing key")
        }
        None => anyhow::bail!(
            "api.signing_key is not set: the tenant API needs a key of at least 32 bytes to sign and check tokens \
             (SIGNALCRAFT_API__SIGNING_KEY)"
        ),
    }
}

/// Brings the API up over `pool`, pushed KPI values going to `intake`.
pub async fn start_api(
    config: &Config,
    signer: TokenSigner,
    pool: &PgPool,
    intake: Option<Intake>,
    shutdown: &CancellationToken,
) -> anyhow::Result<TenantApi> {
    TenantApi::start_with_intake(&config.api, signer, pool, intake, shutdown.clone()).await.map_err(anyhow::Error::msg)
}

/// Prints, on standard output, a viewer token for every tenant the configuration and the watch
/// list name, the `curl` that uses it, and the dashboard's address signed in with it: the quick
/// start's way into the API. Tokens go to the terminal that started the process, never to the
/// log.
pub async fn print_viewer_tokens(
    config: &Config,
    pool: &PgPool,
    signer: &TokenSigner,
    address: SocketAddr,
) -> anyhow::Result<()> {
    let watched = PgWatchList::new(pool.clone()).list().await.context("reading the watch list")?;
    let ingest = &config.ingest;
    let tenants: BTreeSet<&str> = ingest
        .gdelt
        .queries
        .iter()
        .map(|query| query.tenant_id.as_str())
        .chain(ingest.openmeteo.locations.iter().map(|location| location.id.as_str()))
        .chain(watched.iter().map(|business| business.tenant_id.as_str()))
        .collect();
    let minutes = signer.ttl().as_secs() / 60;
    let mut lines = vec![format!(
        "tenant API: http://{address}/api/v1 (OpenAPI at /api/v1/openapi.json); viewer tokens, valid {minutes} min, \
         for this process only:"
    )];
    for tenant in tenants.into_iter().filter_map(|tenant| TenantId::parse(tenant).ok()) {
        let token = signer.issue("quick-start", &tenant, Role::Viewer).map_err(anyhow::Error::msg)?;
        lines.push(format!("  {tenant}: TOKEN={token}"));
        lines.push(format!(
            "    curl -H \"Authorization: Bearer $TOKEN\" http://{address}/api/v1/tenants/{tenant}/series"
        ));
        // The fragment never reaches the server (nor its logs); the page reads it and removes it.
        lines.push(format!("    dashboard: http://{address}/#token={token}"));
    }
    println!("{}", lines.join("\n"));
    Ok(())
}

/// `signalcraft serve`: the tenant API and `/metrics`, `/healthz`, `/readyz` on `http.listen`,
/// until `shutdown`.
pub async fn serve(config: &Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let signer = signer(config, false)?;
    let mut infrastructure = Infrastructure::start(config, serve_needs(config)).await?;
    let pool = infrastructure.pool()?.clone();
    let intake = match &config.kafka.brokers {
        Some(_) => {
            let kafka = &infrastructure.kafka;
            let producer = RecordProducer::new(kafka, "serve").context("creating the Kafka producer")?;
            Some(Intake { producer, window: kafka.plausibility(Topic::RawKpi) })
        }
        None => None,
    };
    let board = TaskBoard::default();
    let timeout = Duration::from_millis(config.http.check_timeout_ms);
    let checks: Vec<Box<dyn http::Check>> = vec![Box::new(http::PostgresCheck::new(&pool, timeout))];
    let health = http::Health::new(
        checks,
        Duration::from_millis(config.http.check_cache_ms),
        Duration::from_secs(config.http.stall_secs),
        board.clone(),
    );
    let api = start_api(config, signer, &pool, intake, &shutdown).await?;
    let listener = infrastructure.listener.take().context("the HTTP listener was not bound")?;
    let server = http::serve_on(listener, health.clone(), Some(api.router), shutdown.clone())?;
    let mut tasks = tokio::task::JoinSet::new();
    for (name, task) in api.tasks {
        board.started(name);
        tasks.spawn(task);
    }
    health.set_started();
    let served = server.await;
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    pool.close().await;
    served.map_err(anyhow::Error::msg)
}
