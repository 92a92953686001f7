//! The GDELT news source at run time: [`GdeltSource`] polls every query (configured and
//! watched) once per cycle, page by page behind its high-water mark, and keeps only new articles.

use super::{
    client,
    config::{GdeltConfig, GdeltQueryConfig},
    marks::{HighWaterMark, HighWaterMarks},
    parse::{self, parse_gdelt_time},
    tone::GdeltToneSource,
    watch_list,
};
use std::{
    collections::{BTreeSet, HashSet},
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use reqwest::Method;
use signalcraft_model::NewsArticle;

use super::parse::RawArticle;
use crate::{
    source::{partial_poll, Source},
    telemetry,
    watch::WatchListReader,
};
use signalcraft_http::{ClientBuildError, FetchCause, FetchError, FetchPolicy, HttpFetcher};

/// The name of the source in logs, metrics and errors.
pub const SOURCE_NAME: &str = "gdelt";

/// Polls GDELT for every configured query.
pub struct GdeltSource {
    config: GdeltConfig,
    /// Shared with the tone source ([`GdeltSource::tone_source`]): one limiter for every request.
    fetcher: Arc<HttpFetcher>,
    marks: Arc<dyn HighWaterMarks>,
    /// Businesses whose queries are polled besides the configured ones.
    watch_list: WatchListReader,
    /// Marks justified by the last poll's records, committed by the next poll. A std Mutex: it
    /// is only held to swap the list, never across an await.
    staged: Mutex<Vec<(String, HighWaterMark)>>,
}

impl std::fmt::Debug for GdeltSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GdeltSource").field("config", &self.config).field("fetcher", &self.fetcher).finish()
    }
}

impl GdeltSource {
    /// A source for `config` keeping its marks in `marks`, paced and retried as the config says.
    pub fn new(config: GdeltConfig, marks: Arc<dyn HighWaterMarks>) -> Result<Self, ClientBuildError> {
        let policy = config.fetch_policy();
        Self::with_policy(config, policy, marks)
    }

    /// A source with an explicit fetch policy (tests shorten the backoff with it).
    pub fn with_policy(
        config: GdeltConfig,
        policy: FetchPolicy,
        marks: Arc<dyn HighWaterMarks>,
    ) -> Result<Self, ClientBuildError> {
        let fetcher = Arc::new(HttpFetcher::new(SOURCE_NAME, policy)?.with_events(&telemetry::SourceRequests));
        Ok(GdeltSource {
            config,
            fetcher,
            marks,
            watch_list: WatchListReader::default(),
            staged: Mutex::new(Vec::new()),
        })
    }

    /// Also polls the GDELT queries of the businesses on `watch_list`, read afresh every cycle.
    pub fn with_watch_list(mut self, watch_list: WatchListReader) -> Self {
        self.watch_list = watch_list;
        self
    }

    /// The source of the queries' average-tone timelines (`mode=timelinetone`), paced by this
    /// source's limiter and reading the same watch list.
    pub fn tone_source(&self) -> GdeltToneSource {
        GdeltToneSource::new(self.config.clone(), self.fetcher.clone(), self.watch_list.clone())
    }

    /// The configuration this source polls.
    pub fn config(&self) -> &GdeltConfig {
        &self.config
    }

    /// Writes the marks staged by the last poll to the store. Call it once that poll's records
    /// are delivered; [`Source::poll`] does it itself before fetching. A mark that cannot be
    /// written is logged and dropped: its query is fetched again from the older mark, which
    /// repeats articles but never loses one.
    pub async fn commit_staged_marks(&self) {
        let staged = match self.staged.lock() {
            Ok(mut staged) => std::mem::take(&mut *staged),
            // Poisoned only if a panic happened while swapping a Vec: nothing to recover.
            Err(_) => return,
        };
        for (key, mark) in staged {
            if let Err(error) = self.marks.set(&key, mark).await {
                tracing::error!(source = SOURCE_NAME, query = %key, error = %error, "cannot store a high-water mark");
            }
        }
    }

    fn stage(&self, marks: Vec<(String, HighWaterMark)>) {
        if let Ok(mut staged) = self.staged.lock() {
            staged.extend(marks);
        }
    }

    /// New articles of one query, and the mark they lead to (`None`: unchanged).
    async fn poll_query(
        &self,
        query: &GdeltQueryConfig,
        now: DateTime<Utc>,
    ) -> Result<(Vec<NewsArticle>, Option<HighWaterMark>), FetchError> {
        let key = query.mark_key();
        let stored = self.marks.get(&key).await.map_err(|error| {
            let cause = FetchCause::Request(format!("cannot read the high-water mark of `{}`: {error}", query.query));
            FetchError::without_request(SOURCE_NAME, Method::GET, self.config.api_root(), cause)
        })?;
        let lookback = ChronoDuration::hours(i64::from(self.config.initial_lookback_hours));
        let mut mark = stored.clone();
        let mut emitted = HashSet::new();
        let mut records = Vec::new();
        for page in 1..=self.config.max_pages {
            let start = mark.as_ref().map_or(now - lookback, |mark| mark.seen_at);
            let url = client::artlist_url(self.config.api_root(), &query.query, start, self.config.max_records);
            let articles = self.fetcher.get_with(&url, parse::parse_artlist).await?;
            let full = articles.len() >= self.config.max_records as usize;
            let next = select_new(articles, mark.as_ref(), &mut emitted, query, now, &mut records);
            let advanced = next.as_ref().map(|next| next.seen_at) > mark.as_ref().map(|mark| mark.seen_at);
            if next.is_some() {
                mark = next;
            }
            if !full {
                break;
            }
            if !advanced {
                // A full page all at one instant: a later startdatetime would skip the rest of
                // that instant, an equal one returns the same page. Move on; the rest is lost.
                tracing::warn!(
                    source = SOURCE_NAME,
                    query = %query.query,
                    page,
                    "a full page of articles shares one seendate; the remainder cannot be paged to"
                );
                break;
            }
            if page == self.config.max_pages {
                tracing::info!(
                    source = SOURCE_NAME,
                    query = %query.query,
                    pages = page,
                    "more articles are waiting; the next poll continues from the mark"
                );
            }
        }
        let changed = mark != stored;
        Ok((records, if changed { mark } else { None }))
    }
}

/// Appends to `records` the articles of one page that were not emitted before, and returns the
/// mark that page leads to (`None` if it holds no readable article).
///
/// Dropped: articles older than the mark (GDELT should not send them), URLs the mark says were
/// emitted at its instant, URLs emitted earlier in this poll (GDELT lists a URL more than once
/// when it sees it again), and articles without a URL or a readable `seendate` (counted).
fn select_new(
    articles: Vec<RawArticle>,
    mark: Option<&HighWaterMark>,
    emitted: &mut HashSet<String>,
    query: &GdeltQueryConfig,
    now: DateTime<Utc>,
    records: &mut Vec<NewsArticle>,
) -> Option<HighWaterMark> {
    let mut latest = mark.cloned();
    for article in articles {
        let url = non_empty(article.url).unwrap_or_default();
        let seendate = article.seendate.unwrap_or_default();
        let seen_at = match parse_gdelt_time(&seendate) {
            Some(seen_at) if !url.is_empty() => seen_at,
            _ => {
                let item = if url.is_empty() { "(no url)" } else { url.as_str() };
                let reason = format!("no url or unreadable seendate `{seendate}`");
                telemetry::InvalidRecordSkipped { source: SOURCE_NAME, item, reason: &reason }.emit();
                continue;
            }
        };
        let already = match mark {
            Some(mark) => seen_at < mark.seen_at || (seen_at == mark.seen_at && mark.urls.contains(&url)),
            None => false,
        };
        // The mark remembers every URL at its instant, emitted now or before.
        match &mut latest {
            Some(latest) if seen_at == latest.seen_at => {
                latest.urls.insert(url.clone());
            }
            Some(latest) if seen_at < latest.seen_at => {}
            _ => latest = Some(HighWaterMark { seen_at, urls: BTreeSet::from([url.clone()]) }),
        }
        if already || !emitted.insert(url.clone()) {
            continue;
        }
        records.push(NewsArticle {
            url,
            title: article.title.unwrap_or_default(),
            seen_at,
            domain: non_empty(article.domain),
            language: non_empty(article.language),
            source_country: non_empty(article.sourcecountry),
            social_image: non_empty(article.socialimage),
            tenant_id: Some(query.tenant_id.clone()),
            query: query.query.trim().to_string(),
            fetched_at: now,
        });
    }
    latest
}

/// GDELT writes "none" as an empty string.
fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|text| text.trim().to_string()).filter(|text| !text.is_empty())
}

#[async_trait]
impl Source for GdeltSource {
    type Output = NewsArticle;

    /// The marks staged by the last poll are stored only now that its articles are on the topic.
    async fn delivered(&self) {
        self.commit_staged_marks().await;
    }

    fn name(&self) -> &str {
        SOURCE_NAME
    }

    /// Commits the marks staged by the previous poll (its records were delivered, or this poll
    /// would not run), then polls every query, the configured ones and the watched businesses'; one failing query does not cost the others their
    /// records. The poll fails only when nothing was found and at least one query failed.
    async fn poll(&self, now: DateTime<Utc>) -> Result<Vec<NewsArticle>, FetchError> {
        self.commit_staged_marks().await;
        let mut records = Vec::new();
        let mut errors = Vec::new();
        let mut marks = Vec::new();
        let businesses = self.watch_list.current(SOURCE_NAME).await;
        for query in &watch_list::gdelt_queries(&self.config.queries, &businesses) {
            match self.poll_query(query, now).await {
                Ok((mut found, mark)) => {
                    records.append(&mut found);
                    if let Some(mark) = mark {
                        marks.push((query.mark_key(), mark));
                    }
                }
                Err(error) => errors.push(error),
            }
        }
        self.stage(marks);
        partial_poll(SOURCE_NAME, records, errors)
    }
}
