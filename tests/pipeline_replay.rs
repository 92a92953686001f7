//! The pipeline end to end, as the README runs it: the recorded payloads of all four upstreams
//! (ExchangeRate-API and Frankfurter, GDELT, Open-Meteo, Digi-Cadence) are replayed with the
//! watch list in tests/fixtures/replay/signalcraft.toml, and a tenant's KPI history (NYC taxi
//! passengers, tests/fixtures/kpi) imported, ingested onto the raw topics, scored and normalised
//! onto news.scored and kpi.points, forecast and alerted on, and sunk into PostgreSQL; a second
//! replay of the same payloads adds no row.

mod common;

use std::time::Duration;

use chrono::NaiveDate;
use common::*;
use signalcraft::{app, Roles, RunOptions};
use signalcraft_model::Topic;
use tokio_util::sync::CancellationToken;

/// The replayed KPI history (tests/fixtures/kpi/nyc_taxi_passengers.csv): its series and rows.
const TAXI: &str = "custom:vizhinjam-port:taxi_passengers";
const TAXI_POINTS: i64 = 1680;

fn replay_run() -> RunOptions {
    RunOptions { roles: Roles::ALL, replay: Some(fixture("replay")), exit_when_done: true }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_payloads_of_every_upstream_land_in_postgres_exactly_once() {
    let database = TestDatabase::new().await;
    let broker = broker(3);
    let config = replay_config(broker.bootstrap_servers(), &database);

    let summary = app::run(config.clone(), replay_run(), CancellationToken::new())
        .await
        .expect("replay run succeeds")
        .expect("a replay run prints a summary");

    // ExchangeRate-API: 162 rates for USD on 2022-09-20, less USD itself; Frankfurter: 30 ECB rates.
    assert_eq!(summary.records(Topic::RawFx), 161 + 30, "{summary}");
    // GDELT: the 4 Vizhinjam articles. Open-Meteo: 168 forecast hours + the current conditions.
    // Digi-Cadence: every brand × score of the three 2023 quarters.
    assert_eq!(summary.records(Topic::RawNews), 4, "{summary}");
    assert_eq!(summary.records(Topic::RawWeather), 169, "{summary}");
    assert_eq!(summary.records(Topic::RawBrandMetrics), 2030, "{summary}");
    // The KPI history: 1,680 half-hours of NYC taxi passengers for vizhinjam-port.
    assert_eq!(summary.records(Topic::RawKpi), TAXI_POINTS, "{summary}");
    assert_eq!(summary.records(Topic::NewsScored), 4, "{summary}");
    // One point per rate, per weather variable value, per brand score that is not missing, per
    // KPI row, and 3 hourly sentiment points (mean, volume, negative share) per closed hour of
    // news: the 4 articles close 3 hours (the latest hour stays open, waiting for late articles).
    let missing_scores: i64 = sqlx::query_scalar("SELECT count(*) FROM brand_metrics WHERE value IS NULL")
        .fetch_one(&database.pool)
        .await
        .expect("count");
    assert_eq!(missing_scores, 32);
    assert_eq!(summary.records(Topic::KpiPoints), 191 + 169 + (2030 - 32) + 3 * 3 + TAXI_POINTS, "{summary}");
    assert_eq!(summary.dead_letters, 0, "{summary}");
    for (table, rows) in [
        ("fx_rates", 191),
        ("news_articles", 4),
        ("news_sentiment", 4),
        ("weather_observations", 169),
        ("brand_metrics", 2030),
        ("kpi_points", 191 + 169 + 1998 + 9 + TAXI_POINTS),
    ] {
        assert_eq!(database.count(table).await, rows, "{table}");
    }
    // Every point is scored against its own series' past, except a state series': the replayed
    // weather is all `weather_code`, a WMO category, so none of its 169 points is scored. A point
    // older than its series' latest is not scored: only FX series can see that here (two
    // providers, one pair, racing).
    let scored_points: i64 = sqlx::query_scalar("SELECT count(*) FROM kpi_anomalies WHERE series_id NOT LIKE 'fx:%'")
        .fetch_one(&database.pool)
        .await
        .expect("count");
    assert_eq!(scored_points, 1998 + 9 + TAXI_POINTS, "{summary}");
    let (state_points, metric): (i64, Option<String>) = sqlx::query_as(
        "SELECT count(*), max(metric) FROM kpi_points WHERE series_id LIKE 'weather%:berlin:weather_code'",
    )
    .fetch_one(&database.pool)
    .await
    .expect("count");
    assert_eq!((state_points, metric.as_deref()), (169, Some("state:weather_code")), "kept as a state series");
    let weather_scored: i64 = sqlx::query_scalar("SELECT count(*) FROM kpi_anomalies WHERE series_id LIKE 'weather%'")
        .fetch_one(&database.pool)
        .await
        .expect("count");
    assert_eq!(weather_scored, 0, "a weather code is not scored as a number");
    let weather_alerts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM alert_notifications WHERE series_id LIKE '%weather_code%'")
            .fetch_one(&database.pool)
            .await
            .expect("count");
    assert_eq!(weather_alerts, 0, "the replayed forecast opens no alert on weather_code");
    let volume: f64 =
        sqlx::query_scalar("SELECT sum(value) FROM kpi_points WHERE series_id = 'sentiment:vizhinjam-port:volume'")
            .fetch_one(&database.pool)
            .await
            .expect("the tenant's hourly article volume");
    assert_eq!(volume, 3.0, "one article in each closed hour");
    let fx_scored: i64 = sqlx::query_scalar("SELECT count(*) FROM kpi_anomalies WHERE series_id LIKE 'fx:%'")
        .fetch_one(&database.pool)
        .await
        .expect("count");
    assert!((161..=191).contains(&fx_scored), "{fx_scored} FX points scored");
    let bad_scores: i64 = sqlx::query_scalar("SELECT count(*) FROM kpi_anomalies WHERE NOT score BETWEEN 0 AND 1")
        .fetch_one(&database.pool)
        .await
        .expect("count");
    assert_eq!(bad_scores, 0);
    // The hourly `weather_code` (168 points) is a category: it is not forecast as a number. The
    // taxi KPI is refit every 336 points (the replay's [process.forecast]): 5 forecasts of 30
    // days of half-hours, and 5 before the first refit, at the 16th, 32nd, 64th, 128th and
    // 256th point. The other series are too short to forecast.
    assert_eq!(summary.records(Topic::KpiForecasts), 5 + 5, "{summary}");
    let taxi_steps: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM kpi_forecast_latest WHERE series_id = $1 AND lower_95 <= lower_80 \
         AND lower_80 <= mean AND mean <= upper_80 AND upper_80 <= upper_95",
    )
    .bind(TAXI)
    .fetch_one(&database.pool)
    .await
    .expect("count");
    assert_eq!(taxi_steps, 30 * 48, "the latest taxi forecast, with nested 80/95 % intervals");
    // The detector flags 4 half-hours of the taxi KPI (one in the NYC marathon's NAB window);
    // each opens an alert (the replay's open_score is the flag threshold), resolved 3 normal
    // points later.
    let flagged: Vec<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT ts FROM kpi_anomalies WHERE series_id = $1 AND is_anomaly ORDER BY ts")
            .bind(TAXI)
            .fetch_all(&database.pool)
            .await
            .expect("flags");
    let flagged: Vec<String> = flagged.iter().map(|ts| ts.to_rfc3339()).collect();
    assert_eq!(
        flagged,
        [
            "2014-10-09T23:30:00+00:00",
            "2014-10-17T01:00:00+00:00",
            "2014-10-20T06:30:00+00:00",
            "2014-11-02T01:00:00+00:00"
        ]
    );
    let alerts: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT series_id, state, tenant_id FROM alert_states ORDER BY opened_at")
            .fetch_all(&database.pool)
            .await
            .expect("alerts");
    let resolved_taxi_alert = (TAXI.to_string(), "RESOLVED".to_string(), Some("vizhinjam-port".to_string()));
    assert_eq!(alerts, vec![resolved_taxi_alert; 4]);
    assert_eq!(summary.records(Topic::AlertsNotifications), 8, "4 opened, 4 resolved: {summary}");
    let steps: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM kpi_forecast_latest WHERE series_id = 'weather-forecast:berlin:weather_code'",
    )
    .fetch_one(&database.pool)
    .await
    .expect("count");
    assert_eq!(steps, 0, "no forecast of weather_code");

    let fx_series: i64 = sqlx::query_scalar("SELECT count(*) FROM kpi_latest WHERE series_id LIKE 'fx:%'")
        .fetch_one(&database.pool)
        .await
        .expect("count");
    // Every Frankfurter pair is also an ExchangeRate-API pair: 161 series, each with its latest point.
    assert_eq!(fx_series, 161, "{summary}");

    let seen_at: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT seen_at FROM news_articles WHERE url LIKE 'https://www.thehindu.com/news/national/kerala/customs-grants%'",
    )
    .fetch_one(&database.pool)
    .await
    .expect("the first Vizhinjam article landed");
    assert_eq!(seen_at.to_rfc3339(), "2024-06-15T17:00:00+00:00", "seendate 20240615T170000Z");
    let scored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM news_sentiment s JOIN news_articles a USING (url) \
         WHERE s.compound BETWEEN -1 AND 1 AND s.neg + s.neu + s.pos BETWEEN 0.99 AND 1.01 AND a.tenant_id = 'vizhinjam-port'",
    )
    .fetch_one(&database.pool)
    .await
    .expect("count");
    assert_eq!(scored, 4, "every article has its sentiment, under its tenant");
    let first_weather_code: f64 = sqlx::query_scalar(
        "SELECT value FROM kpi_points WHERE series_id = 'weather-forecast:berlin:weather_code' \
         AND ts = '2023-11-13T00:00:00Z'",
    )
    .fetch_one(&database.pool)
    .await
    .expect("the first forecast hour landed as a KPI point");
    assert_eq!(first_weather_code, 2.0);
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

    // The read models were kept in the sink's transactions, nothing recomputed them since.
    assert!(assert_read_models_match_their_rows(&database.pool).await > 0, "the replay filled the rollups");

    // Replaying the same payloads again puts the records on the topics twice, the rows once.
    let again = app::run(config, replay_run(), CancellationToken::new())
        .await
        .expect("second replay run succeeds")
        .expect("summary");
    assert_eq!(again.records(Topic::RawFx), 2 * 191, "{again}");
    assert_eq!(again.records(Topic::RawBrandMetrics), 2 * 2030, "{again}");
    assert_eq!(again.records(Topic::RawKpi), 2 * TAXI_POINTS, "{again}");
    // GDELT resumed from the high-water mark the first run stored once its articles were on the
    // topic: the restart fetched no article again (the replay server would have served them).
    assert_eq!(again.records(Topic::RawNews), 4, "{again}");
    let (mark, ids): (chrono::DateTime<chrono::Utc>, Vec<String>) =
        sqlx::query_as("SELECT seen_at, ids FROM ingest_high_water_marks WHERE source = 'gdelt'")
            .fetch_one(&database.pool)
            .await
            .expect("GDELT's mark is stored");
    assert_eq!(mark.to_rfc3339(), "2024-07-15T10:30:00+00:00", "the latest seendate of the 4 articles");
    assert_eq!(ids.len(), 1);
    for (table, rows) in [
        ("fx_rates", 191),
        ("news_articles", 4),
        ("news_sentiment", 4),
        ("weather_observations", 169),
        ("brand_metrics", 2030),
        ("kpi_points", 2367 + TAXI_POINTS),
        ("kpi_forecasts", 5 + 5),
        ("alert_states", 4),
    ] {
        assert_eq!(database.count(table).await, rows, "{table} after the second replay");
    }
    // The same payloads twice: the second delivery of every row was neutral.
    assert_read_models_match_their_rows(&database.pool).await;
}

/// The same replay through tansu, a Kafka-protocol broker of its own process written by other
/// people than our client (topics created through the Admin API, as on a real cluster). Tansu
/// 0.6.0 reports a partition's end offset as one past the last record *batch* rather than the
/// last record, so nothing that reads end offsets (the run's drain check and its per-topic
/// counts) can be trusted there: the run is stopped once PostgreSQL holds every row, and the
/// rows, not the topic counts, are checked. Run twice: the second delivery of every row is
/// neutral there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_payloads_land_exactly_once_through_a_second_broker_too() {
    let database = TestDatabase::new().await;
    let tansu = common::tansu::Tansu::start(3).await;
    let mut config = replay_config(tansu.bootstrap_servers(), &database);
    // Tansu makes each group join wait about half the session timeout.
    config.kafka.session_timeout_ms = 6_000;
    let expected = [
        ("fx_rates", 191),
        ("news_articles", 4),
        ("news_sentiment", 4),
        ("weather_observations", 169),
        ("brand_metrics", 2030),
        ("kpi_points", 191 + 169 + 1998 + 9 + TAXI_POINTS),
        ("kpi_forecasts", 5 + 5),
        ("alert_states", 4),
    ];
    let scored = |pattern: &'static str| {
        let pool = database.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM kpi_anomalies WHERE series_id LIKE $1")
                .bind(pattern)
                .fetch_one(&pool)
                .await
                .expect("count")
        }
    };
    for run in ["first", "second"] {
        let shutdown = CancellationToken::new();
        let options = RunOptions { exit_when_done: false, ..replay_run() };
        let pipeline = tokio::spawn(app::run(config.clone(), options, shutdown.clone()));
        let landed = eventually(Duration::from_secs(300), || async {
            let mut all = true;
            for (table, rows) in expected {
                all &= database.count(table).await == rows;
            }
            // Two FX providers race for one pair at two dates: the point that arrives second
            // is late when it is the older, and not scored (as on the mock cluster). The weather
            // code is a state series, not scored.
            all && database.count("kpi_anomalies").await - scored("fx:%").await == 1998 + 9 + TAXI_POINTS
                && scored("fx:%").await >= 161
        })
        .await;
        shutdown.cancel();
        let stopped = tokio::time::timeout(Duration::from_secs(60), pipeline).await;
        for (table, rows) in expected {
            assert_eq!(database.count(table).await, rows, "{table} after the {run} replay through tansu");
        }
        assert!(landed, "every row landed through tansu in the {run} replay");
        stopped.expect("stops on shutdown").expect("joins").expect("runs without error");
        assert!((161..=191).contains(&scored("fx:%").await));
        assert_read_models_match_their_rows(&database.pool).await;
    }
}

/// The README's first command keeps its database between runs but starts a new embedded broker
/// each time: offsets stored for the old broker's topics must neither seek nor fence the new
/// ones, or the second run would skip its records as "already written".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_outlives_its_broker_still_receives_every_record() {
    let database = TestDatabase::new().await;
    let first_broker = broker(3);
    let run =
        app::run(replay_config(first_broker.bootstrap_servers(), &database), replay_run(), CancellationToken::new());
    tokio::time::timeout(Duration::from_secs(180), run).await.expect("first run drains").expect("first run succeeds");
    assert_eq!(database.count("fx_rates").await, 191);
    sqlx::query("DELETE FROM fx_rates").execute(&database.pool).await.expect("rows removed");

    // Started before the first one is dropped: librdkafka names a mock cluster after its address
    // in memory, so a broker allocated where the freed one was would report the same cluster id
    // (a real cluster never does; the binary's own embedded broker makes its id unique).
    let second_broker = broker(3);
    drop(first_broker);
    // Without the cluster check the sink would fence every new record and never drain.
    let run =
        app::run(replay_config(second_broker.bootstrap_servers(), &database), replay_run(), CancellationToken::new());
    let summary = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("second run drains")
        .expect("second run succeeds")
        .expect("summary");
    assert_eq!(summary.records(Topic::RawFx), 191, "a new broker, new topics: {summary}");
    assert_eq!(database.count("fx_rates").await, 191, "the new broker's records were written, not fenced");
}
