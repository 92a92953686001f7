//! The watch list: which businesses (tenants) the sources fetch for — their location (weather),
//! home currency (exchange rates), GDELT queries (news) and Digi-Cadence projects and brands.
//!
//! The list is kept outside the process (`signalcraft_store` keeps it in PostgreSQL) and can change while
//! the pipeline runs: every source reads it afresh at the start of each cycle through a
//! [`WatchListReader`], so a business added now is fetched on the next cycle and a removed one
//! is not fetched again. What the TOML configuration lists is fetched as well; the watch list
//! adds to it. When the list cannot be read (the database restarting), the reader keeps the
//! last list it read, logs and counts the failure, and the cycle goes on with that.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use chrono::NaiveDate;

use crate::{sources::digicadence::DqProjectConfig, telemetry, GdeltQueryConfig, WeatherLocationConfig};

/// A point on the globe, in degrees (WGS 84).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    pub latitude: f64,
    pub longitude: f64,
}

/// One watched business.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchedBusiness {
    /// The tenant id its records and KPI series carry.
    pub tenant_id: String,
    /// Display name.
    pub name: String,
    /// Where its weather is fetched; `None`: no weather.
    pub location: Option<GeoPoint>,
    /// ISO 4217 code of its home currency; `None`: no currency of its own.
    pub currency: Option<String>,
    /// GDELT DOC 2.0 queries, in GDELT's syntax.
    pub gdelt_queries: Vec<String>,
    /// Its Digi-Cadence projects, each with the period it covers.
    pub dq_projects: Vec<DqProjectConfig>,
    /// Its Digi-Cadence brand ids; empty: every brand of its projects.
    pub dq_brand_ids: Vec<i64>,
}

/// Why the watch list could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read the watch list: {0}")]
pub struct WatchListError(pub String);

/// Where the watch list is kept.
#[async_trait]
pub trait WatchListStore: Send + Sync {
    /// Every watched business, in a stable order.
    async fn load(&self) -> Result<Vec<WatchedBusiness>, WatchListError>;
}

/// A watch list that is always empty: sources fetch what their configuration lists.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoWatchList;

#[async_trait]
impl WatchListStore for NoWatchList {
    async fn load(&self) -> Result<Vec<WatchedBusiness>, WatchListError> {
        Ok(Vec::new())
    }
}

/// A fixed watch list (tests, and embedding signalcraft as a library).
#[async_trait]
impl WatchListStore for Vec<WatchedBusiness> {
    async fn load(&self) -> Result<Vec<WatchedBusiness>, WatchListError> {
        Ok(self.clone())
    }
}

/// Reads the watch list for the sources, falling back to the last list read when the store
/// fails. Cheap to clone; clones share the last list.
#[derive(Clone)]
pub struct WatchListReader {
    store: Arc<dyn WatchListStore>,
    last_read: Arc<Mutex<Arc<Vec<WatchedBusiness>>>>,
}

impl fmt::Debug for WatchListReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchListReader").finish_non_exhaustive()
    }
}

impl Default for WatchListReader {
    fn default() -> Self {
        WatchListReader::new(Arc::new(NoWatchList))
    }
}

impl WatchListReader {
    pub fn new(store: Arc<dyn WatchListStore>) -> Self {
        WatchListReader { store, last_read: Arc::new(Mutex::new(Arc::new(Vec::new()))) }
    }

    /// The current watch list; `source` names the reader in logs and metrics when the store
    /// fails and the last list read is used instead.
    pub async fn current(&self, source: &str) -> Arc<Vec<WatchedBusiness>> {
        match self.store.load().await {
            Ok(businesses) => {
                let businesses = Arc::new(businesses);
                if let Ok(mut last) = self.last_read.lock() {
                    *last = businesses.clone();
                }
                businesses
            }
            Err(error) => {
                telemetry::WatchListUnavailable { source, error: &error }.emit();
                self.last_read.lock().map(|last| last.clone()).unwrap_or_default()
            }
        }
    }
}

/// The GDELT queries to poll: the configured ones, then each business's, without repeats.
pub fn gdelt_queries(configured: &[GdeltQueryConfig], businesses: &[WatchedBusiness]) -> Vec<GdeltQueryConfig> {
    let mut seen = BTreeSet::new();
    let watched = businesses.iter().flat_map(|business| {
        business
            .gdelt_queries
            .iter()
            .filter(|query| !query.trim().is_empty())
            .map(|query| GdeltQueryConfig { tenant_id: business.tenant_id.clone(), query: query.clone() })
    });
    configured.iter().cloned().chain(watched).filter(|query| seen.insert(query.mark_key())).collect()
}

/// The weather locations to poll: the configured ones, then each located business under its
/// tenant id; a configured id wins over a business of the same id.
pub fn weather_locations(
    configured: &[WeatherLocationConfig],
    businesses: &[WatchedBusiness],
) -> Vec<WeatherLocationConfig> {
    let mut seen: BTreeSet<String> = configured.iter().map(|location| location.id.clone()).collect();
    let watched = businesses.iter().filter_map(|business| {
        let point = business.location?;
        seen.insert(business.tenant_id.clone()).then(|| WeatherLocationConfig {
            id: business.tenant_id.clone(),
            latitude: point.latitude,
            longitude: point.longitude,
        })
    });
    let mut locations = configured.to_vec();
    locations.extend(watched);
    locations
}

/// The currencies the watched businesses use, upper-cased, without repeats.
pub fn currencies(businesses: &[WatchedBusiness]) -> BTreeSet<String> {
    businesses.iter().filter_map(|business| business.currency.as_ref()).map(|code| code.to_ascii_uppercase()).collect()
}

/// The Digi-Cadence projects to poll and which of their brands to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DqSelection {
    /// Project id → the first day of its period.
    pub periods: BTreeMap<i64, NaiveDate>,
    /// Project id → the brands kept; a project absent here keeps every brand.
    pub brands: BTreeMap<i64, BTreeSet<i64>>,
}

impl DqSelection {
    /// The configured projects (every brand kept), then the businesses' projects. A project is
    /// narrowed to brands only when every business naming it lists brands and no configured
    /// entry names it; the first period given for a project wins.
    pub fn new(configured: &[DqProjectConfig], businesses: &[WatchedBusiness]) -> Self {
        let mut selection = DqSelection::default();
        let mut unrestricted = BTreeSet::new();
        for project in configured {
            selection.periods.entry(project.project_id).or_insert(project.period_start);
            unrestricted.insert(project.project_id);
        }
        for business in businesses {
            for project in &business.dq_projects {
                selection.periods.entry(project.project_id).or_insert(project.period_start);
                if business.dq_brand_ids.is_empty() {
                    unrestricted.insert(project.project_id);
                } else {
                    selection.brands.entry(project.project_id).or_default().extend(&business.dq_brand_ids);
                }
            }
        }
        selection.brands.retain(|project, _| !unrestricted.contains(project));
        selection
    }

    /// Whether a score of `brand_id` in `project_id` is kept.
    pub fn keeps(&self, project_id: i64, brand_id: i64) -> bool {
        self.periods.contains_key(&project_id)
            && self.brands.get(&project_id).is_none_or(|brands| brands.contains(&brand_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn business(tenant: &str) -> WatchedBusiness {
        WatchedBusiness {
            tenant_id: tenant.into(),
            name: tenant.to_uppercase(),
            location: None,
            currency: None,
            gdelt_queries: Vec::new(),
            dq_projects: Vec::new(),
            dq_brand_ids: Vec::new(),
        }
    }

    fn project(project_id: i64, period: &str) -> DqProjectConfig {
        DqProjectConfig { project_id, period_start: period.parse().expect("a date") }
    }

    #[test]
    fn gdelt_queries_follow_the_configuration_without_repeats() {
        let configured = vec![GdeltQueryConfig { tenant_id: "port".into(), query: "vizhinjam".into() }];
        let mut acme = business("acme");
        acme.gdelt_queries = vec!["acme corp".into(), " ".into(), "acme corp".into()];
        let mut port = business("port");
        port.gdelt_queries = vec!["vizhinjam".into(), "adani port".into()];
        let queries = gdelt_queries(&configured, &[acme, port]);
        let pairs: Vec<(&str, &str)> = queries.iter().map(|q| (q.tenant_id.as_str(), q.query.as_str())).collect();
        assert_eq!(pairs, [("port", "vizhinjam"), ("acme", "acme corp"), ("port", "adani port")]);
    }

    #[test]
    fn located_businesses_become_weather_locations_under_their_tenant_id() {
        let configured = vec![WeatherLocationConfig { id: "berlin".into(), latitude: 52.52, longitude: 13.41 }];
        let mut acme = business("acme");
        acme.location = Some(GeoPoint { latitude: 48.1, longitude: 11.6 });
        let mut shadow = business("berlin");
        shadow.location = Some(GeoPoint { latitude: 0.0, longitude: 0.0 });
        let locations = weather_locations(&configured, &[business("nowhere"), acme, shadow]);
        assert_eq!(
            locations,
            vec![
                WeatherLocationConfig { id: "berlin".into(), latitude: 52.52, longitude: 13.41 },
                WeatherLocationConfig { id: "acme".into(), latitude: 48.1, longitude: 11.6 },
            ]
        );
    }

    #[test]
    fn dq_projects_are_narrowed_to_brands_only_when_every_claim_lists_brands() {
        let configured = vec![project(2302, "2023-04-01")];
        let mut a = business("a");
        a.dq_projects = vec![project(2302, "2099-01-01"), project(2303, "2023-07-01")];
        a.dq_brand_ids = vec![7];
        let mut b = business("b");
        b.dq_projects = vec![project(2303, "2023-07-01"), project(2304, "2023-10-01")];
        b.dq_brand_ids = vec![9];
        let mut c = business("c");
        c.dq_projects = vec![project(2305, "2024-01-01")];
        let selection = DqSelection::new(&configured, &[a, b, c]);
        let date = |text: &str| text.parse::<NaiveDate>().expect("a date");
        assert_eq!(selection.periods.get(&2302), Some(&date("2023-04-01")), "the configured period wins");
        assert!(selection.keeps(2302, 1), "configured projects keep every brand");
        assert!(selection.keeps(2303, 7) && selection.keeps(2303, 9) && !selection.keeps(2303, 1));
        assert!(selection.keeps(2304, 9) && !selection.keeps(2304, 7));
        assert!(selection.keeps(2305, 12345), "a business without brands keeps every brand");
        assert!(!selection.keeps(9999, 7), "a project nobody watches is not kept");
    }

    #[tokio::test]
    async fn a_failing_store_leaves_the_last_list_in_place() {
        struct Flaky(Mutex<Vec<Result<Vec<WatchedBusiness>, WatchListError>>>);
        #[async_trait]
        impl WatchListStore for Flaky {
            async fn load(&self) -> Result<Vec<WatchedBusiness>, WatchListError> {
                self.0.lock().expect("not poisoned").remove(0)
            }
        }
        let answers = vec![Ok(vec![business("acme")]), Err(WatchListError("connection refused".into()))];
        let reader = WatchListReader::new(Arc::new(Flaky(Mutex::new(answers))));
        assert_eq!(reader.current("test").await.len(), 1);
        let after_failure = reader.current("test").await;
        assert_eq!(after_failure.iter().map(|b| b.tenant_id.as_str()).collect::<Vec<_>>(), ["acme"]);
    }
}
