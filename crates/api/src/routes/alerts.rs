//! A tenant's alerts, open or resolved, newest first, from the `alert_states` read model with
//! the message of each alert's latest notification.

use axum::{extract::State, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    access::{self, DbRole},
    auth::Caller,
    params::{ApiPath, ApiQuery, Limit},
    problem::{Problem, Refusals},
    routes::series::TenantPath,
    state::ApiState,
};

/// An alert's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Open,
    Resolved,
}

/// `GET …/alerts` options.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// Only alerts in this state; both when absent.
    pub state: Option<AlertState>,
    /// Alerts to return, 1–500 (default 100), newest first.
    pub limit: Option<i64>,
}

/// One alert.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct AlertOut {
    pub alert_id: String,
    /// The threshold rule that raised it; null for an anomaly alert.
    pub rule_id: Option<i64>,
    pub series_id: String,
    /// `INFO`, `WARNING` or `CRITICAL`.
    pub severity: String,
    /// `OPEN` or `RESOLVED`.
    pub state: String,
    pub opened_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The latest notification's message.
    pub message: Option<String>,
    /// The value that notification quoted.
    pub value: Option<f64>,
}

/// The alerts.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertList {
    pub alerts: Vec<AlertOut>,
}

/// The tenant's alerts, newest opened first.
#[utoipa::path(
    get, path = "/tenants/{tenant}/alerts", tag = "alerts",
    params(TenantPath, AlertsQuery),
    responses(
        (status = 200, body = AlertList),
        Refusals,
    ),
    security(("bearer" = []))
)]
pub async fn alerts(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(path): ApiPath<TenantPath>,
    ApiQuery(query): ApiQuery<AlertsQuery>,
) -> Result<Json<AlertList>, Problem> {
    let scope = caller.read_scope(&state, &path.tenant)?;
    let limit = Limit::<100, 500>::parse(query.limit)?;
    let wanted = query.state.map(|state| match state {
        AlertState::Open => "OPEN",
        AlertState::Resolved => "RESOLVED",
    });
    let mut transaction = access::begin(state.pool(), &scope, DbRole::Reader).await?;
    let alerts: Vec<AlertOut> = sqlx::query_as(
        "SELECT s.alert_id, s.rule_id, s.series_id, s.severity, s.state, s.opened_at, s.resolved_at, \
                n.message, n.value \
         FROM alert_states s \
         LEFT JOIN LATERAL (SELECT message, value FROM alert_notifications n WHERE n.alert_id = s.alert_id \
                            ORDER BY occurred_at DESC LIMIT 1) n ON true \
         WHERE s.tenant_id = $1 AND ($2::text IS NULL OR s.state = $2) \
         ORDER BY s.opened_at DESC NULLS LAST, s.alert_id LIMIT $3",
    )
    .bind(scope.tenant.as_str())
    .bind(wanted)
    .bind(i64::from(limit.get()))
    .fetch_all(&mut *transaction)
    .await
    .map_err(|error| Problem::database(error, "reading the alerts"))?;
    Ok(Json(AlertList { alerts }))
}
