//! `[process.warmup]`: whether and how the stateful processors rebuild a series' (or a tenant's)
//! state from what the sink stored, when they meet it without state. Plain serde data;
//! [`WarmUpConfig::validate`] names the offending key and [`WarmUpConfig::settings`] gives the
//! stage's runtime [`WarmUpSettings`], or none when the rebuild is off.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::WarmUpSettings;
use crate::config::InvalidConfig;

/// Longest `sink_wait_ms`: the consumer does not poll while a batch waits, and Kafka drops a
/// member that has not polled for `max.poll.interval.ms` (300 s by default).
const MAX_SINK_WAIT_MS: u64 = 120_000;

/// `[process.warmup]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmUpConfig {
    /// Rebuild the anomaly detector's and the forecaster's state of a series from its points in
    /// `kpi_points` when they meet it without state (after a restart, a rebalance, an eviction),
    /// and a tenant's open hourly sentiment aggregates from its articles in `news_sentiment`
    /// (after the last hour stored in `kpi_points`), so their outputs equal an uninterrupted
    /// run's. Off: such a series learns afresh, and an hour open at a restart is aggregated from
    /// the articles read after it only. Default true.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Most points replayed per series. Unset: as many as each processor needs to rebuild its
    /// state exactly (the detector up to 17,641 with default parameters, the forecaster
    /// `process.forecast.history_cap`). Lower is faster; the rebuilt state is then approximate.
    /// Does not cap the sentiment articles reloaded (only the open hours are, which bounds
    /// them). At least 1.
    #[serde(default)]
    pub max_points: Option<usize>,
    /// How long a batch waits, in milliseconds, for the sink to store the points (or articles) a
    /// rebuild needs before using what is stored (counted in `signalcraft_state_rebuilds_total`).
    /// At most 120000. Default 10000.
    #[serde(default = "default_sink_wait_ms")]
    pub sink_wait_ms: u64,
}

fn default_enabled() -> bool {
    true
}
fn default_sink_wait_ms() -> u64 {
    10_000
}

impl Default for WarmUpConfig {
    fn default() -> Self {
        WarmUpConfig { enabled: default_enabled(), max_points: None, sink_wait_ms: default_sink_wait_ms() }
    }
}

impl WarmUpConfig {
    /// Checks serde cannot express; `prefix` is where the table sits (`process.warmup`).
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidConfig> {
        if self.max_points == Some(0) {
            return Err(InvalidConfig::new(
                prefix,
                "max_points",
                format!("must be at least 1 ({prefix}.enabled = false turns the rebuild off)"),
            ));
        }
        if self.sink_wait_ms > MAX_SINK_WAIT_MS {
            return Err(InvalidConfig::new(
                prefix,
                "sink_wait_ms",
                format!(
                    "{} is above {MAX_SINK_WAIT_MS} (the consumer does not poll Kafka while a batch waits)",
                    self.sink_wait_ms
                ),
            ));
        }
        Ok(())
    }

    /// How stateful processors rebuild a series' state; `None` when the rebuild is off.
    pub fn settings(&self) -> Option<WarmUpSettings> {
        self.enabled.then(|| WarmUpSettings {
            max_points: self.max_points,
            wait_for_store: Duration::from_millis(self.sink_wait_ms),
            ..Default::default()
        })
    }
}
