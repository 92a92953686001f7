//! Writes one consumed batch effectively-once: in ONE transaction it reads and locks the stored
//! offsets of the batch's partitions (the fence), drops records a previous attempt already
//! wrote, keeps the last record per natural key, COPYs the rest into a staging table, upserts
//! them into their tables, and advances the stored offsets. Either all of it commits or none.
//! The read models dashboards read (latest point, hourly and daily rollups, daily sentiment,
//! alert states) are folded in by the tables' triggers within the same transaction
//! (migration `read_models`), so they commit with the rows and offsets or not at all.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    time::Instant,
};

use async_trait::async_trait;
use chrono::NaiveDate;
use rdkafka::message::{Message, OwnedMessage};
use signalcraft_kafka::{BatchHandler, DeadLetter, HandlerError};
use signalcraft_model::{
    AlertNotification, BrandMetric, FxRate, KpiAnomaly, KpiForecast, KpiPoint, NewsArticle, Plausibility, RecordCodec,
    ScoredArticle, Topic, WeatherObservation, WireFormat,
};
use sqlx::{Acquire, PgConnection, PgPool};

use super::{
    copy::CopyEncoder,
    partitions,
    rows::Rows,
    tables::{upsert_sql, SinkTable},
    telemetry,
};

/// Writes the messages of one topic into its table.
#[async_trait]
trait TopicWriter: Send + Sync {
    fn topic(&self) -> Topic;
    fn table(&self) -> &'static str;
    fn accept_schema_id(&mut self, schema_id: u32);
    /// The UTC months (first days) of the rows at `indices`, for a table partitioned by month;
    /// empty for any other table. Records that do not decode have no month.
    fn months(&self, batch: &[OwnedMessage], indices: &[usize]) -> BTreeSet<NaiveDate>;
    fn set_plausibility(&mut self, window: Plausibility);
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
    fn months(&self, batch: &[OwnedMessage], indices: &[usize]) -> BTreeSet<NaiveDate> {
        if !T::PARTITIONED_BY_MONTH {
            return BTreeSet::new();
        }
        indices
            .iter()
            .filter_map(|&i| self.codec.decode(batch[i].payload().unwrap_or_default()).ok())
            .filter_map(|record| record.partition_time())
            .map(partitions::month_of)
            .collect()
    }
    fn set_plausibility(&mut self, window: Plausibility) {
        self.codec = self.codec.clone().with_plausibility(window);
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
}

impl PostgresSink {
    /// A sink writing through `pool`, storing offsets under consumer group `group`.
    pub fn new(pool: PgPool, group: impl Into<String>) -> Self {
        PostgresSink { pool, group: group.into(), cluster_id: String::new(), writers: table_writers() }
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

    /// Judges the timestamps of these topics by these windows instead of their defaults.
    pub fn with_plausibility(mut self, windows: &HashMap<Topic, Plausibility>) -> Self {
        for writer in &mut self.writers {
            if let Some(&window) = windows.get(&writer.topic()) {
                writer.set_plausibility(window);
            }
        }
        self
    }

    /// The topics this sink has tables for.
    pub fn topics() -> Vec<String> {
        table_writers().iter().map(|writer| writer.topic().name().to_string()).collect()
    }

    /// Writes `batch`; returns the messages to dead-letter. Exposed for the benchmark.
    ///
    /// A row in a month whose partition does not exist yet (a backfill, a partner's history)
    /// makes PostgreSQL refuse the batch: the partitions of the batch's months are then created,
    /// each in its own short transaction, and the batch is written again.
    ///
    /// When PostgreSQL refuses the batch for a value in it (a data error, which retrying never
    /// cures), the transaction is rolled back and the batch written again with each table's
    /// records in halves under savepoints, down to the single records PostgreSQL refuses: those
    /// become dead letters with its message, the rest commits with every offset of the batch.
    /// The first attempt is the plain fast path; only a refused batch pays for isolation.
    pub async fn write_batch(&mut self, batch: &[OwnedMessage]) -> Result<Vec<DeadLetter>, sqlx::Error> {
        let written = match self.write_once(batch, false).await {
            Err(error) if partitions::is_missing_partition(&error) => {
                self.create_partitions_for(batch).await?;
                self.write_once(batch, false).await
            }
            written => written,
        };
        match written {
            Err(error) if data_error_code(&error).is_some() => {
                let sqlstate = data_error_code(&error).unwrap_or_default();
                telemetry::BatchIsolating { records: batch.len(), sqlstate: &sqlstate, error: &error }.emit();
                self.write_once(batch, true).await
            }
            other => other,
        }
    }

    /// Creates the monthly partitions the rows of `batch` need.
    async fn create_partitions_for(&self, batch: &[OwnedMessage]) -> Result<(), sqlx::Error> {
        for writer in self.writers.iter().filter(|writer| partitions::PARTITIONED_TABLES.contains(&writer.table())) {
            let indices: Vec<usize> = batch
                .iter()
                .enumerate()
                .filter(|(_, message)| message.topic() == writer.topic().name())
                .map(|(index, _)| index)
                .collect();
            let months = writer.months(batch, &indices);
            partitions::ensure_months(&self.pool, writer.table(), &months).await?;
        }
        Ok(())
    }

    /// One transaction writing `batch`; with `isolate`, every table's records are written under
    /// savepoints in halves until the records PostgreSQL refuses are isolated.
    async fn write_once(&mut self, batch: &[OwnedMessage], isolate: bool) -> Result<Vec<DeadLetter>, sqlx::Error> {
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
        let mut connection = self.pool.acquire().await?;
        let (group, cluster_id, writers) = (&self.group, &self.cluster_id, &mut self.writers);
        let outcome = async {
            let mut tx = connection.begin().await?;
            let fence = load_fence(&mut tx, group, cluster_id, &next_offsets).await?;
            let mut written = Vec::with_capacity(writers.len());
            for (writer, indices) in writers.iter_mut().zip(by_writer) {
                let past_fence: Vec<usize> = match fence.get(writer.topic().name()) {
                    Some(fence) => indices
                        .into_iter()
                        .filter(|&i| fence.get(&batch[i].partition()).is_none_or(|next| batch[i].offset() >= *next))
                        .collect(),
                    None => indices,
                };
                let rows = if isolate {
                    write_isolating(writer.as_mut(), &mut tx, batch, &past_fence, &mut dead).await?
                } else {
                    writer.write(&mut tx, batch, &past_fence, &mut dead).await?
                };
                written.push((writer.table(), rows));
            }
            store_offsets(&mut tx, group, cluster_id, &next_offsets).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(written)
        }
        .await;
        let written = match outcome {
            Ok(written) => written,
            Err(error) => {
                // An error PostgreSQL reported leaves the connection in step with the server;
                // any other (a protocol desync, a broken socket) may not: close it rather than
                // pool it, so the retry is not handed the same broken connection again.
                if !matches!(error, sqlx::Error::Database(_)) {
                    connection.close_on_drop();
                }
                return Err(error);
            }
        };
        for &(table, rows) in &written {
            telemetry::BatchWritten { table, rows, elapsed: started.elapsed() }.emit();
        }
        Ok(dead)
    }
}

#[async_trait]
impl BatchHandler for PostgresSink {
    async fn handle(&mut self, batch: &[OwnedMessage]) -> Result<Vec<DeadLetter>, HandlerError> {
        // Data errors never reach here (write_batch isolates and dead-letters the records
        // PostgreSQL refuses), so what remains is connectivity, locks, resources and restarts:
        // transient, and the consumer loop hands the batch again after its backoff.
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

/// Writes the messages at `indices` under a savepoint; when PostgreSQL refuses them for their
/// data, rolls back to it and writes each half the same way, in order (so the later record of a
/// natural key still wins), until a refused part is a single record: that one is dead-lettered
/// with PostgreSQL's message. Dead letters of a refused attempt are dropped, as its parts judge
/// the same records again.
async fn write_isolating(
    writer: &mut dyn TopicWriter,
    tx: &mut PgConnection,
    batch: &[OwnedMessage],
    indices: &[usize],
    dead: &mut Vec<DeadLetter>,
) -> Result<u64, sqlx::Error> {
    let mut written = 0;
    // A stack of parts still to write, the next one on top.
    let mut parts: Vec<&[usize]> = vec![indices];
    while let Some(part) = parts.pop() {
        if part.is_empty() {
            continue;
        }
        let mut part_dead = Vec::new();
        sqlx::query("SAVEPOINT signalcraft_isolate").execute(&mut *tx).await?;
        match writer.write(tx, batch, part, &mut part_dead).await {
            Ok(rows) => {
                sqlx::query("RELEASE SAVEPOINT signalcraft_isolate").execute(&mut *tx).await?;
                written += rows;
                dead.append(&mut part_dead);
            }
            Err(error) => {
                let Some(sqlstate) = data_error_code(&error) else { return Err(error) };
                sqlx::query("ROLLBACK TO SAVEPOINT signalcraft_isolate").execute(&mut *tx).await?;
                sqlx::query("RELEASE SAVEPOINT signalcraft_isolate").execute(&mut *tx).await?;
                match part {
                    [index] => {
                        let message = match &error {
                            sqlx::Error::Database(db) => db.message().to_string(),
                            other => other.to_string(),
                        };
                        let reason = format!("PostgreSQL refused the row: {message} (SQLSTATE {sqlstate})");
                        dead.push(DeadLetter::new(&batch[*index], reason));
                    }
                    _ => {
                        let (first, second) = part.split_at(part.len() / 2);
                        parts.push(second);
                        parts.push(first);
                    }
                }
            }
        }
    }
    Ok(written)
}

/// The SQLSTATE of an error caused by the data written, which no retry can cure: class 22 (data
/// exception: a value out of range), class 23 (integrity constraint violation: a CHECK, NOT NULL
/// or key) and 54000 (a value over a program limit, such as an index entry too large).
/// Connection, resource (class 53) and lock errors are not, and stay transient.
fn data_error_code(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(db) => db
            .code()
            .filter(|code| code.starts_with("22") || code.starts_with("23") || code == "54000")
            .map(|code| code.into_owned()),
        _ => None,
    }
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
