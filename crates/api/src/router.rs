//! The tenant API as one axum router under `/api/v1`: every route, its OpenAPI 3.1 document
//! (generated from the handlers' annotations, served at `/api/v1/openapi.json`), CORS, and
//! problem+json answers for unknown routes and methods; the dashboard page beside it at `/`.

use axum::{
    http::{header, HeaderName, HeaderValue, Method, StatusCode},
    Json, Router,
};
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::{
    openapi::{
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        OpenApi as OpenApiDocument,
    },
    Modify, OpenApi,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    problem::Problem,
    routes::{alerts, events, kpis, news, rules, series, token},
    state::ApiState,
};

/// Where the API lives.
pub const BASE: &str = "/api/v1";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "signalcraft tenant API",
        description = "What a dashboard reads: a tenant's series, points, forecasts, news, alerts and alert \
                       rules, and live events. Bearer tokens (`POST /token` with an API key); errors are \
                       RFC 9457 problem details.",
        version = "1"
    ),
    servers((url = "/api/v1")),
    modifiers(&BearerAuth),
    tags(
        (name = "series", description = "KPI series, their points, rollups and forecasts"),
        (name = "news", description = "Articles and their sentiment"),
        (name = "alerts", description = "Alerts opened and resolved"),
        (name = "alert rules", description = "A tenant's threshold rules"),
        (name = "events", description = "Server-Sent Events"),
        (name = "kpis", description = "A business's own KPI values, pushed"),
        (name = "auth", description = "Tokens"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, document: &mut OpenApiDocument) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// The routes, and the OpenAPI document they describe (paths relative to [`BASE`]).
fn api_routes() -> (Router<ApiState>, OpenApiDocument) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(token::token))
        .routes(routes!(series::catalogue))
        .routes(routes!(series::points))
        .routes(routes!(series::forecast))
        .routes(routes!(news::news))
        .routes(routes!(alerts::alerts))
        .routes(routes!(rules::list_rules, rules::create_rule))
        .routes(routes!(rules::get_rule, rules::replace_rule, rules::delete_rule))
        .routes(routes!(events::events))
        .routes(routes!(kpis::push))
        .split_for_parts()
}

/// The OpenAPI document, as served.
pub fn openapi() -> OpenApiDocument {
    api_routes().1
}

/// `/api/v1/…` and the dashboard (`/`, `/assets/…`), ready to merge into the process's HTTP
/// server. `cors_allowed_origins` as in `[api]` (the dashboard itself is same-origin).
pub fn router(state: ApiState, cors_allowed_origins: &[String]) -> Router {
    let (routes, document) = api_routes();
    let document = Json(document);
    let api = routes
        .route("/openapi.json", axum::routing::get(move || async move { document.clone() }))
        .fallback(|| async { Problem::not_found("no such route in /api/v1") })
        .method_not_allowed_fallback(|| async {
            Problem::new(StatusCode::METHOD_NOT_ALLOWED, "this route does not take that method")
        })
        .with_state(state);
    let api = match cors(cors_allowed_origins) {
        Some(cors) => api.layer(cors),
        None => api,
    };
    Router::new().nest(BASE, api).merge(crate::dashboard::router())
}

/// The CORS layer for the configured origins; none when none are.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|origin| HeaderValue::from_str(origin).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("last-event-id")])
            .expose_headers([header::LOCATION, header::RETRY_AFTER])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_documents_its_refusals_as_problem_json() {
        let document = serde_json::to_value(openapi()).expect("serializes");
        let paths = document["paths"].as_object().expect("paths");
        assert!(paths.len() >= 9, "{paths:?}");
        for (path, item) in paths {
            for (method, operation) in item.as_object().expect("a path item") {
                let responses = &operation["responses"];
                let refusals: &[&str] =
                    if path == "/token" { &["400", "401", "429"] } else { &["400", "401", "403", "429"] };
                for status in refusals {
                    let content = &responses[status]["content"]["application/problem+json"];
                    assert!(content.is_object(), "{method} {path} documents no {status} problem: {responses}");
                }
            }
        }
        let forecast = &document["paths"]["/tenants/{tenant}/series/{series}/forecast"]["get"]["responses"];
        assert!(forecast["404"]["content"]["application/problem+json"].is_object(), "{forecast}");
    }

    /// The router with `origins` allowed, on 127.0.0.1; its database is never reached.
    async fn serve_with_cors(origins: &[String]) -> String {
        let pool =
            sqlx::postgres::PgPoolOptions::new().connect_lazy("postgres://nobody@127.0.0.1:1/none").expect("lazy");
        let signer = crate::TokenSigner::new(b"cors test key of at least 32 bytes", std::time::Duration::from_secs(60));
        let (_, events) = tokio::sync::watch::channel(0);
        let state = ApiState::new(pool, signer, &crate::ApiConfig::default(), events);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let address = listener.local_addr().expect("address");
        let app = router(state, origins);
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}/api/v1/tenants/acme/series")
    }

    async fn preflight(url: &str, origin: &str) -> reqwest::Response {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, url)
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
            .await
            .expect("answers")
    }

    #[tokio::test]
    async fn only_configured_origins_get_cors_headers() {
        let url = serve_with_cors(&["https://dash.example.com".to_string()]).await;
        let allowed = preflight(&url, "https://dash.example.com").await;
        assert_eq!(allowed.headers()["access-control-allow-origin"], "https://dash.example.com");
        assert!(allowed.headers()["access-control-allow-headers"].to_str().is_ok_and(|h| h.contains("authorization")));
        let other = preflight(&url, "https://evil.example").await;
        assert!(other.headers().get("access-control-allow-origin").is_none(), "{:?}", other.headers());

        let url = serve_with_cors(&[]).await;
        let none = preflight(&url, "https://dash.example.com").await;
        assert!(none.headers().get("access-control-allow-origin").is_none(), "no CORS unless configured");
    }
}
