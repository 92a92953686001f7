//! [`ForecastError`]: why a series got no forecast. Its own module because the forecaster
//! ([`super::model`]) and the base models it fits ([`super::bases`]) both fail with it, and
//! neither should have to import the other for it.

/// Why no forecast could be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    #[error("{timestamps} timestamps but {values} values")]
    LengthMismatch { timestamps: usize, values: usize },
    #[error("{have} points, at least {need} are needed")]
    TooShort { have: usize, need: usize },
    #[error("value {value} at position {index} is not a finite number")]
    NotFinite { index: usize, value: f64 },
    #[error("timestamps are not in ascending order at position {index}")]
    Unordered { index: usize },
    #[error("timestamps do not advance, so the series has no step")]
    NoStep,
    #[error("fitting {model}: {reason}")]
    Model { model: String, reason: String },
}
