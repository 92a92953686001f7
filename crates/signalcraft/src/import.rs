//! `signalcraft import kpi FILE.csv --tenant T`: a tenant's KPI history, millions of rows, from
//! a CSV file (the columns `POST …/kpis` takes) onto raw.kpi, from where it becomes the series
//! the detector and the forecaster warm up from.
//!
//! - Every row is checked as the pipeline will check it. With `--on-error reject` (the default)
//!   a first pass reads the whole file and one bad row stops the import before anything is sent,
//!   naming each bad row (line, column, reason); with `skip` the bad rows are reported and the
//!   others sent.
//! - Rows go in chunks; each chunk is acknowledged by the broker before the next is read on.
//! - Resumable: after each acknowledged chunk the rows done are written to `FILE.csv.import-state`
//!   (with the tenant, the file's size and modification time); a run over the same unchanged file
//!   and tenant starts after them. Sending a row twice is harmless anyway (the natural key is
//!   series and time); the state saves the time. It is removed when the import completes.
//! - Progress: a bar on a terminal, a plain line every few seconds otherwise.
//!
//! [`replay_kpi`] is the same import without state or progress, for the KPI histories a replay
//! directory names (`[[kpi]]` in `replay.toml`): a recording is read-only and small.

use std::{
    io::{self, IsTerminal},
    path::{Path, PathBuf},
    time::{Duration, Instant, UNIX_EPOCH},
};

use anyhow::Context;
use futures::TryStreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use signalcraft_api::{kpi_csv::CsvColumns, TenantId};
use signalcraft_kafka::RecordProducer;
use signalcraft_model::{KpiObservation, Plausibility, Topic, Validate};
use tokio_util::sync::CancellationToken;

use crate::{
    backfill::set_active_bar,
    config::Config,
    infrastructure::{Infrastructure, Needs},
};

/// Bad rows printed; the count says how many there were.
const MAX_LISTED_ERRORS: usize = 20;
/// How often a plain progress line is printed.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// What to import.
#[derive(Debug, Clone)]
pub struct KpiImport {
    pub file: PathBuf,
    pub tenant: TenantId,
    /// Send the valid rows when some are bad (otherwise send nothing).
    pub skip_bad_rows: bool,
    /// Rows per chunk.
    pub chunk_rows: usize,
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Rows the broker acknowledged in this run.
    pub sent: u64,
    /// Rows acknowledged by an earlier run, skipped.
    pub resumed_after: u64,
    /// Rows refused.
    pub refused: u64,
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "imported {} rows onto {}", self.sent, Topic::RawKpi)?;
        if self.resumed_after > 0 {
            write!(f, " (resumed after {} rows sent before)", self.resumed_after)?;
        }
        if self.refused > 0 {
            write!(f, "; {} rows refused", self.refused)?;
        }
        Ok(())
    }
}

/// Where an earlier run stopped.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ImportState {
    tenant: String,
    file_bytes: u64,
    modified_unix_nanos: u128,
    /// Data rows (after the header) read and either sent or refused.
    rows_done: u64,
}

fn state_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".import-state");
    PathBuf::from(name)
}

fn identity(file: &Path) -> anyhow::Result<(u64, u128)> {
    let metadata = std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?;
    let modified =
        metadata.modified().ok().and_then(|at| at.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    Ok((metadata.len(), modified))
}

/// Rows an earlier run of this import completed, if its state matches the file and tenant.
fn rows_done_before(request: &KpiImport) -> anyhow::Result<u64> {
    let Ok(text) = std::fs::read_to_string(state_path(&request.file)) else { return Ok(0) };
    let Ok(state) = serde_json::from_str::<ImportState>(&text) else { return Ok(0) };
    let (file_bytes, modified_unix_nanos) = identity(&request.file)?;
    let same = state.tenant == request.tenant.as_str()
        && state.file_bytes == file_bytes
        && state.modified_unix_nanos == modified_unix_nanos;
    Ok(if same { state.rows_done } else { 0 })
}

fn save_state(request: &KpiImport, rows_done: u64) -> anyhow::Result<()> {
    let (file_bytes, modified_unix_nanos) = identity(&request.file)?;
    let state = ImportState { tenant: request.tenant.as_str().to_string(), file_bytes, modified_unix_nanos, rows_done };
    let path = state_path(&request.file);
    let temporary = path.with_extension("import-state.tmp");
    std::fs::write(&temporary, serde_json::to_vec(&state)?)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The file's rows as a CSV reader, and the columns its header names.
async fn open(file: &Path) -> anyhow::Result<(csv_async::AsyncReader<tokio::fs::File>, CsvColumns)> {
    let handle = tokio::fs::File::open(file).await.with_context(|| format!("opening {}", file.display()))?;
    let mut reader = csv_async::AsyncReaderBuilder::new().flexible(true).create_reader(handle);
    let header = reader.headers().await.with_context(|| format!("{}: reading the header", file.display()))?.clone();
    let columns = CsvColumns::from_header(&header)
        .map_err(|problem| anyhow::anyhow!("{}: the header (line 1): {problem}", file.display()))?;
    Ok((reader, columns))
}

/// One row read: its line and the observation, or why it was refused.
type Row = (u64, Result<KpiObservation, (Option<String>, String)>);

fn judge(columns: &CsvColumns, tenant: &TenantId, window: &Plausibility, record: &csv_async::StringRecord) -> Row {
    let line = record.position().map_or(0, |position| position.line());
    let observation = columns.observation(tenant, record, "import").map_err(|bad| (bad.column, bad.reason));
    let checked = observation.and_then(|observation| {
        observation
            .validate_at(window, chrono::Utc::now())
            .map(|()| observation)
            .map_err(|invalid| (Some(invalid.field), invalid.problem))
    });
    (line, checked)
}

fn print_refused(line: u64, column: Option<&str>, reason: &str) {
    match column {
        Some(column) => eprintln!("  line {line}, column {column}: {reason}"),
        None => eprintln!("  line {line}: {reason}"),
    }
}

/// Imports `request.file` onto raw.kpi; see the module documentation.
pub async fn import_kpi(
    config: &Config,
    request: KpiImport,
    shutdown: CancellationToken,
) -> anyhow::Result<ImportSummary> {
    let infrastructure = Infrastructure::start(config, Needs::PRODUCE).await?;
    let kafka = &infrastructure.kafka;
    let window = kafka.plausibility(Topic::RawKpi);
    let producer = RecordProducer::new(kafka, "import").context("creating the Kafka producer")?;
    let chunk_rows = request.chunk_rows.max(1);

    if !request.skip_bad_rows {
        // First pass: one bad row stops the import before anything is sent.
        let (reader, columns) = open(&request.file).await?;
        let mut records = reader.into_records();
        let mut refused = 0u64;
        while let Some(record) =
            records.try_next().await.with_context(|| format!("reading {}", request.file.display()))?
        {
            if let (line, Err((column, reason))) = judge(&columns, &request.tenant, &window, &record) {
                if refused == 0 {
                    eprintln!("{}: refused rows:", request.file.display());
                }
                refused += 1;
                if refused <= MAX_LISTED_ERRORS as u64 {
                    print_refused(line, column.as_deref(), &reason);
                }
            }
        }
        if refused > 0 {
            anyhow::bail!(
                "{refused} row(s) of {} refused; nothing was sent (--on-error skip sends the valid rows)",
                request.file.display()
            );
        }
    }

    let resumed_after = rows_done_before(&request)?;
    let file_bytes = identity(&request.file)?.0;
    let (reader, columns) = open(&request.file).await?;
    let mut records = reader.into_records();
    let mut display = Display::on_stderr(file_bytes);
    let (mut rows_done, mut summary) = (0u64, ImportSummary { resumed_after, ..Default::default() });
    let mut chunk: Vec<KpiObservation> = Vec::with_capacity(chunk_rows);
    let mut position = 0u64;
    loop {
        let record = records.try_next().await.with_context(|| format!("reading {}", request.file.display()))?;
        let end = record.is_none();
        if let Some(record) = record {
            rows_done += 1;
            position = record.position().map_or(position, |at| at.byte());
            if rows_done > resumed_after {
                match judge(&columns, &request.tenant, &window, &record) {
                    (_, Ok(observation)) => chunk.push(observation),
                    (line, Err((column, reason))) => {
                        summary.refused += 1;
                        if summary.refused <= MAX_LISTED_ERRORS as u64 {
                            display.suspend(|| print_refused(line, column.as_deref(), &reason));
                        }
                    }
                }
            }
        }
        if chunk.len() >= chunk_rows || (end && !chunk.is_empty()) {
            let sent = producer
                .send_all(&chunk)
                .await
                .context("the broker did not acknowledge a chunk; run the import again to resume")?;
            summary.sent += u64::try_from(sent).unwrap_or(u64::MAX);
            chunk.clear();
            save_state(&request, rows_done)?;
            display.progress(position, &summary);
            if shutdown.is_cancelled() {
                display.finish();
                anyhow::bail!("interrupted after {} rows; run the same import again to resume", rows_done);
            }
        }
        if end {
            break;
        }
    }
    display.finish();
    let _ = std::fs::remove_file(state_path(&request.file));
    Ok(summary)
}

/// Rows per chunk of a replayed KPI history.
const REPLAY_CHUNK_ROWS: usize = 5_000;

/// Sends every row of a replay directory's KPI history `file` for `tenant` onto raw.kpi through
/// `producer`, each chunk acknowledged before the next; returns the rows sent. A recording is
/// checked like any import: one bad row sends nothing and names every bad row.
pub async fn replay_kpi(
    producer: &RecordProducer,
    window: &Plausibility,
    tenant: &str,
    file: &Path,
) -> anyhow::Result<u64> {
    let tenant = TenantId::parse(tenant)
        .map_err(|problem| anyhow::anyhow!("{}: tenant `{tenant}`: {problem}", file.display()))?;
    let (reader, columns) = open(file).await?;
    let mut records = reader.into_records();
    let (mut observations, mut refused) = (Vec::new(), Vec::new());
    while let Some(record) = records.try_next().await.with_context(|| format!("reading {}", file.display()))? {
        match judge(&columns, &tenant, window, &record) {
            (_, Ok(observation)) => observations.push(observation),
            (line, Err((column, reason))) => refused.push(match column {
                Some(column) => format!("line {line}, column {column}: {reason}"),
                None => format!("line {line}: {reason}"),
            }),
        }
    }
    if !refused.is_empty() {
        let listed: Vec<&str> = refused.iter().take(MAX_LISTED_ERRORS).map(String::as_str).collect();
        anyhow::bail!("{}: {} row(s) refused, nothing sent: {}", file.display(), refused.len(), listed.join("; "));
    }
    let mut sent = 0u64;
    for chunk in observations.chunks(REPLAY_CHUNK_ROWS) {
        let acknowledged = producer.send_all(chunk).await.with_context(|| format!("sending {}", file.display()))?;
        sent += u64::try_from(acknowledged).unwrap_or(u64::MAX);
    }
    tracing::info!(file = %file.display(), %tenant, rows = sent, "replayed KPI history onto raw.kpi");
    Ok(sent)
}

/// Progress: a bar over the file's bytes on a terminal, plain lines otherwise.
enum Display {
    Bar(ProgressBar),
    Lines { file_bytes: u64, last: Option<Instant> },
}

impl Display {
    fn on_stderr(file_bytes: u64) -> Display {
        if !io::stderr().is_terminal() {
            return Display::Lines { file_bytes, last: None };
        }
        let bar = ProgressBar::with_draw_target(Some(file_bytes), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {bytes}/{total_bytes} {msg}") {
            bar.set_style(style.progress_chars("=> "));
        }
        set_active_bar(Some(bar.clone()));
        Display::Bar(bar)
    }

    fn progress(&mut self, position: u64, summary: &ImportSummary) {
        match self {
            Display::Bar(bar) => {
                bar.set_position(position);
                bar.set_message(format!("{} rows sent", summary.sent));
            }
            Display::Lines { file_bytes, last } => {
                let now = Instant::now();
                if last.is_none_or(|at| now.duration_since(at) >= LINE_EVERY) {
                    *last = Some(now);
                    let percent = position.saturating_mul(100) / (*file_bytes).max(1);
                    eprintln!("kpi import: {} rows sent ({percent}% of the file)", summary.sent);
                }
            }
        }
    }

    fn suspend(&self, print: impl FnOnce()) {
        match self {
            Display::Bar(bar) => bar.suspend(print),
            Display::Lines { .. } => print(),
        }
    }

    fn finish(&self) {
        if let Display::Bar(bar) = self {
            bar.finish();
            set_active_bar(None);
            eprintln!();
        }
    }
}
