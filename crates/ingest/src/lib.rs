//! Ingest: turns upstream APIs into records on the raw topics. Each upstream is a [`Source`]
//! (fetch its current data as records); one loop, [`run_source`], drives any source: poll,
//! produce and wait for the broker's acks, sleep until the next cycle, stop on shutdown. The
//! HTTP mechanics every source needs (pacing, timeouts, retries that honour `Retry-After`,
//! error classification, redaction) are written once, in the `signalcraft-http` crate's
//! [`HttpFetcher`]; this crate counts its requests ([`telemetry::SourceRequests`]).
//!
//! # Layout
//! - [`registry`]: [`IngestConfig`], `[ingest]` with one table per upstream, and the list of
//!   upstreams the binary starts.
//! - [`component`]: [`SourceComponent`], how an upstream's table points itself at a replay and
//!   builds its [`SourceLoop`]s.
//! - [`config`]: [`InvalidConfig`], the error every source's configuration check returns, and
//!   [`Secret`], how an access key is held so that it is never logged.
//! - [`source`]: the [`Source`] trait and the [`run_source`] loop: poll → produce → wait.
//! - [`sources`]: one folder per upstream (`config.rs`, `source.rs` its runtime, its client and
//!   parsers, `watch_list.rs`, tests; `mod.rs` only declares): [`sources::fx`] (exchange
//!   rates from three providers, with per-base fall-back chains), [`sources::gdelt`] (news, with per-query high-water marks), [`sources::openmeteo`]
//!   (weather forecast and archive backfill), [`sources::digicadence`] (DQ brand scores).
//! - [`replay`]: [`ReplayServer`], recorded upstream payloads served locally for `--replay`.
//! - [`watch`]: the watch list (businesses, read afresh every cycle), its store and reader;
//!   how each source merges it with its configuration is in the source's own folder
//!   (`sources/<upstream>/watch_list.rs`).
//! - [`telemetry`]: log-and-count events and the `signalcraft_source_*` metrics they feed.

pub mod component;
pub mod config;
pub mod registry;
pub mod replay;
pub mod source;
pub mod sources;
pub mod telemetry;
pub mod watch;

pub use component::{BuildError, SourceComponent, SourceContext, SourceLoop};
pub use config::{InvalidConfig, Secret};
pub use registry::IngestConfig;
pub use replay::{ReplayError, ReplayKpi, ReplayServer};
pub use signalcraft_http::{ClientBuildError, ErrorClassifier, FetchCause, FetchError, FetchPolicy, HttpFetcher};
pub use source::{run_source, PollLog, RunError, RunSummary, Source};
pub use sources::digicadence::{DigiCadenceConfig, DigiCadenceSource, DqEndpoint, DqProjectConfig};
pub use sources::fx::{parse_rates, FxConfig, FxProviderConfig, FxProviderKind, FxSource, FALLBACK_SOURCE_NAME};
pub use sources::gdelt::{
    parse_artlist, parse_timeline_tone, GdeltConfig, GdeltQueryConfig, GdeltSource, GdeltToneSource, HighWaterMark,
    HighWaterMarks, InMemoryHighWaterMarks, MarkStoreError,
};
pub use sources::openmeteo::{
    haversine_km, parse_weather, ArchiveBackfill, BackfillProgress, OpenMeteoConfig, OpenMeteoSource,
    WeatherLocationConfig, WeatherRequest,
};
pub use watch::{GeoPoint, NoWatchList, WatchListError, WatchListReader, WatchListStore, WatchedBusiness};
