//! The walking skeleton end to end, as the README runs it: recorded ExchangeRate-API and
//! Frankfurter payloads are replayed, ingested onto raw.fx, normalised onto kpi.points and
//! sunk into PostgreSQL; a second replay of the same payloads adds no row.

mod common;

use chrono::NaiveDate;
use common::*;
use signalcraft::{app, Roles, RunOptions};
use signalcraft_model::Topic;
use tokio_util::sync::CancellationToken;

fn replay_run() -> RunOptions {
    RunOptions { roles: Roles::ALL, replay: Some(fixture("replay")), exit_when_done: true }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_fx_payloads_land_in_postgres_exactly_once() {
    let database = TestDatabase::new().await;
    let broker = broker(3);
    let config = config_for(&broker, &database);

    let summary = app::run(config.clone(), replay_run(), CancellationToken::new())
        .await
        .expect("replay run succeeds")
        .expect("a replay run prints a summary");

    // ExchangeRate-API: 162 rates for USD on 2022-09-20, less USD itself; Frankfurter: 30 ECB rates.
    assert_eq!(summary.records(Topic::RawFx), 161 + 30, "{summary}");
    assert_eq!(summary.records(Topic::KpiPoints), 191, "{summary}");
    assert_eq!(summary.dead_letters, 0, "{summary}");
    assert_eq!(database.count("fx_rates").await, 191);
    assert_eq!(database.count("kpi_points").await, 191);
    // Every Frankfurter pair is also an ExchangeRate-API pair: 161 series, each with its latest point.
    assert_eq!(summary.rows("kpi_latest"), 161, "{summary}");
    let latest_eur: f64 = sqlx::query_scalar("SELECT value FROM kpi_latest WHERE series_id = 'fx:USD:EUR'")
        .fetch_one(&database.pool)
        .await
        .expect("the dashboards' latest USD→EUR");
    assert_eq!(latest_eur, 0.88137, "2025-04-11 is later than 2022-09-20");

    let (rate, provider, published): (f64, String, Option<chrono::DateTime<chrono::Utc>>) = sqlx::query_as(
        "SELECT rate, provider, published_at FROM fx_rates WHERE base = 'USD' AND quote = 'EUR' AND rate_date = $1",
    )
    .bind(NaiveDate::from_ymd_opt(2022, 9, 20).expect("date"))
    .fetch_one(&database.pool)
    .await
    .expect("USD→EUR 2022-09-20 landed");
    assert_eq!((rate, provider.as_str()), (0.999, "exchangerate-api"));
    assert_eq!(published.map(|p| p.timestamp()), Some(1_663_632_002));

    let cny: f64 = sqlx::query_scalar("SELECT rate FROM fx_rates WHERE quote = 'CNY' AND rate_date = '2022-09-20'")
        .fetch_one(&database.pool)
        .await
        .expect("USD→CNY landed");
    assert_eq!(cny, 7.0, "the integer 7 in the payload is a rate like any other");

    let (eur_2025, source): (f64, String) = sqlx::query_as(
        "SELECT value, source FROM kpi_points WHERE series_id = 'fx:USD:EUR' AND ts = '2025-04-11T00:00:00Z'",
    )
    .fetch_one(&database.pool)
    .await
    .expect("Frankfurter's USD→EUR point landed");
    assert_eq!((eur_2025, source.as_str()), (0.88137, "raw.fx/frankfurter"));

    // Every partition's stored offset covers every record the sink consumed.
    let stored: i64 = sqlx::query_scalar("SELECT sum(next_offset)::bigint FROM sink_offsets WHERE topic = 'raw.fx'")
        .fetch_one(&database.pool)
        .await
        .expect("offsets stored");
    assert_eq!(stored, 191);

    // Replaying the same payloads again puts the records on the topics twice, the rows once.
    let again = app::run(config, replay_run(), CancellationToken::new())
        .await
        .expect("second replay run succeeds")
        .expect("summary");
    assert_eq!(again.records(Topic::RawFx), 2 * 191, "{again}");
    assert_eq!(database.count("fx_rates").await, 191);
    assert_eq!(database.count("kpi_points").await, 191);
}
