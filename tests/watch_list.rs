//! The watch list as an operator uses it: the pipeline runs with nothing to watch; a business
//! added with `signalcraft watch add` is fetched on the next cycle, without a restart — its
//! news and its weather land in PostgreSQL under its tenant id — and `signalcraft watch
//! remove` stops it. Bad input is refused with a message naming the option.

mod common;

use std::time::Duration;

use common::*;
use signalcraft::{app, Roles, RunOptions};
use tokio_util::sync::CancellationToken;

async fn count_where(database: &TestDatabase, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&database.pool).await.expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_business_added_while_running_is_fetched_on_the_next_cycle() {
    let database = TestDatabase::new().await;
    let broker = broker(3);
    let mut config = config_for(&broker, &database);
    // Nothing configured to watch; cycles of a second against the replay server.
    config.ingest.gdelt.interval_secs = 1;
    config.ingest.gdelt.min_interval_ms = 50;
    config.ingest.openmeteo.interval_secs = 1;
    config.ingest.openmeteo.quota_per_day = 86_400_000;
    config.ingest.fx.providers.clear();
    let options = RunOptions {
        roles: Roles { ingest: true, process: false, sink: true, serve: false },
        replay: Some(fixture("replay")),
        exit_when_done: false,
    };
    let shutdown = CancellationToken::new();
    let pipeline = tokio::spawn(app::run(config, options, shutdown.clone()));

    // Cycles go by with an empty watch list: nothing is fetched.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(database.count("news_articles").await, 0);
    assert_eq!(database.count("weather_observations").await, 0);

    let added = signalcraft(
        &database,
        &[
            "watch",
            "add",
            "--tenant-id",
            "vizhinjam-port",
            "--name",
            "Vizhinjam International Seaport",
            "--latitude",
            "52.52",
            "--longitude",
            "13.41",
            "--currency",
            "INR",
            "--gdelt-query",
            "vizhinjam",
        ],
    )
    .await;
    assert!(added.status.success(), "{}", stderr(&added));
    assert_eq!(stdout(&added).trim(), "added vizhinjam-port");

    // The next cycles fetch for it: the 4 recorded articles under its tenant id, and the
    // recorded forecast (168 hours + current conditions) under its tenant id as the location.
    let fetched = eventually(Duration::from_secs(30), || async {
        count_where(&database, "SELECT count(*) FROM news_articles WHERE tenant_id = 'vizhinjam-port'").await == 4
            && count_where(&database, "SELECT count(*) FROM weather_observations WHERE location_id = 'vizhinjam-port'")
                .await
                == 169
    })
    .await;
    assert!(
        fetched,
        "news {} / weather {}",
        database.count("news_articles").await,
        database.count("weather_observations").await
    );
    // The recorded current conditions: weather code 3 (overcast) at its own coordinates.
    let (weather_code, latitude): (Option<f64>, f64) = sqlx::query_as(
        "SELECT (variables->>'weather_code')::float8, latitude FROM weather_observations \
         WHERE location_id = 'vizhinjam-port' AND kind = 'CURRENT'",
    )
    .fetch_one(&database.pool)
    .await
    .expect("the current conditions");
    assert_eq!((weather_code, latitude), (Some(3.0), 52.52));

    let listed = signalcraft(&database, &["watch", "list", "--json"]).await;
    assert!(listed.status.success(), "{}", stderr(&listed));
    let entry: serde_json::Value = serde_json::from_str(stdout(&listed).trim()).expect("one JSON line");
    assert_eq!(entry["tenant_id"], "vizhinjam-port");
    assert_eq!(entry["currency"], "INR");
    assert_eq!(entry["latitude"], 52.52);
    assert_eq!(entry["gdelt_queries"], serde_json::json!(["vizhinjam"]));

    // Every cycle fetches it again (the rows' fetch time moves on) until it is removed.
    let latest_fetch = || async {
        sqlx::query_scalar::<_, Option<chrono::DateTime<chrono::Utc>>>(
            "SELECT max(fetched_at) FROM weather_observations WHERE location_id = 'vizhinjam-port'",
        )
        .fetch_one(&database.pool)
        .await
        .expect("latest fetch")
    };
    let fetched_at = latest_fetch().await;
    assert!(eventually(Duration::from_secs(10), || async { latest_fetch().await > fetched_at }).await);
    let removed = signalcraft(&database, &["watch", "remove", "vizhinjam-port"]).await;
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert_eq!(stdout(&removed).trim(), "removed vizhinjam-port");
    // A cycle already under way may still land; after that, nothing more for it.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after_removal = latest_fetch().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(latest_fetch().await, after_removal, "a removed business is no longer fetched");

    let listed = signalcraft(&database, &["watch", "list"]).await;
    assert_eq!(stdout(&listed).trim(), "0 watched business(es)");
    let again = signalcraft(&database, &["watch", "remove", "vizhinjam-port"]).await;
    assert!(!again.status.success());
    assert!(stderr(&again).contains("no watched business has tenant id `vizhinjam-port`"), "{}", stderr(&again));

    shutdown.cancel();
    pipeline.await.expect("the pipeline task").expect("the pipeline stops cleanly");
}

#[tokio::test]
async fn bad_businesses_are_refused_naming_the_option() {
    let database = TestDatabase::new().await;
    for (args, expected) in [
        (&["--tenant-id", "Acme Corp", "--name", "Acme"][..], "--tenant-id: `Acme Corp` must be 1–63 characters"),
        (&["--tenant-id", "acme", "--name", "Acme", "--currency", "euro"][..], "--currency: `euro` is not"),
        (&["--tenant-id", "acme", "--name", "Acme", "--latitude", "-91", "--longitude", "0"][..], "--latitude: -91"),
        (&["--tenant-id", "acme", "--name", "Acme", "--dq-project", "2302"][..], "PROJECT_ID@PERIOD_START"),
        (&["--tenant-id", "acme", "--name", "Acme", "--latitude", "52.5"][..], "--longitude"),
    ] {
        let mut command = vec!["watch", "add"];
        command.extend_from_slice(args);
        let output = signalcraft(&database, &command).await;
        assert!(!output.status.success(), "{args:?} was accepted");
        assert!(stderr(&output).contains(expected), "{args:?}: {}", stderr(&output));
    }
    assert_eq!(database.count("watched_businesses").await, 0, "nothing refused was stored");

    // A valid business with Digi-Cadence projects round-trips through the tables.
    let output = signalcraft(
        &database,
        &[
            "watch",
            "add",
            "--tenant-id",
            "acme",
            "--name",
            "Acme",
            "--dq-project",
            "2303@2023-07-01",
            "--dq-project",
            "2302@2023-04-01",
            "--dq-brand-id",
            "17",
        ],
    )
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let listed = signalcraft(&database, &["watch", "list"]).await;
    assert_eq!(
        stdout(&listed),
        "acme  \"Acme\"  dq-project 2302@2023-04-01  dq-project 2303@2023-07-01  dq-brands 17\n1 watched business(es)\n"
    );
    let replaced = signalcraft(&database, &["watch", "add", "--tenant-id", "acme", "--name", "Acme AG"]).await;
    assert_eq!(stdout(&replaced).trim(), "replaced acme");
    assert_eq!(database.count("watched_dq_projects").await, 0, "replacing drops the old projects");
}
