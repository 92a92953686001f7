//! [`DetectAnomalies`]: the kpi.points → kpi.anomalies processor, one [`AnomalyDetector`] per
//! series, at most `max_series` of them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use signalcraft_model::{KpiAnomaly, KpiPoint};

use super::detector::{AnomalyDetector, DetectorParams};
use crate::{ProcessError, Processor};

/// What [`DetectAnomalies`] is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectAnomaliesConfig {
    /// Scores at or above this are flagged `is_anomaly`. The default is the threshold that
    /// maximises NAB's standard profile for the default detector (see [`super`]).
    pub threshold: f64,
    /// Series held in memory; beyond it the least recently seen series is dropped (and starts
    /// learning afresh if it comes back), so memory stays bounded whatever the key space.
    pub max_series: usize,
    /// Parameters of every series' detector.
    pub params: DetectorParams,
}

impl Default for DetectAnomaliesConfig {
    fn default() -> Self {
        DetectAnomaliesConfig { threshold: DEFAULT_THRESHOLD, max_series: 10_000, params: DetectorParams::default() }
    }
}

/// See [`DetectAnomaliesConfig::threshold`].
pub const DEFAULT_THRESHOLD: f64 = 0.49845;

struct Series {
    detector: AnomalyDetector,
    last_ts: DateTime<Utc>,
    /// Logical time of the last point (a counter of processed inputs, not the wall clock, so
    /// eviction — and therefore every output — depends only on the input sequence).
    last_seen: u64,
}

/// Scores every KPI point against the history of its own series.
pub struct DetectAnomalies {
    config: DetectAnomaliesConfig,
    series: HashMap<String, Series>,
    clock: u64,
}

impl DetectAnomalies {
    pub fn new(config: DetectAnomaliesConfig) -> Self {
        let capacity = config.max_series.clamp(1, 1024);
        DetectAnomalies { config, series: HashMap::with_capacity(capacity), clock: 0 }
    }

    /// Series currently held.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// The detector string written on every output: detector name and version.
    pub fn detector_name(&self) -> &'static str {
        AnomalyDetector::NAME
    }

    /// Drops the least recently seen series. O(series) but only runs when a new series arrives
    /// at a full map; `last_seen` values are unique, so the choice is deterministic.
    fn evict_one(&mut self) {
        let oldest = self.series.iter().min_by_key(|(_, s)| s.last_seen).map(|(id, _)| id.clone());
        if let Some(id) = oldest {
            self.series.remove(&id);
        }
    }
}

impl Processor for DetectAnomalies {
    type Input = KpiPoint;
    type Output = KpiAnomaly;

    fn name(&self) -> &'static str {
        "anomaly"
    }

    fn process(&mut self, point: KpiPoint) -> Result<Vec<KpiAnomaly>, ProcessError> {
        if !point.value.is_finite() {
            return Err(ProcessError(format!(
                "value {} of {} at {} is not a number",
                point.value, point.series_id, point.ts
            )));
        }
        self.clock += 1;
        if !self.series.contains_key(&point.series_id) && self.series.len() >= self.config.max_series.max(1) {
            self.evict_one();
        }
        let params = &self.config.params;
        let series = self.series.entry(point.series_id.clone()).or_insert_with(|| Series {
            detector: AnomalyDetector::new(params.clone()),
            last_ts: DateTime::<Utc>::MIN_UTC,
            last_seen: 0,
        });
        series.last_seen = self.clock;
        // Past data only: a point not after the series' last one is a redelivery or arrived out
        // of order; learning from it would rewrite history, so it is skipped.
        if point.ts <= series.last_ts {
            return Ok(Vec::new());
        }
        series.last_ts = point.ts;
        let score = series.detector.score(point.ts, point.value);
        Ok(vec![KpiAnomaly {
            series_id: point.series_id,
            tenant_id: point.tenant_id,
            ts: point.ts,
            value: point.value,
            score,
            is_anomaly: score >= self.config.threshold,
            detector: AnomalyDetector::NAME.to_string(),
        }])
    }
}
