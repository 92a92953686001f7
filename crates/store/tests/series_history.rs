//! [`PgSeriesHistory`] against a real PostgreSQL (`DATABASE_URL`'s server with a fresh database,
//! or a throwaway private server): the points it reads back are exactly as many as
//! [`HistoryDepth::points_to_replay`] says, for every branch of that formula, so the store and
//! the processors can never disagree on the replay depth.

use chrono::{DateTime, TimeDelta, Utc};
use signalcraft_process::{HistoryDepth, HistoryKind, HistoryRequest, SeriesHistory};
use signalcraft_store::{PgSeriesHistory, PrivatePostgres};
use sqlx::{postgres::PgPoolOptions, Connection, PgConnection, PgPool};

/// A fresh, migrated database, and the private server holding it when `DATABASE_URL` is unset.
async fn database() -> (PgPool, Option<PrivatePostgres>) {
    let (url, server) = match std::env::var("DATABASE_URL") {
        Ok(admin_url) => {
            let name = format!("signalcraft_store_test_{}", std::process::id());
            let mut admin = PgConnection::connect(&admin_url).await.expect("DATABASE_URL answers");
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut admin).await.expect("drop");
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create test database");
            let base = admin_url.rsplit_once('/').map(|(base, _)| base.to_string()).unwrap_or(admin_url.clone());
            (format!("{base}/{name}"), None)
        }
        Err(_) => {
            let server = PrivatePostgres::start_temporary("signalcraft").await.expect("private PostgreSQL starts");
            (server.url(), Some(server))
        }
    };
    let pool = PgPoolOptions::new().max_connections(2).connect(&url).await.expect("test database answers");
    signalcraft_store::migrate(&pool).await.expect("migrations apply");
    (pool, server)
}

fn origin() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("instant")
}

#[tokio::test]
async fn the_points_read_back_are_as_many_as_the_replay_depth_says() {
    let (pool, _server) = database().await;
    const STORED: i64 = 40;
    for month in [origin(), origin() + TimeDelta::hours(STORED)] {
        sqlx::query("SELECT signalcraft_ensure_month_partition('kpi_points', $1)")
            .bind(month.date_naive())
            .execute(&pool)
            .await
            .expect("partition created");
    }
    sqlx::query(
        "INSERT INTO kpi_points \
         SELECT 's', $1 + h * interval '1 hour', 't', 'm', 'u', h, 'test' FROM generate_series(0, $2 - 1) h",
    )
    .bind(origin())
    .bind(STORED)
    .execute(&pool)
    .await
    .expect("points stored");

    // Every branch of the formula: all points, capped without alignment, aligned, and an
    // alignment longer than the cap (which falls back to the cap).
    let depths = [
        HistoryDepth { max_points: 100, align_to: 1 },
        HistoryDepth { max_points: 16, align_to: 1 },
        HistoryDepth { max_points: 16, align_to: 5 },
        HistoryDepth { max_points: 7, align_to: 3 },
        HistoryDepth { max_points: 10, align_to: 50 },
        HistoryDepth { max_points: 0, align_to: 1 },
    ];
    let mut requests = Vec::new();
    for depth in depths {
        for hour in 0..=STORED {
            requests.push(HistoryRequest {
                series_id: "s".into(),
                before: origin() + TimeDelta::hours(hour),
                kind: HistoryKind::Points(depth),
                position: None,
            });
        }
    }
    let history = PgSeriesHistory::new(pool.clone(), "sink", "c1");
    let pasts = history.load(&requests).await.expect("history loads");
    assert_eq!(pasts.len(), requests.len());
    for (request, past) in requests.iter().zip(&pasts) {
        let HistoryKind::Points(depth) = request.kind else { unreachable!("point requests only") };
        let before = (request.before - origin()).num_hours();
        assert_eq!(past.points_before, before as u64, "{depth:?} before hour {before}");
        let replay = depth.points_to_replay(past.points_before);
        let hours: Vec<i64> = past.points.iter().map(|p| (p.ts - origin()).num_hours()).collect();
        let expected: Vec<i64> = (before - replay as i64..before).collect();
        assert_eq!(hours, expected, "{depth:?} before hour {before}: the last {replay} points");
    }
    pool.close().await;
}
