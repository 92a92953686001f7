//! Loads the threshold rules of `alert_rules` into the alerting processor's [`RuleSet`], at
//! start and then on a timer, so operators can add or change rules without a restart; and the
//! alerts already issued (`alert_notifications`), from which a restarted alerting processor
//! restores which alerts are open and which keys are cooling down.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use signalcraft_model::{AlertNotification, AlertTransition, Severity};
use signalcraft_process::alerting::{AlertRule, Comparison, RuleSet};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

type RuleRow = (i64, String, String, String, f64, i64, String);

fn severity(text: &str) -> Option<Severity> {
    match text {
        "INFO" => Some(Severity::Info),
        "WARNING" => Some(Severity::Warning),
        "CRITICAL" => Some(Severity::Critical),
        _ => None,
    }
}

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
        match (Comparison::parse(&comparison), self::severity(&severity)) {
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

/// One row of `alert_notifications`, as stored.
#[derive(sqlx::FromRow)]
struct IssuedRow {
    notification_id: String,
    alert_id: String,
    dedupe_key: String,
    rule_id: Option<i64>,
    series_id: String,
    tenant_id: Option<String>,
    transition: String,
    severity: String,
    message: String,
    value: f64,
    score: Option<f64>,
    occurred_at: DateTime<Utc>,
}

/// The latest notification of each dedupe key, the `max_keys` most recent keys: what
/// `RaiseAlerts::restore` rebuilds the open alerts and cooldowns from. At one instant a
/// resolution wins over an opening.
pub async fn load_issued_alerts(pool: &PgPool, max_keys: usize) -> Result<Vec<AlertNotification>, sqlx::Error> {
    let rows: Vec<IssuedRow> = sqlx::query_as(
        "SELECT * FROM (SELECT DISTINCT ON (dedupe_key) notification_id, alert_id, dedupe_key, rule_id, series_id, \
                 tenant_id, transition, severity, message, value, score, occurred_at \
             FROM alert_notifications ORDER BY dedupe_key, occurred_at DESC, transition DESC) latest \
         ORDER BY occurred_at DESC LIMIT $1",
    )
    .bind(i64::try_from(max_keys).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    let mut issued = Vec::with_capacity(rows.len());
    for row in rows {
        let transition = match row.transition.as_str() {
            "OPENED" => AlertTransition::Opened,
            "RESOLVED" => AlertTransition::Resolved,
            _ => continue,
        };
        let Some(severity) = self::severity(&row.severity) else {
            tracing::warn!(notification_id = %row.notification_id, "issued alert skipped: unreadable severity");
            continue;
        };
        issued.push(AlertNotification {
            notification_id: row.notification_id,
            alert_id: row.alert_id,
            dedupe_key: row.dedupe_key,
            rule_id: row.rule_id,
            series_id: row.series_id,
            tenant_id: row.tenant_id,
            transition,
            severity,
            message: row.message,
            value: row.value,
            score: row.score,
            occurred_at: row.occurred_at,
        });
    }
    Ok(issued)
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
