//! `[api]`: the tenant API's settings — token signing and lifetime, rate limits, CORS, the
//! database login it reads through, and how long live events are kept.

use serde::{Deserialize, Serialize};

/// `[api]`
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// HS256 key that signs and checks the API's tokens, at least 32 bytes (a secret: set it with
    /// `SIGNALCRAFT_API__SIGNING_KEY`, never in a file under version control). Unset: `run`
    /// makes a random key per process (tokens end with the process), and `serve`, `token issue`
    /// refuse to start without one.
    #[serde(default, skip_serializing)]
    pub signing_key: Option<String>,
    /// Lifetime of an issued token, in seconds.
    #[serde(default = "default_token_ttl_secs")]
    pub token_ttl_secs: u64,
    /// Requests per minute each caller (token subject, or API key at `/token`) may make;
    /// beyond it, 429 with `Retry-After`.
    #[serde(default = "default_requests_per_minute")]
    pub requests_per_minute: u32,
    /// Requests a caller may make at once before the per-minute rate applies.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Origins a browser may call the API from (`https://dash.example.com`); `["*"]` allows any.
    /// Empty: no CORS headers, same-origin pages only.
    #[serde(default)]
    pub cors_allowed_origins: Vec<String>,
    /// PostgreSQL URL of the login the API reads through; it must be granted
    /// `signalcraft_reader` and `signalcraft_editor`. Unset: the pipeline's database login
    /// (which the migrations grant both roles).
    #[serde(default, skip_serializing)]
    pub database_url: Option<String>,
    /// Connections of the API's pool.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Largest KPI upload (`POST …/kpis`), in bytes: CSV is read as it streams in and refused
    /// with 413 past this; JSON is read whole, up to this.
    #[serde(default = "default_max_upload_bytes")]
    pub max_upload_bytes: u64,
    /// How long live events (`/events`) are kept for clients resuming with `Last-Event-ID`.
    #[serde(default = "default_events_retention_hours")]
    pub events_retention_hours: u32,
    /// How often an events stream looks for new events when no notification woke it (a
    /// notification lost while the listener reconnected, events held back by a transaction
    /// still running).
    #[serde(default = "default_events_poll_ms")]
    pub events_poll_ms: u64,
}

fn default_token_ttl_secs() -> u64 {
    15 * 60
}
fn default_requests_per_minute() -> u32 {
    600
}
fn default_burst() -> u32 {
    60
}
fn default_max_connections() -> u32 {
    10
}
fn default_max_upload_bytes() -> u64 {
    32 * 1024 * 1024
}
fn default_events_retention_hours() -> u32 {
    24
}
fn default_events_poll_ms() -> u64 {
    1000
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            signing_key: None,
            token_ttl_secs: default_token_ttl_secs(),
            requests_per_minute: default_requests_per_minute(),
            burst: default_burst(),
            cors_allowed_origins: Vec::new(),
            database_url: None,
            max_connections: default_max_connections(),
            max_upload_bytes: default_max_upload_bytes(),
            events_retention_hours: default_events_retention_hours(),
            events_poll_ms: default_events_poll_ms(),
        }
    }
}

/// Never prints the signing key or the database URL (its password).
impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("signing_key", &self.signing_key.as_ref().map(|_| "<redacted>"))
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("burst", &self.burst)
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .field("database_url", &self.database_url.as_ref().map(|_| "<redacted>"))
            .field("max_connections", &self.max_connections)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("events_retention_hours", &self.events_retention_hours)
            .field("events_poll_ms", &self.events_poll_ms)
            .finish()
    }
}

impl ApiConfig {
    /// Checks what serde cannot, naming the key at fault.
    pub fn check(&self) -> Result<(), String> {
        if let Some(key) = &self.signing_key {
            if key.len() < 32 {
                return Err(format!(
                    "api.signing_key: {} bytes is shorter than the 32 an HS256 key needs (SIGNALCRAFT_API__SIGNING_KEY)",
                    key.len()
                ));
            }
        }
        if !(60..=24 * 3600).contains(&self.token_ttl_secs) {
            return Err(format!("api.token_ttl_secs: {} is not between 60 and 86400", self.token_ttl_secs));
        }
        if self.requests_per_minute == 0 {
            return Err("api.requests_per_minute: must be at least 1".into());
        }
        if self.burst == 0 {
            return Err("api.burst: must be at least 1".into());
        }
        if self.max_connections == 0 {
            return Err("api.max_connections: must be at least 1".into());
        }
        if !(1024..=(1u64 << 34)).contains(&self.max_upload_bytes) {
            return Err(format!("api.max_upload_bytes: {} is not between 1024 and 16 GiB", self.max_upload_bytes));
        }
        if !(100..=60_000).contains(&self.events_poll_ms) {
            return Err(format!("api.events_poll_ms: {} is not between 100 and 60000", self.events_poll_ms));
        }
        for origin in &self.cors_allowed_origins {
            if origin != "*" && axum::http::HeaderValue::from_str(origin).is_err() {
                return Err(format!("api.cors_allowed_origins: `{}` is not a valid origin", origin.escape_debug()));
            }
        }
        Ok(())
    }
}
