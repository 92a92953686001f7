//! The weather source at run time: [`OpenMeteoSource`] polls the forecast of every location
//! (configured and watched), batched per request, paced to the daily quota.

use super::{
    archive::{ArchiveBackfill, BackfillProgress},
    client,
    config::{OpenMeteoConfig, WeatherLocationConfig},
    parse::{self, parse_weather},
    watch_list::weather_locations,
};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use signalcraft_model::WeatherObservation;

use crate::{
    source::{partial_poll, Source},
    telemetry,
    watch::WatchListReader,
};
use signalcraft_http::{ClientBuildError, FetchError, FetchPolicy, HttpFetcher};

/// The name of the source (and of its fetcher) in logs, metrics and errors.
pub const SOURCE_NAME: &str = "openmeteo";

/// Polls the Open-Meteo forecast for every configured location.
#[derive(Debug)]
pub struct OpenMeteoSource {
    config: OpenMeteoConfig,
    fetcher: Arc<HttpFetcher>,
    /// Businesses whose locations are polled besides the configured ones.
    watch_list: WatchListReader,
}

impl OpenMeteoSource {
    /// A source for `config`, paced from its quota and retried as it says.
    pub fn new(config: OpenMeteoConfig) -> Result<Self, ClientBuildError> {
        let policy = config.fetch_policy();
        Self::with_policy(config, policy)
    }

    /// A source with an explicit fetch policy (tests shorten the backoff with it).
    pub fn with_policy(config: OpenMeteoConfig, policy: FetchPolicy) -> Result<Self, ClientBuildError> {
        let fetcher = HttpFetcher::new(SOURCE_NAME, policy)?
            .with_events(&telemetry::SourceRequests)
            .with_error_classifier(parse::classify_error);
        Ok(OpenMeteoSource { config, fetcher: Arc::new(fetcher), watch_list: WatchListReader::default() })
    }

    /// Also polls the locations of the businesses on `watch_list`, read afresh every cycle.
    pub fn with_watch_list(mut self, watch_list: WatchListReader) -> Self {
        self.watch_list = watch_list;
        self
    }

    /// The configuration this source polls.
    pub fn config(&self) -> &OpenMeteoConfig {
        &self.config
    }

    /// A backfill of the archive from `start` to `end` (both included) for every configured
    /// location, sharing this source's fetcher and so its quota. `on_progress` is called after
    /// every chunk fetched.
    pub fn archive_backfill(
        &self,
        start: chrono::NaiveDate,
        end: chrono::NaiveDate,
        on_progress: impl Fn(BackfillProgress) + Send + Sync + 'static,
    ) -> ArchiveBackfill {
        ArchiveBackfill::with_fetcher(self.config.clone(), self.fetcher.clone(), start, end, Box::new(on_progress))
    }

    /// The records of one batch of locations.
    async fn poll_batch(
        &self,
        locations: &[WeatherLocationConfig],
        now: DateTime<Utc>,
    ) -> Result<Vec<WeatherObservation>, FetchError> {
        let url = client::forecast_url(&self.config, locations);
        self.fetcher.get_with(&url, |body| parse_weather(body, locations, &self.config.forecast_request(), now)).await
    }
}

#[async_trait]
impl Source for OpenMeteoSource {
    type Output = WeatherObservation;

    fn name(&self) -> &str {
        SOURCE_NAME
    }

    /// Polls every batch of locations (the configured ones, then the watched businesses' under
    /// their tenant ids); one failing batch does not cost the others their records. The poll
    /// fails only when no batch yielded anything and at least one failed.
    async fn poll(&self, now: DateTime<Utc>) -> Result<Vec<WeatherObservation>, FetchError> {
        let mut records = Vec::new();
        let mut errors = Vec::new();
        let businesses = self.watch_list.current(SOURCE_NAME).await;
        let locations = weather_locations(&self.config.locations, &businesses);
        for batch in locations.chunks(self.config.max_locations_per_request.max(1)) {
            match self.poll_batch(batch, now).await {
                Ok(mut found) => records.append(&mut found),
                Err(error) => errors.push(error),
            }
        }
        partial_poll(SOURCE_NAME, records, errors)
    }
}
