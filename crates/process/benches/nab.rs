//! NAB benchmark: runs the pipeline's anomaly processor ([`DetectAnomalies`], the code the
//! `process` role runs) over all 58 files of the Numenta Anomaly Benchmark in order, writes
//! NAB-layout result CSVs to a temporary directory, scores them with the NAB v1.1 scorer in
//! `../shared/bench/nab-scorer` (run as a subprocess, so the workspace never depends on it) and
//! prints the standard, reward_low_FP_rate and reward_low_FN_rate scores plus rows/s per core:
//! - the flags (`is_anomaly`), at the pipeline's own threshold (`DetectAnomaliesConfig`'s
//!   default) and at the threshold NAB's optimiser picks per profile (how NAB's scoreboard is
//!   computed);
//! - honesty checks: for the standard and reward_low_FP_rate profiles, the threshold optimised
//!   on the even-indexed files scored on the odd ones and the reverse (the threshold never sees
//!   the files it is judged on); the standard score at ±0.001, ±0.003 and ±0.01 of its optimum
//!   (how close to a knife edge the optimum sits);
//! - the alert path as users get it: the alerting processor ([`RaiseAlerts`], its resolve rule
//!   and cooldown) over the anomaly scores at several open scores, the default marked, its
//!   OPENED alerts scored as binary detections in all three profiles, with the false alerts
//!   (FP) and their rate per series per week of scored data;
//! - a simple baseline through the same scorer: a rolling z-score over the last 64 values;
//! - a second labelled corpus (the Turing Change Point Dataset in NAB's layout, made by
//!   `crates/process/benches/tcpd_to_nab.py`): the detector at NAB's threshold and at its own optimum, the
//!   alerts, and the baseline.
//!
//! `cargo bench -p signalcraft-process --bench nab`. Environment:
//! - `SIGNALCRAFT_NAB_DIR`: NAB root with `data/` and `labels/` (default `../shared/bench/nab`
//!   beside the repository);
//! - `SIGNALCRAFT_NAB_SCORER`: the scorer's `Cargo.toml` (default `nab-scorer/` beside the corpus);
//! - `SIGNALCRAFT_SECOND_CORPUS_DIR`: the second corpus (default `../shared/bench/tcpd`; the
//!   bench says so and goes on without it if it is missing);
//! - `SIGNALCRAFT_NAB_SCORER_TARGET`: target dir for building the scorer (default
//!   `~/.cache/nab-scorer-target`, apart from ours so the two builds never wait on one lock);
//! - `SIGNALCRAFT_NAB_KEEP`: if set, the result CSVs are kept in that directory (NAB layout,
//!   detector `signalcraft`) instead of a temporary one, for the scorer's `--per-file` analysis.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, Utc};
use signalcraft_model::{AlertTransition, KpiAnomaly, KpiPoint};
use signalcraft_process::alerting::{RaiseAlerts, RaiseAlertsConfig, RuleSet};
use signalcraft_process::anomaly::{AnomalyDetector, DetectAnomalies, DetectAnomaliesConfig, DEFAULT_THRESHOLD};
use signalcraft_process::Processor;

const DETECTOR_DIR: &str = "signalcraft";

type BenchResult<T> = Result<T, String>;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// One NAB data file: `category/name.csv`, raw timestamp strings and values.
struct DataFile {
    category: String,
    name: String,
    timestamps: Vec<String>,
    points: Vec<KpiPoint>,
}

fn nab_dir() -> BenchResult<PathBuf> {
    let dir = std::env::var_os("SIGNALCRAFT_NAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/nab"));
    if !dir.join("data").is_dir() || !dir.join("labels/combined_windows.json").is_file() {
        return Err(format!(
            "no NAB corpus at {} (expected data/ and labels/combined_windows.json); set SIGNALCRAFT_NAB_DIR",
            dir.display()
        ));
    }
    Ok(dir)
}

fn sorted_entries(dir: &Path) -> BenchResult<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("listing {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    Ok(paths)
}

/// Every `data/<category>/<file>.csv`, categories and files in name order (NAB's order).
fn load_corpus(nab: &Path) -> BenchResult<Vec<DataFile>> {
    let mut files = Vec::new();
    for category_dir in sorted_entries(&nab.join("data"))?.into_iter().filter(|p| p.is_dir()) {
        let category = category_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for path in sorted_entries(&category_dir)? {
            if path.extension().and_then(|e| e.to_str()) != Some("csv") {
                continue;
            }
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            files.push(load_file(&path, category.clone(), name)?);
        }
    }
    Ok(files)
}

fn load_file(path: &Path, category: String, name: String) -> BenchResult<DataFile> {
    let text = fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let series_id = format!("nab:{category}/{name}");
    let mut timestamps = Vec::new();
    let mut points = Vec::new();
    for (line_no, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |what: &str| format!("{}:{}: {what}: {line:?}", path.display(), line_no + 1);
        let (ts, value) = line.split_once(',').ok_or_else(|| bad("expected timestamp,value"))?;
        let parsed = NaiveDateTime::parse_from_str(ts.trim(), "%Y-%m-%d %H:%M:%S").map_err(|_| bad("bad timestamp"))?;
        let value: f64 = value.trim().parse().map_err(|_| bad("bad value"))?;
        timestamps.push(ts.trim().to_string());
        points.push(KpiPoint {
            series_id: series_id.clone(),
            tenant_id: None,
            metric: "nab".into(),
            unit: String::new(),
            ts: parsed.and_utc(),
            value,
            source: "nab".into(),
        });
    }
    Ok(DataFile { category, name, timestamps, points })
}

/// What the anomaly processor made of the corpus.
struct Detections {
    /// Per file, a score for every row (0 where the processor skipped the row).
    scores: Vec<Vec<f64>>,
    /// Per file, the processor's outputs, as the alerting processor reads them.
    anomalies: Vec<Vec<KpiAnomaly>>,
    elapsed: Duration,
    skipped: usize,
}

/// Runs the processor over every file in order.
fn detect(files: &[DataFile]) -> BenchResult<Detections> {
    let mut processor = DetectAnomalies::new(DetectAnomaliesConfig::default());
    let mut elapsed = Duration::ZERO;
    let mut skipped = 0;
    let mut all = Vec::with_capacity(files.len());
    let mut all_anomalies = Vec::with_capacity(files.len());
    for file in files {
        let inputs = file.points.clone();
        let started = Instant::now();
        let mut scores = Vec::with_capacity(inputs.len());
        let mut anomalies = Vec::with_capacity(inputs.len());
        for point in inputs {
            let ts = point.ts;
            let outputs = processor.process(point).map_err(|e| format!("{}/{}: {e}", file.category, file.name))?;
            // NAB needs a score on every row. The processor skips a point whose timestamp is
            // not after its series' last one (a few NAB rows repeat a timestamp); such a row
            // counts as "no detection", exactly what the pipeline would emit for it.
            match outputs.as_slice() {
                [anomaly] if anomaly.ts == ts => {
                    scores.push(anomaly.score);
                    anomalies.push(anomaly.clone());
                }
                [] => {
                    skipped += 1;
                    scores.push(0.0);
                }
                _ => return Err(format!("{}/{}: several outputs for the point at {ts}", file.category, file.name)),
            }
        }
        elapsed += started.elapsed();
        all.push(scores);
        all_anomalies.push(anomalies);
    }
    Ok(Detections { scores: all, anomalies: all_anomalies, elapsed, skipped })
}

/// The alert path as a user meets it: the alerting processor (`config`: open score, resolve
/// rule and cooldown; no threshold rules) over each file's anomaly scores. Per file, 1 on the
/// rows where an alert OPENED and 0 elsewhere, and the number of alerts opened.
fn alerts_opened(
    files: &[DataFile],
    anomalies: &[Vec<KpiAnomaly>],
    config: &RaiseAlertsConfig,
) -> BenchResult<(Vec<Vec<f64>>, usize)> {
    let mut all = Vec::with_capacity(files.len());
    let mut opened_total = 0;
    for (file, anomalies) in files.iter().zip(anomalies) {
        // A processor per file: each NAB file is its own series, as in the pipeline.
        let mut alerting = RaiseAlerts::new(config.clone(), RuleSet::default());
        let mut opened_at = std::collections::HashSet::new();
        for anomaly in anomalies {
            let notes = alerting
                .process(anomaly.clone())
                .map_err(|e| format!("{}/{}: alerting: {e}", file.category, file.name))?;
            opened_at.extend(notes.iter().filter(|n| n.transition == AlertTransition::Opened).map(|n| n.occurred_at));
        }
        opened_total += opened_at.len();
        all.push(file.points.iter().map(|p| if opened_at.contains(&p.ts) { 1.0 } else { 0.0 }).collect());
    }
    Ok((all, opened_total))
}

fn write_results(root: &Path, files: &[DataFile], scores: &[Vec<f64>]) -> BenchResult<()> {
    for (file, scores) in files.iter().zip(scores) {
        let dir = root.join(DETECTOR_DIR).join(&file.category);
        fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let path = dir.join(format!("{DETECTOR_DIR}_{}", file.name));
        let io = |e: std::io::Error| format!("writing {}: {e}", path.display());
        let mut out = std::io::BufWriter::new(fs::File::create(&path).map_err(io)?);
        writeln!(out, "timestamp,value,anomaly_score").map_err(io)?;
        for ((ts, point), score) in file.timestamps.iter().zip(&file.points).zip(scores) {
            // `{}` prints the shortest representation that round-trips: the scorer must see
            // full precision, since rounding creates ties that move its threshold sweep.
            writeln!(out, "{ts},{},{score}", point.value).map_err(io)?;
        }
        out.flush().map_err(io)?;
    }
    Ok(())
}

/// The NAB scorer's manifest: `SIGNALCRAFT_NAB_SCORER` (a `Cargo.toml`), else `nab-scorer/`
/// beside the NAB corpus.
fn scorer_manifest(nab: &Path) -> BenchResult<PathBuf> {
    let manifest = std::env::var_os("SIGNALCRAFT_NAB_SCORER")
        .map(PathBuf::from)
        .unwrap_or_else(|| nab.join("../nab-scorer/Cargo.toml"));
    if !manifest.is_file() {
        return Err(format!("no NAB scorer at {}", manifest.display()));
    }
    Ok(manifest)
}

/// Runs the scorer CLI of `manifest` on the corpus `corpus` (NAB layout: `data/`, `labels/`);
/// `threshold`: score every profile there instead of optimising it; `labels`: a label file
/// naming the files to score (default: the corpus's own, every file).
fn run_scorer(
    manifest: &Path,
    corpus: &Path,
    results: &Path,
    threshold: Option<f64>,
    labels: Option<&Path>,
) -> BenchResult<String> {
    let target = std::env::var_os("SIGNALCRAFT_NAB_SCORER_TARGET").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".cache/nab-scorer-target"))
            .unwrap_or_else(|| std::env::temp_dir().join("nab-scorer-target"))
    });
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["run", "--quiet", "--release", "--manifest-path"])
        .arg(manifest)
        .arg("--")
        .arg("--nab")
        .arg(corpus)
        .arg("--results")
        .arg(results)
        .args(["--detector", DETECTOR_DIR])
        .args(threshold.map(|t| vec!["--threshold".to_string(), t.to_string()]).unwrap_or_default())
        .args(labels.map(|l| vec!["--labels".into(), l.as_os_str().to_owned()]).unwrap_or_default())
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .map_err(|e| format!("running the scorer: {e}"))?;
    if !output.status.success() {
        return Err(format!("scorer failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr)));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn run() -> BenchResult<()> {
    let nab = nab_dir()?;
    let manifest = scorer_manifest(&nab)?;
    let files = load_corpus(&nab)?;
    let rows: usize = files.iter().map(|f| f.points.len()).sum();
    eprintln!("NAB corpus: {} files, {rows} rows from {}", files.len(), nab.display());

    let Detections { scores, anomalies, elapsed, skipped } = detect(&files)?;
    if skipped > 0 {
        eprintln!("{skipped} rows repeat or precede their series' last timestamp: skipped by the processor, scored 0");
    }

    let keep = std::env::var_os("SIGNALCRAFT_NAB_KEEP").map(PathBuf::from);
    let results = keep.clone().unwrap_or_else(|| temp_results("flags"));
    write_results(&results, &files, &scores)?;
    let pipeline_threshold = DetectAnomaliesConfig::default().threshold;
    let scored = run_scorer(&manifest, &nab, &results, Some(pipeline_threshold), None).and_then(|fixed| {
        let optimised = run_scorer(&manifest, &nab, &results, None, None)?;
        let checks = honesty_checks(&manifest, &nab, &results, &files, &optimised)?;
        Ok((fixed, optimised, checks))
    });
    // The CSVs are only an exchange format; keep the temp dir only if scoring failed.
    if scored.is_ok() && keep.is_none() {
        let _ = fs::remove_dir_all(&results);
    }
    let (at_pipeline_threshold, optimised, checks) = scored?;

    println!("detector: {}", AnomalyDetector::NAME);
    for (title, scored) in [
        (
            format!("flags (is_anomaly) at the pipeline's threshold {pipeline_threshold} (DEFAULT_THRESHOLD {DEFAULT_THRESHOLD})"),
            at_pipeline_threshold,
        ),
        ("flags at the threshold optimised by the NAB scorer per profile (NAB's scoreboard)".to_string(), optimised),
    ] {
        println!("{title}");
        print_profiles(&scored);
    }
    println!("{checks}");

    alert_table(&manifest, &nab, &files, &anomalies)?;

    let baseline = score_in_temp(&manifest, &nab, &files, &rolling_z_scores(&files), None)?;
    println!("baseline (rolling z-score over the last {BASELINE_WINDOW} values, its threshold optimised per profile)");
    print_profiles(&baseline);

    second_corpus(&manifest)?;

    // The detector runs on one thread, so rows/s is already per core.
    println!(
        "speed: {rows} rows in {:.3} s = {:.0} rows/s per core (detector only)",
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    Ok(())
}

/// A fresh temporary directory name for result CSVs.
fn temp_results(what: &str) -> PathBuf {
    let unique = format!("signalcraft-nab-{what}-{}-{}", std::process::id(), Utc::now().timestamp_micros());
    std::env::temp_dir().join(unique)
}

/// Writes `scores` as NAB results in a temporary directory, scores them (optimised per profile,
/// or all at `threshold`) and removes the directory if scoring worked.
fn score_in_temp(
    manifest: &Path,
    corpus: &Path,
    files: &[DataFile],
    scores: &[Vec<f64>],
    threshold: Option<f64>,
) -> BenchResult<String> {
    let dir = temp_results("scores");
    write_results(&dir, files, scores)?;
    let scored = run_scorer(manifest, corpus, &dir, threshold, None)?;
    let _ = fs::remove_dir_all(&dir);
    Ok(scored)
}

/// One profile's row of the scorer's output.
struct ProfileRow {
    profile: String,
    threshold: f64,
    score: f64,
    tp: usize,
    fp: usize,
    fn_: usize,
}

fn profile_rows(scorer_output: &str) -> Vec<ProfileRow> {
    scorer_output
        .lines()
        .filter_map(|line| match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            [DETECTOR_DIR, profile, threshold, _raw, score, _published, tp, fp, fn_] => Some(ProfileRow {
                profile: profile.to_string(),
                threshold: threshold.parse().ok()?,
                score: score.parse().ok()?,
                tp: tp.parse().ok()?,
                fp: fp.parse().ok()?,
                fn_: fn_.parse().ok()?,
            }),
            _ => None,
        })
        .collect()
}

fn profile_row(scorer_output: &str, profile: &str) -> BenchResult<ProfileRow> {
    profile_rows(scorer_output)
        .into_iter()
        .find(|row| row.profile == profile)
        .ok_or_else(|| format!("no {profile} row in the scorer output:\n{scorer_output}"))
}

fn print_profiles(scorer_output: &str) {
    println!("  {:<20} {:>8} {:>10} {:>5} {:>5} {:>5}", "profile", "score", "threshold", "TP", "FP", "FN");
    for row in profile_rows(scorer_output) {
        println!(
            "  {:<20} {:>8.2} {:>10} {:>5} {:>5} {:>5}",
            row.profile, row.score, row.threshold, row.tp, row.fp, row.fn_
        );
    }
}

/// Weeks of scored data (after NAB's probation, the first `min(floor(0.15 n), 750)` rows) over
/// all files: the exposure behind "false alerts per series per week".
fn scored_weeks(files: &[DataFile]) -> f64 {
    files
        .iter()
        .filter_map(|file| {
            let n = file.points.len();
            let probation = (n * 15 / 100).min(750);
            let (first, last) = (file.points.get(probation)?, file.points.last()?);
            Some((last.ts - first.ts).num_seconds() as f64 / (7.0 * 86_400.0))
        })
        .sum()
}

/// The alert path as users get it, at several open scores: the alerting processor over the
/// anomaly processor's outputs, OPENED alerts scored as binary detections, the false alerts
/// counted per series per week of scored data (a rate a user can set a threshold by).
fn alert_table(manifest: &Path, nab: &Path, files: &[DataFile], anomalies: &[Vec<KpiAnomaly>]) -> BenchResult<()> {
    let weeks = scored_weeks(files);
    let default = RaiseAlertsConfig::default();
    let mut open_scores = vec![DEFAULT_THRESHOLD, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99];
    if !open_scores.contains(&default.open_score) {
        open_scores.push(default.open_score);
        open_scores.sort_by(f64::total_cmp);
    }
    println!(
        "alerts as users get them: the alerting processor (resolve after {} normal points, cooldown {} s) \
         over the anomaly scores, OPENED alerts scored as detections; {} series, {weeks:.1} series-weeks scored",
        default.resolve_after,
        default.cooldown.num_seconds(),
        files.len()
    );
    println!(
        "  {:<11} {:>8} {:>8} {:>8} {:>7} {:>5} {:>5} {:>5} {:>22}",
        "open score", "standard", "low_FP", "low_FN", "opened", "TP", "FP", "FN", "false alerts/series/wk"
    );
    for open_score in open_scores {
        let config = RaiseAlertsConfig { open_score, ..default.clone() };
        let (opened, opened_total) = alerts_opened(files, anomalies, &config)?;
        let scored = score_in_temp(manifest, nab, files, &opened, Some(0.5))?;
        let [standard, low_fp, low_fn] =
            ["standard", "reward_low_FP_rate", "reward_low_FN_rate"].map(|p| profile_row(&scored, p));
        let (standard, low_fp, low_fn) = (standard?, low_fp?, low_fn?);
        let marker = if open_score == default.open_score { " (default)" } else { "" };
        println!(
            "  {:<11} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>5} {:>5} {:>5} {:>22.3}{marker}",
            open_score,
            standard.score,
            low_fp.score,
            low_fn.score,
            opened_total,
            standard.tp,
            standard.fp,
            standard.fn_,
            standard.fp as f64 / weeks.max(1e-9)
        );
    }
    Ok(())
}

/// Values of the rolling z-score baseline's window.
const BASELINE_WINDOW: usize = 64;

/// The simple baseline every detector should beat: |z| of each value against the mean and
/// standard deviation of the previous `BASELINE_WINDOW` values, as `|z| / (|z| + 3)` in [0, 1)
/// (any increasing map scores the same once the threshold is optimised).
fn rolling_z_scores(files: &[DataFile]) -> Vec<Vec<f64>> {
    files
        .iter()
        .map(|file| {
            let values: Vec<f64> = file.points.iter().map(|p| p.value).collect();
            (0..values.len())
                .map(|i| {
                    let past = &values[i.saturating_sub(BASELINE_WINDOW)..i];
                    if past.len() < 2 {
                        return 0.0;
                    }
                    let mean = past.iter().sum::<f64>() / past.len() as f64;
                    let sd = (past.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / past.len() as f64).sqrt();
                    let deviation = (values[i] - mean).abs();
                    if sd <= f64::EPSILON * mean.abs().max(1.0) {
                        return if deviation > 0.0 { 1.0 } else { 0.0 };
                    }
                    let z = deviation / sd;
                    z / (z + 3.0)
                })
                .collect()
        })
        .collect()
}

/// The second labelled corpus (NAB layout; `SIGNALCRAFT_SECOND_CORPUS_DIR`, default
/// `../shared/bench/tcpd` beside the repository; `crates/process/benches/tcpd_to_nab.py` makes it from the
/// Turing Change Point Dataset): the same processor, the same scorer, against the baseline.
fn second_corpus(manifest: &Path) -> BenchResult<()> {
    let dir = std::env::var_os("SIGNALCRAFT_SECOND_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/tcpd"));
    if !dir.join("labels/combined_windows.json").is_file() {
        println!(
            "second corpus: none at {} (crates/process/benches/tcpd_to_nab.py makes it; SIGNALCRAFT_SECOND_CORPUS_DIR)",
            dir.display()
        );
        return Ok(());
    }
    let files = load_corpus(&dir)?;
    let rows: usize = files.iter().map(|f| f.points.len()).sum();
    let Detections { scores, anomalies, .. } = detect(&files)?;
    let (opened, opened_total) = alerts_opened(&files, &anomalies, &RaiseAlertsConfig::default())?;
    println!("second corpus: {} files, {rows} rows from {}", files.len(), dir.display());
    let threshold = DetectAnomaliesConfig::default().threshold;
    for (title, scored) in [
        (
            format!("  flags at the pipeline's threshold {threshold} (chosen on NAB)"),
            score_in_temp(manifest, &dir, &files, &scores, Some(threshold))?,
        ),
        (
            "  detector at the threshold optimised on this corpus".to_string(),
            score_in_temp(manifest, &dir, &files, &scores, None)?,
        ),
        (
            format!(
                "  alerts opened at the default open score {} ({opened_total} opened)",
                RaiseAlertsConfig::default().open_score
            ),
            score_in_temp(manifest, &dir, &files, &opened, Some(0.5))?,
        ),
        (
            format!("  baseline: rolling z-score over {BASELINE_WINDOW} values, threshold optimised on this corpus"),
            score_in_temp(manifest, &dir, &files, &rolling_z_scores(&files), None)?,
        ),
    ] {
        println!("{title}");
        print_profiles(&scored);
    }
    Ok(())
}

/// The leave-out check and the threshold sensitivity, as printable text: for the standard and
/// the reward_low_FP_rate profiles, the threshold optimised on one half of the files (even or
/// odd index) scored on the other; then the standard profile's score at thresholds off its
/// optimum.
fn honesty_checks(
    manifest: &Path,
    nab: &Path,
    results: &Path,
    files: &[DataFile],
    optimised: &str,
) -> BenchResult<String> {
    let labels_path = nab.join("labels/combined_windows.json");
    let labels = fs::read_to_string(&labels_path).map_err(|e| format!("reading {}: {e}", labels_path.display()))?;
    let entries = label_entries(&labels).map_err(|e| format!("{}: {e}", labels_path.display()))?;
    let mut halves = Vec::new();
    for parity in 0..2 {
        let names: Vec<String> = files
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == parity)
            .map(|(_, f)| format!("{}/{}", f.category, f.name))
            .collect();
        let subset: Vec<String> = entries
            .iter()
            .filter(|(name, _)| names.contains(name))
            .map(|(name, windows)| format!("\"{name}\": {windows}"))
            .collect();
        let path = results.join(format!("labels-{}.json", ["even", "odd"][parity]));
        fs::write(&path, format!("{{{}}}", subset.join(", ")))
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        let own = run_scorer(manifest, nab, results, None, Some(&path))?;
        halves.push((path, own));
    }
    let mut text = String::new();
    for profile in ["standard", "reward_low_FP_rate"] {
        text += &format!("{profile} profile, threshold chosen on one half of the files, scored on the other:\n");
        for (from, to) in [(0, 1), (1, 0)] {
            let threshold = profile_row(&halves[from].1, profile)?.threshold;
            let (path, own) = &halves[to];
            let own_optimum = profile_row(own, profile)?.score;
            let score = profile_row(&run_scorer(manifest, nab, results, Some(threshold), Some(path))?, profile)?.score;
            let (from_name, to_name) = (["even", "odd"][from], ["even", "odd"][to]);
            text += &format!(
                "  {from_name} -> {to_name}: {score:.2} at {threshold} ({to_name} files at their own optimum: {own_optimum:.2})\n"
            );
        }
    }
    let best = profile_row(optimised, "standard")?;
    text += &format!("standard profile near its optimised threshold {} ({:.2}):", best.threshold, best.score);
    for offset in [-0.01, -0.003, -0.001, 0.001, 0.003, 0.01] {
        let score =
            profile_row(&run_scorer(manifest, nab, results, Some(best.threshold + offset), None)?, "standard")?.score;
        text += &format!(" {offset:+}: {score:.2}");
    }
    Ok(text)
}

/// The entries of NAB's label file, a JSON object of file name -> list of windows, as (name,
/// raw JSON of the windows), in file order. Only this shape is understood: the benchmark has no
/// JSON dependency, and re-emitting the windows verbatim keeps them exactly as NAB wrote them.
fn label_entries(json: &str) -> Result<Vec<(String, String)>, String> {
    let body = json.trim().strip_prefix('{').and_then(|b| b.strip_suffix('}')).ok_or("not a JSON object")?;
    let mut entries = Vec::new();
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let after_quote = rest.strip_prefix('"').ok_or("expected a quoted file name")?;
        let end = after_quote.find('"').ok_or("unterminated file name")?;
        let name = after_quote[..end].to_string();
        let value = after_quote[end + 1..].trim_start().strip_prefix(':').ok_or("expected ':'")?.trim_start();
        if !value.starts_with('[') {
            return Err(format!("{name}: expected a list of windows"));
        }
        // The windows are lists of timestamp strings: no brackets inside strings to skip.
        let mut depth = 0usize;
        let close = value
            .char_indices()
            .find_map(|(i, c)| {
                match c {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    _ => {}
                }
                (depth == 0).then_some(i)
            })
            .ok_or_else(|| format!("{name}: unterminated list"))?;
        entries.push((name, value[..=close].to_string()));
        rest = value[close + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok(entries)
}
