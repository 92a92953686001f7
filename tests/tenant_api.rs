//! The tenant API over HTTP, served in-process on 127.0.0.1: what each endpoint answers for the
//! recorded replay (compared with the rows the owner reads), who may call it (tokens, roles,
//! API keys), the database's own wall with the handlers' tenant check switched off, hostile
//! input answered 400 (never 500), the OpenAPI document, and the rate limit.

mod common;

use std::{collections::BTreeSet, time::Duration};

use chrono::{DateTime, Utc};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use signalcraft::{app, Roles, RunOptions};
use signalcraft_api::{
    auth::Claims, keys, problem::PROBLEM_JSON, routes::series::ForecastStep, ApiConfig, ApiState, Role, TenantApi,
    TenantId, TokenSigner,
};
use signalcraft_model::{AlertNotification, AlertTransition, Severity};
use signalcraft_sink::PostgresSink;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

const SIGNING_KEY: &[u8] = b"the tenant api test signing key!";
const TTL: Duration = Duration::from_secs(900);

/// Limits no test but the rate limit's reaches.
fn roomy() -> ApiConfig {
    ApiConfig { requests_per_minute: 100_000, burst: 10_000, ..ApiConfig::default() }
}

fn signer() -> TokenSigner {
    TokenSigner::new(SIGNING_KEY, TTL)
}

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("a tenant id")
}

fn token(tenant_id: &str, role: Role) -> String {
    signer().issue(&format!("test-{tenant_id}-{role}"), &tenant(tenant_id), role).expect("token signed")
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("an RFC 3339 instant").with_timezone(&Utc)
}

/// An instant the API answered, as a JSON string.
fn at(value: &Value) -> DateTime<Utc> {
    instant(value.as_str().unwrap_or_else(|| panic!("not an instant: {value}")))
}

/// Whether `got` (parsed from JSON text) is `want` (from the database): serde_json's default
/// parser may land one ulp off the shortest representation the API printed.
fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-12 * want.abs().max(1.0)
}

fn close_opt(got: Option<f64>, want: Option<f64>) -> bool {
    match (got, want) {
        (Some(got), Some(want)) => close(got, want),
        (got, want) => got == want,
    }
}

type RawPoint = (DateTime<Utc>, f64, Option<f64>, bool);
/// A rollup bucket: start, mean, min, max, count, highest score, any flagged.
type Bucket = (DateTime<Utc>, f64, f64, f64, i64, Option<f64>, bool);

/// Raw points as the API gave them are the database's.
fn assert_raw_points(got: &[RawPoint], want: &[RawPoint], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?}");
    for (got, want) in got.iter().zip(want) {
        let same = got.0 == want.0 && got.1 == want.1 && close_opt(got.2, want.2) && got.3 == want.3;
        assert!(same, "{what}: {got:?} is not {want:?}");
    }
}

/// The API served on a free port of 127.0.0.1 until dropped.
struct Server {
    base: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// One answer: status, content type, headers, and the body as JSON (`Null` when it is not).
#[derive(Debug)]
struct Answer {
    what: String,
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    text: String,
    body: Value,
}

impl Answer {
    /// A 2xx JSON answer's body.
    fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "{}: {}", self.what, self.text);
        assert!(self.content_type.starts_with("application/json"), "{}: {}", self.what, self.content_type);
        &self.body
    }

    /// A problem+json answer with `status`.
    fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "{}: {}", self.what, self.text);
        assert_eq!(self.content_type, PROBLEM_JSON, "{}: {}", self.what, self.text);
        assert_eq!(self.body["status"], json!(status), "{}: {}", self.what, self.text);
        assert!(self.body["title"].is_string() && self.body["detail"].is_string(), "{}: {}", self.what, self.text);
        &self.body
    }

    fn list(&self, key: &str) -> &Vec<Value> {
        self.ok(200)[key].as_array().unwrap_or_else(|| panic!("{}: no `{key}` list: {}", self.what, self.text))
    }
}

impl Server {
    async fn serve(router: axum::Router, shutdown: CancellationToken) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let address = listener.local_addr().expect("bound");
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await.expect("serves");
        });
        Server { base: format!("http://{address}"), http: reqwest::Client::new(), shutdown }
    }

    /// The API as `serve` starts it, with its tasks.
    async fn start(pool: &PgPool, config: ApiConfig) -> Server {
        let shutdown = CancellationToken::new();
        let api = TenantApi::start(&config, signer(), pool, shutdown.clone()).await.expect("the API starts");
        for (_, task) in api.tasks {
            tokio::spawn(task);
        }
        Server::serve(api.router, shutdown).await
    }

    /// The API with the handlers' tenant check off: row-level security alone walls tenants.
    async fn start_without_handler_tenant_check(pool: &PgPool) -> Server {
        let (_wake, events) = tokio::sync::watch::channel(0u64);
        let state = ApiState::new(pool.clone(), signer(), &roomy(), events).without_handler_tenant_check();
        Server::serve(signalcraft_api::router::router(state, &[]), CancellationToken::new()).await
    }

    /// `method` on `/api/v1{path}` with a bearer `token` and a JSON `body`.
    async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<&str>) -> Answer {
        let what = format!("{method} {}", if path.len() > 120 { &path[..120] } else { path });
        let mut request = self.http.request(method, format!("{}/api/v1{path}", self.base));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await.unwrap_or_else(|error| panic!("{what}: {error}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let content_type =
            headers.get("content-type").and_then(|value| value.to_str().ok()).unwrap_or_default().to_string();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer { what, status, content_type, headers, text, body }
    }

    async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, Some(token), None).await
    }
}

// ── the replay, read back through the API ──────────────────────────────────────────────────

fn notification(alert: &str, tenant: &str, transition: AlertTransition, value: f64, at: &str) -> AlertNotification {
    AlertNotification {
        notification_id: format!("{alert}-{transition:?}"),
        alert_id: alert.into(),
        dedupe_key: format!("key-{alert}"),
        rule_id: None,
        series_id: format!("weather:{tenant}:weather_code"),
        tenant_id: Some(tenant.into()),
        transition,
        severity: Severity::Critical,
        message: format!("{alert} {transition:?} at {value}"),
        value,
        score: Some(0.97),
        occurred_at: instant(at),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_reads_back_through_every_endpoint() {
    let database = TestDatabase::new().await;
    let pool = &database.pool;
    let broker = broker(3);
    let replay = RunOptions { roles: Roles::ALL, replay: Some(fixture("replay")), exit_when_done: true };
    app::run(replay_config(broker.bootstrap_servers(), &database), replay, CancellationToken::new())
        .await
        .expect("the replay runs");
    // The replay raises no alert for berlin (only on vizhinjam-port's KPI): one open and one
    // resolved alert of berlin, as the sink stores them.
    let notifications = [
        notification("open-1", "berlin", AlertTransition::Opened, 95.0, "2023-11-13T08:00:00Z"),
        notification("resolved-1", "berlin", AlertTransition::Opened, 80.0, "2023-11-13T06:00:00Z"),
        notification("resolved-1", "berlin", AlertTransition::Resolved, 3.0, "2023-11-13T07:00:00Z"),
    ];
    let mut sink = PostgresSink::new(pool.clone(), "tenant-api-test");
    assert!(sink.write_batch(&consumed(&notifications, 0)).await.expect("written").is_empty());

    let api = Server::start(pool, roomy()).await;
    let viewer = token("berlin", Role::Viewer);

    catalogue(&api, pool, &viewer).await;
    points(&api, pool, &viewer).await;
    synthetic_forecasts(&mut sink, pool).await;
    forecast(&api, pool, &viewer).await;
    news(&api, pool).await;
    alerts(&api, &viewer).await;
    rules(&api, pool).await;
    api_keys(&api, pool).await;
}

async fn catalogue(api: &Server, pool: &PgPool, viewer: &str) {
    type Row = (String, String, String, String, Option<String>, DateTime<Utc>, f64);
    let expected: Vec<Row> = sqlx::query_as(
        "SELECT series_id, metric, unit, source, tenant_id, ts, value FROM kpi_latest \
         WHERE tenant_id = 'berlin' ORDER BY series_id",
    )
    .fetch_all(pool)
    .await
    .expect("owner reads");
    let answer = api.get("/tenants/berlin/series", viewer).await;
    let series = answer.list("series");
    let got: Vec<Row> = series
        .iter()
        .map(|s| {
            (
                s["series_id"].as_str().expect("id").into(),
                s["metric"].as_str().expect("metric").into(),
                s["unit"].as_str().expect("unit").into(),
                s["source"].as_str().expect("source").into(),
                s["tenant_id"].as_str().map(str::to_string),
                at(&s["latest_ts"]),
                s["latest_value"].as_f64().expect("value"),
            )
        })
        .collect();
    assert_eq!(got, expected, "the catalogue is kpi_latest of the tenant");
    let find = |id: &str| got.iter().find(|row| row.0 == id).unwrap_or_else(|| panic!("{id} listed: {got:?}")).clone();
    let (_, _, unit, _, tenant_id, latest, value) = find("weather:berlin:weather_code");
    assert_eq!(
        (unit.as_str(), tenant_id.as_deref(), latest, value),
        ("wmo code", Some("berlin"), instant("2023-11-13T10:45:00Z"), 3.0)
    );
    let (_, _, _, _, _, latest, value) = find("weather-forecast:berlin:weather_code");
    assert_eq!((latest, value), (instant("2023-11-19T23:00:00Z"), 61.0));

    let public: i64 = sqlx::query_scalar("SELECT count(*) FROM kpi_latest WHERE tenant_id IS NULL")
        .fetch_one(pool)
        .await
        .expect("owner counts");
    assert!(public > 100, "fx and dq series are public: {public}");
    let answer = api.get("/tenants/berlin/series?include_public=true", viewer).await;
    let with_public = answer.list("series");
    assert_eq!(with_public.len() as i64, expected.len() as i64 + public);
    assert!(with_public.iter().all(|s| s["tenant_id"] == json!("berlin") || s["tenant_id"].is_null()));
    let eur = with_public.iter().find(|s| s["series_id"] == json!("fx:USD:EUR")).expect("fx:USD:EUR listed");
    assert_eq!(eur["latest_value"], json!(0.88137));
    let answer = api.get("/tenants/berlin/series?include_public=false", viewer).await;
    assert_eq!(answer.list("series").len(), expected.len());
}

/// Every point of a series, following `next_from` page by page.
async fn all_pages(api: &Server, token: &str, path: &str, limit: usize) -> (Vec<Value>, Vec<usize>) {
    let mut points = Vec::new();
    let mut pages = Vec::new();
    let mut from: Option<String> = None;
    loop {
        let mut url = format!("{path}&limit={limit}");
        if let Some(from) = &from {
            url.push_str(&format!("&from={}", from.replace('+', "%2B")));
        }
        let answer = api.get(&url, token).await;
        let page = answer.ok(200);
        let got = page["points"].as_array().expect("points").clone();
        assert!(got.len() <= limit, "{url}: {} points", got.len());
        pages.push(got.len());
        points.extend(got);
        match page["next_from"].as_str() {
            Some(next) => from = Some(next.to_string()),
            None => break,
        }
        assert!(pages.len() < 100, "paging ends");
    }
    (points, pages)
}

async fn points(api: &Server, pool: &PgPool, viewer: &str) {
    // The observed series holds the current conditions, one point.
    let observed = api.get("/tenants/berlin/series/weather:berlin:weather_code/points", viewer).await;
    let only = observed.list("points");
    assert_eq!(only.len(), 1, "{only:?}");
    assert_eq!((at(&only[0]["ts"]), &only[0]["value"]), (instant("2023-11-13T10:45:00Z"), &json!(3.0)));

    // The hourly forecast series: 168 points of a WMO code, a category, so none is scored.
    let series = "weather-forecast:berlin:weather_code";
    let expected: Vec<RawPoint> = sqlx::query_as(
        "SELECT p.ts, p.value, a.score, coalesce(a.is_anomaly, false) FROM kpi_points p \
         LEFT JOIN kpi_anomalies a USING (series_id, ts) WHERE series_id = $1 ORDER BY ts",
    )
    .bind(series)
    .fetch_all(pool)
    .await
    .expect("owner reads");
    assert_eq!(expected.len(), 168);
    assert!(expected.iter().all(|p| p.2.is_none() && !p.3), "a category is not scored");

    let answer = api.get(&format!("/tenants/berlin/series/{series}/points"), viewer).await;
    let page = answer.ok(200);
    assert_eq!(
        (&page["series_id"], &page["unit"], &page["resolution"], &page["next_from"]),
        (&json!(series), &json!("wmo code"), &json!("raw"), &Value::Null)
    );
    let raw = |points: &[Value]| -> Vec<RawPoint> {
        points
            .iter()
            .map(|p| {
                (
                    at(&p["ts"]),
                    p["value"].as_f64().expect("value"),
                    p["anomaly_score"].as_f64(),
                    p["is_anomaly"].as_bool().expect("flag"),
                )
            })
            .collect()
    };
    assert_raw_points(&raw(page["points"].as_array().expect("points")), &expected, "raw points with their scores");
    let latest = page["points"].as_array().expect("points").last().cloned().expect("a point");
    assert_eq!((at(&latest["ts"]), &latest["value"]), (instant("2023-11-19T23:00:00Z"), &json!(61.0)));

    // Pages of 50: every point once, in order.
    let (paged, pages) =
        all_pages(api, viewer, &format!("/tenants/berlin/series/{series}/points?resolution=raw"), 50).await;
    assert_eq!(pages, vec![50, 50, 50, 18]);
    assert_raw_points(&raw(&paged), &expected, "pages of 50");

    // A window [from, to).
    let window = api
        .get(
            &format!("/tenants/berlin/series/{series}/points?from=2023-11-13T00:00:00Z&to=2023-11-13T06:00:00Z"),
            viewer,
        )
        .await;
    let in_window: Vec<_> = expected
        .iter()
        .filter(|p| p.0 >= instant("2023-11-13T00:00:00Z") && p.0 < instant("2023-11-13T06:00:00Z"))
        .cloned()
        .collect();
    assert!(!in_window.is_empty());
    assert_raw_points(&raw(window.list("points")), &in_window, "[from, to)");

    // Rollups: the read models' rows, with the highest score and any flag of their points.
    for (resolution, table, bucket, width) in
        [("hour", "kpi_hourly", "hour", "1 hour"), ("day", "kpi_daily", "(day::timestamp AT TIME ZONE 'UTC')", "1 day")]
    {
        let expected: Vec<Bucket> = sqlx::query_as(&format!(
            "SELECT {bucket}, r.mean, r.min, r.max, r.points, \
                    (SELECT max(score) FROM kpi_anomalies a WHERE a.series_id = r.series_id \
                       AND a.ts >= {bucket} AND a.ts < {bucket} + interval '{width}'), \
                    coalesce((SELECT bool_or(is_anomaly) FROM kpi_anomalies a WHERE a.series_id = r.series_id \
                       AND a.ts >= {bucket} AND a.ts < {bucket} + interval '{width}'), false) \
             FROM {table} r WHERE series_id = $1 ORDER BY 1"
        ))
        .bind(series)
        .fetch_all(pool)
        .await
        .expect("owner reads");
        assert!(expected.len() > 1, "{table}");
        assert!(expected.iter().all(|b| b.5.is_none() && !b.6), "{table}: no score on a category");
        let answer = api.get(&format!("/tenants/berlin/series/{series}/points?resolution={resolution}"), viewer).await;
        assert_eq!(answer.ok(200)["resolution"], json!(resolution));
        let got: Vec<_> = answer
            .list("points")
            .iter()
            .map(|p| {
                (
                    at(&p["ts"]),
                    p["value"].as_f64().expect("mean"),
                    p["min"].as_f64().expect("min"),
                    p["max"].as_f64().expect("max"),
                    p["count"].as_i64().expect("count"),
                    p["anomaly_score"].as_f64(),
                    p["is_anomaly"].as_bool().expect("flag"),
                )
            })
            .collect();
        assert_eq!(got.len(), expected.len(), "{resolution}: {got:?}");
        for (got, want) in got.iter().zip(&expected) {
            let same = got.0 == want.0
                && close(got.1, want.1)
                && got.2 == want.2
                && got.3 == want.3
                && got.4 == want.4
                && close_opt(got.5, want.5)
                && got.6 == want.6;
            assert!(same, "{resolution}: {got:?} is not the row of {table} {want:?}");
        }
        assert_eq!(got.iter().map(|b| b.4).sum::<i64>(), 168, "{resolution}: every point in one bucket");
        let (paged, _) =
            all_pages(api, viewer, &format!("/tenants/berlin/series/{series}/points?resolution={resolution}"), 2).await;
        assert_eq!(paged.len(), expected.len(), "{resolution}: paging gives every bucket once");
    }

    let missing = api.get("/tenants/berlin/series/weather:berlin:no_such_thing/points", viewer).await;
    missing.problem(404);
    let other = api.get("/tenants/berlin/series/sentiment:vizhinjam-port:volume/points", viewer).await;
    other.problem(404);
}

/// The series [`synthetic_forecasts`] writes.
const FORECAST_SERIES: &str = "weather-forecast:berlin:temperature_2m";

/// The replay forecasts nothing: its only series long enough, the hourly weather code, is a
/// category. So the forecast route is read back from a SYNTHETIC (not recorded) hourly series of
/// berlin, 168 points of a smooth daily cycle over the replayed week, forecast by the real
/// forecast processor with its defaults, points and forecasts stored by the sink as a run would.
async fn synthetic_forecasts(sink: &mut PostgresSink, pool: &PgPool) {
    use signalcraft_model::KpiPoint;
    use signalcraft_process::{
        forecast::{ForecastSeries, ForecastSeriesConfig},
        Processor,
    };
    let points: Vec<KpiPoint> = (0..168)
        .map(|hour| KpiPoint {
            series_id: FORECAST_SERIES.into(),
            tenant_id: Some("berlin".into()),
            metric: "temperature_2m".into(),
            unit: "°C".into(),
            ts: instant("2023-11-13T00:00:00Z") + chrono::TimeDelta::hours(hour),
            value: 6.0 + 3.0 * (std::f64::consts::TAU * hour as f64 / 24.0).sin() + (hour % 5) as f64 * 0.1,
            source: "raw.weather/open-meteo".into(),
        })
        .collect();
    let mut processor = ForecastSeries::new(ForecastSeriesConfig::default());
    let mut forecasts = Vec::new();
    for point in &points {
        forecasts.extend(processor.process(point.clone()).expect("forecasts"));
    }
    assert!(sink.write_batch(&consumed(&points, 0)).await.expect("written").is_empty());
    assert!(sink.write_batch(&consumed(&forecasts, 0)).await.expect("written").is_empty());
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM kpi_points WHERE series_id = $1")
        .bind(FORECAST_SERIES)
        .fetch_one(pool)
        .await
        .expect("count");
    assert_eq!(stored, 168);
}

async fn forecast(api: &Server, pool: &PgPool, viewer: &str) {
    let series = FORECAST_SERIES;
    let (count, issued, model, step, stored): (i64, DateTime<Utc>, String, i64, sqlx::types::Json<Vec<ForecastStep>>) =
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM kpi_forecasts WHERE series_id = $1), issued_at, model, step_seconds, points \
             FROM kpi_forecasts WHERE series_id = $1 ORDER BY issued_at DESC LIMIT 1",
        )
        .bind(series)
        .fetch_one(pool)
        .await
        .expect("owner reads");
    // Six on the refit schedule and one early fit at the 16th point (the schedule's first doubling).
    assert_eq!(count, 7 + 1);
    let answer = api.get(&format!("/tenants/berlin/series/{series}/forecast"), viewer).await;
    let body = answer.ok(200);
    assert_eq!(at(&body["issued_at"]), instant("2023-11-19T23:00:00Z"));
    assert_eq!(at(&body["issued_at"]), issued);
    assert_eq!((&body["model"], &body["step_seconds"]), (&json!(model), &json!(3600)));
    assert_eq!(step, 3600);
    let steps: Vec<ForecastStep> = serde_json::from_value(body["points"].clone()).expect("forecast steps");
    assert_eq!(steps.len(), 720);
    for (got, want) in steps.iter().zip(stored.0.iter()) {
        let same = got.ts == want.ts
            && close(got.mean, want.mean)
            && close(got.lower_80, want.lower_80)
            && close(got.upper_80, want.upper_80)
            && close(got.lower_95, want.lower_95)
            && close(got.upper_95, want.upper_95);
        assert!(same, "{got:?} is not the stored {want:?}");
        assert!(got.lower_95 <= got.lower_80 && got.lower_80 <= got.mean, "{got:?}");
        assert!(got.mean <= got.upper_80 && got.upper_80 <= got.upper_95, "{got:?}");
    }
    for key in ["ts", "mean", "lower_80", "upper_80", "lower_95", "upper_95"] {
        assert!(!body["points"][0][key].is_null(), "{key}");
    }
    api.get("/tenants/berlin/series/weather:berlin:weather_code/forecast", viewer).await.problem(404);
    // The replayed forecast of the weather code is a category: never forecast as a number.
    api.get("/tenants/berlin/series/weather-forecast:berlin:weather_code/forecast", viewer).await.problem(404);
}

async fn news(api: &Server, pool: &PgPool) {
    let viewer = token("vizhinjam-port", Role::Viewer);
    let expected: Vec<(String, String, DateTime<Utc>, f64)> = sqlx::query_as(
        "SELECT url, title, seen_at, round(compound::numeric, 4)::float8 FROM news_sentiment \
         WHERE tenant_id = 'vizhinjam-port' \
         ORDER BY seen_at DESC, url DESC",
    )
    .fetch_all(pool)
    .await
    .expect("owner reads");
    assert_eq!(expected.len(), 4);
    let articles = |list: &[Value]| -> Vec<(String, String, DateTime<Utc>, f64)> {
        list.iter()
            .map(|a| {
                (
                    a["url"].as_str().expect("url").into(),
                    a["title"].as_str().expect("title").into(),
                    at(&a["seen_at"]),
                    // Rounded as VADER rounds (4 places): JSON text and float8 agree on it.
                    (a["compound"].as_f64().expect("compound") * 1e4).round() / 1e4,
                )
            })
            .collect()
    };
    let answer = api.get("/tenants/vizhinjam-port/news", &viewer).await;
    assert_eq!(answer.ok(200)["next_cursor"], Value::Null);
    let all = articles(answer.list("articles"));
    assert_eq!(all, expected, "newest first");
    assert_eq!(all[0].2, instant("2024-07-15T10:30:00Z"));
    assert_eq!(all[3].2, instant("2024-06-15T17:00:00Z"));
    for a in answer.list("articles") {
        for key in ["negative", "neutral", "positive"] {
            assert!(a[key].is_f64(), "{key}: {a}");
        }
    }

    for limit in [1, 3] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut url = format!("/tenants/vizhinjam-port/news?limit={limit}");
            if let Some(cursor) = &cursor {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let answer = api.get(&url, &viewer).await;
            let page = articles(answer.list("articles"));
            assert!(page.len() <= limit);
            seen.extend(page);
            pages += 1;
            match answer.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
            assert!(pages < 10);
        }
        assert_eq!(seen, expected, "limit {limit}: every article once, newest first");
        assert_eq!(pages, 4_usize.div_ceil(limit));
    }
    let since = api.get("/tenants/vizhinjam-port/news?from=2024-07-01T00:00:00Z", &viewer).await;
    let recent: Vec<_> = expected.iter().filter(|a| a.2 >= instant("2024-07-01T00:00:00Z")).cloned().collect();
    assert!(!recent.is_empty() && recent.len() < 4);
    assert_eq!(articles(since.list("articles")), recent);
    // Berlin has no news, and sentiment series are vizhinjam-port's alone.
    let berlin = token("berlin", Role::Viewer);
    assert!(api.get("/tenants/berlin/news", &berlin).await.list("articles").is_empty());
    let catalogue = api.get("/tenants/vizhinjam-port/series", &viewer).await;
    let ids: BTreeSet<&str> = catalogue.list("series").iter().filter_map(|s| s["series_id"].as_str()).collect();
    for metric in ["mean_compound", "negative_share", "volume"] {
        assert!(ids.contains(format!("sentiment:vizhinjam-port:{metric}").as_str()), "{ids:?}");
    }
}

async fn alerts(api: &Server, viewer: &str) {
    let all = api.get("/tenants/berlin/alerts", viewer).await;
    let ids: Vec<&str> = all.list("alerts").iter().filter_map(|a| a["alert_id"].as_str()).collect();
    assert_eq!(ids, vec!["open-1", "resolved-1"], "newest opened first");

    let open = api.get("/tenants/berlin/alerts?state=open", viewer).await;
    let open = open.list("alerts");
    assert_eq!(open.len(), 1, "{open:?}");
    let alert = &open[0];
    assert_eq!(
        (&alert["alert_id"], &alert["state"], &alert["severity"], &alert["series_id"], &alert["value"]),
        (&json!("open-1"), &json!("OPEN"), &json!("CRITICAL"), &json!("weather:berlin:weather_code"), &json!(95.0))
    );
    assert_eq!(at(&alert["opened_at"]), instant("2023-11-13T08:00:00Z"));
    assert_eq!((&alert["resolved_at"], &alert["rule_id"]), (&Value::Null, &Value::Null));

    let resolved = api.get("/tenants/berlin/alerts?state=resolved", viewer).await;
    let resolved = resolved.list("alerts");
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    let alert = &resolved[0];
    assert_eq!((&alert["alert_id"], &alert["state"]), (&json!("resolved-1"), &json!("RESOLVED")));
    assert_eq!(at(&alert["resolved_at"]), instant("2023-11-13T07:00:00Z"));
    assert_eq!(
        (&alert["message"], &alert["value"]),
        (&json!("resolved-1 Resolved at 3"), &json!(3.0)),
        "the latest notification's message"
    );
    assert_eq!(api.get("/tenants/berlin/alerts?limit=1", viewer).await.list("alerts").len(), 1);
    // Another tenant sees its own alerts (the replayed taxi KPI's), none of berlin's.
    let viewer = token("vizhinjam-port", Role::Viewer);
    let theirs = api.get("/tenants/vizhinjam-port/alerts", &viewer).await;
    let theirs = theirs.list("alerts");
    assert_eq!(theirs.len(), 4, "{theirs:?}");
    assert!(theirs.iter().all(|alert| alert["series_id"] == "custom:vizhinjam-port:taxi_passengers"), "{theirs:?}");
}

const RULE: &str = r#"{"name": "cold front", "series_pattern": "weather:berlin:%", "comparison": ">=",
                       "threshold": 61, "duration_secs": 3600, "severity": "critical"}"#;

async fn audit_rows(pool: &PgPool) -> Vec<(String, String, String, String, String, Value)> {
    sqlx::query_as("SELECT tenant_id, subject, role, action, target, detail FROM api_audit ORDER BY id")
        .fetch_all(pool)
        .await
        .expect("owner reads the audit")
}

async fn rules(api: &Server, pool: &PgPool) {
    let editor = token("berlin", Role::Editor);
    let viewer = token("berlin", Role::Viewer);
    assert!(api.get("/tenants/berlin/alert-rules", &viewer).await.list("rules").is_empty());

    // A viewer writes nothing.
    for (method, path, body) in [
        (Method::POST, "/tenants/berlin/alert-rules", Some(RULE)),
        (Method::PUT, "/tenants/berlin/alert-rules/1", Some(RULE)),
        (Method::DELETE, "/tenants/berlin/alert-rules/1", None),
    ] {
        api.call(method, path, Some(&viewer), body).await.problem(403);
    }
    assert!(audit_rows(pool).await.is_empty());

    let created = api.call(Method::POST, "/tenants/berlin/alert-rules", Some(&editor), Some(RULE)).await;
    let rule = created.ok(201).clone();
    let id = rule["id"].as_i64().expect("an id");
    let location = created.headers.get("location").and_then(|l| l.to_str().ok()).expect("a Location").to_string();
    assert_eq!(location, format!("/api/v1/tenants/berlin/alert-rules/{id}"));
    assert_eq!(
        (&rule["name"], &rule["comparison"], &rule["threshold"], &rule["severity"], &rule["enabled"]),
        (&json!("cold front"), &json!(">="), &json!(61.0), &json!("CRITICAL"), &json!(true))
    );
    let stored: (Option<String>, String, f64, i64, String, bool) = sqlx::query_as(
        "SELECT tenant_id, series_pattern, threshold, duration_secs, severity, enabled FROM alert_rules WHERE id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .expect("the rule is stored");
    assert_eq!(
        stored,
        (Some("berlin".into()), "weather:berlin:%".into(), 61.0, 3600, "CRITICAL".into(), true),
        "stored under the token's tenant"
    );
    let fetched = api.get(location.trim_start_matches("/api/v1"), &viewer).await;
    assert_eq!(fetched.ok(200), &rule);

    let replaced = api
        .call(
            Method::PUT,
            &format!("/tenants/berlin/alert-rules/{id}"),
            Some(&editor),
            Some(r#"{"name": "warm front", "series_pattern": "weather:berlin:%", "comparison": "<", "threshold": 2.5, "enabled": false}"#),
        )
        .await;
    let body = replaced.ok(200);
    assert_eq!(
        (&body["id"], &body["name"], &body["threshold"], &body["severity"], &body["enabled"], &body["duration_secs"]),
        (&json!(id), &json!("warm front"), &json!(2.5), &json!("WARNING"), &json!(false), &json!(0))
    );
    let listed = api.get("/tenants/berlin/alert-rules", &viewer).await;
    assert_eq!(listed.list("rules"), &vec![body.clone()]);
    // An admin reads another tenant's rules.
    let admin = token("vizhinjam-port", Role::Admin);
    assert_eq!(api.get("/tenants/berlin/alert-rules", &admin).await.list("rules").len(), 1);

    let versions: Vec<(String, f64, bool, Option<String>)> = sqlx::query_as(
        "SELECT name, threshold, valid_until IS NULL, tenant_id FROM alert_rule_versions WHERE rule_id = $1 \
         ORDER BY version",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .expect("owner reads the versions");
    assert_eq!(
        versions,
        vec![
            ("cold front".into(), 61.0, false, Some("berlin".into())),
            ("warm front".into(), 2.5, true, Some("berlin".into()))
        ]
    );

    let deleted = api.call(Method::DELETE, &format!("/tenants/berlin/alert-rules/{id}"), Some(&editor), None).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    api.get(&format!("/tenants/berlin/alert-rules/{id}"), &viewer).await.problem(404);
    api.call(Method::DELETE, &format!("/tenants/berlin/alert-rules/{id}"), Some(&editor), None).await.problem(404);
    api.call(Method::PUT, &format!("/tenants/berlin/alert-rules/{id}"), Some(&editor), Some(RULE)).await.problem(404);
    let open_versions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM alert_rule_versions WHERE rule_id = $1 AND valid_until IS NULL")
            .bind(id)
            .fetch_one(pool)
            .await
            .expect("owner counts");
    assert_eq!(open_versions, 0, "a deleted rule has no version in force");

    let audit = audit_rows(pool).await;
    let target = format!("alert_rule:{id}");
    let summary: Vec<(&str, &str, &str, &str, &str)> = audit
        .iter()
        .map(|(tenant, subject, role, action, target, _)| {
            (tenant.as_str(), subject.as_str(), role.as_str(), action.as_str(), target.as_str())
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("berlin", "test-berlin-editor", "editor", "alert_rule.create", target.as_str()),
            ("berlin", "test-berlin-editor", "editor", "alert_rule.replace", target.as_str()),
            ("berlin", "test-berlin-editor", "editor", "alert_rule.delete", target.as_str()),
        ],
        "one audit row per write"
    );
    assert_eq!(audit[0].5["threshold"].as_f64(), Some(61.0), "the audit says what was written");
    assert_eq!(audit[1].5["enabled"], json!(false));
}

async fn api_keys(api: &Server, pool: &PgPool) {
    let key = keys::create(pool, &tenant("berlin"), Role::Editor, "dashboard").await.expect("a key");
    let exchange = |key: String| async move {
        api.call(Method::POST, "/token", None, Some(&json!({ "api_key": key }).to_string())).await
    };
    let answer = exchange(key.key.clone()).await;
    let body = answer.ok(200).clone();
    assert_eq!(
        (&body["token_type"], &body["tenant"], &body["role"], &body["expires_in"]),
        (&json!("Bearer"), &json!("berlin"), &json!("editor"), &json!(900))
    );
    let jwt = body["access_token"].as_str().expect("a token").to_string();
    let claims = signer().verify(&jwt).expect("a token of ours");
    assert_eq!(claims.sub, format!("key:{}", key.key_id));
    assert!(!api.get("/tenants/berlin/series", &jwt).await.list("series").is_empty());
    let created = api.call(Method::POST, "/tenants/berlin/alert-rules", Some(&jwt), Some(RULE)).await;
    created.ok(201);
    let subject: String = sqlx::query_scalar("SELECT subject FROM api_audit ORDER BY id DESC LIMIT 1")
        .fetch_one(pool)
        .await
        .expect("audited");
    assert_eq!(subject, format!("key:{}", key.key_id));
    api.get("/tenants/vizhinjam-port/series", &jwt).await.problem(403);

    // A wrong secret, a key of no shape, and a revoked key: the same 401.
    let wrong = format!("{}x", &key.key[..key.key.len() - 1]);
    let wrong = if wrong == key.key { format!("{}y", &key.key[..key.key.len() - 1]) } else { wrong };
    exchange(wrong).await.problem(401);
    exchange("not a key".into()).await.problem(401);
    assert!(keys::revoke(pool, &key.key_id).await.expect("revoked"));
    let refused = exchange(key.key.clone()).await;
    refused.problem(401);
    assert!(!refused.text.contains(&key.key), "the key is not echoed");
}

// ── tokens and roles ───────────────────────────────────────────────────────────────────────

async fn rule_id(pool: &PgPool, name: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM alert_rules WHERE name = $1").bind(name).fetch_one(pool).await.expect("a rule")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_not_ours_get_401_and_roles_are_enforced() {
    let database = TestDatabase::new().await;
    let pool = &database.pool;
    store_tenant_rows(pool).await;
    let api = Server::start(pool, roomy()).await;
    let path = "/tenants/acme/series";
    let good = token("acme", Role::Viewer);
    assert_eq!(api.get(path, &good).await.list("series").len(), 1, "the good token reads");

    let now = Utc::now().timestamp();
    let claims = signer().verify(&good).expect("ours");
    let expired = signer().sign(&Claims { iat: now - 3600, exp: now - 600, ..claims.clone() }).expect("signed");
    let other_key = TokenSigner::new(b"another key, also thirty-two b!!", TTL);
    let wrong_key = other_key.issue("someone", &tenant("acme"), Role::Viewer).expect("signed");
    let parts: Vec<&str> = good.split('.').collect();
    assert_eq!(parts.len(), 3);
    let flip = |text: &str, index: usize| -> String {
        let mut bytes = text.as_bytes().to_vec();
        bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).expect("ascii")
    };
    // The claims say admin, the signature is the viewer's.
    let escalated_claims = {
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut payload: Value = serde_json::from_slice(&engine.decode(parts[1]).expect("base64")).expect("json");
        payload["role"] = json!("admin");
        payload["tenant"] = json!("globex");
        format!("{}.{}.{}", parts[0], engine.encode(payload.to_string()), parts[2])
    };
    let unsigned = {
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!("{}.{}.", engine.encode(r#"{"alg":"none","typ":"JWT"}"#), parts[1])
    };
    let cases = [
        ("expired", expired),
        ("signed with another key", wrong_key),
        ("payload char changed", format!("{}.{}.{}", parts[0], flip(parts[1], 10), parts[2])),
        ("signature char changed", format!("{}.{}.{}", parts[0], parts[1], flip(parts[2], 5))),
        ("claims rewritten", escalated_claims),
        ("alg none", unsigned),
        ("garbage", "not-a-token".into()),
        ("empty", String::new()),
    ];
    for (why, bad) in &cases {
        let answer = api.get(path, bad).await;
        answer.problem(401);
        assert_eq!(answer.headers.get("www-authenticate").map(|h| h.as_bytes()), Some(&b"Bearer"[..]), "{why}");
    }
    let missing = api.call(Method::GET, path, None, None).await;
    missing.problem(401);
    for scheme in ["Basic dXNlcjpwYXNz", "Token abc", "Bearer"] {
        let answer = api
            .http
            .get(format!("{}/api/v1{path}", api.base))
            .header("authorization", scheme)
            .send()
            .await
            .expect("answers");
        assert_eq!(answer.status().as_u16(), 401, "{scheme}");
    }

    // Tenant A's token on B's URLs: 403, whatever the resource.
    let globex_rule = rule_id(pool, "globex rule").await;
    for path in [
        "/tenants/globex/series".to_string(),
        "/tenants/globex/series/custom:globex:sales/points".into(),
        "/tenants/globex/series/custom:globex:sales/forecast".into(),
        "/tenants/globex/news".into(),
        "/tenants/globex/alerts".into(),
        "/tenants/globex/alert-rules".into(),
        format!("/tenants/globex/alert-rules/{globex_rule}"),
    ] {
        api.get(&path, &good).await.problem(403);
        api.get(&path, &token("acme", Role::Editor)).await.problem(403);
    }
    let editor = token("acme", Role::Editor);
    api.call(Method::POST, "/tenants/globex/alert-rules", Some(&editor), Some(RULE)).await.problem(403);
    let globex_path = format!("/tenants/globex/alert-rules/{globex_rule}");
    api.call(Method::PUT, &globex_path, Some(&editor), Some(RULE)).await.problem(403);
    api.call(Method::DELETE, &globex_path, Some(&editor), None).await.problem(403);

    // A viewer may not write its own tenant's rules.
    let acme_rule = rule_id(pool, "acme rule").await;
    let acme_path = format!("/tenants/acme/alert-rules/{acme_rule}");
    api.call(Method::POST, "/tenants/acme/alert-rules", Some(&good), Some(RULE)).await.problem(403);
    api.call(Method::PUT, &acme_path, Some(&good), Some(RULE)).await.problem(403);
    api.call(Method::DELETE, &acme_path, Some(&good), None).await.problem(403);
    let unchanged: (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM alert_rules), (SELECT count(*) FROM api_audit)")
            .fetch_one(pool)
            .await
            .expect("owner counts");
    assert_eq!(unchanged, (4, 0), "no refused write left a row");

    // An admin reads any tenant, and sees that tenant's rows only.
    let admin = token("acme", Role::Admin);
    let series = api.get("/tenants/globex/series", &admin).await;
    let ids: Vec<&str> = series.list("series").iter().filter_map(|s| s["series_id"].as_str()).collect();
    assert_eq!(ids, vec!["custom:globex:sales"]);
    let rules = api.get("/tenants/globex/alert-rules", &admin).await;
    let names: Vec<&str> = rules.list("rules").iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, vec!["globex rule"]);
    assert_eq!(api.get("/tenants/globex/news", &admin).await.list("articles").len(), 1);
    let points = api.get("/tenants/globex/series/custom:globex:sales/points", &admin).await;
    assert_eq!(points.list("points").len(), 3);
}

// ── the database's wall alone ──────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_level_security_walls_tenants_apart_without_the_handlers_check() {
    let database = TestDatabase::new().await;
    let pool = &database.pool;
    store_tenant_rows(pool).await;
    let api = Server::start_without_handler_tenant_check(pool).await;
    let viewer = token("acme", Role::Viewer);
    let editor = token("acme", Role::Editor);
    let globex_rule = rule_id(pool, "globex rule").await;
    let acme_rule = rule_id(pool, "acme rule").await;
    let operator_rule = rule_id(pool, "operator rule").await;

    // Own tenant: the rows are there, so an empty answer below is the wall, not a lack of data.
    assert_eq!(api.get("/tenants/acme/series", &viewer).await.list("series").len(), 1);
    assert_eq!(api.get("/tenants/acme/news", &viewer).await.list("articles").len(), 1);
    assert_eq!(api.get("/tenants/acme/alerts", &viewer).await.list("alerts").len(), 1);
    assert_eq!(api.get("/tenants/acme/alert-rules", &viewer).await.list("rules").len(), 2);
    api.get("/tenants/acme/series/custom:acme:sales/forecast", &viewer).await.ok(200);

    for token in [&viewer, &editor] {
        for (path, key) in [
            ("/tenants/globex/series", "series"),
            ("/tenants/globex/news", "articles"),
            ("/tenants/globex/alerts", "alerts"),
            ("/tenants/globex/alerts?state=open", "alerts"),
            ("/tenants/globex/alert-rules", "rules"),
        ] {
            let answer = api.get(path, token).await;
            assert!(
                answer.list(key).is_empty(),
                "{path}: the handler did not refuse, the database did: {}",
                answer.text
            );
        }
        let public = api.get("/tenants/globex/series?include_public=true", token).await;
        let ids: Vec<&str> = public.list("series").iter().filter_map(|s| s["series_id"].as_str()).collect();
        assert_eq!(ids, vec!["custom:public:sales"], "public rows only");
        for path in [
            "/tenants/globex/series/custom:globex:sales/points".to_string(),
            "/tenants/globex/series/custom:globex:sales/points?resolution=hour".into(),
            "/tenants/globex/series/custom:globex:sales/points?resolution=day".into(),
            "/tenants/globex/series/custom:globex:sales/forecast".into(),
            format!("/tenants/globex/alert-rules/{globex_rule}"),
            format!("/tenants/acme/alert-rules/{operator_rule}"),
            format!("/tenants/globex/alert-rules/{operator_rule}"),
        ] {
            api.get(&path, token).await.problem(404);
        }
    }

    // An editor of acme writes nothing of globex: the insert is refused by the policy, and the
    // rules it may not see are not there to change.
    api.call(Method::POST, "/tenants/globex/alert-rules", Some(&editor), Some(RULE)).await.problem(403);
    for rule in [globex_rule, operator_rule] {
        let path = format!("/tenants/globex/alert-rules/{rule}");
        api.call(Method::PUT, &path, Some(&editor), Some(RULE)).await.problem(404);
        api.call(Method::DELETE, &path, Some(&editor), None).await.problem(404);
        let path = format!("/tenants/acme/alert-rules/{rule}");
        api.call(Method::PUT, &path, Some(&editor), Some(RULE)).await.problem(404);
        api.call(Method::DELETE, &path, Some(&editor), None).await.problem(404);
    }
    let rules: Vec<(i64, Option<String>, String, f64)> =
        sqlx::query_as("SELECT id, tenant_id, name, threshold FROM alert_rules ORDER BY id")
            .fetch_all(pool)
            .await
            .expect("owner reads");
    assert_eq!(
        rules,
        vec![
            (acme_rule, Some("acme".into()), "acme rule".into(), 1.0),
            (acme_rule + 1, Some("acme".into()), "acme rule 2".into(), 0.0),
            (globex_rule, Some("globex".into()), "globex rule".into(), 1.0),
            (operator_rule, None, "operator rule".into(), 1.0),
        ],
        "no rule was written, changed or deleted"
    );
    assert!(audit_rows(pool).await.is_empty(), "no audit row of a refused write");
    // The same editor still writes its own tenant's rules through this server.
    api.call(Method::POST, "/tenants/acme/alert-rules", Some(&editor), Some(RULE)).await.ok(201);
    assert_eq!(audit_rows(pool).await.len(), 1);
}

// ── hostile input ──────────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_paths_queries_and_bodies_get_400_problems_never_500() {
    let database = TestDatabase::new().await;
    let pool = &database.pool;
    store_tenant_rows(pool).await;
    let api = Server::start(pool, roomy()).await;
    let viewer = token("acme", Role::Viewer);
    let editor = token("acme", Role::Editor);
    let long = "a".repeat(10_000);
    let series = "/tenants/acme/series/custom:acme:sales";
    let rule = rule_id(pool, "acme rule").await;

    let mut gets: Vec<String> = vec![
        // Series ids no series has: quotes, percent signs, too long, not UTF-8, a slash.
        "/tenants/acme/series/a%27b/points".into(),
        "/tenants/acme/series/'/points".into(),
        "/tenants/acme/series/%25/points".into(),
        "/tenants/acme/series/%25%27%22;--/forecast".into(),
        "/tenants/acme/series/a%20b/points".into(),
        "/tenants/acme/series/a%2Fb/points".into(),
        "/tenants/acme/series/%ff%fe/points".into(),
        "/tenants/acme/series/%00/forecast".into(),
        format!("/tenants/acme/series/{long}/points"),
        format!("/tenants/acme/series/{}/forecast", "b".repeat(513)),
        // Tenant ids no tenant has.
        "/tenants/a%27b/series".into(),
        "/tenants/%25/news".into(),
        "/tenants/%ff%fe/alerts".into(),
        "/tenants/ACME/series".into(),
        format!("/tenants/{long}/series"),
        format!("/tenants/{long}/series/custom:acme:sales/points"),
        "/tenants/acme/alert-rules/abc".into(),
        "/tenants/acme/alert-rules/%27".into(),
        "/tenants/acme/alert-rules/99999999999999999999999".into(),
        "/tenants/acme/alert-rules/1.5".into(),
    ];
    // Limits, instants, resolutions, cursors, flags, and parameters no endpoint takes.
    for limit in ["0", "-1", "-9223372036854775808", "10001", "99999999999999999999999", "1e3", "abc", "%27", ""] {
        gets.push(format!("{series}/points?limit={limit}"));
        gets.push(format!("/tenants/acme/news?limit={limit}"));
        gets.push(format!("/tenants/acme/alerts?limit={limit}"));
    }
    gets.extend([
        "/tenants/acme/news?limit=201".into(),
        "/tenants/acme/alerts?limit=501".into(),
        format!("{series}/points?from=yesterday"),
        format!("{series}/points?from=2024-13-01T00:00:00Z"),
        format!("{series}/points?to=2024-05-01"),
        format!("{series}/points?from=2024-05-01T12:00:00Z&to=2024-05-01T12:00:00Z"),
        format!("{series}/points?from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z"),
        format!("{series}/points?from=%27;DROP%20TABLE%20kpi_points;--"),
        format!("{series}/points?resolution=minute"),
        format!("{series}/points?resolution=HOUR"),
        format!("{series}/points?resolution=%ff"),
        format!("{series}/points?limit=1&limit=2"),
        format!("{series}/points?colour=blue"),
        format!("{series}/points?{}", "x=1&".repeat(1000)),
        "/tenants/acme/series?include_public=maybe".into(),
        "/tenants/acme/series?tenant=globex".into(),
        "/tenants/acme/news?cursor=%%%".into(),
        "/tenants/acme/news?cursor=bm90IGEgY3Vyc29y".into(),
        "/tenants/acme/news?cursor=%27".into(),
        format!("/tenants/acme/news?cursor={}", "A".repeat(3000)),
        "/tenants/acme/news?from=never".into(),
        "/tenants/acme/news?page=2".into(),
        "/tenants/acme/alerts?state=OPEN".into(),
        "/tenants/acme/alerts?state=closed".into(),
        "/tenants/acme/alerts?state=open%27".into(),
        "/tenants/acme/alerts?severity=CRITICAL".into(),
        // Endpoints that take no parameters refuse them rather than ignore them.
        format!("{series}/forecast?issued_at=2024-05-01T12:00:00Z"),
        "/tenants/acme/alert-rules?tenant=globex".into(),
        format!("/tenants/acme/alert-rules/{rule}?enabled=true"),
    ]);
    for path in &gets {
        let answer = api.get(path, &viewer).await;
        answer.problem(400);
    }

    // Bodies of rule writes.
    let bodies = [
        "{",
        "",
        "null",
        "[]",
        "\"rule\"",
        r#"{"name": "x"}"#,
        r#"{"name": "x", "series_pattern": "custom:%", "comparison": ">", "threshold": "high"}"#,
        r#"{"name": "x", "series_pattern": "custom:%", "comparison": ">", "threshold": 1e999}"#,
        r#"{"name": "x", "series_pattern": "custom:%", "comparison": "=", "threshold": 1}"#,
        r#"{"name": "x", "series_pattern": "custom:%", "comparison": ">", "threshold": 1, "severity": "PANIC"}"#,
        r#"{"name": "x", "series_pattern": "custom:%", "comparison": ">", "threshold": 1, "duration_secs": -1}"#,
        r#"{"name": "x", "series_pattern": "custom:%", "comparison": ">", "threshold": 1, "tenant_id": "globex"}"#,
        r#"{"name": "", "series_pattern": "custom:%", "comparison": ">", "threshold": 1}"#,
        r#"{"name": "x", "series_pattern": "", "comparison": ">", "threshold": 1}"#,
        r#"{"name": "x", "series_pattern": "custom:%", "comparison": ">", "threshold": 1, "enabled": "yes"}"#,
    ];
    let long_name =
        json!({"name": "n".repeat(10_000), "series_pattern": "custom:%", "comparison": ">", "threshold": 1})
            .to_string();
    let invalid_utf8 = String::from_utf8_lossy(b"{\"name\": \"\xff\xfe\"}").into_owned();
    let rule_path = format!("/tenants/acme/alert-rules/{rule}");
    for body in bodies.iter().copied().chain([long_name.as_str(), invalid_utf8.as_str()]) {
        for (method, path) in [(Method::POST, "/tenants/acme/alert-rules"), (Method::PUT, rule_path.as_str())] {
            let answer = api.call(method, path, Some(&editor), Some(body)).await;
            assert_eq!(answer.status, 400, "{body:?}: {}", answer.text);
            answer.problem(400);
        }
        let answer = api.call(Method::POST, "/token", None, Some(body)).await;
        answer.problem(400);
    }
    // Bytes that are not UTF-8 at all, and JSON without its content type.
    let raw = api
        .http
        .post(format!("{}/api/v1/tenants/acme/alert-rules", api.base))
        .header("authorization", format!("Bearer {editor}"))
        .header("content-type", "application/json")
        .body(b"{\"name\": \"\xff\xfe\"}".to_vec())
        .send()
        .await
        .expect("answers");
    assert_eq!(raw.status().as_u16(), 400);
    let untyped = api
        .http
        .post(format!("{}/api/v1/tenants/acme/alert-rules", api.base))
        .header("authorization", format!("Bearer {editor}"))
        .body(RULE)
        .send()
        .await
        .expect("answers");
    assert_eq!(untyped.status().as_u16(), 415);
    // Over the body limit: 413. The server closes that connection without reading the rest,
    // so it goes on a connection of its own.
    let huge = json!({"name": "n".repeat(3 << 20), "series_pattern": "custom:%", "comparison": ">", "threshold": 1});
    let alone = Server { base: api.base.clone(), http: reqwest::Client::new(), shutdown: CancellationToken::new() };
    let answer = alone.call(Method::POST, "/tenants/acme/alert-rules", Some(&editor), Some(&huge.to_string())).await;
    answer.problem(413);
    assert_eq!(untyped.headers().get("content-type").and_then(|c| c.to_str().ok()), Some(PROBLEM_JSON));
    for (method, path, body) in [
        (Method::POST, "/tenants/acme/alert-rules?tenant_id=globex".to_string(), Some(RULE)),
        (Method::PUT, format!("{rule_path}?enabled=false"), Some(RULE)),
        (Method::DELETE, format!("{rule_path}?force=true"), None),
    ] {
        api.call(method, &path, Some(&editor), body).await.problem(400);
    }
    api.call(Method::POST, "/token?api_key=sck_x", None, Some(r#"{"api_key": "sck_x"}"#)).await.problem(400);
    let stored: (i64, f64) =
        sqlx::query_as("SELECT count(*), sum(threshold) FROM alert_rules").fetch_one(pool).await.expect("count");
    assert_eq!(stored, (4, 3.0), "no hostile request stored, changed or deleted a rule");

    // Unknown routes and methods: problems too.
    api.get("/tenants/acme/nothing", &viewer).await.problem(404);
    api.call(Method::DELETE, "/tenants/acme/series", Some(&viewer), None).await.problem(405);
    // After all that, the API still answers.
    api.get("/tenants/acme/series", &viewer).await.ok(200);
}

// ── the OpenAPI document ───────────────────────────────────────────────────────────────────

/// Every route the router serves, with its methods.
const ROUTES: [(&str, &[&str]); 10] = [
    ("/tenants/{tenant}/series", &["get"]),
    ("/tenants/{tenant}/series/{series}/points", &["get"]),
    ("/tenants/{tenant}/series/{series}/forecast", &["get"]),
    ("/tenants/{tenant}/news", &["get"]),
    ("/tenants/{tenant}/alerts", &["get"]),
    ("/tenants/{tenant}/alert-rules", &["get", "post"]),
    ("/tenants/{tenant}/alert-rules/{id}", &["get", "put", "delete"]),
    ("/tenants/{tenant}/events", &["get"]),
    ("/tenants/{tenant}/kpis", &["post"]),
    ("/token", &["post"]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route_served() {
    let database = TestDatabase::new().await;
    let api = Server::start(&database.pool, roomy()).await;
    let answer = api.call(Method::GET, "/openapi.json", None, None).await;
    let document = answer.ok(200);
    let version = document["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3.1."), "{version}");
    assert_eq!(document["servers"][0]["url"], json!("/api/v1"));
    let paths = document["paths"].as_object().expect("paths");
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item")
                .keys()
                .filter(|key| ["get", "post", "put", "delete", "patch", "head", "options"].contains(&key.as_str()))
                .map(move |method| (path.clone(), method.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .flat_map(|(path, methods)| methods.iter().map(move |method| (path.to_string(), method.to_string())))
        .collect();
    assert_eq!(documented, served, "the document lists exactly the routes served");
    for (path, method) in &documented {
        let operation = &paths[path][method];
        assert!(operation["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path}");
        if path != "/token" {
            assert!(operation["security"].is_array(), "{method} {path} needs a token");
            let problem = &operation["responses"]["401"]["content"][PROBLEM_JSON];
            assert!(problem.is_object(), "{method} {path}: 401 is a problem");
        }
    }
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());

    // Each route is served with those methods: without a token it is refused 401, not 404/405;
    // another method gets 405.
    for (path, methods) in ROUTES {
        let concrete = path.replace("{tenant}", "acme").replace("{series}", "custom:acme:sales").replace("{id}", "1");
        for method in ["get", "post", "put", "delete"] {
            let verb = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            let body = (method == "post" || method == "put").then_some(r#"{"api_key": "sck_x"}"#);
            let answer = api.call(verb, &concrete, None, body).await;
            if methods.contains(&method) {
                answer.problem(401);
            } else {
                answer.problem(405);
            }
        }
    }
}

// ── the rate limit ─────────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_over_its_rate_gets_429_with_retry_after() {
    let database = TestDatabase::new().await;
    let config = ApiConfig { requests_per_minute: 1, burst: 2, ..Default::default() };
    let api = Server::start(&database.pool, config).await;
    let viewer = token("acme", Role::Viewer);
    for _ in 0..2 {
        api.get("/tenants/acme/series", &viewer).await.ok(200);
    }
    let limited = api.get("/tenants/acme/series", &viewer).await;
    let body = limited.problem(429);
    let retry_after: u64 = limited
        .headers
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(body["retry_after_secs"], json!(retry_after));
    // Another caller has its own allowance.
    api.get("/tenants/acme/series", &token("acme", Role::Editor)).await.ok(200);
    // Key exchanges are limited too, before the database is asked.
    for _ in 0..2 {
        api.call(Method::POST, "/token", None, Some(r#"{"api_key": "sck_nothing"}"#)).await.problem(401);
    }
    let limited = api.call(Method::POST, "/token", None, Some(r#"{"api_key": "sck_nothing"}"#)).await;
    limited.problem(429);
    assert!(limited.headers.contains_key("retry-after"));
}
