//! Non-seasonal exponential smoothing with additive errors, ETS(A,N,N), ETS(A,A,N) and
//! ETS(A,Ad,N), the one with the lowest AICc: the trend model of the decomposition bases (the
//! seasonally adjusted series has no season left to model).
//!
//! The same models and criterion as augurs' `AutoETS::new(1, "AZN")`, which it replaces because
//! it was four fifths of the forecaster's time: each of its fits ran Nelder–Mead over the
//! smoothing parameters *and* the initial states (up to 2,000 iterations), allocating on every
//! evaluation. Here the initial states are not searched. Given the smoothing parameters the
//! one-step errors are affine in the initial level and slope (the filter is linear), so one pass
//! over the data yields the sum of squared errors as a quadratic in them, and the least-squares
//! states are solved exactly (a 2×2 system). The optimiser searches only α, β and φ (the
//! concentrated likelihood), on a transformed scale that keeps them admissible
//! (`0 < β < α < 1`, φ in [0.8, 0.98], the bounds of R's `ets` and augurs), without
//! allocating.

use super::holt_winters::nelder_mead;

/// Bounds of the smoothing parameters (R's `ets` and augurs use the same).
const SMOOTHING_RANGE: (f64, f64) = (1e-4, 0.9999);
const PHI_RANGE: (f64, f64) = (0.8, 0.98);

/// Nelder–Mead evaluations per model at most. The search is in at most three dimensions and
/// the objective smooth; it converges in a few dozen to about two hundred.
const MAX_EVALUATIONS: usize = 400;

/// The trend of one of the three models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EtsTrend {
    None,
    Additive,
    Damped,
}

/// A fitted model: its parameters, final states and the standard deviation of its one-step
/// errors.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Ets {
    pub(super) trend: EtsTrend,
    alpha: f64,
    beta: f64,
    phi: f64,
    level: f64,
    slope: f64,
    sigma: f64,
    /// Corrected Akaike information criterion.
    pub(super) aicc: f64,
}

/// Smoothing parameters.
#[derive(Debug, Clone, Copy)]
struct Params {
    alpha: f64,
    beta: f64,
    phi: f64,
}

impl Params {
    /// Maps a free point (only the first dimensions the trend uses) into the admissible region.
    fn from_free(trend: EtsTrend, u: &[f64]) -> Params {
        let squash = |v: f64| 1.0 / (1.0 + (-v).exp());
        let (lo, hi) = SMOOTHING_RANGE;
        let alpha = lo + (hi - lo) * squash(u[0]);
        match trend {
            EtsTrend::None => Params { alpha, beta: 0.0, phi: 0.0 },
            EtsTrend::Additive => Params { alpha, beta: lo + (alpha - lo) * squash(u[1]), phi: 1.0 },
            EtsTrend::Damped => Params {
                alpha,
                beta: lo + (alpha - lo) * squash(u[1]),
                phi: PHI_RANGE.0 + (PHI_RANGE.1 - PHI_RANGE.0) * squash(u[2]),
            },
        }
    }
}

/// The least-squares initial states for `params` and the sum of squared one-step errors they
/// give. The one-step error at t is `r_t + l₀·p_t + b₀·q_t`, where r is the error of the filter
/// started from zero states and p, q its response to a unit initial level and slope.
fn concentrated(x: &[f64], trend: EtsTrend, params: Params) -> (f64, f64, f64) {
    let Params { alpha, beta, phi } = params;
    let has_slope = trend != EtsTrend::None;
    // (level, slope) of the three filters: data from zero states, unit level, unit slope.
    let (mut lr, mut br, mut lp, mut bp, mut lq, mut bq) = (0.0, 0.0, 1.0, 0.0, 0.0, 1.0);
    let (mut rr, mut rp, mut rq, mut pp, mut pq, mut qq) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for &v in x {
        let r = v - (lr + phi * br);
        let p = -(lp + phi * bp);
        let q = -(lq + phi * bq);
        rr += r * r;
        rp += r * p;
        pp += p * p;
        lr += phi * br + alpha * r;
        lp += phi * bp + alpha * p;
        if has_slope {
            rq += r * q;
            pq += p * q;
            qq += q * q;
            br = phi * br + beta * r;
            bp = phi * bp + beta * p;
            lq += phi * bq + alpha * q;
            bq = phi * bq + beta * q;
        }
    }
    // Minimise rr + 2 l₀ rp + 2 b₀ rq + l₀² pp + 2 l₀ b₀ pq + b₀² qq.
    if has_slope {
        let det = pp * qq - pq * pq;
        if det > 1e-12 * (pp * qq).max(f64::MIN_POSITIVE) {
            let l0 = (-rp * qq + rq * pq) / det;
            let b0 = (-rq * pp + rp * pq) / det;
            return (l0, b0, (rr + l0 * rp + b0 * rq).max(0.0));
        }
    }
    let l0 = if pp > 0.0 { -rp / pp } else { 0.0 };
    (l0, 0.0, (rr + l0 * rp).max(0.0))
}

impl Ets {
    /// Fits the three models to `x` and keeps the one with the lowest AICc; `None` when `x` is
    /// too short for any (fewer points than parameters plus two) or no fit is finite.
    pub(super) fn auto(x: &[f64]) -> Option<Ets> {
        [EtsTrend::None, EtsTrend::Additive, EtsTrend::Damped]
            .into_iter()
            .filter_map(|trend| Ets::fit(x, trend))
            .min_by(|a, b| a.aicc.total_cmp(&b.aicc))
    }

    /// Fits one model to `x` by least squares (the maximum likelihood for normal errors).
    pub(super) fn fit(x: &[f64], trend: EtsTrend) -> Option<Ets> {
        let n = x.len();
        let (dims, states) = match trend {
            EtsTrend::None => (1, 1),
            EtsTrend::Additive => (2, 2),
            EtsTrend::Damped => (3, 2),
        };
        // Parameters of the likelihood: smoothing parameters, initial states and σ.
        let k = dims + states + 1;
        if n < k + 2 || x.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let objective = |u: &[f64; 3]| {
            let sse = concentrated(x, trend, Params::from_free(trend, u)).2;
            if sse.is_finite() {
                sse
            } else {
                f64::INFINITY
            }
        };
        // Start at α ≈ 0.5, β ≈ 0.1 α, φ ≈ 0.94; unused dimensions stay at 0.
        let start = [0.0, -2.2, 1.0];
        let u = match dims {
            1 => {
                let best = nelder_mead(|u: &[f64; 1]| objective(&[u[0], 0.0, 0.0]), [start[0]], 1.0, MAX_EVALUATIONS);
                [best[0], 0.0, 0.0]
            }
            2 => {
                let best = nelder_mead(
                    |u: &[f64; 2]| objective(&[u[0], u[1], 0.0]),
                    [start[0], start[1]],
                    1.0,
                    MAX_EVALUATIONS,
                );
                [best[0], best[1], 0.0]
            }
            _ => nelder_mead(objective, start, 1.0, MAX_EVALUATIONS),
        };
        let params = Params::from_free(trend, &u);
        let (l0, b0, sse) = concentrated(x, trend, params);
        // Run the filter once more for the final states.
        let Params { alpha, beta, phi } = params;
        let (mut level, mut slope) = (l0, b0);
        for &v in x {
            let error = v - (level + phi * slope);
            level += phi * slope + alpha * error;
            slope = phi * slope + beta * error;
        }
        let nf = n as f64;
        // Likelihood up to a constant shared by the three models: n ln(SSE / n).
        let likelihood = nf * (sse.max(f64::MIN_POSITIVE) / nf).ln();
        let kf = k as f64;
        let aicc = likelihood + 2.0 * kf + 2.0 * kf * (kf + 1.0) / (nf - kf - 1.0);
        let sigma = (sse / (n - (k - 1)) as f64).sqrt();
        let fitted = Ets { trend, alpha, beta, phi, level, slope, sigma, aicc };
        (level.is_finite() && slope.is_finite() && sigma.is_finite() && aicc.is_finite()).then_some(fitted)
    }

    /// Mean and standard deviation `1..=horizon` steps ahead: `ℓ + (φ + … + φʰ) b`, and the
    /// model's own variance `σ² (1 + Σ_{j<h} c_j²)` with `c_j = α + β (φ + … + φʲ)`.
    pub(super) fn forecast(&self, horizon: usize) -> (Vec<f64>, Vec<f64>) {
        let (mut mean, mut sd) = (Vec::with_capacity(horizon), Vec::with_capacity(horizon));
        let (mut damped_sum, mut phi_power, mut variance) = (0.0, 1.0, 1.0);
        for _ in 0..horizon {
            phi_power *= self.phi;
            damped_sum += phi_power;
            mean.push(self.level + damped_sum * self.slope);
            sd.push(self.sigma * f64::sqrt(variance));
            let c = self.alpha + self.beta * damped_sum;
            variance += c * c;
        }
        (mean, sd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stand-in for noise in [-0.5, 0.5).
    fn noise(i: usize) -> f64 {
        ((i as f64 * 12.9898).sin() * 43_758.547).fract().abs() - 0.5
    }

    #[test]
    fn the_least_squares_states_are_those_a_search_would_find() {
        let x: Vec<f64> = (0..80).map(|i| 20.0 + 0.7 * i as f64 + 3.0 * noise(i)).collect();
        let params = Params { alpha: 0.4, beta: 0.05, phi: 0.9 };
        let (l0, b0, sse) = concentrated(&x, EtsTrend::Damped, params);
        let sse_at = |l: f64, b: f64| {
            let (mut level, mut slope, mut sse) = (l, b, 0.0);
            for &v in &x {
                let e = v - (level + params.phi * slope);
                sse += e * e;
                level += params.phi * slope + params.alpha * e;
                slope = params.phi * slope + params.beta * e;
            }
            sse
        };
        assert!((sse_at(l0, b0) - sse).abs() < 1e-6 * sse, "the quadratic is the filter's SSE");
        for (dl, db) in [(0.1, 0.0), (-0.1, 0.0), (0.0, 0.05), (0.0, -0.05)] {
            assert!(sse_at(l0 + dl, b0 + db) > sse, "a minimum in the states");
        }
    }

    #[test]
    fn a_trend_is_followed_and_a_level_is_not_given_one() {
        let line: Vec<f64> = (0..120).map(|i| 100.0 + 2.0 * i as f64 + noise(i)).collect();
        let model = Ets::auto(&line).expect("fits");
        assert_ne!(model.trend, EtsTrend::None);
        let (mean, sd) = model.forecast(10);
        for (k, m) in mean.iter().enumerate() {
            let truth = 100.0 + 2.0 * (120 + k) as f64;
            assert!((m - truth).abs() < 0.1 * 2.0 * (k + 1) as f64 + 1.0, "step {k}: {m} vs {truth}");
        }
        assert!(sd.windows(2).all(|w| w[1] >= w[0]) && sd[0] > 0.0, "intervals never narrow");

        let flat: Vec<f64> = (0..120).map(|i| 50.0 + noise(i)).collect();
        // Noise around a level: whichever model AICc picks, the forecast stays at the level.
        let model = Ets::auto(&flat).expect("fits");
        assert!(model.forecast(24).0.iter().all(|m| (m - 50.0).abs() < 0.5));
        let none = Ets::fit(&flat, EtsTrend::None).expect("fits");
        assert!(none.aicc.is_finite() && none.forecast(3).0.windows(2).all(|w| w[0] == w[1]));
        assert!(Ets::auto(&flat[..3]).is_none(), "too short");
    }
}
