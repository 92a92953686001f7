//! Writes one consumed batch effectively-once: in ONE transaction it reads and locks the stored
//! offsets of the batch's partitions (the fence), drops records a previous attempt already
//! wrote, keeps the last record per natural key, COPYs the rest into a staging table, upserts
//! them into their tables, and advances the stored offsets. Either all of it commits or none.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use rdkafka::message::{Message, OwnedMessage};
use signalcraft_kafka::{BatchHandler, DeadLetter, HandlerError};
use signalcraft_model::{
    AlertNotification, BrandMetric, FxRate, KpiAnomaly, KpiForecast, KpiPoint, NewsArticle, RecordCodec, ScoredArticle,
    Topic, WeatherObservation, WireFormat,
};
use sqlx::{PgConnection, PgPool};

use super::{
    copy::CopyEncoder,
    rows::Rows,
    tables::{upsert_sql, SinkTable},
    telemetry,
};

/// Writes the messages of one topic into its table.
#[async_trait]
trait TopicWriter: Send {
    fn topic(&self) -> Topic;
    fn table(&self) -> &'static str;
    fn accept_schema_id(&mut self, schema_id: u32);
    async fn write(
        &mut self,
        tx: &mut PgConnection,
        batch: &[OwnedMessage],
        indices: &[usize],
        dead: &mut Vec<DeadLetter>,
    ) -> Result<u64, sqlx::Error>;
}

/// The [`TopicWriter`] of one [`SinkTable`] record type.
struct TableWriter<T: SinkTable> {
    codec: RecordCodec<T>,
    path: WritePath,
}

impl<T: SinkTable> TableWriter<T> {
    fn boxed() -> Box<dyn TopicWriter> {
        Box::new(TableWriter::<T> { codec: RecordCodec::new(WireFormat::SingleObject), path: WritePath::default() })
    }
}

#[async_trait]
impl<T: SinkTable> TopicWriter for TableWriter<T> {
    fn topic(&self) -> Topic {
        T::TOPIC
    }
    fn table(&self) -> &'static str {
        T::TABLE
    }
    fn accept_schema_id(&mut self, schema_id: u32) {
        self.codec = self.codec.clone().accept_schema_id(schema_id);
    }
    async fn write(
        &mut self,
        tx: &mut PgConnection,
        batch: &[OwnedMessage],
        indices: &[usize],
        dead: &mut Vec<DeadLetter>,
    ) -> Result<u64, sqlx::Error> {
        write_table(tx, &mut self.path, &self.codec, batch, indices, dead).await
    }
}

/// Every table the sink writes, one per topic: the list to extend when a topic gets a table.
fn table_writers() -> Vec<Box<dyn TopicWriter>> {
    vec![
        TableWriter::<FxRate>::boxed(),
        TableWriter::<NewsArticle>::boxed(),
        TableWriter::<WeatherObservation>::boxed(),
        TableWriter::<BrandMetric>::boxed(),
        TableWriter::<ScoredArticle>::boxed(),
        TableWriter::<KpiPoint>::boxed(),
        TableWriter::<KpiAnomaly>::boxed(),
        TableWriter::<KpiForecast>::boxed(),
        TableWriter::<AlertNotification>::boxed(),
    ]
}

/// The sink stage: consumes every topic that has a table into it.
pub struct PostgresSink {
    pool: PgPool,
    group: String,
    cluster_id: String,
    writers: Vec<Box<dyn TopicWriter>>,
    /// Set when KPI points were written since the dashboards' views were last refreshed.
    views_stale: Arc<AtomicBool>,
}

impl PostgresSink {
    /// A sink writing through `pool`, storing offsets under consumer group `group`.
    pub fn new(pool: PgPool, group: impl Into<String>) -> Self {
        PostgresSink {
            pool,
            group: group.into(),
            cluster_id: String::new(),
            writers: table_writers(),
            views_stale: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The task that keeps the dashboards' materialized views fresh for this sink: run it
    /// beside the sink. It refreshes at most once per `interval`, only after new KPI points, and
    /// off the write path, so a batch never waits for a refresh.
    pub fn view_refresher(&self, interval: Duration) -> ViewRefresher {
        ViewRefresher { pool: self.pool.clone(), stale: self.views_stale.clone(), interval }
    }

    /// Stores offsets under this Kafka cluster id, and trusts only offsets stored under it: a
    /// topic on another cluster (a recreated embedded broker, a migrated cluster) starts again
    /// at 0, and offsets of the old one must neither seek nor fence it.
    pub fn with_cluster_id(mut self, cluster_id: impl Into<String>) -> Self {
        self.cluster_id = cluster_id.into();
        self
    }

    /// Accepts Confluent-framed records carrying these schema-registry ids.
    pub fn accept_schema_ids(mut self, registry_ids: &HashMap<Topic, u32>) -> Self {
        for writer in &mut self.writers {
            if let Some(&id) = registry_ids.get(&writer.topic()) {
                writer.accept_schema_id(id);
            }
        }
        self
    }

    /// The topics this sink has tables for.
    pub fn topics() -> Vec<String> {
        table_writers().iter().map(|writer| writer.topic().name().to_string()).collect()
    }

    /// Writes `batch`; returns the messages to dead-letter. Exposed for the benchmark.
    pub async fn write_batch(&mut self, batch: &[OwnedMessage]) -> Result<Vec<DeadLetter>, sqlx::Error> {
        let mut dead = Vec::new();
        let mut by_writer: Vec<Vec<usize>> = vec![Vec::new(); self.writers.len()];
        let mut next_offsets: BTreeMap<(&str, i32), i64> = BTreeMap::new();
        for (index, message) in batch.iter().enumerate() {
            let next = next_offsets.entry((message.topic(), message.partition())).or_insert(0);
            *next = (*next).max(message.offset() + 1);
            match self.writers.iter().position(|writer| writer.topic().name() == message.topic()) {
                Some(slot) => by_writer[slot].push(index),
                None => {
                    dead.push(DeadLetter::new(message, format!("the sink has no table for topic {}", message.topic())))
                }
            }
        }

        let started = Instant::now();
        let mut tx = self.pool.begin().await?;
        let fence = load_fence(&mut tx, &self.group, &self.cluster_id, &next_offsets).await?;
        let mut written = Vec::with_capacity(self.writers.len());
        for (writer, indices) in self.writers.iter_mut().zip(by_writer) {
            let past_fence: Vec<usize> = match fence.get(writer.topic().name()) {
                Some(fence) => indices
                    .into_iter()
                    .filter(|&i| fence.get(&batch[i].partition()).is_none_or(|next| batch[i].offset() >= *next))
                    .collect(),
                None => indices,
            };
            written.push((writer.table(), writer.write(&mut tx, batch, &past_fence, &mut dead).await?));
        }
        store_offsets(&mut tx, &self.group, &self.cluster_id, &next_offsets).await?;
        tx.commit().await?;
        for &(table, rows) in &written {
            telemetry::BatchWritten { table, rows, elapsed: started.elapsed() }.emit();
        }

        if written.iter().any(|&(table, rows)| table == KpiPoint::TABLE && rows > 0) {
            self.views_stale.store(true, Ordering::Release);
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
    cluster_id: &str,
    next_offsets: &BTreeMap<(&str, i32), i64>,
) -> Result<HashMap<String, HashMap<i32, i64>>, sqlx::Error> {
    let topics: Vec<&str> = next_offsets.keys().map(|(t, _)| *t).collect();
    let partitions: Vec<i32> = next_offsets.keys().map(|(_, p)| *p).collect();
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT topic, partition, next_offset FROM sink_offsets \
         WHERE consumer_group = $1 AND (topic, partition) IN (SELECT * FROM UNNEST($2::text[], $3::int[])) \
         AND cluster_id = $4 ORDER BY topic, partition FOR UPDATE",
    )
    .bind(group)
    .bind(&topics)
    .bind(&partitions)
    .bind(cluster_id)
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

/// Rows decoded and encoded per chunk streamed to the server, once the stream is under way.
const STREAM_CHUNK: usize = 1_000;
/// Rows of the first chunk. The server idles until it arrives, so it is small; the chunks
/// after it double up to [`STREAM_CHUNK`], keeping the decoding thread ahead of the server.
const FIRST_CHUNK: usize = 64;
/// Chunks the decoding thread may run ahead of the server.
const CHUNKS_AHEAD: usize = 4;

/// Writes the messages at `indices` (all of one table, past the fence) into that table; refused
/// records become dead letters. Returns the rows written or changed.
async fn write_table<T: SinkTable>(
    tx: &mut PgConnection,
    path: &mut WritePath,
    codec: &RecordCodec<T>,
    batch: &[OwnedMessage],
    indices: &[usize],
    dead: &mut Vec<DeadLetter>,
) -> Result<u64, sqlx::Error> {
    if indices.is_empty() {
        return Ok(0);
    }
    let (mut rows, decoded) = if path.upsert_batches_left == 0 {
        match copy_new_rows(tx, codec, batch, indices).await? {
            CopyOutcome::Written(written, rows) => {
                dead.extend(rows.refused.iter().map(|(index, error)| DeadLetter::new(&batch[*index], error.clone())));
                return Ok(written);
            }
            CopyOutcome::NeedsUpsert(rows, decoded) => {
                path.upsert_batches_left = UPSERT_STREAK;
                (rows, decoded)
            }
        }
    } else {
        path.upsert_batches_left -= 1;
        (Rows::with_capacity(indices.len()), 0)
    };
    for &index in &indices[decoded..] {
        rows.decode(codec, index, batch[index].payload().unwrap_or_default());
    }
    rows.validate_all();
    dead.extend(rows.refused.iter().map(|(index, error)| DeadLetter::new(&batch[*index], error.clone())));

    let mut encoder = CopyEncoder::new(T::COLUMNS.len(), indices.len() * 96);
    for record in rows.deduplicated() {
        encoder.begin_row();
        // validate_all accepted every row deduplicated() yields.
        match record.encode(&mut encoder) {
            Ok(()) => encoder.end_row(),
            Err(_) => encoder.abandon_row(),
        }
    }
    if encoder.rows() == 0 {
        return Ok(0);
    }
    let staging = format!("staging_{}", T::TABLE);
    // One staging table per connection, emptied at every commit. Generated key columns stay
    // generated: copied as plain NOT NULL columns, the COPY (which does not name them) would
    // fail on every row.
    sqlx::query(&format!(
        "CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {table} INCLUDING DEFAULTS INCLUDING GENERATED) \
         ON COMMIT DELETE ROWS",
        table = T::TABLE
    ))
    .execute(&mut *tx)
    .await?;
    let columns = T::COLUMNS.join(", ");
    copy_in(tx, &format!("COPY {staging} ({columns}) FROM STDIN (FORMAT binary)"), &encoder.finish()).await?;
    let written = sqlx::query(&upsert_sql::<T>(&staging)).execute(&mut *tx).await?.rows_affected();
    Ok(written)
}

enum CopyOutcome<T> {
    /// Every row went straight in.
    Written(u64, Rows<T>),
    /// A natural key repeats (within the batch or against the table): rolled back; the rows
    /// decoded so far and how many of `indices` they cover.
    NeedsUpsert(Rows<T>, usize),
}

/// What the decoding thread reports when it stops.
struct Decoded<T> {
    rows: Rows<T>,
    /// How many of the messages it consumed.
    consumed: usize,
    /// It stopped at a natural key already in the batch.
    repeated: bool,
}

/// The fast path: COPY straight into the table. A blocking thread decodes and encodes chunk by
/// chunk, a few chunks ahead, while this task streams them to the server, so the server never
/// waits for decoding. Rolled back to a savepoint when a natural key repeats.
async fn copy_new_rows<T: SinkTable>(
    tx: &mut PgConnection,
    codec: &RecordCodec<T>,
    batch: &[OwnedMessage],
    indices: &[usize],
) -> Result<CopyOutcome<T>, sqlx::Error> {
    // The thread needs owned input; copying the payloads into one buffer costs far less than
    // decoding them.
    let payload = |i: usize| batch[i].payload().unwrap_or_default();
    let mut bytes = Vec::with_capacity(indices.iter().map(|&i| payload(i).len()).sum());
    let mut spans = Vec::with_capacity(indices.len());
    for &i in indices {
        let start = bytes.len();
        bytes.extend_from_slice(payload(i));
        spans.push((i, start..bytes.len()));
    }
    let (chunks_tx, mut chunks) = tokio::sync::mpsc::channel::<Vec<u8>>(CHUNKS_AHEAD);
    let thread_codec = codec.clone();
    let decoder = tokio::task::spawn_blocking(move || {
        let mut rows = Rows::<T>::with_capacity(spans.len());
        let mut encoder = CopyEncoder::new(T::COLUMNS.len(), STREAM_CHUNK * 96);
        let mut consumed = 0;
        let mut chunk_size = FIRST_CHUNK;
        let mut rest = spans.as_slice();
        while !rest.is_empty() {
            let (chunk, after) = rest.split_at(chunk_size.min(rest.len()));
            rest = after;
            chunk_size = (chunk_size * 2).min(STREAM_CHUNK);
            for (index, span) in chunk {
                consumed += 1;
                match rows.decode(&thread_codec, *index, &bytes[span.clone()]) {
                    Some(false) => rows.encode_last(&mut encoder),
                    Some(true) => return Decoded { rows, consumed, repeated: true },
                    None => {}
                }
            }
            if chunks_tx.blocking_send(encoder.take()).is_err() {
                // The writer gave up (the COPY failed); it reports why.
                return Decoded { rows, consumed, repeated: false };
            }
        }
        let _ = chunks_tx.blocking_send(encoder.finish());
        Decoded { rows, consumed, repeated: false }
    });

    sqlx::query("SAVEPOINT signalcraft_copy").execute(&mut *tx).await?;
    let statement = format!("COPY {} ({}) FROM STDIN (FORMAT binary)", T::TABLE, T::COLUMNS.join(", "));
    let mut copy = tx.copy_in_raw(&statement).await?;
    let mut send_error = None;
    while let Some(chunk) = chunks.recv().await {
        if let Err(error) = copy.send(chunk).await {
            send_error = Some(error);
            break;
        }
    }
    drop(chunks);
    let decoded = decoder.await.map_err(|e| sqlx::Error::Protocol(format!("decoding thread failed: {e}")))?;
    let copied = match send_error {
        Some(error) => {
            let _ = copy.abort(error.to_string()).await;
            Err(Some(error))
        }
        None if decoded.repeated => {
            // Aborting leaves the transaction failed until the savepoint is rolled back.
            let _ = copy.abort("a natural key repeats within the batch; upserting instead").await;
            Err(None)
        }
        None => copy.finish().await.map_err(Some),
    };
    match copied {
        Ok(written) => {
            sqlx::query("RELEASE SAVEPOINT signalcraft_copy").execute(&mut *tx).await?;
            Ok(CopyOutcome::Written(written, decoded.rows))
        }
        Err(error) if error.as_ref().is_none_or(is_unique_violation) => {
            sqlx::query("ROLLBACK TO SAVEPOINT signalcraft_copy").execute(&mut *tx).await?;
            Ok(CopyOutcome::NeedsUpsert(decoded.rows, decoded.consumed))
        }
        Err(Some(error)) => Err(error),
        Err(None) => unreachable!("matched by the arm above"),
    }
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

/// Advances the stored offsets in the batch's transaction: never backwards on one cluster;
/// offsets of another cluster are replaced.
async fn store_offsets(
    tx: &mut PgConnection,
    group: &str,
    cluster_id: &str,
    next_offsets: &BTreeMap<(&str, i32), i64>,
) -> Result<(), sqlx::Error> {
    let topics: Vec<&str> = next_offsets.keys().map(|(t, _)| *t).collect();
    let partitions: Vec<i32> = next_offsets.keys().map(|(_, p)| *p).collect();
    let offsets: Vec<i64> = next_offsets.values().copied().collect();
    sqlx::query(
        "INSERT INTO sink_offsets (consumer_group, topic, partition, next_offset, cluster_id) \
         SELECT $1, t, p, o, $5 FROM UNNEST($2::text[], $3::int[], $4::bigint[]) AS u(t, p, o) \
         ON CONFLICT (consumer_group, topic, partition) DO UPDATE \
         SET next_offset = CASE WHEN sink_offsets.cluster_id = EXCLUDED.cluster_id \
                                THEN GREATEST(sink_offsets.next_offset, EXCLUDED.next_offset) \
                                ELSE EXCLUDED.next_offset END, \
             cluster_id = EXCLUDED.cluster_id, updated_at = now()",
    )
    .bind(group)
    .bind(&topics)
    .bind(&partitions)
    .bind(&offsets)
    .bind(cluster_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Keeps the dashboards' materialized views fresh beside a [`PostgresSink`]
/// ([`PostgresSink::view_refresher`]). Clones share the sink's "views are stale" flag.
#[derive(Clone)]
pub struct ViewRefresher {
    pool: PgPool,
    stale: Arc<AtomicBool>,
    interval: Duration,
}

impl ViewRefresher {
    /// Every `interval` until `shutdown`: refreshes the views if KPI points were written since
    /// the last refresh. A failed refresh is logged and tried again next time.
    pub async fn run(self, shutdown: tokio_util::sync::CancellationToken) {
        let mut ticks = tokio::time::interval(self.interval.max(Duration::from_millis(100)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if self.stale.swap(false, Ordering::AcqRel) {
                let started = Instant::now();
                match refresh_views(&self.pool).await {
                    Ok(()) => {
                        tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "dashboard views refreshed")
                    }
                    Err(error) => {
                        self.stale.store(true, Ordering::Release);
                        tracing::warn!(%error, "refreshing the dashboard views failed; trying again");
                    }
                }
            }
        }
    }
}

/// Refreshes the dashboards' materialized views without blocking their readers.
pub async fn refresh_views(pool: &PgPool) -> Result<(), sqlx::Error> {
    for view in ["kpi_latest", "kpi_daily"] {
        sqlx::query(&format!("REFRESH MATERIALIZED VIEW CONCURRENTLY {view}")).execute(pool).await?;
    }
    Ok(())
}
