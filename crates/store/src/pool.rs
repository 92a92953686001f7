//! The pool: connects to the configured PostgreSQL, or starts (or shares) the private server
//! when none is configured, checks that the server answers, and applies the migrations. Every
//! command that touches the database comes through here, so they all fail the same way, with a
//! message naming the setting to fix.

use std::{path::PathBuf, time::Duration};

use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    Connection, PgConnection, PgPool,
};

use crate::private_postgres::{PrivatePostgres, PrivatePostgresError};

/// How long the first connection to PostgreSQL may take before the start is given up.
pub const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// What the pool is built from: the binary fills it from `database.url` (or `DATABASE_URL`),
/// `database.data_dir` and `sink.max_connections`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseOptions {
    /// PostgreSQL URL; `None`: the private server with its files under `data_dir`.
    pub url: Option<String>,
    /// Where the private server keeps its files.
    pub data_dir: PathBuf,
    /// Most connections in the pool (at least 2 are opened).
    pub max_connections: u32,
}

/// What a command does with the private PostgreSQL (no `database.url`) when one already runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivateServer {
    /// Take it over (it was left behind by a killed run): `signalcraft run`.
    Own,
    /// Use it and leave it running (a pipeline may be using it): admin commands.
    Share,
}

/// Why no pool could be had. The messages name the setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("starting the private PostgreSQL (set DATABASE_URL to use an existing server)")]
    PrivateServer(#[source] PrivatePostgresError),
    #[error("database.url (or DATABASE_URL) is not a PostgreSQL URL")]
    NotAUrl,
    #[error("connecting to PostgreSQL at {server} (database.url / DATABASE_URL): {error}")]
    Refused { server: String, error: sqlx::Error },
    #[error("connecting to PostgreSQL at {server} (database.url / DATABASE_URL): no answer within {} s", FIRST_CONNECT_TIMEOUT.as_secs())]
    NoAnswer { server: String },
    #[error("connecting to PostgreSQL at {server} (database.url / DATABASE_URL)")]
    Pool {
        server: String,
        #[source]
        error: sqlx::Error,
    },
    #[error("applying migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// Connects to (or starts) PostgreSQL and applies the migrations. The private server, if one
/// was started or attached to, comes back with the pool; dropping it stops a server this
/// process owns.
pub async fn connect(
    options: &DatabaseOptions,
    private_server: PrivateServer,
) -> Result<(PgPool, Option<PrivatePostgres>), ConnectError> {
    let (url, private) = match &options.url {
        Some(url) => (url.clone(), None),
        None => {
            let dir = &options.data_dir;
            let private = match private_server {
                PrivateServer::Own => PrivatePostgres::start(dir, "signalcraft").await,
                PrivateServer::Share => PrivatePostgres::attach_or_start(dir, "signalcraft").await,
            }
            .map_err(ConnectError::PrivateServer)?;
            (private.url(), Some(private))
        }
    };
    let connect_options: PgConnectOptions = url.parse().map_err(|_| ConnectError::NotAUrl)?;
    // One connection first, on its own: a pool that cannot connect only says it timed out,
    // where this says why (refused, unknown host, authentication, missing database).
    let server = format!("{}:{}", connect_options.get_host(), connect_options.get_port());
    match tokio::time::timeout(FIRST_CONNECT_TIMEOUT, PgConnection::connect_with(&connect_options)).await {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
        }
        Ok(Err(error)) => return Err(ConnectError::Refused { server, error }),
        Err(_) => return Err(ConnectError::NoAnswer { server }),
    }
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections.max(2))
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(connect_options)
        .await
        .map_err(|error| ConnectError::Pool { server, error })?;
    crate::migrate(&pool).await.map_err(ConnectError::Migrate)?;
    Ok((pool, private))
}
