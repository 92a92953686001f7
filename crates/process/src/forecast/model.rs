//! The pure forecaster: (timestamps, values) → forecast points with 80% and 95% intervals.
//!
//! Steps, all on the training data only:
//! 1. the step is the median spacing of the timestamps (robust to the odd gap or duplicate);
//! 2. seasonal periods are detected ([`super::seasons`]);
//! 3. candidate models — MSTL + AutoETS trend on the values, the same on their logarithm (only
//!    for strictly positive series, where seasonal swings often grow with the level), their
//!    average, and seasonal-naive at the longest period — are scored on the last stretch of the
//!    training data, held out and forecast from the data before it (up to three folds when the
//!    series is long enough);
//! 4. the best-scoring candidate is refit on all the data and forecast over the horizon.
//!
//! Why a validation choice instead of one model: MSTL + ETS is strong when the seasonal shape is
//! stable and the trend smooth, the log variant when the swings are multiplicative, and a plain
//! seasonal repeat of the last cycle wins when the long cycle dominates and the trend is flat.
//! Which case holds is a property of the series, measurable on its own past.

use augurs::ets::AutoETS;
use augurs::mstl::MSTLModel;
use augurs::{Fit, Predict};
use chrono::{DateTime, TimeDelta, Utc};
use signalcraft_model::ForecastPoint;

use super::seasons::detect_periods;

/// Standard normal quantiles for the two interval levels.
const Z80: f64 = 1.281_551_565_545;
const Z95: f64 = 1.959_963_984_540;

/// Held-out tails scored per candidate: one tail is too noisy to choose between close models,
/// each more costs one fit of every base.
const VALIDATION_FOLDS: usize = 3;

/// How far ahead to forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Horizon {
    /// A span of time, turned into steps of the series' own spacing (rounded up).
    Duration(TimeDelta),
    /// A number of steps.
    Steps(usize),
}

/// Settings of the [`Forecaster`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForecasterConfig {
    /// How far ahead to forecast. Default: 30 days.
    pub horizon: Horizon,
    /// Fewer points than this and no forecast is made. Default: 16.
    pub min_points: usize,
    /// Most seasonal periods modelled at once. Default: 3.
    pub max_periods: usize,
    /// Upper bound on forecast steps, so a fine-grained series (5-minute data over 30 days is
    /// 8,640 steps) cannot make one record unboundedly large. Default: 10,000.
    pub max_horizon_steps: usize,
}

impl Default for ForecasterConfig {
    fn default() -> Self {
        ForecasterConfig {
            horizon: Horizon::Duration(TimeDelta::days(30)),
            min_points: 16,
            max_periods: 3,
            max_horizon_steps: 10_000,
        }
    }
}

/// Why no forecast could be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    #[error("{timestamps} timestamps but {values} values")]
    LengthMismatch { timestamps: usize, values: usize },
    #[error("{have} points, at least {need} are needed")]
    TooShort { have: usize, need: usize },
    #[error("value {value} at position {index} is not a finite number")]
    NotFinite { index: usize, value: f64 },
    #[error("timestamps are not in ascending order at position {index}")]
    Unordered { index: usize },
    #[error("timestamps do not advance, so the series has no step")]
    NoStep,
    #[error("fitting {model}: {reason}")]
    Model { model: String, reason: String },
}

/// A forecast of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesForecast {
    /// The inferred spacing of the series.
    pub step_seconds: i64,
    /// Detected seasonal periods, in steps, shortest first.
    pub periods: Vec<usize>,
    /// The chosen model and its periods, e.g. `mstl[48,336]+autoets`.
    pub model: String,
    /// One point per step after the last timestamp.
    pub points: Vec<ForecastPoint>,
}

/// Mean and interval paths, before timestamps are attached.
#[derive(Debug, Clone, Default)]
struct Paths {
    mean: Vec<f64>,
    lower_80: Vec<f64>,
    upper_80: Vec<f64>,
    lower_95: Vec<f64>,
    upper_95: Vec<f64>,
}

/// The base models; a candidate is the average of a non-empty subset of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    /// MSTL with the detected periods (plain AutoETS when there are none), AutoETS trend.
    Mstl,
    /// The same on `ln y` (strictly positive series only), back-transformed.
    LogMstl,
    /// The last cycle of the longest period, repeated.
    SeasonalNaive,
}

impl Base {
    fn name(self) -> &'static str {
        match self {
            Base::Mstl => "mstl",
            Base::LogMstl => "log-mstl",
            Base::SeasonalNaive => "seasonal-naive",
        }
    }
}

/// An equal-weight average of base models. Averaging is the cheapest robust way to hedge
/// between models whose strengths differ (combinations rarely lose much to their best member
/// and often beat it), and equal weights need no estimation from a short validation tail.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate(Vec<Base>);

impl Candidate {
    fn name(&self, periods: &[usize]) -> String {
        let list = periods.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(",");
        let bases = self.0.iter().map(|b| b.name()).collect::<Vec<_>>().join("+");
        if periods.is_empty() {
            // Without a season MSTL is plain AutoETS.
            return bases.replace("mstl", "autoets");
        }
        let uses_mstl = self.0.iter().any(|b| *b != Base::SeasonalNaive);
        let bases = if self.0.len() > 1 { format!("mean({bases})") } else { bases };
        format!("{bases}[{list}]{}", if uses_mstl { "+autoets" } else { "" })
    }
}

/// Fits and forecasts one series at a time; holds only settings, so one instance serves every
/// series and the same input always gives the same forecast.
#[derive(Debug, Clone, Default)]
pub struct Forecaster {
    config: ForecasterConfig,
}

impl Forecaster {
    pub fn new(config: ForecasterConfig) -> Self {
        Forecaster { config }
    }

    pub fn config(&self) -> &ForecasterConfig {
        &self.config
    }

    /// Forecasts the series `(timestamps[i], values[i])`, timestamps ascending.
    pub fn forecast(&self, timestamps: &[DateTime<Utc>], values: &[f64]) -> Result<SeriesForecast, ForecastError> {
        if timestamps.len() != values.len() {
            return Err(ForecastError::LengthMismatch { timestamps: timestamps.len(), values: values.len() });
        }
        let need = self.config.min_points.max(4);
        if values.len() < need {
            return Err(ForecastError::TooShort { have: values.len(), need });
        }
        if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(ForecastError::NotFinite { index, value });
        }
        if let Some(index) = timestamps.windows(2).position(|w| w[1] < w[0]) {
            return Err(ForecastError::Unordered { index: index + 1 });
        }
        let step = median_step(timestamps).ok_or(ForecastError::NoStep)?;
        let step_seconds = step.num_seconds().max(1);
        let horizon = match self.config.horizon {
            Horizon::Steps(steps) => steps,
            Horizon::Duration(span) => {
                let span = span.num_seconds().max(0);
                usize::try_from((span + step_seconds - 1) / step_seconds).unwrap_or(usize::MAX)
            }
        }
        .clamp(1, self.config.max_horizon_steps.max(1));

        let (candidate, periods, paths) = self.fit_best(values, horizon)?;
        let last = timestamps.last().copied().ok_or(ForecastError::TooShort { have: 0, need })?;
        let mut points = Vec::with_capacity(horizon);
        for k in 0..horizon {
            let offset = i32::try_from(k + 1).ok().and_then(|k| step.checked_mul(k));
            let Some(ts) = offset.and_then(|offset| last.checked_add_signed(offset)) else { break };
            points.push(nested_point(ts, &paths, k));
        }
        Ok(SeriesForecast { step_seconds, model: candidate.name(&periods), periods, points })
    }

    /// Detects periods, picks the candidate with the lowest held-out error, refits its bases on
    /// all of `y` and forecasts `horizon` steps with intervals.
    fn fit_best(&self, y: &[f64], horizon: usize) -> Result<(Candidate, Vec<usize>, Paths), ForecastError> {
        let periods = detect_periods(y, self.config.max_periods);
        let mut bases = vec![Base::Mstl];
        if y.iter().all(|&v| v > 0.0) {
            bases.push(Base::LogMstl);
        }
        if !periods.is_empty() {
            bases.push(Base::SeasonalNaive);
        }
        let candidates: Vec<Candidate> = (1..1u32 << bases.len())
            .map(|mask| {
                Candidate(bases.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, b)| *b).collect())
            })
            .collect();

        let mut order: Vec<Candidate> = self.rank(y, &periods, &bases, &candidates, horizon);
        // Without a validation verdict, the plain model first.
        let rest: Vec<Candidate> = candidates.iter().filter(|c| !order.contains(c)).cloned().collect();
        order.extend(rest);
        // If the chosen model cannot be fitted on the full data (an optimiser failure), fall
        // back to the next candidate rather than emit nothing.
        let mut last_error = None;
        for candidate in order {
            let fitted: Result<Vec<Paths>, ForecastError> =
                candidate.0.iter().map(|&base| fit_predict(base, y, &periods, horizon, true)).collect();
            match fitted {
                Ok(paths) => return Ok((candidate, periods, average(&paths))),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or(ForecastError::Model { model: "none".into(), reason: "no candidate".into() }))
    }

    /// Candidates by their scaled error on held-out tails of `y`, best first (ties keep the
    /// simpler, earlier candidate); empty when `y` is too short to hold anything out.
    fn rank(
        &self,
        y: &[f64],
        periods: &[usize],
        bases: &[Base],
        candidates: &[Candidate],
        horizon: usize,
    ) -> Vec<Candidate> {
        let n = y.len();
        let longest = periods.last().copied().unwrap_or(1);
        // Hold out the forecast horizon, but never more than a quarter of the data, so the
        // training part of each fold still holds enough cycles for MSTL.
        let holdout = horizon.min(n / 4).max(1);
        let min_train = (3 * longest).max(self.config.min_points.max(4));
        let scale = naive_mae(y, longest).max(f64::EPSILON);
        let mut scores = vec![0.0; candidates.len()];
        let mut folds = 0;
        for fold in 1..=VALIDATION_FOLDS {
            let Some(train_len) = n.checked_sub(fold * holdout) else { break };
            if train_len < min_train {
                break;
            }
            let train = &y[..train_len];
            let test = &y[train_len..train_len + holdout];
            // Each base is fitted once per fold; candidates only average their forecasts.
            let forecasts: Vec<Option<Vec<f64>>> = bases
                .iter()
                .map(|&base| fit_predict(base, train, periods, holdout, false).ok().map(|p| p.mean))
                .collect();
            for (score, candidate) in scores.iter_mut().zip(candidates) {
                let members: Option<Vec<&Vec<f64>>> = candidate
                    .0
                    .iter()
                    .map(|b| bases.iter().position(|x| x == b).and_then(|i| forecasts[i].as_ref()))
                    .collect();
                let error = match members {
                    Some(members) if !members.is_empty() => {
                        (0..holdout)
                            .map(|k| {
                                let mean = members.iter().map(|m| m[k]).sum::<f64>() / members.len() as f64;
                                (mean - test[k]).abs()
                            })
                            .sum::<f64>()
                            / holdout as f64
                    }
                    _ => f64::INFINITY,
                };
                *score += error / scale;
            }
            folds += 1;
        }
        if folds == 0 {
            return Vec::new();
        }
        let mut ranked: Vec<(f64, usize)> =
            scores.iter().enumerate().filter(|(_, s)| s.is_finite()).map(|(i, &s)| (s, i)).collect();
        ranked.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal).then(a.1.cmp(&b.1)));
        ranked.into_iter().map(|(_, i)| candidates[i].clone()).collect()
    }
}

/// The pointwise mean of several forecasts (bounds averaged like the means).
fn average(paths: &[Paths]) -> Paths {
    let k = paths.len().max(1) as f64;
    let avg = |get: fn(&Paths) -> &Vec<f64>| -> Vec<f64> {
        let len = paths.iter().map(|p| get(p).len()).min().unwrap_or(0);
        (0..len).map(|i| paths.iter().map(|p| get(p)[i]).sum::<f64>() / k).collect()
    };
    Paths {
        mean: avg(|p| &p.mean),
        lower_80: avg(|p| &p.lower_80),
        upper_80: avg(|p| &p.upper_80),
        lower_95: avg(|p| &p.lower_95),
        upper_95: avg(|p| &p.upper_95),
    }
}

/// Median positive spacing of the timestamps.
fn median_step(timestamps: &[DateTime<Utc>]) -> Option<TimeDelta> {
    let mut gaps: Vec<TimeDelta> =
        timestamps.windows(2).map(|w| w[1] - w[0]).filter(|gap| *gap > TimeDelta::zero()).collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    Some(gaps[gaps.len() / 2])
}

/// Mean absolute difference between each value and the one `period` steps before.
fn naive_mae(y: &[f64], period: usize) -> f64 {
    let period = period.max(1);
    if y.len() <= period {
        return 0.0;
    }
    let diffs = y.len() - period;
    (period..y.len()).map(|i| (y[i] - y[i - period]).abs()).sum::<f64>() / diffs as f64
}

/// Fits one base model on `y` and forecasts `horizon` steps; intervals only when asked.
fn fit_predict(
    base: Base,
    y: &[f64],
    periods: &[usize],
    horizon: usize,
    intervals: bool,
) -> Result<Paths, ForecastError> {
    match base {
        Base::Mstl => mstl(y, periods, horizon, intervals, false),
        Base::LogMstl => mstl(y, periods, horizon, intervals, true),
        Base::SeasonalNaive => Ok(seasonal_naive(y, periods.last().copied().unwrap_or(1), horizon)),
    }
}

/// MSTL decomposition with an AutoETS (non-seasonal) trend, optionally on `ln y`.
fn mstl(y: &[f64], periods: &[usize], horizon: usize, intervals: bool, log: bool) -> Result<Paths, ForecastError> {
    let name = Candidate(vec![if log { Base::LogMstl } else { Base::Mstl }]).name(periods);
    let failed = |reason: String| ForecastError::Model { model: name.clone(), reason };
    let series: Vec<f64> = if log { y.iter().map(|v| v.ln()).collect() } else { y.to_vec() };
    // MSTL needs at least two full cycles of every period.
    let usable: Vec<usize> = periods.iter().copied().filter(|&p| p >= 2 && 2 * p < series.len()).collect();
    let back = |v: Vec<f64>| if log { v.into_iter().map(f64::exp).collect() } else { v };

    let predict = |level: Option<f64>| -> Result<augurs::Forecast, ForecastError> {
        if usable.is_empty() {
            let fitted = AutoETS::non_seasonal().fit(&series).map_err(|e| failed(e.to_string()))?;
            fitted.predict(horizon, level).map_err(|e| failed(e.to_string()))
        } else {
            let model = MSTLModel::new(usable.clone(), AutoETS::non_seasonal().into_trend_model());
            let fitted = model.fit(&series).map_err(|e| failed(e.to_string()))?;
            fitted.predict(horizon, level).map_err(|e| failed(e.to_string()))
        }
    };
    if !intervals {
        let forecast = predict(None)?;
        return Ok(Paths { mean: back(forecast.point), ..Paths::default() });
    }
    // Refitting per level costs one more fit but keeps the code on augurs' public API; the
    // fit is deterministic, so both calls share the same mean.
    let f95 = predict(Some(0.95))?;
    let f80 = predict(Some(0.80))?;
    let (Some(i95), Some(i80)) = (f95.intervals, f80.intervals) else {
        return Err(failed("no prediction intervals".into()));
    };
    let paths = Paths {
        mean: back(f95.point),
        lower_80: back(i80.lower),
        upper_80: back(i80.upper),
        lower_95: back(i95.lower),
        upper_95: back(i95.upper),
    };
    if paths.mean.iter().chain(&paths.lower_95).chain(&paths.upper_95).any(|v| !v.is_finite()) {
        return Err(failed("forecast is not finite".into()));
    }
    Ok(paths)
}

/// Repeats the last cycle; intervals from the in-sample seasonal differences, widening with the
/// square root of the number of cycles ahead (the random-walk-in-cycles model behind it).
fn seasonal_naive(y: &[f64], period: usize, horizon: usize) -> Paths {
    let period = period.clamp(1, y.len().max(1));
    let start = y.len() - period;
    let diffs: Vec<f64> = (period..y.len()).map(|i| y[i] - y[i - period]).collect();
    let sigma =
        if diffs.is_empty() { 0.0 } else { (diffs.iter().map(|d| d * d).sum::<f64>() / diffs.len() as f64).sqrt() };
    let mut paths = Paths::default();
    for k in 0..horizon {
        let mean = y[start + k % period];
        let sd = sigma * (((k / period) + 1) as f64).sqrt();
        paths.mean.push(mean);
        paths.lower_80.push(mean - Z80 * sd);
        paths.upper_80.push(mean + Z80 * sd);
        paths.lower_95.push(mean - Z95 * sd);
        paths.upper_95.push(mean + Z95 * sd);
    }
    paths
}

/// One forecast point whose intervals nest around the mean whatever the model returned (a
/// back-transformed or blended bound can cross by rounding).
fn nested_point(ts: DateTime<Utc>, paths: &Paths, k: usize) -> ForecastPoint {
    let mean = paths.mean[k];
    let lower_80 = paths.lower_80.get(k).copied().unwrap_or(mean).min(mean);
    let upper_80 = paths.upper_80.get(k).copied().unwrap_or(mean).max(mean);
    let lower_95 = paths.lower_95.get(k).copied().unwrap_or(lower_80).min(lower_80);
    let upper_95 = paths.upper_95.get(k).copied().unwrap_or(upper_80).max(upper_80);
    ForecastPoint { ts, mean, lower_80, upper_80, lower_95, upper_95 }
}
