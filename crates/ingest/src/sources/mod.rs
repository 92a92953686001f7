//! The upstreams, one folder each: config, client and tests of one API. Each exposes a runtime
//! struct implementing [`crate::Source`].

pub mod fx;
