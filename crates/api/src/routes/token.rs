//! `POST /api/v1/token`: an API key exchanged for a short-lived bearer token of its tenant and
//! role. Rate-limited per key; a malformed, unknown or revoked key gets the same 401.

use axum::{extract::State, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    auth::Role,
    keys,
    params::{ApiJson, ApiQuery, NoQuery, TenantId},
    problem::Problem,
    state::ApiState,
};

/// The key to exchange.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// `sck_…`, as `signalcraft apikey create` printed it.
    pub api_key: String,
}

/// A bearer token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    pub tenant: TenantId,
    pub role: Role,
}

/// Exchanges an API key for a token.
#[utoipa::path(
    post, path = "/token", tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn token(
    State(state): State<ApiState>,
    _: ApiQuery<NoQuery>,
    ApiJson(request): ApiJson<TokenRequest>,
) -> Result<Json<TokenResponse>, Problem> {
    // Limited per key id, so one machine guessing cannot lock others out; keys of the wrong
    // shape share one bucket and never reach the database.
    let bucket = keys::split(&request.api_key).map(|(key_id, _)| key_id).unwrap_or("malformed");
    state.rate_limit(&format!("key:{bucket}"))?;
    let identity = keys::identify(state.pool(), &request.api_key)
        .await
        .map_err(|error| Problem::database(error, "checking the API key"))?
        .ok_or_else(|| Problem::unauthorized("unknown, revoked or malformed API key"))?;
    let access_token = state
        .signer()
        .issue(&format!("key:{}", identity.key_id), &identity.tenant, identity.role)
        .map_err(|error| Problem::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, error.to_string()))?;
    tracing::info!(key_id = identity.key_id, tenant = %identity.tenant, role = %identity.role, "API key exchanged for a token");
    Ok(Json(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: state.signer().ttl().as_secs(),
        tenant: identity.tenant,
        role: identity.role,
    }))
}
