//! What every source's configuration check returns: the bad key, as the user wrote it, and
//! what is wrong with its value.

/// A configuration value that cannot work, with the key that holds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct InvalidConfig {
    /// Full path of the bad key, e.g. `ingest.fx.providers[1].bases[0]`.
    pub key: String,
    /// What is wrong with its value.
    pub message: String,
}
