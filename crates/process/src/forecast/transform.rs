//! Variance-stabilising transforms for the base models: the identity, the logarithm and a
//! Box-Cox power whose λ is chosen on the training data by Guerrero's method.
//!
//! Why: additive models (STL, ETS on the adjusted series, ARIMA) assume seasonal swings and
//! noise of constant size. Many business series swing in proportion to their level (airline
//! passengers, retail sales at their peak, footfall in and out of a lockdown); on the log scale
//! those swings are constant. The log over-corrects a series whose swings grow more slowly than
//! its level, hence the Box-Cox power between the two.

/// λ is searched in `[0, 1]`: between the logarithm and no transform. Powers above one
/// amplify swings and powers below zero invert the order of magnitudes; neither helps a
/// forecast of the kind of series a KPI pipeline sees, and both make back-transformed
/// intervals explode.
const LAMBDA_RANGE: (f64, f64) = (0.0, 1.0);

/// Guerrero's criterion needs this many complete blocks to compare their spread.
const MIN_BLOCKS: usize = 3;

/// A monotone transform of strictly positive values (the identity takes any value).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Transform {
    Identity,
    /// Box-Cox with this λ; `0` is the natural logarithm.
    BoxCox(f64),
}

impl Transform {
    /// The logarithm.
    pub(super) const LOG: Transform = Transform::BoxCox(0.0);

    /// Box-Cox with λ chosen by Guerrero's method on blocks of `period` steps (two when there
    /// is no season); `None` when a value is not strictly positive or there are too few blocks.
    pub(super) fn guerrero(y: &[f64], period: usize) -> Option<Transform> {
        if y.iter().any(|&v| v <= 0.0 || !v.is_finite()) {
            return None;
        }
        let block = period.max(2);
        let blocks = y.len() / block;
        if blocks < MIN_BLOCKS {
            return None;
        }
        // The most recent complete blocks, as in the original method.
        let start = y.len() - blocks * block;
        let stats: Vec<(f64, f64)> = y[start..]
            .chunks_exact(block)
            .map(|chunk| {
                let mean = chunk.iter().sum::<f64>() / block as f64;
                let var = chunk.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (block - 1) as f64;
                (mean, var.sqrt())
            })
            .collect();
        // The coefficient of variation of sd / mean^(1 - λ) across blocks: the λ at which the
        // spread no longer depends on the level.
        let criterion = |lambda: f64| {
            let ratios: Vec<f64> = stats.iter().map(|&(mean, sd)| sd / mean.powf(1.0 - lambda)).collect();
            let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
            let var = ratios.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (ratios.len() - 1) as f64;
            if mean > 0.0 {
                var.sqrt() / mean
            } else {
                f64::INFINITY
            }
        };
        let lambda = golden_section_min(criterion, LAMBDA_RANGE.0, LAMBDA_RANGE.1);
        lambda.is_finite().then_some(Transform::BoxCox(lambda))
    }

    /// Whether the transform is defined for every value of `y`.
    pub(super) fn applies_to(self, y: &[f64]) -> bool {
        match self {
            Transform::Identity => true,
            Transform::BoxCox(_) => y.iter().all(|&v| v > 0.0),
        }
    }

    pub(super) fn forward(self, v: f64) -> f64 {
        match self {
            Transform::Identity => v,
            Transform::BoxCox(lambda) if lambda.abs() < 1e-9 => v.ln(),
            Transform::BoxCox(lambda) => (v.powf(lambda) - 1.0) / lambda,
        }
    }

    /// The inverse of [`Transform::forward`]; a Box-Cox value below the image of zero (a lower
    /// bound far in the tail) maps to zero rather than to a complex number.
    pub(super) fn inverse(self, z: f64) -> f64 {
        match self {
            Transform::Identity => z,
            Transform::BoxCox(lambda) if lambda.abs() < 1e-9 => z.exp(),
            Transform::BoxCox(lambda) => (lambda * z + 1.0).max(0.0).powf(1.0 / lambda),
        }
    }
}

/// The minimiser of a unimodal `f` on `[lo, hi]` by golden-section search, ends included.
pub(super) fn golden_section_min(f: impl Fn(f64) -> f64, lo: f64, hi: f64) -> f64 {
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (lo, hi);
    let mut c = b - ratio * (b - a);
    let mut d = a + ratio * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..40 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - ratio * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + ratio * (b - a);
            fd = f(d);
        }
    }
    let inside = (a + b) / 2.0;
    // The optimum of a bounded search is often the bound itself.
    [lo, inside, hi]
        .into_iter()
        .map(|x| (f(x), x))
        .fold((f64::INFINITY, inside), |best, cur| if cur.0 < best.0 { cur } else { best })
        .1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seasonal(level: impl Fn(usize) -> f64, swing: impl Fn(f64) -> f64) -> Vec<f64> {
        (0..120).map(|i| level(i) + swing(level(i)) * ((i % 12) as f64 - 5.5) / 5.5).collect()
    }

    #[test]
    fn guerrero_picks_the_log_for_proportional_swings_and_none_for_constant_ones() {
        // The level moves from cycle to cycle, not within one: a trend inside a block would add
        // spread of its own, the known weak point of the method.
        let level = |i: usize| 100.0 * (1 + i / 12) as f64;
        let proportional = seasonal(level, |l| 0.3 * l);
        let constant = seasonal(level, |_| 30.0);
        let lambda = |y: &[f64]| match Transform::guerrero(y, 12) {
            Some(Transform::BoxCox(lambda)) => lambda,
            other => panic!("expected a Box-Cox power, got {other:?}"),
        };
        assert!(lambda(&proportional) < 0.1, "{}", lambda(&proportional));
        assert!(lambda(&constant) > 0.9, "{}", lambda(&constant));
        assert_eq!(Transform::guerrero(&[1.0, -1.0, 2.0, 3.0, 4.0, 5.0], 2), None);
        assert_eq!(Transform::guerrero(&constant[..24], 12), None, "two blocks are too few");
    }

    #[test]
    fn inverse_undoes_forward() {
        for transform in [Transform::Identity, Transform::LOG, Transform::BoxCox(0.5)] {
            for v in [0.5, 1.0, 42.0, 1e6] {
                let back = transform.inverse(transform.forward(v));
                assert!((back - v).abs() < 1e-9 * v.max(1.0), "{transform:?}: {v} -> {back}");
            }
        }
        // Far below the image of zero a power has no real inverse: zero, not NaN.
        assert_eq!(Transform::BoxCox(0.5).inverse(-10.0), 0.0);
    }
}
