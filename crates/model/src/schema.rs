//! The Avro schemas of every topic, embedded from `schemas/*.avsc` (the public contract) and
//! parsed once. A schema that fails to parse is a build defect, caught by this crate's tests.

use std::sync::LazyLock;

use apache_avro::Schema;

macro_rules! embedded_schema {
    ($(#[$doc:meta])* $name:ident, $json:ident, $file:literal) => {
        $(#[$doc])*
        pub const $json: &str = include_str!(concat!("../../../schemas/", $file));
        $(#[$doc])*
        pub static $name: LazyLock<Schema> = LazyLock::new(|| {
            // Parsing an embedded, tested constant: a failure is a build defect, not input.
            Schema::parse_str($json).expect(concat!("schemas/", $file, " is valid Avro"))
        });
    };
}

embedded_schema!(/// raw.fx
    FX_RATE, FX_RATE_JSON, "fx_rate.avsc");
embedded_schema!(/// raw.news
    NEWS_ARTICLE, NEWS_ARTICLE_JSON, "news_article.avsc");
embedded_schema!(/// raw.weather
    WEATHER_OBSERVATION, WEATHER_OBSERVATION_JSON, "weather_observation.avsc");
embedded_schema!(/// raw.brand_metrics
    BRAND_METRIC, BRAND_METRIC_JSON, "brand_metric.avsc");
embedded_schema!(/// raw.kpi
    KPI_OBSERVATION, KPI_OBSERVATION_JSON, "kpi_observation.avsc");
embedded_schema!(/// news.scored
    SCORED_ARTICLE, SCORED_ARTICLE_JSON, "scored_article.avsc");
embedded_schema!(/// kpi.points
    KPI_POINT, KPI_POINT_JSON, "kpi_point.avsc");
embedded_schema!(/// kpi.anomalies
    KPI_ANOMALY, KPI_ANOMALY_JSON, "kpi_anomaly.avsc");
embedded_schema!(/// kpi.forecasts
    KPI_FORECAST, KPI_FORECAST_JSON, "kpi_forecast.avsc");
embedded_schema!(/// alerts.notifications
    ALERT_NOTIFICATION, ALERT_NOTIFICATION_JSON, "alert_notification.avsc");

/// The CRC-64-AVRO (Rabin) fingerprint of a schema, as the 8 little-endian bytes that Avro
/// single-object encoding puts after `C3 01`.
pub fn fingerprint(schema: &Schema) -> [u8; 8] {
    let bytes = schema.fingerprint::<apache_avro::rabin::Rabin>().bytes;
    let mut out = [0u8; 8];
    out.copy_from_slice(&bytes[..8]);
    out
}
