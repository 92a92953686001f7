//! How the weather source (and a backfill) merges the watch list with its configuration: the
//! configured locations, then each located business under its tenant id.

use std::collections::BTreeSet;

use super::WeatherLocationConfig;
use crate::watch::WatchedBusiness;

/// The weather locations to poll: the configured ones, then each located business under its
/// tenant id; a configured id wins over a business of the same id.
pub fn weather_locations(
    configured: &[WeatherLocationConfig],
    businesses: &[WatchedBusiness],
) -> Vec<WeatherLocationConfig> {
    let mut seen: BTreeSet<String> = configured.iter().map(|location| location.id.clone()).collect();
    let watched = businesses.iter().filter_map(|business| {
        let point = business.location?;
        seen.insert(business.tenant_id.clone()).then(|| WeatherLocationConfig {
            id: business.tenant_id.clone(),
            latitude: point.latitude,
            longitude: point.longitude,
        })
    });
    let mut locations = configured.to_vec();
    locations.extend(watched);
    locations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::{business, GeoPoint};

    #[test]
    fn located_businesses_become_weather_locations_under_their_tenant_id() {
        let configured = vec![WeatherLocationConfig { id: "berlin".into(), latitude: 52.52, longitude: 13.41 }];
        let mut acme = business("acme");
        acme.location = Some(GeoPoint { latitude: 48.1, longitude: 11.6 });
        let mut shadow = business("berlin");
        shadow.location = Some(GeoPoint { latitude: 0.0, longitude: 0.0 });
        let locations = weather_locations(&configured, &[business("nowhere"), acme, shadow]);
        assert_eq!(
            locations,
            vec![
                WeatherLocationConfig { id: "berlin".into(), latitude: 52.52, longitude: 13.41 },
                WeatherLocationConfig { id: "acme".into(), latitude: 48.1, longitude: 11.6 },
            ]
        );
    }
}
