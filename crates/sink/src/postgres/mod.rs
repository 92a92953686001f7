//! The PostgreSQL sink: configuration, binary COPY encoding, table mappings, the
//! effectively-once batch writer and the offset store it seeks from, monthly partitions and
//! retention.

pub mod config;
pub mod copy;
pub mod offsets;
pub mod partitions;
pub mod retention;
mod rows;
pub mod tables;
mod telemetry;
pub mod writer;

pub use config::SinkConfig;
pub use offsets::PgOffsetStore;
pub use tables::SinkTable;
pub use writer::PostgresSink;
