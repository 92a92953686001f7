//! Holt-Winters as a state-space model: ETS(A,Ad,A), additive errors, a damped additive trend
//! and an additive season of one period, its smoothing parameters fitted by minimising the sum
//! of squared one-step errors with Nelder–Mead.
//!
//! Why a seasonal ETS next to MSTL + a non-seasonal ETS: MSTL fixes the seasonal shape from
//! the whole (robustly smoothed) history and adds back its last cycle, whereas Holt-Winters lets
//! the shape itself evolve at a rate fitted to the data (γ), and weighs level, slope and shape
//! jointly. On a variance-stabilising scale (log, Box-Cox) it is the classic model for series
//! such as airline passengers, whose seasonal pattern sharpens slowly as the level grows.

/// The damping factor is searched in this range: below it the trend dies within a few steps
/// (plain exponential smoothing is then as good); above it damping is indistinguishable from a
/// linear trend, which over-extrapolates long horizons.
const PHI_RANGE: (f64, f64) = (0.8, 0.98);

/// Cycles used to initialise level, slope and season (fewer when the series is shorter).
const INIT_CYCLES: usize = 4;

/// Nelder–Mead stops after this many evaluations or when the simplex values agree to
/// [`NM_TOLERANCE`] (relative).
const NM_MAX_EVALUATIONS: usize = 600;
const NM_TOLERANCE: f64 = 1e-9;

/// A fitted ETS(A,Ad,A) model: its parameters and final states.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct HoltWinters {
    pub(super) alpha: f64,
    pub(super) beta: f64,
    pub(super) gamma: f64,
    pub(super) phi: f64,
    period: usize,
    level: f64,
    slope: f64,
    /// Seasonal states of the last cycle, indexed by the phase `t % period` of the step they
    /// belong to.
    season: Vec<f64>,
    /// Phase of the first forecast step.
    next_phase: usize,
    /// Standard deviation of the one-step errors.
    sigma: f64,
}

/// Smoothing parameters; constrained so the model is forecastable: `0 < β < α < 1`,
/// `0 < γ < 1 − α`, `φ` in [`PHI_RANGE`].
#[derive(Debug, Clone, Copy)]
struct Params {
    alpha: f64,
    beta: f64,
    gamma: f64,
    phi: f64,
}

impl Params {
    /// Maps an unconstrained point of R⁴ into the admissible region (logistic squashing), so
    /// the optimiser needs no constraint handling.
    fn from_free(u: &[f64; 4]) -> Params {
        let squash = |v: f64| 1.0 / (1.0 + (-v).exp());
        let alpha = squash(u[0]);
        Params {
            alpha,
            beta: alpha * squash(u[1]),
            gamma: (1.0 - alpha) * squash(u[2]),
            phi: PHI_RANGE.0 + (PHI_RANGE.1 - PHI_RANGE.0) * squash(u[3]),
        }
    }
}

/// Initial states from the first cycles: the slope from the change of the cycle means, the
/// season from each cycle's deviations around its (trend-corrected) mean, averaged.
struct Init {
    level: f64,
    slope: f64,
    season: Vec<f64>,
}

fn initial_states(y: &[f64], m: usize) -> Init {
    let cycles = (y.len() / m).clamp(2, INIT_CYCLES);
    let means: Vec<f64> = (0..cycles).map(|c| y[c * m..(c + 1) * m].iter().sum::<f64>() / m as f64).collect();
    let slope = (means[cycles - 1] - means[0]) / ((cycles - 1) * m) as f64;
    let centre = (m as f64 - 1.0) / 2.0;
    let mut season = vec![0.0; m];
    for (c, mean) in means.iter().enumerate() {
        for (i, s) in season.iter_mut().enumerate() {
            *s += (y[c * m + i] - (mean + slope * (i as f64 - centre))) / cycles as f64;
        }
    }
    let offset = season.iter().sum::<f64>() / m as f64;
    season.iter_mut().for_each(|s| *s -= offset);
    // The level one step before the first observation.
    Init { level: means[0] - slope * (centre + 1.0), slope, season }
}

/// Runs the filter over `y`; returns the sum of squared one-step errors and the final states.
fn filter(y: &[f64], m: usize, init: &Init, p: Params) -> (f64, f64, f64, Vec<f64>) {
    let (mut level, mut slope) = (init.level, init.slope);
    let mut season = init.season.clone();
    let mut sse = 0.0;
    for (t, &v) in y.iter().enumerate() {
        let phase = t % m;
        let damped = p.phi * slope;
        let error = v - (level + damped + season[phase]);
        sse += error * error;
        level += damped + p.alpha * error;
        slope = damped + p.beta * error;
        season[phase] += p.gamma * error;
    }
    (sse, level, slope, season)
}

impl HoltWinters {
    /// Fits the model to `y` with season length `period`; `None` when `y` holds fewer than two
    /// full cycles plus one step or is not finite.
    pub(super) fn fit(y: &[f64], period: usize) -> Option<HoltWinters> {
        let m = period.max(1);
        if y.len() < 2 * m + 1 || y.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let init = initial_states(y, m);
        let objective = |u: &[f64; 4]| {
            let sse = filter(y, m, &init, Params::from_free(u)).0;
            if sse.is_finite() {
                sse
            } else {
                f64::INFINITY
            }
        };
        // Start from moderate smoothing (α ≈ 0.3, β ≈ 0.03, γ ≈ 0.07, φ ≈ 0.94).
        let start = [-0.85, -2.2, -2.2, 1.0];
        let best = nelder_mead(objective, start, 1.0, NM_MAX_EVALUATIONS);
        let params = Params::from_free(&best);
        let (sse, level, slope, season) = filter(y, m, &init, params);
        let dof = y.len().saturating_sub(4).max(1);
        let sigma = (sse / dof as f64).sqrt();
        sigma.is_finite().then_some(HoltWinters {
            alpha: params.alpha,
            beta: params.beta,
            gamma: params.gamma,
            phi: params.phi,
            period: m,
            level,
            slope,
            season,
            next_phase: y.len() % m,
            sigma,
        })
    }

    /// Mean and standard deviation of the forecast `1..=horizon` steps ahead. The variance is
    /// the model's own: `σ² (1 + Σ_{j<h} c_j²)` with `c_j = α + βφ(1 − φʲ)/(1 − φ) + γ·[m | j]`.
    pub(super) fn forecast(&self, horizon: usize) -> (Vec<f64>, Vec<f64>) {
        let m = self.period;
        let (mut mean, mut sd) = (Vec::with_capacity(horizon), Vec::with_capacity(horizon));
        let mut damped_sum: f64 = 0.0;
        let mut phi_power = 1.0;
        let mut variance: f64 = 1.0;
        for h in 1..=horizon {
            phi_power *= self.phi;
            damped_sum += phi_power;
            mean.push(self.level + damped_sum * self.slope + self.season[(self.next_phase + h - 1) % m]);
            sd.push(self.sigma * variance.sqrt());
            // c_h for the next step's variance.
            let j = h;
            let c = self.alpha
                + self.beta * self.phi * (1.0 - self.phi.powi(i32::try_from(j).unwrap_or(i32::MAX))) / (1.0 - self.phi)
                + if j % m == 0 { self.gamma } else { 0.0 };
            variance += c * c;
        }
        (mean, sd)
    }
}

/// Minimises `f` over Rᴺ by the Nelder–Mead simplex method (standard coefficients), starting
/// from `start` with initial steps of `step` along each axis, in at most about `max_evaluations`
/// evaluations (a shrink may finish its N).
pub(super) fn nelder_mead<const N: usize>(
    f: impl Fn(&[f64; N]) -> f64,
    start: [f64; N],
    step: f64,
    max_evaluations: usize,
) -> [f64; N] {
    let mut simplex: Vec<([f64; N], f64)> = Vec::with_capacity(N + 1);
    simplex.push((start, f(&start)));
    for i in 0..N {
        let mut x = start;
        x[i] += step;
        simplex.push((x, f(&x)));
    }
    let mut evaluations = N + 1;
    let along = |a: &[f64; N], b: &[f64; N], t: f64| -> [f64; N] {
        let mut x = [0.0; N];
        for i in 0..N {
            x[i] = a[i] + t * (b[i] - a[i]);
        }
        x
    };
    while evaluations < max_evaluations {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (best, worst) = (simplex[0].1, simplex[N].1);
        if (worst - best).abs() <= NM_TOLERANCE * (best.abs() + NM_TOLERANCE) {
            break;
        }
        let mut centroid = [0.0; N];
        for (x, _) in &simplex[..N] {
            for i in 0..N {
                centroid[i] += x[i] / N as f64;
            }
        }
        let worst_x = simplex[N].0;
        // Reflection, expansion, contraction: points on the line from the worst through the
        // centroid of the others.
        let reflected = along(&centroid, &worst_x, -1.0);
        let fr = f(&reflected);
        evaluations += 1;
        if fr < simplex[0].1 {
            let expanded = along(&centroid, &worst_x, -2.0);
            let fe = f(&expanded);
            evaluations += 1;
            simplex[N] = if fe < fr { (expanded, fe) } else { (reflected, fr) };
        } else if fr < simplex[N - 1].1 {
            simplex[N] = (reflected, fr);
        } else {
            let contracted =
                if fr < simplex[N].1 { along(&centroid, &reflected, 0.5) } else { along(&centroid, &worst_x, 0.5) };
            let fc = f(&contracted);
            evaluations += 1;
            if fc < fr.min(simplex[N].1) {
                simplex[N] = (contracted, fc);
            } else {
                // Shrink towards the best point.
                let best_x = simplex[0].0;
                for entry in simplex.iter_mut().skip(1) {
                    entry.0 = along(&best_x, &entry.0, 0.5);
                    entry.1 = f(&entry.0);
                }
                evaluations += N;
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    simplex[0].0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trend 0.5 per step, a season of 12 with an asymmetric shape, small deterministic noise.
    fn seasonal(i: usize) -> f64 {
        let shape = [3.0, -1.0, 4.0, 1.0, -5.0, 9.0, -2.0, 6.0, -5.0, -3.0, -5.0, -2.0];
        20.0 + 0.5 * i as f64 + shape[i % 12] + 0.3 * ((i as f64 * 12.9898).sin() * 43_758.547).fract()
    }

    #[test]
    fn recovers_a_trending_seasonal_series() {
        let y: Vec<f64> = (0..120).map(seasonal).collect();
        let model = HoltWinters::fit(&y, 12).expect("fits");
        let (mean, sd) = model.forecast(24);
        for (k, m) in mean.iter().enumerate() {
            let truth = seasonal(120 + k);
            // The damped trend bends away from the line by design, slowly: a fraction of the
            // slope by the end of the second cycle.
            let tolerance = if k < 12 { 1.0 } else { 2.0 };
            assert!((m - truth).abs() < tolerance, "step {k}: {m} vs {truth}");
        }
        assert!(sd[0] < 0.5, "one-step sd near the noise level: {}", sd[0]);
        assert!(sd.windows(2).all(|w| w[1] >= w[0]), "intervals never narrow");
        assert!(model.alpha > 0.0 && model.beta < model.alpha && model.gamma < 1.0 - model.alpha);
        assert!((PHI_RANGE.0..=PHI_RANGE.1).contains(&model.phi));
    }

    #[test]
    fn follows_a_seasonal_shape_that_changes() {
        // The shape flips sign half-way: a model with a fixed season keeps the old one, the
        // fitted γ lets Holt-Winters learn the new one.
        let y: Vec<f64> = (0..240).map(|i| 50.0 + if i < 120 { 1.0 } else { -1.0 } * seasonal(i % 12) / 5.0).collect();
        let model = HoltWinters::fit(&y, 12).expect("fits");
        let (mean, _) = model.forecast(12);
        for (k, m) in mean.iter().enumerate() {
            let truth = y[228 + k];
            assert!((m - truth).abs() < 1.0, "step {k}: {m} vs {truth}");
        }
    }

    #[test]
    fn refuses_short_or_broken_input() {
        assert!(HoltWinters::fit(&[1.0; 24], 12).is_none(), "two cycles are not enough");
        let mut y: Vec<f64> = (0..60).map(seasonal).collect();
        y[10] = f64::NAN;
        assert!(HoltWinters::fit(&y, 12).is_none());
    }

    #[test]
    fn nelder_mead_finds_the_minimum_of_a_skewed_bowl() {
        let target = [1.0, -2.0, 0.5, 3.0];
        let f = |x: &[f64; 4]| {
            (x[0] - target[0]).powi(2)
                + 10.0 * (x[1] - target[1]).powi(2)
                + (x[2] - target[2] + 0.5 * (x[0] - target[0])).powi(2)
                + 0.1 * (x[3] - target[3]).powi(2)
        };
        let x = nelder_mead(f, [0.0; 4], 1.0, NM_MAX_EVALUATIONS);
        for (got, want) in x.iter().zip(target) {
            assert!((got - want).abs() < 1e-3, "{x:?}");
        }
    }
}
