//! Webhook deliveries of alert notifications (alerts.notifications → HTTP POST).
//!
//! Each notification goes to every configured endpoint whose `min_severity` it meets, as JSON,
//! with the headers a receiver needs to trust and dedupe it:
//! - `Idempotency-Key`: the notification id, the same on every attempt and every redelivery;
//! - `Signalcraft-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>` — the
//!   timestamp is signed with the body, so a receiver can refuse stale replays ([`signature`]);
//! - `Signalcraft-Delivery-Attempt`: 1, 2, …
//!
//! Attempts are bounded (`max_attempts`) with exponential backoff (backon) that honours a
//! receiver's `Retry-After`. Timeouts, connection errors, 408, 429 and 5xx are retried; any
//! other answer is final. Every outcome — delivered, or failed after the last attempt — is
//! recorded in `webhook_deliveries` with the payload, so an exhausted delivery is kept, not
//! dropped, and a notification consumed again (at-least-once) is not sent again to an endpoint
//! that already has an outcome. Between a delivery and its record a crash can cause one
//! repeat; the idempotency key lets the receiver drop it.
//!
//! `signalcraft webhooks redeliver` sends FAILED deliveries again once a receiver is back
//! ([`WebhookDeliverer::redeliver_failed`]), with the same idempotency key.
//!
//! Endpoint URLs may carry tokens (chat webhooks do): logs, errors and metrics name the
//! endpoint, never its URL, and never the key. Receivers echo what they were sent (the request
//! path, in error pages), so every receiver text is passed through a [`Redactor`] that knows
//! each endpoint's URL and key before it is logged or stored in `webhook_deliveries.last_error`.

mod config;
pub mod signature;
mod telemetry;

use std::{collections::HashSet, time::Duration};

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use rdkafka::message::{Message, OwnedMessage};
use reqwest::{header::HeaderValue, StatusCode};
use serde::Serialize;
use signalcraft_kafka::{BatchHandler, DeadLetter, HandlerError};
use signalcraft_model::{
    AlertNotification, AlertTransition, Plausibility, RecordCodec, Redactor, Severity, Topic, WireFormat,
};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub use self::config::{InvalidWebhookConfig, WebhookConfig, WebhookEndpointConfig};

/// One endpoint, ready to send: its settings and its key.
struct Endpoint {
    config: WebhookEndpointConfig,
    key: Vec<u8>,
}

/// What one delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    notification_id: String,
    endpoint: String,
    delivered: bool,
    attempts: u32,
    http_status: Option<u16>,
    last_error: Option<String>,
    payload: String,
    first_attempt_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
}

/// The body POSTed: the notification, its instant as RFC 3339.
#[derive(Debug, Serialize)]
struct Payload<'a> {
    notification_id: &'a str,
    alert_id: &'a str,
    dedupe_key: &'a str,
    rule_id: Option<i64>,
    series_id: &'a str,
    tenant_id: Option<&'a str>,
    transition: AlertTransition,
    severity: Severity,
    message: &'a str,
    value: f64,
    score: Option<f64>,
    occurred_at: DateTime<Utc>,
}

impl<'a> From<&'a AlertNotification> for Payload<'a> {
    fn from(n: &'a AlertNotification) -> Self {
        Payload {
            notification_id: &n.notification_id,
            alert_id: &n.alert_id,
            dedupe_key: &n.dedupe_key,
            rule_id: n.rule_id,
            series_id: &n.series_id,
            tenant_id: n.tenant_id.as_deref(),
            transition: n.transition,
            severity: n.severity,
            message: &n.message,
            value: n.value,
            score: n.score,
            occurred_at: n.occurred_at,
        }
    }
}

/// Why one attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AttemptError {
    /// Worth another attempt, after at least `retry_after` when the receiver said so.
    Retryable { status: Option<u16>, reason: String, retry_after: Option<Duration> },
    /// The receiver refused it; another attempt would be refused too.
    Final { status: Option<u16>, reason: String },
}

impl AttemptError {
    fn is_retryable(&self) -> bool {
        matches!(self, AttemptError::Retryable { .. })
    }
    fn status(&self) -> Option<u16> {
        match self {
            AttemptError::Retryable { status, .. } | AttemptError::Final { status, .. } => *status,
        }
    }
    fn reason(&self) -> &str {
        match self {
            AttemptError::Retryable { reason, .. } | AttemptError::Final { reason, .. } => reason,
        }
    }
}

/// The webhook stage: a [`BatchHandler`] over alerts.notifications.
pub struct WebhookDeliverer {
    pool: PgPool,
    client: reqwest::Client,
    endpoints: Vec<Endpoint>,
    codec: RecordCodec<AlertNotification>,
    shutdown: CancellationToken,
    /// Scrubs endpoint URLs, their tokens and keys out of every receiver text.
    redactor: Redactor,
}

/// Why the deliverer cannot start.
#[derive(Debug, thiserror::Error)]
pub enum WebhookSetupError {
    #[error(transparent)]
    Config(#[from] InvalidWebhookConfig),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

impl WebhookDeliverer {
    /// A deliverer for `config`'s endpoints, their keys read from the environment now.
    /// `shutdown` cuts retries short: the batch is then left unstored and delivered again.
    pub fn new(pool: PgPool, config: &WebhookConfig, shutdown: CancellationToken) -> Result<Self, WebhookSetupError> {
        config.validate("webhooks")?;
        let endpoints: Vec<Endpoint> = config
            .endpoints
            .iter()
            .map(|endpoint| Endpoint {
                key: std::env::var(&endpoint.secret_env).unwrap_or_default().into_bytes(),
                config: endpoint.clone(),
            })
            .collect();
        let mut redactor = Redactor::new();
        for endpoint in &endpoints {
            redactor.add_endpoint(&endpoint.config.url);
            redactor.add_secret(&String::from_utf8_lossy(&endpoint.key));
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("signalcraft/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| WebhookSetupError::Client(error.to_string()))?;
        Ok(WebhookDeliverer {
            pool,
            client,
            endpoints,
            codec: RecordCodec::new(WireFormat::SingleObject),
            shutdown,
            redactor,
        })
    }

    /// Also scrubs everything `redactor` knows (the process's other configured secrets) out of
    /// receiver texts.
    pub fn with_redactor(mut self, redactor: &Redactor) -> Self {
        self.redactor.merge(redactor);
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

    /// Endpoint names that already have an outcome for these notifications.
    async fn settled(&self, ids: &[String]) -> Result<HashSet<(String, String)>, sqlx::Error> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT notification_id, endpoint FROM webhook_deliveries WHERE notification_id = ANY($1::text[])",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// Sends one notification's body to `endpoint`, retrying as its settings say; logs and counts
    /// the outcome.
    async fn deliver(&self, endpoint: &Endpoint, notification_id: &str, body: &str) -> Outcome {
        let first_attempt_at = Utc::now();
        let attempts = std::sync::atomic::AtomicU32::new(0);
        let settings = &endpoint.config;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(settings.initial_backoff())
            .with_max_delay(settings.max_backoff())
            .with_max_times(settings.max_attempts.saturating_sub(1) as usize)
            .with_jitter();
        let result = (|| async {
            let attempt = attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            self.attempt(endpoint, notification_id, body, attempt).await
        })
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(AttemptError::is_retryable)
        .adjust(|error, backoff| {
            let wanted = match error {
                AttemptError::Retryable { retry_after: Some(wait), .. } => Some(*wait),
                _ => None,
            };
            backoff.map(|wait| wait.max(wanted.unwrap_or_default()).min(settings.max_backoff()))
        })
        .notify(|error, wait| {
            telemetry::AttemptFailed { endpoint: &settings.name, reason: error.reason(), wait }.emit()
        })
        .await;
        let (delivered, http_status, last_error) = match result {
            Ok(status) => (true, Some(status), None),
            Err(error) => (false, error.status(), Some(error.reason().to_string())),
        };
        let outcome = Outcome {
            notification_id: notification_id.to_string(),
            endpoint: settings.name.clone(),
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

    /// One POST. Ok: the receiver's 2xx status.
    async fn attempt(
        &self,
        endpoint: &Endpoint,
        notification_id: &str,
        body: &str,
        attempt: u32,
    ) -> Result<u16, AttemptError> {
        let signed_at = Utc::now().timestamp();
        let signature = signature::sign(&endpoint.key, signed_at, body.as_bytes());
        let sent = self
            .client
            .post(&endpoint.config.url)
            .timeout(endpoint.config.timeout())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", notification_id)
            .header(signature::HEADER, signature)
            .header("Signalcraft-Delivery-Attempt", attempt.to_string())
            .body(body.to_string())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            // Without the URL: it may hold a token. Redacted still: a proxy's message may quote it.
            Err(error) => {
                let reason = self.redactor.redact(&error.without_url().to_string()).into_owned();
                return Err(AttemptError::Retryable { status: None, reason, retry_after: None });
            }
        };
        let status = response.status();
        if status.is_success() {
            return Ok(status.as_u16());
        }
        let retry_after = response.headers().get(reqwest::header::RETRY_AFTER).and_then(parse_retry_after);
        // Redacted before it is cut: a cut through an echoed token would leave a prefix that no
        // longer matches it.
        let text = response.text().await.unwrap_or_default();
        let excerpt: String = self.redactor.redact(&text).chars().take(200).collect();
        let reason = format!("HTTP {}: {}", status.as_u16(), excerpt.trim());
        let status_code = Some(status.as_u16());
        if status.is_server_error() || matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT) {
            Err(AttemptError::Retryable { status: status_code, reason, retry_after })
        } else {
            Err(AttemptError::Final { status: status_code, reason })
        }
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
            sqlx::query(
                "UPDATE webhook_deliveries SET status = $3, attempts = attempts + $4, http_status = $5, \
                        last_error = $6, finished_at = $7 \
                 WHERE notification_id = $1 AND endpoint = $2",
            )
            .bind(&outcome.notification_id)
            .bind(&outcome.endpoint)
            .bind(if outcome.delivered { "DELIVERED" } else { "FAILED" })
            .bind(outcome.attempts as i32)
            .bind(outcome.http_status.map(i32::from))
            .bind(&outcome.last_error)
            .bind(outcome.finished_at)
            .execute(&self.pool)
            .await?;
        }
        Ok(summary)
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(text).ok()?.with_timezone(&Utc);
    (at - Utc::now()).to_std().ok()
}

/// Records `outcomes` (one statement). An outcome already recorded is kept as it was.
async fn record(pool: &PgPool, outcomes: &[Outcome]) -> Result<(), sqlx::Error> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&Outcome) -> String| outcomes.iter().map(f).collect::<Vec<_>>();
    let statuses: Vec<&str> = outcomes.iter().map(|o| if o.delivered { "DELIVERED" } else { "FAILED" }).collect();
    let attempts: Vec<i32> = outcomes.iter().map(|o| o.attempts as i32).collect();
    let http_statuses: Vec<Option<i32>> = outcomes.iter().map(|o| o.http_status.map(i32::from)).collect();
    let errors: Vec<Option<String>> = outcomes.iter().map(|o| o.last_error.clone()).collect();
    let first: Vec<DateTime<Utc>> = outcomes.iter().map(|o| o.first_attempt_at).collect();
    let finished: Vec<DateTime<Utc>> = outcomes.iter().map(|o| o.finished_at).collect();
    sqlx::query(
        "INSERT INTO webhook_deliveries (notification_id, endpoint, status, attempts, http_status, last_error, \
                                         payload, first_attempt_at, finished_at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::text[], \
                              $7::text[]::jsonb[], $8::timestamptz[], $9::timestamptz[]) \
         ON CONFLICT (notification_id, endpoint) DO NOTHING",
    )
    .bind(column(|o| o.notification_id.clone()))
    .bind(column(|o| o.endpoint.clone()))
    .bind(&statuses)
    .bind(&attempts)
    .bind(&http_statuses)
    .bind(&errors)
    .bind(column(|o| o.payload.clone()))
    .bind(&first)
    .bind(&finished)
    .execute(pool)
    .await?;
    Ok(())
}

/// Severities in increasing urgency.
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
        let settled =
            self.settled(&ids).await.map_err(|error| HandlerError(format!("reading webhook_deliveries: {error}")))?;
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
                    if let Err(error) = record(&self.pool, &outcomes).await {
                        // Those notifications are sent again by the next run, idempotency key and all.
                        tracing::warn!(%error, "cannot record the webhook deliveries finished before shutdown");
                    }
                    return Err(HandlerError("shut down during webhook deliveries".into()));
                }
            };
            outcomes.extend(delivered);
        }
        record(&self.pool, &outcomes)
            .await
            .map_err(|error| HandlerError(format!("recording webhook deliveries: {error}")))?;
        Ok(dead)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date() {
        assert_eq!(parse_retry_after(&HeaderValue::from_static("7")), Some(Duration::from_secs(7)));
        let later = (Utc::now() + chrono::TimeDelta::seconds(30)).to_rfc2822();
        let wait = parse_retry_after(&HeaderValue::from_str(&later).expect("header")).expect("a date");
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30), "{wait:?}");
        assert_eq!(parse_retry_after(&HeaderValue::from_static("soon")), None);
    }

    #[test]
    fn severities_rank_by_urgency() {
        use config::severity_rank as rank;
        assert!(rank(Severity::Critical) > rank(Severity::Warning) && rank(Severity::Warning) > rank(Severity::Info));
    }
}
