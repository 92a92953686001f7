//! The replay server: serves recorded upstream payloads on the loopback so `signalcraft run
//! --replay DIR` and tests exercise the real clients (pacing, redirects, parsing) without the
//! internet. Each provider is pointed at `{base_url}/{provider}`.
//!
//! `DIR/replay.toml` lists the routes, matched in file order:
//!
//! ```toml
//! [[route]]
//! path = "/exchangerate-api/v4/latest/USD"   # exact path
//! query = { }                                 # optional: params that must match (others ignored)
//! status = 200                                # default 200 (301 for a redirect)
//! file = "fx/exchangerate-api_v4_latest_USD_2022-09-20.json"   # relative to DIR
//! content_type = "application/json"           # default application/json
//! headers = { "Retry-After" = "1" }           # optional extra response headers
//! # or, instead of file: redirect = "/frankfurter/v1/latest"   # to this path, query kept
//! ```
//!
//! GET and POST match alike (the Digi-Cadence DQ API is POST-only); the request body is ignored.
//! Every file is read when the server starts, so a bad replay directory fails at once, naming
//! the route and the file.
//!
//! A business's own KPI history can be replayed too: each `[[kpi]]` table names a CSV file (the
//! columns `signalcraft import kpi` takes) and the tenant it belongs to. The server only checks
//! that the file exists and lists it ([`ReplayServer::kpi_files`]); the run imports it onto
//! raw.kpi as an import would.
//!
//! ```toml
//! [[kpi]]
//! tenant = "acme"
//! file = "kpi/orders.csv"                     # relative to DIR
//! ```

use std::{
    collections::BTreeMap,
    io,
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::Arc,
};

use axum::{
    body::Body,
    extract::{Query, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    Router,
};
use bytes::Bytes;
use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The routes file inside a replay directory.
pub const REPLAY_FILE: &str = "replay.toml";

/// A replay directory that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} is not a valid replay file: {source}", path.display())]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("{}: route {index} ({route}): {message}", file.display())]
    Route { file: PathBuf, index: usize, route: String, message: String },
    #[error("cannot listen on the loopback: {0}")]
    Bind(io::Error),
}

/// `replay.toml` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayConfig {
    #[serde(default, rename = "route")]
    routes: Vec<RouteConfig>,
    #[serde(default, rename = "kpi")]
    kpi: Vec<KpiConfig>,
}

/// One `[[kpi]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KpiConfig {
    /// The tenant whose KPIs the file holds.
    tenant: String,
    /// CSV file (`ts,metric,value[,unit][,dim=<key>…]`), relative to the replay directory.
    file: PathBuf,
}

/// A KPI history to import for a tenant, from a replay directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayKpi {
    /// The tenant, as written (checked by the importer).
    pub tenant: String,
    /// The CSV file, resolved against the replay directory.
    pub file: PathBuf,
}

/// One `[[route]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteConfig {
    /// Exact request path.
    path: String,
    /// Query parameters that must be present with these values; others are ignored.
    #[serde(default)]
    query: BTreeMap<String, String>,
    /// Response status; 200 for a file, 301 for a redirect.
    status: Option<u16>,
    /// Payload file, relative to the replay directory.
    file: Option<PathBuf>,
    /// Path to redirect to instead of serving a file; the request's query string is kept.
    redirect: Option<String>,
    /// `Content-Type` of a served file.
    content_type: Option<String>,
    /// Extra response headers (e.g. `Retry-After` to replay a 429).
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// A validated route with its payload in memory.
struct Route {
    path: String,
    query: BTreeMap<String, String>,
    status: StatusCode,
    headers: HeaderMap,
    answer: Answer,
}

enum Answer {
    Body(Bytes),
    Redirect(String),
}

impl Route {
    fn matches(&self, path: &str, params: &[(String, String)]) -> bool {
        self.path == path && self.query.iter().all(|(name, value)| params.iter().any(|(n, v)| n == name && v == value))
    }

    fn respond(&self, uri: &Uri) -> Response {
        let mut headers = self.headers.clone();
        let body = match &self.answer {
            Answer::Body(body) => Body::from(body.clone()),
            Answer::Redirect(target) => {
                let location = match uri.query() {
                    Some(query) => format!("{target}?{query}"),
                    None => target.clone(),
                };
                match HeaderValue::try_from(location) {
                    Ok(location) => {
                        headers.insert(header::LOCATION, location);
                    }
                    // The target was checked at start; only the request's query can be odd here.
                    Err(_) => return not_found("a redirect target that is not a valid header", uri),
                }
                Body::empty()
            }
        };
        (self.status, headers, body).into_response()
    }
}

/// A running replay server on `127.0.0.1`. Dropping it stops it.
pub struct ReplayServer {
    addr: SocketAddr,
    kpi: Vec<ReplayKpi>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl ReplayServer {
    /// Reads `dir/replay.toml` and every payload it names, then serves them on an ephemeral
    /// loopback port.
    pub async fn start(dir: &Path) -> Result<ReplayServer, ReplayError> {
        let (routes, kpi) = load_routes(dir).await?;
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.map_err(ReplayError::Bind)?;
        let addr = listener.local_addr().map_err(ReplayError::Bind)?;
        let router = Router::new().fallback(handle).with_state(Arc::new(routes));
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await;
            if let Err(error) = served {
                tracing::error!(%error, "the replay server stopped");
            }
        });
        tracing::info!(%addr, dir = %dir.display(), "replay server listening");
        Ok(ReplayServer { addr, kpi, shutdown, task: Some(task) })
    }

    /// The KPI histories the directory's `[[kpi]]` tables name, in file order.
    pub fn kpi_files(&self) -> &[ReplayKpi] {
        &self.kpi
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.address().base_url()
    }

    /// Where `provider` is served: `{base_url}/{provider}`.
    pub fn provider_base_url(&self, provider: &str) -> String {
        self.address().provider_base_url(provider)
    }

    /// The socket the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the server answers, to point sources at it.
    pub fn address(&self) -> ReplayAddress {
        ReplayAddress(self.addr)
    }

    /// Stops accepting connections and waits until open ones are done.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            // A panicked server task has nothing left to clean up.
            let _ = task.await;
        }
    }
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        // The task sees the cancellation and ends on its own; nothing to wait for in a Drop.
        self.shutdown.cancel();
    }
}

async fn load_routes(dir: &Path) -> Result<(Vec<Route>, Vec<ReplayKpi>), ReplayError> {
    let file = dir.join(REPLAY_FILE);
    let text =
        tokio::fs::read_to_string(&file).await.map_err(|source| ReplayError::Read { path: file.clone(), source })?;
    let config: ReplayConfig =
        toml::from_str(&text).map_err(|source| ReplayError::Parse { path: file.clone(), source: Box::new(source) })?;
    let mut routes = Vec::with_capacity(config.routes.len());
    for (index, route) in config.routes.into_iter().enumerate() {
        let bad =
            |message: String| ReplayError::Route { file: file.clone(), index, route: route.path.clone(), message };
        routes.push(build_route(dir, &route).await.map_err(bad)?);
    }
    let mut kpi = Vec::with_capacity(config.kpi.len());
    for (index, table) in config.kpi.into_iter().enumerate() {
        let path = dir.join(&table.file);
        if let Err(error) = tokio::fs::metadata(&path).await {
            return Err(ReplayError::Route {
                file: file.clone(),
                index,
                route: format!("kpi {}", table.tenant),
                message: format!("file `{}` cannot be read: {error}", path.display()),
            });
        }
        kpi.push(ReplayKpi { tenant: table.tenant, file: path });
    }
    Ok((routes, kpi))
}

async fn build_route(dir: &Path, route: &RouteConfig) -> Result<Route, String> {
    if !route.path.starts_with('/') {
        return Err("`path` must start with `/`".into());
    }
    let (answer, default_status) = match (&route.file, &route.redirect) {
        (Some(file), None) => {
            let path = dir.join(file);
            let body = tokio::fs::read(&path)
                .await
                .map_err(|error| format!("file `{}` cannot be read: {error}", path.display()))?;
            (Answer::Body(Bytes::from(body)), StatusCode::OK)
        }
        (None, Some(target)) => {
            if !target.starts_with('/') || HeaderValue::from_str(target).is_err() {
                return Err(format!("redirect `{target}` must be a path starting with `/`"));
            }
            (Answer::Redirect(target.clone()), StatusCode::MOVED_PERMANENTLY)
        }
        _ => return Err("needs exactly one of `file` and `redirect`".into()),
    };
    let status = match route.status {
        Some(code) => StatusCode::from_u16(code).map_err(|_| format!("status {code} is not an HTTP status"))?,
        None => default_status,
    };
    if matches!(answer, Answer::Redirect(_)) && !status.is_redirection() {
        return Err(format!("status {status} is not a redirect status"));
    }
    let mut headers = HeaderMap::new();
    if let Answer::Body(_) = answer {
        let content_type = route.content_type.as_deref().unwrap_or("application/json");
        let value =
            HeaderValue::from_str(content_type).map_err(|_| format!("content_type `{content_type}` is not valid"))?;
        headers.insert(header::CONTENT_TYPE, value);
    }
    for (name, value) in &route.headers {
        let name = HeaderName::try_from(name.as_str()).map_err(|_| format!("header name `{name}` is not valid"))?;
        let value =
            HeaderValue::from_str(value).map_err(|_| format!("header `{name}` value `{value}` is not valid"))?;
        headers.insert(name, value);
    }
    Ok(Route { path: route.path.clone(), query: route.query.clone(), status, headers, answer })
}

/// Every request lands here: the first matching route answers, or a JSON 404 says what was
/// asked for, so a missing recording is obvious in the client's error.
async fn handle(State(routes): State<Arc<Vec<Route>>>, method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::POST {
        let message = format!("replay serves GET and POST, not {method}");
        let body = serde_json::json!({ "status": 405, "message": message });
        return json_response(StatusCode::METHOD_NOT_ALLOWED, &body);
    }
    let params = match Query::<Vec<(String, String)>>::try_from_uri(&uri) {
        Ok(Query(params)) => params,
        Err(_) => return not_found("an unreadable query string", &uri),
    };
    match routes.iter().find(|route| route.matches(uri.path(), &params)) {
        Some(route) => {
            tracing::debug!(%method, %uri, status = %route.status, "replayed");
            route.respond(&uri)
        }
        None => {
            tracing::warn!(%method, %uri, "no replay route matches");
            not_found("no replay route", &uri)
        }
    }
}

fn not_found(reason: &str, uri: &Uri) -> Response {
    let body = serde_json::json!({
        "status": 404,
        "message": format!("{reason} for {uri}"),
        "path": uri.path(),
    });
    json_response(StatusCode::NOT_FOUND, &body)
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// Where a [`ReplayServer`] answers: what a source's configuration is pointed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayAddress(SocketAddr);

impl ReplayAddress {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.0)
    }

    /// Where `provider` is served: `{base_url}/{provider}`.
    pub fn provider_base_url(&self, provider: &str) -> String {
        format!("{}/{}", self.base_url(), provider.trim_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        fs::write(dir.join(name), text).expect("temp file writes");
    }

    async fn get(url: &str) -> (u16, String) {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let response = client.get(url).send().await.expect("server answers");
        let status = response.status().as_u16();
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = response.text().await.expect("body");
        (status, location.unwrap_or(body))
    }

    #[tokio::test]
    async fn routes_match_on_path_and_listed_query_params() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(dir.path(), "usd.json", r#"{"base":"USD"}"#);
        write(dir.path(), "eur.json", r#"{"base":"EUR"}"#);
        write(
            dir.path(),
            REPLAY_FILE,
            r#"
            [[route]]
            path = "/p/latest"
            query = { base = "EUR" }
            file = "eur.json"

            [[route]]
            path = "/p/latest"
            file = "usd.json"
            headers = { "Retry-After" = "1" }
            status = 429

            [[route]]
            path = "/old/latest"
            redirect = "/p/latest"
            "#,
        );
        let server = ReplayServer::start(dir.path()).await.expect("starts");
        let base = server.base_url();

        assert_eq!(get(&format!("{base}/p/latest?base=EUR&x=1")).await, (200, r#"{"base":"EUR"}"#.into()));
        assert_eq!(get(&format!("{base}/p/latest?base=USD")).await, (429, r#"{"base":"USD"}"#.into()));
        assert_eq!(get(&format!("{base}/old/latest?base=EUR")).await, (301, "/p/latest?base=EUR".into()));

        let (status, body) = get(&format!("{base}/nowhere?q=1")).await;
        assert_eq!(status, 404);
        let body: serde_json::Value = serde_json::from_str(&body).expect("JSON 404");
        assert_eq!(body["path"], "/nowhere");
        assert!(body["message"].as_str().is_some_and(|m| m.contains("/nowhere?q=1")), "{body}");

        let client = reqwest::Client::new();
        let posted = client.post(format!("{base}/p/latest?base=EUR")).body("{}").send().await.expect("answers");
        assert_eq!(posted.status().as_u16(), 200);
        let put = client.put(format!("{base}/p/latest")).send().await.expect("answers");
        assert_eq!(put.status().as_u16(), 405);

        assert_eq!(server.provider_base_url("frankfurter"), format!("{base}/frankfurter"));
        server.shutdown().await;
    }

    #[tokio::test]
    async fn a_missing_file_is_named_at_start() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(dir.path(), REPLAY_FILE, "[[route]]\npath = \"/a\"\nfile = \"missing.json\"\n");
        let error = ReplayServer::start(dir.path()).await.err().expect("fails to start");
        let text = error.to_string();
        assert!(text.contains("route 0 (/a)") && text.contains("missing.json"), "{text}");
    }

    #[tokio::test]
    async fn kpi_histories_are_listed_resolved_and_a_missing_one_is_named_at_start() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(dir.path(), "orders.csv", "ts,metric,value\n");
        write(dir.path(), REPLAY_FILE, "[[kpi]]\ntenant = \"acme\"\nfile = \"orders.csv\"\n");
        let server = ReplayServer::start(dir.path()).await.expect("starts");
        assert_eq!(server.kpi_files(), [ReplayKpi { tenant: "acme".into(), file: dir.path().join("orders.csv") }]);
        server.shutdown().await;

        write(dir.path(), REPLAY_FILE, "[[kpi]]\ntenant = \"acme\"\nfile = \"sales.csv\"\n");
        let error = ReplayServer::start(dir.path()).await.err().expect("fails to start");
        let text = error.to_string();
        assert!(text.contains("kpi acme") && text.contains("sales.csv"), "{text}");
    }

    #[tokio::test]
    async fn bad_routes_are_rejected_at_start() {
        let cases = [
            ("[[route]]\npath = \"/a\"\n", "exactly one of"),
            ("[[route]]\npath = \"a\"\nredirect = \"/b\"\n", "must start with"),
            ("[[route]]\npath = \"/a\"\nredirect = \"/b\"\nstatus = 200\n", "not a redirect status"),
            ("[[route]]\npath = \"/a\"\nredirect = \"/b\"\nmethod = \"GET\"\n", "unknown field"),
        ];
        for (toml, expected) in cases {
            let dir = tempfile::tempdir().expect("temp dir");
            write(dir.path(), REPLAY_FILE, toml);
            let error = ReplayServer::start(dir.path()).await.err().expect("fails to start");
            assert!(error.to_string().contains(expected), "{toml}: {error}");
        }
        let empty = tempfile::tempdir().expect("temp dir");
        let error = ReplayServer::start(empty.path()).await.err().expect("no replay.toml");
        assert!(matches!(error, ReplayError::Read { .. }), "{error}");
    }
}
