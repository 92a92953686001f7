//! Telemetry of the Kafka layer. Each event is a struct whose `emit()` both logs and counts, so
//! log text and metric labels never drift apart. Metrics live in the process-wide Prometheus
//! registry that the binary serves on `/metrics`.

use std::sync::LazyLock;

use prometheus::{register_int_counter_vec, register_int_gauge_vec, IntCounterVec, IntGaugeVec};
use signalcraft_model::Topic;

// Registering a metric fails only on a duplicate name: a defect, caught by any test run.
static RECORDS_PRODUCED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!("signalcraft_records_produced_total", "Records acknowledged by the broker.", &["topic"])
        .expect("metric registers once")
});
static DLQ_RECORDS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "signalcraft_dlq_records_total",
        "Records sent to the dead-letter topic.",
        &["source_topic", "stage"]
    )
    .expect("metric registers once")
});
static CONSUMED_RECORDS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!("signalcraft_consumed_records_total", "Records handled and stored.", &["stage"])
        .expect("metric registers once")
});
static BATCH_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "signalcraft_batch_failures_total",
        "Batches that failed transiently and were retried.",
        &["stage"]
    )
    .expect("metric registers once")
});
static CONSUMER_LAG: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "signalcraft_consumer_lag_records",
        "Records between the consumer's position and the partition's high watermark.",
        &["group", "topic", "partition"]
    )
    .expect("metric registers once")
});

/// Records produced and acknowledged.
pub struct RecordsProduced {
    pub topic: Topic,
    pub count: usize,
}

impl RecordsProduced {
    pub fn emit(self) {
        tracing::debug!(topic = %self.topic, count = self.count, "records produced");
        RECORDS_PRODUCED.with_label_values(&[self.topic.name()]).inc_by(self.count as u64);
    }
}

/// One record dead-lettered.
pub struct DeadLettered<'a> {
    pub stage: &'a str,
    pub source_topic: &'a str,
    pub error: &'a str,
}

impl DeadLettered<'_> {
    pub fn emit(self) {
        tracing::warn!(
            stage = self.stage,
            source_topic = self.source_topic,
            error = self.error,
            "record sent to the dead-letter topic"
        );
        DLQ_RECORDS.with_label_values(&[self.source_topic, self.stage]).inc();
    }
}

/// A batch made durable and its offsets stored.
pub struct BatchHandled<'a> {
    pub stage: &'a str,
    pub records: usize,
}

impl BatchHandled<'_> {
    pub fn emit(self) {
        tracing::debug!(stage = self.stage, records = self.records, "batch handled");
        CONSUMED_RECORDS.with_label_values(&[self.stage]).inc_by(self.records as u64);
    }
}

/// A batch failed transiently and will be handed again.
pub struct BatchFailed<'a> {
    pub stage: &'a str,
    pub error: &'a str,
}

impl BatchFailed<'_> {
    pub fn emit(self) {
        tracing::warn!(stage = self.stage, error = self.error, "batch failed; retrying it");
        BATCH_FAILURES.with_label_values(&[self.stage]).inc();
    }
}

/// Sets the lag gauge of one partition (from librdkafka statistics).
pub fn consumer_lag(group: &str, topic: &str, partition: i32, lag: i64) {
    CONSUMER_LAG.with_label_values(&[group, topic, &partition.to_string()]).set(lag);
}
