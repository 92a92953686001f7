//! The pure forecaster: (timestamps, values) → forecast points with 80% and 95% intervals.
//!
//! Steps, all on the training data only:
//! 1. the step is the median spacing of the timestamps (robust to the odd gap or duplicate);
//!    month-spaced series step by calendar months;
//! 2. seasonal periods are detected ([`super::seasons`]);
//! 3. base models ([`super::bases`]) — the MSTL-adjusted series forecast by AutoETS or by the
//!    Theta method, with plain and robust (outlier-downweighting) STL, each on the values, on
//!    their logarithm and on a Box-Cox power chosen by Guerrero's method (the last two only for
//!    strictly positive series, where seasonal swings often grow with the level; the power only
//!    when it differs from both), seasonal-naive, Holt-Winters (ETS(A,Ad,A)) and the airline
//!    model (seasonal ARIMA) at the longest period — forecast held-out tails of the training
//!    data from the data before each;
//! 4. when the series ends in a level shift (the latest cycle-to-cycle changes far outside the
//!    usual ones), level-adjusted seasonal-naive joins the bases and the last quarter, half and
//!    three quarters of a holdout are scored too, so the models that follow the shift can win;
//! 5. the three bases with the lowest held-out RMSE are refit on all the data and combined by
//!    their pointwise median;
//! 6. the 80% and 95% intervals come from that combination's own errors on the held-out tails
//!    of step 3 ([`super::calibrate`]: split conformal, no further fit), or, when the series is
//!    too short for three tails, from the bases' own intervals (their pointwise median, which
//!    is no interval of a stated level: it covered from two thirds to all of the benchmark's
//!    test points at 80%).
//!
//! Why validation instead of one model: MSTL + ETS is strong when the seasonal shape is stable
//! and the trend smooth, Theta when the trend is steady but noisy, Holt-Winters when the shape
//! itself drifts, a transform when the swings are multiplicative, robust STL when one-off spikes
//! would otherwise leak into the seasonal shape, and a repeat of the last cycle (plain or
//! smoothed, as in the airline model) when the long cycle dominates. Which case holds is a
//! property of the series, measurable on its own past. Why the median of three: the held-out
//! tails are short, so the winner is partly luck; the median of the three best rarely loses much
//! to the best one, and it drops whichever of the three is off in a given step, where a mean
//! would carry it and averaging in every base would dilute the good ones.

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeDelta, Utc};
use signalcraft_model::ForecastPoint;

use super::bases::{forecast_bases, median, recent_steps, Base, Paths, Scale, Trend};
use super::calibrate::{Calibration, HeldOut};
use super::error::ForecastError;
use super::seasons::detect_periods;
use super::transform::Transform;

/// Held-out tails scored per base, at least: one tail is too noisy to choose between close
/// models, each more costs one fit of every base.
const VALIDATION_FOLDS: usize = 5;

/// Held-out tails at most. Between the two, when one tail is shorter than the longest cycle,
/// enough tails to cover every phase of it (each day of the week for a weekly cycle).
const MAX_VALIDATION_FOLDS: usize = 2 * VALIDATION_FOLDS;

/// After a level shift the latest holdout is also scored in parts: its last 1/4, 2/4 and 3/4,
/// each forecast from the data before it.
const RECENT_FOLDS_PER_HOLDOUT: usize = 4;

/// A Box-Cox λ within this distance of 0 (the log) or 1 (no transform) adds no base of its own.
const DISTINCT_LAMBDA: f64 = 0.1;

/// How many of the best-validated bases are combined (by their pointwise median).
const BLEND_SIZE: usize = 3;

/// A level shift at the end of the series: the median change over the last cycle of the latest
/// steps lies this many robust standard deviations (1.4826 × MAD) of the usual cycle-to-cycle
/// change away from its median. Four is far outside what a few ordinary steps reach together
/// (the median of three normal values passes it about once in 10⁸), and a real break of the
/// kind that makes the older held-out tails misleading (a lockdown, an outage) passes it easily.
const LEVEL_SHIFT_MADS: f64 = 4.0;

/// Cycles of the longest period the models are fitted on ([`needed_history`]).
const HISTORY_CYCLES: usize = 14;

/// Points the models are fitted on at least, whatever the period: two years of a daily series,
/// enough for the trend models of a series with a short cycle or none.
const HISTORY_FLOOR: usize = 730;

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
    /// Where the points' intervals come from.
    pub intervals: IntervalSource,
}

impl SeriesForecast {
    /// The model name as published on `kpi.forecasts`: the combination and its periods, then
    /// where the intervals come from, so a consumer can tell calibrated intervals from the
    /// models' own, e.g. `median(log-mstl, ...)[12]+autoets; intervals held-out 60/5`.
    pub fn published_model(&self) -> String {
        match self.intervals {
            IntervalSource::HeldOut { tails, errors } => format!("{}; intervals held-out {errors}/{tails}", self.model),
            IntervalSource::Model => format!("{}; intervals model", self.model),
        }
    }
}

/// How a forecast's 80% and 95% intervals were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalSource {
    /// Calibrated on the combination's own errors on held-out tails of the training data
    /// (module `calibrate`): `errors` of them, from `tails` tails.
    HeldOut { tails: usize, errors: usize },
    /// The models' own intervals (their pointwise median): too few held-out errors to
    /// calibrate on.
    Model,
}

/// The bases combined into the forecast: their pointwise median (the mean of two).
#[derive(Debug, Clone, PartialEq)]
struct Candidate(Vec<Base>);

impl Candidate {
    fn single(base: Base) -> Self {
        Candidate(vec![base])
    }

    fn name(&self, periods: &[usize]) -> String {
        let list = periods.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(",");
        let bases = match self.0.as_slice() {
            [one] => one.name(),
            [_, _] => format!("mean({})", self.0.iter().map(|b| b.name()).collect::<Vec<_>>().join(", ")),
            _ => format!("median({})", self.0.iter().map(|b| b.name()).collect::<Vec<_>>().join(", ")),
        };
        if periods.is_empty() {
            // Without a season MSTL is plain AutoETS.
            return bases.replace("mstl", "autoets");
        }
        let uses_mstl = self.0.iter().any(|b| matches!(b, Base::Decomposed { .. }));
        format!("{bases}[{list}]{}", if uses_mstl { "+autoets" } else { "" })
    }
}

/// One held-out tail: its values (from position `start` of the series) and each base's
/// forecast of them (`None`: the fit failed).
struct Fold<'a> {
    start: usize,
    test: &'a [f64],
    forecasts: Vec<Option<Vec<f64>>>,
}

/// Forecasts of every base on held-out tails of the training data.
struct Validation<'a> {
    /// The regular tails (disjoint, latest first), then after a level shift the latest data
    /// again in parts.
    folds: Vec<Fold<'a>>,
    /// How many of `folds` are regular.
    regular: usize,
    /// MASE-style scale: the in-sample seasonal-naive MAE.
    scale: f64,
}

impl<'a> Validation<'a> {
    /// Mean over the folds of base `index`'s root-mean-square error, scaled; infinite when its
    /// fit failed on some fold. Squared errors, as in the models' own fits: a base that misses
    /// badly now and then is worse than one that is always slightly off.
    fn score(&self, index: usize) -> f64 {
        let mut total = 0.0;
        for Fold { test, forecasts, .. } in &self.folds {
            let Some(Some(forecast)) = forecasts.get(index) else { return f64::INFINITY };
            let sse: f64 = test.iter().zip(forecast).map(|(a, f)| (f - a) * (f - a)).sum();
            total += (sse / test.len() as f64).sqrt() / self.scale;
        }
        total / self.folds.len() as f64
    }

    /// The [`BLEND_SIZE`] bases with the lowest held-out error (ties keep the earlier, simpler
    /// base); bases whose fit failed on some fold are left out.
    fn blend(&self, bases: &[Base]) -> Candidate {
        let scores: Vec<f64> = (0..bases.len()).map(|i| self.score(i)).collect();
        let mut order: Vec<usize> = (0..bases.len()).filter(|&i| scores[i].is_finite()).collect();
        order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
        order.truncate(BLEND_SIZE);
        if order.is_empty() {
            return Candidate::single(bases[0]);
        }
        Candidate(order.into_iter().map(|i| bases[i]).collect())
    }

    /// The combination of `chosen` (bases of `bases`) on each regular tail, as the forecast
    /// combines them: their pointwise median. Tails where one of them failed are left out.
    fn held_out(&self, bases: &[Base], chosen: &[Base]) -> Vec<HeldOut<'a>> {
        let Some(indices) = chosen.iter().map(|c| bases.iter().position(|b| b == c)).collect::<Option<Vec<_>>>() else {
            return Vec::new();
        };
        self.folds[..self.regular]
            .iter()
            .filter_map(|fold| {
                let means: Option<Vec<&[f64]>> = indices.iter().map(|&i| fold.forecasts.get(i)?.as_deref()).collect();
                Some(HeldOut { start: fold.start, actual: fold.test, forecast: median_path(&means?) })
            })
            .collect()
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

        let (candidate, periods, paths, intervals) = self.fit_best(values, horizon)?;
        let last = timestamps.last().copied().ok_or(ForecastError::TooShort { have: 0, need })?;
        let months = calendar_months(timestamps);
        let mut points = Vec::with_capacity(horizon);
        for k in 0..horizon {
            let ts = match months {
                Some(months) => add_months(last, months.saturating_mul(k as u32 + 1)),
                None => {
                    let offset = i32::try_from(k + 1).ok().and_then(|k| step.checked_mul(k));
                    offset.and_then(|offset| last.checked_add_signed(offset))
                }
            };
            let Some(ts) = ts else { break };
            points.push(nested_point(ts, &paths, k));
        }
        Ok(SeriesForecast { step_seconds, model: candidate.name(&periods), periods, points, intervals })
    }

    /// Detects periods, weighs the bases by their held-out error, refits them on all of `y` and
    /// forecasts `horizon` steps with intervals, calibrated on the held-out errors when there
    /// are enough of them.
    fn fit_best(
        &self,
        y: &[f64],
        horizon: usize,
    ) -> Result<(Candidate, Vec<usize>, Paths, IntervalSource), ForecastError> {
        let periods = detect_periods(y, self.config.max_periods);
        let y = &y[y.len() - needed_history(y.len(), &periods)..];
        let shifted = level_shift_at_end(y, periods.last().copied().unwrap_or(1));
        let bases = candidate_bases(y, &periods, shifted);
        let validation = self.validate(y, &periods, &bases, horizon, shifted);
        let (candidate, paths) = Self::fit_chosen(y, &periods, &bases, validation.as_ref(), horizon)?;
        let calibration =
            validation.and_then(|v| Calibration::fit(y, &periods, &v.held_out(&bases, &candidate.0), &paths.mean));
        Ok(match calibration {
            Some(c) => {
                let source = IntervalSource::HeldOut { tails: c.tails, errors: c.errors };
                (candidate, periods, c.apply(&paths.mean), source)
            }
            None => (candidate, periods, paths, IntervalSource::Model),
        })
    }

    /// The blend of the best-validated bases refit on all of `y`: its forecast with the
    /// models' intervals (their pointwise median).
    fn fit_chosen(
        y: &[f64],
        periods: &[usize],
        bases: &[Base],
        validation: Option<&Validation>,
        horizon: usize,
    ) -> Result<(Candidate, Paths), ForecastError> {
        let chosen = match validation {
            Some(validation) => validation.blend(bases),
            // Too short to hold anything out: the plain model.
            None => Candidate::single(bases[0]),
        };
        // A base that cannot be fitted on the full data (an optimiser failure) is dropped; if
        // none can, the bases are tried alone in turn.
        let mut fitted = Vec::new();
        let mut last_error = None;
        for (&base, result) in chosen.0.iter().zip(forecast_bases(&chosen.0, y, periods, horizon, true)) {
            match result {
                Ok(paths) => fitted.push((base, paths)),
                Err(error) => last_error = Some(error),
            }
        }
        if fitted.is_empty() {
            for (&base, result) in bases.iter().zip(forecast_bases(bases, y, periods, horizon, true)) {
                match result {
                    Ok(paths) => return Ok((Candidate::single(base), paths)),
                    Err(error) => last_error = Some(error),
                }
            }
            return Err(last_error.unwrap_or(ForecastError::Model { model: "none".into(), reason: "no base".into() }));
        }
        let candidate = Candidate(fitted.iter().map(|(b, _)| *b).collect());
        let paths: Vec<Paths> = fitted.into_iter().map(|(_, p)| p).collect();
        Ok((candidate, pointwise_median(&paths)))
    }

    /// Every base's forecasts of held-out tails of `y`, each forecast from the data before it;
    /// `None` when `y` is too short to hold anything out.
    fn validate<'a>(
        &self,
        y: &'a [f64],
        periods: &[usize],
        bases: &[Base],
        horizon: usize,
        shifted: bool,
    ) -> Option<Validation<'a>> {
        let n = y.len();
        let longest = periods.last().copied().unwrap_or(1);
        // Hold out the forecast horizon, but never more than a quarter of the data, so the
        // training part of each fold still holds enough cycles for MSTL.
        let holdout = horizon.min(n / 4).max(1);
        let min_train = (3 * longest).max(self.config.min_points.max(4));
        let scale = naive_mae(y, longest).max(f64::EPSILON);
        let max_folds = longest.div_ceil(holdout).clamp(VALIDATION_FOLDS, MAX_VALIDATION_FOLDS);
        let mut folds = Vec::new();
        for fold in 1..=max_folds {
            let Some(train_len) = n.checked_sub(fold * holdout) else { break };
            if train_len < min_train {
                break;
            }
            let forecasts = forecast_bases(bases, &y[..train_len], periods, holdout, false)
                .into_iter()
                .map(|result| result.ok().map(|p| p.mean))
                .collect();
            folds.push(Fold { start: train_len, test: &y[train_len..train_len + holdout], forecasts });
        }
        if folds.is_empty() {
            return None;
        }
        let regular = folds.len();
        // After a level shift at the end, the latest data are scored as well: the last quarter,
        // half and three quarters of a holdout, each forecast from everything before it. The
        // tails above end a whole holdout or more before the end, so without these the shift
        // would weigh nothing in the choice, although the models that follow it are exactly the
        // ones to trust next. Without a shift they would only add noise to the choice.
        let parts = if shifted { RECENT_FOLDS_PER_HOLDOUT } else { 1 };
        let mut recent: Vec<usize> = (1..parts)
            .map(|q| (holdout * q / parts).max(1))
            .filter(|&len| len < holdout && n - len >= min_train)
            .collect();
        recent.dedup();
        for len in recent {
            let train_len = n - len;
            let forecasts = forecast_bases(bases, &y[..train_len], periods, len, false)
                .into_iter()
                .map(|result| result.ok().map(|p| p.mean))
                .collect();
            folds.push(Fold { start: train_len, test: &y[train_len..], forecasts });
        }
        Some(Validation { folds, regular, scale })
    }
}

/// How many of the latest `n` points the models are fitted on, given the detected `periods`:
/// [`HISTORY_CYCLES`] cycles of the longest period, at least [`HISTORY_FLOOR`] points. The
/// periods are detected on everything held; the fits, each a pass or several over the data
/// per fold, see no older data than this. MSTL's seasonal smoother reaches back 7 to 11 cycles
/// for the last cycle (the one forecast), AutoETS sees 500 points, and the bench's windows hold
/// 8 to 14 cycles of their longest period: the bound changes none of its forecasts, and cuts
/// the work on a long-kept series (eleven years of a daily series with a weekly cycle, the
/// default 4,032 points, are fitted on 730).
fn needed_history(n: usize, periods: &[usize]) -> usize {
    let longest = periods.last().copied().unwrap_or(1);
    longest.saturating_mul(HISTORY_CYCLES).max(HISTORY_FLOOR).min(n)
}

/// The bases validated for a series with these periods; level-adjusted seasonal-naive only
/// after a level shift at the end (`shifted`), the case it is for: on a steady series it is a
/// noisier seasonal-naive. Transforms that do not apply to the data (a log of a negative value)
/// fail their fits and drop out of the validation.
fn candidate_bases(y: &[f64], periods: &[usize], shifted: bool) -> Vec<Base> {
    let mut scales = vec![Scale::Identity];
    if y.iter().all(|&v| v > 0.0) {
        scales.push(Scale::Log);
        // A Box-Cox power next to the log and the identity only when it differs from both;
        // an identical twin would count twice in the blend.
        if let Some(Transform::BoxCox(lambda)) = Transform::guerrero(y, periods.first().copied().unwrap_or(1)) {
            if (DISTINCT_LAMBDA..=1.0 - DISTINCT_LAMBDA).contains(&lambda) {
                scales.push(Scale::BoxCox);
            }
        }
    }
    let mut bases = Vec::new();
    for &scale in &scales {
        for robust in [false, true] {
            // Without a season there is no STL, robust or not.
            if robust && periods.is_empty() {
                continue;
            }
            for trend in [Trend::AutoEts, Trend::Theta] {
                bases.push(Base::Decomposed { scale, robust, trend });
            }
        }
    }
    if !periods.is_empty() {
        bases.push(Base::SeasonalNaive);
        for &scale in scales.iter().filter(|&&s| s != Scale::BoxCox) {
            bases.push(Base::Airline { scale });
        }
        for &scale in &scales {
            bases.push(Base::HoltWinters { scale });
        }
        if shifted {
            for &scale in scales.iter().filter(|&&s| s != Scale::BoxCox) {
                bases.push(Base::LevelNaive { scale });
            }
        }
    }
    bases
}

/// The pointwise median of several forecasts, bounds taken the same way (the mean of two).
fn pointwise_median(paths: &[Paths]) -> Paths {
    let pointwise = |get: fn(&Paths) -> &[f64]| median_path(&paths.iter().map(get).collect::<Vec<_>>());
    Paths {
        mean: pointwise(|p| &p.mean),
        lower_80: pointwise(|p| &p.lower_80),
        upper_80: pointwise(|p| &p.upper_80),
        lower_95: pointwise(|p| &p.lower_95),
        upper_95: pointwise(|p| &p.upper_95),
    }
}

/// The pointwise median of several paths (the mean of two), as long as the shortest.
fn median_path(paths: &[&[f64]]) -> Vec<f64> {
    let len = paths.iter().map(|p| p.len()).min().unwrap_or(0);
    (0..len)
        .map(|i| {
            let mut values: Vec<f64> = paths.iter().map(|p| p[i]).collect();
            median(&mut values)
        })
        .collect()
}

/// Whether the series ends in a level shift: the median change from one cycle of the longest
/// `period` to the next over the latest steps (as many as level-adjusted seasonal-naive reads
/// its level from) is more than [`LEVEL_SHIFT_MADS`] robust standard deviations away from the
/// median change over the whole series. On the log scale for a positive series, where a drop to
/// a quarter is the same shift at any level.
fn level_shift_at_end(y: &[f64], period: usize) -> bool {
    let m = period.max(1);
    let recent = recent_steps(m);
    if y.len() < m + recent + 2 {
        return false;
    }
    let positive = y.iter().all(|&v| v > 0.0);
    let z: Vec<f64> = if positive { y.iter().map(|v| v.ln()).collect() } else { y.to_vec() };
    let mut changes: Vec<f64> = (m..z.len()).map(|t| z[t] - z[t - m]).collect();
    let mut latest = changes[changes.len() - recent..].to_vec();
    let latest = median(&mut latest);
    let centre = median(&mut changes);
    let mut deviations: Vec<f64> = changes.iter().map(|c| (c - centre).abs()).collect();
    let spread = 1.4826 * median(&mut deviations);
    (latest - centre).abs() > LEVEL_SHIFT_MADS * spread && (latest - centre).abs() > f64::EPSILON
}

/// The step in calendar months when the series is month-spaced (monthly, quarterly, yearly):
/// every timestamp at the same time of day on the same day of the month, or every one on the
/// last day of its month. Such a series advances by months, not by a fixed number of seconds.
fn calendar_months(timestamps: &[DateTime<Utc>]) -> Option<u32> {
    let first = timestamps.first()?;
    let same_time = timestamps.iter().all(|t| t.time() == first.time());
    let same_day = timestamps.iter().all(|t| t.day() == first.day());
    let month_ends = timestamps.iter().all(|t| is_month_end(t.date_naive()));
    if !same_time || !(same_day || month_ends) {
        return None;
    }
    let index = |t: &DateTime<Utc>| i64::from(t.year()) * 12 + i64::from(t.month0());
    let mut gaps: Vec<i64> = timestamps.windows(2).map(|w| index(&w[1]) - index(&w[0])).filter(|&g| g > 0).collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    u32::try_from(gaps[gaps.len() / 2]).ok()
}

/// `t` plus `months` calendar months: the same day of the month (the last one if the target
/// month is shorter), or the month's last day when `t` is a month end.
fn add_months(t: DateTime<Utc>, months: u32) -> Option<DateTime<Utc>> {
    let shifted = t.checked_add_months(Months::new(months))?;
    if !is_month_end(t.date_naive()) {
        return Some(shifted);
    }
    let date = shifted.date_naive();
    let next = date.with_day(1)?.checked_add_months(Months::new(1))?;
    let end = next.pred_opt()?;
    Some(end.and_time(t.time()).and_utc())
}

fn is_month_end(date: NaiveDate) -> bool {
    date.succ_opt().is_none_or(|next| next.month() != date.month())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_best_validated_bases_are_combined_by_their_median() {
        let ets = Base::Decomposed { scale: Scale::Identity, robust: false, trend: Trend::AutoEts };
        let theta = Base::Decomposed { scale: Scale::Identity, robust: false, trend: Trend::Theta };
        let airline = Base::Airline { scale: Scale::Identity };
        let bases = [ets, theta, Base::SeasonalNaive, airline, Base::HoltWinters { scale: Scale::Identity }];
        let test = [1.0, 2.0];
        let validation = Validation {
            folds: vec![Fold {
                start: 0,
                test: &test,
                forecasts: vec![
                    Some(vec![1.5, 2.5]),
                    Some(vec![1.0, 3.0]),
                    Some(vec![1.0, 2.1]),
                    Some(vec![1.2, 2.2]),
                    None,
                ],
            }],
            regular: 1,
            scale: 1.0,
        };
        // RMSE: 0.5, √0.5, √0.005, 0.2; the failed base is out.
        assert!((validation.score(1) - 0.5f64.sqrt()).abs() < 1e-12);
        assert_eq!(validation.score(4), f64::INFINITY);
        assert_eq!(validation.blend(&bases).0, vec![Base::SeasonalNaive, airline, ets]);
        let path =
            |v: f64| Paths { mean: vec![v], lower_80: vec![v - 1.0], upper_80: vec![v + 1.0], ..Paths::default() };
        let median = pointwise_median(&[path(3.0), path(10.0), path(1.0)]);
        assert_eq!((median.mean[0], median.lower_80[0], median.upper_80[0]), (3.0, 2.0, 4.0));
        assert_eq!(pointwise_median(&[path(3.0), path(10.0)]).mean[0], 6.5, "two are averaged");
    }

    #[test]
    fn the_models_see_fourteen_cycles_of_the_longest_period_and_never_fewer_than_730_points() {
        // Five-minute data with a daily cycle: two weeks.
        assert_eq!(needed_history(10_000, &[288]), 4032);
        // Half-hourly with a daily and a weekly cycle: all of a shorter history.
        assert_eq!(needed_history(2688, &[48, 336]), 2688);
        // Eleven years of daily data with a weekly cycle, or without any: two years.
        assert_eq!(needed_history(4032, &[7]), 730);
        assert_eq!(needed_history(4032, &[]), 730);
        assert_eq!(needed_history(144, &[12]), 144);
    }

    #[test]
    fn a_level_shift_is_seen_only_when_the_latest_steps_move_together() {
        // Daily footfall with a weekly cycle and a little noise.
        let shape = [1.0, 1.1, 1.2, 1.1, 1.4, 1.6, 0.9];
        let noise = |i: usize| 1.0 + 0.05 * ((i as f64 * 12.9898).sin() * 43_758.547).fract();
        let steady: Vec<f64> = (0..200).map(|i| 1000.0 * shape[i % 7] * noise(i)).collect();
        assert!(!level_shift_at_end(&steady, 7));
        // Down to a quarter for the last five days: a lockdown.
        let mut lockdown = steady.clone();
        lockdown[195..].iter_mut().for_each(|v| *v /= 4.0);
        assert!(level_shift_at_end(&lockdown, 7));
        // One odd day at the end is an outlier, not a new level.
        let mut spike = steady.clone();
        spike[199] *= 5.0;
        assert!(!level_shift_at_end(&spike, 7));
        // The same on a series that crosses zero, on its own scale.
        let centred: Vec<f64> = lockdown.iter().map(|v| v - 1000.0).collect();
        assert!(level_shift_at_end(&centred, 7));
        assert!(!level_shift_at_end(&steady[..9], 7), "too short to tell");
    }

    #[test]
    fn transforms_join_the_pool_only_for_positive_series_and_a_distinct_power() {
        let periods = [12];
        let scales = |y: &[f64]| {
            let mut scales: Vec<Scale> = candidate_bases(y, &periods, false)
                .into_iter()
                .filter_map(|b| match b {
                    Base::Decomposed { scale, .. } => Some(scale),
                    _ => None,
                })
                .collect();
            scales.dedup();
            scales
        };
        // Swings proportional to the level: Guerrero picks the log, so no separate power.
        let multiplicative: Vec<f64> =
            (0..120).map(|i| 100.0 * (1 + i / 12) as f64 * (1.0 + 0.3 * ((i % 12) as f64 - 5.5) / 5.5)).collect();
        assert_eq!(scales(&multiplicative), vec![Scale::Identity, Scale::Log]);
        let negative: Vec<f64> = multiplicative.iter().map(|v| v - 500.0).collect();
        assert_eq!(scales(&negative), vec![Scale::Identity]);
        assert!(candidate_bases(&negative, &[], false)
            .iter()
            .all(|b| matches!(b, Base::Decomposed { robust: false, .. })));
        let level_naive = |shifted| {
            candidate_bases(&multiplicative, &periods, shifted)
                .iter()
                .filter(|b| matches!(b, Base::LevelNaive { .. }))
                .count()
        };
        assert_eq!((level_naive(false), level_naive(true)), (0, 2), "only after a shift, on the values and the log");
    }
}
