//! The `signalcraft` binary as a library: configuration, the roles a process runs, the
//! operational HTTP endpoints and the run summary. `main.rs` only parses the command line.
//!
//! # Layout
//! - [`config`]: TOML file + `SIGNALCRAFT_*` environment overrides; errors name the key.
//! - [`app`]: `run`: embedded stand-ins when nothing is configured, roles as tasks, shutdown.
//! - [`marks`]: GDELT's per-query high-water marks in PostgreSQL.
//! - [`history`]: the stored past of KPI series, from which processors rebuild their state.
//! - [`http`]: `/metrics`, `/healthz`, `/readyz`.
//! - [`progress`]: "drained" detection for replay runs, and the closing summary.
//! - [`rules`]: loads `alert_rules` into the alerting processor, at start and on a timer.
//! - [`registry`]: registers our schemas with a Confluent schema registry when one is configured.

pub mod app;
pub mod config;
pub mod history;
pub mod http;
pub mod marks;
pub mod progress;
pub mod registry;
pub mod rules;

pub use app::{run, Roles, RunOptions};
pub use config::Config;
