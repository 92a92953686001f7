//! Keys that moved to a new name. A configuration that still sets one is refused before it is
//! read, with the new name and where the old one was set: serde alone would say only "unknown
//! field", and an operator upgrading would have to guess where the setting went. New entries go
//! at the end of [`MOVED_KEYS`]; an entry stays as long as old configurations may be around.

use figment::{value::Value, Figment};

/// (old key, new key), full paths as written in the TOML file.
const MOVED_KEYS: &[(&str, &str)] = &[
    // Each processor's settings moved into its own table (`[process.<processor>]`).
    ("process.anomaly_threshold", "process.anomaly.threshold"),
    ("process.anomaly_max_series", "process.anomaly.max_series"),
    ("process.forecast_history_cap", "process.forecast.history_cap"),
    ("process.forecast_refit_every", "process.forecast.refit_every"),
    ("process.forecast_max_series", "process.forecast.max_series"),
    ("process.alert_open_score", "process.alerting.open_score"),
    ("process.alert_resolve_after", "process.alerting.resolve_after"),
    ("process.alert_cooldown_secs", "process.alerting.cooldown_secs"),
    ("process.warmup", "process.warmup.enabled"),
    ("process.warmup_max_points", "process.warmup.max_points"),
    ("process.warmup_sink_wait_ms", "process.warmup.sink_wait_ms"),
];

/// (key, why it is gone): keys that no longer set anything.
const RETIRED_KEYS: &[(&str, &str)] = &[(
    "process.rules_reload_secs",
    "alert rules are versioned input now, read before every batch that holds anomalies appended after what is \
         known (see README, \"Delivery guarantees\")",
)];

/// One message per retired key `figment` still sets, saying why it is gone and where it was set.
pub(super) fn retired_keys_set(figment: &Figment) -> Vec<String> {
    let mut messages = Vec::new();
    for &(key, why) in RETIRED_KEYS {
        let Ok(value) = figment.find_value(key) else { continue };
        let path: Vec<String> = key.split('.').map(str::to_string).collect();
        let source = super::source_of(figment.get_metadata(value.tag()), &path);
        messages.push(format!("{key}: no longer used: {why} (set in {source})"));
    }
    messages
}

/// One message per moved key `figment` still sets, e.g. "process.anomaly_threshold moved to
/// process.anomaly.threshold (set in environment variable SIGNALCRAFT_PROCESS__ANOMALY_THRESHOLD)".
pub(super) fn moved_keys_set(figment: &Figment) -> Vec<String> {
    let mut messages = Vec::new();
    for &(old, new) in MOVED_KEYS {
        let Ok(value) = figment.find_value(old) else { continue };
        // `process.warmup` is now the name of a table: a table there is the new key, and only a
        // value of the old key's type (a bool) is the old one. Anything else is left to serde,
        // which says what type it expected.
        let old_is_now_a_table = new.strip_prefix(old).is_some_and(|rest| rest.starts_with('.'));
        let is_old_key = match value {
            Value::Dict(..) => false,
            Value::Bool(..) => true,
            _ => !old_is_now_a_table,
        };
        if is_old_key {
            let path: Vec<String> = old.split('.').map(str::to_string).collect();
            let source = super::source_of(figment.get_metadata(value.tag()), &path);
            messages.push(format!("{old} moved to {new} (set in {source})"));
        }
    }
    messages
}
