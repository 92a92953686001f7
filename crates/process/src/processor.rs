//! The one trait every processor implements.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
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

    /// Told, before each [`Processor::process`], when that input was appended to its topic (its
    /// Kafka timestamp; `None` when the record carries none), for processors that evaluate
    /// versioned side input ([`SideInput`]) as it was at that instant. The time is part of the
    /// record, so a replay sees the same. Default: ignored.
    fn note_input_time(&mut self, _appended_at: Option<DateTime<Utc>>) {}
}

/// Versioned data a processor reads beside its input (the alert rules), from a store outside
/// the processor. Before a batch is processed, its stage asks the side input to be complete up
/// to the batch's latest input time, so the processor can evaluate every input against the
/// versions in force when it was appended, whatever the moment the store was read.
#[async_trait]
pub trait SideInput: Send + Sync {
    /// What it is, for errors and logs (e.g. `alert rules`).
    fn name(&self) -> &'static str;

    /// Makes every version in force at or before `through` known to the processor, reading the
    /// store again when what is known ends earlier. An error leaves the batch to be retried.
    async fn cover(&self, through: DateTime<Utc>) -> Result<(), String>;
}
