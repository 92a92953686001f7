//! Digi-Cadence DQ brand scores (topic raw.brand_metrics): [`DigiCadenceSource`] POSTs
//! `{"project_ids": [...]}` to each configured DQ endpoint and emits one [`BrandMetric`] per
//! (project, brand, section or metric). Projects are the time axis: each configured project
//! carries the first day of the period it stands for.
//!
//! The service's own ways of failing, and what the source does about them:
//! * a GET gets 405 — every request here is a POST with a JSON body;
//! * a 200 `{"message": …}` (or a 404 "No data found for the given project_ids") means the
//!   projects have no data yet: zero records, logged, not an error;
//! * a NaN score makes the score endpoints answer 500 (FastAPI cannot encode it), and one
//!   such project fails a whole multi-project request: after the retries, a 500 for several
//!   projects is split into one request per project, so only the broken project is lost.

mod answers;
mod config;
mod names;
mod source;
#[cfg(test)]
mod tests;
mod watch_list;

pub use self::source::{DigiCadenceSource, SOURCE_NAME};
pub use self::{
    config::{DigiCadenceConfig, DqEndpoint, DqProjectConfig},
    names::{derived_brand_id, fix_mojibake},
    watch_list::DqSelection,
};
