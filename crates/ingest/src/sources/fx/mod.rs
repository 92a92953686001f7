//! Exchange rates (topic raw.fx). An [`FxSource`] polls a list of base currencies, each through
//! an ordered chain of providers: the first provider that answers (after its own bounded
//! retries) supplies that base's rates for the cycle, and a failure moves on to the next one,
//! logged and counted (`signalcraft_source_fallbacks_total`). [`FxSource::from_config`] builds
//! one source per provider for the bases it polls on its own (a chain of one) and one
//! `fx-fallback` source for the configured `fallback` chains; a provider used by several
//! sources keeps one [`HttpFetcher`], so its pacing holds across them.
//!
//! Provider modules only build the URL and read the body into a `RateSheet`; turning a sheet
//! into records (code checks, the `symbols` filter, skipping unusable rates) is shared in
//! `rate_sheet.rs`, so every provider behaves alike. Every record names the provider that answered.
//!
//! Files: `config.rs` (`[ingest.fx]`), `source.rs` ([`FxSource`], the chains), `rate_sheet.rs` (a
//! provider's answer, and how it becomes records), one file per provider (`exchangerate_api.rs`, `frankfurter.rs`,
//! `exchangerate_host.rs`), `watch_list.rs` (the watched businesses' currencies), tests.

mod config;
mod exchangerate_api;
mod exchangerate_host;
#[cfg(test)]
mod fallback_tests;
mod frankfurter;
mod rate_sheet;
mod source;
#[cfg(test)]
mod tests;
mod watch_list;

pub use self::config::{FxConfig, FxProviderConfig, FxProviderKind};
pub use self::source::{parse_rates, FxSource, FALLBACK_SOURCE_NAME};
