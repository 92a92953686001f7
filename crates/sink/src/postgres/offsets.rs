//! Where the sink resumes: the offsets stored in `sink_offsets`, loaded when partitions are
//! assigned so the consumer seeks to exactly the first record not yet in PostgreSQL.

use std::{collections::HashMap, time::Duration};

use signalcraft_kafka::OffsetStore;
use sqlx::PgPool;
use tokio::runtime::Handle;

/// [`OffsetStore`] over the `sink_offsets` table.
pub struct PgOffsetStore {
    pool: PgPool,
    runtime: Handle,
    cluster_id: String,
}

impl PgOffsetStore {
    /// Must be created inside the Tokio runtime that owns `pool`.
    pub fn new(pool: PgPool) -> Self {
        PgOffsetStore { pool, runtime: Handle::current(), cluster_id: String::new() }
    }

    /// Only offsets stored for this Kafka cluster count (see [`crate::PostgresSink::with_cluster_id`]).
    pub fn with_cluster_id(mut self, cluster_id: impl Into<String>) -> Self {
        self.cluster_id = cluster_id.into();
        self
    }
}

impl OffsetStore for PgOffsetStore {
    fn load(&self, group: &str, topic: &str, partitions: &[i32]) -> Result<HashMap<i32, i64>, String> {
        let query = sqlx::query_as::<_, (i32, i64)>(
            "SELECT partition, next_offset FROM sink_offsets \
             WHERE consumer_group = $1 AND topic = $2 AND partition = ANY($3) AND cluster_id = $4",
        )
        .bind(group)
        .bind(topic)
        .bind(partitions)
        .bind(&self.cluster_id)
        .fetch_all(&self.pool);
        // The rebalance callback runs inside librdkafka's poll, possibly on a runtime worker
        // thread, where blocking on a future directly would panic. A scoped thread may block on
        // the runtime's handle; the other workers keep driving the connection meanwhile.
        let rows = std::thread::scope(|scope| {
            scope
                .spawn(|| self.runtime.block_on(async { tokio::time::timeout(Duration::from_secs(15), query).await }))
                .join()
        })
        .map_err(|_| "offset lookup thread panicked".to_string())?
        .map_err(|_| "timed out after 15 s loading stored offsets".to_string())?
        .map_err(|error| format!("loading stored offsets: {error}"))?;
        Ok(rows.into_iter().collect())
    }
}
