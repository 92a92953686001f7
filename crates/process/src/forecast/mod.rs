//! Forecasts per KPI series (kpi.points → kpi.forecasts): seasonal periods detected, MSTL
//! (augurs) with an AutoETS or Theta trend, Holt-Winters, seasonal-naive and airline models, on
//! the values or a log / Box-Cox scale, combined by held-out error, horizon in the series' own
//! step (calendar months for month-spaced series), 80% and 95% intervals calibrated on the
//! combination's own held-out errors.
//!
//! - [`config`]: [`ForecastConfig`], the `[process.forecast]` table.
//! - [`seasons`]: period detection (periodogram proposes, autocorrelation confirms).
//! - [`model`]: the pure [`Forecaster`], (timestamps, values) → forecast points.
//! - `error`: [`ForecastError`], why a series got no forecast (the forecaster's and the bases').
//! - `bases`: the base models it validates and blends (MSTL + AutoETS or Theta, seasonal-naive
//!   plain or level-adjusted, Holt-Winters from `holt_winters`, airline), each optionally on a
//!   variance-stabilising scale (`transform`: log, Box-Cox); the trend of the decomposition
//!   bases by `ets` (non-seasonal ETS chosen by AICc, initial states solved exactly).
//! - `calibrate`: the intervals, from the held-out errors of the forecast the pipeline emits
//!   (split conformal, scaled by the step ahead and the phase of the season).
//! - [`processor`]: [`ForecastSeries`], bounded per-series history and the refit schedule.

mod bases;
mod calibrate;
pub mod config;
mod error;
mod ets;
mod holt_winters;
pub mod model;
pub mod processor;
pub mod seasons;
mod transform;

#[cfg(test)]
mod tests;

pub use config::ForecastConfig;
pub use error::ForecastError;
pub use model::{Forecaster, ForecasterConfig, Horizon, IntervalSource, SeriesForecast};
pub use processor::{ForecastSeries, ForecastSeriesConfig};
