//! The watch list: which businesses (tenants) the sources fetch for — their location (weather),
//! home currency (exchange rates), GDELT queries (news) and Digi-Cadence projects and brands.
//!
//! The list is kept outside the process (`signalcraft_store` keeps it in PostgreSQL) and can change while
//! the pipeline runs: every source reads it afresh at the start of each cycle through a
//! [`WatchListReader`], so a business added now is fetched on the next cycle and a removed one
//! is not fetched again. What the TOML configuration lists is fetched as well; the watch list
//! adds to it, as each source says in its own folder (`sources/<upstream>/watch_list.rs`): this
//! module knows no source's rules. When the list cannot be read (the database restarting), the reader keeps the
//! last list it read, logs and counts the failure, and the cycle goes on with that.

use std::{
    fmt,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::telemetry;

/// One Digi-Cadence project and the period it stands for (`[[ingest.digicadence.projects]]`, or
/// a watched business's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DqProjectConfig {
    /// The DQ project id (`userProjects.id`).
    pub project_id: i64,
    /// First day of the period the project covers, e.g. `2023-07-01` for JAS'23.
    pub period_start: NaiveDate,
}

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

/// A watched business of `tenant` with nothing watched yet, for the sources' tests.
#[cfg(test)]
pub(crate) fn business(tenant: &str) -> WatchedBusiness {
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

#[cfg(test)]
mod tests {
    use super::*;

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
