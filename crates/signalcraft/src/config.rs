//! Configuration: a TOML file (optional) overlaid with environment variables
//! (`SIGNALCRAFT_<SECTION>__<KEY>`, e.g. `SIGNALCRAFT_KAFKA__BROKERS`; `DATABASE_URL` too).
//! Unknown keys are refused, and every error names the key and where its value came from.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    path::{Path, PathBuf},
};

use chrono::{DateTime, TimeDelta, Utc};
use figment::{
    providers::{Env, Format, Toml},
    Figment,
};
use serde::{Deserialize, Serialize};
use signalcraft_http::HttpPolicyOverrides;
use signalcraft_ingest::{DigiCadenceConfig, FxConfig, GdeltConfig, OpenMeteoConfig};
use signalcraft_model::{Plausibility, Topic};
use signalcraft_sink::{postgres::retention::RetentionConfig, SinkConfig, WebhookConfig};

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub kafka: KafkaConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub http: HttpConfig,
    /// `[http_client]`: the HTTP policy every source and webhook endpoint starts from; each
    /// caller's own `http` table overrides it key by key (see [`Config::share_http_client`]).
    #[serde(default)]
    pub http_client: HttpPolicyOverrides,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub process: ProcessConfig,
    #[serde(default)]
    pub sink: SinkConfig,
    #[serde(default)]
    pub webhooks: WebhookConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
    #[serde(default)]
    pub validation: ValidationConfig,
}

/// `[kafka]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `bootstrap.servers` of the cluster. Unset: an embedded broker is started in-process.
    #[serde(default)]
    pub brokers: Option<String>,
    /// Confluent-compatible schema registry. Set: schemas are registered there and records are
    /// written with Confluent framing; unset: Avro single-object encoding.
    #[serde(default)]
    pub schema_registry_url: Option<String>,
    /// Partitions per topic of the embedded broker.
    #[serde(default = "default_partitions")]
    pub embedded_partitions: i32,
    /// Consumer session timeout in milliseconds (how soon a dead member's partitions move).
    #[serde(default = "default_session_timeout_ms")]
    pub session_timeout_ms: u64,
    /// Extra librdkafka properties for every client (security.protocol, sasl.*, ...).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

fn default_partitions() -> i32 {
    3
}
fn default_session_timeout_ms() -> u64 {
    10_000
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: None,
            schema_registry_url: None,
            embedded_partitions: default_partitions(),
            session_timeout_ms: default_session_timeout_ms(),
            properties: BTreeMap::new(),
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// PostgreSQL URL (also read from `DATABASE_URL`). Unset: a private server is started from
    /// the machine's PostgreSQL binaries, with its files under `data_dir`.
    #[serde(default)]
    pub url: Option<String>,
    /// Where the private server keeps its files.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(".signalcraft/postgres")
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: None, data_dir: default_data_dir() }
    }
}

/// `[http]`: the operational endpoints and the health checks behind them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address of `/metrics`, `/healthz`, `/readyz` and the dashboard page.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// `/healthz` turns 503 when a consumer stage has held a batch this long without completing
    /// it (retrying a failing batch counts: the stage is alive but not progressing). An idle
    /// stage is never stuck.
    #[serde(default = "default_stall_secs")]
    pub stall_secs: u64,
    /// Bound of each `/readyz` dependency check (broker metadata, a database round trip).
    #[serde(default = "default_check_timeout_ms")]
    pub check_timeout_ms: u64,
    /// How long a `/readyz` answer is reused, so frequent scrapes do not hammer the broker and
    /// the database.
    #[serde(default = "default_check_cache_ms")]
    pub check_cache_ms: u64,
    /// How often consumer lag is measured from committed offsets
    /// (`signalcraft_consumer_lag_records`, `signalcraft_consumer_lag_seconds`).
    #[serde(default = "default_lag_interval_ms")]
    pub lag_interval_ms: u64,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9898))
}
fn default_stall_secs() -> u64 {
    300
}
fn default_check_timeout_ms() -> u64 {
    2_000
}
fn default_check_cache_ms() -> u64 {
    1_000
}
fn default_lag_interval_ms() -> u64 {
    5_000
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_listen(),
            stall_secs: default_stall_secs(),
            check_timeout_ms: default_check_timeout_ms(),
            check_cache_ms: default_check_cache_ms(),
            lag_interval_ms: default_lag_interval_ms(),
        }
    }
}

/// `[ingest]`: one table per upstream. A source with nothing to watch (no GDELT queries, no
/// weather locations, no Digi-Cadence table) is not started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Exchange-rate providers.
    #[serde(default)]
    pub fx: FxConfig,
    /// GDELT DOC 2.0 news queries.
    #[serde(default)]
    pub gdelt: GdeltConfig,
    /// Open-Meteo weather for the watched locations.
    #[serde(default)]
    pub openmeteo: OpenMeteoConfig,
    /// Digi-Cadence DQ brand metrics (its service has no public default address).
    #[serde(default)]
    pub digicadence: Option<DigiCadenceConfig>,
}

/// `[process]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessConfig {
    /// Prefix of the processors' consumer groups (`<prefix>-<processor>`).
    #[serde(default = "default_group_prefix")]
    pub group_prefix: String,
    /// Anomaly scores at or above this flag the point as anomalous (kpi.anomalies).
    #[serde(default = "default_anomaly_threshold")]
    pub anomaly_threshold: f64,
    /// Series whose anomaly detector state is held in memory (least recently seen dropped).
    #[serde(default = "default_anomaly_max_series")]
    pub anomaly_max_series: usize,
    /// Points of history kept per series for forecasting.
    #[serde(default = "default_forecast_history_cap")]
    pub forecast_history_cap: usize,
    /// A series is refitted and forecast again on every this-many-th point of the series.
    #[serde(default = "default_forecast_refit_every")]
    pub forecast_refit_every: usize,
    /// Series whose forecasting history is held in memory (least recently seen dropped).
    #[serde(default = "default_forecast_max_series")]
    pub forecast_max_series: usize,
    /// Rebuild the anomaly detector's and the forecaster's state of a series from its points in
    /// `kpi_points` when they meet it without state (after a restart, a rebalance, an eviction),
    /// and a tenant's open hourly sentiment aggregates from its articles in `news_sentiment`
    /// (after the last hour stored in `kpi_points`), so their outputs equal an uninterrupted
    /// run's. Off: such a series learns afresh, and an hour open at a restart is aggregated from
    /// the articles read after it only.
    #[serde(default = "default_warmup")]
    pub warmup: bool,
    /// Most points replayed per series. Unset: as many as each processor needs to rebuild its
    /// state exactly (the detector up to 17,641 with default parameters, the forecaster
    /// `forecast_history_cap`). Lower is faster; the rebuilt state is then approximate. Does not
    /// cap the sentiment articles reloaded (only the open hours are, which bounds them).
    #[serde(default)]
    pub warmup_max_points: Option<usize>,
    /// How long a batch waits, in milliseconds, for the sink to store the points (or articles) a
    /// rebuild needs before using what is stored (counted in `signalcraft_state_rebuilds_total`).
    #[serde(default = "default_warmup_sink_wait_ms")]
    pub warmup_sink_wait_ms: u64,
    /// An anomaly score at or above this opens an alert.
    #[serde(default = "default_alert_open_score")]
    pub alert_open_score: f64,
    /// Consecutive normal points that resolve an open alert.
    #[serde(default = "default_alert_resolve_after")]
    pub alert_resolve_after: u32,
    /// After an alert resolves, its key stays quiet this long (seconds of event time).
    #[serde(default = "default_alert_cooldown_secs")]
    pub alert_cooldown_secs: u64,
    /// How often `alert_rules` is read again, in seconds.
    #[serde(default = "default_rules_reload_secs")]
    pub rules_reload_secs: u64,
}

fn default_alert_open_score() -> f64 {
    signalcraft_process::alerting::AlertingConfig::default().open_score
}
fn default_alert_resolve_after() -> u32 {
    signalcraft_process::alerting::AlertingConfig::default().resolve_after
}
fn default_alert_cooldown_secs() -> u64 {
    signalcraft_process::alerting::AlertingConfig::default().cooldown.num_seconds().unsigned_abs()
}
fn default_rules_reload_secs() -> u64 {
    30
}

fn default_anomaly_threshold() -> f64 {
    signalcraft_process::anomaly::DEFAULT_THRESHOLD
}
fn default_anomaly_max_series() -> usize {
    signalcraft_process::anomaly::DetectAnomaliesConfig::default().max_series
}
fn default_forecast_history_cap() -> usize {
    signalcraft_process::forecast::ForecastSeriesConfig::default().history_cap
}
fn default_forecast_refit_every() -> usize {
    signalcraft_process::forecast::ForecastSeriesConfig::default().refit_every
}
fn default_forecast_max_series() -> usize {
    signalcraft_process::forecast::ForecastSeriesConfig::default().max_series
}
fn default_warmup() -> bool {
    true
}
fn default_warmup_sink_wait_ms() -> u64 {
    10_000
}

/// Longest `process.warmup_sink_wait_ms`: the consumer does not poll while a batch waits, and
/// Kafka drops a member that has not polled for `max.poll.interval.ms` (300 s by default).
const MAX_WARMUP_SINK_WAIT_MS: u64 = 120_000;

impl ProcessConfig {
    /// The anomaly processor's configuration.
    pub fn anomaly_config(&self) -> signalcraft_process::anomaly::DetectAnomaliesConfig {
        signalcraft_process::anomaly::DetectAnomaliesConfig {
            threshold: self.anomaly_threshold,
            max_series: self.anomaly_max_series,
            ..Default::default()
        }
    }

    /// The alerting processor's configuration.
    pub fn alerting_config(&self) -> signalcraft_process::alerting::AlertingConfig {
        signalcraft_process::alerting::AlertingConfig {
            open_score: self.alert_open_score,
            resolve_after: self.alert_resolve_after,
            cooldown: chrono::TimeDelta::seconds(i64::try_from(self.alert_cooldown_secs).unwrap_or(i64::MAX)),
            ..Default::default()
        }
    }

    /// The forecast processor's configuration.
    pub fn forecast_config(&self) -> signalcraft_process::forecast::ForecastSeriesConfig {
        signalcraft_process::forecast::ForecastSeriesConfig {
            history_cap: self.forecast_history_cap,
            refit_every: self.forecast_refit_every,
            max_series: self.forecast_max_series,
            ..Default::default()
        }
    }

    /// How stateful processors rebuild a series' state; `None` when `warmup` is off.
    pub fn warmup_settings(&self) -> Option<signalcraft_process::WarmUpSettings> {
        self.warmup.then(|| signalcraft_process::WarmUpSettings {
            max_points: self.warmup_max_points,
            wait_for_store: std::time::Duration::from_millis(self.warmup_sink_wait_ms),
            ..Default::default()
        })
    }
}

fn default_group_prefix() -> String {
    "signalcraft-process".into()
}

impl Default for ProcessConfig {
    fn default() -> Self {
        ProcessConfig {
            group_prefix: default_group_prefix(),
            anomaly_threshold: default_anomaly_threshold(),
            anomaly_max_series: default_anomaly_max_series(),
            forecast_history_cap: default_forecast_history_cap(),
            forecast_refit_every: default_forecast_refit_every(),
            forecast_max_series: default_forecast_max_series(),
            warmup: default_warmup(),
            warmup_max_points: None,
            warmup_sink_wait_ms: default_warmup_sink_wait_ms(),
            alert_open_score: default_alert_open_score(),
            alert_resolve_after: default_alert_resolve_after(),
            alert_cooldown_secs: default_alert_cooldown_secs(),
            rules_reload_secs: default_rules_reload_secs(),
        }
    }
}

/// `[validation]`: the plausibility window every stage judges record timestamps and dates by
/// (`signalcraft_model::validate`); outside it a record is dead-lettered where it is first read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationConfig {
    /// The earliest plausible timestamp or date, on every topic. Default 1900-01-01T00:00:00Z
    /// (archives older than that need an earlier value).
    #[serde(default = "default_not_before")]
    pub not_before: DateTime<Utc>,
    /// How many days past now a timestamp may lie, per topic name (e.g. `"kpi.points" = 30`).
    /// Topics not named keep their default: 62 days, `kpi.forecasts` 3653.
    #[serde(default)]
    pub max_ahead_days: BTreeMap<String, u32>,
}

fn default_not_before() -> DateTime<Utc> {
    Plausibility::for_topic(Topic::KpiPoints).not_before
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig { not_before: default_not_before(), max_ahead_days: BTreeMap::new() }
    }
}

/// Longest plausibility horizon a topic may be given: a century.
const MAX_AHEAD_DAYS: u32 = 36_525;

impl ValidationConfig {
    /// The window of every topic.
    pub fn windows(&self) -> HashMap<Topic, Plausibility> {
        Topic::ALL
            .into_iter()
            .map(|topic| {
                let default = Plausibility::for_topic(topic);
                let max_ahead = self
                    .max_ahead_days
                    .get(topic.name())
                    .map_or(default.max_ahead, |&days| TimeDelta::days(i64::from(days)));
                (topic, Plausibility { not_before: self.not_before, max_ahead })
            })
            .collect()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (topic, &days) in &self.max_ahead_days {
            if Topic::from_name(topic).is_none_or(|t| t == Topic::Dlq) {
                return Err(ConfigError::Invalid(format!(
                    "validation.max_ahead_days: `{topic}` is not a topic whose records are validated"
                )));
            }
            if !(1..=MAX_AHEAD_DAYS).contains(&days) {
                return Err(ConfigError::Invalid(format!(
                    "validation.max_ahead_days.{topic}: {days} is not between 1 and {MAX_AHEAD_DAYS}"
                )));
            }
        }
        if self.not_before >= Utc::now() {
            return Err(ConfigError::Invalid(format!(
                "validation.not_before: {} is not in the past, so every record would be refused",
                self.not_before
            )));
        }
        Ok(())
    }
}

/// A configuration that could not be loaded; the text names the key and its source.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// "sink.batch_max_rows: invalid type: ... (from environment variable SIGNALCRAFT_SINK__BATCH_MAX_ROWS)"
fn describe(error: &figment::Error) -> String {
    let path: Vec<String> = error
        .path
        .iter()
        .map(|p| p.to_lowercase())
        .skip_while(|p| p == "default") // figment's profile, not a key of ours
        .collect();
    let key = if path.is_empty() { "(top level)".to_string() } else { path.join(".") };
    let source = match &error.metadata {
        Some(metadata) if metadata.name.contains("SIGNALCRAFT_") => {
            let variable: Vec<String> = path.iter().map(|p| p.to_uppercase()).collect();
            format!("environment variable SIGNALCRAFT_{}", variable.join("__"))
        }
        Some(metadata) if metadata.name.contains("environment") => "environment variable DATABASE_URL".to_string(),
        Some(metadata) => match &metadata.source {
            // The path as given, not figment's path relative to the working directory.
            Some(figment::Source::File(path)) => path.display().to_string(),
            Some(source) => source.to_string(),
            None => metadata.name.to_string(),
        },
        None => "the defaults".to_string(),
    };
    if let Some(moved) = moved_http_key(&path, &error.kind) {
        return format!("{key}: {moved} (from {source})");
    }
    format!("{key}: {} (from {source})", error.kind)
}

/// Keys of a source or webhook endpoint that moved into its `http` policy table, and their new
/// names there.
const MOVED_HTTP_KEYS: &[(&str, &str)] = &[
    ("timeout_ms", "timeout_ms"),
    ("max_attempts", "max_attempts"),
    ("max_retry_after_secs", "max_retry_after_secs"),
    ("initial_backoff_ms", "initial_backoff_ms"),
    ("max_backoff_secs", "max_backoff_ms"),
];

/// For an unknown key that is one of [`MOVED_HTTP_KEYS`] in `[ingest…]` or `[webhooks…]`,
/// where it went: a configuration written for an older release is refused with the new name.
fn moved_http_key(path: &[String], kind: &figment::error::Kind) -> Option<String> {
    let figment::error::Kind::UnknownField(field, _) = kind else {
        return None;
    };
    let (_, new) = MOVED_HTTP_KEYS.iter().find(|(old, _)| old == field)?;
    if !matches!(path.first().map(String::as_str), Some("ingest" | "webhooks")) {
        return None;
    }
    let table = path.split_last().map(|(_, table)| table.join(".")).unwrap_or_default();
    let unit = if *new == "max_backoff_ms" { " (now in milliseconds)" } else { "" };
    Some(format!(
        "moved to `{table}.http.{new}`{unit}, the caller's HTTP policy table (`[http_client]` sets it for every \
         HTTP caller)"
    ))
}

impl Config {
    /// Defaults, overlaid by the TOML file at `path` (if given), overlaid by the environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_files(path.as_slice())
    }

    /// Defaults, overlaid by each TOML file in turn (later files win), overlaid by the environment.
    pub fn load_files(paths: &[&Path]) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        for path in paths {
            if !path.exists() {
                return Err(ConfigError::MissingFile(path.to_path_buf()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment
            .merge(Env::raw().only(&["DATABASE_URL"]).map(|_| "database.url".into()))
            .merge(Env::prefixed("SIGNALCRAFT_").split("__"));
        let mut config: Config = figment.extract().map_err(|error| {
            let messages: Vec<String> = error.into_iter().map(|e| describe(&e)).collect();
            ConfigError::Invalid(messages.join("; "))
        })?;
        config.share_http_client();
        config.validate()?;
        Ok(config)
    }

    /// Folds `[http_client]` into every HTTP caller's own `http` table, keys the caller sets
    /// winning, so each source and endpoint holds its whole policy (over its built-in defaults).
    pub fn share_http_client(&mut self) {
        let shared = self.http_client;
        let fold = |own: &mut HttpPolicyOverrides| *own = own.or(&shared);
        self.ingest.fx.providers.iter_mut().for_each(|provider| fold(&mut provider.http));
        fold(&mut self.ingest.gdelt.http);
        fold(&mut self.ingest.openmeteo.http);
        if let Some(digicadence) = &mut self.ingest.digicadence {
            fold(&mut digicadence.http);
        }
        self.webhooks.endpoints.iter_mut().for_each(|endpoint| fold(&mut endpoint.http));
    }

    /// Checks that serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |e: signalcraft_ingest::InvalidConfig| ConfigError::Invalid(e.to_string());
        self.http_client.validate("http_client").map_err(|e| ConfigError::Invalid(e.to_string()))?;
        self.ingest.fx.validate("ingest.fx").map_err(invalid)?;
        self.ingest.gdelt.validate("ingest.gdelt").map_err(invalid)?;
        self.ingest.openmeteo.validate("ingest.openmeteo").map_err(invalid)?;
        if let Some(digicadence) = &self.ingest.digicadence {
            digicadence.validate("ingest.digicadence").map_err(invalid)?;
        }
        if let Some(brokers) = &self.kafka.brokers {
            check_brokers(brokers)?;
        }
        if let Some(url) = &self.database.url {
            check_database_url(url)?;
        }
        if self.kafka.embedded_partitions < 1 {
            return Err(ConfigError::Invalid(format!(
                "kafka.embedded_partitions: {} must be at least 1",
                self.kafka.embedded_partitions
            )));
        }
        if !(0.0..=1.0).contains(&self.process.alert_open_score) {
            return Err(ConfigError::Invalid(format!(
                "process.alert_open_score: {} is not a score in [0, 1]",
                self.process.alert_open_score
            )));
        }
        if self.process.rules_reload_secs == 0 || self.process.alert_resolve_after == 0 {
            return Err(ConfigError::Invalid(
                "process.rules_reload_secs and process.alert_resolve_after must be at least 1".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.process.anomaly_threshold) {
            return Err(ConfigError::Invalid(format!(
                "process.anomaly_threshold: {} is not a score in [0, 1]",
                self.process.anomaly_threshold
            )));
        }
        if self.process.anomaly_max_series == 0
            || self.process.forecast_refit_every == 0
            || self.process.forecast_max_series == 0
        {
            return Err(ConfigError::Invalid(
                "process.anomaly_max_series, process.forecast_refit_every and process.forecast_max_series must be at \
                 least 1"
                    .into(),
            ));
        }
        if self.process.warmup_max_points == Some(0) {
            return Err(ConfigError::Invalid(
                "process.warmup_max_points: must be at least 1 (process.warmup = false turns the rebuild off)".into(),
            ));
        }
        if self.process.warmup_sink_wait_ms > MAX_WARMUP_SINK_WAIT_MS {
            return Err(ConfigError::Invalid(format!(
                "process.warmup_sink_wait_ms: {} is above {MAX_WARMUP_SINK_WAIT_MS} (the consumer does not poll \
                 Kafka while a batch waits)",
                self.process.warmup_sink_wait_ms
            )));
        }
        if self.retention.interval_secs == 0 {
            return Err(ConfigError::Invalid("retention.interval_secs: must be at least 1".into()));
        }
        if self.sink.view_refresh_secs.is_some() {
            return Err(ConfigError::Invalid(
                "sink.view_refresh_secs: no longer used (the read models are kept current in every batch's \
                 transaction); remove it"
                    .into(),
            ));
        }
        if self.sink.batch_max_rows == 0 {
            return Err(ConfigError::Invalid("sink.batch_max_rows: must be at least 1".into()));
        }
        self.webhooks.validate("webhooks").map_err(|e| ConfigError::Invalid(e.to_string()))?;
        self.validation.validate()?;
        Ok(())
    }
}

/// `kafka.brokers` as librdkafka would read it, refused where librdkafka would quietly read
/// something else: it takes a port modulo 65,536, so `:99999` would reach port 34463.
fn check_brokers(brokers: &str) -> Result<(), ConfigError> {
    let invalid = |message: String| Err(ConfigError::Invalid(format!("kafka.brokers: {message}")));
    if brokers.trim().is_empty() {
        return invalid("is empty (unset it to run the embedded broker)".into());
    }
    for entry in brokers.split(',').map(str::trim) {
        if entry.is_empty() {
            return invalid(format!("`{brokers}` has an empty entry"));
        }
        let address = entry.split_once("://").map_or(entry, |(_, address)| address);
        // `host`, `host:port`, `[v6]:port`; a bare host takes librdkafka's default port 9092.
        let port = match address.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && (!host.contains(':') || host.ends_with(']')) => port,
            Some(_) if address.starts_with('[') || address.contains("]:") => {
                return invalid(format!("`{entry}` is not host:port"))
            }
            _ => continue,
        };
        match port.parse::<u16>() {
            Ok(port) if port > 0 => {}
            _ => return invalid(format!("`{entry}` has port `{port}`, which is not a TCP port (1–65535)")),
        }
    }
    Ok(())
}

/// `database.url` must name a PostgreSQL server. The URL itself is never repeated in the error:
/// it may hold a password.
fn check_database_url(url: &str) -> Result<(), ConfigError> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    match scheme {
        Some("postgres" | "postgresql") => Ok(()),
        Some(other) if other.len() <= 16 && other.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) => {
            Err(ConfigError::Invalid(format!(
                "database.url (or DATABASE_URL): the scheme `{other}://` is not PostgreSQL's; expected \
                 postgres://user@host:port/database"
            )))
        }
        _ => Err(ConfigError::Invalid(
            "database.url (or DATABASE_URL): not a URL; expected postgres://user@host:port/database".into(),
        )),
    }
}
