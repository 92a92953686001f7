//! Places by name for the watch list (`signalcraft watch add --place "Berlin, DE"`): the name is
//! looked up with the GeoNames search API (`[geocoding]`), every answer is kept for good in
//! `geocoding_cache`, and a place is only taken when the answer leaves no doubt which one was
//! meant — otherwise the candidates are listed and the operator is asked to be more precise.
//!
//! # Which candidate is the place
//! GeoNames lists candidates by relevance. The place is:
//! * the only candidate, when there is one (in the asked country, if one was given); or
//! * the first candidate, when its name (or its toponym or ASCII name) is the name asked,
//!   it is a populated place (feature class `P`), and its population is at least 10× that of
//!   every other candidate: "Berlin, DE" is the capital, not a village of the same name.
//!
//! Anything else is refused with up to 5 candidates (name, region, country, coordinates,
//! population); no candidate at all is refused as an unknown place.
//!
//! # The free tier
//! GeoNames allows 1,000 requests an hour per account (and 20,000 a day). Requests go through
//! the shared [`HttpFetcher`], paced at `3600 s / requests_per_hour`, so one process can never
//! send more; a command sends at most one (a cached query is never sent again). Limit and
//! account errors come inside a successful answer (`{"status": {"message", "value"}}`) and are
//! reported as such, not retried.
//!
//! The username is treated as a secret: it is the account, and anyone holding it spends its
//! quota. It is redacted from every log line and error, like an access key.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use signalcraft_http::{FetchCause, FetchPolicy, HttpFetcher, HttpPolicy, HttpPolicyOverrides};
use signalcraft_ingest::GeoPoint;
use sqlx::PgPool;

use crate::terminal::printable;

/// Seconds in the hour the request quota is counted over.
const HOUR_SECS: f64 = 3_600.0;
/// Longest `--place`, in characters.
pub const MAX_PLACE_CHARS: usize = 200;
/// Candidates listed when a place is ambiguous.
const LISTED_CANDIDATES: usize = 5;
/// How many times the first candidate's population must exceed every other's to be taken.
const DOMINANCE: u64 = 10;

/// `[geocoding]`: the GeoNames account and where its API is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeocodingConfig {
    /// The GeoNames account (free registration at geonames.org). Unset: `--place` is refused.
    #[serde(default)]
    pub username: Option<String>,
    /// Root of the API (`{base_url}/searchJSON`). Default `http://api.geonames.org`.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Candidates asked for per search (1..=1000). Default 10.
    #[serde(default = "default_max_rows")]
    pub max_rows: u32,
    /// Requests per hour the account allows (the free tier: 1,000); requests are spaced so this
    /// holds. Default 1000.
    #[serde(default = "default_requests_per_hour")]
    pub requests_per_hour: u32,
    /// How hard each request tries (`[geocoding.http]`); unset keys come from `[http_client]`,
    /// then from [`GeocodingConfig::HTTP_DEFAULTS`].
    #[serde(default)]
    pub http: HttpPolicyOverrides,
}

fn default_base_url() -> String {
    "http://api.geonames.org".into()
}

fn default_max_rows() -> u32 {
    10
}

fn default_requests_per_hour() -> u32 {
    1_000
}

impl Default for GeocodingConfig {
    fn default() -> Self {
        GeocodingConfig {
            username: None,
            base_url: default_base_url(),
            max_rows: default_max_rows(),
            requests_per_hour: default_requests_per_hour(),
            http: HttpPolicyOverrides::default(),
        }
    }
}

impl GeocodingConfig {
    /// Built-in HTTP policy: an operator waits at the terminal, so few, short attempts.
    pub const HTTP_DEFAULTS: HttpPolicy = HttpPolicy {
        timeout_ms: 10_000,
        max_attempts: 3,
        initial_backoff_ms: 1_000,
        max_backoff_ms: 10_000,
        max_retry_after_secs: 60,
    };

    /// Checks what serde cannot; errors name the key under `prefix` (`geocoding`).
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err(format!("{prefix}.base_url: `{}` is not an http(s) URL", printable(&self.base_url)));
        }
        if reqwest::Url::parse(&self.base_url).is_err() {
            return Err(format!("{prefix}.base_url: `{}` is not a URL", printable(&self.base_url)));
        }
        if !(1..=1_000).contains(&self.max_rows) {
            return Err(format!("{prefix}.max_rows: {} is not between 1 and 1000", self.max_rows));
        }
        if self.requests_per_hour == 0 {
            return Err(format!("{prefix}.requests_per_hour: must be at least 1"));
        }
        if self.username.as_deref().is_some_and(|name| name.trim().is_empty()) {
            return Err(format!("{prefix}.username: is empty (unset it, or give the GeoNames account)"));
        }
        self.http.over(Self::HTTP_DEFAULTS).validate(&format!("{prefix}.http")).map_err(|e| e.to_string())
    }

    /// The username, or an error naming the key and its variable.
    pub fn username(&self) -> anyhow::Result<&str> {
        match self.username.as_deref() {
            Some(name) if !name.trim().is_empty() => Ok(name),
            _ => anyhow::bail!(
                "--place needs a GeoNames account: geocoding.username is not set (SIGNALCRAFT_GEOCODING__USERNAME); \
                 or give --latitude and --longitude"
            ),
        }
    }

    /// Least time between two requests: the hour spread over the allowed requests.
    pub fn min_request_interval(&self) -> Duration {
        Duration::from_secs_f64(HOUR_SECS / f64::from(self.requests_per_hour.max(1)))
    }

    /// The fetcher's policy: `http` over [`GeocodingConfig::HTTP_DEFAULTS`], paced for the quota.
    pub fn fetch_policy(&self) -> FetchPolicy {
        FetchPolicy::configured(self.min_request_interval(), &self.http.over(Self::HTTP_DEFAULTS))
    }
}

/// A `--place` as searched: the name, and the country when the text ended in an ISO code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceQuery {
    pub name: String,
    /// ISO 3166-1 alpha-2, upper case (`DE` of "Berlin, DE").
    pub country: Option<String>,
}

impl PlaceQuery {
    /// Reads `--place`: "Berlin", "Berlin, DE", "Harrods, London". A last comma-separated part
    /// of exactly two letters is the country code.
    pub fn parse(text: &str) -> Result<PlaceQuery, String> {
        if let Err(error) = crate::terminal::check_text("place", text, MAX_PLACE_CHARS) {
            let message = error.to_string();
            return Err(message.strip_prefix("--place: ").map(str::to_string).unwrap_or(message));
        }
        let text = text.trim();
        let (name, country) = match text.rsplit_once(',') {
            Some((head, tail)) if tail.trim().len() == 2 && tail.trim().chars().all(|c| c.is_ascii_alphabetic()) => {
                (head.trim(), Some(tail.trim().to_ascii_uppercase()))
            }
            _ => (text, None),
        };
        if name.is_empty() {
            return Err("names no place (e.g. \"Berlin, DE\")".into());
        }
        Ok(PlaceQuery { name: name.to_string(), country })
    }

    /// The cache key: the name in lower case with single spaces, then `|` and the country.
    pub fn key(&self) -> String {
        let name = self.name.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        format!("{name}|{}", self.country.as_deref().unwrap_or(""))
    }

    fn described(&self) -> String {
        match &self.country {
            Some(country) => format!("{} in {country}", self.name),
            None => self.name.clone(),
        }
    }
}

/// One place an answer listed, as read from it (coordinates checked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toponym_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ascii_name: Option<String>,
    /// First-level administrative region (state, province), e.g. "England".
    #[serde(default)]
    pub admin_name: String,
    #[serde(default)]
    pub country_code: String,
    #[serde(default)]
    pub country_name: String,
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub population: u64,
    /// Feature class: `P` populated place, `A` administrative area, `S` spot or building, ….
    #[serde(default)]
    pub feature_class: String,
    #[serde(default)]
    pub feature_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geoname_id: Option<i64>,
}

impl Candidate {
    fn is_named(&self, name: &str) -> bool {
        let asked = name.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        [Some(&self.name), self.toponym_name.as_ref(), self.ascii_name.as_ref()]
            .into_iter()
            .flatten()
            .any(|own| own.to_lowercase() == asked)
    }

    /// "London, England, United Kingdom (GB) at 51.50853,-0.12574, population 7556900".
    pub fn describe(&self) -> String {
        let mut parts = vec![printable(&self.name).into_owned()];
        if !self.admin_name.is_empty() {
            parts.push(printable(&self.admin_name).into_owned());
        }
        let country = match (self.country_name.is_empty(), self.country_code.is_empty()) {
            (false, false) => format!("{} ({})", printable(&self.country_name), printable(&self.country_code)),
            (false, true) => printable(&self.country_name).into_owned(),
            (true, false) => printable(&self.country_code).into_owned(),
            (true, true) => String::new(),
        };
        if !country.is_empty() {
            parts.push(country);
        }
        format!("{} at {},{}, population {}", parts.join(", "), self.latitude, self.longitude, self.population)
    }

    pub fn point(&self) -> GeoPoint {
        GeoPoint { latitude: self.latitude, longitude: self.longitude }
    }
}

/// A search's answer: how many places matched in all, and the ones listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchAnswer {
    pub total_results: u64,
    pub candidates: Vec<Candidate>,
}

/// The answer's JSON, as GeoNames sends it (only the fields used).
#[derive(Deserialize)]
struct RawAnswer {
    #[serde(rename = "totalResultsCount")]
    total_results: Option<serde_json::Value>,
    geonames: Option<Vec<RawPlace>>,
    status: Option<RawStatus>,
}

#[derive(Deserialize)]
struct RawStatus {
    #[serde(default)]
    message: String,
    #[serde(default)]
    value: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPlace {
    #[serde(default)]
    name: String,
    toponym_name: Option<String>,
    ascii_name: Option<String>,
    #[serde(default)]
    admin_name1: Option<String>,
    country_code: Option<String>,
    country_name: Option<String>,
    lat: serde_json::Value,
    lng: serde_json::Value,
    #[serde(default)]
    population: serde_json::Value,
    fcl: Option<String>,
    fcode: Option<String>,
    geoname_id: Option<serde_json::Value>,
}

/// A number GeoNames sends as a JSON number or as a string ("51.50853").
fn number(value: &serde_json::Value) -> Option<f64> {
    match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|n| n.is_finite())
}

/// A count GeoNames sends as a number or a string; anything else (absent, negative) is 0.
fn count(value: &serde_json::Value) -> u64 {
    match value {
        serde_json::Value::Number(n) => n.as_u64().unwrap_or(0),
        serde_json::Value::String(s) => s.trim().parse::<u64>().unwrap_or(0),
        _ => 0,
    }
}

/// Reads a `searchJSON` answer; a `status` inside it is GeoNames refusing the request.
pub fn parse_answer(body: &[u8]) -> Result<SearchAnswer, FetchCause> {
    let raw: RawAnswer = signalcraft_http::parse_json(body)?;
    if let Some(status) = raw.status {
        return Err(FetchCause::Rejected(describe_status(&status)));
    }
    let Some(places) = raw.geonames else {
        return Err(FetchCause::Parse("no `geonames` list in the answer".into()));
    };
    let mut candidates = Vec::with_capacity(places.len());
    for place in places {
        let (Some(latitude), Some(longitude)) = (number(&place.lat), number(&place.lng)) else {
            return Err(FetchCause::Parse(format!(
                "place `{}` has no readable coordinates ({}, {})",
                printable(&place.name),
                place.lat,
                place.lng
            )));
        };
        if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
            return Err(FetchCause::Parse(format!(
                "place `{}` has coordinates out of range ({latitude}, {longitude})",
                printable(&place.name)
            )));
        }
        candidates.push(Candidate {
            name: place.name,
            toponym_name: place.toponym_name,
            ascii_name: place.ascii_name,
            admin_name: place.admin_name1.unwrap_or_default(),
            country_code: place.country_code.unwrap_or_default(),
            country_name: place.country_name.unwrap_or_default(),
            latitude,
            longitude,
            population: count(&place.population),
            feature_class: place.fcl.unwrap_or_default(),
            feature_code: place.fcode.unwrap_or_default(),
            geoname_id: match &place.geoname_id {
                Some(serde_json::Value::Number(id)) => id.as_i64(),
                Some(serde_json::Value::String(id)) => id.trim().parse::<i64>().ok(),
                _ => None,
            },
        });
    }
    let listed = u64::try_from(candidates.len()).unwrap_or(u64::MAX);
    let total_results = raw.total_results.as_ref().map_or(listed, count).max(listed);
    Ok(SearchAnswer { total_results, candidates })
}

/// GeoNames' error codes in words, with what to do about them.
fn describe_status(status: &RawStatus) -> String {
    let code = count(&status.value);
    let message = printable(&status.message);
    let advice = match code {
        18..=20 => {
            " — the account's request limit is used up (the free tier: 1,000 an hour, 20,000 a day); try again later, \
             or give --latitude and --longitude"
        }
        10 => {
            " — the account is unknown or not enabled for the web services (geocoding.username; enable it at \
                geonames.org/manageaccount)"
        }
        _ => "",
    };
    format!("GeoNames status {code}: {message}{advice}")
}

/// What an answer says about the place asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    Found(Box<Candidate>),
    /// Several places could be meant: the first few, in the answer's order.
    Ambiguous(Vec<Candidate>),
    Unknown,
}

/// Applies the rule of the module docs to `answer`.
pub fn decide(query: &PlaceQuery, answer: &SearchAnswer) -> Resolution {
    let candidates: Vec<&Candidate> = answer
        .candidates
        .iter()
        .filter(|c| query.country.as_deref().is_none_or(|country| c.country_code.eq_ignore_ascii_case(country)))
        .collect();
    let Some((first, others)) = candidates.split_first() else {
        return Resolution::Unknown;
    };
    if others.is_empty() {
        return Resolution::Found(Box::new((*first).clone()));
    }
    let dominates = first.population > 0
        && others.iter().all(|other| first.population >= other.population.saturating_mul(DOMINANCE));
    if first.is_named(&query.name) && first.feature_class == "P" && dominates {
        return Resolution::Found(Box::new((*first).clone()));
    }
    Resolution::Ambiguous(candidates.into_iter().take(LISTED_CANDIDATES).cloned().collect())
}

/// The cached answer to `key`, if it was ever asked.
async fn cached(pool: &PgPool, key: &str) -> anyhow::Result<Option<SearchAnswer>> {
    let row: Option<(i64, serde_json::Value)> =
        sqlx::query_as("SELECT total_results, candidates FROM geocoding_cache WHERE query = $1")
            .bind(key)
            .fetch_optional(pool)
            .await?;
    let Some((total, candidates)) = row else {
        return Ok(None);
    };
    let candidates: Vec<Candidate> = serde_json::from_value(candidates)
        .map_err(|error| anyhow::anyhow!("geocoding_cache row `{key}` is unreadable: {error}"))?;
    Ok(Some(SearchAnswer { total_results: u64::try_from(total).unwrap_or(0), candidates }))
}

/// Keeps `answer` for `key` for good (a concurrent lookup's row wins; both are the same answer).
async fn remember(pool: &PgPool, key: &str, answer: &SearchAnswer) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO geocoding_cache (query, total_results, candidates) VALUES ($1, $2, $3) \
         ON CONFLICT (query) DO NOTHING",
    )
    .bind(key)
    .bind(i64::try_from(answer.total_results).unwrap_or(i64::MAX))
    .bind(serde_json::to_value(&answer.candidates)?)
    .execute(pool)
    .await?;
    Ok(())
}

/// The `searchJSON` URL for `query`.
fn search_url(config: &GeocodingConfig, username: &str, query: &PlaceQuery) -> anyhow::Result<String> {
    let base = config.base_url.trim_end_matches('/');
    let max_rows = config.max_rows.to_string();
    let mut params = vec![("q", query.name.as_str()), ("maxRows", max_rows.as_str())];
    if let Some(country) = &query.country {
        params.push(("country", country.as_str()));
    }
    params.push(("username", username));
    let url = reqwest::Url::parse_with_params(&format!("{base}/searchJSON"), &params)
        .map_err(|error| anyhow::anyhow!("geocoding.base_url: cannot make a search URL of it: {error}"))?;
    Ok(url.to_string())
}

/// Where `place` is: from the cache, or asked of GeoNames once and cached. Refuses an unknown
/// or ambiguous place with a message naming `--place` (and the candidates).
pub async fn locate(config: &GeocodingConfig, pool: &PgPool, place: &str) -> anyhow::Result<Candidate> {
    let query = PlaceQuery::parse(place).map_err(|problem| anyhow::anyhow!("--place: {problem}"))?;
    let username = config.username()?;
    let key = query.key();
    let answer = match cached(pool, &key).await? {
        Some(answer) => answer,
        None => {
            let fetcher = HttpFetcher::new("geonames", config.fetch_policy())?.with_secret(username);
            let url = search_url(config, username, &query)?;
            let answer = fetcher
                .get_with(&url, parse_answer)
                .await
                .map_err(|error| anyhow::anyhow!("--place {:?}: the lookup failed: {error}", printable(place)))?;
            remember(pool, &key, &answer).await?;
            answer
        }
    };
    match decide(&query, &answer) {
        Resolution::Found(candidate) => Ok(*candidate),
        Resolution::Unknown => anyhow::bail!(
            "--place {:?}: GeoNames knows no place named {}; check the spelling, or give --latitude and --longitude",
            printable(place),
            printable(&query.described())
        ),
        Resolution::Ambiguous(candidates) => {
            let lines: Vec<String> = candidates.iter().map(|c| format!("  {}", c.describe())).collect();
            anyhow::bail!(
                "--place {:?} is ambiguous: {} places match and none clearly stands out; the first {}:\n{}\nName it \
                 more precisely (a trailing country code narrows the search, e.g. \"{}, GB\") or give --latitude \
                 and --longitude",
                printable(place),
                answer.total_results,
                candidates.len(),
                lines.join("\n"),
                printable(&query.name)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/geonames/");
        std::fs::read(format!("{path}{name}")).expect("fixture")
    }

    #[test]
    fn a_trailing_country_code_is_split_off() {
        let berlin = PlaceQuery::parse(" Berlin,  de ").expect("parses");
        assert_eq!(berlin, PlaceQuery { name: "Berlin".into(), country: Some("DE".into()) });
        assert_eq!(berlin.key(), "berlin|DE");
        let harrods = PlaceQuery::parse("Harrods, London").expect("parses");
        assert_eq!(harrods, PlaceQuery { name: "Harrods, London".into(), country: None });
        assert_eq!(harrods.key(), "harrods, london|");
        assert!(PlaceQuery::parse(", DE").is_err());
        assert!(PlaceQuery::parse("  ").is_err());
        assert!(PlaceQuery::parse("Berlin\u{1b}[2J").expect_err("control").contains("control character"));
    }

    #[test]
    fn the_recorded_answers_are_read() {
        let harrods = parse_answer(&fixture("search_harrods_london.json")).expect("reads");
        assert_eq!(harrods.total_results, 1);
        assert_eq!((harrods.candidates[0].latitude, harrods.candidates[0].longitude), (51.49957, -0.16359));
        let london = parse_answer(&fixture("search_london.json")).expect("reads");
        assert_eq!(london.total_results, 5981);
        assert_eq!(london.candidates.len(), 5);
        let none = parse_answer(&fixture("search_no_results.json")).expect("reads");
        assert_eq!(none, SearchAnswer { total_results: 0, candidates: vec![] });
    }

    #[test]
    fn the_rule_takes_only_a_clear_winner() {
        let london = parse_answer(&fixture("search_london.json")).expect("reads");
        // The capital and the City of London carry the same population in the answer: no winner.
        let asked = PlaceQuery::parse("London").expect("parses");
        assert!(matches!(decide(&asked, &london), Resolution::Ambiguous(c) if c.len() == 5));
        // Narrowed to Canada, one candidate is left.
        let asked = PlaceQuery::parse("London, CA").expect("parses");
        let Resolution::Found(found) = decide(&asked, &london) else { panic!("found") };
        assert_eq!((found.latitude, found.longitude), (42.98339, -81.23304));
        // Without the City of London, the capital dominates the rest by more than 10×.
        let mut without_city = london.clone();
        without_city.candidates.retain(|c| c.name != "City of London");
        let asked = PlaceQuery::parse("london").expect("parses");
        let Resolution::Found(found) = decide(&asked, &without_city) else { panic!("found") };
        assert_eq!(found.country_code, "GB");
        let asked = PlaceQuery::parse("Atlantis").expect("parses");
        assert_eq!(decide(&asked, &SearchAnswer { total_results: 0, candidates: vec![] }), Resolution::Unknown);
    }

    #[test]
    fn status_errors_and_bad_coordinates_are_refused() {
        // Hand-made, in the shape and words GeoNames uses for its limits (not a recording).
        let limit = br#"{"status":{"message":"the hourly limit of 1000 credits for demo has been exceeded. Please throttle your requests or use the commercial service.","value":19}}"#;
        let refused = parse_answer(limit).expect_err("refused").to_string();
        assert!(refused.contains("status 19") && refused.contains("limit is used up"), "{refused}");
        let bad = br#"{"totalResultsCount":1,"geonames":[{"name":"X","lat":"91.5","lng":"0"}]}"#;
        assert!(parse_answer(bad).expect_err("refused").to_string().contains("out of range"));
        let bad = br#"{"totalResultsCount":1,"geonames":[{"name":"X","lat":"north","lng":"0"}]}"#;
        assert!(parse_answer(bad).expect_err("refused").to_string().contains("no readable coordinates"));
    }

    #[test]
    fn the_quota_spaces_requests() {
        let config = GeocodingConfig::default();
        assert_eq!(config.min_request_interval(), Duration::from_millis(3_600));
        assert_eq!(config.fetch_policy().min_interval, Duration::from_millis(3_600));
        assert!(config.username().expect_err("unset").to_string().contains("SIGNALCRAFT_GEOCODING__USERNAME"));
        assert!(GeocodingConfig { max_rows: 0, ..config.clone() }.validate("geocoding").is_err());
        assert!(GeocodingConfig { base_url: "ftp://x".into(), ..config }.validate("geocoding").is_err());
    }
}
