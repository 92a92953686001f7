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

/// Reads a complete forecast or archive answer for `locations` (in request order) into records:
/// one per (location, hour) of `hourly` as `hourly_kind`, plus one per location for `current`.
/// This is the whole body-to-records path of [`super::OpenMeteoSource`] and
/// [`super::ArchiveBackfill`]; public so the fuzz targets reach it.
pub fn parse_weather(
    body: &[u8],
    locations: &[WeatherLocationConfig],
    hourly_kind: WeatherKind,
    fetched_at: DateTime<Utc>,
) -> Result<Vec<WeatherObservation>, FetchCause> {
    let answers = parse_answer(body, locations.len())?;
    Ok(locations
        .iter()
        .zip(answers)
        .flat_map(|(location, answer)| location_records(&location.id, answer, hourly_kind, fetched_at))
        .collect())
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

/// The records of one location's answer: one per hour of `hourly` (as `hourly_kind`), and one
/// for `current` if present. A location the model does not cover yields none (counted).
pub(super) fn location_records(
    location_id: &str,
    answer: LocationAnswer,
    hourly_kind: WeatherKind,
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
    let mut records = Vec::new();
    if let Some(hourly) = answer.hourly {
        let units = units_of(answer.hourly_units.as_ref(), &["time"]);
        for (hour, variables) in hourly_rows(location_id, hourly, offset) {
            records.push(base(hour, hourly_kind, variables, units.clone()));
        }
    }
    if let Some(mut current) = answer.current {
        let time = current.remove("time");
        current.remove("interval");
        match time.as_ref().and_then(|time| local_time(time, offset)) {
            Some(at) => {
                let variables = current.into_iter().map(|(name, value)| (name, number(&value))).collect();
                let units = units_of(answer.current_units.as_ref(), &["time", "interval"]);
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

/// Units of a block, without the bookkeeping keys; non-string units are written as JSON.
fn units_of(units: Option<&BTreeMap<String, Value>>, skip: &[&str]) -> BTreeMap<String, String> {
    units
        .into_iter()
        .flatten()
        .filter(|(name, _)| !skip.contains(&name.as_str()))
        .map(|(name, unit)| (name.clone(), unit.as_str().map_or_else(|| unit.to_string(), str::to_string)))
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
