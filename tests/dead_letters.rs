//! Bad input loses nothing and stops nothing: a record of garbage bytes on raw.fx is copied,
//! bytes untouched, to the dlq topic with provenance headers by every stage that reads it, and
//! the good record behind it still lands in PostgreSQL.

mod common;

use std::{collections::BTreeMap, time::Duration};

use chrono::{NaiveDate, Utc};
use common::*;
use rdkafka::{
    consumer::{Consumer, StreamConsumer},
    message::{Headers, Message},
    producer::{FutureProducer, FutureRecord},
    util::Timeout,
};
use signalcraft::{app, Roles, RunOptions};
use signalcraft_kafka::RecordProducer;
use signalcraft_model::FxRate;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_raw_fx_goes_to_the_dlq_with_headers_and_the_pipeline_keeps_going() {
    let database = TestDatabase::new().await;
    let broker = broker(1);
    let config = config_for(&broker, &database);
    let shutdown = CancellationToken::new();
    let options = RunOptions {
        roles: Roles { ingest: false, process: true, sink: true, serve: false },
        replay: None,
        exit_when_done: false,
    };
    let pipeline = tokio::spawn(app::run(config, options, shutdown.clone()));

    let garbage: &[u8] = b"not avro at all \xff\xfe";
    let raw: FutureProducer = kafka_settings(&broker).client_config("test").create().expect("raw producer");
    raw.send(FutureRecord::to("raw.fx").key("junk").payload(garbage), Timeout::Never).await.expect("garbage produced");
    let good = FxRate {
        base: "USD".into(),
        quote: "EUR".into(),
        rate_date: NaiveDate::from_ymd_opt(2022, 9, 20).expect("date"),
        rate: 0.999,
        provider: "partner".into(),
        published_at: None,
        fetched_at: Utc::now(),
    };
    RecordProducer::new(&kafka_settings(&broker), "test")
        .expect("producer")
        .send_all(&[good])
        .await
        .expect("good record produced");

    let landed = eventually(Duration::from_secs(60), || async {
        database.count("fx_rates").await == 1 && database.count("kpi_points").await == 1
    })
    .await;
    assert!(landed, "the good record behind the garbage reached both tables");

    let mut dlq_config = kafka_settings(&broker).client_config("dlq-reader");
    dlq_config.set("group.id", unique_name("dlq_reader")).set("auto.offset.reset", "earliest");
    let reader: StreamConsumer = dlq_config.create().expect("dlq consumer");
    reader.subscribe(&["dlq"]).expect("subscribe dlq");
    let mut letters = Vec::new();
    while letters.len() < 2 {
        let message = tokio::time::timeout(Duration::from_secs(30), reader.recv())
            .await
            .expect("a dead letter arrives")
            .expect("dead letter consumed");
        let headers: BTreeMap<String, String> = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(message.payload(), Some(garbage), "original bytes kept");
        assert_eq!(message.key(), Some(&b"junk"[..]), "original key kept");
        letters.push(headers);
    }
    let mut stages: Vec<&str> = letters.iter().map(|h| h["stage"].as_str()).collect();
    stages.sort();
    assert_eq!(stages, ["kpi-fx", "sink"], "each stage that reads raw.fx dead-letters it once");
    for headers in &letters {
        assert_eq!(headers["source_topic"], "raw.fx");
        assert_eq!(headers["source_partition"], "0");
        assert_eq!(headers["source_offset"], "0");
        assert!(headers["error"].starts_with("unknown framing: payload starts with 6e 6f 74 20"), "{headers:?}");
        assert!(headers["failed_at_ms"].parse::<u64>().is_ok());
    }

    shutdown.cancel();
    pipeline.await.expect("pipeline task").expect("pipeline stops cleanly");
}

/// Reads dead letters until `count` arrived, then a little longer to see that no more come.
async fn dead_letters(broker: &signalcraft_kafka::EmbeddedBroker, count: usize) -> Vec<BTreeMap<String, String>> {
    let mut dlq_config = kafka_settings(broker).client_config("dlq-reader");
    dlq_config.set("group.id", unique_name("dlq_reader")).set("auto.offset.reset", "earliest");
    let reader: StreamConsumer = dlq_config.create().expect("dlq consumer");
    reader.subscribe(&["dlq"]).expect("subscribe dlq");
    let mut letters = Vec::new();
    loop {
        let wait = if letters.len() < count { Duration::from_secs(30) } else { Duration::from_secs(3) };
        let Ok(message) = tokio::time::timeout(wait, reader.recv()).await else { break };
        let message = message.expect("dead letter consumed");
        let headers: BTreeMap<String, String> = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        letters.push(headers);
    }
    letters
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_dated_5000_bc_is_dead_lettered_and_the_thousand_around_it_stored() {
    use chrono::{TimeDelta, TimeZone};
    use signalcraft_model::{KpiPoint, RecordCodec, WireFormat};

    let database = TestDatabase::new().await;
    let broker = broker(1);
    let config = config_for(&broker, &database);
    let shutdown = CancellationToken::new();
    // The sink alone: the first stage that reads these topics, so each bad record is one letter.
    let options = RunOptions {
        roles: Roles { ingest: false, process: false, sink: true, serve: false },
        replay: None,
        exit_when_done: false,
    };
    let pipeline = tokio::spawn(app::run(config, options, shutdown.clone()));

    // Produced as a partner would: raw bytes in our wire format, no producer-side checks.
    let raw: FutureProducer = kafka_settings(&broker).client_config("test").create().expect("raw producer");
    let start = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single().expect("instant");
    let bc_5000 = Utc.with_ymd_and_hms(-4999, 6, 1, 0, 0, 0).single().expect("instant");
    let points = RecordCodec::<KpiPoint>::new(WireFormat::SingleObject);
    let rates = RecordCodec::<FxRate>::new(WireFormat::SingleObject);
    for i in 0..1001 {
        let ts = if i == 500 { bc_5000 } else { start + TimeDelta::hours(i) };
        let point = KpiPoint {
            series_id: "partner:orders".into(),
            tenant_id: None,
            metric: "orders".into(),
            unit: "count".into(),
            ts,
            value: i as f64,
            source: "partner".into(),
        };
        let payload = points.encode(&point).expect("Avro carries any timestamp");
        raw.send(FutureRecord::to("kpi.points").key("partner:orders").payload(&payload), Timeout::Never)
            .await
            .expect("point produced");
        let rate_date = if i == 700 {
            bc_5000.date_naive()
        } else {
            (start + TimeDelta::days(i) - TimeDelta::days(1500)).date_naive()
        };
        let rate = FxRate {
            base: "USD".into(),
            quote: "EUR".into(),
            rate_date,
            rate: 0.9,
            provider: "partner".into(),
            published_at: None,
            fetched_at: Utc::now(),
        };
        let payload = rates.encode(&rate).expect("Avro carries any date");
        raw.send(FutureRecord::to("raw.fx").key("USD/EUR").payload(&payload), Timeout::Never)
            .await
            .expect("rate produced");
    }

    let landed = eventually(Duration::from_secs(90), || async {
        database.count("kpi_points").await == 1000 && database.count("fx_rates").await == 1000
    })
    .await;
    assert!(
        landed,
        "all valid rows stored: {} kpi_points, {} fx_rates",
        database.count("kpi_points").await,
        database.count("fx_rates").await
    );

    let mut letters = dead_letters(&broker, 2).await;
    letters.sort_by(|a, b| a["source_topic"].cmp(&b["source_topic"]));
    assert_eq!(letters.len(), 2, "exactly one dead letter per bad record: {letters:?}");
    let (points_letter, fx_letter) = (&letters[0], &letters[1]);
    assert_eq!(points_letter["source_topic"], "kpi.points");
    assert_eq!(points_letter["source_offset"], "500");
    assert_eq!(fx_letter["source_topic"], "raw.fx");
    assert_eq!(fx_letter["source_offset"], "700");
    for letter in &letters {
        assert_eq!(letter["stage"], "sink");
        assert_eq!(letter["source_partition"], "0");
    }
    assert!(
        points_letter["error"].starts_with("column ts: -4999-06-01 00:00:00 UTC is before 4714-11-24 BC"),
        "{points_letter:?}"
    );
    assert!(fx_letter["error"].starts_with("column rate_date: -4999-06-01 is before 4714-11-24 BC"), "{fx_letter:?}");

    let next: Vec<(String, i64)> = sqlx::query_as(
        "SELECT topic, next_offset FROM sink_offsets WHERE topic IN ('kpi.points', 'raw.fx') ORDER BY topic",
    )
    .fetch_all(&database.pool)
    .await
    .expect("offsets");
    assert_eq!(next, [("kpi.points".to_string(), 1001), ("raw.fx".to_string(), 1001)], "offsets pass the bad records");

    shutdown.cancel();
    pipeline.await.expect("pipeline task").expect("pipeline stops cleanly");
}
