//! Reads the versions of the threshold rules (`alert_rule_versions`, kept by a trigger on
//! `alert_rules`) into the alerting processor's [`RuleSet`] whenever a batch holds anomalies
//! appended after what is known ([`RuleHistory`], the processor's side input), so operators
//! add or change rules without a restart and a replay meets the rules as they were; and the
//! alerts already issued (`alert_notifications`), from which a restarted alerting processor
//! restores which alerts are open and which keys are cooling down. Also the statements behind
//! `signalcraft rules add|list|enable|disable|remove`; checking what an operator typed and
//! printing rules stay with the CLI.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use signalcraft_model::{AlertNotification, AlertTransition, Severity};
use signalcraft_process::{
    alerting::{AlertRule, Comparison, RuleSet, RuleVersion},
    SideInput,
};
use sqlx::PgPool;

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

/// The enabled rules as they are now.
pub async fn load(pool: &PgPool) -> Result<Vec<AlertRule>, sqlx::Error> {
    let (versions, _) = load_versions(pool).await?;
    Ok(versions.into_iter().filter(|version| version.valid_until.is_none()).map(|version| version.rule).collect())
}

/// One row of `alert_rule_versions`.
#[derive(sqlx::FromRow)]
struct VersionRow {
    rule_id: i64,
    valid_from: Option<DateTime<Utc>>,
    valid_until: Option<DateTime<Utc>>,
    name: String,
    series_pattern: String,
    comparison: String,
    threshold: f64,
    duration_secs: i64,
    severity: String,
    tenant_id: Option<String>,
}

/// Every version in which a rule was enabled, and the database's clock when they were read. A
/// row the database accepted but this version cannot read is skipped with a warning rather
/// than stopping alerting altogether. `-infinity` (the rules older than versioning) reads as
/// "since always".
pub async fn load_versions(pool: &PgPool) -> Result<(Vec<RuleVersion>, DateTime<Utc>), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    // The versions and the clock from one snapshot: every version that started at or before
    // `read_at` and was committed then is in the list.
    let read_at: DateTime<Utc> = sqlx::query_scalar("SELECT now()").fetch_one(&mut *transaction).await?;
    let rows: Vec<VersionRow> = sqlx::query_as(
        "SELECT rule_id, \
                CASE WHEN isfinite(valid_from) THEN valid_from END AS valid_from, \
                CASE WHEN isfinite(valid_until) THEN valid_until END AS valid_until, \
                name, series_pattern, comparison, threshold, duration_secs, severity, tenant_id \
         FROM alert_rule_versions WHERE enabled AND (valid_until IS NULL OR valid_until > valid_from) \
         ORDER BY rule_id, version",
    )
    .fetch_all(&mut *transaction)
    .await?;
    transaction.commit().await?;
    let mut versions = Vec::with_capacity(rows.len());
    for row in rows {
        // A row written by hand or by an older version may hold what `signalcraft rules add` refuses: such
        // a rule is skipped, never allowed to stop the loading of the others.
        let Some(duration) = hold_duration(row.duration_secs) else {
            tracing::warn!(
                rule_id = row.rule_id,
                duration_secs = row.duration_secs,
                max = MAX_DURATION_SECS,
                "alert rule skipped: duration_secs out of range"
            );
            continue;
        };
        match (Comparison::parse(&row.comparison), self::severity(&row.severity)) {
            (Some(comparison), Some(severity)) => versions.push(RuleVersion {
                rule: AlertRule {
                    id: row.rule_id,
                    name: row.name,
                    series_pattern: row.series_pattern,
                    comparison,
                    threshold: row.threshold,
                    duration,
                    severity,
                    tenant_id: row.tenant_id,
                },
                valid_from: row.valid_from,
                valid_until: row.valid_until,
            }),
            _ => tracing::warn!(
                rule_id = row.rule_id,
                comparison = %row.comparison,
                "alert rule skipped: unreadable comparison or severity"
            ),
        }
    }
    Ok((versions, read_at))
}

/// How long before the database's clock a read is taken to be complete: a rule changed in a
/// transaction that began before the read but committed after it carries a `valid_from` before
/// the read. Statements of `signalcraft rules` commit within milliseconds.
const COMMIT_MARGIN: TimeDelta = TimeDelta::seconds(2);

/// The alerting processor's side input: the rule versions of `alert_rule_versions`, read again
/// whenever a batch holds anomalies appended after what is known. Exact as long as the clocks
/// of the database and of the anomaly processor's host agree to within [`COMMIT_MARGIN`]; a rule
/// changed within that margin of an anomaly's append may or may not apply to it live, and a
/// replay decides the same way every time.
#[derive(Clone)]
pub struct RuleHistory {
    pool: PgPool,
    rules: RuleSet,
}

impl RuleHistory {
    pub fn new(pool: PgPool, rules: RuleSet) -> Self {
        RuleHistory { pool, rules }
    }

    /// Reads every version now.
    pub async fn refresh(&self) -> Result<(), sqlx::Error> {
        let (versions, read_at) = load_versions(&self.pool).await?;
        self.rules.replace_history(versions, read_at - COMMIT_MARGIN);
        Ok(())
    }
}

#[async_trait]
impl SideInput for RuleHistory {
    fn name(&self) -> &'static str {
        "alert rules"
    }

    async fn cover(&self, through: DateTime<Utc>) -> Result<(), String> {
        if self.rules.complete_at(through) {
            return Ok(());
        }
        // Inputs stamped after the read (a clock ahead of the database's) meet the rules known
        // at the read: nothing later exists yet.
        self.refresh().await.map_err(|error| error.to_string())
    }
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

/// Longest rule name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest series pattern, in characters (series ids are at most a few hundred).
pub const MAX_PATTERN_CHARS: usize = 512;

/// A field of a rule, as the command line and the tenant API name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleField {
    Name,
    SeriesPattern,
    Comparison,
    Threshold,
    DurationSecs,
    Severity,
    TenantId,
}

impl RuleField {
    /// The `signalcraft rules add` option.
    pub fn option(self) -> &'static str {
        match self {
            RuleField::Name => "--name",
            RuleField::SeriesPattern => "--series",
            RuleField::Comparison => "--comparison",
            RuleField::Threshold => "--threshold",
            RuleField::DurationSecs => "--duration-secs",
            RuleField::Severity => "--severity",
            RuleField::TenantId => "--tenant-id",
        }
    }

    /// The JSON field (and column).
    pub fn field(self) -> &'static str {
        match self {
            RuleField::Name => "name",
            RuleField::SeriesPattern => "series_pattern",
            RuleField::Comparison => "comparison",
            RuleField::Threshold => "threshold",
            RuleField::DurationSecs => "duration_secs",
            RuleField::Severity => "severity",
            RuleField::TenantId => "tenant_id",
        }
    }
}

/// Why a rule cannot be stored: the field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    pub field: RuleField,
    pub problem: String,
}

/// Checks a rule before it reaches the database, naming the field at fault (the table's CHECKs
/// would only name a constraint). Returns the rule with its severity in the stored spelling.
pub fn check(rule: &NewRule) -> Result<NewRule, RuleProblem> {
    let bad = |field, problem: String| Err(RuleProblem { field, problem });
    if rule.name.trim().is_empty() {
        return bad(RuleField::Name, "must not be empty".into());
    }
    if let Some(problem) = signalcraft_model::validate::text_problem(&rule.name, MAX_NAME_CHARS) {
        return bad(RuleField::Name, problem);
    }
    if rule.series_pattern.trim().is_empty() {
        return bad(
            RuleField::SeriesPattern,
            "must not be empty (a SQL LIKE pattern on series ids, e.g. `fx:USD:%`)".into(),
        );
    }
    if let Some(problem) = signalcraft_model::validate::text_problem(&rule.series_pattern, MAX_PATTERN_CHARS) {
        return bad(RuleField::SeriesPattern, problem);
    }
    if let Err(problem) = signalcraft_process::alerting::validate_pattern(&rule.series_pattern) {
        return bad(RuleField::SeriesPattern, problem.to_string());
    }
    if Comparison::parse(&rule.comparison).is_none() {
        return bad(RuleField::Comparison, format!("`{}` is not one of >, >=, <, <=", rule.comparison.escape_debug()));
    }
    if !rule.threshold.is_finite() {
        return bad(RuleField::Threshold, format!("`{}` is not a finite number", rule.threshold));
    }
    if rule.duration_secs < 0 {
        return bad(RuleField::DurationSecs, format!("{} is negative", rule.duration_secs));
    }
    if rule.duration_secs > MAX_DURATION_SECS {
        return bad(
            RuleField::DurationSecs,
            format!(
                "{} is more than {MAX_DURATION_SECS} (366 days), the longest a condition may hold",
                rule.duration_secs
            ),
        );
    }
    if let Some(tenant) = &rule.tenant_id {
        if let Some(problem) = signalcraft_model::validate::tenant_id_problem(tenant) {
            return bad(RuleField::TenantId, problem);
        }
    }
    let severity = rule.severity.to_ascii_uppercase();
    if self::severity(&severity).is_none() {
        return bad(
            RuleField::Severity,
            format!("`{}` is not one of INFO, WARNING, CRITICAL", rule.severity.escape_debug()),
        );
    }
    Ok(NewRule { severity, ..rule.clone() })
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

/// Stores a validated rule, enabled; returns its id. A running pipeline applies it to the
/// anomalies appended from now on (read before the first batch that holds one).
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

/// Enables or disables rule `id`; false if there is none. A disabled rule stops opening alerts
/// for the anomalies appended from now on; the alerts it opened resolve at their series' next
/// point.
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
