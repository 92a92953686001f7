//! [`HttpFetcher`]: one per provider (a source's upstream, a webhook endpoint). It owns the
//! HTTP client (timeout, limited redirects, User-Agent), a rate limiter that spaces requests by
//! the provider's minimum interval, the policy, and a redactor; callers only say what to send
//! and how to read a complete body. Failures become [`FetchCause`]s (see [`crate::cause`]),
//! retried by the one loop in [`crate::retry`], reported through the caller's
//! [`RequestEvents`].

use std::{
    borrow::Cow,
    fmt,
    sync::atomic::{AtomicU32, Ordering},
    time::SystemTime,
};

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::{header::CONTENT_TYPE, Method, RequestBuilder, StatusCode};
use serde::{de::DeserializeOwned, Serialize};
use signalcraft_model::Redactor;

use crate::{
    cause::{
        cause_for_status, error_chain, excerpt, parse_json, ClientBuildError, ErrorClassifier, FetchCause, FetchError,
    },
    events::{LogOnly, RequestEvents, RequestFailed, RequestSent},
    policy::FetchPolicy,
    redact::redact_url,
    retry::{parse_retry_after, retry},
};

/// Sent with every request so upstream operators and webhook receivers can tell who is calling.
pub const USER_AGENT: &str = concat!("signalcraft/", env!("CARGO_PKG_VERSION"));

/// Most of an error response's body that is read: enough for an excerpt, and an HTML error page
/// of megabytes is not worth downloading.
const ERROR_BODY_LIMIT: usize = 8 * 1024;

/// Fetches from one provider, paced, with timeouts and retries. Share one per provider: the
/// rate limiter lives here, so every caller of the same fetcher is paced together.
pub struct HttpFetcher {
    provider: String,
    client: reqwest::Client,
    /// `None` when the policy sets no minimum interval.
    limiter: Option<DefaultDirectRateLimiter>,
    policy: FetchPolicy,
    /// `None`: statuses are classified by [`cause_for_status`] alone.
    error_classifier: Option<ErrorClassifier>,
    /// Applied to every cause's text and every URL shown before they are logged or returned
    /// (see [`HttpFetcher::with_secret`]).
    redactor: Redactor,
    /// Where request events go (see [`HttpFetcher::with_events`]).
    events: &'static dyn RequestEvents,
}

impl fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetcher").field("provider", &self.provider).field("policy", &self.policy).finish()
    }
}

impl HttpFetcher {
    /// A fetcher for `provider` (the name used in errors, logs and the `source` metric label).
    pub fn new(provider: impl Into<String>, policy: FetchPolicy) -> Result<Self, ClientBuildError> {
        let provider = provider.into();
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(policy.timeout)
            .redirect(match policy.max_redirects {
                // A redirect is then an answer like any other (a webhook follows none).
                0 => reqwest::redirect::Policy::none(),
                limit => reqwest::redirect::Policy::limited(limit),
            })
            .build()
            .map_err(|source| ClientBuildError { provider: provider.clone(), source })?;
        // Burst 1: the configured spacing holds between any two requests, not just on average.
        let limiter = Quota::with_period(policy.min_interval).map(RateLimiter::direct);
        Ok(HttpFetcher {
            provider,
            client,
            limiter,
            policy,
            error_classifier: None,
            redactor: Redactor::new(),
            events: &LogOnly,
        })
    }

    /// This fetcher, with unsuccessful responses classified by `classify` (see
    /// [`ErrorClassifier`]); whether a cause is retried still follows [`FetchCause::is_retryable`].
    pub fn with_error_classifier(mut self, classify: ErrorClassifier) -> Self {
        self.error_classifier = Some(classify);
        self
    }

    /// This fetcher, with `secret` (an access key sent in the URL) replaced by `REDACTED` in the
    /// text of every failure it logs or returns, in any encoding an upstream may echo it in
    /// (see [`Redactor`]). URLs are redacted by parameter name regardless (see [`redact_url`]).
    pub fn with_secret(mut self, secret: impl Into<String>) -> Self {
        self.redactor.add_secret(&secret.into());
        self
    }

    /// This fetcher, also redacting everything `redactor` knows (e.g. the process's other
    /// configured secrets).
    pub fn with_redactor(mut self, redactor: &Redactor) -> Self {
        self.redactor.merge(redactor);
        self
    }

    /// Also redacts everything `redactor` knows, for a fetcher already built (e.g. held by a
    /// component that learns the process's other secrets after it was made).
    pub fn merge_redactor(&mut self, redactor: &Redactor) {
        self.redactor.merge(redactor);
    }

    /// This fetcher, reporting every request sent and every attempt failed to `events` (which
    /// log and count them under the caller's names); without, they are only logged.
    pub fn with_events(mut self, events: &'static dyn RequestEvents) -> Self {
        self.events = events;
        self
    }

    /// The provider name this fetcher reports under.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The policy this fetcher applies.
    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// GETs `url` and deserializes the JSON body.
    pub async fn get_json<T: DeserializeOwned + Send>(&self, url: &str) -> Result<T, FetchError> {
        self.fetch(Method::GET, url, None, parse_json).await
    }

    /// GETs `url` and reads the complete body with `parse`, which decides what a good answer is
    /// (e.g. an upstream that reports errors inside a 200 returns [`FetchCause::Parse`]).
    pub async fn get_with<T, P>(&self, url: &str, parse: P) -> Result<T, FetchError>
    where
        T: Send,
        P: Fn(&[u8]) -> Result<T, FetchCause> + Send + Sync,
    {
        self.fetch(Method::GET, url, None, parse).await
    }

    /// POSTs `body` as JSON to `url` and deserializes the JSON answer.
    pub async fn post_json<B, T>(&self, url: &str, body: &B) -> Result<T, FetchError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned + Send,
    {
        let body = match serde_json::to_vec(body) {
            Ok(body) => Bytes::from(body),
            Err(error) => {
                let cause = FetchCause::Request(format!("cannot encode the request body: {error}"));
                let shown_url = self.redactor.redact(&redact_url(url)).into_owned();
                return Err(self.error(Method::POST, shown_url, 0, cause));
            }
        };
        self.fetch(Method::POST, url, Some(body), parse_json).await
    }

    /// Sends `method url` (with `body` as JSON, if any) until `parse` accepts a successful
    /// response, a non-retriable error occurs, or the policy's attempts are used up. Every
    /// attempt first waits for the rate limiter; a retry also waits the larger of the backoff
    /// and the upstream's `Retry-After`.
    pub async fn fetch<T, P>(&self, method: Method, url: &str, body: Option<Bytes>, parse: P) -> Result<T, FetchError>
    where
        T: Send,
        P: Fn(&[u8]) -> Result<T, FetchCause> + Send + Sync,
    {
        let with_body = |request: RequestBuilder, _attempt: u32| match &body {
            Some(body) => request.header(CONTENT_TYPE, "application/json").body(body.clone()),
            None => request,
        };
        self.send(method, url, with_body, parse).await.map(|(_, value)| value)
    }

    /// [`HttpFetcher::fetch`] for callers that set each attempt's request themselves:
    /// `prepare` gets the request (method, URL) and the attempt number (1, 2, …) and adds
    /// headers and a body (e.g. a signature made afresh per attempt). Returns the successful
    /// answer's status with what `parse` read from its body.
    pub async fn send<T, R, P>(
        &self,
        method: Method,
        url: &str,
        prepare: R,
        parse: P,
    ) -> Result<(StatusCode, T), FetchError>
    where
        T: Send,
        R: Fn(RequestBuilder, u32) -> RequestBuilder + Send + Sync,
        P: Fn(&[u8]) -> Result<T, FetchCause> + Send + Sync,
    {
        let shown_url = self.redactor.redact(&redact_url(url)).into_owned();
        let attempts = AtomicU32::new(0);
        // retry calls this closure once per attempt; it holds only shared references, so each
        // attempt's future can borrow them without moving anything out of the closure.
        let (this, method_ref, prepare_ref, parse_ref, attempts_ref, shown_ref) =
            (self, &method, &prepare, &parse, &attempts, shown_url.as_str());
        let attempt = move || async move {
            let attempt = attempts_ref.fetch_add(1, Ordering::Relaxed) + 1;
            let result = this.attempt(method_ref, url, shown_ref, attempt, prepare_ref, parse_ref).await;
            result.map_err(|cause| cause.redact_with(&this.redactor))
        };
        let notify = |cause: &FetchCause, wait| {
            self.events.request_failed(RequestFailed {
                provider: &self.provider,
                url: &shown_url,
                attempt: attempts.load(Ordering::Relaxed),
                kind: cause.kind(),
                error: cause,
                retry_in: Some(wait),
            })
        };
        let result = retry(&self.policy, attempt, notify).await;
        result.map_err(|cause| {
            let attempts = attempts.load(Ordering::Relaxed);
            self.events.request_failed(RequestFailed {
                provider: &self.provider,
                url: &shown_url,
                attempt: attempts,
                kind: cause.kind(),
                error: &cause,
                retry_in: None,
            });
            self.error(method, shown_url.clone(), attempts, cause)
        })
    }

    fn error(&self, method: Method, url: String, attempts: u32, cause: FetchCause) -> FetchError {
        FetchError { provider: self.provider.clone(), method, url, attempts, cause }
    }

    /// One request, paced by the rate limiter, classified into a [`FetchCause`] on failure.
    async fn attempt<T, R, P>(
        &self,
        method: &Method,
        url: &str,
        shown_url: &str,
        attempt: u32,
        prepare: &R,
        parse: &P,
    ) -> Result<(StatusCode, T), FetchCause>
    where
        R: Fn(RequestBuilder, u32) -> RequestBuilder,
        P: Fn(&[u8]) -> Result<T, FetchCause>,
    {
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        self.events.request_sent(RequestSent {
            provider: &self.provider,
            method: method.as_str(),
            url: shown_url,
            attempt,
        });
        let request = prepare(self.client.request(method.clone(), url), attempt);
        let response = request.send().await.map_err(|error| self.classify(error))?;
        let status = response.status();
        if status.is_success() {
            let body = response.bytes().await.map_err(|error| self.classify(error))?;
            return match parse(&body) {
                Ok(value) => Ok((status, value)),
                Err(cause) => Err(self.cause_without_secrets(&body, parse, cause)),
            };
        }
        let retry_after = parse_retry_after(response.headers(), SystemTime::now(), self.policy.max_retry_after);
        let body = read_error_body(response).await;
        // Redacted before anything is cut from it: an excerpt that ends inside an echoed key
        // would keep a prefix of it that no longer matches the key.
        let body = self.redact_body(&body);
        let cause = cause_for_status(status, excerpt(&body), retry_after);
        Err(match self.error_classifier {
            Some(classify) => classify(status, &body, cause),
            None => cause,
        })
    }

    /// `body` with what the redactor knows replaced; borrowed when it holds none of it.
    fn redact_body<'a>(&self, body: &'a [u8]) -> Cow<'a, [u8]> {
        if self.redactor.is_empty() {
            return Cow::Borrowed(body);
        }
        match self.redactor.redact(&String::from_utf8_lossy(body)) {
            Cow::Owned(clean) => Cow::Owned(clean.into_bytes()),
            Cow::Borrowed(_) => Cow::Borrowed(body),
        }
    }

    /// The cause `parse` gives for a successful response's body that echoes a secret, made
    /// from the redacted body. A good body is parsed as it came (redaction must not alter
    /// data); only a failed parse is repeated, so its excerpts are cut from clean text.
    fn cause_without_secrets<T, P>(&self, body: &[u8], parse: &P, cause: FetchCause) -> FetchCause
    where
        P: Fn(&[u8]) -> Result<T, FetchCause>,
    {
        match self.redact_body(body) {
            Cow::Borrowed(_) => cause,
            // Should the clean body parse after all, the first cause is kept (redacted later).
            Cow::Owned(clean) => parse(&clean).err().unwrap_or(cause),
        }
    }

    fn classify(&self, error: reqwest::Error) -> FetchCause {
        // The URL is already in FetchError (redacted); reqwest's copy would leak secrets.
        let error = error.without_url();
        if error.is_timeout() {
            FetchCause::Timeout { after: self.policy.timeout }
        } else if error.is_builder() || error.is_redirect() {
            FetchCause::Request(error_chain(&error))
        } else if error.is_body() || error.is_decode() {
            FetchCause::Body(error_chain(&error))
        } else {
            FetchCause::Connect(error_chain(&error))
        }
    }
}

/// Reads the start of an error response's body for the error message; a body that fails to
/// arrive only shortens it.
async fn read_error_body(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body
}
