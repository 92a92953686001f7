//! The embedded broker: librdkafka's mock cluster (a Kafka-protocol broker on real TCP
//! listeners, in memory) for one-machine runs and tests. It supports everything signalcraft
//! relies on: keyed produce, idempotence, consumer groups, commits. It is not durable.
//!
//! The mock cluster is not `Send`, so it lives on a thread of its own; this handle is.

use std::{sync::mpsc, thread};

use rdkafka::mocking::MockCluster;
use signalcraft_model::Topic;

/// A running embedded broker with every signalcraft topic created. Dropping it stops it.
pub struct EmbeddedBroker {
    bootstrap_servers: String,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl EmbeddedBroker {
    /// Starts a one-broker cluster and creates every topic with `partitions` partitions.
    pub fn start(partitions: i32) -> Result<Self, String> {
        Self::start_with_topics(partitions, &Topic::ALL.map(Topic::name))
    }

    /// Starts a one-broker cluster with the given topics (tests use extra ones).
    pub fn start_with_topics(partitions: i32, topics: &[&str]) -> Result<Self, String> {
        // A topic of no partitions is created without complaint, and every producer then hangs.
        if partitions < 1 {
            return Err(format!("the embedded broker needs at least 1 partition per topic, not {partitions}"));
        }
        let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<String, String>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("embedded-kafka".into())
            .spawn(move || {
                let cluster = match MockCluster::new(1) {
                    Ok(cluster) => cluster,
                    Err(error) => {
                        let _ = ready_tx.send(Err(format!("cannot start the embedded broker: {error}")));
                        return;
                    }
                };
                for topic in &topics {
                    if let Err(error) = cluster.create_topic(topic, partitions, 1) {
                        let _ = ready_tx.send(Err(format!("cannot create topic {topic}: {error}")));
                        return;
                    }
                }
                let _ = ready_tx.send(Ok(cluster.bootstrap_servers()));
                // Runs until the handle is dropped (or its sender is gone).
                let _ = stop_rx.recv();
                drop(cluster);
            })
            .map_err(|e| format!("cannot spawn the embedded broker thread: {e}"))?;
        let bootstrap_servers =
            ready_rx.recv().map_err(|_| "the embedded broker thread died while starting".to_string())??;
        Ok(EmbeddedBroker { bootstrap_servers, stop: Some(stop_tx), thread: Some(thread) })
    }

    /// `host:port` list to give clients as `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
