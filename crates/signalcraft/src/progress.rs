//! How far the pipeline got: "drained" (every consumer group has committed up to the end of
//! its topics) for replay runs that exit when done, and the closing summary of records per
//! topic, rows per table, dead letters and failed polls per source.

use std::{fmt, time::Duration};

use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    error::KafkaError,
    Offset, TopicPartitionList,
};
use signalcraft_kafka::KafkaSettings;
use signalcraft_model::Topic;
use sqlx::PgPool;

const TIMEOUT: Duration = Duration::from_secs(10);

/// The consumer groups whose progress decides "drained".
#[derive(Debug, Clone)]
pub struct Groups {
    /// (consumer group, input topic) of every processor.
    pub processors: Vec<(String, String)>,
    /// The sink's consumer group and its topics.
    pub sink: Option<(String, Vec<String>)>,
}

/// What one replay run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    /// Records on each topic.
    pub topics: Vec<(String, i64)>,
    /// Rows in each table.
    pub tables: Vec<(String, i64)>,
    /// Records on the dead-letter topic.
    pub dead_letters: i64,
    /// Failed polls of each source that ran, by source name (0 included: a source that is
    /// listed was polled).
    pub failed_polls: Vec<(String, u64)>,
}

impl RunSummary {
    pub fn records(&self, topic: Topic) -> i64 {
        self.topics.iter().find(|(t, _)| t == topic.name()).map(|(_, n)| *n).unwrap_or(0)
    }
    pub fn rows(&self, table: &str) -> i64 {
        self.tables.iter().find(|(t, _)| t == table).map(|(_, n)| *n).unwrap_or(0)
    }
    /// Failed polls of `source`; `None` when no source of that name ran.
    pub fn failed_polls(&self, source: &str) -> Option<u64> {
        self.failed_polls.iter().find(|(s, _)| s == source).map(|(_, n)| *n)
    }
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "signalcraft run summary")?;
        writeln!(f, "  records per topic:")?;
        for (topic, count) in &self.topics {
            writeln!(f, "    {topic:<24} {count:>8}")?;
        }
        writeln!(f, "  rows per table:")?;
        for (table, count) in &self.tables {
            writeln!(f, "    {table:<24} {count:>8}")?;
        }
        writeln!(f, "  failed polls per source:")?;
        for (source, count) in &self.failed_polls {
            writeln!(f, "    {source:<24} {count:>8}")?;
        }
        write!(f, "  dead letters (dlq):         {:>8}", self.dead_letters)
    }
}

pub(crate) fn client(kafka: &KafkaSettings, group: Option<&str>) -> Result<BaseConsumer, KafkaError> {
    let mut config = kafka.client_config("progress");
    if let Some(group) = group {
        config.set("group.id", group).set("enable.auto.commit", "false");
    }
    config.create()
}

/// (low, high) watermarks of every partition of `topic`.
pub(crate) fn watermarks(consumer: &BaseConsumer, topic: &str) -> Result<Vec<(i32, i64, i64)>, KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
    let mut marks = Vec::new();
    for topic_metadata in metadata.topics() {
        for partition in topic_metadata.partitions() {
            let (low, high) = consumer.fetch_watermarks(topic, partition.id(), TIMEOUT)?;
            marks.push((partition.id(), low, high));
        }
    }
    Ok(marks)
}

/// Has `group` committed past every record of `topic`?
fn caught_up(kafka: &KafkaSettings, group: &str, topic: &str) -> Result<bool, KafkaError> {
    let consumer = client(kafka, Some(group))?;
    let marks = watermarks(&consumer, topic)?;
    let mut tpl = TopicPartitionList::new();
    for (partition, _, _) in &marks {
        tpl.add_partition(topic, *partition);
    }
    let committed = consumer.committed_offsets(tpl, TIMEOUT)?;
    Ok(marks.iter().all(|(partition, low, high)| {
        let position = match committed.find_partition(topic, *partition).map(|e| e.offset()) {
            Some(Offset::Offset(offset)) => offset,
            _ => *low,
        };
        high == low || position >= *high
    }))
}

fn drained(kafka: &KafkaSettings, groups: &Groups) -> Result<bool, KafkaError> {
    // Upstream stages first: once every processor has caught up, their outputs can grow no more.
    for (group, topic) in &groups.processors {
        if !caught_up(kafka, group, topic)? {
            return Ok(false);
        }
    }
    if let Some((group, topics)) = &groups.sink {
        for topic in topics {
            if !caught_up(kafka, group, topic)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Polls until every group has committed up to the end of its topics.
pub async fn wait_until_drained(kafka: &KafkaSettings, groups: &Groups) -> Result<(), KafkaError> {
    loop {
        let (kafka_owned, groups_owned) = (kafka.clone(), groups.clone());
        let done = tokio::task::spawn_blocking(move || drained(&kafka_owned, &groups_owned))
            .await
            .map_err(|_| KafkaError::Canceled)??;
        if done {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Counts records per topic, rows per table and dead letters; `failed_polls` are the sources'
/// own counts (see [`signalcraft_ingest::RunSummary`]), passed through.
pub async fn summarize(
    kafka: &KafkaSettings,
    pool: &PgPool,
    failed_polls: Vec<(String, u64)>,
) -> anyhow::Result<RunSummary> {
    let kafka_owned = kafka.clone();
    let topics = tokio::task::spawn_blocking(move || -> Result<Vec<(String, i64)>, KafkaError> {
        let consumer = client(&kafka_owned, None)?;
        Topic::ALL
            .iter()
            .map(|topic| {
                let count = watermarks(&consumer, topic.name())?.iter().map(|(_, low, high)| high - low).sum();
                Ok((topic.name().to_string(), count))
            })
            .collect()
    })
    .await??;
    let tables = signalcraft_store::row_counts::count_rows(pool).await?;
    let dead_letters = topics.iter().find(|(t, _)| t == Topic::Dlq.name()).map(|(_, n)| *n).unwrap_or(0);
    Ok(RunSummary { topics, tables, dead_letters, failed_polls })
}
