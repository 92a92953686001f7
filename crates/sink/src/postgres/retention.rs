//! Retention: what the pipeline stores does not grow forever. Run by the sink role every
//! `retention.interval_secs` (which also creates the coming months' partitions) and on demand
//! by `signalcraft retention run [--dry-run]`:
//!
//! - `kpi_points` and `kpi_anomalies` lose whole monthly partitions once every row a partition
//!   can hold is older than their period: dropped, waiting at most a few seconds for the
//!   table's lock. No row-by-row delete.
//! - `news_articles` and `news_sentiment` lose the articles seen before their period.
//! - `webhook_deliveries` that were DELIVERED lose their payload after theirs (the outcome row
//!   stays; FAILED deliveries keep it, `webhooks redeliver` needs it).
//!
//! The read models are kept: `kpi_latest`, `kpi_hourly`, `kpi_daily` and `sentiment_daily` still
//! describe months whose points are gone (they summarise, and cost one row per series and
//! bucket), and `alert_states` is not touched.

use chrono::{DateTime, Months, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::{partitions, telemetry};

/// `[retention]` in the configuration file. A period of 0 days, the default of each, keeps that
/// data forever: expiring data is the operator's decision (a replay or a backfill of history
/// would otherwise lose what it just stored). docker-compose and the Kubernetes ConfigMap set
/// the suggested periods: 400 days of points and scores (a year and a month, for year-on-year
/// comparison), 90 days of articles (GDELT's own window), 30 days of delivered payloads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// KPI points are kept this many days (whole months are dropped once all older).
    #[serde(default)]
    pub kpi_points_days: u32,
    /// Anomaly scores are kept this many days (whole months, as points).
    #[serde(default)]
    pub kpi_anomalies_days: u32,
    /// News articles and their sentiment are kept this many days after `seen_at`.
    #[serde(default)]
    pub articles_days: u32,
    /// Delivered webhook payloads are purged this many days after delivery.
    #[serde(default)]
    pub webhook_payload_days: u32,
    /// How often the sink role applies retention and creates the coming months' partitions,
    /// in seconds. Default 3600.
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,
}

fn default_interval_secs() -> u64 {
    3600
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            kpi_points_days: 0,
            kpi_anomalies_days: 0,
            articles_days: 0,
            webhook_payload_days: 0,
            interval_secs: default_interval_secs(),
        }
    }
}

/// Articles deleted per statement, so one run never holds a long transaction.
const DELETE_CHUNK: i64 = 10_000;

/// What one run removed (or, dry, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    /// (table, partition) dropped.
    pub partitions: Vec<(String, String)>,
    /// (table, rows) deleted.
    pub rows: Vec<(String, u64)>,
    /// Webhook payloads purged.
    pub payloads: u64,
}

impl std::fmt::Display for RetentionReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (table, partition) in &self.partitions {
            writeln!(f, "{table}: partition {partition}")?;
        }
        for (table, rows) in &self.rows {
            writeln!(f, "{table}: {rows} rows")?;
        }
        write!(f, "webhook_deliveries: {} payloads", self.payloads)
    }
}

/// The instant `days` before `now`, or `None` when `days` is 0 (kept forever).
fn cutoff(now: DateTime<Utc>, days: u32) -> Option<DateTime<Utc>> {
    if days == 0 {
        return None;
    }
    now.checked_sub_signed(TimeDelta::days(i64::from(days)))
}

/// Applies retention as of `now`. With `dry_run` nothing changes; the report says what would.
pub async fn run_once(
    pool: &PgPool,
    config: &RetentionConfig,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<RetentionReport, sqlx::Error> {
    let mut report = RetentionReport::default();
    for (table, days) in [("kpi_points", config.kpi_points_days), ("kpi_anomalies", config.kpi_anomalies_days)] {
        let Some(cutoff) = cutoff(now, days) else { continue };
        let expired = expired_partitions(pool, table, cutoff.date_naive()).await?;
        let mut dropped = 0;
        for partition in &expired {
            if !dry_run && !drop_partition(pool, partition).await? {
                continue;
            }
            dropped += 1;
            report.partitions.push((table.to_string(), partition.clone()));
        }
        telemetry::RetentionApplied { table, what: "partitions", count: dropped, dry_run }.emit();
    }

    if let Some(cutoff) = cutoff(now, config.articles_days) {
        for table in ["news_articles", "news_sentiment"] {
            let rows = if dry_run {
                let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE seen_at < $1"))
                    .bind(cutoff)
                    .fetch_one(pool)
                    .await?;
                count.unsigned_abs()
            } else {
                delete_in_chunks(pool, table, cutoff).await?
            };
            report.rows.push((table.to_string(), rows));
            telemetry::RetentionApplied { table, what: "rows", count: rows, dry_run }.emit();
        }
    }

    if let Some(cutoff) = cutoff(now, config.webhook_payload_days) {
        let settled = "FROM webhook_deliveries WHERE status = 'DELIVERED' AND finished_at < $1 \
                       AND payload <> 'null'::jsonb";
        report.payloads = if dry_run {
            let count: i64 =
                sqlx::query_scalar(&format!("SELECT count(*) {settled}")).bind(cutoff).fetch_one(pool).await?;
            count.unsigned_abs()
        } else {
            sqlx::query(
                "UPDATE webhook_deliveries SET payload = 'null'::jsonb \
                 WHERE status = 'DELIVERED' AND finished_at < $1 AND payload <> 'null'::jsonb",
            )
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected()
        };
        telemetry::RetentionApplied { table: "webhook_deliveries", what: "payloads", count: report.payloads, dry_run }
            .emit();
    }
    Ok(report)
}

/// The partitions of `table` every row of which is older than `cutoff`: those whose month ends
/// on or before it.
async fn expired_partitions(pool: &PgPool, table: &str, cutoff: NaiveDate) -> Result<Vec<String>, sqlx::Error> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = to_regclass($1) ORDER BY 1",
    )
    .bind(table)
    .fetch_all(pool)
    .await?;
    Ok(names
        .into_iter()
        .filter(|name| {
            partitions::partition_month(table, name)
                .and_then(|month| month.checked_add_months(Months::new(1)))
                .is_some_and(|end| end <= cutoff)
        })
        .collect())
}

/// How long dropping a partition may wait for its parent's lock.
const DROP_LOCK_TIMEOUT: &str = "5s";

/// Drops `partition`; false when its parent stayed locked (a long query reading it) past
/// [`DROP_LOCK_TIMEOUT`]: it is tried again next round. The wait is bounded because a DROP
/// queued behind a long reader would hold up every new query of the table behind it. (DETACH
/// … CONCURRENTLY would not block readers, but a detach interrupted halfway leaves a partition
/// that is neither attached nor gone, which the sink could then neither write into nor create.)
async fn drop_partition(pool: &PgPool, partition: &str) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(&format!("SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'")).execute(&mut *tx).await?;
    // Identifiers cannot be parameters; the name comes from the catalog and matched
    // `<table>_pYYYYMM` exactly.
    match sqlx::query(&format!("DROP TABLE {partition}")).execute(&mut *tx).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(true)
        }
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("55P03") => {
            tracing::warn!(partition, "retention: the table stayed locked; dropping this partition next round");
            Ok(false)
        }
        Err(error) => Err(error),
    }
}

/// Deletes the rows of `table` seen before `cutoff`, [`DELETE_CHUNK`] at a time.
async fn delete_in_chunks(pool: &PgPool, table: &str, cutoff: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let mut deleted = 0;
    loop {
        let done = sqlx::query(&format!(
            "DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} WHERE seen_at < $1 LIMIT $2)"
        ))
        .bind(cutoff)
        .bind(DELETE_CHUNK)
        .execute(pool)
        .await?
        .rows_affected();
        deleted += done;
        if done < DELETE_CHUNK.unsigned_abs() {
            return Ok(deleted);
        }
    }
}

/// The sink role's maintenance: at start and then every `interval_secs`, creates the coming
/// months' partitions and applies retention. A failed round is logged and tried again at the
/// next one.
pub async fn maintain(pool: PgPool, config: RetentionConfig, shutdown: tokio_util::sync::CancellationToken) {
    telemetry::register_retention_at_zero();
    let interval = std::time::Duration::from_secs(config.interval_secs.max(1));
    loop {
        let now = Utc::now();
        if let Err(error) = partitions::ensure_ahead(&pool, now.date_naive()).await {
            tracing::warn!(%error, "creating the coming months' partitions failed; trying again next round");
        }
        if let Err(error) = run_once(&pool, &config, now, false).await {
            tracing::warn!(%error, "applying retention failed; trying again next round");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_days_keeps_forever() {
        let now = Utc::now();
        assert_eq!(cutoff(now, 0), None);
        assert_eq!(cutoff(now, 2), Some(now - TimeDelta::days(2)));
    }
}
