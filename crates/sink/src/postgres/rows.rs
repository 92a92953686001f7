//! The records of one table's part of a batch: decoded in batch order, each with its natural
//! key, whether that key repeats within the batch, and which messages were refused (to be
//! dead-lettered by index, so this can run on a worker thread without the batch).

use std::{
    collections::{HashMap, HashSet},
    hash::{BuildHasher, BuildHasherDefault, DefaultHasher},
};

use signalcraft_model::RecordCodec;

use super::{copy::CopyEncoder, tables::SinkTable};

/// One decoded record.
pub(crate) struct Row<T> {
    pub(crate) record: T,
    /// Index of its message in the batch.
    message: usize,
    /// Refused by the encoder.
    rejected: bool,
}

/// Decoded records of one table, plus the refusals.
pub(crate) struct Rows<T> {
    rows: Vec<Row<T>>,
    /// Hashes of the natural keys seen. A collision only sends the batch down the (correct,
    /// slower) upsert path, and it saves allocating every key on the fast path.
    seen: HashSet<u64, BuildHasherDefault<IdentityHasher>>,
    /// (message index, why) of every refused message, in the order refused.
    pub(crate) refused: Vec<(usize, String)>,
}

impl<T: SinkTable> Rows<T> {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Rows {
            rows: Vec::with_capacity(capacity),
            seen: HashSet::with_capacity_and_hasher(capacity, BuildHasherDefault::default()),
            refused: Vec::new(),
        }
    }

    /// Decodes message `index`. Returns whether its natural key already occurred in this batch,
    /// or `None` when it could not be decoded (it is then refused).
    pub(crate) fn decode(&mut self, codec: &RecordCodec<T>, index: usize, payload: &[u8]) -> Option<bool> {
        match codec.decode(payload) {
            Ok(record) => {
                let repeated = !self.seen.insert(KEY_HASHER.hash_one(KeyOf(&record)));
                self.rows.push(Row { record, message: index, rejected: false });
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
    pub(crate) fn deduplicated(&self) -> Vec<&T> {
        // The exact keys, not their hashes: this path must never merge two different facts.
        let keys: Vec<String> = self.rows.iter().map(|row| row.record.natural_key()).collect();
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(self.rows.len());
        for (position, row) in self.rows.iter().enumerate() {
            if !row.rejected {
                last.insert(&keys[position], position);
            }
        }
        self.rows
            .iter()
            .enumerate()
            .filter(|(position, _)| last.get(keys[*position].as_str()) == Some(position))
            .map(|(_, row)| &row.record)
            .collect()
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

/// Hashes a record's natural key without building its string.
struct KeyOf<'a, T>(&'a T);

impl<T: SinkTable> std::hash::Hash for KeyOf<'_, T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash_natural_key(state);
    }
}

/// Fixed keys: the hashes only need to be equal for equal keys within one process.
const KEY_HASHER: BuildHasherDefault<DefaultHasher> = BuildHasherDefault::new();

/// The set's values are already hashes.
#[derive(Default)]
struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}
