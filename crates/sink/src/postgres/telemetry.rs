//! Telemetry of the PostgreSQL sink: events that log and count together.

use std::{sync::LazyLock, time::Duration};

use prometheus::{register_histogram_vec, register_int_counter_vec, HistogramVec, IntCounterVec};

// Registering fails only on a duplicate name: a defect, caught by any test run.
static ROWS_WRITTEN: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "signalcraft_sink_rows_written_total",
        "Rows inserted or changed by the sink.",
        &["table"]
    )
    .expect("metric registers once")
});
static BATCH_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!("signalcraft_sink_batch_seconds", "Time to write one batch transaction.", &["table"])
        .expect("metric registers once")
});

/// A batch committed.
pub struct BatchWritten {
    pub table: &'static str,
    pub rows: u64,
    pub elapsed: Duration,
}

impl BatchWritten {
    pub fn emit(self) {
        if self.rows == 0 {
            return;
        }
        tracing::debug!(
            table = self.table,
            rows = self.rows,
            elapsed_ms = self.elapsed.as_millis() as u64,
            "batch written"
        );
        ROWS_WRITTEN.with_label_values(&[self.table]).inc_by(self.rows);
        BATCH_SECONDS.with_label_values(&[self.table]).observe(self.elapsed.as_secs_f64());
    }
}

static RETENTION_REMOVED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "signalcraft_retention_removed_total",
        "What retention removed: whole monthly partitions, expired rows, purged webhook payloads.",
        &["table", "what"]
    )
    .expect("metric registers once")
});

/// Retention removed something (or, in a dry run, would have).
pub struct RetentionApplied<'a> {
    pub table: &'a str,
    /// `partitions`, `rows` or `payloads`.
    pub what: &'static str,
    pub count: u64,
    pub dry_run: bool,
}

impl RetentionApplied<'_> {
    pub fn emit(self) {
        if self.count == 0 {
            return;
        }
        if self.dry_run {
            tracing::info!(table = self.table, what = self.what, count = self.count, "retention would remove");
            return;
        }
        tracing::info!(table = self.table, what = self.what, count = self.count, "retention removed");
        RETENTION_REMOVED.with_label_values(&[self.table, self.what]).inc_by(self.count);
    }
}

/// Registers the retention counter at zero for every (table, what) retention can remove, so a
/// first removal shows as an increase.
pub fn register_retention_at_zero() {
    for (table, what) in [
        ("kpi_points", "partitions"),
        ("kpi_anomalies", "partitions"),
        ("news_articles", "rows"),
        ("news_sentiment", "rows"),
        ("webhook_deliveries", "payloads"),
    ] {
        RETENTION_REMOVED.with_label_values(&[table, what]).inc_by(0);
    }
}

static BATCHES_ISOLATED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "signalcraft_sink_batches_isolated_total",
        "Batches PostgreSQL refused for their data, written again record by record range.",
        &["sqlstate"]
    )
    .expect("metric registers once")
});

/// PostgreSQL refused a batch for a value in it: the batch is written again in halves to
/// isolate the records it refuses.
pub struct BatchIsolating<'a> {
    pub records: usize,
    pub sqlstate: &'a str,
    pub error: &'a sqlx::Error,
}

impl BatchIsolating<'_> {
    pub fn emit(self) {
        tracing::warn!(
            records = self.records,
            sqlstate = self.sqlstate,
            error = %self.error,
            "PostgreSQL refused a batch for its data; writing it again in halves to isolate the refused records"
        );
        BATCHES_ISOLATED.with_label_values(&[self.sqlstate]).inc();
    }
}
