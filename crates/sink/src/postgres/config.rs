//! Configuration of the PostgreSQL sink.

use serde::{Deserialize, Serialize};

/// `[sink]` in the configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Consumer group of the sink; its offsets are stored in `sink_offsets` under this name.
    #[serde(default = "default_group_id")]
    pub group_id: String,
    /// Largest batch written in one transaction. Default 20,000: on PostgreSQL 15 a raw COPY cut
    /// into 5,000-row transactions runs about 15% slower than one COPY, at 20,000 rows a few
    /// percent; `batch_max_wait_ms` still bounds how long a quiet stream waits.
    #[serde(default = "default_batch_max_rows")]
    pub batch_max_rows: usize,
    /// Longest a partial batch waits for more records, in milliseconds.
    #[serde(default = "default_batch_max_wait_ms")]
    pub batch_max_wait_ms: u64,
    /// No longer used: the read models are kept current in every batch's transaction. Still
    /// read so that a configuration setting it is refused with that reason, not as unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_refresh_secs: Option<u64>,
    /// Largest number of database connections the sink holds.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

fn default_group_id() -> String {
    "signalcraft-sink".into()
}
fn default_batch_max_rows() -> usize {
    20_000
}
fn default_batch_max_wait_ms() -> u64 {
    200
}
fn default_max_connections() -> u32 {
    4
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            group_id: default_group_id(),
            batch_max_rows: default_batch_max_rows(),
            batch_max_wait_ms: default_batch_max_wait_ms(),
            view_refresh_secs: None,
            max_connections: default_max_connections(),
        }
    }
}
