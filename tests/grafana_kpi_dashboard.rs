//! The Grafana KPI dashboard (deploy/grafana/dashboards/signalcraft-kpis.json) against a real
//! database after the README's replay: the JSON parses, and every panel query and query
//! variable, with Grafana's macros and variables substituted as Grafana does, runs as the
//! Grafana login (created by deploy/postgres/grafana-login.sql, a member of signalcraft_reader
//! only) and returns rows. A panel for one tenant returns none of another's rows, the tenant is
//! never left set on the connection, and hostile tenant values, quoted as `:sqlstring` quotes
//! them, cannot break out of their literal.
//!
//! Beside the replay, each replayed tenant pushes 90 days of daily sales with one spike onto
//! raw.kpi (as tests/kpi_intake.rs does), so the forecast and anomaly panels have rows even
//! where the replay's own series have none; the panels are checked on those series.
//!
//! Substitution, as Grafana 11's PostgreSQL data source does it (Grafana interpolates the
//! variables in the browser, the macros in its backend, then sends the text as one simple-
//! protocol query):
//! - `${name:sqlstring}` → the value in single quotes, each `'` doubled (Grafana's `sqlstring`
//!   format; a backslash is an ordinary character under standard_conforming_strings, on since
//!   PostgreSQL 9.1);
//! - `$__timeFrom()` / `$__timeTo()` → the range's ends as quoted RFC 3339 UTC instants,
//!   `'2024-01-01T00:00:00Z'`; `$__timeFilter(col)` → `col BETWEEN <from> AND <to>`.
//!
//! Any other `$` form left in a query fails the test, so a panel cannot use a macro this test
//! does not know. Queries are sent through the simple query protocol (`raw_sql`), as Grafana's
//! driver sends them, so a value that broke out could also append statements.

mod common;

use std::{collections::BTreeMap, str::FromStr, time::Duration};

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeDelta, Utc};
use common::*;
use signalcraft::{app, Roles, RunOptions};
use signalcraft_kafka::RecordProducer;
use signalcraft_model::KpiObservation;
use sqlx::{
    postgres::{PgConnectOptions, PgRow},
    Connection, PgConnection, Row, ValueRef,
};
use tokio_util::sync::CancellationToken;

const TENANT: &str = "berlin";
const OTHER_TENANT: &str = "vizhinjam-port";
const DAYS: i64 = 90;
/// The last day: its alert is still open when the data ends (three normal points would resolve it).
const SPIKE_DAY: i64 = DAYS - 1;

fn dashboard() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana/dashboards/signalcraft-kpis.json");
    let text = std::fs::read_to_string(path).expect("dashboard file");
    serde_json::from_str(&text).expect("the dashboard is valid JSON")
}

/// Every SQL query of the dashboard: (what it is, rawSql), panels (rows' nested panels
/// included) and query variables.
fn queries(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    fn panels(list: &[serde_json::Value], found: &mut Vec<(String, String)>) {
        for panel in list {
            let title = panel["title"].as_str().unwrap_or("?");
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(sql) = target["rawSql"].as_str() {
                    let reference = target["refId"].as_str().unwrap_or("?");
                    found.push((format!("panel {title:?} {reference}"), sql.to_string()));
                }
            }
            panels(panel["panels"].as_array().map(Vec::as_slice).unwrap_or_default(), found);
        }
    }
    let mut found = Vec::new();
    panels(dashboard["panels"].as_array().map(Vec::as_slice).unwrap_or_default(), &mut found);
    for variable in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        if variable["type"] == "query" {
            let name = variable["name"].as_str().unwrap_or("?");
            let sql = variable["query"].as_str().or_else(|| variable["query"]["rawSql"].as_str());
            found.push((format!("variable {name}"), sql.expect("a query variable's SQL").to_string()));
        }
    }
    found
}

/// Grafana's `sqlstring` format of one value.
fn sqlstring(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// `sql` as Grafana sends it for `variables` and the range `from`..`to` (module docs).
/// `escape` false substitutes values bare: what the test shows `sqlstring` protects against.
fn interpolate(
    sql: &str,
    variables: &BTreeMap<&str, String>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    escape: bool,
) -> String {
    let instant = |at: DateTime<Utc>| format!("'{}'", at.to_rfc3339_opts(SecondsFormat::Secs, true));
    let mut text = sql.replace("$__timeFrom()", &instant(from)).replace("$__timeTo()", &instant(to));
    while let Some(start) = text.find("$__timeFilter(") {
        let end = text[start..].find(')').map(|i| start + i).expect("$__timeFilter closes");
        let column = text[start + "$__timeFilter(".len()..end].trim().to_string();
        text.replace_range(start..=end, &format!("{column} BETWEEN {} AND {}", instant(from), instant(to)));
    }
    let mut unknown = text.clone();
    for name in variables.keys() {
        unknown = unknown.replace(&format!("${{{name}:sqlstring}}"), "");
    }
    assert!(!unknown.contains('$'), "a macro or variable this test does not substitute is left in:\n{sql}");
    for (name, value) in variables {
        let shown = if escape { sqlstring(value) } else { format!("'{value}'") };
        text = text.replace(&format!("${{{name}:sqlstring}}"), &shown);
    }
    text
}

/// Runs `sql` through the simple query protocol, as Grafana does; every row of every result
/// set, each value as PostgreSQL's text form.
async fn run(connection: &mut PgConnection, sql: &str) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
    Ok(sqlx::raw_sql(sql).fetch_all(connection).await?.iter().map(text_of).collect())
}

fn text_of(row: &PgRow) -> Vec<Option<String>> {
    (0..row.len())
        .map(|i| {
            let value = row.try_get_raw(i).expect("column");
            if value.is_null() {
                None
            } else {
                Some(value.as_str().expect("simple-protocol values are text").to_string())
            }
        })
        .collect()
}

/// The tenant setting the connection is left with, as the next panel on it would find it.
async fn leftover_tenant(connection: &mut PgConnection) -> Option<String> {
    sqlx::query_scalar::<_, Option<String>>("SELECT nullif(current_setting('signalcraft.tenant_id', true), '')")
        .fetch_one(connection)
        .await
        .expect("setting read")
}

fn day(n: i64) -> DateTime<Utc> {
    let first = NaiveDate::from_ymd_opt(2024, 1, 1).expect("date").and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    first + TimeDelta::days(n)
}

/// 90 days of sales of `tenant` with noise of ±5 % and one spike.
fn sales(tenant: &str) -> Vec<KpiObservation> {
    (0..DAYS)
        .map(|n| KpiObservation {
            tenant_id: tenant.into(),
            metric: "sales".into(),
            dimensions: BTreeMap::new(),
            unit: Some("EUR".into()),
            ts: day(n),
            value: if n == SPIKE_DAY { 9_000.0 } else { (1_000.0 + 100.0 * (noise(n as u64) - 0.5)).round() },
            source: "test".into(),
            idempotency_key: None,
        })
        .collect()
}

/// Creates the Grafana login `login` with the deploy script, through psql as compose runs it.
fn create_login(database_url: &str, login: &str, password: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/postgres/grafana-login.sql");
    let output = std::process::Command::new("psql")
        .arg(database_url)
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-v"])
        .arg(format!("login={login}"))
        .arg("-v")
        .arg(format!("password={password}"))
        .args(["-f", script])
        .output()
        .expect("psql runs (PostgreSQL's client, installed with the server)");
    assert!(output.status.success(), "grafana-login.sql fails: {}", String::from_utf8_lossy(&output.stderr));
    // psql echoes nothing of what it ran: the password appears in no output.
    let shown = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!shown.contains(password), "the password is echoed: {shown}");
}

/// Drops the login when the test ends, passed or not: roles belong to the server, and a
/// failed test must not leave one behind.
struct DropLogin {
    database_url: String,
    login: String,
}

impl Drop for DropLogin {
    fn drop(&mut self) {
        let dropped = std::process::Command::new("psql")
            .arg(&self.database_url)
            .args(["-q", "-c"])
            .arg(format!("DROP ROLE IF EXISTS \"{}\"", self.login))
            .output();
        if !dropped.is_ok_and(|output| output.status.success()) {
            eprintln!("could not drop the test login {}", self.login);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_runs_as_the_grafana_login_returns_rows_and_keeps_to_its_tenant() {
    let dashboard = dashboard();
    let queries = queries(&dashboard);
    assert!(queries.len() >= 7, "panels and variables found: {queries:?}");
    let datasources: Vec<&str> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|panel| panel["targets"].as_array().into_iter().flatten())
        .map(|target| target["datasource"]["uid"].as_str().unwrap_or("?"))
        .collect();
    assert!(datasources.iter().all(|uid| *uid == "signalcraft-postgres"), "{datasources:?}");

    let database = TestDatabase::new().await;
    let broker = broker(1);
    let producer = RecordProducer::new(&kafka_settings(&broker), "test").expect("producer");
    for tenant in [TENANT, OTHER_TENANT] {
        producer.send_all(&sales(tenant)).await.expect("sales produced");
    }
    let options = RunOptions { roles: Roles::ALL, replay: Some(fixture("replay")), exit_when_done: true };
    app::run(replay_config(broker.bootstrap_servers(), &database), options, CancellationToken::new())
        .await
        .expect("replay run succeeds");
    // The sales series are scored, alerted and forecast downstream of the replay's drain check;
    // wait for the last of them (alerts and forecasts) to be stored.
    let derived = eventually(Duration::from_secs(60), || async {
        let (alerts, forecasts): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(DISTINCT tenant_id) FROM alert_states WHERE state = 'OPEN' \
                       AND series_id LIKE 'custom:%:sales'), \
                    (SELECT count(DISTINCT series_id) FROM kpi_forecast_latest WHERE series_id LIKE 'custom:%:sales')",
        )
        .fetch_one(&database.pool)
        .await
        .expect("counts");
        (alerts, forecasts) == (2, 2)
    })
    .await;
    assert!(derived, "both tenants' sales have an open alert and a forecast");

    let login = unique_name("grafana");
    let password = format!("pw-{}", unique_name("secret"));
    create_login(&database.url, &login, &password);
    let _drop_login = DropLogin { database_url: database.url.clone(), login: login.clone() };
    let options = PgConnectOptions::from_str(&database.url).expect("database url").username(&login).password(&password);
    // One connection for every panel: a pooled connection Grafana reuses across panels and tenants.
    let mut grafana = PgConnection::connect_with(&options).await.expect("the Grafana login connects");
    let memberships: Vec<String> = sqlx::query_scalar(
        "SELECT r.rolname::text FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid \
         WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = current_user)",
    )
    .fetch_all(&mut grafana)
    .await
    .expect("memberships");
    assert_eq!(memberships, vec!["signalcraft_reader".to_string()], "a member of the reader role only");
    let refused = sqlx::query("SELECT count(*) FROM sink_offsets").execute(&mut grafana).await;
    assert!(refused.is_err(), "operator tables stay closed to the Grafana login");

    let series = |tenant: &str| format!("custom:{tenant}:sales");
    // The range a user would pick to see the series and its forecast.
    let (from, to): (DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
        "SELECT (SELECT min(ts) FROM kpi_points WHERE series_id = $1), \
                (SELECT max(ts) FROM kpi_forecast_latest WHERE series_id = $1)",
    )
    .bind(series(TENANT))
    .fetch_one(&database.pool)
    .await
    .expect("range");
    let variables = |tenant: &str, series: String| BTreeMap::from([("tenant", tenant.to_string()), ("series", series)]);

    // Each tenant's own series: every query returns rows, none of the other tenant's.
    for (tenant, other) in [(TENANT, OTHER_TENANT), (OTHER_TENANT, TENANT)] {
        for (what, sql) in &queries {
            let sql = interpolate(sql, &variables(tenant, series(tenant)), from, to, true);
            let rows =
                run(&mut grafana, &sql).await.unwrap_or_else(|e| panic!("{what} fails for {tenant}: {e}\n{sql}"));
            assert!(!rows.is_empty(), "{what} returns no rows for {tenant}:\n{sql}");
            let leaked: Vec<_> = rows.iter().filter(|row| format!("{row:?}").contains(other)).collect();
            assert!(leaked.is_empty(), "{what} for {tenant} returns {other}'s rows: {leaked:?}");
            assert_eq!(leftover_tenant(&mut grafana).await, None, "{what} leaves the tenant set on the connection");
        }
    }
    // The series variable set to another tenant's series: the wall, not the picker, stops it.
    for (what, sql) in &queries {
        let sql = interpolate(sql, &variables(TENANT, series(OTHER_TENANT)), from, to, true);
        let rows = run(&mut grafana, &sql).await.unwrap_or_else(|e| panic!("{what} fails: {e}\n{sql}"));
        let leaked: Vec<_> = rows.iter().filter(|row| format!("{row:?}").contains(OTHER_TENANT)).collect();
        assert!(leaked.is_empty(), "{what} for {TENANT} returns {OTHER_TENANT}'s series: {leaked:?}");
    }
    // What the panels return is what the read models hold for the tenant (the forecast panel:
    // every step of the latest forecast in the range).
    let forecast_sql = queries.iter().find(|(_, sql)| sql.contains("grafana_forecast"));
    let (_, forecast_sql) = forecast_sql.expect("the chart's forecast query");
    let steps = run(&mut grafana, &interpolate(forecast_sql, &variables(TENANT, series(TENANT)), from, to, true))
        .await
        .expect("forecast runs")
        .len();
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM kpi_forecast_latest WHERE series_id = $1")
        .bind(series(TENANT))
        .fetch_one(&database.pool)
        .await
        .expect("steps");
    assert_eq!(steps as i64, stored, "every forecast step, with its 80/95 % bounds");

    // Hostile tenant values: quoted as `sqlstring` quotes them, each is one string literal, a
    // tenant that does not exist, and the panels return nothing.
    let hostile = [
        format!("{TENANT}'); SELECT * FROM grafana_latest('{OTHER_TENANT}'); --"),
        "x' OR true OR '".to_string(),
        format!("{OTHER_TENANT}\\'); SELECT set_config('signalcraft.tenant_id', '{OTHER_TENANT}', false); --"),
        "$$; SELECT 1; $$".to_string(),
    ];
    for value in &hostile {
        for (what, sql) in &queries {
            let sql = interpolate(sql, &variables(value, series(TENANT)), from, to, true);
            let rows =
                run(&mut grafana, &sql).await.unwrap_or_else(|e| panic!("{what} fails for {value:?}: {e}\n{sql}"));
            // The open-alerts count is one row, 0; everything else returns nothing.
            let nothing = rows.is_empty() || rows == vec![vec![Some("0".to_string())]];
            assert!(nothing, "{what} with tenant {value:?} returns {rows:?}");
            assert_eq!(leftover_tenant(&mut grafana).await, None, "{what} with {value:?} leaves a tenant set");
        }
    }
    // …where the same value substituted bare does break out: the values are hostile indeed.
    let latest = queries.iter().find(|(_, sql)| sql.contains("grafana_latest")).expect("the latest-values panel");
    let bare = interpolate(&latest.1, &variables(&hostile[0], series(TENANT)), from, to, false);
    let rows = run(&mut grafana, &bare).await.expect("the bare substitution runs as two statements");
    assert!(rows.iter().any(|row| format!("{row:?}").contains(OTHER_TENANT)), "bare, it reads the other tenant");

    grafana.close().await.expect("closed");
}
