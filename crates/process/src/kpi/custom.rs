//! A business's own KPI values → KPI points: one point per observation, series
//! `custom:<tenant>:<metric>[:<key>.<value>…]`, so anomalies, forecasts, alerts and the read
//! models serve a tenant's sales as they serve the public signals, with no special case.

use signalcraft_model::{KpiObservation, KpiPoint, Topic};

use crate::{ProcessError, Processor};

/// Stateless: the same observation always gives the same point.
#[derive(Debug, Default)]
pub struct ObservationToKpi;

impl Processor for ObservationToKpi {
    type Input = KpiObservation;
    type Output = KpiPoint;

    fn name(&self) -> &'static str {
        "kpi-custom"
    }

    fn process(&mut self, observation: KpiObservation) -> Result<Vec<KpiPoint>, ProcessError> {
        // The decoder validated it (metric, dimensions, finite value, plausible time).
        Ok(vec![KpiPoint {
            series_id: observation.series_id(),
            tenant_id: Some(observation.tenant_id.clone()),
            metric: observation.metric.clone(),
            unit: observation.unit.clone().unwrap_or_default(),
            ts: observation.ts,
            value: observation.value,
            source: format!("{}/{}", Topic::RawKpi, observation.source),
        }])
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    #[test]
    fn an_observation_becomes_one_point_of_its_dimensioned_series() {
        let observation = KpiObservation {
            tenant_id: "acme".into(),
            metric: "sales".into(),
            dimensions: [("store".to_string(), "berlin-1".to_string()), ("channel".to_string(), "web".to_string())]
                .into(),
            unit: Some("EUR".into()),
            ts: Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).single().expect("instant"),
            value: 1250.5,
            source: "api".into(),
            idempotency_key: None,
        };
        let points = ObservationToKpi.process(observation.clone()).expect("processes");
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].series_id, "custom:acme:sales:channel.web:store.berlin-1", "dimensions in key order");
        assert_eq!(points[0].tenant_id.as_deref(), Some("acme"));
        assert_eq!((points[0].unit.as_str(), points[0].value), ("EUR", 1250.5));
        assert_eq!(points[0].source, "raw.kpi/api");
        let plain = KpiObservation { dimensions: Default::default(), unit: None, ..observation };
        let points = ObservationToKpi.process(plain).expect("processes");
        assert_eq!((points[0].series_id.as_str(), points[0].unit.as_str()), ("custom:acme:sales", ""));
    }
}
