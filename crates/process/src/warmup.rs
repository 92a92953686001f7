//! The mechanics of rebuilding per-series state inside [`crate::ProcessorStage`]
//! ([`crate::history`] says why and what).
//!
//! Per consumed batch:
//! 1. *Continuity*: a partition whose batch does not start where the last one handled here
//!    ended (it was revoked and came back, or the consumer rewound to its committed offset after
//!    a failure) may have been read elsewhere meanwhile, so the state of every series read from
//!    it is stale: those series are forgotten.
//! 2. *Preload*: every series of the batch the processor does not hold is looked up in one
//!    [`SeriesHistory::load`], each strictly before its first point in the batch.
//! 3. *Seed*: just before the first point of such a series is processed, the processor is seeded
//!    with its past. A series evicted by the processor in the middle of the batch and met again
//!    is looked up on its own (rare: it takes more distinct series in one batch than the
//!    processor holds).
//!
//! The store is complete for a point once the sink has written everything before that point's
//! offset. While a looked-up history is not complete the batch waits for the sink, up to
//! [`WarmUpSettings::wait_for_store`]; past that the incomplete history is used, counted in
//! `signalcraft_state_rebuilds_total{history="incomplete"}` and logged, and that series' outputs
//! may differ from an uninterrupted run's until its windows have turned over.
//!
//! `config`: [`WarmUpConfig`], the `[process.warmup]` table that gives the stage its
//! [`WarmUpSettings`].

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, LazyLock},
    time::Duration,
};

use prometheus::{register_histogram_vec, register_int_counter_vec, HistogramVec, IntCounterVec};
use rdkafka::message::{Message, OwnedMessage};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod config;

pub use config::WarmUpConfig;

use crate::history::{
    HistoryError, HistoryKind, HistoryRequest, RebuildableState, SeriesHistory, SeriesPast, StreamPosition,
};

/// How the stage rebuilds state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmUpSettings {
    /// Most points replayed per series; `None`: as many as the processor needs to rebuild its
    /// state exactly ([`crate::RebuildableState::history`]). Point histories only: a tenant's
    /// sentiment articles are all loaded (that reload is bounded by its own span).
    pub max_points: Option<usize>,
    /// How long a batch waits for the sink to write the history it needs before going on with
    /// what is stored. Zero: never wait.
    pub wait_for_store: Duration,
    /// Pause between looks at the store while waiting.
    pub poll_every: Duration,
}

impl Default for WarmUpSettings {
    fn default() -> Self {
        WarmUpSettings {
            max_points: None,
            wait_for_store: Duration::from_secs(10),
            poll_every: Duration::from_millis(250),
        }
    }
}

// Registering a metric fails only on a duplicate name: a defect, caught by any test run.
static REBUILDS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "signalcraft_state_rebuilds_total",
        "Series whose processor state was rebuilt from stored history, by whether the store held all of it.",
        &["stage", "history"]
    )
    .expect("metric registers once")
});
static REPLAYED_POINTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "signalcraft_state_replayed_points_total",
        "Stored points (or, for the sentiment aggregates, articles) replayed into processor state.",
        &["stage"]
    )
    .expect("metric registers once")
});
static FORGOTTEN: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "signalcraft_state_forgotten_series_total",
        "Series whose state was dropped because their partition was read elsewhere meanwhile.",
        &["stage"]
    )
    .expect("metric registers once")
});
static LOAD_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "signalcraft_state_history_load_seconds",
        "Time a batch spent loading history, waits for the sink included.",
        &["stage"],
        vec![0.005, 0.02, 0.1, 0.5, 2.0, 10.0, 60.0]
    )
    .expect("metric registers once")
});

/// Histories of one batch seeded into the processor.
struct Rebuilt<'a> {
    stage: &'a str,
    pasts: &'a [SeriesPast],
    waited: Duration,
}

impl Rebuilt<'_> {
    fn emit(self) {
        let incomplete: Vec<&str> = self.pasts.iter().filter(|p| !p.complete).map(|p| p.series_id.as_str()).collect();
        let points: usize = self.pasts.iter().map(SeriesPast::replayed).sum();
        let complete = self.pasts.len() - incomplete.len();
        tracing::debug!(
            stage = self.stage,
            series = self.pasts.len(),
            points,
            "series state rebuilt from stored history"
        );
        if !incomplete.is_empty() {
            tracing::warn!(
                stage = self.stage,
                series = incomplete.len(),
                examples = ?&incomplete[..incomplete.len().min(5)],
                waited_ms = self.waited.as_millis() as u64,
                "the sink has not stored all of these series' past yet; their state is rebuilt from what is stored \
                 and their outputs may differ from an uninterrupted run's for a while"
            );
        }
        REBUILDS.with_label_values(&[self.stage, "complete"]).inc_by(complete as u64);
        REBUILDS.with_label_values(&[self.stage, "incomplete"]).inc_by(incomplete.len() as u64);
        REPLAYED_POINTS.with_label_values(&[self.stage]).inc_by(points as u64);
        LOAD_SECONDS.with_label_values(&[self.stage]).observe(self.waited.as_secs_f64());
    }
}

/// Series forgotten because their partition did not continue where it left off.
struct Forgotten<'a> {
    stage: &'a str,
    topic: &'a str,
    partition: i32,
    expected: i64,
    got: i64,
    series: usize,
}

impl Forgotten<'_> {
    fn emit(self) {
        tracing::info!(
            stage = self.stage,
            topic = self.topic,
            partition = self.partition,
            expected_offset = self.expected,
            offset = self.got,
            series = self.series,
            "partition did not continue where this stage left it; its series' state is rebuilt from stored history"
        );
        FORGOTTEN.with_label_values(&[self.stage]).inc_by(self.series as u64);
    }
}

/// Rebuilds the state of the series a stage meets without holding them.
pub(crate) struct WarmUp {
    stage: &'static str,
    history: Arc<dyn SeriesHistory>,
    settings: WarmUpSettings,
    /// Offset after the last message handled, per (topic, partition).
    next_offsets: HashMap<(String, i32), i64>,
    /// The partition each series was last read from.
    series_partitions: HashMap<String, (String, i32)>,
    /// Size of `series_partitions` at which it is pruned of series the processor dropped.
    prune_at: usize,
    /// Histories loaded for the batch in hand, by series, until its first point is processed.
    preloaded: HashMap<String, SeriesPast>,
    /// Series whose state the batch in hand changed.
    touched: HashSet<String>,
    /// Cancelled on shutdown: a wait for the sink ends at once.
    shutdown: CancellationToken,
}

const MIN_PRUNE_AT: usize = 1024;

impl WarmUp {
    pub(crate) fn new(stage: &'static str, history: Arc<dyn SeriesHistory>, settings: WarmUpSettings) -> Self {
        WarmUp {
            stage,
            history,
            settings,
            next_offsets: HashMap::new(),
            series_partitions: HashMap::new(),
            prune_at: MIN_PRUNE_AT,
            preloaded: HashMap::new(),
            touched: HashSet::new(),
            shutdown: CancellationToken::new(),
        }
    }

    /// Stops waiting for the sink when `shutdown` is cancelled: the batch then fails, and its
    /// offsets stay unstored for the next owner of its partitions.
    pub(crate) fn stop_waiting_on(&mut self, shutdown: CancellationToken) {
        self.shutdown = shutdown;
    }

    /// Before the batch's first input: forgets series of partitions that jumped, then loads the
    /// history of every series of the batch the processor does not hold, in one look-up.
    pub(crate) async fn begin_batch<I>(
        &mut self,
        state: &mut dyn RebuildableState<I>,
        batch: &[OwnedMessage],
        inputs: &[Option<&I>],
    ) -> Result<(), HistoryError> {
        self.preloaded.clear();
        self.touched.clear();
        self.forget_jumped_partitions(state, batch);
        let kind = self.kind(state);
        let mut requests = Vec::new();
        let mut requested = HashSet::new();
        for (message, input) in batch.iter().zip(inputs) {
            let Some((series_id, ts)) = input.and_then(|input| state.series_of(input)) else { continue };
            if state.holds(series_id) || !requested.insert(series_id) {
                continue;
            }
            requests.push(HistoryRequest {
                series_id: series_id.to_string(),
                before: ts,
                kind,
                position: Some(position(message)),
            });
        }
        if requests.is_empty() {
            return Ok(());
        }
        let pasts = self.load_complete(requests).await?;
        self.preloaded = pasts.into_iter().map(|past| (past.series_id.clone(), past)).collect();
        Ok(())
    }

    /// Just before `input` (read as `message`) is processed: seeds its series if the processor
    /// does not hold it.
    pub(crate) async fn before_input<I>(
        &mut self,
        state: &mut dyn RebuildableState<I>,
        message: &OwnedMessage,
        input: &I,
    ) -> Result<(), HistoryError> {
        let Some((series_id, ts)) = state.series_of(input) else { return Ok(()) };
        if !self.touched.contains(series_id) {
            self.touched.insert(series_id.to_string());
        }
        self.series_partitions.insert(series_id.to_string(), (message.topic().to_string(), message.partition()));
        if state.holds(series_id) {
            return Ok(());
        }
        let past = match self.preloaded.remove(series_id) {
            Some(past) if past.before == ts => past,
            _ => {
                // Dropped by the processor earlier in this batch: look it up alone, before this point.
                let request = HistoryRequest {
                    series_id: series_id.to_string(),
                    before: ts,
                    kind: self.kind(state),
                    position: Some(position(message)),
                };
                let mut pasts = self.load_complete(vec![request]).await?;
                pasts.pop().unwrap_or_else(|| SeriesPast::empty(series_id, ts))
            }
        };
        state.seed(&past);
        Ok(())
    }

    /// After every input of the batch was processed: remembers where each partition ended.
    pub(crate) fn end_batch<I>(&mut self, state: &dyn RebuildableState<I>, batch: &[OwnedMessage]) {
        for message in batch {
            let next = self.next_offsets.entry((message.topic().to_string(), message.partition())).or_insert(0);
            *next = message.offset() + 1;
        }
        self.preloaded.clear();
        self.touched.clear();
        if self.series_partitions.len() >= self.prune_at {
            self.series_partitions.retain(|series_id, _| state.holds(series_id));
            self.prune_at = (2 * self.series_partitions.len()).max(MIN_PRUNE_AT);
        }
    }

    /// The batch failed part-way: its series' state reflects only some of its inputs, so it is
    /// dropped, and rebuilt from the store when the batch is handed again.
    pub(crate) fn abandon_batch<I>(&mut self, state: &mut dyn RebuildableState<I>) {
        for series_id in self.touched.drain() {
            state.forget(&series_id);
        }
        self.preloaded.clear();
    }

    fn kind<I>(&self, state: &dyn RebuildableState<I>) -> HistoryKind {
        match (state.history(), self.settings.max_points) {
            (HistoryKind::Points(depth), Some(cap)) => HistoryKind::Points(depth.capped(cap)),
            (kind, _) => kind,
        }
    }

    fn forget_jumped_partitions<I>(&mut self, state: &mut dyn RebuildableState<I>, batch: &[OwnedMessage]) {
        let mut checked = HashSet::new();
        for message in batch {
            let key = (message.topic().to_string(), message.partition());
            if !checked.insert(key.clone()) {
                continue;
            }
            let Some(&expected) = self.next_offsets.get(&key) else { continue };
            if expected == message.offset() {
                continue;
            }
            self.next_offsets.remove(&key);
            let stale: Vec<String> =
                self.series_partitions.iter().filter(|(_, p)| **p == key).map(|(id, _)| id.clone()).collect();
            for series_id in &stale {
                state.forget(series_id);
                self.series_partitions.remove(series_id);
            }
            Forgotten {
                stage: self.stage,
                topic: &key.0,
                partition: key.1,
                expected,
                got: message.offset(),
                series: stale.len(),
            }
            .emit();
        }
    }

    /// Loads `requests`, looking again at those not yet complete until they are or the wait is over.
    async fn load_complete(&self, requests: Vec<HistoryRequest>) -> Result<Vec<SeriesPast>, HistoryError> {
        let started = Instant::now();
        let deadline = started + self.settings.wait_for_store;
        let mut pasts = self.history.load(&requests).await?;
        if pasts.len() != requests.len() {
            return Err(HistoryError(format!("asked for {} histories, got {}", requests.len(), pasts.len())));
        }
        loop {
            let waiting: Vec<usize> = (0..pasts.len()).filter(|&i| !pasts[i].complete).collect();
            if waiting.is_empty() || Instant::now() + self.settings.poll_every > deadline {
                break;
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => {
                    return Err(HistoryError("shutting down while waiting for the sink to store the history".into()));
                }
                _ = tokio::time::sleep(self.settings.poll_every) => {}
            }
            let again: Vec<HistoryRequest> = waiting.iter().map(|&i| requests[i].clone()).collect();
            let reloaded = self.history.load(&again).await?;
            if reloaded.len() != again.len() {
                return Err(HistoryError(format!("asked for {} histories, got {}", again.len(), reloaded.len())));
            }
            for (i, past) in waiting.into_iter().zip(reloaded) {
                pasts[i] = past;
            }
        }
        Rebuilt { stage: self.stage, pasts: &pasts, waited: started.elapsed() }.emit();
        Ok(pasts)
    }
}

fn position(message: &OwnedMessage) -> StreamPosition {
    StreamPosition { topic: message.topic().to_string(), partition: message.partition(), offset: message.offset() }
}

#[cfg(test)]
mod tests;
