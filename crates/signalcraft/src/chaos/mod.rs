//! The chaos harness and the end-to-end latency bench (issue #15): the pipeline's roles run as
//! separate processes of the real binary around a broker process that outlives them and a real
//! PostgreSQL; a seeded generator is the partner producing onto the raw topics.
//!
//! # Layout
//! - [`generator`]: the deterministic, seeded events across `raw.kpi`, `raw.fx`, `raw.weather`,
//!   `raw.brand_metrics` and `raw.news`, and the rows they must become.
//! - [`processes`]: the broker process, the role processes (start, SIGKILL, SIGTERM, peak RSS and
//!   CPU from /proc), the PostgreSQL clusters.
//! - [`checks`]: what the stored content is held to: nothing lost, nothing duplicated, rollups
//!   equal to their `GROUP BY`, every table equal to an uninterrupted run's.
//! - [`harness`]: one chaos run: the uninterrupted reference beside the killed pipeline, the
//!   seeded kill schedule, the PostgreSQL restarts, the settling and the report.
//! - [`latency`]: produce → row visible in `kpi_points` and `kpi_hourly` at fixed rates.

pub mod checks;
pub mod generator;
pub mod harness;
pub mod latency;
pub mod processes;

pub use harness::{run, ChaosOptions, ChaosReport};
