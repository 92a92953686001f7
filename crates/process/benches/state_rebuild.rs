//! State-rebuild benchmark: how exactly, and at what cost, a restarted anomaly detector rebuilt
//! from a series' stored past continues the scores of one that never stopped.
//!
//! On the NAB series longer than the default replay depth, for restarts at 60%, 75% and 90% of
//! each series, compares the scores after the restart of an uninterrupted run with those of a
//! detector seeded (as the stage seeds it) with
//! - `aligned`: the replay [`DetectAnomalies`] asks for (its `history_depth`);
//! - `unaligned`: the same number of points without the phase alignment;
//! - `fresh`: nothing (what a restart did before state was rebuilt).
//!
//! Prints, per case, the scores that differ, the largest difference, the points flagged
//! differently at the default threshold, and the seeding time. Run with
//! `cargo bench -p signalcraft-process --bench state_rebuild` (needs `../shared/bench/nab`, or
//! `SIGNALCRAFT_NAB_DIR`).

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};

use chrono::NaiveDateTime;
use signalcraft_model::{KpiAnomaly, KpiPoint};
use signalcraft_process::{
    anomaly::{DetectAnomalies, DetectAnomaliesConfig},
    history::PastPoint,
    Processor, RebuildableState, SeriesPast,
};

type BenchResult<T> = Result<T, String>;

/// NAB files longer than the default depth (17,641 points), so the replay is a suffix.
const FILES: [&str; 2] = [
    "realKnownCause/machine_temperature_system_failure.csv",
    "realKnownCause/cpu_utilization_asg_misconfiguration.csv",
];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn nab_dir() -> BenchResult<PathBuf> {
    let dir = std::env::var_os("SIGNALCRAFT_NAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/nab"));
    if !dir.join("data").is_dir() {
        return Err(format!("no NAB corpus at {} (expected data/); set SIGNALCRAFT_NAB_DIR", dir.display()));
    }
    Ok(dir)
}

fn load(path: &Path) -> BenchResult<Vec<KpiPoint>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut points = Vec::new();
    for (line_no, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |what: &str| format!("{}:{}: {what}: {line:?}", path.display(), line_no + 1);
        let (ts, value) = line.split_once(',').ok_or_else(|| bad("expected timestamp,value"))?;
        let ts = NaiveDateTime::parse_from_str(ts.trim(), "%Y-%m-%d %H:%M:%S").map_err(|_| bad("bad timestamp"))?;
        points.push(KpiPoint {
            series_id: "nab".into(),
            tenant_id: None,
            metric: "nab".into(),
            unit: String::new(),
            ts: ts.and_utc(),
            value: value.trim().parse().map_err(|_| bad("bad value"))?,
            source: "nab".into(),
        });
    }
    Ok(points)
}

fn score_all(processor: &mut DetectAnomalies, points: &[KpiPoint]) -> BenchResult<Vec<KpiAnomaly>> {
    let mut out = Vec::with_capacity(points.len());
    for point in points {
        out.extend(processor.process(point.clone()).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// Scores after `restart` of a detector seeded with `replayed` stored points; and the seeding time.
fn restarted(points: &[KpiPoint], restart: usize, replayed: usize) -> BenchResult<(Vec<KpiAnomaly>, Duration)> {
    let mut processor = DetectAnomalies::new(DetectAnomaliesConfig::default());
    let past = SeriesPast {
        series_id: "nab".into(),
        before: points[restart].ts,
        points_before: restart as u64,
        points: points[restart - replayed..restart].iter().map(|p| PastPoint { ts: p.ts, value: p.value }).collect(),
        tenant_id: None,
        articles: None,
        complete: true,
    };
    let started = Instant::now();
    processor.seed(&past);
    let seeding = started.elapsed();
    Ok((score_all(&mut processor, &points[restart..])?, seeding))
}

fn run() -> BenchResult<()> {
    let nab = nab_dir()?;
    let depth = DetectAnomalies::new(DetectAnomaliesConfig::default()).history_depth();
    println!(
        "detector replay depth: {} to {} points, aligned to {}",
        depth.max_points - depth.align_to + 1,
        depth.max_points,
        depth.align_to
    );
    println!(
        "{:<44} {:>7} {:>9} {:>8} {:>9} {:>10} {:>8} {:>9}",
        "file", "restart", "replay", "points", "differ", "max |diff|", "flags≠", "seed ms"
    );
    for file in FILES {
        let mut points = load(&nab.join("data").join(file))?;
        // A few NAB rows repeat or go back in time; the detector skips them, so the stored past
        // it would be rebuilt from is the rest (see the README on late points).
        let rows = points.len();
        let mut latest = None;
        points.retain(|p| {
            let keep = latest.is_none_or(|t| p.ts > t);
            latest = latest.max(Some(p.ts));
            keep
        });
        let started = Instant::now();
        let uninterrupted = score_all(&mut DetectAnomalies::new(DetectAnomaliesConfig::default()), &points)?;
        let rate = points.len() as f64 / started.elapsed().as_secs_f64();
        if uninterrupted.len() != points.len() {
            return Err(format!("{file}: {} scores for {} points", uninterrupted.len(), points.len()));
        }
        for percent in [60, 75, 90] {
            let restart = points.len() * percent / 100;
            let aligned = depth.points_to_replay(restart as u64);
            // Half a period more (or less) than the aligned replay: as long, never in phase.
            let half = depth.align_to / 2;
            let unaligned = if aligned + half <= restart { aligned + half } else { aligned - half };
            for (case, replayed) in [("aligned", aligned), ("unaligned", unaligned), ("fresh", 0)] {
                let (after, seeding) = restarted(&points, restart, replayed)?;
                let expected = &uninterrupted[restart..];
                let differ = after.iter().zip(expected).filter(|(a, b)| a.score.to_bits() != b.score.to_bits()).count();
                let max_diff = after.iter().zip(expected).map(|(a, b)| (a.score - b.score).abs()).fold(0.0, f64::max);
                let flags = after.iter().zip(expected).filter(|(a, b)| a.is_anomaly != b.is_anomaly).count();
                println!(
                    "{:<44} {:>7} {:>9} {:>8} {:>9} {:>10.2e} {:>8} {:>9.1}",
                    file.rsplit('/').next().unwrap_or(file),
                    restart,
                    case,
                    replayed,
                    differ,
                    max_diff,
                    flags,
                    seeding.as_secs_f64() * 1e3
                );
            }
        }
        println!(
            "  uninterrupted: {} points ({} rows out of order dropped) at {:.0} points/s",
            points.len(),
            rows - points.len(),
            rate
        );
    }
    Ok(())
}
