//! `signalcraft backfill weather` end to end: the real binary, the recorded Open-Meteo archive
//! answer served by `--replay tests/fixtures/replay` (a real capture, trimmed by its author to 3
//! hours of 1953-01-31; see tests/fixtures/openmeteo/SOURCE.txt), and a real broker (the
//! embedded one, over TCP) whose raw.weather is read back record by record.

mod common;

use std::{
    process::Output,
    time::{Duration, Instant},
};

use chrono::{DateTime, TimeZone, Utc};
use common::{broker, fixture};
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    ClientConfig, Message, Offset, TopicPartitionList,
};
use signalcraft_kafka::EmbeddedBroker;
use signalcraft_model::{Record, RecordCodec, Topic, WeatherKind, WeatherObservation, WireFormat};

const PARTITIONS: i32 = 3;

/// Runs the binary with `args`, producing to `broker`; stderr is a pipe, so progress comes as
/// plain lines.
fn signalcraft(broker: &EmbeddedBroker, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_signalcraft"));
    command
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("SIGNALCRAFT_CONFIG_FILE")
        .env("SIGNALCRAFT_KAFKA__BROKERS", broker.bootstrap_servers())
        .env("RUST_LOG", "warn");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the signalcraft binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every record on raw.weather: reads until `expected` arrived, then a little longer, so a
/// surplus would be seen too.
fn read_weather(broker: &EmbeddedBroker, expected: usize) -> Vec<WeatherObservation> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("group.id", common::unique_name("backfill-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut partitions = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        partitions.add_partition_offset(Topic::RawWeather.name(), partition, Offset::Beginning).expect("offset");
    }
    consumer.assign(&partitions).expect("assigns");
    let codec = RecordCodec::<WeatherObservation>::new(WireFormat::SingleObject);
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut settle_until = None;
    while Instant::now() < deadline && settle_until.is_none_or(|until| Instant::now() < until) {
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message.expect("no consumer error");
            let record = codec.decode(message.payload().expect("a payload")).expect("decodes");
            assert_eq!(message.key(), Some(record.kafka_key().as_bytes()));
            records.push(record);
        }
        if records.len() >= expected && settle_until.is_none() {
            settle_until = Some(Instant::now() + Duration::from_secs(1));
        }
    }
    records.sort_by_key(|record| record.hour);
    records
}

fn utc(y: i32, mo: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).single().expect("valid time")
}

/// `backfill weather` of the one recorded archive day, for the watched location `berlin`.
fn recorded_day_at_berlin(replay: &std::path::Path) -> [&str; 10] {
    [
        "backfill",
        "weather",
        "--from",
        "1953-01-31",
        "--to",
        "1953-01-31",
        "--location",
        "berlin",
        "--replay",
        replay.to_str().expect("utf-8 path"),
    ]
}

#[test]
fn the_recorded_archive_day_lands_on_raw_weather_with_progress_lines() {
    let broker = broker(PARTITIONS);
    let replay = fixture("replay");
    let args = recorded_day_at_berlin(&replay);

    let output = signalcraft(&broker, &args, &[]);

    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        stdout.trim(),
        "weather backfill 1953-01-31 to 1953-01-31: 1 location, 1 chunk, 3 records on raw.weather"
    );
    assert!(
        stderr
            .contains("weather backfill: chunk 1/1 (100%) 1953-01-31 to 1953-01-31, 1 location: 3 records; 3 in total"),
        "{stderr}"
    );

    let records = read_weather(&broker, 3);
    assert_eq!(records.len(), 3);
    // The capture's "1953-01-31T00:00".."02:00" at utc_offset_seconds 7200 (Europe/Amsterdam).
    let hours: Vec<DateTime<Utc>> = records.iter().map(|r| r.hour).collect();
    assert_eq!(hours, [utc(1953, 1, 30, 22), utc(1953, 1, 30, 23), utc(1953, 1, 31, 0)]);
    let temperatures: Vec<Option<f64>> =
        records.iter().map(|r| r.variables.get("temperature_2m").copied().flatten()).collect();
    assert_eq!(temperatures, [Some(5.8), Some(5.5), Some(5.1)]);
    let wind: Vec<Option<f64>> = records.iter().map(|r| r.variables.get("wind_speed_10m").copied().flatten()).collect();
    assert_eq!(wind, [Some(23.2), Some(23.7), Some(24.8)]);
    for record in &records {
        assert_eq!(record.location_id, "berlin", "the watched location the replay config names");
        assert_eq!(record.kind, WeatherKind::Archive);
        assert_eq!((record.latitude, record.longitude), (52.26713, 6.820702), "the grid cell the answer names");
        assert_eq!(record.units.get("temperature_2m").map(String::as_str), Some("°C"));
    }
    assert_eq!(records[0].natural_key(), "berlin/ARCHIVE/1953-01-30T22:00:00Z");
}

#[test]
fn a_range_is_walked_in_chunks_each_delivered() {
    let broker = broker(PARTITIONS);
    let replay = fixture("replay");
    let args = [
        "backfill",
        "weather",
        "--from",
        "1953-01-31",
        "--to",
        "1953-02-04",
        "--replay",
        replay.to_str().expect("utf-8 path"),
    ];

    // Two-day chunks: 01-31..02-01, 02-02..02-03, 02-04. The replay answers every window with
    // the one recorded day, so each chunk carries the same 3 hours (same natural keys).
    let output = signalcraft(&broker, &args, &[("SIGNALCRAFT_INGEST__OPENMETEO__ARCHIVE_CHUNK_DAYS", "2")]);

    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        stdout.trim(),
        "weather backfill 1953-01-31 to 1953-02-04: 1 location, 3 chunks, 9 records on raw.weather"
    );
    assert!(stderr.contains("chunk 1/3 (33%) 1953-01-31 to 1953-02-01"), "{stderr}");
    assert!(
        stderr.contains("chunk 3/3 (100%) 1953-02-04 to 1953-02-04, 1 location: 3 records; 9 in total"),
        "{stderr}"
    );
    let records = read_weather(&broker, 9);
    assert_eq!(records.len(), 9);
    let mut keys: Vec<String> = records.iter().map(Record::natural_key).collect();
    keys.dedup();
    assert_eq!(keys.len(), 3, "{keys:?}");
}

#[test]
fn a_failing_chunk_ends_the_backfill_naming_where_to_resume() {
    let broker = broker(PARTITIONS);
    let replay = fixture("replay");
    // The replay directory's watch list, but an archive nobody serves, tried once.
    let args = ["backfill", "weather", "--from", "2024-01-01", "--to", "2024-01-31", "--config"];
    let config = replay.join("signalcraft.toml");
    let mut args = args.to_vec();
    args.push(config.to_str().expect("utf-8 path"));

    let output = signalcraft(
        &broker,
        &args,
        &[
            ("SIGNALCRAFT_INGEST__OPENMETEO__ARCHIVE_BASE_URL", "http://127.0.0.1:1"),
            ("SIGNALCRAFT_INGEST__OPENMETEO__HTTP__MAX_ATTEMPTS", "1"),
        ],
    );

    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr
            .contains("error: the archive chunk from 2024-01-01 failed: openmeteo: GET http://127.0.0.1:1/v1/archive?"),
        "{stderr}"
    );
    assert!(stderr.contains("connection failed"), "{stderr}");
    assert!(stderr.contains("0 records were delivered; resume with --from 2024-01-01"), "{stderr}");
    assert!(read_weather(&broker, 0).is_empty());
}

#[test]
fn an_unwatched_location_or_a_reversed_range_is_refused() {
    let broker = broker(1);
    let replay = fixture("replay");
    let replay = replay.to_str().expect("utf-8 path");
    let unknown = signalcraft(
        &broker,
        &[
            "backfill",
            "weather",
            "--from",
            "2024-01-01",
            "--to",
            "2024-01-02",
            "--location",
            "paris",
            "--replay",
            replay,
        ],
        &[],
    );
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("--location paris: not a watched location (watched: berlin)"),
        "{}",
        text(&unknown.stderr)
    );
    let reversed = signalcraft(&broker, &["backfill", "weather", "--from", "2024-02-01", "--to", "2024-01-01"], &[]);
    assert!(!reversed.status.success());
    assert!(
        text(&reversed.stderr).contains("--from 2024-02-01 is after --to 2024-01-01"),
        "{}",
        text(&reversed.stderr)
    );
}

/// A backfill stands on the same start as `run`: a broker address nothing answers at ends it
/// at once, naming the key to fix, instead of every chunk waiting out the producer's timeout.
#[test]
fn a_broker_that_does_not_answer_ends_the_backfill_naming_the_key() {
    let broker = broker(PARTITIONS);
    let replay = fixture("replay");
    let args = recorded_day_at_berlin(&replay);
    // Port 9 (discard) of this machine: nothing of ours listens there.
    let output = signalcraft(&broker, &args, &[("SIGNALCRAFT_KAFKA__BROKERS", "127.0.0.1:9")]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("no Kafka broker answered at kafka.brokers"), "{stderr}");
    assert!(stderr.contains("SIGNALCRAFT_KAFKA__BROKERS"), "{stderr}");
}
