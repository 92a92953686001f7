//! KPI normalisation: every numeric signal becomes a point on kpi.points with a stable series
//! id, a unit and a tenant. One module per input topic; `calendar` places daily values.

pub mod brand;
mod calendar;
pub mod custom;
pub mod fx;
pub mod sentiment;
pub mod weather;

pub use brand::BrandToKpi;
pub use custom::ObservationToKpi;
pub use fx::FxToKpi;
pub use sentiment::SentimentToKpi;
pub use weather::{is_state_point, WeatherSemanticsConfig, WeatherToKpi};
