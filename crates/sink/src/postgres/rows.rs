//! The records of one table's part of a batch: decoded in batch order, each with its natural
//! key, whether that key repeats within the batch, and which messages were refused (to be
//! dead-lettered by index, so this can run on a worker thread without the batch).

use std::collections::{HashMap, HashSet};

use signalcraft_model::RecordCodec;

use super::{copy::CopyEncoder, tables::SinkTable};

/// One decoded record.
pub(crate) struct Row<T> {
    pub(crate) record: T,
    key: String,
    /// Index of its message in the batch.
    message: usize,
    /// Refused by the encoder.
    rejected: bool,
}

/// Decoded records of one table, plus the refusals.
pub(crate) struct Rows<T> {
    rows: Vec<Row<T>>,
    seen: HashSet<String>,
    /// (message index, why) of every refused message, in the order refused.
    pub(crate) refused: Vec<(usize, String)>,
}

impl<T: SinkTable> Rows<T> {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Rows { rows: Vec::with_capacity(capacity), seen: HashSet::with_capacity(capacity), refused: Vec::new() }
    }

    /// Decodes message `index`. Returns whether its natural key already occurred in this batch,
    /// or `None` when it could not be decoded (it is then refused).
    pub(crate) fn decode(&mut self, codec: &RecordCodec<T>, index: usize, payload: &[u8]) -> Option<bool> {
        match codec.decode(payload) {
            Ok(record) => {
                let key = record.natural_key();
                let repeated = !self.seen.insert(key.clone());
                self.rows.push(Row { record, key, message: index, rejected: false });
                Some(repeated)
            }
            Err(error) => {
                self.refused.push((index, error.to_string()));
                None
            }
        }
    }

    /// Encodes the row decoded last into `encoder`, or refuses it.
    pub(crate) fn encode_last(&mut self, encoder: &mut CopyEncoder) {
        if let Some(row) = self.rows.last_mut() {
            encode(row, encoder, &mut self.refused);
        }
    }

    /// Encodes every row not yet judged, so that refusals are known before deduplicating.
    /// Encoding is deterministic: a row accepted once is accepted again, refused once only.
    pub(crate) fn validate_all(&mut self) {
        let mut scratch = CopyEncoder::new(T::COLUMNS.len(), 0);
        for row in self.rows.iter_mut().filter(|row| !row.rejected) {
            encode(row, &mut scratch, &mut self.refused);
            scratch.take();
        }
    }

    /// The last accepted record of every natural key, in batch order: what an upsert writes.
    pub(crate) fn deduplicated(&self) -> impl Iterator<Item = &T> {
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(self.rows.len());
        for (position, row) in self.rows.iter().enumerate() {
            if !row.rejected {
                last.insert(&row.key, position);
            }
        }
        self.rows
            .iter()
            .enumerate()
            .filter(move |(position, row)| last.get(row.key.as_str()) == Some(position))
            .map(|(_, row)| &row.record)
    }
}

fn encode<T: SinkTable>(row: &mut Row<T>, encoder: &mut CopyEncoder, refused: &mut Vec<(usize, String)>) {
    encoder.begin_row();
    match row.record.encode(encoder) {
        Ok(()) => encoder.end_row(),
        Err(error) => {
            encoder.abandon_row();
            row.rejected = true;
            refused.push((row.message, error.to_string()));
        }
    }
}
