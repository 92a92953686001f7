//! A provider's answer for one base, as every provider module reads it ([`RateSheet`]), and the
//! one way a sheet becomes records, so every provider behaves alike. Its own module so the
//! provider modules and the source that calls them need not import each other.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use signalcraft_model::FxRate;

use super::config::is_currency_code;
use crate::telemetry;

/// One provider answer for one base: the rates of `per` units of `base` on `rate_date`.
#[derive(Debug)]
pub(super) struct RateSheet {
    pub(super) base: String,
    pub(super) rate_date: NaiveDate,
    pub(super) published_at: Option<DateTime<Utc>>,
    /// Units of base the rates are quoted for (Frankfurter's `amount`); rates are divided by it.
    pub(super) per: f64,
    /// Raw values: a rate that is not a usable number skips its quote only, not the sheet.
    pub(super) rates: BTreeMap<String, serde_json::Value>,
}

impl RateSheet {
    /// One record per usable quote: codes upper-cased, the base itself dropped, only `symbols`
    /// kept when that list is not empty. Unusable codes and rates are skipped and counted.
    pub(super) fn into_records(self, provider: &str, symbols: &[String], fetched_at: DateTime<Utc>) -> Vec<FxRate> {
        let base = self.base.to_ascii_uppercase();
        let mut records = Vec::with_capacity(self.rates.len());
        for (code, value) in self.rates {
            let quote = code.to_ascii_uppercase();
            if quote == base || (!symbols.is_empty() && !symbols.contains(&quote)) {
                continue;
            }
            let item = format!("{base}/{code}");
            if !is_currency_code(&quote) {
                telemetry::InvalidRecordSkipped { source: provider, item: &item, reason: "not an ISO-4217 code" }
                    .emit();
                continue;
            }
            let rate = match value.as_f64() {
                Some(rate) => rate / self.per,
                None => {
                    let reason = format!("rate {value} is not a number");
                    telemetry::InvalidRecordSkipped { source: provider, item: &item, reason: &reason }.emit();
                    continue;
                }
            };
            // NaN fails `> 0.0`, so this also catches it.
            if !(rate.is_finite() && rate > 0.0) {
                let reason = format!("rate {rate} is not a positive finite number");
                telemetry::InvalidRecordSkipped { source: provider, item: &item, reason: &reason }.emit();
                continue;
            }
            records.push(FxRate {
                base: base.clone(),
                quote,
                rate_date: self.rate_date,
                rate,
                provider: provider.to_string(),
                published_at: self.published_at,
                fetched_at,
            });
        }
        records
    }
}
