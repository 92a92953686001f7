//! The read models dashboards read, kept by the sink's transactions: after batches of new
//! points, points delivered again with the same values (neutral) and with new values (their
//! buckets recomputed), every rollup equals a `GROUP BY` over the stored rows, and the latest
//! point of each series is its newest row. Built as the consumer hands batches over, against a
//! real PostgreSQL.

mod common;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use common::*;
use signalcraft_model::{AlertNotification, AlertTransition, KpiPoint, ScoredArticle, Severity};
use signalcraft_sink::PostgresSink;

/// Messages of `records` on their topic's partition 0, from `first_offset` on.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 22, 0, 0).single().expect("instant")
}

/// A deterministic series of points every 20 minutes over two days, for `series` series.
fn points(series: usize) -> Vec<KpiPoint> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 10_000) as f64 / 7.0 - 400.0
    };
    let mut points = Vec::new();
    for step in 0..(2 * 24 * 3) {
        for s in 0..series {
            points.push(KpiPoint {
                series_id: format!("custom:t{}:m{s}", s % 2),
                tenant_id: Some(format!("t{}", s % 2)),
                metric: format!("m{s}"),
                unit: "count".into(),
                ts: start() + TimeDelta::minutes(20 * step),
                value: next(),
                source: "test".into(),
            });
        }
    }
    points
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_and_latest_points_follow_new_repeated_and_changed_points() {
    let database = TestDatabase::new().await;
    let mut sink = PostgresSink::new(database.pool.clone(), "test-sink");
    let all = points(4);
    let mut offset = 0;
    // New points in uneven batches, so buckets are folded across batches.
    for batch in all.chunks(37) {
        assert!(sink.write_batch(&consumed(batch, offset)).await.expect("written").is_empty());
        offset += batch.len() as i64;
    }
    let rollups = assert_read_models_match_their_rows(&database.pool).await;
    assert_eq!(rollups, 4 * (48 + 3), "48 hours from 22:00 are 48 hours over 3 days, per series");

    // The same points produced again (new offsets, same values): neutral.
    let hourly_before: Vec<(String, DateTime<Utc>, i64, f64)> =
        sqlx::query_as("SELECT series_id, hour, points, sum FROM kpi_hourly ORDER BY 1, 2")
            .fetch_all(&database.pool)
            .await
            .expect("rollups");
    for batch in all[..200].chunks(50) {
        sink.write_batch(&consumed(batch, offset)).await.expect("written");
        offset += batch.len() as i64;
    }
    let hourly_after: Vec<(String, DateTime<Utc>, i64, f64)> =
        sqlx::query_as("SELECT series_id, hour, points, sum FROM kpi_hourly ORDER BY 1, 2")
            .fetch_all(&database.pool)
            .await
            .expect("rollups");
    assert_eq!(hourly_after, hourly_before, "a point delivered again with the same value folds nothing");

    // Some points again with other values, among new ones: changed buckets are recomputed.
    let mut changed: Vec<KpiPoint> = all.iter().step_by(7).cloned().collect();
    for point in &mut changed {
        point.value = point.value * 3.0 + 1.0;
    }
    let newest = all.last().expect("points").ts;
    changed.extend((1..=3).map(|hour| KpiPoint {
        ts: newest + TimeDelta::hours(hour),
        value: 1e6 + hour as f64,
        ..all[0].clone()
    }));
    sink.write_batch(&consumed(&changed, offset)).await.expect("written");
    assert_read_models_match_their_rows(&database.pool).await;
    let (latest_ts, latest_value): (DateTime<Utc>, f64) =
        sqlx::query_as("SELECT ts, value FROM kpi_latest WHERE series_id = $1")
            .bind(&all[0].series_id)
            .fetch_one(&database.pool)
            .await
            .expect("latest point");
    assert_eq!((latest_ts, latest_value), (newest + TimeDelta::hours(3), 1e6 + 3.0));
    let (points, max): (i64, f64) =
        sqlx::query_as("SELECT points, max FROM kpi_daily WHERE series_id = $1 AND day = $2")
            .bind(&all[0].series_id)
            .bind((newest + TimeDelta::hours(3)).date_naive())
            .fetch_one(&database.pool)
            .await
            .expect("the newest day");
    assert_eq!((points, max), (1, 1e6 + 3.0), "the newest point is alone on its day (00:40)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_sentiment_and_alert_states_follow_their_rows() {
    let database = TestDatabase::new().await;
    let mut sink = PostgresSink::new(database.pool.clone(), "test-sink");
    let article = |url: &str, tenant: Option<&str>, hours: i64, compound: f64| ScoredArticle {
        url: url.into(),
        tenant_id: tenant.map(str::to_string),
        title: format!("title of {url}"),
        seen_at: start() + TimeDelta::hours(hours),
        neg: 0.0,
        neu: 1.0,
        pos: 0.0,
        compound,
    };
    let articles = vec![
        article("https://a.example/1", Some("acme"), 0, -0.6),
        article("https://a.example/2", Some("acme"), 1, 0.0),
        article("https://a.example/3", Some("acme"), 3, 0.7),
        article("https://a.example/1", Some("globex"), 0, -0.6),
        article("https://a.example/4", None, 5, 0.2),
    ];
    sink.write_batch(&consumed(&articles, 0)).await.expect("written");
    // Re-scored: one article moves to another day and turns positive.
    let rescored = vec![article("https://a.example/2", Some("acme"), 30, 0.9)];
    sink.write_batch(&consumed(&rescored, 5)).await.expect("written");
    assert_read_models_match_their_rows(&database.pool).await;
    let acme: Vec<(chrono::NaiveDate, i64, i64, i64)> = sqlx::query_as(
        "SELECT day, articles, negative, positive FROM sentiment_daily WHERE tenant_id = 'acme' ORDER BY day",
    )
    .fetch_all(&database.pool)
    .await
    .expect("acme's days");
    let day = |hours: i64| (start() + TimeDelta::hours(hours)).date_naive();
    assert_eq!(acme, vec![(day(0), 1, 1, 0), (day(3), 1, 0, 1), (day(30), 1, 0, 1)]);

    let notification = |id: &str, alert: &str, transition, minutes: i64| AlertNotification {
        notification_id: id.into(),
        alert_id: alert.into(),
        dedupe_key: format!("key-{alert}"),
        rule_id: None,
        series_id: "custom:acme:sales".into(),
        tenant_id: Some("acme".into()),
        transition,
        severity: Severity::Warning,
        message: "m".into(),
        value: 1.0,
        score: Some(0.95),
        occurred_at: start() + TimeDelta::minutes(minutes),
    };
    let first = vec![
        notification("n1", "a1", AlertTransition::Opened, 0),
        notification("n2", "a2", AlertTransition::Opened, 5),
    ];
    sink.write_batch(&consumed(&first, 0)).await.expect("written");
    let open: Vec<String> =
        sqlx::query_scalar("SELECT alert_id FROM alerts WHERE state = 'OPEN' AND tenant_id = 'acme' ORDER BY 1")
            .fetch_all(&database.pool)
            .await
            .expect("open alerts");
    assert_eq!(open, ["a1", "a2"]);
    let resolved = vec![notification("n3", "a1", AlertTransition::Resolved, 30)];
    sink.write_batch(&consumed(&resolved, 2)).await.expect("written");
    let states: Vec<(String, String, Option<DateTime<Utc>>)> =
        sqlx::query_as("SELECT alert_id, state, resolved_at FROM alerts ORDER BY 1")
            .fetch_all(&database.pool)
            .await
            .expect("alerts");
    assert_eq!(
        states,
        vec![
            ("a1".to_string(), "RESOLVED".to_string(), Some(start() + TimeDelta::minutes(30))),
            ("a2".to_string(), "OPEN".to_string(), None),
        ]
    );
    assert_read_models_match_their_rows(&database.pool).await;
}
