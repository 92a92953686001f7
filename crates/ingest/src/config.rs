//! What every source's configuration check returns ([`InvalidConfig`]: the bad key, as the user
//! wrote it, and what is wrong with its value), and [`Secret`], how configuration holds an
//! access key so that it never reaches a log line, a `Debug` dump or a serialized config.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A configuration value that cannot work, with the key that holds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct InvalidConfig {
    /// Full path of the bad key, e.g. `ingest.fx.providers[1].bases[0]`.
    pub key: String,
    /// What is wrong with its value.
    pub message: String,
}

impl From<signalcraft_http::InvalidHttpPolicy> for InvalidConfig {
    fn from(error: signalcraft_http::InvalidHttpPolicy) -> Self {
        InvalidConfig { key: error.key, message: error.message }
    }
}

/// A secret from the configuration (an API access key). `Debug` shows `Secret(REDACTED)` and it
/// serializes as `"REDACTED"`, so neither a logged nor a dumped configuration carries it; only
/// [`Secret::expose`] gives the value, to the code that sends it upstream.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// What a secret shows instead of its value.
    pub const REDACTED: &'static str = "REDACTED";

    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the request that needs it. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether there is nothing but blanks: a variable set to "" is as good as unset.
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", Secret::REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(Secret::REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // `any`, not `string`: some formats refuse a non-string themselves, quoting the value.
        deserializer.deserialize_any(SecretVisitor)
    }
}

/// Accepts a string only, and refuses anything else without quoting it: serde's own "invalid
/// type" message would repeat the value, and a numeric key from an environment variable (which
/// figment reads as a number) would end up in the error text.
struct SecretVisitor;

impl SecretVisitor {
    fn refuse<E: serde::de::Error>(what: &str) -> Result<Secret, E> {
        Err(E::custom(format!("found {what}, expected a string (quote the value; it is not shown here)")))
    }
}

impl serde::de::Visitor<'_> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Secret, E> {
        Ok(Secret(value.to_string()))
    }

    fn visit_string<E: serde::de::Error>(self, value: String) -> Result<Secret, E> {
        Ok(Secret(value))
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Secret, E> {
        Self::refuse("a number")
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Secret, E> {
        Self::refuse("a number")
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Secret, E> {
        Self::refuse("a number")
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Secret, E> {
        Self::refuse("a boolean")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_shows_only_redacted() {
        let secret: Secret = serde_json::from_str(r#""k-123""#).expect("a string");
        assert_eq!(secret.expose(), "k-123");
        assert_eq!(format!("{secret:?}"), "Secret(REDACTED)");
        assert_eq!(serde_json::to_string(&secret).expect("serializes"), r#""REDACTED""#);
        assert!(Secret::new(" ").is_blank());
        let number = serde_json::from_str::<Secret>("987654").expect_err("not a string");
        assert!(!number.to_string().contains("987654"), "{number}");
    }
}
