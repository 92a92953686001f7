//! `[process.forecast]`: what an operator sets for the forecast processor. Plain serde data, kept
//! apart from the runtime [`ForecastSeriesConfig`] (which also holds the forecaster's own
//! settings); [`ForecastConfig::validate`] names the offending key and
//! [`ForecastConfig::forecast_series_config`] builds the runtime settings.

use serde::{Deserialize, Serialize};

use super::processor::ForecastSeriesConfig;
use crate::config::InvalidConfig;

/// `[process.forecast]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastConfig {
    /// Points of history kept per series for forecasting; the oldest are dropped first.
    /// Default 4032 (two weeks of 5-minute data).
    #[serde(default = "default_history_cap")]
    pub history_cap: usize,
    /// A series is refitted and forecast again on every this-many-th of its points. At least 1.
    /// Default 24.
    #[serde(default = "default_refit_every")]
    pub refit_every: usize,
    /// Series whose forecasting history is held in memory; beyond it the least recently seen
    /// series is dropped (and reloaded from the store if it comes back). At least 1.
    /// Default 10000.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
}

fn default_history_cap() -> usize {
    ForecastSeriesConfig::default().history_cap
}
fn default_refit_every() -> usize {
    ForecastSeriesConfig::default().refit_every
}
fn default_max_series() -> usize {
    ForecastSeriesConfig::default().max_series
}

impl Default for ForecastConfig {
    fn default() -> Self {
        ForecastConfig {
            history_cap: default_history_cap(),
            refit_every: default_refit_every(),
            max_series: default_max_series(),
        }
    }
}

impl ForecastConfig {
    /// Checks serde cannot express; `prefix` is where the table sits (`process.forecast`).
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidConfig> {
        if self.refit_every == 0 {
            return Err(InvalidConfig::new(prefix, "refit_every", "must be at least 1"));
        }
        if self.max_series == 0 {
            return Err(InvalidConfig::new(prefix, "max_series", "must be at least 1"));
        }
        Ok(())
    }

    /// The runtime settings of [`super::ForecastSeries`].
    pub fn forecast_series_config(&self) -> ForecastSeriesConfig {
        ForecastSeriesConfig {
            history_cap: self.history_cap,
            refit_every: self.refit_every,
            max_series: self.max_series,
            ..Default::default()
        }
    }

    /// The forecast processor this table configures.
    pub fn build(&self) -> super::ForecastSeries {
        super::ForecastSeries::new(self.forecast_series_config())
    }
}
