//! Open-Meteo weather (topic raw.weather): [`OpenMeteoSource`] polls the hourly forecast and
//! current conditions of every watched location, batched into multi-location requests, and
//! emits one [`WeatherObservation`] per (location, hour) (kind FORECAST) plus one per location
//! for its current conditions (kind CURRENT). [`ArchiveBackfill`] walks a date range of the
//! archive API in chunks (kind ARCHIVE), reporting progress through a callback.
//!
//! Both share one [`HttpFetcher`] whose spacing is derived from the daily call quota (see
//! [`config`](OpenMeteoConfig#the-quota-holds-by-construction)), so forecast polls and a
//! backfill running beside them stay within the quota together.

mod archive;
mod client;
mod config;
mod parse;
mod source;
#[cfg(test)]
mod tests;
mod watch_list;

pub use self::source::{OpenMeteoSource, SOURCE_NAME};
pub use self::{
    archive::{ArchiveBackfill, BackfillProgress},
    config::{OpenMeteoConfig, WeatherLocationConfig},
    parse::{haversine_km, parse_weather, WeatherRequest},
    watch_list::weather_locations,
};
