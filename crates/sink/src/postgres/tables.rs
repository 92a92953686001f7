//! How each record type lands in its table: the columns in COPY order, the natural-key columns
//! the upsert conflicts on, and the row encoder. Adding a sink for a topic means one impl here
//! and one migration.

use std::hash::{Hash, Hasher};

use signalcraft_model::{FxRate, KpiPoint, Record};

use super::copy::{CopyEncoder, RowError};

/// A record type with a table of its own.
pub trait SinkTable: Record {
    /// Target table.
    const TABLE: &'static str;
    /// Every column, in the order [`SinkTable::encode`] writes them.
    const COLUMNS: &'static [&'static str];
    /// The natural key: the table's primary key.
    const KEY_COLUMNS: &'static [&'static str];

    /// Writes this record's columns into the row begun on `row`.
    fn encode(&self, row: &mut CopyEncoder) -> Result<(), RowError>;

    /// Feeds the natural key's fields to `state`: equal for records with equal natural keys,
    /// without formatting the key string.
    fn hash_natural_key<H: Hasher>(&self, state: &mut H);
}

impl SinkTable for FxRate {
    const TABLE: &'static str = "fx_rates";
    const COLUMNS: &'static [&'static str] =
        &["base", "quote", "rate_date", "rate", "provider", "published_at", "fetched_at"];
    const KEY_COLUMNS: &'static [&'static str] = &["base", "quote", "rate_date"];

    fn encode(&self, row: &mut CopyEncoder) -> Result<(), RowError> {
        // Partners may produce onto raw.fx directly: refuse what the table's CHECKs would, row by
        // row, rather than failing the whole batch in the database.
        for (column, code) in [("base", &self.base), ("quote", &self.quote)] {
            if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(RowError::Invalid { column, problem: format!("`{code}` is not an ISO-4217 code") });
            }
        }
        if !self.rate.is_finite() {
            return Err(RowError::Invalid { column: "rate", problem: format!("{} is not a finite number", self.rate) });
        }
        row.text("base", &self.base)?;
        row.text("quote", &self.quote)?;
        row.date(self.rate_date);
        row.float8(self.rate);
        row.text("provider", &self.provider)?;
        row.opt_timestamptz(self.published_at);
        row.timestamptz(self.fetched_at);
        Ok(())
    }

    fn hash_natural_key<H: Hasher>(&self, state: &mut H) {
        (&self.base, &self.quote, self.rate_date).hash(state);
    }
}

impl SinkTable for KpiPoint {
    const TABLE: &'static str = "kpi_points";
    const COLUMNS: &'static [&'static str] = &["series_id", "ts", "tenant_id", "metric", "unit", "value", "source"];
    const KEY_COLUMNS: &'static [&'static str] = &["series_id", "ts"];

    fn encode(&self, row: &mut CopyEncoder) -> Result<(), RowError> {
        row.text("series_id", &self.series_id)?;
        row.timestamptz(self.ts);
        row.opt_text("tenant_id", self.tenant_id.as_deref())?;
        row.text("metric", &self.metric)?;
        row.text("unit", &self.unit)?;
        row.float8(self.value);
        row.text("source", &self.source)?;
        Ok(())
    }

    fn hash_natural_key<H: Hasher>(&self, state: &mut H) {
        (&self.series_id, self.ts.timestamp_micros()).hash(state);
    }
}

/// `INSERT ... SELECT ... ON CONFLICT` from the staging table into the target. A conflicting row
/// is rewritten only when a value differs, so replays leave no dead tuples behind.
pub fn upsert_sql<T: SinkTable>(staging: &str) -> String {
    let columns = T::COLUMNS.join(", ");
    let keys = T::KEY_COLUMNS.join(", ");
    let values: Vec<&str> = T::COLUMNS.iter().copied().filter(|c| !T::KEY_COLUMNS.contains(c)).collect();
    let set: Vec<String> = values.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect();
    let old: Vec<String> = values.iter().map(|c| format!("{}.{c}", T::TABLE)).collect();
    let new: Vec<String> = values.iter().map(|c| format!("EXCLUDED.{c}")).collect();
    format!(
        "INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging} \
         ON CONFLICT ({keys}) DO UPDATE SET {set} WHERE ({old}) IS DISTINCT FROM ({new})",
        table = T::TABLE,
        set = set.join(", "),
        old = old.join(", "),
        new = new.join(", "),
    )
}
