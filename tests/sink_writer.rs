//! The sink's batch writer against a real PostgreSQL, without Kafka: messages are built as the
//! consumer would hand them over. Covers the paths a stream rarely shows on demand: a natural
//! key repeated inside one batch, rows the table would refuse, undecodable bytes, and a batch
//! handed twice (the fence).

mod common;

use chrono::{NaiveDate, Utc};
use common::TestDatabase;
use rdkafka::{message::OwnedMessage, Message, Timestamp};
use signalcraft_model::{FxRate, Record, RecordCodec, WireFormat};
use signalcraft_sink::PostgresSink;

fn rate(quote: &str, value: f64) -> FxRate {
    FxRate {
        base: "USD".into(),
        quote: quote.into(),
        rate_date: NaiveDate::from_ymd_opt(2022, 9, 20).expect("date"),
        rate: value,
        provider: "test".into(),
        published_at: None,
        fetched_at: Utc::now(),
    }
}

fn message(offset: i64, payload: Vec<u8>) -> OwnedMessage {
    OwnedMessage::new(Some(payload), None, "raw.fx".into(), Timestamp::NotAvailable, 0, offset, None)
}

fn encoded(rates: &[FxRate]) -> Vec<Vec<u8>> {
    let codec = RecordCodec::<FxRate>::new(WireFormat::SingleObject);
    rates.iter().map(|r| codec.encode(r).expect("encodes")).collect()
}

async fn stored_rate(database: &TestDatabase, quote: &str) -> Option<f64> {
    sqlx::query_scalar("SELECT rate FROM fx_rates WHERE quote = $1")
        .bind(quote)
        .fetch_optional(&database.pool)
        .await
        .expect("query")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_keys_refused_rows_and_garbage_in_one_batch() {
    let database = TestDatabase::new().await;
    let mut sink = PostgresSink::new(database.pool.clone(), "test-sink");

    let mut payloads = encoded(&[rate("EUR", 0.98), rate("GBP", 0.87), rate("eur", 1.0), rate("EUR", 0.999)]);
    payloads.insert(2, b"\xde\xad\xbe\xef".to_vec());
    let batch: Vec<OwnedMessage> = payloads.into_iter().enumerate().map(|(i, p)| message(i as i64, p)).collect();

    let dead = sink.write_batch(&batch).await.expect("batch written");
    let mut refused: Vec<(i64, String)> = dead.iter().map(|d| (d.message.offset(), d.error.clone())).collect();
    refused.sort();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(refused[0].0, 2);
    assert!(refused[0].1.starts_with("unknown framing"), "{refused:?}");
    assert_eq!(refused[1], (3, "column quote: `eur` is not an ISO-4217 code".to_string()));

    assert_eq!(database.count("fx_rates").await, 2);
    assert_eq!(stored_rate(&database, "EUR").await, Some(0.999), "the later record of a key wins");
    assert_eq!(stored_rate(&database, "GBP").await, Some(0.87));
    let next: i64 = sqlx::query_scalar("SELECT next_offset FROM sink_offsets WHERE consumer_group = 'test-sink'")
        .fetch_one(&database.pool)
        .await
        .expect("offset stored");
    assert_eq!(next, 5, "refused messages count as consumed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_handed_twice_is_written_once_and_a_newer_value_replaces_an_older() {
    let database = TestDatabase::new().await;
    let mut sink = PostgresSink::new(database.pool.clone(), "test-sink");
    let first: Vec<OwnedMessage> = encoded(&[rate("EUR", 0.98), rate("JPY", 143.27)])
        .into_iter()
        .enumerate()
        .map(|(i, p)| message(i as i64, p))
        .collect();
    assert!(sink.write_batch(&first).await.expect("written").is_empty());

    // The same messages again (a redelivery after a crash): the fence skips them.
    sqlx::query("UPDATE fx_rates SET rate = 0 WHERE quote = 'EUR'").execute(&database.pool).await.expect("tamper");
    assert!(sink.write_batch(&first).await.expect("written").is_empty());
    assert_eq!(stored_rate(&database, "EUR").await, Some(0.0), "records below the stored offset are not rewritten");

    // A later record of an existing key (a re-fetched rate) upserts over the row.
    let later = vec![message(2, encoded(&[rate("EUR", 0.97)]).remove(0))];
    assert!(sink.write_batch(&later).await.expect("written").is_empty());
    assert_eq!(stored_rate(&database, "EUR").await, Some(0.97));
    assert_eq!(database.count("fx_rates").await, 2);
    assert_eq!(rate("EUR", 1.0).natural_key(), "USD/EUR/2022-09-20");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_news_weather_and_brand_metrics_land_in_their_tables() {
    use std::collections::BTreeMap;

    use chrono::TimeZone;
    use signalcraft_model::{BrandMetric, NewsArticle, WeatherKind, WeatherObservation};

    let database = TestDatabase::new().await;
    let mut sink = PostgresSink::new(database.pool.clone(), "test-sink");
    let at = |h| Utc.with_ymd_and_hms(2024, 6, 1, h, 0, 0).single().expect("instant");
    let article = NewsArticle {
        url: "https://example.org/port".into(),
        title: "Port opens".into(),
        seen_at: at(6),
        domain: Some("example.org".into()),
        language: Some("English".into()),
        source_country: None,
        social_image: None,
        tenant_id: Some("acme".into()),
        query: "port".into(),
        fetched_at: at(7),
    };
    let weather = |kind, temperature: Option<f64>| WeatherObservation {
        location_id: "berlin".into(),
        latitude: 52.52,
        longitude: 13.42,
        hour: at(13),
        kind,
        variables: BTreeMap::from([("temperature_2m".to_string(), temperature)]),
        units: BTreeMap::from([("temperature_2m".to_string(), "°C".to_string())]),
        fetched_at: at(12),
    };
    let metric = BrandMetric {
        project_id: 3,
        period_start: NaiveDate::from_ymd_opt(2023, 7, 1).expect("date"),
        brand_id: 11,
        brand_name: "Himalaya".into(),
        metric: "Ecom DC Score".into(),
        value: None,
        fetched_at: at(0),
    };
    let mut batch = Vec::new();
    let mut push = |topic: &str, payload: Vec<u8>| {
        let offset = batch.len() as i64;
        batch.push(OwnedMessage::new(Some(payload), None, topic.into(), Timestamp::NotAvailable, 0, offset, None));
    };
    push("raw.news", RecordCodec::<NewsArticle>::new(WireFormat::SingleObject).encode(&article).expect("encodes"));
    let weather_codec = RecordCodec::<WeatherObservation>::new(WireFormat::SingleObject);
    push("raw.weather", weather_codec.encode(&weather(WeatherKind::Forecast, Some(21.5))).expect("encodes"));
    push("raw.weather", weather_codec.encode(&weather(WeatherKind::Current, None)).expect("encodes"));
    push(
        "raw.brand_metrics",
        RecordCodec::<BrandMetric>::new(WireFormat::SingleObject).encode(&metric).expect("encodes"),
    );
    assert!(sink.write_batch(&batch).await.expect("written").is_empty());

    let title: String = sqlx::query_scalar("SELECT title FROM news_articles WHERE url = 'https://example.org/port'")
        .fetch_one(&database.pool)
        .await
        .expect("article landed");
    assert_eq!(title, "Port opens");
    let forecast: Option<f64> = sqlx::query_scalar(
        "SELECT (variables->>'temperature_2m')::float8 FROM weather_observations WHERE kind = 'FORECAST'",
    )
    .fetch_one(&database.pool)
    .await
    .expect("forecast landed");
    assert_eq!(forecast, Some(21.5));
    let current_is_null: bool = sqlx::query_scalar(
        "SELECT variables->'temperature_2m' = 'null'::jsonb AND units->>'temperature_2m' = '°C' \
         FROM weather_observations WHERE kind = 'CURRENT'",
    )
    .fetch_one(&database.pool)
    .await
    .expect("current conditions landed beside the forecast of the same hour");
    assert!(current_is_null);
    let value: Option<f64> = sqlx::query_scalar("SELECT value FROM brand_metrics WHERE brand_id = 11")
        .fetch_one(&database.pool)
        .await
        .expect("metric landed");
    assert_eq!(value, None, "a missing score stays NULL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_article_found_by_two_tenants_is_stored_for_each_of_them() {
    use chrono::TimeZone;
    use signalcraft_model::{NewsArticle, ScoredArticle};

    let database = TestDatabase::new().await;
    let mut sink = PostgresSink::new(database.pool.clone(), "test-sink");
    let seen_at = Utc.with_ymd_and_hms(2024, 6, 1, 6, 0, 0).single().expect("instant");
    let url = "https://example.org/port";
    let article = |tenant: Option<&str>, title: &str| NewsArticle {
        url: url.into(),
        title: title.into(),
        seen_at,
        domain: None,
        language: None,
        source_country: None,
        social_image: None,
        tenant_id: tenant.map(Into::into),
        query: "port".into(),
        fetched_at: seen_at,
    };
    let scored = |tenant: Option<&str>, compound: f64| ScoredArticle {
        url: url.into(),
        tenant_id: tenant.map(Into::into),
        title: "Port opens".into(),
        seen_at,
        neg: 0.0,
        neu: 1.0,
        pos: 0.0,
        compound,
    };
    let news = RecordCodec::<NewsArticle>::new(WireFormat::SingleObject);
    let sentiment = RecordCodec::<ScoredArticle>::new(WireFormat::SingleObject);
    let mut batch = Vec::new();
    let mut push = |topic: &str, payload: Vec<u8>| {
        let offset = batch.len() as i64;
        batch.push(OwnedMessage::new(Some(payload), None, topic.into(), Timestamp::NotAvailable, 0, offset, None));
    };
    push("raw.news", news.encode(&article(Some("acme"), "Port opens")).expect("encodes"));
    push("raw.news", news.encode(&article(Some("globex"), "Port opens")).expect("encodes"));
    push("raw.news", news.encode(&article(None, "Port opens")).expect("encodes"));
    // The same tenant's article again, retitled: one fact, so it replaces the first.
    push("raw.news", news.encode(&article(Some("acme"), "Port opens today")).expect("encodes"));
    push("news.scored", sentiment.encode(&scored(Some("acme"), 0.5)).expect("encodes"));
    push("news.scored", sentiment.encode(&scored(Some("globex"), 0.5)).expect("encodes"));
    assert!(sink.write_batch(&batch).await.expect("written").is_empty());

    let articles: Vec<(Option<String>, String)> =
        sqlx::query_as("SELECT tenant_id, title FROM news_articles WHERE url = $1 ORDER BY tenant_key")
            .bind(url)
            .fetch_all(&database.pool)
            .await
            .expect("articles");
    assert_eq!(
        articles,
        vec![
            (None, "Port opens".to_string()),
            (Some("acme".to_string()), "Port opens today".to_string()),
            (Some("globex".to_string()), "Port opens".to_string()),
        ]
    );
    let tenants: Vec<String> =
        sqlx::query_scalar("SELECT tenant_id FROM news_sentiment WHERE url = $1 ORDER BY tenant_id")
            .bind(url)
            .fetch_all(&database.pool)
            .await
            .expect("sentiment");
    assert_eq!(tenants, ["acme", "globex"], "each tenant's hourly sentiment can count the article");
}
