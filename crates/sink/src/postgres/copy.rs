//! PostgreSQL binary COPY encoding: rows are written straight into the wire format the server
//! reads with `COPY ... FROM STDIN (FORMAT binary)`, with no text parsing on either side.

use chrono::{DateTime, NaiveDate, Utc};

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
/// Days between 1970-01-01 (Unix) and 2000-01-01 (PostgreSQL's epoch).
const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds between the two epochs.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// A value PostgreSQL cannot store (the row goes to the dead-letter topic instead).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RowError {
    #[error("column {0} contains a NUL byte, which PostgreSQL text cannot store")]
    NulInText(&'static str),
    #[error("column {column}: {problem}")]
    Invalid { column: &'static str, problem: String },
}

/// Accumulates rows in binary COPY format.
pub struct CopyEncoder {
    buf: Vec<u8>,
    columns: i16,
    row_start: usize,
    rows: usize,
}

impl CopyEncoder {
    /// An encoder for rows of `columns` fields, header written.
    pub fn new(columns: usize, capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity + 32);
        buf.extend_from_slice(SIGNATURE);
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags
        buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        let columns = i16::try_from(columns).unwrap_or(i16::MAX);
        CopyEncoder { buf, columns, row_start: 0, rows: 0 }
    }

    /// Starts a row; every column must then be written, in table order.
    pub fn begin_row(&mut self) {
        self.row_start = self.buf.len();
        self.buf.extend_from_slice(&self.columns.to_be_bytes());
    }

    /// Ends the row begun last.
    pub fn end_row(&mut self) {
        self.rows += 1;
    }

    /// Drops a row begun but not ended (a value was refused).
    pub fn abandon_row(&mut self) {
        self.buf.truncate(self.row_start);
    }

    fn field(&mut self, bytes: &[u8]) {
        // Values here are bounded by Kafka message sizes, far below i32::MAX.
        let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(bytes);
    }

    pub fn null(&mut self) {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
    }

    pub fn text(&mut self, column: &'static str, value: &str) -> Result<(), RowError> {
        if value.as_bytes().contains(&0) {
            return Err(RowError::NulInText(column));
        }
        self.field(value.as_bytes());
        Ok(())
    }

    pub fn opt_text(&mut self, column: &'static str, value: Option<&str>) -> Result<(), RowError> {
        match value {
            Some(value) => self.text(column, value),
            None => {
                self.null();
                Ok(())
            }
        }
    }

    pub fn opt_float8(&mut self, value: Option<f64>) {
        match value {
            Some(value) => self.float8(value),
            None => self.null(),
        }
    }

    /// `jsonb` in binary form: a version byte (1) then the JSON text.
    pub fn jsonb(&mut self, column: &'static str, json: &str) -> Result<(), RowError> {
        // JSON escapes NUL as \u0000, which jsonb refuses as well.
        if json.contains("\\u0000") {
            return Err(RowError::NulInText(column));
        }
        let mut bytes = Vec::with_capacity(json.len() + 1);
        bytes.push(1);
        bytes.extend_from_slice(json.as_bytes());
        self.field(&bytes);
        Ok(())
    }

    pub fn boolean(&mut self, value: bool) {
        self.field(&[u8::from(value)]);
    }

    pub fn float8(&mut self, value: f64) {
        self.field(&value.to_bits().to_be_bytes());
    }

    pub fn int8(&mut self, value: i64) {
        self.field(&value.to_be_bytes());
    }

    pub fn date(&mut self, value: NaiveDate) {
        let unix_days = value.signed_duration_since(NaiveDate::default()).num_days();
        let days = i32::try_from(unix_days).unwrap_or(i32::MAX).saturating_sub(PG_EPOCH_DAYS);
        self.field(&days.to_be_bytes());
    }

    pub fn timestamptz(&mut self, value: DateTime<Utc>) {
        self.field(&(value.timestamp_micros() - PG_EPOCH_MICROS).to_be_bytes());
    }

    pub fn opt_timestamptz(&mut self, value: Option<DateTime<Utc>>) {
        match value {
            Some(value) => self.timestamptz(value),
            None => self.null(),
        }
    }

    /// Rows ended so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Hands over the bytes encoded so far (header included on the first call) to be streamed
    /// to the server while later rows are still being encoded.
    pub fn take(&mut self) -> Vec<u8> {
        let capacity = self.buf.capacity();
        self.row_start = 0;
        std::mem::replace(&mut self.buf, Vec::with_capacity(capacity))
    }

    /// The rest of the COPY payload, trailer included.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }
}
