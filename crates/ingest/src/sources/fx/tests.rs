//! Tests of the exchange-rate source against local HTTP servers: contract tests with the real
//! recorded payloads (tests/fixtures/fx), fault tests with scripted answers (timings measured
//! at the server), config parsing and validation, and a poll through the replay server.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    http::{header, StatusCode, Uri},
    response::{IntoResponse, Response},
    Router,
};
use chrono::{DateTime, NaiveDate, Utc};
use signalcraft_model::FxRate;

use super::{source::*, *};
use crate::source::Source;
use signalcraft_http::{FetchCause, FetchPolicy, HttpPolicyOverrides};

use crate::replay::ReplayServer;

const EXCHANGERATE_API_USD: &str =
    include_str!("../../../../../tests/fixtures/fx/exchangerate-api_v4_latest_USD_2022-09-20.json");
const FRANKFURTER_USD: &str =
    include_str!("../../../../../tests/fixtures/fx/frankfurter_v1_latest_base_USD_2025-04-11.json");
const REPLAY_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/replay");

/// The rate limiter spaces the *sends*; the server sees arrivals, which loopback scheduling can
/// shift by a little. Gaps are checked against the configured interval minus this.
const MIN_INTERVAL: Duration = Duration::from_millis(200);

/// A local server that records when each request arrived and answers through `answer`, which
/// gets the request and its 0-based index.
struct TestServer {
    base_url: String,
    hits: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl TestServer {
    async fn start<F>(answer: F) -> TestServer
    where
        F: Fn(&Uri, usize) -> Response + Send + Sync + 'static,
    {
        let hits: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
        let answer = Arc::new(answer);
        let recorded = hits.clone();
        let router = Router::new().fallback(move |uri: Uri| {
            let (hits, answer) = (recorded.clone(), answer.clone());
            async move {
                let index = {
                    let mut hits = hits.lock().expect("not poisoned");
                    hits.push((Instant::now(), uri.to_string()));
                    hits.len() - 1
                };
                answer(&uri, index)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds the loopback");
        let addr = listener.local_addr().expect("has an address");
        // Lives as long as the test's runtime.
        tokio::spawn(async move { axum::serve(listener, router).await });
        TestServer { base_url: format!("http://{addr}"), hits }
    }

    fn hits(&self) -> Vec<(Instant, String)> {
        self.hits.lock().expect("not poisoned").clone()
    }

    fn uris(&self) -> Vec<String> {
        self.hits().into_iter().map(|(_, uri)| uri).collect()
    }

    /// Time between consecutive requests.
    fn gaps(&self) -> Vec<Duration> {
        self.hits().windows(2).map(|pair| pair[1].0 - pair[0].0).collect()
    }
}

fn json(status: u16, body: &str) -> Response {
    let status = StatusCode::from_u16(status).expect("valid status");
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn provider(kind: FxProviderKind, base_url: String, max_attempts: u32) -> FxProviderConfig {
    FxProviderConfig {
        base_url,
        min_interval_ms: MIN_INTERVAL.as_millis() as u64,
        http: HttpPolicyOverrides {
            timeout_ms: Some(2_000),
            max_attempts: Some(max_attempts),
            ..HttpPolicyOverrides::default()
        },
        ..FxProviderConfig::new(kind)
    }
}

/// The config's policy with a short backoff, so retry tests stay fast.
fn source(config: FxProviderConfig) -> FxSource {
    let policy = FetchPolicy {
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(100),
        ..config.fetch_policy()
    };
    FxSource::with_policy(config, policy).expect("client builds")
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_744_380_000, 0).expect("valid timestamp")
}

fn rate(records: &[FxRate], quote: &str) -> f64 {
    records.iter().find(|r| r.quote == quote).map(|r| r.rate).unwrap_or_else(|| panic!("no {quote} record"))
}

fn assert_spaced(server: &TestServer, interval: Duration) {
    let arrivals: Vec<Instant> = server.hits().into_iter().map(|(at, _)| at).collect();
    crate::sources::test_server::assert_spaced(&arrivals, interval, &server.uris());
}

// ---- contract tests with the real payloads ----

#[tokio::test]
async fn exchangerate_api_fixture_yields_every_quote_but_the_base() {
    let server = TestServer::start(|uri, _| match uri.path() {
        "/v4/latest/USD" => json(200, EXCHANGERATE_API_USD),
        _ => json(404, r#"{"message":"not found"}"#),
    })
    .await;
    let fx = source(provider(FxProviderKind::ExchangerateApi, server.base_url.clone(), 3));

    let records = fx.poll(now()).await.expect("poll succeeds");

    assert_eq!(records.len(), 161, "162 rates minus the base");
    assert_eq!(rate(&records, "EUR"), 0.999);
    assert_eq!(rate(&records, "CNY"), 7.0, "integer in the JSON");
    assert!(records.iter().all(|r| r.quote != "USD"));
    let published = DateTime::parse_from_rfc3339("2022-09-20T00:00:02Z").expect("valid").with_timezone(&Utc);
    for record in &records {
        assert_eq!(record.base, "USD");
        assert_eq!(record.rate_date, NaiveDate::from_ymd_opt(2022, 9, 20).expect("valid date"));
        assert_eq!(record.published_at, Some(published));
        assert_eq!(record.provider, "exchangerate-api");
        assert_eq!(record.fetched_at, now());
    }
    assert_eq!(server.uris(), ["/v4/latest/USD"]);
}

#[tokio::test]
async fn frankfurter_fixture_is_reached_through_a_301_from_the_legacy_path() {
    let server = TestServer::start(|uri, _| match uri.path() {
        // What api.frankfurter.app does: a permanent redirect to the /v1 API, query kept.
        "/legacy/latest" => {
            let location = format!("/v1/latest?{}", uri.query().unwrap_or_default());
            (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, location)]).into_response()
        }
        "/v1/latest" if uri.query() == Some("base=USD") => json(200, FRANKFURTER_USD),
        _ => json(404, r#"{"message":"not found"}"#),
    })
    .await;
    let fx = source(provider(FxProviderKind::Frankfurter, format!("{}/legacy/", server.base_url), 3));

    let records = fx.poll(now()).await.expect("poll succeeds");

    assert_eq!(server.uris(), ["/legacy/latest?base=USD", "/v1/latest?base=USD"]);
    assert_eq!(records.len(), 30);
    assert_eq!(rate(&records, "EUR"), 0.88137);
    for record in &records {
        assert_eq!(record.base, "USD");
        assert_eq!(record.rate_date, NaiveDate::from_ymd_opt(2025, 4, 11).expect("valid date"));
        assert_eq!(record.published_at, None);
        assert_eq!(record.provider, "frankfurter");
    }
}

#[tokio::test]
async fn symbols_keep_only_the_requested_quotes() {
    let server = TestServer::start(|uri, _| match uri.path() {
        "/v4/latest/USD" => json(200, EXCHANGERATE_API_USD),
        // Answers in full whatever `symbols` says: the filter must hold on our side too.
        "/v1/latest" => json(200, FRANKFURTER_USD),
        _ => json(404, r#"{"message":"not found"}"#),
    })
    .await;
    let symbols: Vec<String> = ["EUR", "JPY", "USD"].map(String::from).to_vec();

    let erapi = FxProviderConfig {
        symbols: symbols.clone(),
        ..provider(FxProviderKind::ExchangerateApi, server.base_url.clone(), 1)
    };
    let records = source(erapi).poll(now()).await.expect("poll succeeds");
    let mut quotes: Vec<&str> = records.iter().map(|r| r.quote.as_str()).collect();
    quotes.sort_unstable();
    assert_eq!(quotes, ["EUR", "JPY"]);

    let frankfurter =
        FxProviderConfig { symbols, ..provider(FxProviderKind::Frankfurter, format!("{}/v1", server.base_url), 1) };
    let records = source(frankfurter).poll(now()).await.expect("poll succeeds");
    let mut quotes: Vec<&str> = records.iter().map(|r| r.quote.as_str()).collect();
    quotes.sort_unstable();
    assert_eq!(quotes, ["EUR", "JPY"]);
    // The base is left out of `symbols`: Frankfurter answers 422 to base == symbol.
    assert_eq!(server.uris().last().map(String::as_str), Some("/v1/latest?base=USD&symbols=EUR,JPY"));
}

#[tokio::test]
async fn watched_businesses_widen_the_symbols_with_their_home_currencies() {
    let server = TestServer::start(|uri, _| match uri.path() {
        "/v1/latest" => json(200, FRANKFURTER_USD),
        _ => json(404, r#"{"message":"not found"}"#),
    })
    .await;
    let symbols: Vec<String> = ["EUR"].map(String::from).to_vec();
    let frankfurter =
        FxProviderConfig { symbols, ..provider(FxProviderKind::Frankfurter, format!("{}/v1", server.base_url), 1) };
    let business = |tenant: &str, currency: Option<&str>| crate::WatchedBusiness {
        tenant_id: tenant.into(),
        name: tenant.into(),
        location: None,
        currency: currency.map(String::from),
        gdelt_queries: Vec::new(),
        dq_projects: Vec::new(),
        dq_brand_ids: Vec::new(),
    };
    let watched = vec![business("tokyo-shop", Some("JPY")), business("eu-shop", Some("EUR")), business("x", None)];
    let source = source(frankfurter).with_watch_list(crate::WatchListReader::new(std::sync::Arc::new(watched)));
    let records = source.poll(now()).await.expect("poll succeeds");
    let mut quotes: Vec<&str> = records.iter().map(|r| r.quote.as_str()).collect();
    quotes.sort_unstable();
    assert_eq!(quotes, ["EUR", "JPY"]);
    assert_eq!(server.uris().last().map(String::as_str), Some("/v1/latest?base=USD&symbols=EUR,JPY"));
}

// ---- fault tests ----

/// 429 (Retry-After: 1), then 500, then a 200 whose JSON stops halfway, then the real payload.
async fn flaky_exchangerate_api() -> TestServer {
    TestServer::start(|_, index| match index {
        0 => (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "1")], "slow down").into_response(),
        1 => json(500, r#"{"error":"internal"}"#),
        2 => json(200, &EXCHANGERATE_API_USD[..EXCHANGERATE_API_USD.len() / 2]),
        _ => json(200, EXCHANGERATE_API_USD),
    })
    .await
}

#[tokio::test]
async fn retries_honour_retry_after_and_pacing_then_report_the_last_cause() {
    let server = flaky_exchangerate_api().await;
    let fx = source(provider(FxProviderKind::ExchangerateApi, server.base_url.clone(), 3));

    let error = fx.poll(now()).await.expect_err("three bad answers in a row");

    let text = error.to_string();
    assert!(text.contains("exchangerate-api"), "{text}");
    assert!(text.contains("/v4/latest/USD"), "{text}");
    assert!(text.contains("after 3 attempts"), "{text}");
    assert!(text.contains("truncated"), "{text}");
    assert_eq!(error.attempts(), 3);
    assert_eq!(error.kind(), "body");
    assert_eq!(server.hits().len(), 3);
    let gaps = server.gaps();
    assert!(gaps[0] >= Duration::from_secs(1), "Retry-After: 1 not honoured: {gaps:?}");
    assert_spaced(&server, MIN_INTERVAL);
}

#[tokio::test]
async fn a_good_answer_within_the_attempts_succeeds() {
    let server = flaky_exchangerate_api().await;
    let fx = source(provider(FxProviderKind::ExchangerateApi, server.base_url.clone(), 4));

    let records = fx.poll(now()).await.expect("the fourth answer is good");

    assert_eq!(records.len(), 161);
    assert_eq!(server.hits().len(), 4);
    assert!(server.gaps()[0] >= Duration::from_secs(1));
    assert_spaced(&server, MIN_INTERVAL);
}

#[tokio::test]
async fn a_plain_text_200_is_a_parse_error_and_not_retried() {
    let server = TestServer::start(|_, _| {
        (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "Please limit requests to one every 5 seconds")
            .into_response()
    })
    .await;
    let fx = source(provider(FxProviderKind::ExchangerateApi, server.base_url.clone(), 4));

    let error = fx.poll(now()).await.expect_err("not JSON");

    assert!(matches!(error.cause(), FetchCause::Parse(_)), "{error}");
    assert!(error.to_string().contains("Please limit requests"), "{error}");
    assert_eq!(error.attempts(), 1);
    assert_eq!(server.hits().len(), 1);
}

#[tokio::test]
async fn a_404_with_a_message_is_a_client_error_and_not_retried() {
    let server = TestServer::start(|_, _| json(404, r#"{"message":"not found"}"#)).await;
    let fx = source(provider(FxProviderKind::Frankfurter, server.base_url.clone(), 4));

    let error = fx.poll(now()).await.expect_err("404");

    match error.cause() {
        FetchCause::Client { status, body_excerpt } => {
            assert_eq!(*status, 404);
            assert!(body_excerpt.contains("not found"), "{body_excerpt}");
        }
        other => panic!("expected a client error, got {other}"),
    }
    assert_eq!(error.kind(), "client");
    assert_eq!(server.hits().len(), 1);
}

#[tokio::test]
async fn a_slow_upstream_times_out_and_is_retried() {
    // A listener nobody serves: the kernel completes the handshake, no answer ever comes.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let silent_url = format!("http://{}", silent.local_addr().expect("has an address"));
    let mut config = provider(FxProviderKind::ExchangerateApi, silent_url, 2);
    config.http.timeout_ms = Some(150);

    let error = source(config).poll(now()).await.expect_err("never answers");

    assert!(matches!(error.cause(), FetchCause::Timeout { .. }), "{error}");
    assert_eq!(error.attempts(), 2);
    drop(silent);
}

#[tokio::test]
async fn a_body_cut_off_mid_transfer_is_retried() {
    // A raw server that promises more bytes than it sends, then hangs up, every time.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("has an address"));
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n";
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&EXCHANGERATE_API_USD.as_bytes()[..100]).await;
            // Dropping the stream closes the connection mid-body.
        }
    });
    let config = FxProviderConfig { min_interval_ms: 10, ..provider(FxProviderKind::ExchangerateApi, url, 2) };

    let error = source(config).poll(now()).await.expect_err("the body never completes");

    assert_eq!(error.kind(), "body", "{error}");
    assert_eq!(error.attempts(), 2);
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn bases_are_paced_and_one_failing_base_spares_the_others() {
    let server = TestServer::start(|uri, _| {
        let base = uri.path().rsplit('/').next().unwrap_or_default().to_string();
        if base == "GBP" {
            return json(404, r#"{"result":"error","error-type":"unsupported-code"}"#);
        }
        let body = format!(
            r#"{{"base":"{base}","date":"2022-09-20","time_last_updated":1663632002,
                "rates":{{"{base}":1,"CHF":0.97}}}}"#
        );
        json(200, &body)
    })
    .await;
    let bases = ["USD", "GBP", "EUR"].map(String::from).to_vec();
    let config = FxProviderConfig { bases, ..provider(FxProviderKind::ExchangerateApi, server.base_url.clone(), 1) };

    let records = source(config).poll(now()).await.expect("two bases answer");

    let pairs: Vec<(&str, &str)> = records.iter().map(|r| (r.base.as_str(), r.quote.as_str())).collect();
    assert_eq!(pairs, [("USD", "CHF"), ("EUR", "CHF")]);
    assert_eq!(server.hits().len(), 3);
    assert_spaced(&server, MIN_INTERVAL);
}

#[tokio::test]
async fn unusable_rates_are_skipped_and_an_answer_for_another_base_is_refused() {
    let server = TestServer::start(|uri, _| match uri.path() {
        "/v4/latest/USD" => json(
            200,
            r#"{"base":"USD","date":"2022-09-20","rates":{"USD":1,"EUR":0.9,"NEG":-1,"ZER":0,
                "NUL":null,"STR":"x","TOOLONG":2,"gbp":0.8}}"#,
        ),
        _ => json(200, r#"{"base":"EUR","date":"2022-09-20","rates":{"USD":1.1}}"#),
    })
    .await;
    let config = provider(FxProviderKind::ExchangerateApi, server.base_url.clone(), 3);
    let records = source(config.clone()).poll(now()).await.expect("good quotes survive");
    let quotes: Vec<(&str, f64)> = records.iter().map(|r| (r.quote.as_str(), r.rate)).collect();
    assert_eq!(quotes, [("EUR", 0.9), ("GBP", 0.8)]);
    assert!(records.iter().all(|r| r.published_at.is_none()));

    let other_base = FxProviderConfig { bases: vec!["JPY".into()], ..config };
    let error = source(other_base).poll(now()).await.expect_err("EUR rates for a JPY request");
    assert!(matches!(error.cause(), FetchCause::Parse(_)), "{error}");
    assert!(error.to_string().contains("asked for base JPY"), "{error}");
    assert_eq!(error.attempts(), 1);
}

#[tokio::test]
async fn frankfurter_rates_for_an_amount_are_scaled_to_one_unit() {
    let server =
        TestServer::start(|_, _| json(200, r#"{"amount":10.0,"base":"USD","date":"2025-04-11","rates":{"EUR":8.8}}"#))
            .await;
    let records = source(provider(FxProviderKind::Frankfurter, server.base_url.clone(), 1))
        .poll(now())
        .await
        .expect("poll succeeds");
    assert_eq!(records.len(), 1);
    assert!((records[0].rate - 0.88).abs() < 1e-12, "{}", records[0].rate);
}

// ---- through the replay server ----

#[tokio::test]
async fn both_providers_poll_through_the_replay_fixtures() {
    let replay = ReplayServer::start(std::path::Path::new(REPLAY_DIR)).await.expect("replay starts");
    let mut total = 0;
    for (kind, expected) in [(FxProviderKind::ExchangerateApi, 161), (FxProviderKind::Frankfurter, 30)] {
        let config =
            FxProviderConfig { base_url: replay.provider_base_url(kind.as_str()), ..FxProviderConfig::new(kind) };
        let records = FxSource::new(config).expect("client builds").poll(now()).await.expect("replayed poll succeeds");
        assert_eq!(records.len(), expected, "{kind}");
        total += records.len();
    }
    assert_eq!(total, 161 + 30);
    replay.shutdown().await;
}

#[tokio::test]
async fn run_source_delivers_replayed_rates_to_the_broker() {
    use rdkafka::{
        consumer::{BaseConsumer, Consumer},
        ClientConfig, Message, Offset, TopicPartitionList,
    };
    use signalcraft_kafka::{EmbeddedBroker, KafkaSettings, RecordProducer};
    use signalcraft_model::{Record, RecordCodec, Topic, WireFormat};
    use tokio_util::sync::CancellationToken;

    use crate::source::{run_source, RunSummary};

    let broker = EmbeddedBroker::start(1).expect("embedded broker starts");
    let settings = KafkaSettings::new(broker.bootstrap_servers());
    let producer = RecordProducer::new(&settings, "ingest-test").expect("producer");
    let replay = ReplayServer::start(std::path::Path::new(REPLAY_DIR)).await.expect("replay starts");
    let config = FxProviderConfig {
        base_url: replay.provider_base_url("exchangerate-api"),
        ..FxProviderConfig::new(FxProviderKind::ExchangerateApi)
    };
    let fx = FxSource::new(config).expect("client builds");

    let summary = run_source(fx, producer, Duration::from_millis(10), Some(1), CancellationToken::new(), None)
        .await
        .expect("one cycle delivered");
    assert_eq!(summary, RunSummary { cycles: 1, records: 161, failed_polls: 0 });

    let bootstrap = broker.bootstrap_servers().to_string();
    let records = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "ingest-test-reader")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut partitions = TopicPartitionList::new();
        partitions.add_partition_offset(Topic::RawFx.name(), 0, Offset::Beginning).expect("valid offset");
        consumer.assign(&partitions).expect("assigns");
        let codec = RecordCodec::<FxRate>::new(WireFormat::SingleObject);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut records = Vec::new();
        while records.len() < 161 && Instant::now() < deadline {
            if let Some(message) = consumer.poll(Duration::from_millis(200)) {
                let message = message.expect("no consumer error");
                let record = codec.decode(message.payload().expect("has a payload")).expect("decodes");
                assert_eq!(message.key(), Some(record.kafka_key().as_bytes()));
                records.push(record);
            }
        }
        records
    })
    .await
    .expect("reader finished");

    assert_eq!(records.len(), 161);
    let eur = records.iter().find(|r| r.natural_key() == "USD/EUR/2022-09-20").expect("USD/EUR on raw.fx");
    assert_eq!(eur.rate, 0.999);
    assert_eq!(eur.provider, "exchangerate-api");
    replay.shutdown().await;
}

// ---- configuration ----

#[test]
fn defaults_cover_both_providers() {
    let config: FxConfig = toml::from_str("").expect("an empty table is valid");
    assert_eq!(config, FxConfig::default());
    assert_eq!(config.interval_secs, 3600);
    let kinds: Vec<FxProviderKind> = config.providers.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, [FxProviderKind::ExchangerateApi, FxProviderKind::Frankfurter]);
    assert_eq!(config.providers[0].base_url, "https://api.exchangerate-api.com");
    assert_eq!(config.providers[1].base_url, "https://api.frankfurter.dev/v1");
    let first = &config.providers[0];
    assert_eq!(first.bases, ["USD"]);
    assert!(first.symbols.is_empty());
    assert_eq!(
        (
            first.min_interval_ms,
            first.http_policy().timeout_ms,
            first.http_policy().max_attempts,
            first.http_policy().max_retry_after_secs
        ),
        (1000, 10_000, 4, 120)
    );
    config.validate("ingest.fx").expect("defaults are valid");
}

#[test]
fn a_provider_table_fills_its_base_url_from_its_kind_and_round_trips() {
    let config: FxConfig = toml::from_str(
        r#"
        interval_secs = 600
        [[providers]]
        kind = "frankfurter"
        symbols = ["EUR", "GBP"]
        "#,
    )
    .expect("valid");
    assert_eq!(config.providers.len(), 1);
    assert_eq!(config.providers[0].base_url, "https://api.frankfurter.dev/v1");
    assert_eq!(config.providers[0].bases, ["USD"]);
    let written = toml::to_string(&config).expect("serializes");
    let read: FxConfig = toml::from_str(&written).expect("reads back");
    assert_eq!(read, config);
}

#[test]
fn unknown_keys_and_kinds_are_rejected() {
    let unknown = toml::from_str::<FxConfig>("[[providers]]\nkind = \"frankfurter\"\nbase = \"USD\"\n");
    assert!(unknown.is_err_and(|e| e.to_string().contains("unknown field `base`")));
    let kind = toml::from_str::<FxConfig>("[[providers]]\nkind = \"fixer\"\n");
    assert!(kind.is_err_and(|e| e.to_string().contains("fixer")));
    let top = toml::from_str::<FxConfig>("interval = 5\n");
    assert!(top.is_err_and(|e| e.to_string().contains("unknown field `interval`")));
}

#[test]
fn validation_names_the_bad_key() {
    let error_of = |edit: &dyn Fn(&mut FxConfig)| {
        let mut config = FxConfig::default();
        edit(&mut config);
        config.validate("ingest.fx").expect_err("invalid").to_string()
    };
    assert_eq!(
        error_of(&|c| c.providers[1].bases = vec!["usd1".into()]),
        "ingest.fx.providers[1].bases[0]: `usd1` is not a 3-letter upper-case ISO-4217 code"
    );
    assert_eq!(
        error_of(&|c| c.providers[0].symbols = vec!["EUR".into(), "eur".into()]),
        "ingest.fx.providers[0].symbols[1]: `eur` is not a 3-letter upper-case ISO-4217 code"
    );
    assert_eq!(
        error_of(&|c| c.providers[0].bases = vec!["USD".into(), "USD".into()]),
        "ingest.fx.providers[0].bases[1]: `USD` is listed twice"
    );
    assert_eq!(error_of(&|c| c.interval_secs = 0), "ingest.fx.interval_secs: must be at least 1 second");
    assert_eq!(
        error_of(&|c| c.providers[1].bases.clear()),
        "ingest.fx.providers[1].bases: must list at least one base currency"
    );
    assert_eq!(
        error_of(&|c| c.providers[0].http.max_attempts = Some(0)),
        "ingest.fx.providers[0].http.max_attempts: 0 is not between 1 and 20"
    );
    assert!(error_of(&|c| c.providers[0].base_url = "ftp://example.com".into())
        .starts_with("ingest.fx.providers[0].base_url:"));
    assert!(error_of(&|c| c.providers[0].base_url = "not a url".into()).starts_with("ingest.fx.providers[0].base_url:"));
}
