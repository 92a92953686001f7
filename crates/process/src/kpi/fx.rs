//! Exchange rates → KPI points: one point per rate, series `fx:{BASE}:{QUOTE}`, stamped at the
//! start of the rate's day (UTC), unit "{QUOTE} per {BASE}".

use signalcraft_model::{FxRate, KpiPoint, Topic};

use crate::{ProcessError, Processor};

/// Stateless: the same rate always gives the same point.
#[derive(Debug, Default)]
pub struct FxToKpi;

impl Processor for FxToKpi {
    type Input = FxRate;
    type Output = KpiPoint;

    fn name(&self) -> &'static str {
        "kpi-fx"
    }

    fn process(&mut self, rate: FxRate) -> Result<Vec<KpiPoint>, ProcessError> {
        if !rate.rate.is_finite() || rate.rate <= 0.0 {
            return Err(ProcessError(format!(
                "rate {} for {}/{} is not a positive number",
                rate.rate, rate.base, rate.quote
            )));
        }
        let ts = super::calendar::start_of_day(rate.rate_date);
        Ok(vec![KpiPoint {
            series_id: format!("fx:{}:{}", rate.base, rate.quote),
            tenant_id: None,
            metric: "fx_rate".into(),
            unit: format!("{} per {}", rate.quote, rate.base),
            ts,
            value: rate.rate,
            source: format!("{}/{}", Topic::RawFx, rate.provider),
        }])
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone, Utc};

    use super::*;

    #[test]
    fn a_rate_becomes_one_point_of_its_pair_series() {
        let rate = FxRate {
            base: "USD".into(),
            quote: "EUR".into(),
            rate_date: NaiveDate::from_ymd_opt(2022, 9, 20).expect("date"),
            rate: 0.999,
            provider: "exchangerate-api".into(),
            published_at: None,
            fetched_at: Utc.with_ymd_and_hms(2022, 9, 20, 8, 0, 0).single().expect("instant"),
        };
        let points = FxToKpi.process(rate.clone()).expect("processes");
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].series_id, "fx:USD:EUR");
        assert_eq!(points[0].unit, "EUR per USD");
        assert_eq!(points[0].value, 0.999);
        assert_eq!(points[0].ts, Utc.with_ymd_and_hms(2022, 9, 20, 0, 0, 0).single().expect("instant"));
        assert_eq!(points[0].source, "raw.fx/exchangerate-api");
        // Deterministic: replaying the input yields the same output.
        assert_eq!(FxToKpi.process(rate.clone()).expect("processes"), points);
        assert!(FxToKpi.process(FxRate { rate: f64::NAN, ..rate }).is_err());
    }
}
