//! Telemetry of the ingest layer. Each event is a struct whose `emit()` both logs and counts, so
//! log text and metric labels never drift apart. Metrics live in the process-wide Prometheus
//! registry that the binary serves on `/metrics`; the `source` label is the source's name (for an
//! HTTP provider, the provider name its fetcher was built with), so request, error and record
//! counts of one upstream can be joined on it.

use std::{sync::LazyLock, time::Duration};

use chrono::{DateTime, Utc};
use prometheus::{register_gauge_vec, register_int_counter_vec, GaugeVec, IntCounterVec};
use signalcraft_http::{RequestEvents, RequestFailed, RequestSent};

// Registering a metric fails only on a duplicate name: a defect, caught by any test run.
static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "signalcraft_source_requests_total",
        "HTTP requests sent to an upstream, retries included.",
        &["source"]
    )
    .expect("metric registers once")
});
static ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "signalcraft_source_errors_total",
        "Failed upstream requests, skipped upstream values and failed produce attempts, by kind.",
        &["source", "kind"]
    )
    .expect("metric registers once")
});
static RECORDS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "signalcraft_source_records_total",
        "Records polled from an upstream and acknowledged by the broker.",
        &["source"]
    )
    .expect("metric registers once")
});
static FALLBACKS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "signalcraft_source_fallbacks_total",
        "Providers of a fall-back chain that failed for a base currency, by the provider tried next \
         (`to` is `none` when the chain ran out).",
        &["source", "base", "from", "to"]
    )
    .expect("metric registers once")
});
static LAST_SUCCESS: LazyLock<GaugeVec> = LazyLock::new(|| {
    register_gauge_vec!(
        "signalcraft_source_last_success_timestamp_seconds",
        "Unix time at which a poll of the source last reached the broker in full.",
        &["source"]
    )
    .expect("metric registers once")
});

/// The `kind` label used when a value in an otherwise good response is skipped.
pub const INVALID_RECORD_KIND: &str = "invalid_record";
/// The `kind` label used when the broker did not acknowledge a poll's records.
pub const PRODUCE_KIND: &str = "produce";
/// The `kind` label used when the watch list could not be read and the last one was used.
pub const WATCH_LIST_KIND: &str = "watch_list";

/// Registers a source's series at zero when it starts: `increase()` then sees its first
/// events, and a source that never succeeds shows a last success at 0 (the epoch), i.e. stale.
pub fn source_started(source: &str) {
    REQUESTS.with_label_values(&[source]);
    RECORDS.with_label_values(&[source]);
    for kind in [INVALID_RECORD_KIND, PRODUCE_KIND, WATCH_LIST_KIND] {
        ERRORS.with_label_values(&[source, kind]);
    }
    LAST_SUCCESS.with_label_values(&[source]).set(0.0);
}

/// How a source's fetchers log and count their requests: every attempt in
/// `signalcraft_source_requests_total`, every failed one in `signalcraft_source_errors_total` by
/// the cause's kind. Handed to each fetcher with [`signalcraft_http::HttpFetcher::with_events`].
pub struct SourceRequests;

impl RequestEvents for SourceRequests {
    fn request_sent(&self, event: RequestSent<'_>) {
        tracing::debug!(
            source = event.provider,
            method = event.method,
            url = event.url,
            attempt = event.attempt,
            "requesting"
        );
        REQUESTS.with_label_values(&[event.provider]).inc();
    }

    fn request_failed(&self, event: RequestFailed<'_>) {
        match event.retry_in {
            Some(wait) => tracing::warn!(
                source = event.provider,
                url = event.url,
                attempt = event.attempt,
                kind = event.kind,
                error = %event.error,
                retry_in_ms = wait.as_millis() as u64,
                "upstream request failed; retrying"
            ),
            None => tracing::warn!(
                source = event.provider,
                url = event.url,
                attempt = event.attempt,
                kind = event.kind,
                error = %event.error,
                "upstream request failed; giving up"
            ),
        }
        ERRORS.with_label_values(&[event.provider, event.kind]).inc();
    }
}

/// A value in an otherwise good response was unusable and its record was skipped.
pub struct InvalidRecordSkipped<'a> {
    pub source: &'a str,
    /// What the value describes, e.g. `USD/XYZ`.
    pub item: &'a str,
    pub reason: &'a str,
}

impl InvalidRecordSkipped<'_> {
    pub fn emit(self) {
        tracing::warn!(
            source = self.source,
            item = self.item,
            reason = self.reason,
            "skipping an unusable upstream value"
        );
        ERRORS.with_label_values(&[self.source, INVALID_RECORD_KIND]).inc();
    }
}

/// A poll (or one part of it, e.g. one base currency) failed; the loop carries on.
pub struct PollFailed<'a> {
    pub source: &'a str,
    pub error: &'a dyn std::fmt::Display,
}

impl PollFailed<'_> {
    pub fn emit(self) {
        // Not counted: every failed HTTP attempt behind this error was counted already.
        tracing::error!(
            source = self.source,
            error = %self.error,
            "polling the source failed; trying again next cycle"
        );
    }
}

/// The watch list could not be read; the source polls what it read last time.
pub struct WatchListUnavailable<'a> {
    pub source: &'a str,
    pub error: &'a dyn std::fmt::Display,
}

impl WatchListUnavailable<'_> {
    pub fn emit(self) {
        ERRORS.with_label_values(&[self.source, WATCH_LIST_KIND]).inc();
        tracing::warn!(
            source = self.source,
            error = %self.error,
            "cannot read the watch list; polling the businesses read last time"
        );
    }
}

/// A provider of a fall-back chain failed for a base currency (after its own retries); the next
/// provider is tried, or, with `next: None`, the chain has run out.
pub struct ProviderFellBack<'a> {
    pub source: &'a str,
    pub base: &'a str,
    pub failed: &'a str,
    pub next: Option<&'a str>,
    pub error: &'a dyn std::fmt::Display,
}

/// The `to` label when a chain has no provider left.
pub const NO_PROVIDER_LEFT: &str = "none";

impl ProviderFellBack<'_> {
    pub fn emit(self) {
        match self.next {
            Some(next) => tracing::warn!(
                source = self.source,
                base = self.base,
                provider = self.failed,
                next,
                error = %self.error,
                "exchange-rate provider failed; falling back to the next"
            ),
            None => tracing::error!(
                source = self.source,
                base = self.base,
                provider = self.failed,
                error = %self.error,
                "exchange-rate provider failed and the chain has no provider left"
            ),
        }
        let to = self.next.unwrap_or(NO_PROVIDER_LEFT);
        FALLBACKS.with_label_values(&[self.source, self.base, self.failed, to]).inc();
    }
}

/// The broker did not acknowledge a poll's records; they are sent again after `retry_in`.
pub struct ProduceFailed<'a> {
    pub source: &'a str,
    pub records: usize,
    pub error: &'a dyn std::fmt::Display,
    pub retry_in: Duration,
}

impl ProduceFailed<'_> {
    pub fn emit(self) {
        tracing::warn!(
            source = self.source,
            records = self.records,
            error = %self.error,
            retry_in_ms = self.retry_in.as_millis() as u64,
            "producing polled records failed; retrying"
        );
        ERRORS.with_label_values(&[self.source, PRODUCE_KIND]).inc();
    }
}

/// A poll's records were all acknowledged by the broker.
pub struct PollDelivered<'a> {
    pub source: &'a str,
    pub records: usize,
    pub at: DateTime<Utc>,
}

impl PollDelivered<'_> {
    pub fn emit(self) {
        tracing::info!(source = self.source, records = self.records, "polled records delivered");
        RECORDS.with_label_values(&[self.source]).inc_by(self.records as u64);
        LAST_SUCCESS.with_label_values(&[self.source]).set(self.at.timestamp_millis() as f64 / 1000.0);
    }
}

/// The current value of one labelled series in the default registry (tests read metrics with it).
#[cfg(test)]
pub(crate) fn metric_value(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let families = prometheus::gather();
    let family = families.iter().find(|family| family.name() == name)?;
    let gauge = name.ends_with("_seconds");
    family.get_metric().iter().find_map(|metric| {
        let matches = labels
            .iter()
            .all(|(k, v)| metric.get_label().iter().any(|label| label.name() == *k && label.value() == *v));
        matches.then(|| if gauge { metric.get_gauge().get_value() } else { metric.get_counter().get_value() })
    })
}

#[cfg(test)]
mod tests {
    use super::{metric_value as value, *};

    #[test]
    fn events_count_under_the_documented_names() {
        let source = "telemetry-test";
        SourceRequests.request_sent(RequestSent { provider: source, method: "GET", url: "http://x/", attempt: 1 });
        let boom = signalcraft_http::FetchCause::Connect("boom".into());
        SourceRequests.request_failed(RequestFailed {
            provider: source,
            url: "http://x/",
            attempt: 1,
            kind: "server",
            error: &boom,
            retry_in: None,
        });
        InvalidRecordSkipped { source, item: "USD/XYZ", reason: "rate is NaN" }.emit();
        let at = DateTime::from_timestamp(1_663_632_002, 0).expect("valid timestamp");
        PollDelivered { source, records: 7, at }.emit();
        ProviderFellBack { source, base: "USD", failed: "a", next: Some("b"), error: &"boom" }.emit();
        ProviderFellBack { source, base: "USD", failed: "b", next: None, error: &"boom" }.emit();

        assert_eq!(value("signalcraft_source_requests_total", &[("source", source)]), Some(1.0));
        assert_eq!(value("signalcraft_source_errors_total", &[("source", source), ("kind", "server")]), Some(1.0));
        assert_eq!(
            value("signalcraft_source_errors_total", &[("source", source), ("kind", INVALID_RECORD_KIND)]),
            Some(1.0)
        );
        assert_eq!(value("signalcraft_source_records_total", &[("source", source)]), Some(7.0));
        assert_eq!(
            value("signalcraft_source_last_success_timestamp_seconds", &[("source", source)]),
            Some(1_663_632_002.0)
        );
        let fallbacks = |from, to| {
            value(
                "signalcraft_source_fallbacks_total",
                &[("source", source), ("base", "USD"), ("from", from), ("to", to)],
            )
        };
        assert_eq!(fallbacks("a", "b"), Some(1.0));
        assert_eq!(fallbacks("b", NO_PROVIDER_LEFT), Some(1.0));
    }
}
