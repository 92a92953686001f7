//! Alerting: anomaly scores and threshold rules open alerts (one open alert per dedupe key,
//! a cooldown after each), and their return to normal resolves them; every transition is a
//! notification on alerts.notifications. Rules are versioned input: each anomaly is evaluated
//! against the rule versions in force when it was appended to kpi.anomalies, which the stage
//! makes sure are known ([`crate::SideInput`]) before the batch is processed. The versions come
//! from `alert_rule_versions`, read into a shared [`RuleSet`]; the processor itself does no
//! I/O, and a replay of the same records gives the same alerts.
//!
//! # Layout
//! - [`config`]: [`AlertingConfig`], the `[process.alerting]` table.
//! - [`rules`]: [`AlertRule`], [`Comparison`], [`RuleVersion`] and the shared [`RuleSet`].
//! - [`processor`]: [`RaiseAlerts`], kpi.anomalies → alerts.notifications, and its [`RaiseAlertsConfig`].

pub mod config;
pub mod processor;
pub mod rules;

pub use config::AlertingConfig;
pub use processor::{RaiseAlerts, RaiseAlertsConfig};
pub use rules::{validate_pattern, AlertRule, Comparison, RuleSet, RuleVersion};
