//! `signalcraft watch add --place` as an operator uses it, through the real binary, against a
//! local server replaying recorded GeoNames answers (tests/fixtures/geonames/SOURCE.txt): a
//! place found lands in the watch list with the recorded coordinates, and a second lookup comes
//! from the cache; an ambiguous or unknown place, a GeoNames limit error and a missing account
//! are refused with messages that say why and what to do.

mod common;

use std::{
    process::Output,
    sync::{Arc, Mutex},
};

use axum::{http::Uri, Router};
use common::*;
use tokio::process::Command;

/// Username the tests configure; it must never reach the output.
const USERNAME: &str = "signalcraft-geo-test";

/// A local GeoNames: answers every request with `body`, and records the URIs asked.
struct FakeGeoNames {
    base_url: String,
    uris: Arc<Mutex<Vec<String>>>,
}

impl FakeGeoNames {
    async fn start(body: Vec<u8>) -> FakeGeoNames {
        let uris: Arc<Mutex<Vec<String>>> = Arc::default();
        let recorded = uris.clone();
        let router = Router::new().fallback(move |uri: Uri| {
            let (recorded, body) = (recorded.clone(), body.clone());
            async move {
                recorded.lock().expect("not poisoned").push(uri.to_string());
                ([("content-type", "application/json;charset=UTF-8")], body)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds the loopback");
        let addr = listener.local_addr().expect("has an address");
        tokio::spawn(async move { axum::serve(listener, router).await });
        FakeGeoNames { base_url: format!("http://{addr}"), uris }
    }

    async fn recorded(name: &str) -> FakeGeoNames {
        FakeGeoNames::start(std::fs::read(fixture(&format!("geonames/{name}"))).expect("fixture")).await
    }

    fn uris(&self) -> Vec<String> {
        self.uris.lock().expect("not poisoned").clone()
    }
}

/// Runs the binary with the GeoNames account and base URL set through the environment.
async fn with_geonames(database: &TestDatabase, geonames: &FakeGeoNames, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_signalcraft"))
        .args(args)
        .env("DATABASE_URL", &database.url)
        .env("RUST_LOG", "warn")
        .env("SIGNALCRAFT_GEOCODING__USERNAME", USERNAME)
        .env("SIGNALCRAFT_GEOCODING__BASE_URL", &geonames.base_url)
        .output()
        .await
        .expect("the signalcraft binary runs")
}

fn add<'a>(tenant: &'a str, place: &'a str) -> Vec<&'a str> {
    vec!["watch", "add", "--tenant-id", tenant, "--name", "Acme", "--place", place]
}

async fn location(database: &TestDatabase, tenant: &str) -> Option<(f64, f64)> {
    sqlx::query_as("SELECT latitude, longitude FROM watched_businesses WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_optional(&database.pool)
        .await
        .expect("reads")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_place_is_located_once_and_then_read_from_the_cache() {
    let database = TestDatabase::new().await;
    let geonames = FakeGeoNames::recorded("search_harrods_london.json").await;

    let added = with_geonames(&database, &geonames, &add("harrods", "Harrods, London")).await;
    assert!(added.status.success(), "{}", stderr(&added));
    assert!(stdout(&added).contains("located \"Harrods, London\" at 51.49957,-0.16359"), "{}", stdout(&added));
    assert!(stdout(&added).trim_end().ends_with("added harrods"), "{}", stdout(&added));
    assert_eq!(location(&database, "harrods").await, Some((51.49957, -0.16359)));

    let uris = geonames.uris();
    assert_eq!(uris.len(), 1);
    assert!(uris[0].starts_with("/searchJSON?q=Harrods%2C+London&maxRows=10&username="), "{}", uris[0]);

    // The same place again (spelled a little differently) for another business: from the cache.
    let again = with_geonames(&database, &geonames, &add("harrods-2", "  harrods,   LONDON ")).await;
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(location(&database, "harrods-2").await, Some((51.49957, -0.16359)));
    assert_eq!(geonames.uris().len(), 1, "the cached query was not sent again");
    assert_eq!(database.count("geocoding_cache").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ambiguous_place_is_refused_with_its_candidates() {
    let database = TestDatabase::new().await;
    // The recorded answer to q=London: the capital and the City of London carry the same
    // population, so neither stands out.
    let geonames = FakeGeoNames::recorded("search_london.json").await;
    let refused = with_geonames(&database, &geonames, &add("acme", "London")).await;
    assert!(!refused.status.success());
    let error = stderr(&refused);
    assert!(error.contains("--place \"London\" is ambiguous: 5981 places match"), "{error}");
    for candidate in [
        "London, England, United Kingdom (GB) at 51.50853,-0.12574, population 7556900",
        "City of London, England, United Kingdom (GB) at 51.51279,-0.09184, population 7556900",
        "London, Ontario, Canada (CA) at 42.98339,-81.23304, population 346765",
        "East London, Eastern Cape, South Africa (ZA) at -33.01529,27.91162, population 478676",
        "New London, Connecticut, United States (US) at 41.35565,-72.09952, population 27620",
    ] {
        assert!(error.contains(candidate), "{candidate} missing from: {error}");
    }
    assert!(error.contains("--latitude and --longitude"), "{error}");
    assert_eq!(database.count("watched_businesses").await, 0);
    // The answer is cached all the same: asking again costs no request.
    let again = with_geonames(&database, &geonames, &add("acme", "London")).await;
    assert!(!again.status.success());
    assert_eq!(geonames.uris().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_place_is_refused() {
    let database = TestDatabase::new().await;
    let geonames = FakeGeoNames::recorded("search_no_results.json").await;
    let refused = with_geonames(&database, &geonames, &add("acme", "Xyzzyville, DE")).await;
    assert!(!refused.status.success());
    let error = stderr(&refused);
    assert!(error.contains("GeoNames knows no place named Xyzzyville in DE"), "{error}");
    assert!(geonames.uris()[0].contains("&country=DE&"), "{:?}", geonames.uris());
    assert_eq!(database.count("watched_businesses").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_geonames_limit_error_is_reported_and_not_cached() {
    let database = TestDatabase::new().await;
    // Hand-made (not a recording): GeoNames' status object in its documented shape, with the
    // wording it uses for the hourly limit; GeoNames names the account in the message.
    let body = format!(
        r#"{{"status":{{"message":"the hourly limit of 1000 credits for {USERNAME} has been exceeded. Please throttle your requests or use the commercial service.","value":19}}}}"#
    );
    let geonames = FakeGeoNames::start(body.into_bytes()).await;
    let refused = with_geonames(&database, &geonames, &add("acme", "Berlin, DE")).await;
    assert!(!refused.status.success());
    let (out, error) = (stdout(&refused), stderr(&refused));
    assert!(error.contains("GeoNames status 19") && error.contains("request limit is used up"), "{error}");
    assert!(!error.contains(USERNAME) && !out.contains(USERNAME), "the username leaked: {error}");
    assert_eq!(geonames.uris().len(), 1, "a limit error is not retried");
    assert_eq!(database.count("geocoding_cache").await, 0);
    assert_eq!(database.count("watched_businesses").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_place_without_an_account_names_the_key() {
    let database = TestDatabase::new().await;
    let geonames = FakeGeoNames::recorded("search_harrods_london.json").await;
    let refused = Command::new(env!("CARGO_BIN_EXE_signalcraft"))
        .args(add("acme", "Berlin, DE"))
        .env("DATABASE_URL", &database.url)
        .env("SIGNALCRAFT_GEOCODING__BASE_URL", &geonames.base_url)
        .env_remove("SIGNALCRAFT_GEOCODING__USERNAME")
        .output()
        .await
        .expect("runs");
    assert!(!refused.status.success());
    let error = stderr(&refused);
    assert!(error.contains("geocoding.username is not set (SIGNALCRAFT_GEOCODING__USERNAME)"), "{error}");
    assert!(geonames.uris().is_empty());

    // A place and coordinates together are refused before anything is asked.
    let mut both = add("acme", "Berlin, DE");
    both.extend(["--latitude", "52.5", "--longitude", "13.4"]);
    let refused = with_geonames(&database, &geonames, &both).await;
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("cannot be used with"), "{}", stderr(&refused));
    assert!(geonames.uris().is_empty());
}
