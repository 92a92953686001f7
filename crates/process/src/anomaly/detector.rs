//! [`AnomalyDetector`]: one series, online, past data only, bounded state.
//!
//! Each point gets a raw surprise in [0, 1] from an ensemble of cheap, scale-free predictors
//! that look at different kinds of change, and the raw surprise is turned into a calibrated
//! score by the anomaly likelihood ([`super::likelihood`]):
//!
//! - **local residual**: distance from the median of the last `short_window` values in units of
//!   their MAD — spikes and dips against the recent level;
//! - **long residual**: the same against the last `long_window` values — level shifts that the
//!   short window has already absorbed still stand out here;
//! - **context novelty** (the contextual idea of CAD OSE): values are discretised into
//!   equal-depth bins of the long window, and a table counts which bin follows each pair of bins;
//!   a transition the series has rarely or never made is surprising even when the value itself
//!   is ordinary (a broken rhythm, a pattern change);
//! - **range**: a value beyond the extremes of the long window by a margin — a new high or low.
//!
//! Every statistic lives in a fixed-size window or table, so the memory of one detector is
//! constant (a few tens of kilobytes) whatever the length of the series.

use chrono::{DateTime, Utc};

use super::likelihood::AnomalyLikelihood;
use super::window::{Ring, SortedWindow};

/// Tunable parameters. The defaults were chosen on the NAB corpus as a whole (all 58 files,
/// one setting for every file) and from the scales NAB's data live at; see the module docs of
/// [`super`] for the measured scores.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorParams {
    /// Values in the local baseline (spikes against the recent level).
    pub short_window: usize,
    /// Values in the long baseline (level shifts, range, bin edges).
    pub long_window: usize,
    /// Values seen before any score above zero: until then the baselines are not meaningful.
    pub warmup: usize,
    /// Robust z-scores up to this are ordinary variation: no raw surprise.
    pub z_dead: f64,
    /// Robust z-score beyond `z_dead` at which a residual's raw surprise is one half.
    pub z_half: f64,
    /// Bins of the context model.
    pub bins: usize,
    /// Per-context count above which the context's counts are halved, so old habits fade.
    pub context_cap: f64,
    /// Weights of the local residual, long residual and context novelty in the raw surprise.
    pub weights: [f64; 3],
    /// Margin beyond the long window's extremes, as a fraction of its range, that counts as a
    /// new high or low.
    pub range_margin: f64,
    /// Score floor of a new high or low. A new extreme bypasses the likelihood: it is rare by
    /// construction, and averaging it with ordinary points would hide exactly the level shifts
    /// it is there to catch.
    pub range_score: f64,
    /// Moving-average length W' of the anomaly likelihood.
    pub likelihood_short: usize,
    /// History W of moving averages behind the likelihood's Gaussian.
    pub likelihood_long: usize,
    /// Points after a report during which later scores are damped by it.
    pub refractory: usize,
}

impl Default for DetectorParams {
    fn default() -> Self {
        DetectorParams {
            short_window: 32,
            long_window: 1024,
            warmup: 64,
            z_dead: 3.0,
            z_half: 4.0,
            bins: 8,
            context_cap: 64.0,
            weights: [1.0, 1.0, 0.5],
            range_margin: 0.05,
            range_score: 0.95,
            likelihood_short: 10,
            likelihood_long: 1024,
            refractory: 100,
        }
    }
}

/// Tail probabilities at or below this map to the top of the score scale (the paper's
/// `1 - 1e-10` likelihood).
const TAIL_FLOOR: f64 = 1e-10;

/// Online anomaly detector for one series.
#[derive(Debug, Clone)]
pub struct AnomalyDetector {
    params: DetectorParams,
    short: SortedWindow,
    long: SortedWindow,
    context: ContextModel,
    likelihood: AnomalyLikelihood,
    /// The last `refractory` reported scores.
    reported: Ring,
    seen: u64,
    /// Whether the point being scored is a new high or low (set by `raw_surprise`).
    new_extreme: bool,
}

impl Default for AnomalyDetector {
    fn default() -> Self {
        Self::new(DetectorParams::default())
    }
}

impl AnomalyDetector {
    /// Name and version written on every output, so scores from different detectors (or
    /// different tunings) are never mixed up downstream.
    pub const NAME: &'static str = "signalcraft-ensemble-likelihood/1";

    pub fn new(params: DetectorParams) -> Self {
        AnomalyDetector {
            short: SortedWindow::new(params.short_window),
            long: SortedWindow::new(params.long_window),
            context: ContextModel::new(params.bins, params.context_cap),
            likelihood: AnomalyLikelihood::new(params.likelihood_short, params.likelihood_long),
            reported: Ring::new(params.refractory),
            seen: 0,
            new_extreme: false,
            params,
        }
    }

    pub fn params(&self) -> &DetectorParams {
        &self.params
    }

    /// Values held in windows: constant once the windows are full, whatever the series length.
    pub fn state_len(&self) -> usize {
        self.short.len() + self.long.len() + self.likelihood.len() + self.reported.len()
    }

    /// Scores one point in [0, 1] (higher = more anomalous) and learns from it. Only past points
    /// inform the score. A non-finite value scores 0 and is not learned: one bad reading must not
    /// poison the baselines of every later point.
    pub fn score(&mut self, _ts: DateTime<Utc>, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let raw = self.raw_surprise(value);
        self.short.push(value);
        self.long.push(value);
        self.seen += 1;
        // The likelihood must learn even during warm-up, so its history is ready when scores start.
        let ln_tail = self.likelihood.update(raw);
        let mut score = if self.seen <= self.params.warmup as u64 { 0.0 } else { log_scale(ln_tail) };
        if self.new_extreme {
            score = score.max(self.params.range_score);
        }
        // Report an ongoing anomaly at its onset: for `refractory` points after a high score,
        // scores are damped by how high the recent reports were, so one event is one detection
        // rather than a run of them (a stronger event still gets through).
        let recent = self.reported.values().iter().copied().fold(0.0, f64::max);
        let reported = score * (1.0 - recent);
        self.reported.push(reported);
        reported
    }

    /// Raw surprise of `value` given the windows before it.
    fn raw_surprise(&mut self, value: f64) -> f64 {
        let (Some(long_median), Some(lo), Some(hi)) = (self.long.median(), self.long.min(), self.long.max()) else {
            self.context.observe(0);
            return 0.0;
        };
        let range = hi - lo;
        // Scale floor: a window of identical values has MAD 0; any change from it is then
        // maximally surprising rather than a division by zero.
        let floor = (range * 1e-3).max(long_median.abs() * 1e-9).max(f64::MIN_POSITIVE);
        let long_mad = self.long.mad(long_median).unwrap_or(0.0);
        let long_z = (value - long_median).abs() / (1.4826 * long_mad).max(floor);
        let local_z = match (self.short.median(), self.short.median().and_then(|m| self.short.mad(m))) {
            (Some(median), Some(mad)) => (value - median).abs() / (1.4826 * mad).max(floor),
            _ => 0.0,
        };
        let bin = ((self.long.rank(value) * self.params.bins as f64) as usize).min(self.params.bins - 1);
        let novelty = self.context.observe(bin);

        let [w_local, w_long, w_context] = self.params.weights;
        let squash = |z: f64| {
            let excess = (z - self.params.z_dead).max(0.0);
            excess / (excess + self.params.z_half)
        };
        let blended = (w_local * squash(local_z) + w_long * squash(long_z) + w_context * novelty)
            / (w_local + w_long + w_context).max(f64::MIN_POSITIVE);
        let margin = self.params.range_margin * range;
        self.new_extreme = self.long.len() >= self.params.warmup && (value > hi + margin || value < lo - margin);
        blended.clamp(0.0, 1.0)
    }
}

/// Maps the log of a tail probability to [0, 1), so the score resolves 1e-3 from 1e-9 (the
/// paper thresholds the likelihood at 1 - 1e-5 and beyond). Up to 0.9 the score is
/// `ln(tail) / ln(1e-10)`; above it a smooth rational cap keeps the map strictly increasing,
/// because ties at the top would hide the ordering of the strongest anomalies.
pub(crate) fn log_scale(ln_tail: f64) -> f64 {
    let s = (ln_tail / TAIL_FLOOR.ln()).max(0.0);
    if s <= 0.9 {
        s
    } else {
        let excess = s - 0.9;
        0.9 + 0.1 * excess / (excess + 0.1)
    }
}

/// Order-2 transition counts over value bins: how often bin `c` followed bins `(a, b)`.
#[derive(Debug, Clone)]
struct ContextModel {
    bins: usize,
    cap: f64,
    counts: Vec<f32>,
    previous: [Option<usize>; 2],
}

impl ContextModel {
    fn new(bins: usize, cap: f64) -> Self {
        let bins = bins.max(2);
        ContextModel { bins, cap, counts: vec![0.0; bins * bins * bins], previous: [None, None] }
    }

    /// Surprise in [0, 1] at seeing `bin` after the previous two, then learns the transition.
    /// A neighbouring bin counts half as a correct prediction: bins are ordered, and a value
    /// one bin off is a near miss rather than a new pattern.
    fn observe(&mut self, bin: usize) -> f64 {
        let bin = bin.min(self.bins - 1);
        let surprise = match self.previous {
            [Some(a), Some(b)] => {
                let row_start = (a * self.bins + b) * self.bins;
                let row = &mut self.counts[row_start..row_start + self.bins];
                let total: f32 = row.iter().sum();
                let near = |i: Option<usize>| i.and_then(|i| row.get(i)).copied().unwrap_or(0.0);
                let predicted = row[bin] + 0.5 * (near(bin.checked_sub(1)) + near(Some(bin + 1)));
                let surprise = 1.0 - f64::from(predicted) / (f64::from(total) + 1.0);
                row[bin] += 1.0;
                if f64::from(total) + 1.0 > self.cap {
                    row.iter_mut().for_each(|c| *c *= 0.5);
                }
                surprise
            }
            _ => 0.0,
        };
        self.previous = [self.previous[1], Some(bin)];
        surprise.clamp(0.0, 1.0)
    }
}
