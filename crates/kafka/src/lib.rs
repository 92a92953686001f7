//! The Kafka layer every stage shares: a keyed idempotent producer, an at-least-once consumer
//! loop that stores an offset only after the batch's effect is durable, the dead-letter queue,
//! consumer-lag metrics and the embedded broker used when no Kafka is configured.
//!
//! # Layout
//! - [`settings`]: broker address, client properties and the per-consumer knobs.
//! - [`producer`]: [`RecordProducer`], Avro-encoded keyed records, idempotent, acks=all.
//! - [`consumer`]: [`run_consumer`], the batch loop: consume → [`BatchHandler::handle`] →
//!   dead letters → store offsets; seeks to externally stored offsets on assignment.
//! - [`health`]: [`StageHealth`], a loop's progress as `/healthz` judges it (what "stuck" means).
//! - [`lag`]: [`LagMonitor`], lag in records and seconds from committed offsets, outside the loops.
//! - [`dlq`]: [`DeadLetter`] and the provenance headers it carries.
//! - [`embedded`]: [`EmbeddedBroker`], librdkafka's mock cluster on real TCP listeners.
//! - [`telemetry`]: log-and-count events and the Prometheus metrics they feed.

pub mod consumer;
pub mod dlq;
pub mod embedded;
pub mod health;
pub mod lag;
pub mod producer;
pub mod settings;
pub mod telemetry;

pub use consumer::{run_consumer, BatchHandler, HandlerError, OffsetStore};
pub use dlq::{DeadLetter, DLQ_HEADERS};
pub use embedded::EmbeddedBroker;
pub use health::StageHealth;
pub use lag::{ConsumerLag, LagMonitor, LagRound};
pub use producer::{ProduceError, RecordProducer};
pub use settings::{ConsumerSettings, KafkaSettings};
