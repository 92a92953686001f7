//! The `signalcraft` binary as a library: configuration, the roles a process runs, the
//! operational HTTP endpoints, the run summary and the archive backfill. `main.rs` only parses
//! the command line. What speaks PostgreSQL (pool, migrations, adapters) is `signalcraft_store`'s.
//!
//! # Layout
//! - [`config`]: TOML file + `SIGNALCRAFT_*` environment overrides; errors name the key, and a
//!   key that moved is refused with its new name (`config/moved.rs`).
//! - [`infrastructure`]: what every command stands on, brought up in one place: the cluster (or
//!   an embedded broker), its id, the schema registry, PostgreSQL (or a private server), the
//!   HTTP listener.
//! - [`app`]: `run`: the roles as supervised tasks, started from plain lists of upstreams,
//!   processors and sinks; shutdown; the replay run's summary.
//! - [`backfill`]: `backfill weather`: the Open-Meteo archive onto raw.weather, with a progress bar.
//! - [`import`]: `import kpi`: a tenant's KPI history from CSV onto raw.kpi, chunk by
//!   acknowledged chunk, resumable.
//! - [`http`]: `/metrics`, `/healthz` (stuck stages, dead tasks), `/readyz` (broker and database
//!   checked on each call).
//! - [`tasks`]: supervision of every spawned task: restarted or ending the run, never silent.
//! - [`progress`]: "drained" detection for replay runs, and the closing summary.
//! - [`status`]: `signalcraft status`: lag, sources' last success, dead letters, open alerts,
//!   as tables or JSON, each part read on its own.
//! - [`serve`]: the tenant API in this process: `signalcraft serve`, the `serve` role of `run`,
//!   the token signer, the quick start's viewer tokens.
//! - [`secrets`]: every configured secret in one redactor, and the log writer that applies it.
//! - [`rule_commands`]: `signalcraft rules`: a typed rule checked naming the option, rules printed.
//! - [`terminal`]: limits on operator-typed text, and escaping it for a terminal.
//! - [`watchlist`]: `signalcraft watch`: a typed business checked naming the option, businesses
//!   printed.
//! - [`registry`]: registers our schemas with a Confluent schema registry when one is configured.
//! - [`chaos`]: `signalcraft chaos` (hidden, for operators and the test suite): roles killed at
//!   seeded points around a broker process and a real PostgreSQL, the result held to an
//!   uninterrupted run; and the end-to-end latency bench.

pub mod app;
pub mod backfill;
pub mod chaos;
pub mod config;
pub mod geocoding;
pub mod http;
pub mod import;
pub mod infrastructure;
pub mod progress;
pub mod registry;
pub mod rule_commands;
pub mod secrets;
pub mod serve;
pub mod status;
pub mod tasks;
pub mod terminal;
pub mod watchlist;

pub use app::{run, Roles, RunOptions};
pub use config::Config;
