//! Weather observations → KPI points. Observed values (current conditions and the archive) form
//! the series `weather:{location}:{variable}`; forecasts form
//! `weather-forecast:{location}:{variable}`, so predictions never mix with what happened. With
//! `[ingest.openmeteo] models`, the source names each variable `{variable}:{model}` and the
//! series gets the model as a last part: `weather:{location}:{variable}:{model}`. A variable
//! the model has no value for (null) yields no point.
//!
//! # Variable semantics
//! Not every number Open-Meteo sends is a measurement on a line; [`semantics`] says which kind
//! each variable is (a small table: `weather_code`, `is_day` and `*_code` are categorical,
//! `*direction*` circular, the rest continuous), and `[process.weather]`
//! ([`WeatherSemanticsConfig`]) declares more by exact name, over the table:
//! - **Continuous**: one point with the value, as before.
//! - **Categorical** (a WMO weather code is a label: 61 is not "more" than 3): **decision** —
//!   kept on kpi.points as a *state series* (same series id, the upstream unit, the metric
//!   prefixed [`STATE_METRIC_PREFIX`]), which the anomaly and forecast processors skip
//!   ([`is_state_point`]). Kept rather than dropped because the current state is worth showing
//!   (the tenant API's catalogue, latest value and points keep it; the raw value also stays in
//!   `weather_observations`), while a score or a forecast of the number never means anything:
//!   a replayed forecast had opened and resolved an alert on `weather_code` from a code change
//!   alone. Alerts (anomaly- and rule-driven alike) are fed by kpi.anomalies, so a state series
//!   raises none.
//! - **Circular** (degrees, 359° and 1° are neighbours): **decision** — emitted as two series,
//!   `{variable}_sin` and `{variable}_cos` (unitless, in [-1, 1]), instead of the angle. Both
//!   components are continuous across north, so the anomaly and forecast processors work on
//!   them unchanged and a forecast angle is `atan2(sin, cos)`; a circular distance inside the
//!   detectors would have had to reach every one of their windows and predictors.

use serde::{Deserialize, Serialize};
use signalcraft_model::{KpiPoint, Topic, WeatherKind, WeatherObservation};

use crate::{InvalidConfig, ProcessError, Processor};

/// Prefix of the `metric` of a state point: a category, not a quantity.
pub const STATE_METRIC_PREFIX: &str = "state:";

/// Whether `point` is a state (categorical) point, which is neither scored nor forecast.
pub fn is_state_point(point: &KpiPoint) -> bool {
    point.metric.starts_with(STATE_METRIC_PREFIX)
}

/// How the values of a weather variable are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Semantics {
    /// A quantity on a line (temperature, precipitation, speed, ...).
    Continuous,
    /// A label from a code table (WMO weather code, day/night flag).
    Categorical,
    /// An angle in degrees (wind direction).
    Circular,
}

/// Variables that are categories although their names do not end in `_code`.
const CATEGORICAL: &[&str] = &["weather_code", "is_day"];

/// The semantics of the Open-Meteo variable `variable` (without a model part).
pub fn semantics(variable: &str) -> Semantics {
    if CATEGORICAL.contains(&variable) || variable.ends_with("_code") {
        Semantics::Categorical
    } else if variable.contains("direction") {
        Semantics::Circular
    } else {
        Semantics::Continuous
    }
}

/// `[process.weather]`: variables declared by exact name, over the built-in table of
/// [`semantics`] (e.g. a new code-like variable Open-Meteo adds, or a direction not named so).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeatherSemanticsConfig {
    /// Variables that are categories: state series, neither scored nor forecast.
    #[serde(default)]
    pub categorical: Vec<String>,
    /// Variables that are angles in degrees: emitted as `_sin`/`_cos` components.
    #[serde(default)]
    pub circular: Vec<String>,
    /// Variables that are quantities, whatever the table says.
    #[serde(default)]
    pub continuous: Vec<String>,
}

impl WeatherSemanticsConfig {
    /// The declared semantics of `variable`, else the table's.
    pub fn semantics(&self, variable: &str) -> Semantics {
        let listed = |names: &[String]| names.iter().any(|name| name == variable);
        if listed(&self.categorical) {
            Semantics::Categorical
        } else if listed(&self.circular) {
            Semantics::Circular
        } else if listed(&self.continuous) {
            Semantics::Continuous
        } else {
            semantics(variable)
        }
    }

    /// Names must be Open-Meteo variable names, each declared once; `prefix` is where the
    /// table sits (`process.weather`).
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidConfig> {
        let mut seen = std::collections::BTreeSet::new();
        for (field, names) in
            [("categorical", &self.categorical), ("circular", &self.circular), ("continuous", &self.continuous)]
        {
            for (index, name) in names.iter().enumerate() {
                let key = format!("{prefix}.{field}[{index}]");
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                    let message = format!("`{name}` is not an Open-Meteo variable name (a-z, 0-9, _)");
                    return Err(InvalidConfig { key, message });
                }
                if !seen.insert(name.as_str()) {
                    return Err(InvalidConfig { key, message: format!("`{name}` is declared twice") });
                }
            }
        }
        Ok(())
    }
}

/// Stateless: the same observation always gives the same points.
#[derive(Debug, Default)]
pub struct WeatherToKpi {
    declared: WeatherSemanticsConfig,
}

impl WeatherToKpi {
    /// A normaliser reading variables as `declared` says, then as the built-in table does.
    pub fn new(declared: WeatherSemanticsConfig) -> Self {
        WeatherToKpi { declared }
    }
}

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
        let location = &observation.location_id;
        let point = |metric: String, name: &str, model: Option<&str>, unit: String, value: f64| KpiPoint {
            series_id: match model {
                Some(model) => format!("{family}:{location}:{name}:{model}"),
                None => format!("{family}:{location}:{name}"),
            },
            tenant_id: Some(location.clone()),
            metric,
            unit,
            ts: observation.hour,
            value,
            source: format!("{}/open-meteo", Topic::RawWeather),
        };
        let mut points = Vec::new();
        for (key, value) in &observation.variables {
            let Some(value) = value.filter(|value| value.is_finite()) else { continue };
            // `{variable}:{model}` when models were asked for (see the module docs).
            let (variable, model) = match key.split_once(':') {
                Some((variable, model)) => (variable, Some(model)),
                None => (key.as_str(), None),
            };
            let unit = observation.units.get(key).cloned().unwrap_or_default();
            match self.declared.semantics(variable) {
                Semantics::Continuous => points.push(point(variable.to_string(), variable, model, unit, value)),
                Semantics::Categorical => {
                    points.push(point(format!("{STATE_METRIC_PREFIX}{variable}"), variable, model, unit, value));
                }
                Semantics::Circular => {
                    let radians = value.to_radians();
                    for (suffix, component) in [("sin", radians.sin()), ("cos", radians.cos())] {
                        let name = format!("{variable}_{suffix}");
                        points.push(point(name.clone(), &name, model, String::new(), component));
                    }
                }
            }
        }
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
        let points = WeatherToKpi::default().process(observation(WeatherKind::Current)).expect("processes");
        let ids: Vec<&str> = points.iter().map(|p| p.series_id.as_str()).collect();
        assert_eq!(ids, ["weather:berlin:rain", "weather:berlin:temperature_2m"]);
        assert_eq!(points[1].unit, "°C");
        assert_eq!(points[1].value, 21.5);
        assert_eq!(points[1].tenant_id.as_deref(), Some("berlin"));
    }

    fn with(variables: &[(&str, Option<f64>)], units: &[(&str, &str)]) -> WeatherObservation {
        WeatherObservation {
            variables: variables.iter().map(|(name, value)| (name.to_string(), *value)).collect(),
            units: units.iter().map(|(name, unit)| (name.to_string(), unit.to_string())).collect(),
            ..observation(WeatherKind::Forecast)
        }
    }

    #[test]
    fn the_semantics_table() {
        assert_eq!(semantics("weather_code"), Semantics::Categorical);
        assert_eq!(semantics("is_day"), Semantics::Categorical);
        assert_eq!(semantics("some_future_code"), Semantics::Categorical);
        assert_eq!(semantics("wind_direction_10m"), Semantics::Circular);
        assert_eq!(semantics("wind_direction_80m"), Semantics::Circular);
        assert_eq!(semantics("temperature_2m"), Semantics::Continuous);
        assert_eq!(semantics("wind_speed_10m"), Semantics::Continuous);
    }

    #[test]
    fn a_weather_code_is_a_state_point_the_processors_skip() {
        let points = WeatherToKpi::default()
            .process(with(
                &[("weather_code", Some(61.0)), ("temperature_2m", Some(4.0))],
                &[("weather_code", "wmo code")],
            ))
            .expect("processes");
        let code = points.iter().find(|p| p.series_id == "weather-forecast:berlin:weather_code").expect("a point");
        assert_eq!((code.metric.as_str(), code.unit.as_str(), code.value), ("state:weather_code", "wmo code", 61.0));
        assert!(is_state_point(code));
        let temperature = points.iter().find(|p| p.metric == "temperature_2m").expect("a point");
        assert!(!is_state_point(temperature));
    }

    #[test]
    fn a_direction_becomes_sine_and_cosine_so_north_is_one_place() {
        let components = |degrees: f64| {
            let points = WeatherToKpi::default()
                .process(with(&[("wind_direction_10m", Some(degrees))], &[]))
                .expect("processes");
            let ids: Vec<&str> = points.iter().map(|p| p.series_id.as_str()).collect();
            assert_eq!(
                ids,
                ["weather-forecast:berlin:wind_direction_10m_sin", "weather-forecast:berlin:wind_direction_10m_cos"]
            );
            assert!(points.iter().all(|p| p.unit.is_empty() && !is_state_point(p)));
            (points[0].value, points[1].value)
        };
        let (sin_359, cos_359) = components(359.0);
        let (sin_1, cos_1) = components(1.0);
        // 359° and 1° are 2° apart: both components differ by at most sin(2°) ≈ 0.035, where the
        // raw angles differed by 358.
        assert!((sin_359 - sin_1).abs() < 0.035 && (cos_359 - cos_1).abs() < 0.001, "{sin_359} {sin_1}");
        let (sin_90, cos_90) = components(90.0);
        assert!((sin_90 - 1.0).abs() < 1e-12 && cos_90.abs() < 1e-12);
    }

    #[test]
    fn with_models_each_model_is_a_series_of_its_own() {
        let points = WeatherToKpi::default()
            .process(with(
                &[
                    ("weather_code:best_match", Some(2.0)),
                    ("temperature_2m:gfs_seamless", Some(3.5)),
                    ("wind_direction_10m:gfs_seamless", Some(180.0)),
                ],
                &[("temperature_2m:gfs_seamless", "°C")],
            ))
            .expect("processes");
        let ids: Vec<&str> = points.iter().map(|p| p.series_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "weather-forecast:berlin:temperature_2m:gfs_seamless",
                "weather-forecast:berlin:weather_code:best_match",
                "weather-forecast:berlin:wind_direction_10m_sin:gfs_seamless",
                "weather-forecast:berlin:wind_direction_10m_cos:gfs_seamless",
            ]
        );
        assert_eq!((points[0].metric.as_str(), points[0].unit.as_str()), ("temperature_2m", "°C"));
        assert_eq!(points[1].metric, "state:weather_code");
    }

    #[test]
    fn declared_semantics_win_over_the_table_and_are_validated() {
        let declared = WeatherSemanticsConfig {
            categorical: vec!["precipitation_type".into()],
            circular: vec!["wave_heading".into()],
            continuous: vec!["weather_code".into()],
        };
        declared.validate("process.weather").expect("valid");
        let mut normaliser = WeatherToKpi::new(declared);
        let points = normaliser
            .process(with(
                &[("precipitation_type", Some(2.0)), ("wave_heading", Some(0.0)), ("weather_code", Some(3.0))],
                &[],
            ))
            .expect("processes");
        let kinds: Vec<(&str, &str)> = points.iter().map(|p| (p.series_id.as_str(), p.metric.as_str())).collect();
        assert_eq!(
            kinds,
            [
                ("weather-forecast:berlin:precipitation_type", "state:precipitation_type"),
                ("weather-forecast:berlin:wave_heading_sin", "wave_heading_sin"),
                ("weather-forecast:berlin:wave_heading_cos", "wave_heading_cos"),
                ("weather-forecast:berlin:weather_code", "weather_code"),
            ]
        );
        let twice = WeatherSemanticsConfig {
            categorical: vec!["a".into()],
            circular: vec!["a".into()],
            ..WeatherSemanticsConfig::default()
        };
        let error = twice.validate("process.weather").expect_err("invalid");
        assert_eq!(error.key, "process.weather.circular[0]");
        let odd = WeatherSemanticsConfig { continuous: vec!["Wind&x".into()], ..WeatherSemanticsConfig::default() };
        assert_eq!(odd.validate("process.weather").expect_err("invalid").key, "process.weather.continuous[0]");
    }

    #[test]
    fn forecasts_are_a_series_of_their_own() {
        let points = WeatherToKpi::default().process(observation(WeatherKind::Forecast)).expect("processes");
        assert!(points.iter().all(|p| p.series_id.starts_with("weather-forecast:berlin:")));
    }
}
