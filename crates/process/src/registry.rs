//! The processors the pipeline runs: `[process]`, the processors' shared settings and one table
//! per processor (each defined in the processor's own folder). A new processor is its folder
//! (code, `config.rs`) plus its field here and its line in the binary's list of processors.

use serde::{Deserialize, Serialize};

use crate::{
    alerting::AlertingConfig, anomaly::AnomalyConfig, forecast::ForecastConfig, kpi::WeatherSemanticsConfig,
    sentiment::SentimentConfig, InvalidConfig, WarmUpConfig,
};

/// `[process]`: the processors' shared settings, and one table per processor, each defined next
/// to its processor in `signalcraft_process`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessConfig {
    /// Prefix of the processors' consumer groups (`<prefix>-<processor>`).
    #[serde(default = "default_group_prefix")]
    pub group_prefix: String,
    /// `[process.anomaly]`: the anomaly detector.
    #[serde(default)]
    pub anomaly: AnomalyConfig,
    /// `[process.forecast]`: the forecaster.
    #[serde(default)]
    pub forecast: ForecastConfig,
    /// `[process.alerting]`: alerts from anomaly scores and rules.
    #[serde(default)]
    pub alerting: AlertingConfig,
    /// `[process.sentiment]`: the hourly sentiment KPIs.
    #[serde(default)]
    pub sentiment: SentimentConfig,
    /// `[process.warmup]`: rebuilding processor state from what the sink stored.
    #[serde(default)]
    pub warmup: WarmUpConfig,
    /// `[process.weather]`: weather variables declared categorical, circular or continuous.
    #[serde(default)]
    pub weather: WeatherSemanticsConfig,
}

fn default_group_prefix() -> String {
    "signalcraft-process".into()
}

impl Default for ProcessConfig {
    fn default() -> Self {
        ProcessConfig {
            group_prefix: default_group_prefix(),
            anomaly: AnomalyConfig::default(),
            forecast: ForecastConfig::default(),
            alerting: AlertingConfig::default(),
            sentiment: SentimentConfig::default(),
            warmup: WarmUpConfig::default(),
            weather: WeatherSemanticsConfig::default(),
        }
    }
}

impl ProcessConfig {
    /// Checks serde cannot express, naming the key at fault.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        self.anomaly.validate("process.anomaly")?;
        self.forecast.validate("process.forecast")?;
        self.alerting.validate("process.alerting")?;
        self.sentiment.validate("process.sentiment")?;
        self.weather.validate("process.weather")?;
        self.warmup.validate("process.warmup")
    }
}
