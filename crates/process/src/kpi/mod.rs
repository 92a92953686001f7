//! KPI normalisation: every numeric signal becomes a point on kpi.points with a stable series
//! id, a unit and a tenant. One module per input topic.

pub mod fx;

pub use fx::FxToKpi;
