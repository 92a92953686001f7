//! The dashboard page at `/`: one HTML page, its script and style sheet, and the vendored uPlot
//! (crates/api/assets/), compiled into the binary so it serves everything itself — no CDN, no
//! file on disk, nothing from the internet at run time.
//!
//! Every answer carries a strict Content-Security-Policy (scripts, styles and connections from
//! this origin only, no inline code, no framing), `nosniff`, and `no-referrer` (a link followed
//! from the news list does not tell the article's site where the dashboard lives). Assets are
//! revalidated on each load (`no-cache`) against a strong ETag of their bytes, so a new binary's
//! page is never mixed with an old cached script; unchanged ones answer 304.
//!
//! The page signs in with a token or an API key, or with a token handed over in the address's
//! fragment (`/#token=…`, which browsers never send to a server), and reads everything through
//! the tenant API under `/api/v1`.

use std::sync::OnceLock;

use axum::{
    extract::Path,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use sha2::{Digest, Sha256};

/// The policy of every dashboard answer: nothing but this origin, no inline script or style.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// One embedded file: where it is served, its media type and bytes.
pub struct Asset {
    /// Path under `/assets/` (the page itself: `index.html`, served at `/`).
    pub path: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

/// Every file the dashboard serves.
pub const ASSETS: &[Asset] = &[
    Asset {
        path: "index.html",
        content_type: "text/html; charset=utf-8",
        bytes: include_bytes!("../assets/index.html"),
    },
    Asset {
        path: "dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/dashboard.js"),
    },
    Asset {
        path: "dashboard.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../assets/dashboard.css"),
    },
    Asset {
        path: "vendor/uplot/uPlot.iife.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/vendor/uplot/uPlot.iife.min.js"),
    },
    Asset {
        path: "vendor/uplot/uPlot.min.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../assets/vendor/uplot/uPlot.min.css"),
    },
    Asset {
        path: "vendor/uplot/LICENSE",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../assets/vendor/uplot/LICENSE"),
    },
];

/// Bytes the dashboard serves in all (the page, its script and style, uPlot and its licence).
pub fn served_bytes() -> usize {
    ASSETS.iter().map(|asset| asset.bytes.len()).sum()
}

/// `/` and `/assets/…`, to merge beside the API and the operational endpoints.
pub fn router() -> Router {
    Router::new().route("/", get(page)).route("/assets/{*path}", get(asset))
}

async fn page(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    // The page is served at `/` only, so it has one address.
    if path == "index.html" {
        return not_found();
    }
    serve(&path, &headers)
}

/// Strong ETags of every asset, computed once.
fn etags() -> &'static [HeaderValue] {
    static ETAGS: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| {
                let digest = Sha256::digest(asset.bytes);
                // Hex digits and quotes only: always a valid header value.
                HeaderValue::from_str(&format!("\"{}\"", hex::encode(&digest[..16])))
                    .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
            })
            .collect()
    })
}

fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|asset| asset.path == path) else { return not_found() };
    let (asset, etag) = (&ASSETS[index], &etags()[index]);
    let unchanged = request.get(header::IF_NONE_MATCH).and_then(|value| value.to_str().ok()).is_some_and(|tags| {
        tags.split(',').any(|tag| tag.trim() == etag.to_str().unwrap_or_default() || tag.trim() == "*")
    });
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.bytes).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag.clone());
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(headers);
    response
}

fn secure(headers: &mut HeaderMap) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
}

fn not_found() -> Response {
    let mut response =
        (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "no such dashboard asset\n")
            .into_response();
    secure(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dashboard beside a stand-in API and `/metrics`, as the binary merges them.
    async fn serve_dashboard() -> String {
        let routes = Router::new()
            .merge(router())
            .route("/metrics", get(|| async { "metrics" }))
            .nest("/api/v1", Router::new().route("/openapi.json", get(|| async { "api" })));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, routes).await });
        format!("http://{address}")
    }

    fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
        response.headers().get(name).and_then(|value| value.to_str().ok()).unwrap_or_default()
    }

    #[tokio::test]
    async fn every_asset_is_served_with_its_type_a_strict_policy_and_an_etag() {
        let base = serve_dashboard().await;
        for (path, content_type) in [
            ("/", "text/html; charset=utf-8"),
            ("/assets/dashboard.js", "text/javascript; charset=utf-8"),
            ("/assets/dashboard.css", "text/css; charset=utf-8"),
            ("/assets/vendor/uplot/uPlot.iife.min.js", "text/javascript; charset=utf-8"),
            ("/assets/vendor/uplot/uPlot.min.css", "text/css; charset=utf-8"),
            ("/assets/vendor/uplot/LICENSE", "text/plain; charset=utf-8"),
        ] {
            let response = reqwest::get(format!("{base}{path}")).await.expect("answers");
            assert_eq!(response.status(), 200, "{path}");
            assert_eq!(header(&response, "content-type"), content_type, "{path}");
            let policy = header(&response, "content-security-policy");
            assert!(policy.starts_with("default-src 'self'"), "{path}: {policy}");
            assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"), "{path}: {policy}");
            assert!(policy.contains("frame-ancestors 'none'"), "{path}: {policy}");
            assert_eq!(header(&response, "x-content-type-options"), "nosniff");
            assert_eq!(header(&response, "cache-control"), "no-cache");
            let etag = header(&response, "etag").to_string();
            assert!(etag.starts_with('"') && etag.len() == 34, "{path}: {etag}");
            let body = response.bytes().await.expect("a body");
            assert!(!body.is_empty(), "{path}");

            let again = reqwest::Client::new()
                .get(format!("{base}{path}"))
                .header("if-none-match", &etag)
                .send()
                .await
                .expect("answers");
            assert_eq!(again.status(), 304, "{path} unchanged");
            assert!(again.bytes().await.expect("body").is_empty());
        }
    }

    #[tokio::test]
    async fn the_page_loads_only_its_own_files_and_no_inline_code() {
        let page = std::str::from_utf8(ASSETS[0].bytes).expect("utf-8");
        assert!(!page.contains("<style") && !page.contains(" style="), "inline style");
        // No inline event handler (` onclick="…"`): a space, `on`, letters, `=`.
        let handlers = page.match_indices(" on").filter(|(at, _)| {
            let rest = &page[at + 3..];
            let name = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_lowercase()).len();
            name > 0 && rest[name..].starts_with('=')
        });
        assert_eq!(handlers.count(), 0, "inline event handlers");
        for tag in page.split("<script").skip(1) {
            assert!(tag.trim_start().starts_with("src=\"/assets/"), "only served scripts: {tag}");
        }
        let base = serve_dashboard().await;
        for href in page.split("=\"/assets/").skip(1).filter_map(|rest| rest.split('"').next()) {
            let response = reqwest::get(format!("{base}/assets/{href}")).await.expect("answers");
            assert_eq!(response.status(), 200, "the page refers to {href}");
        }
    }

    #[tokio::test]
    async fn unknown_assets_are_404_and_the_page_shadows_neither_the_api_nor_metrics() {
        let base = serve_dashboard().await;
        for path in ["/assets/nothing.js", "/assets/index.html", "/assets/..%2FCargo.toml", "/assets/vendor/uplot/"] {
            let response = reqwest::get(format!("{base}{path}")).await.expect("answers");
            assert_eq!(response.status(), 404, "{path}");
            assert!(header(&response, "content-security-policy").starts_with("default-src"), "{path}");
        }
        let metrics = reqwest::get(format!("{base}/metrics")).await.expect("answers");
        assert_eq!(metrics.text().await.expect("text"), "metrics");
        let api = reqwest::get(format!("{base}/api/v1/openapi.json")).await.expect("answers");
        assert_eq!(api.text().await.expect("text"), "api");
    }

    #[test]
    fn the_dashboard_stays_small() {
        // The page, its script and style, and uPlot: well under what one picture weighs.
        assert!(served_bytes() < 150_000, "{} bytes", served_bytes());
    }
}
