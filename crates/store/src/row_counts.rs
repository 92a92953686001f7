//! Rows per table, for the summary a replay run prints when it is done (and for tests that
//! compare runs): the tables the pipeline writes, in the order the summary lists them.

use sqlx::PgPool;

/// Every table the pipeline writes: the sink's raw and derived tables, the read models and the
/// alerting state.
pub const PIPELINE_TABLES: [&str; 14] = [
    "fx_rates",
    "news_articles",
    "weather_observations",
    "brand_metrics",
    "news_sentiment",
    "kpi_points",
    "kpi_anomalies",
    "kpi_forecasts",
    "alert_notifications",
    "kpi_latest",
    "kpi_hourly",
    "kpi_daily",
    "sentiment_daily",
    "alert_states",
];

/// (table, rows) for each of [`PIPELINE_TABLES`], in that order.
pub async fn count_rows(pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let mut tables = Vec::with_capacity(PIPELINE_TABLES.len());
    for table in PIPELINE_TABLES {
        // Table names come from this fixed list, never from input.
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(pool).await?;
        tables.push((table.to_string(), count));
    }
    Ok(tables)
}
