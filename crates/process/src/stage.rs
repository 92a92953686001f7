//! Runs a [`Processor`] inside the consumer loop. Outputs of a batch are produced and
//! acknowledged before the loop stores the batch's offsets. If producing fails the loop hands
//! the same batch again; the stage then re-sends the outputs it already computed instead of
//! processing the inputs twice, so stateful processors never count an input twice.
//!
//! Given a [`SeriesHistory`] ([`ProcessorStage::with_history`]), the stage also rebuilds the
//! per-series state of a stateful processor from stored history whenever it meets a series the
//! processor does not hold ([`crate::history`], mechanics in `warmup`).
//!
//! Given a [`SideInput`] ([`ProcessorStage::with_side_input`]), the stage makes it complete up
//! to each batch's latest input time before processing the batch, and tells the processor when
//! each input was appended, so versioned side input is evaluated as of each input.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rdkafka::message::{Message, OwnedMessage};
use signalcraft_kafka::{BatchHandler, DeadLetter, HandlerError, RecordProducer};
use signalcraft_model::{Plausibility, RecordCodec, WireFormat};
use tokio_util::sync::CancellationToken;

use crate::history::SeriesHistory;
use crate::warmup::{WarmUp, WarmUpSettings};
use crate::{Processor, SideInput};

/// Identity of a batch: its first and last message positions.
type BatchId = (String, i32, i64, String, i32, i64);

fn batch_id(batch: &[OwnedMessage]) -> Option<BatchId> {
    let first = batch.first()?;
    let last = batch.last()?;
    Some((
        first.topic().to_string(),
        first.partition(),
        first.offset(),
        last.topic().to_string(),
        last.partition(),
        last.offset(),
    ))
}

/// A processor wired to its input codec and output producer.
pub struct ProcessorStage<P: Processor> {
    core: StageCore<P>,
    producer: RecordProducer,
    /// Outputs computed for a batch whose produce has not yet succeeded.
    pending: Option<(BatchId, Vec<P::Output>, Vec<DeadLetter>)>,
}

impl<P: Processor> ProcessorStage<P> {
    pub fn new(processor: P, producer: RecordProducer) -> Self {
        ProcessorStage { core: StageCore::new(processor), producer, pending: None }
    }

    /// Rebuilds the processor's per-series state from `history` when it meets a series it does
    /// not hold. No effect on a processor without per-series state.
    pub fn with_history(mut self, history: Arc<dyn SeriesHistory>, settings: WarmUpSettings) -> Self {
        self.core = self.core.with_history(history, settings);
        self
    }

    /// Ends a wait for the sink (see [`WarmUpSettings::wait_for_store`]) when `shutdown` is
    /// cancelled, so a stopping stage does not sit out the wait.
    pub fn stop_waiting_on(mut self, shutdown: CancellationToken) -> Self {
        if let Some(warm_up) = &mut self.core.warm_up {
            warm_up.stop_waiting_on(shutdown);
        }
        self
    }

    /// Reads `side_input` up to each batch's latest input time before processing the batch.
    pub fn with_side_input(mut self, side_input: Arc<dyn SideInput>) -> Self {
        self.core.side_input = Some(side_input);
        self
    }

    /// Accepts Confluent-framed inputs carrying this registry id.
    pub fn accept_schema_id(mut self, schema_id: u32) -> Self {
        self.core.input_codec = self.core.input_codec.accept_schema_id(schema_id);
        self
    }

    /// Judges the timestamps of inputs by `window` instead of their topic's default.
    pub fn with_plausibility(mut self, window: Plausibility) -> Self {
        self.core.input_codec = self.core.input_codec.with_plausibility(window);
        self
    }
}

/// Everything of a stage but the producer: decode, rebuild state, process (testable without Kafka).
pub(crate) struct StageCore<P: Processor> {
    pub(crate) processor: P,
    input_codec: RecordCodec<P::Input>,
    /// Rebuilds per-series state from stored history (stateful processors, when configured).
    pub(crate) warm_up: Option<WarmUp>,
    /// Versioned data the processor evaluates as of each input's time (alert rules).
    pub(crate) side_input: Option<Arc<dyn SideInput>>,
}

/// When a message was appended to its topic, as its Kafka timestamp says.
fn appended_at(message: &OwnedMessage) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_millis(message.timestamp().to_millis()?)
}

impl<P: Processor> StageCore<P> {
    pub(crate) fn new(processor: P) -> Self {
        StageCore {
            processor,
            input_codec: RecordCodec::new(WireFormat::SingleObject),
            warm_up: None,
            side_input: None,
        }
    }

    pub(crate) fn with_history(mut self, history: Arc<dyn SeriesHistory>, settings: WarmUpSettings) -> Self {
        if self.processor.rebuildable().is_some() {
            self.warm_up = Some(WarmUp::new(self.processor.name(), history, settings));
        }
        self
    }

    /// The outputs and dead letters of one batch; an error when its series' history could not be
    /// loaded (the batch is then handed again, and the series it touched are rebuilt afresh).
    pub(crate) async fn compute(
        &mut self,
        batch: &[OwnedMessage],
    ) -> Result<(Vec<P::Output>, Vec<DeadLetter>), HandlerError> {
        let name = self.processor.name();
        let history_failed = |error| HandlerError(format!("{name}: loading series history: {error}"));
        let decoded: Vec<_> =
            batch.iter().map(|message| self.input_codec.decode(message.payload().unwrap_or_default())).collect();
        if let (Some(warm_up), Some(state)) = (&mut self.warm_up, self.processor.rebuildable()) {
            let inputs: Vec<Option<&P::Input>> = decoded.iter().map(|d| d.as_ref().ok()).collect();
            if let Err(error) = warm_up.begin_batch(state, batch, &inputs).await {
                warm_up.abandon_batch(state);
                return Err(history_failed(error));
            }
        }
        if let Some(side_input) = &self.side_input {
            if let Some(latest) = batch.iter().filter_map(appended_at).max() {
                if let Err(error) = side_input.cover(latest).await {
                    if let (Some(warm_up), Some(state)) = (&mut self.warm_up, self.processor.rebuildable()) {
                        warm_up.abandon_batch(state);
                    }
                    return Err(HandlerError(format!("{name}: reading {}: {error}", side_input.name())));
                }
            }
        }
        let mut outputs = Vec::with_capacity(batch.len());
        let mut dead = Vec::new();
        for (message, decoded) in batch.iter().zip(decoded) {
            let input = match decoded {
                Ok(input) => input,
                Err(error) => {
                    dead.push(DeadLetter::new(message, error.to_string()));
                    continue;
                }
            };
            if let (Some(warm_up), Some(state)) = (&mut self.warm_up, self.processor.rebuildable()) {
                if let Err(error) = warm_up.before_input(state, message, &input).await {
                    warm_up.abandon_batch(state);
                    return Err(history_failed(error));
                }
            }
            self.processor.note_input_time(appended_at(message));
            match self.processor.process(input) {
                Ok(derived) => outputs.extend(derived),
                Err(error) => dead.push(DeadLetter::new(message, format!("{name}: {error}"))),
            }
            // Processing is synchronous and a forecasting batch can run for tens of seconds:
            // yielding between inputs lets the consumer loop abandon the batch at shutdown
            // (see `signalcraft_kafka::consumer::deliver` for why that is safe). Cheaper and
            // simpler than spawn_blocking, which would need the processor moved to another
            // thread and back, and still could not be stopped mid-batch.
            tokio::task::yield_now().await;
        }
        if let (Some(warm_up), Some(state)) = (&mut self.warm_up, self.processor.rebuildable()) {
            warm_up.end_batch(state, batch);
        }
        Ok((outputs, dead))
    }
}

#[async_trait]
impl<P: Processor> BatchHandler for ProcessorStage<P> {
    async fn handle(&mut self, batch: &[OwnedMessage]) -> Result<Vec<DeadLetter>, HandlerError> {
        let id = batch_id(batch);
        let (outputs, dead) = match self.pending.take() {
            Some((pending_id, outputs, dead)) if Some(&pending_id) == id.as_ref() => (outputs, dead),
            _ => self.core.compute(batch).await?,
        };
        if let Err(error) = self.producer.send_all(&outputs).await {
            if let Some(id) = id {
                self.pending = Some((id, outputs, dead));
            }
            return Err(HandlerError(format!("{}: producing outputs: {error}", self.core.processor.name())));
        }
        Ok(dead)
    }
}

#[cfg(test)]
mod tests;
