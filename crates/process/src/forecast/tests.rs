//! Forecaster and processor tests on synthetic series with known truth.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use signalcraft_model::{KpiForecast, KpiPoint};

use super::*;
use crate::Processor;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single().expect("valid instant")
}

/// Hourly series: level 100, slow trend, a daily cycle of amplitude 20, small deterministic noise.
fn truth(i: usize) -> f64 {
    let t = i as f64;
    100.0 + 0.02 * t + 20.0 * (2.0 * std::f64::consts::PI * t / 24.0).sin()
}

fn noisy(i: usize) -> f64 {
    // A fixed pseudo-noise (no RNG dependency), uncorrelated with the daily cycle.
    truth(i) + 1.5 * ((i as f64 * 12.9898).sin() * 43_758.547).fract()
}

fn hourly(n: usize) -> (Vec<DateTime<Utc>>, Vec<f64>) {
    (0..n).map(|i| (start() + TimeDelta::hours(i as i64), noisy(i))).unzip()
}

#[test]
fn detects_the_daily_period_and_forecasts_close_to_truth() {
    let (ts, y) = hourly(24 * 28);
    let forecaster = Forecaster::new(ForecasterConfig { horizon: Horizon::Steps(48), ..Default::default() });
    let forecast = forecaster.forecast(&ts, &y).expect("forecast");
    assert_eq!(forecast.periods, vec![24]);
    assert_eq!(forecast.step_seconds, 3600);
    assert_eq!(forecast.points.len(), 48);
    assert!(forecast.model.contains("24"), "model names the period: {}", forecast.model);
    let mae = forecast.points.iter().enumerate().map(|(k, p)| (p.mean - truth(y.len() + k)).abs()).sum::<f64>() / 48.0;
    assert!(mae < 2.0, "mean absolute error {mae}");
    assert_eq!(forecast.points[0].ts, ts[ts.len() - 1] + TimeDelta::hours(1));
}

#[test]
fn default_horizon_is_thirty_days_in_the_series_step() {
    let (ts, y) = hourly(24 * 14);
    let forecast = Forecaster::default().forecast(&ts, &y).expect("forecast");
    assert_eq!(forecast.points.len(), 30 * 24);
}

#[test]
fn intervals_nest_and_contain_the_mean() {
    let (ts, y) = hourly(24 * 21);
    let forecast = Forecaster::new(ForecasterConfig { horizon: Horizon::Steps(72), ..Default::default() })
        .forecast(&ts, &y)
        .expect("forecast");
    for p in &forecast.points {
        assert!(p.lower_95 <= p.lower_80 && p.lower_80 <= p.mean && p.mean <= p.upper_80 && p.upper_80 <= p.upper_95);
        assert!(p.upper_95 - p.lower_95 > p.upper_80 - p.lower_80, "95% strictly wider than 80%: {p:?}");
    }
}

#[test]
fn too_short_or_bad_input_gives_an_error_not_a_panic() {
    let forecaster = Forecaster::default();
    let (ts, y) = hourly(5);
    assert!(matches!(forecaster.forecast(&ts, &y), Err(ForecastError::TooShort { .. })));
    assert!(matches!(forecaster.forecast(&ts[..3], &y), Err(ForecastError::LengthMismatch { .. })));
    assert!(forecaster.forecast(&[], &[]).is_err());
    let (ts, mut y) = hourly(100);
    y[7] = f64::NAN;
    assert!(matches!(forecaster.forecast(&ts, &y), Err(ForecastError::NotFinite { index: 7, .. })));
    let same = vec![start(); 100];
    assert!(matches!(forecaster.forecast(&same, &vec![1.0; 100]), Err(ForecastError::NoStep)));
    // A constant series is forecast as that constant.
    let (ts, _) = hourly(100);
    let flat = forecaster.forecast(&ts, &[7.0; 100]).expect("flat forecast");
    assert!(flat.points.iter().all(|p| (p.mean - 7.0).abs() < 1e-6));
}

#[test]
fn monthly_series_step_by_calendar_months() {
    let month = |y: i32, m: u32, d: u32| Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().expect("valid date");
    let forecaster = Forecaster::new(ForecasterConfig { horizon: Horizon::Steps(14), ..Default::default() });
    let y: Vec<f64> = (0..48).map(|i| 100.0 + i as f64 + 10.0 * ((i % 12) as f64 - 5.5).abs()).collect();
    let ts: Vec<DateTime<Utc>> = (0..48).map(|i| month(2020 + i / 12, (i % 12) as u32 + 1, 1)).collect();
    let forecast = forecaster.forecast(&ts, &y).expect("forecast");
    let got: Vec<DateTime<Utc>> = forecast.points.iter().map(|p| p.ts).collect();
    let want: Vec<DateTime<Utc>> = (0..14).map(|i| month(2024 + i / 12, (i % 12) as u32 + 1, 1)).collect();
    assert_eq!(got, want);
    // Month ends stay month ends: 2024-01-31, then 02-29, 03-31, ...
    let end = |y: i32, m: u32| {
        let next = if m == 12 { month(y + 1, 1, 1) } else { month(y, m + 1, 1) };
        next - TimeDelta::days(1)
    };
    let ts: Vec<DateTime<Utc>> = (0..48).map(|i| end(2020 + i / 12, (i % 12) as u32 + 1)).collect();
    let forecast = forecaster.forecast(&ts, &y).expect("forecast");
    assert_eq!(forecast.points[0].ts, end(2024, 1));
    assert_eq!(forecast.points[1].ts, end(2024, 2));
    assert_eq!(forecast.points[13].ts, end(2025, 2));
}

fn point(series: &str, i: usize) -> KpiPoint {
    KpiPoint {
        series_id: series.into(),
        tenant_id: Some("acme".into()),
        metric: "m".into(),
        unit: "u".into(),
        ts: start() + TimeDelta::hours(i as i64),
        value: noisy(i),
        source: "test".into(),
    }
}

fn small_config() -> ForecastSeriesConfig {
    ForecastSeriesConfig {
        forecaster: ForecasterConfig { horizon: Horizon::Duration(TimeDelta::days(1)), ..Default::default() },
        history_cap: 200,
        refit_every: 50,
        refit_interval: None,
        max_series: 100,
    }
}

#[test]
fn processor_refits_every_n_points_with_bounded_history() {
    let mut processor = ForecastSeries::new(small_config());
    let mut emitted = Vec::new();
    for i in 0..500 {
        emitted.extend(processor.process(point("s", i)).expect("processes"));
        assert!(processor.history_len("s") <= 200);
    }
    assert_eq!(processor.history_len("s"), 200);
    // One per 50 points, and before the first of those at 16 and 32 points.
    assert_eq!(emitted.len(), 2 + 10, "one forecast per 50 points, two early ones");
    let last = emitted.last().expect("a forecast");
    assert_eq!(last.issued_at, start() + TimeDelta::hours(499));
    assert_eq!(last.step_seconds, 3600);
    assert_eq!(last.points.len(), 24);
    assert_eq!(last.tenant_id.as_deref(), Some("acme"));
    assert!(last.model.contains("24"), "{}", last.model);
}

#[test]
fn a_state_series_is_never_forecast() {
    use crate::history::RebuildableState;
    let mut processor = ForecastSeries::new(small_config());
    let state = |i| KpiPoint { metric: "state:weather_code".into(), ..point("code", i) };
    for i in 0..500 {
        assert_eq!(processor.process(state(i)).expect("processes"), []);
    }
    assert_eq!(processor.history_len("code"), 0, "nothing learnt");
    assert_eq!(processor.series_of(&state(0)), None, "no state to rebuild either");
    // The same values as a quantity are forecast (the skip is the metric's, not the values').
    let forecasts: usize = (0..500).map(|i| processor.process(point("code", i)).expect("processes").len()).sum();
    assert_eq!(forecasts, 2 + 10);
}

#[test]
fn a_series_shorter_than_the_refit_period_is_forecast_at_each_doubling() {
    let mut config = small_config();
    config.refit_every = 336;
    let mut processor = ForecastSeries::new(config);
    let issued: Vec<DateTime<Utc>> = (0..90)
        .flat_map(|i| processor.process(point("young", i)).expect("processes"))
        .map(|forecast| forecast.issued_at)
        .collect();
    assert_eq!(issued, [15, 31, 63].map(|i| start() + TimeDelta::hours(i)));
}

#[test]
fn processor_is_deterministic_and_ignores_repeats() {
    let run = || {
        let mut processor = ForecastSeries::new(small_config());
        let mut out = Vec::new();
        for i in 0..120 {
            out.extend(processor.process(point("a", i)).expect("processes"));
            // A redelivered point neither counts as new nor changes the output.
            out.extend(processor.process(point("a", i)).expect("processes"));
        }
        out
    };
    let first = run();
    assert_eq!(first.len(), 2 + 2);
    assert_eq!(first, run());
}

#[test]
fn processor_waits_quietly_on_a_short_series_and_follows_the_schedule() {
    let mut config = small_config();
    config.refit_every = 1;
    let mut processor = ForecastSeries::new(config);
    for i in 0..10 {
        assert!(processor.process(point("short", i)).expect("processes").is_empty());
    }
    let mut config = small_config();
    config.refit_every = 1000;
    config.refit_interval = Some(TimeDelta::hours(24));
    let mut processor = ForecastSeries::new(config);
    let mut issued = Vec::new();
    for i in 0..200 {
        issued.extend(processor.process(point("sched", i)).expect("processes").into_iter().map(|f| f.issued_at));
    }
    // By count only early (the 16th, 32nd, 64th and 128th point, before the first refit at
    // 1000); by schedule on the first point of every UTC day after the first.
    let mut expected: Vec<DateTime<Utc>> = (1..=8).map(|day| start() + TimeDelta::days(day)).collect();
    expected.extend([15, 31, 63, 127].map(|i| start() + TimeDelta::hours(i)));
    expected.sort();
    assert_eq!(issued, expected);
    assert!(processor.process(KpiPoint { value: f64::INFINITY, ..point("sched", 300) }).is_err());
}

#[test]
fn a_processor_seeded_with_the_stored_past_forecasts_exactly_as_an_uninterrupted_one() {
    use crate::history::{PastPoint, RebuildableState, SeriesPast};
    let config = ForecastSeriesConfig {
        forecaster: ForecasterConfig { horizon: Horizon::Steps(6), ..Default::default() },
        history_cap: 120,
        refit_every: 40,
        refit_interval: Some(TimeDelta::hours(72)),
        max_series: 10,
    };
    let inputs: Vec<KpiPoint> = (0..260).map(|i| point("s", i)).collect();
    let mut uninterrupted = ForecastSeries::new(config.clone());
    let expected: Vec<Vec<KpiForecast>> =
        inputs.iter().cloned().map(|p| uninterrupted.process(p).expect("processes")).collect();
    let issued: Vec<usize> = (0..inputs.len()).filter(|&i| !expected[i].is_empty()).collect();
    // The 16th and 32nd point (before the first scheduled refit), every 40th point, and the
    // first point of each 72 hours counted from the Unix epoch (2024-01-03, -06 and -09 at
    // midnight).
    assert_eq!(issued, [15, 31, 39, 48, 79, 119, 120, 159, 192, 199, 239]);

    // Restarts before the history is full (the whole past is replayed) and after it (the last
    // `history_cap` points); neither on a refit boundary.
    for restart in [90, 211] {
        let mut restarted = ForecastSeries::new(config.clone());
        let depth = restarted.history_depth();
        let replayed = depth.points_to_replay(restart as u64);
        assert_eq!(replayed, restart.min(120));
        restarted.seed(&SeriesPast {
            series_id: "s".into(),
            before: inputs[restart].ts,
            points_before: restart as u64,
            points: inputs[restart - replayed..restart]
                .iter()
                .map(|p| PastPoint { ts: p.ts, value: p.value })
                .collect(),
            tenant_id: Some("acme".into()),
            articles: None,
            complete: true,
        });
        assert_eq!(restarted.history_len("s"), replayed);
        for (i, input) in inputs.iter().enumerate().skip(restart) {
            let got = restarted.process(input.clone()).expect("processes");
            assert_eq!(got, expected[i], "output of point {i} after a restart at {restart}");
        }
    }
}

#[test]
fn series_held_for_forecasting_are_capped() {
    let mut config = small_config();
    config.max_series = 2;
    let mut processor = ForecastSeries::new(config);
    for series in ["a", "b", "a", "c"] {
        processor.process(point(series, 0)).expect("processes");
    }
    assert_eq!(processor.series_count(), 2);
    // "b" was least recently seen when "c" arrived.
    assert_eq!((processor.history_len("a"), processor.history_len("b"), processor.history_len("c")), (1, 0, 1));
}

/// A deterministic pseudo-random stream (xorshift64*), so the tests need no RNG dependency and
/// always see the same draws.
struct Draws(u64);

impl Draws {
    /// Uniform on (0, 1).
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// Student's t with 3 degrees of freedom: heavy tails, variance 3.
    fn student_t3(&mut self) -> f64 {
        let chi2: f64 = (0..3).map(|_| self.normal().powi(2)).sum();
        self.normal() / (chi2 / 3.0).sqrt()
    }
}

/// The distribution function of Student's t with 3 degrees of freedom (closed form).
fn student_t3_cdf(t: f64) -> f64 {
    let r3 = 3f64.sqrt();
    0.5 + (t / (r3 * (1.0 + t * t / 3.0)) + (t / r3).atan()) / std::f64::consts::PI
}

/// Daily series: a weekly shape on a slow trend, plus independent Student-t(3) noise of scale
/// `scale(day of the week)`. The times, the values, and the truth without noise.
fn weekly_with_noise(
    seed: u64,
    n: usize,
    scale: impl Fn(usize) -> f64,
) -> (Vec<DateTime<Utc>>, Vec<f64>, impl Fn(usize) -> f64) {
    let shape = [0.0, 8.0, 12.0, 6.0, 4.0, -14.0, -16.0];
    let truth = move |i: usize| 200.0 + 0.05 * i as f64 + shape[i % 7];
    let mut draws = Draws(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let ts = (0..n).map(|i| start() + TimeDelta::days(i as i64)).collect();
    let y = (0..n).map(|i| truth(i) + scale(i % 7) * draws.student_t3()).collect();
    (ts, y, truth)
}

fn two_weeks_ahead() -> Forecaster {
    Forecaster::new(ForecasterConfig { horizon: Horizon::Steps(14), ..Default::default() })
}

#[test]
fn calibrated_intervals_cover_their_level_of_fresh_draws() {
    // Heavy-tailed noise. The models assume normal errors: ±1.28 residual standard deviations
    // hold about 89% of Student-t(3) draws, and the models' own 80% intervals cover 0.87 of
    // them here. For each forecast point the probability that a fresh draw of the series
    // (truth plus new noise) falls inside is exact from the t distribution; averaged over the
    // points of independent series it should be near the nominal level.
    let scale = 4.0;
    let (mut cover_80, mut cover_95, mut points) = (0.0, 0.0, 0.0);
    for seed in 1..=8 {
        let (ts, y, truth) = weekly_with_noise(seed, 364, |_| scale);
        let forecast = two_weeks_ahead().forecast(&ts, &y).expect("forecast");
        assert_eq!(forecast.intervals, IntervalSource::HeldOut { tails: 5, errors: 70 });
        assert_eq!(forecast.published_model(), format!("{}; intervals held-out 70/5", forecast.model));
        for (k, p) in forecast.points.iter().enumerate() {
            let t = truth(y.len() + k);
            let inside =
                |lower: f64, upper: f64| student_t3_cdf((upper - t) / scale) - student_t3_cdf((lower - t) / scale);
            cover_80 += inside(p.lower_80, p.upper_80);
            cover_95 += inside(p.lower_95, p.upper_95);
            points += 1.0;
        }
    }
    let (cover_80, cover_95) = (cover_80 / points, cover_95 / points);
    assert!((0.74..=0.85).contains(&cover_80), "80% interval covers {cover_80:.3} of fresh draws");
    assert!((0.91..=0.985).contains(&cover_95), "95% interval covers {cover_95:.3} of fresh draws");
}

#[test]
fn calibrated_intervals_are_wider_where_the_held_out_errors_are_larger() {
    // Hourly, with the afternoons (12:00 to 18:00) five times as noisy as the rest of the day.
    // The models' intervals are as wide at night as in the afternoon; the held-out errors
    // (two-day tails, in step with the day) are not.
    let afternoon = |hour: usize| (12..18).contains(&hour);
    let mut draws = Draws(7);
    let n = 24 * 28;
    let (ts, y): (Vec<DateTime<Utc>>, Vec<f64>) = (0..n)
        .map(|i| {
            let sd = if afternoon(i % 24) { 5.0 } else { 1.0 };
            (start() + TimeDelta::hours(i as i64), truth(i) + sd * draws.normal())
        })
        .unzip();
    let forecast = Forecaster::new(ForecasterConfig { horizon: Horizon::Steps(48), ..Default::default() })
        .forecast(&ts, &y)
        .expect("forecast");
    assert!(matches!(forecast.intervals, IntervalSource::HeldOut { .. }), "{:?}", forecast.intervals);
    let mean_width = |in_afternoon: bool| {
        let widths: Vec<f64> = (0..forecast.points.len())
            .filter(|k| afternoon((n + k) % 24) == in_afternoon)
            .map(|k| forecast.points[k].upper_80 - forecast.points[k].lower_80)
            .collect();
        widths.iter().sum::<f64>() / widths.len() as f64
    };
    let (rest, afternoons) = (mean_width(false), mean_width(true));
    assert!(afternoons > 2.0 * rest, "80% width {afternoons:.1} in the afternoons vs {rest:.1} otherwise");
}

#[test]
fn calibrated_intervals_are_wider_at_the_noisier_weekends() {
    // Daily, weekends four times as noisy as weekdays: a pattern of the week's phase, seen in
    // the whole history's week-to-week changes.
    let weekend = |day: usize| day >= 5;
    let (ts, y, _) = weekly_with_noise(3, 364, |day| if weekend(day) { 8.0 } else { 2.0 });
    let forecast = two_weeks_ahead().forecast(&ts, &y).expect("forecast");
    assert!(matches!(forecast.intervals, IntervalSource::HeldOut { .. }));
    let mean_width = |on_weekend: bool| {
        let widths: Vec<f64> = (0..forecast.points.len())
            .filter(|k| weekend((y.len() + k) % 7) == on_weekend)
            .map(|k| forecast.points[k].upper_80 - forecast.points[k].lower_80)
            .collect();
        widths.iter().sum::<f64>() / widths.len() as f64
    };
    let (weekdays, weekends) = (mean_width(false), mean_width(true));
    assert!(weekends > 2.0 * weekdays, "80% width {weekends:.1} at weekends vs {weekdays:.1} on weekdays");
}

#[test]
fn calibrated_intervals_nest_and_are_skewed_upwards_where_the_spread_grows_with_the_level() {
    // Daily footfall-like series rising tenfold over the year, weekly swings and noise in
    // proportion to the level: errors are calibrated on the log scale (Guerrero's choice for
    // such a series), so each interval reaches further above the mean than below it, and no
    // bound falls below zero however wide it gets.
    let shape = [1.0, 1.1, 1.2, 1.1, 1.3, 0.7, 0.6];
    let mut draws = Draws(5);
    let (ts, y): (Vec<DateTime<Utc>>, Vec<f64>) = (0..364)
        .map(|i| {
            let level = 100.0 + 2.5 * i as f64;
            (start() + TimeDelta::days(i as i64), level * shape[i % 7] * (0.1 * draws.normal()).exp())
        })
        .unzip();
    let forecast = two_weeks_ahead().forecast(&ts, &y).expect("forecast");
    assert!(matches!(forecast.intervals, IntervalSource::HeldOut { .. }));
    for p in &forecast.points {
        assert!(0.0 < p.lower_95 && p.lower_95 < p.lower_80 && p.lower_80 < p.mean, "{p:?}");
        assert!(p.mean < p.upper_80 && p.upper_80 < p.upper_95, "{p:?}");
        assert!(p.upper_80 - p.mean > p.mean - p.lower_80, "{p:?}");
        assert!(p.upper_95 - p.mean > p.mean - p.lower_95, "{p:?}");
    }
}

#[test]
fn a_series_too_short_for_three_held_out_tails_keeps_the_model_intervals() {
    // Four years of months forecast a year ahead: one year-long tail can be held out before
    // the three years MSTL needs, too few to calibrate on.
    let month = |i: usize| Utc.with_ymd_and_hms(2020 + i as i32 / 12, (i % 12) as u32 + 1, 1, 0, 0, 0).single();
    let ts: Vec<DateTime<Utc>> = (0..48).map(|i| month(i).expect("valid date")).collect();
    let mut draws = Draws(11);
    let y: Vec<f64> =
        (0..48).map(|i| 100.0 + i as f64 + 10.0 * ((i % 12) as f64 - 5.5).abs() + draws.normal()).collect();
    let forecaster = Forecaster::new(ForecasterConfig { horizon: Horizon::Steps(12), ..Default::default() });
    let forecast = forecaster.forecast(&ts, &y).expect("forecast");
    assert_eq!(forecast.intervals, IntervalSource::Model);
    assert!(forecast.published_model().ends_with("; intervals model"), "{}", forecast.published_model());
    for p in &forecast.points {
        assert!(p.lower_95 <= p.lower_80 && p.lower_80 <= p.mean && p.mean <= p.upper_80 && p.upper_80 <= p.upper_95);
        assert!(p.upper_95 > p.lower_95, "the models' intervals, not none: {p:?}");
    }
    // Twice as long: enough tails.
    let ts: Vec<DateTime<Utc>> = (0..96).map(|i| month(i).expect("valid date")).collect();
    let y: Vec<f64> =
        (0..96).map(|i| 100.0 + i as f64 + 10.0 * ((i % 12) as f64 - 5.5).abs() + draws.normal()).collect();
    assert!(matches!(forecaster.forecast(&ts, &y).expect("forecast").intervals, IntervalSource::HeldOut { .. }));
}
