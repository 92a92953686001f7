//! `[process.anomaly]`: what an operator sets for the anomaly processor. Plain serde data, kept
//! apart from the runtime [`DetectAnomaliesConfig`] (which also holds the detector's parameters,
//! not configurable: they were chosen on the benchmark); [`AnomalyConfig::validate`] names the
//! offending key and [`AnomalyConfig::detect_anomalies_config`] builds the runtime settings.

use serde::{Deserialize, Serialize};

use super::processor::{DetectAnomaliesConfig, DEFAULT_THRESHOLD};
use crate::config::InvalidConfig;

/// `[process.anomaly]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalyConfig {
    /// Anomaly scores at or above this flag the point as anomalous (`is_anomaly` on
    /// kpi.anomalies); a score in [0, 1]. Default 0.49845, the NAB standard-profile optimum of
    /// the default detector.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Series whose detector state is held in memory; beyond it the least recently seen series
    /// is dropped (and rebuilt from the store if it comes back). At least 1. Default 10000.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
}

fn default_threshold() -> f64 {
    DEFAULT_THRESHOLD
}
fn default_max_series() -> usize {
    DetectAnomaliesConfig::default().max_series
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig { threshold: default_threshold(), max_series: default_max_series() }
    }
}

impl AnomalyConfig {
    /// Checks serde cannot express; `prefix` is where the table sits (`process.anomaly`).
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidConfig> {
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(InvalidConfig::new(
                prefix,
                "threshold",
                format!("{} is not a score in [0, 1]", self.threshold),
            ));
        }
        if self.max_series == 0 {
            return Err(InvalidConfig::new(prefix, "max_series", "must be at least 1"));
        }
        Ok(())
    }

    /// The runtime settings of [`super::DetectAnomalies`].
    pub fn detect_anomalies_config(&self) -> DetectAnomaliesConfig {
        DetectAnomaliesConfig { threshold: self.threshold, max_series: self.max_series, ..Default::default() }
    }

    /// The anomaly processor this table configures.
    pub fn build(&self) -> super::DetectAnomalies {
        super::DetectAnomalies::new(self.detect_anomalies_config())
    }
}
