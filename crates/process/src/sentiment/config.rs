//! `[process.sentiment]`: what an operator sets for the sentiment processors. Scoring itself
//! (VADER 3.3.2) has nothing to set, by design: its scores must equal the Python package's. What
//! can be set is how long the hourly sentiment KPIs ([`crate::kpi::SentimentToKpi`]) wait for
//! late articles before an hour is emitted. [`SentimentConfig::validate`] names the offending
//! key and [`SentimentConfig::hourly_lateness`] gives the runtime value.

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use crate::config::InvalidConfig;

/// Longest `lateness_secs`: a week. A tenant keeps every hour within the lateness open in
/// memory, and a rebuild reloads them all, so the bound is also a bound on that state.
const MAX_LATENESS_SECS: u64 = 7 * 24 * 3600;

/// `[process.sentiment]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentimentConfig {
    /// Seconds after an hour ends (in the event time of the tenant's articles) during which its
    /// articles may still arrive; then the hour's sentiment KPIs are emitted, and later articles
    /// for it are not counted. At most 604800 (a week). Default 3600.
    #[serde(default = "default_lateness_secs")]
    pub lateness_secs: u64,
}

fn default_lateness_secs() -> u64 {
    3600
}

impl Default for SentimentConfig {
    fn default() -> Self {
        SentimentConfig { lateness_secs: default_lateness_secs() }
    }
}

impl SentimentConfig {
    /// Checks serde cannot express; `prefix` is where the table sits (`process.sentiment`).
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidConfig> {
        if self.lateness_secs > MAX_LATENESS_SECS {
            return Err(InvalidConfig::new(
                prefix,
                "lateness_secs",
                format!("{} is above {MAX_LATENESS_SECS} (a week)", self.lateness_secs),
            ));
        }
        Ok(())
    }

    /// The lateness [`crate::kpi::SentimentToKpi::new`] takes. A value beyond what
    /// [`SentimentConfig::validate`] allows is held at that bound.
    pub fn hourly_lateness(&self) -> TimeDelta {
        let secs = i64::try_from(self.lateness_secs.min(MAX_LATENESS_SECS)).unwrap_or(i64::MAX);
        TimeDelta::try_seconds(secs).unwrap_or(TimeDelta::MAX)
    }

    /// The processor of hourly sentiment KPIs this table configures.
    pub fn build(&self) -> crate::kpi::SentimentToKpi {
        crate::kpi::SentimentToKpi::new(self.hourly_lateness())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_lateness_is_the_aggregator_default_of_an_hour() {
        assert_eq!(SentimentConfig::default().hourly_lateness(), TimeDelta::hours(1));
    }

    #[test]
    fn a_lateness_beyond_a_week_is_refused_by_name() {
        let config = SentimentConfig { lateness_secs: u64::MAX };
        let error = config.validate("process.sentiment").expect_err("beyond a week");
        assert_eq!(error.key, "process.sentiment.lateness_secs");
        assert_eq!(config.hourly_lateness(), TimeDelta::weeks(1));
    }
}
