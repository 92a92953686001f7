//! A local HTTP server for fault tests: it records when each request arrived (method, URI,
//! body) and answers through a script given the request and its 0-based index. And the
//! process's log capture ([`logs`]), for tests that check what reaches the log.

use std::{
    io::{self, Write},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    http::{header, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    Router,
};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub at: Instant,
    pub method: Method,
    pub uri: String,
    pub body: String,
}

pub(crate) struct TestServer {
    pub base_url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl TestServer {
    pub(crate) async fn start<F>(answer: F) -> TestServer
    where
        F: Fn(&Hit, usize) -> Response + Send + Sync + 'static,
    {
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let answer = Arc::new(answer);
        let recorded = hits.clone();
        let router = Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
            let (hits, answer) = (recorded.clone(), answer.clone());
            async move {
                let hit = Hit {
                    at: Instant::now(),
                    method,
                    uri: uri.to_string(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                let index = {
                    let mut hits = hits.lock().expect("not poisoned");
                    hits.push(hit.clone());
                    hits.len() - 1
                };
                answer(&hit, index)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds the loopback");
        let addr = listener.local_addr().expect("has an address");
        // Lives as long as the test's runtime.
        tokio::spawn(async move { axum::serve(listener, router).await });
        TestServer { base_url: format!("http://{addr}"), hits }
    }

    pub(crate) fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("not poisoned").clone()
    }

    pub(crate) fn uris(&self) -> Vec<String> {
        self.hits().into_iter().map(|hit| hit.uri).collect()
    }

    /// Time between consecutive requests.
    pub(crate) fn gaps(&self) -> Vec<Duration> {
        self.hits().windows(2).map(|pair| pair[1].at - pair[0].at).collect()
    }

    /// Asserts the configured rate held. The limiter spaces the sends; the server sees
    /// arrivals, which a loaded machine delays unevenly. So each gap may fall short of
    /// `interval` by at most the scheduling slack, while the whole run, first arrival to
    /// last, must span the full `(n - 1) × interval` (less one slack): the rate itself is
    /// never exceeded.
    pub(crate) fn assert_spaced(&self, interval: Duration) {
        assert_spaced(&self.hits().iter().map(|hit| hit.at).collect::<Vec<_>>(), interval, &self.uris());
    }
}

/// How much later than its send a loaded machine may deliver one request to the server.
pub(crate) const ARRIVAL_SLACK: Duration = Duration::from_millis(25);

/// See [`TestServer::assert_spaced`].
pub(crate) fn assert_spaced(arrivals: &[Instant], interval: Duration, uris: &[String]) {
    for pair in arrivals.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap + ARRIVAL_SLACK >= interval, "requests {gap:?} apart, configured {interval:?}: {uris:?}");
    }
    if let (Some(first), Some(last)) = (arrivals.first(), arrivals.last()) {
        let span = *last - *first;
        let least = interval * (arrivals.len() as u32 - 1);
        assert!(
            span + ARRIVAL_SLACK >= least,
            "{} requests within {span:?}, configured {interval:?} apart",
            arrivals.len()
        );
    }
}

/// A response with a body and a content type.
pub(crate) fn respond(status: u16, content_type: &str, body: &str) -> Response {
    let status = StatusCode::from_u16(status).expect("valid status");
    (status, [(header::CONTENT_TYPE, content_type.to_string())], body.to_string()).into_response()
}

/// A JSON response.
pub(crate) fn json(status: u16, body: &str) -> Response {
    respond(status, "application/json", body)
}

/// A 429 with `Retry-After`.
pub(crate) fn too_many(retry_after_secs: u64, content_type: &str, body: &str) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, retry_after_secs.to_string()), (header::CONTENT_TYPE, content_type.to_string())],
        body.to_string(),
    )
        .into_response()
}

/// Every log line of this test process, DEBUG and up. One global subscriber rather than one
/// per test: scoped subscribers race with other tests' threads over tracing's callsite cache,
/// and an event can go unseen. Tests pick their own lines by something only they use (their
/// server's address).
#[derive(Clone, Default)]
pub(crate) struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// The lines logged so far that contain `marker`.
    pub(crate) fn lines_with(&self, marker: &str) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.0.lock().expect("not poisoned")).into_owned();
        text.lines().filter(|line| line.contains(marker)).map(str::to_string).collect()
    }
}

/// The process's log capture, installed as the global subscriber on first use.
pub(crate) fn logs() -> &'static CapturedLogs {
    static LOGS: std::sync::OnceLock<CapturedLogs> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other test sets a global subscriber");
        logs
    })
}

/// A listener nobody serves: the kernel completes the handshake, no answer ever comes.
pub(crate) async fn silent() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("has an address"));
    (listener, url)
}
