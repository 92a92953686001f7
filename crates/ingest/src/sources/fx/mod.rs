//! Exchange rates (topic raw.fx): one [`FxSource`] per configured provider, each polling its
//! base currencies in turn through the shared [`HttpFetcher`]. Provider modules only build the
//! URL and read the body into a `RateSheet`; turning a sheet into records (code checks, the
//! `symbols` filter, skipping unusable rates) is shared here, so both providers behave alike.

mod config;
mod exchangerate_api;
mod frankfurter;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use signalcraft_model::FxRate;

use self::config::is_currency_code;
pub use self::config::{FxConfig, FxProviderConfig, FxProviderKind};
use crate::{
    poller::{ClientBuildError, FetchCause, FetchError, FetchPolicy, HttpFetcher},
    source::Source,
    telemetry,
};

/// Polls one exchange-rate provider for every configured base currency.
#[derive(Debug)]
pub struct FxSource {
    config: FxProviderConfig,
    fetcher: HttpFetcher,
}

impl FxSource {
    /// A source for `config`, paced and retried as the config says.
    pub fn new(config: FxProviderConfig) -> Result<Self, ClientBuildError> {
        let policy = config.fetch_policy();
        Self::with_policy(config, policy)
    }

    /// A source for `config` with an explicit fetch policy (tests shorten the backoff with it).
    pub fn with_policy(config: FxProviderConfig, policy: FetchPolicy) -> Result<Self, ClientBuildError> {
        let fetcher = HttpFetcher::new(config.kind.as_str(), policy)?;
        Ok(FxSource { config, fetcher })
    }

    /// The provider this source polls.
    pub fn config(&self) -> &FxProviderConfig {
        &self.config
    }

    /// The rates for one base currency.
    async fn poll_base(&self, base: &str, now: DateTime<Utc>) -> Result<Vec<FxRate>, FetchError> {
        let root = self.config.api_root();
        let url = match self.config.kind {
            FxProviderKind::ExchangerateApi => exchangerate_api::url(root, base),
            FxProviderKind::Frankfurter => match frankfurter::url(root, base, &self.config.symbols) {
                Some(url) => url,
                // Only the base itself was asked for: its rate is 1 by definition.
                None => return Ok(Vec::new()),
            },
        };
        let (kind, symbols) = (self.config.kind, &self.config.symbols);
        self.fetcher.get_with(&url, |body| parse_rates(kind, base, symbols, body, now)).await
    }
}

/// Reads one `kind` provider's complete answer body for `base` into records, exactly as
/// [`FxSource`] does: the provider's body parser, then the check that the answer is for
/// `base` (an answer for another base would be stored under the wrong pair), then one record
/// per usable quote (codes upper-cased, the base dropped, only `symbols` kept when not empty;
/// unusable codes and rates skipped and counted). Public so the fuzz targets reach it.
pub fn parse_rates(
    kind: FxProviderKind,
    base: &str,
    symbols: &[String],
    body: &[u8],
    fetched_at: DateTime<Utc>,
) -> Result<Vec<FxRate>, FetchCause> {
    let parse: ParseSheet = match kind {
        FxProviderKind::ExchangerateApi => exchangerate_api::parse,
        FxProviderKind::Frankfurter => frankfurter::parse,
    };
    let sheet = parse(body)?;
    if !sheet.base.eq_ignore_ascii_case(base) {
        return Err(FetchCause::Parse(format!("asked for base {base}, got rates for base {}", sheet.base)));
    }
    Ok(sheet.into_records(kind.as_str(), symbols, fetched_at))
}

#[async_trait]
impl Source for FxSource {
    type Output = FxRate;

    fn name(&self) -> &str {
        self.config.kind.as_str()
    }

    /// Polls every base; one failing base does not cost the others their records. The poll
    /// fails only when no base yielded anything and at least one failed.
    async fn poll(&self, now: DateTime<Utc>) -> Result<Vec<FxRate>, FetchError> {
        let mut records = Vec::new();
        let mut errors = Vec::new();
        for base in &self.config.bases {
            match self.poll_base(base, now).await {
                Ok(mut rates) => records.append(&mut rates),
                Err(error) => errors.push(error),
            }
        }
        // The error returned is logged by the caller; the others are logged here.
        let returned = if records.is_empty() { errors.pop() } else { None };
        for error in &errors {
            telemetry::PollFailed { source: self.name(), error }.emit();
        }
        match returned {
            Some(error) => Err(error),
            None => Ok(records),
        }
    }
}

/// Reads one provider's complete answer body.
type ParseSheet = fn(&[u8]) -> Result<RateSheet, FetchCause>;

/// One provider answer for one base: the rates of `per` units of `base` on `rate_date`.
#[derive(Debug)]
struct RateSheet {
    base: String,
    rate_date: NaiveDate,
    published_at: Option<DateTime<Utc>>,
    /// Units of base the rates are quoted for (Frankfurter's `amount`); rates are divided by it.
    per: f64,
    /// Raw values: a rate that is not a usable number skips its quote only, not the sheet.
    rates: BTreeMap<String, serde_json::Value>,
}

impl RateSheet {
    /// One record per usable quote: codes upper-cased, the base itself dropped, only `symbols`
    /// kept when that list is not empty. Unusable codes and rates are skipped and counted.
    fn into_records(self, provider: &str, symbols: &[String], fetched_at: DateTime<Utc>) -> Vec<FxRate> {
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
