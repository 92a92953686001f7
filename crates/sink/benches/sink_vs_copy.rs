//! Benchmark: the PostgreSQL sink's throughput next to a raw `COPY FROM STDIN` of the same rows
//! into the same table of the same server, and their ratio (target ≥ 0.8).
//!
//!     cargo bench -p signalcraft-sink --bench sink_vs_copy [-- ROWS [BATCH]]
//!
//! Every measured write starts from an empty table after a CHECKPOINT and a `sync`. The headline
//! ratio is the sink's median rate over raw COPY's; each run's own ratio is printed beside it,
//! so the spread of this machine is visible.
//!
//! The sink figure is the whole per-batch work of the sink stage after Kafka hands it the
//! messages: Avro decode, offset fence, dedupe by natural key, binary COPY encoding, the write
//! and the offset upsert, one transaction per batch of BATCH messages (default: the sink's default
//! `sink.batch_max_rows`, 20,000). The raw
//! figure is one COPY of pre-encoded rows, nothing else. Both write into `kpi_points` (primary
//! key + one secondary index), emptied before every run. The sink runs twice: with the read
//! models on (the triggers that fold every batch into kpi_latest, kpi_hourly and kpi_daily, as
//! the pipeline runs) and off (triggers disabled, the rows alone); raw COPY runs with them off. Uses DATABASE_URL's server if set,
//! otherwise a private server started from the machine's PostgreSQL binaries.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use rdkafka::{message::OwnedMessage, Timestamp};
use signalcraft_model::{KpiPoint, Record, RecordCodec, WireFormat};
use signalcraft_sink::{
    postgres::{copy::CopyEncoder, partitions, SinkTable},
    PostgresSink,
};
use signalcraft_store::PrivatePostgres;
use sqlx::{postgres::PgPoolOptions, PgPool};

const PARTITIONS: i32 = 3;
const RUNS: usize = 5;

fn points(count: usize) -> Vec<KpiPoint> {
    let origin = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("valid instant");
    (0..count)
        .map(|i| KpiPoint {
            series_id: format!("bench:tenant-{}:metric-{}", i % 97, i % 1000),
            tenant_id: Some(format!("tenant-{}", i % 97)),
            metric: format!("metric-{}", i % 1000),
            unit: "count".into(),
            ts: origin + TimeDelta::seconds((i / 1000) as i64),
            value: i as f64 * 0.5,
            source: "bench".into(),
        })
        .collect()
}

fn messages(points: &[KpiPoint]) -> Vec<OwnedMessage> {
    let codec = RecordCodec::<KpiPoint>::new(WireFormat::SingleObject);
    let mut offsets = [0i64; PARTITIONS as usize];
    points
        .iter()
        .enumerate()
        .map(|(i, point)| {
            let partition = (i % PARTITIONS as usize) as i32;
            let offset = offsets[partition as usize];
            offsets[partition as usize] += 1;
            OwnedMessage::new(
                Some(codec.encode(point).expect("encodes")),
                Some(point.kafka_key().into_bytes()),
                "kpi.points".into(),
                Timestamp::NotAvailable,
                partition,
                offset,
                None,
            )
        })
        .collect()
}

/// An empty table and a fresh checkpoint before every measured write, so no run pays for the
/// WAL another one left behind (a checkpoint landing inside one run was the largest source of
/// run-to-run spread).
async fn reset(pool: &PgPool) {
    sqlx::query("TRUNCATE kpi_points, sink_offsets, kpi_latest, kpi_hourly, kpi_daily")
        .execute(pool)
        .await
        .expect("truncate");
    sqlx::query("VACUUM ANALYZE kpi_points").execute(pool).await.expect("vacuum");
    sqlx::query("CHECKPOINT").execute(pool).await.expect("checkpoint");
    settle_page_cache();
}

/// Writes the kernel's dirty pages out now (`sync`), so their writeback does not land inside
/// the next measured run: the private server runs with fsync off, and without this the runs
/// alternated between two speeds as writeback came and went.
fn settle_page_cache() {
    if let Err(error) = std::process::Command::new("sync").status() {
        eprintln!("sync failed ({error}); runs may include the page cache's writeback");
    }
}

async fn raw_copy(pool: &PgPool, points: &[KpiPoint]) -> Duration {
    let mut encoder = CopyEncoder::new(KpiPoint::COLUMNS.len(), points.len() * 96);
    for point in points {
        encoder.begin_row();
        point.encode(&mut encoder).expect("valid row");
        encoder.end_row();
    }
    let payload = encoder.finish();
    let months = points.iter().map(|point| partitions::month_of(point.ts)).collect();
    partitions::ensure_months(pool, "kpi_points", &months).await.expect("partitions");
    let statement = format!("COPY kpi_points ({}) FROM STDIN (FORMAT binary)", KpiPoint::COLUMNS.join(", "));
    let mut conn = pool.acquire().await.expect("connection");
    let started = Instant::now();
    let mut copy = conn.copy_in_raw(&statement).await.expect("copy starts");
    copy.send(payload.as_slice()).await.expect("copy data");
    let rows = copy.finish().await.expect("copy finishes");
    let elapsed = started.elapsed();
    assert_eq!(rows as usize, points.len());
    elapsed
}

/// The same COPY, one statement and transaction per batch: what batching alone costs.
async fn raw_copy_batched(pool: &PgPool, points: &[KpiPoint], batch_size: usize) -> Duration {
    let mut total = Duration::ZERO;
    for chunk in points.chunks(batch_size) {
        total += raw_copy(pool, chunk).await;
    }
    total
}

async fn sink_run(pool: &PgPool, messages: &[OwnedMessage], batch_size: usize) -> Duration {
    let mut sink = PostgresSink::new(pool.clone(), "bench");
    let started = Instant::now();
    for batch in messages.chunks(batch_size) {
        let dead = sink.write_batch(batch).await.expect("batch written");
        assert!(dead.is_empty());
    }
    started.elapsed()
}

/// Turns the read-model triggers of kpi_points on or off.
async fn read_models(pool: &PgPool, on: bool) {
    let statement =
        if on { "ALTER TABLE kpi_points ENABLE TRIGGER USER" } else { "ALTER TABLE kpi_points DISABLE TRIGGER USER" };
    sqlx::query(statement).execute(pool).await.expect("triggers switched");
}

fn rate(rows: usize, elapsed: Duration) -> f64 {
    rows as f64 / elapsed.as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let rows: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(500_000);
    let batch_size: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| signalcraft_sink::SinkConfig::default().batch_max_rows);
    let (url, _server) = match std::env::var("DATABASE_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let server = PrivatePostgres::start_temporary("bench").await.expect("private PostgreSQL starts");
            (server.url(), Some(server))
        }
    };
    let pool = PgPoolOptions::new().max_connections(2).connect(&url).await.expect("database answers");
    signalcraft_store::migrate(&pool).await.expect("migrations apply");
    let points = points(rows);
    let messages = messages(&points);

    let (mut raw_rates, mut batched_rates, mut sink_rates, mut replay_rates) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut bare_rates = Vec::new();
    for _ in 0..RUNS {
        read_models(&pool, false).await;
        reset(&pool).await;
        raw_rates.push(rate(rows, raw_copy(&pool, &points).await));
        reset(&pool).await;
        batched_rates.push(rate(rows, raw_copy_batched(&pool, &points, batch_size).await));
        reset(&pool).await;
        bare_rates.push(rate(rows, sink_run(&pool, &messages, batch_size).await));
        read_models(&pool, true).await;
        reset(&pool).await;
        sink_rates.push(rate(rows, sink_run(&pool, &messages, batch_size).await));
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM kpi_points").fetch_one(&pool).await.expect("count");
        assert_eq!(count as usize, rows, "the sink wrote every row");
        // The same messages again under a new consumer group: every row conflicts (replay).
        sqlx::query("TRUNCATE sink_offsets").execute(&pool).await.expect("truncate offsets");
        sqlx::query("CHECKPOINT").execute(&pool).await.expect("checkpoint");
        settle_page_cache();
        replay_rates.push(rate(rows, sink_run(&pool, &messages, batch_size).await));
    }
    // Each run's sink against the raw COPY of the same run.
    let ratios: Vec<f64> = sink_rates.iter().zip(&raw_rates).map(|(sink, raw)| sink / raw).collect();
    let shown: Vec<String> = ratios.iter().map(|ratio| format!("{ratio:.2}")).collect();
    for (run, ((raw, batched), (sink, replay))) in
        raw_rates.iter().zip(&batched_rates).zip(sink_rates.iter().zip(&replay_rates)).enumerate()
    {
        println!("  run {run}: raw {raw:.0}, raw per batch {batched:.0}, sink {sink:.0}, replay {replay:.0} rows/s");
    }
    let ratio = median(ratios);
    let (raw, batched, sink, replay) =
        (median(raw_rates), median(batched_rates), median(sink_rates), median(replay_rates));
    let bare = median(bare_rates);
    let codec = RecordCodec::<KpiPoint>::new(WireFormat::SingleObject);
    let started = Instant::now();
    for message in &messages {
        use rdkafka::Message;
        codec.decode(message.payload().unwrap_or_default()).expect("decodes");
    }
    let decode = rate(rows, started.elapsed());
    let started = Instant::now();
    let mut encoder = CopyEncoder::new(KpiPoint::COLUMNS.len(), rows * 96);
    let mut keys = std::collections::HashSet::new();
    for message in &messages {
        use rdkafka::Message;
        let point = codec.decode(message.payload().unwrap_or_default()).expect("decodes");
        keys.insert(point.natural_key());
        encoder.begin_row();
        point.encode(&mut encoder).expect("encodes");
        encoder.end_row();
    }
    let client = rate(rows, started.elapsed());
    println!("sink_vs_copy: {rows} kpi_points rows, batches of {batch_size}, median of {RUNS} runs");
    println!("  raw COPY FROM STDIN (binary, one statement): {raw:>12.0} rows/s");
    println!("  raw COPY, one statement per batch:           {batched:>12.0} rows/s");
    println!("  signalcraft sink, new rows, read models off: {bare:>12.0} rows/s  ({:.2} of raw)", bare / raw);
    println!("  signalcraft sink, new rows, read models on:  {sink:>12.0} rows/s");
    println!("  ratio sink (read models on) / raw COPY:      {:>12.2}  (target >= 0.80)", sink / raw);
    println!("  ratio sink / raw COPY per run:               {:>12}  (median {ratio:.2})", shown.join(" "));
    println!("  signalcraft sink, replayed rows (upsert):    {replay:>12.0} rows/s  ({:.2} of raw)", replay / raw);
    println!("  of which Avro decode alone:                  {decode:>12.0} rows/s");
    println!("  client work (decode, key, encode) alone:     {client:>12.0} rows/s");
}
