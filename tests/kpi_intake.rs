//! A business's own numbers in: a CSV of 90 days of daily sales pushed over HTTP becomes a
//! series in kpi_points, its one spike is flagged and opens one alert, a forecast with
//! intervals is issued, the read model serves it, and the same upload again changes nothing.
//! Bad uploads are refused per row or per request, and nothing of a refused request is sent.

mod common;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use signalcraft::{app, Roles, RunOptions};
use signalcraft_api::{ApiConfig, Intake, Role, TenantApi, TenantId, TokenSigner};
use signalcraft_kafka::{EmbeddedBroker, RecordProducer};
use signalcraft_model::{Plausibility, Topic};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

const SERIES: &str = "custom:acme:sales";
const SPIKE_DAY: i64 = 80;
const DAYS: i64 = 90;

fn day(n: i64) -> DateTime<Utc> {
    let first = NaiveDate::from_ymd_opt(2024, 1, 1).expect("date").and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    first + TimeDelta::days(n)
}

/// 90 days of steady sales with noise of ±5 %, and one spike.
fn sales_csv() -> String {
    let mut csv = String::from("ts,metric,value,unit\n");
    for n in 0..DAYS {
        let value = if n == SPIKE_DAY { 9_000.0 } else { (1_000.0 + 100.0 * (noise(n as u64) - 0.5)).round() };
        csv.push_str(&format!("{},sales,{value},EUR\n", day(n).format("%Y-%m-%dT%H:%M:%SZ")));
    }
    csv
}

/// The API on 127.0.0.1 with pushes going to `broker`; returns its base URL.
async fn serve_api(pool: &PgPool, broker: &EmbeddedBroker, config: ApiConfig, shutdown: &CancellationToken) -> String {
    let producer = RecordProducer::new(&kafka_settings(broker), "intake-test").expect("producer");
    let intake = Intake { producer, window: Plausibility::for_topic(Topic::RawKpi) };
    let api = TenantApi::start_with_intake(&config, signer(), pool, Some(intake), shutdown.clone())
        .await
        .expect("the API starts");
    for (_, task) in api.tasks {
        tokio::spawn(task);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let address = listener.local_addr().expect("address");
    let (router, shutdown) = (api.router, shutdown.clone());
    tokio::spawn(async move {
        axum::serve(listener, router).with_graceful_shutdown(shutdown.cancelled_owned()).await.expect("serves")
    });
    format!("http://{address}/api/v1")
}

fn signer() -> TokenSigner {
    TokenSigner::new(b"kpi intake test key, 32 bytes or more", Duration::from_secs(900))
}

fn token(tenant: &str, role: Role) -> String {
    signer().issue("intake-test", &TenantId::parse(tenant).expect("tenant"), role).expect("token")
}

async fn push(
    base: &str,
    token: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
    query: &str,
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/tenants/acme/kpis{query}"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

/// Records on raw.kpi (every partition's high watermark).
fn records_on_raw_kpi(broker: &EmbeddedBroker) -> i64 {
    let consumer: BaseConsumer = kafka_settings(broker).client_config("test").create().expect("client");
    (0..1)
        .map(|partition| {
            consumer.fetch_watermarks(Topic::RawKpi.name(), partition, Duration::from_secs(10)).expect("watermarks").1
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ninety_days_of_sales_pushed_as_csv_are_scored_alerted_forecast_and_served_once() {
    let database = TestDatabase::new().await;
    let broker = broker(1);
    let shutdown = CancellationToken::new();
    let options = RunOptions {
        roles: Roles { ingest: false, process: true, sink: true, serve: false },
        replay: None,
        exit_when_done: false,
    };
    let pipeline = tokio::spawn(app::run(config_for(&broker, &database), options, shutdown.clone()));
    let base = serve_api(&database.pool, &broker, ApiConfig::default(), &shutdown).await;
    let editor = token("acme", Role::Editor);

    let (status, report) = push(&base, &editor, "text/csv", sales_csv(), "").await;
    assert_eq!(status, 202, "{report}");
    assert_eq!(report, serde_json::json!({ "accepted": 90, "rejected": 0, "errors": [] }));

    let stored = eventually(Duration::from_secs(90), || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM kpi_anomalies WHERE series_id = $1")
            .bind(SERIES)
            .fetch_one(&database.pool)
            .await
            .expect("count")
            == DAYS
    })
    .await;
    assert!(stored, "every day was stored and scored");
    let points: (i64, Option<String>, String, String) =
        sqlx::query_as("SELECT count(*), max(tenant_id), max(unit), max(source) FROM kpi_points WHERE series_id = $1")
            .bind(SERIES)
            .fetch_one(&database.pool)
            .await
            .expect("points");
    assert_eq!(points, (DAYS, Some("acme".into()), "EUR".into(), "raw.kpi/api".into()));
    let flagged: Vec<DateTime<Utc>> =
        sqlx::query_scalar("SELECT ts FROM kpi_anomalies WHERE series_id = $1 AND is_anomaly ORDER BY ts")
            .bind(SERIES)
            .fetch_all(&database.pool)
            .await
            .expect("flags");
    assert_eq!(flagged, vec![day(SPIKE_DAY)], "the spike and nothing else is flagged");
    let opened = eventually(Duration::from_secs(30), || async { database.count("alert_states").await == 1 }).await;
    assert!(opened, "one alert opened");
    let alert: (String, Option<String>, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT dedupe_key, tenant_id, opened_at FROM alert_states")
            .fetch_one(&database.pool)
            .await
            .expect("alert");
    assert_eq!(alert, (format!("anomaly/{SERIES}"), Some("acme".into()), Some(day(SPIKE_DAY))));
    let forecast = eventually(Duration::from_secs(60), || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM kpi_forecast_latest WHERE series_id = $1 AND lower_95 <= lower_80 \
             AND lower_80 <= mean AND mean <= upper_80 AND upper_80 <= upper_95",
        )
        .bind(SERIES)
        .fetch_one(&database.pool)
        .await
        .expect("forecast")
            > 0
    })
    .await;
    assert!(forecast, "a forecast with nested 80/95 % intervals was issued");

    // Through the read model, as a dashboard reads it.
    let viewer = token("acme", Role::Viewer);
    let page: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/tenants/acme/series/{SERIES}/points?resolution=day&limit=200"))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    let days = page["points"].as_array().expect("points");
    assert_eq!(days.len(), DAYS as usize);
    let spike = &days[SPIKE_DAY as usize];
    assert_eq!((spike["value"].as_f64(), spike["is_anomaly"].as_bool()), (Some(9_000.0), Some(true)), "{spike}");

    // The same upload again: acknowledged, and nothing changes downstream.
    let before: (i64, i64, i64, i64) = counts(&database.pool).await;
    let (status, report) = push(&base, &editor, "text/csv", sales_csv(), "").await;
    assert_eq!((status, report["accepted"].as_u64()), (202, Some(90)));
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(counts(&database.pool).await, before, "points, anomalies, notifications, audit-free rows unchanged");
    assert_eq!(
        records_on_raw_kpi(&broker),
        2 * DAYS,
        "both uploads were produced; the natural key made the second neutral"
    );

    shutdown.cancel();
    pipeline.await.expect("pipeline task").expect("pipeline stops cleanly");
}

async fn counts(pool: &PgPool) -> (i64, i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM kpi_points), (SELECT count(*) FROM kpi_anomalies), \
                (SELECT count(*) FROM alert_notifications), (SELECT count(*) FROM kpi_daily)",
    )
    .fetch_one(pool)
    .await
    .expect("counts")
}

#[tokio::test]
async fn bad_uploads_are_refused_per_row_or_per_request_and_nothing_partial_is_sent() {
    let database = TestDatabase::new().await;
    let broker = broker(1);
    let shutdown = CancellationToken::new();
    let base = serve_api(&database.pool, &broker, ApiConfig::default(), &shutdown).await;
    let editor = token("acme", Role::Editor);
    let good = "2024-03-01T00:00:00Z";
    let future = (Utc::now() + TimeDelta::days(400)).format("%Y-%m-%dT%H:%M:%SZ").to_string();

    // Refused as a whole request.
    let (status, body) = push(&base, &editor, "text/csv", "time,metric,value\n", "").await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("column 1 is `time`")), "{body}");
    let (status, body) = push(&base, &editor, "text/csv", "ts,metric\n", "").await;
    assert!(status == 400 && body["detail"].as_str().is_some_and(|d| d.contains("no `value` column")), "{body}");
    let (status, _) = push(&base, &editor, "application/xml", "<x/>", "").await;
    assert_eq!(status, 415);
    let (status, body) =
        push(&base, &token("globex", Role::Editor), "text/csv", format!("ts,metric,value\n{good},sales,1\n"), "").await;
    assert_eq!(status, 403, "a token of another tenant: {body}");
    let (status, _) =
        push(&base, &token("acme", Role::Viewer), "text/csv", format!("ts,metric,value\n{good},sales,1\n"), "").await;
    assert_eq!(status, 403, "a viewer may not push");
    let big = format!("ts,metric,value\n{}", format!("{good},sales,1\n").repeat(50 * 1024 * 1024 / 29 + 1));
    assert!(big.len() > 50 * 1024 * 1024);
    let (status, body) = push(&base, &editor, "text/csv", big, "").await;
    assert_eq!(status, 413, "{body}");

    // Refused row by row: every bad row named, nothing sent.
    let rows = [
        format!("{good},sales,12.5"),
        format!("{good},sales,twelve"),
        format!("{good},sales,NaN"),
        format!("{good},sales,inf"),
        "2024-03-01T00:00:00,sales,1".to_string(),
        format!("{future},sales,1"),
        format!("{good},Sales-€,1"),
        format!("{good},sales"),
    ];
    let upload = format!("ts,metric,value\n{}\n", rows.join("\n"));
    let (status, body) = push(&base, &editor, "text/csv", upload.clone(), "").await;
    assert_eq!(status, 400, "{body}");
    let errors = body["errors"].as_array().expect("per-row errors");
    let lines: Vec<u64> = errors.iter().filter_map(|e| e["line"].as_u64()).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7, 8, 9], "{body}");
    let column =
        |line: u64| errors.iter().find(|e| e["line"] == line).and_then(|e| e["column"].as_str().map(str::to_string));
    assert_eq!(column(3).as_deref(), Some("value"));
    assert_eq!(column(4).as_deref(), Some("value"), "NaN is not a finite number");
    assert_eq!(column(6).as_deref(), Some("ts"), "a timestamp without a zone");
    assert_eq!(column(7).as_deref(), Some("ts"), "too far in the future");
    assert_eq!(column(8).as_deref(), Some("metric"));
    assert_eq!(records_on_raw_kpi(&broker), 0, "a refused request sends nothing");

    // With on_error=skip, the one good row goes, the others are reported.
    let (status, body) = push(&base, &editor, "text/csv", upload, "?on_error=skip").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!((body["accepted"].as_u64(), body["rejected"].as_u64()), (Some(1), Some(7)), "{body}");
    assert_eq!(records_on_raw_kpi(&broker), 1);

    // JSON: one observation or a list, with dimensions.
    let json = serde_json::json!([
        { "ts": good, "metric": "sales", "value": 3.0, "unit": "EUR", "dimensions": { "store": "berlin-1" } },
        { "ts": good, "metric": "sales", "value": 4.0, "dimensions": { "store": "bad store" } },
    ]);
    let (status, body) = push(&base, &editor, "application/json", json.to_string(), "").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["line"], 2);
    assert_eq!(body["errors"][0]["column"], "dimensions.store");
    let one = serde_json::json!({ "ts": good, "metric": "sales", "value": 3.0, "dimensions": { "store": "berlin-1" } });
    let (status, body) = push(&base, &editor, "application/json", one.to_string(), "").await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(1)), "{body}");
    assert_eq!(records_on_raw_kpi(&broker), 2);
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM api_audit WHERE action = 'kpi.push' AND tenant_id = 'acme'")
            .fetch_one(&database.pool)
            .await
            .expect("audit");
    assert_eq!(audited, 2, "one audit row per accepted push");
    shutdown.cancel();
}
