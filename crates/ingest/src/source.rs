//! The [`Source`] trait every upstream implements, and [`run_source`], the one loop that drives
//! any source: poll → produce (retried until acknowledged) → wait for the next cycle, with
//! shutdown checked at every wait. A failed poll is logged and counted and the loop goes on.

use std::time::Duration;

use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::{DateTime, Utc};
use signalcraft_kafka::{ProduceError, RecordProducer};
use signalcraft_model::Record;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use signalcraft_http::FetchError;

use crate::telemetry;

/// One upstream: knows how to fetch its current data as records. Polling must have no side
/// effects, so an interrupted poll can simply be dropped and done again.
#[async_trait]
pub trait Source: Send + Sync {
    /// The record this source produces; its topic is where the records go.
    type Output: Record;

    /// Names the source in logs and in the `source` metric label.
    fn name(&self) -> &str;

    /// Fetches the upstream's current data. `now` becomes the records' fetch time, so tests and
    /// replays can pin it.
    async fn poll(&self, now: DateTime<Utc>) -> Result<Vec<Self::Output>, FetchError>;

    /// Called once the records of the last successful poll are acknowledged by the broker: the
    /// moment to make progress state durable (high-water marks), never earlier.
    async fn delivered(&self) {}
}

/// Where a source's successes are recorded beyond this process's metrics (`source_status`
/// in PostgreSQL), for `signalcraft status`. Called after each poll whose records were all
/// acknowledged; a failure is logged and never stops the source.
#[async_trait]
pub trait PollLog: Send + Sync {
    async fn delivered(&self, source: &str, at: DateTime<Utc>, records: usize) -> Result<(), String>;
}

/// How long a [`PollLog`] write may take before the source moves on without it.
const POLL_LOG_TIMEOUT: Duration = Duration::from_secs(5);

/// The outcome of a poll made of several parts (queries, batches, bases, projects): the
/// records found, unless nothing was found and some part failed — then the last failure, for
/// the caller to log. Every other failure is logged here, so none goes unseen, and one failing
/// part never costs the others their records.
#[allow(clippy::result_large_err)] // the FetchError every `Source::poll` returns, passed on as is
pub fn partial_poll<T>(source: &str, records: Vec<T>, mut failures: Vec<FetchError>) -> Result<Vec<T>, FetchError> {
    let returned = if records.is_empty() { failures.pop() } else { None };
    for failure in &failures {
        telemetry::PollFailed { source, error: failure }.emit();
    }
    match returned {
        Some(failure) => Err(failure),
        None => Ok(records),
    }
}

/// What a [`run_source`] loop did before it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Cycles completed (a poll, and its records delivered if it succeeded).
    pub cycles: u64,
    /// Records acknowledged by the broker.
    pub records: u64,
    /// Cycles whose poll failed.
    pub failed_polls: u64,
}

/// Why a [`run_source`] loop stopped without finishing its work.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Shutdown came while polled records were still waiting for the broker. They are not lost
    /// upstream: the next run polls them again, and natural keys make the duplicate harmless.
    #[error(
        "{source_name}: shut down before {records} polled records were acknowledged; \
         last error: {error}"
    )]
    Undelivered { source_name: String, records: usize, error: ProduceError, summary: RunSummary },
}

/// How produce failures are retried: forever (until shutdown), growing from `min` to `max`.
#[derive(Debug, Clone, Copy)]
struct ProduceRetry {
    min: Duration,
    max: Duration,
}

const PRODUCE_RETRY: ProduceRetry = ProduceRetry { min: Duration::from_secs(1), max: Duration::from_secs(60) };

/// Drives `source` until `shutdown` is cancelled or, with `cycles: Some(n)`, after n cycles
/// (replay runs that exit when done). Each cycle polls, sends every polled record and waits
/// for the acks (retrying the whole batch until it lands — natural keys make that safe), then
/// sleeps until `interval` after the cycle started. A failed poll is logged and counted, and
/// the next cycle comes at its usual time.
///
/// Shutdown stops a poll in progress at once (it has no side effects) and stops retrying a
/// failed produce; a send already in flight is allowed to finish.
pub async fn run_source<S: Source>(
    source: S,
    producer: RecordProducer,
    interval: Duration,
    cycles: Option<u64>,
    shutdown: CancellationToken,
    log: Option<&dyn PollLog>,
) -> Result<RunSummary, RunError> {
    run_with(&source, &producer, interval, cycles, &shutdown, PRODUCE_RETRY, log).await
}

/// Where polled records go: the Kafka producer, or a fake in tests.
#[async_trait]
trait RecordSink<R: Record>: Send + Sync {
    async fn send_all(&self, records: &[R]) -> Result<usize, ProduceError>;
}

#[async_trait]
impl<R: Record> RecordSink<R> for RecordProducer {
    async fn send_all(&self, records: &[R]) -> Result<usize, ProduceError> {
        RecordProducer::send_all(self, records).await
    }
}

async fn run_with<S, K>(
    source: &S,
    sink: &K,
    interval: Duration,
    cycles: Option<u64>,
    shutdown: &CancellationToken,
    retry: ProduceRetry,
    log: Option<&dyn PollLog>,
) -> Result<RunSummary, RunError>
where
    S: Source,
    K: RecordSink<S::Output>,
{
    let name = source.name();
    let mut summary = RunSummary::default();
    tracing::info!(source = name, interval_secs = interval.as_secs_f64(), cycles, "source started");
    loop {
        let started = Instant::now();
        let polled = tokio::select! {
            // Biased: once shutdown is requested, no new poll starts.
            biased;
            () = shutdown.cancelled() => break,
            polled = source.poll(Utc::now()) => polled,
        };
        match polled {
            Ok(records) => {
                // An error here means shutdown cut the produce retries short; the caller logs it.
                deliver(name, sink, &records, shutdown, retry, summary).await?;
                source.delivered().await;
                summary.records += records.len() as u64;
                let at = Utc::now();
                telemetry::PollDelivered { source: name, records: records.len(), at }.emit();
                if let Some(log) = log {
                    let written = tokio::time::timeout(POLL_LOG_TIMEOUT, log.delivered(name, at, records.len())).await;
                    let error = match written {
                        Ok(Ok(())) => None,
                        Ok(Err(error)) => Some(error),
                        Err(_) => Some(format!("no answer within {} s", POLL_LOG_TIMEOUT.as_secs())),
                    };
                    if let Some(error) = error {
                        tracing::warn!(source = name, %error, "cannot record the source's last success");
                    }
                }
            }
            Err(error) => {
                summary.failed_polls += 1;
                telemetry::PollFailed { source: name, error: &error }.emit();
            }
        }
        summary.cycles += 1;
        if cycles.is_some_and(|limit| summary.cycles >= limit) {
            break;
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep_until(started + interval) => {}
        }
    }
    tracing::info!(source = name, cycles = summary.cycles, records = summary.records, "source stopped");
    Ok(summary)
}

/// Sends `records` until the broker acknowledges all of them, or shutdown interrupts the retries.
async fn deliver<R: Record, K: RecordSink<R>>(
    name: &str,
    sink: &K,
    records: &[R],
    shutdown: &CancellationToken,
    retry: ProduceRetry,
    summary: RunSummary,
) -> Result<(), RunError> {
    if records.is_empty() {
        return Ok(());
    }
    let mut backoff = ExponentialBuilder::default()
        .with_min_delay(retry.min)
        .with_max_delay(retry.max)
        .without_max_times()
        .with_jitter()
        .build();
    loop {
        // Not raced against shutdown: a send in flight finishes (bounded by the producer's
        // message timeout), so what was handed to the broker is accounted for.
        let error = match sink.send_all(records).await {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        // The backoff has no attempt limit, so it always yields; `max` is only a fallback.
        let wait = backoff.next().unwrap_or(retry.max);
        telemetry::ProduceFailed { source: name, records: records.len(), error: &error, retry_in: wait }.emit();
        let undelivered =
            |error| RunError::Undelivered { source_name: name.to_string(), records: records.len(), error, summary };
        if shutdown.is_cancelled() {
            return Err(undelivered(error));
        }
        tokio::select! {
            () = shutdown.cancelled() => return Err(undelivered(error)),
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex,
    };

    use chrono::NaiveDate;
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};
    use signalcraft_model::FxRate;

    use super::*;
    use signalcraft_http::{FetchPolicy, HttpFetcher};

    const FAST_RETRY: ProduceRetry = ProduceRetry { min: Duration::from_millis(5), max: Duration::from_millis(20) };

    /// Polls follow a script: `true` yields one record, `false` fails.
    struct ScriptedSource {
        script: Mutex<Vec<bool>>,
        polls: AtomicUsize,
        fetcher: HttpFetcher,
    }

    impl ScriptedSource {
        fn new(script: &[bool]) -> Self {
            let policy = FetchPolicy { max_attempts: 1, min_interval: Duration::ZERO, ..FetchPolicy::default() };
            ScriptedSource {
                script: Mutex::new(script.iter().rev().copied().collect()),
                polls: AtomicUsize::new(0),
                fetcher: HttpFetcher::new("scripted", policy)
                    .expect("client builds")
                    .with_events(&telemetry::SourceRequests),
            }
        }
    }

    #[async_trait]
    impl Source for ScriptedSource {
        type Output = FxRate;

        fn name(&self) -> &str {
            "scripted"
        }

        async fn poll(&self, now: DateTime<Utc>) -> Result<Vec<FxRate>, FetchError> {
            let n = self.polls.fetch_add(1, Ordering::SeqCst);
            let succeed = self.script.lock().expect("not poisoned").pop().unwrap_or(true);
            if succeed {
                Ok(vec![FxRate {
                    base: "USD".into(),
                    quote: "EUR".into(),
                    rate_date: NaiveDate::from_ymd_opt(2025, 4, 11).expect("valid date"),
                    rate: 0.9 + n as f64 / 100.0,
                    provider: "scripted".into(),
                    published_at: None,
                    fetched_at: now,
                }])
            } else {
                // A real FetchError from the fetcher (an unusable URL fails before any I/O),
                // rather than a hand-made one: FetchError has no public constructor.
                self.fetcher.get_json::<serde_json::Value>("not a url").await.map(|_| Vec::new())
            }
        }
    }

    /// Fails the first `failures` sends, then records what it is given.
    #[derive(Default)]
    struct FlakySink {
        failures: AtomicUsize,
        sends: AtomicUsize,
        delivered: Mutex<Vec<FxRate>>,
    }

    #[async_trait]
    impl RecordSink<FxRate> for FlakySink {
        async fn send_all(&self, records: &[FxRate]) -> Result<usize, ProduceError> {
            self.sends.fetch_add(1, Ordering::SeqCst);
            let left = self.failures.load(Ordering::SeqCst);
            if left > 0 {
                self.failures.store(left - 1, Ordering::SeqCst);
                let source = KafkaError::MessageProduction(RDKafkaErrorCode::BrokerNotAvailable);
                return Err(ProduceError::Delivery { topic: "raw.fx".into(), source });
            }
            self.delivered.lock().expect("not poisoned").extend_from_slice(records);
            Ok(records.len())
        }
    }

    #[tokio::test]
    async fn a_failed_poll_is_survived_and_produce_failures_are_retried() {
        let source = ScriptedSource::new(&[true, false, true]);
        let sink = FlakySink { failures: AtomicUsize::new(2), ..FlakySink::default() };
        let shutdown = CancellationToken::new();
        let summary = run_with(&source, &sink, Duration::from_millis(10), Some(3), &shutdown, FAST_RETRY, None)
            .await
            .expect("runs to completion");
        assert_eq!(summary, RunSummary { cycles: 3, records: 2, failed_polls: 1 });
        assert_eq!(source.polls.load(Ordering::SeqCst), 3);
        // Two failed sends of the first batch, then one good send per successful poll.
        assert_eq!(sink.sends.load(Ordering::SeqCst), 4);
        assert_eq!(sink.delivered.lock().expect("not poisoned").len(), 2);
    }

    #[tokio::test]
    async fn shutdown_interrupts_the_wait_between_cycles() {
        let source = ScriptedSource::new(&[true]);
        let sink = FlakySink::default();
        let shutdown = CancellationToken::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            trigger.cancel();
        });
        let started = std::time::Instant::now();
        let summary = run_with(&source, &sink, Duration::from_secs(3600), None, &shutdown, FAST_RETRY, None)
            .await
            .expect("stops cleanly");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(summary.cycles, 1);
        assert_eq!(summary.records, 1);
    }

    #[tokio::test]
    async fn shutdown_during_produce_retries_reports_the_undelivered_records() {
        let source = ScriptedSource::new(&[true]);
        let sink = FlakySink { failures: AtomicUsize::new(usize::MAX), ..FlakySink::default() };
        let shutdown = CancellationToken::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            trigger.cancel();
        });
        let error = run_with(&source, &sink, Duration::from_secs(3600), None, &shutdown, FAST_RETRY, None)
            .await
            .expect_err("records were never acknowledged");
        assert!(matches!(error, RunError::Undelivered { records: 1, .. }), "{error}");
        assert!(error.to_string().contains("scripted"), "{error}");
        assert!(sink.sends.load(Ordering::SeqCst) > 1);
    }

    #[tokio::test]
    async fn no_poll_starts_after_shutdown() {
        let source = ScriptedSource::new(&[true]);
        let sink = FlakySink::default();
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let summary = run_with(&source, &sink, Duration::from_millis(10), Some(5), &shutdown, FAST_RETRY, None)
            .await
            .expect("stops");
        assert_eq!(summary, RunSummary::default());
        assert_eq!(source.polls.load(Ordering::SeqCst), 0);
    }
}
