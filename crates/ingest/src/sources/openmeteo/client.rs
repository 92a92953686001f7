//! Open-Meteo request URLs. Several locations go into one request as comma-separated
//! `latitude`/`longitude` lists; every time is asked for in GMT. Variable names are validated
//! (and model names) to `[a-z0-9_]` and coordinates are numbers, so nothing here needs escaping.

use chrono::NaiveDate;

use super::config::{OpenMeteoConfig, WeatherLocationConfig};

/// `latitude=a,b&longitude=c,d` for `locations`, in order.
fn coordinates(locations: &[WeatherLocationConfig]) -> String {
    let join = |pick: fn(&WeatherLocationConfig) -> f64| {
        locations.iter().map(|location| pick(location).to_string()).collect::<Vec<_>>().join(",")
    };
    format!("latitude={}&longitude={}", join(|l| l.latitude), join(|l| l.longitude))
}

/// The hourly forecast and current conditions of `locations`.
pub(super) fn forecast_url(config: &OpenMeteoConfig, locations: &[WeatherLocationConfig]) -> String {
    let mut url = format!("{}/v1/forecast?{}", config.api_root(), coordinates(locations));
    if !config.hourly.is_empty() {
        url.push_str("&hourly=");
        url.push_str(&config.hourly.join(","));
    }
    if !config.current.is_empty() {
        url.push_str("&current=");
        url.push_str(&config.current.join(","));
    }
    if !config.models.is_empty() {
        url.push_str("&models=");
        url.push_str(&config.models.join(","));
    }
    url.push_str(&format!("&forecast_days={}&timezone=GMT", config.forecast_days));
    url
}

/// The hourly archive of `locations` from `start` to `end`, both included.
pub(super) fn archive_url(
    config: &OpenMeteoConfig,
    locations: &[WeatherLocationConfig],
    start: NaiveDate,
    end: NaiveDate,
) -> String {
    format!(
        "{}/v1/archive?{}&start_date={start}&end_date={end}&hourly={}&timezone=GMT",
        config.archive_root(),
        coordinates(locations),
        config.archive_variables().join(",")
    )
}
