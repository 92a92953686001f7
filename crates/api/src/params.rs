//! What a request may name, checked before any query runs: tenant and series ids, limits, time
//! bounds, cursors; and the extractors that turn every malformed path, query or body into a
//! 400 problem (never a 500, never axum's plain-text rejection).

use std::fmt;

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{request::Parts, StatusCode},
};
use base64::Engine;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use utoipa::ToSchema;

use crate::problem::Problem;

/// Longest series id, in bytes (the model's limit on identifiers).
pub const MAX_SERIES_ID_BYTES: usize = signalcraft_model::validate::MAX_ID_BYTES;

/// A tenant id: 1–63 characters of a–z, 0–9, '.', '_' or '-', starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^[a-z0-9][a-z0-9._-]{0,62}$")]
pub struct TenantId(String);

impl TenantId {
    /// `id` if it names a tenant; why not otherwise.
    pub fn parse(id: &str) -> Result<TenantId, String> {
        match signalcraft_model::validate::tenant_id_problem(id) {
            None => Ok(TenantId(id.to_string())),
            Some(problem) => Err(format!("tenant id {problem}")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = String;
    fn try_from(id: String) -> Result<Self, String> {
        TenantId::parse(&id)
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> String {
        id.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A series id as the pipeline writes them (`fx:USD:EUR`, `weather:berlin:temperature_2m`):
/// 1–512 bytes of ASCII letters, digits, ':', '.', '_' and '-'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^[A-Za-z0-9:._-]{1,512}$")]
pub struct SeriesId(String);

impl SeriesId {
    /// `id` if it can name a series; why not otherwise.
    pub fn parse(id: &str) -> Result<SeriesId, String> {
        if id.is_empty() || id.len() > MAX_SERIES_ID_BYTES {
            return Err(format!("a series id is 1–{MAX_SERIES_ID_BYTES} bytes, not {}", id.len()));
        }
        if let Some(c) = id.chars().find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '-'))) {
            return Err(format!(
                "a series id holds only letters, digits, ':', '.', '_' and '-', not {}",
                c.escape_debug()
            ));
        }
        Ok(SeriesId(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SeriesId {
    type Error = String;
    fn try_from(id: String) -> Result<Self, String> {
        SeriesId::parse(&id)
    }
}

impl From<SeriesId> for String {
    fn from(id: SeriesId) -> String {
        id.0
    }
}

/// How many items a page holds: 1 to `MAX`, `DEFAULT` when not asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit<const DEFAULT: u32, const MAX: u32>(u32);

impl<const DEFAULT: u32, const MAX: u32> Limit<DEFAULT, MAX> {
    /// The limit asked for, checked.
    pub fn parse(asked: Option<i64>) -> Result<Self, Problem> {
        match asked {
            None => Ok(Limit(DEFAULT)),
            Some(n) if (1..=i64::from(MAX)).contains(&n) => Ok(Limit(u32::try_from(n).unwrap_or(DEFAULT))),
            Some(n) => Err(Problem::bad_request(format!("limit: {n} is not between 1 and {MAX}"))),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// The limit plus one, as SQL's LIMIT: one more row than a page says whether there is a next.
    pub fn probe(self) -> i64 {
        i64::from(self.0) + 1
    }
}

/// An opaque page cursor: base64url of a JSON position.
pub fn encode_cursor<T: Serialize>(position: &T) -> String {
    let json = serde_json::to_vec(position).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// The position a cursor from [`encode_cursor`] holds; 400 for anything else.
pub fn decode_cursor<T: DeserializeOwned>(cursor: &str) -> Result<T, Problem> {
    const MAX_CURSOR_BYTES: usize = 4096;
    let refused = || Problem::bad_request("cursor: not a cursor this API gave out");
    if cursor.len() > MAX_CURSOR_BYTES {
        return Err(refused());
    }
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| refused())?;
    serde_json::from_slice(&json).map_err(|_| refused())
}

/// `Path<T>` whose rejection is a 400 problem.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|rejection| Problem::bad_request(format!("path: {}", rejection.body_text())))
    }
}

/// `Query<T>` whose rejection is a 400 problem.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or_default();
        const MAX_QUERY_BYTES: usize = 4096;
        if query.len() > MAX_QUERY_BYTES {
            return Err(Problem::bad_request(format!("query: longer than {MAX_QUERY_BYTES} bytes")));
        }
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|rejection| Problem::bad_request(format!("query: {}", rejection.body_text())))
    }
}

/// The query of an endpoint that takes no parameters: any parameter is refused (400) rather
/// than ignored, so a client that believes it filtered (`?tenant=…`, `?state=open`) learns
/// that it did not.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}

/// `Json<T>` whose rejection is a 400 problem, whether the body is not JSON or not the JSON
/// asked for (415 without a JSON content type, 413 over the body limit).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => {
                // axum answers a body of the wrong shape (a missing field, a string for a
                // number) 422 and a syntax error 400; to a client both are a body it must fix,
                // 400 as documented. A missing JSON content type (415) and a body over the
                // limit (413) keep their own statuses.
                let status = match rejection.status() {
                    status @ (StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::PAYLOAD_TOO_LARGE) => status,
                    _ => StatusCode::BAD_REQUEST,
                };
                Err(Problem::new(status, format!("body: {}", rejection.body_text())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_what_no_series_or_tenant_is_called() {
        assert!(SeriesId::parse("weather:berlin:temperature_2m").is_ok());
        for hostile in ["", "a'b", "50%", "a b", "x\u{0}", &"a".repeat(513), "ü"] {
            assert!(SeriesId::parse(hostile).is_err(), "{hostile:?}");
        }
        assert!(TenantId::parse("vizhinjam-port").is_ok());
        assert!(TenantId::parse("Acme").is_err());
    }

    #[test]
    fn limits_are_bounded_both_ways() {
        type Page = Limit<50, 200>;
        assert_eq!(Page::parse(None).map(Limit::get).ok(), Some(50));
        assert_eq!(Page::parse(Some(200)).map(Limit::get).ok(), Some(200));
        assert!(Page::parse(Some(0)).is_err());
        assert!(Page::parse(Some(-5)).is_err());
        assert!(Page::parse(Some(201)).is_err());
    }

    #[test]
    fn a_cursor_round_trips_and_junk_is_refused() {
        let cursor = encode_cursor(&("2024-06-15T17:00:00Z", "https://x"));
        let back: (String, String) = decode_cursor(&cursor).expect("decodes");
        assert_eq!(back.1, "https://x");
        assert!(decode_cursor::<(String, String)>("%%%").is_err());
        assert!(decode_cursor::<(String, String)>(&"A".repeat(5000)).is_err());
    }
}
