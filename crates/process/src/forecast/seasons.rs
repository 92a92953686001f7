//! Seasonal period detection: a Welch periodogram (augurs-seasons) proposes candidate periods,
//! the autocorrelation function refines and confirms them.
//!
//! Why both: the periodogram only resolves periods of the form `fft_size / k`, so a weekly cycle
//! of 336 half-hours shows up as 341 and a daily one of 48 as 47 or 49; an MSTL seasonal
//! component with the wrong length smears the pattern. The autocorrelation of the series at
//! lags between the neighbouring periodogram bins is exact to the step, so it picks the true lag
//! and also rejects peaks that are not repeating patterns (a trend or a level shift puts power
//! at long periods without being seasonal).

use std::cmp::Ordering;

use augurs::seasons::PeriodogramDetector;

/// Candidates whose detrended autocorrelation at their own lag is below this are not seasonal:
/// a component explaining less than about a quarter of the detrended variance is not worth an
/// MSTL term, and at that level a noise series can reach it by chance only when very short.
const MIN_SEASONAL_ACF: f64 = 0.25;

/// Share of the detrended variance a period must explain on its own to stay in the model.
const MIN_VARIANCE_SHARE: f64 = 0.02;

/// Periodogram peaks below this share of the strongest peak are ignored.
const MIN_RELATIVE_POWER: f64 = 0.05;

/// How many periodogram peaks are examined (strongest first).
const MAX_CANDIDATES: usize = 8;

/// Shortest period considered: a "period" of 2 is an alternation, not a seasonal pattern.
const MIN_PERIOD: usize = 3;

/// Detects up to `max_periods` seasonal periods of `y` (in steps), returned shortest first.
///
/// Periods are bounded by the series length: each must repeat at least three times, which is
/// also what MSTL needs to estimate a seasonal component at all.
pub fn detect_periods(y: &[f64], max_periods: usize) -> Vec<usize> {
    let n = y.len();
    let max_period = n / 3;
    if max_period <= MIN_PERIOD || max_periods == 0 {
        return Vec::new();
    }
    let z = detrend_linear(y);
    let Ok(max_period_u32) = u32::try_from(max_period) else {
        return Vec::new();
    };
    // The periodogram's window is twice the longest period, so the longest candidate still
    // fits twice in every Welch segment.
    let periodogram =
        PeriodogramDetector::builder().min_period(MIN_PERIOD as u32).max_period(max_period_u32).build().periodogram(&z);
    let periods: Vec<usize> = periodogram.periods.iter().map(|&p| p as usize).collect();
    let powers = &periodogram.powers;
    let strongest = powers.iter().copied().fold(0.0_f64, f64::max);
    if strongest <= 0.0 || !strongest.is_finite() {
        return Vec::new();
    }

    // Local maxima of the spectrum, strongest first; each carries the range of lags between its
    // neighbouring bins, where the true period lies.
    let mut peaks: Vec<(f64, usize, usize)> = Vec::new();
    for i in 0..powers.len() {
        let left = if i > 0 { powers[i - 1] } else { f64::NEG_INFINITY };
        let right = powers.get(i + 1).copied().unwrap_or(f64::NEG_INFINITY);
        if powers[i] >= left && powers[i] >= right && powers[i] >= MIN_RELATIVE_POWER * strongest {
            // Periods are listed longest first (ascending frequency).
            let hi = if i > 0 { periods[i - 1] } else { max_period };
            let lo = periods.get(i + 1).copied().unwrap_or(MIN_PERIOD);
            peaks.push((powers[i], lo.max(MIN_PERIOD), hi.min(max_period)));
        }
    }
    peaks.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(Ordering::Equal));
    peaks.truncate(MAX_CANDIDATES);

    // Greedy, strongest peak first: each accepted period's seasonal pattern is removed before
    // the next candidate is judged, so echoes of an accepted cycle (its harmonics, or the
    // neighbouring bins a period between bins leaks into) find nothing left to explain.
    let mut residual = z;
    let mut accepted: Vec<(f64, usize)> = Vec::new();
    let mut remaining = peaks;
    // Each round takes the candidate that best explains what is left, not the biggest spectral
    // peak: a slow business cycle can out-power the yearly season, and removing a 48-month
    // "pattern" first would also erase the 12-month one it contains.
    while !remaining.is_empty() {
        let mut best: Option<(f64, usize, usize)> = None;
        for (index, &(_, lo, hi)) in remaining.iter().enumerate() {
            let Some(lag) = best_lag(&residual, lo, hi) else { continue };
            let strength = comb_acf(&residual, lag);
            if best.is_none_or(|(s, _, _)| strength > s) {
                best = Some((strength, lag, index));
            }
        }
        let Some((strength, lag, index)) = best else { break };
        remaining.remove(index);
        if strength < MIN_SEASONAL_ACF {
            break;
        }
        if !accepted.iter().any(|&(_, p)| p == lag) {
            accepted.push((strength, lag));
            residual = remove_seasonal(&residual, lag);
        }
    }
    // Backfit: a period accepted early was judged before the later ones were removed; a daily
    // cycle whose shape changes by weekday leaves a half-day echo until the weekly cycle is
    // gone. Each period must still explain its share with all the others removed.
    if accepted.len() > 1 {
        let all = accepted.clone();
        let total = variance(&detrend_linear(y));
        accepted.retain(|&(_, p)| {
            let mut others = detrend_linear(y);
            // A multiple of p (a week over a day) contains p's pattern in its own; removing it
            // would always erase p, yet MSTL models day-within-week best as two components.
            // Only a multiple of 2 or 3 is treated as the source of p: then p is its harmonic
            // (half a week), not a cycle of its own.
            for &(_, q) in all.iter().filter(|&&(_, q)| q != p && (q % p != 0 || q / p <= 3)) {
                others = remove_seasonal(&others, q);
            }
            // The autocorrelation is scale-free: once the others are gone, the edge leftovers of
            // their removal can still correlate. So p must also remove a real share of the
            // detrended variance.
            let explained = variance(&others) - variance(&remove_seasonal(&others, p));
            comb_acf(&others, p) >= MIN_SEASONAL_ACF && explained >= MIN_VARIANCE_SHARE * total
        });
    }
    accepted.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(Ordering::Equal));
    accepted.truncate(max_periods);
    let mut out: Vec<usize> = accepted.into_iter().map(|(_, p)| p).collect();
    out.sort_unstable();
    out
}

/// The series minus its least-squares line, so a trend does not dominate the spectrum.
fn detrend_linear(y: &[f64]) -> Vec<f64> {
    let n = y.len() as f64;
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, v) in y.iter().enumerate() {
        let dx = i as f64 - mean_x;
        sxy += dx * (v - mean_y);
        sxx += dx * dx;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    y.iter().enumerate().map(|(i, v)| v - mean_y - slope * (i as f64 - mean_x)).collect()
}

/// The lag in `lo..=hi` whose multiples correlate best on average.
///
/// Averaging over the multiples (lag, 2·lag, …) separates the true period from its neighbours:
/// at one lag 287 and 288 correlate almost equally with a 288-step day, ten cycles later the
/// wrong one is ten steps out of phase.
fn best_lag(z: &[f64], lo: usize, hi: usize) -> Option<usize> {
    let n = z.len();
    let mut best: Option<(f64, usize)> = None;
    for lag in lo..=hi {
        if 3 * lag > n {
            break;
        }
        let r = comb_acf(z, lag);
        if best.is_none_or(|(b, _)| r > b) {
            best = Some((r, lag));
        }
    }
    best.map(|(_, lag)| lag)
}

/// Mean autocorrelation at the multiples of `lag` (up to eight, each with at least a third of
/// the series' pairs) of the series minus its moving average over `lag`.
///
/// A season repeats at every multiple of its period; a one-off swing (a recession in retail
/// sales, a pandemic in footfall) correlates at one lag and not at the next.
fn comb_acf(z: &[f64], lag: usize) -> f64 {
    let n = z.len();
    if lag == 0 || n < 3 * lag {
        return 0.0;
    }
    let ma = centred_moving_average(z, lag);
    let residual: Vec<f64> = z.iter().zip(&ma).map(|(v, m)| v - m).collect();
    let multiples = (2 * n / 3 / lag).clamp(1, 8);
    (1..=multiples).map(|k| acf(&residual, k * lag)).sum::<f64>() / multiples as f64
}

/// The series minus its seasonal pattern at `period`: the mean of each phase of the detrended
/// (moving-average removed) series, as in classical decomposition.
fn remove_seasonal(z: &[f64], period: usize) -> Vec<f64> {
    let ma = centred_moving_average(z, period);
    let mut sums = vec![0.0; period];
    let mut counts = vec![0usize; period];
    for (i, (v, m)) in z.iter().zip(&ma).enumerate() {
        sums[i % period] += v - m;
        counts[i % period] += 1;
    }
    let pattern: Vec<f64> = sums.iter().zip(&counts).map(|(s, &c)| if c > 0 { s / c as f64 } else { 0.0 }).collect();
    let level = pattern.iter().sum::<f64>() / period as f64;
    z.iter().enumerate().map(|(i, v)| v - (pattern[i % period] - level)).collect()
}

/// Centred moving average over `w` points (a 2×w average when `w` is even, as in classical
/// decomposition, so it stays centred). Values near the ends use the available window.
fn centred_moving_average(z: &[f64], w: usize) -> Vec<f64> {
    let n = z.len();
    let mut prefix = vec![0.0; n + 1];
    for (i, v) in z.iter().enumerate() {
        prefix[i + 1] = prefix[i] + v;
    }
    let mean = |a: usize, b: usize| (prefix[b] - prefix[a]) / (b - a) as f64;
    (0..n)
        .map(|i| {
            if w % 2 == 1 {
                let h = w / 2;
                mean(i.saturating_sub(h), (i + h + 1).min(n))
            } else {
                let h = w / 2;
                let a = mean(i.saturating_sub(h), (i + h).min(n));
                let b = mean((i + 1).saturating_sub(h), (i + h + 1).min(n));
                (a + b) / 2.0
            }
        })
        .collect()
}

/// Population variance.
fn variance(z: &[f64]) -> f64 {
    let n = z.len().max(1) as f64;
    let mean = z.iter().sum::<f64>() / n;
    z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n
}

/// Sample autocorrelation at `lag`.
fn acf(z: &[f64], lag: usize) -> f64 {
    let n = z.len();
    if lag >= n {
        return 0.0;
    }
    let mean = z.iter().sum::<f64>() / n as f64;
    let var: f64 = z.iter().map(|v| (v - mean).powi(2)).sum();
    if var <= 0.0 {
        return 0.0;
    }
    let cov: f64 = (lag..n).map(|i| (z[i] - mean) * (z[i - lag] - mean)).sum();
    cov / var
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave(n: usize, period: usize, amplitude: f64) -> Vec<f64> {
        (0..n).map(|i| amplitude * (2.0 * std::f64::consts::PI * i as f64 / period as f64).sin()).collect()
    }

    #[test]
    fn finds_the_exact_period_between_periodogram_bins() {
        // 48 is not of the form fft_size / k, the periodogram alone says 47 or 49.
        let y: Vec<f64> = wave(2000, 48, 10.0).iter().enumerate().map(|(i, v)| v + 0.01 * i as f64).collect();
        assert_eq!(detect_periods(&y, 3), vec![48]);
    }

    #[test]
    fn finds_two_nested_seasonalities() {
        let daily = wave(2688, 48, 10.0);
        // Weekends lower, as in real traffic: a weekly shape, not a pure sine (whose period
        // 335 fits as well as 336 over eight cycles).
        let weekly: Vec<f64> = (0..2688).map(|i| if (i / 48) % 7 >= 5 { -8.0 } else { 0.0 }).collect();
        let y: Vec<f64> = daily.iter().zip(&weekly).map(|(a, b)| 100.0 + a + b).collect();
        assert_eq!(detect_periods(&y, 3), vec![48, 336]);
    }

    #[test]
    fn no_season_in_a_line_or_a_short_series() {
        let line: Vec<f64> = (0..500).map(|i| i as f64).collect();
        assert!(detect_periods(&line, 3).is_empty());
        assert!(detect_periods(&[1.0, 2.0, 3.0, 4.0], 3).is_empty());
        assert!(detect_periods(&[5.0; 100], 3).is_empty());
    }
}
