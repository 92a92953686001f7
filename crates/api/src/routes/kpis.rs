//! `POST …/kpis`: a business pushes its own numbers — JSON (one observation or a list) or CSV
//! (`text/csv`, header `ts,metric,value[,unit][,dim=<key>…]`, read as the body streams in) —
//! onto raw.kpi, from where they become `custom:<tenant>:<metric>[:<dims>]` series like any
//! other. Every row is checked as the pipeline will check it; with `on_error=reject` (the
//! default) one bad row refuses the whole request and nothing is sent, with `on_error=skip` the
//! valid rows are sent and the bad ones reported. Either way each bad row is named (line,
//! column, reason). The answer (202) comes only after the broker acknowledged every record sent;
//! the natural key (series and time) makes sending the same upload twice harmless.

use std::collections::BTreeMap;

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use signalcraft_model::{KpiObservation, Validate};
use utoipa::{IntoParams, ToSchema};

use crate::{
    access::{self, DbRole},
    auth::Caller,
    kpi_csv::{self, CsvColumns, ObservationFields},
    params::{ApiPath, ApiQuery, TenantId},
    problem::{Problem, Refusals, RowError},
    routes::series::TenantPath,
    state::ApiState,
};

/// Observations sent to the broker at a time.
const SEND_BATCH: usize = 5_000;
/// Bad rows listed in an answer; the count says how many there were in all.
const MAX_LISTED_ERRORS: usize = 100;

/// What to do with bad rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Refuse the whole request; nothing is sent.
    #[default]
    Reject,
    /// Send the valid rows; report the bad ones.
    Skip,
}

/// `POST …/kpis` options.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IntakeQuery {
    /// `reject` (default) or `skip`.
    pub on_error: Option<OnError>,
}

/// One observation as JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObservationIn {
    /// RFC 3339 with a zone, e.g. `2024-03-01T00:00:00Z`.
    pub ts: String,
    /// 1–64 characters of a–z, 0–9, '_', starting with a letter.
    pub metric: String,
    pub value: f64,
    pub unit: Option<String>,
    /// At most 8, e.g. `{"store": "berlin-1"}`.
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    /// The sender's own id of the observation, kept for tracing.
    pub idempotency_key: Option<String>,
}

/// A JSON body: one observation, or a list.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ObservationsIn {
    Many(Vec<ObservationIn>),
    One(ObservationIn),
}

/// What was taken.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IntakeReport {
    /// Observations the broker acknowledged.
    pub accepted: u64,
    /// Rows refused (with `on_error=skip`; with `reject` a bad row refuses the request).
    pub rejected: u64,
    /// The first bad rows.
    pub errors: Vec<RowError>,
}

/// Bad rows gathered while reading, the first of them listed.
#[derive(Default)]
struct RowErrors {
    count: u64,
    listed: Vec<RowError>,
}

impl RowErrors {
    fn push(&mut self, line: u64, column: Option<&str>, reason: impl Into<String>) {
        self.count = self.count.saturating_add(1);
        if self.listed.len() < MAX_LISTED_ERRORS {
            self.listed.push(RowError { line, column: column.map(str::to_string), reason: reason.into() });
        }
    }
}

/// The problem of a refused upload, with its bad rows.
fn refused(errors: RowErrors) -> Response {
    let mut problem = Problem::bad_request(format!(
        "{} row(s) refused; nothing was sent (send with on_error=skip to take the valid rows)",
        errors.count
    ));
    problem.errors = Some(errors.listed);
    problem.into_response()
}

/// Pushes observations of the tenant's own KPIs.
#[utoipa::path(
    post, path = "/tenants/{tenant}/kpis", tag = "kpis",
    params(TenantPath, IntakeQuery),
    request_body(content(
        (ObservationsIn = "application/json"),
        (String = "text/csv", example = "ts,metric,value,unit,dim=store\n2024-03-01T00:00:00Z,sales,1250.5,EUR,berlin-1\n"),
    )),
    responses(
        (status = 202, body = IntakeReport),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
        Refusals,
    ),
    security(("bearer" = []))
)]
pub async fn push(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(path): ApiPath<TenantPath>,
    ApiQuery(query): ApiQuery<IntakeQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let scope = caller.intake_scope(&path.tenant)?;
    let intake = state.intake().ok_or_else(|| {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "this process has no Kafka producer (kafka.brokers is not set)")
    })?;
    let on_error = query.on_error.unwrap_or_default();
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let limit = state.max_upload_bytes();
    let now = Utc::now();
    let check = |observation: &KpiObservation| observation.validate_at(&intake.window, now);
    let (observations, errors) = match media_type.as_str() {
        "application/json" => read_json(&scope.tenant, body, limit, &check).await?,
        "text/csv" => read_csv(&scope.tenant, body, limit, &check).await?,
        _ => {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send application/json (an observation or a list) or text/csv",
            ))
        }
    };
    if errors.count > 0 && on_error == OnError::Reject {
        return Ok(refused(errors));
    }
    let mut accepted: u64 = 0;
    for batch in observations.chunks(SEND_BATCH) {
        let sent = intake.producer.send_all(batch).await.map_err(|error| {
            tracing::warn!(%error, tenant = %scope.tenant, "KPI intake: the broker did not acknowledge");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the broker did not acknowledge every record ({accepted} were); send the request again — a \
                     resend stores each observation once"
                ),
            )
        })?;
        accepted = accepted.saturating_add(u64::try_from(sent).unwrap_or(u64::MAX));
    }
    let report = IntakeReport { accepted, rejected: errors.count, errors: errors.listed };
    let mut transaction = access::begin(state.pool(), &scope, DbRole::Editor).await?;
    sqlx::query(
        "INSERT INTO api_audit (tenant_id, subject, role, action, target, detail) \
         VALUES ($1, $2, $3, 'kpi.push', 'raw.kpi', $4)",
    )
    .bind(scope.tenant.as_str())
    .bind(&caller.subject)
    .bind(caller.role.as_str())
    .bind(serde_json::json!({ "accepted": report.accepted, "rejected": report.rejected, "media_type": media_type }))
    .execute(&mut *transaction)
    .await
    .map_err(|error| Problem::database(error, "writing the audit row"))?;
    transaction.commit().await.map_err(|error| Problem::database(error, "committing the audit row"))?;
    Ok((StatusCode::ACCEPTED, Json(report)).into_response())
}

type Read = (Vec<KpiObservation>, RowErrors);

async fn read_json(
    tenant: &TenantId,
    body: Body,
    limit: u64,
    check: &impl Fn(&KpiObservation) -> Result<(), signalcraft_model::Invalid>,
) -> Result<Read, Problem> {
    let mut bytes = Vec::new();
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|error| Problem::bad_request(format!("body: {error}")))?;
        if (bytes.len() as u64).saturating_add(chunk.len() as u64) > limit {
            return Err(too_large(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    let items = match serde_json::from_slice::<ObservationsIn>(&bytes) {
        Ok(ObservationsIn::Many(items)) => items,
        Ok(ObservationsIn::One(item)) => vec![item],
        Err(error) => return Err(Problem::bad_request(format!("body: not an observation or a list of them: {error}"))),
    };
    let mut observations = Vec::with_capacity(items.len());
    let mut errors = RowErrors::default();
    for (position, item) in (1u64..).zip(items) {
        let fields = ObservationFields {
            metric: item.metric,
            value: item.value,
            unit: item.unit,
            dimensions: item.dimensions,
            idempotency_key: item.idempotency_key,
        };
        match kpi_csv::observation(tenant, &item.ts, fields, "api") {
            Ok(observation) => match check(&observation) {
                Ok(()) => observations.push(observation),
                Err(invalid) => errors.push(position, Some(&invalid.field), invalid.problem),
            },
            Err(bad) => errors.push(position, bad.column.as_deref(), bad.reason),
        }
    }
    Ok((observations, errors))
}

fn too_large(limit: u64) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the upload is larger than api.max_upload_bytes ({limit} bytes)"),
    )
}

async fn read_csv(
    tenant: &TenantId,
    body: Body,
    limit: u64,
    check: &impl Fn(&KpiObservation) -> Result<(), signalcraft_model::Invalid>,
) -> Result<Read, Problem> {
    // Counted as it streams: past the limit, the upload is refused without reading the rest.
    let mut received: u64 = 0;
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        received = received.saturating_add(chunk.len() as u64);
        if received > limit {
            return Err(std::io::Error::new(std::io::ErrorKind::FileTooLarge, "upload over the limit"));
        }
        Ok(chunk)
    });
    let reader = tokio_util::io::StreamReader::new(stream);
    let mut csv = csv_async::AsyncReaderBuilder::new().flexible(true).create_reader(reader);
    let header = csv.headers().await.map_err(|error| csv_problem(error, limit))?.clone();
    let columns = CsvColumns::from_header(&header)
        .map_err(|problem| Problem::bad_request(format!("CSV header (line 1): {problem}")))?;
    let mut records = csv.into_records();
    let mut observations = Vec::new();
    let mut errors = RowErrors::default();
    while let Some(record) = records.try_next().await.map_err(|error| csv_problem(error, limit))? {
        let line = record.position().map_or(0, |position| position.line());
        match columns.observation(tenant, &record, "api") {
            Ok(observation) => match check(&observation) {
                Ok(()) => observations.push(observation),
                Err(invalid) => errors.push(line, Some(&invalid.field), invalid.problem),
            },
            Err(bad) => errors.push(line, bad.column.as_deref(), bad.reason),
        }
    }
    Ok((observations, errors))
}

/// A CSV reading error as the client's problem: over the limit (413), or not CSV (400).
fn csv_problem(error: csv_async::Error, limit: u64) -> Problem {
    if let csv_async::ErrorKind::Io(io) = error.kind() {
        if io.kind() == std::io::ErrorKind::FileTooLarge {
            return too_large(limit);
        }
        return Problem::bad_request(format!("body: {io}"));
    }
    Problem::bad_request(format!("body: not CSV: {error}"))
}
