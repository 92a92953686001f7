//! A stage refuses invalid inputs itself: a point its processor would act on wrongly is
//! dead-lettered with its reason, and the series is processed as if it had never come. And a
//! stage with a side input reads it up to the batch's latest append before processing the batch.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use rdkafka::{message::OwnedMessage, Message, Timestamp};
use signalcraft_model::{KpiPoint, RecordCodec, WireFormat};

use crate::anomaly::{DetectAnomalies, DetectAnomaliesConfig};
use crate::stage::StageCore;
use crate::Processor;

fn point(ts: DateTime<Utc>, value: f64) -> KpiPoint {
    KpiPoint {
        series_id: "fx:USD:EUR".into(),
        tenant_id: None,
        metric: "fx_rate".into(),
        unit: "EUR".into(),
        ts,
        value,
        source: "test".into(),
    }
}

#[tokio::test]
async fn a_point_in_the_year_4737_is_dead_lettered_and_its_series_is_still_scored() {
    let origin = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("instant");
    let ordinary: Vec<KpiPoint> =
        (0..60).map(|i| point(origin + TimeDelta::hours(i), 0.9 + (i % 7) as f64 / 100.0)).collect();
    let far = point(Utc.with_ymd_and_hms(4737, 1, 1, 0, 0, 0).single().expect("instant"), 0.95);
    let mut inputs = ordinary.clone();
    inputs.insert(20, far);
    let codec = RecordCodec::<KpiPoint>::new(WireFormat::SingleObject);
    let batch: Vec<OwnedMessage> = inputs
        .iter()
        .enumerate()
        .map(|(offset, p)| {
            let payload = codec.encode(p).expect("encodes");
            OwnedMessage::new(Some(payload), None, "kpi.points".into(), Timestamp::NotAvailable, 0, offset as i64, None)
        })
        .collect();

    let mut stage = StageCore::new(DetectAnomalies::new(DetectAnomaliesConfig::default()));
    let (outputs, dead) = stage.compute(&batch).await.expect("no history to load");

    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message.offset(), 20);
    assert!(dead[0].error.starts_with("column ts: 4737-01-01 00:00:00 UTC is after "), "{}", dead[0].error);
    // Had it been scored, every later point would be older than the series' latest: late, unscored.
    let mut alone = DetectAnomalies::new(DetectAnomaliesConfig::default());
    let expected: Vec<_> = ordinary.into_iter().flat_map(|p| alone.process(p).expect("finite input")).collect();
    assert_eq!(expected.len(), 60, "one score per ordinary point");
    assert_eq!(outputs, expected, "scored as if the far-future point had never come");
}

/// A side input that knows versions up to `known_through`, counts the reads asked of it, and
/// fails them while `failing` is set.
struct FakeRules {
    asked: std::sync::Mutex<Vec<DateTime<Utc>>>,
    failing: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl crate::SideInput for FakeRules {
    fn name(&self) -> &'static str {
        "alert rules"
    }

    async fn cover(&self, through: DateTime<Utc>) -> Result<(), String> {
        self.asked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(through);
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err("connection refused".into());
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_batch_waits_for_its_side_input_up_to_its_latest_append_and_is_retried_when_that_fails() {
    use crate::alerting::{RaiseAlerts, RaiseAlertsConfig, RuleSet};
    use signalcraft_model::KpiAnomaly;

    let origin = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("instant");
    let codec = RecordCodec::<KpiAnomaly>::new(WireFormat::SingleObject);
    let batch: Vec<OwnedMessage> = (0..3i64)
        .map(|i| {
            let anomaly = KpiAnomaly {
                series_id: "test:load".into(),
                tenant_id: None,
                ts: origin + TimeDelta::minutes(i),
                value: 1.0,
                score: 0.1,
                is_anomaly: false,
                detector: "test".into(),
            };
            let payload = codec.encode(&anomaly).expect("encodes");
            // Appended a second apart, the last at origin + 2 s.
            let appended = Timestamp::CreateTime((origin + TimeDelta::seconds(i)).timestamp_millis());
            OwnedMessage::new(Some(payload), None, "kpi.anomalies".into(), appended, 0, i, None)
        })
        .collect();
    let rules = std::sync::Arc::new(FakeRules { asked: Default::default(), failing: true.into() });
    let mut stage = StageCore::new(RaiseAlerts::new(RaiseAlertsConfig::default(), RuleSet::default()));
    stage.side_input = Some(rules.clone());

    let error = stage.compute(&batch).await.expect_err("the rules could not be read");
    assert!(error.0.contains("alerting: reading alert rules: connection refused"), "{}", error.0);
    rules.failing.store(false, std::sync::atomic::Ordering::SeqCst);
    let (outputs, dead) = stage.compute(&batch).await.expect("read this time");
    assert!(outputs.is_empty() && dead.is_empty());
    let asked = rules.asked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    assert_eq!(asked, vec![origin + TimeDelta::seconds(2); 2], "once per attempt, up to the latest append");
}
