//! The keyed, idempotent producer. Every record is Avro-encoded with the configured framing and
//! keyed by its [`Record::kafka_key`], so per-key order holds within a partition; idempotence
//! (acks=all, bounded in-flight) keeps broker-side retries from duplicating or reordering.

use std::time::Duration;

use futures::future::join_all;
use rdkafka::{
    error::KafkaError,
    message::OwnedHeaders,
    producer::{FutureProducer, FutureRecord, Producer},
    util::Timeout,
};
use signalcraft_model::{EncodeError, Record, RecordCodec, Topic};

use crate::{dlq::DeadLetter, settings::KafkaSettings, telemetry};

/// A send that did not reach the broker.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("delivery to {topic} failed: {source}")]
    Delivery { topic: String, source: KafkaError },
    #[error("cannot create the Kafka producer: {0}")]
    Create(KafkaError),
}

/// Cheap to clone: clones share one librdkafka producer.
#[derive(Clone)]
pub struct RecordProducer {
    producer: FutureProducer,
    settings: KafkaSettings,
}

impl RecordProducer {
    /// An idempotent producer for `settings`; `role` names it in client ids and logs.
    pub fn new(settings: &KafkaSettings, role: &str) -> Result<Self, ProduceError> {
        let mut config = settings.client_config(role);
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set("message.timeout.ms", "60000");
        // Operator-set properties win over the defaults above.
        for (key, value) in &settings.properties {
            config.set(key, value);
        }
        let producer: FutureProducer = config.create().map_err(ProduceError::Create)?;
        crate::telemetry::producer_started();
        Ok(RecordProducer { producer, settings: settings.clone() })
    }

    /// Sends every valid record and waits until the broker has acknowledged all of them; returns
    /// how many were sent. A record every reader would refuse (see `signalcraft_model::validate`)
    /// is logged and skipped rather than sent to be dead-lettered downstream. On error some
    /// records may have landed: callers retry the whole slice, and natural keys make that safe.
    pub async fn send_all<R: Record>(&self, records: &[R]) -> Result<usize, ProduceError> {
        let codec = RecordCodec::<R>::new(self.settings.wire_format(R::TOPIC))
            .with_plausibility(self.settings.plausibility(R::TOPIC));
        let mut encoded = Vec::with_capacity(records.len());
        for record in records {
            if let Err(error) = codec.validate(record) {
                tracing::warn!(
                    topic = R::TOPIC.name(), key = %record.kafka_key(), %error,
                    "not producing a record its readers would refuse"
                );
                continue;
            }
            encoded.push((record.kafka_key(), codec.encode(record)?));
        }
        let topic = R::TOPIC.name();
        let sends = encoded.iter().map(|(key, payload)| {
            self.producer.send(FutureRecord::to(topic).key(key).payload(payload), Timeout::Never)
        });
        for result in join_all(sends).await {
            result.map_err(|(source, _)| ProduceError::Delivery { topic: topic.to_string(), source })?;
        }
        telemetry::RecordsProduced { topic: R::TOPIC, count: encoded.len() }.emit();
        Ok(encoded.len())
    }

    /// Copies each dead letter to the `dlq` topic with its provenance headers and waits for the acks.
    pub async fn send_dead_letters(&self, stage: &str, letters: &[DeadLetter]) -> Result<(), ProduceError> {
        use rdkafka::Message;
        let topic = Topic::Dlq.name();
        let sends = letters.iter().map(|letter| {
            let headers: OwnedHeaders = letter.headers(stage);
            let mut record = FutureRecord::<[u8], [u8]>::to(topic).headers(headers);
            if let Some(key) = letter.message.key() {
                record = record.key(key);
            }
            record = record.payload(letter.message.payload().unwrap_or_default());
            self.producer.send(record, Timeout::Never)
        });
        for result in join_all(sends).await {
            result.map_err(|(source, _)| ProduceError::Delivery { topic: topic.to_string(), source })?;
        }
        for letter in letters {
            telemetry::DeadLettered { stage, source_topic: letter.message.topic(), error: &letter.error }.emit();
        }
        Ok(())
    }

    /// Waits for every queued message to be delivered (used on shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.flush(Timeout::After(timeout))
    }
}
