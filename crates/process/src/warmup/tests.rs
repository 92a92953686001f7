//! The warm-up inside a stage, against an in-memory store that plays the sink's part: restarts,
//! at-least-once replays, a lagging sink, rewound partitions, evictions and failed look-ups.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use rdkafka::{message::OwnedMessage, Timestamp};
use signalcraft_model::{KpiAnomaly, KpiPoint, RecordCodec, WireFormat};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::anomaly::{DetectAnomalies, DetectAnomaliesConfig};
use crate::history::PastPoint;
use crate::stage::StageCore;
use crate::Processor;

const SERIES: usize = 3;

/// `n` points of `SERIES` interleaved series, 5 minutes apart per series, with a spike now and then.
fn inputs(n: usize) -> Vec<KpiPoint> {
    let origin = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("instant");
    (0..n)
        .map(|i| {
            let step = (i / SERIES) as f64;
            let wobble = ((step * 12.9898 + i as f64).sin() * 43_758.547).fract();
            KpiPoint {
                series_id: format!("s{}", i % SERIES),
                tenant_id: Some("acme".into()),
                metric: "m".into(),
                unit: "u".into(),
                ts: origin + TimeDelta::minutes(5 * (i / SERIES) as i64),
                value: 100.0 + wobble + if i % 401 == 400 { 25.0 } else { 0.0 },
                source: "test".into(),
            }
        })
        .collect()
}

/// The messages of `points`, read from kpi.points partition 0 at their index as offset.
fn messages(points: &[KpiPoint]) -> Vec<OwnedMessage> {
    let codec = RecordCodec::<KpiPoint>::new(WireFormat::SingleObject);
    points
        .iter()
        .enumerate()
        .map(|(offset, point)| {
            let payload = codec.encode(point).expect("encodes");
            OwnedMessage::new(Some(payload), None, "kpi.points".into(), Timestamp::NotAvailable, 0, offset as i64, None)
        })
        .collect()
}

/// What an uninterrupted run emits, one output per input.
fn uninterrupted(points: &[KpiPoint]) -> Vec<KpiAnomaly> {
    let mut processor = DetectAnomalies::new(DetectAnomaliesConfig::default());
    points.iter().cloned().flat_map(|p| processor.process(p).expect("finite input")).collect()
}

/// What the sink has written: the points of the first `next_offset` messages of partition 0.
#[derive(Default)]
struct Stored {
    points: Vec<KpiPoint>,
    next_offset: i64,
    loads: usize,
    /// Look-ups from this one on fail.
    fail_from: Option<usize>,
}

/// A [`SeriesHistory`] over [`Stored`], answering as the PostgreSQL one does.
#[derive(Default, Clone)]
struct MemoryHistory(Arc<Mutex<Stored>>);

impl MemoryHistory {
    fn sink_writes(&self, all: &[KpiPoint], up_to: usize) {
        let mut stored = self.0.lock().expect("lock");
        stored.points = all[..up_to].to_vec();
        stored.next_offset = up_to as i64;
    }

    fn loads(&self) -> usize {
        self.0.lock().expect("lock").loads
    }

    fn fail_from(&self, load: usize) {
        self.0.lock().expect("lock").fail_from = Some(load);
    }

    fn heal(&self) {
        self.0.lock().expect("lock").fail_from = None;
    }
}

#[async_trait]
impl SeriesHistory for MemoryHistory {
    async fn load(&self, requests: &[HistoryRequest]) -> Result<Vec<SeriesPast>, HistoryError> {
        let mut stored = self.0.lock().expect("lock");
        stored.loads += 1;
        if stored.fail_from.is_some_and(|from| stored.loads >= from) {
            return Err(HistoryError("connection refused".into()));
        }
        Ok(requests
            .iter()
            .map(|request| {
                let mut before: Vec<&KpiPoint> = stored
                    .points
                    .iter()
                    .filter(|p| p.series_id == request.series_id && p.ts < request.before && p.value.is_finite())
                    .collect();
                before.sort_by_key(|p| p.ts);
                let count = before.len() as u64;
                let HistoryKind::Points(depth) = request.kind else { panic!("points asked for") };
                let replayed = depth.points_to_replay(count);
                SeriesPast {
                    series_id: request.series_id.clone(),
                    before: request.before,
                    points_before: count,
                    points: before[before.len() - replayed..]
                        .iter()
                        .map(|p| PastPoint { ts: p.ts, value: p.value })
                        .collect(),
                    tenant_id: before.iter().rev().find_map(|p| p.tenant_id.clone()),
                    articles: None,
                    complete: request.position.as_ref().is_none_or(|at| stored.next_offset >= at.offset),
                }
            })
            .collect())
    }
}

fn settings(wait_for_store: Duration) -> WarmUpSettings {
    WarmUpSettings { max_points: None, wait_for_store, poll_every: Duration::from_millis(20) }
}

fn stage(history: &MemoryHistory, config: DetectAnomaliesConfig, wait: Duration) -> StageCore<DetectAnomalies> {
    StageCore::new(DetectAnomalies::new(config)).with_history(Arc::new(history.clone()), settings(wait))
}

/// Runs `messages` through `stage` in batches of `batch`; the outputs, in order.
async fn run(stage: &mut StageCore<DetectAnomalies>, messages: &[OwnedMessage], batch: usize) -> Vec<KpiAnomaly> {
    let mut outputs = Vec::new();
    for chunk in messages.chunks(batch) {
        let (derived, dead) = stage.compute(chunk).await.expect("batch handled");
        assert!(dead.is_empty());
        outputs.extend(derived);
    }
    outputs
}

#[tokio::test]
async fn a_restarted_stage_rebuilds_from_the_store_and_replays_the_same_outputs() {
    let points = inputs(1_500);
    let expected = uninterrupted(&points);
    let messages = messages(&points);
    let history = MemoryHistory::default();
    // The first instance handled up to offset 1,000 and the sink wrote as far, but only offsets
    // below 900 were committed when it crashed: the restarted one reads 900.. again, points whose
    // rows are already stored.
    history.sink_writes(&points, 1_000);
    let mut restarted = stage(&history, DetectAnomaliesConfig::default(), Duration::ZERO);
    let outputs = run(&mut restarted, &messages[900..], 100).await;
    assert_eq!(outputs, expected[900..]);
    assert!(outputs.iter().any(|a| a.is_anomaly), "a spike after the restart is flagged as in the uninterrupted run");
    assert_eq!(history.loads(), 1, "every series of the first batch in one look-up, none after");

    // Without the store, the same restart learns afresh and scores differently.
    let mut amnesiac = StageCore::new(DetectAnomalies::new(DetectAnomaliesConfig::default()));
    assert_ne!(run(&mut amnesiac, &messages[900..], 100).await, expected[900..]);
}

#[tokio::test]
async fn a_lagging_sink_is_waited_for() {
    let points = inputs(1_200);
    let expected = uninterrupted(&points);
    let messages = messages(&points);
    let history = MemoryHistory::default();
    history.sink_writes(&points, 800);
    let catching_up = {
        let (history, points) = (history.clone(), points.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            history.sink_writes(&points, 1_000);
        })
    };
    let mut restarted = stage(&history, DetectAnomaliesConfig::default(), Duration::from_secs(30));
    let outputs = run(&mut restarted, &messages[900..], 100).await;
    catching_up.await.expect("the sink caught up");
    assert_eq!(outputs, expected[900..]);
    assert!(history.loads() > 1, "looked again until the sink had written offset 899");
}

#[tokio::test]
async fn when_the_sink_stays_behind_what_is_stored_is_used_and_counted() {
    let points = inputs(1_200);
    let expected = uninterrupted(&points);
    let messages = messages(&points);
    let history = MemoryHistory::default();
    history.sink_writes(&points, 600);
    let incomplete = || REBUILDS.with_label_values(&["anomaly", "incomplete"]).get();
    let before = incomplete();
    let mut restarted = stage(&history, DetectAnomaliesConfig::default(), Duration::from_millis(100));
    let outputs = run(&mut restarted, &messages[900..], 100).await;
    assert_eq!(incomplete() - before, SERIES as u64, "each series rebuilt from a history with a hole");
    assert_eq!(outputs.len(), 300, "the stage goes on rather than stall");
    assert_ne!(outputs, expected[900..]);
}

#[tokio::test]
async fn shutdown_ends_a_wait_for_the_sink_and_fails_the_batch() {
    let points = inputs(1_200);
    let messages = messages(&points);
    let history = MemoryHistory::default();
    history.sink_writes(&points, 600);
    let shutdown = CancellationToken::new();
    let mut stage = stage(&history, DetectAnomaliesConfig::default(), Duration::from_secs(120));
    if let Some(warm_up) = &mut stage.warm_up {
        warm_up.stop_waiting_on(shutdown.clone());
    }
    let cancel = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            shutdown.cancel();
        })
    };
    let started = tokio::time::Instant::now();
    assert!(stage.compute(&messages[900..1_000]).await.is_err(), "nothing of the batch counts as done");
    assert!(started.elapsed() < Duration::from_secs(10), "the wait ended with the shutdown");
    cancel.await.expect("cancelled");
    assert!(!stage.processor.holds("s0"), "no state kept from a batch that did not complete");
}

#[tokio::test]
async fn a_partition_read_again_from_an_earlier_offset_is_rebuilt_before_it() {
    let points = inputs(1_200);
    let expected = uninterrupted(&points);
    let messages = messages(&points);
    let history = MemoryHistory::default();
    history.sink_writes(&points, 1_000);
    let mut stage = stage(&history, DetectAnomaliesConfig::default(), Duration::ZERO);
    assert_eq!(run(&mut stage, &messages[..1_000], 100).await, expected[..1_000]);
    // The partition went elsewhere and came back at its committed offset, 700: the state that
    // has seen up to 999 must not answer for 700.. (it would skip them as already seen).
    let loads = history.loads();
    assert_eq!(run(&mut stage, &messages[700..], 100).await, expected[700..]);
    assert_eq!(history.loads(), loads + 1);
}

#[tokio::test]
async fn a_series_evicted_within_a_batch_is_rebuilt_on_its_own() {
    let points = inputs(300);
    let expected = uninterrupted(&points);
    let messages = messages(&points);
    let history = MemoryHistory::default();
    history.sink_writes(&points, 300);
    // One series held at a time, three interleaved: every point meets a series just dropped.
    let config = DetectAnomaliesConfig { max_series: 1, ..Default::default() };
    let mut stage = stage(&history, config, Duration::ZERO);
    assert_eq!(run(&mut stage, &messages, 60).await, expected);
    // A preload per batch (all three series in the first, the two not held in the others), then
    // a look-up for every other point.
    assert_eq!(history.loads(), 5 + (60 - 3) + 4 * (60 - 2));
}

#[tokio::test]
async fn a_failed_look_up_fails_the_batch_and_leaves_no_half_built_state() {
    let points = inputs(400);
    let expected = uninterrupted(&points);
    let messages = messages(&points);
    let history = MemoryHistory::default();
    history.sink_writes(&points, 400);
    let config = DetectAnomaliesConfig { max_series: 2, ..Default::default() };
    let mut stage = stage(&history, config, Duration::ZERO);
    assert_eq!(run(&mut stage, &messages[..300], 100).await, expected[..300]);
    // Holding s1 and s2, the next batch preloads s0 and processes its first point; its second
    // (s1, dropped for s0) needs a look-up of its own, which fails.
    history.fail_from(history.loads() + 2);
    assert!(stage.compute(&messages[300..400]).await.is_err());
    history.heal();
    // Handed again, the batch yields what an uninterrupted run does: s0 was not left holding
    // point 300 (it would skip it as already seen).
    let (outputs, _) = stage.compute(&messages[300..400]).await.expect("handed again, the batch succeeds");
    assert_eq!(outputs, expected[300..400]);
}

#[test]
fn the_depth_is_capped_by_the_settings() {
    let history: Arc<dyn SeriesHistory> = Arc::new(MemoryHistory::default());
    let processor = DetectAnomalies::new(DetectAnomaliesConfig::default());
    let capped = WarmUp::new("anomaly", history, WarmUpSettings { max_points: Some(100), ..Default::default() });
    let kind = capped.kind(&processor as &dyn RebuildableState<KpiPoint>);
    assert_eq!(kind, HistoryKind::Points(crate::history::HistoryDepth { max_points: 100, align_to: 1 }));
}
