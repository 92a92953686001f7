//! Frankfurter (ECB reference rates, keyless): `GET {root}/latest?base={BASE}[&symbols=A,B]`
//! with root `https://api.frankfurter.dev/v1`. The old host `api.frankfurter.app` answers with
//! a 301 to the new one, which the shared fetcher follows. Errors are 404/422 with
//! `{"message": ...}`, which the fetcher turns into client errors carrying that message.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::rate_sheet::RateSheet;
use signalcraft_http::{parse_json, FetchCause};

#[derive(Deserialize)]
struct Latest {
    /// Units of base the rates are for; 1 unless `amount=` is sent, which we never do.
    #[serde(default = "one")]
    amount: f64,
    base: String,
    date: NaiveDate,
    rates: BTreeMap<String, serde_json::Value>,
}

fn one() -> f64 {
    1.0
}

/// The latest rates for `base`, narrowed to `symbols` when given. `None` when `symbols` holds
/// only the base itself: Frankfurter rejects base == symbol with a 422, and there is nothing
/// to ask for.
pub(super) fn url(root: &str, base: &str, symbols: &[String]) -> Option<String> {
    let mut url = format!("{root}/latest?base={base}");
    if !symbols.is_empty() {
        let quotes: Vec<&str> = symbols.iter().map(String::as_str).filter(|quote| *quote != base).collect();
        if quotes.is_empty() {
            return None;
        }
        url.push_str("&symbols=");
        url.push_str(&quotes.join(","));
    }
    Some(url)
}

/// Reads a complete `latest` answer (it carries its own date).
pub(super) fn parse(body: &[u8], _fetched_at: DateTime<Utc>) -> Result<RateSheet, FetchCause> {
    let latest: Latest = parse_json(body)?;
    if !(latest.amount.is_finite() && latest.amount > 0.0) {
        return Err(FetchCause::Parse(format!("amount {} is not a positive number", latest.amount)));
    }
    Ok(RateSheet {
        base: latest.base,
        rate_date: latest.date,
        published_at: None,
        per: latest.amount,
        rates: latest.rates,
    })
}
