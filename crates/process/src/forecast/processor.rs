//! kpi.points → kpi.forecasts: keeps a bounded history per series and refits the
//! [`Forecaster`] every N new points, or when the event-time schedule says so.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use signalcraft_model::{KpiForecast, KpiPoint};

use super::model::{ForecastError, Forecaster, ForecasterConfig};
use crate::{ProcessError, Processor};

/// Settings of [`ForecastSeries`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForecastSeriesConfig {
    /// The forecaster's own settings (horizon, minimum points, periods).
    pub forecaster: ForecasterConfig,
    /// Most points kept per series; the oldest are dropped first. Default: 4,032 (two weeks of
    /// 5-minute data, eight weeks of half-hourly data, eleven years of daily data).
    pub history_cap: usize,
    /// Refit after this many new points of a series. Default: 24.
    pub refit_every: usize,
    /// Also refit when this much event time has passed since the last fit, however few points
    /// arrived (a daily series then still gets a fresh forecast each day). Event time, not
    /// wall-clock time, so replaying the input replays the same forecasts. Default: none.
    pub refit_interval: Option<TimeDelta>,
}

impl Default for ForecastSeriesConfig {
    fn default() -> Self {
        ForecastSeriesConfig {
            forecaster: ForecasterConfig::default(),
            history_cap: 4032,
            refit_every: 24,
            refit_interval: None,
        }
    }
}

/// What is kept per series.
#[derive(Debug, Default)]
struct SeriesState {
    tenant_id: Option<String>,
    points: VecDeque<(DateTime<Utc>, f64)>,
    new_since_fit: usize,
    last_fit: Option<DateTime<Utc>>,
}

/// The forecasting processor. State is a function of the inputs seen, so replaying the same
/// input sequence yields the same forecasts.
#[derive(Debug)]
pub struct ForecastSeries {
    config: ForecastSeriesConfig,
    forecaster: Forecaster,
    // A BTreeMap, not a HashMap: nothing here iterates it today, but ordered state keeps any
    // future iteration (snapshots, eviction) deterministic.
    series: BTreeMap<String, SeriesState>,
}

impl ForecastSeries {
    pub fn new(config: ForecastSeriesConfig) -> Self {
        let forecaster = Forecaster::new(config.forecaster.clone());
        ForecastSeries { config, forecaster, series: BTreeMap::new() }
    }

    /// Points currently held for `series_id`.
    pub fn history_len(&self, series_id: &str) -> usize {
        self.series.get(series_id).map_or(0, |s| s.points.len())
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
        let cap = self.config.history_cap.max(1);
        let state = self.series.entry(point.series_id.clone()).or_default();
        if point.tenant_id.is_some() {
            state.tenant_id = point.tenant_id.clone();
        }
        // Points arrive in order per key, but at-least-once delivery can repeat one: the same
        // timestamp replaces the value instead of counting as new, a late one is inserted in
        // place so the history stays sorted.
        match state.points.binary_search_by(|(ts, _)| ts.cmp(&point.ts)) {
            Ok(i) => {
                state.points[i].1 = point.value;
                return Ok(Vec::new());
            }
            Err(i) if i == state.points.len() => state.points.push_back((point.ts, point.value)),
            Err(i) => state.points.insert(i, (point.ts, point.value)),
        }
        while state.points.len() > cap {
            state.points.pop_front();
        }
        state.new_since_fit += 1;

        let latest = state.points.back().map_or(point.ts, |(ts, _)| *ts);
        let by_count = state.new_since_fit >= self.config.refit_every.max(1);
        let by_schedule = match (self.config.refit_interval, state.last_fit) {
            (Some(interval), Some(last)) => latest - last >= interval,
            _ => false,
        };
        if !(by_count || by_schedule) {
            return Ok(Vec::new());
        }

        let (timestamps, values): (Vec<DateTime<Utc>>, Vec<f64>) = state.points.iter().copied().unzip();
        match self.forecaster.forecast(&timestamps, &values) {
            Ok(forecast) => {
                state.new_since_fit = 0;
                state.last_fit = Some(latest);
                Ok(vec![KpiForecast {
                    series_id: point.series_id,
                    tenant_id: state.tenant_id.clone(),
                    issued_at: latest,
                    model: forecast.model,
                    step_seconds: forecast.step_seconds,
                    points: forecast.points,
                }])
            }
            // Too little history is the normal start of every series, not a bad record: wait for
            // more points without dead-lettering this one.
            Err(ForecastError::TooShort { .. } | ForecastError::NoStep) => Ok(Vec::new()),
            Err(error) => {
                tracing::warn!(series_id = %point.series_id, %error, "forecasting a series failed");
                Ok(Vec::new())
            }
        }
    }
}
