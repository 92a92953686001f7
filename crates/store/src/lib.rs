//! The store: everything that speaks PostgreSQL outside the sink's write path. It owns the
//! schema (the migrations), the private server started when no database is configured, the pool
//! every command connects through, and the adapters that give the traits ingest and process
//! define (watch list, high-water marks, series history) their PostgreSQL form, plus the alert
//! rules. The sink, the CLI and the coming API use it; it sits after process on the data path
//! and depends on nothing further down.
//!
//! # Layout
//! - [`migrations`]: [`migrate`], the embedded sqlx migrations (`migrations/`), applied on every
//!   start.
//! - [`private_postgres`]: a throwaway PostgreSQL server started from the machine's binaries,
//!   for one-machine runs without `DATABASE_URL` and for tests.
//! - [`pool`]: [`connect`], the pool from a URL or the private server, with the first
//!   connection checked and the migrations applied ([`DatabaseOptions`], [`PrivateServer`]).
//! - [`series_history`]: [`PgSeriesHistory`], the stored past of KPI series and tenants'
//!   articles, from which processors rebuild their state (`signalcraft_process::SeriesHistory`).
//! - [`watch_list`]: [`PgWatchList`], the watched businesses the ingestors read every cycle
//!   (`signalcraft_ingest::WatchListStore`), and the statements behind `signalcraft watch`.
//! - [`high_water_marks`]: [`PgHighWaterMarks`], GDELT's per-query high-water marks
//!   (`signalcraft_ingest::HighWaterMarks`).
//! - [`alert_rules`]: the threshold rules loaded into the alerting processor (at start and on a
//!   timer), the alerts already issued, and the statements behind `signalcraft rules`.
//! - [`row_counts`]: rows per pipeline table, for the run summary.
//! - [`source_status`]: [`PgPollLog`], each ingest source's last delivered poll
//!   (`signalcraft_ingest::PollLog`), and its reading for `signalcraft status`.
//! - [`open_alerts`]: open alerts per tenant and series, and the newest, for `signalcraft status`.

pub mod alert_rules;
pub mod high_water_marks;
pub mod migrations;
pub mod open_alerts;
pub mod pool;
pub mod private_postgres;
pub mod row_counts;
pub mod series_history;
pub mod source_status;
pub mod watch_list;

pub use high_water_marks::PgHighWaterMarks;
pub use migrations::migrate;
pub use pool::{connect, ConnectError, DatabaseOptions, PrivateServer};
pub use private_postgres::PrivatePostgres;
pub use series_history::PgSeriesHistory;
pub use source_status::PgPollLog;
pub use watch_list::PgWatchList;
