//! ExchangeRate-API, keyless legacy v4: `GET {root}/v4/latest/{BASE}`. The answer lists the
//! base itself (as integer 1) among ~160 rates that are JSON integers or floats; the date is
//! `YYYY-MM-DD` and `time_last_updated` the publication time in unix seconds.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::rate_sheet::RateSheet;
use signalcraft_http::{parse_json, FetchCause};

/// The fields used; the vendor adds others (`provider`, `terms`, warnings) without notice.
#[derive(Deserialize)]
struct LatestV4 {
    base: String,
    date: NaiveDate,
    #[serde(default)]
    time_last_updated: Option<i64>,
    /// Kept as raw JSON so an odd value skips one quote instead of failing the whole answer.
    rates: BTreeMap<String, serde_json::Value>,
}

/// The latest rates for `base`.
pub(super) fn url(root: &str, base: &str) -> String {
    format!("{root}/v4/latest/{base}")
}

/// Reads a complete v4 answer (it carries its own date).
pub(super) fn parse(body: &[u8], _fetched_at: DateTime<Utc>) -> Result<RateSheet, FetchCause> {
    let latest: LatestV4 = parse_json(body)?;
    // Out of range only if the upstream sends garbage; the rates are still good without it.
    let published_at = latest.time_last_updated.and_then(|secs| DateTime::from_timestamp(secs, 0));
    Ok(RateSheet { base: latest.base, rate_date: latest.date, published_at, per: 1.0, rates: latest.rates })
}
