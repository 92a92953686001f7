//! GDELT DOC 2.0 request URLs: `GET {root}/api/v2/doc/doc?query=…&mode=…&format=json&…`, the
//! query URL-encoded, times as GDELT's `YYYYMMDDHHMMSS` (UTC).

use chrono::{DateTime, Utc};

/// The DOC 2.0 endpoint under the API root.
const DOC_PATH: &str = "/api/v2/doc/doc";

/// A time as GDELT's `startdatetime`/`enddatetime` want it.
pub(super) fn gdelt_datetime(at: DateTime<Utc>) -> String {
    at.format("%Y%m%d%H%M%S").to_string()
}

/// Up to `max_records` articles matching `query` seen at or after `start`, oldest first.
pub(super) fn artlist_url(root: &str, query: &str, start: DateTime<Utc>, max_records: u32) -> String {
    let max_records = max_records.to_string();
    let start = gdelt_datetime(start);
    doc_url(
        root,
        &[
            ("query", query.trim()),
            ("mode", "artlist"),
            ("format", "json"),
            ("maxrecords", &max_records),
            ("sort", "DateAsc"),
            ("startdatetime", &start),
        ],
    )
}

/// The average-tone timeline of `query` from `start` (to `end`, or now); read the answer with
/// [`super::parse_timeline_tone`].
pub fn timeline_tone_url(root: &str, query: &str, start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> String {
    let start = gdelt_datetime(start);
    let end = end.map(gdelt_datetime);
    let mut params =
        vec![("query", query.trim()), ("mode", "timelinetone"), ("format", "json"), ("startdatetime", &start)];
    if let Some(end) = &end {
        params.push(("enddatetime", end));
    }
    doc_url(root.trim().trim_end_matches('/'), &params)
}

fn doc_url(root: &str, params: &[(&str, &str)]) -> String {
    let base = format!("{root}{DOC_PATH}");
    match reqwest::Url::parse_with_params(&base, params) {
        Ok(url) => url.to_string(),
        // An unusable root (caught by validation) is left for the fetcher to report.
        Err(_) => base,
    }
}
