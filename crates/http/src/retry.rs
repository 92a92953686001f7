//! Retries, written once: every HTTP caller (a source's fetcher, a webhook endpoint) retries
//! with the same loop: exponential backoff with jitter (backon), bounded by the policy's
//! attempts, only for causes that [`FetchCause::is_retryable`] calls worth it, and never
//! sooner than the upstream's `Retry-After` (capped when it is read, by [`parse_retry_after`]).

use std::{
    future::Future,
    time::{Duration, SystemTime},
};

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::{cause::FetchCause, policy::FetchPolicy};

/// Runs `attempt` until it succeeds, fails with a cause that is not retryable, or `policy`'s
/// attempts are used up; returns its last result. Before each retry `notify` gets the cause and
/// the wait: the larger of the backoff and the cause's `Retry-After`.
pub async fn retry<T, A, F, N>(policy: &FetchPolicy, attempt: A, notify: N) -> Result<T, FetchCause>
where
    A: FnMut() -> F,
    F: Future<Output = Result<T, FetchCause>>,
    N: FnMut(&FetchCause, Duration),
{
    attempt
        .retry(backoff(policy))
        .sleep(tokio::time::sleep)
        .when(FetchCause::is_retryable)
        .adjust(|cause, backoff| backoff.map(|wait| wait.max(cause.retry_after().unwrap_or_default())))
        .notify(notify)
        .await
}

fn backoff(policy: &FetchPolicy) -> ExponentialBuilder {
    let retries = policy.max_attempts.max(1) - 1;
    ExponentialBuilder::default()
        .with_min_delay(policy.backoff_min)
        .with_max_delay(policy.backoff_max.max(policy.backoff_min))
        .with_max_times(retries as usize)
        .with_jitter()
}

/// An HTTP-date (IMF-fixdate and the two obsolete forms), or, from senders that write it so,
/// an RFC 2822 date with a numeric zone (`+0000` for `GMT`).
fn http_date(value: &str) -> Option<SystemTime> {
    if let Ok(at) = httpdate::parse_http_date(value) {
        return Some(at);
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(SystemTime::from(at))
}

/// `Retry-After` as a wait from `now`: delta-seconds or an HTTP-date, capped at `cap`. A
/// malformed value is ignored (the backoff still applies).
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime, cap: Duration) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        // A date in the past means "now".
        Err(_) => http_date(value)?.duration_since(now).unwrap_or(Duration::ZERO),
    };
    Some(wait.min(cap))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_http_dates_and_is_capped() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let cap = Duration::from_secs(120);
        let mut headers = HeaderMap::new();
        assert_eq!(parse_retry_after(&headers, now, cap), None);

        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(parse_retry_after(&headers, now, cap), Some(Duration::from_secs(7)));

        headers.insert(RETRY_AFTER, HeaderValue::from_static("86400"));
        assert_eq!(parse_retry_after(&headers, now, cap), Some(cap));

        let in_30s = httpdate::fmt_http_date(now + Duration::from_secs(30));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&in_30s).expect("valid header"));
        assert_eq!(parse_retry_after(&headers, now, cap), Some(Duration::from_secs(30)));

        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&past).expect("valid header"));
        assert_eq!(parse_retry_after(&headers, now, cap), Some(Duration::ZERO));

        let numeric_zone = "Tue, 14 Nov 2023 22:13:40 +0000"; // now + 20 s
        headers.insert(RETRY_AFTER, HeaderValue::from_static(numeric_zone));
        assert_eq!(parse_retry_after(&headers, now, cap), Some(Duration::from_secs(20)));

        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&headers, now, cap), None);
    }

    #[tokio::test]
    async fn retries_stop_at_the_attempts_and_at_a_final_cause() {
        let policy = FetchPolicy {
            max_attempts: 3,
            backoff_min: Duration::from_millis(1),
            backoff_max: Duration::from_millis(1),
            ..FetchPolicy::default()
        };
        let calls = AtomicU32::new(0);
        let waits = std::sync::Mutex::new(Vec::new());
        let result: Result<(), _> = retry(
            &policy,
            || async {
                calls.fetch_add(1, Ordering::Relaxed);
                Err(FetchCause::RateLimited {
                    retry_after: Some(Duration::from_millis(40)),
                    body_excerpt: String::new(),
                })
            },
            |_, wait| waits.lock().expect("not poisoned").push(wait),
        )
        .await;
        assert_eq!(result.expect_err("fails").kind(), "rate_limited");
        assert_eq!(calls.load(Ordering::Relaxed), 3);
        let waits = waits.into_inner().expect("not poisoned");
        assert_eq!(waits.len(), 2);
        assert!(waits.iter().all(|wait| *wait >= Duration::from_millis(40)), "Retry-After honoured: {waits:?}");

        calls.store(0, Ordering::Relaxed);
        let result: Result<(), _> = retry(
            &policy,
            || async {
                calls.fetch_add(1, Ordering::Relaxed);
                Err(FetchCause::Client { status: 400, body_excerpt: String::new() })
            },
            |_, _| {},
        )
        .await;
        assert_eq!(result.expect_err("fails").status(), Some(400));
        assert_eq!(calls.load(Ordering::Relaxed), 1, "a final cause is not retried");
    }
}
