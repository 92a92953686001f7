//! The data model of signalcraft: the records that travel on every topic, the topic names, and the
//! Avro contract (schemas in `schemas/*.avsc`) with its wire format.
//!
//! Everything here is pure: no I/O, no Kafka, no database. Every other crate depends on this one
//! and on nothing further up the data path.
//!
//! # Layout
//! - [`topic`]: the topic names and which record each carries.
//! - [`records`]: one Rust struct per Avro record, each with its natural key.
//! - [`schema`]: the parsed schemas, embedded from `schemas/` at build time.
//! - [`codec`]: bytes ↔ records: Avro single-object encoding or Confluent framing.
//! - [`redact`]: scrubbing configured secrets, in all their encodings, out of logged and stored text.
//! - [`time`]: serde adapters between UTC timestamps / dates and Avro logical types.
//! - [`validate`]: what every record must satisfy (storable, usable, plausible); decoding applies it.

pub mod codec;
pub mod records;
pub mod redact;
pub mod schema;
pub mod time;
pub mod topic;
pub mod validate;

pub use codec::{DecodeError, EncodeError, RecordCodec, WireFormat};
pub use records::{
    AlertNotification, AlertTransition, BrandMetric, ForecastPoint, FxRate, KpiAnomaly, KpiForecast, KpiObservation,
    KpiPoint, NewsArticle, Record, ScoredArticle, Severity, WeatherKind, WeatherObservation,
};
pub use redact::Redactor;
pub use topic::Topic;
pub use validate::{Invalid, Plausibility, Validate};
