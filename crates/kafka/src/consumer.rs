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

/// The consumer's context: seeks on assignment. (Lag is measured by [`crate::lag`], from
/// committed offsets, so that it keeps moving when this loop stalls.)
pub struct LoopContext {
    group: String,
    offset_store: Option<Arc<dyn OffsetStore>>,
}

impl ClientContext for LoopContext {}

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

    telemetry::stage_started(&settings.stage, &settings.topics);
    loop {
        let batch = next_batch(&consumer, settings, &shutdown).await;
        if !batch.is_empty() {
            settings.health.batch_started();
            let delivered = deliver(&mut handler, dlq, settings, &batch, &shutdown).await;
            settings.health.batch_finished();
            if !delivered {
                // Shut down before the batch was durable: leave its offsets unstored so the
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
    let mut backoff = Backoff::new(CONSUME_ERROR_BACKOFF, CONSUME_ERROR_BACKOFF_MAX);
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
                    backoff.reset();
                }
                Err(error) => {
                    // An unreachable broker answers every recv at once: back off so the loop
                    // neither spins nor floods the log, and still notices shutdown.
                    let pause = backoff.next_pause();
                    telemetry::ConsumeFailed { stage: &settings.stage, error: &error.to_string(), pause }.emit();
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = sleep(pause) => {}
                    }
                }
            },
        }
    }
    batch
}

/// Hands the batch to the stage until it succeeds, then dead-letters what it refused. Returns
/// false when shutdown came before the batch could be made durable.
///
/// Shutdown also abandons an attempt in flight, rather than waiting for it: a sink waiting
/// for a database that is down, or a processor forecasting thousands of series, would hold
/// SIGTERM for tens of seconds. Abandoning is safe because nothing of the batch counts as done
/// until this returns true and the loop stores its offsets: dropping the sink's future drops
/// its open transaction, which rolls back rows and stored offsets together
/// (`signalcraft_sink::PostgresSink::write_batch`); a processor's outputs are deterministic and
/// at-least-once, so whatever it already produced is produced again, identically, by whoever
/// reads the batch next (`signalcraft_process::ProcessorStage`). The handler is not used
/// again: after `false` the loop stops, so state half-updated by the abandoned attempt is
/// dropped with it.
async fn deliver<H: BatchHandler>(
    handler: &mut H,
    dlq: &RecordProducer,
    settings: &ConsumerSettings,
    batch: &[OwnedMessage],
    shutdown: &CancellationToken,
) -> bool {
    let mut backoff = Backoff::new(settings.retry_backoff, settings.retry_backoff_max);
    let dead_letters = loop {
        let attempt = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return false,
            attempt = handler.handle(batch) => attempt,
        };
        match attempt {
            Ok(dead_letters) => break dead_letters,
            Err(error) => {
                settings.health.attempt_failed();
                let pause = backoff.next_pause();
                telemetry::BatchFailed { stage: &settings.stage, error: &error.0, pause }.emit();
                tokio::select! {
                    _ = shutdown.cancelled() => return false,
                    _ = sleep(pause) => {}
                }
            }
        }
    };
    telemetry::batch_retry_backoff(&settings.stage, Duration::ZERO);
    if dead_letters.is_empty() {
        return true;
    }
    let mut backoff = Backoff::new(settings.retry_backoff, settings.retry_backoff_max);
    loop {
        let sent = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return false,
            sent = dlq.send_dead_letters(&settings.stage, &dead_letters) => sent,
        };
        match sent {
            Ok(()) => return true,
            Err(error) => {
                tracing::error!(stage = %settings.stage, %error, "cannot write dead letters; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return false,
                    _ = sleep(backoff.next_pause()) => {}
                }
            }
        }
    }
}

/// First and longest pause after a consume error.
const CONSUME_ERROR_BACKOFF: Duration = Duration::from_millis(100);
const CONSUME_ERROR_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Exponential backoff: `first`, doubled after every failure, capped at `max`.
#[derive(Debug)]
struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(first: Duration, max: Duration) -> Self {
        let max = max.max(first);
        Backoff { first, max, next: first }
    }

    fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        pause
    }

    fn reset(&mut self) {
        self.next = self.first;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_starts_over_after_a_reset() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let pauses: Vec<u128> = (0..5).map(|_| backoff.next_pause().as_millis()).collect();
        assert_eq!(pauses, [100, 200, 400, 500, 500]);
        backoff.reset();
        assert_eq!(backoff.next_pause(), Duration::from_millis(100));
    }
}
