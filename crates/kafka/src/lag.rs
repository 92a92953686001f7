//! Consumer lag measured from outside the consumer loops: every few seconds, for each
//! (group, topic, partition) this process consumes, the group's committed offset against the
//! partition's high watermark (`signalcraft_consumer_lag_records`), and the age of the oldest
//! record not yet committed, from its Kafka timestamp (`signalcraft_consumer_lag_seconds`).
//!
//! librdkafka's own statistics come from inside the consumer, so they freeze exactly when a
//! stage stalls; committed offsets do not move while a stage stalls, but the high watermark
//! does, so these figures keep rising. (The sink keeps its offsets in PostgreSQL and commits
//! them to Kafka after each transaction, so Kafka's committed offsets trail its true position
//! by at most one commit interval: close enough for a lag figure.)
//!
//! The monitor reads offsets through a consumer per group that carries the group's id but
//! never subscribes, so it never joins the group or commits; and the oldest record through an
//! `assign()`-based reader outside any group. `signalcraft status` takes one round of the same
//! measurement ([`LagMonitor::measure`]) and prints it instead of setting gauges.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::{Duration, Instant},
};

use rdkafka::{
    config::RDKafkaLogLevel,
    consumer::{BaseConsumer, Consumer},
    message::Message,
    Offset, TopicPartitionList,
};
use tokio_util::sync::CancellationToken;

use crate::{settings::KafkaSettings, telemetry};

/// Where one measurement round stands: its clients and what it has learned so far.
pub struct LagMonitor {
    kafka: KafkaSettings,
    /// (group, topics) of every consumer loop this process runs.
    groups: Vec<(String, Vec<String>)>,
    interval: Duration,
    /// Bound of each broker request.
    timeout: Duration,
    offset_readers: HashMap<String, BaseConsumer>,
    record_reader: Option<BaseConsumer>,
    /// Timestamps (ms) of records already read, by (topic, partition, offset): while a stage
    /// stalls its oldest record stays the same, and is read once.
    timestamps: HashMap<(String, i32, i64), i64>,
}

/// One (group, topic, partition)'s lag, as a round measured it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerLag {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    /// Records between the group's committed offset and the high watermark.
    pub records: i64,
    /// Age of the oldest record not yet committed (0 when there is none); `None` when that
    /// record could not be read.
    pub seconds: Option<f64>,
}

/// What one round measured: the lag of every partition it could read, and the groups it could
/// not measure, with why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LagRound {
    pub lags: Vec<ConsumerLag>,
    pub failed_groups: Vec<(String, String)>,
}

/// What a round measured for one partition of one group.
#[derive(Debug, Clone, PartialEq)]
struct PartitionLag {
    group: String,
    topic: String,
    partition: i32,
    /// The next offset the group will read.
    position: i64,
    records: i64,
}

/// A clone measures the same groups with clients of its own (how a supervisor restarts it).
impl Clone for LagMonitor {
    fn clone(&self) -> Self {
        LagMonitor {
            kafka: self.kafka.clone(),
            groups: self.groups.clone(),
            interval: self.interval,
            timeout: self.timeout,
            offset_readers: HashMap::new(),
            record_reader: None,
            timestamps: HashMap::new(),
        }
    }
}

impl LagMonitor {
    /// A monitor measuring every `interval`; nothing is watched until [`LagMonitor::watch`].
    pub fn new(kafka: KafkaSettings, interval: Duration) -> Self {
        LagMonitor {
            kafka,
            groups: Vec::new(),
            interval,
            timeout: Duration::from_secs(5),
            offset_readers: HashMap::new(),
            record_reader: None,
            timestamps: HashMap::new(),
        }
    }

    /// Also measures `group` on `topics`.
    pub fn watch(&mut self, group: impl Into<String>, topics: Vec<String>) {
        let group = group.into();
        telemetry::lag_monitor_started(&group);
        self.groups.push((group, topics));
    }

    /// Measures every `interval` until `shutdown`. Broker calls block, so each round runs on a
    /// blocking thread; a failed round is counted and logged, and the next one tries again.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), String> {
        if self.groups.is_empty() {
            return Ok(());
        }
        loop {
            self = tokio::task::spawn_blocking(move || {
                self.measure_all();
                self
            })
            .await
            .map_err(|error| format!("lag measurement panicked: {error}"))?;
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    /// One round over every group (blocking), into the gauges; a group that cannot be measured
    /// is logged and counted, and keeps its last figures.
    fn measure_all(&mut self) {
        let round = self.measure();
        for (group, error) in &round.failed_groups {
            telemetry::LagCheckFailed { group, error }.emit();
        }
        for lag in &round.lags {
            telemetry::LagMeasured {
                group: &lag.group,
                topic: &lag.topic,
                partition: lag.partition,
                records: lag.records,
                seconds: lag.seconds,
            }
            .emit();
        }
    }

    /// One round over every group (blocking): committed offsets against high watermarks, and the
    /// age of each group's oldest unconsumed record. A record that several groups wait on at
    /// different offsets of one partition is read one offset per round (see below), so a
    /// second round right after the first can complete `seconds` the first left `None`.
    pub fn measure(&mut self) -> LagRound {
        let mut measured = Vec::new();
        let mut failed_groups = Vec::new();
        let mut watermarks = HashMap::new();
        for (group, topics) in self.groups.clone() {
            match self.measure_group(&group, &topics, &mut watermarks) {
                Ok(lags) => measured.extend(lags),
                Err(error) => failed_groups.push((group, error)),
            }
        }
        let wanted: HashSet<(String, i32, i64)> = measured
            .iter()
            .filter(|lag| lag.records > 0)
            .map(|lag| (lag.topic.clone(), lag.partition, lag.position))
            .collect();
        // Forget records that are no longer anyone's oldest.
        self.timestamps.retain(|key, _| wanted.contains(key));
        // One offset per partition a round: groups that read the same partition wait at different
        // offsets, and a consumer cannot be assigned one partition twice (librdkafka refuses the
        // whole assignment, "Invalid argument"). The others are read in the rounds that follow.
        let mut oldest_missing: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for (topic, partition, offset) in wanted.iter().filter(|key| !self.timestamps.contains_key(*key)) {
            let entry = oldest_missing.entry((topic.clone(), *partition)).or_insert(*offset);
            *entry = (*entry).min(*offset);
        }
        let missing: Vec<(String, i32, i64)> =
            oldest_missing.into_iter().map(|((topic, partition), offset)| (topic, partition, offset)).collect();
        if !missing.is_empty() {
            if let Err(error) = self.read_timestamps(&missing) {
                // A fresh client next round, in case this one is left in a bad state.
                self.record_reader = None;
                tracing::warn!(%error, "cannot read the oldest unconsumed records; lag in seconds not updated");
            }
        }
        let now_ms = chrono_now_ms();
        let lags = measured
            .into_iter()
            .map(|lag| {
                let seconds = if lag.records == 0 {
                    Some(0.0)
                } else {
                    self.timestamps
                        .get(&(lag.topic.clone(), lag.partition, lag.position))
                        .map(|&ts| (now_ms.saturating_sub(ts).max(0) as f64) / 1000.0)
                };
                ConsumerLag {
                    group: lag.group,
                    topic: lag.topic,
                    partition: lag.partition,
                    records: lag.records,
                    seconds,
                }
            })
            .collect();
        LagRound { lags, failed_groups }
    }

    /// Rounds of [`LagMonitor::measure`] until every lag has its seconds or a round adds none
    /// (at most one per watched group): a one-off reading, such as `signalcraft status`.
    pub fn measure_complete(&mut self) -> LagRound {
        let mut round = self.measure();
        for _ in 1..self.groups.len() {
            let unknown = round.lags.iter().filter(|lag| lag.seconds.is_none()).count();
            if unknown == 0 {
                break;
            }
            let next = self.measure();
            let still_unknown = next.lags.iter().filter(|lag| lag.seconds.is_none()).count();
            round = next;
            if still_unknown >= unknown {
                break;
            }
        }
        round
    }

    /// Committed offsets of `group` against the high watermarks of `topics` (blocking).
    fn measure_group(
        &mut self,
        group: &str,
        topics: &[String],
        watermarks: &mut HashMap<(String, i32), (i64, i64)>,
    ) -> Result<Vec<PartitionLag>, String> {
        let timeout = self.timeout;
        let reader = match self.offset_readers.entry(group.to_string()) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let consumer = self
                    .kafka
                    .client_config("lag")
                    .set("group.id", group)
                    // Never subscribes, so never joins the group; and must never commit.
                    .set("enable.auto.commit", "false")
                    .set_log_level(RDKafkaLogLevel::Error)
                    .create()
                    .map_err(|e| format!("creating the offset reader: {e}"))?;
                entry.insert(consumer)
            }
        };
        let mut tpl = TopicPartitionList::new();
        for topic in topics {
            let metadata = reader
                .fetch_metadata(Some(topic), timeout)
                .map_err(|e| format!("reading the partitions of {topic}: {e}"))?;
            for partition in metadata.topics().iter().filter(|t| t.name() == topic).flat_map(|t| t.partitions()) {
                tpl.add_partition(topic, partition.id());
            }
        }
        if tpl.count() == 0 {
            return Ok(Vec::new());
        }
        let committed =
            reader.committed_offsets(tpl, timeout).map_err(|e| format!("reading committed offsets: {e}"))?;
        let mut lags = Vec::with_capacity(committed.count());
        for element in committed.elements() {
            let (topic, partition) = (element.topic().to_string(), element.partition());
            let (low, high) = match watermarks.get(&(topic.clone(), partition)) {
                Some(&marks) => marks,
                None => {
                    let marks = reader
                        .fetch_watermarks(&topic, partition, timeout)
                        .map_err(|e| format!("reading the watermarks of {topic}/{partition}: {e}"))?;
                    watermarks.insert((topic.clone(), partition), marks);
                    marks
                }
            };
            let position = next_offset(element.offset(), low);
            lags.push(PartitionLag {
                group: group.to_string(),
                topic,
                partition,
                position,
                records: high.saturating_sub(position).max(0),
            });
        }
        Ok(lags)
    }

    /// Reads the record at each (topic, partition, offset) of `wanted` and keeps its timestamp
    /// (blocking, up to the monitor's timeout in all).
    fn read_timestamps(&mut self, wanted: &[(String, i32, i64)]) -> Result<(), String> {
        if self.record_reader.is_none() {
            let consumer: BaseConsumer = self
                .kafka
                .client_config("lag-reader")
                // assign() needs no group; an id is set only because some clients insist on
                // one, and nothing is ever committed under it.
                .set("group.id", "signalcraft-lag-reader")
                .set("enable.auto.commit", "false")
                .set("enable.auto.offset.store", "false")
                .set("enable.partition.eof", "false")
                .set_log_level(RDKafkaLogLevel::Error)
                .create()
                .map_err(|e| format!("creating the record reader: {e}"))?;
            self.record_reader = Some(consumer);
        }
        let Some(reader) = &self.record_reader else { return Ok(()) };
        let mut tpl = TopicPartitionList::new();
        let mut pending: HashMap<(String, i32), i64> = HashMap::new();
        for (topic, partition, offset) in wanted {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset)).map_err(|e| e.to_string())?;
            pending.insert((topic.clone(), *partition), *offset);
        }
        reader.assign(&tpl).map_err(|e| format!("assigning partitions to read: {e}"))?;
        let deadline = Instant::now() + self.timeout;
        while !pending.is_empty() && Instant::now() < deadline {
            match reader.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    let key = (message.topic().to_string(), message.partition());
                    if pending.get(&key).is_some_and(|&offset| message.offset() >= offset) {
                        if let (Some(offset), Some(ts)) = (pending.remove(&key), message.timestamp().to_millis()) {
                            self.timestamps.insert((key.0, key.1, offset), ts);
                        }
                    }
                }
                Some(Err(error)) => tracing::debug!(%error, "reading an unconsumed record"),
                None => {}
            }
        }
        let _ = reader.unassign();
        Ok(())
    }
}

/// The next offset a group reads: its committed offset, or the log start when it has none
/// (our consumers reset to earliest) or the committed one was deleted by retention.
fn next_offset(committed: Offset, low: i64) -> i64 {
    match committed {
        Offset::Offset(offset) => offset.max(low),
        _ => low,
    }
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use rdkafka::{
        consumer::CommitMode,
        producer::{BaseProducer, BaseRecord, Producer},
    };

    use super::*;
    use crate::EmbeddedBroker;

    #[test]
    fn two_groups_waiting_on_one_partition_each_get_their_oldest_record_read() {
        let broker = EmbeddedBroker::start_with_topics(1, &["lag.test"]).expect("broker");
        let kafka = KafkaSettings::new(broker.bootstrap_servers().to_string());
        let producer: BaseProducer = kafka.client_config("test").create().expect("producer");
        for i in 0..10i64 {
            let record = BaseRecord::to("lag.test").payload("x").key("k").timestamp(1_700_000_000_000 + i * 1_000);
            producer.send(record).map_err(|(error, _)| error).expect("queued");
        }
        producer.flush(Duration::from_secs(10)).expect("flushed");
        // Two groups, each stalled at its own record of the same partition.
        for (group, next) in [("slow", 2), ("slower", 5)] {
            let consumer: BaseConsumer = kafka.client_config("test").set("group.id", group).create().expect("consumer");
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset("lag.test", 0, Offset::Offset(next)).expect("offset");
            consumer.commit(&tpl, CommitMode::Sync).expect("committed");
        }
        let mut monitor = LagMonitor::new(kafka, Duration::from_secs(1));
        monitor.watch("slow", vec!["lag.test".into()]);
        monitor.watch("slower", vec!["lag.test".into()]);
        for _ in 0..2 {
            monitor.measure_all();
        }
        assert_eq!(monitor.timestamps.get(&("lag.test".into(), 0, 2)), Some(&1_700_000_002_000));
        assert_eq!(monitor.timestamps.get(&("lag.test".into(), 0, 5)), Some(&1_700_000_005_000));
    }

    #[test]
    fn a_group_without_a_commit_is_behind_by_the_whole_log() {
        assert_eq!(next_offset(Offset::Invalid, 7), 7);
        assert_eq!(next_offset(Offset::Offset(12), 7), 12);
        assert_eq!(next_offset(Offset::Offset(3), 7), 7, "committed offset deleted by retention");
    }
}
