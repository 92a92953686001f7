//! A tenant's threshold alert rules: read by any of its tokens, created, replaced and deleted by
//! editors (and admins). Each write runs as `signalcraft_editor`, whose row-level security
//! only lets the session tenant's rules be touched, and writes its audit row in the same
//! transaction. The alerting processor applies a change to the anomalies appended after it.

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use signalcraft_store::alert_rules::{self, NewRule};
use sqlx::{Postgres, Transaction};
use utoipa::{IntoParams, ToSchema};

use crate::{
    access::{self, DbRole},
    auth::{Caller, Scope},
    params::{ApiJson, ApiPath, ApiQuery, NoQuery, TenantId},
    problem::{NotFound, Problem, Refusals},
    routes::series::TenantPath,
    state::ApiState,
};

/// Path of one rule.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RulePath {
    /// The tenant's id.
    pub tenant: TenantId,
    /// The rule's id.
    pub id: i64,
}

/// A rule as a client writes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleIn {
    /// Quoted in every notification the rule raises (1–200 characters).
    pub name: String,
    /// SQL LIKE pattern on the tenant's series ids, e.g. `weather:berlin:%`.
    pub series_pattern: String,
    /// `>`, `>=`, `<` or `<=`: how the value compares with the threshold when breached.
    pub comparison: String,
    /// In the series' own unit.
    pub threshold: f64,
    /// How long the breach must last before an alert opens, in seconds (default 0: at once).
    #[serde(default)]
    pub duration_secs: i64,
    /// `INFO`, `WARNING` (default) or `CRITICAL`.
    #[serde(default = "default_severity")]
    pub severity: String,
    /// Default true.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
}

fn default_severity() -> String {
    "WARNING".into()
}
fn default_enabled() -> bool {
    true
}

/// A stored rule.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct RuleOut {
    pub id: i64,
    pub name: String,
    pub series_pattern: String,
    pub comparison: String,
    pub threshold: f64,
    pub duration_secs: i64,
    pub severity: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

/// The rules.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    pub rules: Vec<RuleOut>,
}

const COLUMNS: &str = "id, name, series_pattern, comparison, threshold, duration_secs, severity, enabled, created_at";

/// The rule checked as the CLI checks it, for this tenant; 400 naming the field.
fn checked(tenant: &TenantId, rule: &RuleIn) -> Result<NewRule, Problem> {
    let new = NewRule {
        name: rule.name.clone(),
        series_pattern: rule.series_pattern.clone(),
        comparison: rule.comparison.clone(),
        threshold: rule.threshold,
        duration_secs: rule.duration_secs,
        severity: rule.severity.clone(),
        tenant_id: Some(tenant.as_str().to_string()),
    };
    alert_rules::check(&new).map_err(|bad| Problem::bad_request(format!("{}: {}", bad.field.field(), bad.problem)))
}

/// The audit row of a write, in the write's transaction.
async fn audit(
    transaction: &mut Transaction<'static, Postgres>,
    caller: &Caller,
    scope: &Scope,
    action: &str,
    id: i64,
    detail: serde_json::Value,
) -> Result<(), Problem> {
    sqlx::query(
        "INSERT INTO api_audit (tenant_id, subject, role, action, target, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(scope.tenant.as_str())
    .bind(&caller.subject)
    .bind(caller.role.as_str())
    .bind(action)
    .bind(format!("alert_rule:{id}"))
    .bind(detail)
    .execute(&mut **transaction)
    .await
    .map_err(|error| Problem::database(error, "writing the audit row"))?;
    Ok(())
}

fn rule_detail(rule: &NewRule, enabled: bool) -> serde_json::Value {
    serde_json::json!({
        "name": rule.name, "series_pattern": rule.series_pattern, "comparison": rule.comparison,
        "threshold": rule.threshold, "duration_secs": rule.duration_secs, "severity": rule.severity,
        "enabled": enabled,
    })
}

/// The tenant's rules, by id.
#[utoipa::path(
    get, path = "/tenants/{tenant}/alert-rules", tag = "alert rules",
    params(TenantPath),
    responses(
        (status = 200, body = RuleList),
        Refusals,
    ),
    security(("bearer" = []))
)]
pub async fn list_rules(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(path): ApiPath<TenantPath>,
    _: ApiQuery<NoQuery>,
) -> Result<Json<RuleList>, Problem> {
    let scope = caller.read_scope(&state, &path.tenant)?;
    let mut transaction = access::begin(state.pool(), &scope, DbRole::Reader).await?;
    let rules: Vec<RuleOut> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM alert_rules WHERE tenant_id = $1 ORDER BY id"))
            .bind(scope.tenant.as_str())
            .fetch_all(&mut *transaction)
            .await
            .map_err(|error| Problem::database(error, "reading the alert rules"))?;
    Ok(Json(RuleList { rules }))
}

/// One rule.
#[utoipa::path(
    get, path = "/tenants/{tenant}/alert-rules/{id}", tag = "alert rules",
    params(RulePath),
    responses(
        (status = 200, body = RuleOut),
        Refusals,
        NotFound,
    ),
    security(("bearer" = []))
)]
pub async fn get_rule(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(path): ApiPath<RulePath>,
    _: ApiQuery<NoQuery>,
) -> Result<Json<RuleOut>, Problem> {
    let scope = caller.read_scope(&state, &path.tenant)?;
    let mut transaction = access::begin(state.pool(), &scope, DbRole::Reader).await?;
    let rule: Option<RuleOut> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM alert_rules WHERE tenant_id = $1 AND id = $2"))
            .bind(scope.tenant.as_str())
            .bind(path.id)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(|error| Problem::database(error, "reading the alert rule"))?;
    rule.map(Json).ok_or_else(|| no_rule(&scope, path.id))
}

fn no_rule(scope: &Scope, id: i64) -> Problem {
    Problem::not_found(format!("tenant `{}` has no alert rule {id}", scope.tenant))
}

/// Creates a rule, enabled unless it says otherwise.
#[utoipa::path(
    post, path = "/tenants/{tenant}/alert-rules", tag = "alert rules",
    params(TenantPath),
    request_body = RuleIn,
    responses(
        (status = 201, body = RuleOut, headers(("Location" = String, description = "the rule's URL"))),
        Refusals,
    ),
    security(("bearer" = []))
)]
pub async fn create_rule(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(path): ApiPath<TenantPath>,
    _: ApiQuery<NoQuery>,
    ApiJson(body): ApiJson<RuleIn>,
) -> Result<Response, Problem> {
    let scope = caller.write_scope(&state, &path.tenant)?;
    let rule = checked(&scope.tenant, &body)?;
    let mut transaction = access::begin(state.pool(), &scope, DbRole::Editor).await?;
    let stored: RuleOut = sqlx::query_as(&format!(
        "INSERT INTO alert_rules (name, series_pattern, comparison, threshold, duration_secs, severity, enabled, \
                                  tenant_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    ))
    .bind(&rule.name)
    .bind(&rule.series_pattern)
    .bind(&rule.comparison)
    .bind(rule.threshold)
    .bind(rule.duration_secs)
    .bind(&rule.severity)
    .bind(body.enabled)
    .bind(scope.tenant.as_str())
    .fetch_one(&mut *transaction)
    .await
    .map_err(|error| Problem::database(error, "storing the alert rule"))?;
    audit(&mut transaction, &caller, &scope, "alert_rule.create", stored.id, rule_detail(&rule, body.enabled)).await?;
    transaction.commit().await.map_err(|error| Problem::database(error, "committing the alert rule"))?;
    let location = format!("/api/v1/tenants/{}/alert-rules/{}", scope.tenant, stored.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(stored)).into_response())
}

/// Replaces a rule: every field as given (defaults for those left out).
#[utoipa::path(
    put, path = "/tenants/{tenant}/alert-rules/{id}", tag = "alert rules",
    params(RulePath),
    request_body = RuleIn,
    responses(
        (status = 200, body = RuleOut),
        Refusals,
        NotFound,
    ),
    security(("bearer" = []))
)]
pub async fn replace_rule(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(path): ApiPath<RulePath>,
    _: ApiQuery<NoQuery>,
    ApiJson(body): ApiJson<RuleIn>,
) -> Result<Json<RuleOut>, Problem> {
    let scope = caller.write_scope(&state, &path.tenant)?;
    let rule = checked(&scope.tenant, &body)?;
    let mut transaction = access::begin(state.pool(), &scope, DbRole::Editor).await?;
    let stored: Option<RuleOut> = sqlx::query_as(&format!(
        "UPDATE alert_rules SET name = $3, series_pattern = $4, comparison = $5, threshold = $6, \
                duration_secs = $7, severity = $8, enabled = $9 \
         WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(scope.tenant.as_str())
    .bind(path.id)
    .bind(&rule.name)
    .bind(&rule.series_pattern)
    .bind(&rule.comparison)
    .bind(rule.threshold)
    .bind(rule.duration_secs)
    .bind(&rule.severity)
    .bind(body.enabled)
    .fetch_optional(&mut *transaction)
    .await
    .map_err(|error| Problem::database(error, "replacing the alert rule"))?;
    let stored = stored.ok_or_else(|| no_rule(&scope, path.id))?;
    audit(&mut transaction, &caller, &scope, "alert_rule.replace", stored.id, rule_detail(&rule, body.enabled)).await?;
    transaction.commit().await.map_err(|error| Problem::database(error, "committing the alert rule"))?;
    Ok(Json(stored))
}

/// Deletes a rule; its notifications stay, and the alerts it opened resolve at their series'
/// next point.
#[utoipa::path(
    delete, path = "/tenants/{tenant}/alert-rules/{id}", tag = "alert rules",
    params(RulePath),
    responses(
        (status = 204, description = "deleted"),
        Refusals,
        NotFound,
    ),
    security(("bearer" = []))
)]
pub async fn delete_rule(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(path): ApiPath<RulePath>,
    _: ApiQuery<NoQuery>,
) -> Result<StatusCode, Problem> {
    let scope = caller.write_scope(&state, &path.tenant)?;
    let mut transaction = access::begin(state.pool(), &scope, DbRole::Editor).await?;
    let deleted = sqlx::query("DELETE FROM alert_rules WHERE tenant_id = $1 AND id = $2")
        .bind(scope.tenant.as_str())
        .bind(path.id)
        .execute(&mut *transaction)
        .await
        .map_err(|error| Problem::database(error, "deleting the alert rule"))?;
    if deleted.rows_affected() == 0 {
        return Err(no_rule(&scope, path.id));
    }
    audit(&mut transaction, &caller, &scope, "alert_rule.delete", path.id, serde_json::json!({})).await?;
    transaction.commit().await.map_err(|error| Problem::database(error, "committing the deletion"))?;
    Ok(StatusCode::NO_CONTENT)
}
