//! The hourly aggregation, and its rebuild from what the sink stored: restarts at every position
//! of a stream, with the sink ahead of or behind the processor, duplicates, closed hours, and the
//! stage waiting for the sink.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use chrono::TimeZone;
use rdkafka::{message::OwnedMessage, Timestamp};
use signalcraft_model::{RecordCodec, WireFormat};

use super::*;
use crate::history::{HistoryError, HistoryRequest, PastArticle, SeriesHistory};
use crate::stage::StageCore;
use crate::WarmUpSettings;

fn ten() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 10, 0, 0).single().expect("instant")
}

fn article(url: &str, minute: i64, compound: f64) -> ScoredArticle {
    ScoredArticle {
        url: url.into(),
        tenant_id: Some("acme".into()),
        title: "t".into(),
        seen_at: ten() + TimeDelta::minutes(minute),
        neg: 0.0,
        neu: 1.0,
        pos: 0.0,
        compound,
    }
}

#[test]
fn an_hour_is_emitted_once_closed_with_its_mean_volume_and_negative_share() {
    let mut kpi = SentimentToKpi::default();
    assert!(kpi.process(article("a", 5, 0.5)).expect("ok").is_empty());
    assert!(kpi.process(article("b", 20, -0.5)).expect("ok").is_empty());
    assert!(kpi.process(article("a", 25, 0.5)).expect("ok").is_empty(), "a repeat is counted once");
    assert!(kpi.process(article("c", 70, 0.2)).expect("ok").is_empty(), "10:00 is open until 12:00");
    let points = kpi.process(article("d", 121, 0.1)).expect("ok");
    let values: Vec<(&str, f64)> = points.iter().map(|p| (p.series_id.as_str(), p.value)).collect();
    assert_eq!(
        values,
        [("sentiment:acme:mean_compound", 0.0), ("sentiment:acme:volume", 2.0), ("sentiment:acme:negative_share", 0.5)]
    );
    assert!(points.iter().all(|p| p.ts == ten()));
    assert!(kpi.process(article("e", 10, -0.9)).expect("ok").is_empty(), "too late for 10:00");
}

#[test]
fn a_compound_the_store_cannot_hold_is_refused() {
    let mut kpi = SentimentToKpi::default();
    assert!(kpi.process(article("a", 5, 1.5)).is_err());
    assert!(kpi.process(article("b", 5, f64::NAN)).is_err());
    assert_eq!(kpi.open_hours("acme"), 0);
}

#[test]
fn an_hour_does_not_depend_on_the_order_of_its_articles() {
    // 0.1 + 0.2 + 0.3 and 0.3 + 0.2 + 0.1 differ in the last bit when summed as read.
    let compounds = [0.1, 0.2, 0.3, -0.7001, 0.0133];
    let mean = |order: &[usize]| {
        let mut kpi = SentimentToKpi::default();
        for &i in order {
            assert!(kpi.process(article(&format!("u{i}"), i as i64, compounds[i])).expect("ok").is_empty());
        }
        kpi.process(article("closer", 120, 0.0)).expect("ok")[0].value
    };
    let forward = mean(&[0, 1, 2, 3, 4]);
    assert_eq!(forward.to_bits(), mean(&[4, 3, 2, 1, 0]).to_bits());
    assert_eq!(forward.to_bits(), mean(&[2, 0, 4, 1, 3]).to_bits());
}

/// Two tenants' articles over about twelve hours, in the order they are read: each is read up
/// to 35 minutes after it was seen, some twice (at-least-once) up to 20 minutes later still, so
/// hours overlap as they arrive but no article is too late for its hour.
fn stream() -> Vec<ScoredArticle> {
    let mut arrivals: Vec<(DateTime<Utc>, usize, ScoredArticle)> = Vec::new();
    let mut next = 7u64;
    let mut random = |modulo: u64| {
        next = next.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (next >> 33) % modulo
    };
    for i in 0..240 {
        let tenant = if i % 3 == 0 { "globex" } else { "acme" };
        let seen_at = ten() + TimeDelta::minutes(3 * i as i64) + TimeDelta::seconds(random(60) as i64);
        // Four decimals, as VADER rounds its compound.
        let compound = (random(20_001) as f64 - 10_000.0) / 10_000.0;
        let scored = ScoredArticle {
            url: format!("https://news.example/{tenant}/{i}"),
            tenant_id: Some(tenant.into()),
            title: format!("article {i}"),
            seen_at,
            neg: 0.0,
            neu: 1.0,
            pos: 0.0,
            compound,
        };
        let read_at = seen_at + TimeDelta::minutes(random(35) as i64);
        if i % 7 == 3 {
            let again = read_at + TimeDelta::minutes(random(20) as i64);
            arrivals.push((again, arrivals.len(), scored.clone()));
        }
        arrivals.push((read_at, arrivals.len(), scored));
    }
    arrivals.sort_by_key(|(at, order, _)| (*at, *order));
    arrivals.into_iter().map(|(_, _, article)| article).collect()
}

/// The outputs of each input of an uninterrupted run.
fn uninterrupted(inputs: &[ScoredArticle]) -> Vec<Vec<KpiPoint>> {
    let mut kpi = SentimentToKpi::default();
    inputs.iter().map(|article| kpi.process(article.clone()).expect("valid article")).collect()
}

/// What the store answers for `tenant` once the sink has written the first `articles` inputs
/// (one row per tenant and URL, the last reading) and `points` (every KPI point it has stored),
/// as the PostgreSQL store does.
fn stored(tenant: &str, inputs: &[ScoredArticle], points: &[KpiPoint], span: TimeDelta) -> TenantArticles {
    let mut rows: HashMap<(Option<&str>, &str), &ScoredArticle> = HashMap::new();
    for article in inputs {
        rows.insert((article.tenant_id.as_deref(), &article.url), article);
    }
    let mine: Vec<&ScoredArticle> =
        rows.into_values().filter(|a| a.tenant_id.as_deref().unwrap_or(UNASSIGNED_TENANT) == tenant).collect();
    let latest = |metric: &str| {
        let id = series_id(tenant, metric);
        points.iter().filter(|p| p.series_id == id).map(|p| p.ts).max()
    };
    let lasts: Vec<Option<DateTime<Utc>>> = METRICS.iter().map(|metric| latest(metric)).collect();
    let last_emitted_hour = if lasts.iter().all(Option::is_some) { lasts.into_iter().flatten().min() } else { None };
    let latest_seen_at = mine.iter().map(|a| a.seen_at).max();
    let from = match (last_emitted_hour, latest_seen_at) {
        (Some(hour), _) => Some(hour + TimeDelta::hours(1)),
        (None, Some(latest)) => Some(latest - span),
        (None, None) => None,
    };
    TenantArticles {
        last_emitted_hour,
        latest_seen_at,
        articles: mine
            .into_iter()
            .filter(|a| from.is_none_or(|from| a.seen_at >= from))
            .map(|a| PastArticle { url: a.url.clone(), seen_at: a.seen_at, compound: a.compound })
            .collect(),
    }
}

fn past(tenant: &str, before: DateTime<Utc>, articles: TenantArticles) -> SeriesPast {
    SeriesPast { articles: Some(articles), ..SeriesPast::empty(tenant, before) }
}

fn span_of(kpi: &SentimentToKpi) -> TimeDelta {
    match kpi.history() {
        HistoryKind::TenantArticles { span_without_emitted } => span_without_emitted,
        other => panic!("a tenant's articles are its history, not {other:?}"),
    }
}

/// Every (series, hour) with its value, as `kpi_points` holds them after upserting `points`.
fn table<'a>(points: impl IntoIterator<Item = &'a KpiPoint>) -> BTreeMap<(String, DateTime<Utc>), u64> {
    points.into_iter().map(|p| ((p.series_id.clone(), p.ts), p.value.to_bits())).collect()
}

#[test]
fn a_restart_anywhere_ends_with_the_rows_of_an_uninterrupted_run() {
    let inputs = stream();
    let expected = restarts_anywhere_end_as_uninterrupted(&inputs);
    assert!(expected > 3 * 2 * 8, "both tenants close hours: {expected}");
}

/// Regression (found by the chaos harness): a tenant whose articles are days apart, restarted
/// before the sink stored its first hour, lost every hour more than a day before its latest
/// article, which the rebuild took for closed.
#[test]
fn a_restart_before_the_first_hour_is_stored_loses_no_hour_of_articles_days_apart() {
    let inputs: Vec<ScoredArticle> = (0..12)
        .map(|i| {
            let mut scored = article(&format!("sparse-{i}"), 0, (i as f64 - 5.5) / 10.0);
            scored.seen_at = ten() + TimeDelta::days(2 * i) + TimeDelta::minutes(7 * i);
            scored
        })
        .collect();
    let expected = restarts_anywhere_end_as_uninterrupted(&inputs);
    assert_eq!(expected, 3 * 11, "every article but the last closes its hour");
}

/// Restarts `inputs` at every input, with the sink behind, level and ahead, and checks the
/// rows end as an uninterrupted run's; returns how many rows that run has.
fn restarts_anywhere_end_as_uninterrupted(inputs: &[ScoredArticle]) -> usize {
    let outputs = uninterrupted(inputs);
    let expected = table(outputs.iter().flatten());
    let n = inputs.len();
    for restart in 0..=n {
        // The sink has stored the articles up to `sink`, as far as the restart or further; the
        // points of the hours closed by the first `points` inputs, fewer than were read before
        // the restart (lagging) or more (read past it, then killed before committing).
        for sink in [restart, (restart + 7).min(n), n] {
            for points in [0, restart.saturating_sub(3), restart, (restart + 4).min(n)] {
                let stored_points: Vec<KpiPoint> = outputs[..points].iter().flatten().cloned().collect();
                let mut kpi = SentimentToKpi::default();
                let span = span_of(&kpi);
                let mut after = Vec::new();
                for article in &inputs[restart..] {
                    let (tenant, seen_at) = kpi.series_of(article).expect("every article has a tenant");
                    if !kpi.holds(tenant) {
                        let tenant = tenant.to_string();
                        kpi.seed(&past(&tenant, seen_at, stored(&tenant, &inputs[..sink], &stored_points, span)));
                    }
                    after.extend(kpi.process(article.clone()).expect("valid article"));
                }
                let case = format!("restart {restart}, sink at {sink}, points of {points}");
                // What the run before emitted, then what the restarted one did, upserted.
                let before_restart = outputs[..restart.max(points)].iter().flatten();
                assert_eq!(table(before_restart.chain(&after)), expected, "{case}");
                for point in &after {
                    assert_eq!(
                        expected.get(&(point.series_id.clone(), point.ts)),
                        Some(&point.value.to_bits()),
                        "{case}: an hour emitted again has the same value"
                    );
                }
            }
        }
    }
    expected.len()
}

#[test]
fn without_the_rebuild_an_hour_open_at_the_restart_loses_its_earlier_articles() {
    let inputs = stream();
    let expected = table(uninterrupted(&inputs).iter().flatten());
    let restart = inputs.len() / 2;
    let mut amnesiac = SentimentToKpi::default();
    let mut after = Vec::new();
    for article in &inputs[restart..] {
        after.extend(amnesiac.process(article.clone()).expect("valid article"));
    }
    let differs = after.iter().any(|p| expected.get(&(p.series_id.clone(), p.ts)) != Some(&p.value.to_bits()));
    assert!(differs, "the restart is visible without the rebuild, so the test above can fail");
}

#[test]
fn articles_reloaded_and_read_again_are_counted_once() {
    let mut kpi = SentimentToKpi::default();
    let stored_articles = TenantArticles {
        last_emitted_hour: Some(ten() - TimeDelta::hours(1)),
        latest_seen_at: Some(ten() + TimeDelta::minutes(20)),
        articles: vec![
            PastArticle { url: "a".into(), seen_at: ten() + TimeDelta::minutes(5), compound: 0.5 },
            PastArticle { url: "b".into(), seen_at: ten() + TimeDelta::minutes(20), compound: -0.5 },
        ],
    };
    kpi.seed(&past("acme", ten(), stored_articles));
    assert_eq!(kpi.open_hours("acme"), 1);
    // Read again after the restart (their offsets were not committed), then one new article.
    assert!(kpi.process(article("a", 5, 0.5)).expect("ok").is_empty());
    assert!(kpi.process(article("b", 20, -0.5)).expect("ok").is_empty());
    assert!(kpi.process(article("c", 40, -0.2)).expect("ok").is_empty());
    let points = kpi.process(article("d", 125, 0.1)).expect("ok");
    let values: Vec<f64> = points.iter().map(|p| p.value).collect();
    assert_eq!(values, [(-0.5 + -0.2 + 0.5) / 3.0, 3.0, 2.0 / 3.0]);
    assert!(points.iter().all(|p| p.ts == ten()));
}

#[test]
fn hours_emitted_before_the_restart_stay_closed() {
    let mut kpi = SentimentToKpi::default();
    // 10:00 was emitted; its late article "late" was stored by the sink but never counted.
    let stored_articles = TenantArticles {
        last_emitted_hour: Some(ten()),
        latest_seen_at: Some(ten() + TimeDelta::minutes(130)),
        articles: vec![
            PastArticle { url: "late".into(), seen_at: ten() + TimeDelta::minutes(50), compound: -0.9 },
            PastArticle { url: "b".into(), seen_at: ten() + TimeDelta::minutes(70), compound: 0.4 },
            PastArticle { url: "c".into(), seen_at: ten() + TimeDelta::minutes(130), compound: 0.2 },
        ],
    };
    kpi.seed(&past("acme", ten(), stored_articles));
    assert_eq!(kpi.open_hours("acme"), 2, "11:00 and 12:00; 10:00 stays closed");
    assert!(kpi.process(article("late", 50, -0.9)).expect("ok").is_empty(), "still too late, and not re-emitted");
    assert!(kpi.process(article("e", 30, 0.9)).expect("ok").is_empty(), "a new article for 10:00 is too late too");
    let points = kpi.process(article("f", 180, 0.0)).expect("ok");
    let hours: Vec<(DateTime<Utc>, f64)> = points.iter().map(|p| (p.ts, p.value)).collect();
    assert_eq!(
        hours,
        [(ten() + TimeDelta::hours(1), 0.4), (ten() + TimeDelta::hours(1), 1.0), (ten() + TimeDelta::hours(1), 0.0)]
    );
}

#[test]
fn the_watermark_is_restored_so_an_hour_closes_when_it_would_have() {
    let mut kpi = SentimentToKpi::default();
    // The run before had read up to 11:55 (12:00 not yet past 10:00's end plus the lateness).
    let stored_articles = TenantArticles {
        last_emitted_hour: Some(ten() - TimeDelta::hours(1)),
        latest_seen_at: Some(ten() + TimeDelta::minutes(115)),
        articles: vec![
            PastArticle { url: "a".into(), seen_at: ten() + TimeDelta::minutes(10), compound: 0.3 },
            PastArticle { url: "b".into(), seen_at: ten() + TimeDelta::minutes(115), compound: 0.1 },
        ],
    };
    kpi.seed(&past("acme", ten(), stored_articles));
    // An article of 10:00 read now is not late; one of 12:01 closes 10:00 with both.
    assert!(kpi.process(article("c", 59, 0.5)).expect("ok").is_empty());
    let points = kpi.process(article("d", 121, 0.0)).expect("ok");
    assert_eq!(points.iter().map(|p| p.value).collect::<Vec<_>>(), [(0.3 + 0.5) / 2.0, 2.0, 0.0]);
}

#[test]
fn a_tenant_without_an_emitted_hour_reloads_a_bounded_span() {
    let mut kpi = SentimentToKpi::default();
    let span = span_of(&kpi);
    assert_eq!(span, TimeDelta::days(400), "the suggested retention of points");
    let latest = ten() + TimeDelta::days(3) + TimeDelta::minutes(30);
    let two_back = ten() + TimeDelta::days(3) - TimeDelta::hours(2);
    let stored_articles = TenantArticles {
        last_emitted_hour: None,
        latest_seen_at: Some(latest),
        articles: vec![
            // Within the span but in the hour it cuts into: that hour counts as closed.
            PastArticle { url: "cut".into(), seen_at: latest - span + TimeDelta::minutes(1), compound: 0.1 },
            PastArticle { url: "in".into(), seen_at: two_back + TimeDelta::minutes(30), compound: 0.2 },
            PastArticle { url: "new".into(), seen_at: latest, compound: 0.3 },
        ],
    };
    kpi.seed(&past("acme", latest, stored_articles));
    assert_eq!(kpi.open_hours("acme"), 2);
    let mut stale = article("old", 0, 0.9);
    stale.seen_at = latest - span - TimeDelta::hours(5);
    // Before the span: closed, not counted. The reloaded hour two hours back was closable: it
    // is emitted at this first article.
    let points = kpi.process(stale).expect("ok");
    let hours: Vec<(DateTime<Utc>, f64)> = points.iter().map(|p| (p.ts, p.value)).collect();
    assert_eq!(hours, [(two_back, 0.2), (two_back, 1.0), (two_back, 0.0)]);
    assert_eq!(kpi.open_hours("acme"), 1);
}

#[test]
fn a_tenant_with_nothing_stored_starts_afresh_and_forgetting_drops_it() {
    let mut kpi = SentimentToKpi::default();
    kpi.seed(&past("acme", ten(), TenantArticles::default()));
    assert!(kpi.holds("acme"));
    assert!(kpi.process(article("a", 5, 0.5)).expect("ok").is_empty());
    assert_eq!(kpi.open_hours("acme"), 1);
    kpi.forget("acme");
    assert!(!kpi.holds("acme"));
    let mut unassigned = article("u", 5, 0.5);
    unassigned.tenant_id = None;
    assert_eq!(kpi.series_of(&unassigned).map(|(tenant, _)| tenant), Some(UNASSIGNED_TENANT));
}

/// The sink's part in the stage test: the articles of the first `next_offset` messages of
/// news.scored partition 0 and the KPI points it has stored.
#[derive(Default)]
struct Stored {
    articles: Vec<ScoredArticle>,
    points: Vec<KpiPoint>,
    next_offset: i64,
    loads: usize,
}

#[derive(Default, Clone)]
struct MemoryStore(Arc<Mutex<Stored>>);

impl MemoryStore {
    fn sink_writes(&self, inputs: &[ScoredArticle], up_to: usize, points: &[KpiPoint]) {
        let mut stored = self.0.lock().expect("lock");
        stored.articles = inputs[..up_to].to_vec();
        stored.points = points.to_vec();
        stored.next_offset = up_to as i64;
    }
}

#[async_trait]
impl SeriesHistory for MemoryStore {
    async fn load(&self, requests: &[HistoryRequest]) -> Result<Vec<SeriesPast>, HistoryError> {
        let mut sink = self.0.lock().expect("lock");
        sink.loads += 1;
        Ok(requests
            .iter()
            .map(|request| {
                let HistoryKind::TenantArticles { span_without_emitted } = request.kind else {
                    panic!("a tenant's articles asked for")
                };
                let articles = stored(&request.series_id, &sink.articles, &sink.points, span_without_emitted);
                SeriesPast {
                    complete: request.position.as_ref().is_none_or(|at| sink.next_offset >= at.offset),
                    ..past(&request.series_id, request.before, articles)
                }
            })
            .collect())
    }
}

fn messages(inputs: &[ScoredArticle]) -> Vec<OwnedMessage> {
    let codec = RecordCodec::<ScoredArticle>::new(WireFormat::SingleObject);
    inputs
        .iter()
        .enumerate()
        .map(|(offset, article)| {
            let payload = codec.encode(article).expect("encodes");
            OwnedMessage::new(
                Some(payload),
                None,
                "news.scored".into(),
                Timestamp::NotAvailable,
                0,
                offset as i64,
                None,
            )
        })
        .collect()
}

async fn run(stage: &mut StageCore<SentimentToKpi>, messages: &[OwnedMessage]) -> Vec<KpiPoint> {
    let mut outputs = Vec::new();
    for chunk in messages.chunks(25) {
        let (derived, dead) = stage.compute(chunk).await.expect("batch handled");
        assert!(dead.is_empty());
        outputs.extend(derived);
    }
    outputs
}

#[tokio::test]
async fn a_restarted_stage_waits_for_the_sink_and_ends_with_the_uninterrupted_rows() {
    let inputs = stream();
    let outputs = uninterrupted(&inputs);
    let expected = table(outputs.iter().flatten());
    let messages = messages(&inputs);
    let restart = inputs.len() / 2 + 5;
    let emitted: Vec<KpiPoint> = outputs[..restart].iter().flatten().cloned().collect();
    // The sink is behind when the restarted stage meets its first article; it catches up.
    let store = MemoryStore::default();
    store.sink_writes(&inputs, restart - 40, &emitted);
    let catching_up = {
        let (store, inputs, emitted) = (store.clone(), inputs.clone(), emitted.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            store.sink_writes(&inputs, restart + 10, &emitted);
        })
    };
    let settings = WarmUpSettings {
        max_points: Some(1),
        wait_for_store: Duration::from_secs(30),
        poll_every: Duration::from_millis(20),
    };
    let mut stage = StageCore::new(SentimentToKpi::default()).with_history(Arc::new(store.clone()), settings);
    let after = run(&mut stage, &messages[restart..]).await;
    catching_up.await.expect("the sink caught up");
    assert_eq!(table(emitted.iter().chain(&after)), expected);
    assert!(store.0.lock().expect("lock").loads > 1, "looked again until the sink had the articles before the restart");

    // Without the store, the same restart emits other values.
    let mut amnesiac = StageCore::new(SentimentToKpi::default());
    let after = run(&mut amnesiac, &messages[restart..]).await;
    assert_ne!(table(emitted.iter().chain(&after)), expected);
}
