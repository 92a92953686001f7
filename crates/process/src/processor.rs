//! The one trait every processor implements.

use signalcraft_model::Record;

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
}
