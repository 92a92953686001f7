//! The `webhook_deliveries` table: one row per notification and endpoint, holding the outcome
//! (delivered, or failed after the last attempt) with the payload. A notification consumed again
//! is not sent again to an endpoint that already has a row ([`settled`]).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// What one delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Outcome {
    pub notification_id: String,
    pub endpoint: String,
    pub delivered: bool,
    pub attempts: u32,
    pub http_status: Option<u16>,
    pub last_error: Option<String>,
    pub payload: String,
    pub first_attempt_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

/// Endpoint names that already have an outcome for these notifications.
pub(super) async fn settled(pool: &PgPool, ids: &[String]) -> Result<HashSet<(String, String)>, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT notification_id, endpoint FROM webhook_deliveries WHERE notification_id = ANY($1::text[])",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Records `outcomes` (one statement). An outcome already recorded is kept as it was.
pub(super) async fn record(pool: &PgPool, outcomes: &[Outcome]) -> Result<(), sqlx::Error> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&Outcome) -> String| outcomes.iter().map(f).collect::<Vec<_>>();
    let statuses: Vec<&str> = outcomes.iter().map(|o| if o.delivered { "DELIVERED" } else { "FAILED" }).collect();
    let attempts: Vec<i32> = outcomes.iter().map(|o| o.attempts as i32).collect();
    let http_statuses: Vec<Option<i32>> = outcomes.iter().map(|o| o.http_status.map(i32::from)).collect();
    let errors: Vec<Option<String>> = outcomes.iter().map(|o| o.last_error.clone()).collect();
    let first: Vec<DateTime<Utc>> = outcomes.iter().map(|o| o.first_attempt_at).collect();
    let finished: Vec<DateTime<Utc>> = outcomes.iter().map(|o| o.finished_at).collect();
    sqlx::query(
        "INSERT INTO webhook_deliveries (notification_id, endpoint, status, attempts, http_status, last_error, \
                                         payload, first_attempt_at, finished_at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::text[], \
                              $7::text[]::jsonb[], $8::timestamptz[], $9::timestamptz[]) \
         ON CONFLICT (notification_id, endpoint) DO NOTHING",
    )
    .bind(column(|o| o.notification_id.clone()))
    .bind(column(|o| o.endpoint.clone()))
    .bind(&statuses)
    .bind(&attempts)
    .bind(&http_statuses)
    .bind(&errors)
    .bind(column(|o| o.payload.clone()))
    .bind(&first)
    .bind(&finished)
    .execute(pool)
    .await?;
    Ok(())
}

/// Replaces a FAILED delivery's outcome with `outcome`, a redelivery's: its attempts add up.
pub(super) async fn update(pool: &PgPool, outcome: &Outcome) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_deliveries SET status = $3, attempts = attempts + $4, http_status = $5, \
                last_error = $6, finished_at = $7 \
         WHERE notification_id = $1 AND endpoint = $2",
    )
    .bind(&outcome.notification_id)
    .bind(&outcome.endpoint)
    .bind(if outcome.delivered { "DELIVERED" } else { "FAILED" })
    .bind(outcome.attempts as i32)
    .bind(outcome.http_status.map(i32::from))
    .bind(&outcome.last_error)
    .bind(outcome.finished_at)
    .execute(pool)
    .await?;
    Ok(())
}
