//! When each ingest source last delivered a poll in full (`source_status`): written by the
//! ingest role after every acknowledged poll ([`PgPollLog`], `signalcraft_ingest::PollLog`),
//! read by `signalcraft status` ([`last_successes`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use signalcraft_ingest::PollLog;
use sqlx::PgPool;

/// [`PollLog`] in the `source_status` table.
pub struct PgPollLog {
    pool: PgPool,
}

impl PgPollLog {
    pub fn new(pool: PgPool) -> Self {
        PgPollLog { pool }
    }
}

#[async_trait]
impl PollLog for PgPollLog {
    async fn delivered(&self, source: &str, at: DateTime<Utc>, records: usize) -> Result<(), String> {
        // Never backwards: two processes running one source (a rolling restart) both write.
        sqlx::query(
            "INSERT INTO source_status (source, last_success_at, last_records) VALUES ($1, $2, $3) \
             ON CONFLICT (source) DO UPDATE SET last_success_at = EXCLUDED.last_success_at, \
                 last_records = EXCLUDED.last_records \
             WHERE source_status.last_success_at <= EXCLUDED.last_success_at",
        )
        .bind(source)
        .bind(at)
        .bind(i64::try_from(records).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| format!("writing source_status: {e}"))
    }
}

/// One source's last success.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SourceSuccess {
    pub source: String,
    pub last_success_at: DateTime<Utc>,
    pub last_records: i64,
}

/// Every source's last success, by source name.
pub async fn last_successes(pool: &PgPool) -> Result<Vec<SourceSuccess>, sqlx::Error> {
    sqlx::query_as("SELECT source, last_success_at, last_records FROM source_status ORDER BY source")
        .fetch_all(pool)
        .await
}
