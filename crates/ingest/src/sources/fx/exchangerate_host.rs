//! exchangerate.host (now APILayer; an access key is required):
//! `GET {root}/live?access_key=KEY&source={BASE}[&currencies=A,B]`, answered in the
//! currencylayer envelope `{"success":true,"timestamp":…,"source":"USD","quotes":{"USDEUR":0.86,…}}`
//! whose quote keys are the source and quote codes concatenated.
//!
//! Errors come back as HTTP 200 with `{"success":false,"error":{"code":…,"type":…,"info":…}}`, so
//! the body, never the status, says whether the call worked. Codes (APILayer's currencylayer
//! list; not each verified on exchangerate.host) and what we do with them:
//! - 106 "the current request did not return any results" — client authors report it also
//!   comes back for requests in quick succession — and any `type` naming a rate limit
//!   (`rate_limit…`, `too_many_requests`): [`FetchCause::Unavailable`], retried with backoff
//!   within the provider's `max_attempts`.
//! - 104 monthly request volume reached: [`FetchCause::Rejected`], not retried — it clears at
//!   the next billing month, not within a poll — so a fall-back chain moves on at once.
//! - 101 missing/invalid key, 102 inactive account, 103 unknown endpoint, 105 endpoint not in
//!   the plan, 201 invalid source currency, 202 invalid currency codes, and any other code:
//!   [`FetchCause::Rejected`]; the same request would get the same answer.
//!
//! The record date comes from `timestamp` (unix seconds, UTC). A `timestamp` that is absent or
//! 0 (the documented example carries a placeholder 0) says nothing about when the quotes were
//! published: the quotes are then taken as of the fetch — `rate_date` is the fetch's UTC date,
//! `published_at` is left empty. A negative or out-of-range `timestamp` fails the answer.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::rate_sheet::RateSheet;
use signalcraft_http::{parse_json, FetchCause};

/// The envelope of both answers. Unknown fields (`terms`, `privacy`, …) are ignored.
#[derive(Deserialize)]
struct Live {
    success: bool,
    #[serde(default)]
    error: Option<ApiError>,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    source: Option<String>,
    /// Kept as raw JSON so an odd value skips one quote instead of failing the whole answer.
    #[serde(default)]
    quotes: Option<BTreeMap<String, serde_json::Value>>,
}

/// `error` of a `success: false` answer; every part optional, so a sparse error still reads.
#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    info: Option<String>,
}

/// Code 106: no results, also sent to clients calling in quick succession.
const NO_RESULTS: i64 = 106;

/// The live quotes for `base`, narrowed to `symbols` when given, with `access_key` (values are
/// form-encoded). `Ok(None)` when `symbols` holds only the base itself: nothing to ask for.
pub(super) fn url(root: &str, base: &str, symbols: &[String], access_key: &str) -> Result<Option<String>, FetchCause> {
    let quotes: Vec<&str> = symbols.iter().map(String::as_str).filter(|quote| *quote != base).collect();
    if !symbols.is_empty() && quotes.is_empty() {
        return Ok(None);
    }
    let mut params = vec![("access_key", access_key.to_string()), ("source", base.to_string())];
    if !quotes.is_empty() {
        params.push(("currencies", quotes.join(",")));
    }
    reqwest::Url::parse_with_params(&format!("{root}/live"), &params)
        .map(|url| Some(url.to_string()))
        // The URL parser's message never contains the query, so the key cannot leak here.
        .map_err(|error| FetchCause::Request(format!("cannot build the /live URL from `{root}`: {error}")))
}

/// Reads a complete `/live` answer; `fetched_at` dates quotes whose `timestamp` is 0 or absent.
pub(super) fn parse(body: &[u8], fetched_at: DateTime<Utc>) -> Result<RateSheet, FetchCause> {
    let live: Live = parse_json(body)?;
    if !live.success {
        return Err(error_cause(live.error));
    }
    let Some(source) = live.source else {
        return Err(FetchCause::Parse("a successful answer without `source`".into()));
    };
    let Some(quotes) = live.quotes else {
        return Err(FetchCause::Parse("a successful answer without `quotes`".into()));
    };
    let published_at = match live.timestamp {
        None | Some(0) => None,
        Some(secs) if secs < 0 => return Err(FetchCause::Parse(format!("timestamp {secs} is before 1970"))),
        Some(secs) => match DateTime::from_timestamp(secs, 0) {
            Some(at) => Some(at),
            None => return Err(FetchCause::Parse(format!("timestamp {secs} is out of range"))),
        },
    };
    let rate_date = published_at.unwrap_or(fetched_at).date_naive();
    // "USDEUR" → "EUR". A key that does not start with the source is kept whole, so the shared
    // code check skips (and counts) it rather than storing it under a guessed pair.
    let rates = quotes
        .into_iter()
        .map(|(pair, value)| {
            let quote = match (pair.get(..source.len()), pair.get(source.len()..)) {
                (Some(prefix), Some(quote)) if prefix.eq_ignore_ascii_case(&source) && !quote.is_empty() => {
                    quote.to_string()
                }
                _ => pair,
            };
            (quote, value)
        })
        .collect();
    Ok(RateSheet { base: source, rate_date, published_at, per: 1.0, rates })
}

/// The cause for a `success: false` answer, classified as the module docs say.
fn error_cause(error: Option<ApiError>) -> FetchCause {
    let Some(error) = error else {
        return FetchCause::Rejected("`success` is false and no `error` says why".into());
    };
    let code = error.code.map_or_else(|| "without a code".to_string(), |code| code.to_string());
    let kind = error.kind.as_deref().unwrap_or("no type");
    let info = error.info.as_deref().unwrap_or("no info");
    let text = format!("error {code} ({kind}): {info}");
    let lower = kind.to_ascii_lowercase();
    if error.code == Some(NO_RESULTS) || lower.contains("rate_limit") || lower.contains("too_many_requests") {
        FetchCause::Unavailable(text)
    } else {
        FetchCause::Rejected(text)
    }
}
