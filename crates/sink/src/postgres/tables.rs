//! How each record type lands in its table: the columns in COPY order, the natural-key columns
//! the upsert conflicts on, and the row encoder. Adding a sink for a topic means one impl here
//! and one migration.
//!
//! What a row must satisfy (the tables' CHECKs, ranges, lengths) is not repeated here: the
//! model's `validate` defines it once and decoding applies it, so a record that reaches an
//! encoder below has passed it. What validation cannot foresee the writer isolates by bisection.

use std::hash::{Hash, Hasher};

use chrono::{DateTime, Utc};

use signalcraft_model::{
    AlertNotification, AlertTransition, BrandMetric, FxRate, KpiAnomaly, KpiForecast, KpiPoint, NewsArticle, Record,
    ScoredArticle, Severity, WeatherKind, WeatherObservation,
};

use super::copy::{CopyEncoder, RowError};

/// A record type with a table of its own.
pub trait SinkTable: Record {
    /// Target table.
    const TABLE: &'static str;
    /// Every column, in the order [`SinkTable::encode`] writes them.
    const COLUMNS: &'static [&'static str];
    /// The natural key: the table's primary key. It may name a generated column that
    /// [`SinkTable::COLUMNS`] leaves out (the upsert only conflicts on it).
    const KEY_COLUMNS: &'static [&'static str];

    /// Writes this record's columns into the row begun on `row`.
    fn encode(&self, row: &mut CopyEncoder) -> Result<(), RowError>;

    /// Feeds the natural key's fields to `state`: equal for records with equal natural keys,
    /// without formatting the key string.
    fn hash_natural_key<H: Hasher>(&self, state: &mut H);

    /// Whether the table is partitioned by UTC month of [`SinkTable::partition_time`]
    /// (migration `monthly_partitions`): its rows need their month's partition to exist.
    const PARTITIONED_BY_MONTH: bool = false;

    /// The instant whose UTC month holds this row, for a table partitioned by month.
    fn partition_time(&self) -> Option<DateTime<Utc>> {
        None
    }
}

impl SinkTable for FxRate {
    const TABLE: &'static str = "fx_rates";
    const COLUMNS: &'static [&'static str] =
        &["base", "quote", "rate_date", "rate", "provider", "published_at", "fetched_at"];
    const KEY_COLUMNS: &'static [&'static str] = &["base", "quote", "rate_date"];

    fn encode(&self, row: &mut CopyEncoder) -> Result<(), RowError> {
        row.text("base", &self.base)?;
        row.text("quote", &self.quote)?;
        row.date(self.rate_date);
        row.float8(self.rate);
        row.text("provider", &self.provider)?;
        row.opt_timestamptz(self.published_at);
        row.timestamptz(self.fetched_at);
        Ok(())
    }

    fn hash_natural_key<H: Hasher>(&self, state: &mut H) {
        (&self.base, &self.quote, self.rate_date).hash(state);
    }
}

impl SinkTable for KpiPoint {
    const TABLE: &'static str = "kpi_points";
    const COLUMNS: &'static [&'static str] = &["series_id", "ts", "tenant_id", "metric", "unit", "value", "source"];
    const KEY_COLUMNS: &'static [&'static str] = &["series_id", "ts"];

    fn encode(&self, row: &mut CopyEncoder) -> Result<(), RowError> {
        row.text("series_id", &self.series_id)?;
        row.timestamptz(self.ts);
        row.opt_text("tenant_id", self.tenant_id.as_deref())?;
        row.text("metric", &self.metric)?;
        row.text("unit", &self.unit)?;
        row.float8(self.value);
        row.text("source", &self.source)?;
        Ok(())
    }

    fn hash_natural_key<H: Hasher>(&self, state: &mut H) {
        (&self.series_id, self.ts.timestamp_micros()).hash(state);
    }

    const PARTITIONED_BY_MONTH: bool = true;

    fn partition_time(&self) -> Option<DateTime<Utc>> {
        Some(self.ts)
    }
}

impl SinkTable for NewsArticle {
    const TABLE: &'static str = "news_articles";
    const COLUMNS: &'static [&'static str] = &[
        "url",
        "title",
        "seen_at",
        "domain",
        "language",
        "source_country",
        "social_image",
        "tenant_id",
        "query",
        "fetched_at",
    ];
    /// `tenant_key` is generated from `tenant_id` (migration 0012): one row per tenant that
    /// found the article.
    const KEY_COLUMNS: &'static [&'static str] = &["tenant_key", "url"];

    fn encode(&self, row: &mut CopyEncoder) -> Result<(), RowError> {
        row.text("url", &self.url)?;
        row.text("title", &self.title)?;
        row.timestamptz(self.seen_at);
        row.opt_text("domain", self.domain.as_deref())?;
        row.opt_text("language", self.language.as_deref())?;
        row.opt_text("source_country", self.source_country.as_deref())?;
        row.opt_text("social_image", self.social_image.as_deref())?;
        row.opt_text("tenant_id", self.tenant_id.as_deref())?;
        row.text("query", &self.query)?;
        row.timestamptz(self.fetched_at);
        Ok(())
    }

    fn hash_natural_key<H: Hasher>(&self, state: &mut H) {
        (self.tenant_id.as_deref().unwrap_or(""), &self.url).hash(state);
    }
}

fn weather_kind(kind: WeatherKind) -> &'static str {
    match kind {
        WeatherKind::Forecast => "FORECAST",
        WeatherKind::Current => "CURRENT",
        WeatherKind::Archive => "ARCHIVE",
    }
}

impl SinkTable for WeatherObservation {
    const TABLE: &'static str = "weather_observations";
    const COLUMNS: &'static [&'static str] =
        &["location_id", "kind", "hour", "latitude", "longitude", "variables", "units", "fetched_at"];
    const KEY_COLUMNS: &'static [&'static str] = &["location_id", "kind", "hour"];

    fn encode(&self, row: &mut CopyEncoder) -> Result<(), RowError> {
        let json = |column: &'static str, value: Result<String, serde_json::Error>| {
            value.map_err(|e| RowError::Invalid { column, problem: e.to_string() })
        };
        let variables = json("variables", serde_json::to_string(&self.variables))?;
        let units = json("units", serde_json::to_string(&self.units))?;
        row.text("location_id", &self.location_id)?;
        row.text("kind", weather_kind(self.kind))?;
        row.timestamptz(self.hour);
        row.float8(self.latitude);
        row.float8(self.longitude);
        row.jsonb("variables", &variables)?;
        row.jsonb("units", &units)?;
        row.timestamptz(self.fetched_at);
        Ok(())
    }

    fn hash_natural_key<H: Hasher>(&self, state: &mut H) {
        (&self.location_id, weather_kind(self.kind), self.hour.timestamp_micros()).hash(state);
    }
}

impl SinkTable for BrandMetric {
    const TABLE: &'static str = "brand_metrics";
    const COLUMNS: &'static [&'static str] =
        &["brand_id", "metric", "project_id", "period_start", "brand_name", "value", "fetched_at"];
    const KEY_COLUMNS: &'static [&'static str] = &["brand_id", "metric", "project_id"];

    fn encode(&self, row: &mut CopyEncoder) -> Result<(), RowError> {
        row.int8(self.brand_id);
        row.text("metric", &self.metric)?;
        row.int8(self.project_id);
        row.date(self.period_start);
        row.text("brand_name", &self.brand_name)?;
        row.opt_float8(self.value);
        row.timestamptz(self.fetched_at);
        Ok(())
    }

    fn hash_natural_key<H: Hasher>(&self, state: &mut H) {
        (self.brand_id, &self.metric, self.project_id).hash(state);
    }
}

impl SinkTable for ScoredArticle {
    const TABLE: &'static str = "news_sentiment";
    const COLUMNS: &'static [&'static str] = &["url", "tenant_id", "title", "seen_at", "neg", "neu", "pos", "compound"];
    /// As for [`NewsArticle`]: one row per tenant that found the article.
    const KEY_COLUMNS: &'static [&'static str] = &["tenant_key", "url"];

    fn encode(&self, row: &mut CopyEncoder) -> Result<(), RowError> {
        row.text("url", &self.url)?;
        row.opt_text("tenant_id", self.tenant_id.as_deref())?;
        row.text("title", &self.title)?;
        row.timestamptz(self.seen_at);
        row.float8(self.neg);
        row.float8(self.neu);
        row.float8(self.pos);
        row.float8(self.compound);
        Ok(())
    }

    fn hash_natural_key<H: Hasher>(&self, state: &mut H) {
        (self.tenant_id.as_deref().unwrap_or(""), &self.url).hash(state);
    }
}

impl SinkTable for KpiAnomaly {
    const TABLE: &'static str = "kpi_anomalies";
    const COLUMNS: &'static [&'static str] =
        &["series_id", "ts", "tenant_id", "value", "score", "is_anomaly", "detector"];
    const KEY_COLUMNS: &'static [&'static str] = &["series_id", "ts"];

    fn encode(&self, row: &mut CopyEncoder) -> Result<(), RowError> {
        row.text("series_id", &self.series_id)?;
        row.timestamptz(self.ts);
        row.opt_text("tenant_id", self.tenant_id.as_deref())?;
        row.float8(self.value);
        row.float8(self.score);
        row.boolean(self.is_anomaly);
        row.text("detector", &self.detector)?;
        Ok(())
    }

    fn hash_natural_key<H: Hasher>(&self, state: &mut H) {
        (&self.series_id, self.ts.timestamp_micros()).hash(state);
    }

    const PARTITIONED_BY_MONTH: bool = true;

    fn partition_time(&self) -> Option<DateTime<Utc>> {
        Some(self.ts)
    }
}

impl SinkTable for KpiForecast {
    const TABLE: &'static str = "kpi_forecasts";
    const COLUMNS: &'static [&'static str] =
        &["series_id", "issued_at", "tenant_id", "model", "step_seconds", "points"];
    const KEY_COLUMNS: &'static [&'static str] = &["series_id", "issued_at"];

    fn encode(&self, row: &mut CopyEncoder) -> Result<(), RowError> {
        let points: Vec<serde_json::Value> = self
            .points
            .iter()
            .map(|p| {
                serde_json::json!({
                    "ts": p.ts.to_rfc3339(), "mean": p.mean,
                    "lower_80": p.lower_80, "upper_80": p.upper_80,
                    "lower_95": p.lower_95, "upper_95": p.upper_95,
                })
            })
            .collect();
        let points = serde_json::to_string(&points)
            .map_err(|e| RowError::Invalid { column: "points", problem: e.to_string() })?;
        row.text("series_id", &self.series_id)?;
        row.timestamptz(self.issued_at);
        row.opt_text("tenant_id", self.tenant_id.as_deref())?;
        row.text("model", &self.model)?;
        row.int8(self.step_seconds);
        row.jsonb("points", &points)?;
        Ok(())
    }

    fn hash_natural_key<H: Hasher>(&self, state: &mut H) {
        (&self.series_id, self.issued_at.timestamp_micros()).hash(state);
    }
}

impl SinkTable for AlertNotification {
    const TABLE: &'static str = "alert_notifications";
    const COLUMNS: &'static [&'static str] = &[
        "notification_id",
        "alert_id",
        "dedupe_key",
        "rule_id",
        "series_id",
        "tenant_id",
        "transition",
        "severity",
        "message",
        "value",
        "score",
        "occurred_at",
    ];
    const KEY_COLUMNS: &'static [&'static str] = &["notification_id"];

    fn encode(&self, row: &mut CopyEncoder) -> Result<(), RowError> {
        let transition = match self.transition {
            AlertTransition::Opened => "OPENED",
            AlertTransition::Resolved => "RESOLVED",
        };
        let severity = match self.severity {
            Severity::Info => "INFO",
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
        };
        row.text("notification_id", &self.notification_id)?;
        row.text("alert_id", &self.alert_id)?;
        row.text("dedupe_key", &self.dedupe_key)?;
        match self.rule_id {
            Some(id) => row.int8(id),
            None => row.null(),
        }
        row.text("series_id", &self.series_id)?;
        row.opt_text("tenant_id", self.tenant_id.as_deref())?;
        row.text("transition", transition)?;
        row.text("severity", severity)?;
        row.text("message", &self.message)?;
        row.float8(self.value);
        row.opt_float8(self.score);
        row.timestamptz(self.occurred_at);
        Ok(())
    }

    fn hash_natural_key<H: Hasher>(&self, state: &mut H) {
        self.notification_id.hash(state);
    }
}

/// `INSERT ... SELECT ... ON CONFLICT` from the staging table into the target. A conflicting row
/// is rewritten only when a value differs, so replays leave no dead tuples behind.
pub fn upsert_sql<T: SinkTable>(staging: &str) -> String {
    let columns = T::COLUMNS.join(", ");
    let keys = T::KEY_COLUMNS.join(", ");
    let values: Vec<&str> = T::COLUMNS.iter().copied().filter(|c| !T::KEY_COLUMNS.contains(c)).collect();
    let set: Vec<String> = values.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect();
    let old: Vec<String> = values.iter().map(|c| format!("{}.{c}", T::TABLE)).collect();
    let new: Vec<String> = values.iter().map(|c| format!("EXCLUDED.{c}")).collect();
    format!(
        "INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging} \
         ON CONFLICT ({keys}) DO UPDATE SET {set} WHERE ({old}) IS DISTINCT FROM ({new})",
        table = T::TABLE,
        set = set.join(", "),
        old = old.join(", "),
        new = new.join(", "),
    )
}
