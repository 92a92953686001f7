//! The sinks: where derived records become rows in PostgreSQL, effectively once. Each batch of
//! consumed records is written in one transaction together with the consumed offsets; on
//! partition assignment the consumer seeks to the offsets stored there. The database itself
//! (migrations, the private server, the pool) belongs to `signalcraft_store`.
//!
//! # Layout
//! - [`postgres`]: the PostgreSQL sink (config, COPY encoding, tables, writer, offset store,
//!   monthly partitions, retention).
//! - [`webhook`]: alert notifications POSTed to webhook endpoints, signed, retried (through the
//!   shared `signalcraft-http` layer), recorded.

pub mod postgres;
pub mod webhook;

pub use postgres::{PgOffsetStore, PostgresSink, SinkConfig};
pub use webhook::{WebhookConfig, WebhookDeliverer, WebhookEndpointConfig};
