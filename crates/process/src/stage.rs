//! Runs a [`Processor`] inside the consumer loop. Outputs of a batch are produced and
//! acknowledged before the loop stores the batch's offsets. If producing fails the loop hands
//! the same batch again; the stage then re-sends the outputs it already computed instead of
//! processing the inputs twice, so stateful processors never count an input twice.

use async_trait::async_trait;
use rdkafka::message::{Message, OwnedMessage};
use signalcraft_kafka::{BatchHandler, DeadLetter, HandlerError, RecordProducer};
use signalcraft_model::{RecordCodec, WireFormat};

use crate::Processor;

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
    processor: P,
    input_codec: RecordCodec<P::Input>,
    producer: RecordProducer,
    /// Outputs computed for a batch whose produce has not yet succeeded.
    pending: Option<(BatchId, Vec<P::Output>, Vec<DeadLetter>)>,
}

impl<P: Processor> ProcessorStage<P> {
    pub fn new(processor: P, producer: RecordProducer) -> Self {
        ProcessorStage { processor, input_codec: RecordCodec::new(WireFormat::SingleObject), producer, pending: None }
    }

    /// Accepts Confluent-framed inputs carrying this registry id.
    pub fn accept_schema_id(mut self, schema_id: u32) -> Self {
        self.input_codec = self.input_codec.accept_schema_id(schema_id);
        self
    }

    fn compute(&mut self, batch: &[OwnedMessage]) -> (Vec<P::Output>, Vec<DeadLetter>) {
        let mut outputs = Vec::with_capacity(batch.len());
        let mut dead = Vec::new();
        for message in batch {
            let decoded = self.input_codec.decode(message.payload().unwrap_or_default());
            match decoded {
                Ok(input) => match self.processor.process(input) {
                    Ok(derived) => outputs.extend(derived),
                    Err(error) => dead.push(DeadLetter::new(message, format!("{}: {error}", self.processor.name()))),
                },
                Err(error) => dead.push(DeadLetter::new(message, error.to_string())),
            }
        }
        (outputs, dead)
    }
}

#[async_trait]
impl<P: Processor> BatchHandler for ProcessorStage<P> {
    async fn handle(&mut self, batch: &[OwnedMessage]) -> Result<Vec<DeadLetter>, HandlerError> {
        let id = batch_id(batch);
        let (outputs, dead) = match self.pending.take() {
            Some((pending_id, outputs, dead)) if Some(&pending_id) == id.as_ref() => (outputs, dead),
            _ => self.compute(batch),
        };
        if let Err(error) = self.producer.send_all(&outputs).await {
            if let Some(id) = id {
                self.pending = Some((id, outputs, dead));
            }
            return Err(HandlerError(format!("{}: producing outputs: {error}", self.processor.name())));
        }
        Ok(dead)
    }
}
