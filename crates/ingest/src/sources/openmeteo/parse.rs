//! Reading Open-Meteo answers (forecast and archive share one shape) into records.
//!
//! * A single location answers with a JSON object, several with a JSON array of objects in
//!   request order; both are accepted, and the count must match the request.
//! * Outside a model's area Open-Meteo writes bare `nan` (and could write `inf`) where numbers
//!   belong — invalid JSON. **Decision:** such bare words are rewritten to `null` before
//!   parsing. That is safe: outside strings JSON's only bare words are `true`, `false` and
//!   `null`, so the rewrite cannot change the meaning of any valid document, and strings are
//!   left untouched. A location whose coordinates come back `null` is "not covered": it is
//!   skipped and counted, while the other locations of the same request keep their records;
//!   a `nan` value inside a series is a missing value (`None`), as `null` is.
//! * Columns are index-aligned with `time`; a column of another length is skipped (counted).
//! * **Models.** With `models=a,b` Open-Meteo suffixes every hourly key with its model
//!   (`weather_code_best_match`, `weather_code_gfs_seamless`; recorded in
//!   tests/fixtures/openmeteo/forecast__general_more_models.body.json), while the `current`
//!   block stays unsuffixed and a single model's answer is not suffixed at all
//!   (`forecast__general_one_model.body.json`). Keys are mapped back to what was asked for:
//!   `{variable}_{model}` becomes the record variable `{variable}:{model}` (`:` cannot occur in
//!   a configured name, so the normaliser can split it), a bare variable becomes
//!   `{variable}:{model}` when one model was asked for and stays `{variable}` otherwise (the
//!   answer does not say which model it is). A key that maps to nothing asked for is dropped,
//!   and an asked-for variable that is absent is reported: both as skipped values (a warning and
//!   a counter), never silently. Without models, keys are kept as they come and only absences
//!   are reported.
//! * **Coordinates.** An answer whose coordinates lie more than `max_distance_km` (great-circle
//!   distance) from the location asked for is not that location's weather: the whole request
//!   is refused, naming both coordinate pairs and the distance, since an answer out of place
//!   in a batch puts the order of all of them in doubt.
//! * `time` is local time at `utc_offset_seconds` ("YYYY-MM-DDTHH:MM", or epoch seconds with
//!   `timeformat=unixtime`); requests ask for GMT, but the offset is applied whatever it is.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration as ChronoDuration, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use signalcraft_model::{WeatherKind, WeatherObservation};

use super::{config::WeatherLocationConfig, SOURCE_NAME};
use crate::telemetry;
use signalcraft_http::{excerpt, parse_json, FetchCause};
use std::fmt::Write as _;

/// One location's answer; every block is optional (a request for no variables answers with the
/// header fields only).
#[derive(Debug, Deserialize)]
pub(super) struct LocationAnswer {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
    #[serde(default)]
    utc_offset_seconds: Option<i64>,
    #[serde(default)]
    hourly: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    hourly_units: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    current: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    current_units: Option<BTreeMap<String, Value>>,
    /// `{"error": true, "reason": …}`: Open-Meteo refusing the request.
    #[serde(default)]
    error: Option<bool>,
    #[serde(default)]
    reason: Option<String>,
}

/// An error body: `{"error": true, "reason": "…"}`.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    reason: Option<String>,
}

/// What one request asked for: the answer is read against it.
#[derive(Debug, Clone, Copy)]
pub struct WeatherRequest<'a> {
    /// The kind of the hourly records (FORECAST or ARCHIVE).
    pub kind: WeatherKind,
    /// Hourly variables asked for.
    pub hourly: &'a [String],
    /// Current-conditions variables asked for.
    pub current: &'a [String],
    /// Models asked for (`models=`); empty: none.
    pub models: &'a [String],
    /// Farthest an answer's coordinates may lie from the location asked for.
    pub max_distance_km: f64,
}

/// Mean Earth radius (IUGG), km.
const EARTH_RADIUS_KM: f64 = 6_371.008_8;

/// Great-circle distance in km between two (latitude, longitude) points in degrees. Total on
/// any input: the `asin` argument is clamped, so rounding cannot make it NaN for real points.
pub fn haversine_km(from: (f64, f64), to: (f64, f64)) -> f64 {
    let (lat1, lat2) = (from.0.to_radians(), to.0.to_radians());
    let half_dlat = (lat2 - lat1) / 2.0;
    let half_dlon = (to.1 - from.1).to_radians() / 2.0;
    let a = half_dlat.sin().powi(2) + lat1.cos() * lat2.cos() * half_dlon.sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().clamp(0.0, 1.0).asin()
}

/// Reads a complete forecast or archive answer for `locations` (in request order) into records:
/// one per (location, hour) of `hourly` as `request.kind`, plus one per location for `current`.
/// An answer further than `request.max_distance_km` from its location refuses the request.
/// This is the whole body-to-records path of [`super::OpenMeteoSource`] and
/// [`super::ArchiveBackfill`]; public so the fuzz targets reach it.
pub fn parse_weather(
    body: &[u8],
    locations: &[WeatherLocationConfig],
    request: &WeatherRequest<'_>,
    fetched_at: DateTime<Utc>,
) -> Result<Vec<WeatherObservation>, FetchCause> {
    let answers = parse_answer(body, locations.len())?;
    for (location, answer) in locations.iter().zip(&answers) {
        check_distance(location, answer, request.max_distance_km)?;
    }
    Ok(locations
        .iter()
        .zip(answers)
        .flat_map(|(location, answer)| location_records(&location.id, answer, request, fetched_at))
        .collect())
}

/// Refuses an answer whose coordinates lie further than `max_km` from `location` (an answer
/// without coordinates is "not covered", handled per location later).
fn check_distance(location: &WeatherLocationConfig, answer: &LocationAnswer, max_km: f64) -> Result<(), FetchCause> {
    let (Some(latitude), Some(longitude)) = (answer.latitude, answer.longitude) else {
        return Ok(());
    };
    let asked = (location.latitude, location.longitude);
    let distance = haversine_km(asked, (latitude, longitude));
    // NaN (coordinates no point has) is refused too.
    if distance <= max_km {
        return Ok(());
    }
    Err(FetchCause::Parse(format!(
        "location `{}`: asked for ({}, {}), the answer is for ({latitude}, {longitude}), {distance:.1} km away \
         (more than max_distance_km = {max_km})",
        location.id, asked.0, asked.1
    )))
}

/// The record name of an answer's column `key` in a block that asked for `asked` under
/// `models` (see the module docs); `None`: the key maps to nothing asked for.
pub(super) fn column_name(key: &str, asked: &[String], models: &[String]) -> Option<String> {
    match models {
        [] => Some(key.to_string()),
        [only] if asked.iter().any(|variable| variable == key) => Some(format!("{key}:{only}")),
        _ if asked.iter().any(|variable| variable == key) => Some(key.to_string()),
        _ => asked.iter().find_map(|variable| {
            let model = key.strip_prefix(variable.as_str())?.strip_prefix('_')?;
            models.iter().any(|m| m == model).then(|| format!("{variable}:{model}"))
        }),
    }
}

/// Maps the columns of one block (bookkeeping keys already removed) to record names; returns
/// the mapped columns and one sentence per problem: a key mapping to nothing asked for
/// (dropped when models were asked for), a variable asked for that is absent.
pub(super) fn map_columns<V>(
    columns: BTreeMap<String, V>,
    asked: &[String],
    models: &[String],
) -> (BTreeMap<String, V>, Vec<String>) {
    let mut problems = Vec::new();
    let mut mapped = BTreeMap::new();
    for (key, value) in columns {
        match column_name(&key, asked, models) {
            Some(name) => {
                mapped.insert(name, value);
            }
            None => {
                let mut problem = format!("unexpected key `{key}`: not `<variable>_<model>` for a variable of [");
                let _ = write!(problem, "{}] and a model of [{}]; dropped", asked.join(", "), models.join(", "));
                problems.push(problem);
            }
        }
    }
    for variable in asked {
        if mapped.contains_key(variable) {
            continue;
        }
        if models.is_empty() {
            problems.push(format!("`{variable}` was asked for and is missing from the answer"));
        }
        for model in models {
            if !mapped.contains_key(&format!("{variable}:{model}")) {
                problems
                    .push(format!("`{variable}` was asked for with model `{model}` and is missing from the answer"));
            }
        }
    }
    (mapped, problems)
}

/// Reports what [`map_columns`] found wrong with one block of `location_id`'s answer.
fn report(location_id: &str, block: &str, problems: &[String]) {
    let item = format!("{location_id}/{block}");
    for reason in problems {
        telemetry::InvalidRecordSkipped { source: SOURCE_NAME, item: &item, reason }.emit();
    }
}

/// Reads a complete answer for `expected` locations: one object, or an array of exactly that
/// many objects.
pub(super) fn parse_answer(body: &[u8], expected: usize) -> Result<Vec<LocationAnswer>, FetchCause> {
    let repaired = crate::sources::non_finite_to_null(body);
    let first = repaired.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let answers: Vec<LocationAnswer> = match first {
        Some(b'[') => parse_json(&repaired)?,
        Some(b'{') => vec![parse_json(&repaired)?],
        None => return Err(FetchCause::Body("the body is empty".into())),
        Some(_) => return Err(FetchCause::Parse(format!("not JSON; body starts: {}", excerpt(body)))),
    };
    if let Some(refusal) = answers.iter().find(|answer| answer.error == Some(true)) {
        let reason = refusal.reason.clone().unwrap_or_else(|| "no reason given".into());
        return Err(FetchCause::Rejected(reason));
    }
    if answers.len() != expected {
        return Err(FetchCause::Parse(format!(
            "asked for {expected} location{}, got {} answer{}",
            plural(expected),
            answers.len(),
            plural(answers.len())
        )));
    }
    Ok(answers)
}

fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

/// What the upstream said in an error body, for the fetcher's [`signalcraft_http::ErrorClassifier`]:
/// the `reason` replaces the raw excerpt; a 429 for the hourly or daily limit is not retried
/// (minutes of backoff cannot help), and one for the per-minute limit waits a minute when no
/// `Retry-After` says otherwise.
pub(super) fn classify_error(status: reqwest::StatusCode, body: &[u8], cause: FetchCause) -> FetchCause {
    let Some(reason) = serde_json::from_slice::<ErrorBody>(body).ok().and_then(|body| body.reason) else {
        return cause;
    };
    let lower = reason.to_ascii_lowercase();
    match cause {
        FetchCause::RateLimited { .. } if lower.contains("hourly") || lower.contains("daily") => {
            FetchCause::Rejected(format!("HTTP {}: {reason}", status.as_u16()))
        }
        FetchCause::RateLimited { retry_after: None, .. } if lower.contains("minutely") => {
            FetchCause::RateLimited { retry_after: Some(std::time::Duration::from_secs(60)), body_excerpt: reason }
        }
        FetchCause::Client { status, .. } => FetchCause::Client { status, body_excerpt: reason },
        FetchCause::Server { status, retry_after, .. } => {
            FetchCause::Server { status, body_excerpt: reason, retry_after }
        }
        other => other,
    }
}

/// The records of one location's answer: one per hour of `hourly` (as `request.kind`), and one
/// for `current` if present. A location the model does not cover yields none (counted).
pub(super) fn location_records(
    location_id: &str,
    answer: LocationAnswer,
    request: &WeatherRequest<'_>,
    fetched_at: DateTime<Utc>,
) -> Vec<WeatherObservation> {
    let (Some(latitude), Some(longitude)) = (answer.latitude, answer.longitude) else {
        let reason = "not covered by the model: the answer has no coordinates (`nan`)";
        telemetry::InvalidRecordSkipped { source: SOURCE_NAME, item: location_id, reason }.emit();
        return Vec::new();
    };
    // An offset no clock could have (beyond ±292 million years) is garbage, not a panic.
    let Some(offset) = ChronoDuration::try_seconds(answer.utc_offset_seconds.unwrap_or(0)) else {
        let reason = format!("utc_offset_seconds {:?} is out of range", answer.utc_offset_seconds);
        telemetry::InvalidRecordSkipped { source: SOURCE_NAME, item: location_id, reason: &reason }.emit();
        return Vec::new();
    };
    let base = |hour, kind, variables, units| WeatherObservation {
        location_id: location_id.to_string(),
        latitude,
        longitude,
        hour,
        kind,
        variables,
        units,
        fetched_at,
    };
    let models = request.models;
    let mut records = Vec::new();
    match answer.hourly {
        Some(mut hourly) => {
            let time = hourly.remove("time");
            let (mut columns, problems) = map_columns(hourly, request.hourly, models);
            report(location_id, "hourly", &problems);
            if let Some(time) = time {
                columns.insert("time".to_string(), time);
            }
            let units = units_of(answer.hourly_units.as_ref(), &["time"], request.hourly, models);
            for (hour, variables) in hourly_rows(location_id, columns, offset) {
                records.push(base(hour, request.kind, variables, units.clone()));
            }
        }
        None if !request.hourly.is_empty() => {
            report(location_id, "hourly", &["the hourly variables were asked for and the answer has none".into()]);
        }
        None => {}
    }
    if let Some(mut current) = answer.current {
        let time = current.remove("time");
        current.remove("interval");
        match time.as_ref().and_then(|time| local_time(time, offset)) {
            Some(at) => {
                let (current, problems) = map_columns(current, request.current, models);
                report(location_id, "current", &problems);
                let variables = current.into_iter().map(|(name, value)| (name, number(&value))).collect();
                let units = units_of(answer.current_units.as_ref(), &["time", "interval"], request.current, models);
                records.push(base(at, WeatherKind::Current, variables, units));
            }
            None => {
                let reason = format!("current block without a readable time: {time:?}");
                telemetry::InvalidRecordSkipped { source: SOURCE_NAME, item: location_id, reason: &reason }.emit();
            }
        }
    }
    records
}

/// One hour's values: variable name → value (`None`: no data).
type Variables = BTreeMap<String, Option<f64>>;

/// The rows of an `hourly` block: (UTC hour, variable → value), skipping (and counting) columns
/// whose length differs from `time` and hours whose time cannot be read.
fn hourly_rows(
    location_id: &str,
    mut hourly: BTreeMap<String, Value>,
    offset: ChronoDuration,
) -> Vec<(DateTime<Utc>, Variables)> {
    let times = match hourly.remove("time") {
        Some(Value::Array(times)) => times,
        _ => return Vec::new(),
    };
    let mut columns = Vec::new();
    for (name, column) in hourly {
        match column {
            Value::Array(values) if values.len() == times.len() => columns.push((name, values)),
            _ => {
                let item = format!("{location_id}/{name}");
                let reason = format!("the column is not an array of {} values", times.len());
                telemetry::InvalidRecordSkipped { source: SOURCE_NAME, item: &item, reason: &reason }.emit();
            }
        }
    }
    let mut rows = Vec::with_capacity(times.len());
    for (index, time) in times.iter().enumerate() {
        let Some(hour) = local_time(time, offset) else {
            let item = format!("{location_id}@{time}");
            telemetry::InvalidRecordSkipped { source: SOURCE_NAME, item: &item, reason: "unreadable time" }.emit();
            continue;
        };
        let variables = columns.iter().map(|(name, values)| (name.clone(), number(&values[index]))).collect();
        rows.push((hour, variables));
    }
    rows
}

/// A number, or `None` for `null` (no data) and anything else.
fn number(value: &Value) -> Option<f64> {
    value.as_f64().filter(|number| number.is_finite())
}

/// Units of a block, without the bookkeeping keys, under the record names of their columns;
/// non-string units are written as JSON.
fn units_of(
    units: Option<&BTreeMap<String, Value>>,
    skip: &[&str],
    asked: &[String],
    models: &[String],
) -> BTreeMap<String, String> {
    units
        .into_iter()
        .flatten()
        .filter(|(name, _)| !skip.contains(&name.as_str()))
        .filter_map(|(name, unit)| {
            let name = column_name(name, asked, models)?;
            Some((name, unit.as_str().map_or_else(|| unit.to_string(), str::to_string)))
        })
        .collect()
}

/// A `time` value as UTC: "YYYY-MM-DDTHH:MM[:SS]" local time at `offset`, or epoch seconds (GMT
/// already, per the API docs).
fn local_time(value: &Value, offset: ChronoDuration) -> Option<DateTime<Utc>> {
    match value {
        Value::String(text) => {
            let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
                .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
                .ok()?;
            local.checked_sub_signed(offset).map(|utc| utc.and_utc())
        }
        Value::Number(number) => DateTime::from_timestamp(number.as_i64()?, 0),
        _ => None,
    }
}
