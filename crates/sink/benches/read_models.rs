//! Benchmark: what keeping the read models current costs per sink batch, as the stored history
//! grows. At each history size (default 1 M, 5 M and 10 M points: 2,000 hourly series, as a
//! dashboard's tenants would have them) it writes batches of 20,000 new points (the next 10
//! hours of every series) and prints, per batch, the medians of:
//!
//! - raw COPY of the batch alone (read-model triggers off): the floor;
//! - the sink's write of the batch with the read models off: rows and offsets only;
//! - the sink's write with the read models on, as the pipeline runs;
//!
//! and the read models' share (on − off). That share must not grow with the history.
//!
//!     cargo bench -p signalcraft-sink --bench read_models [-- SIZES [BATCHES]]
//!
//! SIZES is a comma-separated list of stored points (e.g. `1000000,5000000`), BATCHES the
//! batches measured per size and variant (default 5). History is loaded with COPY (triggers
//! off) and its rollups built with one GROUP BY, then vacuumed and checkpointed. Uses
//! DATABASE_URL's server if set, otherwise a private server started from the machine's
//! PostgreSQL binaries (fsync off).

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use rdkafka::{message::OwnedMessage, Timestamp};
use signalcraft_model::{KpiPoint, RecordCodec, WireFormat};
use signalcraft_sink::{
    postgres::{copy::CopyEncoder, partitions, SinkTable},
    PostgresSink,
};
use signalcraft_store::PrivatePostgres;
use sqlx::{postgres::PgPoolOptions, PgPool};

const SERIES: usize = 2_000;
const BATCH_HOURS: usize = 10;

fn origin() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_600_000_000, 0).expect("valid instant")
}

/// The points of hours `from..to` of every series, hour by hour.
fn points(from: usize, to: usize) -> Vec<KpiPoint> {
    let mut points = Vec::with_capacity((to - from) * SERIES);
    for hour in from..to {
        for series in 0..SERIES {
            points.push(KpiPoint {
                series_id: format!("bench:tenant-{}:metric-{series}", series % 50),
                tenant_id: Some(format!("tenant-{}", series % 50)),
                metric: format!("metric-{series}"),
                unit: "count".into(),
                ts: origin() + TimeDelta::hours(hour as i64),
                value: ((hour * 31 + series * 17) % 1000) as f64 * 0.25,
                source: "bench".into(),
            });
        }
    }
    points
}

fn encoded(points: &[KpiPoint]) -> Vec<u8> {
    let mut encoder = CopyEncoder::new(KpiPoint::COLUMNS.len(), points.len() * 96);
    for point in points {
        encoder.begin_row();
        point.encode(&mut encoder).expect("valid row");
        encoder.end_row();
    }
    encoder.finish()
}

async fn copy(pool: &PgPool, points: &[KpiPoint]) -> Duration {
    let months = points.iter().map(|point| partitions::month_of(point.ts)).collect();
    partitions::ensure_months(pool, "kpi_points", &months).await.expect("partitions");
    let payload = encoded(points);
    let statement = format!("COPY kpi_points ({}) FROM STDIN (FORMAT binary)", KpiPoint::COLUMNS.join(", "));
    let mut conn = pool.acquire().await.expect("connection");
    let started = Instant::now();
    let mut copy = conn.copy_in_raw(&statement).await.expect("copy starts");
    copy.send(payload.as_slice()).await.expect("copy data");
    copy.finish().await.expect("copy finishes");
    started.elapsed()
}

async fn read_models(pool: &PgPool, on: bool) {
    let statement =
        if on { "ALTER TABLE kpi_points ENABLE TRIGGER USER" } else { "ALTER TABLE kpi_points DISABLE TRIGGER USER" };
    sqlx::query(statement).execute(pool).await.expect("triggers switched");
}

/// Empties everything and stores `size` points of history with their rollups.
async fn load_history(pool: &PgPool, size: usize) -> usize {
    for statement in [
        "TRUNCATE kpi_points, sink_offsets, kpi_latest, kpi_hourly, kpi_daily",
        "ALTER TABLE kpi_points DISABLE TRIGGER USER",
    ] {
        sqlx::query(statement).execute(pool).await.expect("reset");
    }
    let hours = size / SERIES;
    let chunk_hours = 250;
    for from in (0..hours).step_by(chunk_hours) {
        copy(pool, &points(from, (from + chunk_hours).min(hours))).await;
    }
    // The rollups the triggers would have built, in one pass (the migration's own backfill).
    for statement in [
        "INSERT INTO kpi_latest (series_id, tenant_id, metric, unit, ts, value, source) \
         SELECT DISTINCT ON (series_id) series_id, tenant_id, metric, unit, ts, value, source \
         FROM kpi_points ORDER BY series_id, ts DESC",
        "INSERT INTO kpi_hourly (series_id, hour, tenant_id, metric, unit, points, sum, min, max) \
         SELECT series_id, date_trunc('hour', ts, 'UTC'), max(tenant_id), max(metric), max(unit), \
                count(*), sum(value), min(value), max(value) FROM kpi_points GROUP BY 1, 2",
        "INSERT INTO kpi_daily (series_id, day, tenant_id, metric, unit, points, sum, min, max) \
         SELECT series_id, (ts AT TIME ZONE 'UTC')::date, max(tenant_id), max(metric), max(unit), \
                count(*), sum(value), min(value), max(value) FROM kpi_points GROUP BY 1, 2",
        "VACUUM ANALYZE kpi_points",
        "VACUUM ANALYZE kpi_hourly",
        "VACUUM ANALYZE kpi_daily",
        "VACUUM ANALYZE kpi_latest",
        "CHECKPOINT",
    ] {
        sqlx::query(statement).execute(pool).await.expect("history loaded");
    }
    hours
}

fn messages(points: &[KpiPoint], first_offset: i64) -> Vec<OwnedMessage> {
    let codec = RecordCodec::<KpiPoint>::new(WireFormat::SingleObject);
    points
        .iter()
        .zip(first_offset..)
        .map(|(point, offset)| {
            let payload = codec.encode(point).expect("encodes");
            OwnedMessage::new(Some(payload), None, "kpi.points".into(), Timestamp::NotAvailable, 0, offset, None)
        })
        .collect()
}

fn median_ms(mut values: Vec<Duration>) -> f64 {
    values.sort();
    values[values.len() / 2].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::args()
        .nth(1)
        .map(|list| list.split(',').filter_map(|size| size.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000_000, 5_000_000, 10_000_000]);
    let batches: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(5).max(1);
    let (url, _server) = match std::env::var("DATABASE_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let server = PrivatePostgres::start_temporary("bench").await.expect("private PostgreSQL starts");
            (server.url(), Some(server))
        }
    };
    let pool = PgPoolOptions::new().max_connections(2).connect(&url).await.expect("database answers");
    signalcraft_store::migrate(&pool).await.expect("migrations apply");

    println!(
        "read_models: batches of {} points ({SERIES} series × {BATCH_HOURS} h), median of {batches}",
        SERIES * BATCH_HOURS
    );
    println!(
        "  {:>12} {:>14} {:>18} {:>17} {:>17} {:>16}",
        "stored", "raw COPY ms", "sink, off ms", "sink, on ms", "read models ms", "on / raw rate"
    );
    for size in sizes {
        let mut hour = load_history(&pool, size).await;
        let mut sink = PostgresSink::new(pool.clone(), "bench");
        let mut offset = 0;
        let (mut raw, mut off, mut on) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..batches {
            // Each variant writes its own new hours, so every write is of new points.
            read_models(&pool, false).await;
            raw.push(copy(&pool, &points(hour, hour + BATCH_HOURS)).await);
            hour += BATCH_HOURS;
            for (variant, times) in [(false, &mut off), (true, &mut on)] {
                read_models(&pool, variant).await;
                let batch = messages(&points(hour, hour + BATCH_HOURS), offset);
                offset += batch.len() as i64;
                hour += BATCH_HOURS;
                let started = Instant::now();
                let dead = sink.write_batch(&batch).await.expect("batch written");
                times.push(started.elapsed());
                assert!(dead.is_empty());
            }
        }
        read_models(&pool, true).await;
        let (raw, off, on) = (median_ms(raw), median_ms(off), median_ms(on));
        println!("  {size:>12} {raw:>14.1} {off:>18.1} {on:>17.1} {:>17.1} {:>16.2}", on - off, raw / on);
    }
}
