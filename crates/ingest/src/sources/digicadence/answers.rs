//! Reading DQ API answers. The shapes come from the server source (amitkie/dq-analytics-backend,
//! see tests/fixtures/digicadence/SOURCE.txt):
//!
//! * `POST /get_multi_data` → `{"data": [{"project_id": 268, "brands": [{"brand_name": "Livon",
//!   "dq_score": {"Overall_Final_Score": 71.2, "Marketplace": 80.0, "Socialwatch": 60.0,
//!   "Digital Spends": 70.0, "Organic Performance": 0}}]}]}`, or `{"data": []}`.
//! * `POST /normalized/normalized_value` → a bare array of rows (`project_id`, `brand_ids`,
//!   `brandName`, `sectionName`, `platformname`, `metricname`, `normalized`, `type`, …), or a 200
//!   `{"message": "Skipping normalization; required values are missing."}`.
//!
//! A 200 `{"message": …}` in place of data means "no data" ([`Answer::NoData`]), not an error.
//! A 200 `{"detail": …}` is a FastAPI error that slipped through: refused with its text. Bare
//! `NaN` (Python's JSON) is read as `null`; every score that is not a finite number becomes
//! `None`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use signalcraft_http::{excerpt, parse_json, FetchCause};

/// A good answer: data, or the service saying it has none.
#[derive(Debug)]
pub enum Answer<T> {
    /// The data asked for.
    Data(T),
    /// The service's message saying it has no data for these projects.
    NoData(String),
}

/// One project of a `get_multi_data` answer.
#[derive(Debug, Deserialize)]
pub(super) struct ProjectScores {
    pub project_id: Value,
    #[serde(default)]
    pub brands: Vec<BrandScores>,
}

/// One brand's scores in one project: section (or "Overall_Final_Score") → score.
#[derive(Debug, Deserialize)]
pub(super) struct BrandScores {
    #[serde(default)]
    pub brand_name: Option<String>,
    #[serde(default)]
    pub dq_score: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct MultiData {
    data: Vec<ProjectScores>,
}

/// One row of a `normalized_value` answer (pandas' `to_dict(orient="records")`; only the
/// columns used are read). Ids may arrive as floats (`12.0`) when pandas widened a column.
#[derive(Debug, Deserialize)]
#[allow(non_snake_case)] // the server's column names
pub(super) struct NormalizedRow {
    #[serde(default)]
    pub project_id: Value,
    #[serde(default)]
    pub brand_ids: Value,
    #[serde(default)]
    pub brandName: Option<String>,
    #[serde(default)]
    pub sectionName: Option<String>,
    #[serde(default)]
    pub platformname: Option<String>,
    #[serde(default)]
    pub metricname: Option<String>,
    #[serde(default)]
    pub normalized: Value,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// Reads a complete `get_multi_data` answer.
pub(super) fn parse_multi_data(body: &[u8]) -> Result<Answer<Vec<ProjectScores>>, FetchCause> {
    let value = read(body)?;
    if let Some(answer) = message_or_detail(&value)? {
        return Ok(answer);
    }
    let data: MultiData = serde_json::from_value(value).map_err(|error| {
        FetchCause::Parse(format!("not a get_multi_data answer ({error}); body starts: {}", excerpt(body)))
    })?;
    Ok(Answer::Data(data.data))
}

/// Reads a complete `normalized_value` answer.
pub(super) fn parse_normalized(body: &[u8]) -> Result<Answer<Vec<NormalizedRow>>, FetchCause> {
    let value = read(body)?;
    if let Some(answer) = message_or_detail(&value)? {
        return Ok(answer);
    }
    let rows: Vec<NormalizedRow> = serde_json::from_value(value).map_err(|error| {
        FetchCause::Parse(format!("not a normalized_value answer ({error}); body starts: {}", excerpt(body)))
    })?;
    Ok(Answer::Data(rows))
}

/// The body as JSON, bare `NaN`s read as `null`; truncation stays retriable.
fn read(body: &[u8]) -> Result<Value, FetchCause> {
    parse_json(&crate::sources::non_finite_to_null(body))
}

/// `{"message": …}` without data is "no data"; `{"detail": …}` is an error in a 200.
fn message_or_detail<T>(value: &Value) -> Result<Option<Answer<T>>, FetchCause> {
    let Some(object) = value.as_object() else { return Ok(None) };
    if object.contains_key("data") {
        return Ok(None);
    }
    if let Some(message) = object.get("message") {
        return Ok(Some(Answer::NoData(text_of(message))));
    }
    if let Some(detail) = object.get("detail") {
        return Err(FetchCause::Rejected(text_of(detail)));
    }
    Ok(None)
}

fn text_of(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_string)
}

/// A score: a finite number, else `None` (null, NaN, "" in exported data, anything else).
pub(super) fn score(value: &Value) -> Option<f64> {
    value.as_f64().filter(|number| number.is_finite())
}

/// An id: an integer, or a float with no fractional part (pandas widens id columns with gaps).
pub(super) fn id_of(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        let float = value.as_f64()?;
        // The range check keeps the cast exact.
        (float.fract() == 0.0 && float.abs() < 9.0e15).then_some(float as i64)
    })
}
