//! Hourly sentiment aggregates rebuilt after a restart: the process role runs as its own process
//! next to a sink and is stopped twice in the middle of open hours — once politely (SIGTERM,
//! offsets committed), once killed (SIGKILL) after reading articles it never committed, which
//! the next run reads again — and every sentiment KPI row in PostgreSQL equals what an
//! uninterrupted run emits. Also the PostgreSQL store itself: the last emitted hour, the
//! articles after it, the tenant-less articles, the span without an emitted hour, and
//! completeness from the sink's stored offsets.

mod common;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use common::*;
use signalcraft_kafka::RecordProducer;
use signalcraft_model::{KpiPoint, ScoredArticle};
use signalcraft_process::{
    history::StreamPosition, kpi::SentimentToKpi, HistoryDepth, HistoryKind, HistoryRequest, Processor, SeriesHistory,
};
use signalcraft_store::PgSeriesHistory;

const TENANTS: [&str; 2] = ["acme", "globex"];
/// Articles per tenant, about one every six minutes: some twelve hours.
const ARTICLES: usize = 120;
/// Articles read before the first stop (SIGTERM), and by the end of the second run (SIGKILL).
const FIRST_RUN: usize = 2 * 47;
const SECOND_RUN: usize = 2 * 83;

fn origin() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 4, 8, 0, 0).single().expect("instant")
}

/// Both tenants' articles in the order they are produced: each read up to half an hour after it
/// was seen (hours overlap as they arrive, none is too late for its hour), every ninth read twice.
fn articles() -> Vec<ScoredArticle> {
    let mut next = 11u64;
    let mut random = |modulo: u64| {
        next = next.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (next >> 33) % modulo
    };
    let mut arrivals = Vec::new();
    for i in 0..ARTICLES {
        for (t, tenant) in TENANTS.iter().enumerate() {
            let seen_at = origin() + TimeDelta::seconds((360 * i + 97 * t) as i64 + random(200) as i64);
            let article = ScoredArticle {
                url: format!("https://news.example/{tenant}/{i}"),
                tenant_id: Some(tenant.to_string()),
                title: format!("{tenant} article {i}"),
                seen_at,
                neg: 0.0,
                neu: 1.0,
                pos: 0.0,
                // Four decimals, as VADER rounds its compound.
                compound: (random(20_001) as f64 - 10_000.0) / 10_000.0,
            };
            let read_at = seen_at + TimeDelta::seconds(random(1_800) as i64);
            if i % 9 == 4 {
                arrivals.push((read_at + TimeDelta::seconds(random(900) as i64), arrivals.len(), article.clone()));
            }
            arrivals.push((read_at, arrivals.len(), article));
        }
    }
    arrivals.sort_by_key(|(at, order, _)| (*at, *order));
    arrivals.into_iter().map(|(_, _, article)| article).collect()
}

/// A `kpi_points` row, its value as bits (compared exactly).
type Row = (String, DateTime<Utc>, Option<String>, String, String, u64, String);
/// The same row as PostgreSQL answers it.
type StoredRow = (String, DateTime<Utc>, Option<String>, String, String, f64, String);

fn row(point: &KpiPoint) -> Row {
    (
        point.series_id.clone(),
        point.ts,
        point.tenant_id.clone(),
        point.metric.clone(),
        point.unit.clone(),
        point.value.to_bits(),
        point.source.clone(),
    )
}

/// The rows an uninterrupted run leaves in `kpi_points` after reading `articles`.
fn uninterrupted(articles: &[ScoredArticle]) -> Vec<Row> {
    let mut kpi = SentimentToKpi::default();
    let mut rows = BTreeMap::new();
    for article in articles {
        for point in kpi.process(article.clone()).expect("valid article") {
            rows.insert((point.series_id.clone(), point.ts), row(&point));
        }
    }
    rows.into_values().collect()
}

async fn sentiment_rows(database: &TestDatabase) -> Vec<Row> {
    let rows: Vec<StoredRow> = sqlx::query_as(
        "SELECT series_id, ts, tenant_id, metric, unit, value, source FROM kpi_points \
         WHERE series_id LIKE 'sentiment:%' ORDER BY series_id, ts",
    )
    .fetch_all(&database.pool)
    .await
    .expect("sentiment rows read");
    rows.into_iter()
        .map(|(series_id, ts, tenant_id, metric, unit, value, source)| {
            (series_id, ts, tenant_id, metric, unit, value.to_bits(), source)
        })
        .collect()
}

/// Waits until `kpi_points` holds every hour `expected` has (a run may have emitted more of the
/// hours it closed before it was stopped, never fewer).
async fn wait_for_rows(database: &TestDatabase, expected: &[Row], run: &str) {
    let missing = || async {
        let stored: Vec<(String, DateTime<Utc>)> =
            sentiment_rows(database).await.into_iter().map(|r| (r.0, r.1)).collect();
        expected
            .iter()
            .filter(|r| !stored.contains(&(r.0.clone(), r.1)))
            .map(|r| (r.0.clone(), r.1))
            .collect::<Vec<_>>()
    };
    let arrived = eventually(Duration::from_secs(120), || async { missing().await.is_empty() }).await;
    assert!(arrived, "{run}: hours it closed are not stored (lost at a restart?): {:?}", missing().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_process_role_emits_the_sentiment_hours_of_an_uninterrupted_run() {
    let database = TestDatabase::new().await;
    let broker = broker(3);
    let dir = tempfile::tempdir().expect("temp dir");
    let config_file = rare_commits_config(dir.path());
    let bootstrap = broker.bootstrap_servers();
    let producer = RecordProducer::new(&kafka_settings(&broker), "test").expect("producer");
    let all = articles();
    let expected = uninterrupted(&all);
    assert!(expected.len() >= 3 * TENANTS.len() * 10, "both tenants close some ten hours: {}", expected.len());
    let start = |role: &str| start_role(role, bootstrap, &database.url, &config_file, &[]);
    let sink = start("sink");
    // Lets the process role read what is already on the topic before it is stopped.
    let settle = || tokio::time::sleep(Duration::from_secs(3));

    // Run 1 reads the first articles and stops politely in the middle of two open hours.
    producer.send_all(&all[..FIRST_RUN]).await.expect("produced");
    let process = start("process");
    wait_for_rows(&database, &uninterrupted(&all[..FIRST_RUN]), "run 1").await;
    settle().await;
    stop(process).await;

    // Run 2 rebuilds the open hours, reads on and is killed before it commits anything.
    producer.send_all(&all[FIRST_RUN..SECOND_RUN]).await.expect("produced");
    let mut process = start("process");
    wait_for_rows(&database, &uninterrupted(&all[..SECOND_RUN]), "run 2").await;
    settle().await;
    process.start_kill().expect("SIGKILL sent");
    process.wait().await.expect("run 2 is gone");

    // Run 3 reads run 2's articles again (the sink has stored them) and the rest.
    producer.send_all(&all[SECOND_RUN..]).await.expect("produced");
    let process = start("process");
    wait_for_rows(&database, &expected, "run 3").await;
    settle().await;
    stop(process).await;
    stop(sink).await;

    let rows = sentiment_rows(&database).await;
    assert_eq!(rows.len(), expected.len(), "no hour more than the uninterrupted run emits");
    for (got, want) in rows.iter().zip(&expected) {
        assert_eq!(got, want, "{} at {}: {} vs {}", got.0, got.1, f64::from_bits(got.5), f64::from_bits(want.5));
    }
}

async fn insert_article(database: &TestDatabase, url: &str, tenant: Option<&str>, minutes: i64, compound: f64) {
    sqlx::query("INSERT INTO news_sentiment VALUES ($1, $2, 't', $3, 0, 1, 0, $4)")
        .bind(url)
        .bind(tenant)
        .bind(origin() + TimeDelta::minutes(minutes))
        .bind(compound)
        .execute(&database.pool)
        .await
        .expect("article stored");
}

async fn insert_point(database: &TestDatabase, series_id: &str, hour: i64) {
    ensure_partition(&database.pool, "kpi_points", origin() + TimeDelta::hours(hour)).await;
    sqlx::query("INSERT INTO kpi_points VALUES ($1, $2, NULL, 'm', 'u', 1, 'test')")
        .bind(series_id)
        .bind(origin() + TimeDelta::hours(hour))
        .execute(&database.pool)
        .await
        .expect("point stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stored_sentiment_of_a_tenant_is_its_articles_after_its_last_emitted_hour() {
    let database = TestDatabase::new().await;
    // acme: hours 0..=2 emitted on every series, hour 3 on two of them only (the third point
    // was not stored): hour 2 is the last emitted in full.
    for hour in 0..=3 {
        for metric in ["mean_compound", "volume", "negative_share"] {
            if hour < 3 || metric != "volume" {
                insert_point(&database, &format!("sentiment:acme:{metric}"), hour).await;
            }
        }
    }
    for (url, minutes) in [("a1", 150), ("a2", 179), ("a3", 180), ("a4", 250)] {
        insert_article(&database, url, Some("acme"), minutes, 0.25).await;
    }
    // Articles without a tenant are the "unassigned" tenant's; nothing of it was emitted, so
    // its articles within the span (26 hours) before its latest count.
    insert_article(&database, "u-old", None, 0, -0.5).await;
    insert_article(&database, "u1", None, 60 * 27, -0.5).await;
    insert_article(&database, "u2", Some("unassigned"), 60 * 28, 0.5).await;
    sqlx::query(
        "INSERT INTO sink_offsets (consumer_group, topic, partition, next_offset, cluster_id) \
         VALUES ('sink', 'news.scored', 0, 10, 'c1')",
    )
    .execute(&database.pool)
    .await
    .expect("offset stored");

    let history = Arc::new(PgSeriesHistory::new(database.pool.clone(), "sink", "c1"));
    let kind = HistoryKind::TenantArticles { span_without_emitted: TimeDelta::hours(26) };
    let request = |tenant: &str, offset: i64| HistoryRequest {
        series_id: tenant.into(),
        before: origin(),
        kind,
        position: Some(StreamPosition { topic: "news.scored".into(), partition: 0, offset }),
    };
    let points = HistoryRequest {
        before: origin() + TimeDelta::hours(10),
        kind: HistoryKind::Points(HistoryDepth::points(10)),
        ..request("sentiment:acme:volume", 10)
    };
    let requests = [request("acme", 10), request("unassigned", 11), request("nobody", 3), points];
    let pasts = history.load(&requests).await.expect("history loads");
    assert_eq!(pasts.len(), requests.len());

    let acme = pasts[0].articles.as_ref().expect("articles answered");
    assert_eq!(acme.last_emitted_hour, Some(origin() + TimeDelta::hours(2)));
    assert_eq!(acme.latest_seen_at, Some(origin() + TimeDelta::minutes(250)));
    let mut urls: Vec<&str> = acme.articles.iter().map(|a| a.url.as_str()).collect();
    urls.sort();
    assert_eq!(urls, ["a3", "a4"], "seen from 03:00, the end of the last hour emitted");
    assert!(acme.articles.iter().all(|a| a.compound == 0.25));
    assert!(pasts[0].complete, "the sink has stored offset 10 of partition 0");

    let unassigned = pasts[1].articles.as_ref().expect("articles answered");
    assert_eq!(unassigned.last_emitted_hour, None);
    assert_eq!(unassigned.latest_seen_at, Some(origin() + TimeDelta::hours(28)));
    let mut urls: Vec<&str> = unassigned.articles.iter().map(|a| a.url.as_str()).collect();
    urls.sort();
    assert_eq!(urls, ["u1", "u2"], "within 26 hours of the latest, with or without the tenant named");
    assert!(!pasts[1].complete, "offset 11 is not stored yet");

    let nobody = pasts[2].articles.as_ref().expect("articles answered");
    assert_eq!((nobody.last_emitted_hour, nobody.latest_seen_at, nobody.articles.len()), (None, None, 0));
    assert!(pasts[3].articles.is_none(), "a point history in the same look-up");
    assert_eq!(pasts[3].points_before, 3);
}
