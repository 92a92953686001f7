//! Dead letters: a record that a stage could not decode or process is copied, bytes untouched,
//! to the `dlq` topic with headers saying where it came from and why, and the stage moves on.

use std::time::SystemTime;

use rdkafka::message::{Header, Message, OwnedHeaders, OwnedMessage};

/// Header names on every dead letter, in the order written.
pub const DLQ_HEADERS: [&str; 6] =
    ["source_topic", "source_partition", "source_offset", "stage", "error", "failed_at_ms"];

/// One record to dead-letter: the original message and the reason.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub message: OwnedMessage,
    pub error: String,
}

impl DeadLetter {
    pub fn new(message: &OwnedMessage, error: impl Into<String>) -> Self {
        DeadLetter { message: message.clone(), error: error.into() }
    }

    /// Provenance headers; original headers are kept after ours.
    pub fn headers(&self, stage: &str) -> OwnedHeaders {
        let failed_at_ms =
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default();
        let values = [
            self.message.topic().to_string(),
            self.message.partition().to_string(),
            self.message.offset().to_string(),
            stage.to_string(),
            self.error.clone(),
            failed_at_ms.to_string(),
        ];
        let mut headers = OwnedHeaders::new_with_capacity(DLQ_HEADERS.len());
        for (key, value) in DLQ_HEADERS.iter().zip(values.iter()) {
            headers = headers.insert(Header { key, value: Some(value.as_bytes()) });
        }
        if let Some(original) = self.message.headers() {
            use rdkafka::message::Headers;
            for header in original.iter() {
                headers = headers.insert(header);
            }
        }
        headers
    }
}
