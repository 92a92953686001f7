//! One struct per Avro record. Field names and types mirror `schemas/*.avsc` exactly; each record
//! knows its topic, its schema and its natural key (the identity that makes replays idempotent).

use std::collections::BTreeMap;

use apache_avro::Schema;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::{schema, time, validate::Validate, Topic};

/// A record that travels on one topic under one Avro schema.
pub trait Record: Serialize + DeserializeOwned + Validate + Send + Sync + 'static {
    /// The topic that carries this record.
    const TOPIC: Topic;

    /// The record's Avro schema (from `schemas/`).
    fn schema() -> &'static Schema;

    /// The natural key: equal for two records that describe the same fact. Used as the Kafka
    /// key (so one fact stays on one partition, in order) and as the upsert key in PostgreSQL.
    fn natural_key(&self) -> String;

    /// The Kafka message key. Defaults to the natural key; series records key by series so that a
    /// whole series stays ordered on one partition.
    fn kafka_key(&self) -> String {
        self.natural_key()
    }
}

/// The natural key of an article as one tenant found it: the same URL found by two tenants is
/// two facts (each tenant's news and sentiment count it). No tenant and the empty tenant are
/// the same key, as in PostgreSQL's `tenant_key`. The tenant's length comes first, so no choice
/// of tenant and URL can make two different pairs collide.
fn tenant_url_key(tenant: Option<&str>, url: &str) -> String {
    let tenant = tenant.unwrap_or("");
    format!("{}:{tenant}/{url}", tenant.len())
}

fn rfc3339(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One exchange rate (topic raw.fx): 1 `base` buys `rate` `quote` on `rate_date`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FxRate {
    pub base: String,
    pub quote: String,
    #[serde(with = "time::date")]
    pub rate_date: NaiveDate,
    pub rate: f64,
    pub provider: String,
    #[serde(with = "time::micros_opt")]
    pub published_at: Option<DateTime<Utc>>,
    #[serde(with = "time::micros")]
    pub fetched_at: DateTime<Utc>,
}

impl Record for FxRate {
    const TOPIC: Topic = Topic::RawFx;
    fn schema() -> &'static Schema {
        &schema::FX_RATE
    }
    fn natural_key(&self) -> String {
        format!("{}/{}/{}", self.base, self.quote, self.rate_date)
    }
    /// The pair: its rates stay in date order on one partition, as its KPI series needs.
    fn kafka_key(&self) -> String {
        format!("{}/{}", self.base, self.quote)
    }
}

/// One news article listed by GDELT (topic raw.news).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewsArticle {
    pub url: String,
    pub title: String,
    #[serde(with = "time::micros")]
    pub seen_at: DateTime<Utc>,
    pub domain: Option<String>,
    pub language: Option<String>,
    pub source_country: Option<String>,
    pub social_image: Option<String>,
    pub tenant_id: Option<String>,
    pub query: String,
    #[serde(with = "time::micros")]
    pub fetched_at: DateTime<Utc>,
}

impl Record for NewsArticle {
    const TOPIC: Topic = Topic::RawNews;
    fn schema() -> &'static Schema {
        &schema::NEWS_ARTICLE
    }
    fn natural_key(&self) -> String {
        tenant_url_key(self.tenant_id.as_deref(), &self.url)
    }
    /// The tenant: its articles stay in order on one partition for its hourly sentiment series.
    fn kafka_key(&self) -> String {
        self.tenant_id.clone().unwrap_or_else(|| self.url.clone())
    }
}

/// One value of a business's own KPI (topic raw.kpi). See `schemas/kpi_observation.avsc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiObservation {
    pub tenant_id: String,
    pub metric: String,
    /// Breakdowns such as store or channel; ordered by key, as the series id names them.
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    pub unit: Option<String>,
    #[serde(with = "time::micros")]
    pub ts: DateTime<Utc>,
    pub value: f64,
    pub source: String,
    pub idempotency_key: Option<String>,
}

impl KpiObservation {
    /// The kpi.points series it belongs to: `custom:<tenant>:<metric>`, then `:<key>.<value>`
    /// per dimension in key order. Keys hold no '.', so the series id names one set of
    /// dimensions only.
    pub fn series_id(&self) -> String {
        let mut id = format!("custom:{}:{}", self.tenant_id, self.metric);
        for (key, value) in &self.dimensions {
            id.push(':');
            id.push_str(key);
            id.push('.');
            id.push_str(value);
        }
        id
    }
}

impl Record for KpiObservation {
    const TOPIC: Topic = Topic::RawKpi;
    fn schema() -> &'static Schema {
        &schema::KPI_OBSERVATION
    }
    fn natural_key(&self) -> String {
        format!("{}@{}", self.series_id(), rfc3339(&self.ts))
    }
    /// The series: its values stay in time order on one partition.
    fn kafka_key(&self) -> String {
        self.series_id()
    }
}

/// Which Open-Meteo product a weather observation came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WeatherKind {
    Forecast,
    Current,
    Archive,
}

/// Weather variables for one location and hour (topic raw.weather).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeatherObservation {
    pub location_id: String,
    pub latitude: f64,
    pub longitude: f64,
    #[serde(with = "time::micros")]
    pub hour: DateTime<Utc>,
    pub kind: WeatherKind,
    pub variables: BTreeMap<String, Option<f64>>,
    pub units: BTreeMap<String, String>,
    #[serde(with = "time::micros")]
    pub fetched_at: DateTime<Utc>,
}

impl Record for WeatherObservation {
    const TOPIC: Topic = Topic::RawWeather;
    fn schema() -> &'static Schema {
        &schema::WEATHER_OBSERVATION
    }
    fn natural_key(&self) -> String {
        // A forecast, the current conditions and the archive of one hour are different facts.
        let kind = match self.kind {
            WeatherKind::Forecast => "FORECAST",
            WeatherKind::Current => "CURRENT",
            WeatherKind::Archive => "ARCHIVE",
        };
        format!("{}/{kind}/{}", self.location_id, rfc3339(&self.hour))
    }
    /// The location: its hours stay in order on one partition, as its KPI series need.
    fn kafka_key(&self) -> String {
        self.location_id.clone()
    }
}

/// One Digi-Cadence DQ score (topic raw.brand_metrics).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrandMetric {
    pub project_id: i64,
    #[serde(with = "time::date")]
    pub period_start: NaiveDate,
    pub brand_id: i64,
    pub brand_name: String,
    pub metric: String,
    pub value: Option<f64>,
    #[serde(with = "time::micros")]
    pub fetched_at: DateTime<Utc>,
}

impl Record for BrandMetric {
    const TOPIC: Topic = Topic::RawBrandMetrics;
    fn schema() -> &'static Schema {
        &schema::BRAND_METRIC
    }
    fn natural_key(&self) -> String {
        format!("{}/{}/{}", self.brand_id, self.metric, self.project_id)
    }
    /// The brand's metric: its periods stay in order on one partition, as its KPI series needs.
    fn kafka_key(&self) -> String {
        format!("{}/{}", self.brand_id, self.metric)
    }
}

/// A news article with its VADER sentiment (topic news.scored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredArticle {
    pub url: String,
    pub tenant_id: Option<String>,
    pub title: String,
    #[serde(with = "time::micros")]
    pub seen_at: DateTime<Utc>,
    pub neg: f64,
    pub neu: f64,
    pub pos: f64,
    pub compound: f64,
}

impl Record for ScoredArticle {
    const TOPIC: Topic = Topic::NewsScored;
    fn schema() -> &'static Schema {
        &schema::SCORED_ARTICLE
    }
    fn natural_key(&self) -> String {
        tenant_url_key(self.tenant_id.as_deref(), &self.url)
    }
    /// The tenant: its articles stay in order on one partition for its hourly sentiment series.
    fn kafka_key(&self) -> String {
        self.tenant_id.clone().unwrap_or_else(|| self.url.clone())
    }
}

/// One point of a KPI series (topic kpi.points).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiPoint {
    pub series_id: String,
    pub tenant_id: Option<String>,
    pub metric: String,
    pub unit: String,
    #[serde(with = "time::micros")]
    pub ts: DateTime<Utc>,
    pub value: f64,
    pub source: String,
}

impl Record for KpiPoint {
    const TOPIC: Topic = Topic::KpiPoints;
    fn schema() -> &'static Schema {
        &schema::KPI_POINT
    }
    fn natural_key(&self) -> String {
        format!("{}/{}", self.series_id, rfc3339(&self.ts))
    }
    fn kafka_key(&self) -> String {
        self.series_id.clone()
    }
}

/// The anomaly score of one KPI point (topic kpi.anomalies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiAnomaly {
    pub series_id: String,
    pub tenant_id: Option<String>,
    #[serde(with = "time::micros")]
    pub ts: DateTime<Utc>,
    pub value: f64,
    pub score: f64,
    pub is_anomaly: bool,
    pub detector: String,
}

impl Record for KpiAnomaly {
    const TOPIC: Topic = Topic::KpiAnomalies;
    fn schema() -> &'static Schema {
        &schema::KPI_ANOMALY
    }
    fn natural_key(&self) -> String {
        format!("{}/{}", self.series_id, rfc3339(&self.ts))
    }
    fn kafka_key(&self) -> String {
        self.series_id.clone()
    }
}

/// One step of a forecast, with 80% and 95% intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastPoint {
    #[serde(with = "time::micros")]
    pub ts: DateTime<Utc>,
    pub mean: f64,
    pub lower_80: f64,
    pub upper_80: f64,
    pub lower_95: f64,
    pub upper_95: f64,
}

/// A forecast of one KPI series (topic kpi.forecasts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiForecast {
    pub series_id: String,
    pub tenant_id: Option<String>,
    #[serde(with = "time::micros")]
    pub issued_at: DateTime<Utc>,
    pub model: String,
    pub step_seconds: i64,
    pub points: Vec<ForecastPoint>,
}

impl Record for KpiForecast {
    const TOPIC: Topic = Topic::KpiForecasts;
    fn schema() -> &'static Schema {
        &schema::KPI_FORECAST
    }
    fn natural_key(&self) -> String {
        format!("{}/{}", self.series_id, rfc3339(&self.issued_at))
    }
    fn kafka_key(&self) -> String {
        self.series_id.clone()
    }
}

/// Whether a notification opens or resolves an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlertTransition {
    Opened,
    Resolved,
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// An alert opened or resolved (topic alerts.notifications).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertNotification {
    pub notification_id: String,
    pub alert_id: String,
    pub dedupe_key: String,
    pub rule_id: Option<i64>,
    pub series_id: String,
    pub tenant_id: Option<String>,
    pub transition: AlertTransition,
    pub severity: Severity,
    pub message: String,
    pub value: f64,
    pub score: Option<f64>,
    #[serde(with = "time::micros")]
    pub occurred_at: DateTime<Utc>,
}

impl Record for AlertNotification {
    const TOPIC: Topic = Topic::AlertsNotifications;
    fn schema() -> &'static Schema {
        &schema::ALERT_NOTIFICATION
    }
    fn natural_key(&self) -> String {
        self.notification_id.clone()
    }
}
