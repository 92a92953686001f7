//! The sinks: where derived records become rows in PostgreSQL, effectively once. Each batch of
//! consumed records is written in one transaction together with the consumed offsets; on
//! partition assignment the consumer seeks to the offsets stored there.
//!
//! # Layout
//! - [`postgres`]: the PostgreSQL sink (config, COPY encoding, tables, writer, offset store,
//!   monthly partitions, retention).
//! - [`private_postgres`]: a throwaway PostgreSQL server started from the machine's binaries,
//!   for one-machine runs without `DATABASE_URL` and for tests.
//! - [`webhook`]: alert notifications POSTed to webhook endpoints, signed, retried (through the
//!   shared `signalcraft-http` layer), recorded.
//! - [`migrate`]: the embedded sqlx migrations (`migrations/`).

pub mod postgres;
pub mod private_postgres;
pub mod webhook;

pub use postgres::{PgOffsetStore, PostgresSink, SinkConfig};
pub use private_postgres::PrivatePostgres;
pub use webhook::{WebhookConfig, WebhookDeliverer, WebhookEndpointConfig};

/// Applies every pending migration in `migrations/` (idempotent; safe on every start).
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("../../migrations").run(pool).await
}
