//! KPI normalisation: every numeric signal becomes a point on kpi.points with a stable series
//! id, a unit and a tenant. One module per input topic.

pub mod brand;
pub mod fx;
pub mod sentiment;
pub mod weather;

pub use brand::BrandToKpi;
pub use fx::FxToKpi;
pub use sentiment::SentimentToKpi;
pub use weather::WeatherToKpi;

/// Midnight UTC at the start of `day`: where daily and per-period values sit on a series.
fn start_of_day(day: chrono::NaiveDate) -> chrono::DateTime<chrono::Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}
