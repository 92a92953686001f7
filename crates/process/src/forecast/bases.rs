//! The base models the [`super::Forecaster`] validates and combines, each a pure function of
//! the training values: (y, seasonal periods, horizon) → mean path with 80% and 95% bounds.
//!
//! - decomposition models: the series (optionally Box-Cox transformed) minus its MSTL seasonal
//!   components, forecast by a non-seasonal model — AutoETS, damped-trend ETS or the Theta
//!   method — with the last cycle of each seasonal component added back;
//! - seasonal-naive at the longest period, plain or moved to the level of the latest steps;
//! - Holt-Winters (ETS(A,Ad,A), [`super::holt_winters`]) at the longest period;
//! - the airline model (seasonal ARIMA) at the longest period;
//!
//! the last three and level-adjusted seasonal-naive optionally on a transformed scale.
//!
//! One decomposition serves every trend model fitted on it, so adding a trend model costs only
//! its own (cheap) fit.

use augurs::mstl::stlrs::{MstlParams, StlParams};

use super::error::ForecastError;
use super::ets::Ets;
use super::holt_winters::{nelder_mead, HoltWinters};
use super::transform::{golden_section_min, Transform};

/// Standard normal quantiles for the two interval levels.
pub(super) const Z80: f64 = 1.281_551_565_545;
pub(super) const Z95: f64 = 1.959_963_984_540;

/// The ETS trend model sees at most this many of the latest adjusted values: its level and
/// slope are exponentially weighted towards the recent past, so older values change the fit
/// little and cost time (the fit is linear in the length, times a few hundred optimiser steps).
/// Even a smoothing weight of 0.01 gives the 500th-latest value under 1% of the weight of the
/// latest, and the AutoETS fits were half the cost of a 3,000-point fit at 1,000.
const ETS_MAX_POINTS: usize = 500;

/// Reweighting passes of robust STL. The library's default of 15 (from the original paper's
/// conservative advice) triples the cost of the decomposition for weights that have long settled:
/// an outlier's weight drops to near zero in the first passes. Three (down from five) leave the
/// bench's forecasts within noise of each other and cut a 2,688-point fit by a fifth.
const ROBUST_STL_PASSES: usize = 3;

/// Mean and interval paths, before timestamps are attached. Bounds are empty when intervals
/// were not asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Paths {
    pub(super) mean: Vec<f64>,
    pub(super) lower_80: Vec<f64>,
    pub(super) upper_80: Vec<f64>,
    pub(super) lower_95: Vec<f64>,
    pub(super) upper_95: Vec<f64>,
}

impl Paths {
    /// Normal bounds `mean ± z·sd` on the transformed scale, all mapped back; only the mean
    /// when `sd` is empty.
    fn from_transformed(mean: &[f64], sd: &[f64], transform: Transform) -> Paths {
        let back = |v: f64| transform.inverse(v);
        let bound = |z: f64| -> Vec<f64> { mean.iter().zip(sd).map(|(m, s)| back(m + z * s)).collect() };
        Paths {
            mean: mean.iter().map(|&m| back(m)).collect(),
            lower_80: bound(-Z80),
            upper_80: bound(Z80),
            lower_95: bound(-Z95),
            upper_95: bound(Z95),
        }
    }

    fn is_finite(&self) -> bool {
        self.mean.iter().chain(&self.lower_95).chain(&self.upper_95).all(|v| v.is_finite())
    }
}

/// Which transform a base applies; a Box-Cox λ is chosen on the data each fit sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scale {
    Identity,
    Log,
    /// Box-Cox, λ by Guerrero's method at the shortest period.
    BoxCox,
}

impl Scale {
    fn resolve(self, y: &[f64], periods: &[usize]) -> Option<Transform> {
        let transform = match self {
            Scale::Identity => Transform::Identity,
            Scale::Log => Transform::LOG,
            Scale::BoxCox => Transform::guerrero(y, periods.first().copied().unwrap_or(1))?,
        };
        transform.applies_to(y).then_some(transform)
    }

    fn prefix(self) -> &'static str {
        match self {
            Scale::Identity => "",
            Scale::Log => "log-",
            Scale::BoxCox => "boxcox-",
        }
    }
}

/// How the seasonally adjusted series is forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trend {
    /// AutoETS over the additive-error non-seasonal ETS models (level, trend, damped trend),
    /// chosen by AICc.
    AutoEts,
    /// The Theta method: simple exponential smoothing plus half the linear-regression slope
    /// (Hyndman and Billah's form), strong on the M3 competition's monthly series.
    Theta,
}

/// The base models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Base {
    /// The detected periods removed by MSTL (robust STL downweights outliers), the rest
    /// forecast by `trend`; without periods the trend model alone.
    Decomposed { scale: Scale, robust: bool, trend: Trend },
    /// The last cycle of the longest period, repeated.
    SeasonalNaive,
    /// The airline model at the longest period.
    Airline { scale: Scale },
    /// Holt-Winters, ETS(A,Ad,A), at the longest period.
    HoltWinters { scale: Scale },
    /// The typical recent cycle of the longest period, moved to the level of the last few steps.
    LevelNaive { scale: Scale },
}

impl Base {
    pub(super) fn name(self) -> String {
        match self {
            Base::Decomposed { scale, robust, trend } => {
                let trend = match trend {
                    Trend::AutoEts => "",
                    Trend::Theta => "-theta",
                };
                format!("{}mstl{}{trend}", scale.prefix(), if robust { "-robust" } else { "" })
            }
            Base::SeasonalNaive => "seasonal-naive".into(),
            Base::Airline { scale } => format!("{}airline", scale.prefix()),
            Base::HoltWinters { scale } => format!("{}holt-winters", scale.prefix()),
            Base::LevelNaive { scale } => format!("{}level-naive", scale.prefix()),
        }
    }
}

/// A seasonally adjusted series and the seasonal path to add back to its forecast, both on
/// the transformed scale.
struct Decomposition {
    transform: Transform,
    adjusted: Vec<f64>,
    seasonal_future: Vec<f64>,
}

/// A forecast on the transformed scale: mean and standard deviation per step (`sd` empty
/// without intervals).
struct Normal {
    mean: Vec<f64>,
    sd: Vec<f64>,
}

/// Forecasts of every base in `bases` fitted on `y`, in order; bases that share a transform
/// and robustness share one decomposition.
pub(super) fn forecast_bases(
    bases: &[Base],
    y: &[f64],
    periods: &[usize],
    horizon: usize,
    intervals: bool,
) -> Vec<Result<Paths, ForecastError>> {
    let mut decompositions: Vec<((Scale, bool), Result<Decomposition, ForecastError>)> = Vec::new();
    let mut out = Vec::with_capacity(bases.len());
    for &base in bases {
        let failed = |reason: String| ForecastError::Model { model: base.name(), reason };
        let longest = periods.last().copied().unwrap_or(1);
        let result = match base {
            Base::Decomposed { scale, robust, trend } => {
                let index = match decompositions.iter().position(|(key, _)| *key == (scale, robust)) {
                    Some(index) => index,
                    None => {
                        decompositions.push(((scale, robust), decompose(y, scale, robust, periods, horizon)));
                        decompositions.len() - 1
                    }
                };
                match &decompositions[index].1 {
                    Err(error) => Err(error.clone()),
                    Ok(d) => forecast_trend(trend, &d.adjusted, horizon, intervals).map_err(failed).and_then(|n| {
                        let mean: Vec<f64> = n.mean.iter().zip(&d.seasonal_future).map(|(m, s)| m + s).collect();
                        let paths = Paths::from_transformed(&mean, &n.sd, d.transform);
                        if paths.is_finite() {
                            Ok(paths)
                        } else {
                            Err(failed("forecast is not finite".into()))
                        }
                    }),
                }
            }
            Base::SeasonalNaive => Ok(seasonal_naive(y, longest, horizon)),
            Base::Airline { scale } => match scale.resolve(y, periods) {
                None => Err(failed("transform undefined for the data".into())),
                Some(transform) => {
                    let z: Vec<f64> = y.iter().map(|&v| transform.forward(v)).collect();
                    airline(&z, longest, horizon)
                        .map(|n| Paths::from_transformed(&n.mean, if intervals { &n.sd } else { &[] }, transform))
                        .filter(Paths::is_finite)
                        .ok_or_else(|| failed("too short for the airline model".into()))
                }
            },
            Base::HoltWinters { scale } => match scale.resolve(y, periods) {
                None => Err(failed("transform undefined for the data".into())),
                Some(transform) => {
                    let z: Vec<f64> = y.iter().map(|&v| transform.forward(v)).collect();
                    HoltWinters::fit(&z, longest)
                        .map(|model| model.forecast(horizon))
                        .map(|(mean, sd)| Paths::from_transformed(&mean, if intervals { &sd } else { &[] }, transform))
                        .filter(Paths::is_finite)
                        .ok_or_else(|| failed("too short for Holt-Winters".into()))
                }
            },
            Base::LevelNaive { scale } => match scale.resolve(y, periods) {
                None => Err(failed("transform undefined for the data".into())),
                Some(transform) => {
                    let z: Vec<f64> = y.iter().map(|&v| transform.forward(v)).collect();
                    let n = level_naive(&z, longest, horizon);
                    Some(Paths::from_transformed(&n.mean, if intervals { &n.sd } else { &[] }, transform))
                        .filter(Paths::is_finite)
                        .ok_or_else(|| failed("forecast is not finite".into()))
                }
            },
        };
        out.push(result);
    }
    out
}

/// Transforms `y` and removes the MSTL seasonal components of the periods that fit twice.
fn decompose(
    y: &[f64],
    scale: Scale,
    robust: bool,
    periods: &[usize],
    horizon: usize,
) -> Result<Decomposition, ForecastError> {
    let name = format!("{}mstl{}", scale.prefix(), if robust { "-robust" } else { "" });
    let failed = |reason: String| ForecastError::Model { model: name.clone(), reason };
    let transform = scale.resolve(y, periods).ok_or_else(|| failed("transform undefined for the data".into()))?;
    let z: Vec<f64> = y.iter().map(|&v| transform.forward(v)).collect();
    // MSTL needs at least two full cycles of every period.
    let usable: Vec<usize> = periods.iter().copied().filter(|&p| p >= 2 && 2 * p < z.len()).collect();
    if usable.is_empty() {
        return Ok(Decomposition { transform, adjusted: z, seasonal_future: vec![0.0; horizon] });
    }
    let mut stl = StlParams::new();
    stl.robust(robust);
    if robust {
        stl.outer_loops(ROBUST_STL_PASSES);
    }
    let mut params = MstlParams::new();
    params.stl_params(stl);
    // STL runs in f32 (as in augurs' MSTL model): ample for a seasonal shape, and twice as fast.
    let z32: Vec<f32> = z.iter().map(|&v| v as f32).collect();
    let fit = params.fit(&z32, &usable).map_err(|e| failed(e.to_string()))?;
    let mut adjusted = z;
    let mut seasonal_future = vec![0.0; horizon];
    for (component, &period) in fit.seasonal().iter().zip(&usable) {
        for (a, s) in adjusted.iter_mut().zip(component) {
            *a -= f64::from(*s);
        }
        let last_cycle = &component[component.len() - period..];
        for (k, future) in seasonal_future.iter_mut().enumerate() {
            *future += f64::from(last_cycle[k % period]);
        }
    }
    Ok(Decomposition { transform, adjusted, seasonal_future })
}

/// Forecasts the seasonally adjusted series `x` with a non-seasonal model.
fn forecast_trend(trend: Trend, x: &[f64], horizon: usize, intervals: bool) -> Result<Normal, String> {
    match trend {
        Trend::AutoEts => {
            // Additive errors only: the data are already on a variance-stabilised scale, and the
            // multiplicative-error twins double the cost for forecasts that barely differ. The
            // smoothed state depends on the recent past, so a long series is fitted on its tail.
            let model = Ets::auto(&x[x.len().saturating_sub(ETS_MAX_POINTS)..]).ok_or("too short for ETS")?;
            let (mean, sd) = model.forecast(horizon);
            Ok(Normal { mean, sd: if intervals { sd } else { Vec::new() } })
        }
        Trend::Theta => {
            let n = theta(x, horizon).ok_or("too short for the Theta method")?;
            Ok(Normal { sd: if intervals { n.sd } else { Vec::new() }, mean: n.mean })
        }
    }
}

/// Simple exponential smoothing of `x` with smoothing weight `alpha`: the final level and the
/// sum of squared one-step errors.
fn ses(x: &[f64], alpha: f64) -> (f64, f64) {
    let mut level = x[0];
    let mut sse = 0.0;
    for &v in &x[1..] {
        let error = v - level;
        sse += error * error;
        level += alpha * error;
    }
    (level, sse)
}

/// The Theta method (Assimakopoulos and Nikolopoulos, in Hyndman and Billah's equivalent
/// form): SES with drift equal to half the least-squares slope of `x`,
/// `ŷ(h) = ℓ + b/2 · (h − 1 + 1/α − (1 − α)^n / α)`; sd from SES, `σ √(1 + (h − 1) α²)`.
fn theta(x: &[f64], horizon: usize) -> Option<Normal> {
    let n = x.len();
    if n < 3 {
        return None;
    }
    let alpha = golden_section_min(|a| ses(x, a).1, 0.01, 1.0);
    let (level, sse) = ses(x, alpha);
    let mean_t = (n as f64 - 1.0) / 2.0;
    let mean_x = x.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (t, v) in x.iter().enumerate() {
        let dt = t as f64 - mean_t;
        sxy += dt * (v - mean_x);
        sxx += dt * dt;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let sigma = (sse / (n - 1) as f64).sqrt();
    let carry = 1.0 / alpha - (1.0 - alpha).powi(i32::try_from(n).unwrap_or(i32::MAX)) / alpha;
    let mean = (1..=horizon).map(|h| level + slope / 2.0 * (h as f64 - 1.0 + carry)).collect();
    let sd = (1..=horizon).map(|h| sigma * (1.0 + (h as f64 - 1.0) * alpha * alpha).sqrt()).collect();
    Some(Normal { mean, sd })
}

/// The airline model (Box and Jenkins): `(1 - B)(1 - B^m) z = (1 + θB)(1 + ΘB^m) e`, the
/// moving-average terms fitted by conditional least squares: the best point of a coarse grid
/// (steps of 0.2), refined by Nelder–Mead. (A 19 × 19 grid refined by a second one took four
/// times the evaluations, each a pass over the series, and the bench's forecasts agreed to
/// the third decimal of their MASE.) It is
/// seasonal-naive with the level and the seasonal shape smoothed instead of copied, and fits
/// trending series whose seasonal swings drift. sd from the model's ψ weights.
fn airline(z: &[f64], period: usize, horizon: usize) -> Option<Normal> {
    const AIRLINE_EVALUATIONS: usize = 100;
    let m = period.max(2);
    let n = z.len();
    if n < 2 * m + 2 {
        return None;
    }
    // w_t = (1 - B)(1 - B^m) z_t for t > m.
    let w: Vec<f64> = (m + 1..n).map(|t| z[t] - z[t - 1] - z[t - m] + z[t - m - 1]).collect();
    let residuals = |theta: f64, big: f64, e: &mut Vec<f64>| {
        e.clear();
        for t in 0..w.len() {
            let at = |lag: usize| if t >= lag { e[t - lag] } else { 0.0 };
            let value = w[t] - theta * at(1) - big * at(m) - theta * big * at(m + 1);
            e.push(value);
        }
    };
    // One buffer for every evaluation: the search makes a few hundred.
    let buffer = std::cell::RefCell::new(Vec::with_capacity(w.len()));
    let sse = |theta: f64, big: f64| {
        if theta.abs() >= 0.99 || big.abs() >= 0.99 {
            return f64::INFINITY;
        }
        let mut e = buffer.borrow_mut();
        residuals(theta, big, &mut e);
        let sse = e.iter().map(|v| v * v).sum::<f64>();
        if sse.is_finite() {
            sse
        } else {
            f64::INFINITY
        }
    };
    let mut coarse = (f64::INFINITY, 0.0, 0.0);
    for i in -4..=4 {
        for j in -4..=4 {
            let (theta, big) = (0.2 * f64::from(i), 0.2 * f64::from(j));
            let value = sse(theta, big);
            if value < coarse.0 {
                coarse = (value, theta, big);
            }
        }
    }
    let [theta, big] = nelder_mead(|u: &[f64; 2]| sse(u[0], u[1]), [coarse.1, coarse.2], 0.1, AIRLINE_EVALUATIONS);
    if !theta.is_finite() || !big.is_finite() || !sse(theta, big).is_finite() {
        return None;
    }
    let mut e = Vec::with_capacity(w.len());
    residuals(theta, big, &mut e);
    let sigma = (e.iter().map(|v| v * v).sum::<f64>() / e.len().max(1) as f64).sqrt();

    // Forecast: future shocks are zero, past ones are the residuals.
    let mut z_ext = z.to_vec();
    let mut e_ext: Vec<f64> = vec![0.0; m + 1];
    e_ext.extend(&e);
    for _ in 0..horizon {
        let t = z_ext.len();
        let te = e_ext.len();
        let w_hat = theta * e_ext[te - 1] + big * e_ext[te - m] + theta * big * e_ext[te - m - 1];
        z_ext.push(z_ext[t - 1] + z_ext[t - m] - z_ext[t - m - 1] + w_hat);
        e_ext.push(0.0);
    }
    // ψ weights of the ARIMA form, for the forecast variance.
    let mut psi = vec![0.0; horizon];
    for j in 0..horizon {
        let ma = match j {
            0 => 1.0,
            1 if m > 1 => theta,
            _ if j == m => big,
            _ if j == m + 1 => theta * big,
            _ => 0.0,
        };
        let back = |lag: usize| if j >= lag { psi[j - lag] } else { 0.0 };
        psi[j] = ma + back(1) + back(m) - back(m + 1);
    }
    let mut variance = 0.0;
    let sd = psi
        .iter()
        .map(|p| {
            variance += p * p;
            sigma * variance.sqrt()
        })
        .collect();
    Some(Normal { mean: z_ext[n..].to_vec(), sd })
}

/// Cycles whose seasonal shape is pooled (by the median, phase by phase) by [`level_naive`].
const LEVEL_NAIVE_CYCLES: usize = 5;

/// Steps of the latest data whose deseasonalised median is the level of [`level_naive`], as a
/// share of the period (at least three steps): short enough to follow a level shift within a
/// cycle, long enough that one odd step does not move it.
const LEVEL_NAIVE_SHARE: f64 = 0.25;
const LEVEL_NAIVE_MIN_STEPS: usize = 3;

/// Seasonal-naive with the level moved to the recent past: the seasonal shape is the phase-wise
/// median of the last few cycles' deviations from their own means, the level the median of the
/// last quarter-cycle of deseasonalised values. After a level shift (a lockdown, an outage, a
/// new price) plain seasonal-naive keeps forecasting the old level until a whole cycle has
/// passed; this forecasts the new one as soon as a few steps show it. sd: the spread of the
/// seasonal differences, widening per cycle ahead as for seasonal-naive.
fn level_naive(z: &[f64], period: usize, horizon: usize) -> Normal {
    let n = z.len();
    let m = period.clamp(1, n.max(1));
    let cycles = (n / m).clamp(1, LEVEL_NAIVE_CYCLES);
    let mut deviations: Vec<Vec<f64>> = vec![Vec::with_capacity(cycles); m];
    for c in 0..cycles {
        let cycle = &z[n - (c + 1) * m..n - c * m];
        let mean = cycle.iter().sum::<f64>() / m as f64;
        for (k, v) in cycle.iter().enumerate() {
            deviations[(n - (c + 1) * m + k) % m].push(v - mean);
        }
    }
    let mut shape: Vec<f64> = deviations.iter_mut().map(|d| median(d)).collect();
    let offset = shape.iter().sum::<f64>() / m as f64;
    shape.iter_mut().for_each(|s| *s -= offset);
    let recent = recent_steps(m).min(n);
    let mut adjusted: Vec<f64> = (n - recent..n).map(|t| z[t] - shape[t % m]).collect();
    let level = median(&mut adjusted);
    let diffs: Vec<f64> = (m..n).map(|i| z[i] - z[i - m]).collect();
    let sigma = (diffs.iter().map(|d| d * d).sum::<f64>() / diffs.len().max(1) as f64).sqrt();
    Normal {
        mean: (0..horizon).map(|k| level + shape[(n + k) % m]).collect(),
        sd: (0..horizon).map(|k| sigma * ((k / m + 1) as f64).sqrt()).collect(),
    }
}

/// How many of the latest steps [`level_naive`] reads the level from, for a cycle of `period`.
pub(super) fn recent_steps(period: usize) -> usize {
    ((period as f64 * LEVEL_NAIVE_SHARE).ceil() as usize).max(LEVEL_NAIVE_MIN_STEPS)
}

/// The median of `values` (reordered in place); 0 for none.
pub(super) fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Repeats the last cycle; intervals from the in-sample seasonal differences, widening with the
/// square root of the number of cycles ahead (the random-walk-in-cycles model behind it).
fn seasonal_naive(y: &[f64], period: usize, horizon: usize) -> Paths {
    let period = period.clamp(1, y.len().max(1));
    let start = y.len() - period;
    let diffs: Vec<f64> = (period..y.len()).map(|i| y[i] - y[i - period]).collect();
    let sigma = (diffs.iter().map(|d| d * d).sum::<f64>() / diffs.len().max(1) as f64).sqrt();
    let mut paths = Paths::default();
    for k in 0..horizon {
        let mean = y[start + k % period];
        let sd = sigma * ((k / period + 1) as f64).sqrt();
        paths.mean.push(mean);
        paths.lower_80.push(mean - Z80 * sd);
        paths.upper_80.push(mean + Z80 * sd);
        paths.lower_95.push(mean - Z95 * sd);
        paths.upper_95.push(mean + Z95 * sd);
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trending_season(i: usize) -> f64 {
        50.0 + 0.5 * i as f64 + 10.0 * (2.0 * std::f64::consts::PI * i as f64 / 12.0).sin()
    }

    #[test]
    fn airline_follows_a_trending_seasonal_series() {
        // The log variant fits this additive season only approximately, hence 2%.
        let y: Vec<f64> = (0..120).map(trending_season).collect();
        for scale in [Scale::Identity, Scale::Log] {
            let base = Base::Airline { scale };
            let paths = forecast_bases(&[base], &y, &[12], 24, true).remove(0).expect("fits");
            for (k, mean) in paths.mean.iter().enumerate() {
                let truth = trending_season(120 + k);
                assert!((mean - truth).abs() < 0.02 * truth, "{scale:?}, step {k}: {mean} vs {truth}");
                assert!(paths.lower_95[k] <= paths.lower_80[k] && paths.upper_80[k] <= paths.upper_95[k]);
            }
        }
        let short = forecast_bases(&[Base::Airline { scale: Scale::Identity }], &y[..20], &[12], 12, false);
        assert!(short[0].is_err(), "needs two cycles and more");
    }

    #[test]
    fn theta_continues_a_line_at_half_its_slope() {
        // On a noiseless line SES follows the data exactly (α = 1) and the Theta forecast
        // carries on from the last point at half the slope: the method's built-in damping.
        let x: Vec<f64> = (0..60).map(|i| 10.0 + 2.0 * i as f64).collect();
        let forecast = theta(&x, 10).expect("fits");
        for (k, mean) in forecast.mean.iter().enumerate() {
            let want = x[59] + (k + 1) as f64;
            assert!((mean - want).abs() < 1e-6, "step {k}: {mean} vs {want}");
        }
        assert!(forecast.sd.windows(2).all(|w| w[1] >= w[0]), "intervals never narrow");
        assert!(theta(&[1.0, 2.0], 3).is_none());
    }

    #[test]
    fn level_naive_moves_the_recent_shape_to_a_new_level() {
        // A weekly shape, then the level drops by 60 a few steps before the end.
        let shape = [0.0, 5.0, 10.0, 5.0, 0.0, -10.0, -10.0];
        let y: Vec<f64> = (0..70).map(|i| if i < 66 { 100.0 } else { 40.0 } + shape[i % 7]).collect();
        let n = level_naive(&y, 7, 14);
        for (k, mean) in n.mean.iter().enumerate() {
            let want = 40.0 + shape[(70 + k) % 7];
            assert!((mean - want).abs() < 1e-9, "step {k}: {mean} vs {want}");
        }
        // Plain seasonal-naive repeats the old level for most of the next cycle.
        assert_eq!(seasonal_naive(&y, 7, 1).mean[0], 100.0 + shape[0]);
        assert!(n.sd.windows(2).all(|w| w[1] >= w[0]) && n.sd[0] > 0.0);
        // One odd step does not move the level: the median of the recent steps ignores it.
        let mut spike = y[..66].to_vec();
        spike[65] += 500.0;
        assert!((level_naive(&spike, 7, 1).mean[0] - (100.0 + shape[66 % 7])).abs() < 1e-9);
    }

    #[test]
    fn holt_winters_base_forecasts_a_multiplicative_season_on_the_log_scale() {
        let truth =
            |i: usize| (100.0 + 2.0 * i as f64) * (1.0 + 0.3 * (2.0 * std::f64::consts::PI * i as f64 / 12.0).sin());
        let y: Vec<f64> = (0..144).map(truth).collect();
        let base = Base::HoltWinters { scale: Scale::Log };
        let paths = forecast_bases(&[base], &y, &[12], 12, true).remove(0).expect("fits");
        for (k, m) in paths.mean.iter().enumerate() {
            assert!((m - truth(144 + k)).abs() < 0.05 * truth(144 + k), "step {k}: {m}");
            assert!(paths.lower_95[k] < paths.lower_80[k] && paths.upper_80[k] < paths.upper_95[k]);
        }
    }

    #[test]
    fn seasonal_naive_repeats_the_last_cycle_with_widening_intervals() {
        let y: Vec<f64> = (0..36).map(|i| (i % 12) as f64 + 4.0 * (i / 12) as f64).collect();
        let paths = seasonal_naive(&y, 12, 24);
        for k in 0..24 {
            assert_eq!(paths.mean[k], y[24 + k % 12]);
        }
        // One cycle further ahead, one more seasonal difference of uncertainty.
        let width = |k: usize| paths.upper_95[k] - paths.lower_95[k];
        assert!(width(0) > 0.0 && (width(12) / width(0) - 2f64.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn decomposed_bases_share_one_decomposition_and_recover_a_multiplicative_season() {
        // Seasonal swings proportional to the level: additive on the log scale.
        let truth =
            |i: usize| (100.0 + 2.0 * i as f64) * (1.0 + 0.3 * (2.0 * std::f64::consts::PI * i as f64 / 12.0).sin());
        let y: Vec<f64> = (0..144).map(truth).collect();
        let bases: Vec<Base> = [Trend::AutoEts, Trend::Theta]
            .into_iter()
            .map(|trend| Base::Decomposed { scale: Scale::Log, robust: false, trend })
            .collect();
        for (base, paths) in bases.iter().zip(forecast_bases(&bases, &y, &[12], 12, true)) {
            let paths = paths.expect("fits");
            let mape =
                paths.mean.iter().enumerate().map(|(k, m)| (m - truth(144 + k)).abs() / truth(144 + k)).sum::<f64>()
                    / 12.0;
            assert!(mape < 0.05, "{}: mean absolute percentage error {mape}", base.name());
            assert!(paths.lower_95.iter().zip(&paths.upper_95).all(|(l, u)| l < u));
        }
    }
}
