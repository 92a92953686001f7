//! What every command stands on, brought up in one place: the Kafka cluster (or an embedded
//! broker when none is configured), its id, the schema registry, PostgreSQL (or a private
//! server) with the migrations applied, and the operational HTTP listener. `run`, `backfill`
//! and the admin commands each say which parts they need ([`Needs`]); what was started for
//! them stops when the [`Infrastructure`] is dropped.

use std::time::Duration;

use anyhow::Context;
use signalcraft_kafka::{EmbeddedBroker, KafkaSettings};
pub use signalcraft_store::PrivateServer;
use signalcraft_store::{DatabaseOptions, PrivatePostgres};
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::{config::Config, registry};

/// How long the start waits for any broker of `kafka.brokers` to answer before giving up.
const BROKER_WAIT: Duration = Duration::from_secs(15);

/// Which parts a command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// The Kafka cluster: settings, a checked address, its id, registered schemas.
    pub kafka: bool,
    /// PostgreSQL, and what to do with a private server that already runs.
    pub database: Option<PrivateServer>,
    /// The listener of `/metrics`, `/healthz`, `/readyz` on `http.listen`.
    pub http: bool,
}

impl Needs {
    /// `signalcraft run`: everything, owning the private server.
    pub const RUN: Needs = Needs { kafka: true, database: Some(PrivateServer::Own), http: true };
    /// `signalcraft backfill`: the cluster only (the watch list is read if a database is at hand).
    pub const PRODUCE: Needs = Needs { kafka: true, database: None, http: false };
    /// Admin commands (`rules`, `watch`, `retention`): the database, shared with a running pipeline.
    pub const ADMIN: Needs = Needs { kafka: false, database: Some(PrivateServer::Share), http: false };
}

/// What a command stands on. Embedded stand-ins stop when it is dropped.
pub struct Infrastructure {
    /// How every Kafka client of this process reaches the cluster.
    pub kafka: KafkaSettings,
    /// The cluster's id (empty when it reports none): offsets stored in PostgreSQL belong to it.
    pub cluster_id: String,
    pub pool: Option<PgPool>,
    /// Bound on `http.listen`, for the operational endpoints.
    pub listener: Option<TcpListener>,
    embedded_broker: Option<EmbeddedBroker>,
    _postgres: Option<PrivatePostgres>,
}

impl Infrastructure {
    /// Brings up what `needs` asks for, failing fast with the key to fix when a part cannot be
    /// reached.
    pub async fn start(config: &Config, needs: Needs) -> anyhow::Result<Infrastructure> {
        let (kafka, cluster_id, embedded_broker) = if needs.kafka {
            start_kafka(config).await?
        } else {
            (KafkaSettings::new(String::new()), String::new(), None)
        };
        let (pool, postgres) = match needs.database {
            Some(private_server) => {
                let (pool, postgres) = connect_database_with(config, private_server).await?;
                (Some(pool), postgres)
            }
            None => (None, None),
        };
        let listener = if needs.http {
            let listen = config.http.listen;
            Some(TcpListener::bind(listen).await.with_context(|| format!("binding http.listen {listen}"))?)
        } else {
            None
        };
        Ok(Infrastructure { kafka, cluster_id, pool, listener, embedded_broker, _postgres: postgres })
    }

    /// Whether the broker is this process's own, gone when it exits.
    pub fn embedded_broker(&self) -> bool {
        self.embedded_broker.is_some()
    }

    /// The database pool; an error when the command did not ask for one.
    pub fn pool(&self) -> anyhow::Result<&PgPool> {
        self.pool.as_ref().context("this command started without a database")
    }
}

/// The cluster of `kafka.brokers` (or an embedded broker), checked to answer, its id, and the
/// schema ids when a registry is configured.
async fn start_kafka(config: &Config) -> anyhow::Result<(KafkaSettings, String, Option<EmbeddedBroker>)> {
    let broker = match &config.kafka.brokers {
        Some(_) => None,
        None => {
            let broker = EmbeddedBroker::start(config.kafka.embedded_partitions)
                .map_err(anyhow::Error::msg)
                .context("starting the embedded Kafka broker")?;
            tracing::info!(
                bootstrap = broker.bootstrap_servers(),
                "no kafka.brokers configured: embedded broker started"
            );
            Some(broker)
        }
    };
    let brokers = match &broker {
        Some(broker) => broker.bootstrap_servers().to_string(),
        None => config.kafka.brokers.clone().unwrap_or_default(),
    };
    let mut kafka = KafkaSettings::new(brokers);
    kafka.properties = config.kafka.properties.clone();
    kafka.plausibility = config.validation.windows();
    // Fail fast on a wrong address: otherwise every client retries it forever.
    {
        let probe = kafka.clone();
        tokio::task::spawn_blocking(move || probe.check_brokers(BROKER_WAIT))
            .await
            .context("asking the cluster for its metadata")?
            .map_err(anyhow::Error::msg)
            .with_context(|| {
                format!(
                    "no Kafka broker answered at kafka.brokers = {:?} within {} s (SIGNALCRAFT_KAFKA__BROKERS)",
                    kafka.brokers,
                    BROKER_WAIT.as_secs()
                )
            })?;
    }
    // Offsets the sink stores belong to this cluster (see PostgresSink::with_cluster_id).
    let cluster_id = {
        let kafka = kafka.clone();
        tokio::task::spawn_blocking(move || kafka.fetch_cluster_id(Duration::from_secs(10)))
            .await
            .context("asking the cluster for its id")?
            .unwrap_or_default()
    };
    if cluster_id.is_empty() {
        tracing::warn!(
            "the Kafka cluster reported no id; stored sink offsets cannot be told apart from another cluster's"
        );
    }
    // librdkafka names a mock cluster after its address in memory (`mockCluster<address>`), so an
    // embedded broker can report the id of an earlier one, and the sink would then skip the new
    // broker's records as already written. Ours is made unique to this process's broker.
    let cluster_id = if broker.is_some() { format!("{cluster_id}-{:016x}", process_unique()) } else { cluster_id };
    if let Some(url) = &config.kafka.schema_registry_url {
        kafka.registry_ids = registry::register_all(url).await.map_err(anyhow::Error::msg)?;
    }
    Ok((kafka, cluster_id, broker))
}

/// Connects to (or starts) PostgreSQL and applies the migrations, saying what to do with a
/// private server that already runs.
pub async fn connect_database_with(
    config: &Config,
    private_server: PrivateServer,
) -> anyhow::Result<(PgPool, Option<PrivatePostgres>)> {
    let options = DatabaseOptions {
        url: config.database.url.clone(),
        data_dir: config.database.data_dir.clone(),
        max_connections: config.sink.max_connections,
    };
    Ok(signalcraft_store::connect(&options, private_server).await?)
}

/// A value no other process (nor an earlier broker of this one) is likely to draw: the
/// standard library's randomly seeded hasher, over the process id and the time.
fn process_unique() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.finish()
}
