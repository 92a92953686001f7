//! GDELT's average-tone timelines (`mode=timelinetone`) as KPI series: for every watched query,
//! [`GdeltToneSource`] emits one [`KpiPoint`] per closed timeline bucket onto kpi.points
//! (series [`tone_series_id`], unit `tone`: GDELT's average tone, roughly −10..+10).
//!
//! GDELT already aggregates these, so they skip the raw topics and go straight to kpi.points,
//! where the anomaly detector and the forecaster pick them up like any other series.
//!
//! - The newest bucket of an answer is still filling and is left for the next poll.
//! - Each query keeps the time of the last bucket it emitted; a poll asks from there on and
//!   emits only later buckets. The mark advances only once the broker acknowledged the points
//!   ([`Source::delivered`]). It lives in memory: after a restart the first poll looks back
//!   `initial_lookback_hours` again, and the repeated points upsert onto their natural keys.
//! - Requests go through the artlist source's fetcher, so GDELT's one-request-per-5-s limit
//!   holds across both.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use signalcraft_model::KpiPoint;

use super::{
    client::timeline_tone_url,
    config::{GdeltConfig, GdeltQueryConfig},
    parse::parse_timeline_tone,
};
use crate::{
    source::{partial_poll, Source},
    watch::WatchListReader,
};
use signalcraft_http::{FetchError, HttpFetcher};

/// The name of the tone source in logs and metrics.
pub const TONE_SOURCE_NAME: &str = "gdelt-tone";

/// The KPI series of one query's average tone: `gdelt_tone:<tenant>:<query slug>`.
pub fn tone_series_id(query: &GdeltQueryConfig) -> String {
    let mut slug = String::new();
    for c in query.query.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(60).collect();
    format!("gdelt_tone:{}:{}", query.tenant_id, slug)
}

/// Polls the average-tone timeline of every watched query.
pub struct GdeltToneSource {
    config: GdeltConfig,
    fetcher: Arc<HttpFetcher>,
    watch_list: WatchListReader,
    /// Per query (mark key): the last bucket emitted and acknowledged.
    emitted: Mutex<HashMap<String, DateTime<Utc>>>,
    /// Marks the last poll's points justify, committed by [`Source::delivered`].
    staged: Mutex<Vec<(String, DateTime<Utc>)>>,
}

impl std::fmt::Debug for GdeltToneSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GdeltToneSource").field("config", &self.config).finish_non_exhaustive()
    }
}

impl GdeltToneSource {
    pub(super) fn new(config: GdeltConfig, fetcher: Arc<HttpFetcher>, watch_list: WatchListReader) -> Self {
        GdeltToneSource { config, fetcher, watch_list, emitted: Mutex::default(), staged: Mutex::default() }
    }

    /// The closed buckets of one query after its mark, and the mark they lead to.
    async fn poll_query(
        &self,
        query: &GdeltQueryConfig,
        now: DateTime<Utc>,
    ) -> Result<(Vec<KpiPoint>, Option<DateTime<Utc>>), FetchError> {
        let key = query.mark_key();
        let mark = self.emitted.lock().ok().and_then(|emitted| emitted.get(&key).copied());
        let lookback = ChronoDuration::hours(i64::from(self.config.initial_lookback_hours));
        let start = mark.unwrap_or(now - lookback);
        let url = timeline_tone_url(self.config.api_root(), &query.query, start, None);
        let mut buckets = self.fetcher.get_with(&url, parse_timeline_tone).await?;
        buckets.sort_by_key(|(ts, _)| *ts);
        // The newest bucket is still filling.
        buckets.pop();
        let series_id = tone_series_id(query);
        let points: Vec<KpiPoint> = buckets
            .into_iter()
            .filter(|(ts, value)| mark.is_none_or(|mark| *ts > mark) && value.is_finite())
            .map(|(ts, value)| KpiPoint {
                series_id: series_id.clone(),
                tenant_id: Some(query.tenant_id.clone()),
                metric: "news_tone".into(),
                unit: "tone".into(),
                ts,
                value,
                source: "gdelt".into(),
            })
            .collect();
        let next = points.last().map(|point| point.ts);
        Ok((points, next))
    }
}

#[async_trait]
impl Source for GdeltToneSource {
    type Output = KpiPoint;

    fn name(&self) -> &str {
        TONE_SOURCE_NAME
    }

    /// Polls every query (the configured ones and the watched businesses'); one failing query
    /// does not cost the others their points.
    async fn poll(&self, now: DateTime<Utc>) -> Result<Vec<KpiPoint>, FetchError> {
        let businesses = self.watch_list.current(TONE_SOURCE_NAME).await;
        let mut points = Vec::new();
        let mut errors = Vec::new();
        let mut marks = Vec::new();
        for query in &super::watch_list::gdelt_queries(&self.config.queries, &businesses) {
            match self.poll_query(query, now).await {
                Ok((mut found, mark)) => {
                    points.append(&mut found);
                    marks.extend(mark.map(|mark| (query.mark_key(), mark)));
                }
                Err(error) => errors.push(error),
            }
        }
        if let Ok(mut staged) = self.staged.lock() {
            *staged = marks;
        }
        partial_poll(TONE_SOURCE_NAME, points, errors)
    }

    async fn delivered(&self) {
        let staged = self.staged.lock().map(|mut staged| std::mem::take(&mut *staged)).unwrap_or_default();
        if let Ok(mut emitted) = self.emitted.lock() {
            for (key, mark) in staged {
                let entry = emitted.entry(key).or_insert(mark);
                *entry = (*entry).max(mark);
            }
        }
    }
}
