//! Configuration of the GDELT news source (`[ingest.gdelt]`): the queries to watch (one per
//! tenant and set of terms), how often to poll, and how to pace the API. Plain serde data;
//! [`GdeltConfig::validate`] checks it and names the offending key, and
//! [`GdeltConfig::fetch_policy`] turns its pacing and HTTP policy into its fetcher's [`FetchPolicy`].

use crate::InvalidConfig;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use signalcraft_http::{FetchPolicy, HttpPolicy, HttpPolicyOverrides};

/// The public DOC 2.0 API host; its published limit is one request per 5 seconds per client.
pub const PUBLIC_BASE_URL: &str = "https://api.gdeltproject.org";
/// GDELT's own limit: at most one request per 5 s, across every query.
pub const PUBLIC_MIN_INTERVAL_MS: u64 = 5_000;
/// The most articles `mode=artlist` returns per request.
pub const MAX_RECORDS_LIMIT: u32 = 250;
/// Longest query, in characters: it travels in the request's query string once per cycle, and the
/// watch list (`signalcraft watch add`) holds its queries to the same limit.
pub const MAX_QUERY_CHARS: usize = 500;
/// GDELT DOC searches a rolling window of about three months; further back returns nothing.
pub const MAX_LOOKBACK_HOURS: u32 = 90 * 24;

/// The GDELT DOC 2.0 news source: every query is polled once per interval, one after another,
/// through one shared rate limiter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GdeltConfig {
    /// Root of the API; articles are listed at `{base_url}/api/v2/doc/doc`. Default
    /// `https://api.gdeltproject.org`; replay runs point it at `{replay}/gdelt`.
    #[serde(default = "default_base_url")]
    pub base_url: String,

    /// Seconds between two polls of every query. GDELT refreshes every 15 minutes. Default 900.
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,

    /// Least milliseconds between two requests, retries and every query included: GDELT allows
    /// one request per 5 s per client and answers faster callers with 429s and long cool-downs.
    /// Default 5000, and at least that against the public host.
    #[serde(default = "default_min_interval_ms")]
    pub min_interval_ms: u64,

    /// How hard each request tries (`[ingest.gdelt.http]`: `timeout_ms`, `max_attempts`,
    /// `initial_backoff_ms`, `max_backoff_ms`, `max_retry_after_secs`). Unset keys come from
    /// `[http_client]`, then from [`GdeltConfig::HTTP_DEFAULTS`].
    #[serde(default)]
    pub http: HttpPolicyOverrides,

    /// Articles asked for per request (`maxrecords`, 1..=250). Default 250.
    #[serde(default = "default_max_records")]
    pub max_records: u32,

    /// Requests per query per poll. A full page (`max_records` articles) means more may follow,
    /// so the next page starts at the latest `seendate` seen; this caps how far one poll goes.
    /// Default 4.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,

    /// Hours looked back on a query's first poll, when it has no high-water mark yet
    /// (1..=2160: GDELT keeps about three months). Default 24.
    #[serde(default = "default_initial_lookback_hours")]
    pub initial_lookback_hours: u32,

    /// Also poll each query's average-tone timeline (`mode=timelinetone`) into the KPI series
    /// `gdelt_tone:<tenant>:<query>`. Default true.
    #[serde(default = "default_tone")]
    pub tone: bool,

    /// The watched queries. Empty (the default): the source has nothing to poll.
    #[serde(default)]
    pub queries: Vec<GdeltQueryConfig>,
}

/// One watched query: whose it is and what GDELT is asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GdeltQueryConfig {
    /// The watched business the articles are for; copied into every record.
    pub tenant_id: String,

    /// The GDELT query, in GDELT's syntax: terms (space = AND), "quoted phrases", `(a OR b)`,
    /// operators such as `sourcecountry:IN` or `sourcelang:eng`. Sent URL-encoded.
    pub query: String,
}

impl GdeltQueryConfig {
    /// The key of this query's high-water mark: tenant and query, so two tenants watching the
    /// same terms keep separate marks (and separate records).
    pub fn mark_key(&self) -> String {
        format!("{}\u{1f}{}", self.tenant_id, self.query.trim())
    }
}

impl Default for GdeltConfig {
    fn default() -> Self {
        GdeltConfig {
            base_url: default_base_url(),
            interval_secs: default_interval_secs(),
            min_interval_ms: default_min_interval_ms(),
            http: HttpPolicyOverrides::default(),
            max_records: default_max_records(),
            max_pages: default_max_pages(),
            initial_lookback_hours: default_initial_lookback_hours(),
            tone: default_tone(),
            queries: Vec::new(),
        }
    }
}

fn default_base_url() -> String {
    PUBLIC_BASE_URL.to_string()
}

fn default_tone() -> bool {
    true
}

fn default_interval_secs() -> u64 {
    900
}

fn default_min_interval_ms() -> u64 {
    PUBLIC_MIN_INTERVAL_MS
}

fn default_max_records() -> u32 {
    MAX_RECORDS_LIMIT
}

fn default_max_pages() -> u32 {
    4
}

fn default_initial_lookback_hours() -> u32 {
    24
}

impl GdeltConfig {
    /// Time between two polls.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_secs)
    }

    /// The API root requests are built on: `base_url` without blanks or a trailing slash.
    pub fn api_root(&self) -> &str {
        self.base_url.trim().trim_end_matches('/')
    }

    /// The HTTP policy when nothing is configured: 30 s per request (GDELT is slow under load), 3 attempts, the rest as
    /// [`HttpPolicy::default`].
    pub const HTTP_DEFAULTS: HttpPolicy = HttpPolicy {
        timeout_ms: 30_000,
        max_attempts: 3,
        initial_backoff_ms: 1_000,
        max_backoff_ms: 30_000,
        max_retry_after_secs: 120,
    };

    /// The HTTP policy in full: `http` over [`GdeltConfig::HTTP_DEFAULTS`] (`[http_client]` is folded
    /// into `http` when the configuration is loaded).
    pub fn http_policy(&self) -> HttpPolicy {
        self.http.over(Self::HTTP_DEFAULTS)
    }

    /// The fetcher's policy: the upstream's pacing and the HTTP policy.
    pub fn fetch_policy(&self) -> FetchPolicy {
        FetchPolicy::configured(Duration::from_millis(self.min_interval_ms), &self.http_policy())
    }

    /// Checks every value; `prefix` is where this table sits in the whole configuration (e.g.
    /// `ingest.gdelt`), so the error names the key as the user wrote it.
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidConfig> {
        let bad = |key: &str, message: String| Err(InvalidConfig { key: format!("{prefix}.{key}"), message });
        let url = self.api_root();
        let host = match reqwest::Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {
                parsed.host_str().unwrap_or_default().to_ascii_lowercase()
            }
            Ok(_) => return bad("base_url", format!("`{url}` is not an http(s) URL")),
            Err(error) => return bad("base_url", format!("`{url}` is not a URL: {error}")),
        };
        if self.interval_secs == 0 {
            return bad("interval_secs", "must be at least 1 second".into());
        }
        // Only the public host's limit is known; a proxy or a replay may allow more.
        if host == "api.gdeltproject.org" && self.min_interval_ms < PUBLIC_MIN_INTERVAL_MS {
            return bad(
                "min_interval_ms",
                format!(
                    "{} is below GDELT's limit of one request per {PUBLIC_MIN_INTERVAL_MS} ms",
                    self.min_interval_ms
                ),
            );
        }
        self.http_policy().validate(&format!("{prefix}.http"))?;
        if !(1..=MAX_RECORDS_LIMIT).contains(&self.max_records) {
            return bad("max_records", format!("{} is not between 1 and {MAX_RECORDS_LIMIT}", self.max_records));
        }
        if self.max_pages == 0 {
            return bad("max_pages", "must be at least 1".into());
        }
        if !(1..=MAX_LOOKBACK_HOURS).contains(&self.initial_lookback_hours) {
            return bad(
                "initial_lookback_hours",
                format!(
                    "{} is not between 1 and {MAX_LOOKBACK_HOURS} (GDELT keeps ~3 months)",
                    self.initial_lookback_hours
                ),
            );
        }
        for (index, query) in self.queries.iter().enumerate() {
            if query.tenant_id.trim().is_empty() {
                return bad(&format!("queries[{index}].tenant_id"), "must not be empty".into());
            }
            if query.query.trim().is_empty() {
                return bad(&format!("queries[{index}].query"), "must not be empty".into());
            }
            let chars = query.query.chars().count();
            if chars > MAX_QUERY_CHARS {
                return bad(
                    &format!("queries[{index}].query"),
                    format!("{chars} characters is more than the {MAX_QUERY_CHARS} allowed"),
                );
            }
            if self.queries[..index].iter().any(|other| other.mark_key() == query.mark_key()) {
                return bad(
                    &format!("queries[{index}]"),
                    format!("tenant `{}` already watches `{}`", query.tenant_id, query.query.trim()),
                );
            }
        }
        Ok(())
    }
}

/// `[ingest.gdelt]` as a component: the article search and, with `tone`, the tone timelines,
/// which share the article source's limiter (one request per 5 s in all). News runs even with
/// nothing configured: businesses added to the watch list later are picked up by its next cycle.
impl crate::component::SourceComponent for GdeltConfig {
    fn key(&self) -> &'static str {
        "gdelt"
    }

    fn replay_from(&mut self, replay: &crate::replay::ReplayAddress) {
        self.base_url = replay.provider_base_url("gdelt");
    }

    fn build(
        &self,
        context: &crate::component::SourceContext,
    ) -> Result<Vec<crate::component::SourceLoop>, crate::component::BuildError> {
        let config = context.configured(self);
        let source = super::GdeltSource::new(config.clone(), (context.marks)("gdelt"))
            .map_err(|error| crate::component::BuildError::new("gdelt", error))?
            .with_watch_list(context.watch_list.clone());
        let mut loops = Vec::new();
        if config.tone {
            loops.push(crate::component::SourceLoop::new(source.tone_source(), config.interval()));
        }
        loops.push(crate::component::SourceLoop::new(source, config.interval()));
        Ok(loops)
    }
}
