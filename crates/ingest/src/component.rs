//! How an upstream's configuration becomes running sources, so the binary starts every
//! upstream the same way from one list ([`crate::registry::IngestConfig::components`]): a
//! [`SourceComponent`] is a source's `[ingest.<key>]` table that can point itself at recorded
//! payloads and build its [`SourceLoop`]s from what every source may use ([`SourceContext`]).
//! Adding an upstream: its folder under `sources/`, implementing this trait in its `config.rs`,
//! and its field and line in the registry.

use std::{fmt, future::Future, pin::Pin, sync::Arc, time::Duration};

use signalcraft_kafka::RecordProducer;
use tokio_util::sync::CancellationToken;

use crate::{
    replay::ReplayAddress,
    source::{run_source, PollLog, RunError, RunSummary},
    HighWaterMarks, Source, WatchListReader,
};

/// What every source may be built with.
#[derive(Clone)]
pub struct SourceContext {
    /// The businesses to watch, read afresh at the start of every cycle.
    pub watch_list: WatchListReader,
    /// Durable high-water marks for the source of the given name.
    pub marks: Arc<dyn Fn(&'static str) -> Arc<dyn HighWaterMarks> + Send + Sync>,
    /// Recorded payloads to serve instead of the upstreams (`run --replay`).
    pub replay: Option<ReplayAddress>,
}

impl SourceContext {
    /// `config` as its sources are to be built: pointed at the replay server, when there is one.
    pub fn configured<C: SourceComponent + Clone>(&self, config: &C) -> C {
        let mut config = config.clone();
        if let Some(replay) = &self.replay {
            config.replay_from(replay);
        }
        config
    }
}

/// Why a component could not be built.
#[derive(Debug, thiserror::Error)]
#[error("building the {component} source: {message}")]
pub struct BuildError {
    /// The component's `[ingest.<key>]`.
    pub component: &'static str,
    pub message: String,
}

impl BuildError {
    pub fn new(component: &'static str, error: impl fmt::Display) -> Self {
        BuildError { component, message: error.to_string() }
    }
}

/// One upstream's configuration, able to become its running sources.
pub trait SourceComponent: Send + Sync {
    /// The key of its table under `[ingest]`.
    fn key(&self) -> &'static str;

    /// Points every upstream address at `replay`, which serves the recorded payloads.
    fn replay_from(&mut self, replay: &ReplayAddress);

    /// The loops of this upstream (built from [`SourceContext::configured`], so a replay is
    /// honoured): none when it has nothing to watch and cannot be told more later (a watch list
    /// read every cycle counts as being told more).
    fn build(&self, context: &SourceContext) -> Result<Vec<SourceLoop>, BuildError>;
}

type LoopFuture = Pin<Box<dyn Future<Output = Result<RunSummary, RunError>> + Send>>;
type StartLoop =
    Box<dyn FnOnce(RecordProducer, Option<u64>, CancellationToken, Option<Arc<dyn PollLog>>) -> LoopFuture + Send>;

/// One source with its poll interval, ready to run: whatever its record type, a source loop
/// starts the same way.
pub struct SourceLoop {
    name: String,
    start: StartLoop,
    log: Option<Arc<dyn PollLog>>,
}

impl SourceLoop {
    /// `source`, polled every `interval`.
    pub fn new<S: Source + 'static>(source: S, interval: Duration) -> Self {
        let name = source.name().to_string();
        let start: StartLoop = Box::new(move |producer, cycles, shutdown, log| {
            Box::pin(async move { run_source(source, producer, interval, cycles, shutdown, log.as_deref()).await })
        });
        SourceLoop { name, start, log: None }
    }

    /// Also records each delivered poll in `log` (the binary's `source_status`).
    pub fn with_poll_log(mut self, log: Arc<dyn PollLog>) -> Self {
        self.log = Some(log);
        self
    }

    /// The source's name (logs, metrics, the run summary).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs the loop: `cycles` polls (unbounded: `None`) or until `shutdown`.
    pub fn run(self, producer: RecordProducer, cycles: Option<u64>, shutdown: CancellationToken) -> LoopFuture {
        (self.start)(producer, cycles, shutdown, self.log)
    }
}
