//! Calibrates the forecast's 80% and 95% intervals on the forecaster's own held-out errors:
//! split conformal prediction, each error scaled by how large errors are expected to be at its
//! step ahead and its phase of the season.
//!
//! The base models' intervals assume their own model is true, and the pointwise median of
//! several models' bounds is not an interval of any stated level: on real series they cover
//! anywhere from two thirds to all of the points they claim 80% of. What the forecaster does
//! have is a sample of its real errors: the validation folds ([`super::model`]) forecast
//! held-out tails of the training data from the data before each, and the chosen combination's
//! forecast of each tail (the pointwise median of the chosen bases, as emitted) can be set
//! against what happened. No fit is added; the folds are already there.
//!
//! - **Scale.** Errors are measured on the series' variance-stabilising scale: for a strictly
//!   positive series (and forecasts), the Box-Cox power Guerrero's method picks for it
//!   ([`super::transform`]), between the logarithm (spread in proportion to the level: counts,
//!   sales, traffic) and the values themselves (spread unrelated to the level). Where the
//!   spread grows with the level, an error of a given size on that scale is the same at every
//!   level, the interval reaches further above the mean than below it, and no bound falls below
//!   zero. On the values for any other series.
//! - **Expected size.** Errors are not alike from step to step. They grow with the distance
//!   ahead, and they depend on the phase of the season: a temperature forecast misses more by
//!   day than by night, a taxi forecast (in ratios) more at night, footfall more at weekends. Five
//!   to ten held-out tails give five to ten errors per step, too few to measure either by step,
//!   so each gets a model with little to estimate:
//!   - the phase profile comes from the whole training series, not the tails: the mean absolute
//!     change from one cycle of the longest period to the next at each phase (over neighbouring
//!     phases until [`PROFILE_CHANGES`] changes are pooled), relative to the average phase,
//!     and never below [`PROFILE_FLOOR`] of it (a phase that never changed, zero at night,
//!     would make any miss there infinitely surprising);
//!   - the growth is `(k + 1)^β` for step k (from 0), β between 0 (as large at every step) and
//!     1 (in proportion to the step, as from a misjudged slope), fitted to the held-out errors
//!     divided by their phase profile, by maximum likelihood (Laplace, so one wild tail does not
//!     set it) with the scale factor profiled out.
//!
//!   Tried and dropped: scaling by the models' own interval half-widths (on the benchmark's
//!   sub-daily series they grow far faster than the errors of a daily cycle do, and know
//!   nothing of the time of day: the near half of the horizon was under-covered, the far half
//!   over-covered); the growth curve alone (misses the time of day); per-step sizes from the
//!   tails pooled over neighbouring steps (fitted to five tails they are so noisy that the
//!   quantile of errors scaled by them, each tail fairly left out of its own sizes, exploded,
//!   and a weekly pattern in daily data is narrower than the window).
//! - **Quantiles.** Each held-out error divided by its expected size is one draw of the same
//!   normalised error; all are pooled, and the interval at step k is the mean ± the normalised
//!   error's 80% or 95% absolute quantile times the expected size at k. The quantile is the
//!   conformal rank ⌈(n + 1)·level⌉ of the n sorted absolute values (for exchangeable errors the
//!   interval then covers at least its level): normalised (locally weighted) split conformal
//!   prediction (Papadopoulos et al. 2008; Lei et al. 2018). Symmetric on the scale of the
//!   errors rather than equal-tailed: the errors within a tail move together, so which side five
//!   tails fell on is mostly luck, and equal tails would turn that luck into a lopsided
//!   interval. The 80% and 95% intervals are quantiles of one sample at nested levels, so they
//!   nest around the mean. The size model extends past the held-out steps (a horizon longer
//!   than a quarter of the data) as it stands.
//! - **Fallback.** The model intervals, when the series is too short to hold anything out, when
//!   fewer than [`MIN_TAILS`] tails are held out (one tail is one draw of the forecaster's luck,
//!   however many steps it has), when every held-out forecast was exact, or when the errors are
//!   too few for the 95% rank to exist (fewer than 19).
//!
//! Only the regular held-out tails count: they are disjoint. The extra tails scored after a
//! level shift overlap the latest one and would count its errors twice.
//!
//! The intervals are as good as the last few tails are a guide to the next: errors from a
//! turbulent stretch within them widen the intervals after it has passed, and a break they
//! never saw (a lockdown) is not in them.

use super::bases::Paths;
use super::transform::{golden_section_min, Transform};

/// Held-out tails needed before the intervals are calibrated on them.
pub(super) const MIN_TAILS: usize = 3;

/// Cycle-to-cycle changes pooled for each phase of the profile. A mean of 30 absolute normal
/// changes is within about 14% of the truth (one standard error).
pub(super) const PROFILE_CHANGES: usize = 30;

/// The least a phase's expected error size can be, relative to the average phase.
pub(super) const PROFILE_FLOOR: f64 = 0.1;

/// The range of the growth exponent β: from flat to proportional to the step.
const GROWTH_RANGE: (f64, f64) = (0.0, 1.0);

/// The interval levels, each the probability its interval should cover.
const LEVEL_80: f64 = 0.8;
const LEVEL_95: f64 = 0.95;

/// One held-out tail: what happened from position `start` of the series on, and the
/// combination's forecast of it from the data before.
pub(super) struct HeldOut<'a> {
    pub(super) start: usize,
    pub(super) actual: &'a [f64],
    pub(super) forecast: Vec<f64>,
}

/// The calibrated intervals: at step k, the mean ± a quantile times the expected error size,
/// on the scale the errors were measured on.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Calibration {
    /// The scale errors are measured on.
    scale: Transform,
    /// Relative error size per phase of the longest period (one entry: no season).
    profile: Vec<f64>,
    /// Growth exponent of the error size with the step ahead.
    growth: f64,
    /// Position in the series of the forecast's first step.
    origin: usize,
    q80: f64,
    q95: f64,
    /// Held-out tails and errors the quantiles come from.
    pub(super) tails: usize,
    pub(super) errors: usize,
}

impl Calibration {
    /// Calibrates, on the held-out tails of the training series `y` (seasonal `periods`,
    /// shortest first), the intervals of a forecast of the steps after `y` whose mean is
    /// `mean`; `None` when the tails are too few (the model intervals stand).
    pub(super) fn fit(y: &[f64], periods: &[usize], held_out: &[HeldOut], mean: &[f64]) -> Option<Calibration> {
        let positive = |v: &[f64]| v.iter().all(|&v| v > 0.0);
        let scale = if positive(mean) && held_out.iter().all(|h| positive(&h.forecast)) {
            Transform::guerrero(y, periods.first().copied().unwrap_or(1)).unwrap_or(Transform::Identity)
        } else {
            Transform::Identity
        };
        Calibration::fit_on(scale, y, periods.last().copied().unwrap_or(1), held_out)
    }

    /// [`Calibration::fit`] with errors measured on `scale`; the phase profile at `period`.
    fn fit_on(scale: Transform, y: &[f64], period: usize, held_out: &[HeldOut]) -> Option<Calibration> {
        let held_out: Vec<&HeldOut> =
            held_out.iter().filter(|h| !h.actual.is_empty() && !h.forecast.is_empty()).collect();
        let tails = held_out.len();
        if tails < MIN_TAILS {
            return None;
        }
        let z: Vec<f64> = y.iter().map(|&v| scale.forward(v)).collect();
        let profile = phase_profile(&z, period);
        let phase = |t: usize| profile[t % profile.len()];
        // (step ahead, error relative to its phase) over every tail.
        let errors: Vec<(usize, f64)> = held_out
            .iter()
            .flat_map(|h| {
                h.actual
                    .iter()
                    .zip(&h.forecast)
                    .enumerate()
                    .map(move |(k, (&a, &f))| (k, (scale.forward(a) - scale.forward(f)).abs() / phase(h.start + k)))
            })
            .filter(|(_, e)| e.is_finite())
            .collect();
        if !errors.iter().any(|&(_, e)| e > 0.0) {
            return None;
        }
        let growth = fit_growth(&errors);
        let mut scores: Vec<f64> = errors.iter().map(|&(k, e)| e / step_scale(k, growth)).collect();
        scores.sort_by(f64::total_cmp);
        let q80 = conformal_quantile(&scores, LEVEL_80)?;
        let q95 = conformal_quantile(&scores, LEVEL_95)?;
        Some(Calibration { scale, profile, growth, origin: y.len(), q80, q95, tails, errors: scores.len() })
    }

    /// Calibrated bounds around `mean`, the forecast of the steps after the series.
    pub(super) fn apply(&self, mean: &[f64]) -> Paths {
        let scale = self.scale;
        let mut out = Paths { mean: mean.to_vec(), ..Paths::default() };
        for (k, &m) in mean.iter().enumerate() {
            let size = self.profile[(self.origin + k) % self.profile.len()] * step_scale(k, self.growth);
            let centre = scale.forward(m);
            out.lower_95.push(scale.inverse(centre - self.q95 * size));
            out.lower_80.push(scale.inverse(centre - self.q80 * size));
            out.upper_80.push(scale.inverse(centre + self.q80 * size));
            out.upper_95.push(scale.inverse(centre + self.q95 * size));
        }
        out
    }
}

/// The relative size of the errors at each phase of `period` (position in the series modulo
/// the period): the mean absolute change of `z` from one cycle to the next at that phase,
/// pooled over neighbouring phases (cyclically) until [`PROFILE_CHANGES`] changes are in, over
/// the mean of all phases, at least [`PROFILE_FLOOR`]. `[1.0]` without a season or changes.
fn phase_profile(z: &[f64], period: usize) -> Vec<f64> {
    let m = period;
    if m < 2 || z.len() <= m {
        return vec![1.0];
    }
    let mut sums = vec![0.0; m];
    let mut counts = vec![0usize; m];
    for t in m..z.len() {
        sums[t % m] += (z[t] - z[t - m]).abs();
        counts[t % m] += 1;
    }
    let fewest = counts.iter().copied().min().unwrap_or(0).max(1);
    // Phases either side of each: enough for the fewest changes per phase to add up. When that
    // is the whole cycle, every phase is alike.
    let reach = PROFILE_CHANGES.div_ceil(fewest).saturating_sub(1).div_ceil(2);
    if 2 * reach + 1 >= m {
        return vec![1.0];
    }
    let pooled: Vec<f64> = (0..m)
        .map(|phase| {
            let (sum, count) = (phase + m - reach..=phase + m + reach)
                .map(|p| p % m)
                .fold((0.0, 0), |(sum, count), p| (sum + sums[p], count + counts[p]));
            sum / count.max(1) as f64
        })
        .collect();
    let average = pooled.iter().sum::<f64>() / m as f64;
    if !(average > 0.0 && average.is_finite()) {
        return vec![1.0];
    }
    pooled.iter().map(|p| (p / average).max(PROFILE_FLOOR)).collect()
}

/// The relative size of the errors `k` steps ahead (from 0) for growth exponent `growth`.
fn step_scale(k: usize, growth: f64) -> f64 {
    ((k + 1) as f64).powf(growth)
}

/// The growth exponent β of `|error| ~ Laplace(0, c·(k + 1)^β)` that maximises the likelihood
/// of the `(step, |error|)` pairs, c profiled out: minimises `N·ln ĉ(β) + β·Σ ln(k + 1)` with
/// `ĉ(β)` the mean of `|e| / (k + 1)^β`.
fn fit_growth(errors: &[(usize, f64)]) -> f64 {
    let n = errors.len() as f64;
    let log_steps: f64 = errors.iter().map(|&(k, _)| ((k + 1) as f64).ln()).sum();
    let criterion = |growth: f64| {
        let c = errors.iter().map(|&(k, e)| e / step_scale(k, growth)).sum::<f64>() / n;
        n * c.ln() + growth * log_steps
    };
    golden_section_min(criterion, GROWTH_RANGE.0, GROWTH_RANGE.1)
}

/// The conformal `level` quantile of the sorted `scores`: the ⌈(n + 1)·level⌉-th smallest.
/// `None` when that rank exceeds n (too few scores for the level).
fn conformal_quantile(sorted: &[f64], level: f64) -> Option<f64> {
    let n = sorted.len();
    // The small tolerance keeps an exact product (20 · 0.95 = 19) from rounding up a rank.
    let rank = ((n + 1) as f64 * level - 1e-9).ceil() as usize;
    (1..=n).contains(&rank).then(|| sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A series of `count` tails of `steps` each after a stretch of `before` values, all at
    /// `level` but for the tails' misses `error(tail, step)`; the tails forecast `level`.
    struct Setup {
        y: Vec<f64>,
        tails: Vec<(usize, usize)>,
        level: f64,
    }

    impl Setup {
        fn new(count: usize, steps: usize, level: f64, error: impl Fn(usize, usize) -> f64) -> Setup {
            let before = 24;
            let mut y = vec![level; before];
            let mut tails = Vec::new();
            for t in 0..count {
                tails.push((y.len(), steps));
                y.extend((0..steps).map(|k| level + error(t, k)));
            }
            Setup { y, tails, level }
        }

        fn held_out(&self) -> Vec<HeldOut<'_>> {
            self.tails
                .iter()
                .map(|&(start, steps)| HeldOut {
                    start,
                    actual: &self.y[start..start + steps],
                    forecast: vec![self.level; steps],
                })
                .collect()
        }
    }

    #[test]
    fn conformal_ranks_need_enough_scores_for_the_level() {
        let scores: Vec<f64> = (1..=19).map(f64::from).collect();
        // ⌈20 · 0.95⌉ = 19: the largest of 19; 18 are too few.
        assert_eq!(conformal_quantile(&scores, 0.95), Some(19.0));
        assert_eq!(conformal_quantile(&scores[..18], 0.95), None);
        // ⌈20 · 0.8⌉ = 16.
        assert_eq!(conformal_quantile(&scores, 0.8), Some(16.0));
    }

    #[test]
    fn the_phase_profile_is_the_relative_cycle_to_cycle_change_at_each_phase() {
        // Period 4, 41 cycles: phase 2 changes by ±3 from one cycle to the next, the others by
        // ±1 (40 changes per phase: no pooling).
        let z: Vec<f64> = (0..164)
            .map(|t| {
                if (t / 4) % 2 == 0 {
                    0.0
                } else if t % 4 == 2 {
                    3.0
                } else {
                    1.0
                }
            })
            .collect();
        let profile = phase_profile(&z, 4);
        assert_eq!(profile, vec![4.0 / 6.0, 4.0 / 6.0, 2.0, 4.0 / 6.0]);
        // Eight cycles: seven changes per phase, too few; pooling them would take five phases
        // (35 changes), more than the cycle has, so all phases are alike.
        assert_eq!(phase_profile(&z[..32], 4), vec![1.0]);
        // Period 8, eleven cycles: ten changes per phase, pooled with one neighbour either side.
        let z8: Vec<f64> = (0..88).map(|t| if (t / 8) % 2 == 1 && t % 8 == 0 { 3.0 } else { 0.0 }).collect();
        let pooled = phase_profile(&z8, 8);
        assert!((pooled[0] - 8.0 / 3.0).abs() < 1e-12 && (pooled[1] - 8.0 / 3.0).abs() < 1e-12, "{pooled:?}");
        assert_eq!(pooled[4], PROFILE_FLOOR);
        // Never below the floor; no season, no profile.
        let quiet: Vec<f64> = (0..164).map(|t| if t % 4 == 0 && (t / 4) % 2 == 1 { 1.0 } else { 0.0 }).collect();
        assert_eq!(phase_profile(&quiet, 4), vec![4.0, PROFILE_FLOOR, PROFILE_FLOOR, PROFILE_FLOOR]);
        assert_eq!(phase_profile(&z, 1), vec![1.0]);
        assert_eq!(phase_profile(&[5.0; 20], 4), vec![1.0]);
    }

    #[test]
    fn growth_is_fitted_to_errors_that_grow_with_the_step() {
        let errors = |beta: f64| -> Vec<(usize, f64)> {
            (0..6)
                .flat_map(|t| (0..24).map(move |k| (k, (1.0 + 0.1 * t as f64) * ((k + 1) as f64).powf(beta))))
                .collect()
        };
        for beta in [0.0, 0.5, 1.0] {
            assert!((fit_growth(&errors(beta)) - beta).abs() < 0.01, "β {beta}");
        }
    }

    #[test]
    fn intervals_are_as_wide_as_the_held_out_errors_whatever_the_models_claim() {
        // Misses of exactly ±3 around a negative level (so on the values), as large at every
        // step: both intervals are ±3 (every normalised error is the same).
        let setup = Setup::new(4, 12, -50.0, |t, k| if (t + k) % 2 == 0 { 3.0 } else { -3.0 });
        let calibration = Calibration::fit(&setup.y, &[], &setup.held_out(), &[-40.0; 14]).expect("calibrates");
        assert_eq!((calibration.scale, calibration.tails, calibration.errors), (Transform::Identity, 4, 48));
        assert!(calibration.growth < 0.01, "{calibration:?}");
        let out = calibration.apply(&[-40.0; 14]);
        assert_eq!(out.mean, vec![-40.0; 14]);
        // Past the twelve held-out steps too.
        for k in [0, 11, 13] {
            assert!((out.upper_80[k] + 37.0).abs() < 0.01 && (out.lower_95[k] + 43.0).abs() < 0.01, "{out:?}");
        }
    }

    #[test]
    fn on_the_log_scale_the_intervals_are_ratios() {
        // Actual values a factor of 1.1 above or below the forecast: the interval is the mean
        // times or divided by 1.1, reaching further up than down.
        let r = 1.1f64.ln();
        let setup = Setup::new(4, 12, 0.0, |t, k| if (t + k) % 2 == 0 { r } else { -r });
        let y: Vec<f64> = setup.y.iter().map(|v| 100.0 * v.exp()).collect();
        let held_out: Vec<HeldOut> = setup
            .held_out()
            .into_iter()
            .map(|h| HeldOut { start: h.start, actual: &y[h.start..h.start + 12], forecast: vec![100.0; 12] })
            .collect();
        let calibration = Calibration::fit_on(Transform::LOG, &y, 1, &held_out).expect("calibrates");
        let out = calibration.apply(&[200.0; 12]);
        assert!((out.upper_95[0] - 220.0).abs() < 0.01 && (out.lower_95[0] - 200.0 / 1.1).abs() < 0.01, "{out:?}");
    }

    #[test]
    fn too_few_tails_or_errors_leave_the_model_intervals() {
        let noise = |t: usize, k: usize| ((t * 7 + k * 3) % 5) as f64 - 2.0;
        let fit = |setup: Setup| Calibration::fit(&setup.y, &[], &setup.held_out(), &[10.0; 12]);
        assert!(fit(Setup::new(3, 12, 10.0, noise)).is_some());
        assert!(fit(Setup::new(2, 12, 10.0, noise)).is_none(), "two tails");
        assert!(fit(Setup::new(3, 6, 10.0, noise)).is_none(), "18 errors");
        assert!(fit(Setup::new(3, 12, 10.0, |_, _| 0.0)).is_none(), "exact hits");
    }
}
