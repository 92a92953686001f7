//! The exchange-rate source at run time: [`FxSource`] polls its bases, each through its chain
//! of providers, and turns each provider's `RateSheet` into records the same way for all.

use super::config::{FxConfig, FxProviderConfig, FxProviderKind};
use std::{collections::BTreeSet, sync::Arc};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::Method;
use signalcraft_model::FxRate;

use super::{exchangerate_api, exchangerate_host, frankfurter, rate_sheet::RateSheet};
use crate::{
    config::Secret,
    source::{partial_poll, Source},
    telemetry,
    watch::WatchListReader,
};
use signalcraft_http::{ClientBuildError, FetchCause, FetchError, FetchPolicy, HttpFetcher};

/// The name of the source that polls the `fallback` chains.
pub const FALLBACK_SOURCE_NAME: &str = "fx-fallback";

/// One configured provider, ready to fetch: its settings, its fetcher (whose rate limiter every
/// source using this provider shares) and, for exchangerate.host, the access key.
#[derive(Debug)]
struct Provider {
    config: FxProviderConfig,
    fetcher: HttpFetcher,
    access_key: Option<Secret>,
}

impl Provider {
    fn new(
        config: FxProviderConfig,
        policy: FetchPolicy,
        access_key: Option<Secret>,
    ) -> Result<Self, ClientBuildError> {
        let mut fetcher = HttpFetcher::new(config.kind.as_str(), policy)?.with_events(&telemetry::SourceRequests);
        if let Some(key) = &access_key {
            fetcher = fetcher.with_secret(key.expose());
        }
        Ok(Provider { config, fetcher, access_key })
    }

    fn name(&self) -> &'static str {
        self.config.kind.as_str()
    }

    /// The rates for one base currency: the configured `symbols`, widened by the watched
    /// businesses' currencies (an empty `symbols` already means every quote).
    async fn poll_base(
        &self,
        base: &str,
        watched_currencies: &BTreeSet<String>,
        now: DateTime<Utc>,
    ) -> Result<Vec<FxRate>, FetchError> {
        let root = self.config.api_root();
        let mut symbols = self.config.symbols.clone();
        if !symbols.is_empty() {
            symbols.extend(watched_currencies.iter().filter(|code| !self.config.symbols.contains(code)).cloned());
        }
        let symbols = &symbols;
        let url = match self.config.kind {
            FxProviderKind::ExchangerateApi => Some(exchangerate_api::url(root, base)),
            FxProviderKind::Frankfurter => frankfurter::url(root, base, symbols),
            FxProviderKind::ExchangerateHost => {
                // A validated configuration always has the key; without one the upstream
                // answers error 101, which is the clearest report of the gap.
                let key = self.access_key.as_ref().map_or("", Secret::expose);
                exchangerate_host::url(root, base, symbols, key).map_err(|cause| {
                    FetchError::without_request(self.name(), Method::GET, &format!("{root}/live"), cause)
                })?
            }
        };
        // `None`: only the base itself was asked for, whose rate is 1 by definition.
        let Some(url) = url else {
            return Ok(Vec::new());
        };
        let kind = self.config.kind;
        self.fetcher.get_with(&url, |body| parse_rates(kind, base, symbols, body, now)).await
    }
}

/// One base currency and the providers to ask for it, in order.
#[derive(Debug)]
struct BaseChain {
    base: String,
    providers: Vec<Arc<Provider>>,
}

/// Polls base currencies, each through its chain of providers (see the module docs).
#[derive(Debug)]
pub struct FxSource {
    name: String,
    chains: Vec<BaseChain>,
    /// Businesses whose home currencies are quoted besides the configured symbols.
    watch_list: WatchListReader,
}

impl FxSource {
    /// A source polling one keyless provider for every base it lists, paced and retried as its
    /// config says.
    pub fn new(config: FxProviderConfig) -> Result<Self, ClientBuildError> {
        let policy = config.fetch_policy();
        Self::with_policy(config, policy)
    }

    /// [`FxSource::new`] with an explicit fetch policy (tests shorten the backoff with it).
    pub fn with_policy(config: FxProviderConfig, policy: FetchPolicy) -> Result<Self, ClientBuildError> {
        let bases = config.bases.clone();
        let provider = Arc::new(Provider::new(config, policy, None)?);
        let chains = bases.into_iter().map(|base| BaseChain { base, providers: vec![provider.clone()] }).collect();
        Ok(FxSource { name: provider.name().to_string(), chains, watch_list: WatchListReader::default() })
    }

    /// Every source `[ingest.fx]` asks for: one per provider that has bases of its own to poll
    /// (those without a `fallback` chain), named after the provider, then, if any chain is
    /// configured, the [`FALLBACK_SOURCE_NAME`] source polling the chains. Expects a validated
    /// configuration (a chain naming an unconfigured kind skips that kind).
    pub fn from_config(config: &FxConfig) -> Result<Vec<FxSource>, ClientBuildError> {
        Self::from_config_with(config, FxProviderConfig::fetch_policy)
    }

    /// [`FxSource::from_config`] with each provider's fetch policy from `policy`.
    pub fn from_config_with(
        config: &FxConfig,
        policy: impl Fn(&FxProviderConfig) -> FetchPolicy,
    ) -> Result<Vec<FxSource>, ClientBuildError> {
        let mut providers = Vec::with_capacity(config.providers.len());
        for provider in &config.providers {
            let key = if provider.kind.needs_access_key() { config.exchangerate_host_access_key.clone() } else { None };
            providers.push(Arc::new(Provider::new(provider.clone(), policy(provider), key)?));
        }
        let mut sources = Vec::new();
        for provider in &providers {
            let chains: Vec<BaseChain> = provider
                .config
                .bases
                .iter()
                .filter(|base| !config.fallback.contains_key(*base))
                .map(|base| BaseChain { base: base.clone(), providers: vec![provider.clone()] })
                .collect();
            if !chains.is_empty() {
                let name = provider.name().to_string();
                sources.push(FxSource { name, chains, watch_list: WatchListReader::default() });
            }
        }
        let chains: Vec<BaseChain> = config
            .fallback
            .iter()
            .map(|(base, kinds)| BaseChain {
                base: base.clone(),
                providers: kinds
                    .iter()
                    .filter_map(|kind| providers.iter().find(|provider| provider.config.kind == *kind).cloned())
                    .collect(),
            })
            .collect();
        if !chains.is_empty() {
            let name = FALLBACK_SOURCE_NAME.to_string();
            sources.push(FxSource { name, chains, watch_list: WatchListReader::default() });
        }
        Ok(sources)
    }

    /// Also quotes the home currencies of the businesses on `watch_list`, read afresh every cycle.
    pub fn with_watch_list(mut self, watch_list: WatchListReader) -> Self {
        self.watch_list = watch_list;
        self
    }

    /// Each base this source polls with the providers asked for it, in order.
    pub fn chains(&self) -> Vec<(&str, Vec<FxProviderKind>)> {
        self.chains
            .iter()
            .map(|chain| (chain.base.as_str(), chain.providers.iter().map(|p| p.config.kind).collect()))
            .collect()
    }

    /// The rates of one base from the first provider of its chain that answers.
    async fn poll_chain(
        &self,
        chain: &BaseChain,
        watched_currencies: &BTreeSet<String>,
        now: DateTime<Utc>,
    ) -> Result<Vec<FxRate>, FetchError> {
        let mut failures = Vec::new();
        for (index, provider) in chain.providers.iter().enumerate() {
            match provider.poll_base(&chain.base, watched_currencies, now).await {
                Ok(records) => return Ok(records),
                Err(error) => {
                    // A chain of one has nothing to fall back to: its error is the poll's.
                    if chain.providers.len() > 1 {
                        let next = chain.providers.get(index + 1).map(|next| next.name());
                        telemetry::ProviderFellBack {
                            source: &self.name,
                            base: &chain.base,
                            failed: provider.name(),
                            next,
                            error: &error,
                        }
                        .emit();
                    }
                    failures.push(error);
                }
            }
        }
        match failures.len() {
            0 => Ok(Vec::new()),
            1 => Err(failures.remove(0)),
            _ => Err(FetchError::exhausted(self.name.clone(), format!("{} rates", chain.base), failures)),
        }
    }
}

/// Reads one `kind` provider's complete answer body for `base` into records, exactly as
/// [`FxSource`] does: the provider's body parser, then the check that the answer is for
/// `base` (an answer for another base would be stored under the wrong pair), then one record
/// per usable quote (codes upper-cased, the base dropped, only `symbols` kept when not empty;
/// unusable codes and rates skipped and counted). `fetched_at` is every record's fetch time,
/// and the rate date of an exchangerate.host answer that does not say when it was published.
/// Public so the fuzz targets reach it.
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
        FxProviderKind::ExchangerateHost => exchangerate_host::parse,
    };
    let sheet = parse(body, fetched_at)?;
    if !sheet.base.eq_ignore_ascii_case(base) {
        return Err(FetchCause::Parse(format!("asked for base {base}, got rates for base {}", sheet.base)));
    }
    Ok(sheet.into_records(kind.as_str(), symbols, fetched_at))
}

#[async_trait]
impl Source for FxSource {
    type Output = FxRate;

    fn name(&self) -> &str {
        &self.name
    }

    /// Polls every base through its chain; one failing base does not cost the others their
    /// records. The poll fails only when no base yielded anything and at least one failed.
    async fn poll(&self, now: DateTime<Utc>) -> Result<Vec<FxRate>, FetchError> {
        let mut records = Vec::new();
        let mut errors = Vec::new();
        let watched_currencies = super::watch_list::currencies(&self.watch_list.current(&self.name).await);
        for chain in &self.chains {
            match self.poll_chain(chain, &watched_currencies, now).await {
                Ok(mut rates) => records.append(&mut rates),
                Err(error) => errors.push(error),
            }
        }
        partial_poll(self.name(), records, errors)
    }
}

/// Reads one provider's complete answer body; gets the fetch time (see [`parse_rates`]).
type ParseSheet = fn(&[u8], DateTime<Utc>) -> Result<RateSheet, FetchCause>;
