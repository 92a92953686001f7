//! The upstreams, one folder each: config, client and tests of one API. Each exposes a runtime
//! struct implementing [`crate::Source`]:
//! [`fx`] (exchange rates, raw.fx), [`gdelt`] (news, raw.news), [`openmeteo`] (weather,
//! raw.weather) and [`digicadence`] (DQ brand scores, raw.brand_metrics).
//!
//! Besides the module list, this file holds the one JSON repair two upstreams need
//! (`non_finite_to_null`) and, for tests, the scripted HTTP server the sources' fault tests
//! share.

pub mod digicadence;
pub mod fx;
pub mod gdelt;
pub mod openmeteo;

/// `body` with every bare `nan`, `inf` or `infinity` (any case, optionally signed) outside
/// JSON strings replaced by `null`. Open-Meteo writes `nan` for locations outside a model's
/// area; Python services (the DQ API) can write `NaN`. Both are invalid JSON.
///
/// Safe by construction: outside strings JSON's only bare words are `true`, `false` and `null`,
/// so no valid document changes meaning, and strings (escapes included) are copied untouched.
pub(crate) fn non_finite_to_null(body: &[u8]) -> Vec<u8> {
    const BARE: [&[u8]; 3] = [b"nan", b"inf", b"infinity"];
    let mut out = Vec::with_capacity(body.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut i = 0;
    while i < body.len() {
        let byte = body[i];
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if byte == b'"' {
            in_string = true;
        } else if byte.is_ascii_alphabetic() || matches!(byte, b'-' | b'+') {
            let start = if byte.is_ascii_alphabetic() { i } else { i + 1 };
            let len = body[start..].iter().take_while(|b| b.is_ascii_alphabetic()).count();
            let word = &body[start..start + len];
            if BARE.iter().any(|bare| word.eq_ignore_ascii_case(bare)) {
                out.extend_from_slice(b"null");
                i = start + len;
                continue;
            }
            // Another word (true, false, null, an exponent): copy it whole.
            out.extend_from_slice(&body[i..start + len]);
            i = start + len;
            continue;
        }
        out.push(byte);
        i += 1;
    }
    out
}

#[cfg(test)]
pub(crate) mod test_server {
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
}

#[cfg(test)]
mod tests {
    use super::non_finite_to_null;

    #[test]
    fn bare_non_finite_words_become_null_and_strings_stay() {
        let body = br#"{"a":nan,"b":-Infinity,"c":[1,NaN,+inf],"d":"nan \" inf","e":true,"f":1e5,"g":null}"#;
        let repaired = String::from_utf8(non_finite_to_null(body)).expect("utf-8");
        assert_eq!(repaired, r#"{"a":null,"b":null,"c":[1,null,null],"d":"nan \" inf","e":true,"f":1e5,"g":null}"#);
        let valid = br#"{"x":[true,false,null,-1.5E-3],"y":"\\"}"#;
        assert_eq!(non_finite_to_null(valid), valid.to_vec());
    }
}
