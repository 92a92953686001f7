//! Monthly partitions of the tables that grow with every point (`kpi_points`, `kpi_anomalies`):
//! created ahead of time by the sink role's maintenance, and on demand for a batch holding a
//! month that has none yet (a backfill, a partner's history), so a row never waits for a
//! partition and is never refused for want of one.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use sqlx::PgPool;

/// The tables partitioned by month, by name.
pub const PARTITIONED_TABLES: [&str; 2] = ["kpi_points", "kpi_anomalies"];

/// Months created ahead of the current one by [`ensure_ahead`].
pub const MONTHS_AHEAD: u32 = 2;

/// The first day of `at`'s UTC month.
pub fn month_of(at: DateTime<Utc>) -> NaiveDate {
    at.date_naive().with_day(1).unwrap_or(at.date_naive())
}

/// Whether `error` is PostgreSQL refusing a row because its table has no partition for it.
pub fn is_missing_partition(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if db.code().as_deref() == Some("23514") && db.message().starts_with("no partition of relation"))
}

/// Creates the partitions of `table` for `months` (first days of UTC months) that do not exist.
/// Returns how many it created. `table` must be one of [`PARTITIONED_TABLES`].
pub async fn ensure_months(pool: &PgPool, table: &str, months: &BTreeSet<NaiveDate>) -> Result<usize, sqlx::Error> {
    debug_assert!(PARTITIONED_TABLES.contains(&table), "{table} is not partitioned");
    let mut created = 0;
    for &month in months {
        let made: bool = sqlx::query_scalar("SELECT signalcraft_ensure_month_partition($1, $2)")
            .bind(table)
            .bind(month)
            .fetch_one(pool)
            .await?;
        if made {
            tracing::info!(table, month = %month.format("%Y-%m"), "monthly partition created");
            created += 1;
        }
    }
    Ok(created)
}

/// Creates the partitions of every partitioned table for `today`'s month and the
/// [`MONTHS_AHEAD`] after it, so the points of the coming weeks find theirs made.
pub async fn ensure_ahead(pool: &PgPool, today: NaiveDate) -> Result<usize, sqlx::Error> {
    let first = today.with_day(1).unwrap_or(today);
    let months: BTreeSet<NaiveDate> =
        (0..=MONTHS_AHEAD).filter_map(|ahead| first.checked_add_months(Months::new(ahead))).collect();
    let mut created = 0;
    for table in PARTITIONED_TABLES {
        created += ensure_months(pool, table, &months).await?;
    }
    Ok(created)
}

/// The month a partition named `<table>_pYYYYMM` holds, if `name` is one of `table`'s.
pub fn partition_month(table: &str, name: &str) -> Option<NaiveDate> {
    let digits = name.strip_prefix(table)?.strip_prefix("_p")?;
    if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = digits[..4].parse().ok()?;
    let month: u32 = digits[4..].parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_read_back_as_their_month() {
        assert_eq!(partition_month("kpi_points", "kpi_points_p202402"), NaiveDate::from_ymd_opt(2024, 2, 1));
        assert_eq!(partition_month("kpi_points", "kpi_points_p195301"), NaiveDate::from_ymd_opt(1953, 1, 1));
        assert_eq!(partition_month("kpi_points", "kpi_points_p202413"), None);
        assert_eq!(partition_month("kpi_points", "kpi_anomalies_p202402"), None);
        assert_eq!(partition_month("kpi_points", "kpi_points_p2024021"), None);
    }

    #[test]
    fn a_month_is_its_first_utc_day() {
        let at = DateTime::parse_from_rfc3339("2024-02-29T23:59:59Z").expect("instant").with_timezone(&Utc);
        assert_eq!(month_of(at), NaiveDate::from_ymd_opt(2024, 2, 1).expect("date"));
    }
}
