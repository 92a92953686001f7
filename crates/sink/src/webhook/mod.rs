//! Webhook deliveries of alert notifications (alerts.notifications → HTTP POST).
//!
//! Each notification goes to every configured endpoint whose `min_severity` it meets, as JSON,
//! with the headers a receiver needs to trust and dedupe it:
//! - `Idempotency-Key`: the notification id, the same on every attempt and every redelivery;
//! - `Signalcraft-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>` — the
//!   timestamp is signed with the body, so a receiver can refuse stale replays ([`signature`]);
//! - `Signalcraft-Delivery-Attempt`: 1, 2, …
//!
//! Each endpoint is called through its own `signalcraft-http` fetcher, so attempts, backoff,
//! `Retry-After`, the judgement of what is retried (timeouts, connection errors, 408, 429 and
//! 5xx; any other answer is final) and redaction are the same code every source uses; the
//! endpoint's `http` policy sets the numbers. Every outcome — delivered, or failed after the
//! last attempt — is recorded in `webhook_deliveries` with the payload, so an exhausted
//! delivery is kept, not dropped, and a notification consumed again (at-least-once) is not sent again to an endpoint
//! that already has an outcome. Between a delivery and its record a crash can cause one
//! repeat; the idempotency key lets the receiver drop it.
//!
//! `signalcraft webhooks redeliver` sends FAILED deliveries again once a receiver is back
//! ([`WebhookDeliverer::redeliver_failed`]), with the same idempotency key.
//!
//! Endpoint URLs may carry tokens (chat webhooks do): logs, errors and metrics name the
//! endpoint, never its URL, and never the key. Receivers echo what they were sent (the request
//! path, in error pages), so every receiver text is passed through a [`Redactor`](signalcraft_model::Redactor) that knows
//! each endpoint's URL and key before it is logged or stored in `webhook_deliveries.last_error`.
//!
//! # Layout
//! - [`config`]: `[webhooks]` and `[[webhooks.endpoints]]`, checked by name.
//! - [`deliverer`]: [`WebhookDeliverer`], the batch handler: who receives what, each POST
//!   signed afresh per attempt, outcomes recorded; redelivery of FAILED ones.
//! - [`deliveries`]: the `webhook_deliveries` table: what is settled, recording outcomes.
//! - [`payload`]: the JSON body a receiver gets.
//! - [`signature`]: the `Signalcraft-Signature` header, signing and verifying.
//! - [`telemetry`]: log-and-count events, `signalcraft_webhook_*` metrics.

mod config;
mod deliverer;
mod deliveries;
mod payload;
pub mod signature;
mod telemetry;

pub use self::{
    config::{InvalidWebhookConfig, WebhookConfig, WebhookEndpointConfig},
    deliverer::{Redelivery, WebhookDeliverer, WebhookSetupError},
};
