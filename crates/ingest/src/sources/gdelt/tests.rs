//! Tests of the GDELT source: contract tests with the real recorded payloads
//! (tests/fixtures/gdelt), high-water marks across polls, fault tests against a scripted local
//! server (timings measured at the server), the timeline parser, config, and a poll through the
//! replay server.

use std::{
    path::Path,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::response::Response;
use chrono::{DateTime, TimeZone, Utc};

use super::{source::*, *};
use crate::source::Source;
use crate::{
    replay::ReplayServer,
    sources::test_server::{json, logs, respond, silent, too_many, Hit, TestServer},
};
use async_trait::async_trait;
use signalcraft_http::{FetchCause, FetchPolicy, HttpPolicyOverrides};
use signalcraft_model::NewsArticle;

const VIZHINJAM: &str = include_str!("../../../../../tests/fixtures/gdelt/overwatch__vizhinjam_2024.json");
const PUERTO_RICO: &str = include_str!(
    "../../../../../tests/fixtures/gdelt/seafoodGDELT__statesFullArticles_Puerto_Rico.artlist_records.json"
);
const ALABAMA_TIMELINE: &str =
    include_str!("../../../../../tests/fixtures/gdelt/seafoodGDELT__statesInfo_Alabama_Counts.timelinevolraw.json");
const KEYWORD_ERROR: &str = include_str!("../../../../../tests/fixtures/gdelt/overwatch__keyword_error.txt");
const RATE_LIMITED: &str = include_str!("../../../../../tests/fixtures/gdelt/overwatch__rate_limited.txt");
const REPLAY_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/replay");

const MIN_INTERVAL: Duration = Duration::from_millis(200);

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single().expect("valid time")
}

/// 2024-07-16T00:00Z: the first poll looks back 24 h, to 20240715000000.
fn now() -> DateTime<Utc> {
    utc(2024, 7, 16, 0, 0, 0)
}

fn query(tenant: &str, terms: &str) -> GdeltQueryConfig {
    GdeltQueryConfig { tenant_id: tenant.into(), query: terms.into() }
}

/// `config` with `max_attempts` attempts per request.
fn attempts(max_attempts: u32, mut config: GdeltConfig) -> GdeltConfig {
    config.http.max_attempts = Some(max_attempts);
    config
}

fn config(base_url: &str, queries: Vec<GdeltQueryConfig>) -> GdeltConfig {
    GdeltConfig {
        base_url: base_url.into(),
        min_interval_ms: MIN_INTERVAL.as_millis() as u64,
        http: HttpPolicyOverrides { timeout_ms: Some(2_000), ..HttpPolicyOverrides::default() },
        queries,
        ..GdeltConfig::default()
    }
}

/// The config's policy with a short backoff, so retry tests stay fast.
fn source_with(config: GdeltConfig, marks: Arc<dyn HighWaterMarks>) -> GdeltSource {
    let policy = FetchPolicy {
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(100),
        ..config.fetch_policy()
    };
    GdeltSource::with_policy(config, policy, marks).expect("client builds")
}

fn source(config: GdeltConfig) -> GdeltSource {
    source_with(config, Arc::new(InMemoryHighWaterMarks::new()))
}

fn vizhinjam_server() -> impl Fn(&Hit, usize) -> Response + Send + Sync + 'static {
    |_, _| json(200, VIZHINJAM)
}

/// The `startdatetime` a request asked for.
fn start_of(uri: &str) -> String {
    uri.split('&').find_map(|pair| pair.strip_prefix("startdatetime=")).unwrap_or_default().to_string()
}

/// An artlist body with the given (url, seendate) articles.
fn artlist(articles: &[(&str, &str)]) -> String {
    let items: Vec<String> = articles
        .iter()
        .map(|(url, seen)| {
            format!(
                r#"{{"url":"https://news.example/{url}","url_mobile":"","title":"Article {url}","seendate":"{seen}",
                   "socialimage":"","domain":"news.example","language":"English","sourcecountry":"India"}}"#
            )
        })
        .collect();
    format!(r#"{{"articles":[{}]}}"#, items.join(","))
}

fn urls(records: &[NewsArticle]) -> Vec<&str> {
    records.iter().map(|r| r.url.trim_start_matches("https://news.example/")).collect()
}

// ---- contract tests with the real payloads ----

#[tokio::test]
async fn vizhinjam_artlist_yields_its_four_articles_with_exact_fields() {
    let server = TestServer::start(vizhinjam_server()).await;
    let gdelt = source(config(&server.base_url, vec![query("adani-ports", "vizhinjam \"seaport\" sourcecountry:IN")]));

    let records = gdelt.poll(now()).await.expect("poll succeeds");

    assert_eq!(
        server.uris(),
        ["/api/v2/doc/doc?query=vizhinjam+%22seaport%22+sourcecountry%3AIN&mode=artlist&format=json\
          &maxrecords=250&sort=DateAsc&startdatetime=20240715000000"]
    );
    assert_eq!(records.len(), 4);
    let first = &records[0];
    assert_eq!(
        first.url,
        "https://www.thehindu.com/news/national/kerala/customs-grants-approval-to-vizhinjam-international-seaport/article68293772.ece"
    );
    assert_eq!(first.title, "Customs grants approval to Vizhinjam International Seaport");
    assert_eq!(first.seen_at, utc(2024, 6, 15, 17, 0, 0), "20240615T170000Z");
    assert_eq!(first.domain.as_deref(), Some("thehindu.com"));
    assert_eq!(first.language.as_deref(), Some("English"));
    assert_eq!(first.source_country.as_deref(), Some("India"));
    assert_eq!(first.social_image.as_deref(), Some("https://www.thehindu.com/theme/images/og-image.png"));
    assert_eq!(first.tenant_id.as_deref(), Some("adani-ports"));
    assert_eq!(first.query, "vizhinjam \"seaport\" sourcecountry:IN");
    assert_eq!(first.fetched_at, now());

    let malayalam = &records[1];
    assert_eq!(malayalam.title, "ട്രോളിങ് നിയന്ത്രണം നീങ്ങി ; വിഴിഞ്ഞം തീരത്ത് ആവേശം , vizhinjam , fish");
    assert_eq!(malayalam.language.as_deref(), Some("Malayalam"));
    assert_eq!(malayalam.social_image, None, "empty socialimage is none");
    assert_eq!(malayalam.seen_at, utc(2024, 7, 6, 9, 30, 0));
    let seen: Vec<DateTime<Utc>> = records.iter().map(|r| r.seen_at).collect();
    assert_eq!(seen[2..], [utc(2024, 6, 20, 15, 45, 0), utc(2024, 7, 15, 10, 30, 0)]);

    // The mark is the latest seendate (not the last article's), staged until the next poll.
    let marks = Arc::new(InMemoryHighWaterMarks::new());
    let gdelt = source_with(config(&server.base_url, vec![query("adani-ports", "vizhinjam")]), marks.clone());
    gdelt.poll(now()).await.expect("poll succeeds");
    let key = query("adani-ports", "vizhinjam").mark_key();
    assert_eq!(marks.get(&key).await.expect("readable"), None, "not committed before delivery");
    gdelt.commit_staged_marks().await;
    let mark = marks.get(&key).await.expect("readable").expect("committed");
    assert_eq!(mark.seen_at, utc(2024, 7, 15, 10, 30, 0));
    assert_eq!(
        mark.urls.iter().collect::<Vec<_>>(),
        ["https://www.thehindubusinessline.com/economy/logistics/vizhinjam-beckons-shipping-lines-as-delay-hit-cargo-handling-at-colombo-port/article68405686.ece"]
    );
}

#[tokio::test]
async fn puerto_rico_artlist_records_parse_in_full() {
    // The proxy that recorded them dropped GDELT's envelope; it is put back here.
    let body = format!(r#"{{"articles":{PUERTO_RICO}}}"#);
    let server = TestServer::start(move |_, _| json(200, &body)).await;
    let gdelt = source(config(&server.base_url, vec![query("seafood", "seafood \"Puerto Rico\"")]));

    let records = gdelt.poll(now()).await.expect("poll succeeds");

    assert_eq!(records.len(), 83);
    let first = &records[0];
    assert_eq!(
        first.url,
        "https://www.marketwatch.com/press-release/caribbean---telecoms-mobile-and-broadband---statistics-and-analyses-2020-06-17"
    );
    assert_eq!(first.title, "Caribbean - Telecoms , Mobile , and Broadband - Statistics and Analyses");
    assert_eq!(first.seen_at, utc(2020, 6, 17, 14, 0, 0));
    assert_eq!(first.source_country.as_deref(), Some("United States"));
    assert_eq!(records.iter().filter(|r| r.language.as_deref() == Some("Spanish")).count(), 3);
    assert_eq!(records.iter().filter(|r| r.social_image.is_none()).count(), 40);
    let spanish = records.iter().find(|r| r.domain.as_deref() == Some("elvocero.com")).expect("an elvocero article");
    assert_eq!(spanish.title, "Gobernadora anuncia acuerdo para impulsar sector agr\u{ed}cola");
    let bakery = records.iter().find(|r| r.domain.as_deref() == Some("austin.eater.com")).expect("an eater article");
    assert_eq!(bakery.title, "A Guide to\u{a0}Austin\u{a0}Bakery Delivery Services");
    let earliest = records.iter().map(|r| r.seen_at).min();
    assert_eq!(earliest, Some(utc(2020, 6, 4, 20, 45, 0)));
}

#[test]
fn the_alabama_timelinevolraw_series_reads_through_the_timeline_parser() {
    // The recording wraps GDELT's object as {"results":[<gdelt object>]}; results[0] is GDELT's.
    let wrapped: serde_json::Value = serde_json::from_str(ALABAMA_TIMELINE).expect("valid JSON");
    let gdelt_body = serde_json::to_vec(&wrapped["results"][0]).expect("serializes");

    let series = parse_timeline(&gdelt_body).expect("parses");

    assert_eq!(series.len(), 1);
    assert_eq!(series[0].series, "Article Count");
    let points = &series[0].points;
    assert_eq!(points.len(), 214);
    assert_eq!(points[0], (utc(2020, 1, 1, 0, 0, 0), 0.0));
    assert_eq!(points[21], (utc(2020, 1, 22, 0, 0, 0), 5.0));
    assert_eq!(points[213], (utc(2020, 8, 1, 0, 0, 0), 8.0));
    assert_eq!(points.iter().map(|(_, value)| value).sum::<f64>(), 526.0);
    let peak =
        points.iter().copied().fold((now(), f64::MIN), |best, point| if point.1 > best.1 { point } else { best });
    assert_eq!(peak, (utc(2020, 7, 31, 0, 0, 0), 136.0));
    // A volume series is not a tone series.
    let error = parse_timeline_tone(&gdelt_body).expect_err("no Average Tone");
    assert_eq!(error.kind(), "parse");
}

#[test]
fn tone_timelines_accept_compact_dates_irregular_buckets_and_empty_forms() {
    // The documented shape (README: 15-minute buckets, one left out, one without T/Z).
    let body = br#"{"query_details":{"title":"oil sourcelang:eng","date_resolution":"15m"},
        "timeline":[{"series":"Average Tone","data":[
            {"date":"20260831T183000Z","value":-1.25},
            {"date":"20260831T181500Z","value":1.9942},
            {"date":"20260831190000","value":0},
            {"date":"garbage","value":3.0},
            {"date":"20260831T191500Z","value":null}]}]}"#;
    let points = parse_timeline_tone(body).expect("parses");
    assert_eq!(
        points,
        [
            (utc(2026, 8, 31, 18, 15, 0), 1.9942),
            (utc(2026, 8, 31, 18, 30, 0), -1.25),
            (utc(2026, 8, 31, 19, 0, 0), 0.0)
        ]
    );
    for empty in [&b"{}"[..], br#"{"timeline": []}"#, br#"{"timeline":[{"series":"Average Tone","data":[]}]}"#] {
        assert_eq!(parse_timeline_tone(empty).expect("empty is fine"), []);
    }
    let error = parse_timeline_tone(b"Timespan is too short.").expect_err("plain text");
    assert!(matches!(&error, FetchCause::Rejected(text) if text == "Timespan is too short."), "{error}");
    assert_eq!(
        timeline_tone_url("https://api.gdeltproject.org/", "oil", utc(2026, 8, 31, 18, 0, 0), None),
        "https://api.gdeltproject.org/api/v2/doc/doc?query=oil&mode=timelinetone&format=json&startdatetime=20260831180000"
    );
}

#[tokio::test]
async fn tone_timelines_become_kpi_points_of_closed_buckets_once_each() {
    // The documented timelinetone shape (no untrimmed real capture exists; see SOURCE.txt).
    let first = r#"{"timeline":[{"series":"Average Tone","data":[
        {"date":"20240715T231500Z","value":-1.25},{"date":"20240715T233000Z","value":0.5},
        {"date":"20240715T234500Z","value":2.0}]}]}"#;
    let second = r#"{"timeline":[{"series":"Average Tone","data":[
        {"date":"20240715T233000Z","value":0.5},{"date":"20240715T234500Z","value":2.25},
        {"date":"20240716T000000Z","value":-0.75},{"date":"20240716T001500Z","value":1.0}]}]}"#;
    let answers = [first.to_string(), second.to_string()];
    let server = TestServer::start(move |_, index| json(200, &answers[index.min(1)])).await;
    let articles = source(config(&server.base_url, vec![query("vizhinjam-port", "Vizhinjam port")]));
    let tone = articles.tone_source();

    let points = tone.poll(now()).await.expect("first poll");
    // The newest bucket (23:45) is still filling: only 23:15 and 23:30 are emitted.
    let got: Vec<(DateTime<Utc>, f64)> = points.iter().map(|p| (p.ts, p.value)).collect();
    assert_eq!(got, [(utc(2024, 7, 15, 23, 15, 0), -1.25), (utc(2024, 7, 15, 23, 30, 0), 0.5)]);
    let point = &points[0];
    assert_eq!(point.series_id, "gdelt_tone:vizhinjam-port:vizhinjam-port");
    assert_eq!(
        (point.tenant_id.as_deref(), point.metric.as_str(), point.unit.as_str()),
        (Some("vizhinjam-port"), "news_tone", "tone")
    );
    assert!(
        server.uris()[0].contains("mode=timelinetone") && server.uris()[0].contains("startdatetime=20240715000000")
    );

    // Not acknowledged yet: the mark has not moved, the next poll asks from the same start.
    tone.delivered().await;
    let points = tone.poll(now()).await.expect("second poll");
    // From the 23:30 mark on: 23:45 (now closed, its final value) and 00:00; 00:15 is filling.
    let got: Vec<(DateTime<Utc>, f64)> = points.iter().map(|p| (p.ts, p.value)).collect();
    assert_eq!(got, [(utc(2024, 7, 15, 23, 45, 0), 2.25), (utc(2024, 7, 16, 0, 0, 0), -0.75)]);
    assert!(server.uris()[1].contains("startdatetime=20240715233000"), "{}", server.uris()[1]);
}

#[test]
fn seendates_parse_in_both_forms_and_nothing_else() {
    assert_eq!(parse_gdelt_time("20240615T170000Z"), Some(utc(2024, 6, 15, 17, 0, 0)));
    assert_eq!(parse_gdelt_time("20240615170000"), Some(utc(2024, 6, 15, 17, 0, 0)));
    for bad in ["", "2024-06-15T17:00:00Z", "20240615T170000", "20241315T170000Z", "2024061517000x", "+0240615T170000Z"]
    {
        assert_eq!(parse_gdelt_time(bad), None, "{bad}");
    }
}

#[tokio::test]
async fn a_title_with_a_bad_escape_and_a_control_character_still_parses() {
    // The real first title, with an invalid JSON escape (\') and a raw control character
    // injected, plus a lone surrogate escape in the second one.
    let body = VIZHINJAM
        .replacen("Vizhinjam International Seaport", "Vizhinjam\\' International\u{1}Seaport", 1)
        .replacen("vizhinjam , fish", "vizhinjam , fish \\ud83d", 1);
    assert!(serde_json::from_str::<serde_json::Value>(&body).is_err(), "the injected body is invalid JSON");
    let server = TestServer::start(move |_, _| json(200, &body)).await;
    let gdelt = source(config(&server.base_url, vec![query("adani-ports", "vizhinjam")]));

    let records = gdelt.poll(now()).await.expect("repaired and parsed");

    assert_eq!(records.len(), 4);
    assert_eq!(records[0].title, "Customs grants approval to Vizhinjam' International Seaport");
    assert!(records[1].title.ends_with("vizhinjam , fish \u{fffd}"), "{}", records[1].title);
    assert_eq!(records[3].domain.as_deref(), Some("thehindubusinessline.com"));
}

#[test]
fn the_repair_leaves_valid_json_alone() {
    let valid = VIZHINJAM.as_bytes();
    let repaired = parse::repair_json_strings(valid);
    assert_eq!(repaired, VIZHINJAM);
    let escapes = r#"{"t":"a\"b\\c\/d\n\u00e9\ud83d\ude00"}"#;
    assert_eq!(parse::repair_json_strings(escapes.as_bytes()), escapes);
}

// ---- high-water marks ----

#[tokio::test]
async fn marks_make_polls_neither_miss_nor_repeat() {
    // t1 < t2 < t3. GDELT's startdatetime is inclusive, so poll 2 sees B and C again.
    let (t1, t2, t3) = ("20240601T100000Z", "20240601T101500Z", "20240601T103000Z");
    let pages = [
        artlist(&[("a", t1), ("b", t2), ("a", t1), ("c", t2)]),
        artlist(&[("b", t2), ("c", t2), ("d", t2), ("e", t3)]),
        artlist(&[("e", t3)]),
        r#"{}"#.to_string(),
    ];
    let server = TestServer::start(move |_, index| json(200, &pages[index.min(3)])).await;
    let gdelt = source(config(&server.base_url, vec![query("t", "q")]));

    let first = gdelt.poll(now()).await.expect("poll 1");
    assert_eq!(urls(&first), ["a", "b", "c"], "the repeated A is emitted once");
    let second = gdelt.poll(now()).await.expect("poll 2");
    assert_eq!(urls(&second), ["d", "e"], "B and C were emitted at the mark; D at the same instant is new");
    let third = gdelt.poll(now()).await.expect("poll 3");
    assert!(third.is_empty());
    let fourth = gdelt.poll(now()).await.expect("poll 4: {} is no news");
    assert!(fourth.is_empty());

    let starts: Vec<String> = server.uris().iter().map(|uri| start_of(uri)).collect();
    assert_eq!(starts, ["20240715000000", "20240601101500", "20240601103000", "20240601103000"]);
}

#[tokio::test]
async fn full_pages_are_followed_from_the_latest_seendate() {
    let (t1, t2, t3) = ("20240601T100000Z", "20240601T101500Z", "20240601T103000Z");
    let pages = [artlist(&[("a", t1), ("b", t2)]), artlist(&[("b", t2), ("c", t3)]), artlist(&[("c", t3)])];
    let server = TestServer::start(move |_, index| json(200, &pages[index.min(2)])).await;
    let gdelt = source(GdeltConfig { max_records: 2, ..config(&server.base_url, vec![query("t", "q")]) });

    let records = gdelt.poll(now()).await.expect("poll succeeds");

    assert_eq!(urls(&records), ["a", "b", "c"]);
    let starts: Vec<String> = server.uris().iter().map(|uri| start_of(uri)).collect();
    assert_eq!(starts, ["20240715000000", "20240601101500", "20240601103000"]);
    assert!(server.uris()[0].contains("maxrecords=2"));
    server.assert_spaced(MIN_INTERVAL);
}

#[tokio::test]
async fn an_unreadable_mark_store_fails_the_query_without_a_request() {
    struct Broken;
    #[async_trait]
    impl HighWaterMarks for Broken {
        async fn get(&self, _: &str) -> Result<Option<HighWaterMark>, MarkStoreError> {
            Err("connection refused".into())
        }
        async fn set(&self, _: &str, _: HighWaterMark) -> Result<(), MarkStoreError> {
            Err("connection refused".into())
        }
    }
    let server = TestServer::start(vizhinjam_server()).await;
    let gdelt = source_with(config(&server.base_url, vec![query("t", "q")]), Arc::new(Broken));

    let error = gdelt.poll(now()).await.expect_err("no mark, no poll");

    assert_eq!(error.attempts(), 0);
    assert!(error.to_string().contains("cannot read the high-water mark"), "{error}");
    assert!(server.hits().is_empty());
}

// ---- fault tests ----

#[tokio::test]
async fn a_plain_text_200_is_a_typed_error_and_not_retried() {
    let server = TestServer::start(|_, _| respond(200, "text/html; charset=utf-8", KEYWORD_ERROR)).await;
    let gdelt = source(config(&server.base_url, vec![query("t", "locationcc:br")]));

    let error = gdelt.poll(now()).await.expect_err("GDELT refused the query");

    assert!(
        matches!(error.cause(), FetchCause::Rejected(text)
            if text == "One or more of your keywords were too short, too long or too common: (locationcc:br)"),
        "{error}"
    );
    assert_eq!(error.kind(), "rejected");
    assert_eq!(error.attempts(), 1);
    assert_eq!(server.hits().len(), 1);
}

#[tokio::test]
async fn a_plain_text_429_is_retried_after_retry_after() {
    let server = TestServer::start(|_, index| match index {
        0 => too_many(1, "text/plain", RATE_LIMITED),
        _ => json(200, VIZHINJAM),
    })
    .await;
    let gdelt = source(config(&server.base_url, vec![query("t", "vizhinjam")]));

    let records = gdelt.poll(now()).await.expect("the second answer is good");

    assert_eq!(records.len(), 4);
    assert_eq!(server.hits().len(), 2);
    assert!(server.gaps()[0] >= Duration::from_secs(1), "Retry-After: 1 not honoured: {:?}", server.gaps());
}

#[tokio::test]
async fn rate_limits_until_the_attempts_run_out_name_the_cause() {
    let server = TestServer::start(|_, _| too_many(0, "text/plain", RATE_LIMITED)).await;
    let gdelt = source(attempts(2, config(&server.base_url, vec![query("t", "vizhinjam")])));

    let error = gdelt.poll(now()).await.expect_err("always 429");

    assert_eq!(error.kind(), "rate_limited");
    assert_eq!(error.attempts(), 2);
    server.assert_spaced(MIN_INTERVAL);
}

#[tokio::test]
async fn a_rate_limited_poll_logs_what_gdelt_said() {
    let server = TestServer::start(|_, _| too_many(0, "text/plain", RATE_LIMITED)).await;
    let gdelt = source(attempts(1, config(&server.base_url, vec![query("t", "vizhinjam")])));
    let logs = logs();

    let error = gdelt.poll(now()).await.expect_err("429");

    // GDELT's words say which limit was hit and whom to ask for more; an operator reads them
    // in the log line of the failed request (and in the poll's error, logged by run_source).
    let said = "Please limit requests to one every 5 seconds";
    assert!(error.to_string().contains(said), "{error}");
    let lines = logs.lines_with(&server.base_url);
    assert!(lines.iter().any(|line| line.contains("upstream request failed") && line.contains(said)), "{lines:?}");
}

#[tokio::test]
async fn server_errors_and_truncated_json_are_retried() {
    let server = TestServer::start(|_, index| match index {
        0 => respond(503, "text/html", "<html>overloaded</html>"),
        1 => json(200, &VIZHINJAM[..VIZHINJAM.len() / 2]),
        _ => json(200, VIZHINJAM),
    })
    .await;
    let gdelt = source(config(&server.base_url, vec![query("t", "vizhinjam")]));

    let records = gdelt.poll(now()).await.expect("the third answer is good");

    assert_eq!(records.len(), 4);
    assert_eq!(server.hits().len(), 3);
    server.assert_spaced(MIN_INTERVAL);

    let truncated = TestServer::start(|_, _| json(200, &VIZHINJAM[..VIZHINJAM.len() / 2])).await;
    let gdelt = source(config(&truncated.base_url, vec![query("t", "vizhinjam")]));
    let error = gdelt.poll(now()).await.expect_err("always cut short");
    assert_eq!(error.kind(), "body");
    assert_eq!(error.attempts(), 3);
}

#[tokio::test]
async fn a_silent_upstream_times_out() {
    let (listener, url) = silent().await;
    let gdelt = source(GdeltConfig {
        http: HttpPolicyOverrides { timeout_ms: Some(150), max_attempts: Some(2), ..HttpPolicyOverrides::default() },
        ..config(&url, vec![query("t", "q")])
    });

    let error = gdelt.poll(now()).await.expect_err("never answers");

    assert!(matches!(error.cause(), FetchCause::Timeout { .. }), "{error}");
    assert_eq!(error.attempts(), 2);
    drop(listener);
}

#[tokio::test]
async fn empty_results_are_zero_records() {
    for body in ["{}", r#"{"articles": []}"#, r#"{"articles": null}"#] {
        let server = TestServer::start(move |_, _| json(200, body)).await;
        let gdelt = source(config(&server.base_url, vec![query("t", "q")]));
        assert_eq!(gdelt.poll(now()).await.expect("no news is good news"), [], "{body}");
    }
    let empty = TestServer::start(|_, _| json(200, "")).await;
    let error = source(config(&empty.base_url, vec![query("t", "q")])).poll(now()).await.expect_err("empty body");
    assert_eq!(error.kind(), "body");
}

#[tokio::test]
async fn every_query_shares_one_limiter_and_one_failing_query_spares_the_others() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let server = TestServer::start(move |hit, _| {
        counted.fetch_add(1, Ordering::SeqCst);
        if hit.uri.contains("query=bad") {
            respond(200, "text/plain", KEYWORD_ERROR)
        } else {
            json(200, VIZHINJAM)
        }
    })
    .await;
    let queries = vec![query("a", "vizhinjam"), query("b", "bad"), query("c", "vizhinjam port")];
    let gdelt = source(config(&server.base_url, queries));

    let records = gdelt.poll(now()).await.expect("two queries answer");

    // Same URLs for tenants a and c: each tenant gets its own records.
    assert_eq!(records.len(), 8);
    assert_eq!(records.iter().filter(|r| r.tenant_id.as_deref() == Some("c")).count(), 4);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    server.assert_spaced(MIN_INTERVAL);
    assert!(server.gaps().iter().all(|gap| *gap >= MIN_INTERVAL - Duration::from_millis(5)));
}

// ---- through the replay server ----

#[tokio::test]
async fn polls_through_the_replay_fixtures() {
    let replay = ReplayServer::start(Path::new(REPLAY_DIR)).await.expect("replay starts");
    let config = GdeltConfig {
        base_url: replay.provider_base_url("gdelt"),
        queries: vec![query("adani-ports", "vizhinjam")],
        ..GdeltConfig::default()
    };
    config.validate("ingest.gdelt").expect("a replay config is valid");
    let gdelt = GdeltSource::new(config, Arc::new(InMemoryHighWaterMarks::new())).expect("client builds");

    let records = gdelt.poll(now()).await.expect("replayed poll succeeds");

    assert_eq!(records.len(), 4);
    assert_eq!(records[0].seen_at, utc(2024, 6, 15, 17, 0, 0));
    replay.shutdown().await;
}

// ---- configuration ----

#[test]
fn defaults_follow_gdelt_limits() {
    let config: GdeltConfig = toml::from_str("").expect("an empty table is valid");
    assert_eq!(config, GdeltConfig::default());
    assert_eq!(config.base_url, "https://api.gdeltproject.org");
    assert_eq!(
        (
            config.interval_secs,
            config.min_interval_ms,
            config.http_policy().timeout_ms,
            config.http_policy().max_attempts
        ),
        (900, 5_000, 30_000, 3)
    );
    assert_eq!((config.max_records, config.max_pages, config.initial_lookback_hours), (250, 4, 24));
    assert_eq!(config.fetch_policy().min_interval, Duration::from_secs(5));
    config.validate("ingest.gdelt").expect("defaults are valid");

    let config: GdeltConfig = toml::from_str(
        r#"
        [[queries]]
        tenant_id = "adani-ports"
        query = "vizhinjam sourcecountry:IN"
        "#,
    )
    .expect("valid");
    assert_eq!(config.queries, [query("adani-ports", "vizhinjam sourcecountry:IN")]);
    let written = toml::to_string(&config).expect("serializes");
    assert_eq!(toml::from_str::<GdeltConfig>(&written).expect("reads back"), config);
}

#[test]
fn unknown_keys_are_rejected_and_validation_names_the_bad_key() {
    let unknown = toml::from_str::<GdeltConfig>("[[queries]]\ntenant_id = \"a\"\nquery = \"b\"\nterms = []\n");
    assert!(unknown.is_err_and(|e| e.to_string().contains("unknown field `terms`")));
    let top = toml::from_str::<GdeltConfig>("interval = 5\n");
    assert!(top.is_err_and(|e| e.to_string().contains("unknown field `interval`")));

    let error_of = |edit: &dyn Fn(&mut GdeltConfig)| {
        let mut config = GdeltConfig { queries: vec![query("a", "vizhinjam")], ..GdeltConfig::default() };
        edit(&mut config);
        config.validate("ingest.gdelt").expect_err("invalid").to_string()
    };
    assert_eq!(
        error_of(&|c| c.min_interval_ms = 1000),
        "ingest.gdelt.min_interval_ms: 1000 is below GDELT's limit of one request per 5000 ms"
    );
    assert_eq!(error_of(&|c| c.max_records = 251), "ingest.gdelt.max_records: 251 is not between 1 and 250");
    assert_eq!(error_of(&|c| c.queries[0].query = "  ".into()), "ingest.gdelt.queries[0].query: must not be empty");
    assert_eq!(
        error_of(&|c| c.queries[0].tenant_id = String::new()),
        "ingest.gdelt.queries[0].tenant_id: must not be empty"
    );
    assert_eq!(
        error_of(&|c| c.queries.push(query("a", " vizhinjam "))),
        "ingest.gdelt.queries[1]: tenant `a` already watches `vizhinjam`"
    );
    assert_eq!(error_of(&|c| c.interval_secs = 0), "ingest.gdelt.interval_secs: must be at least 1 second");
    assert_eq!(
        error_of(&|c| c.initial_lookback_hours = 3000),
        "ingest.gdelt.initial_lookback_hours: 3000 is not between 1 and 2160 (GDELT keeps ~3 months)"
    );
    assert!(error_of(&|c| c.base_url = "ftp://example.com".into()).starts_with("ingest.gdelt.base_url:"));
    // A proxy or replay may be faster than the public host's limit.
    let proxy = GdeltConfig { base_url: "http://127.0.0.1:9".into(), min_interval_ms: 10, ..GdeltConfig::default() };
    proxy.validate("ingest.gdelt").expect("only the public host's limit is enforced");
}
