//! Configuration of the Digi-Cadence DQ source (`[ingest.digicadence]`): where the DQ services
//! run, which endpoints to read, and the projects to read — each mapped to the period it stands
//! for, since projects are the DQ API's time axis. Plain serde data;
//! [`DigiCadenceConfig::validate`] checks it and names the offending key.

use crate::InvalidConfig;
use std::{collections::BTreeMap, fmt, time::Duration};

use serde::{Deserialize, Serialize};

use signalcraft_http::{FetchPolicy, HttpPolicy, HttpPolicyOverrides};

/// One project and the period it stands for, as a configuration or a watched business names it
/// (defined with the watch list, which holds it, so the watch list needs nothing of this source).
pub use crate::watch::DqProjectConfig;

/// The DQ endpoints this source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DqEndpoint {
    /// `POST /get_multi_data {"project_ids":[…]}`: the DC score and the four section scores per
    /// brand and project (the stack serves it on :8004).
    GetMultiData,
    /// `POST /normalized/normalized_value {"project_ids":[…]}`: every metric's normalised
    /// 0–100 value per brand, platform and section (the stack serves it on :8001).
    NormalizedValue,
}

impl DqEndpoint {
    /// The name used in config and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            DqEndpoint::GetMultiData => "get_multi_data",
            DqEndpoint::NormalizedValue => "normalized_value",
        }
    }

    /// The path under the endpoint's base URL.
    pub fn path(self) -> &'static str {
        match self {
            DqEndpoint::GetMultiData => "/get_multi_data",
            DqEndpoint::NormalizedValue => "/normalized/normalized_value",
        }
    }
}

impl fmt::Display for DqEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Digi-Cadence DQ source: every endpoint is asked for every project once per interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigiCadenceConfig {
    /// Root the endpoints' paths are appended to (there is no public default: the DQ services
    /// are a private deployment). Replay runs point it at `{replay}/digicadence`.
    pub base_url: String,

    /// Root for `get_multi_data` when it is served elsewhere than `base_url` (the DQ stack
    /// runs it on port 8004). Default: `base_url`.
    #[serde(default)]
    pub multi_data_base_url: Option<String>,

    /// Root for `normalized/normalized_value` when it is served elsewhere than `base_url` (the
    /// DQ stack runs it on port 8001). Default: `base_url`.
    #[serde(default)]
    pub normalized_base_url: Option<String>,

    /// The endpoints read each poll. Default both: `["get_multi_data", "normalized_value"]`.
    #[serde(default = "default_endpoints")]
    pub endpoints: Vec<DqEndpoint>,

    /// Seconds between two polls. A project is a period (e.g. a quarter) whose scores change
    /// rarely. Default 86400.
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,

    /// The projects to read, each with the period it stands for.
    #[serde(default)]
    pub projects: Vec<DqProjectConfig>,

    /// Brand ids by brand name, for answers that name brands without ids (`get_multi_data`).
    /// A brand not listed gets a stable id derived from its name (see
    /// [`super::derived_brand_id`]); list brands to keep ids equal to the DQ database's.
    #[serde(default)]
    pub brand_ids: BTreeMap<String, i64>,

    /// Least milliseconds between two requests, retries included. Default 1000.
    #[serde(default = "default_min_interval_ms")]
    pub min_interval_ms: u64,

    /// How hard each request tries (`[ingest.digicadence.http]`: `timeout_ms`, `max_attempts`,
    /// `initial_backoff_ms`, `max_backoff_ms`, `max_retry_after_secs`). Unset keys come from
    /// `[http_client]`, then from [`DigiCadenceConfig::HTTP_DEFAULTS`].
    #[serde(default)]
    pub http: HttpPolicyOverrides,
}

fn default_endpoints() -> Vec<DqEndpoint> {
    vec![DqEndpoint::GetMultiData, DqEndpoint::NormalizedValue]
}

fn default_interval_secs() -> u64 {
    86_400
}

fn default_min_interval_ms() -> u64 {
    1000
}

impl DigiCadenceConfig {
    /// A config for the services at `base_url` with every other setting at its default.
    pub fn new(base_url: impl Into<String>) -> Self {
        DigiCadenceConfig {
            base_url: base_url.into(),
            multi_data_base_url: None,
            normalized_base_url: None,
            endpoints: default_endpoints(),
            interval_secs: default_interval_secs(),
            projects: Vec::new(),
            brand_ids: BTreeMap::new(),
            min_interval_ms: default_min_interval_ms(),
            http: HttpPolicyOverrides::default(),
        }
    }

    /// Time between two polls.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_secs)
    }

    /// The URL of `endpoint`: its own root if configured, else `base_url`, plus its path.
    pub fn endpoint_url(&self, endpoint: DqEndpoint) -> String {
        let root = match endpoint {
            DqEndpoint::GetMultiData => self.multi_data_base_url.as_deref(),
            DqEndpoint::NormalizedValue => self.normalized_base_url.as_deref(),
        }
        .unwrap_or(&self.base_url);
        format!("{}{}", root.trim().trim_end_matches('/'), endpoint.path())
    }

    /// The HTTP policy when nothing is configured: 30 s per request (the services compute scores with pandas on every call), 3 attempts, the rest as
    /// [`HttpPolicy::default`].
    pub const HTTP_DEFAULTS: HttpPolicy = HttpPolicy {
        timeout_ms: 30_000,
        max_attempts: 3,
        initial_backoff_ms: 1_000,
        max_backoff_ms: 30_000,
        max_retry_after_secs: 120,
    };

    /// The HTTP policy in full: `http` over [`DigiCadenceConfig::HTTP_DEFAULTS`] (`[http_client]` is folded
    /// into `http` when the configuration is loaded).
    pub fn http_policy(&self) -> HttpPolicy {
        self.http.over(Self::HTTP_DEFAULTS)
    }

    /// The fetcher's policy: the upstream's pacing and the HTTP policy.
    pub fn fetch_policy(&self) -> FetchPolicy {
        FetchPolicy::configured(Duration::from_millis(self.min_interval_ms), &self.http_policy())
    }

    /// Checks every value; `prefix` is where this table sits in the whole configuration (e.g.
    /// `ingest.digicadence`), so the error names the key as the user wrote it.
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidConfig> {
        let bad = |key: &str, message: String| Err(InvalidConfig { key: format!("{prefix}.{key}"), message });
        let urls = [
            ("base_url", Some(self.base_url.as_str())),
            ("multi_data_base_url", self.multi_data_base_url.as_deref()),
            ("normalized_base_url", self.normalized_base_url.as_deref()),
        ];
        for (key, url) in urls {
            let Some(url) = url.map(|url| url.trim().trim_end_matches('/')) else { continue };
            match reqwest::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
                Ok(_) => return bad(key, format!("`{url}` is not an http(s) URL")),
                Err(error) => return bad(key, format!("`{url}` is not a URL: {error}")),
            }
        }
        if self.endpoints.is_empty() {
            return bad("endpoints", "must list at least one endpoint".into());
        }
        for (index, endpoint) in self.endpoints.iter().enumerate() {
            if self.endpoints[..index].contains(endpoint) {
                return bad(&format!("endpoints[{index}]"), format!("`{endpoint}` is listed twice"));
            }
        }
        if self.interval_secs == 0 {
            return bad("interval_secs", "must be at least 1 second".into());
        }
        for (index, project) in self.projects.iter().enumerate() {
            if project.project_id <= 0 {
                return bad(
                    &format!("projects[{index}].project_id"),
                    format!("{} is not a project id", project.project_id),
                );
            }
            if self.projects[..index].iter().any(|other| other.project_id == project.project_id) {
                return bad(
                    &format!("projects[{index}].project_id"),
                    format!("project {} is listed twice", project.project_id),
                );
            }
        }
        for (name, id) in &self.brand_ids {
            if name.trim().is_empty() {
                return bad("brand_ids", "a brand name is empty".into());
            }
            if *id <= 0 {
                return bad(&format!("brand_ids.\"{name}\""), format!("{id} is not a brand id"));
            }
        }
        self.http_policy().validate(&format!("{prefix}.http"))?;
        Ok(())
    }
}

/// `[ingest.digicadence]` as a component.
impl crate::component::SourceComponent for DigiCadenceConfig {
    fn key(&self) -> &'static str {
        "digicadence"
    }

    fn replay_from(&mut self, replay: &crate::replay::ReplayAddress) {
        self.base_url = replay.provider_base_url("digicadence");
        self.multi_data_base_url = None;
        self.normalized_base_url = None;
    }

    fn build(
        &self,
        context: &crate::component::SourceContext,
    ) -> Result<Vec<crate::component::SourceLoop>, crate::component::BuildError> {
        let config = context.configured(self);
        let source = super::DigiCadenceSource::new(config.clone())
            .map_err(|error| crate::component::BuildError::new("digicadence", error))?
            .with_watch_list(context.watch_list.clone());
        Ok(vec![crate::component::SourceLoop::new(source, config.interval())])
    }
}
