//! News sentiment → hourly KPI series per tenant: the mean VADER compound
//! (`sentiment:{tenant}:mean_compound`), the article volume (`sentiment:{tenant}:volume`) and
//! the share of negative articles (`sentiment:{tenant}:negative_share`, compound ≤ -0.05 as VADER
//! defines negative), each stamped at the start of its UTC hour.
//!
//! An hour is emitted once it is closed: when the tenant's articles have moved `lateness` past
//! its end (event time). Emitting every partial value instead would give one (series, hour) many
//! values, and the anomaly detector scores only the first of them. An article for an hour
//! already emitted is too late and is not counted; a repeated article (same URL, at-least-once
//! delivery) is counted once. State is bounded: only open hours are kept.
//!
//! # After a restart (or a rebalance)
//!
//! The state lives in memory only and is rebuilt per tenant, like the detector's per series
//! ([`crate::history`]), the first time the stage meets the tenant without it, from what the sink
//! stored ([`TenantArticles`]):
//! - the hours up to the last one emitted (the latest hour every sentiment series of the tenant
//!   has a point for in `kpi_points`) are closed, as `closed_before` only moves when an hour is
//!   emitted;
//! - the tenant's articles in `news_sentiment` seen after that hour fill the open hours, keyed
//!   by URL as when they were read;
//! - the latest `seen_at` stored is the watermark.
//!
//! The stage waits (`process.warmup.sink_wait_ms`) for the sink to have stored every article
//! read before the tenant's first one after the restart. Articles read again after the restart
//! (their offsets were not committed), and any the sink stored beyond that point, are already in
//! their hour and the watermark: reading them again counts nothing twice. An hour the rebuild
//! finds closable (it closed while the sink was ahead of this processor, or before its points
//! were all stored) is emitted at the tenant's next article with the values it had — again, if
//! it already was. The values of an hour do not depend on the order its articles came in (the
//! compounds are summed in ascending order), so a rebuilt hour emits what an uninterrupted run
//! does. Bounded: only hours after the last one emitted are loaded. A tenant with none stored
//! loads its articles of the [`RELOAD_WITHOUT_EMITTED`] before its latest: nothing says which of
//! its hours were emitted, and articles can be days apart (a new tenant's first GDELT answer
//! spans weeks), so any shorter span would close hours that were never emitted.
//!
//! Not exact: `news_sentiment` keeps one row per tenant and URL, so an article a tenant read
//! again with a later `seen_at` is rebuilt where its last reading put it; an article that came too late for its hour (not counted) is counted if the rebuild
//! reloads that hour (an hour closed after the restart point, or whose points were not stored
//! yet); articles without a tenant are keyed by URL across partitions, so their order is not
//! fixed even without restarts; and a history the sink had not stored within the wait is used
//! as it is (counted in `signalcraft_state_rebuilds_total{history="incomplete"}`).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use signalcraft_model::{KpiPoint, ScoredArticle, Topic};

use crate::history::{HistoryKind, RebuildableState, SeriesPast, TenantArticles};
use crate::{ProcessError, Processor};

/// VADER's threshold for a negative text.
const NEGATIVE_COMPOUND: f64 = -0.05;

/// The tenant of articles found by no watched tenant's query: they still form a series of their own.
pub const UNASSIGNED_TENANT: &str = "unassigned";

/// The metrics of a tenant's sentiment series; every emitted hour has a point on each.
pub const METRICS: [&str; 3] = ["mean_compound", "volume", "negative_share"];

/// The id of a tenant's sentiment series for `metric` (one of [`METRICS`]).
pub fn series_id(tenant: &str, metric: &str) -> String {
    format!("sentiment:{tenant}:{metric}")
}

/// How far before its latest article a tenant without an emitted hour stored is reloaded. Its
/// hours are then all open and those closable are emitted (again, with the values they had) at
/// its next article. It was once a day more than the open hours: a tenant whose articles were
/// further apart, restarted before its first hour was stored, lost the hours before that span
/// for good (found by the chaos harness). The bound is the suggested retention of points.
pub const RELOAD_WITHOUT_EMITTED: TimeDelta = TimeDelta::days(400);

#[derive(Debug, Default)]
struct HourBucket {
    /// Compound per article URL: an article counts once, however often it is read.
    compounds: HashMap<String, f64>,
}

impl HourBucket {
    /// Counts the article unless its URL is counted already (the first reading counts).
    fn add(&mut self, url: &str, compound: f64) {
        if !self.compounds.contains_key(url) {
            self.compounds.insert(url.to_string(), compound);
        }
    }
}

#[derive(Debug, Default)]
struct TenantState {
    /// Open hours, by their start.
    open: BTreeMap<DateTime<Utc>, HourBucket>,
    /// Latest article time seen: the tenant's event-time watermark.
    watermark: Option<DateTime<Utc>>,
    /// Hours before this were emitted; later articles for them are late.
    closed_before: Option<DateTime<Utc>>,
}

/// Aggregates scored articles into hourly sentiment KPIs per tenant.
#[derive(Debug)]
pub struct SentimentToKpi {
    lateness: TimeDelta,
    tenants: HashMap<String, TenantState>,
}

impl SentimentToKpi {
    /// `lateness`: how long after an hour ends its articles may still arrive.
    pub fn new(lateness: TimeDelta) -> Self {
        SentimentToKpi { lateness, tenants: HashMap::new() }
    }

    /// Tenants whose state is held.
    pub fn tenant_count(&self) -> usize {
        self.tenants.len()
    }

    /// Hours of `tenant` still open.
    pub fn open_hours(&self, tenant: &str) -> usize {
        self.tenants.get(tenant).map_or(0, |state| state.open.len())
    }

    /// How far before its latest article the articles of a tenant with no emitted hour stored
    /// are reloaded ([`RELOAD_WITHOUT_EMITTED`]).
    fn reload_span(&self) -> TimeDelta {
        RELOAD_WITHOUT_EMITTED
    }

    /// The state a run that read what `stored` holds has, but for hours it would have closed
    /// meanwhile: those stay open and close at the tenant's next article.
    fn restored(&self, stored: &TenantArticles) -> TenantState {
        let closed_before = match stored.last_emitted_hour {
            Some(hour) => Some(hour + TimeDelta::hours(1)),
            // Nothing stored as emitted: the hours the span cuts into or lies after are closed
            // (the first whole hour within the span is the first loaded).
            None => stored
                .latest_seen_at
                .and_then(|latest| latest.checked_sub_signed(self.reload_span()))
                .and_then(|start| hour_of(start).ok())
                .map(|hour| hour + TimeDelta::hours(1)),
        };
        let mut state = TenantState { open: BTreeMap::new(), watermark: stored.latest_seen_at, closed_before };
        for article in &stored.articles {
            let Ok(hour) = hour_of(article.seen_at) else { continue };
            if closed_before.is_some_and(|closed| hour < closed) || !is_compound(article.compound) {
                continue;
            }
            state.open.entry(hour).or_default().add(&article.url, article.compound);
        }
        state
    }
}

impl Default for SentimentToKpi {
    fn default() -> Self {
        SentimentToKpi::new(TimeDelta::hours(1))
    }
}

/// Whether `compound` is one VADER can give, and so one `news_sentiment` can store: what is
/// counted must be what a rebuild can reload.
fn is_compound(compound: f64) -> bool {
    (-1.0..=1.0).contains(&compound)
}

fn hour_of(at: DateTime<Utc>) -> Result<DateTime<Utc>, ProcessError> {
    at.duration_trunc(TimeDelta::hours(1)).map_err(|e| ProcessError(format!("cannot find the hour of {at}: {e}")))
}

fn points(tenant: &str, hour: DateTime<Utc>, bucket: &HourBucket) -> Vec<KpiPoint> {
    // Summed in ascending order rather than in the order the articles were read: an hour rebuilt
    // from the store, which does not know that order, then sums to the same bits.
    let mut compounds: Vec<f64> = bucket.compounds.values().copied().collect();
    compounds.sort_by(f64::total_cmp);
    let volume = compounds.len() as f64;
    let sum = compounds.iter().fold(0.0, |sum, compound| sum + compound);
    let negative = compounds.iter().filter(|&&compound| compound <= NEGATIVE_COMPOUND).count() as f64;
    let source = format!("{}/vader", Topic::NewsScored);
    let point = |metric: &str, unit: &str, value: f64| KpiPoint {
        series_id: series_id(tenant, metric),
        tenant_id: Some(tenant.to_string()),
        metric: format!("sentiment_{metric}"),
        unit: unit.to_string(),
        ts: hour,
        value,
        source: source.clone(),
    };
    vec![
        point(METRICS[0], "compound", sum / volume),
        point(METRICS[1], "articles/hour", volume),
        point(METRICS[2], "ratio", negative / volume),
    ]
}

/// Emits and drops every open hour of `state` that ended `lateness` before its watermark.
fn close_hours(tenant: &str, state: &mut TenantState, lateness: TimeDelta) -> Vec<KpiPoint> {
    let mut out = Vec::new();
    let Some(watermark) = state.watermark else { return out };
    while let Some((&start, _)) = state.open.first_key_value() {
        let end = start + TimeDelta::hours(1);
        if end + lateness > watermark {
            break;
        }
        if let Some(bucket) = state.open.remove(&start) {
            out.extend(points(tenant, start, &bucket));
        }
        state.closed_before = Some(end);
    }
    out
}

impl Processor for SentimentToKpi {
    type Input = ScoredArticle;
    type Output = KpiPoint;

    fn name(&self) -> &'static str {
        "kpi-sentiment"
    }

    fn process(&mut self, article: ScoredArticle) -> Result<Vec<KpiPoint>, ProcessError> {
        if !is_compound(article.compound) {
            return Err(ProcessError(format!("{}: compound {} is not in [-1, 1]", article.url, article.compound)));
        }
        let tenant = article.tenant_id.as_deref().unwrap_or(UNASSIGNED_TENANT);
        let hour = hour_of(article.seen_at)?;
        let state = self.tenants.entry(tenant.to_string()).or_default();
        if state.closed_before.is_some_and(|closed| hour < closed) {
            tracing::debug!(url = %article.url, %tenant, %hour, "article too late for its hour; not counted");
        } else {
            state.open.entry(hour).or_default().add(&article.url, article.compound);
            state.watermark = Some(state.watermark.map_or(article.seen_at, |w| w.max(article.seen_at)));
        }
        // Also after a late article: a rebuilt state may hold hours that are already closable.
        Ok(close_hours(tenant, state, self.lateness))
    }

    fn rebuildable(&mut self) -> Option<&mut dyn RebuildableState<ScoredArticle>> {
        Some(self)
    }
}

/// The "series" the stage rebuilds is the tenant: all three of its series come from one state.
impl RebuildableState<ScoredArticle> for SentimentToKpi {
    fn series_of<'a>(&self, article: &'a ScoredArticle) -> Option<(&'a str, DateTime<Utc>)> {
        Some((article.tenant_id.as_deref().unwrap_or(UNASSIGNED_TENANT), article.seen_at))
    }

    fn holds(&self, tenant: &str) -> bool {
        self.tenants.contains_key(tenant)
    }

    fn history(&self) -> HistoryKind {
        HistoryKind::TenantArticles { span_without_emitted: self.reload_span() }
    }

    fn seed(&mut self, past: &SeriesPast) {
        let state = past.articles.as_ref().map(|stored| self.restored(stored)).unwrap_or_default();
        self.tenants.insert(past.series_id.clone(), state);
    }

    fn forget(&mut self, tenant: &str) {
        self.tenants.remove(tenant);
    }
}

#[cfg(test)]
mod tests;
