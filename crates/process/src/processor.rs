//! The one trait every processor implements.

use signalcraft_model::Record;

use crate::history::RebuildableState;

/// Why one input record could not be processed (it goes to the dead-letter topic).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ProcessError(pub String);

/// Pure per-record logic: no I/O, deterministic given its state and input, so a replayed input
/// yields the same outputs.
pub trait Processor: Send + 'static {
    /// What it consumes.
    type Input: Record;
    /// What it emits.
    type Output: Record;

    /// Stage name (consumer group suffix, metrics, dead-letter headers).
    fn name(&self) -> &'static str;

    /// Derives the outputs of one input.
    fn process(&mut self, input: Self::Input) -> Result<Vec<Self::Output>, ProcessError>;

    /// The per-series state the stage rebuilds from stored history after a restart, a rebalance
    /// or an eviction ([`crate::history`]), for processors that keep one; `None` (the default)
    /// for stateless processors.
    fn rebuildable(&mut self) -> Option<&mut dyn RebuildableState<Self::Input>> {
        None
    }
}
