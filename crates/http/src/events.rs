//! What a fetcher reports about its requests, and to whom. The fetcher knows when a request is
//! sent and when one fails; which log line and which metric that becomes belongs to its caller
//! (a source counts `signalcraft_source_*`, a webhook `signalcraft_webhook_*`). A caller hands
//! its [`RequestEvents`] to the fetcher; each of its events logs and counts together, in the
//! caller's crate, so log text and metric labels never drift apart.

use std::time::Duration;

/// One HTTP request is about to be sent (every attempt counts, retries included).
#[derive(Debug, Clone, Copy)]
pub struct RequestSent<'a> {
    /// The fetcher's provider (a source's provider name, a webhook's endpoint name).
    pub provider: &'a str,
    pub method: &'a str,
    /// Redacted.
    pub url: &'a str,
    pub attempt: u32,
}

/// One HTTP attempt failed. `retry_in` is the wait before the next attempt, `None` when the
/// fetcher gives up (the cause is not retryable or the attempts are used up).
#[derive(Clone, Copy)]
pub struct RequestFailed<'a> {
    pub provider: &'a str,
    /// Redacted.
    pub url: &'a str,
    pub attempt: u32,
    /// The cause's [`crate::FetchCause::kind`].
    pub kind: &'static str,
    /// The cause, redacted.
    pub error: &'a crate::FetchCause,
    pub retry_in: Option<Duration>,
}

/// Where a fetcher's request events go.
pub trait RequestEvents: Send + Sync {
    fn request_sent(&self, event: RequestSent<'_>);
    fn request_failed(&self, event: RequestFailed<'_>);
}

/// The events of a fetcher whose caller gave none: logged, not counted.
pub(crate) struct LogOnly;

impl RequestEvents for LogOnly {
    fn request_sent(&self, event: RequestSent<'_>) {
        tracing::debug!(
            provider = event.provider,
            method = event.method,
            url = event.url,
            attempt = event.attempt,
            "requesting"
        );
    }

    fn request_failed(&self, event: RequestFailed<'_>) {
        tracing::warn!(
            provider = event.provider,
            url = event.url,
            attempt = event.attempt,
            kind = event.kind,
            error = %event.error,
            retry_in_ms = event.retry_in.map(|wait| wait.as_millis() as u64),
            "request failed"
        );
    }
}
