//! [`WebhookDeliverer`]: the batch handler over alerts.notifications. For each notification it
//! picks the endpoints that receive it and have no outcome yet, POSTs the body to each through
//! the endpoint's own [`HttpFetcher`] (signed afresh per attempt, retried as the endpoint's
//! policy says), and records every outcome. Also [`WebhookDeliverer::redeliver_failed`], for an
//! operator once a receiver is back.

use std::{
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use async_trait::async_trait;
use chrono::Utc;
use rdkafka::message::{Message, OwnedMessage};
use reqwest::{header::CONTENT_TYPE, Method, RequestBuilder};
use signalcraft_http::{
    ClientBuildError, FetchCause, FetchPolicy, HttpFetcher, RequestEvents, RequestFailed, RequestSent,
};
use signalcraft_kafka::{BatchHandler, DeadLetter, HandlerError};
use signalcraft_model::{AlertNotification, Plausibility, RecordCodec, Redactor, Topic, WireFormat};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::{
    config::{InvalidWebhookConfig, WebhookConfig, WebhookEndpointConfig},
    deliveries::{self, Outcome},
    payload::Payload,
    signature, telemetry,
};

/// One endpoint, ready to send: its settings, its key and its fetcher.
struct Endpoint {
    config: WebhookEndpointConfig,
    key: Vec<u8>,
    fetcher: HttpFetcher,
}

/// The webhook stage: a [`BatchHandler`] over alerts.notifications.
pub struct WebhookDeliverer {
    pool: PgPool,
    endpoints: Vec<Endpoint>,
    codec: RecordCodec<AlertNotification>,
    shutdown: CancellationToken,
}

/// Why the deliverer cannot start.
#[derive(Debug, thiserror::Error)]
pub enum WebhookSetupError {
    #[error(transparent)]
    Config(#[from] InvalidWebhookConfig),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

impl From<ClientBuildError> for WebhookSetupError {
    fn from(error: ClientBuildError) -> Self {
        WebhookSetupError::Client(error.to_string())
    }
}

/// How a webhook fetcher's attempts are logged and counted: a failed attempt that is retried
/// in `signalcraft_webhook_failed_attempts_total`; the final outcome is the deliverer's to report.
struct WebhookAttempts;

impl RequestEvents for WebhookAttempts {
    fn request_sent(&self, event: RequestSent<'_>) {
        tracing::debug!(endpoint = event.provider, attempt = event.attempt, "posting a webhook");
    }

    fn request_failed(&self, event: RequestFailed<'_>) {
        if let Some(wait) = event.retry_in {
            telemetry::AttemptFailed { endpoint: event.provider, reason: &reason(event.error), wait }.emit();
        }
    }
}

/// A failed attempt in the words `webhook_deliveries.last_error` keeps: `HTTP <status>: <start
/// of the body>` for an answer, the cause otherwise. Redacted already (by the fetcher).
fn reason(cause: &FetchCause) -> String {
    match (cause.status(), cause.body_excerpt()) {
        (Some(status), Some(excerpt)) => format!("HTTP {status}: {}", excerpt.trim()),
        _ => cause.to_string(),
    }
}

impl WebhookDeliverer {
    /// A deliverer for `config`'s endpoints, their keys read from the environment now.
    /// `shutdown` cuts retries short: the batch is then left unstored and delivered again.
    pub fn new(pool: PgPool, config: &WebhookConfig, shutdown: CancellationToken) -> Result<Self, WebhookSetupError> {
        config.validate("webhooks")?;
        let keys: Vec<Vec<u8>> = config
            .endpoints
            .iter()
            .map(|endpoint| std::env::var(&endpoint.secret_env).unwrap_or_default().into_bytes())
            .collect();
        // Receivers echo what they were sent (the request path, in error pages): every
        // endpoint's URL and key is scrubbed from every receiver text, whichever endpoint sent it.
        let mut redactor = Redactor::new();
        for (endpoint, key) in config.endpoints.iter().zip(&keys) {
            redactor.add_endpoint(&endpoint.url);
            redactor.add_secret(&String::from_utf8_lossy(key));
        }
        let mut endpoints = Vec::with_capacity(keys.len());
        for (config, key) in config.endpoints.iter().zip(keys) {
            let policy = FetchPolicy {
                // Receivers are ours to call as often as alerts come; redirects are not followed.
                min_interval: Duration::ZERO,
                max_redirects: 0,
                ..FetchPolicy::configured(Duration::ZERO, &config.http_policy())
            };
            let fetcher =
                HttpFetcher::new(config.name.clone(), policy)?.with_redactor(&redactor).with_events(&WebhookAttempts);
            endpoints.push(Endpoint { config: config.clone(), key, fetcher });
        }
        Ok(WebhookDeliverer { pool, endpoints, codec: RecordCodec::new(WireFormat::SingleObject), shutdown })
    }

    /// Also scrubs everything `redactor` knows (the process's other configured secrets) out of
    /// receiver texts.
    pub fn with_redactor(mut self, redactor: &Redactor) -> Self {
        for endpoint in &mut self.endpoints {
            endpoint.fetcher.merge_redactor(redactor);
        }
        self
    }

    /// Accepts Confluent-framed records carrying this schema-registry id.
    pub fn accept_schema_id(mut self, schema_id: u32) -> Self {
        self.codec = self.codec.accept_schema_id(schema_id);
        self
    }

    /// Judges the timestamps of notifications by `window` instead of the topic's default.
    pub fn with_plausibility(mut self, window: Plausibility) -> Self {
        self.codec = self.codec.with_plausibility(window);
        self
    }

    /// The topic it reads.
    pub fn topic() -> &'static str {
        Topic::AlertsNotifications.name()
    }

    /// Sends one notification's body to `endpoint`, retrying as its policy says; logs and counts
    /// the outcome.
    async fn deliver(&self, endpoint: &Endpoint, notification_id: &str, body: &str) -> Outcome {
        let first_attempt_at = Utc::now();
        let attempts = AtomicU32::new(0);
        // Signed per attempt: the signature's timestamp is when this attempt was sent.
        let signed = |request: RequestBuilder, attempt: u32| {
            attempts.store(attempt, Ordering::Relaxed);
            let signature = signature::sign(&endpoint.key, Utc::now().timestamp(), body.as_bytes());
            request
                .header(CONTENT_TYPE, "application/json")
                .header("Idempotency-Key", notification_id)
                .header(signature::HEADER, signature)
                .header("Signalcraft-Delivery-Attempt", attempt.to_string())
                .body(body.to_string())
        };
        // A 2xx is delivered, whatever its body says.
        let accept = |_: &[u8]| Ok(());
        let result = endpoint.fetcher.send(Method::POST, &endpoint.config.url, signed, accept).await;
        let (delivered, http_status, last_error) = match result {
            Ok((status, ())) => (true, Some(status.as_u16()), None),
            Err(error) => (false, error.cause().status(), Some(reason(error.cause()))),
        };
        let outcome = Outcome {
            notification_id: notification_id.to_string(),
            endpoint: endpoint.config.name.clone(),
            delivered,
            attempts: attempts.into_inner(),
            http_status,
            last_error,
            payload: body.to_string(),
            first_attempt_at,
            finished_at: Utc::now(),
        };
        telemetry::DeliveryFinished {
            endpoint: &outcome.endpoint,
            notification_id: &outcome.notification_id,
            delivered: outcome.delivered,
            attempts: outcome.attempts,
            error: outcome.last_error.as_deref(),
        }
        .emit();
        outcome
    }
}

/// What [`WebhookDeliverer::redeliver_failed`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Redelivery {
    /// FAILED deliveries found for configured endpoints.
    pub found: usize,
    /// Of those, delivered now.
    pub delivered: usize,
}

impl WebhookDeliverer {
    /// Sends every delivery recorded as FAILED again (those of `endpoint` only, when given),
    /// with its recorded payload, its idempotency key and a fresh signature, retrying as the
    /// endpoint's settings say; updates each row with the new outcome (attempts add up). For an
    /// operator once a receiver is back. Deliveries of endpoints no longer configured are left.
    pub async fn redeliver_failed(&self, endpoint: Option<&str>) -> Result<Redelivery, sqlx::Error> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT notification_id, endpoint, payload::text FROM webhook_deliveries \
             WHERE status = 'FAILED' AND ($1::text IS NULL OR endpoint = $1) ORDER BY finished_at",
        )
        .bind(endpoint)
        .fetch_all(&self.pool)
        .await?;
        let mut summary = Redelivery::default();
        for (notification_id, name, payload) in rows {
            let Some(target) = self.endpoints.iter().find(|e| e.config.name == name) else {
                tracing::warn!(endpoint = %name, notification = %notification_id, "not redelivered: endpoint no longer configured");
                continue;
            };
            summary.found += 1;
            let outcome = self.deliver(target, &notification_id, &payload).await;
            summary.delivered += usize::from(outcome.delivered);
            deliveries::update(&self.pool, &outcome).await?;
        }
        Ok(summary)
    }
}

#[async_trait]
impl BatchHandler for WebhookDeliverer {
    /// Delivers the batch's notifications in order, each to its endpoints at once; records the
    /// outcomes; undecodable records become dead letters.
    async fn handle(&mut self, batch: &[OwnedMessage]) -> Result<Vec<DeadLetter>, HandlerError> {
        let mut dead = Vec::new();
        let mut notifications = Vec::with_capacity(batch.len());
        for message in batch {
            match self.codec.decode(message.payload().unwrap_or_default()) {
                Ok(notification) => notifications.push(notification),
                Err(error) => dead.push(DeadLetter::new(message, error.to_string())),
            }
        }
        let ids: Vec<String> = notifications.iter().map(|n| n.notification_id.clone()).collect();
        let settled = deliveries::settled(&self.pool, &ids)
            .await
            .map_err(|error| HandlerError(format!("reading webhook_deliveries: {error}")))?;
        let mut outcomes = Vec::new();
        for notification in &notifications {
            let body = serde_json::to_string(&Payload::from(notification))
                .map_err(|error| HandlerError(format!("encoding a webhook body: {error}")))?;
            let due = self.endpoints.iter().filter(|endpoint| {
                endpoint.config.receives(notification)
                    && !settled.contains(&(notification.notification_id.clone(), endpoint.config.name.clone()))
            });
            let id = notification.notification_id.as_str();
            let deliveries = futures::future::join_all(due.map(|endpoint| self.deliver(endpoint, id, &body)));
            let delivered = tokio::select! {
                delivered = deliveries => delivered,
                () = self.shutdown.cancelled() => {
                    // Keep what finished; the rest of the batch is delivered again by the next run.
                    if let Err(error) = deliveries::record(&self.pool, &outcomes).await {
                        // Those notifications are sent again by the next run, idempotency key and all.
                        tracing::warn!(%error, "cannot record the webhook deliveries finished before shutdown");
                    }
                    return Err(HandlerError("shut down during webhook deliveries".into()));
                }
            };
            outcomes.extend(delivered);
        }
        deliveries::record(&self.pool, &outcomes)
            .await
            .map_err(|error| HandlerError(format!("recording webhook deliveries: {error}")))?;
        Ok(dead)
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
    use signalcraft_http::parse_retry_after as shared_parse_retry_after;

    use super::*;

    /// A receiver's `Retry-After` as the shared HTTP layer reads it for webhooks.
    fn parse_retry_after(value: &HeaderValue) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, value.clone());
        shared_parse_retry_after(&headers, SystemTime::now(), Duration::from_secs(3600))
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date() {
        assert_eq!(parse_retry_after(&HeaderValue::from_static("7")), Some(Duration::from_secs(7)));
        let later = (Utc::now() + chrono::TimeDelta::seconds(30)).to_rfc2822();
        let wait = parse_retry_after(&HeaderValue::from_str(&later).expect("header")).expect("a date");
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30), "{wait:?}");
        assert_eq!(parse_retry_after(&HeaderValue::from_static("soon")), None);
    }

    #[test]
    fn a_failed_attempt_reads_as_status_and_body() {
        let refused = FetchCause::Client { status: 400, body_excerpt: "bad payload ".into() };
        assert_eq!(reason(&refused), "HTTP 400: bad payload");
        assert_eq!(reason(&FetchCause::Connect("refused".into())), "connection failed: refused");
    }
}
