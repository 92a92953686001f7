//! `signalcraft backfill weather`: walks the Open-Meteo archive over a date range for the
//! watched locations (all, or those named) and produces the records onto raw.weather. One chunk
//! is one paced request (`archive_chunk_days` days × up to `max_locations_per_request`
//! locations); its records are acknowledged by the broker before the next chunk is fetched.
//!
//! The broker and configuration are found as `signalcraft run` finds them: `--config`, then
//! `SIGNALCRAFT_*`; `kafka.brokers`, or an embedded broker when none is set (which, for a
//! backfill, only suits trying it out: its records go when the process ends). `--replay DIR`
//! serves the recorded archive answer instead of the internet.
//!
//! Progress: a bar on stderr when stderr is a terminal ([`indicatif`]), plain lines otherwise
//! (at most one per [`LINE_EVERY`], plus the first and the last chunk), so logs of a job runner
//! stay readable. Log lines written while the bar is drawn go above it ([`stderr_around_progress`]).
//!
//! A chunk that still fails after its fetcher's bounded retries ends the backfill with an error
//! naming the day to resume from; the chunks before it are delivered. Natural keys make a
//! repeated day harmless.

use std::{
    fmt,
    io::{self, IsTerminal, Write},
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use chrono::{NaiveDate, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use signalcraft_ingest::{
    sources::openmeteo::weather_locations, ArchiveBackfill, BackfillProgress, ReplayServer, Source, WatchedBusiness,
};
use signalcraft_kafka::RecordProducer;
use signalcraft_store::{PgWatchList, PrivatePostgres};
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;

use crate::{
    config::Config,
    infrastructure::{Infrastructure, Needs},
};

/// Least time between two plain progress lines (when stderr is not a terminal).
pub const LINE_EVERY: Duration = Duration::from_secs(10);

/// What `signalcraft backfill weather` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeatherBackfill {
    /// First day, UTC.
    pub from: NaiveDate,
    /// Last day (included), UTC.
    pub to: NaiveDate,
    /// Ids of the watched locations to backfill; empty: every watched location.
    pub locations: Vec<String>,
    /// Serve the recorded payloads in this directory instead of calling the archive API.
    pub replay: Option<PathBuf>,
}

/// What a finished backfill did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillSummary {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub locations: usize,
    pub chunks: usize,
    /// Records acknowledged by the broker on raw.weather.
    pub records: u64,
}

impl fmt::Display for BackfillSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "weather backfill {} to {}: {} location{}, {} chunk{}, {} records on raw.weather",
            self.from,
            self.to,
            self.locations,
            if self.locations == 1 { "" } else { "s" },
            self.chunks,
            if self.chunks == 1 { "" } else { "s" },
            self.records
        )
    }
}

/// Runs the backfill `request` describes with `config`, until done, a chunk fails, or `shutdown`.
pub async fn backfill_weather(
    config: Config,
    request: WeatherBackfill,
    shutdown: CancellationToken,
) -> anyhow::Result<BackfillSummary> {
    if request.from > request.to {
        bail!("--from {} is after --to {}", request.from, request.to);
    }
    let mut weather = config.ingest.openmeteo.clone();
    weather.locations = weather_locations(&weather.locations, &watched_businesses(&config).await);
    weather.locations = select_locations(&weather.locations, &request.locations)?;

    let replay = match &request.replay {
        Some(dir) => {
            let server = ReplayServer::start(dir)
                .await
                .with_context(|| format!("starting the replay server on {}", dir.display()))?;
            weather.archive_base_url = server.provider_base_url("openmeteo");
            // A replay has no quota: the spacing derived from the free tier's would only wait.
            weather.quota_per_day = u32::MAX;
            tracing::info!(dir = %dir.display(), url = server.base_url(), "replaying recorded archive payloads");
            Some(server)
        }
        None => None,
    };

    let infrastructure = Infrastructure::start(&config, Needs::PRODUCE).await?;
    if infrastructure.embedded_broker() {
        tracing::warn!(
            "no kafka.brokers configured: backfilling into an embedded broker, whose records are gone when this \
             process exits; set kafka.brokers (SIGNALCRAFT_KAFKA__BROKERS) to keep them"
        );
    }
    let producer = RecordProducer::new(&infrastructure.kafka, "backfill").context("creating the Kafka producer")?;

    let last_chunk: Arc<Mutex<Option<BackfillProgress>>> = Arc::default();
    let reported = last_chunk.clone();
    let locations = weather.locations.len();
    let backfill = ArchiveBackfill::new(weather, request.from, request.to, move |progress| {
        *reported.lock().unwrap_or_else(PoisonError::into_inner) = Some(progress);
    })
    .context("building the Open-Meteo archive client")?;
    tracing::info!(
        from = %request.from,
        to = %request.to,
        locations,
        chunks = backfill.chunks_total(),
        "weather backfill started"
    );

    let mut display = ProgressDisplay::on_stderr(backfill.chunks_total());
    let mut records_total = 0u64;
    while let Some((start, _)) = backfill.next_window() {
        let resume = |done: u64| format!("{done} records were delivered; resume with --from {start}");
        let polled = tokio::select! {
            // Biased: once shutdown is asked for, no new chunk is fetched.
            biased;
            () = shutdown.cancelled() => {
                display.abandon();
                bail!("interrupted; {}", resume(records_total));
            }
            polled = backfill.poll(Utc::now()) => polled,
        };
        let records = match polled {
            Ok(records) => records,
            Err(error) => {
                display.abandon();
                bail!("the archive chunk from {start} failed: {error}; {}", resume(records_total));
            }
        };
        // Not raced against shutdown: a send in flight finishes (bounded by the producer's
        // message timeout), so what was handed to the broker is accounted for.
        if let Err(error) = producer.send_all(&records).await {
            display.abandon();
            bail!("producing the chunk from {start} onto raw.weather failed: {error}; {}", resume(records_total));
        }
        records_total += records.len() as u64;
        if let Some(progress) = last_chunk.lock().unwrap_or_else(PoisonError::into_inner).take() {
            display.chunk_delivered(&progress, records_total);
        }
    }
    producer.flush(Duration::from_secs(10)).context("flushing the producer")?;
    let summary = BackfillSummary {
        from: request.from,
        to: request.to,
        locations,
        chunks: backfill.chunks_total(),
        records: records_total,
    };
    display.finish(&summary);
    tracing::info!(%summary, "weather backfill finished");
    drop(replay);
    Ok(summary)
}

/// The watched locations named in `wanted` (all of them when it is empty), in watch-list order.
/// The businesses on the watch list, when a database is at hand: `database.url`, or a private
/// server a running pipeline keeps (a backfill never starts one). Without one, or when it
/// cannot be read (logged), only the configured locations are backfilled.
async fn watched_businesses(config: &Config) -> Vec<WatchedBusiness> {
    let (url, _attached) = match &config.database.url {
        Some(url) => (url.clone(), None),
        None => match PrivatePostgres::attach(&config.database.data_dir, "signalcraft").await {
            Some(server) => (server.url(), Some(server)),
            None => return Vec::new(),
        },
    };
    let read = async {
        let pool =
            PgPoolOptions::new().max_connections(1).acquire_timeout(Duration::from_secs(10)).connect(&url).await?;
        let businesses = PgWatchList::new(pool.clone()).list().await;
        pool.close().await;
        businesses
    };
    read.await.unwrap_or_else(|error| {
        tracing::warn!(%error, "cannot read the watch list; backfilling the configured locations only");
        Vec::new()
    })
}

fn select_locations<L: Clone + HasId>(watched: &[L], wanted: &[String]) -> anyhow::Result<Vec<L>> {
    if watched.is_empty() {
        bail!("no locations to backfill: neither ingest.openmeteo.locations nor the watch list has one");
    }
    if wanted.is_empty() {
        return Ok(watched.to_vec());
    }
    for id in wanted {
        if !watched.iter().any(|location| location.id() == id) {
            let known: Vec<&str> = watched.iter().map(HasId::id).collect();
            bail!("--location {id}: not a watched location (watched: {})", known.join(", "));
        }
    }
    Ok(watched.iter().filter(|location| wanted.iter().any(|id| id == location.id())).cloned().collect())
}

/// A watched location's id (a trait so the selection is testable on its own).
trait HasId {
    fn id(&self) -> &str;
}

impl HasId for signalcraft_ingest::WeatherLocationConfig {
    fn id(&self) -> &str {
        &self.id
    }
}

/// How progress is shown: a bar on a terminal, plain lines otherwise.
enum ProgressDisplay {
    Bar(ProgressBar),
    Lines(ProgressLines),
}

impl ProgressDisplay {
    fn on_stderr(chunks_total: usize) -> Self {
        if !io::stderr().is_terminal() {
            return ProgressDisplay::Lines(ProgressLines::new(chunks_total, LINE_EVERY));
        }
        let bar = ProgressBar::with_draw_target(Some(chunks_total as u64), ProgressDrawTarget::stderr());
        // The template is fixed, so it parses; the default style is a fine fallback anyway.
        if let Ok(style) = ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} chunks {msg}") {
            bar.set_style(style.progress_chars("=> "));
        }
        set_active_bar(Some(bar.clone()));
        ProgressDisplay::Bar(bar)
    }

    fn chunk_delivered(&mut self, progress: &BackfillProgress, records_total: u64) {
        match self {
            ProgressDisplay::Bar(bar) => {
                bar.set_position(progress.chunks_done as u64);
                bar.set_message(format!("to {}, {records_total} records", progress.end));
            }
            ProgressDisplay::Lines(lines) => {
                if let Some(line) = lines.line(progress, records_total, Instant::now()) {
                    eprintln!("{line}");
                }
            }
        }
    }

    fn finish(self, summary: &BackfillSummary) {
        if let ProgressDisplay::Bar(bar) = &self {
            bar.finish_with_message(format!("{} records", summary.records));
            set_active_bar(None);
            // The finished bar stays on screen; what follows starts on a line of its own.
            eprintln!();
        }
    }

    /// Leaves the bar where it stopped (the error that follows says why).
    fn abandon(&self) {
        if let ProgressDisplay::Bar(bar) = self {
            bar.abandon();
            set_active_bar(None);
            eprintln!();
        }
    }
}

/// Plain progress lines, at most one per `every` besides the first and the last chunk.
#[derive(Debug)]
struct ProgressLines {
    chunks_total: usize,
    every: Duration,
    last: Option<Instant>,
}

impl ProgressLines {
    fn new(chunks_total: usize, every: Duration) -> Self {
        ProgressLines { chunks_total, every, last: None }
    }

    /// The line for a delivered chunk, or `None` when one was printed less than `every` ago.
    fn line(&mut self, progress: &BackfillProgress, records_total: u64, now: Instant) -> Option<String> {
        let last_chunk = progress.chunks_done >= self.chunks_total;
        let due = self.last.is_none_or(|last| now.duration_since(last) >= self.every);
        if !(due || last_chunk) {
            return None;
        }
        self.last = Some(now);
        let percent = progress.chunks_done * 100 / self.chunks_total.max(1);
        Some(format!(
            "weather backfill: chunk {}/{} ({percent}%) {} to {}, {} location{}: {} records; {records_total} in total",
            progress.chunks_done,
            self.chunks_total,
            progress.start,
            progress.end,
            progress.locations,
            if progress.locations == 1 { "" } else { "s" },
            progress.records,
        ))
    }
}

/// The bar being drawn, if any: log lines are written around it.
static ACTIVE_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

pub(crate) fn set_active_bar(bar: Option<ProgressBar>) {
    *ACTIVE_BAR.lock().unwrap_or_else(PoisonError::into_inner) = bar;
}

/// Standard error for the log subscriber (`.with_writer(stderr_around_progress)`): while a
/// progress bar is drawn, each log line is written with the bar cleared and then redrawn below
/// it, instead of through it.
pub fn stderr_around_progress() -> StderrAroundProgress {
    StderrAroundProgress
}

/// See [`stderr_around_progress`].
pub struct StderrAroundProgress;

impl Write for StderrAroundProgress {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let bar = ACTIVE_BAR.lock().unwrap_or_else(PoisonError::into_inner).clone();
        match bar {
            Some(bar) => bar.suspend(|| io::stderr().write(buf)),
            None => io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 1, d).expect("valid date")
    }

    fn chunk(done: usize, start: u32, end: u32) -> BackfillProgress {
        BackfillProgress {
            chunks_done: done,
            chunks_total: 4,
            start: day(start),
            end: day(end),
            locations: 2,
            records: 96,
        }
    }

    #[test]
    fn plain_lines_come_at_most_once_per_interval_besides_the_first_and_last() {
        let mut lines = ProgressLines::new(4, Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(
            lines.line(&chunk(1, 1, 2), 96, t0).as_deref(),
            Some("weather backfill: chunk 1/4 (25%) 2024-01-01 to 2024-01-02, 2 locations: 96 records; 96 in total")
        );
        assert_eq!(lines.line(&chunk(2, 3, 4), 192, t0 + Duration::from_secs(9)), None);
        assert!(lines
            .line(&chunk(3, 5, 6), 288, t0 + Duration::from_secs(10))
            .is_some_and(|l| l.contains("3/4 (75%)")));
        let last = lines.line(&chunk(4, 7, 8), 384, t0 + Duration::from_secs(11)).expect("the last chunk always shows");
        assert!(last.ends_with("96 records; 384 in total"), "{last}");
    }

    #[derive(Clone, Debug, PartialEq)]
    struct Place(&'static str);

    impl HasId for Place {
        fn id(&self) -> &str {
            self.0
        }
    }

    #[test]
    fn locations_are_chosen_by_id_in_watch_list_order() {
        let watched = [Place("berlin"), Place("paris"), Place("madrid")];
        assert_eq!(select_locations(&watched, &[]).expect("all"), watched);
        let wanted = ["madrid".to_string(), "berlin".to_string()];
        assert_eq!(select_locations(&watched, &wanted).expect("two"), [Place("berlin"), Place("madrid")]);
        let unknown = select_locations(&watched, &["rome".to_string()]).expect_err("not watched").to_string();
        assert_eq!(unknown, "--location rome: not a watched location (watched: berlin, paris, madrid)");
        let none = select_locations::<Place>(&[], &[]).expect_err("nothing watched").to_string();
        assert!(none.contains("neither ingest.openmeteo.locations nor the watch list has one"), "{none}");
    }

    #[test]
    fn the_summary_reads_as_a_sentence() {
        let summary = BackfillSummary { from: day(1), to: day(31), locations: 1, chunks: 3, records: 744 };
        assert_eq!(
            summary.to_string(),
            "weather backfill 2024-01-01 to 2024-01-31: 1 location, 3 chunks, 744 records on raw.weather"
        );
    }
}
