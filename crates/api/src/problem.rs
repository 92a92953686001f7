//! Errors as RFC 9457 problem details (`application/problem+json`): every refusal of the API,
//! from a bad query value to a rate limit, says what went wrong in a body a client can read.
//! A database failure is logged with its cause and answered 503 or 500 without it.

use std::time::Duration;

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem details object (RFC 9457).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What was wrong with this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Set on 429: seconds until a request will be accepted (also in `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
    /// Set when items of the request were refused one by one: which, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<RowError>>,
    #[serde(skip)]
    pub www_authenticate: bool,
}

/// One refused item of a request (a row of an upload).
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct RowError {
    /// CSV: the line (the header is line 1); JSON: the item's position, from 1.
    pub line: u64,
    /// The column or field at fault, when one is.
    pub column: Option<String>,
    pub reason: String,
}

impl Problem {
    /// A problem with `status` and what was wrong.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: Some(detail.into()),
            retry_after_secs: None,
            errors: None,
            www_authenticate: false,
        }
    }

    /// 400: a path, query or body value the API cannot use.
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 401, with `WWW-Authenticate: Bearer`.
    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem { www_authenticate: true, ..Problem::new(StatusCode::UNAUTHORIZED, detail) }
    }

    /// 403: authenticated, not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, detail)
    }

    /// 429 with the wait.
    pub fn too_many_requests(wait: Duration) -> Problem {
        // Whole seconds, rounded up: a client that waits this long is let in.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Problem {
            retry_after_secs: Some(secs.max(1)),
            ..Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate limit reached for this caller")
        }
    }

    /// A database error, logged with its cause; the client learns only that it failed, and
    /// whether trying again may help.
    pub fn database(error: sqlx::Error, during: &str) -> Problem {
        // Row-level security refusing a write: the session's tenant is not the row's.
        if error.as_database_error().and_then(|db| db.code()).as_deref() == Some("42501") {
            tracing::warn!(%error, during, "tenant API: the database refused the session's tenant");
            return Problem::forbidden("the database refused this for the token's tenant");
        }
        let unavailable = matches!(
            error,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_)
        );
        if unavailable {
            tracing::warn!(%error, during, "tenant API: database unavailable");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "the database is unavailable; try again")
        } else {
            tracing::error!(%error, during, "tenant API: database error");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the database failed while {during}"))
        }
    }
}

/// What a route that reads a tenant's collection may refuse with, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
pub enum Refusals {
    /// A path, query or body value the API cannot use.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No token, or one that is expired, malformed or not ours.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The token's tenant or role does not allow it.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// The caller is over its rate; `Retry-After` says when to come back.
    #[response(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Problem),
}

/// 404, beside [`Refusals`], for an item the tenant does not have.
#[derive(utoipa::IntoResponses)]
pub enum NotFound {
    /// The tenant has no such item.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut response =
            (status, [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))], body).into_response();
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.www_authenticate {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
