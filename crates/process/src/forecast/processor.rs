//! kpi.points → kpi.forecasts: keeps a bounded history per series and refits the
//! [`Forecaster`] every N points of a series, or when its event time enters a new refit interval.
//!
//! Everything a forecast depends on is a function of the series' stored points, so the state is
//! rebuilt exactly after a restart ([`crate::history`]): the history is the series' last
//! `history_cap` points, and the refit schedule depends only on the series' point count (a fit
//! on every `refit_every`-th point, and before the first of those on the 16th, 32nd, 64th, …
//! point, so a series shorter than `refit_every` is forecast too) and on the timestamps of
//! consecutive points (a fit on the first point of each `refit_interval` of event time,
//! intervals counted from the Unix epoch).
//! A schedule anchored on the previous fit instead would depend on which fits succeeded, which
//! the stored points do not say.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use signalcraft_model::{KpiForecast, KpiPoint};

use super::error::ForecastError;
use super::model::{Forecaster, ForecasterConfig};
use crate::history::{HistoryDepth, HistoryKind, RebuildableState, SeriesPast};
use crate::{kpi::is_state_point, ProcessError, Processor};

/// The point count from which a series is fitted at every doubling of its history until its
/// first scheduled refit: the forecaster's default shortest history.
const EARLY_FITS_FROM: u64 = 16;

/// Settings of [`ForecastSeries`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForecastSeriesConfig {
    /// The forecaster's own settings (horizon, minimum points, periods).
    pub forecaster: ForecasterConfig,
    /// Most points kept per series; the oldest are dropped first. Default: 4,032 (two weeks of
    /// 5-minute data, eight weeks of half-hourly data, eleven years of daily data).
    pub history_cap: usize,
    /// Refit on every point whose position in its series (1 for the first point) is a multiple
    /// of this. Default: 24.
    pub refit_every: usize,
    /// Also refit on the first point of a series in each interval of this much event time
    /// (intervals counted from the Unix epoch), however few points arrived: a daily series then
    /// still gets a fresh forecast each day. Event time, not wall-clock time, so replaying the
    /// input replays the same forecasts. Default: none.
    pub refit_interval: Option<TimeDelta>,
    /// Series held in memory; beyond it the least recently seen series is dropped (its history
    /// is loaded again from the store if it comes back), so memory stays bounded. Default: 10,000.
    pub max_series: usize,
}

impl Default for ForecastSeriesConfig {
    fn default() -> Self {
        ForecastSeriesConfig {
            forecaster: ForecasterConfig::default(),
            history_cap: 4032,
            refit_every: 24,
            refit_interval: None,
            max_series: 10_000,
        }
    }
}

/// What is kept per series.
#[derive(Debug, Default)]
struct SeriesState {
    tenant_id: Option<String>,
    /// The latest `history_cap` points, ascending timestamps.
    points: VecDeque<(DateTime<Utc>, f64)>,
    /// Points of the series learnt so far, also those no longer held: the position in the series
    /// the refit schedule counts.
    seen: u64,
    /// Logical time of the last point (a counter of inputs, so eviction depends only on the
    /// input sequence); unique per series.
    last_used: u64,
}

/// The forecasting processor. State is a function of the inputs seen, so replaying the same
/// input sequence yields the same forecasts.
#[derive(Debug)]
pub struct ForecastSeries {
    config: ForecastSeriesConfig,
    forecaster: Forecaster,
    // A BTreeMap, not a HashMap: ordered state keeps any iteration (eviction ties) deterministic.
    series: BTreeMap<String, SeriesState>,
    clock: u64,
}

impl ForecastSeries {
    pub fn new(config: ForecastSeriesConfig) -> Self {
        let forecaster = Forecaster::new(config.forecaster.clone());
        ForecastSeries { config, forecaster, series: BTreeMap::new(), clock: 0 }
    }

    /// Points currently held for `series_id`.
    pub fn history_len(&self, series_id: &str) -> usize {
        self.series.get(series_id).map_or(0, |s| s.points.len())
    }

    /// Series currently held.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// How many stored points a series' rebuild replays: the held history, as nothing older
    /// matters to any later forecast.
    pub fn history_depth(&self) -> HistoryDepth {
        HistoryDepth::points(self.config.history_cap.max(1))
    }

    /// The state of `series_id`, created (evicting the least recently seen series if the map is
    /// full) when absent.
    fn state_mut(&mut self, series_id: &str) -> &mut SeriesState {
        self.clock += 1;
        if !self.series.contains_key(series_id) && self.series.len() >= self.config.max_series.max(1) {
            let oldest = self.series.iter().min_by_key(|(_, s)| s.last_used).map(|(id, _)| id.clone());
            if let Some(id) = oldest {
                self.series.remove(&id);
            }
        }
        let state = self.series.entry(series_id.to_string()).or_default();
        state.last_used = self.clock;
        state
    }

    /// Whether adding a point at `ts` after `previous` (the latest held) enters a new refit interval.
    fn enters_new_interval(&self, previous: Option<DateTime<Utc>>, ts: DateTime<Utc>) -> bool {
        let (Some(interval), Some(previous)) = (self.config.refit_interval, previous) else {
            return false;
        };
        let seconds = interval.num_seconds().max(1);
        previous.timestamp().div_euclid(seconds) < ts.timestamp().div_euclid(seconds)
    }
}

impl Default for ForecastSeries {
    fn default() -> Self {
        ForecastSeries::new(ForecastSeriesConfig::default())
    }
}

impl Processor for ForecastSeries {
    type Input = KpiPoint;
    type Output = KpiForecast;

    fn name(&self) -> &'static str {
        "forecast"
    }

    fn process(&mut self, point: KpiPoint) -> Result<Vec<KpiForecast>, ProcessError> {
        if !point.value.is_finite() {
            return Err(ProcessError(format!(
                "value {} of {} at {} is not finite",
                point.value, point.series_id, point.ts
            )));
        }
        // A category (a weather code) has no mean or interval to forecast.
        if is_state_point(&point) {
            return Ok(Vec::new());
        }
        let cap = self.config.history_cap.max(1);
        let previous = self.series.get(&point.series_id).and_then(|s| s.points.back().map(|(ts, _)| *ts));
        let new_interval = self.enters_new_interval(previous, point.ts);
        let refit_every = self.config.refit_every.max(1) as u64;
        let state = self.state_mut(&point.series_id);
        if point.tenant_id.is_some() {
            state.tenant_id = point.tenant_id.clone();
        }
        // Points arrive in order per key, but at-least-once delivery can repeat one: the same
        // timestamp replaces the value instead of counting as new (as the sink's upsert does), a
        // late one is inserted in place so the history stays sorted. One older than a full
        // history would fall straight out of it: it is not counted either.
        match state.points.binary_search_by(|(ts, _)| ts.cmp(&point.ts)) {
            Ok(i) => {
                state.points[i].1 = point.value;
                return Ok(Vec::new());
            }
            Err(0) if state.points.len() >= cap => return Ok(Vec::new()),
            Err(i) if i == state.points.len() => state.points.push_back((point.ts, point.value)),
            Err(i) => state.points.insert(i, (point.ts, point.value)),
        }
        while state.points.len() > cap {
            state.points.pop_front();
        }
        state.seen += 1;

        // Until the first scheduled refit, also fit at each doubling of the history from
        // EARLY_FITS_FROM points: with a long refit period (a weekly refit of half-hourly data)
        // a young or short series would otherwise wait for, or never reach, its first forecast.
        let early = state.seen < refit_every && state.seen >= EARLY_FITS_FROM && state.seen.is_power_of_two();
        if !(state.seen.is_multiple_of(refit_every) || new_interval || early) {
            return Ok(Vec::new());
        }
        let latest = state.points.back().map_or(point.ts, |(ts, _)| *ts);
        let tenant_id = state.tenant_id.clone();
        let (timestamps, values): (Vec<DateTime<Utc>>, Vec<f64>) = state.points.iter().copied().unzip();
        match self.forecaster.forecast(&timestamps, &values) {
            Ok(forecast) => Ok(vec![KpiForecast {
                series_id: point.series_id,
                tenant_id,
                issued_at: latest,
                model: forecast.published_model(),
                step_seconds: forecast.step_seconds,
                points: forecast.points,
            }]),
            // Too little history is the normal start of every series, not a bad record: wait for
            // more points without dead-lettering this one.
            Err(ForecastError::TooShort { .. } | ForecastError::NoStep) => Ok(Vec::new()),
            Err(error) => {
                tracing::warn!(series_id = %point.series_id, %error, "forecasting a series failed");
                Ok(Vec::new())
            }
        }
    }

    fn rebuildable(&mut self) -> Option<&mut dyn RebuildableState<KpiPoint>> {
        Some(self)
    }
}

impl RebuildableState<KpiPoint> for ForecastSeries {
    fn series_of<'a>(&self, point: &'a KpiPoint) -> Option<(&'a str, DateTime<Utc>)> {
        (!is_state_point(point)).then_some((&point.series_id, point.ts))
    }

    fn holds(&self, series_id: &str) -> bool {
        self.series.contains_key(series_id)
    }

    fn history(&self) -> HistoryKind {
        HistoryKind::Points(self.history_depth())
    }

    fn seed(&mut self, past: &SeriesPast) {
        let cap = self.config.history_cap.max(1);
        let state = self.state_mut(&past.series_id);
        state.tenant_id = past.tenant_id.clone();
        state.points.clear();
        let skip = past.points.len().saturating_sub(cap);
        for point in &past.points[skip..] {
            // The store returns finite values in ascending time; anything else is not learnt,
            // as `process` would not have learnt it.
            let ascending = state.points.back().is_none_or(|(ts, _)| *ts < point.ts);
            if ascending && point.value.is_finite() {
                state.points.push_back((point.ts, point.value));
            }
        }
        state.seen = past.points_before;
    }

    fn forget(&mut self, series_id: &str) {
        self.series.remove(series_id);
    }
}
