//! Settings shared by producers and consumers. They are plain data; the binary fills them from
//! its configuration file and environment.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use rdkafka::ClientConfig;
use signalcraft_model::{Plausibility, Topic, WireFormat};

use crate::health::StageHealth;

/// How to reach the cluster and how to frame records.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// `client.id` prefix; the stage name is appended.
    pub client_id: String,
    /// Extra librdkafka properties (security.protocol, sasl.*, ...), applied last.
    pub properties: BTreeMap<String, String>,
    /// Schema-registry ids of our schemas, per topic. A topic with an id is written with
    /// Confluent framing; one without, with Avro single-object encoding.
    pub registry_ids: HashMap<Topic, u32>,
    /// Plausibility windows replacing a topic's default (`signalcraft_model::validate`): what
    /// producers refuse to write is then exactly what consumers refuse to read.
    pub plausibility: HashMap<Topic, Plausibility>,
}

impl KafkaSettings {
    /// Settings for `brokers` with default properties and single-object framing.
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaSettings {
            brokers: brokers.into(),
            client_id: "signalcraft".into(),
            properties: BTreeMap::new(),
            registry_ids: HashMap::new(),
            plausibility: HashMap::new(),
        }
    }

    /// The window timestamps of `topic` are judged by.
    pub fn plausibility(&self, topic: Topic) -> Plausibility {
        self.plausibility.get(&topic).copied().unwrap_or_else(|| Plausibility::for_topic(topic))
    }

    /// How records of `topic` are framed when written.
    pub fn wire_format(&self, topic: Topic) -> WireFormat {
        match self.registry_ids.get(&topic) {
            Some(&schema_id) => WireFormat::Confluent { schema_id },
            None => WireFormat::SingleObject,
        }
    }

    /// The cluster's id as the brokers report it (blocking, up to `timeout`); `None` when the
    /// cluster does not answer in time or reports none.
    pub fn fetch_cluster_id(&self, timeout: Duration) -> Option<String> {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let consumer: BaseConsumer = self.client_config("cluster-id").create().ok()?;
        consumer.client().fetch_cluster_id(timeout)
    }

    /// Asks the cluster for its metadata (blocking, up to `timeout`): whether any broker of
    /// `bootstrap.servers` answers. The error says why not, for logs and `/readyz`.
    pub fn check_brokers(&self, timeout: Duration) -> Result<(), String> {
        use rdkafka::consumer::BaseConsumer;
        let consumer: BaseConsumer = self.client_config("metadata").create().map_err(|e| e.to_string())?;
        check_metadata(&consumer, timeout)
    }

    /// A librdkafka config with the common properties set.
    pub fn client_config(&self, role: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers).set("client.id", format!("{}-{role}", self.client_id));
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }
}

/// Fetches the cluster's metadata through `consumer`; a cluster that lists no broker counts as
/// unreachable.
pub fn check_metadata<C: rdkafka::consumer::Consumer>(consumer: &C, timeout: Duration) -> Result<(), String> {
    let metadata = consumer.fetch_metadata(None, timeout).map_err(|e| e.to_string())?;
    if metadata.brokers().is_empty() {
        return Err("the cluster lists no broker".into());
    }
    Ok(())
}

/// What one consumer loop reads and how it batches.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// Consumer group; instances sharing it split the partitions.
    pub group_id: String,
    /// Topics to subscribe to.
    pub topics: Vec<String>,
    /// Stage name, written into dead letters and metrics.
    pub stage: String,
    /// Largest batch handed to the handler.
    pub batch_max_records: usize,
    /// Longest a partial batch waits for more records.
    pub batch_max_wait: Duration,
    /// `session.timeout.ms`: how soon a dead member's partitions move.
    pub session_timeout: Duration,
    /// Pause before the first retry of a batch whose handler failed transiently; it doubles
    /// with every further failure of the same batch, up to `retry_backoff_max`.
    pub retry_backoff: Duration,
    /// Longest pause between two retries of a failing batch.
    pub retry_backoff_max: Duration,
    /// Where the loop reports its progress, for `/healthz` (see [`StageHealth`]).
    pub health: StageHealth,
}

impl ConsumerSettings {
    /// Defaults suited to a production cluster.
    pub fn new(stage: impl Into<String>, group_id: impl Into<String>, topics: Vec<String>) -> Self {
        ConsumerSettings {
            group_id: group_id.into(),
            topics,
            stage: stage.into(),
            batch_max_records: 5_000,
            batch_max_wait: Duration::from_millis(200),
            session_timeout: Duration::from_secs(10),
            retry_backoff: Duration::from_secs(1),
            retry_backoff_max: Duration::from_secs(30),
            health: StageHealth::default(),
        }
    }
}
