//! KPI normalisation: every numeric signal becomes a point on kpi.points with a stable series
//! id, a unit and a tenant. One module per input topic.

pub mod brand;
pub mod fx;
pub mod weather;

pub use brand::BrandToKpi;
pub use fx::FxToKpi;
pub use weather::WeatherToKpi;
