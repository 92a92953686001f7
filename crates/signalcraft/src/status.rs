//! `signalcraft status`: how the pipeline stands, read from the cluster and the database it
//! runs on, for a person at a terminal or (`--json`) a script. Consumer lag per group, topic and
//! partition in records and seconds (one round of the lag monitor, [`LagMonitor::measure`]); the
//! last delivered poll of every ingest source (`source_status`); the dead-letter depth (records
//! on the `dlq` topic: dead letters exist only there); open alerts per tenant and series, and
//! the newest few (`alert_states`).
//!
//! Each part is read on its own: a broker that does not answer costs the lag and dead-letter
//! parts (null in JSON) but not the database's, and the reverse. Whatever could not be read is
//! listed under `unreachable`, and the command then exits non-zero naming it.

use std::{fmt, time::Duration};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use signalcraft_kafka::{KafkaSettings, LagMonitor};
use signalcraft_model::Topic;
use signalcraft_store::{open_alerts, source_status, PrivateServer};

use crate::{app, config::Config, infrastructure, progress, terminal::printable};

/// How long the broker may take to answer metadata before the Kafka parts are given up.
const BROKER_WAIT: Duration = Duration::from_secs(5);
/// How long connecting to the database may take.
const DATABASE_WAIT: Duration = Duration::from_secs(15);
/// How many of the newest open alerts are listed.
const NEWEST_ALERTS: i64 = 10;

/// Everything `status` read. Field names are the JSON document's (README, "signalcraft status").
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub taken_at: DateTime<Utc>,
    /// `None` when the cluster could not be read.
    pub consumer_lag: Option<Vec<LagRow>>,
    /// `None` when the database could not be read.
    pub sources: Option<Vec<SourceRow>>,
    /// `None` when the cluster could not be read.
    pub dead_letters: Option<DeadLetters>,
    /// `None` when the database could not be read.
    pub open_alerts: Option<OpenAlerts>,
    /// What could not be read, and why.
    pub unreachable: Vec<Unreachable>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LagRow {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub records: i64,
    /// Age of the oldest record the group has not committed; `None` when it could not be read.
    pub seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceRow {
    pub source: String,
    pub last_success_at: DateTime<Utc>,
    pub age_seconds: f64,
    /// Records the last successful poll delivered.
    pub records: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetters {
    pub topic: String,
    /// Records on the topic (end offset less start offset, summed over its partitions).
    pub records: i64,
    pub partitions: Vec<DlqPartition>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DlqPartition {
    pub partition: i32,
    pub records: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpenAlerts {
    pub total: i64,
    pub by_series: Vec<OpenAlertCount>,
    pub newest: Vec<OpenAlert>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpenAlertCount {
    pub tenant_id: Option<String>,
    pub series_id: String,
    pub open: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpenAlert {
    pub alert_id: String,
    pub tenant_id: Option<String>,
    pub series_id: String,
    pub severity: String,
    pub opened_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Unreachable {
    /// `kafka`, `database`, or `consumer_lag:<group>` for one group the cluster would not report.
    pub part: String,
    pub error: String,
}

impl StatusReport {
    /// The error `status` exits with when something could not be read: every part named.
    pub fn failure(&self) -> Option<String> {
        if self.unreachable.is_empty() {
            return None;
        }
        let parts: Vec<String> = self.unreachable.iter().map(|u| format!("{} ({})", u.part, u.error)).collect();
        Some(format!("could not read: {}", parts.join("; ")))
    }
}

/// Reads every part, each on its own.
pub async fn gather(config: &Config) -> StatusReport {
    let mut report = StatusReport {
        taken_at: Utc::now(),
        consumer_lag: None,
        sources: None,
        dead_letters: None,
        open_alerts: None,
        unreachable: Vec::new(),
    };
    match read_kafka(config).await {
        Ok((lag, dead_letters, failed_groups)) => {
            report.consumer_lag = Some(lag);
            report.dead_letters = Some(dead_letters);
            for (group, error) in failed_groups {
                report.unreachable.push(Unreachable { part: format!("consumer_lag:{group}"), error });
            }
        }
        Err(error) => report.unreachable.push(Unreachable { part: "kafka".into(), error: format!("{error:#}") }),
    }
    match read_database(config, report.taken_at).await {
        Ok((sources, alerts)) => {
            report.sources = Some(sources);
            report.open_alerts = Some(alerts);
        }
        Err(error) => report.unreachable.push(Unreachable { part: "database".into(), error: format!("{error:#}") }),
    }
    report
}

type KafkaParts = (Vec<LagRow>, DeadLetters, Vec<(String, String)>);

/// Lag of every group `run` would start with `config`, and the dead-letter topic's depth.
async fn read_kafka(config: &Config) -> anyhow::Result<KafkaParts> {
    // An embedded broker of our own would hold nothing of the pipeline's.
    let brokers = config.kafka.brokers.clone().context(
        "kafka.brokers is not set (SIGNALCRAFT_KAFKA__BROKERS): status reads the cluster a pipeline runs on",
    )?;
    let mut kafka = KafkaSettings::new(brokers);
    kafka.properties = config.kafka.properties.clone();
    let groups = app::consumer_groups(config);
    tokio::task::spawn_blocking(move || -> anyhow::Result<KafkaParts> {
        kafka.check_brokers(BROKER_WAIT).map_err(anyhow::Error::msg).with_context(|| {
            format!("no broker answered at kafka.brokers = {:?} within {} s", kafka.brokers, BROKER_WAIT.as_secs())
        })?;
        let consumer = progress::client(&kafka, None).context("creating a Kafka client")?;
        let marks = progress::watermarks(&consumer, Topic::Dlq.name()).context("reading the dlq topic's offsets")?;
        let partitions: Vec<DlqPartition> = marks
            .iter()
            .map(|&(partition, low, high)| DlqPartition { partition, records: high.saturating_sub(low).max(0) })
            .collect();
        let dead_letters = DeadLetters {
            topic: Topic::Dlq.name().to_string(),
            records: partitions.iter().map(|p| p.records).fold(0i64, i64::saturating_add),
            partitions,
        };
        let mut monitor = LagMonitor::new(kafka, Duration::ZERO);
        for (group, topics) in groups {
            monitor.watch(group, topics);
        }
        let round = monitor.measure_complete();
        let lag = round
            .lags
            .into_iter()
            .map(|lag| LagRow {
                group: lag.group,
                topic: lag.topic,
                partition: lag.partition,
                records: lag.records,
                seconds: lag.seconds,
            })
            .collect();
        Ok((lag, dead_letters, round.failed_groups))
    })
    .await
    .context("reading the cluster")?
}

/// Every source's last success and the open alerts.
async fn read_database(config: &Config, now: DateTime<Utc>) -> anyhow::Result<(Vec<SourceRow>, OpenAlerts)> {
    let (pool, _private) =
        tokio::time::timeout(DATABASE_WAIT, infrastructure::connect_database_with(config, PrivateServer::Share))
            .await
            .with_context(|| format!("no answer within {} s", DATABASE_WAIT.as_secs()))??;
    let read = async {
        let sources = source_status::last_successes(&pool)
            .await
            .context("reading source_status")?
            .into_iter()
            .map(|s| SourceRow {
                age_seconds: (now - s.last_success_at).num_milliseconds() as f64 / 1000.0,
                source: s.source,
                last_success_at: s.last_success_at,
                records: s.last_records,
            })
            .collect();
        let by_series: Vec<OpenAlertCount> = open_alerts::open_alert_counts(&pool)
            .await
            .context("counting open alerts")?
            .into_iter()
            .map(|c| OpenAlertCount { tenant_id: c.tenant_id, series_id: c.series_id, open: c.open })
            .collect();
        let newest = open_alerts::newest_open_alerts(&pool, NEWEST_ALERTS)
            .await
            .context("reading the newest open alerts")?
            .into_iter()
            .map(|a| OpenAlert {
                alert_id: a.alert_id,
                tenant_id: a.tenant_id,
                series_id: a.series_id,
                severity: a.severity,
                opened_at: a.opened_at,
            })
            .collect();
        let total = by_series.iter().map(|c| c.open).fold(0i64, i64::saturating_add);
        anyhow::Ok((sources, OpenAlerts { total, by_series, newest }))
    }
    .await;
    pool.close().await;
    read
}

/// A duration in seconds as a person reads it: `42s`, `3m 20s`, `5h 2m`, `3d 4h`.
fn age(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "?".into();
    }
    let total = seconds.max(0.0).round() as u64;
    let (days, hours, minutes, secs) = (total / 86_400, total / 3600 % 24, total / 60 % 60, total % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, _) => format!("{minutes}m {secs}s"),
        (0, _, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

fn tenant(tenant_id: &Option<String>) -> String {
    tenant_id.as_deref().map(|t| printable(t).into_owned()).unwrap_or_else(|| "(public)".into())
}

fn when(at: &Option<DateTime<Utc>>) -> String {
    at.map(|at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_else(|| "-".into())
}

/// The report as terminal text: one section per part, anything read from outside escaped.
impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "signalcraft status at {}", self.taken_at.format("%Y-%m-%d %H:%M:%S UTC"))?;
        writeln!(f)?;
        match &self.consumer_lag {
            Some(rows) => {
                let records = rows.iter().map(|r| r.records).fold(0i64, i64::saturating_add);
                writeln!(f, "consumer lag: {records} records in all")?;
                writeln!(f, "  {:<40} {:<22} {:>9} {:>10} {:>10}", "group", "topic", "partition", "records", "age")?;
                for row in rows {
                    let seconds = row.seconds.map(age).unwrap_or_else(|| "?".into());
                    writeln!(
                        f,
                        "  {:<40} {:<22} {:>9} {:>10} {:>10}",
                        printable(&row.group),
                        printable(&row.topic),
                        row.partition,
                        row.records,
                        seconds
                    )?;
                }
            }
            None => writeln!(f, "consumer lag: not read (kafka unreachable)")?,
        }
        writeln!(f)?;
        match &self.sources {
            Some(rows) if rows.is_empty() => writeln!(f, "sources: no poll delivered yet")?,
            Some(rows) => {
                writeln!(f, "sources (last delivered poll)")?;
                writeln!(f, "  {:<32} {:<24} {:>10} {:>8}", "source", "last success", "age", "records")?;
                for row in rows {
                    writeln!(
                        f,
                        "  {:<32} {:<24} {:>10} {:>8}",
                        printable(&row.source),
                        when(&Some(row.last_success_at)),
                        age(row.age_seconds),
                        row.records
                    )?;
                }
            }
            None => writeln!(f, "sources: not read (database unreachable)")?,
        }
        writeln!(f)?;
        match &self.dead_letters {
            Some(dlq) => {
                writeln!(f, "dead letters: {} records on topic {}", dlq.records, printable(&dlq.topic))?;
                for partition in dlq.partitions.iter().filter(|p| p.records > 0) {
                    writeln!(f, "  partition {}: {}", partition.partition, partition.records)?;
                }
            }
            None => writeln!(f, "dead letters: not read (kafka unreachable)")?,
        }
        writeln!(f)?;
        match &self.open_alerts {
            Some(alerts) => {
                writeln!(f, "open alerts: {}", alerts.total)?;
                if !alerts.by_series.is_empty() {
                    writeln!(f, "  {:<24} {:<48} {:>6}", "tenant", "series", "open")?;
                    for count in &alerts.by_series {
                        writeln!(
                            f,
                            "  {:<24} {:<48} {:>6}",
                            tenant(&count.tenant_id),
                            printable(&count.series_id),
                            count.open
                        )?;
                    }
                    writeln!(f, "  newest open:")?;
                    writeln!(f, "  {:<24} {:<24} {:<48} {:<8} alert", "opened", "tenant", "series", "severity")?;
                    for alert in &alerts.newest {
                        writeln!(
                            f,
                            "  {:<24} {:<24} {:<48} {:<8} {}",
                            when(&alert.opened_at),
                            tenant(&alert.tenant_id),
                            printable(&alert.series_id),
                            printable(&alert.severity),
                            printable(&alert.alert_id)
                        )?;
                    }
                }
            }
            None => writeln!(f, "open alerts: not read (database unreachable)")?,
        }
        for unreachable in &self.unreachable {
            writeln!(f)?;
            write!(f, "unreachable: {}: {}", printable(&unreachable.part), printable(&unreachable.error))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_a_person_would_say_them() {
        assert_eq!(age(0.4), "0s");
        assert_eq!(age(42.0), "42s");
        assert_eq!(age(200.0), "3m 20s");
        assert_eq!(age(3600.0 * 5.0 + 130.0), "5h 2m");
        assert_eq!(age(86_400.0 * 3.0 + 3600.0 * 4.0 + 59.0), "3d 4h");
        assert_eq!(age(-5.0), "0s", "a clock ahead of ours is not a negative age");
        assert_eq!(age(f64::NAN), "?");
    }

    #[test]
    fn text_from_outside_is_escaped_and_missing_parts_say_why() {
        let report = StatusReport {
            taken_at: DateTime::from_timestamp(1_700_000_000, 0).expect("instant"),
            consumer_lag: None,
            sources: Some(vec![SourceRow {
                source: "evil\u{1b}[2J".into(),
                last_success_at: DateTime::from_timestamp(1_699_999_000, 0).expect("instant"),
                age_seconds: 1000.0,
                records: 3,
            }]),
            dead_letters: None,
            open_alerts: Some(OpenAlerts { total: 0, by_series: vec![], newest: vec![] }),
            unreachable: vec![Unreachable { part: "kafka".into(), error: "down".into() }],
        };
        let text = report.to_string();
        assert!(text.contains("evil\\u{1b}[2J"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("consumer lag: not read (kafka unreachable)"), "{text}");
        assert!(text.contains("unreachable: kafka: down"), "{text}");
        assert_eq!(report.failure().as_deref(), Some("could not read: kafka (down)"));
    }
}
