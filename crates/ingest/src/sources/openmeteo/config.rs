//! Configuration of the Open-Meteo weather source (`[ingest.openmeteo]`): the watched locations,
//! the variables asked for, how locations are batched, and the daily call quota the pacing is
//! derived from. Plain serde data; [`OpenMeteoConfig::validate`] checks it and names the
//! offending key.
//!
//! # The quota holds by construction
//! Open-Meteo counts calls, not HTTP requests: each location of a multi-location request is a
//! call, and a location asking for more than 10 variables or more than 14 days counts as
//! several (fractionally). [`OpenMeteoConfig::max_request_weight`] is the weight of the heaviest
//! request this configuration can send (a full batch, forecast or archive chunk), and the
//! shared fetcher spaces every request — retries included — by
//! `86 400 s × max_request_weight / quota_per_day`. No request weighs more, so no 24 hours can
//! hold more than `quota_per_day` calls, whatever the upstream answers.

use super::parse::WeatherRequest;
use crate::InvalidConfig;
use signalcraft_model::WeatherKind;
use std::{collections::BTreeSet, time::Duration};

use serde::{Deserialize, Serialize};

use signalcraft_http::{FetchPolicy, HttpPolicy, HttpPolicyOverrides};

/// Seconds in the day the quota is counted over.
const DAY_SECS: f64 = 86_400.0;
/// Variables per location that count as one call.
const VARIABLES_PER_CALL: f64 = 10.0;
/// Days per location that count as one call.
const DAYS_PER_CALL: f64 = 14.0;
/// The forecast API serves at most 16 days ahead.
const MAX_FORECAST_DAYS: u32 = 16;

/// The Open-Meteo source: every location's forecast is polled once per interval, in batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenMeteoConfig {
    /// Root of the forecast API (`{base_url}/v1/forecast`). Default `https://api.open-meteo.com`;
    /// replay runs point it at `{replay}/openmeteo`.
    #[serde(default = "default_base_url")]
    pub base_url: String,

    /// Root of the historical archive API used for backfill (`{archive_base_url}/v1/archive`).
    /// Default `https://archive-api.open-meteo.com`.
    #[serde(default = "default_archive_base_url")]
    pub archive_base_url: String,

    /// Seconds between two polls of the forecast. Models update hourly at best. Default 3600.
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,

    /// Hourly variables asked for (Open-Meteo names, e.g. `temperature_2m`). Default
    /// temperature, relative humidity, precipitation, wind speed and weather code.
    #[serde(default = "default_hourly")]
    pub hourly: Vec<String>,

    /// Current-conditions variables asked for. Empty: no CURRENT records. Default temperature
    /// and weather code.
    #[serde(default = "default_current")]
    pub current: Vec<String>,

    /// Hourly variables a backfill asks the archive for, where they differ from `hourly` (the
    /// archive's catalogue is not the forecast's: it has soil moisture, say, and its own models).
    /// Unset: `hourly`.
    #[serde(default)]
    pub archive_hourly: Option<Vec<String>>,

    /// Weather models asked for (Open-Meteo names, e.g. `best_match`, `gfs_seamless`), sent as
    /// `models=`. Empty (the default): the API picks, and series are named as before. With
    /// models, every hourly series is named per model (`weather:{location}:{variable}:{model}`)
    /// — see [`super::parse`] for how the suffixed answer is mapped back. The forecast only; the
    /// archive has models of its own.
    #[serde(default)]
    pub models: Vec<String>,

    /// Kilometres an answer's coordinates may lie from the location asked for. Open-Meteo snaps
    /// to its model grid (a few km, up to ~20 km on the coarsest), so more than this means the
    /// answer is not for that place and the whole request is refused. Default 25.
    #[serde(default = "default_max_distance_km")]
    pub max_distance_km: f64,

    /// Days of hourly forecast asked for (1..=16). Default 7, the API's own default.
    #[serde(default = "default_forecast_days")]
    pub forecast_days: u32,

    /// Locations per request (the answer is then a JSON array, one object per location in
    /// request order). Default 10.
    #[serde(default = "default_max_locations_per_request")]
    pub max_locations_per_request: usize,

    /// Calls per day the plan allows (the free tier: 10,000); requests are paced so this holds
    /// by construction (see the module docs). Default 10000.
    #[serde(default = "default_quota_per_day")]
    pub quota_per_day: u32,

    /// Days of archive asked for per backfill request (1..=366). Default 14 (one call per
    /// location at up to 10 variables).
    #[serde(default = "default_archive_chunk_days")]
    pub archive_chunk_days: u32,

    /// How hard each request tries (`[ingest.openmeteo.http]`: `timeout_ms`, `max_attempts`,
    /// `initial_backoff_ms`, `max_backoff_ms`, `max_retry_after_secs`). Unset keys come from
    /// `[http_client]`, then from [`OpenMeteoConfig::HTTP_DEFAULTS`].
    #[serde(default)]
    pub http: HttpPolicyOverrides,

    /// The watched locations. Empty (the default): nothing to poll.
    #[serde(default)]
    pub locations: Vec<WeatherLocationConfig>,
}

/// One watched location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeatherLocationConfig {
    /// Watch-list id of the location; the first part of every record's key.
    pub id: String,
    /// Degrees north (-90..=90).
    pub latitude: f64,
    /// Degrees east (-180..=180).
    pub longitude: f64,
}

impl Default for OpenMeteoConfig {
    fn default() -> Self {
        OpenMeteoConfig {
            base_url: default_base_url(),
            archive_base_url: default_archive_base_url(),
            interval_secs: default_interval_secs(),
            hourly: default_hourly(),
            current: default_current(),
            archive_hourly: None,
            models: Vec::new(),
            max_distance_km: default_max_distance_km(),
            forecast_days: default_forecast_days(),
            max_locations_per_request: default_max_locations_per_request(),
            quota_per_day: default_quota_per_day(),
            archive_chunk_days: default_archive_chunk_days(),
            http: HttpPolicyOverrides::default(),
            locations: Vec::new(),
        }
    }
}

fn default_base_url() -> String {
    "https://api.open-meteo.com".to_string()
}

fn default_archive_base_url() -> String {
    "https://archive-api.open-meteo.com".to_string()
}

fn default_interval_secs() -> u64 {
    3600
}

fn default_hourly() -> Vec<String> {
    ["temperature_2m", "relative_humidity_2m", "precipitation", "wind_speed_10m", "weather_code"]
        .map(String::from)
        .to_vec()
}

fn default_current() -> Vec<String> {
    ["temperature_2m", "weather_code"].map(String::from).to_vec()
}

fn default_max_distance_km() -> f64 {
    25.0
}

fn default_forecast_days() -> u32 {
    7
}

fn default_max_locations_per_request() -> usize {
    10
}

fn default_quota_per_day() -> u32 {
    10_000
}

fn default_archive_chunk_days() -> u32 {
    14
}

impl OpenMeteoConfig {
    /// Time between two forecast polls.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_secs)
    }

    /// The forecast API root: `base_url` without blanks or a trailing slash.
    pub fn api_root(&self) -> &str {
        self.base_url.trim().trim_end_matches('/')
    }

    /// The archive API root: `archive_base_url` without blanks or a trailing slash.
    pub fn archive_root(&self) -> &str {
        self.archive_base_url.trim().trim_end_matches('/')
    }

    /// Calls one forecast request for `locations` locations counts as. Every model answers every
    /// hourly variable, so the hourly variables count once per model.
    pub fn forecast_weight(&self, locations: usize) -> f64 {
        let models = self.models.len().max(1);
        let variables = (self.hourly.len().saturating_mul(models).saturating_add(self.current.len())) as f64;
        call_weight(locations, variables, f64::from(self.forecast_days))
    }

    /// What a forecast request asks for, to read its answer against.
    pub fn forecast_request(&self) -> WeatherRequest<'_> {
        WeatherRequest {
            kind: WeatherKind::Forecast,
            hourly: &self.hourly,
            current: &self.current,
            models: &self.models,
            max_distance_km: self.max_distance_km,
        }
    }

    /// The hourly variables a backfill asks the archive for.
    pub fn archive_variables(&self) -> &[String] {
        self.archive_hourly.as_deref().unwrap_or(&self.hourly)
    }

    /// What an archive request asks for (hourly only, no models), to read its answer against.
    pub fn archive_request(&self) -> WeatherRequest<'_> {
        WeatherRequest {
            kind: WeatherKind::Archive,
            hourly: self.archive_variables(),
            current: &[],
            models: &[],
            max_distance_km: self.max_distance_km,
        }
    }

    /// Calls one archive request for `locations` locations over `days` days counts as.
    pub fn archive_weight(&self, locations: usize, days: u32) -> f64 {
        call_weight(locations, self.archive_variables().len() as f64, f64::from(days))
    }

    /// The weight of the heaviest request this configuration sends: a full batch, forecast or
    /// archive chunk.
    pub fn max_request_weight(&self) -> f64 {
        let batch = self.max_locations_per_request.max(1);
        self.forecast_weight(batch).max(self.archive_weight(batch, self.archive_chunk_days))
    }

    /// Least time between two requests that keeps every 24 hours within `quota_per_day` calls.
    pub fn min_request_interval(&self) -> Duration {
        let quota = f64::from(self.quota_per_day.max(1));
        Duration::from_secs_f64(DAY_SECS * self.max_request_weight() / quota)
    }

    /// The HTTP policy when nothing is configured: 10 s per request, 4 attempts, the rest as
    /// [`HttpPolicy::default`].
    pub const HTTP_DEFAULTS: HttpPolicy = HttpPolicy {
        timeout_ms: 10_000,
        max_attempts: 4,
        initial_backoff_ms: 1_000,
        max_backoff_ms: 30_000,
        max_retry_after_secs: 120,
    };

    /// The HTTP policy in full: `http` over [`OpenMeteoConfig::HTTP_DEFAULTS`] (`[http_client]` is folded
    /// into `http` when the configuration is loaded).
    pub fn http_policy(&self) -> HttpPolicy {
        self.http.over(Self::HTTP_DEFAULTS)
    }

    /// The fetcher's policy: the upstream's pacing and the HTTP policy.
    pub fn fetch_policy(&self) -> FetchPolicy {
        FetchPolicy::configured(self.min_request_interval(), &self.http_policy())
    }

    /// Checks every value; `prefix` is where this table sits in the whole configuration (e.g.
    /// `ingest.openmeteo`), so the error names the key as the user wrote it.
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidConfig> {
        let bad = |key: &str, message: String| Err(InvalidConfig { key: format!("{prefix}.{key}"), message });
        for (key, url) in [("base_url", self.api_root()), ("archive_base_url", self.archive_root())] {
            match reqwest::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
                Ok(_) => return bad(key, format!("`{url}` is not an http(s) URL")),
                Err(error) => return bad(key, format!("`{url}` is not a URL: {error}")),
            }
        }
        if self.interval_secs == 0 {
            return bad("interval_secs", "must be at least 1 second".into());
        }
        if self.hourly.is_empty() && self.current.is_empty() {
            return bad("hourly", "`hourly` and `current` cannot both be empty".into());
        }
        let archive = self.archive_hourly.clone().unwrap_or_default();
        for (field, names) in [
            ("hourly", &self.hourly),
            ("current", &self.current),
            ("models", &self.models),
            ("archive_hourly", &archive),
        ] {
            let what = if field == "models" { "model" } else { "variable" };
            for (index, name) in names.iter().enumerate() {
                let key = format!("{field}[{index}]");
                // Names go into the URL as they are, so only Open-Meteo's own alphabet is allowed.
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                    return bad(&key, format!("`{name}` is not an Open-Meteo {what} name (a-z, 0-9, _)"));
                }
                if names[..index].contains(name) {
                    return bad(&key, format!("`{name}` is listed twice"));
                }
            }
        }
        if !(self.max_distance_km.is_finite() && self.max_distance_km > 0.0) {
            return bad("max_distance_km", format!("{} is not a positive number of km", self.max_distance_km));
        }
        if !(1..=MAX_FORECAST_DAYS).contains(&self.forecast_days) {
            return bad("forecast_days", format!("{} is not between 1 and {MAX_FORECAST_DAYS}", self.forecast_days));
        }
        if !(1..=1000).contains(&self.max_locations_per_request) {
            return bad(
                "max_locations_per_request",
                format!("{} is not between 1 and 1000", self.max_locations_per_request),
            );
        }
        if self.quota_per_day == 0 {
            return bad("quota_per_day", "must be at least 1 call".into());
        }
        if f64::from(self.quota_per_day) < self.max_request_weight() {
            return bad(
                "quota_per_day",
                format!(
                    "{} calls cannot fit one request of weight {:.1}; lower max_locations_per_request",
                    self.quota_per_day,
                    self.max_request_weight()
                ),
            );
        }
        if !(1..=366).contains(&self.archive_chunk_days) {
            return bad("archive_chunk_days", format!("{} is not between 1 and 366", self.archive_chunk_days));
        }
        self.http_policy().validate(&format!("{prefix}.http"))?;
        let mut ids = BTreeSet::new();
        for (index, location) in self.locations.iter().enumerate() {
            let key = |field: &str| format!("locations[{index}].{field}");
            if location.id.trim().is_empty() {
                return bad(&key("id"), "must not be empty".into());
            }
            if !ids.insert(location.id.as_str()) {
                return bad(&key("id"), format!("`{}` is listed twice", location.id));
            }
            if !(-90.0..=90.0).contains(&location.latitude) {
                return bad(&key("latitude"), format!("{} is not between -90 and 90", location.latitude));
            }
            if !(-180.0..=180.0).contains(&location.longitude) {
                return bad(&key("longitude"), format!("{} is not between -180 and 180", location.longitude));
            }
        }
        Ok(())
    }
}

/// Open-Meteo's call weight: per location, one call up to 10 variables and 14 days, more
/// (fractionally) beyond.
fn call_weight(locations: usize, variables: f64, days: f64) -> f64 {
    locations as f64 * (variables / VARIABLES_PER_CALL).max(1.0) * (days / DAYS_PER_CALL).max(1.0)
}

/// `[ingest.openmeteo]` as a component. Weather runs even with no location configured: the
/// watch list is read every cycle.
impl crate::component::SourceComponent for OpenMeteoConfig {
    fn key(&self) -> &'static str {
        "openmeteo"
    }

    fn replay_from(&mut self, replay: &crate::replay::ReplayAddress) {
        self.base_url = replay.provider_base_url("openmeteo");
        self.archive_base_url = replay.provider_base_url("openmeteo");
    }

    fn build(
        &self,
        context: &crate::component::SourceContext,
    ) -> Result<Vec<crate::component::SourceLoop>, crate::component::BuildError> {
        let config = context.configured(self);
        let source = super::OpenMeteoSource::new(config.clone())
            .map_err(|error| crate::component::BuildError::new("openmeteo", error))?
            .with_watch_list(context.watch_list.clone());
        Ok(vec![crate::component::SourceLoop::new(source, config.interval())])
    }
}
