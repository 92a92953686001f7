//! [`AnomalyDetector`]: one series, online, past data only, bounded state.
//!
//! Each point gets a raw surprise in [0, 1] from each of an ensemble of cheap, scale-free
//! predictors that look at different kinds of change. Every component's surprise goes through
//! its own anomaly likelihood ([`super::likelihood`]), and the score is the strongest weighted
//! evidence (the smallest weighted log tail probability) — a quiet component cannot dilute the
//! one that sees the anomaly. Two rules bypass the likelihood and join by maximum: the range rule
//! and the context novelty. A component of weight 0 is off; by default (tuned on the whole NAB
//! corpus) the long and seasonal residuals, the range rule and the context novelty are on:
//!
//! - **local residual**: distance from the median of the last `short_window` values in units of
//!   their MAD — spikes and dips against the recent level;
//! - **long residual**: the same against the last `long_window` values — level shifts that the
//!   short window has already absorbed still stand out here;
//! - **context transitions** (off by default): values are discretised into equal-depth bins of
//!   the long window, and a table counts which bin follows each pair of bins; a transition the
//!   series has rarely or never made is surprising even when the value itself is ordinary;
//! - **seasonal residual**: difference from the value one period earlier (the point nearest
//!   `ts - period` in a timestamped history, median of it and its two neighbours), in units of
//!   the MAD of past such differences; of the candidate periods (a day, a week) the one whose
//!   residuals have been smallest — the best seasonal predictor so far — is used, so the period
//!   is found online from the timestamps, and irregular sampling is fine;
//! - **range**: a value beyond the extremes of the long window by a margin — a new high or low,
//!   scored higher the further it goes beyond them (relative to the window's range), so a far
//!   excursion outranks a marginal new extreme;
//! - **context novelty** (the contextual idea of CAD OSE, [`super::context`]): the share of the
//!   point's contexts — its bucket in the learned range and how it follows the buckets of the
//!   last few points — that the series has not shown within a long memory, discounted by how
//!   often the series shows new contexts at all (0 below one half), times `novelty_scale`. It
//!   sees a pattern that is new for the series even when every value and every residual is
//!   ordinary, and it remembers much further back than the windows: a spike to a level visited
//!   weeks ago is familiar.
//!
//! - **far outliers** (coarse data only): a point beyond `far_z` robust deviations of both the
//!   long window and its seasonal reference scores like a new extreme, where the likelihood's
//!   averaging window spans a day or more (see [`DetectorParams::far_z`]).
//!
//! A component learns and scores only from the points it can judge (a seasonal residual only
//! once it has a reference and enough past residuals). After a report, later scores are damped
//! for `refractory` points but never longer than `refractory_secs` of event time, so one event is
//! one detection on minute data and a daily series is not silenced for months by one report.
//!
//! Every statistic lives in a fixed-size window or table, so the memory of one detector is
//! constant whatever the length of the series: about 155 KB with the default parameters (the
//! windows and likelihood histories about 132 KB, the context table 22.6 KB).

use chrono::{DateTime, Utc};

use super::context::ContextNovelty;
use super::likelihood::AnomalyLikelihood;
use super::window::{SortedWindow, TimedRing};

/// Tunable parameters. The defaults were chosen on the NAB corpus as a whole (all 58 files,
/// one setting for every file) and from the scales NAB's data live at; the scores they reach
/// come from `cargo bench -p signalcraft-process --bench nab` (their history:
/// `docs/anomaly-experiments.md`).
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
    /// Weights of the local residual, long residual and context novelty: each multiplies its
    /// component's log tail probability before the strongest is taken; 0 turns it off.
    pub weights: [f64; 3],
    /// Margin beyond the long window's extremes, as a fraction of its range, that counts as a
    /// new high or low.
    pub range_margin: f64,
    /// Score floor of a new high or low. A new extreme bypasses the likelihood: it is rare by
    /// construction, and averaging it with ordinary points would hide exactly the level shifts
    /// it is there to catch.
    pub range_score: f64,
    /// Excess beyond the margin, as a fraction of the long window's range, at which a new
    /// extreme scores halfway between `range_score` and 1; 0 gives every new extreme exactly
    /// `range_score`.
    pub range_gain: f64,
    /// Robust z-score, against both the long window and the seasonal reference (the smaller of
    /// the two), at or beyond which a point bypasses the likelihood like a new extreme, on
    /// coarse data (where `likelihood_short` points span a day or more): there the likelihood's
    /// average dilutes a lone spike among days, and once one spike is in the long window the
    /// range rule no longer sees the next, so a second spike two weeks after a first one would
    /// pass unflagged on daily data. Needs a non-zero MAD (a series of repeated values has no
    /// scale to measure "far" in). 0 turns it off.
    pub far_z: f64,
    /// Moving-average length W' of the anomaly likelihood.
    pub likelihood_short: usize,
    /// History W of moving averages behind the likelihood's Gaussian.
    pub likelihood_long: usize,
    /// Smallest standard deviation of the likelihood's Gaussian: how much the averaged raw
    /// surprise must move, at least, to count as one standard deviation. Too small, and a series
    /// whose surprise has been flat turns its first small wobble into near certainty.
    pub likelihood_sigma_floor: f64,
    /// Points after a report during which later scores are damped by it, at most: see
    /// `refractory_secs`.
    pub refractory: usize,
    /// Event time (seconds) after a report during which later scores are damped by it, at most.
    /// The damping makes one event one detection; counted in points alone it would silence a
    /// daily series for `refractory` days after one report, so whichever of the two ends first
    /// ends it: on 5-minute data the points, on hourly or daily data the time.
    pub refractory_secs: i64,
    /// Candidate seasonal periods in seconds (a day, a week): each point is also compared with
    /// the value one period earlier, and the period whose residuals have been smallest wins.
    pub season_periods: Vec<i64>,
    /// (timestamp, value) pairs kept for seasonal references; a period longer than this many
    /// points ago has no reference and is simply not used.
    pub season_history: usize,
    /// Seasonal residuals kept per period to judge their scale.
    pub season_residuals: usize,
    /// Weight of the seasonal residual, as `weights`.
    pub season_weight: f64,
    /// Buckets the learned range is split into by the context novelty (2 to 64).
    pub novelty_buckets: usize,
    /// Points whose buckets form the contexts of the context novelty (2 to 64).
    pub novelty_span: usize,
    /// Points after which a context not seen again counts as new again.
    pub novelty_memory: usize,
    /// Score of a point all of whose contexts are new in a series that otherwise repeats itself
    /// (the novelty is scaled by it, like the range rule it bypasses the likelihood); 0 turns
    /// the context novelty off.
    pub novelty_scale: f64,
}

impl Default for DetectorParams {
    fn default() -> Self {
        DetectorParams {
            short_window: 32,
            long_window: 1024,
            warmup: 64,
            z_dead: 3.0,
            z_half: 3.5,
            bins: 8,
            context_cap: 64.0,
            weights: [0.0, 1.0, 0.0],
            range_margin: 0.05,
            range_score: 0.95,
            range_gain: 0.1,
            far_z: 100.0,
            likelihood_short: 10,
            likelihood_long: 1024,
            likelihood_sigma_floor: super::likelihood::SIGMA_FLOOR,
            refractory: 100,
            refractory_secs: 7 * 86_400,
            season_periods: vec![86_400, 7 * 86_400],
            season_history: 4096,
            season_residuals: 512,
            season_weight: 1.0,
            novelty_buckets: 16,
            novelty_span: 7,
            novelty_memory: 10_000,
            novelty_scale: 0.9,
        }
    }
}

/// Components of the detector, as indices into its surprises, weights and likelihoods.
const LOCAL: usize = 0;
const LONG: usize = 1;
const CONTEXT: usize = 2;
const SEASON: usize = 3;
const COMPONENTS: usize = 4;

/// Context novelty below this (fewer than half of a point's contexts new, after the discount for
/// a series that often shows new ones) scores 0.
const NOVELTY_DEAD: f64 = 0.5;

/// Span of event time that the likelihood's averaging window must cover, at least, for the far
/// rule to apply (`DetectorParams::far_z`): a day.
const FAR_RULE_SPAN_SECS: i64 = 86_400;

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
    novelty: ContextNovelty,
    history: TimedRing,
    seasons: Vec<Season>,
    /// `params.weights` then `params.season_weight`, indexed by component.
    weights: [f64; COMPONENTS],
    /// One anomaly likelihood per component.
    likelihoods: Vec<AnomalyLikelihood>,
    /// The last `refractory` reported scores, with their timestamps.
    reported: TimedRing,
    seen: u64,
    /// Score of the point being scored as a new high or low, 0 if it is none (set by
    /// `surprises`).
    extreme_score: f64,
}

impl Default for AnomalyDetector {
    fn default() -> Self {
        Self::new(DetectorParams::default())
    }
}

impl AnomalyDetector {
    /// Name and version written on every output, so scores from different detectors (or
    /// different tunings) are never mixed up downstream.
    pub const NAME: &'static str = "signalcraft-ensemble-likelihood/5";

    pub fn new(params: DetectorParams) -> Self {
        AnomalyDetector {
            short: SortedWindow::new(params.short_window),
            long: SortedWindow::new(params.long_window),
            context: ContextModel::new(params.bins, params.context_cap),
            novelty: ContextNovelty::new(params.novelty_buckets, params.novelty_span, params.novelty_memory),
            history: TimedRing::new(params.season_history),
            seasons: params
                .season_periods
                .iter()
                .map(|&period| Season { period, residuals: SortedWindow::new(params.season_residuals) })
                .collect(),
            weights: [params.weights[0], params.weights[1], params.weights[2], params.season_weight],
            likelihoods: (0..COMPONENTS)
                .map(|_| {
                    AnomalyLikelihood::new(params.likelihood_short, params.likelihood_long)
                        .with_sigma_floor(params.likelihood_sigma_floor)
                })
                .collect(),
            reported: TimedRing::new(params.refractory),
            seen: 0,
            extreme_score: 0.0,
            params,
        }
    }

    pub fn params(&self) -> &DetectorParams {
        &self.params
    }

    /// Values held in windows: constant once the windows are full, whatever the series length.
    pub fn state_len(&self) -> usize {
        self.short.len()
            + self.long.len()
            + self.history.len()
            + self.seasons.iter().map(|s| s.residuals.len()).sum::<usize>()
            + self.likelihoods.iter().map(AnomalyLikelihood::len).sum::<usize>()
            + self.reported.len()
            + self.novelty.len()
    }

    /// Scores one point in [0, 1] (higher = more anomalous) and learns from it. Only past points
    /// inform the score. A non-finite value scores 0 and is not learned: one bad reading must not
    /// poison the baselines of every later point.
    pub fn score(&mut self, ts: DateTime<Utc>, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let ts = ts.timestamp();
        let surprises = self.surprises(ts, value);
        // A point whose contexts are mostly familiar is ordinary: reporting its small novelty
        // would only damp the scores after it (see the reporting below).
        let mut novelty = 0.0;
        if self.params.novelty_scale > 0.0 {
            let share = self.novelty.observe(value);
            if share >= NOVELTY_DEAD {
                novelty = share * self.params.novelty_scale.min(1.0);
            }
        }
        self.short.push(value);
        self.long.push(value);
        self.history.push(ts, value);
        self.seen += 1;
        // Each component has its own likelihood (a series can be noisy for one predictor and
        // quiet for another), and the strongest weighted evidence wins: blending raw surprises
        // first would let a quiet component dilute the one that sees the anomaly. The
        // likelihoods learn even during warm-up, so their history is ready when scores start.
        // A component learns only from the surprises it could judge: fed zeros while it waits
        // for its references, its likelihood would take its first real surprise for a wobble
        // after a flat history (the first weekend of a daily series after its weekly residuals
        // are ready, say) and score it near certainty.
        let mut ln_tail = 0.0f64;
        for ((likelihood, surprise), weight) in self.likelihoods.iter_mut().zip(surprises).zip(self.weights) {
            if let (Some(surprise), true) = (surprise, weight > 0.0) {
                ln_tail = ln_tail.min(weight * likelihood.update(surprise));
            }
        }
        let mut score = if self.seen <= self.params.warmup as u64 { 0.0 } else { log_scale(ln_tail).max(novelty) };
        score = score.max(self.extreme_score);
        // Report an ongoing anomaly at its onset: for `refractory` points (and at most
        // `refractory_secs`) after a high score, scores are damped by how high the recent reports
        // were, so one event is one detection rather than a run of them (a stronger event still
        // gets through).
        let window = self.params.refractory_secs;
        let recent = self
            .reported
            .pairs()
            .iter()
            .filter(|(at, _)| ts.saturating_sub(*at) < window)
            .map(|(_, report)| *report)
            .fold(0.0, f64::max);
        let reported = score * (1.0 - recent);
        self.reported.push(ts, reported);
        reported
    }

    /// Surprise in [0, 1] of each component (local, long, context, seasonal) at `value` given
    /// the windows before it; `None` for a component with weight 0 and for one that cannot judge
    /// the point yet (a seasonal residual without its reference or enough past residuals). Sets
    /// `extreme_score`.
    fn surprises(&mut self, ts: i64, value: f64) -> [Option<f64>; COMPONENTS] {
        let mut surprises = [None; COMPONENTS];
        let (Some(long_median), Some(lo), Some(hi)) = (self.long.median(), self.long.min(), self.long.max()) else {
            if self.weights[CONTEXT] > 0.0 {
                self.context.observe(0);
            }
            self.extreme_score = 0.0;
            return surprises;
        };
        let range = hi - lo;
        // Scale floor: a window of identical values has MAD 0; any change from it is then
        // maximally surprising rather than a division by zero.
        let floor = (range * 1e-3).max(long_median.abs() * 1e-9).max(f64::MIN_POSITIVE);
        let (z_dead, z_half) = (self.params.z_dead, self.params.z_half);
        let squash = move |z: f64| {
            let excess = (z - z_dead).max(0.0);
            excess / (excess + z_half)
        };
        if self.weights[LOCAL] > 0.0 {
            if let Some(median) = self.short.median() {
                let mad = self.short.mad(median).unwrap_or(0.0);
                surprises[LOCAL] = Some(squash((value - median).abs() / (1.4826 * mad).max(floor)));
            }
        }
        let mad = self.long.mad(long_median).unwrap_or(0.0);
        let long_z = (value - long_median).abs() / (1.4826 * mad).max(floor);
        if self.weights[LONG] > 0.0 {
            surprises[LONG] = Some(squash(long_z));
        }
        if self.weights[CONTEXT] > 0.0 {
            let bin = ((self.long.rank(value) * self.params.bins as f64) as usize).min(self.params.bins - 1);
            surprises[CONTEXT] = Some(self.context.observe(bin));
        }
        let mut season_z = None;
        if self.weights[SEASON] > 0.0 {
            season_z = self.season_z(ts, value, floor);
            surprises[SEASON] = season_z.map(squash);
        }
        self.extreme_score = self.extreme_score(value, lo, hi, floor);
        // The far rule is for coarse data only: where the likelihood's `likelihood_short` points
        // span less than a day (minute to hourly data), an anomaly lasts several of them and the
        // likelihood sees it; where they span a day or more, a lone spike is diluted among days.
        let coarse = self
            .history
            .ts_back(self.params.likelihood_short.saturating_sub(1))
            .is_some_and(|earlier| ts.saturating_sub(earlier) >= FAR_RULE_SPAN_SECS);
        let far_z = season_z.map_or(long_z, |z| z.min(long_z));
        if coarse
            && self.long.len() >= self.params.warmup
            && mad > 0.0
            && self.params.far_z > 0.0
            && far_z >= self.params.far_z
        {
            let excess = far_z / self.params.far_z - 1.0;
            let far = self.params.range_score + (1.0 - self.params.range_score) * excess / (excess + 1.0);
            self.extreme_score = self.extreme_score.max(far);
        }
        surprises
    }

    /// Score of `value` as a new high or low of the long window `[lo, hi]`: 0 within the
    /// margin, else `range_score` plus a share of the way to 1 that grows with the excess beyond
    /// the margin (relative to the range, so the rule is scale-free).
    fn extreme_score(&self, value: f64, lo: f64, hi: f64, floor: f64) -> f64 {
        let range = hi - lo;
        let margin = self.params.range_margin * range;
        if self.long.len() < self.params.warmup || (value <= hi + margin && value >= lo - margin) {
            return 0.0;
        }
        let base = self.params.range_score;
        let gain = self.params.range_gain;
        if gain <= 0.0 {
            return base;
        }
        let excess = ((value - hi).max(lo - value) - margin).max(0.0) / range.max(floor);
        base + (1.0 - base) * excess / (excess + gain)
    }

    /// Robust z-score of `value` against its seasonal reference, using the period whose recent
    /// residuals have been smallest (the best seasonal predictor so far); `None` until some
    /// period has a reference and enough residuals to judge their scale. Learns the residuals.
    fn season_z(&mut self, ts: i64, value: f64, floor: f64) -> Option<f64> {
        let mut best: Option<(f64, f64)> = None; // (scale, z)
        for season in &mut self.seasons {
            let Some(reference) = self.history.around(ts - season.period, season.period / 48) else {
                continue;
            };
            let residual = value - reference;
            if season.residuals.len() >= self.params.warmup {
                if let Some(median) = season.residuals.median() {
                    let scale = (1.4826 * season.residuals.mad(median).unwrap_or(0.0)).max(floor);
                    let z = (residual - median).abs() / scale;
                    if best.is_none_or(|(s, _)| scale < s) {
                        best = Some((scale, z));
                    }
                }
            }
            season.residuals.push(residual);
        }
        best.map(|(_, z)| z)
    }
}

/// Comparison of each value with the value one `period` earlier.
#[derive(Debug, Clone)]
struct Season {
    period: i64,
    /// Recent `value - reference` differences.
    residuals: SortedWindow,
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
