//! The dashboard page (`/`) in a real browser, headless Chromium: after the README's replay, a
//! replayed tenant's page shows its KPI series with the latest forecast's 80 % and 95 % bands
//! and anomaly markers, its alerts, rules and news, with no script error and no
//! Content-Security-Policy violation, signed in through the address's fragment (which the page
//! then removes); an editor creates and deletes a rule through the page. A second test pushes a
//! KPI value while the page is open and sees the chart and its tile follow over the event
//! stream without a reload, then stops the server and sees the page say the stream is down.
//!
//! Screenshots go to `$CARGO_TARGET_DIR/dashboard/` (or `target/dashboard/`); with
//! `UPDATE_SCREENSHOTS=1` the first test also writes the README's
//! `docs/dashboard.png`.

mod common;

use std::{path::PathBuf, time::Duration};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use common::{browser::Browser, *};
use serde_json::json;
use signalcraft::{app, Roles, RunOptions};
use signalcraft_api::{ApiConfig, Intake, Role, TenantApi, TenantId, TokenSigner};
use signalcraft_kafka::{EmbeddedBroker, RecordProducer};
use signalcraft_model::{Plausibility, Topic};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

const KEY: &[u8] = b"dashboard page test key, 32 bytes or more";
/// The replayed tenant whose page is checked, and its KPI history (tests/fixtures/kpi).
const TENANT: &str = "vizhinjam-port";
const TAXI: &str = "custom:vizhinjam-port:taxi_passengers";

fn token(tenant: &str, role: Role) -> String {
    let signer = TokenSigner::new(KEY, Duration::from_secs(900));
    signer.issue("dashboard-test", &TenantId::parse(tenant).expect("tenant"), role).expect("token")
}

/// The API and the page on 127.0.0.1 until `shutdown`, pushes going to `broker`; returns
/// `http://127.0.0.1:PORT`.
async fn serve(pool: &PgPool, broker: &EmbeddedBroker, shutdown: &CancellationToken) -> String {
    let config = ApiConfig { requests_per_minute: 60_000, burst: 1_000, events_poll_ms: 200, ..ApiConfig::default() };
    let producer = RecordProducer::new(&kafka_settings(broker), "dashboard-test").expect("producer");
    let intake = Intake { producer, window: Plausibility::for_topic(Topic::RawKpi) };
    let signer = TokenSigner::new(KEY, Duration::from_secs(900));
    let api = TenantApi::start_with_intake(&config, signer, pool, Some(intake), shutdown.clone())
        .await
        .expect("the API starts");
    for (_, task) in api.tasks {
        tokio::spawn(task);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let address = listener.local_addr().expect("address");
    let (router, shutdown) = (api.router, shutdown.clone());
    tokio::spawn(async move {
        axum::serve(listener, router).with_graceful_shutdown(shutdown.cancelled_owned()).await.expect("serves")
    });
    format!("http://{address}")
}

/// Runs blocking browser calls on this worker thread (the server runs on the others).
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(work)
}

fn number(value: &serde_json::Value) -> i64 {
    value.as_str().and_then(|text| text.parse().ok()).or_else(|| value.as_i64()).unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn after_the_replay_the_page_shows_forecast_bands_anomalies_alerts_and_news() {
    let database = TestDatabase::new().await;
    let broker = broker(3);
    let replay = RunOptions { roles: Roles::ALL, replay: Some(fixture("replay")), exit_when_done: true };
    let summary = app::run(replay_config(broker.bootstrap_servers(), &database), replay, CancellationToken::new())
        .await
        .expect("the README's replay runs")
        .expect("a summary");
    assert_eq!(summary.dead_letters, 0, "{summary}");
    let shutdown = CancellationToken::new();
    let base = serve(&database.pool, &broker, &shutdown).await;
    let editor = token(TENANT, Role::Editor);

    let mut browser = blocking(|| Browser::launch(1400, 1000));
    blocking(|| {
        browser.navigate(&format!("{base}/#token={editor}"));
        let ready = browser.wait_for(
            &format!(
                "document.getElementById('board').dataset.state === 'ready' && \
                 document.getElementById('chart').dataset.series === '{TAXI}'"
            ),
            Duration::from_secs(30),
        );
        assert!(ready.is_some(), "the chart of {TAXI} is drawn: {}", browser.eval("document.body.innerText"));
    });

    // The token left the address bar; who is signed in is shown.
    assert_eq!(blocking(|| browser.eval("location.hash")), json!(""));
    assert_eq!(blocking(|| browser.eval("location.href")), json!(format!("{base}/")));
    assert_eq!(
        blocking(|| browser.eval("document.getElementById('who').textContent")),
        json!("Tenant vizhinjam-port · editor")
    );

    // The series picker searches the catalogue.
    let found = blocking(|| {
        browser.eval(
            "(() => { const search = document.getElementById('series-search'); search.value = 'taxi'; \
             search.dispatchEvent(new Event('input')); \
             return [...document.querySelectorAll('#series-select option')].map((o) => o.value); })()",
        )
    });
    assert_eq!(found, json!([TAXI]));

    // The chart: values, the latest forecast with both bands, anomaly markers, alert marks.
    let chart = blocking(|| browser.eval("({ ...document.getElementById('chart').dataset })"));
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM kpi_points WHERE series_id = $1")
        .bind(TAXI)
        .fetch_one(&database.pool)
        .await
        .expect("count");
    assert_eq!(number(&chart["points"]), stored, "{chart}");
    let steps: i64 = sqlx::query_scalar("SELECT count(*) FROM kpi_forecast_latest WHERE series_id = $1")
        .bind(TAXI)
        .fetch_one(&database.pool)
        .await
        .expect("count");
    assert!(steps > 0, "the replay forecast the taxi series");
    assert_eq!(number(&chart["forecastSteps"]), steps, "{chart}");
    // The first week is drawn: 7 days of half-hours.
    assert_eq!(number(&chart["forecastShown"]), 7 * 48, "{chart}");
    assert_eq!(chart["bands"], json!("80,95"), "{chart}");
    let flagged: i64 = sqlx::query_scalar("SELECT count(*) FROM kpi_anomalies WHERE series_id = $1 AND is_anomaly")
        .bind(TAXI)
        .fetch_one(&database.pool)
        .await
        .expect("count");
    assert!(flagged >= 1, "the replay flags anomalies in the taxi series");
    assert_eq!(number(&chart["anomalies"]), flagged, "{chart}");
    let canvases = blocking(|| browser.eval("document.querySelectorAll('#chart-plot canvas').length"));
    assert_eq!(canvases, json!(1));
    let marks = blocking(|| {
        browser.eval("[...document.querySelectorAll('#marks tr td:nth-child(2)')].map((td) => td.textContent)")
    });
    let marks: Vec<String> = serde_json::from_value(marks).expect("strings");
    assert_eq!(marks.iter().filter(|mark| *mark == "Anomaly").count() as i64, flagged);
    assert!(marks.iter().any(|mark| mark == "Alert opened"), "{marks:?}");
    assert!(marks.iter().any(|mark| mark == "Alert resolved"), "{marks:?}");

    // The alerts (the replay's all resolved), tiles, news with sentiment, the hourly sentiment.
    let alerts: Vec<String> = sqlx::query_scalar("SELECT state FROM alert_states WHERE tenant_id = $1")
        .bind(TENANT)
        .fetch_all(&database.pool)
        .await
        .expect("alerts");
    assert!(!alerts.is_empty(), "the replay raised alerts");
    let listed = blocking(|| {
        browser.eval("[...document.querySelectorAll('#alerts li[data-alert]')].map((li) => li.dataset.state)")
    });
    let listed: Vec<String> = serde_json::from_value(listed).expect("strings");
    assert_eq!(listed, alerts);
    assert_eq!(number(&chart["alertMarks"]), 2 * alerts.len() as i64, "opened and resolved: {chart}");
    let tiles = blocking(|| browser.eval("[...document.querySelectorAll('#tiles li')].map((li) => li.dataset.series)"));
    assert_eq!(tiles[0], json!(TAXI), "{tiles}");
    assert!(tiles.as_array().is_some_and(|tiles| tiles.len() >= 4), "the KPI and the sentiment series: {tiles}");
    let change = blocking(|| browser.eval("document.querySelector('#tiles li .change').textContent"));
    assert!(change.as_str().is_some_and(|text| text.ends_with("vs the day before")), "{change}");
    let news = blocking(|| browser.eval("[...document.querySelectorAll('#news li[data-compound]')].length"));
    assert_eq!(news, json!(4), "the 4 replayed articles");
    let sentiment = blocking(|| browser.eval("document.getElementById('sentiment-chart').dataset.points"));
    assert!(number(&sentiment) >= 1, "{sentiment}");

    // An editor creates a rule through the form, sees it, and deletes it.
    blocking(|| {
        browser.eval(
            "(() => { document.getElementById('rule-new').click(); \
             document.getElementById('rule-name').value = 'taxi rush'; \
             document.getElementById('rule-pattern').value = 'custom:vizhinjam-port:%'; \
             document.getElementById('rule-comparison').value = '>'; \
             document.getElementById('rule-threshold').value = '30000'; \
             document.getElementById('rule-form').requestSubmit(); })()",
        );
        let listed = browser.wait_for(
            "[...document.querySelectorAll('#rules tr[data-rule] td:first-child')].map((td) => td.textContent).join()",
            Duration::from_secs(10),
        );
        assert_eq!(listed, Some(json!("taxi rush")));
    });
    let stored: Vec<(String, String, f64)> =
        sqlx::query_as("SELECT name, comparison, threshold FROM alert_rules WHERE tenant_id = $1")
            .bind(TENANT)
            .fetch_all(&database.pool)
            .await
            .expect("rules");
    assert_eq!(stored, vec![("taxi rush".to_string(), ">".to_string(), 30000.0)]);

    let (light, dark) = (browser::screenshot_path("dashboard.png"), browser::screenshot_path("dashboard-dark.png"));
    blocking(|| {
        browser.screenshot(&light);
        browser.color_scheme("dark");
        let redrawn =
            browser.wait_for("document.getElementById('chart').dataset.scheme === 'dark'", Duration::from_secs(10));
        assert!(redrawn.is_some(), "the chart is drawn again in the dark scheme's colours");
        browser.screenshot(&dark);
        browser.color_scheme("light");
    });
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some_and(|value| value == "1") {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/dashboard.png");
        std::fs::copy(&light, &docs).expect("docs/dashboard.png written");
    }

    blocking(|| {
        browser.eval(
            "window.confirm = () => true; document.querySelector('#rules tr[data-rule] button:last-child').click()",
        );
        let gone =
            browser.wait_for("document.querySelectorAll('#rules tr[data-rule]').length === 0", Duration::from_secs(10));
        assert!(gone.is_some(), "the rule is gone from the page");
    });
    assert_eq!(database.count("alert_rules").await, 0);

    let problems = blocking(|| browser.problems());
    assert!(problems.is_empty(), "the page reported problems: {problems:#?}");
    shutdown.cancel();
}

/// 48 hourly values of a steady KPI, ending an hour before `end`.
fn history_csv(end: DateTime<Utc>) -> String {
    let mut csv = String::from("ts,metric,value,unit\n");
    for hour in (1..=48).rev() {
        let ts = end - TimeDelta::hours(hour);
        let value = 100.0 + (10.0 * noise(hour as u64)).round();
        csv.push_str(&format!("{},orders,{value},orders\n", ts.format("%Y-%m-%dT%H:%M:%SZ")));
    }
    csv
}

async fn push_csv(base: &str, token: &str, tenant: &str, csv: String) {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/tenants/{tenant}/kpis"))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn a_pushed_value_reaches_the_open_page_over_the_event_stream_and_a_stopped_server_shows() {
    let database = TestDatabase::new().await;
    let broker = broker(1);
    let pipeline_stop = CancellationToken::new();
    let roles = Roles { ingest: false, process: true, sink: true, serve: false };
    let options = RunOptions { roles, replay: None, exit_when_done: false };
    let pipeline = tokio::spawn(app::run(config_for(&broker, &database), options, pipeline_stop.clone()));
    let server_stop = CancellationToken::new();
    let base = serve(&database.pool, &broker, &server_stop).await;
    let editor = token("acme", Role::Editor);
    let series = "custom:acme:orders";

    let now = Utc::now().duration_trunc(TimeDelta::hours(1)).expect("an hour");
    push_csv(&base, &editor, "acme", history_csv(now)).await;
    let stored = eventually(Duration::from_secs(60), || async { database.count("kpi_points").await == 48 }).await;
    assert!(stored, "the history was stored");

    let viewer = token("acme", Role::Viewer);
    let mut browser = blocking(|| Browser::launch(1280, 900));
    blocking(|| {
        browser.navigate(&format!("{base}/#token={viewer}"));
        let ready = browser.wait_for(
            "document.getElementById('chart').dataset.points === '48' && \
             document.getElementById('stream').dataset.state === 'live'",
            Duration::from_secs(30),
        );
        assert!(ready.is_some(), "the chart and the stream are up: {}", browser.eval("document.body.innerText"));
        // Gone if the page reloads.
        browser.eval("window.sameDocument = true");
        // A viewer gets no rule editing.
        assert_eq!(browser.eval("document.getElementById('rule-new').hidden"), json!(true));
    });

    let latest = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    push_csv(&base, &editor, "acme", format!("ts,metric,value,unit\n{latest},orders,250.5,orders\n")).await;
    blocking(|| {
        let updated = browser.wait_for(
            &format!(
                "(() => {{ const chart = document.getElementById('chart').dataset; \
                 const tile = document.querySelector('#tiles li[data-series=\"{series}\"]'); \
                 return chart.points === '49' && chart.lastValue === '250.5' && tile && tile.dataset.value === '250.5'; }})()"
            ),
            Duration::from_secs(30),
        );
        assert!(
            updated.is_some(),
            "the chart and its tile followed: {}",
            browser.eval("JSON.stringify(document.getElementById('chart').dataset)")
        );
        assert_eq!(browser.eval("window.sameDocument === true"), json!(true), "without a reload");
        assert!(number(&browser.eval("document.getElementById('chart').dataset.liveUpdates")) >= 1);
        let last = browser.eval("document.getElementById('chart').dataset.lastTs");
        assert_eq!(DateTime::parse_from_rfc3339(last.as_str().unwrap_or_default()).ok(), Some(now.into()));
    });
    let shot = browser::screenshot_path("dashboard-live.png");
    blocking(|| browser.screenshot(&shot));

    // The server goes away: the page says the stream is down (and keeps what it showed).
    server_stop.cancel();
    blocking(|| {
        let down = browser.wait_for(
            "document.getElementById('stream').dataset.state === 'down' && document.getElementById('stream').textContent",
            Duration::from_secs(20),
        );
        assert_eq!(down, Some(json!("Live updates: stream down, reconnecting…")));
        assert_eq!(browser.eval("document.getElementById('stream').getAttribute('role')"), json!("status"));
        assert_eq!(browser.eval("document.getElementById('chart').dataset.points"), json!("49"));
    });
    let problems = blocking(|| browser.problems());
    assert!(problems.is_empty(), "the page reported problems: {problems:#?}");

    pipeline_stop.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(60), pipeline).await;
    stopped.expect("the pipeline stops").expect("joins").expect("runs without error");
}
