//! The at-least-once consumer loop every stage runs (after rust-rdkafka's `at_least_once`
//! example): consume a batch, let the stage make its effect durable, dead-letter what it
//! refused, and only then store the batch's offsets for the next commit. A crash between the
//! effect and the commit can repeat a batch, never skip one; stages make repeats harmless
//! (deterministic outputs, upserts on natural keys, offsets fenced in PostgreSQL).
//!
//! A stage that keeps its offsets elsewhere (the PostgreSQL sink) passes an [`OffsetStore`]; on
//! every partition assignment the loop seeks to the offsets that store holds.

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use rdkafka::{
    config::RDKafkaLogLevel,
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, StreamConsumer},
    error::KafkaError,
    message::{Message, OwnedMessage},
    statistics::Statistics,
    types::RDKafkaRespErr,
    ClientContext, Offset, TopicPartitionList,
};
use tokio::time::{sleep, Instant};
use tokio_util::sync::CancellationToken;

use crate::{
    dlq::DeadLetter,
    producer::RecordProducer,
    settings::{ConsumerSettings, KafkaSettings},
    telemetry,
};

/// A transient failure: nothing of the batch counts as done, and the loop hands the same batch
/// again after a pause (a database that is restarting, a broker that is unreachable).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HandlerError(pub String);

/// What a stage does with a batch of consumed messages.
#[async_trait]
pub trait BatchHandler: Send {
    /// Makes the effect of `batch` durable and returns the messages to dead-letter (records it
    /// could not decode or process). Must be idempotent: a batch may be handed more than once.
    async fn handle(&mut self, batch: &[OwnedMessage]) -> Result<Vec<DeadLetter>, HandlerError>;
}

/// Offsets kept outside Kafka, next to the data they describe.
pub trait OffsetStore: Send + Sync + 'static {
    /// The next offset to read for each of `partitions` of `topic` that has one. Called from the
    /// rebalance callback, so it may block for a short while.
    fn load(&self, group: &str, topic: &str, partitions: &[i32]) -> Result<HashMap<i32, i64>, String>;
}

/// The consumer's context: seeks on assignment and turns statistics into lag metrics.
pub struct LoopContext {
    group: String,
    offset_store: Option<Arc<dyn OffsetStore>>,
}

impl ClientContext for LoopContext {
    fn stats(&self, statistics: Statistics) {
        for (topic, topic_stats) in &statistics.topics {
            for (partition, partition_stats) in &topic_stats.partitions {
                // librdkafka reports the internal "unassigned" partition as -1 and unknown lag as -1.
                if *partition >= 0 && partition_stats.consumer_lag >= 0 {
                    telemetry::consumer_lag(&self.group, topic, *partition, partition_stats.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for LoopContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                if let Some(store) = &self.offset_store {
                    self.apply_stored_offsets(store.as_ref(), tpl);
                }
                tracing::info!(group = %self.group, partitions = ?partition_names(tpl), "partitions assigned");
                if let Err(error) = consumer.assign(tpl) {
                    tracing::error!(group = %self.group, %error, "cannot take the assigned partitions");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!(group = %self.group, partitions = ?partition_names(tpl), "partitions revoked");
                if let Err(error) = consumer.unassign() {
                    tracing::error!(group = %self.group, %error, "cannot give up the revoked partitions");
                }
            }
            other => {
                tracing::error!(group = %self.group, error = ?other, "rebalance failed; dropping the assignment");
                let _ = consumer.unassign();
            }
        }
    }
}

impl LoopContext {
    fn apply_stored_offsets(&self, store: &dyn OffsetStore, tpl: &mut TopicPartitionList) {
        let mut by_topic: HashMap<String, Vec<i32>> = HashMap::new();
        for element in tpl.elements() {
            by_topic.entry(element.topic().to_string()).or_default().push(element.partition());
        }
        for (topic, partitions) in by_topic {
            match store.load(&self.group, &topic, &partitions) {
                Ok(offsets) => {
                    for (partition, offset) in offsets {
                        if let Err(error) = tpl.set_partition_offset(&topic, partition, Offset::Offset(offset)) {
                            tracing::error!(%topic, partition, %error, "cannot seek to the stored offset");
                        } else {
                            tracing::info!(group = %self.group, %topic, partition, offset, "seeking to the offset stored with the data");
                        }
                    }
                }
                // Falling back to Kafka's committed offsets is safe: they never run ahead of the
                // stored ones (Kafka is committed after the store), and the store fences repeats.
                Err(error) => tracing::error!(
                    group = %self.group, %topic, %error,
                    "cannot load stored offsets; resuming from Kafka's committed offsets"
                ),
            }
        }
    }
}

fn partition_names(tpl: &TopicPartitionList) -> Vec<String> {
    tpl.elements().iter().map(|e| format!("{}/{}", e.topic(), e.partition())).collect()
}

/// Creates the group consumer for `settings`.
fn create_consumer(
    kafka: &KafkaSettings,
    settings: &ConsumerSettings,
    offset_store: Option<Arc<dyn OffsetStore>>,
) -> Result<StreamConsumer<LoopContext>, KafkaError> {
    let session_ms = settings.session_timeout.as_millis().max(1);
    let mut config = kafka.client_config(&settings.stage);
    config
        .set("group.id", &settings.group_id)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        // Offsets are stored by this loop after the effect is durable, never on receipt.
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", session_ms.to_string())
        .set("heartbeat.interval.ms", (session_ms / 3).max(1).to_string())
        .set("statistics.interval.ms", "5000")
        .set_log_level(RDKafkaLogLevel::Warning);
    for (key, value) in &kafka.properties {
        config.set(key, value);
    }
    config.create_with_context(LoopContext { group: settings.group_id.clone(), offset_store })
}

/// Runs one stage until `shutdown` fires: finishes the batch in hand, stores and commits its
/// offsets, flushes the dead-letter producer, and leaves the group.
pub async fn run_consumer<H: BatchHandler>(
    kafka: &KafkaSettings,
    settings: &ConsumerSettings,
    offset_store: Option<Arc<dyn OffsetStore>>,
    dlq: &RecordProducer,
    mut handler: H,
    shutdown: CancellationToken,
) -> Result<(), KafkaError> {
    let consumer = create_consumer(kafka, settings, offset_store)?;
    let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    tracing::info!(stage = %settings.stage, group = %settings.group_id, ?topics, "consumer started");

    loop {
        let batch = next_batch(&consumer, settings, &shutdown).await;
        if !batch.is_empty() {
            if !deliver(&mut handler, dlq, settings, &batch, &shutdown).await {
                // Shut down while the batch was failing: leave its offsets unstored so the
                // next owner of these partitions reads it again.
                break;
            }
            store_offsets(&consumer, &batch);
            telemetry::BatchHandled { stage: &settings.stage, records: batch.len() }.emit();
        }
        if shutdown.is_cancelled() {
            break;
        }
    }

    if let Err(error) = consumer.commit_consumer_state(CommitMode::Sync) {
        // Nothing stored since the last commit is a normal outcome here.
        if !matches!(error, KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) {
            tracing::warn!(stage = %settings.stage, %error, "final offset commit failed; the batch may be read again");
        }
    }
    if let Err(error) = dlq.flush(Duration::from_secs(10)) {
        tracing::warn!(stage = %settings.stage, %error, "dead-letter producer did not flush");
    }
    tracing::info!(stage = %settings.stage, "consumer stopped");
    Ok(())
}

/// Waits for the first message (or shutdown), then gathers more until the batch is full or its
/// wait is over. Shutdown ends the wait; what was gathered is still handled.
async fn next_batch(
    consumer: &StreamConsumer<LoopContext>,
    settings: &ConsumerSettings,
    shutdown: &CancellationToken,
) -> Vec<OwnedMessage> {
    let mut batch = Vec::new();
    let mut deadline: Option<Instant> = None;
    while batch.len() < settings.batch_max_records {
        let wait = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = wait => break,
            received = consumer.recv() => match received {
                Ok(message) => {
                    batch.push(message.detach());
                    deadline.get_or_insert_with(|| Instant::now() + settings.batch_max_wait);
                }
                Err(error) => {
                    tracing::warn!(stage = %settings.stage, %error, "consume error; continuing");
                    sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    batch
}

/// Hands the batch to the stage until it succeeds, then dead-letters what it refused. Returns
/// false when shutdown came before the batch could be made durable.
async fn deliver<H: BatchHandler>(
    handler: &mut H,
    dlq: &RecordProducer,
    settings: &ConsumerSettings,
    batch: &[OwnedMessage],
    shutdown: &CancellationToken,
) -> bool {
    let dead_letters = loop {
        match handler.handle(batch).await {
            Ok(dead_letters) => break dead_letters,
            Err(error) => {
                telemetry::BatchFailed { stage: &settings.stage, error: &error.0 }.emit();
                tokio::select! {
                    _ = shutdown.cancelled() => return false,
                    _ = sleep(settings.retry_backoff) => {}
                }
            }
        }
    };
    if dead_letters.is_empty() {
        return true;
    }
    loop {
        match dlq.send_dead_letters(&settings.stage, &dead_letters).await {
            Ok(()) => return true,
            Err(error) => {
                tracing::error!(stage = %settings.stage, %error, "cannot write dead letters; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return false,
                    _ = sleep(settings.retry_backoff) => {}
                }
            }
        }
    }
}

/// Stores, per partition, the offset after the last message of the batch.
fn store_offsets(consumer: &StreamConsumer<LoopContext>, batch: &[OwnedMessage]) {
    let mut next: HashMap<(&str, i32), i64> = HashMap::new();
    for message in batch {
        let slot = next.entry((message.topic(), message.partition())).or_insert(0);
        *slot = (*slot).max(message.offset() + 1);
    }
    let mut tpl = TopicPartitionList::with_capacity(next.len());
    for ((topic, partition), offset) in next {
        if let Err(error) = tpl.add_partition_offset(topic, partition, Offset::Offset(offset)) {
            tracing::warn!(%topic, partition, %error, "cannot record offset");
        }
    }
    if let Err(error) = consumer.store_offsets(&tpl) {
        // Happens when the partition was revoked meanwhile; its new owner re-reads the batch.
        tracing::warn!(%error, "offsets not stored (partition revoked?); the batch may be read again");
    }
}
