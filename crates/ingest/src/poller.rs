//! The shared HTTP poller every upstream uses: one [`HttpFetcher`] per provider owns the HTTP
//! client (timeout, limited redirects, User-Agent), a rate limiter that spaces requests by the
//! provider's minimum interval, and the retry policy (exponential backoff with jitter that
//! honours `Retry-After`). Sources only say which URL to fetch and how to read a complete body.
//!
//! Errors are classified once, here, into a [`FetchCause`] that says whether another attempt
//! can help; the error a caller finally sees is a [`FetchError`] naming the provider, the URL,
//! the number of attempts and the last cause.

use std::{
    borrow::Cow,
    fmt,
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, SystemTime},
};

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::{
    header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER},
    Method, StatusCode,
};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::error::Category;
use signalcraft_model::Redactor;

use crate::telemetry;

/// Sent with every request so upstream operators can tell who is calling.
pub const USER_AGENT: &str = concat!("signalcraft/", env!("CARGO_PKG_VERSION"));

/// Longest excerpt of an upstream body kept in an error, in characters.
const EXCERPT_CHARS: usize = 200;
/// Most of an error response's body that is read: enough for an excerpt, and an HTML error page
/// of megabytes is not worth downloading.
const ERROR_BODY_LIMIT: usize = 8 * 1024;
/// What replaces a secret in URLs, logs and errors.
const REDACTED: &str = signalcraft_model::redact::REDACTED;
/// Query parameters whose values are secrets and never appear in logs or errors.
const SECRET_PARAMS: &[&str] = &["access_key", "api_key", "apikey", "appid", "key", "token"];

/// How one provider is called: pacing, timeout and retries.
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
    /// Redirects followed per request.
    pub max_redirects: usize,
}

impl FetchPolicy {
    /// The policy a source's configuration table sets: its pacing, and its `timeout_ms`,
    /// `max_attempts` and `max_retry_after_secs` keys; backoff timings and redirects keep their
    /// defaults.
    pub fn configured(min_interval: Duration, timeout_ms: u64, max_attempts: u32, max_retry_after_secs: u64) -> Self {
        FetchPolicy {
            min_interval,
            timeout: Duration::from_millis(timeout_ms),
            max_attempts,
            max_retry_after: Duration::from_secs(max_retry_after_secs),
            ..FetchPolicy::default()
        }
    }
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            min_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            max_attempts: 4,
            max_retry_after: Duration::from_secs(120),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            max_redirects: 5,
        }
    }
}

/// Why one attempt failed, and so whether another can help ([`FetchCause::is_retryable`]).
#[derive(Debug, thiserror::Error)]
pub enum FetchCause {
    /// HTTP 429. Retried, no sooner than `retry_after` (already capped by the policy). The
    /// body is kept: upstreams say in it which limit was hit and for how long (GDELT answers
    /// in plain text), which an operator needs to read in the log.
    #[error("rate limited (HTTP 429){}: {body_excerpt}", describe_retry_after(*.retry_after))]
    RateLimited { retry_after: Option<Duration>, body_excerpt: String },
    /// HTTP 5xx. Retried; a 503's `Retry-After` is honoured like a 429's.
    #[error("server error (HTTP {status}){}: {body_excerpt}", describe_retry_after(*.retry_after))]
    Server { status: u16, body_excerpt: String, retry_after: Option<Duration> },
    /// HTTP 4xx other than 429: the request itself is wrong, so it is not retried.
    #[error("client error (HTTP {status}): {body_excerpt}")]
    Client { status: u16, body_excerpt: String },
    /// No complete response within the policy's timeout. Retried.
    #[error("no complete response within {after:?}")]
    Timeout { after: Duration },
    /// The connection could not be made, or broke before a response arrived. Retried.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The body was cut short or could not be read. Retried: truncation is usually transient.
    #[error("truncated or unreadable body: {0}")]
    Body(String),
    /// A complete body that is not what was expected (not JSON, wrong shape, or an error the
    /// upstream reports in a successful response). Not retried: the same answer would come back.
    #[error("unexpected response: {0}")]
    Parse(String),
    /// The request could not be made as asked (bad URL, redirect loop, unexpected status).
    /// Not retried.
    #[error("request failed: {0}")]
    Request(String),
    /// The upstream answered with an error of its own, in its own words, where data was expected
    /// (e.g. GDELT's HTTP 200 plain-text "keywords too short", Open-Meteo's daily-limit 429).
    /// Not retried: the same request gets the same answer, at least for a long while.
    #[error("rejected by the upstream: {0}")]
    Rejected(String),
    /// The upstream reported, inside a successful response, a condition that can clear within
    /// seconds (e.g. exchangerate.host's error 106, which it also sends when requests come in
    /// quick succession). Retried, like a 429.
    #[error("temporarily refused by the upstream: {0}")]
    Unavailable(String),
    /// Every provider of a fall-back chain failed; their errors, in the order they were tried.
    /// Not retried: each provider was retried on its own already.
    #[error("every provider failed: {}", numbered(.0))]
    Exhausted(Vec<FetchError>),
}

/// `errors` as one line: "1) … 2) …".
fn numbered(errors: &[FetchError]) -> String {
    let parts: Vec<String> =
        errors.iter().enumerate().map(|(index, error)| format!("{}) {error}", index + 1)).collect();
    parts.join(" ")
}

impl FetchCause {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchCause::RateLimited { .. } => "rate_limited",
            FetchCause::Server { .. } => "server",
            FetchCause::Client { .. } => "client",
            FetchCause::Timeout { .. } => "timeout",
            FetchCause::Connect(_) => "connect",
            FetchCause::Body(_) => "body",
            FetchCause::Parse(_) => "parse",
            FetchCause::Request(_) => "request",
            FetchCause::Rejected(_) => "rejected",
            FetchCause::Unavailable(_) => "unavailable",
            FetchCause::Exhausted(_) => "exhausted",
        }
    }

    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            FetchCause::RateLimited { .. }
            | FetchCause::Server { .. }
            | FetchCause::Timeout { .. }
            | FetchCause::Connect(_)
            | FetchCause::Body(_)
            | FetchCause::Unavailable(_) => true,
            FetchCause::Client { .. }
            | FetchCause::Parse(_)
            | FetchCause::Request(_)
            | FetchCause::Rejected(_)
            | FetchCause::Exhausted(_) => false,
        }
    }

    /// This cause with every occurrence of `secret`, in any encoding, replaced in its text, for
    /// upstreams that echo what they were sent (an access key in an error body). An empty
    /// secret changes nothing.
    pub fn redact(self, secret: &str) -> FetchCause {
        self.redact_with(&Redactor::new().with_secret(secret))
    }

    /// This cause with everything `redactor` knows replaced in its text.
    pub fn redact_with(self, redactor: &Redactor) -> FetchCause {
        if redactor.is_empty() {
            return self;
        }
        let clean = |text: String| match redactor.redact(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(clean) => clean,
        };
        match self {
            FetchCause::RateLimited { retry_after, body_excerpt } => {
                FetchCause::RateLimited { retry_after, body_excerpt: clean(body_excerpt) }
            }
            FetchCause::Server { status, body_excerpt, retry_after } => {
                FetchCause::Server { status, body_excerpt: clean(body_excerpt), retry_after }
            }
            FetchCause::Client { status, body_excerpt } => {
                FetchCause::Client { status, body_excerpt: clean(body_excerpt) }
            }
            FetchCause::Connect(text) => FetchCause::Connect(clean(text)),
            FetchCause::Body(text) => FetchCause::Body(clean(text)),
            FetchCause::Parse(text) => FetchCause::Parse(clean(text)),
            FetchCause::Request(text) => FetchCause::Request(clean(text)),
            FetchCause::Rejected(text) => FetchCause::Rejected(clean(text)),
            FetchCause::Unavailable(text) => FetchCause::Unavailable(clean(text)),
            // Built from errors that were redacted when they were made.
            cause @ (FetchCause::Timeout { .. } | FetchCause::Exhausted(_)) => cause,
        }
    }

    /// The wait the upstream asked for before the next attempt, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchCause::RateLimited { retry_after, .. } | FetchCause::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

fn describe_retry_after(retry_after: Option<Duration>) -> String {
    retry_after.map(|wait| format!(", retry after {wait:?}")).unwrap_or_default()
}

/// A fetch that failed for good: after its last attempt, or at once when retrying cannot help;
/// or, built by [`FetchError::exhausted`], a fall-back chain whose every provider failed.
#[derive(Debug)]
pub struct FetchError {
    provider: String,
    method: Method,
    /// With secret query parameters redacted.
    url: String,
    attempts: u32,
    cause: FetchCause,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            // `url` names what was fetched; each error inside names its own request.
            FetchCause::Exhausted(_) => write!(f, "{}: {}: {}", self.provider, self.url, self.cause),
            cause => write!(
                f,
                "{}: {} {} failed after {} attempt{}; last error: {cause}",
                self.provider,
                self.method,
                self.url,
                self.attempts,
                plural(self.attempts)
            ),
        }
    }
}

// No `source()`: the message already ends with the cause, and a chain would print it twice.
impl std::error::Error for FetchError {}

fn plural(count: u32) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

impl FetchError {
    /// An error for a fetch that failed before (or without) a request being sent, e.g. because
    /// state the request depends on could not be read. `attempts` is 0; the URL is redacted.
    pub fn without_request(provider: impl Into<String>, method: Method, url: &str, cause: FetchCause) -> Self {
        FetchError { provider: provider.into(), method, url: redact_url(url), attempts: 0, cause }
    }

    /// The error of a fall-back chain whose every provider failed: `source` is the chain's
    /// source, `what` says what it was fetching (e.g. `USD rates`), and `errors` are the
    /// providers' errors in the order they were tried. Its attempts are theirs, summed.
    pub fn exhausted(source: impl Into<String>, what: impl Into<String>, errors: Vec<FetchError>) -> Self {
        let attempts = errors.iter().map(|error| error.attempts).sum();
        FetchError {
            provider: source.into(),
            method: Method::GET,
            url: what.into(),
            attempts,
            cause: FetchCause::Exhausted(errors),
        }
    }

    /// The provider whose fetcher failed.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The URL requested (secret query parameters redacted); for [`FetchError::exhausted`],
    /// what the chain was fetching.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many requests were sent.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Why the last attempt failed.
    pub fn cause(&self) -> &FetchCause {
        &self.cause
    }

    /// A short label for metrics: the kind of the last cause.
    pub fn kind(&self) -> &'static str {
        self.cause.kind()
    }
}

/// The HTTP client could not be built (e.g. the TLS backend failed to initialise).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client for {provider}: {source}")]
pub struct ClientBuildError {
    provider: String,
    #[source]
    source: reqwest::Error,
}

/// Reads an unsuccessful response into a [`FetchCause`], for upstreams whose error bodies say
/// more than their status (e.g. a 429 whose body tells a per-minute limit from a daily one).
/// Gets the status, the start of the body (at most 8 KiB) and the cause the fetcher would use
/// on its own, and returns the cause to use.
pub type ErrorClassifier = fn(StatusCode, &[u8], FetchCause) -> FetchCause;

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
            .redirect(reqwest::redirect::Policy::limited(policy.max_redirects))
            .build()
            .map_err(|source| ClientBuildError { provider: provider.clone(), source })?;
        // Burst 1: the configured spacing holds between any two requests, not just on average.
        let limiter = Quota::with_period(policy.min_interval).map(RateLimiter::direct);
        Ok(HttpFetcher { provider, client, limiter, policy, error_classifier: None, redactor: Redactor::new() })
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
        let shown_url = self.redactor.redact(&redact_url(url)).into_owned();
        let attempts = AtomicU32::new(0);
        // backon calls this closure once per attempt; it holds only shared references, so each
        // attempt's future can borrow them without moving anything out of the closure.
        let (this, method_ref, body_ref, parse_ref, attempts_ref, shown_ref) =
            (self, &method, &body, &parse, &attempts, shown_url.as_str());
        let attempt = move || async move {
            let attempt = attempts_ref.fetch_add(1, Ordering::Relaxed) + 1;
            let result = this.attempt(method_ref, url, shown_ref, attempt, body_ref.as_ref(), parse_ref).await;
            result.map_err(|cause| cause.redact_with(&this.redactor))
        };
        let result = attempt
            .retry(self.backoff())
            .sleep(tokio::time::sleep)
            .when(FetchCause::is_retryable)
            .adjust(|cause, backoff| backoff.map(|wait| wait.max(cause.retry_after().unwrap_or_default())))
            .notify(|cause, wait| {
                telemetry::RequestFailed {
                    source: &self.provider,
                    url: &shown_url,
                    attempt: attempts.load(Ordering::Relaxed),
                    kind: cause.kind(),
                    error: cause,
                    retry_in: Some(wait),
                }
                .emit()
            })
            .await;
        result.map_err(|cause| {
            let attempts = attempts.load(Ordering::Relaxed);
            telemetry::RequestFailed {
                source: &self.provider,
                url: &shown_url,
                attempt: attempts,
                kind: cause.kind(),
                error: &cause,
                retry_in: None,
            }
            .emit();
            self.error(method, shown_url.clone(), attempts, cause)
        })
    }

    fn error(&self, method: Method, url: String, attempts: u32, cause: FetchCause) -> FetchError {
        FetchError { provider: self.provider.clone(), method, url, attempts, cause }
    }

    fn backoff(&self) -> ExponentialBuilder {
        let retries = self.policy.max_attempts.max(1) - 1;
        ExponentialBuilder::default()
            .with_min_delay(self.policy.backoff_min)
            .with_max_delay(self.policy.backoff_max.max(self.policy.backoff_min))
            .with_max_times(retries as usize)
            .with_jitter()
    }

    /// One request, paced by the rate limiter, classified into a [`FetchCause`] on failure.
    async fn attempt<T, P>(
        &self,
        method: &Method,
        url: &str,
        shown_url: &str,
        attempt: u32,
        body: Option<&Bytes>,
        parse: &P,
    ) -> Result<T, FetchCause>
    where
        P: Fn(&[u8]) -> Result<T, FetchCause>,
    {
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        telemetry::RequestSent { source: &self.provider, method: method.as_str(), url: shown_url, attempt }.emit();
        let mut request = self.client.request(method.clone(), url);
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body.clone());
        }
        let response = request.send().await.map_err(|error| self.classify(error))?;
        let status = response.status();
        if status.is_success() {
            let body = response.bytes().await.map_err(|error| self.classify(error))?;
            return parse(&body).map_err(|cause| self.cause_without_secrets(&body, parse, cause));
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

/// Deserializes a complete JSON body, telling truncation (retriable) from a wrong body (not).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, FetchCause> {
    serde_json::from_slice(body).map_err(|error| json_cause(&error, body))
}

/// Classifies a serde_json error on `body`: input that ends early is a truncated body; invalid
/// or wrongly shaped JSON is a parse error.
pub fn json_cause(error: &serde_json::Error, body: &[u8]) -> FetchCause {
    match error.classify() {
        Category::Eof | Category::Io => {
            FetchCause::Body(format!("the JSON ends early, after {} bytes ({error})", body.len()))
        }
        Category::Syntax | Category::Data => FetchCause::Parse(format!("{error}; body starts: {}", excerpt(body))),
    }
}

/// The start of `body` as one line of text, for errors and logs.
pub fn excerpt(body: &[u8]) -> String {
    // Four bytes per char at most, so this prefix always holds EXCERPT_CHARS characters.
    let head = &body[..body.len().min(EXCERPT_CHARS * 4 + 1)];
    let text = String::from_utf8_lossy(head);
    let words: Vec<&str> = text.split_whitespace().collect();
    let line = words.join(" ");
    if line.is_empty() {
        return "(empty body)".to_string();
    }
    match line.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

fn cause_for_status(status: StatusCode, body_excerpt: String, retry_after: Option<Duration>) -> FetchCause {
    let code = status.as_u16();
    if status == StatusCode::TOO_MANY_REQUESTS {
        FetchCause::RateLimited { retry_after, body_excerpt }
    } else if status.is_server_error() {
        // Only 503 defines Retry-After among the 5xx; elsewhere it would be a misuse.
        let retry_after = if status == StatusCode::SERVICE_UNAVAILABLE { retry_after } else { None };
        FetchCause::Server { status: code, body_excerpt, retry_after }
    } else if status.is_client_error() {
        FetchCause::Client { status: code, body_excerpt }
    } else {
        // 1xx/3xx reaching us means a redirect without a usable Location, or similar.
        FetchCause::Request(format!("unexpected HTTP status {status}: {body_excerpt}"))
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

/// `Retry-After` as a wait from `now`: delta-seconds or an HTTP-date, capped at `cap`. A
/// malformed value is ignored (the backoff still applies).
fn parse_retry_after(headers: &HeaderMap, now: SystemTime, cap: Duration) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        // A date in the past means "now".
        Err(_) => httpdate::parse_http_date(value).ok()?.duration_since(now).unwrap_or(Duration::ZERO),
    };
    Some(wait.min(cap))
}

/// An error and its sources, joined: reqwest's own message alone ("error sending request") hides
/// the useful part ("connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        // hyper and reqwest often repeat the inner message verbatim.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

/// `url` with the values of secret query parameters (API keys, tokens) replaced.
pub fn redact_url(url: &str) -> String {
    let Some((head, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let params: Vec<String> = query
        .split('&')
        .map(|param| match param.split_once('=') {
            Some((name, _)) if SECRET_PARAMS.iter().any(|secret| name.eq_ignore_ascii_case(secret)) => {
                format!("{name}={REDACTED}")
            }
            _ => param.to_string(),
        })
        .collect();
    format!("{head}?{}", params.join("&"))
}

#[cfg(test)]
mod tests {
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

        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&headers, now, cap), None);
    }

    #[test]
    fn json_errors_tell_truncation_from_a_wrong_body() {
        let truncated = parse_json::<serde_json::Value>(br#"{"rates":{"EUR":0.9"#).expect_err("truncated");
        assert_eq!(truncated.kind(), "body");
        assert!(truncated.is_retryable());

        let empty = parse_json::<serde_json::Value>(b"").expect_err("empty");
        assert_eq!(empty.kind(), "body");

        let text = parse_json::<serde_json::Value>(b"Please limit requests to one every 5 seconds").expect_err("text");
        assert_eq!(text.kind(), "parse");
        assert!(!text.is_retryable());
        assert!(text.to_string().contains("Please limit requests"), "{text}");

        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)] // only the shape matters here
        struct Shape {
            rates: std::collections::BTreeMap<String, f64>,
        }
        let wrong = parse_json::<Shape>(br#"{"error":true,"reason":"bad"}"#).expect_err("wrong shape");
        assert_eq!(wrong.kind(), "parse");
    }

    #[test]
    fn statuses_map_to_causes() {
        let wait = Some(Duration::from_secs(3));
        assert!(matches!(
            cause_for_status(StatusCode::TOO_MANY_REQUESTS, String::new(), wait),
            FetchCause::RateLimited { retry_after, .. } if retry_after == wait
        ));
        assert_eq!(cause_for_status(StatusCode::SERVICE_UNAVAILABLE, String::new(), wait).retry_after(), wait);
        assert_eq!(cause_for_status(StatusCode::INTERNAL_SERVER_ERROR, String::new(), wait).retry_after(), None);
        let client = cause_for_status(StatusCode::UNPROCESSABLE_ENTITY, "bad".into(), None);
        assert!(matches!(client, FetchCause::Client { status: 422, .. }));
        assert!(!client.is_retryable());
        assert_eq!(cause_for_status(StatusCode::NOT_MODIFIED, String::new(), None).kind(), "request");
    }

    #[test]
    fn rejections_and_errors_without_a_request_are_final() {
        let rejected = FetchCause::Rejected("Your query was too short or too long.".into());
        assert_eq!(rejected.kind(), "rejected");
        assert!(!rejected.is_retryable());
        assert_eq!(rejected.to_string(), "rejected by the upstream: Your query was too short or too long.");
        let error = FetchError::without_request("p", Method::GET, "https://api.example/x?key=secret", rejected);
        assert_eq!(error.attempts(), 0);
        assert_eq!(error.url(), "https://api.example/x?key=REDACTED");
    }

    #[test]
    fn causes_are_redacted_and_new_kinds_classified() {
        let echoed =
            FetchCause::Server { status: 500, body_excerpt: "bad key k-9 in /x?key=k-9".into(), retry_after: None };
        assert_eq!(echoed.redact("k-9").to_string(), "server error (HTTP 500): bad key REDACTED in /x?key=REDACTED");
        assert_eq!(FetchCause::Rejected("k-9".into()).redact("").to_string(), "rejected by the upstream: k-9");
        let unavailable = FetchCause::Unavailable("error 106".into());
        assert!(unavailable.is_retryable());
        assert_eq!(unavailable.kind(), "unavailable");
        let one = FetchError::without_request("a", Method::GET, "http://a/x", FetchCause::Request("no".into()));
        let two = FetchError::without_request("b", Method::GET, "http://b/y", FetchCause::Request("nope".into()));
        let exhausted = FetchError::exhausted("chain", "USD rates", vec![one, two]);
        assert!(!exhausted.cause().is_retryable());
        assert_eq!(exhausted.kind(), "exhausted");
        assert_eq!(
            exhausted.to_string(),
            "chain: USD rates: every provider failed: 1) a: GET http://a/x failed after 0 attempts; last error: \
             request failed: no 2) b: GET http://b/y failed after 0 attempts; last error: request failed: nope"
        );
    }

    #[test]
    fn excerpts_are_one_bounded_line() {
        assert_eq!(excerpt(b"  line one\n\n  line two "), "line one line two");
        assert_eq!(excerpt(b""), "(empty body)");
        let long = "é".repeat(500);
        let cut = excerpt(long.as_bytes());
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn secrets_are_redacted_from_urls() {
        assert_eq!(
            redact_url("https://api.example/live?access_key=abc123&source=USD&Token=x"),
            "https://api.example/live?access_key=REDACTED&source=USD&Token=REDACTED"
        );
        assert_eq!(redact_url("https://api.example/latest"), "https://api.example/latest");
    }
}
