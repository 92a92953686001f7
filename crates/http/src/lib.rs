//! The one HTTP client layer of signalcraft: every upstream source and every webhook endpoint
//! calls out through it, so pacing, timeouts, retries that honour `Retry-After`, the judgement of
//! which failures are worth another attempt, and the scrubbing of secrets out of errors are
//! written once and behave the same everywhere. It sits at the bottom of the data path (it knows
//! nothing of Kafka, records or PostgreSQL): ingest and sink both build on it.
//!
//! # Layout
//! - [`policy`]: [`HttpPolicy`] (timeout, attempts, backoff, `Retry-After` cap), the one config
//!   block every HTTP caller shares, [`HttpPolicyOverrides`] (one layer of it as written) and
//!   [`FetchPolicy`], the runtime form a fetcher applies.
//! - [`cause`]: [`FetchCause`] (why one attempt failed, and whether another can help) and
//!   [`FetchError`] (a fetch that failed for good), status classification, body excerpts.
//! - [`retry`]: the retry loop (backon, exponential backoff with jitter) and `Retry-After`
//!   parsing (delta-seconds and HTTP-dates, capped).
//! - [`redact`]: secret query parameters out of URLs.
//! - [`events`]: [`RequestEvents`], how a caller logs and counts requests under its own metric names.
//! - [`fetcher`]: [`HttpFetcher`], one per provider or endpoint: the client, the rate limiter
//!   (governor), the policy, the redactor.

pub mod cause;
pub mod events;
pub mod fetcher;
pub mod policy;
pub mod redact;
pub mod retry;

pub use cause::{excerpt, json_cause, parse_json, ClientBuildError, ErrorClassifier, FetchCause, FetchError};
pub use events::{RequestEvents, RequestFailed, RequestSent};
pub use fetcher::{HttpFetcher, USER_AGENT};
pub use policy::{FetchPolicy, HttpPolicy, HttpPolicyOverrides, InvalidHttpPolicy};
pub use redact::redact_url;
pub use retry::{parse_retry_after, retry};
