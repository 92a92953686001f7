//! Why an HTTP attempt failed, written once for every caller: [`FetchCause`] classifies a
//! failure (status, timeout, connection, body, parse) and says whether another attempt can
//! help; [`FetchError`] is a fetch that failed for good, naming the provider, the redacted URL,
//! the attempts and the last cause. Also the helpers that read bodies into causes: JSON
//! parsing that tells truncation from a wrong body, and one-line excerpts for errors and logs.

use std::{borrow::Cow, fmt, time::Duration};

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use signalcraft_model::Redactor;

use crate::redact::redact_url;

/// Longest excerpt of an upstream body kept in an error, in characters.
pub(crate) const EXCERPT_CHARS: usize = 200;

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
    /// HTTP 4xx other than 429: the request itself is wrong, so it is not retried; except 408
    /// (the server gave up waiting for the request), which says nothing against the request.
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
            FetchCause::Client { status, .. } => *status == StatusCode::REQUEST_TIMEOUT.as_u16(),
            FetchCause::RateLimited { .. }
            | FetchCause::Server { .. }
            | FetchCause::Timeout { .. }
            | FetchCause::Connect(_)
            | FetchCause::Body(_)
            | FetchCause::Unavailable(_) => true,
            FetchCause::Parse(_) | FetchCause::Request(_) | FetchCause::Rejected(_) | FetchCause::Exhausted(_) => false,
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

    /// The HTTP status of the answer that failed, if the attempt got one.
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchCause::RateLimited { .. } => Some(StatusCode::TOO_MANY_REQUESTS.as_u16()),
            FetchCause::Server { status, .. } | FetchCause::Client { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The start of the failed answer's body (redacted), if the attempt got an HTTP status.
    pub fn body_excerpt(&self) -> Option<&str> {
        match self {
            FetchCause::RateLimited { body_excerpt, .. }
            | FetchCause::Server { body_excerpt, .. }
            | FetchCause::Client { body_excerpt, .. } => Some(body_excerpt),
            _ => None,
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
    pub(crate) provider: String,
    pub(crate) method: Method,
    /// With secret query parameters redacted.
    pub(crate) url: String,
    pub(crate) attempts: u32,
    pub(crate) cause: FetchCause,
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
    pub(crate) provider: String,
    #[source]
    pub(crate) source: reqwest::Error,
}

/// Reads an unsuccessful response into a [`FetchCause`], for upstreams whose error bodies say
/// more than their status (e.g. a 429 whose body tells a per-minute limit from a daily one).
/// Gets the status, the start of the body (at most 8 KiB) and the cause the fetcher would use
/// on its own, and returns the cause to use.
pub type ErrorClassifier = fn(StatusCode, &[u8], FetchCause) -> FetchCause;

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

/// The cause of an unsuccessful `status`; `retry_after` is kept where the status defines it.
pub(crate) fn cause_for_status(status: StatusCode, body_excerpt: String, retry_after: Option<Duration>) -> FetchCause {
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

/// An error and its sources, joined: reqwest's own message alone ("error sending request") hides
/// the useful part ("connection refused").
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_request_timeout_is_retried_and_statuses_are_kept() {
        let timed_out = cause_for_status(StatusCode::REQUEST_TIMEOUT, "slow".into(), None);
        assert!(timed_out.is_retryable(), "408 says nothing against the request");
        assert_eq!(timed_out.status(), Some(408));
        assert_eq!(timed_out.body_excerpt(), Some("slow"));
        assert_eq!(cause_for_status(StatusCode::TOO_MANY_REQUESTS, String::new(), None).status(), Some(429));
        assert_eq!(FetchCause::Connect("refused".into()).status(), None);
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
}
