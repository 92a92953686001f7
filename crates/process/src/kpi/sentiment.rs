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

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use signalcraft_model::{KpiPoint, ScoredArticle, Topic};

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

#[derive(Debug, Default)]
struct HourBucket {
    urls: HashSet<String>,
    compound_sum: f64,
    negative: u32,
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
}

impl Default for SentimentToKpi {
    fn default() -> Self {
        SentimentToKpi::new(TimeDelta::hours(1))
    }
}

fn hour_of(at: DateTime<Utc>) -> Result<DateTime<Utc>, ProcessError> {
    at.duration_trunc(TimeDelta::hours(1)).map_err(|e| ProcessError(format!("cannot find the hour of {at}: {e}")))
}

fn points(tenant: &str, hour: DateTime<Utc>, bucket: &HourBucket) -> Vec<KpiPoint> {
    let volume = bucket.urls.len() as f64;
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
        point(METRICS[0], "compound", bucket.compound_sum / volume),
        point(METRICS[1], "articles/hour", volume),
        point(METRICS[2], "ratio", f64::from(bucket.negative) / volume),
    ]
}

impl Processor for SentimentToKpi {
    type Input = ScoredArticle;
    type Output = KpiPoint;

    fn name(&self) -> &'static str {
        "kpi-sentiment"
    }

    fn process(&mut self, article: ScoredArticle) -> Result<Vec<KpiPoint>, ProcessError> {
        if !article.compound.is_finite() {
            return Err(ProcessError(format!("{}: compound {} is not a number", article.url, article.compound)));
        }
        let tenant = article.tenant_id.clone().unwrap_or_else(|| UNASSIGNED_TENANT.to_string());
        let hour = hour_of(article.seen_at)?;
        let state = self.tenants.entry(tenant.clone()).or_default();
        if state.closed_before.is_some_and(|closed| hour < closed) {
            tracing::debug!(url = %article.url, %tenant, %hour, "article too late for its hour; not counted");
            return Ok(Vec::new());
        }
        let bucket = state.open.entry(hour).or_default();
        if bucket.urls.insert(article.url.clone()) {
            bucket.compound_sum += article.compound;
            bucket.negative += u32::from(article.compound <= NEGATIVE_COMPOUND);
        }
        let watermark = *state.watermark.insert(state.watermark.map_or(article.seen_at, |w| w.max(article.seen_at)));
        // Close every hour that ended `lateness` before the watermark.
        let mut out = Vec::new();
        while let Some((&start, _)) = state.open.first_key_value() {
            let end = start + TimeDelta::hours(1);
            if end + self.lateness > watermark {
                break;
            }
            if let Some(bucket) = state.open.remove(&start) {
                out.extend(points(&tenant, start, &bucket));
            }
            state.closed_before = Some(end);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn article(url: &str, minute: i64, compound: f64) -> ScoredArticle {
        ScoredArticle {
            url: url.into(),
            tenant_id: Some("acme".into()),
            title: "t".into(),
            seen_at: Utc.with_ymd_and_hms(2024, 6, 1, 10, 0, 0).single().expect("instant") + TimeDelta::minutes(minute),
            neg: 0.0,
            neu: 1.0,
            pos: 0.0,
            compound,
        }
    }

    #[test]
    fn an_hour_is_emitted_once_closed_with_its_mean_volume_and_negative_share() {
        let mut kpi = SentimentToKpi::default();
        assert!(kpi.process(article("a", 5, 0.5)).expect("ok").is_empty());
        assert!(kpi.process(article("b", 20, -0.5)).expect("ok").is_empty());
        assert!(kpi.process(article("a", 25, 0.5)).expect("ok").is_empty(), "a repeat is counted once");
        assert!(kpi.process(article("c", 70, 0.2)).expect("ok").is_empty(), "10:00 is open until 12:00");
        let points = kpi.process(article("d", 121, 0.1)).expect("ok");
        let values: Vec<(&str, f64)> = points.iter().map(|p| (p.series_id.as_str(), p.value)).collect();
        assert_eq!(
            values,
            [
                ("sentiment:acme:mean_compound", 0.0),
                ("sentiment:acme:volume", 2.0),
                ("sentiment:acme:negative_share", 0.5)
            ]
        );
        assert!(points.iter().all(|p| p.ts == Utc.with_ymd_and_hms(2024, 6, 1, 10, 0, 0).single().expect("instant")));
        assert!(kpi.process(article("e", 10, -0.9)).expect("ok").is_empty(), "too late for 10:00");
    }
}
