//! What every processor's configuration check returns: [`InvalidConfig`], the bad key spelled as
//! the user wrote it (`process.anomaly.threshold`) and what is wrong with its value, so the
//! binary can refuse a bad configuration before anything starts. The config structs themselves
//! live next to their processors (`anomaly/config.rs`, `forecast/config.rs`, ...).

/// A configuration value that cannot work, with the key that holds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct InvalidConfig {
    /// Full path of the bad key, e.g. `process.anomaly.threshold`.
    pub key: String,
    /// What is wrong with its value.
    pub message: String,
}

impl InvalidConfig {
    /// The error for `{prefix}.{key}`.
    pub(crate) fn new(prefix: &str, key: &str, message: impl Into<String>) -> Self {
        InvalidConfig { key: format!("{prefix}.{key}"), message: message.into() }
    }
}
