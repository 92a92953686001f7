//! Telemetry of the Kafka layer. Each event is a struct whose `emit()` both logs and counts, so
//! log text and metric labels never drift apart. Metrics live in the process-wide Prometheus
//! registry that the binary serves on `/metrics`.

use std::{sync::LazyLock, time::Duration};

use prometheus::{
    register_gauge_vec, register_int_counter_vec, register_int_gauge_vec, GaugeVec, IntCounterVec, IntGaugeVec,
};
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
static CONSUME_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "signalcraft_consume_errors_total",
        "Errors reading from the broker (each followed by a growing pause).",
        &["stage"]
    )
    .expect("metric registers once")
});
static BATCH_RETRY_BACKOFF: LazyLock<GaugeVec> = LazyLock::new(|| {
    register_gauge_vec!(
        "signalcraft_batch_retry_backoff_seconds",
        "Pause before the next retry of the failing batch in hand; 0 when no batch is failing.",
        &["stage"]
    )
    .expect("metric registers once")
});
static CONSUMER_LAG: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "signalcraft_consumer_lag_records",
        "Records between the group's committed offset and the partition's high watermark.",
        &["group", "topic", "partition"]
    )
    .expect("metric registers once")
});
static CONSUMER_LAG_SECONDS: LazyLock<GaugeVec> = LazyLock::new(|| {
    register_gauge_vec!(
        "signalcraft_consumer_lag_seconds",
        "Age of the oldest record the group has not committed (by its Kafka timestamp); 0 when caught up.",
        &["group", "topic", "partition"]
    )
    .expect("metric registers once")
});
static LAG_CHECK_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "signalcraft_consumer_lag_check_failures_total",
        "Lag measurements that failed (the gauges then keep their last values).",
        &["group"]
    )
    .expect("metric registers once")
});

/// Registers at zero the series of a consumer stage, so that `increase()` sees its first
/// event and dashboards show the stage before anything happened to it.
pub fn stage_started(stage: &str, topics: &[String]) {
    CONSUMED_RECORDS.with_label_values(&[stage]);
    BATCH_FAILURES.with_label_values(&[stage]);
    CONSUME_ERRORS.with_label_values(&[stage]);
    BATCH_RETRY_BACKOFF.with_label_values(&[stage]).set(0.0);
    for topic in topics {
        DLQ_RECORDS.with_label_values(&[topic, stage]);
    }
}

/// Registers at zero the produced-records series of every topic.
pub fn producer_started() {
    for topic in Topic::ALL {
        RECORDS_PRODUCED.with_label_values(&[topic.name()]);
    }
}

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

/// A batch failed transiently and will be handed again after `pause`.
pub struct BatchFailed<'a> {
    pub stage: &'a str,
    pub error: &'a str,
    pub pause: Duration,
}

impl BatchFailed<'_> {
    pub fn emit(self) {
        tracing::warn!(
            stage = self.stage,
            error = self.error,
            retry_in_secs = self.pause.as_secs_f64(),
            "batch failed; retrying it"
        );
        BATCH_FAILURES.with_label_values(&[self.stage]).inc();
        batch_retry_backoff(self.stage, self.pause);
    }
}

/// Sets the pause before the next retry of the stage's failing batch (0: none is failing).
pub fn batch_retry_backoff(stage: &str, pause: Duration) {
    BATCH_RETRY_BACKOFF.with_label_values(&[stage]).set(pause.as_secs_f64());
}

/// Reading from the broker failed; the loop tries again after `pause`.
pub struct ConsumeFailed<'a> {
    pub stage: &'a str,
    pub error: &'a str,
    pub pause: Duration,
}

impl ConsumeFailed<'_> {
    pub fn emit(self) {
        tracing::warn!(
            stage = self.stage,
            error = self.error,
            retry_in_secs = self.pause.as_secs_f64(),
            "consume error; trying again"
        );
        CONSUME_ERRORS.with_label_values(&[self.stage]).inc();
    }
}

/// The measured lag of one partition of one group.
pub struct LagMeasured<'a> {
    pub group: &'a str,
    pub topic: &'a str,
    pub partition: i32,
    pub records: i64,
    /// `None` when the oldest unconsumed record could not be read: the gauge keeps its value.
    pub seconds: Option<f64>,
}

impl LagMeasured<'_> {
    pub fn emit(self) {
        tracing::trace!(
            group = self.group,
            topic = self.topic,
            partition = self.partition,
            records = self.records,
            seconds = ?self.seconds,
            "consumer lag measured"
        );
        let partition = self.partition.to_string();
        let labels = [self.group, self.topic, partition.as_str()];
        CONSUMER_LAG.with_label_values(&labels).set(self.records);
        let seconds = CONSUMER_LAG_SECONDS.with_label_values(&labels);
        if let Some(value) = self.seconds {
            seconds.set(value);
        }
    }
}

/// Measuring a group's lag failed.
pub struct LagCheckFailed<'a> {
    pub group: &'a str,
    pub error: &'a str,
}

impl LagCheckFailed<'_> {
    pub fn emit(self) {
        tracing::warn!(group = self.group, error = self.error, "cannot measure consumer lag; keeping the last figures");
        LAG_CHECK_FAILURES.with_label_values(&[self.group]).inc();
    }
}

/// Registers the lag-check failure counter of `group` at zero.
pub fn lag_monitor_started(group: &str) {
    LAG_CHECK_FAILURES.with_label_values(&[group]);
}
