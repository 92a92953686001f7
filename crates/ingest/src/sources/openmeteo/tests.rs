//! Tests of the Open-Meteo source: contract tests with the real recorded payloads
//! (tests/fixtures/openmeteo), multi-location batching, `nan` and `null` handling, fault tests
//! against a scripted local server (timings measured at the server), the archive backfill,
//! config and quota pacing, and polls through the replay server.

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::response::Response;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use signalcraft_model::WeatherKind;

use super::{source::*, *};
use crate::source::Source;
use crate::{
    replay::ReplayServer,
    sources::test_server::{json, respond, silent, too_many, Hit, TestServer},
};
use signalcraft_http::{FetchCause, FetchPolicy, HttpPolicyOverrides};
use signalcraft_model::WeatherObservation;

const GENERAL: &str = include_str!("../../../../../tests/fixtures/openmeteo/forecast__general.body.json");
const ONE_MODEL: &str = include_str!("../../../../../tests/fixtures/openmeteo/forecast__general_one_model.body.json");
/// Recorded with `models=best_match,gfs_seamless` (see SOURCE.txt): hourly keys suffixed per model.
const MORE_MODELS: &str =
    include_str!("../../../../../tests/fixtures/openmeteo/forecast__general_more_models.body.json");
const API_KEY: &str = include_str!("../../../../../tests/fixtures/openmeteo/forecast__api_key.body.json");
const MINIMAL: &str = include_str!("../../../../../tests/fixtures/openmeteo/frenck_forecast_minimal.json");
const NOT_COVERED: &str =
    include_str!("../../../../../tests/fixtures/openmeteo/frenck_satellite_radiation_not_covered.txt");
const ARCHIVE: &str = include_str!("../../../../../tests/fixtures/openmeteo/frenck_historical_weather_archive.json");
const TIDBYT: &str =
    include_str!("../../../../../tests/fixtures/openmeteo/tidbyt_cyclecast_sample_hourly_temperature_2m.json");
const REPLAY_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/replay");

/// Calls per day that make the heaviest request of [`config`] (2 locations, weight 2) wait
/// 200 ms: 86 400 s × 2 / 864 000 = 0.2 s.
const TEST_QUOTA: u32 = 864_000;
const MIN_INTERVAL: Duration = Duration::from_millis(200);

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().expect("valid time")
}

fn now() -> DateTime<Utc> {
    utc(2023, 11, 13, 10, 47)
}

fn location(id: &str, latitude: f64, longitude: f64) -> WeatherLocationConfig {
    WeatherLocationConfig { id: id.into(), latitude, longitude }
}

fn berlin(id: &str) -> WeatherLocationConfig {
    location(id, 52.52, 13.41)
}

/// `config` with `max_attempts` attempts per request.
fn attempts(max_attempts: u32, mut config: OpenMeteoConfig) -> OpenMeteoConfig {
    config.http.max_attempts = Some(max_attempts);
    config
}

/// Most tests serve one recorded Berlin (or Twente) body for locations anywhere, to test
/// batching and faults; they lift the distance check (20,100 km is more than half the
/// equator). The distance tests set `max_distance_km` themselves.
fn config(base_url: &str, locations: Vec<WeatherLocationConfig>) -> OpenMeteoConfig {
    OpenMeteoConfig {
        base_url: base_url.into(),
        max_distance_km: 20_100.0,
        archive_base_url: base_url.into(),
        max_locations_per_request: 2,
        quota_per_day: TEST_QUOTA,
        http: HttpPolicyOverrides { timeout_ms: Some(2_000), ..HttpPolicyOverrides::default() },
        locations,
        ..OpenMeteoConfig::default()
    }
}

/// The config's policy with a short backoff, so retry tests stay fast.
fn source(config: OpenMeteoConfig) -> OpenMeteoSource {
    let policy = FetchPolicy {
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(100),
        ..config.fetch_policy()
    };
    OpenMeteoSource::with_policy(config, policy).expect("client builds")
}

fn serve(body: &'static str) -> impl Fn(&Hit, usize) -> Response + Send + Sync + 'static {
    move |_, _| json(200, body)
}

fn of_kind(records: &[WeatherObservation], kind: WeatherKind) -> Vec<&WeatherObservation> {
    records.iter().filter(|record| record.kind == kind).collect()
}

fn units(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs.iter().map(|(name, unit)| (name.to_string(), unit.to_string())).collect()
}

// ---- contract tests with the real payloads ----

#[tokio::test]
async fn the_general_forecast_yields_168_hours_and_the_current_conditions() {
    let server = TestServer::start(serve(GENERAL)).await;
    let weather = source(config(&server.base_url, vec![berlin("berlin")]));

    let records = weather.poll(now()).await.expect("poll succeeds");

    assert_eq!(
        server.uris(),
        ["/v1/forecast?latitude=52.52&longitude=13.41\
          &hourly=temperature_2m,relative_humidity_2m,precipitation,wind_speed_10m,weather_code\
          &current=temperature_2m,weather_code&forecast_days=7&timezone=GMT"]
    );
    let hourly = of_kind(&records, WeatherKind::Forecast);
    assert_eq!(hourly.len(), 168);
    assert_eq!(records.len(), 169);
    let first = hourly[0];
    assert_eq!(first.hour, utc(2023, 11, 13, 0, 0));
    assert_eq!(first.variables.get("weather_code"), Some(&Some(2.0)));
    assert_eq!(first.units, units(&[("weather_code", "wmo code")]));
    assert_eq!((first.latitude, first.longitude), (52.52, 13.419998), "the model grid's coordinates");
    assert_eq!(first.location_id, "berlin");
    assert_eq!(first.fetched_at, now());
    assert_eq!(hourly[167].hour, utc(2023, 11, 19, 23, 0));
    assert_eq!(hourly[167].variables.get("weather_code"), Some(&Some(61.0)));

    let current = of_kind(&records, WeatherKind::Current);
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].hour, utc(2023, 11, 13, 10, 45));
    assert_eq!(current[0].variables, [("weather_code".to_string(), Some(3.0))].into());
    assert_eq!(current[0].units, units(&[("weather_code", "wmo code")]), "time and interval are not units");
}

#[tokio::test]
async fn the_one_model_capture_gives_the_same_records() {
    let general = TestServer::start(serve(GENERAL)).await;
    let one_model = TestServer::start(serve(ONE_MODEL)).await;
    let from_general = source(config(&general.base_url, vec![berlin("b")])).poll(now()).await.expect("polls");
    let from_one_model = source(config(&one_model.base_url, vec![berlin("b")])).poll(now()).await.expect("polls");
    assert_eq!(from_one_model.len(), 169);
    assert_eq!(from_one_model, from_general, "only generationtime_ms differs between the two captures");
}

#[tokio::test]
async fn the_tidbyt_sample_applies_its_utc_offset_and_keeps_its_units() {
    let server = TestServer::start(serve(TIDBYT)).await;
    let weather = source(config(&server.base_url, vec![location("cyclecast", 28.375, 81.25)]));

    let records = weather.poll(now()).await.expect("poll succeeds");

    assert_eq!(records.len(), 24, "hourly only: no current block, daily is not read");
    let first = &records[0];
    // "2025-04-14T00:00" at utc_offset_seconds -14400 (America/New_York, GMT-4).
    assert_eq!(first.hour, utc(2025, 4, 14, 4, 0));
    assert_eq!(first.variables.get("temperature_2m"), Some(&Some(84.8)));
    assert_eq!(first.variables.len(), 10);
    assert_eq!(
        first.units,
        units(&[
            ("temperature_2m", "°F"),
            ("wind_speed_10m", "mp/h"),
            ("rain", "mm"),
            ("wind_gusts_10m", "mp/h"),
            ("uv_index", ""),
            ("showers", "mm"),
            ("apparent_temperature", "°F"),
            ("precipitation_probability", "%"),
            ("relative_humidity_2m", "%"),
            ("cloud_cover", "%"),
        ])
    );
    assert_eq!(records[23].hour, utc(2025, 4, 15, 3, 0));
    assert_eq!(records[23].variables.get("temperature_2m"), Some(&Some(83.2)));
}

#[tokio::test]
async fn a_header_only_answer_yields_nothing() {
    let server = TestServer::start(serve(MINIMAL)).await;
    let records = source(config(&server.base_url, vec![berlin("b")])).poll(now()).await.expect("poll succeeds");
    assert_eq!(records, []);
}

#[tokio::test]
async fn nulls_stay_none_and_nan_in_a_series_is_none() {
    // The tidbyt sample with its first uv_index set to null and its second temperature to a bare
    // `nan` (what Open-Meteo writes for a value it cannot compute).
    let body = TIDBYT.replacen(r#""uv_index":[4.55,"#, r#""uv_index":[null,"#, 1).replacen(
        r#""temperature_2m":[84.8,87.9,"#,
        r#""temperature_2m":[84.8,nan,"#,
        1,
    );
    let server = TestServer::start(move |_, _| json(200, &body)).await;
    let records =
        source(config(&server.base_url, vec![location("c", 28.375, 81.25)])).poll(now()).await.expect("polls");
    assert_eq!(records.len(), 24);
    assert_eq!(records[0].variables.get("uv_index"), Some(&None));
    assert_eq!(records[0].variables.get("temperature_2m"), Some(&Some(84.8)));
    assert_eq!(records[1].variables.get("temperature_2m"), Some(&None));
    assert_eq!(records[1].variables.get("uv_index"), Some(&Some(6.15)));
}

#[tokio::test]
async fn a_multi_location_array_maps_to_the_locations_in_request_order() {
    // Two real single-location bodies, as the documented array form of a 2-location answer.
    let body = format!("[{GENERAL},{API_KEY}]");
    let server = TestServer::start(move |_, _| json(200, &body)).await;
    let weather = source(config(&server.base_url, vec![berlin("first"), location("second", 48.85, 2.35)]));

    let records = weather.poll(now()).await.expect("poll succeeds");

    assert_eq!(server.uris().len(), 1, "one request for both");
    assert!(
        server.uris()[0].starts_with("/v1/forecast?latitude=52.52,48.85&longitude=13.41,2.35&"),
        "{:?}",
        server.uris()
    );
    assert_eq!(records.len(), 2 * 169);
    let first: Vec<_> = records.iter().filter(|r| r.location_id == "first").collect();
    let second: Vec<_> = records.iter().filter(|r| r.location_id == "second").collect();
    assert_eq!((first.len(), second.len()), (169, 169));
    assert_eq!(records[0].location_id, "first", "request order is kept");
    assert_eq!(first[0].hour, utc(2023, 11, 13, 0, 0));
    assert_eq!(second[0].hour, utc(2024, 1, 24, 0, 0));
    assert_eq!(second[0].variables.get("weather_code"), Some(&Some(61.0)));
    let current = second.iter().find(|r| r.kind == WeatherKind::Current).expect("a current record");
    assert_eq!((current.hour, current.variables.get("weather_code")), (utc(2024, 1, 24, 8, 30), Some(&Some(80.0))));
}

#[tokio::test]
async fn an_uncovered_location_is_skipped_and_its_batch_neighbours_kept() {
    // Alone: the real `nan` body is read (nan → null) and the location has no coordinates.
    let alone = TestServer::start(serve(NOT_COVERED)).await;
    let records = source(config(&alone.base_url, vec![berlin("outside")])).poll(now()).await.expect("not an error");
    assert_eq!(records, []);
    assert_eq!(alone.hits().len(), 1, "not retried");

    // In a batch: the covered location keeps its records.
    let body = format!("[{GENERAL},{NOT_COVERED}]");
    let batch = TestServer::start(move |_, _| json(200, &body)).await;
    let weather = source(config(&batch.base_url, vec![berlin("inside"), location("outside", -60.0, 0.0)]));
    let records = weather.poll(now()).await.expect("poll succeeds");
    assert_eq!(records.len(), 169);
    assert!(records.iter().all(|r| r.location_id == "inside"));
}

#[tokio::test]
async fn the_recorded_two_model_answer_is_named_per_model() {
    let server = TestServer::start(serve(MORE_MODELS)).await;
    let mut asked = config(&server.base_url, vec![berlin("berlin")]);
    asked.hourly = vec!["weather_code".into()];
    asked.current = vec!["weather_code".into()];
    asked.models = vec!["best_match".into(), "gfs_seamless".into()];
    asked.max_distance_km = 25.0;

    let records = source(asked).poll(now()).await.expect("poll succeeds");

    assert_eq!(
        server.uris(),
        ["/v1/forecast?latitude=52.52&longitude=13.41&hourly=weather_code&current=weather_code\
          &models=best_match,gfs_seamless&forecast_days=7&timezone=GMT"]
    );
    let hourly = of_kind(&records, WeatherKind::Forecast);
    assert_eq!(hourly.len(), 168);
    // The recorded first hour: best_match says 2 (partly cloudy), gfs_seamless 0 (clear sky).
    assert_eq!(
        hourly[0].variables,
        [("weather_code:best_match".to_string(), Some(2.0)), ("weather_code:gfs_seamless".to_string(), Some(0.0))]
            .into()
    );
    assert_eq!(
        hourly[0].units,
        units(&[("weather_code:best_match", "wmo code"), ("weather_code:gfs_seamless", "wmo code")])
    );
    assert_eq!(hourly[167].variables.get("weather_code:gfs_seamless"), Some(&Some(3.0)));
    // The current block is not suffixed in the recording: it is nobody's model in particular.
    let current = of_kind(&records, WeatherKind::Current);
    assert_eq!(current[0].variables, [("weather_code".to_string(), Some(3.0))].into());
}

#[test]
fn suffixed_keys_map_back_and_anything_else_is_reported() {
    let names = |list: &[&str]| list.iter().map(|name| name.to_string()).collect::<Vec<_>>();
    let asked = names(&["temperature_2m", "weather_code"]);
    let models = names(&["best_match", "gfs_seamless"]);
    // HAND-MADE columns (not a recording): one per kind of key a two-model answer can hold.
    let columns: std::collections::BTreeMap<String, u8> = [
        ("temperature_2m_gfs_seamless", 1),
        ("temperature_2m_icon_seamless", 2),
        ("weather_code_best_match", 3),
        ("weather_codex", 4),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_string(), value))
    .collect();

    let (mapped, problems) = parse::map_columns(columns, &asked, &models);

    assert_eq!(
        mapped,
        [("temperature_2m:gfs_seamless".to_string(), 1), ("weather_code:best_match".to_string(), 3)].into()
    );
    assert_eq!(
        problems,
        [
            "unexpected key `temperature_2m_icon_seamless`: not `<variable>_<model>` for a variable of \
             [temperature_2m, weather_code] and a model of [best_match, gfs_seamless]; dropped",
            "unexpected key `weather_codex`: not `<variable>_<model>` for a variable of \
             [temperature_2m, weather_code] and a model of [best_match, gfs_seamless]; dropped",
            "`temperature_2m` was asked for with model `best_match` and is missing from the answer",
            "`weather_code` was asked for with model `gfs_seamless` and is missing from the answer",
        ]
    );

    // One model: Open-Meteo does not suffix (the recorded one-model answer), the model is named anyway.
    let one = names(&["best_match"]);
    assert_eq!(parse::column_name("weather_code", &asked, &one).as_deref(), Some("weather_code:best_match"));
    // No models: keys are kept as they come; an absent variable is still reported.
    let plain: std::collections::BTreeMap<String, u8> = [("weather_code".to_string(), 1)].into();
    let (mapped, problems) = parse::map_columns(plain, &asked, &[]);
    assert_eq!(mapped, [("weather_code".to_string(), 1)].into());
    assert_eq!(problems, ["`temperature_2m` was asked for and is missing from the answer"]);
}

#[test]
fn the_one_model_recording_is_named_after_its_model() {
    let mut asked = OpenMeteoConfig { hourly: vec!["weather_code".into()], ..OpenMeteoConfig::default() };
    asked.models = vec!["best_match".into()];
    let records =
        parse_weather(ONE_MODEL.as_bytes(), &[berlin("b")], &asked.forecast_request(), now()).expect("parsed");
    let hourly = of_kind(&records, WeatherKind::Forecast);
    assert_eq!(hourly.len(), 168);
    assert_eq!(hourly[0].variables, [("weather_code:best_match".to_string(), Some(2.0))].into());
}

#[test]
fn an_answer_far_from_its_location_is_refused_naming_both_places() {
    let defaults = OpenMeteoConfig::default();
    let request = defaults.forecast_request();
    assert_eq!(request.max_distance_km, 25.0, "the default");
    // The recorded Berlin answer (52.52, 13.419998) is 0.7 km from the grid point asked for.
    assert!(parse_weather(GENERAL.as_bytes(), &[berlin("b")], &request, now()).is_ok());
    assert!((haversine_km((52.52, 13.41), (52.52, 13.419998)) - 0.68).abs() < 0.01);
    // Paris asked, Berlin answered: ~880 km.
    let error =
        parse_weather(GENERAL.as_bytes(), &[location("paris", 48.85, 2.35)], &request, now()).expect_err("refused");
    let FetchCause::Parse(message) = error else { panic!("{error:?}") };
    assert!(
        message.starts_with("location `paris`: asked for (48.85, 2.35), the answer is for (52.52, 13.419998), 87"),
        "{message}"
    );
    assert!(message.ends_with("km away (more than max_distance_km = 25)"), "{message}");
    // Across the antimeridian: 179.9 E and 179.9 W are 22 km apart at the equator, not 40,000.
    assert!(haversine_km((0.0, 179.9), (0.0, -179.9)) < 23.0);
    // In a batch, one answer out of place refuses the request.
    let body = format!("[{GENERAL},{API_KEY}]");
    let batch = parse_weather(body.as_bytes(), &[berlin("a"), location("madrid", 40.42, -3.7)], &request, now());
    assert!(matches!(batch, Err(FetchCause::Parse(message)) if message.contains("`madrid`")));
}

// ---- batching, pacing and faults ----

/// Found with the `openmeteo` fuzz target (crates/ingest/fuzz): an offset beyond what a
/// `TimeDelta` holds made `TimeDelta::seconds` panic. Now that location is skipped (counted)
/// and its neighbours in the same answer keep their records.
#[test]
fn an_out_of_range_utc_offset_skips_its_location_instead_of_panicking() {
    let reproducer = br#"{"latitude":52.5,"longitude":13.4,"utc_offset_seconds":9223372036854775807}"#;
    let defaults = OpenMeteoConfig::default();
    let request = defaults.forecast_request();
    let records = parse_weather(reproducer, &[berlin("x")], &request, now()).expect("parsed");
    assert!(records.is_empty());

    let body = concat!(
        r#"[{"latitude":52.5,"longitude":13.4,"utc_offset_seconds":-9223372036854775808,"current":{"time":0}},"#,
        r#"{"latitude":52.5,"longitude":13.4,"utc_offset_seconds":0,"current":{"time":"2024-01-01T00:00","x":1.5}}]"#
    );
    let records = parse_weather(body.as_bytes(), &[berlin("bad"), berlin("good")], &request, now()).expect("parsed");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].location_id, "good");
    assert_eq!(records[0].hour, utc(2024, 1, 1, 0, 0));
}

#[tokio::test]
async fn locations_are_batched_and_requests_spaced_by_the_quota() {
    let server = TestServer::start(|hit: &Hit, _| {
        let body = if hit.uri.contains("latitude=52.52,48.85") {
            format!("[{GENERAL},{API_KEY}]")
        } else {
            GENERAL.to_string()
        };
        json(200, &body)
    })
    .await;
    let config = config(&server.base_url, vec![berlin("a"), location("b", 48.85, 2.35), location("c", 40.42, -3.7)]);
    assert_eq!(config.max_request_weight(), 2.0);
    assert_eq!(config.min_request_interval(), MIN_INTERVAL);

    let records = source(config).poll(now()).await.expect("poll succeeds");

    assert_eq!(records.len(), 3 * 169);
    let uris = server.uris();
    assert_eq!(uris.len(), 2);
    assert!(uris[1].starts_with("/v1/forecast?latitude=40.42&longitude=-3.7&"), "{uris:?}");
    server.assert_spaced(MIN_INTERVAL);
}

#[tokio::test]
async fn a_minutely_429_is_retried_after_retry_after() {
    let server = TestServer::start(|_, index| match index {
        0 => too_many(
            1,
            "application/json",
            r#"{"reason":"Minutely API request limit exceeded. Please try again in one minute.","error":true}"#,
        ),
        _ => json(200, GENERAL),
    })
    .await;
    let records = source(config(&server.base_url, vec![berlin("b")])).poll(now()).await.expect("second answer is good");
    assert_eq!(records.len(), 169);
    assert_eq!(server.hits().len(), 2);
    assert!(server.gaps()[0] >= Duration::from_secs(1), "{:?}", server.gaps());
}

#[tokio::test]
async fn a_daily_429_gives_up_at_once_with_the_reason() {
    let server = TestServer::start(|_, _| {
        too_many(
            1,
            "application/json",
            r#"{"reason":"Daily API request limit exceeded. Please try again tomorrow.","error":true}"#,
        )
    })
    .await;
    let error = source(config(&server.base_url, vec![berlin("b")])).poll(now()).await.expect_err("quota spent");
    assert!(
        matches!(error.cause(), FetchCause::Rejected(text)
            if text == "HTTP 429: Daily API request limit exceeded. Please try again tomorrow."),
        "{error}"
    );
    assert_eq!(error.attempts(), 1);
}

#[tokio::test]
async fn a_400_reason_is_surfaced_and_not_retried() {
    let server = TestServer::start(|_, _| {
        json(400, r#"{"reason":"Latitude must be in range of -90 to 90°. Given: 999.0.","error":true}"#)
    })
    .await;
    let error = source(config(&server.base_url, vec![berlin("b")])).poll(now()).await.expect_err("bad request");
    match error.cause() {
        FetchCause::Client { status, body_excerpt } => {
            assert_eq!(*status, 400);
            assert_eq!(body_excerpt, "Latitude must be in range of -90 to 90°. Given: 999.0.");
        }
        other => panic!("expected a client error, got {other}"),
    }
    assert_eq!(error.attempts(), 1);
    assert_eq!(server.hits().len(), 1);
}

#[tokio::test]
async fn an_error_object_in_a_200_is_refused_with_its_reason() {
    let server =
        TestServer::start(|_, _| json(200, r#"{"error":true,"reason":"Cannot initialize WeatherVariable"}"#)).await;
    let error = source(config(&server.base_url, vec![berlin("b")])).poll(now()).await.expect_err("refused");
    assert!(
        matches!(error.cause(), FetchCause::Rejected(text) if text == "Cannot initialize WeatherVariable"),
        "{error}"
    );
}

#[tokio::test]
async fn server_errors_and_truncated_json_are_retried() {
    let server = TestServer::start(|_, index| match index {
        0 => json(502, r#"{"error":true,"reason":"Bad gateway"}"#),
        1 => json(200, &GENERAL[..GENERAL.len() / 3]),
        _ => json(200, GENERAL),
    })
    .await;
    let records = source(config(&server.base_url, vec![berlin("b")])).poll(now()).await.expect("third answer is good");
    assert_eq!(records.len(), 169);
    assert_eq!(server.hits().len(), 3);
    server.assert_spaced(MIN_INTERVAL);

    let cut = TestServer::start(|_, _| json(200, &GENERAL[..100])).await;
    let error =
        source(attempts(2, config(&cut.base_url, vec![berlin("b")]))).poll(now()).await.expect_err("always truncated");
    assert_eq!(error.kind(), "body");
    assert_eq!(error.attempts(), 2);
}

#[tokio::test]
async fn a_silent_upstream_times_out() {
    let (listener, url) = silent().await;
    let weather = source(OpenMeteoConfig {
        http: HttpPolicyOverrides { timeout_ms: Some(150), max_attempts: Some(2), ..HttpPolicyOverrides::default() },
        ..config(&url, vec![berlin("b")])
    });
    let error = weather.poll(now()).await.expect_err("never answers");
    assert!(matches!(error.cause(), FetchCause::Timeout { .. }), "{error}");
    assert_eq!(error.attempts(), 2);
    drop(listener);
}

#[tokio::test]
async fn wrong_counts_and_non_json_are_parse_errors() {
    let short = TestServer::start(serve(GENERAL)).await;
    let error = source(config(&short.base_url, vec![berlin("a"), berlin("b")])).poll(now()).await.expect_err("1 for 2");
    assert!(error.to_string().contains("asked for 2 locations, got 1 answer"), "{error}");
    assert_eq!(error.attempts(), 1);

    let empty_array = TestServer::start(|_, _| json(200, "[]")).await;
    let error = source(config(&empty_array.base_url, vec![berlin("a")])).poll(now()).await.expect_err("0 for 1");
    assert_eq!(error.kind(), "parse");

    let text = TestServer::start(|_, _| respond(200, "text/html", "<html>maintenance</html>")).await;
    let error = source(config(&text.base_url, vec![berlin("a")])).poll(now()).await.expect_err("html");
    assert_eq!(error.kind(), "parse");
    assert!(error.to_string().contains("maintenance"), "{error}");
}

#[tokio::test]
async fn no_locations_means_no_requests() {
    let server = TestServer::start(serve(GENERAL)).await;
    assert_eq!(source(config(&server.base_url, Vec::new())).poll(now()).await.expect("nothing to do"), []);
    assert!(server.hits().is_empty());
}

// ---- archive backfill ----

#[tokio::test]
async fn the_archive_capture_yields_archive_records_in_utc() {
    let server = TestServer::start(serve(ARCHIVE)).await;
    let weather = source(config(&server.base_url, vec![location("twente", 52.27, 6.87)]));
    let day = NaiveDate::from_ymd_opt(1953, 1, 31).expect("valid date");
    let backfill = weather.archive_backfill(day, day, |_| {});

    let records = backfill.poll(now()).await.expect("poll succeeds");

    assert_eq!(
        server.uris(),
        ["/v1/archive?latitude=52.27&longitude=6.87&start_date=1953-01-31&end_date=1953-01-31\
          &hourly=temperature_2m,relative_humidity_2m,precipitation,wind_speed_10m,weather_code&timezone=GMT"]
    );
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| r.kind == WeatherKind::Archive));
    // "1953-01-31T00:00" at utc_offset_seconds 7200.
    assert_eq!(records[0].hour, utc(1953, 1, 30, 22, 0));
    assert_eq!(records[0].variables.get("temperature_2m"), Some(&Some(5.8)));
    assert_eq!(records[2].variables.get("wind_speed_10m"), Some(&Some(24.8)));
    assert_eq!(
        records[0].units,
        units(&[("temperature_2m", "°C"), ("wind_speed_10m", "km/h"), ("soil_moisture_index_0_to_7cm", "fraction")])
    );
    assert_eq!((records[0].latitude, records[0].longitude), (52.26713, 6.820702));
    assert!(backfill.is_done());
}

#[tokio::test]
async fn a_backfill_walks_its_range_in_chunks_and_reports_progress() {
    let server = TestServer::start(|hit: &Hit, _| {
        let locations = hit
            .uri
            .split("latitude=")
            .nth(1)
            .and_then(|rest| rest.split('&').next())
            .map_or(1, |list| list.split(',').count());
        let body =
            if locations == 1 { ARCHIVE.to_string() } else { format!("[{}]", vec![ARCHIVE; locations].join(",")) };
        json(200, &body)
    })
    .await;
    let config = OpenMeteoConfig {
        archive_chunk_days: 2,
        ..config(&server.base_url, vec![berlin("a"), location("b", 48.85, 2.35), location("c", 40.42, -3.7)])
    };
    let progress = Arc::new(Mutex::new(Vec::new()));
    let seen = progress.clone();
    let date = |d| NaiveDate::from_ymd_opt(2024, 1, d).expect("valid date");
    let backfill = ArchiveBackfill::new(config, date(1), date(5), move |p| seen.lock().expect("not poisoned").push(p))
        .expect("client builds");
    assert_eq!(backfill.chunks_total(), 6, "3 windows (2+2+1 days) × 2 location batches");

    let mut per_poll = Vec::new();
    while !backfill.is_done() {
        per_poll.push(backfill.poll(now()).await.expect("chunk fetched").len());
    }
    assert_eq!(per_poll, [6, 3, 6, 3, 6, 3]);
    assert_eq!(backfill.poll(now()).await.expect("done"), [], "nothing left");
    assert_eq!(server.hits().len(), 6, "no request once done");

    let windows: Vec<(String, String)> = server
        .uris()
        .iter()
        .map(|uri| {
            let param = |name: &str| {
                uri.split(&format!("{name}=")).nth(1).and_then(|r| r.split('&').next()).unwrap_or_default().to_string()
            };
            (param("start_date"), param("end_date"))
        })
        .collect();
    let expected = [("2024-01-01", "2024-01-02"), ("2024-01-03", "2024-01-04"), ("2024-01-05", "2024-01-05")];
    for (index, window) in windows.iter().enumerate() {
        let (start, end) = expected[index / 2];
        assert_eq!((window.0.as_str(), window.1.as_str()), (start, end), "request {index}");
    }
    let progress = progress.lock().expect("not poisoned").clone();
    assert_eq!(progress.len(), 6);
    assert_eq!(
        progress[3],
        BackfillProgress { chunks_done: 4, chunks_total: 6, start: date(3), end: date(4), locations: 1, records: 3 }
    );
    assert_eq!(progress[5].chunks_done, 6);
    server.assert_spaced(MIN_INTERVAL);
}

#[tokio::test]
async fn a_failed_chunk_is_fetched_again() {
    let server =
        TestServer::start(
            |_, index| if index == 0 { json(400, r#"{"reason":"bad","error":true}"#) } else { json(200, ARCHIVE) },
        )
        .await;
    let day = NaiveDate::from_ymd_opt(1953, 1, 31).expect("valid date");
    let backfill = source(config(&server.base_url, vec![berlin("a")])).archive_backfill(day, day, |_| {});
    assert!(backfill.poll(now()).await.is_err());
    assert_eq!(backfill.chunks_done(), 0);
    assert_eq!(backfill.next_window(), Some((day, day)), "the failed chunk is next again");
    assert_eq!(backfill.poll(now()).await.expect("second try").len(), 3);
    assert!(backfill.is_done());
    assert_eq!(backfill.next_window(), None);
}

// ---- through the replay server ----

#[tokio::test]
async fn forecast_and_archive_poll_through_the_replay_fixtures() {
    let replay = ReplayServer::start(Path::new(REPLAY_DIR)).await.expect("replay starts");
    let root = replay.provider_base_url("openmeteo");
    let config = OpenMeteoConfig {
        base_url: root.clone(),
        archive_base_url: root,
        locations: vec![berlin("berlin")],
        // The free tier's spacing (86.4 s) would make the second request wait; a replay has no quota.
        quota_per_day: TEST_QUOTA,
        // The recorded archive is Twente's (52.27 N, 6.82 E), ~450 km from Berlin, as in the
        // replay's own configuration.
        max_distance_km: 500.0,
        ..OpenMeteoConfig::default()
    };
    config.validate("ingest.openmeteo").expect("a replay config is valid");
    let weather = OpenMeteoSource::new(config).expect("client builds");

    let records = weather.poll(now()).await.expect("replayed poll succeeds");
    assert_eq!(records.len(), 169);

    let day = NaiveDate::from_ymd_opt(1953, 1, 31).expect("valid date");
    let archive = weather.archive_backfill(day, day, |_| {}).poll(now()).await.expect("replayed archive");
    assert_eq!(archive.len(), 3);
    replay.shutdown().await;
}

// ---- configuration ----

#[test]
fn defaults_and_the_quota_derived_spacing() {
    let config: OpenMeteoConfig = toml::from_str("").expect("an empty table is valid");
    assert_eq!(config, OpenMeteoConfig::default());
    assert_eq!(config.base_url, "https://api.open-meteo.com");
    assert_eq!(config.archive_base_url, "https://archive-api.open-meteo.com");
    assert_eq!((config.quota_per_day, config.max_locations_per_request, config.forecast_days), (10_000, 10, 7));
    // 10 locations × 1 call (7 variables, 7 days; archive: 5 variables, 14 days) = 10 calls per
    // request; 10,000 calls a day → one request per 86.4 s at most.
    assert_eq!(config.max_request_weight(), 10.0);
    assert_eq!(config.min_request_interval(), Duration::from_millis(86_400));
    assert_eq!(config.fetch_policy().min_interval, Duration::from_millis(86_400));
    config.validate("ingest.openmeteo").expect("defaults are valid");

    // 12 variables and 21 days weigh 1.2 × 1.5 per location.
    let heavy = OpenMeteoConfig {
        hourly: (0..10).map(|i| format!("v{i}")).collect(),
        current: vec!["a".into(), "b".into()],
        forecast_days: 16,
        archive_chunk_days: 21,
        max_locations_per_request: 1,
        ..OpenMeteoConfig::default()
    };
    assert!((heavy.forecast_weight(1) - 1.2 * 16.0 / 14.0).abs() < 1e-9);
    assert!((heavy.archive_weight(1, 21) - 1.5).abs() < 1e-9);
    assert!((heavy.max_request_weight() - 1.5).abs() < 1e-9);
    // Every model answers every hourly variable: 5 hourly × 2 models + 2 current = 12 variables.
    let two_models = OpenMeteoConfig { models: vec!["a".into(), "b".into()], ..OpenMeteoConfig::default() };
    assert!((two_models.forecast_weight(1) - 1.2).abs() < 1e-9);

    let written = toml::to_string(&config).expect("serializes");
    assert_eq!(toml::from_str::<OpenMeteoConfig>(&written).expect("reads back"), config);
}

#[test]
fn unknown_keys_are_rejected_and_validation_names_the_bad_key() {
    let unknown =
        toml::from_str::<OpenMeteoConfig>("[[locations]]\nid = \"a\"\nlatitude = 1.0\nlongitude = 2.0\nname = \"x\"\n");
    assert!(unknown.is_err_and(|e| e.to_string().contains("unknown field `name`")));

    let error_of = |edit: &dyn Fn(&mut OpenMeteoConfig)| {
        let mut config = OpenMeteoConfig { locations: vec![berlin("a")], ..OpenMeteoConfig::default() };
        edit(&mut config);
        config.validate("ingest.openmeteo").expect_err("invalid").to_string()
    };
    assert_eq!(
        error_of(&|c| c.locations[0].latitude = 999.0),
        "ingest.openmeteo.locations[0].latitude: 999 is not between -90 and 90"
    );
    assert_eq!(error_of(&|c| c.locations.push(berlin("a"))), "ingest.openmeteo.locations[1].id: `a` is listed twice");
    assert_eq!(
        error_of(&|c| c.hourly.push("Temp&x=1".into())),
        "ingest.openmeteo.hourly[5]: `Temp&x=1` is not an Open-Meteo variable name (a-z, 0-9, _)"
    );
    assert_eq!(error_of(&|c| c.forecast_days = 17), "ingest.openmeteo.forecast_days: 17 is not between 1 and 16");
    assert_eq!(
        error_of(&|c| c.models = vec!["best_match".into(), "best_match".into()]),
        "ingest.openmeteo.models[1]: `best_match` is listed twice"
    );
    assert_eq!(
        error_of(&|c| c.models = vec!["gfs,icon".into()]),
        "ingest.openmeteo.models[0]: `gfs,icon` is not an Open-Meteo model name (a-z, 0-9, _)"
    );
    assert_eq!(
        error_of(&|c| c.max_distance_km = f64::NAN),
        "ingest.openmeteo.max_distance_km: NaN is not a positive number of km"
    );
    assert_eq!(error_of(&|c| c.quota_per_day = 0), "ingest.openmeteo.quota_per_day: must be at least 1 call");
    assert_eq!(
        error_of(&|c| c.quota_per_day = 5),
        "ingest.openmeteo.quota_per_day: 5 calls cannot fit one request of weight 10.0; lower max_locations_per_request"
    );
    assert_eq!(
        error_of(&|c| {
            c.hourly.clear();
            c.current.clear()
        }),
        "ingest.openmeteo.hourly: `hourly` and `current` cannot both be empty"
    );
    assert!(error_of(&|c| c.archive_base_url = "not a url".into()).starts_with("ingest.openmeteo.archive_base_url:"));
}

#[test]
fn a_backfill_asks_the_archive_for_its_own_variables_and_the_forecast_for_hourly() {
    let location = WeatherLocationConfig { id: "berlin".into(), latitude: 52.52, longitude: 13.41 };
    let day = NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
    let mut config = OpenMeteoConfig { hourly: vec!["weather_code".into()], ..OpenMeteoConfig::default() };
    assert!(client::archive_url(&config, std::slice::from_ref(&location), day, day).contains("&hourly=weather_code&"));
    config.archive_hourly = Some(vec!["temperature_2m".into(), "soil_moisture_0_to_7cm".into()]);
    let archive = client::archive_url(&config, std::slice::from_ref(&location), day, day);
    assert!(archive.contains("&hourly=temperature_2m,soil_moisture_0_to_7cm&"), "{archive}");
    assert_eq!(config.archive_request().hourly, ["temperature_2m", "soil_moisture_0_to_7cm"]);
    assert!(client::forecast_url(&config, &[location]).contains("&hourly=weather_code&"));
    config.archive_hourly = Some(vec!["Temperature".into()]);
    assert!(config.validate("ingest.openmeteo").is_err(), "archive_hourly names are checked like hourly's");
}
