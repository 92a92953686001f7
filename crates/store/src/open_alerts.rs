//! Open alerts as an operator reads them (`signalcraft status`): how many per tenant and
//! series, and the newest few, from the `alert_states` read model across every tenant (the
//! pipeline's own login, not the reader role).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Open alerts of one series.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OpenAlertCount {
    pub tenant_id: Option<String>,
    pub series_id: String,
    pub open: i64,
}

/// One open alert.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OpenAlert {
    pub alert_id: String,
    pub tenant_id: Option<String>,
    pub series_id: String,
    pub severity: String,
    pub opened_at: Option<DateTime<Utc>>,
}

/// Open alerts per (tenant, series), most first.
pub async fn open_alert_counts(pool: &PgPool) -> Result<Vec<OpenAlertCount>, sqlx::Error> {
    sqlx::query_as(
        "SELECT tenant_id, series_id, count(*) AS open FROM alert_states WHERE state = 'OPEN' \
         GROUP BY tenant_id, series_id ORDER BY open DESC, tenant_id NULLS FIRST, series_id",
    )
    .fetch_all(pool)
    .await
}

/// The `limit` most recently opened alerts still open.
pub async fn newest_open_alerts(pool: &PgPool, limit: i64) -> Result<Vec<OpenAlert>, sqlx::Error> {
    sqlx::query_as(
        "SELECT alert_id, tenant_id, series_id, severity, opened_at FROM alert_states WHERE state = 'OPEN' \
         ORDER BY opened_at DESC NULLS LAST, alert_id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}
