//! Bytes ↔ records. Two framings of one Avro datum are spoken on every topic:
//!
//! - Avro single-object encoding (`C3 01` + 8-byte little-endian CRC-64-AVRO fingerprint of the
//!   writer schema), written when no schema registry is configured;
//! - Confluent framing (`00` + 4-byte big-endian schema id), written when one is.
//!
//! Readers accept both and refuse anything else with a [`DecodeError`] that the consumer loop
//! turns into a dead letter. Decoding is strict: the datum must use every byte of the payload,
//! and the record must pass [`crate::validate`] against the codec's plausibility window.

use std::{collections::HashSet, fmt, io::Cursor, marker::PhantomData, sync::OnceLock};

use apache_avro::{from_avro_datum, from_value, to_avro_datum, to_value};

use crate::{Plausibility, Record, Topic};

/// Fingerprints are computed once per topic (schema canonicalisation is not free).
static FINGERPRINTS: [OnceLock<[u8; 8]>; Topic::ALL.len()] = [const { OnceLock::new() }; Topic::ALL.len()];

fn fingerprint_of<R: Record>() -> [u8; 8] {
    // Topic discriminants are declared in the order of Topic::ALL.
    *FINGERPRINTS[R::TOPIC as usize].get_or_init(|| crate::schema::fingerprint(R::schema()))
}

/// First two bytes of an Avro single-object encoded message.
pub const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];
/// First byte of a Confluent-framed message.
pub const CONFLUENT_MAGIC: u8 = 0x00;

/// How this process frames the records it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// Avro single-object encoding (no registry needed).
    SingleObject,
    /// Confluent schema-registry framing with the id the registry gave our schema.
    Confluent { schema_id: u32 },
}

/// Why a payload could not be turned into a record. The text goes into the DLQ `error` header.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("empty payload")]
    Empty,
    #[error("unknown framing: payload starts with {0}; expected Avro single-object (c3 01) or Confluent (00)")]
    UnknownFraming(String),
    #[error("payload of {0} bytes is shorter than its {1} header")]
    Truncated(usize, &'static str),
    #[error("writer schema fingerprint {0} is not a known {1} schema")]
    UnknownFingerprint(String, &'static str),
    #[error("schema registry id {0} is not a known {1} schema (is kafka.schema_registry_url configured?)")]
    UnknownSchemaId(u32, &'static str),
    #[error("invalid Avro datum for {0}: {1}")]
    Avro(&'static str, String),
    #[error("{0} trailing bytes after the Avro datum of {1}")]
    TrailingBytes(usize, &'static str),
    /// A well-formed record with a value no stage may act on. Fields carry their column names
    /// (schemas and tables name them alike); the topic is in the dead letter's headers.
    #[error("column {field}: {problem}")]
    Invalid { record: &'static str, field: String, problem: String },
}

/// Why a record could not be encoded (a defect: our own records always fit our own schemas).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode {record} as Avro: {message}")]
pub struct EncodeError {
    record: &'static str,
    message: String,
}

struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Encodes and decodes one record type. Cheap to clone; holds no I/O.
#[derive(Debug)]
pub struct RecordCodec<R: Record> {
    format: WireFormat,
    fingerprint: [u8; 8],
    known_schema_ids: HashSet<u32>,
    plausibility: Plausibility,
    _record: PhantomData<fn() -> R>,
}

// Not derived: the derive would demand `R: Clone`, and records need not be.
impl<R: Record> Clone for RecordCodec<R> {
    fn clone(&self) -> Self {
        RecordCodec {
            format: self.format,
            fingerprint: self.fingerprint,
            known_schema_ids: self.known_schema_ids.clone(),
            plausibility: self.plausibility,
            _record: PhantomData,
        }
    }
}

impl<R: Record> RecordCodec<R> {
    /// A codec writing `format`. In Confluent mode the writer's schema id is also accepted on read.
    pub fn new(format: WireFormat) -> Self {
        let fingerprint = fingerprint_of::<R>();
        let mut known_schema_ids = HashSet::new();
        if let WireFormat::Confluent { schema_id } = format {
            known_schema_ids.insert(schema_id);
        }
        let plausibility = Plausibility::for_topic(R::TOPIC);
        RecordCodec { format, fingerprint, known_schema_ids, plausibility, _record: PhantomData }
    }

    /// Judges decoded timestamps by `window` instead of the topic's default.
    pub fn with_plausibility(mut self, window: Plausibility) -> Self {
        self.plausibility = window;
        self
    }

    /// The window decoded timestamps are judged by.
    pub fn plausibility(&self) -> Plausibility {
        self.plausibility
    }

    /// Whether `record` is one this codec's readers accept: what a producer checks before
    /// sending, so that it does not emit what every reader would refuse.
    pub fn validate(&self, record: &R) -> Result<(), DecodeError> {
        record.validate_at(&self.plausibility, chrono::Utc::now()).map_err(|invalid| DecodeError::Invalid {
            record: Self::record_name(),
            field: invalid.field,
            problem: invalid.problem,
        })
    }

    /// Also accept Confluent-framed payloads carrying `schema_id` (an id the registry maps to
    /// this record's schema).
    pub fn accept_schema_id(mut self, schema_id: u32) -> Self {
        self.known_schema_ids.insert(schema_id);
        self
    }

    /// The CRC-64-AVRO (Rabin) fingerprint of the writer schema, little-endian as framed.
    pub fn fingerprint(&self) -> [u8; 8] {
        self.fingerprint
    }

    fn record_name() -> &'static str {
        R::TOPIC.name()
    }

    /// Frames and encodes one record.
    pub fn encode(&self, record: &R) -> Result<Vec<u8>, EncodeError> {
        let err = |e: apache_avro::Error| EncodeError { record: Self::record_name(), message: e.to_string() };
        let value = to_value(record).map_err(err)?.resolve(R::schema()).map_err(err)?;
        let datum = to_avro_datum(R::schema(), value).map_err(err)?;
        let mut out = Vec::with_capacity(datum.len() + 10);
        match self.format {
            WireFormat::SingleObject => {
                out.extend_from_slice(&SINGLE_OBJECT_MAGIC);
                out.extend_from_slice(&self.fingerprint);
            }
            WireFormat::Confluent { schema_id } => {
                out.push(CONFLUENT_MAGIC);
                out.extend_from_slice(&schema_id.to_be_bytes());
            }
        }
        out.extend_from_slice(&datum);
        Ok(out)
    }

    /// Decodes one payload in either framing.
    pub fn decode(&self, payload: &[u8]) -> Result<R, DecodeError> {
        let name = Self::record_name();
        let datum = match payload {
            [] => return Err(DecodeError::Empty),
            [0xC3, 0x01, rest @ ..] => {
                if rest.len() < 8 {
                    return Err(DecodeError::Truncated(payload.len(), "single-object"));
                }
                let (fingerprint, datum) = rest.split_at(8);
                if fingerprint != self.fingerprint {
                    return Err(DecodeError::UnknownFingerprint(Hex(fingerprint).to_string(), name));
                }
                datum
            }
            [CONFLUENT_MAGIC, rest @ ..] => {
                if rest.len() < 4 {
                    return Err(DecodeError::Truncated(payload.len(), "Confluent"));
                }
                let (id, datum) = rest.split_at(4);
                let id = u32::from_be_bytes([id[0], id[1], id[2], id[3]]);
                if !self.known_schema_ids.contains(&id) {
                    return Err(DecodeError::UnknownSchemaId(id, name));
                }
                datum
            }
            other => {
                let head = &other[..other.len().min(4)];
                return Err(DecodeError::UnknownFraming(Hex(head).to_string()));
            }
        };
        let mut cursor = Cursor::new(datum);
        let value =
            from_avro_datum(R::schema(), &mut cursor, None).map_err(|e| DecodeError::Avro(name, e.to_string()))?;
        let used = usize::try_from(cursor.position()).unwrap_or(usize::MAX);
        if used < datum.len() {
            return Err(DecodeError::TrailingBytes(datum.len() - used, name));
        }
        let record = from_value::<R>(&value).map_err(|e| DecodeError::Avro(name, e.to_string()))?;
        self.validate(&record)?;
        Ok(record)
    }
}

#[cfg(test)]
mod tests;
