//! Where a value that covers a day (or a period starting on a day) sits on a KPI series: at
//! midnight UTC of that day, the same for every normaliser, so series from different sources
//! line up.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

/// Midnight UTC at the start of `day`: where daily and per-period values sit on a series.
pub(super) fn start_of_day(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}
