//! Forecast benchmark: the rolling-origin protocol of `../shared/bench/forecast/SOURCE.txt`
//! applied to its five series with the same [`Forecaster`] the `ForecastSeries` processor runs.
//! Prints MASE (scaled by the in-sample seasonal-naive MAE at the primary period) and sMAPE (%)
//! averaged over origins, for ours and for each baseline of the protocol's README: seasonal-naive
//! at each candidate period, augurs MSTL + AutoETS on the values and on their logarithm. Each
//! baseline line says whether ours beats it on MASE and on sMAPE; each series ends with the
//! verdict against the best baseline per metric, and the run with the total time. Fit times are
//! wall-clock and CPU seconds per origin (the latter independent of the machine's other load).
//!
//! Intervals: coverage is the share of test points inside our 80% and 95% intervals; width is
//! their mean width and score the mean interval (Winkler) score, width plus 2/α times the
//! distance of each point outside, both in MASE units (divided by the same in-sample MAE), so
//! a too-narrow interval pays for its misses and a too-wide one for its width; the 95% score is
//! the M4 competition's MSIS. Coverage is also shown for the near and far half of the horizon,
//! and where the intervals came from at the last origin (calibrated on held-out errors, or the
//! models' own). The run ends with the coverage averaged over the protocol series.
//!
//! After the protocol's series one more is forecast as a check the forecaster was never tuned
//! on: Peyton Manning's log Wikipedia page views (Prophet's example), daily, with the
//! pedestrians' settings (m = 7, h = 14, last 730 days) over 8 origins. It is reported but
//! counts in neither the wins nor the averages.
//!
//! Side by side with statsforecast (`SIGNALCRAFT_STATSFORECAST=1`): after the bench's own
//! lines, statsforecast 2.1.1's AutoETS, MSTL and AutoTheta forecast the same training windows
//! (`statsforecast_side_by_side.py`, in a venv the bench creates under
//! `~/.cache/signalcraft-statsforecast-venv` on first use, or the Python named by
//! `SIGNALCRAFT_STATSFORECAST_PYTHON`); each series gets their MASE, sMAPE and fit + predict
//! seconds per origin (numba-compiled, the compile call reported apart), and the ratio of our
//! time to the fastest of them.
//!
//! The series are read at run time, never built in: from
//! `$CARGO_MANIFEST_DIR/../../../shared/bench/forecast` (override with
//! `SIGNALCRAFT_FORECAST_DIR`); NYC taxi from `../nab/data/realKnownCause/nyc_taxi.csv` next to
//! it (override with `SIGNALCRAFT_NYC_TAXI_CSV`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use augurs::ets::AutoETS;
use augurs::mstl::MSTLModel;
use augurs::{Fit, Predict};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use signalcraft_process::forecast::{Forecaster, ForecasterConfig, Horizon, IntervalSource};

/// One series of the protocol.
struct Spec {
    name: &'static str,
    path: PathBuf,
    /// Primary seasonal period (MASE scale, first baseline).
    m: usize,
    /// Further seasonal-naive baselines.
    extra_periods: &'static [usize],
    horizon: usize,
    origins: usize,
    /// Training window (rows before the origin); `None`: full history.
    window: Option<usize>,
    /// Timestamp of the last origin; `None`: the last `horizon` rows are the last test window.
    last_origin: Option<&'static str>,
    /// Part of the protocol (counted in the wins and averages), or a check outside it.
    in_protocol: bool,
}

struct Series {
    ts: Vec<DateTime<Utc>>,
    y: Vec<f64>,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("forecast benchmark: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let dir = std::env::var_os("SIGNALCRAFT_FORECAST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/forecast"));
    let taxi = std::env::var_os("SIGNALCRAFT_NYC_TAXI_CSV")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("../nab/data/realKnownCause/nyc_taxi.csv"));
    let data = dir.join("data");
    let specs = [
        Spec {
            name: "AirPassengers",
            path: data.join("example_air_passengers.csv"),
            m: 12,
            extra_periods: &[],
            horizon: 12,
            origins: 3,
            window: None,
            last_origin: None,
            in_protocol: true,
        },
        Spec {
            name: "US retail",
            path: data.join("example_retail_sales.csv"),
            m: 12,
            extra_periods: &[],
            horizon: 12,
            origins: 3,
            window: None,
            last_origin: None,
            in_protocol: true,
        },
        Spec {
            name: "Pedestrians",
            path: data.join("example_pedestrians_covid.csv"),
            m: 7,
            extra_periods: &[],
            horizon: 14,
            origins: 4,
            window: Some(730),
            last_origin: None,
            in_protocol: true,
        },
        Spec {
            name: "NYC taxi",
            path: taxi,
            m: 48,
            extra_periods: &[336],
            horizon: 48,
            origins: 7,
            window: Some(2688),
            last_origin: Some("2014-10-26 00:00:00"),
            in_protocol: true,
        },
        Spec {
            name: "Yosemite temps",
            path: data.join("example_yosemite_temps.csv"),
            m: 288,
            extra_periods: &[],
            horizon: 288,
            origins: 5,
            window: Some(4032),
            last_origin: None,
            in_protocol: true,
        },
        Spec {
            name: "Peyton Manning",
            path: data.join("example_wp_log_peyton_manning.csv"),
            m: 7,
            extra_periods: &[],
            horizon: 14,
            origins: 8,
            window: Some(730),
            last_origin: None,
            in_protocol: false,
        },
    ];

    let forecaster_for =
        |h: usize| Forecaster::new(ForecasterConfig { horizon: Horizon::Steps(h), ..Default::default() });
    let started_all = Instant::now();
    let mut wins = 0;
    // Per protocol series: coverage of the 80% and 95% intervals.
    let mut coverages: Vec<(f64, f64)> = Vec::new();
    // What statsforecast is run on afterwards, and our figures to set against it.
    let mut side_by_side: Vec<SideBySide> = Vec::new();
    println!("{:<15} {:<24} {:>7} {:>8}  ours vs it (MASE, sMAPE)", "series", "method", "MASE", "sMAPE %");
    for spec in &specs {
        let series = load(&spec.path)?;
        let n = series.y.len();
        let last = match spec.last_origin {
            None => n.checked_sub(spec.horizon).ok_or_else(|| format!("{}: too short", spec.name))?,
            Some(at) => {
                let at = NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S")
                    .map_err(|e| format!("{}: bad origin {at}: {e}", spec.name))?
                    .and_utc();
                series.ts.iter().position(|t| *t == at).ok_or_else(|| format!("{}: no row at {at}", spec.name))?
            }
        };
        let first = last
            .checked_sub((spec.origins - 1) * spec.horizon)
            .ok_or_else(|| format!("{}: not enough rows for {} origins", spec.name, spec.origins))?;
        let forecaster = forecaster_for(spec.horizon);
        let mut periods = vec![spec.m];
        periods.extend_from_slice(spec.extra_periods);
        let mut baselines: Vec<Baseline> = periods.iter().map(|&p| Baseline::SeasonalNaive(p)).collect();
        baselines.push(Baseline::Mstl { log: false });
        baselines.push(Baseline::Mstl { log: true });
        let mut ours = Score::default();
        let mut scores = vec![Score::default(); baselines.len()];
        let mut model = String::new();
        let mut intervals = IntervalSource::Model;
        let mut fit_secs = 0.0;
        let mut fit_cpu_secs = Some(0.0);
        // Our 80% and 95% intervals on the test points.
        let (mut interval_80, mut interval_95) = (IntervalScore::new(0.8), IntervalScore::new(0.95));
        let mut windows = Vec::new();
        for o in 0..spec.origins {
            let origin = first + o * spec.horizon;
            let start = spec.window.map_or(0, |w| origin.saturating_sub(w));
            let (train, actual) = (&series.y[start..origin], &series.y[origin..origin + spec.horizon]);
            let scale = naive_mae(train, spec.m);
            windows.push(Window { train: train.to_vec(), actual: actual.to_vec(), scale });
            let started = Instant::now();
            let cpu_started = cpu_seconds();
            let forecast = forecaster
                .forecast(&series.ts[start..origin], train)
                .map_err(|e| format!("{} origin {o}: {e}", spec.name))?;
            fit_secs += started.elapsed().as_secs_f64();
            fit_cpu_secs = match (fit_cpu_secs, cpu_started, cpu_seconds()) {
                (Some(total), Some(before), Some(after)) => Some(total + after - before),
                _ => None,
            };
            let mean: Vec<f64> = forecast.points.iter().map(|p| p.mean).collect();
            if mean.len() != spec.horizon {
                return Err(format!("{}: {} forecast points, expected {}", spec.name, mean.len(), spec.horizon));
            }
            ours.add(&mean, actual, scale);
            for (k, (point, &a)) in forecast.points.iter().zip(actual).enumerate() {
                let far = 2 * k >= spec.horizon;
                interval_80.add(point.lower_80, point.upper_80, a, scale, far);
                interval_95.add(point.lower_95, point.upper_95, a, scale, far);
            }
            model = forecast.model;
            intervals = forecast.intervals;
            for (score, baseline) in scores.iter_mut().zip(&baselines) {
                let forecast =
                    baseline.forecast(train, &periods, spec.horizon).map_err(|e| format!("{}: {e}", spec.name))?;
                score.add(&forecast, actual, scale);
            }
        }
        let k = spec.origins as f64;
        let (ours_mase, ours_smape) = (ours.mase / k, ours.smape / k);
        side_by_side.push(SideBySide {
            name: spec.name,
            periods: periods.clone(),
            horizon: spec.horizon,
            windows,
            ours_mase,
            ours_smape,
            ours_secs: fit_secs / k,
            ours_cpu_secs: fit_cpu_secs.map(|cpu| cpu / k),
            best_baseline_mase: scores.iter().map(|s| s.mase / k).fold(f64::INFINITY, f64::min),
        });
        let verdict = |ours: f64, theirs: f64| if ours < theirs { "win" } else { "lose" };
        println!(
            "{:<15} {:<24} {:>7.3} {:>8.2}  fit {:.3} s ({} CPU) per origin on {} points, model at the last origin: {}",
            spec.name,
            "ours",
            ours_mase,
            ours_smape,
            fit_secs / k,
            fit_cpu_secs.map_or("n/a".to_string(), |cpu| format!("{:.3} s", cpu / k)),
            spec.window.map_or("all".to_string(), |w| w.to_string()),
            model
        );
        let source = match intervals {
            IntervalSource::HeldOut { tails, errors } => {
                format!("calibrated on {errors} held-out errors in {tails} tails")
            }
            IntervalSource::Model => "the models' own".to_string(),
        };
        println!("{:<15} {:<24} intervals {}; {}", "", "", interval_80.summary(), interval_95.summary());
        println!("{:<15} {:<24} intervals at the last origin: {source}", "", "");
        if spec.in_protocol {
            coverages.push((interval_80.coverage(), interval_95.coverage()));
        }
        for (baseline, score) in baselines.iter().zip(&scores) {
            let (mase, smape) = (score.mase / k, score.smape / k);
            println!(
                "{:<15} {:<24} {:>7.3} {:>8.2}  {}, {}",
                "",
                baseline.name(),
                mase,
                smape,
                verdict(ours_mase, mase),
                verdict(ours_smape, smape)
            );
        }
        let best_mase = scores.iter().map(|s| s.mase / k).fold(f64::INFINITY, f64::min);
        let best_smape = scores.iter().map(|s| s.smape / k).fold(f64::INFINITY, f64::min);
        let won = ours_mase < best_mase && ours_smape < best_smape;
        if spec.in_protocol {
            wins += usize::from(won);
        }
        println!(
            "{:<15} {:<24} {:>7.3} {:>8.2}  {}, {} => {}",
            "",
            "best baseline",
            best_mase,
            best_smape,
            verdict(ours_mase, best_mase),
            verdict(ours_smape, best_smape),
            if won { "WIN" } else { "LOSE" }
        );
        if !spec.in_protocol {
            println!("{:<15} (a check outside the protocol: not in the wins or the averages)", "");
        }
    }
    let protocol = coverages.len() as f64;
    println!(
        "ours beats the best baseline on both metrics on {wins} of {} series; intervals cover {:.1}% (80%) and \
         {:.1}% (95%) on average over them; total {:.1} s",
        coverages.len(),
        coverages.iter().map(|c| c.0).sum::<f64>() / protocol,
        coverages.iter().map(|c| c.1).sum::<f64>() / protocol,
        started_all.elapsed().as_secs_f64()
    );
    if std::env::var_os("SIGNALCRAFT_STATSFORECAST").is_some_and(|v| v == "1") {
        statsforecast_side_by_side(&side_by_side)?;
    }
    Ok(())
}

/// One origin's training window and what followed it.
struct Window {
    train: Vec<f64>,
    actual: Vec<f64>,
    /// MASE scale of this origin.
    scale: f64,
}

/// One series' origins and our results on them, for the comparison with statsforecast.
struct SideBySide {
    name: &'static str,
    periods: Vec<usize>,
    horizon: usize,
    windows: Vec<Window>,
    ours_mase: f64,
    ours_smape: f64,
    /// Wall-clock and CPU seconds per origin.
    ours_secs: f64,
    ours_cpu_secs: Option<f64>,
    best_baseline_mase: f64,
}

/// The version compared against, as the issue measured it.
const STATSFORECAST: &str = "statsforecast==2.1.1";

/// A Python with statsforecast: `SIGNALCRAFT_STATSFORECAST_PYTHON`, or a venv under
/// `~/.cache` created (and statsforecast installed into it from PyPI) on first use.
fn statsforecast_python() -> Result<PathBuf, String> {
    if let Some(python) = std::env::var_os("SIGNALCRAFT_STATSFORECAST_PYTHON") {
        return Ok(PathBuf::from(python));
    }
    let home = std::env::var_os("HOME").ok_or("HOME is not set: set SIGNALCRAFT_STATSFORECAST_PYTHON")?;
    let venv = Path::new(&home).join(".cache/signalcraft-statsforecast-venv");
    let python = venv.join("bin/python");
    let installed = |python: &Path| {
        Command::new(python)
            .args(["-c", "import statsforecast, sys; sys.exit(statsforecast.__version__ != '2.1.1')"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.exists() && installed(&python) {
        return Ok(python);
    }
    eprintln!("creating {} with {STATSFORECAST} (once)", venv.display());
    let run = |program: &Path, args: &[&str]| -> Result<(), String> {
        let status = Command::new(program).args(args).status().map_err(|e| format!("{}: {e}", program.display()))?;
        status.success().then_some(()).ok_or_else(|| format!("{} {args:?}: {status}", program.display()))
    };
    let venv_arg = venv.to_str().ok_or("venv path is not UTF-8")?;
    run(Path::new("python3"), &["-m", "venv", venv_arg])?;
    run(&python, &["-m", "pip", "install", "--quiet", STATSFORECAST])?;
    Ok(python)
}

/// statsforecast's result for one model on one series.
#[derive(serde::Deserialize)]
struct TheirRun {
    series: String,
    model: String,
    forecasts: Vec<Vec<f64>>,
    wall: Vec<f64>,
    cpu: Vec<f64>,
    first_call: Option<f64>,
}

/// Runs statsforecast's AutoETS, MSTL and AutoTheta on the same windows and prints their
/// accuracy and time next to ours, with the ratio of our time to the fastest of them.
fn statsforecast_side_by_side(series: &[SideBySide]) -> Result<(), String> {
    let python = statsforecast_python()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/statsforecast_side_by_side.py");
    let request = serde_json::json!({
        "series": series.iter().map(|s| serde_json::json!({
            "name": s.name,
            "periods": s.periods,
            "horizon": s.horizon,
            "origins": s.windows.iter().map(|w| &w.train).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let body = request.to_string();
    // Written from a thread: the script answers while it reads, and a full pipe both ways
    // would block.
    let writer = std::thread::spawn(move || stdin.write_all(body.as_bytes()));
    let output = child.wait_with_output().map_err(|e| format!("statsforecast: {e}"))?;
    writer.join().map_err(|_| "writing to statsforecast panicked")?.map_err(|e| format!("statsforecast: {e}"))?;
    if !output.status.success() {
        return Err(format!("statsforecast side by side: {}", output.status));
    }
    let runs: Vec<TheirRun> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).map_err(|e| format!("statsforecast output {line:.80}: {e}")))
        .collect::<Result<_, _>>()?;
    println!();
    println!(
        "side by side with {STATSFORECAST} on the same origins (fit + predict per origin, wall and CPU seconds; \
         statsforecast compiled by numba before timing, its compile call shown once)"
    );
    println!("{:<15} {:<24} {:>7} {:>8} {:>10} {:>10}", "series", "method", "MASE", "sMAPE %", "wall s", "CPU s");
    let (mut faster, mut best_mase) = (0, 0);
    for s in series {
        println!(
            "{:<15} {:<24} {:>7.3} {:>8.2} {:>10.4} {:>10}",
            s.name,
            "ours",
            s.ours_mase,
            s.ours_smape,
            s.ours_secs,
            s.ours_cpu_secs.map_or("n/a".into(), |c| format!("{c:.4}"))
        );
        // Fastest by CPU seconds: on a machine shared with other work the wall-clock time
        // measures the neighbours as much as the fit (a Python process waiting for a core
        // showed twenty times its CPU time).
        let mut fastest: Option<(&str, f64, f64)> = None;
        let mut their_best = f64::INFINITY;
        for run in runs.iter().filter(|r| r.series == s.name) {
            let mut score = Score::default();
            for (forecast, window) in run.forecasts.iter().zip(&s.windows) {
                score.add(forecast, &window.actual, window.scale);
            }
            let k = s.windows.len() as f64;
            let (wall, cpu) = (run.wall.iter().sum::<f64>() / k, run.cpu.iter().sum::<f64>() / k);
            their_best = their_best.min(score.mase / k);
            if fastest.is_none_or(|(_, _, t)| cpu < t) {
                fastest = Some((&run.model, wall, cpu));
            }
            println!(
                "{:<15} {:<24} {:>7.3} {:>8.2} {:>10.4} {:>10.4}{}",
                "",
                run.model,
                score.mase / k,
                score.smape / k,
                wall,
                cpu,
                run.first_call.map_or(String::new(), |t| format!("  (first call with numba compile {t:.1} s)"))
            );
        }
        let best = s.ours_mase <= their_best.min(s.best_baseline_mase);
        let ours_cpu = s.ours_cpu_secs.unwrap_or(s.ours_secs);
        faster += usize::from(fastest.is_some_and(|(_, _, t)| ours_cpu < t));
        best_mase += usize::from(best);
        if let Some((model, wall, cpu)) = fastest {
            println!(
                "{:<15} ours / fastest ({model}): {:.2}x its CPU time ({:.2}x its wall time); ours {} MASE",
                "",
                ours_cpu / cpu,
                s.ours_secs / wall,
                if best { "has the best" } else { "does not have the best" }
            );
        }
    }
    println!(
        "side by side: ours faster (CPU seconds per origin) than statsforecast's fastest model on {faster} of {} series, best MASE on {best_mase}",
        series.len()
    );
    Ok(())
}

/// Sums of per-origin MASE and sMAPE.
#[derive(Debug, Clone, Copy, Default)]
struct Score {
    mase: f64,
    smape: f64,
}

impl Score {
    fn add(&mut self, forecast: &[f64], actual: &[f64], scale: f64) {
        self.mase += mae(forecast, actual) / scale;
        self.smape += smape(forecast, actual);
    }
}

/// Coverage, mean width and mean interval score of one interval level over the test points,
/// widths and scores divided by each origin's MASE scale; coverage also per half of the
/// horizon (errors grow with the step ahead, and the intervals should grow with them).
struct IntervalScore {
    level: f64,
    points: usize,
    inside: usize,
    /// Points and points inside in the far half of the horizon.
    far: (usize, usize),
    width: f64,
    score: f64,
}

impl IntervalScore {
    fn new(level: f64) -> Self {
        IntervalScore { level, points: 0, inside: 0, far: (0, 0), width: 0.0, score: 0.0 }
    }

    /// The interval (Winkler) score of `[lower, upper]` for the actual value `a`: the width,
    /// plus 2/α times how far `a` lies outside. `far`: the point is in the far half.
    fn add(&mut self, lower: f64, upper: f64, a: f64, scale: f64, far: bool) {
        let alpha = 1.0 - self.level;
        let miss = (lower - a).max(0.0) + (a - upper).max(0.0);
        self.points += 1;
        self.inside += usize::from(miss == 0.0);
        if far {
            self.far.0 += 1;
            self.far.1 += usize::from(miss == 0.0);
        }
        self.width += (upper - lower) / scale;
        self.score += ((upper - lower) + 2.0 / alpha * miss) / scale;
    }

    /// Percent of the points inside.
    fn coverage(&self) -> f64 {
        100.0 * self.inside as f64 / self.points.max(1) as f64
    }

    fn summary(&self) -> String {
        let points = self.points.max(1) as f64;
        let share = |inside: usize, points: usize| 100.0 * inside as f64 / points.max(1) as f64;
        format!(
            "{:.0}% covers {:.0}% (near/far half {:.0}/{:.0}%, width {:.2}, score {:.2})",
            100.0 * self.level,
            self.coverage(),
            share(self.inside - self.far.1, self.points - self.far.0),
            share(self.far.1, self.far.0),
            self.width / points,
            self.score / points
        )
    }
}

/// The reference forecasts of the protocol's README.
enum Baseline {
    /// The last cycle of this period, repeated.
    SeasonalNaive(usize),
    /// augurs' MSTL at the protocol's periods with an AutoETS trend, on `y` or `ln y`.
    Mstl { log: bool },
}

impl Baseline {
    fn name(&self) -> String {
        match self {
            Baseline::SeasonalNaive(period) => format!("seasonal-naive({period})"),
            Baseline::Mstl { log: false } => "mstl+autoets".into(),
            Baseline::Mstl { log: true } => "mstl+autoets on log".into(),
        }
    }

    fn forecast(&self, train: &[f64], periods: &[usize], horizon: usize) -> Result<Vec<f64>, String> {
        match *self {
            Baseline::SeasonalNaive(p) => Ok((0..horizon).map(|k| train[train.len() - p + k % p]).collect()),
            Baseline::Mstl { log } => {
                let y: Vec<f64> = if log { train.iter().map(|v| v.ln()).collect() } else { train.to_vec() };
                let model = MSTLModel::new(periods.to_vec(), AutoETS::non_seasonal().into_trend_model());
                let fitted = model.fit(&y).map_err(|e| format!("{}: {e}", self.name()))?;
                let point = fitted.predict(horizon, None).map_err(|e| format!("{}: {e}", self.name()))?.point;
                Ok(if log { point.into_iter().map(f64::exp).collect() } else { point })
            }
        }
    }
}

/// CPU time used by this process so far, all its threads (also those that have ended), in
/// nanosecond resolution; `None` where the clock is not available. The wall-clock fit time
/// depends on what else the machine runs, the CPU time much less.
fn cpu_seconds() -> Option<f64> {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer to a local.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    (status == 0).then_some(now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9)
}

fn load(path: &Path) -> Result<Series, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "reading {}: {e} (set SIGNALCRAFT_FORECAST_DIR / SIGNALCRAFT_NYC_TAXI_CSV to the benchmark data)",
            path.display()
        )
    })?;
    let mut series = Series { ts: Vec::new(), y: Vec::new() };
    for (i, line) in text.lines().enumerate().skip(1) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (ts, value) = line.split_once(',').ok_or_else(|| format!("{}:{}: no comma", path.display(), i + 1))?;
        let ts = ts.trim_matches('"');
        let ts = NaiveDateTime::parse_from_str(ts, "%Y-%m-%d %H:%M:%S")
            .or_else(|_| NaiveDate::parse_from_str(ts, "%Y-%m-%d").map(|d| d.and_time(chrono::NaiveTime::MIN)))
            .map_err(|e| format!("{}:{}: timestamp {ts}: {e}", path.display(), i + 1))?;
        let value: f64 =
            value.trim_matches('"').parse().map_err(|e| format!("{}:{}: value {value}: {e}", path.display(), i + 1))?;
        series.ts.push(ts.and_utc());
        series.y.push(value);
    }
    Ok(series)
}

fn naive_mae(y: &[f64], m: usize) -> f64 {
    (m..y.len()).map(|i| (y[i] - y[i - m]).abs()).sum::<f64>() / (y.len() - m) as f64
}

fn mae(forecast: &[f64], actual: &[f64]) -> f64 {
    forecast.iter().zip(actual).map(|(f, a)| (f - a).abs()).sum::<f64>() / actual.len() as f64
}

fn smape(forecast: &[f64], actual: &[f64]) -> f64 {
    forecast.iter().zip(actual).map(|(f, a)| 200.0 * (f - a).abs() / (f.abs() + a.abs())).sum::<f64>()
        / actual.len() as f64
}
