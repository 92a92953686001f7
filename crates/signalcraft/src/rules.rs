//! Loads the threshold rules of `alert_rules` into the alerting processor's [`RuleSet`], at
//! start and then on a timer, so operators can add or change rules without a restart.

use std::time::Duration;

use chrono::TimeDelta;
use signalcraft_model::Severity;
use signalcraft_process::alerting::{AlertRule, Comparison, RuleSet};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

type RuleRow = (i64, String, String, String, f64, i64, String);

/// The enabled rules. A row the database accepted but this version cannot read is skipped with
/// a warning rather than stopping alerting altogether.
pub async fn load(pool: &PgPool) -> Result<Vec<AlertRule>, sqlx::Error> {
    let rows: Vec<RuleRow> = sqlx::query_as(
        "SELECT id, name, series_pattern, comparison, threshold, duration_secs, severity \
         FROM alert_rules WHERE enabled ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    let mut rules = Vec::with_capacity(rows.len());
    for (id, name, series_pattern, comparison, threshold, duration_secs, severity) in rows {
        let severity = match severity.as_str() {
            "INFO" => Some(Severity::Info),
            "WARNING" => Some(Severity::Warning),
            "CRITICAL" => Some(Severity::Critical),
            _ => None,
        };
        match (Comparison::parse(&comparison), severity) {
            (Some(comparison), Some(severity)) => rules.push(AlertRule {
                id,
                name,
                series_pattern,
                comparison,
                threshold,
                duration: TimeDelta::seconds(duration_secs),
                severity,
            }),
            _ => tracing::warn!(rule_id = id, %comparison, "alert rule skipped: unreadable comparison or severity"),
        }
    }
    Ok(rules)
}

/// Reloads `rules` every `interval` until shutdown; a failed reload keeps the previous rules.
pub async fn reload_until_shutdown(pool: PgPool, rules: RuleSet, interval: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        match load(&pool).await {
            Ok(loaded) => rules.replace(loaded),
            Err(error) => tracing::warn!(%error, "reloading alert rules failed; keeping the previous ones"),
        }
    }
}
