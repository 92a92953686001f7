//! Tests of the Digi-Cadence DQ source: the contract test on the q3 scores (served in the
//! service's `get_multi_data` shape, tests/fixtures/digicadence), the `normalized_value` row
//! shape, fault tests against a scripted local server (timings measured at the server), config,
//! and a poll through the replay server.

use std::{collections::BTreeMap, path::Path, time::Duration};

use axum::{http::Method as HttpMethod, response::Response};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::{source::*, *};
use crate::source::Source;
use crate::{
    replay::ReplayServer,
    sources::test_server::{json, respond, silent, too_many, Hit, TestServer},
};
use signalcraft_http::FetchCause;
use signalcraft_http::{FetchPolicy, HttpPolicyOverrides};
use signalcraft_model::BrandMetric;

const Q3_SAMPLE: &str = include_str!("../../../../../tests/fixtures/digicadence/DERIVED_q3_dq_scores.json");
const Q3_MULTI_DATA: &str = include_str!("../../../../../tests/fixtures/digicadence/get_multi_data__q3_projects.json");
const SKIPPING: &str =
    include_str!("../../../../../tests/fixtures/digicadence/normalized_value__skipping_normalization.json");
const REPLAY_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/replay");

const MIN_INTERVAL: Duration = Duration::from_millis(200);

/// The quarters of the q3 sample and the project ids the derived answer gives them.
const QUARTERS: [(&str, i64, (i32, u32)); 3] =
    [("AMJ'23", 2302, (2023, 4)), ("JAS'23", 2303, (2023, 7)), ("OND'23", 2304, (2023, 10))];
/// q3 sample column → the service's dq_score key.
const SCORE_COLUMNS: [(&str, &str); 5] = [
    ("Digital quotient for brand (DQ)", "Overall_Final_Score"),
    ("Ecom DC Score", "Marketplace"),
    ("Social DC Score", "Socialwatch"),
    ("Paid Marketing DC Score", "Digital Spends"),
    ("Organic DQ", "Organic Performance"),
];

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 15, 6, 0, 0).single().expect("valid time")
}

fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("valid date")
}

fn q3_projects() -> Vec<DqProjectConfig> {
    QUARTERS.iter().map(|(_, id, (y, m))| DqProjectConfig { project_id: *id, period_start: date(*y, *m, 1) }).collect()
}

fn config(base_url: &str, projects: Vec<DqProjectConfig>) -> DigiCadenceConfig {
    DigiCadenceConfig {
        projects,
        min_interval_ms: MIN_INTERVAL.as_millis() as u64,
        http: HttpPolicyOverrides { timeout_ms: Some(2_000), ..HttpPolicyOverrides::default() },
        ..DigiCadenceConfig::new(base_url)
    }
}

fn projects(ids: &[i64]) -> Vec<DqProjectConfig> {
    ids.iter().map(|id| DqProjectConfig { project_id: *id, period_start: date(2024, 1, 1) }).collect()
}

/// The config's policy with a short backoff, so retry tests stay fast.
fn source(config: DigiCadenceConfig) -> DigiCadenceSource {
    let policy = FetchPolicy {
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(100),
        ..config.fetch_policy()
    };
    DigiCadenceSource::with_policy(config, policy).expect("client builds")
}

/// Answers like the DQ stack: get_multi_data with `multi`, normalized_value with `normalized`.
fn dq_server(
    multi: &'static str,
    normalized: &'static str,
) -> impl Fn(&Hit, usize) -> Response + Send + Sync + 'static {
    move |hit, _| match (hit.method.as_str(), hit.uri.as_str()) {
        ("POST", "/get_multi_data") => json(200, multi),
        ("POST", "/normalized/normalized_value") => json(200, normalized),
        // FastAPI's answer to a GET on a POST route.
        _ => json(405, r#"{"detail":"Method Not Allowed"}"#),
    }
}

fn find<'a>(records: &'a [BrandMetric], project: i64, brand: &str, metric: &str) -> &'a BrandMetric {
    records
        .iter()
        .find(|r| r.project_id == project && r.brand_name == brand && r.metric == metric)
        .unwrap_or_else(|| panic!("no {project}/{brand}/{metric}"))
}

// ---- contract: the q3 scores ----

#[tokio::test]
async fn every_q3_brand_section_score_becomes_one_record() {
    let server = TestServer::start(dq_server(Q3_MULTI_DATA, SKIPPING)).await;
    let mut config = config(&server.base_url, q3_projects());
    config.brand_ids = BTreeMap::from([("Himalaya".to_string(), 12)]);

    let records = source(config).poll(now()).await.expect("poll succeeds");

    // Counted from the recorded sample itself, independently of the source: every row has one
    // score per score column ("" = missing).
    let sample: Vec<serde_json::Value> = serde_json::from_str(Q3_SAMPLE).expect("the sample is JSON");
    let scores_in_sample = sample.len() * SCORE_COLUMNS.len();
    let present_in_sample = sample
        .iter()
        .flat_map(|row| SCORE_COLUMNS.iter().map(move |(column, _)| &row[*column]))
        .filter(|value| value.is_number())
        .count();
    assert_eq!((sample.len(), scores_in_sample, present_in_sample), (406, 2030, 1998));
    assert_eq!(records.len(), scores_in_sample);
    assert_eq!(records.len(), 2030);
    assert_eq!(records.iter().filter(|r| r.value.is_some()).count(), 1998);
    assert_eq!(records.iter().filter(|r| r.project_id == 2303).count(), 136 * 5, "JAS'23 (Q3): 136 brands");

    // And value by value: each sample cell is the record of its (quarter → project, brand, section).
    for row in &sample {
        let quarter = row["Quarter"].as_str().expect("a quarter");
        let (_, project, (year, month)) = QUARTERS.iter().find(|(q, ..)| *q == quarter).expect("a known quarter");
        let brand = row["Brands"].as_str().expect("a brand");
        for (column, metric) in SCORE_COLUMNS {
            let record = find(&records, *project, brand, metric);
            assert_eq!(record.value, row[column].as_f64(), "{quarter} {brand} {column}");
            assert_eq!(record.period_start, date(*year, *month, 1));
        }
    }

    let himalaya = find(&records, 2302, "Himalaya", "Overall_Final_Score");
    assert_eq!((himalaya.brand_id, himalaya.value, himalaya.fetched_at), (12, Some(69.61), now()));
    assert_eq!(find(&records, 2302, "Himalaya", "Organic Performance").value, Some(44.0));
    let lotion = find(&records, 2302, "Parachute Advansed Body Lotion", "Digital Spends");
    assert_eq!(lotion.value, None, "\"\" in the sample");
    assert_eq!(lotion.brand_id, derived_brand_id("Parachute Advansed Body Lotion"));
    assert_eq!(find(&records, 2304, "Yogabar", "Organic Performance").value, Some(79.73333333));

    let hits = server.hits();
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|hit| hit.method == HttpMethod::POST));
    assert_eq!(hits[0].uri, "/get_multi_data");
    assert_eq!(hits[0].body, r#"{"project_ids":[2302,2303,2304]}"#);
    assert_eq!(hits[1].uri, "/normalized/normalized_value");
    assert_eq!(hits[1].body, r#"{"project_ids":[2302,2303,2304]}"#);
    server.assert_spaced(MIN_INTERVAL);
}

#[tokio::test]
async fn normalized_value_rows_become_one_record_per_section_platform_metric_and_type() {
    // The row shape of NOTES.md §2.1 (pandas records: ids widened to floats, NaN filled with 0),
    // with the mojibake the stack's seed data carries.
    const ROWS: &str = r#"[
      {"project_id":268,"sectionid":3,"metricid":17,"platformid":9,"weights":13.0,"percentile":0.75,
       "benchmarkValue":1200,"actualValue":900,"normalized":60.0,"sectionName":"Digital Spends","type":"overall",
       "brandName":"Livon","brand_ids":41.0,"categoryid":2,"categoryName":"Hair Care",
       "platformname":"Amazon - Display Campaigns","metricname":"Display â€“ Spends"},
      {"project_id":268,"sectionid":3,"metricid":17,"platformid":9,"weights":13.0,"percentile":0.75,
       "benchmarkValue":1000,"actualValue":900,"normalized":80.0,"sectionName":"Digital Spends","type":"category",
       "brandName":"Livon","brand_ids":41.0,"categoryid":2,"categoryName":"Hair Care",
       "platformname":"Amazon - Display Campaigns","metricname":"Display â€“ Spends"},
      {"project_id":268,"sectionid":1,"metricid":1,"platformid":1,"weights":0.0,"percentile":0.5,
       "benchmarkValue":0,"actualValue":0,"normalized":0,"sectionName":"Marketplace","type":"overall",
       "brandName":"Beardo","brand_ids":0,"categoryid":0,"categoryName":0,
       "platformname":"Amazon","metricname":"Average ratings"},
      {"project_id":268,"sectionid":1,"metricid":1,"platformid":1,"weights":0.0,"percentile":0.5,
       "benchmarkValue":0,"actualValue":0,"normalized":10,"sectionName":"Marketplace","type":"overall",
       "brandName":"Beardo","brand_ids":0,"categoryid":0,"categoryName":0,
       "platformname":"Amazon","metricname":"Average ratings"},
      {"project_id":999,"brandName":"Livon","sectionName":"Marketplace","platformname":"Amazon",
       "metricname":"Reviews","normalized":50,"type":"overall","brand_ids":41}
    ]"#;
    let server = TestServer::start(dq_server(r#"{"data":[]}"#, ROWS)).await;
    let mut config =
        config(&server.base_url, vec![DqProjectConfig { project_id: 268, period_start: date(2024, 4, 1) }]);
    config.brand_ids = BTreeMap::from([("Beardo".to_string(), 7)]);

    let records = source(config).poll(now()).await.expect("poll succeeds");

    let summary: Vec<(i64, &str, &str, Option<f64>)> =
        records.iter().map(|r| (r.brand_id, r.brand_name.as_str(), r.metric.as_str(), r.value)).collect();
    assert_eq!(
        summary,
        [
            (41, "Livon", "Digital Spends/Amazon - Display Campaigns/Display – Spends/overall", Some(60.0)),
            (41, "Livon", "Digital Spends/Amazon - Display Campaigns/Display – Spends/category", Some(80.0)),
            // brand_ids 0 (the join missed): the configured id; the repeated row keeps the first value.
            (7, "Beardo", "Marketplace/Amazon/Average ratings/overall", Some(0.0)),
        ],
        "project 999 was not asked for"
    );
    assert!(records.iter().all(|r| r.project_id == 268 && r.period_start == date(2024, 4, 1)));
}

// ---- fault tests ----

#[tokio::test]
async fn a_message_instead_of_data_is_no_data_not_an_error() {
    let server = TestServer::start(dq_server(r#"{"message":"No projects found"}"#, SKIPPING)).await;
    let records = source(config(&server.base_url, projects(&[1]))).poll(now()).await.expect("no data is fine");
    assert_eq!(records, []);
    assert_eq!(server.hits().len(), 2, "each endpoint asked once, nothing retried");

    let not_found = TestServer::start(|hit: &Hit, _| {
        if hit.uri == "/normalized/normalized_value" {
            json(404, r#"{"detail":"No data found for the given project_ids"}"#)
        } else {
            json(200, r#"{"data":[]}"#)
        }
    })
    .await;
    let records = source(config(&not_found.base_url, projects(&[1]))).poll(now()).await.expect("404 no data is fine");
    assert_eq!(records, []);
    assert_eq!(not_found.hits().len(), 2);
}

#[tokio::test]
async fn a_405_is_a_client_error_and_not_retried() {
    // What the DQ services answer to a GET on a POST route (the Digi-Cadence client's mistake).
    let server = TestServer::start(|_, _| json(405, r#"{"detail":"Method Not Allowed"}"#)).await;
    let config =
        DigiCadenceConfig { endpoints: vec![DqEndpoint::GetMultiData], ..config(&server.base_url, projects(&[1])) };

    let error = source(config).poll(now()).await.expect_err("405");

    assert!(
        matches!(error.cause(), FetchCause::Client { status: 405, body_excerpt } if body_excerpt.contains("Method Not Allowed"))
    );
    assert_eq!(error.attempts(), 1);
    assert_eq!(server.hits().len(), 1);
}

#[tokio::test]
async fn a_nan_500_for_several_projects_is_split_into_one_request_per_project() {
    // Project 2 has a NaN score: any request including it fails the way FastAPI fails.
    let server = TestServer::start(|hit: &Hit, _| {
        let ids: serde_json::Value = serde_json::from_str(&hit.body).unwrap_or_default();
        let ids: Vec<i64> = ids["project_ids"].as_array().into_iter().flatten().filter_map(|id| id.as_i64()).collect();
        if ids.contains(&2) {
            return respond(500, "text/plain; charset=utf-8", "Internal Server Error");
        }
        let data: Vec<String> = ids
            .iter()
            .map(|id| format!(r#"{{"project_id":{id},"brands":[{{"brand_name":"Livon","dq_score":{{"Overall_Final_Score":7{id}.5}}}}]}}"#))
            .collect();
        json(200, &format!(r#"{{"data":[{}]}}"#, data.join(",")))
    })
    .await;
    let config = DigiCadenceConfig {
        endpoints: vec![DqEndpoint::GetMultiData],
        http: HttpPolicyOverrides { max_attempts: Some(2), ..config(&server.base_url, projects(&[1, 2, 3])).http },
        ..config(&server.base_url, projects(&[1, 2, 3]))
    };

    let records = source(config).poll(now()).await.expect("two projects survive");

    let values: Vec<(i64, Option<f64>)> = records.iter().map(|r| (r.project_id, r.value)).collect();
    assert_eq!(values, [(1, Some(71.5)), (3, Some(73.5))]);
    let bodies: Vec<String> = server.hits().into_iter().map(|hit| hit.body).collect();
    assert_eq!(
        bodies,
        [
            r#"{"project_ids":[1,2,3]}"#,
            r#"{"project_ids":[1,2,3]}"#,
            r#"{"project_ids":[1]}"#,
            r#"{"project_ids":[2]}"#,
            r#"{"project_ids":[2]}"#,
            r#"{"project_ids":[3]}"#,
        ]
    );
    server.assert_spaced(MIN_INTERVAL);
}

#[tokio::test]
async fn rate_limits_server_errors_and_truncation_are_retried() {
    let server = TestServer::start(|_, index| match index {
        0 => too_many(1, "application/json", r#"{"detail":"Too Many Requests"}"#),
        1 => respond(502, "text/html", "<html>Bad Gateway</html>"),
        2 => json(200, &Q3_MULTI_DATA[..Q3_MULTI_DATA.len() / 2]),
        _ => json(200, Q3_MULTI_DATA),
    })
    .await;
    let config = DigiCadenceConfig {
        endpoints: vec![DqEndpoint::GetMultiData],
        http: HttpPolicyOverrides { max_attempts: Some(4), ..config(&server.base_url, q3_projects()).http },
        ..config(&server.base_url, q3_projects())
    };

    let records = source(config).poll(now()).await.expect("the fourth answer is good");

    assert_eq!(records.len(), 2030);
    assert_eq!(server.hits().len(), 4);
    assert!(server.gaps()[0] >= Duration::from_secs(1), "Retry-After: 1 not honoured: {:?}", server.gaps());
    server.assert_spaced(MIN_INTERVAL);
}

#[tokio::test]
async fn a_silent_service_times_out() {
    let (listener, url) = silent().await;
    let config = DigiCadenceConfig {
        http: HttpPolicyOverrides { timeout_ms: Some(150), max_attempts: Some(2), ..HttpPolicyOverrides::default() },
        ..config(&url, projects(&[1]))
    };

    let error = source(config).poll(now()).await.expect_err("never answers");

    assert!(matches!(error.cause(), FetchCause::Timeout { .. }), "{error}");
    assert_eq!(error.attempts(), 2);
    drop(listener);
}

#[tokio::test]
async fn empty_results_nan_literals_and_errors_in_a_200() {
    let empty = TestServer::start(dq_server(r#"{"data":[]}"#, "[]")).await;
    assert_eq!(source(config(&empty.base_url, projects(&[1]))).poll(now()).await.expect("empty"), []);

    // A lenient encoder writes Python's NaN; the score is missing, not a parse failure.
    let nan = TestServer::start(dq_server(
        r#"{"data":[{"project_id":1,"brands":[{"brand_name":"Livon","dq_score":{"Overall_Final_Score":NaN,"Marketplace":80.0}}]}]}"#,
        "[]",
    ))
    .await;
    let records = source(config(&nan.base_url, projects(&[1]))).poll(now()).await.expect("parses");
    let values: Vec<(&str, Option<f64>)> = records.iter().map(|r| (r.metric.as_str(), r.value)).collect();
    assert_eq!(values, [("Marketplace", Some(80.0)), ("Overall_Final_Score", None)]);

    let detail = TestServer::start(dq_server(r#"{"detail":"Database error: connection reset"}"#, "[]")).await;
    let multi_only =
        DigiCadenceConfig { endpoints: vec![DqEndpoint::GetMultiData], ..config(&detail.base_url, projects(&[1])) };
    let error = source(multi_only).poll(now()).await.expect_err("an error in a 200");
    assert!(
        matches!(error.cause(), FetchCause::Rejected(text) if text == "Database error: connection reset"),
        "{error}"
    );
    assert_eq!(error.attempts(), 1);

    let text = TestServer::start(|_, _| respond(200, "text/html", "<html>login</html>")).await;
    let normalized_only =
        DigiCadenceConfig { endpoints: vec![DqEndpoint::NormalizedValue], ..config(&text.base_url, projects(&[1])) };
    assert_eq!(source(normalized_only).poll(now()).await.expect_err("html").kind(), "parse");
}

#[tokio::test]
async fn no_projects_means_no_requests() {
    let server = TestServer::start(dq_server(Q3_MULTI_DATA, SKIPPING)).await;
    assert_eq!(source(config(&server.base_url, Vec::new())).poll(now()).await.expect("nothing to do"), []);
    assert!(server.hits().is_empty());
}

#[tokio::test]
async fn endpoints_can_live_on_their_own_ports() {
    let multi = TestServer::start(dq_server(Q3_MULTI_DATA, SKIPPING)).await;
    let normalized = TestServer::start(dq_server(Q3_MULTI_DATA, SKIPPING)).await;
    let config = DigiCadenceConfig {
        multi_data_base_url: Some(format!("{}/", multi.base_url)),
        normalized_base_url: Some(normalized.base_url.clone()),
        ..config("http://127.0.0.1:9", q3_projects())
    };
    assert_eq!(source(config).poll(now()).await.expect("both answer").len(), 2030);
    assert_eq!(multi.uris(), ["/get_multi_data"]);
    assert_eq!(normalized.uris(), ["/normalized/normalized_value"]);
}

// ---- through the replay server ----

#[tokio::test]
async fn polls_through_the_replay_fixtures() {
    let replay = ReplayServer::start(Path::new(REPLAY_DIR)).await.expect("replay starts");
    let config = DigiCadenceConfig {
        projects: q3_projects(),
        ..DigiCadenceConfig::new(replay.provider_base_url("digicadence"))
    };
    config.validate("ingest.digicadence").expect("a replay config is valid");

    let records =
        DigiCadenceSource::new(config).expect("client builds").poll(now()).await.expect("replayed poll succeeds");

    assert_eq!(records.len(), 2030, "get_multi_data's scores; normalized_value has no data");
    assert_eq!(records.iter().filter(|r| r.period_start == date(2023, 7, 1)).count(), 680);
    replay.shutdown().await;
}

// ---- configuration ----

#[test]
fn config_reads_projects_as_periods_and_defaults_the_rest() {
    let config: DigiCadenceConfig = toml::from_str(
        r#"
        base_url = "http://dq.internal:8004"
        normalized_base_url = "http://dq.internal:8001"
        brand_ids = { "Livon" = 41 }
        [[projects]]
        project_id = 2303
        period_start = "2023-07-01"
        "#,
    )
    .expect("valid");
    assert_eq!(config.projects, [DqProjectConfig { project_id: 2303, period_start: date(2023, 7, 1) }]);
    assert_eq!(config.endpoints, [DqEndpoint::GetMultiData, DqEndpoint::NormalizedValue]);
    assert_eq!(
        (
            config.interval_secs,
            config.min_interval_ms,
            config.http_policy().timeout_ms,
            config.http_policy().max_attempts
        ),
        (86_400, 1000, 30_000, 3)
    );
    assert_eq!(config.endpoint_url(DqEndpoint::GetMultiData), "http://dq.internal:8004/get_multi_data");
    assert_eq!(config.endpoint_url(DqEndpoint::NormalizedValue), "http://dq.internal:8001/normalized/normalized_value");
    config.validate("ingest.digicadence").expect("valid");
    let written = toml::to_string(&config).expect("serializes");
    assert_eq!(toml::from_str::<DigiCadenceConfig>(&written).expect("reads back"), config);
}

#[test]
fn unknown_keys_are_rejected_and_validation_names_the_bad_key() {
    assert!(toml::from_str::<DigiCadenceConfig>("").is_err_and(|e| e.to_string().contains("missing field `base_url`")));
    let unknown = toml::from_str::<DigiCadenceConfig>(
        "base_url = \"http://x\"\n[[projects]]\nproject_id = 1\nperiod_start = \"2023-07-01\"\nquarter = \"JAS'23\"\n",
    );
    assert!(unknown.is_err_and(|e| e.to_string().contains("unknown field `quarter`")));
    let endpoint = toml::from_str::<DigiCadenceConfig>("base_url = \"http://x\"\nendpoints = [\"get_data\"]\n");
    assert!(endpoint.is_err_and(|e| e.to_string().contains("get_data")));

    let error_of = |edit: &dyn Fn(&mut DigiCadenceConfig)| {
        let mut config = DigiCadenceConfig { projects: projects(&[1]), ..DigiCadenceConfig::new("http://dq.internal") };
        edit(&mut config);
        config.validate("ingest.digicadence").expect_err("invalid").to_string()
    };
    assert_eq!(
        error_of(&|c| c.projects.push(projects(&[1])[0].clone())),
        "ingest.digicadence.projects[1].project_id: project 1 is listed twice"
    );
    assert_eq!(
        error_of(&|c| c.projects[0].project_id = 0),
        "ingest.digicadence.projects[0].project_id: 0 is not a project id"
    );
    assert_eq!(error_of(&|c| c.endpoints.clear()), "ingest.digicadence.endpoints: must list at least one endpoint");
    assert_eq!(
        error_of(&|c| c.endpoints.push(DqEndpoint::GetMultiData)),
        "ingest.digicadence.endpoints[2]: `get_multi_data` is listed twice"
    );
    assert_eq!(
        error_of(&|c| c.brand_ids = BTreeMap::from([("Livon".into(), -1)])),
        "ingest.digicadence.brand_ids.\"Livon\": -1 is not a brand id"
    );
    assert!(error_of(&|c| c.normalized_base_url = Some("dq:8001".into()))
        .starts_with("ingest.digicadence.normalized_base_url:"));
}
