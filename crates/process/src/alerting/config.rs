//! `[process.alerting]`: what an operator sets for the alerting processor. Plain serde data, kept apart from the runtime
//! [`RaiseAlertsConfig`]; [`AlertingConfig::validate`] names the offending key and
//! [`AlertingConfig::raise_alerts_config`] builds the runtime settings.

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use super::processor::RaiseAlertsConfig;
use crate::config::InvalidConfig;

/// Longest `cooldown_secs`: 366 days, as for a rule's duration. Far beyond any useful quiet
/// time, and well inside what a [`TimeDelta`] holds.
const MAX_COOLDOWN_SECS: u64 = 366 * 24 * 3600;

/// `[process.alerting]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// An anomaly score at or above this opens an alert; a score in [0, 1]. Default 0.49845, the
    /// anomaly flag's threshold: an alert opens on a flagged point. Raise it to trade missed
    /// anomalies for fewer false alerts; the NAB bench prints the false alerts per series per
    /// week at each open score (README, "Benchmarks").
    #[serde(default = "default_open_score")]
    pub open_score: f64,
    /// Consecutive normal points that resolve an open alert. At least 1. Default 3.
    #[serde(default = "default_resolve_after")]
    pub resolve_after: u32,
    /// After an alert resolves, its key stays quiet this long (seconds of event time). At most
    /// 366 days. Default 3600.
    #[serde(default = "default_cooldown_secs")]
    pub cooldown_secs: u64,
}

fn default_open_score() -> f64 {
    RaiseAlertsConfig::default().open_score
}
fn default_resolve_after() -> u32 {
    RaiseAlertsConfig::default().resolve_after
}
fn default_cooldown_secs() -> u64 {
    RaiseAlertsConfig::default().cooldown.num_seconds().unsigned_abs()
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            open_score: default_open_score(),
            resolve_after: default_resolve_after(),
            cooldown_secs: default_cooldown_secs(),
        }
    }
}

impl AlertingConfig {
    /// Checks serde cannot express; `prefix` is where the table sits (`process.alerting`).
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidConfig> {
        if !(0.0..=1.0).contains(&self.open_score) {
            return Err(InvalidConfig::new(
                prefix,
                "open_score",
                format!("{} is not a score in [0, 1]", self.open_score),
            ));
        }
        if self.resolve_after == 0 {
            return Err(InvalidConfig::new(prefix, "resolve_after", "must be at least 1"));
        }
        if self.cooldown_secs > MAX_COOLDOWN_SECS {
            return Err(InvalidConfig::new(
                prefix,
                "cooldown_secs",
                format!("{} is above {MAX_COOLDOWN_SECS} (366 days)", self.cooldown_secs),
            ));
        }
        Ok(())
    }

    /// The runtime settings of [`super::RaiseAlerts`]. A cooldown beyond what
    /// [`AlertingConfig::validate`] allows is held at that bound.
    pub fn raise_alerts_config(&self) -> RaiseAlertsConfig {
        let cooldown_secs = i64::try_from(self.cooldown_secs.min(MAX_COOLDOWN_SECS)).unwrap_or(i64::MAX);
        RaiseAlertsConfig {
            open_score: self.open_score,
            resolve_after: self.resolve_after,
            cooldown: TimeDelta::try_seconds(cooldown_secs).unwrap_or(TimeDelta::MAX),
            ..Default::default()
        }
    }

    /// The alerting processor this table configures, evaluating `rules`.
    pub fn build(&self, rules: super::RuleSet) -> super::RaiseAlerts {
        super::RaiseAlerts::new(self.raise_alerts_config(), rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enormous_cooldown_is_refused_by_name_and_never_overflows() {
        let config = AlertingConfig { cooldown_secs: u64::MAX, ..Default::default() };
        let error = config.validate("process.alerting").expect_err("beyond 366 days");
        assert_eq!(error.key, "process.alerting.cooldown_secs");
        assert_eq!(config.raise_alerts_config().cooldown, TimeDelta::days(366));
    }

    #[test]
    fn the_defaults_are_the_processor_defaults() {
        let config = AlertingConfig::default().raise_alerts_config();
        assert_eq!(config, RaiseAlertsConfig::default());
        assert_eq!(AlertingConfig::default().validate("process.alerting"), Ok(()));
    }
}
