//! Digi-Cadence brand metrics → KPI points: one point per scored metric, series
//! `dq:{brand_id}:{metric}`, stamped at the start of the project's period (projects are the
//! time axis). A metric without a score (NaN upstream) yields no point.

use signalcraft_model::{BrandMetric, KpiPoint, Topic};

use crate::{ProcessError, Processor};

/// Stateless: the same metric always gives the same point.
#[derive(Debug, Default)]
pub struct BrandToKpi;

/// Lower-case words joined by `_`: a stable series-id segment from a free-text metric name.
fn slug(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join("_")
}

impl Processor for BrandToKpi {
    type Input = BrandMetric;
    type Output = KpiPoint;

    fn name(&self) -> &'static str {
        "kpi-brand"
    }

    fn process(&mut self, metric: BrandMetric) -> Result<Vec<KpiPoint>, ProcessError> {
        let Some(value) = metric.value.filter(|v| v.is_finite()) else { return Ok(Vec::new()) };
        let ts = super::calendar::start_of_day(metric.period_start);
        Ok(vec![KpiPoint {
            series_id: format!("dq:{}:{}", metric.brand_id, slug(&metric.metric)),
            tenant_id: None,
            metric: metric.metric,
            unit: "score".into(),
            ts,
            value,
            source: format!("{}/digicadence:{}", Topic::RawBrandMetrics, metric.brand_name),
        }])
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone, Utc};

    use super::*;

    #[test]
    fn a_score_becomes_a_point_at_the_start_of_its_period() {
        let metric = BrandMetric {
            project_id: 3,
            period_start: NaiveDate::from_ymd_opt(2023, 4, 1).expect("date"),
            brand_id: 11,
            brand_name: "Himalaya".into(),
            metric: "Digital quotient for brand (DQ)".into(),
            value: Some(69.61),
            fetched_at: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single().expect("instant"),
        };
        let points = BrandToKpi.process(metric.clone()).expect("processes");
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].series_id, "dq:11:digital_quotient_for_brand_dq");
        assert_eq!(points[0].ts, Utc.with_ymd_and_hms(2023, 4, 1, 0, 0, 0).single().expect("instant"));
        assert_eq!(points[0].value, 69.61);
        assert!(BrandToKpi.process(BrandMetric { value: None, ..metric }).expect("processes").is_empty());
    }
}
