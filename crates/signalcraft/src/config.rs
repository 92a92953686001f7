//! Configuration: a TOML file (optional) overlaid with environment variables
//! (`SIGNALCRAFT_<SECTION>__<KEY>`, e.g. `SIGNALCRAFT_KAFKA__BROKERS`; `DATABASE_URL` too).
//! Unknown keys are refused, and every error names the key and where its value came from; a key
//! that moved (`moved`) is refused with its new name. Each processor's table is defined next to
//! the processor, in `signalcraft_process`.

mod moved;

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
pub use signalcraft_api::ApiConfig;
use signalcraft_http::HttpPolicyOverrides;
pub use signalcraft_ingest::IngestConfig;
use signalcraft_model::{Plausibility, Topic};
pub use signalcraft_process::ProcessConfig;
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
    /// `[api]`: the tenant API (`serve`, and the `serve` role of `run`).
    #[serde(default)]
    pub api: ApiConfig,
    /// `[geocoding]`: the GeoNames account `watch add --place` looks places up with.
    #[serde(default)]
    pub geocoding: crate::geocoding::GeocodingConfig,
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
    let source = source_of(error.metadata.as_ref(), &path);
    if let Some(moved) = moved_http_key(&path, &error.kind) {
        return format!("{key}: {moved} (from {source})");
    }
    format!("{key}: {} (from {source})", error.kind)
}

/// Where the value at `path` came from: "environment variable SIGNALCRAFT_SINK__BATCH_MAX_ROWS",
/// the file's path, or "the defaults".
fn source_of(metadata: Option<&figment::Metadata>, path: &[String]) -> String {
    match metadata {
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
    }
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
        let mut moved = moved::moved_keys_set(&figment);
        moved.extend(moved::retired_keys_set(&figment));
        if !moved.is_empty() {
            return Err(ConfigError::Invalid(moved.join("; ")));
        }
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
        fold(&mut self.geocoding.http);
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
        self.process.validate().map_err(|e| ConfigError::Invalid(e.to_string()))?;
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
        self.geocoding.validate("geocoding").map_err(ConfigError::Invalid)?;
        self.api.check().map_err(ConfigError::Invalid)?;
        if let Some(url) = &self.api.database_url {
            check_database_url(url).map_err(|_| {
                ConfigError::Invalid(
                    "api.database_url (SIGNALCRAFT_API__DATABASE_URL): not a PostgreSQL URL; expected \
                     postgres://user@host:port/database"
                        .into(),
                )
            })?;
        }
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
