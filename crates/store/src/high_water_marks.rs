//! GDELT's per-query high-water marks kept in PostgreSQL (`ingest_high_water_marks`), so a
//! restarted ingestor resumes where the last delivered poll left off.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use signalcraft_ingest::{HighWaterMark, HighWaterMarks, MarkStoreError};
use sqlx::PgPool;

/// [`HighWaterMarks`] in the `ingest_high_water_marks` table, under one source name.
pub struct PgHighWaterMarks {
    pool: PgPool,
    source: &'static str,
}

impl PgHighWaterMarks {
    pub fn new(pool: PgPool, source: &'static str) -> Self {
        PgHighWaterMarks { pool, source }
    }
}

#[async_trait]
impl HighWaterMarks for PgHighWaterMarks {
    async fn get(&self, key: &str) -> Result<Option<HighWaterMark>, MarkStoreError> {
        let row: Option<(DateTime<Utc>, Vec<String>)> =
            sqlx::query_as("SELECT seen_at, ids FROM ingest_high_water_marks WHERE source = $1 AND key = $2")
                .bind(self.source)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(seen_at, ids)| HighWaterMark { seen_at, urls: ids.into_iter().collect() }))
    }

    async fn set(&self, key: &str, mark: HighWaterMark) -> Result<(), MarkStoreError> {
        let ids: Vec<String> = mark.urls.into_iter().collect();
        // Never move a mark backwards: a slower, older writer must not undo a newer one.
        sqlx::query(
            "INSERT INTO ingest_high_water_marks (source, key, seen_at, ids) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (source, key) DO UPDATE SET seen_at = EXCLUDED.seen_at, ids = EXCLUDED.ids, updated_at = now() \
             WHERE ingest_high_water_marks.seen_at <= EXCLUDED.seen_at",
        )
        .bind(self.source)
        .bind(key)
        .bind(mark.seen_at)
        .bind(&ids)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
