//! Forecast load benchmark: how long refits hold the forecast stage, next to what scoring costs.
//!
//! The stages run their processor synchronously, one input at a time, on the process role's
//! runtime; a refit is one `process` call of the [`ForecastSeries`] processor, and while it runs
//! that stage takes no other input and keeps a core from the other stages (the anomaly
//! scoring). This drives several half-hourly series (NYC taxi, each copy on its own scale)
//! interleaved in time, as kpi.points delivers them, through the processor at the default
//! settings (4,032 points of history, 30-day horizon) with refits every 500 points (the issue's
//! load) and every 48 (a refit per series per day), and the same points through the anomaly
//! detector. Prints per setting the refits, the CPU seconds per refit (mean and the longest
//! single call, the longest any input waits behind one), the points per CPU second a replay
//! (backfill, catch-up after an outage) gets through, and the detector's for comparison. CPU seconds
//! (clock_gettime of the process), so the machine's other load does not inflate them.
//!
//! Run with `cargo bench -p signalcraft-process --bench forecast_load` (needs
//! `../shared/bench/nab`, or `SIGNALCRAFT_NYC_TAXI_CSV`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::NaiveDateTime;
use signalcraft_model::KpiPoint;
use signalcraft_process::anomaly::{DetectAnomalies, DetectAnomaliesConfig};
use signalcraft_process::forecast::{ForecastSeries, ForecastSeriesConfig};
use signalcraft_process::Processor;

/// Copies of the series driven at once.
const SERIES: usize = 4;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("forecast load benchmark: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let path = std::env::var_os("SIGNALCRAFT_NYC_TAXI_CSV").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/nab/data/realKnownCause/nyc_taxi.csv")
    });
    let taxi = load(&path)?;
    // Interleaved in time: each timestamp's point of every series, in turn.
    let points: Vec<KpiPoint> = taxi
        .iter()
        .flat_map(|p| {
            (0..SERIES).map(move |s| KpiPoint {
                series_id: format!("taxi-{s}"),
                value: p.value * (1.0 + 0.25 * s as f64),
                ..p.clone()
            })
        })
        .collect();
    let span_seconds = match (taxi.first(), taxi.last()) {
        (Some(first), Some(last)) => (last.ts - first.ts).num_seconds() as f64,
        _ => return Err("no points".into()),
    };

    let mut detector = DetectAnomalies::new(DetectAnomaliesConfig::default());
    let started = cpu_seconds();
    for point in &points {
        detector.process(point.clone()).map_err(|e| e.to_string())?;
    }
    let scoring = (cpu_seconds() - started) / points.len() as f64;
    println!(
        "{} series x {} half-hourly points ({:.0} days of event time); anomaly scoring {:.1} µs CPU per point",
        SERIES,
        taxi.len(),
        span_seconds / 86_400.0,
        scoring * 1e6
    );
    for refit_every in [500, 48] {
        let mut forecaster = ForecastSeries::new(ForecastSeriesConfig { refit_every, ..Default::default() });
        let (mut refits, mut refit_seconds, mut longest, mut other_seconds) = (0usize, 0.0, 0.0f64, 0.0);
        for point in &points {
            let started = cpu_seconds();
            let forecasts = forecaster.process(point.clone()).map_err(|e| e.to_string())?;
            let seconds = cpu_seconds() - started;
            if forecasts.is_empty() {
                other_seconds += seconds;
            } else {
                refits += forecasts.len();
                refit_seconds += seconds;
                longest = longest.max(seconds);
            }
        }
        println!(
            "refit every {refit_every:>3} points: {refits} refits, {:.3} s CPU per refit (longest {:.3} s), \
             {:.1} µs per other point; {:.0} points per CPU second in a replay (scoring: {:.0})",
            refit_seconds / refits.max(1) as f64,
            longest,
            other_seconds / (points.len() - refits).max(1) as f64 * 1e6,
            points.len() as f64 / (refit_seconds + other_seconds),
            1.0 / scoring
        );
    }
    Ok(())
}

/// CPU time used by this process so far (clock_gettime), in seconds; 0 where unavailable.
fn cpu_seconds() -> f64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer to a local.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    if status == 0 {
        now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9
    } else {
        0.0
    }
}

fn load(path: &Path) -> Result<Vec<KpiPoint>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut points = Vec::new();
    for (line_no, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |what: &str| format!("{}:{}: {what}: {line:?}", path.display(), line_no + 1);
        let (ts, value) = line.split_once(',').ok_or_else(|| bad("expected timestamp,value"))?;
        let ts = NaiveDateTime::parse_from_str(ts.trim(), "%Y-%m-%d %H:%M:%S").map_err(|_| bad("bad timestamp"))?;
        points.push(KpiPoint {
            series_id: "taxi".into(),
            tenant_id: None,
            metric: "nyc_taxi".into(),
            unit: String::new(),
            ts: ts.and_utc(),
            value: value.trim().parse().map_err(|_| bad("bad value"))?,
            source: "nab".into(),
        });
    }
    Ok(points)
}
