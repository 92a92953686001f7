//! Hourly sentiment aggregates rebuilt after a restart, from PostgreSQL: the last emitted hour,
//! the articles after it, the tenant-less articles, the span without an emitted hour, and
//! completeness from the sink's stored offsets.

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use common::*;
use signalcraft::history::PgSeriesHistory;
use signalcraft_process::{history::StreamPosition, HistoryDepth, HistoryKind, HistoryRequest, SeriesHistory};

fn origin() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 4, 8, 0, 0).single().expect("instant")
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
