//! The Digi-Cadence source at run time: [`DigiCadenceSource`] asks each endpoint for the
//! selected projects' scores and keeps the selected brands' as records.

use super::{
    answers,
    config::{DigiCadenceConfig, DqEndpoint},
    names::{derived_brand_id, fix_mojibake},
    watch_list::DqSelection,
};
use std::{collections::HashSet, sync::RwLock};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use reqwest::Method;
use signalcraft_model::BrandMetric;

use super::answers::{Answer, NormalizedRow, ProjectScores};
use crate::{
    source::{partial_poll, Source},
    telemetry,
    watch::WatchListReader,
};
use signalcraft_http::{ClientBuildError, FetchCause, FetchError, FetchPolicy, HttpFetcher};

/// The name of the source in logs, metrics and errors.
pub const SOURCE_NAME: &str = "digicadence";

/// Polls the configured DQ endpoints for every configured project.
#[derive(Debug)]
pub struct DigiCadenceSource {
    config: DigiCadenceConfig,
    /// The projects (and brands) polled: the configured ones and the watched businesses',
    /// refreshed at the start of every poll. Never held across an await.
    selection: RwLock<DqSelection>,
    fetcher: HttpFetcher,
    watch_list: WatchListReader,
}

impl DigiCadenceSource {
    /// A source for `config`, paced and retried as the config says.
    pub fn new(config: DigiCadenceConfig) -> Result<Self, ClientBuildError> {
        let policy = config.fetch_policy();
        Self::with_policy(config, policy)
    }

    /// A source with an explicit fetch policy (tests shorten the backoff with it).
    pub fn with_policy(config: DigiCadenceConfig, policy: FetchPolicy) -> Result<Self, ClientBuildError> {
        let fetcher = HttpFetcher::new(SOURCE_NAME, policy)?.with_events(&telemetry::SourceRequests);
        let selection = RwLock::new(DqSelection::new(&config.projects, &[]));
        Ok(DigiCadenceSource { selection, config, fetcher, watch_list: WatchListReader::default() })
    }

    /// Also polls the projects of the businesses on `watch_list`, read afresh every poll.
    pub fn with_watch_list(mut self, watch_list: WatchListReader) -> Self {
        self.watch_list = watch_list;
        self
    }

    /// The configuration this source polls.
    pub fn config(&self) -> &DigiCadenceConfig {
        &self.config
    }

    /// The records of one endpoint for every project, splitting a multi-project 500 into one
    /// request per project (see the module docs).
    async fn poll_endpoint(
        &self,
        endpoint: DqEndpoint,
        ids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<Vec<BrandMetric>, FetchError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let error = match self.request(endpoint, ids, now).await {
            Ok(records) => return Ok(records),
            Err(error) if ids.len() > 1 && matches!(error.cause(), FetchCause::Server { status: 500, .. }) => error,
            Err(error) => return Err(error),
        };
        tracing::warn!(
            source = SOURCE_NAME,
            endpoint = endpoint.as_str(),
            projects = ids.len(),
            error = %error,
            "a multi-project request failed with HTTP 500 (a NaN score?); asking for each project alone"
        );
        let mut records = Vec::new();
        let mut failures = Vec::new();
        for &id in ids {
            match self.request(endpoint, &[id], now).await {
                Ok(mut found) => records.append(&mut found),
                Err(error) => failures.push(error),
            }
        }
        partial_poll(SOURCE_NAME, records, failures)
    }

    /// One POST of `ids` to `endpoint`, read into records.
    async fn request(
        &self,
        endpoint: DqEndpoint,
        ids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<Vec<BrandMetric>, FetchError> {
        let url = self.config.endpoint_url(endpoint);
        let body = Bytes::from(serde_json::json!({ "project_ids": ids }).to_string());
        let answer =
            self.fetcher.fetch(Method::POST, &url, Some(body), |body| self.parse_answer(endpoint, body, now)).await;
        let message = match answer {
            Ok(Answer::Data(records)) => return Ok(records),
            Ok(Answer::NoData(message)) => message,
            // normalized_value's way of saying the same thing.
            Err(error) if is_no_data_404(error.cause()) => error.cause().to_string(),
            Err(error) => return Err(error),
        };
        tracing::info!(
            source = SOURCE_NAME,
            endpoint = endpoint.as_str(),
            projects = ?ids,
            message = %message,
            "the DQ service has no data for these projects"
        );
        Ok(Vec::new())
    }

    /// Reads a complete answer body of `endpoint` into records, exactly as a poll does: the
    /// endpoint's parser (bare `NaN` read as `null`, `{"message": …}` is no data, `{"detail": …}`
    /// is refused), then one record per (project, brand, score) for the configured projects
    /// (others skipped and counted). Public so the fuzz targets reach it.
    pub fn parse_answer(
        &self,
        endpoint: DqEndpoint,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Answer<Vec<BrandMetric>>, FetchCause> {
        Ok(match endpoint {
            DqEndpoint::GetMultiData => match answers::parse_multi_data(body)? {
                Answer::Data(projects) => Answer::Data(self.multi_data_records(projects, now)),
                Answer::NoData(message) => Answer::NoData(message),
            },
            DqEndpoint::NormalizedValue => match answers::parse_normalized(body)? {
                Answer::Data(rows) => Answer::Data(self.normalized_records(rows, now)),
                Answer::NoData(message) => Answer::NoData(message),
            },
        })
    }

    /// The period of a project in an answer, or `None` (counted) when it was not asked for.
    fn period_of(&self, project: &serde_json::Value, item: &str) -> Option<(i64, NaiveDate)> {
        let found = answers::id_of(project).and_then(|id| {
            let selection = self.selection.read().ok()?;
            selection.periods.get(&id).map(|period| (id, *period))
        });
        if found.is_none() {
            let reason = format!("project {project} was not asked for (no period configured)");
            telemetry::InvalidRecordSkipped { source: SOURCE_NAME, item, reason: &reason }.emit();
        }
        found
    }

    /// The configured id of `brand`, or its derived one.
    fn brand_id(&self, brand: &str) -> i64 {
        self.config.brand_ids.get(brand.trim()).copied().unwrap_or_else(|| derived_brand_id(brand))
    }

    /// One record per (project, brand, score) of a `get_multi_data` answer.
    fn multi_data_records(&self, projects: Vec<ProjectScores>, now: DateTime<Utc>) -> Vec<BrandMetric> {
        let mut records = Records::default();
        for project in projects {
            let Some((project_id, period_start)) = self.period_of(&project.project_id, "get_multi_data") else {
                continue;
            };
            for brand in project.brands {
                let Some(brand_name) =
                    brand.brand_name.map(|name| name.trim().to_string()).filter(|name| !name.is_empty())
                else {
                    let item = format!("project {project_id}");
                    telemetry::InvalidRecordSkipped {
                        source: SOURCE_NAME,
                        item: &item,
                        reason: "a brand without a name",
                    }
                    .emit();
                    continue;
                };
                let brand_id = self.brand_id(&brand_name);
                for (metric, value) in brand.dq_score {
                    records.push(BrandMetric {
                        project_id,
                        period_start,
                        brand_id,
                        brand_name: brand_name.clone(),
                        metric: fix_mojibake(metric.trim()).into_owned(),
                        value: answers::score(&value),
                        fetched_at: now,
                    });
                }
            }
        }
        records.into_vec()
    }

    /// One record per (project, brand, section/platform/metric/type) of a `normalized_value`
    /// answer.
    fn normalized_records(&self, rows: Vec<NormalizedRow>, now: DateTime<Utc>) -> Vec<BrandMetric> {
        let mut records = Records::default();
        for row in rows {
            let Some((project_id, period_start)) = self.period_of(&row.project_id, "normalized_value") else {
                continue;
            };
            let text = |value: &Option<String>| fix_mojibake(value.as_deref().unwrap_or_default().trim()).into_owned();
            let (brand_name, section, platform, metric) =
                (text(&row.brandName), text(&row.sectionName), text(&row.platformname), text(&row.metricname));
            if brand_name.is_empty() || metric.is_empty() {
                let item = format!("project {project_id}");
                let reason = "a row without a brand or metric name";
                telemetry::InvalidRecordSkipped { source: SOURCE_NAME, item: &item, reason }.emit();
                continue;
            }
            // pandas fills a brand the join did not find with 0.
            let brand_id =
                answers::id_of(&row.brand_ids).filter(|id| *id > 0).unwrap_or_else(|| self.brand_id(&brand_name));
            let kind = row.kind.as_deref().map(str::trim).filter(|kind| !kind.is_empty()).unwrap_or("unknown");
            records.push(BrandMetric {
                project_id,
                period_start,
                brand_id,
                brand_name,
                metric: format!("{section}/{platform}/{metric}/{kind}"),
                value: answers::score(&row.normalized),
                fetched_at: now,
            });
        }
        records.into_vec()
    }
}

/// Records of one answer, one per natural key: a repeated key keeps its first value (counted).
#[derive(Default)]
struct Records {
    keys: HashSet<String>,
    records: Vec<BrandMetric>,
}

impl Records {
    fn push(&mut self, record: BrandMetric) {
        use signalcraft_model::Record;
        let key = record.natural_key();
        if self.keys.insert(key.clone()) {
            self.records.push(record);
        } else {
            telemetry::InvalidRecordSkipped { source: SOURCE_NAME, item: &key, reason: "repeated in the same answer" }
                .emit();
        }
    }

    fn into_vec(self) -> Vec<BrandMetric> {
        self.records
    }
}

/// normalized_value's 404 `{"detail": "No data found for the given project_ids"}`.
fn is_no_data_404(cause: &FetchCause) -> bool {
    matches!(cause, FetchCause::Client { status: 404, body_excerpt } if body_excerpt.contains("No data found"))
}

#[async_trait]
impl Source for DigiCadenceSource {
    type Output = BrandMetric;

    fn name(&self) -> &str {
        SOURCE_NAME
    }

    /// Polls every endpoint; one failing endpoint does not cost the others their records. The
    /// poll fails only when nothing was found and at least one endpoint failed.
    async fn poll(&self, now: DateTime<Utc>) -> Result<Vec<BrandMetric>, FetchError> {
        let mut records = Vec::new();
        let mut errors = Vec::new();
        let businesses = self.watch_list.current(SOURCE_NAME).await;
        let selection = DqSelection::new(&self.config.projects, &businesses);
        let ids: Vec<i64> = selection.periods.keys().copied().collect();
        if let Ok(mut current) = self.selection.write() {
            *current = selection.clone();
        }
        for endpoint in &self.config.endpoints {
            match self.poll_endpoint(*endpoint, &ids, now).await {
                Ok(mut found) => records.append(&mut found),
                Err(error) => errors.push(error),
            }
        }
        // Scores of brands no watcher of their project asked for.
        records.retain(|record| selection.keeps(record.project_id, record.brand_id));
        partial_poll(SOURCE_NAME, records, errors)
    }
}
