//! Loads the threshold rules of `alert_rules` into the alerting processor's [`RuleSet`], at
//! start and then on a timer, so operators can add or change rules without a restart; and the
//! alerts already issued (`alert_notifications`), from which a restarted alerting processor
//! restores which alerts are open and which keys are cooling down. Also the statements behind
//! `signalcraft rules add|list|enable|disable|remove`; checking what an operator typed and
//! printing rules stay with the CLI.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use signalcraft_model::{AlertNotification, AlertTransition, Severity};
use signalcraft_process::alerting::{AlertRule, Comparison, RuleSet};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

type RuleRow = (i64, String, String, String, f64, i64, String, Option<String>);

/// Longest a condition may have to hold before its alert opens: a year and a day. Longer holds
/// mean no alert at all, and an unbounded one overflows the processor's time arithmetic.
pub const MAX_DURATION_SECS: i64 = 366 * 24 * 3600;

/// The rule's hold time, or why it cannot be used.
fn hold_duration(duration_secs: i64) -> Option<TimeDelta> {
    if !(0..=MAX_DURATION_SECS).contains(&duration_secs) {
        return None;
    }
    TimeDelta::try_seconds(duration_secs)
}

/// A severity in its stored spelling (`INFO`, `WARNING`, `CRITICAL`).
pub fn severity(text: &str) -> Option<Severity> {
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
        "SELECT id, name, series_pattern, comparison, threshold, duration_secs, severity, tenant_id \
         FROM alert_rules WHERE enabled ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    let mut rules = Vec::with_capacity(rows.len());
    for (id, name, series_pattern, comparison, threshold, duration_secs, severity, tenant_id) in rows {
        // A row written by hand or by an older version may hold what `validate` refuses: such
        // a rule is skipped, never allowed to stop the loading of the others.
        let Some(duration) = hold_duration(duration_secs) else {
            tracing::warn!(
                rule_id = id,
                duration_secs,
                max = MAX_DURATION_SECS,
                "alert rule skipped: duration_secs out of range"
            );
            continue;
        };
        match (Comparison::parse(&comparison), self::severity(&severity)) {
            (Some(comparison), Some(severity)) => {
                rules.push(AlertRule { id, name, series_pattern, comparison, threshold, duration, severity, tenant_id })
            }
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

/// A threshold rule as an operator writes it with `signalcraft rules add`: the columns of
/// `alert_rules` an operator chooses.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct NewRule {
    pub name: String,
    /// SQL LIKE pattern on series ids, e.g. `fx:USD:%`.
    pub series_pattern: String,
    /// `>`, `>=`, `<` or `<=`.
    pub comparison: String,
    pub threshold: f64,
    /// How long the comparison must hold before an alert opens; 0 opens at the first point.
    pub duration_secs: i64,
    /// `INFO`, `WARNING` or `CRITICAL` (any case).
    pub severity: String,
    /// The tenant whose series the rule watches; `None`: every tenant's (an operator's rule).
    pub tenant_id: Option<String>,
}

/// A rule as stored, for `signalcraft rules list`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct StoredRule {
    pub id: i64,
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub rule: NewRule,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

/// Stores a validated rule, enabled; returns its id. A running pipeline reads it within
/// `process.rules_reload_secs`.
pub async fn insert(pool: &PgPool, rule: &NewRule) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO alert_rules (name, series_pattern, comparison, threshold, duration_secs, severity, tenant_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&rule.name)
    .bind(&rule.series_pattern)
    .bind(&rule.comparison)
    .bind(rule.threshold)
    .bind(rule.duration_secs)
    .bind(&rule.severity)
    .bind(&rule.tenant_id)
    .fetch_one(pool)
    .await
}

/// Every rule, enabled or not, by id.
pub async fn list(pool: &PgPool) -> Result<Vec<StoredRule>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, series_pattern, comparison, threshold, duration_secs, severity, tenant_id, enabled, \
                created_at \
         FROM alert_rules ORDER BY id",
    )
    .fetch_all(pool)
    .await
}

/// Enables or disables rule `id`; false if there is none. A disabled rule stops opening
/// alerts at the next reload; the alerts it opened resolve as the series returns to normal.
pub async fn set_enabled(pool: &PgPool, id: i64, enabled: bool) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE alert_rules SET enabled = $2 WHERE id = $1").bind(id).bind(enabled).execute(pool).await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes rule `id`; false if there is none. Its notifications stay in `alert_notifications`.
pub async fn remove(pool: &PgPool, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM alert_rules WHERE id = $1").bind(id).execute(pool).await?;
    Ok(done.rows_affected() == 1)
}
