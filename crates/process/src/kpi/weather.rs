//! Weather observations → KPI points: one point per numeric variable. Observed values (current
//! conditions and the archive) form the series `weather:{location}:{variable}`; forecasts form
//! `weather-forecast:{location}:{variable}`, so predictions never mix with what happened. A
//! variable the model has no value for (null) yields no point.

use signalcraft_model::{KpiPoint, Topic, WeatherKind, WeatherObservation};

use crate::{ProcessError, Processor};

/// Stateless: the same observation always gives the same points.
#[derive(Debug, Default)]
pub struct WeatherToKpi;

impl Processor for WeatherToKpi {
    type Input = WeatherObservation;
    type Output = KpiPoint;

    fn name(&self) -> &'static str {
        "kpi-weather"
    }

    fn process(&mut self, observation: WeatherObservation) -> Result<Vec<KpiPoint>, ProcessError> {
        let family = match observation.kind {
            WeatherKind::Forecast => "weather-forecast",
            WeatherKind::Current | WeatherKind::Archive => "weather",
        };
        let points = observation
            .variables
            .iter()
            .filter_map(|(variable, value)| Some((variable, (*value)?)))
            .filter(|(_, value)| value.is_finite())
            .map(|(variable, value)| KpiPoint {
                series_id: format!("{family}:{}:{variable}", observation.location_id),
                tenant_id: Some(observation.location_id.clone()),
                metric: variable.clone(),
                unit: observation.units.get(variable).cloned().unwrap_or_default(),
                ts: observation.hour,
                value,
                source: format!("{}/open-meteo", Topic::RawWeather),
            })
            .collect();
        Ok(points)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{TimeZone, Utc};

    use super::*;

    fn observation(kind: WeatherKind) -> WeatherObservation {
        WeatherObservation {
            location_id: "berlin".into(),
            latitude: 52.52,
            longitude: 13.42,
            hour: Utc.with_ymd_and_hms(2024, 6, 1, 13, 0, 0).single().expect("instant"),
            kind,
            variables: BTreeMap::from([
                ("temperature_2m".to_string(), Some(21.5)),
                ("snowfall".to_string(), None),
                ("rain".to_string(), Some(0.0)),
            ]),
            units: BTreeMap::from([
                ("temperature_2m".to_string(), "°C".to_string()),
                ("rain".to_string(), "mm".to_string()),
            ]),
            fetched_at: Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).single().expect("instant"),
        }
    }

    #[test]
    fn each_numeric_variable_becomes_a_point_and_nulls_none() {
        let points = WeatherToKpi.process(observation(WeatherKind::Current)).expect("processes");
        let ids: Vec<&str> = points.iter().map(|p| p.series_id.as_str()).collect();
        assert_eq!(ids, ["weather:berlin:rain", "weather:berlin:temperature_2m"]);
        assert_eq!(points[1].unit, "°C");
        assert_eq!(points[1].value, 21.5);
        assert_eq!(points[1].tenant_id.as_deref(), Some("berlin"));
    }

    #[test]
    fn forecasts_are_a_series_of_their_own() {
        let points = WeatherToKpi.process(observation(WeatherKind::Forecast)).expect("processes");
        assert!(points.iter().all(|p| p.series_id.starts_with("weather-forecast:berlin:")));
    }
}
