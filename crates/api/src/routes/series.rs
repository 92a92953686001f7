//! A tenant's series: the catalogue with each series' latest value, a series' points (raw, or
//! hourly and daily rollups from the read models) with their anomaly scores, and its latest
//! forecast with 80 % and 95 % intervals.

use axum::{extract::State, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    access::{self, DbRole},
    auth::Caller,
    params::{ApiPath, ApiQuery, Limit, NoQuery, SeriesId, TenantId},
    problem::{NotFound, Problem, Refusals},
    state::ApiState,
};

/// Path of a tenant's collection.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TenantPath {
    /// The tenant's id.
    pub tenant: TenantId,
}

/// Path of one series of a tenant.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SeriesPath {
    /// The tenant's id.
    pub tenant: TenantId,
    /// The series' id, e.g. `weather:berlin:temperature_2m`.
    pub series: SeriesId,
}

/// `GET …/series` options.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CatalogueQuery {
    /// Also list public series (exchange rates, brand scores): those of no tenant.
    pub include_public: Option<bool>,
}

/// One series of the catalogue.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct SeriesEntry {
    pub series_id: String,
    pub metric: String,
    pub unit: String,
    /// Where the points come from (`raw.weather/open-meteo`).
    pub source: String,
    /// The tenant, or null for a public series.
    pub tenant_id: Option<String>,
    pub latest_ts: DateTime<Utc>,
    pub latest_value: f64,
}

/// The catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesList {
    pub series: Vec<SeriesEntry>,
}

/// Every series of the tenant (and public ones when asked), by id, with its latest point.
#[utoipa::path(
    get, path = "/tenants/{tenant}/series", tag = "series",
    params(TenantPath, CatalogueQuery),
    responses(
        (status = 200, body = SeriesList),
        Refusals,
    ),
    security(("bearer" = []))
)]
pub async fn catalogue(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(path): ApiPath<TenantPath>,
    ApiQuery(query): ApiQuery<CatalogueQuery>,
) -> Result<Json<SeriesList>, Problem> {
    let scope = caller.read_scope(&state, &path.tenant)?;
    let mut transaction = access::begin(state.pool(), &scope, DbRole::Reader).await?;
    let series: Vec<SeriesEntry> = sqlx::query_as(
        "SELECT series_id, metric, unit, source, tenant_id, ts AS latest_ts, value AS latest_value \
         FROM kpi_latest WHERE tenant_id = $1 OR ($2 AND tenant_id IS NULL) ORDER BY series_id",
    )
    .bind(scope.tenant.as_str())
    .bind(query.include_public.unwrap_or(false))
    .fetch_all(&mut *transaction)
    .await
    .map_err(|error| Problem::database(error, "reading the series catalogue"))?;
    Ok(Json(SeriesList { series }))
}

/// Points or rollups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// Every stored point.
    #[default]
    Raw,
    /// One point per UTC hour: mean, min, max and count.
    Hour,
    /// One point per UTC day: mean, min, max and count.
    Day,
}

/// `GET …/points` options.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PointsQuery {
    /// First instant (inclusive), RFC 3339.
    pub from: Option<DateTime<Utc>>,
    /// Last instant (exclusive), RFC 3339.
    pub to: Option<DateTime<Utc>>,
    /// `raw` (default), `hour` or `day`.
    pub resolution: Option<Resolution>,
    /// Points per page, 1–10000 (default 1000); `next_from` continues.
    pub limit: Option<i64>,
}

/// One point: a stored value, or a bucket's mean.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct PointOut {
    /// The point's instant, or its bucket's start.
    pub ts: DateTime<Utc>,
    /// The value, or the bucket's mean.
    pub value: f64,
    /// Bucket minimum (rollups only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Bucket maximum (rollups only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Points in the bucket (rollups only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// Anomaly score in [0, 1] (a bucket's highest); null when the point was not scored.
    pub anomaly_score: Option<f64>,
    /// Whether the detector flagged the point (a bucket: any of its points).
    pub is_anomaly: bool,
}

/// A page of a series' points.
#[derive(Debug, Serialize, ToSchema)]
pub struct PointsPage {
    pub series_id: String,
    pub metric: String,
    pub unit: String,
    pub resolution: Resolution,
    pub points: Vec<PointOut>,
    /// Set when more points follow: ask again with `from` = this.
    pub next_from: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct SeriesMeta {
    metric: String,
    unit: String,
}

/// The points of a series in `[from, to)`, oldest first, with their anomaly scores.
#[utoipa::path(
    get, path = "/tenants/{tenant}/series/{series}/points", tag = "series",
    params(SeriesPath, PointsQuery),
    responses(
        (status = 200, body = PointsPage),
        Refusals,
        NotFound,
    ),
    security(("bearer" = []))
)]
pub async fn points(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(path): ApiPath<SeriesPath>,
    ApiQuery(query): ApiQuery<PointsQuery>,
) -> Result<Json<PointsPage>, Problem> {
    let scope = caller.read_scope(&state, &path.tenant)?;
    let limit = Limit::<1000, 10_000>::parse(query.limit)?;
    if let (Some(from), Some(to)) = (query.from, query.to) {
        if from >= to {
            return Err(Problem::bad_request("from: must be before to"));
        }
    }
    let resolution = query.resolution.unwrap_or_default();
    let mut transaction = access::begin(state.pool(), &scope, DbRole::Reader).await?;
    let meta: SeriesMeta = sqlx::query_as(
        "SELECT metric, unit FROM kpi_latest WHERE series_id = $1 AND (tenant_id = $2 OR tenant_id IS NULL)",
    )
    .bind(path.series.as_str())
    .bind(scope.tenant.as_str())
    .fetch_optional(&mut *transaction)
    .await
    .map_err(|error| Problem::database(error, "looking the series up"))?
    .ok_or_else(|| Problem::not_found(format!("tenant `{}` has no series `{}`", scope.tenant, path.series.as_str())))?;

    let sql = match resolution {
        Resolution::Raw => {
            "SELECT p.ts, p.value, NULL::float8 AS min, NULL::float8 AS max, NULL::int8 AS count, \
                    a.score AS anomaly_score, coalesce(a.is_anomaly, false) AS is_anomaly \
             FROM kpi_points p LEFT JOIN kpi_anomalies a ON a.series_id = p.series_id AND a.ts = p.ts \
             WHERE p.series_id = $1 AND (p.tenant_id = $2 OR p.tenant_id IS NULL) \
               AND p.ts >= coalesce($3, '-infinity') AND p.ts < coalesce($4, 'infinity') \
             ORDER BY p.ts LIMIT $5"
        }
        Resolution::Hour => {
            "SELECT h.hour AS ts, h.mean AS value, h.min, h.max, h.points AS count, \
                    a.score AS anomaly_score, coalesce(a.flagged, false) AS is_anomaly \
             FROM kpi_hourly h \
             LEFT JOIN LATERAL (SELECT max(score) AS score, bool_or(is_anomaly) AS flagged FROM kpi_anomalies a \
                                WHERE a.series_id = h.series_id AND a.ts >= h.hour \
                                  AND a.ts < h.hour + interval '1 hour') a ON true \
             WHERE h.series_id = $1 AND (h.tenant_id = $2 OR h.tenant_id IS NULL) \
               AND h.hour >= coalesce($3, '-infinity') AND h.hour < coalesce($4, 'infinity') \
             ORDER BY h.hour LIMIT $5"
        }
        Resolution::Day => {
            "SELECT d.start AS ts, d.mean AS value, d.min, d.max, d.points AS count, \
                    a.score AS anomaly_score, coalesce(a.flagged, false) AS is_anomaly \
             FROM (SELECT k.*, (k.day::timestamp AT TIME ZONE 'UTC') AS start FROM kpi_daily k \
                   WHERE k.series_id = $1 AND (k.tenant_id = $2 OR k.tenant_id IS NULL)) d \
             LEFT JOIN LATERAL (SELECT max(score) AS score, bool_or(is_anomaly) AS flagged FROM kpi_anomalies a \
                                WHERE a.series_id = d.series_id AND a.ts >= d.start \
                                  AND a.ts < d.start + interval '1 day') a ON true \
             WHERE d.start >= coalesce($3, '-infinity') AND d.start < coalesce($4, 'infinity') \
             ORDER BY d.start LIMIT $5"
        }
    };
    let mut points: Vec<PointOut> = sqlx::query_as(sql)
        .bind(path.series.as_str())
        .bind(scope.tenant.as_str())
        .bind(query.from)
        .bind(query.to)
        .bind(limit.probe())
        .fetch_all(&mut *transaction)
        .await
        .map_err(|error| Problem::database(error, "reading the series' points"))?;
    let next_from = if points.len() > limit.get() as usize { points.pop().map(|point| point.ts) } else { None };
    Ok(Json(PointsPage {
        series_id: path.series.into(),
        metric: meta.metric,
        unit: meta.unit,
        resolution,
        points,
        next_from,
    }))
}

/// One step of a forecast.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ForecastStep {
    pub ts: DateTime<Utc>,
    pub mean: f64,
    pub lower_80: f64,
    pub upper_80: f64,
    pub lower_95: f64,
    pub upper_95: f64,
}

/// A series' latest forecast.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastOut {
    pub series_id: String,
    pub issued_at: DateTime<Utc>,
    /// What produced it, e.g. `mean(autoets, autoets-theta); intervals held-out 72/3`.
    pub model: String,
    /// Seconds between steps.
    pub step_seconds: i64,
    pub points: Vec<ForecastStep>,
}

#[derive(sqlx::FromRow)]
struct ForecastRow {
    issued_at: DateTime<Utc>,
    model: String,
    step_seconds: i64,
    points: sqlx::types::Json<Vec<ForecastStep>>,
}

/// The forecast issued last for a series.
#[utoipa::path(
    get, path = "/tenants/{tenant}/series/{series}/forecast", tag = "series",
    params(SeriesPath),
    responses(
        (status = 200, body = ForecastOut),
        Refusals,
        NotFound,
    ),
    security(("bearer" = []))
)]
pub async fn forecast(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(path): ApiPath<SeriesPath>,
    _: ApiQuery<NoQuery>,
) -> Result<Json<ForecastOut>, Problem> {
    let scope = caller.read_scope(&state, &path.tenant)?;
    let mut transaction = access::begin(state.pool(), &scope, DbRole::Reader).await?;
    let row: ForecastRow = sqlx::query_as(
        "SELECT issued_at, model, step_seconds, points FROM kpi_forecasts \
         WHERE series_id = $1 AND (tenant_id = $2 OR tenant_id IS NULL) ORDER BY issued_at DESC LIMIT 1",
    )
    .bind(path.series.as_str())
    .bind(scope.tenant.as_str())
    .fetch_optional(&mut *transaction)
    .await
    .map_err(|error| Problem::database(error, "reading the forecast"))?
    .ok_or_else(|| {
        Problem::not_found(format!("tenant `{}` has no forecast of series `{}`", scope.tenant, path.series.as_str()))
    })?;
    Ok(Json(ForecastOut {
        series_id: path.series.into(),
        issued_at: row.issued_at,
        model: row.model,
        step_seconds: row.step_seconds,
        points: row.points.0,
    }))
}
