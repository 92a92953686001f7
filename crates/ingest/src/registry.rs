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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{component::SourceContext, replay::ReplayServer, InMemoryHighWaterMarks, NoWatchList, WatchListReader};

    #[test]
    fn every_upstream_is_listed_once_and_digicadence_only_when_configured() {
        let mut ingest = IngestConfig::default();
        let keys = |ingest: &IngestConfig| ingest.components().iter().map(|c| c.key()).collect::<Vec<_>>();
        assert_eq!(keys(&ingest), ["fx", "gdelt", "openmeteo"]);
        ingest.digicadence = Some(DigiCadenceConfig::new("https://dq.example.com"));
        assert_eq!(keys(&ingest), ["fx", "gdelt", "openmeteo", "digicadence"]);
    }

    #[tokio::test]
    async fn a_replay_points_every_upstream_at_the_replay_server_and_leaves_the_table_as_written() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("replay.toml"), "").expect("an empty replay");
        let server = ReplayServer::start(dir.path()).await.expect("replay server");
        let context = SourceContext {
            watch_list: WatchListReader::new(Arc::new(NoWatchList)),
            marks: Arc::new(|_| Arc::new(InMemoryHighWaterMarks::new())),
            replay: Some(server.address()),
        };
        let ingest =
            IngestConfig { digicadence: Some(DigiCadenceConfig::new("https://dq.example.com")), ..Default::default() };
        let fx = context.configured(&ingest.fx);
        assert!(fx.providers.iter().all(|p| p.base_url == server.provider_base_url(p.kind.as_str())), "{fx:?}");
        let weather = context.configured(&ingest.openmeteo);
        assert_eq!(weather.archive_base_url, server.provider_base_url("openmeteo"));
        assert_eq!(context.configured(&ingest.gdelt).base_url, server.provider_base_url("gdelt"));
        let dq = context.configured(ingest.digicadence.as_ref().expect("set"));
        assert_eq!((dq.base_url, dq.multi_data_base_url), (server.provider_base_url("digicadence"), None));
        assert_ne!(ingest.gdelt.base_url, server.provider_base_url("gdelt"), "the table itself is unchanged");
        // Every upstream builds its loops from the replayed table: one per FX provider, GDELT's
        // articles and tone, the weather, the brand scores.
        let names: Vec<String> = ingest
            .components()
            .iter()
            .flat_map(|c| c.build(&context).expect("builds"))
            .map(|source| source.name().to_string())
            .collect();
        assert_eq!(names.len(), ingest.fx.providers.len() + 2 + 1 + 1, "{names:?}");
    }
}
