//! Retention as an operator runs it (`signalcraft retention run [--dry-run]`) against a real
//! PostgreSQL: monthly partitions whose every row is past the period are dropped whole, younger
//! ones stay; expired articles are deleted; delivered webhook payloads are purged; the read
//! models keep describing what was dropped; a dry run changes nothing. The points of old
//! months are written by the sink itself, which creates their partitions on demand.

mod common;

use chrono::{DateTime, Months, TimeDelta, Utc};
use common::*;

use signalcraft_model::{KpiPoint, ScoredArticle};
use signalcraft_sink::PostgresSink;
use sqlx::PgPool;

fn point(ts: DateTime<Utc>, value: f64) -> KpiPoint {
    KpiPoint {
        series_id: "custom:acme:sales".into(),
        tenant_id: Some("acme".into()),
        metric: "sales".into(),
        unit: "count".into(),
        ts,
        value,
        source: "test".into(),
    }
}

async fn partitions_of(pool: &PgPool, table: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = to_regclass($1) ORDER BY 1",
    )
    .bind(table)
    .fetch_all(pool)
    .await
    .expect("catalog")
}

async fn snapshot(pool: &PgPool) -> (i64, i64, i64, i64, Vec<String>, i64) {
    let count =
        |query: &'static str| async move { sqlx::query_scalar::<_, i64>(query).fetch_one(pool).await.expect("count") };
    (
        count("SELECT count(*) FROM kpi_points").await,
        count("SELECT count(*) FROM kpi_anomalies").await,
        count("SELECT count(*) FROM news_sentiment").await,
        count("SELECT count(*) FROM webhook_deliveries WHERE payload = 'null'::jsonb").await,
        partitions_of(pool, "kpi_points").await,
        count("SELECT count(*) FROM kpi_hourly").await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_months_articles_and_payloads_go_young_ones_and_rollups_stay() {
    let database = TestDatabase::new().await;
    let pool = &database.pool;
    let now = Utc::now();
    // 30 and 20 months ago (past 400 days), 1953 (a weather backfill's age), and
    // 10 days ago (young).
    let old = [
        now.checked_sub_months(Months::new(30)).expect("instant"),
        now.checked_sub_months(Months::new(20)).expect("instant"),
        DateTime::parse_from_rfc3339("1953-01-31T12:00:00Z").expect("instant").with_timezone(&Utc),
    ];
    let young = now - TimeDelta::days(10);
    let points: Vec<KpiPoint> = old.iter().chain([&young]).enumerate().map(|(i, &ts)| point(ts, i as f64)).collect();
    let anomalies = unremarkable_scores(&points);
    let article = |url: &str, seen_at| ScoredArticle {
        url: url.into(),
        tenant_id: Some("acme".into()),
        title: "t".into(),
        seen_at,
        neg: 0.0,
        neu: 1.0,
        pos: 0.0,
        compound: 0.0,
    };
    let articles =
        vec![article("https://old.example/", now - TimeDelta::days(120)), article("https://new.example/", young)];

    let mut sink = PostgresSink::new(pool.clone(), "test-sink");
    for batch in [consumed(&points, 0), consumed(&anomalies, 0), consumed(&articles, 0)] {
        let dead = sink.write_batch(&batch).await.expect("written, its months' partitions made on demand");
        assert!(dead.is_empty(), "{dead:?}");
    }
    assert_eq!(partitions_of(pool, "kpi_points").await.len(), 4, "one partition per month written");
    for (status, days_ago) in [("DELIVERED", 40), ("DELIVERED", 5), ("FAILED", 40)] {
        sqlx::query(
            "INSERT INTO webhook_deliveries (notification_id, endpoint, status, attempts, payload, first_attempt_at, \
             finished_at) VALUES ($1, 'ops', $2, 1, '{\"alert\": 1}', $3, $3)",
        )
        .bind(format!("{status}-{days_ago}"))
        .bind(status)
        .bind(now - TimeDelta::days(days_ago))
        .execute(pool)
        .await
        .expect("delivery stored");
    }
    let hourly_before: Vec<(DateTime<Utc>, i64, f64)> =
        sqlx::query_as("SELECT hour, points, sum FROM kpi_hourly ORDER BY 1").fetch_all(pool).await.expect("rollups");
    let before = snapshot(pool).await;

    let config_dir = tempfile::tempdir().expect("temp dir");
    let config = config_dir.path().join("signalcraft.toml");
    std::fs::write(
        &config,
        "[retention]\nkpi_points_days = 400\nkpi_anomalies_days = 400\narticles_days = 90\nwebhook_payload_days = 30\n",
    )
    .expect("config written");
    let config = config.to_str().expect("utf-8 path");
    let dry = signalcraft(&database, &["--config", config, "retention", "run", "--dry-run"]).await;
    assert!(dry.status.success(), "{}", stderr(&dry));
    let shown = stdout(&dry);
    assert!(shown.starts_with("would remove (dry run, nothing changed):"), "{shown}");
    let month = |at: DateTime<Utc>| at.format("kpi_points_p%Y%m").to_string();
    for &at in &old {
        assert!(shown.contains(&format!("kpi_points: partition {}", month(at))), "{shown}");
    }
    assert!(!shown.contains(&month(young)), "{shown}");
    assert!(shown.contains("news_sentiment: 1 rows") && shown.contains("webhook_deliveries: 1 payloads"), "{shown}");
    assert_eq!(snapshot(pool).await, before, "a dry run changes nothing");

    let untouched = signalcraft(&database, &["retention", "run"]).await;
    assert!(stdout(&untouched).contains("webhook_deliveries: 0 payloads"), "{}", stdout(&untouched));
    assert_eq!(snapshot(pool).await, before, "unconfigured, every period is forever");
    let run = signalcraft(&database, &["--config", config, "retention", "run"]).await;
    assert!(run.status.success(), "{}", stderr(&run));
    let (points_left, anomalies_left, articles_left, purged, partitions, _) = snapshot(pool).await;
    assert_eq!((points_left, anomalies_left, articles_left, purged), (1, 1, 1, 1));
    assert_eq!(partitions, vec![month(young)], "only the young month's partition is left");
    assert_eq!(partitions_of(pool, "kpi_anomalies").await, vec![month(young).replace("kpi_points", "kpi_anomalies")]);
    let failed_payload: serde_json::Value =
        sqlx::query_scalar("SELECT payload FROM webhook_deliveries WHERE status = 'FAILED'")
            .fetch_one(pool)
            .await
            .expect("failed delivery");
    assert_eq!(failed_payload, serde_json::json!({"alert": 1}), "a FAILED delivery keeps its payload to be resent");
    let hourly_after: Vec<(DateTime<Utc>, i64, f64)> =
        sqlx::query_as("SELECT hour, points, sum FROM kpi_hourly ORDER BY 1").fetch_all(pool).await.expect("rollups");
    assert_eq!(hourly_after, hourly_before, "the rollups outlive the points they summarise");
    let days: i64 = sqlx::query_scalar("SELECT count(*) FROM sentiment_daily").fetch_one(pool).await.expect("days");
    assert_eq!(days, 2, "daily sentiment outlives the articles");
}
