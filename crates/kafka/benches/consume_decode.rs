//! Consume + decode side by side: the pipeline's consumer loop ([`run_consumer`], batches,
//! offset storing, a handler that decodes every payload into a [`KpiPoint`] with the codec the
//! stages use) against a bare rdkafka `StreamConsumer` that only receives the same messages and
//! touches their payloads, on the same `kpi.points` topic of an in-process broker (librdkafka's
//! mock cluster on real TCP). Prints records/s for each and the ratio ours / bare, per round and
//! as the median of the rounds; each round reads the whole topic afresh in a new consumer group.
//! A third column runs our loop with a handler that only counts, so the loop's cost and the
//! decoding's can be told apart.
//!
//! `cargo bench -p signalcraft-kafka --bench consume_decode`. Environment:
//! `SIGNALCRAFT_BENCH_RECORDS` (default 500,000), `SIGNALCRAFT_BENCH_ROUNDS` (default 3).

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::ClientConfig;
use signalcraft_kafka::{
    run_consumer, BatchHandler, ConsumerSettings, DeadLetter, EmbeddedBroker, HandlerError, KafkaSettings,
    RecordProducer,
};
use signalcraft_model::{KpiPoint, Record, RecordCodec};
use tokio_util::sync::CancellationToken;

const PARTITIONS: i32 = 3;
const SERIES: usize = 1_000;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn env_count(name: &str, default: usize) -> Result<usize, String> {
    match std::env::var(name) {
        Ok(text) => text.parse().map_err(|_| format!("{name}={text:?} is not a count")),
        Err(_) => Ok(default),
    }
}

/// Recent points (inside the codec's plausibility window), spread over [`SERIES`] series.
fn points(count: usize) -> Vec<KpiPoint> {
    let origin: DateTime<Utc> = Utc::now() - TimeDelta::days(30);
    (0..count)
        .map(|i| KpiPoint {
            series_id: format!("bench:series-{}", i % SERIES),
            tenant_id: Some("bench".into()),
            metric: "load".into(),
            unit: "count".into(),
            ts: origin + TimeDelta::seconds((i / SERIES) as i64),
            value: (i % 977) as f64,
            source: "bench".into(),
        })
        .collect()
}

async fn run() -> Result<(), String> {
    let records = env_count("SIGNALCRAFT_BENCH_RECORDS", 500_000)?;
    let rounds = env_count("SIGNALCRAFT_BENCH_ROUNDS", 3)?.max(1);
    let broker = EmbeddedBroker::start(PARTITIONS)?;
    let kafka = KafkaSettings::new(broker.bootstrap_servers());
    let producer = RecordProducer::new(&kafka, "bench").map_err(|error| error.to_string())?;
    let produced_at = Instant::now();
    for chunk in points(records).chunks(50_000) {
        producer.send_all(chunk).await.map_err(|error| format!("producing: {error}"))?;
    }
    println!(
        "{records} KpiPoint records on {} ({PARTITIONS} partitions) produced in {:.1} s",
        KpiPoint::TOPIC.name(),
        produced_at.elapsed().as_secs_f64()
    );
    println!("{:>5}  {:>12}  {:>16}  {:>12}  {:>7}", "round", "bare rec/s", "our loop rec/s", "ours rec/s", "ratio");
    let mut ratios = Vec::with_capacity(rounds);
    let mut bare_rates = Vec::with_capacity(rounds);
    let mut our_rates = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let bare = bare_consume(&kafka, records, round).await?;
        let loop_only = pipeline_consume(&kafka, &producer, records, format!("bench-loop-{round}"), false).await?;
        let ours = pipeline_consume(&kafka, &producer, records, format!("bench-ours-{round}"), true).await?;
        let rate = |took: Duration| records as f64 / took.as_secs_f64();
        let (bare_rate, our_rate) = (rate(bare), rate(ours));
        println!(
            "{:>5}  {bare_rate:>12.0}  {:>16.0}  {our_rate:>12.0}  {:>7.2}",
            round + 1,
            rate(loop_only),
            our_rate / bare_rate
        );
        ratios.push(our_rate / bare_rate);
        bare_rates.push(bare_rate);
        our_rates.push(our_rate);
    }
    println!(
        "median: bare {:.0} rec/s, ours (consume + decode) {:.0} rec/s, ratio {:.2}",
        median(&mut bare_rates),
        median(&mut our_rates),
        median(&mut ratios)
    );
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A plain group consumer reading the topic from the start until it has seen `records`.
async fn bare_consume(kafka: &KafkaSettings, records: usize, round: usize) -> Result<Duration, String> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.brokers)
        .set("group.id", format!("bench-bare-{round}"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|error| format!("bare consumer: {error}"))?;
    consumer.subscribe(&[KpiPoint::TOPIC.name()]).map_err(|error| format!("subscribing: {error}"))?;
    let started = Instant::now();
    let mut seen = 0usize;
    let mut payload_bytes = 0usize;
    while seen < records {
        let message = consumer.recv().await.map_err(|error| format!("bare consume: {error}"))?;
        payload_bytes += message.payload().map_or(0, <[u8]>::len);
        seen += 1;
    }
    let elapsed = started.elapsed();
    std::hint::black_box(payload_bytes);
    Ok(elapsed)
}

/// Decodes every message as the stages do and counts; cancels the loop once all are seen.
struct DecodingHandler {
    /// None: count only (the loop's own cost, without decoding).
    codec: Option<RecordCodec<KpiPoint>>,
    decoded: Arc<AtomicUsize>,
    target: usize,
    done: CancellationToken,
}

#[async_trait]
impl BatchHandler for DecodingHandler {
    async fn handle(&mut self, batch: &[OwnedMessage]) -> Result<Vec<DeadLetter>, HandlerError> {
        let mut decoded = 0usize;
        for message in batch {
            let payload = message.payload().unwrap_or_default();
            let Some(codec) = &self.codec else {
                std::hint::black_box(payload.len());
                decoded += 1;
                continue;
            };
            match codec.decode(payload) {
                Ok(point) => {
                    std::hint::black_box(point);
                    decoded += 1;
                }
                Err(error) => return Err(HandlerError(format!("a benchmark record did not decode: {error}"))),
            }
        }
        if self.decoded.fetch_add(decoded, Ordering::Relaxed) + decoded >= self.target {
            self.done.cancel();
        }
        Ok(Vec::new())
    }
}

/// The pipeline's consumer loop with a decoding handler, from the start of the topic.
async fn pipeline_consume(
    kafka: &KafkaSettings,
    dlq: &RecordProducer,
    records: usize,
    group: String,
    decode: bool,
) -> Result<Duration, String> {
    let settings = ConsumerSettings::new("bench", group, vec![KpiPoint::TOPIC.name().to_string()]);
    let decoded = Arc::new(AtomicUsize::new(0));
    let done = CancellationToken::new();
    let handler = DecodingHandler {
        codec: decode.then(|| {
            RecordCodec::new(kafka.wire_format(KpiPoint::TOPIC)).with_plausibility(kafka.plausibility(KpiPoint::TOPIC))
        }),
        decoded: Arc::clone(&decoded),
        target: records,
        done: done.clone(),
    };
    let started = Instant::now();
    run_consumer(kafka, &settings, None, dlq, handler, done).await.map_err(|error| format!("our loop: {error}"))?;
    let elapsed = started.elapsed();
    let seen = decoded.load(Ordering::Relaxed);
    if seen < records {
        return Err(format!("our loop stopped after {seen} of {records} records"));
    }
    Ok(elapsed)
}
