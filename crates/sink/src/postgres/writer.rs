//! Writes one consumed batch effectively-once: in ONE transaction it reads and locks the stored
//! offsets of the batch's partitions (the fence), drops records a previous attempt already
//! wrote, keeps the last record per natural key, COPYs the rest into a staging table, upserts
//! them into their tables, and advances the stored offsets. Either all of it commits or none.

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use rdkafka::message::{Message, OwnedMessage};
use signalcraft_kafka::{BatchHandler, DeadLetter, HandlerError};
use signalcraft_model::{FxRate, KpiPoint, RecordCodec, Topic, WireFormat};
use sqlx::{PgConnection, PgPool};

use super::{
    copy::CopyEncoder,
    tables::{upsert_sql, SinkTable},
    telemetry,
};

/// Decoded records of one table, with the partition and offset each came from.
struct Decoded<T> {
    records: Vec<(i32, i64, T, usize)>,
}

impl<T> Default for Decoded<T> {
    fn default() -> Self {
        Decoded { records: Vec::new() }
    }
}

impl<T: SinkTable> Decoded<T> {
    fn push(&mut self, codec: &RecordCodec<T>, index: usize, message: &OwnedMessage, dead: &mut Vec<DeadLetter>) {
        match codec.decode(message.payload().unwrap_or_default()) {
            Ok(record) => self.records.push((message.partition(), message.offset(), record, index)),
            Err(error) => dead.push(DeadLetter::new(message, error.to_string())),
        }
    }

    /// Keeps records at or past the fence, then the last record of each natural key.
    fn fenced_and_deduplicated(self, fence: &HashMap<i32, i64>) -> Vec<(T, usize)> {
        let mut last_by_key: HashMap<String, (T, usize)> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        for (partition, offset, record, index) in self.records {
            if fence.get(&partition).is_some_and(|next| offset < *next) {
                continue;
            }
            let key = record.natural_key();
            if last_by_key.insert(key.clone(), (record, index)).is_none() {
                order.push(key);
            }
        }
        order.into_iter().filter_map(|key| last_by_key.remove(&key)).collect()
    }
}

/// The sink stage: consumes raw.fx and kpi.points into their tables.
pub struct PostgresSink {
    pool: PgPool,
    group: String,
    fx_codec: RecordCodec<FxRate>,
    kpi_codec: RecordCodec<KpiPoint>,
    view_refresh_interval: Duration,
    last_view_refresh: Option<Instant>,
    fx_path: WritePath,
    kpi_path: WritePath,
}

impl PostgresSink {
    /// A sink writing through `pool`, storing offsets under consumer group `group`.
    pub fn new(pool: PgPool, group: impl Into<String>, view_refresh_interval: Duration) -> Self {
        PostgresSink {
            pool,
            group: group.into(),
            fx_codec: RecordCodec::new(WireFormat::SingleObject),
            kpi_codec: RecordCodec::new(WireFormat::SingleObject),
            view_refresh_interval,
            last_view_refresh: None,
            fx_path: WritePath::default(),
            kpi_path: WritePath::default(),
        }
    }

    /// Accepts Confluent-framed records carrying these registry ids.
    pub fn accept_schema_ids(mut self, fx_rate: Option<u32>, kpi_point: Option<u32>) -> Self {
        if let Some(id) = fx_rate {
            self.fx_codec = self.fx_codec.accept_schema_id(id);
        }
        if let Some(id) = kpi_point {
            self.kpi_codec = self.kpi_codec.accept_schema_id(id);
        }
        self
    }

    /// The topics this sink has tables for.
    pub fn topics() -> Vec<String> {
        vec![Topic::RawFx.name().to_string(), Topic::KpiPoints.name().to_string()]
    }

    /// Writes `batch`; returns the messages to dead-letter. Exposed for the benchmark.
    pub async fn write_batch(&mut self, batch: &[OwnedMessage]) -> Result<Vec<DeadLetter>, sqlx::Error> {
        let mut dead = Vec::new();
        let mut fx = Decoded::<FxRate>::default();
        let mut kpi = Decoded::<KpiPoint>::default();
        let mut next_offsets: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for (index, message) in batch.iter().enumerate() {
            let next = next_offsets.entry((message.topic().to_string(), message.partition())).or_insert(0);
            *next = (*next).max(message.offset() + 1);
            match Topic::from_name(message.topic()) {
                Some(Topic::RawFx) => fx.push(&self.fx_codec, index, message, &mut dead),
                Some(Topic::KpiPoints) => kpi.push(&self.kpi_codec, index, message, &mut dead),
                _ => {
                    dead.push(DeadLetter::new(message, format!("the sink has no table for topic {}", message.topic())))
                }
            }
        }

        let started = Instant::now();
        let mut tx = self.pool.begin().await?;
        let fence = load_fence(&mut tx, &self.group, &next_offsets).await?;
        let empty = HashMap::new();
        let fx_rows = fx.fenced_and_deduplicated(fence.get(Topic::RawFx.name()).unwrap_or(&empty));
        let kpi_rows = kpi.fenced_and_deduplicated(fence.get(Topic::KpiPoints.name()).unwrap_or(&empty));
        let fx_written = write_rows(&mut tx, &mut self.fx_path, &fx_rows, batch, &mut dead).await?;
        let kpi_written = write_rows(&mut tx, &mut self.kpi_path, &kpi_rows, batch, &mut dead).await?;
        store_offsets(&mut tx, &self.group, &next_offsets).await?;
        tx.commit().await?;
        telemetry::BatchWritten { table: FxRate::TABLE, rows: fx_written, elapsed: started.elapsed() }.emit();
        telemetry::BatchWritten { table: KpiPoint::TABLE, rows: kpi_written, elapsed: started.elapsed() }.emit();

        if kpi_written > 0 && self.last_view_refresh.is_none_or(|at| at.elapsed() >= self.view_refresh_interval) {
            refresh_views(&self.pool).await?;
            self.last_view_refresh = Some(Instant::now());
        }
        Ok(dead)
    }
}

#[async_trait]
impl BatchHandler for PostgresSink {
    async fn handle(&mut self, batch: &[OwnedMessage]) -> Result<Vec<DeadLetter>, HandlerError> {
        // Every database error is treated as transient: rows are validated before they reach
        // the database, so what remains is connectivity, locks and restarts.
        self.write_batch(batch).await.map_err(|error| HandlerError(format!("writing batch to PostgreSQL: {error}")))
    }
}

/// Reads and locks the stored offsets of the batch's partitions: topic → partition → next offset.
async fn load_fence(
    tx: &mut PgConnection,
    group: &str,
    next_offsets: &BTreeMap<(String, i32), i64>,
) -> Result<HashMap<String, HashMap<i32, i64>>, sqlx::Error> {
    let topics: Vec<&str> = next_offsets.keys().map(|(t, _)| t.as_str()).collect();
    let partitions: Vec<i32> = next_offsets.keys().map(|(_, p)| *p).collect();
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT topic, partition, next_offset FROM sink_offsets \
         WHERE consumer_group = $1 AND (topic, partition) IN (SELECT * FROM UNNEST($2::text[], $3::int[])) \
         ORDER BY topic, partition FOR UPDATE",
    )
    .bind(group)
    .bind(&topics)
    .bind(&partitions)
    .fetch_all(&mut *tx)
    .await?;
    let mut fence: HashMap<String, HashMap<i32, i64>> = HashMap::new();
    for (topic, partition, next) in rows {
        fence.entry(topic).or_default().insert(partition, next);
    }
    Ok(fence)
}

/// How the rows of one table are written. New rows (the steady state) go straight into the
/// table with COPY, as fast as the server can take them; if a batch hits an existing natural
/// key (a replay, a re-fetched rate) COPY fails on the primary key, the savepoint undoes it and
/// the rows are upserted through a staging table instead. After a conflict the upsert path is
/// used directly for a while, so a long replay does not pay for two writes per batch.
#[derive(Debug, Default)]
pub(crate) struct WritePath {
    upsert_batches_left: u32,
}

/// Batches written through the upsert path after a conflict before COPY is tried again.
const UPSERT_STREAK: u32 = 16;

/// COPYs or upserts `rows` into their table; refused rows become dead letters.
async fn write_rows<T: SinkTable>(
    tx: &mut PgConnection,
    path: &mut WritePath,
    rows: &[(T, usize)],
    batch: &[OwnedMessage],
    dead: &mut Vec<DeadLetter>,
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut encoder = CopyEncoder::new(T::COLUMNS.len(), rows.len() * 96);
    for (record, index) in rows {
        encoder.begin_row();
        match record.encode(&mut encoder) {
            Ok(()) => encoder.end_row(),
            Err(error) => {
                encoder.abandon_row();
                dead.push(DeadLetter::new(&batch[*index], error.to_string()));
            }
        }
    }
    let row_count = encoder.rows() as u64;
    if row_count == 0 {
        return Ok(0);
    }
    let payload = encoder.finish();
    let columns = T::COLUMNS.join(", ");

    if path.upsert_batches_left == 0 {
        sqlx::query("SAVEPOINT signalcraft_copy").execute(&mut *tx).await?;
        let direct = format!("COPY {} ({columns}) FROM STDIN (FORMAT binary)", T::TABLE);
        match copy_in(tx, &direct, &payload).await {
            Ok(_) => {
                sqlx::query("RELEASE SAVEPOINT signalcraft_copy").execute(&mut *tx).await?;
                return Ok(row_count);
            }
            Err(error) if is_unique_violation(&error) => {
                sqlx::query("ROLLBACK TO SAVEPOINT signalcraft_copy").execute(&mut *tx).await?;
                path.upsert_batches_left = UPSERT_STREAK;
            }
            Err(error) => return Err(error),
        }
    } else {
        path.upsert_batches_left -= 1;
    }

    let staging = format!("staging_{}", T::TABLE);
    // One staging table per connection, emptied at every commit.
    sqlx::query(&format!(
        "CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
        table = T::TABLE
    ))
    .execute(&mut *tx)
    .await?;
    copy_in(tx, &format!("COPY {staging} ({columns}) FROM STDIN (FORMAT binary)"), &payload).await?;
    let written = sqlx::query(&upsert_sql::<T>(&staging)).execute(&mut *tx).await?.rows_affected();
    Ok(written)
}

/// Runs one `COPY ... FROM STDIN` with `payload`.
async fn copy_in(tx: &mut PgConnection, statement: &str, payload: &[u8]) -> Result<u64, sqlx::Error> {
    let mut copy = tx.copy_in_raw(statement).await?;
    if let Err(error) = copy.send(payload).await {
        let _ = copy.abort(error.to_string()).await;
        return Err(error);
    }
    copy.finish().await
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

/// Advances the stored offsets (never backwards) in the batch's transaction.
async fn store_offsets(
    tx: &mut PgConnection,
    group: &str,
    next_offsets: &BTreeMap<(String, i32), i64>,
) -> Result<(), sqlx::Error> {
    let topics: Vec<&str> = next_offsets.keys().map(|(t, _)| t.as_str()).collect();
    let partitions: Vec<i32> = next_offsets.keys().map(|(_, p)| *p).collect();
    let offsets: Vec<i64> = next_offsets.values().copied().collect();
    sqlx::query(
        "INSERT INTO sink_offsets (consumer_group, topic, partition, next_offset) \
         SELECT $1, t, p, o FROM UNNEST($2::text[], $3::int[], $4::bigint[]) AS u(t, p, o) \
         ON CONFLICT (consumer_group, topic, partition) DO UPDATE \
         SET next_offset = GREATEST(sink_offsets.next_offset, EXCLUDED.next_offset), updated_at = now()",
    )
    .bind(group)
    .bind(&topics)
    .bind(&partitions)
    .bind(&offsets)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Refreshes the dashboards' materialized views without blocking their readers.
pub async fn refresh_views(pool: &PgPool) -> Result<(), sqlx::Error> {
    for view in ["kpi_latest", "kpi_daily"] {
        sqlx::query(&format!("REFRESH MATERIALIZED VIEW CONCURRENTLY {view}")).execute(pool).await?;
    }
    Ok(())
}
