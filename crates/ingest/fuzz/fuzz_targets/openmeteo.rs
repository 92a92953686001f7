//! Open-Meteo forecast and archive answers: any body through [`parse_weather`], the whole
//! body-to-records path of `OpenMeteoSource` and `ArchiveBackfill` (bare `nan` → `null`, one
//! object or an array, coordinates and their distance, `utc_offset_seconds`, `hourly`/`current`
//! blocks and their model suffixes), asked for one location and for two. Errors are fine; a panic is a bug.
#![no_main]

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use signalcraft_ingest::{parse_weather, OpenMeteoConfig, WeatherLocationConfig};

fuzz_target!(|body: &[u8]| {
    let now = DateTime::<Utc>::UNIX_EPOCH;
    let location = |id: &str| WeatherLocationConfig { id: id.into(), latitude: 52.52, longitude: 13.41 };
    let models = OpenMeteoConfig { models: vec!["best_match".into(), "gfs_seamless".into()], ..Default::default() };
    let _ = parse_weather(body, &[location("berlin")], &models.forecast_request(), now);
    let _ = parse_weather(body, &[location("a"), location("b")], &OpenMeteoConfig::default().archive_request(), now);
});
