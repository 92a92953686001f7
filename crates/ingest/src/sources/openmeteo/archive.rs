//! Backfill from the Open-Meteo archive API: a date range cut into chunks of
//! `archive_chunk_days` days × `max_locations_per_request` locations, fetched one chunk per
//! [`Source::poll`], so [`crate::run_source`] delivers each chunk's records to the broker before
//! the next is fetched. Progress goes to a callback after every chunk (the CLI draws its
//! progress bar from it).
//!
//! The walk is in memory: a backfill interrupted part-way starts again from its first chunk
//! (natural keys make the repeat harmless). Drive it until [`ArchiveBackfill::is_done`].

use std::{
    ops::Range,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use async_trait::async_trait;
use chrono::{DateTime, Days, NaiveDate, Utc};
use signalcraft_model::WeatherObservation;

use super::{client, config::OpenMeteoConfig, parse, SOURCE_NAME};
use crate::{source::Source, telemetry};
use signalcraft_http::{ClientBuildError, FetchError, HttpFetcher};

/// The name of a backfill in logs and the `source` label of its delivered records.
pub const ARCHIVE_SOURCE_NAME: &str = "openmeteo-archive";

/// Where a backfill stands, after a chunk was fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackfillProgress {
    /// Chunks fetched so far, this one included.
    pub chunks_done: usize,
    /// Chunks in the whole backfill.
    pub chunks_total: usize,
    /// First day of the chunk just fetched.
    pub start: NaiveDate,
    /// Last day (included) of the chunk just fetched.
    pub end: NaiveDate,
    /// Locations in the chunk just fetched.
    pub locations: usize,
    /// Records the chunk yielded.
    pub records: usize,
}

/// One request of the backfill: a date window for a batch of locations.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Chunk {
    start: NaiveDate,
    end: NaiveDate,
    locations: Range<usize>,
}

/// Callback receiving each chunk's progress.
pub type ProgressCallback = Box<dyn Fn(BackfillProgress) + Send + Sync>;

/// Walks the archive for every configured location over a date range; see the module docs.
pub struct ArchiveBackfill {
    config: OpenMeteoConfig,
    fetcher: Arc<HttpFetcher>,
    chunks: Vec<Chunk>,
    /// Index of the next chunk to fetch.
    next: AtomicUsize,
    on_progress: ProgressCallback,
}

impl std::fmt::Debug for ArchiveBackfill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveBackfill")
            .field("chunks_total", &self.chunks.len())
            .field("chunks_done", &self.chunks_done())
            .finish()
    }
}

impl ArchiveBackfill {
    /// A backfill from `start` to `end` (both included) with its own fetcher, paced from the
    /// config's quota. Prefer [`super::OpenMeteoSource::archive_backfill`] when forecast polls
    /// run in the same process: a shared fetcher keeps the two within one quota.
    pub fn new(
        config: OpenMeteoConfig,
        start: NaiveDate,
        end: NaiveDate,
        on_progress: impl Fn(BackfillProgress) + Send + Sync + 'static,
    ) -> Result<Self, ClientBuildError> {
        let fetcher = HttpFetcher::new(SOURCE_NAME, config.fetch_policy())?
            .with_events(&telemetry::SourceRequests)
            .with_error_classifier(parse::classify_error);
        Ok(Self::with_fetcher(config, Arc::new(fetcher), start, end, Box::new(on_progress)))
    }

    pub(super) fn with_fetcher(
        config: OpenMeteoConfig,
        fetcher: Arc<HttpFetcher>,
        start: NaiveDate,
        end: NaiveDate,
        on_progress: ProgressCallback,
    ) -> Self {
        let chunks = if config.archive_variables().is_empty() {
            tracing::warn!(source = ARCHIVE_SOURCE_NAME, "no hourly variables configured; nothing to backfill");
            Vec::new()
        } else {
            plan(start, end, config.archive_chunk_days, config.locations.len(), config.max_locations_per_request)
        };
        ArchiveBackfill { config, fetcher, chunks, next: AtomicUsize::new(0), on_progress }
    }

    /// Chunks (requests) in the whole backfill.
    pub fn chunks_total(&self) -> usize {
        self.chunks.len()
    }

    /// Chunks fetched so far.
    pub fn chunks_done(&self) -> usize {
        self.next.load(Ordering::SeqCst).min(self.chunks.len())
    }

    /// Whether every chunk has been fetched.
    pub fn is_done(&self) -> bool {
        self.chunks_done() == self.chunks.len()
    }

    /// First and last day (included) of the chunk the next poll fetches; `None` once done. A
    /// caller that gives up on a failing chunk can say where a new backfill should start.
    pub fn next_window(&self) -> Option<(NaiveDate, NaiveDate)> {
        self.chunks.get(self.next.load(Ordering::SeqCst)).map(|chunk| (chunk.start, chunk.end))
    }
}

/// The chunks covering `start..=end` for `locations` locations: date windows in order, each
/// split into location batches.
fn plan(start: NaiveDate, end: NaiveDate, chunk_days: u32, locations: usize, batch: usize) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let step = u64::from(chunk_days.max(1));
    let mut window_start = start;
    while window_start <= end && locations > 0 {
        let window_end = window_start.checked_add_days(Days::new(step - 1)).map_or(end, |last| last.min(end));
        let mut first = 0;
        while first < locations {
            let last = (first + batch.max(1)).min(locations);
            chunks.push(Chunk { start: window_start, end: window_end, locations: first..last });
            first = last;
        }
        match window_end.checked_add_days(Days::new(1)) {
            Some(next) => window_start = next,
            None => break,
        }
    }
    chunks
}

#[async_trait]
impl Source for ArchiveBackfill {
    type Output = WeatherObservation;

    fn name(&self) -> &str {
        ARCHIVE_SOURCE_NAME
    }

    /// Fetches the next chunk (none once done). A failed chunk is fetched again by the next
    /// poll. Polls are meant to run one at a time, as [`crate::run_source`] runs them.
    async fn poll(&self, now: DateTime<Utc>) -> Result<Vec<WeatherObservation>, FetchError> {
        let index = self.next.load(Ordering::SeqCst);
        let Some(chunk) = self.chunks.get(index) else {
            return Ok(Vec::new());
        };
        let locations = &self.config.locations[chunk.locations.clone()];
        let url = client::archive_url(&self.config, locations, chunk.start, chunk.end);
        let records = self
            .fetcher
            .get_with(&url, |body| parse::parse_weather(body, locations, &self.config.archive_request(), now))
            .await?;
        // Only the poll that fetched chunk `index` moves the walk on.
        let _ = self.next.compare_exchange(index, index + 1, Ordering::SeqCst, Ordering::SeqCst);
        (self.on_progress)(BackfillProgress {
            chunks_done: index + 1,
            chunks_total: self.chunks.len(),
            start: chunk.start,
            end: chunk.end,
            locations: locations.len(),
            records: records.len(),
        });
        Ok(records)
    }
}
