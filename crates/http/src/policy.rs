//! How hard an HTTP caller tries: the one policy block every source and webhook endpoint shares.
//!
//! [`HttpPolicy`] is the policy in full. As written in the configuration it comes in layers,
//! each an [`HttpPolicyOverrides`] whose unset fields fall through to the layer below:
//!
//! 1. the caller's own table (`[ingest.gdelt.http]`, `[[ingest.fx.providers]] http = {…}`,
//!    `[[webhooks.endpoints]] http = {…}`);
//! 2. `[http_client]`, the defaults of every HTTP caller in the process;
//! 3. the caller's built-in defaults (an [`HttpPolicy`]: GDELT waits longer than a webhook).
//!
//! [`FetchPolicy`] is the runtime form a fetcher applies: the policy as durations, plus the
//! upstream's pacing (a fact about the upstream, so configured beside its URL) and redirects.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Most attempts a policy may ask for: beyond this a failing upstream holds a poll for hours.
pub const MAX_ATTEMPTS_LIMIT: u32 = 20;

/// One caller's HTTP policy, every field set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpPolicy {
    /// Longest milliseconds one request may take, from connecting to the last body byte.
    pub timeout_ms: u64,
    /// Attempts per request, the first included (1..=20).
    pub max_attempts: u32,
    /// Wait before the first retry, in milliseconds; it doubles per retry, plus up to 100% jitter.
    pub initial_backoff_ms: u64,
    /// Retry waits stop growing here (before jitter), in milliseconds.
    pub max_backoff_ms: u64,
    /// Longest `Retry-After` obeyed, in seconds; an upstream asking for longer waits this long.
    pub max_retry_after_secs: u64,
}

impl Default for HttpPolicy {
    /// Ten seconds per request, four attempts, backoff from 1 s to 30 s, `Retry-After` up to 2 min.
    fn default() -> Self {
        HttpPolicy {
            timeout_ms: 10_000,
            max_attempts: 4,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 30_000,
            max_retry_after_secs: 120,
        }
    }
}

/// A policy value that cannot work: the key as written and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct InvalidHttpPolicy {
    pub key: String,
    pub message: String,
}

impl HttpPolicy {
    /// Checks every value; `prefix` is where the policy's table sits (e.g. `ingest.gdelt.http`),
    /// so the error names the key as the user wrote it.
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidHttpPolicy> {
        let bad = |key: &str, message: String| Err(InvalidHttpPolicy { key: format!("{prefix}.{key}"), message });
        if self.timeout_ms == 0 {
            return bad("timeout_ms", "must be at least 1 millisecond".into());
        }
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(&self.max_attempts) {
            return bad("max_attempts", format!("{} is not between 1 and {MAX_ATTEMPTS_LIMIT}", self.max_attempts));
        }
        if self.max_backoff_ms < self.initial_backoff_ms {
            return bad(
                "max_backoff_ms",
                format!("{} is below initial_backoff_ms ({})", self.max_backoff_ms, self.initial_backoff_ms),
            );
        }
        Ok(())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn initial_backoff(&self) -> Duration {
        Duration::from_millis(self.initial_backoff_ms)
    }

    pub fn max_backoff(&self) -> Duration {
        Duration::from_millis(self.max_backoff_ms)
    }

    pub fn max_retry_after(&self) -> Duration {
        Duration::from_secs(self.max_retry_after_secs)
    }
}

/// One layer of an [`HttpPolicy`] as written: each field set here wins over the layer below;
/// an unset field falls through (see the module docs for the layers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpPolicyOverrides {
    /// See [`HttpPolicy::timeout_ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// See [`HttpPolicy::max_attempts`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// See [`HttpPolicy::initial_backoff_ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_backoff_ms: Option<u64>,
    /// See [`HttpPolicy::max_backoff_ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff_ms: Option<u64>,
    /// See [`HttpPolicy::max_retry_after_secs`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retry_after_secs: Option<u64>,
}

impl HttpPolicyOverrides {
    /// `base` with every field set here replacing its own.
    pub fn over(&self, base: HttpPolicy) -> HttpPolicy {
        HttpPolicy {
            timeout_ms: self.timeout_ms.unwrap_or(base.timeout_ms),
            max_attempts: self.max_attempts.unwrap_or(base.max_attempts),
            initial_backoff_ms: self.initial_backoff_ms.unwrap_or(base.initial_backoff_ms),
            max_backoff_ms: self.max_backoff_ms.unwrap_or(base.max_backoff_ms),
            max_retry_after_secs: self.max_retry_after_secs.unwrap_or(base.max_retry_after_secs),
        }
    }

    /// These overrides with every unset field taken from `below` (e.g. a source's own table
    /// over `[http_client]`).
    pub fn or(&self, below: &HttpPolicyOverrides) -> HttpPolicyOverrides {
        HttpPolicyOverrides {
            timeout_ms: self.timeout_ms.or(below.timeout_ms),
            max_attempts: self.max_attempts.or(below.max_attempts),
            initial_backoff_ms: self.initial_backoff_ms.or(below.initial_backoff_ms),
            max_backoff_ms: self.max_backoff_ms.or(below.max_backoff_ms),
            max_retry_after_secs: self.max_retry_after_secs.or(below.max_retry_after_secs),
        }
    }

    /// Checks the fields that are set, on their own (a pair such as the two backoffs is checked
    /// where the policy is complete); `prefix` names the table, e.g. `http_client`.
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidHttpPolicy> {
        // Checked against a base that passes, so only the fields set here can fail; the
        // backoff pair is left out because its other half may come from another layer.
        let base = HttpPolicy { initial_backoff_ms: 0, max_backoff_ms: u64::MAX, ..HttpPolicy::default() };
        let mut alone = *self;
        alone.initial_backoff_ms = None;
        alone.max_backoff_ms = None;
        alone.over(base).validate(prefix)
    }
}

/// How one fetcher calls its upstream: pacing, timeout, retries and redirects, as durations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Least time between the starts of two requests (retries included). Zero: no pacing.
    pub min_interval: Duration,
    /// Longest a whole request may take, from connecting to the last body byte.
    pub timeout: Duration,
    /// Attempts per fetch, the first included (at least 1).
    pub max_attempts: u32,
    /// Longest `Retry-After` that is obeyed; longer values are cut to this.
    pub max_retry_after: Duration,
    /// First retry delay; it doubles per retry (plus up to 100% jitter).
    pub backoff_min: Duration,
    /// Retry delays stop growing here (before jitter).
    pub backoff_max: Duration,
    /// Redirects followed per request; zero: a redirect is an answer like any other.
    pub max_redirects: usize,
}

impl FetchPolicy {
    /// The runtime form of `policy` for an upstream paced at `min_interval`; redirects keep
    /// their default.
    pub fn configured(min_interval: Duration, policy: &HttpPolicy) -> Self {
        FetchPolicy {
            min_interval,
            timeout: policy.timeout(),
            max_attempts: policy.max_attempts,
            max_retry_after: policy.max_retry_after(),
            backoff_min: policy.initial_backoff(),
            backoff_max: policy.max_backoff(),
            ..FetchPolicy::default()
        }
    }
}

impl Default for FetchPolicy {
    fn default() -> Self {
        let policy = HttpPolicy::default();
        FetchPolicy {
            min_interval: Duration::from_secs(1),
            timeout: policy.timeout(),
            max_attempts: policy.max_attempts,
            max_retry_after: policy.max_retry_after(),
            backoff_min: policy.initial_backoff(),
            backoff_max: policy.max_backoff(),
            max_redirects: 5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_fall_through_field_by_field() {
        let builtin = HttpPolicy { timeout_ms: 30_000, max_attempts: 3, ..HttpPolicy::default() };
        let shared = HttpPolicyOverrides { max_attempts: Some(6), max_retry_after_secs: Some(9), ..Default::default() };
        let own = HttpPolicyOverrides { max_attempts: Some(2), ..Default::default() };
        let policy = own.or(&shared).over(builtin);
        assert_eq!(
            policy,
            HttpPolicy { timeout_ms: 30_000, max_attempts: 2, max_retry_after_secs: 9, ..HttpPolicy::default() }
        );
        assert_eq!(HttpPolicyOverrides::default().over(builtin), builtin);
    }

    #[test]
    fn bad_values_are_named_by_key() {
        let error = |policy: HttpPolicy| policy.validate("ingest.gdelt.http").expect_err("refused").to_string();
        assert_eq!(HttpPolicy::default().validate("x"), Ok(()));
        assert_eq!(
            error(HttpPolicy { max_attempts: 0, ..HttpPolicy::default() }),
            "ingest.gdelt.http.max_attempts: 0 is not between 1 and 20"
        );
        assert_eq!(
            error(HttpPolicy { timeout_ms: 0, ..HttpPolicy::default() }),
            "ingest.gdelt.http.timeout_ms: must be at least 1 millisecond"
        );
        assert_eq!(
            error(HttpPolicy { initial_backoff_ms: 5_000, max_backoff_ms: 1_000, ..HttpPolicy::default() }),
            "ingest.gdelt.http.max_backoff_ms: 1000 is below initial_backoff_ms (5000)"
        );
        let shared = HttpPolicyOverrides { max_attempts: Some(21), ..Default::default() };
        assert_eq!(
            shared.validate("http_client").expect_err("refused").to_string(),
            "http_client.max_attempts: 21 is not between 1 and 20"
        );
        let backoff_only = HttpPolicyOverrides { max_backoff_ms: Some(10), ..Default::default() };
        assert_eq!(backoff_only.validate("http_client"), Ok(()), "the pair is checked where it is complete");
    }

    #[test]
    fn the_runtime_policy_carries_every_field() {
        let policy = HttpPolicy {
            timeout_ms: 150,
            max_attempts: 2,
            initial_backoff_ms: 50,
            max_backoff_ms: 5_000,
            max_retry_after_secs: 7,
        };
        let fetch = FetchPolicy::configured(Duration::from_millis(20), &policy);
        assert_eq!(fetch.min_interval, Duration::from_millis(20));
        assert_eq!(fetch.timeout, Duration::from_millis(150));
        assert_eq!(fetch.max_attempts, 2);
        assert_eq!(fetch.backoff_min, Duration::from_millis(50));
        assert_eq!(fetch.backoff_max, Duration::from_secs(5));
        assert_eq!(fetch.max_retry_after, Duration::from_secs(7));
    }
}
