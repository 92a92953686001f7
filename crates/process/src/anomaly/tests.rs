//! Behaviour of the detector and the processor: bounded state, determinism, spikes, bad input.

use chrono::{DateTime, Duration, TimeZone, Utc};
use signalcraft_model::{KpiAnomaly, KpiPoint};

use super::*;
use crate::history::{PastPoint, RebuildableState, SeriesPast};
use crate::Processor;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single().expect("valid instant")
}

/// A deterministic pseudo-random series around 100 (no RNG dependency: a fixed LCG).
fn noisy(n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            100.0 + ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 2.0
        })
        .collect()
}

#[test]
fn a_state_series_is_never_scored() {
    let mut processor = DetectAnomalies::new(DetectAnomaliesConfig::default());
    let state = |i, value| KpiPoint { metric: "state:weather_code".into(), ..point("code", i, value) };
    // A code jumping between clear sky and thunderstorm: as numbers, a spike to score.
    for i in 0..300 {
        let value = if i % 100 == 99 { 95.0 } else { 0.0 };
        assert_eq!(processor.process(state(i, value)).expect("processes"), []);
    }
    assert_eq!(processor.series_of(&state(0, 0.0)), None, "no state to rebuild either");
    assert_eq!(processor.process(point("code", 0, 0.0)).expect("processes").len(), 1, "a quantity is scored");
}

fn point(series: &str, i: i64, value: f64) -> KpiPoint {
    KpiPoint {
        series_id: series.into(),
        tenant_id: Some("acme".into()),
        metric: "m".into(),
        unit: "u".into(),
        ts: start() + Duration::minutes(5 * i),
        value,
        source: "test".into(),
    }
}

#[test]
fn a_spike_in_a_flat_series_scores_highest_and_near_one() {
    let mut detector = AnomalyDetector::default();
    let mut values = noisy(2000, 7);
    values[1500] = 130.0;
    let scores: Vec<f64> =
        values.iter().enumerate().map(|(i, v)| detector.score(start() + Duration::minutes(i as i64), *v)).collect();
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
    let (top, best) =
        scores.iter().enumerate().fold((0, f64::MIN), |acc, (i, s)| if *s > acc.1 { (i, *s) } else { acc });
    assert_eq!(top, 1500, "highest score at {top} ({best}), spike {}", scores[1500]);
    assert!(best > 0.9, "spike scored {best}");
}

#[test]
fn a_constant_series_then_a_step_is_found() {
    let mut detector = AnomalyDetector::default();
    for i in 0..1000 {
        assert!(detector.score(start() + Duration::minutes(i), 5.0) < 0.1);
    }
    assert!(detector.score(start() + Duration::minutes(1000), 6.0) > 0.9);
}

#[test]
fn non_finite_values_score_zero_and_leave_the_state_untouched() {
    let values = noisy(1500, 3);
    let mut clean = AnomalyDetector::default();
    let mut dirty = AnomalyDetector::default();
    for (i, v) in values.iter().enumerate() {
        let ts = start() + Duration::minutes(i as i64);
        if i % 100 == 50 {
            for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                assert_eq!(dirty.score(ts, bad), 0.0);
            }
        }
        assert_eq!(clean.score(ts, *v).to_bits(), dirty.score(ts, *v).to_bits(), "diverged at {i}");
    }
}

#[test]
fn replaying_the_same_points_yields_the_same_outputs() {
    let inputs: Vec<KpiPoint> = noisy(3000, 11)
        .into_iter()
        .enumerate()
        .map(|(i, v)| point(if i % 3 == 0 { "a" } else { "b" }, i as i64, if i == 2500 { 200.0 } else { v }))
        .collect();
    let run = || {
        let mut processor = DetectAnomalies::new(DetectAnomaliesConfig::default());
        inputs.iter().cloned().flat_map(|p| processor.process(p).expect("finite input")).collect::<Vec<_>>()
    };
    let first = run();
    assert_eq!(first.len(), inputs.len());
    assert_eq!(first, run());
    assert!(first.iter().any(|a| a.is_anomaly && a.ts == inputs[2500].ts));
    assert!(first.iter().all(|a| a.detector == AnomalyDetector::NAME && a.tenant_id.as_deref() == Some("acme")));
}

#[test]
fn series_held_are_capped_and_the_least_recently_seen_goes_first() {
    let mut processor = DetectAnomalies::new(DetectAnomaliesConfig { max_series: 3, ..Default::default() });
    for (i, id) in ["a", "b", "c", "a", "d"].into_iter().enumerate() {
        processor.process(point(id, i as i64, 1.0)).expect("finite input");
    }
    assert_eq!(processor.series_count(), 3);
    // "b" was least recently seen when "d" arrived, so "b" starts afresh: an old timestamp is
    // accepted again, while "a" (kept) still refuses to go back in time.
    assert_eq!(processor.process(point("b", 0, 1.0)).expect("finite input").len(), 1);
    assert!(processor.process(point("a", 0, 1.0)).expect("finite input").is_empty());
    for i in 0..10_000 {
        processor.process(point(&format!("s{i}"), i, 1.0)).expect("finite input");
    }
    assert_eq!(processor.series_count(), 3);
}

#[test]
fn detector_memory_does_not_grow_with_the_series() {
    let mut detector = AnomalyDetector::default();
    for (i, v) in noisy(20_000, 5).into_iter().enumerate() {
        detector.score(start() + Duration::seconds(i as i64), v);
    }
    let after_20k = detector.state_len();
    for (i, v) in noisy(20_000, 6).into_iter().enumerate() {
        detector.score(start() + Duration::seconds(20_000 + i as i64), v);
    }
    assert_eq!(detector.state_len(), after_20k);
    let p = detector.params();
    let seasons = p.season_periods.len() * p.season_residuals;
    let likelihoods = 4 * (p.likelihood_short + p.likelihood_long);
    let (buckets, span) = (p.novelty_buckets, p.novelty_span);
    let novelty = buckets + (span - 1) * buckets * buckets + buckets.pow(3) + span;
    assert!(
        after_20k <= p.short_window + p.long_window + p.season_history + seasons + likelihoods + p.refractory + novelty
    );
}

#[test]
fn bad_points_are_refused_for_the_dead_letter_topic() {
    let mut processor = DetectAnomalies::new(DetectAnomaliesConfig::default());
    assert!(processor.process(point("a", 0, f64::NAN)).is_err());
    assert_eq!(processor.series_count(), 0);
}

#[test]
fn a_value_ordinary_for_the_series_but_not_for_the_time_of_day_is_found() {
    // Ten days of a daily cycle every 5 minutes; on day 8 the peak hour reads the daily mean:
    // well inside the range, so only the comparison with the day before can see it.
    let per_day = 288;
    let mut values: Vec<f64> = noisy(10 * per_day, 13)
        .into_iter()
        .enumerate()
        .map(|(i, noise)| noise + 50.0 * (std::f64::consts::TAU * i as f64 / per_day as f64).sin())
        .collect();
    let anomaly = 8 * per_day + per_day / 4;
    values[anomaly] = 100.0;
    let mut detector = AnomalyDetector::default();
    let scores: Vec<f64> =
        values.iter().enumerate().map(|(i, v)| detector.score(start() + Duration::minutes(5 * i as i64), *v)).collect();
    let before = scores[per_day * 2..anomaly].iter().copied().fold(0.0, f64::max);
    assert!(scores[anomaly] > 0.5 && scores[anomaly] > before, "anomaly {} vs {before} before", scores[anomaly]);
}

#[test]
fn a_far_excursion_outranks_a_marginal_new_high() {
    // Same history, then either a value just beyond the margin of the window's range or one far
    // beyond it: both are new highs, and the far one must score higher so that a threshold can
    // tell them apart.
    let values = noisy(1500, 17);
    let (lo, hi) = values.iter().fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let score_after_history = |last: f64| {
        let mut detector = AnomalyDetector::default();
        for (i, v) in values.iter().enumerate() {
            detector.score(start() + Duration::minutes(i as i64), *v);
        }
        detector.score(start() + Duration::minutes(values.len() as i64), last)
    };
    let marginal = score_after_history(hi + 0.1 * (hi - lo));
    let far = score_after_history(hi + 5.0 * (hi - lo));
    // Both scores carry the same damping from the same history, so their order is the range
    // rule's alone.
    assert!(marginal > 0.9, "marginal new high scored {marginal}");
    assert!(far > marginal && far < 1.0, "far {far} vs marginal {marginal}");
}

#[test]
fn the_likelihood_sigma_floor_tempers_a_first_wobble_after_a_flat_history() {
    // A raw surprise that has been exactly flat has no spread; the floor decides how unlikely
    // the first small rise looks. A higher floor must make it less extreme, never more.
    let run = |floor: f64| {
        let mut likelihood = likelihood::AnomalyLikelihood::new(10, 500).with_sigma_floor(floor);
        for _ in 0..400 {
            likelihood.update(0.0);
        }
        likelihood.update(0.2)
    };
    let (tight, loose) = (run(0.01), run(0.03));
    assert!(tight < loose && loose < 0.0, "ln tail {tight} (floor 0.01) vs {loose} (floor 0.03)");
    // 0.2 / 10 = 0.02 average: 2 sigma under the tight floor, 2/3 sigma under the loose one.
    assert!((tight - likelihood::ln_gaussian_tail(2.0)).abs() < 1e-6);
}

/// What the stage hands the processor after a restart: the series' stored points strictly before
/// `restart`, as many as the processor's depth asks for.
fn stored_past(inputs: &[KpiPoint], restart: usize, processor: &DetectAnomalies) -> SeriesPast {
    let replayed = processor.history_depth().points_to_replay(restart as u64);
    SeriesPast {
        series_id: inputs[restart].series_id.clone(),
        before: inputs[restart].ts,
        points_before: restart as u64,
        points: inputs[restart - replayed..restart].iter().map(|p| PastPoint { ts: p.ts, value: p.value }).collect(),
        tenant_id: inputs[restart].tenant_id.clone(),
        articles: None,
        complete: true,
    }
}

#[test]
fn a_processor_seeded_with_the_stored_past_scores_exactly_as_an_uninterrupted_one() {
    // Ten weeks of 5-minute points with a daily cycle and a spike every ~17 days: the seasonal,
    // long-window, likelihood and damping state all matter.
    let per_day = 288;
    let inputs: Vec<KpiPoint> = noisy(20_000, 17)
        .into_iter()
        .enumerate()
        .map(|(i, noise)| {
            let cycle = 20.0 * (std::f64::consts::TAU * i as f64 / per_day as f64).sin();
            point("s", i as i64, noise + cycle + if i % 5_000 == 4_321 { 40.0 } else { 0.0 })
        })
        .collect();
    let mut uninterrupted = DetectAnomalies::new(DetectAnomaliesConfig::default());
    let expected: Vec<KpiAnomaly> =
        inputs.iter().cloned().flat_map(|p| uninterrupted.process(p).expect("finite input")).collect();
    assert_eq!(expected.len(), inputs.len());

    let depth = uninterrupted.history_depth();
    // A restart within the first depth replays the whole past; a later one an aligned suffix.
    for restart in [2_500, 16_000] {
        let mut restarted = DetectAnomalies::new(DetectAnomaliesConfig::default());
        let past = stored_past(&inputs, restart, &restarted);
        assert_eq!(past.points.len() == restart, restart <= depth.max_points);
        restarted.seed(&past);
        assert!(restarted.holds("s"));
        let after: Vec<KpiAnomaly> =
            inputs[restart..].iter().cloned().flat_map(|p| restarted.process(p).expect("finite input")).collect();
        assert_eq!(after.len(), expected.len() - restart);
        for (got, want) in after.iter().zip(&expected[restart..]) {
            assert_eq!(got, want);
            assert_eq!(got.score.to_bits(), want.score.to_bits(), "score at {}", got.ts);
        }
        assert!(after.iter().any(|a| a.is_anomaly), "the spike after {restart} is flagged in both runs");
    }
}

#[test]
fn without_its_past_a_restarted_detector_scores_differently() {
    // The control for the test above: the seeding is what makes the scores equal.
    let inputs: Vec<KpiPoint> =
        noisy(3_000, 19).into_iter().enumerate().map(|(i, v)| point("s", i as i64, v)).collect();
    let mut uninterrupted = DetectAnomalies::new(DetectAnomaliesConfig::default());
    let expected: Vec<KpiAnomaly> =
        inputs.iter().cloned().flat_map(|p| uninterrupted.process(p).expect("finite input")).collect();
    let mut fresh = DetectAnomalies::new(DetectAnomaliesConfig::default());
    let after: Vec<KpiAnomaly> =
        inputs[2_000..].iter().cloned().flat_map(|p| fresh.process(p).expect("finite input")).collect();
    assert_ne!(after, expected[2_000..]);
}

#[test]
fn forgetting_a_series_drops_its_state_and_the_depth_covers_the_detector_windows() {
    let mut processor = DetectAnomalies::new(DetectAnomaliesConfig::default());
    processor.process(point("a", 0, 1.0)).expect("finite input");
    processor.forget("a");
    assert!(!processor.holds("a"));
    assert_eq!(processor.series_count(), 0);
    let params = DetectorParams::default();
    let depth = processor.history_depth();
    assert_eq!(depth.align_to, 5_120, "lcm of the likelihood's windows (1,024 and 10)");
    assert!(depth.max_points - depth.align_to + 1 >= params.season_history + params.likelihood_long);
}

#[test]
fn context_novelty_is_zero_for_a_learned_rhythm_and_high_when_it_runs_backwards() {
    let mut novelty = context::ContextNovelty::new(8, 4, 10_000);
    // A sawtooth over the whole range, repeated until its contexts and rate are learned.
    for i in 0..3000 {
        novelty.observe(f64::from(i % 8));
    }
    for i in 3000..3016 {
        assert_eq!(novelty.observe(f64::from(i % 8)), 0.0, "familiar point {i}");
    }
    // The same levels in reverse order: every pair and the triple are new, the level is not.
    let reversed = novelty.observe(6.0) + novelty.observe(5.0) + novelty.observe(4.0);
    assert!(reversed > 1.5, "a reversed rhythm scored {reversed} over three points");
}

#[test]
fn context_novelty_forgets_after_its_memory_and_discounts_a_series_that_never_repeats() {
    let learn = |memory: usize| {
        let mut novelty = context::ContextNovelty::new(4, 2, memory);
        // Levels 0..3 in a fixed cycle, then only 0 and 3 for a while, then 1 again.
        for i in 0..2000 {
            novelty.observe([0.0, 1.0, 2.0, 3.0][i % 4]);
        }
        for i in 0..1000 {
            novelty.observe(if i % 2 == 0 { 0.0 } else { 3.0 });
        }
        novelty.observe(1.0)
    };
    // 3 -> 1 never happened; with a short memory 0 -> 1 and the level 1 are forgotten as well.
    let (remembered, forgotten) = (learn(10_000), learn(100));
    assert!(forgotten > remembered && remembered > 0.0, "{forgotten} vs {remembered}");
    // Values that never repeat a context keep the rate of new contexts high: little novelty.
    let mut novelty = context::ContextNovelty::new(16, 7, 10_000);
    let last = noisy(3000, 21).into_iter().map(|v| novelty.observe(v)).fold(0.0, f64::max);
    let mut fresh = context::ContextNovelty::new(16, 7, 10_000);
    let early = noisy(300, 21).into_iter().map(|v| fresh.observe(v)).fold(0.0, f64::max);
    assert!(last < 0.5 && early < 0.5, "noise scored {last} (late) and {early} (early)");
}

#[test]
fn context_novelty_clock_rebase_keeps_the_ages_within_the_memory() {
    let run = |start: Option<u32>| {
        let mut novelty = context::ContextNovelty::new(4, 2, 50);
        if let Some(clock) = start {
            novelty.set_clock(clock);
        }
        (0..400).map(|i| novelty.observe(f64::from((i * 7 % 13) % 4))).collect::<Vec<_>>()
    };
    // Starting 100 points before the clock overflows gives the same novelties as starting at 0.
    assert_eq!(run(None), run(Some(u32::MAX - 100)));
}

#[test]
fn a_broken_rhythm_with_ordinary_values_is_found_by_the_context_novelty() {
    // A sawtooth sampled every 5 s (no daily reference exists), then one tooth runs backwards:
    // every value stays inside the range and near the usual spread, only the order is new.
    let noise = noisy(3000, 23);
    let values: Vec<f64> = (0..3000)
        .map(|i| {
            let tooth = if (2500..2510).contains(&i) { 9 - i % 10 } else { i % 10 };
            tooth as f64 * 10.0 + (noise[i] - 100.0) * 0.1
        })
        .collect();
    let run = |params: DetectorParams| {
        let mut detector = AnomalyDetector::new(params);
        let scores: Vec<f64> = values
            .iter()
            .enumerate()
            .map(|(i, v)| detector.score(start() + Duration::seconds(5 * i as i64), *v))
            .collect();
        let before = scores[1000..2500].iter().copied().fold(0.0, f64::max);
        let during = scores[2500..2510].iter().copied().fold(0.0, f64::max);
        (before, during)
    };
    let (before, during) = run(DetectorParams::default());
    assert!(during > DEFAULT_THRESHOLD && during > before, "broken rhythm {during} vs {before} before");
    let (_, without) = run(DetectorParams { novelty_scale: 0.0, ..DetectorParams::default() });
    assert!(without < DEFAULT_THRESHOLD, "without the context novelty the break scored {without}");
}

/// Daily business data: weekdays around 1000, weekends around 600, noise of ±3 %.
fn daily_sales(days: usize, seed: u64) -> Vec<(DateTime<Utc>, f64)> {
    noisy(days, seed)
        .into_iter()
        .enumerate()
        .map(|(day, wobble)| {
            let ts = start() + Duration::days(day as i64);
            // 2024-01-01 is a Monday: days 5 and 6 of each week are the weekend.
            let level = if day % 7 >= 5 { 600.0 } else { 1_000.0 };
            (ts, level * (1.0 + 0.03 * (wobble - 100.0)))
        })
        .collect()
}

#[test]
fn a_clean_weekly_rhythm_of_daily_data_is_never_flagged() {
    for seed in [1, 2, 3] {
        let mut detector = AnomalyDetector::default();
        let flagged: Vec<usize> = daily_sales(400, seed)
            .into_iter()
            .enumerate()
            .filter(|(_, (ts, value))| detector.score(*ts, *value) >= DEFAULT_THRESHOLD)
            .map(|(day, _)| day)
            .collect();
        assert_eq!(flagged, Vec::<usize>::new(), "seed {seed}: days flagged in a clean weekly rhythm");
    }
}

#[test]
fn a_spike_two_weeks_after_an_earlier_flag_on_daily_data_is_still_flagged() {
    let mut series = daily_sales(200, 4);
    // Two Wednesdays, two weeks apart, nine times their usual level.
    let (first, second) = (100 + 2, 114 + 2);
    series[first].1 *= 9.0;
    series[second].1 *= 9.0;
    let mut detector = AnomalyDetector::default();
    let scores: Vec<f64> = series.iter().map(|(ts, value)| detector.score(*ts, *value)).collect();
    assert!(scores[first] >= DEFAULT_THRESHOLD, "first spike scored {}", scores[first]);
    assert!(scores[second] >= DEFAULT_THRESHOLD, "second spike, 14 days later, scored {}", scores[second]);
}

#[test]
fn one_flag_on_five_minute_data_still_damps_the_points_right_after_it() {
    // The damping that makes one event one detection must survive the move to event time: on
    // 5-minute data a level shift is reported at its onset, not at every point while it lasts.
    let mut detector = AnomalyDetector::default();
    let mut values = noisy(3000, 11);
    for v in &mut values[2000..2040] {
        *v += 40.0;
    }
    let scores: Vec<f64> =
        values.iter().enumerate().map(|(i, v)| detector.score(start() + Duration::minutes(5 * i as i64), *v)).collect();
    let flagged = scores[2000..2040].iter().filter(|s| **s >= DEFAULT_THRESHOLD).count();
    assert!(scores[2000] >= DEFAULT_THRESHOLD, "onset scored {}", scores[2000]);
    assert_eq!(flagged, 1, "the shift is one detection: {:?}", &scores[2000..2010]);
}
