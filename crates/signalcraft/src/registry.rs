//! A minimal Confluent schema-registry client: registers our schema of each topic under the
//! subject `<topic>-value` and returns the ids, so producers frame records with them and
//! consumers accept them.

use std::collections::HashMap;

use serde::Deserialize;
use signalcraft_model::{schema, Topic};

#[derive(Deserialize)]
struct Registered {
    id: u32,
}

fn schema_json(topic: Topic) -> Option<&'static str> {
    Some(match topic {
        Topic::RawNews => schema::NEWS_ARTICLE_JSON,
        Topic::RawWeather => schema::WEATHER_OBSERVATION_JSON,
        Topic::RawFx => schema::FX_RATE_JSON,
        Topic::RawBrandMetrics => schema::BRAND_METRIC_JSON,
        Topic::RawKpi => schema::KPI_OBSERVATION_JSON,
        Topic::NewsScored => schema::SCORED_ARTICLE_JSON,
        Topic::KpiPoints => schema::KPI_POINT_JSON,
        Topic::KpiAnomalies => schema::KPI_ANOMALY_JSON,
        Topic::KpiForecasts => schema::KPI_FORECAST_JSON,
        Topic::AlertsNotifications => schema::ALERT_NOTIFICATION_JSON,
        Topic::Dlq => return None,
    })
}

/// Registers every topic's schema (idempotent on the registry side) and returns the ids.
pub async fn register_all(registry_url: &str) -> Result<HashMap<Topic, u32>, String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| format!("building the schema-registry client: {e}"))?;
    let mut ids = HashMap::new();
    for topic in Topic::ALL {
        let Some(schema) = schema_json(topic) else { continue };
        let url = format!("{}/subjects/{}-value/versions", registry_url.trim_end_matches('/'), topic.name());
        let body = serde_json::json!({ "schema": schema }).to_string();
        let response = client
            .post(&url)
            .header("content-type", "application/vnd.schemaregistry.v1+json")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("registering the {topic} schema at {url}: {e}"))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| format!("reading the registry's answer for {topic}: {e}"))?;
        if !status.is_success() {
            return Err(format!("the schema registry refused the {topic} schema ({status}): {text}"));
        }
        let registered: Registered = serde_json::from_str(&text)
            .map_err(|e| format!("the schema registry's answer for {topic} is not {{\"id\": N}}: {e}"))?;
        ids.insert(topic, registered.id);
    }
    Ok(ids)
}
