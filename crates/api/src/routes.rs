//! The handlers of `/api/v1`, one module per resource.

pub mod alerts;
pub mod events;
pub mod kpis;
pub mod news;
pub mod rules;
pub mod series;
pub mod token;
