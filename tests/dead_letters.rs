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
    let options =
        RunOptions { roles: Roles { ingest: false, process: true, sink: true }, replay: None, exit_when_done: false };
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
