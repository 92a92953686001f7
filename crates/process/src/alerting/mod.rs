//! Alerting: anomaly scores and threshold rules open alerts (one open alert per dedupe key,
//! a cooldown after each), and their return to normal resolves them; every transition is a
//! notification on alerts.notifications. Rules come from the `alert_rules` table, reloaded by
//! the binary into a shared [`RuleSet`]; the processor itself does no I/O.
//!
//! # Layout
//! - [`config`]: [`AlertingConfig`], the `[process.alerting]` table (and how often the rules are
//!   reloaded).
//! - [`rules`]: [`AlertRule`], [`Comparison`] and the shared [`RuleSet`].
//! - [`processor`]: [`RaiseAlerts`], kpi.anomalies → alerts.notifications, and its [`RaiseAlertsConfig`].

pub mod config;
pub mod processor;
pub mod rules;

pub use config::AlertingConfig;
pub use processor::{RaiseAlerts, RaiseAlertsConfig};
pub use rules::{validate_pattern, AlertRule, Comparison, RuleSet};
