//! Anomaly likelihood, implemented from the description in Ahmad, Lavin, Purdy & Agha (2017),
//! "Unsupervised real-time anomaly detection for streaming data", Neurocomputing 262, §4.3 —
//! not from Numenta's (AGPL) code.
//!
//! A raw score says how surprising one point is; a series that is always a little surprising
//! (noisy) would then alert constantly. The likelihood instead asks how unusual the *recent
//! average* raw score is relative to this series' own history of raw scores: a short moving
//! average `m` (window W') is compared with a Gaussian fitted over a long window W of past moving
//! averages, and the tail probability `Q((m - mu) / sigma)` is reported. Both windows are fixed
//! size and the Gaussian uses running sums, so each update is O(1).

use super::window::Ring;

/// Standard deviations below this are treated as this: a series whose raw scores were constant
/// would otherwise turn the tiniest change into certainty.
pub const SIGMA_FLOOR: f64 = 0.01;

/// Past averages needed before a tail probability means anything; until then it reports 1
/// (no evidence of an anomaly).
const MIN_HISTORY: usize = 32;

/// Rolling Gaussian over the short-term average of raw scores.
#[derive(Debug, Clone)]
pub struct AnomalyLikelihood {
    short: Ring,
    short_sum: f64,
    history: Ring,
    sum: f64,
    sum_sq: f64,
    /// Running sums drift by rounding; they are recomputed exactly once per window length.
    updates_since_resum: usize,
    /// Smallest standard deviation the Gaussian is given.
    sigma_floor: f64,
}

impl AnomalyLikelihood {
    /// `short`: W', the moving-average length; `long`: W, how many averages the Gaussian covers.
    pub fn new(short: usize, long: usize) -> Self {
        AnomalyLikelihood {
            short: Ring::new(short),
            short_sum: 0.0,
            history: Ring::new(long),
            sum: 0.0,
            sum_sq: 0.0,
            updates_since_resum: 0,
            sigma_floor: SIGMA_FLOOR,
        }
    }

    /// The same with another floor under the Gaussian's standard deviation (default
    /// [`SIGMA_FLOOR`]): the smallest spread of averaged raw scores that counts as noise.
    pub fn with_sigma_floor(mut self, sigma_floor: f64) -> Self {
        self.sigma_floor = sigma_floor.max(f64::MIN_POSITIVE);
        self
    }

    /// Values held in its two windows.
    pub fn len(&self) -> usize {
        self.short.len() + self.history.len()
    }

    /// Whether nothing has been fed yet.
    pub fn is_empty(&self) -> bool {
        self.short.len() == 0
    }

    /// Feeds one raw score in [0, 1]; returns the natural log of the tail probability of the
    /// current short-term average under the Gaussian of the *previous* averages (so a burst
    /// cannot mask itself).
    pub fn update(&mut self, raw: f64) -> f64 {
        if let Some(old) = self.short.push(raw) {
            self.short_sum -= old;
        }
        self.short_sum += raw;
        let average = self.short_sum / self.short.len() as f64;

        let n = self.history.len();
        let ln_tail = if n < MIN_HISTORY {
            0.0
        } else {
            let mean = self.sum / n as f64;
            let variance = ((self.sum_sq - n as f64 * mean * mean) / (n - 1) as f64).max(0.0);
            let sigma = variance.sqrt().max(self.sigma_floor);
            ln_gaussian_tail((average - mean) / sigma)
        };

        if let Some(old) = self.history.push(average) {
            self.sum -= old;
            self.sum_sq -= old * old;
        }
        self.sum += average;
        self.sum_sq += average * average;
        self.updates_since_resum += 1;
        if self.updates_since_resum >= self.history.capacity() {
            self.updates_since_resum = 0;
            self.short_sum = self.short.values().iter().sum();
            self.sum = self.history.values().iter().sum();
            self.sum_sq = self.history.values().iter().map(|v| v * v).sum();
        }
        ln_tail
    }
}

/// `Q(z) = P(Z > z)` for a standard normal `Z`.
#[cfg(test)]
pub(crate) fn gaussian_tail(z: f64) -> f64 {
    ln_gaussian_tail(z).exp()
}

/// `ln Q(z)`, finite even where `Q(z)` itself underflows (z beyond ~38), so the strongest
/// anomalies keep their order instead of tying at zero.
pub fn ln_gaussian_tail(z: f64) -> f64 {
    std::f64::consts::LN_2.mul_add(-1.0, ln_erfc(z / std::f64::consts::SQRT_2))
}

/// Logarithm of the complementary error function, from the Chebyshev fit of Press et al.,
/// Numerical Recipes, 2nd ed., §6.2 `erfcc` (relative error below 1.2e-7 everywhere). The fit has
/// the form `t * exp(poly)`, so for `x >= 0` its logarithm is taken term by term and never
/// underflows.
fn ln_erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    if x >= 0.0 {
        t.ln() + poly
    } else {
        (2.0 - t * poly.exp()).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_matches_reference_values() {
        // Q(0) = 0.5, Q(1.96) ≈ 0.025, Q(5) ≈ 2.8665e-7 (tables of the standard normal).
        assert!((gaussian_tail(0.0) - 0.5).abs() < 1e-7);
        assert!((gaussian_tail(1.959_964) - 0.025).abs() < 1e-7);
        assert!((gaussian_tail(5.0) / 2.866_515_7e-7 - 1.0).abs() < 1e-6);
        assert!((gaussian_tail(-1.959_964) - 0.975).abs() < 1e-7);
    }

    #[test]
    fn a_burst_of_raw_scores_is_unlikely_under_a_quiet_history() {
        let mut likelihood = AnomalyLikelihood::new(10, 500);
        for i in 0..400 {
            likelihood.update(if i % 7 == 0 { 0.2 } else { 0.1 });
        }
        assert!(likelihood.update(0.1).exp() > 0.05);
        let burst = (0..5).map(|_| likelihood.update(1.0)).fold(0.0, f64::min);
        assert!(burst < 1e-6f64.ln(), "ln tail {burst}");
        // Far beyond where the tail probability underflows, its logarithm still orders points.
        assert!(ln_gaussian_tail(60.0) < ln_gaussian_tail(50.0));
        assert!(ln_gaussian_tail(50.0).is_finite());
    }
}
