//! Tests of exchangerate.host and of the fall-back chains: contract tests through the replay
//! server (tests/fixtures/fx/fallback_replay: the real ExchangeRate-API and Frankfurter captures,
//! and exchangerate.host's DOCUMENTED shapes, which are not captures), fault tests against a
//! scripted local server, the access key kept out of every error, log line and metric, and the
//! `[ingest.fx]` keys this adds.
//!
//! Metrics are process-wide and tests run in parallel, so each test that counts fall-backs uses
//! a (base, from, to) combination no other test uses.

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};

use super::{source::*, *};
use crate::config::Secret;
use crate::{
    replay::ReplayServer,
    sources::test_server::{json, logs, Hit, TestServer},
    telemetry::metric_value,
};
use crate::{source::Source, telemetry};
use signalcraft_http::{FetchCause, FetchError, FetchPolicy, HttpPolicyOverrides};
use signalcraft_model::FxRate;
use std::collections::BTreeMap;

const REPLAY_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/fx/fallback_replay");
/// The key the replay answers with the documented success shape.
const REPLAY_KEY: &str = "replay-access-key";
const FRANKFURTER_USD: &str =
    include_str!("../../../../../tests/fixtures/fx/frankfurter_v1_latest_base_USD_2025-04-11.json");
const MISSING_KEY: &str = include_str!(
    "../../../../../tests/fixtures/fx/documented_examples_NOT_CAPTURES/exchangerate.host_missing_access_key.OBSERVED_SHAPE.json"
);

/// 2025-04-11T14:00:00Z.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_744_380_000, 0).expect("valid timestamp")
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn provider(kind: FxProviderKind, base_url: String, max_attempts: u32) -> FxProviderConfig {
    FxProviderConfig {
        base_url,
        min_interval_ms: 50,
        http: HttpPolicyOverrides {
            timeout_ms: Some(2_000),
            max_attempts: Some(max_attempts),
            ..HttpPolicyOverrides::default()
        },
        ..FxProviderConfig::new(kind)
    }
}

/// `[ingest.fx]` with these providers (polling `base` only), one chain for `base` through them
/// in order, and `key`.
fn chained(base: &str, providers: Vec<FxProviderConfig>, key: Option<&str>) -> FxConfig {
    let chain = providers.iter().map(|p| p.kind).collect();
    let providers = providers.into_iter().map(|p| FxProviderConfig { bases: vec![base.to_string()], ..p }).collect();
    FxConfig {
        providers,
        fallback: BTreeMap::from([(base.to_string(), chain)]),
        exchangerate_host_access_key: key.map(Secret::new),
        ..FxConfig::default()
    }
}

/// The sources of `config` with a short backoff, so retry tests stay fast.
fn sources(config: &FxConfig) -> Vec<FxSource> {
    config.validate("ingest.fx").expect("the test configuration is valid");
    FxSource::from_config_with(config, |provider| FetchPolicy {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(40),
        ..provider.fetch_policy()
    })
    .expect("clients build")
}

/// The one source of `config`.
fn only_source(config: &FxConfig) -> FxSource {
    let mut all = sources(config);
    assert_eq!(all.len(), 1, "{:?}", all.iter().map(|s| s.name().to_string()).collect::<Vec<_>>());
    all.remove(0)
}

fn fallbacks(base: &str, from: &str, to: &str) -> f64 {
    let labels = [("source", FALLBACK_SOURCE_NAME), ("base", base), ("from", from), ("to", to)];
    metric_value("signalcraft_source_fallbacks_total", &labels).unwrap_or(0.0)
}

fn rate(records: &[FxRate], quote: &str) -> f64 {
    records.iter().find(|r| r.quote == quote).map(|r| r.rate).unwrap_or_else(|| panic!("no {quote} record"))
}

/// Hits whose URI starts with `prefix`.
fn hits_on(server: &TestServer, prefix: &str) -> usize {
    server.uris().iter().filter(|uri| uri.starts_with(prefix)).count()
}

// ---- contract tests through the replay server ----

#[tokio::test]
async fn the_documented_live_shape_yields_its_quote_dated_by_the_fetch() {
    let replay = ReplayServer::start(Path::new(REPLAY_DIR)).await.expect("replay starts");
    let host = provider(FxProviderKind::ExchangerateHost, replay.provider_base_url("exchangerate-host"), 1);
    let config = FxConfig {
        providers: vec![host],
        exchangerate_host_access_key: Some(Secret::new(REPLAY_KEY)),
        ..FxConfig::default()
    };

    let records = only_source(&config).poll(now()).await.expect("the keyed call succeeds");

    // {"success":true,"timestamp":0,"source":"USD","quotes":{"USDAED":3.672982}}: the placeholder
    // timestamp 0 says nothing about publication, so the quote is dated by the fetch (UTC).
    assert_eq!(
        records,
        [FxRate {
            base: "USD".into(),
            quote: "AED".into(),
            rate_date: date(2025, 4, 11),
            rate: 3.672982,
            provider: "exchangerate-host".into(),
            published_at: None,
            fetched_at: now(),
        }]
    );
    replay.shutdown().await;
}

#[tokio::test]
async fn the_documented_missing_key_error_is_rejected_naming_provider_code_type_and_info() {
    let replay = ReplayServer::start(Path::new(REPLAY_DIR)).await.expect("replay starts");
    let host = provider(FxProviderKind::ExchangerateHost, replay.provider_base_url("exchangerate-host"), 4);
    let config = FxConfig {
        providers: vec![host],
        exchangerate_host_access_key: Some(Secret::new("not-the-replay-key")),
        ..FxConfig::default()
    };

    let error = only_source(&config).poll(now()).await.expect_err("HTTP 200 with success:false");

    assert_eq!(error.kind(), "rejected");
    assert_eq!(error.attempts(), 1, "a rejection is not retried");
    assert_eq!(error.provider(), "exchangerate-host");
    let text = error.to_string();
    assert_eq!(
        text,
        format!(
            "exchangerate-host: GET {}/live?access_key=REDACTED&source=USD failed after 1 attempt; last error: \
             rejected by the upstream: error 101 (missing_access_key): You have not supplied an API Access Key. \
             [Required format: access_key=YOUR_ACCESS_KEY]",
            replay.provider_base_url("exchangerate-host")
        )
    );
    assert!(!text.contains("not-the-replay-key"), "{text}");
    replay.shutdown().await;
}

#[tokio::test]
async fn a_rejected_primary_falls_back_to_the_next_provider_in_replay() {
    let replay = ReplayServer::start(Path::new(REPLAY_DIR)).await.expect("replay starts");
    let config = chained(
        "USD",
        vec![
            provider(FxProviderKind::ExchangerateHost, replay.provider_base_url("exchangerate-host"), 3),
            provider(FxProviderKind::ExchangerateApi, replay.provider_base_url("exchangerate-api"), 3),
            provider(FxProviderKind::Frankfurter, replay.provider_base_url("frankfurter"), 3),
        ],
        Some("a-key-the-replay-refuses"),
    );
    let fx = only_source(&config);
    assert_eq!(fx.name(), FALLBACK_SOURCE_NAME);
    let before = fallbacks("USD", "exchangerate-host", "exchangerate-api");

    let records = fx.poll(now()).await.expect("the second provider answers");

    assert_eq!(records.len(), 161, "the ExchangeRate-API capture: 162 rates less the base");
    assert!(records.iter().all(|r| r.provider == "exchangerate-api" && r.rate_date == date(2022, 9, 20)));
    assert_eq!(rate(&records, "EUR"), 0.999);
    assert_eq!(fallbacks("USD", "exchangerate-host", "exchangerate-api") - before, 1.0);
    replay.shutdown().await;
}

#[tokio::test]
async fn a_truncated_primary_is_retried_then_the_secondary_lands() {
    let replay = ReplayServer::start(Path::new(REPLAY_DIR)).await.expect("replay starts");
    let config = chained(
        "USD",
        vec![
            provider(FxProviderKind::ExchangerateApi, replay.provider_base_url("exchangerate-api-truncated"), 2),
            provider(FxProviderKind::Frankfurter, replay.provider_base_url("frankfurter"), 2),
        ],
        None,
    );
    let before = fallbacks("USD", "exchangerate-api", "frankfurter");

    let records = only_source(&config).poll(now()).await.expect("Frankfurter answers");

    assert_eq!(records.len(), 30, "the Frankfurter capture's 30 ECB rates");
    assert!(records.iter().all(|r| r.provider == "frankfurter" && r.rate_date == date(2025, 4, 11)));
    assert_eq!(rate(&records, "EUR"), 0.88137);
    assert_eq!(fallbacks("USD", "exchangerate-api", "frankfurter") - before, 1.0);
    replay.shutdown().await;
}

// ---- fault tests against a scripted server ----

/// Answers `/primary/…` with `primary` (given the request's index among primary requests) and
/// Frankfurter-style `/secondary/latest?base=B` with the capture's rates relabelled for B.
async fn primary_and_secondary<F>(primary: F) -> TestServer
where
    F: Fn(&Hit, usize) -> Response + Send + Sync + 'static,
{
    let primary_hits = Arc::new(Mutex::new(0usize));
    TestServer::start(move |hit, _| {
        if hit.uri.starts_with("/primary") {
            let mut count = primary_hits.lock().expect("not poisoned");
            *count += 1;
            return primary(hit, *count - 1);
        }
        let base = hit.uri.split("base=").nth(1).and_then(|rest| rest.get(..3)).unwrap_or("USD");
        json(200, &FRANKFURTER_USD.replace("\"base\":\"USD\"", &format!("\"base\":\"{base}\"")))
    })
    .await
}

#[tokio::test]
async fn a_primary_answering_500s_is_retried_then_the_secondary_lands() {
    let server = primary_and_secondary(|_, _| json(500, r#"{"error":"internal"}"#)).await;
    let config = chained(
        "GBP",
        vec![
            provider(FxProviderKind::ExchangerateApi, format!("{}/primary", server.base_url), 2),
            provider(FxProviderKind::Frankfurter, format!("{}/secondary", server.base_url), 2),
        ],
        None,
    );
    let before = fallbacks("GBP", "exchangerate-api", "frankfurter");
    let logs = logs();

    let records = only_source(&config).poll(now()).await.expect("the secondary answers");

    assert_eq!(records.len(), 29, "30 rates less GBP itself, now the base");
    assert!(records.iter().all(|r| r.base == "GBP" && r.provider == "frankfurter"));
    assert_eq!(server.uris(), ["/primary/v4/latest/GBP", "/primary/v4/latest/GBP", "/secondary/latest?base=GBP"]);
    assert_eq!(fallbacks("GBP", "exchangerate-api", "frankfurter") - before, 1.0);
    let logged = logs.lines_with(&server.base_url);
    let fell_back = logged
        .iter()
        .find(|line| line.contains("exchange-rate provider failed; falling back to the next"))
        .unwrap_or_else(|| panic!("no fall-back logged: {logged:?}"));
    for part in ["WARN", r#"base="GBP""#, r#"provider="exchangerate-api""#, r#"next="frankfurter""#, "(HTTP 500)"] {
        assert!(fell_back.contains(part), "{part} missing: {fell_back}");
    }
}

#[tokio::test]
async fn a_monthly_limit_is_not_retried_and_the_secondary_lands() {
    let server = primary_and_secondary(|_, _| {
        json(
            200,
            r#"{"success":false,"error":{"code":104,"type":"usage_limit_reached",
                "info":"Your monthly usage limit has been reached. Please upgrade your Subscription Plan."}}"#,
        )
    })
    .await;
    let config = chained(
        "EUR",
        vec![
            provider(FxProviderKind::ExchangerateHost, format!("{}/primary", server.base_url), 4),
            provider(FxProviderKind::Frankfurter, format!("{}/secondary", server.base_url), 4),
        ],
        Some("k-104"),
    );
    let before = fallbacks("EUR", "exchangerate-host", "frankfurter");

    let records = only_source(&config).poll(now()).await.expect("the secondary answers");

    assert_eq!(records.len(), 29, "30 rates less EUR itself, now the base");
    assert!(records.iter().all(|r| r.base == "EUR" && r.provider == "frankfurter"));
    assert_eq!(hits_on(&server, "/primary"), 1, "104 is not retried");
    assert_eq!(fallbacks("EUR", "exchangerate-host", "frankfurter") - before, 1.0);
}

#[tokio::test]
async fn error_106_is_retried_and_the_timestamp_dates_the_quotes() {
    let server = primary_and_secondary(|_, index| match index {
        0 => json(200, r#"{"success":false,"error":{"code":106,"type":"no_rates_available","info":"No rates."}}"#),
        // 2025-04-10T23:59:59Z: the day before the fetch.
        _ => json(
            200,
            r#"{"success":true,"terms":"https://x","privacy":"https://y","timestamp":1744329599,
                "source":"JPY","quotes":{"JPYEUR":0.0061,"JPYUSD":0.0069,"EURUSD":1.1,"JPYJPY":1}}"#,
        ),
    })
    .await;
    let config = chained(
        "JPY",
        vec![
            provider(FxProviderKind::ExchangerateHost, format!("{}/primary", server.base_url), 3),
            provider(FxProviderKind::Frankfurter, format!("{}/secondary", server.base_url), 3),
        ],
        Some("k-106"),
    );

    let records = only_source(&config).poll(now()).await.expect("the retry succeeds");

    let published = DateTime::from_timestamp(1_744_329_599, 0).expect("valid timestamp");
    let pairs: Vec<(&str, &str, f64)> = records.iter().map(|r| (r.base.as_str(), r.quote.as_str(), r.rate)).collect();
    // EURUSD does not start with the source: skipped, never stored as a guessed pair.
    assert_eq!(pairs, [("JPY", "EUR", 0.0061), ("JPY", "USD", 0.0069)]);
    assert!(records.iter().all(|r| r.rate_date == date(2025, 4, 10) && r.published_at == Some(published)));
    assert!(records.iter().all(|r| r.provider == "exchangerate-host"));
    assert_eq!(hits_on(&server, "/primary"), 2);
    assert_eq!(hits_on(&server, "/secondary"), 0, "no fall-back when the retry succeeds");
}

#[tokio::test]
async fn when_every_provider_fails_one_error_names_each_cause() {
    let server = TestServer::start(|hit, _| match hit.uri.split('?').next().unwrap_or_default() {
        "/host/live" => json(200, MISSING_KEY),
        "/api/v4/latest/CAD" => json(503, "upstream down"),
        _ => json(200, &FRANKFURTER_USD[..FRANKFURTER_USD.len() / 2]),
    })
    .await;
    let config = chained(
        "CAD",
        vec![
            provider(FxProviderKind::ExchangerateHost, format!("{}/host", server.base_url), 2),
            provider(FxProviderKind::ExchangerateApi, format!("{}/api", server.base_url), 2),
            provider(FxProviderKind::Frankfurter, format!("{}/frankfurter", server.base_url), 2),
        ],
        Some("k-all-fail"),
    );
    let before = fallbacks("CAD", "frankfurter", telemetry::NO_PROVIDER_LEFT);

    let error = only_source(&config).poll(now()).await.expect_err("nobody answers");

    assert_eq!(error.kind(), "exhausted");
    assert_eq!(error.attempts(), 1 + 2 + 2);
    let text = error.to_string();
    let base = &server.base_url;
    assert_eq!(
        text,
        format!(
            "fx-fallback: CAD rates: every provider failed: \
             1) exchangerate-host: GET {base}/host/live?access_key=REDACTED&source=CAD failed after 1 attempt; \
             last error: rejected by the upstream: error 101 (missing_access_key): You have not supplied an API \
             Access Key. [Required format: access_key=YOUR_ACCESS_KEY] \
             2) exchangerate-api: GET {base}/api/v4/latest/CAD failed after 2 attempts; last error: server error \
             (HTTP 503): upstream down \
             3) frankfurter: GET {base}/frankfurter/latest?base=CAD failed after 2 attempts; last error: truncated \
             or unreadable body: the JSON ends early, after {} bytes (EOF while parsing an object at line 1 column {})",
            FRANKFURTER_USD.len() / 2,
            FRANKFURTER_USD.len() / 2,
        )
    );
    assert_eq!(fallbacks("CAD", "frankfurter", telemetry::NO_PROVIDER_LEFT) - before, 1.0);
    assert_eq!(server.hits().len(), 5);
}

#[tokio::test]
async fn one_exhausted_base_spares_the_others() {
    let server = TestServer::start(|hit, _| match hit.uri.as_str() {
        "/api/v4/latest/AUD" => json(200, r#"{"base":"AUD","date":"2025-04-11","rates":{"AUD":1,"NZD":1.08}}"#),
        _ => json(404, r#"{"message":"not found"}"#),
    })
    .await;
    let mut config = chained(
        "NZD",
        vec![
            provider(FxProviderKind::ExchangerateApi, format!("{}/api", server.base_url), 1),
            provider(FxProviderKind::Frankfurter, format!("{}/frankfurter", server.base_url), 1),
        ],
        None,
    );
    config.fallback.insert("AUD".into(), vec![FxProviderKind::ExchangerateApi, FxProviderKind::Frankfurter]);

    let records = only_source(&config).poll(now()).await.expect("AUD answers");

    let pairs: Vec<(&str, &str)> = records.iter().map(|r| (r.base.as_str(), r.quote.as_str())).collect();
    assert_eq!(pairs, [("AUD", "NZD")]);
}

// ---- the access key stays secret ----

#[tokio::test]
async fn the_access_key_appears_in_no_error_log_line_or_metric() {
    const KEY: &str = "sk_live_5ecretK3y";
    // Hostile answers that echo the whole request URI, key included, in every place they can.
    let server = TestServer::start(|hit, index| match index {
        0 => json(500, &format!("failed to serve {}", hit.uri)),
        1 => json(
            200,
            &format!(
                r#"{{"success":false,"error":{{"code":101,"type":"invalid_access_key","info":"bad key in {}"}}}}"#,
                hit.uri
            ),
        ),
        _ => json(200, &format!("<html>not json: {}</html>", hit.uri)),
    })
    .await;
    let (silent, silent_url) = crate::sources::test_server::silent().await;
    let host = |url: String| {
        let mut host = provider(FxProviderKind::ExchangerateHost, url, 2);
        host.http.timeout_ms = Some(200);
        host
    };
    let logs = logs();

    let mut errors = Vec::new();
    for base_url in
        [server.base_url.clone(), server.base_url.clone(), silent_url.clone(), "http://127.0.0.1:1".to_string()]
    {
        let config = FxConfig {
            providers: vec![host(base_url)],
            exchangerate_host_access_key: Some(Secret::new(KEY)),
            ..FxConfig::default()
        };
        assert!(!format!("{config:?}").contains(KEY), "Debug shows the key");
        assert!(!toml::to_string(&config).expect("serializes").contains(KEY), "serialized config shows the key");
        errors.push(only_source(&config).poll(now()).await.expect_err("every answer is bad"));
    }
    drop(silent);

    let kinds: Vec<&str> = errors.iter().map(FetchError::kind).collect();
    assert_eq!(kinds, ["rejected", "parse", "timeout", "connect"]);
    for error in &errors {
        let text = format!("{error} {error:?}");
        assert!(!text.contains(KEY), "the key leaked into an error: {text}");
        assert!(text.contains("access_key=REDACTED"), "{text}");
    }
    // The echoed bodies are kept, with the key replaced.
    assert!(errors[0].to_string().contains("bad key in /live?access_key=REDACTED&source=USD"), "{}", errors[0]);
    let logged = [logs.lines_with(&server.base_url), logs.lines_with(&silent_url), logs.lines_with("127.0.0.1:1/")];
    for lines in &logged {
        assert!(lines.iter().any(|line| line.contains("access_key=REDACTED")), "requests are logged: {lines:?}");
    }
    let all = logs.lines_with("");
    assert!(!all.iter().any(|line| line.contains(KEY)), "the key leaked into the logs: {all:?}");
    let metrics = prometheus::TextEncoder::new().encode_to_string(&prometheus::gather()).expect("metrics encode");
    assert!(!metrics.contains(KEY), "the key leaked into the metrics");
}

/// `text` with the hex digits of its percent-escapes in lower case, as some encoders write them.
fn lower_hex_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('%') {
        let (head, tail) = rest.split_at(at);
        out.push_str(head);
        let escape = tail.get(..3).unwrap_or(tail);
        out.push_str(&escape.to_ascii_lowercase());
        rest = &tail[escape.len()..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn a_key_with_reserved_characters_is_logged_in_no_encoding() {
    use base64::{
        engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD},
        Engine,
    };
    // Every character a query or path encoder treats specially, and a space.
    const KEY: &str = "Qk/y+z=?&W 9";
    // An upstream that echoes what it was sent, in the forms upstreams use: the request path
    // and query as received (percent-encoded, then with lower-case hex), the key decoded, and
    // the key in base64 (alone, and in a Basic authorization it was "given").
    let server = TestServer::start(|hit, index| {
        let url = reqwest::Url::parse(&format!("http://upstream{}", hit.uri)).expect("a request URI");
        let key = url.query_pairs().find(|(name, _)| name == "access_key").map(|(_, v)| v.into_owned());
        let key = key.unwrap_or_default();
        match index {
            0 => json(500, &format!("failed to serve {}", hit.uri)),
            1 => crate::sources::test_server::too_many(
                0,
                "text/plain",
                &format!("slow down {} {}", lower_hex_escapes(&hit.uri), STANDARD.encode(&key)),
            ),
            _ => json(
                200,
                &serde_json::json!({"success": false, "error": {"code": 101, "type": "invalid_access_key",
                    "info": format!("bad key {key} ({}, Basic {}) in {}", URL_SAFE_NO_PAD.encode(&key),
                        STANDARD.encode(format!("user:{key}")), hit.uri)}})
                .to_string(),
            ),
        }
    })
    .await;
    let logs = logs();
    let config = FxConfig {
        providers: vec![provider(FxProviderKind::ExchangerateHost, server.base_url.clone(), 3)],
        exchangerate_host_access_key: Some(Secret::new(KEY)),
        ..FxConfig::default()
    };

    let error = only_source(&config).poll(now()).await.expect_err("every answer is an error");

    assert_eq!(server.hits().len(), 3, "500 and 429 are retried, the error 101 is final");
    let sent = reqwest::Url::parse_with_params("http://x/", [("k", KEY)]).expect("a URL");
    let form_encoded = sent.query().and_then(|query| query.strip_prefix("k=")).expect("the key").to_string();
    let percent_upper: String = KEY
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let forms = [
        KEY.to_string(),
        lower_hex_escapes(&form_encoded),
        form_encoded,
        lower_hex_escapes(&percent_upper),
        percent_upper,
        STANDARD.encode(KEY),
        STANDARD_NO_PAD.encode(KEY),
        URL_SAFE.encode(KEY),
        URL_SAFE_NO_PAD.encode(KEY),
    ];
    let all = logs.lines_with("");
    for form in &forms {
        assert!(!all.iter().any(|line| line.contains(form.as_str())), "the key leaked as `{form}`: {all:?}");
        assert!(!format!("{error} {error:?}").contains(form.as_str()), "the key leaked as `{form}`: {error}");
    }
    // Not vacuous: the upstream's echoes are logged, with the key replaced.
    let mine = logs.lines_with(&server.base_url);
    assert!(mine.iter().any(|line| line.contains("failed to serve /live?access_key=REDACTED&source=USD")), "{mine:?}");
    assert!(mine.iter().any(|line| line.contains("slow down /live?access_key=REDACTED")), "{mine:?}");
}

// ---- configuration ----

#[test]
fn fallback_chains_and_the_access_key_parse_and_build_the_right_sources() {
    let config: FxConfig = toml::from_str(
        r#"
        exchangerate_host_access_key = "k-config"
        fallback = { USD = ["exchangerate-host", "frankfurter"] }
        [[providers]]
        kind = "exchangerate-host"
        symbols = ["EUR", "GBP"]
        [[providers]]
        kind = "exchangerate-api"
        bases = ["USD", "EUR"]
        [[providers]]
        kind = "frankfurter"
        "#,
    )
    .expect("valid");
    config.validate("ingest.fx").expect("valid");
    assert_eq!(config.providers[0].base_url, "https://api.exchangerate.host");
    assert_eq!(config.exchangerate_host_access_key.as_ref().map(Secret::expose), Some("k-config"));

    let built = FxSource::from_config(&config).expect("clients build");
    let names: Vec<&str> = built.iter().map(|source| source.name()).collect();
    assert_eq!(names, ["exchangerate-api", FALLBACK_SOURCE_NAME]);
    // USD goes only through its chain; exchangerate-api still polls EUR on its own.
    assert_eq!(built[0].chains(), [("EUR", vec![FxProviderKind::ExchangerateApi])]);
    assert_eq!(built[1].chains(), [("USD", vec![FxProviderKind::ExchangerateHost, FxProviderKind::Frankfurter])]);
}

#[test]
fn the_live_url_carries_the_key_the_source_and_the_other_symbols() {
    let symbols = ["EUR", "USD", "GBP"].map(String::from);
    let url = exchangerate_host::url("https://api.exchangerate.host", "USD", &symbols, "k&=1").expect("valid");
    assert_eq!(
        url.as_deref(),
        Some("https://api.exchangerate.host/live?access_key=k%26%3D1&source=USD&currencies=EUR%2CGBP")
    );
    let only_base = exchangerate_host::url("https://x", "USD", &["USD".to_string()], "k").expect("valid");
    assert_eq!(only_base, None);
}

#[test]
fn live_timestamps_zero_absent_negative_and_out_of_range() {
    let parse = |body: &str| parse_rates(FxProviderKind::ExchangerateHost, "USD", &[], body.as_bytes(), now());
    for body in [
        r#"{"success":true,"timestamp":0,"source":"USD","quotes":{"USDEUR":0.9}}"#,
        r#"{"success":true,"source":"USD","quotes":{"USDEUR":0.9}}"#,
    ] {
        let records = parse(body).expect("good");
        assert_eq!((records[0].rate_date, records[0].published_at), (date(2025, 4, 11), None), "{body}");
    }
    let negative = parse(r#"{"success":true,"timestamp":-5,"source":"USD","quotes":{}}"#).expect_err("negative");
    assert_eq!(negative.to_string(), "unexpected response: timestamp -5 is before 1970");
    let huge = parse(r#"{"success":true,"timestamp":9223372036854775807,"source":"USD","quotes":{}}"#);
    assert!(matches!(huge, Err(FetchCause::Parse(text)) if text.contains("out of range")));
    let other = parse(r#"{"success":true,"timestamp":1,"source":"EUR","quotes":{"EURUSD":1.1}}"#);
    assert!(matches!(other, Err(FetchCause::Parse(text)) if text.contains("asked for base USD")));
    let sparse = parse(r#"{"success":false}"#).expect_err("no error object");
    assert_eq!(sparse.kind(), "rejected");
    let throttled = parse(r#"{"success":false,"error":{"code":429,"type":"rate_limit_reached"}}"#).expect_err("429");
    assert!(throttled.is_retryable(), "{throttled}");
    assert_eq!(throttled.to_string(), "temporarily refused by the upstream: error 429 (rate_limit_reached): no info");
}

#[test]
fn validation_names_the_missing_key_and_bad_chains() {
    let error_of = |toml_text: &str| {
        let config: FxConfig = toml::from_str(toml_text).expect("parses");
        config.validate("ingest.fx").expect_err("invalid").to_string()
    };
    let host = "[[providers]]\nkind = \"exchangerate-host\"\n";
    assert_eq!(
        error_of(&format!("[[providers]]\nkind = \"frankfurter\"\n{host}")),
        "ingest.fx.exchangerate_host_access_key: must be set: ingest.fx.providers[1] is an exchangerate-host \
         provider, which needs an access key (set it in the configuration file or its environment variable)"
    );
    assert!(error_of(&format!("exchangerate_host_access_key = \"  \"\n{host}"))
        .starts_with("ingest.fx.exchangerate_host_access_key: must be set"));
    let frankfurter = "[[providers]]\nkind = \"frankfurter\"\n";
    assert_eq!(
        error_of(&format!("fallback = {{ USD = [\"frankfurter\", \"exchangerate-api\"] }}\n{frankfurter}")),
        "ingest.fx.fallback.USD[1]: `exchangerate-api` is not configured in ingest.fx.providers"
    );
    assert_eq!(
        error_of(&format!("fallback = {{ USD = [\"frankfurter\", \"frankfurter\"] }}\n{frankfurter}")),
        "ingest.fx.fallback.USD[1]: `frankfurter` is listed twice"
    );
    assert_eq!(
        error_of(&format!("fallback = {{ USD = [\"frankfurter\"] }}\n{frankfurter}{frankfurter}")),
        "ingest.fx.fallback.USD[0]: `frankfurter` is configured 2 times in ingest.fx.providers; a chain cannot \
         tell them apart"
    );
    assert_eq!(
        error_of(&format!("fallback = {{ US1 = [\"frankfurter\"] }}\n{frankfurter}")),
        "ingest.fx.fallback.US1: `US1` is not a 3-letter upper-case ISO-4217 code"
    );
    // Environment variables arrive lower-cased: base codes are read in any case.
    let lower: FxConfig =
        toml::from_str(&format!("fallback = {{ usd = [\"frankfurter\"] }}\n{frankfurter}")).expect("parses");
    assert_eq!(lower.fallback.keys().collect::<Vec<_>>(), ["USD"]);
    let twice = toml::from_str::<FxConfig>("fallback = { usd = [\"frankfurter\"], USD = [\"frankfurter\"] }\n");
    assert!(twice.is_err_and(|e| e.to_string().contains("both name base USD")));
    assert_eq!(
        error_of(&format!("fallback = {{ USD = [] }}\n{frankfurter}")),
        "ingest.fx.fallback.USD: must list at least one provider"
    );
    let unknown = toml::from_str::<FxConfig>("fallback = { USD = [\"fixer\"] }\n").expect_err("unknown kind");
    assert!(unknown.to_string().contains("fixer"), "{unknown}");
}
