//! The upstreams the pipeline knows: `[ingest]`, one table per upstream, and the list the
//! binary starts them from. A new upstream is its folder under `sources/` plus its field here
//! and its line in [`IngestConfig::components`].

use serde::{Deserialize, Serialize};

use crate::{component::SourceComponent, DigiCadenceConfig, FxConfig, GdeltConfig, OpenMeteoConfig};

/// `[ingest]`: one table per upstream. A source with nothing to watch (no GDELT queries, no
/// weather locations, no Digi-Cadence table) is not started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Exchange-rate providers.
    #[serde(default)]
    pub fx: FxConfig,
    /// GDELT DOC 2.0 news queries.
    #[serde(default)]
    pub gdelt: GdeltConfig,
    /// Open-Meteo weather for the watched locations.
    #[serde(default)]
    pub openmeteo: OpenMeteoConfig,
    /// Digi-Cadence DQ brand metrics (its service has no public default address).
    #[serde(default)]
    pub digicadence: Option<DigiCadenceConfig>,
}

impl IngestConfig {
    /// Every configured upstream, in start order.
    pub fn components(&self) -> Vec<&dyn SourceComponent> {
        let mut components: Vec<&dyn SourceComponent> = vec![&self.fx, &self.gdelt, &self.openmeteo];
        // Digi-Cadence has no public host: it runs when `[ingest.digicadence]` says where.
        components.extend(self.digicadence.as_ref().map(|c| c as &dyn SourceComponent));
        components
    }
}
