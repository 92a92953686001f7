//! Processors: the stages that turn consumed records into derived records. Each processor is a
//! config struct plus a runtime struct whose core is a pure, synchronous
//! [`Processor::process`], testable without Kafka; [`ProcessorStage`] runs any of them inside
//! the shared at-least-once consumer loop.
//!
//! # Layout
//! - [`registry`]: [`ProcessConfig`], `[process]` with one table per processor.
//! - [`processor`]: the [`Processor`] trait and its error, and [`SideInput`], versioned data a
//!   processor evaluates as of each input's time (the alert rules).
//! - [`config`]: [`InvalidConfig`], what every processor's configuration check returns. Each
//!   processor's `[process.<processor>]` table is a `config.rs` in its own folder, turned into
//!   that processor's runtime settings by a method of its own.
//! - [`stage`]: [`ProcessorStage`], the adapter from a processor to the consumer loop: decode,
//!   process, produce, dead-letter; a retried batch re-sends the same outputs.
//! - [`history`]: per-series (and per-tenant sentiment) state rebuilt from stored history after a
//!   restart, a rebalance or an eviction ([`SeriesHistory`], [`RebuildableState`]); `warmup`
//!   drives it inside the stage, as [`WarmUpConfig`] (`[process.warmup]`) says.
//! - [`forecast`]: per-series forecasts (detected seasons, MSTL + AutoETS, 80/95% intervals).
//! - [`alerting`]: anomaly scores and threshold rules → alerts opened and resolved (alerts.notifications).
//! - [`anomaly`]: per-series online anomaly scores (kpi.points → kpi.anomalies), measured on NAB.
//! - [`kpi`]: KPI normalisation, every numeric signal → a point on kpi.points.
//! - [`sentiment`]: VADER sentiment (exactly vaderSentiment 3.3.2) and the news-title scorer.

pub mod alerting;
pub mod anomaly;
pub mod config;
pub mod forecast;
pub mod history;
pub mod kpi;
pub mod processor;
pub mod registry;
pub mod sentiment;
pub mod stage;
mod warmup;

pub use config::InvalidConfig;
pub use history::{
    HistoryDepth, HistoryError, HistoryKind, HistoryRequest, RebuildableState, SeriesHistory, SeriesPast,
    TenantArticles,
};
pub use processor::{ProcessError, Processor, SideInput};
pub use registry::ProcessConfig;
pub use stage::ProcessorStage;
pub use warmup::{WarmUpConfig, WarmUpSettings};
