//! Log-and-count events of the webhook deliverer and the `signalcraft_webhook_*` metrics.
//! Endpoints are named, never their URLs (they may hold tokens).

use std::{sync::LazyLock, time::Duration};

use prometheus::{register_int_counter_vec, IntCounterVec};

// Registering a metric fails only on a duplicate name: a defect, caught by any test run.
static DELIVERIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "signalcraft_webhook_deliveries_total",
        "Notifications delivered to, or given up on by, a webhook endpoint.",
        &["endpoint", "outcome"]
    )
    .expect("metric registers once")
});
static RETRIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "signalcraft_webhook_failed_attempts_total",
        "Webhook attempts that failed and were retried.",
        &["endpoint"]
    )
    .expect("metric registers once")
});

/// An attempt failed; the next comes after `wait`.
pub(super) struct AttemptFailed<'a> {
    pub endpoint: &'a str,
    pub reason: &'a str,
    pub wait: Duration,
}

impl AttemptFailed<'_> {
    pub fn emit(self) {
        RETRIES.with_label_values(&[self.endpoint]).inc();
        tracing::warn!(
            endpoint = self.endpoint,
            reason = self.reason,
            retry_in_ms = self.wait.as_millis() as u64,
            "webhook attempt failed; retrying"
        );
    }
}

/// A delivery is over: delivered, or failed for good (recorded in webhook_deliveries).
pub(super) struct DeliveryFinished<'a> {
    pub endpoint: &'a str,
    pub notification_id: &'a str,
    pub delivered: bool,
    pub attempts: u32,
    pub error: Option<&'a str>,
}

impl DeliveryFinished<'_> {
    pub fn emit(self) {
        let outcome = if self.delivered { "delivered" } else { "failed" };
        DELIVERIES.with_label_values(&[self.endpoint, outcome]).inc();
        if self.delivered {
            tracing::info!(
                endpoint = self.endpoint,
                notification = self.notification_id,
                attempts = self.attempts,
                "webhook delivered"
            );
        } else {
            tracing::error!(
                endpoint = self.endpoint,
                notification = self.notification_id,
                attempts = self.attempts,
                error = self.error.unwrap_or_default(),
                "webhook delivery failed for good; recorded in webhook_deliveries"
            );
        }
    }
}
