//! Configuration of the exchange-rate source (`[ingest.fx]`): how often to poll, which
//! providers to call for which currencies, the fall-back chains (per base currency, providers
//! tried in order until one answers) and the exchangerate.host access key. Plain serde data;
//! [`FxConfig::validate`] checks it and names the offending key, and
//! [`FxProviderConfig::fetch_policy`] turns a provider's pacing and HTTP policy into its fetcher's
//! [`FetchPolicy`].

use crate::{config::Secret, InvalidConfig};
use std::{collections::BTreeMap, fmt, time::Duration};

use serde::{Deserialize, Deserializer, Serialize};

use signalcraft_http::{FetchPolicy, HttpPolicy, HttpPolicyOverrides};

/// The exchange-rate source: every provider is polled once per interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FxConfig {
    /// Seconds between two polls of each provider. The upstreams publish once a day
    /// (exchangerate-api) or once per TARGET working day (frankfurter), so hourly is plenty.
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,

    /// The exchangerate.host (APILayer) access key, needed when an `exchangerate-host` provider
    /// is configured. Best set in the environment
    /// (`SIGNALCRAFT_INGEST__FX__EXCHANGERATE_HOST_ACCESS_KEY`) rather than in a file; it is
    /// never logged and is redacted from URLs and errors.
    #[serde(default)]
    pub exchangerate_host_access_key: Option<Secret>,

    /// Fall-back chains: per base currency, the provider kinds to try in order each cycle. The
    /// first that answers (after its own retries) supplies that base's rates for the cycle; the
    /// others are not asked. A base listed here is fetched only through its chain, whatever the
    /// providers' `bases` say; each kind named must be configured exactly once in `providers`
    /// (its `symbols`, pacing and retries apply). Base codes are read in any case and kept
    /// upper-case, because an environment variable (`SIGNALCRAFT_INGEST__FX__FALLBACK__USD`)
    /// reaches us lower-cased. Empty (the default): no chains.
    #[serde(default, deserialize_with = "upper_case_bases")]
    pub fallback: BTreeMap<String, Vec<FxProviderKind>>,

    /// The providers to poll. A provider polls the `bases` it lists on its own, yielding its
    /// own records (every record names its provider), except bases that have a `fallback` chain.
    #[serde(default = "default_providers")]
    pub providers: Vec<FxProviderConfig>,
}

impl FxConfig {
    /// Time between two polls of each provider.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_secs)
    }
}

impl Default for FxConfig {
    fn default() -> Self {
        FxConfig {
            interval_secs: default_interval_secs(),
            providers: default_providers(),
            fallback: BTreeMap::new(),
            exchangerate_host_access_key: None,
        }
    }
}

/// The `fallback` table with its base codes upper-cased; two spellings of one code are refused.
fn upper_case_bases<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Vec<FxProviderKind>>, D::Error> {
    let written = BTreeMap::<String, Vec<FxProviderKind>>::deserialize(deserializer)?;
    let mut bases = BTreeMap::new();
    for (base, chain) in written {
        let upper = base.to_ascii_uppercase();
        if bases.insert(upper.clone(), chain).is_some() {
            return Err(serde::de::Error::custom(format!("`{base}` and another key both name base {upper}")));
        }
    }
    Ok(bases)
}

fn default_interval_secs() -> u64 {
    3600
}

fn default_providers() -> Vec<FxProviderConfig> {
    vec![FxProviderConfig::new(FxProviderKind::ExchangerateApi), FxProviderConfig::new(FxProviderKind::Frankfurter)]
}

/// Which API a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FxProviderKind {
    /// ExchangeRate-API's keyless legacy v4 endpoint: `GET {base_url}/v4/latest/{BASE}`.
    ExchangerateApi,
    /// Frankfurter (ECB reference rates, keyless): `GET {base_url}/latest?base={BASE}`.
    Frankfurter,
    /// exchangerate.host (APILayer, access key required):
    /// `GET {base_url}/live?access_key=…&source={BASE}&currencies=…`.
    ExchangerateHost,
}

impl FxProviderKind {
    /// The name used in config, records (`provider`), logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            FxProviderKind::ExchangerateApi => "exchangerate-api",
            FxProviderKind::Frankfurter => "frankfurter",
            FxProviderKind::ExchangerateHost => "exchangerate-host",
        }
    }

    /// Whether requests need `ingest.fx.exchangerate_host_access_key`.
    pub fn needs_access_key(self) -> bool {
        matches!(self, FxProviderKind::ExchangerateHost)
    }

    /// The public endpoint used when `base_url` is not set.
    pub fn default_base_url(self) -> &'static str {
        match self {
            FxProviderKind::ExchangerateApi => "https://api.exchangerate-api.com",
            // Pinned to /v1: v2 has a different, row-oriented shape.
            FxProviderKind::Frankfurter => "https://api.frankfurter.dev/v1",
            FxProviderKind::ExchangerateHost => "https://api.exchangerate.host",
        }
    }
}

impl fmt::Display for FxProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One exchange-rate provider and what to ask it for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawProviderConfig")]
pub struct FxProviderConfig {
    /// Which API this is: `"exchangerate-api"`, `"frankfurter"` or `"exchangerate-host"`.
    pub kind: FxProviderKind,

    /// Root of the API. Defaults to the provider's public endpoint
    /// (`https://api.exchangerate-api.com`, `https://api.frankfurter.dev/v1`,
    /// `https://api.exchangerate.host`); replay runs point it at the local replay server.
    pub base_url: String,

    /// Base currencies to poll, one request each (upper-case ISO-4217 codes). Default `["USD"]`.
    pub bases: Vec<String>,

    /// Quote currencies to keep (upper-case ISO-4217 codes). Empty (the default) keeps every
    /// quote the provider publishes.
    pub symbols: Vec<String>,

    /// Least milliseconds between two requests to this provider, retries included. Default 1000.
    pub min_interval_ms: u64,

    /// How hard each request to this provider tries (`http = { … }` in its table:
    /// `timeout_ms`, `max_attempts`, `initial_backoff_ms`, `max_backoff_ms`,
    /// `max_retry_after_secs`). Unset keys come from `[http_client]`, then from
    /// [`FxProviderConfig::HTTP_DEFAULTS`].
    pub http: HttpPolicyOverrides,
}

/// What a provider table holds as written: the same keys as [`FxProviderConfig`], with
/// `base_url` optional because its default depends on `kind`, which serde field defaults
/// cannot see.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProviderConfig {
    kind: FxProviderKind,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default = "default_bases")]
    bases: Vec<String>,
    #[serde(default)]
    symbols: Vec<String>,
    #[serde(default = "default_min_interval_ms")]
    min_interval_ms: u64,
    #[serde(default)]
    http: HttpPolicyOverrides,
}

impl From<RawProviderConfig> for FxProviderConfig {
    fn from(raw: RawProviderConfig) -> Self {
        FxProviderConfig {
            kind: raw.kind,
            base_url: raw.base_url.unwrap_or_else(|| raw.kind.default_base_url().to_string()),
            bases: raw.bases,
            symbols: raw.symbols,
            min_interval_ms: raw.min_interval_ms,
            http: raw.http,
        }
    }
}

fn default_bases() -> Vec<String> {
    vec!["USD".to_string()]
}

fn default_min_interval_ms() -> u64 {
    1000
}

impl FxProviderConfig {
    /// A provider of `kind` with every other setting at its default.
    pub fn new(kind: FxProviderKind) -> Self {
        FxProviderConfig {
            kind,
            base_url: kind.default_base_url().to_string(),
            bases: default_bases(),
            symbols: Vec::new(),
            min_interval_ms: default_min_interval_ms(),
            http: HttpPolicyOverrides::default(),
        }
    }

    /// The API root requests are built on: `base_url` without surrounding blanks or a trailing
    /// slash (so both `.../v1` and `.../v1/` work).
    pub fn api_root(&self) -> &str {
        self.base_url.trim().trim_end_matches('/')
    }

    /// The HTTP policy when nothing is configured: [`HttpPolicy::default`] (10 s per request,
    /// 4 attempts, `Retry-After` obeyed up to 120 s).
    pub const HTTP_DEFAULTS: HttpPolicy = HttpPolicy {
        timeout_ms: 10_000,
        max_attempts: 4,
        initial_backoff_ms: 1_000,
        max_backoff_ms: 30_000,
        max_retry_after_secs: 120,
    };

    /// The HTTP policy in full: `http` over [`FxProviderConfig::HTTP_DEFAULTS`] (`[http_client]`
    /// is folded into `http` when the configuration is loaded).
    pub fn http_policy(&self) -> HttpPolicy {
        self.http.over(Self::HTTP_DEFAULTS)
    }

    /// The fetcher's policy for this provider: its pacing and its HTTP policy.
    pub fn fetch_policy(&self) -> FetchPolicy {
        FetchPolicy::configured(Duration::from_millis(self.min_interval_ms), &self.http_policy())
    }
}

impl FxConfig {
    /// Checks every value; `prefix` is where this table sits in the whole configuration (e.g.
    /// `ingest.fx`), so the error names the key as the user wrote it.
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidConfig> {
        let bad = |key: String, message: String| Err(InvalidConfig { key, message });
        if self.interval_secs == 0 {
            return bad(format!("{prefix}.interval_secs"), "must be at least 1 second".into());
        }
        let key_name = format!("{prefix}.exchangerate_host_access_key");
        let has_key = self.exchangerate_host_access_key.as_ref().is_some_and(|key| !key.is_blank());
        for (index, provider) in self.providers.iter().enumerate() {
            let at = format!("{prefix}.providers[{index}]");
            provider.validate(&at)?;
            if provider.kind.needs_access_key() && !has_key {
                return bad(
                    key_name,
                    format!(
                        "must be set: {at} is an {} provider, which needs an access key \
                         (set it in the configuration file or its environment variable)",
                        provider.kind
                    ),
                );
            }
        }
        for (base, chain) in &self.fallback {
            let key = format!("{prefix}.fallback.{base}");
            if !is_currency_code(base) {
                return bad(key, format!("`{base}` is not a 3-letter upper-case ISO-4217 code"));
            }
            if chain.is_empty() {
                return bad(key, "must list at least one provider".into());
            }
            for (index, kind) in chain.iter().enumerate() {
                let key = format!("{key}[{index}]");
                if chain[..index].contains(kind) {
                    return bad(key, format!("`{kind}` is listed twice"));
                }
                match self.providers.iter().filter(|provider| provider.kind == *kind).count() {
                    1 => {}
                    0 => return bad(key, format!("`{kind}` is not configured in {prefix}.providers")),
                    n => {
                        return bad(
                            key,
                            format!(
                            "`{kind}` is configured {n} times in {prefix}.providers; a chain cannot tell them apart"
                        ),
                        )
                    }
                }
            }
        }
        Ok(())
    }
}

impl FxProviderConfig {
    fn validate(&self, prefix: &str) -> Result<(), InvalidConfig> {
        let bad = |key: String, message: String| Err(InvalidConfig { key, message });
        let url = self.api_root();
        match reqwest::Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
            Ok(_) => return bad(format!("{prefix}.base_url"), format!("`{url}` is not an http(s) URL")),
            Err(error) => return bad(format!("{prefix}.base_url"), format!("`{url}` is not a URL: {error}")),
        }
        if self.bases.is_empty() {
            return bad(format!("{prefix}.bases"), "must list at least one base currency".into());
        }
        for (field, codes) in [("bases", &self.bases), ("symbols", &self.symbols)] {
            for (index, code) in codes.iter().enumerate() {
                let key = format!("{prefix}.{field}[{index}]");
                if !is_currency_code(code) {
                    return bad(key, format!("`{code}` is not a 3-letter upper-case ISO-4217 code"));
                }
                if codes[..index].contains(code) {
                    return bad(key, format!("`{code}` is listed twice"));
                }
            }
        }
        self.http_policy().validate(&format!("{prefix}.http"))?;
        Ok(())
    }
}

/// An ISO-4217 alphabetic code: three upper-case ASCII letters.
pub(crate) fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// `[ingest.fx]` as a component: one loop per provider.
impl crate::component::SourceComponent for FxConfig {
    fn key(&self) -> &'static str {
        "fx"
    }

    fn replay_from(&mut self, replay: &crate::replay::ReplayAddress) {
        for provider in &mut self.providers {
            provider.base_url = replay.provider_base_url(provider.kind.as_str());
        }
    }

    fn build(
        &self,
        context: &crate::component::SourceContext,
    ) -> Result<Vec<crate::component::SourceLoop>, crate::component::BuildError> {
        let config = context.configured(self);
        let sources =
            super::FxSource::from_config(&config).map_err(|error| crate::component::BuildError::new("fx", error))?;
        Ok(sources
            .into_iter()
            .map(|source| {
                crate::component::SourceLoop::new(source.with_watch_list(context.watch_list.clone()), config.interval())
            })
            .collect())
    }
}
