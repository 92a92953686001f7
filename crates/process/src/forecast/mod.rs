//! Forecasts per KPI series (kpi.points → kpi.forecasts): seasonal periods detected, MSTL +
//! AutoETS trend (augurs), seasonal-naive and airline models blended by held-out error, horizon
//! in the series' own step (calendar months for month-spaced series), 80% and 95% intervals.
//!
//! - [`seasons`]: period detection (periodogram proposes, autocorrelation confirms).
//! - [`model`]: the pure [`Forecaster`], (timestamps, values) → forecast points.
//! - [`processor`]: [`ForecastSeries`], bounded per-series history and the refit schedule.

pub mod model;
pub mod processor;
pub mod seasons;

#[cfg(test)]
mod tests;

pub use model::{ForecastError, Forecaster, ForecasterConfig, Horizon, SeriesForecast};
pub use processor::{ForecastSeries, ForecastSeriesConfig};
