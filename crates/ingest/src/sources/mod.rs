//! The upstreams, one folder each: config, client and tests of one API. Each exposes a runtime
//! struct implementing [`crate::Source`]:
//! [`fx`] (exchange rates, raw.fx), [`gdelt`] (news, raw.news), [`openmeteo`] (weather,
//! raw.weather) and [`digicadence`] (DQ brand scores, raw.brand_metrics).
//!
//! Beside them: `non_finite`, the one JSON repair two upstreams need, and, for tests,
//! `test_server`, the scripted HTTP server the sources' fault tests share.

pub mod digicadence;
pub mod fx;
pub mod gdelt;
pub(crate) mod non_finite;
pub mod openmeteo;
#[cfg(test)]
pub(crate) mod test_server;

pub(crate) use self::non_finite::non_finite_to_null;
