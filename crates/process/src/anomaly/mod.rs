//! Anomaly detection on KPI series (kpi.points → kpi.anomalies): online, per series, past data
//! only, one score in [0, 1] per point, memory bounded per series and in the number of series.
//!
//! Quality is measured on the Numenta Anomaly Benchmark with `cargo bench -p signalcraft-process
//! --bench nab` (needs `../shared/bench/nab` and its scorer; see `benches/nab.rs`). Parameters
//! were chosen on the whole NAB corpus — one setting for all 58 files, never per file.
//! [`DEFAULT_THRESHOLD`] is derived by one general procedure: the threshold NAB's optimiser
//! picks for the standard profile on the whole corpus for the default detector (rounded down
//! to 5 decimals); the benchmark scores at that threshold as well as at NAB's optimised ones.
//!
//! Measured, standard / reward_low_FP_rate / reward_low_FN_rate:
//! - version 4 (context novelty, a contextual detector in the spirit of CAD OSE, joined by
//!   maximum): 68.8 / 52.1 / 76.4, at the pipeline's threshold 0.49845 as at NAB's optimised
//!   ones. It detects 106 of the 116 label windows against 101 (the five new
//!   ones are rhythm and level changes inside the usual range), for 60 more false-positive rows.
//!   Leave-out check (standard profile, threshold optimised on the even-indexed files and scored
//!   on the odd ones, then the reverse): 70.0 and 65.4, against 67.9 and 65.2 for version 3. The
//!   optimum is still a knife edge: 67.4 / 68.4 / 67.7 / 66.3 at -0.003 / -0.001 / +0.001 /
//!   +0.003 from it (version 3: 65.9 / 66.9 / 65.3 / 63.1), because the damping after a report
//!   leaves many scores just under one half; none of the reporting rules tried instead (damping
//!   by undamped scores, by decaying or squared reports, by reports that were not themselves
//!   damped, letting much stronger evidence through) scored within two points of it. Each
//!   component alone (standard profile, optimised threshold): long residual 32.7, seasonal
//!   residual 44.2, range rule 56.7, context novelty 45.8 (50.2 without the discount and the
//!   dead zone, which production needs: see the spike tests), the order-2 context transitions
//!   2.6; range rule and context novelty together 62.8. Also measured and not kept: the novelty through its own likelihood instead
//!   of by maximum (65.8 fused, 29.8 alone), the novelty gating or boosting the range rule
//!   (50-63), a spectral-residual component (Ren et al. 2019: 20.5 alone, +0.2 fused at half
//!   the speed), and range extremes over a longer horizon (63-67).
//!
//!   A later round aimed at the false positives (359 rows at the optimum, 213 of them in the ten
//!   Twitter files, where detections recur every 100-150 points while a burst lasts), standard
//!   profile at the optimised threshold, none kept: carrying the damping forward while the
//!   undamped score stays above 0.5 / 0.3 / 0.2 (67.6 / 64.3 / 60.4); discounting scores by the
//!   series' own recent alarm count, a Bonferroni-like penalty (67.2-68.4, and far off at the
//!   fixed threshold); damping only after reports at or above 0.5 / 0.6 (61.9 / 64.6, though
//!   flat around its optimum: the knife edge is what the damping by sub-threshold reports
//!   earns); a damping that decays linearly over 100-300 points (61.4-65.7); the seasonal
//!   reference as the median of 2 / 3 / 5 past periods (66.2 / 66.7 / 69.6, not monotone: noise);
//!   discounting the range rule by the series' rate of new extremes (within 0.15); a moving-
//!   average residual over 4-32 points as a fifth component (67.0-68.0); Fisher-style summed
//!   evidence instead of the strongest (67.8-68.0); range extremes over all time, as HTM's
//!   spatial rule (69.5 / 55.6 / 76.2, but it cannot be rebuilt after a restart from a bounded
//!   replay). One-parameter sweeps around the defaults move the score by at most ±0.4 up and
//!   several points down: changes of this size are the benchmark's noise, so none was adopted.
//!   For comparison with the published anchors: NAB hands every detector the whole file's
//!   minimum and maximum and its length before the first point (`nab/detectors/base.py`:
//!   `inputMin`, `inputMax`, `probationaryPeriod`), which HTM's encoder and CAD OSE use; this
//!   detector sees the past only, as a pipeline must. Given the file's range up front, its
//!   context novelty scores 69.6.
//! - version 3 (a new high or low scores more the further beyond the range it goes, so the
//!   threshold can rank excursions; squash `z_half` 3.5): 67.3 / 53.3 / 73.9, at the pipeline's
//!   threshold 0.49819 as at NAB's optimised ones. Leave-out check (threshold optimised on the
//!   even-indexed files and scored on the odd ones, then the reverse; standard profile): 67.9
//!   and 65.2, against 63.6 and 65.8 for version 2. The score is sensitive to the threshold:
//!   66.98 at 0.4975, 65.8 at 0.4985, 64.7 at 0.5. A likelihood sigma floor of 0.03 instead of
//!   0.01 measured 67.7 / 55.6 / 73.6, but then one surprising point alone can no longer reach
//!   the threshold through the likelihood (only through the range rule), so it is not the
//!   default.
//! - version 2 (seasonal residual, per-component likelihoods): 66.2 / 52.2 / 72.9.
//! - version 1 (one likelihood over a blend of components): 61.0 / 51.3 / 66.0.
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
