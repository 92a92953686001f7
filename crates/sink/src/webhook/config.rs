//! `[webhooks]` in the configuration: the endpoints alert notifications are POSTed to, and
//! how hard each delivery tries (each endpoint's `http` policy, the shared
//! [`HttpPolicy`] block). Secrets are never in the file: each endpoint names the environment
//! variable that holds its HMAC key.

use serde::{Deserialize, Serialize};
use signalcraft_http::{HttpPolicy, HttpPolicyOverrides};
use signalcraft_model::{AlertNotification, Severity};

/// `[webhooks]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Consumer group of the deliverer (reads alerts.notifications).
    #[serde(default = "default_group_id")]
    pub group_id: String,
    /// Where notifications go. Empty (the default): no deliveries.
    #[serde(default)]
    pub endpoints: Vec<WebhookEndpointConfig>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig { group_id: default_group_id(), endpoints: Vec::new() }
    }
}

/// `[[webhooks.endpoints]]`: one receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointConfig {
    /// Names the endpoint in `webhook_deliveries`, logs and metrics. Unique.
    pub name: String,
    /// http(s) URL the notification is POSTed to (redirects are not followed).
    pub url: String,
    /// Environment variable holding the HMAC-SHA256 key the body is signed with.
    pub secret_env: String,
    /// Least severity delivered. Default INFO (everything).
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// The tenant whose alerts it receives, only those; unset: every tenant's (an operator's).
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// How hard each delivery tries (`http = { … }` in the endpoint's table: `timeout_ms`,
    /// `max_attempts`, `initial_backoff_ms`, `max_backoff_ms`, `max_retry_after_secs`; 5xx, 408,
    /// 429 and network errors are retried, a receiver's `Retry-After` honoured). Unset keys come
    /// from `[http_client]`, then from [`WebhookEndpointConfig::HTTP_DEFAULTS`].
    #[serde(default)]
    pub http: HttpPolicyOverrides,
}

impl WebhookEndpointConfig {
    /// Whether this endpoint receives `notification`: severe enough, and of its tenant when it
    /// names one (a tenant's endpoint never receives another tenant's alerts, nor alerts of no
    /// tenant).
    pub fn receives(&self, notification: &AlertNotification) -> bool {
        let tenant_ok = self.tenant_id.is_none() || notification.tenant_id == self.tenant_id;
        tenant_ok && severity_rank(notification.severity) >= severity_rank(self.min_severity)
    }
}

/// Severities in order, least first.
pub(crate) fn severity_rank(severity: Severity) -> u8 {
    match severity {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Critical => 2,
    }
}

fn default_group_id() -> String {
    "signalcraft-webhooks".into()
}
fn default_min_severity() -> Severity {
    Severity::Info
}

impl WebhookEndpointConfig {
    /// An endpoint at `url` signing with the key in `secret_env`, every other setting at its default.
    pub fn new(name: impl Into<String>, url: impl Into<String>, secret_env: impl Into<String>) -> Self {
        WebhookEndpointConfig {
            name: name.into(),
            url: url.into(),
            secret_env: secret_env.into(),
            min_severity: default_min_severity(),
            tenant_id: None,
            http: HttpPolicyOverrides::default(),
        }
    }

    /// The HTTP policy when nothing is configured: 10 s per attempt, 5 attempts, backoff from
    /// 500 ms doubling up to 30 s, and a receiver's `Retry-After` obeyed up to 30 s (no wait
    /// between two attempts is longer than 30 s).
    pub const HTTP_DEFAULTS: HttpPolicy = HttpPolicy {
        timeout_ms: 10_000,
        max_attempts: 5,
        initial_backoff_ms: 500,
        max_backoff_ms: 30_000,
        max_retry_after_secs: 30,
    };

    /// The HTTP policy in full: `http` over [`WebhookEndpointConfig::HTTP_DEFAULTS`]
    /// (`[http_client]` is folded into `http` when the configuration is loaded).
    pub fn http_policy(&self) -> HttpPolicy {
        self.http.over(Self::HTTP_DEFAULTS)
    }
}

/// A webhook setting that cannot work: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct InvalidWebhookConfig {
    pub key: String,
    pub message: String,
}

impl WebhookConfig {
    /// Checks every endpoint, including that its secret variable is set; `prefix` is where
    /// this table sits (`webhooks`), so errors name the key as written.
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidWebhookConfig> {
        self.validate_with(prefix, |name| std::env::var(name).ok())
    }

    /// [`WebhookConfig::validate`] with the environment given (tests).
    pub fn validate_with(
        &self,
        prefix: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(), InvalidWebhookConfig> {
        let mut names = std::collections::BTreeSet::new();
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            let bad = |field: &str, message: String| {
                Err(InvalidWebhookConfig { key: format!("{prefix}.endpoints[{i}].{field}"), message })
            };
            if endpoint.name.trim().is_empty() {
                return bad("name", "must not be empty".into());
            }
            if !names.insert(endpoint.name.as_str()) {
                return bad("name", format!("`{}` names two endpoints", endpoint.name));
            }
            if let Some(problem) =
                endpoint.tenant_id.as_deref().and_then(signalcraft_model::validate::tenant_id_problem)
            {
                return bad("tenant_id", problem);
            }
            match reqwest::Url::parse(&endpoint.url) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
                Ok(_) => return bad("url", format!("`{}` is not an http(s) URL", endpoint.url)),
                Err(error) => return bad("url", format!("`{}` is not a URL: {error}", endpoint.url)),
            }
            // SIGNALCRAFT_* variables are configuration overrides: one holding a key would be
            // read as an unknown configuration key.
            if endpoint.secret_env.starts_with("SIGNALCRAFT_") {
                return bad(
                    "secret_env",
                    format!(
                        "`{}` starts with SIGNALCRAFT_, the prefix of configuration overrides; name the key's \
                         variable otherwise, e.g. OPS_WEBHOOK_KEY",
                        endpoint.secret_env
                    ),
                );
            }
            match env(&endpoint.secret_env) {
                Some(secret) if !secret.is_empty() => {}
                // The variable's name is safe to show; its value never is.
                _ => {
                    return bad(
                        "secret_env",
                        format!("environment variable `{}` (the endpoint's HMAC key) is not set", endpoint.secret_env),
                    )
                }
            }
            if let Err(error) = endpoint.http_policy().validate(&format!("{prefix}.endpoints[{i}].http")) {
                return Err(InvalidWebhookConfig { key: error.key, message: error.message });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_endpoint_setting_is_named() {
        let env = |name: &str| (name == "HOOK_KEY").then(|| "k3y".to_string());
        let config = |edit: fn(&mut WebhookEndpointConfig)| {
            let mut endpoint = WebhookEndpointConfig::new("ops", "https://hooks.example/alerts", "HOOK_KEY");
            edit(&mut endpoint);
            WebhookConfig { endpoints: vec![endpoint], ..WebhookConfig::default() }
        };
        assert_eq!(config(|_| {}).validate_with("webhooks", env), Ok(()));
        let error = |edit| config(edit).validate_with("webhooks", env).expect_err("refused").to_string();
        assert_eq!(
            error(|e| e.secret_env = "MISSING".into()),
            "webhooks.endpoints[0].secret_env: environment variable `MISSING` (the endpoint's HMAC key) is not set"
        );
        assert_eq!(
            error(|e| e.url = "ftp://hooks.example".into()),
            "webhooks.endpoints[0].url: `ftp://hooks.example` is not an http(s) URL"
        );
        assert_eq!(
            error(|e| e.http.max_attempts = Some(0)),
            "webhooks.endpoints[0].http.max_attempts: 0 is not between 1 and 20"
        );
        assert!(error(|e| e.secret_env = "SIGNALCRAFT_HOOK_KEY".into())
            .starts_with("webhooks.endpoints[0].secret_env: `SIGNALCRAFT_HOOK_KEY` starts with SIGNALCRAFT_"));
        let twice = WebhookConfig {
            endpoints: vec![
                WebhookEndpointConfig::new("ops", "https://a.example", "HOOK_KEY"),
                WebhookEndpointConfig::new("ops", "https://b.example", "HOOK_KEY"),
            ],
            ..WebhookConfig::default()
        };
        assert_eq!(
            twice.validate_with("webhooks", env).expect_err("refused").to_string(),
            "webhooks.endpoints[1].name: `ops` names two endpoints"
        );
    }

    #[test]
    fn severities_rank_by_urgency() {
        use super::severity_rank as rank;
        assert!(rank(Severity::Critical) > rank(Severity::Warning) && rank(Severity::Warning) > rank(Severity::Info));
    }
}
