//! Benchmark: parity and speed of our VADER against PyPI vaderSentiment 3.3.2 on the four
//! ground-truth sets of Hutto & Gilbert (2014) — 23,703 sentences.
//!
//!     cargo bench -p signalcraft-process --bench vader_parity
//!
//! Reads `<dir>/data/<set>_GroundTruth.txt` (id, rating, text; CRLF) and the reference scores
//! `<dir>/<set>.vader-3.3.2.tsv` (id, neg, neu, pos, compound), where `<dir>` is
//! `../shared/bench/sentiment` beside the repository or `SIGNALCRAFT_SENTIMENT_BENCH_DIR`.
//! Prints per set and in total: sentences, how many match the reference within 1e-4 on all four
//! scores, the largest absolute difference, and our sentences per second. When the Python named
//! by `SIGNALCRAFT_PYTHON` (default `python3`) can `import vaderSentiment`, times it on the same
//! sentences in the same way (analyzer built once, files read before the clock starts, PASSES
//! passes over every set) and prints the speed-up. Exits non-zero if any sentence differs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use signalcraft_process::sentiment::{Polarity, SentimentAnalyzer};

const SETS: [&str; 4] = ["tweets", "movieReviewSnippets", "amazonReviewSnippets", "nytEditorialSnippets"];
const TOLERANCE: f64 = 1e-4;
/// Passes over every set, for both implementations (env SIGNALCRAFT_BENCH_PASSES).
const DEFAULT_PASSES: u32 = 3;

struct Sentence {
    id: String,
    text: String,
    reference: Polarity,
}

struct SetResult {
    name: String,
    sentences: usize,
    matching: usize,
    max_difference: f64,
    elapsed: Duration,
    mismatches: Vec<String>,
}

fn bench_dir() -> PathBuf {
    match std::env::var_os("SIGNALCRAFT_SENTIMENT_BENCH_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let beside_repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/sentiment");
            beside_repository.canonicalize().unwrap_or(beside_repository)
        }
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))
}

fn parse_score(field: Option<&str>, path: &Path, line: usize) -> Result<f64, String> {
    let field = field.ok_or_else(|| format!("{}:{line}: missing column", path.display()))?;
    field.trim().parse().map_err(|_| format!("{}:{line}: {field:?} is not a number", path.display()))
}

fn load_set(dir: &Path, name: &str) -> Result<Vec<Sentence>, String> {
    let reference_path = dir.join(format!("{name}.vader-3.3.2.tsv"));
    let mut references = HashMap::new();
    for (index, line) in read(&reference_path)?.lines().enumerate().skip(1) {
        let mut fields = line.split('\t');
        let id = fields.next().unwrap_or_default().to_string();
        let mut score = || parse_score(fields.next(), &reference_path, index + 1);
        let (neg, neu, pos, compound) = (score()?, score()?, score()?, score()?);
        references.insert(id, Polarity { neg, neu, pos, compound });
    }

    let data_path = dir.join("data").join(format!("{name}_GroundTruth.txt"));
    let mut sentences = Vec::new();
    for (index, line) in read(&data_path)?.split("\r\n").enumerate().filter(|(_, line)| !line.is_empty()) {
        let mut fields = line.splitn(3, '\t');
        let (Some(id), Some(_rating), Some(text)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(format!("{}:{}: expected id, rating and text", data_path.display(), index + 1));
        };
        let reference = references
            .get(id)
            .copied()
            .ok_or_else(|| format!("{}: no reference score for id {id}", reference_path.display()))?;
        sentences.push(Sentence { id: id.to_string(), text: text.to_string(), reference });
    }
    if sentences.len() != references.len() {
        return Err(format!("{name}: {} sentences but {} reference scores", sentences.len(), references.len()));
    }
    Ok(sentences)
}

fn largest_difference(ours: &Polarity, reference: &Polarity) -> f64 {
    [ours.neg - reference.neg, ours.neu - reference.neu, ours.pos - reference.pos, ours.compound - reference.compound]
        .into_iter()
        .map(f64::abs)
        .fold(0.0, f64::max)
}

fn run_set(analyzer: &SentimentAnalyzer, name: &str, sentences: &[Sentence], passes: u32) -> SetResult {
    let mut result = SetResult {
        name: name.to_string(),
        sentences: sentences.len(),
        matching: 0,
        max_difference: 0.0,
        elapsed: Duration::ZERO,
        mismatches: Vec::new(),
    };
    for sentence in sentences {
        let ours = analyzer.polarity_scores(&sentence.text);
        let difference = largest_difference(&ours, &sentence.reference);
        result.max_difference = result.max_difference.max(difference);
        if difference <= TOLERANCE {
            result.matching += 1;
        } else {
            result.mismatches.push(format!(
                "{name} {}: ours {ours:?}, reference {:?}: {:?}",
                sentence.id, sentence.reference, sentence.text
            ));
        }
    }
    let started = Instant::now();
    for _ in 0..passes {
        for sentence in sentences {
            std::hint::black_box(analyzer.polarity_scores(std::hint::black_box(&sentence.text)));
        }
    }
    result.elapsed = started.elapsed();
    result
}

/// Seconds per set the Python took for the same passes, or why it could not be timed.
fn time_python(python: &str, dir: &Path, passes: u32) -> Result<HashMap<String, f64>, String> {
    let importable = Command::new(python).args(["-c", "import vaderSentiment"]).output();
    match importable {
        Ok(output) if output.status.success() => {}
        Ok(_) => return Err(format!("`{python} -c \"import vaderSentiment\"` fails")),
        Err(error) => return Err(format!("cannot run {python}: {error}")),
    }
    // Same work as ours: files read and analyzer built before the clock starts, then PASSES
    // passes over each set's sentences.
    const SCRIPT: &str = r#"
import sys, time
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
directory, passes, sets = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
analyzer = SentimentIntensityAnalyzer()
for name in sets:
    with open(f"{directory}/data/{name}_GroundTruth.txt", encoding="utf-8", newline="") as f:
        texts = [line.split("\t", 2)[2] for line in f.read().split("\r\n") if line]
    started = time.perf_counter()
    for _ in range(passes):
        for text in texts:
            analyzer.polarity_scores(text)
    print(name, len(texts), time.perf_counter() - started, flush=True)
"#;
    let output = Command::new(python)
        .args(["-c", SCRIPT])
        .arg(dir)
        .arg(passes.to_string())
        .args(SETS)
        .output()
        .map_err(|error| format!("cannot run {python}: {error}"))?;
    if !output.status.success() {
        return Err(format!("{python} failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    let mut seconds = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        if let [name, _count, elapsed] = fields[..] {
            let elapsed = elapsed.parse().map_err(|_| format!("unexpected Python output line {line:?}"))?;
            seconds.insert(name.to_string(), elapsed);
        }
    }
    Ok(seconds)
}

fn main() -> ExitCode {
    let dir = bench_dir();
    if !dir.is_dir() {
        eprintln!(
            "error: sentiment benchmark data not found at {} (set SIGNALCRAFT_SENTIMENT_BENCH_DIR to the \
             directory holding <set>.vader-3.3.2.tsv and data/<set>_GroundTruth.txt)",
            dir.display()
        );
        return ExitCode::FAILURE;
    }
    let passes = std::env::var("SIGNALCRAFT_BENCH_PASSES").ok().and_then(|p| p.parse().ok()).unwrap_or(DEFAULT_PASSES);

    let mut sets = Vec::new();
    for name in SETS {
        match load_set(&dir, name) {
            Ok(sentences) => sets.push((name, sentences)),
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        }
    }

    let started = Instant::now();
    let analyzer = SentimentAnalyzer::new();
    let construction = started.elapsed();

    let results: Vec<SetResult> =
        sets.iter().map(|(name, sentences)| run_set(&analyzer, name, sentences, passes)).collect();
    let python = std::env::var("SIGNALCRAFT_PYTHON").unwrap_or_else(|_| "python3".into());
    let python_seconds = time_python(&python, &dir, passes);

    println!(
        "VADER parity with vaderSentiment 3.3.2 (tolerance {TOLERANCE:e}), {} from {}",
        passes_label(passes),
        dir.display()
    );
    println!("analyzer construction (lexicon parse): {:.1} ms", construction.as_secs_f64() * 1e3);
    println!(
        "{:<22} {:>9} {:>9} {:>10} {:>13} {:>13} {:>9}",
        "set", "sentences", "matching", "max diff", "ours sent/s", "python sent/s", "speed-up"
    );
    let mut total = SetResult {
        name: "total".into(),
        sentences: 0,
        matching: 0,
        max_difference: 0.0,
        elapsed: Duration::ZERO,
        mismatches: Vec::new(),
    };
    let mut python_total = Some(0.0);
    for result in &results {
        let python = python_seconds.as_ref().ok().and_then(|seconds| seconds.get(&result.name).copied());
        print_row(result, python, passes);
        total.sentences += result.sentences;
        total.matching += result.matching;
        total.max_difference = total.max_difference.max(result.max_difference);
        total.elapsed += result.elapsed;
        total.mismatches.extend(result.mismatches.iter().cloned());
        python_total = python_total.zip(python).map(|(sum, seconds)| sum + seconds);
    }
    print_row(&total, python_total, passes);
    if let Err(reason) = &python_seconds {
        println!("PyPI vaderSentiment not timed: {reason} (set SIGNALCRAFT_PYTHON to a python3 that has it)");
    }
    for mismatch in total.mismatches.iter().take(20) {
        println!("mismatch: {mismatch}");
    }
    if total.matching == total.sentences {
        ExitCode::SUCCESS
    } else {
        println!("{} of {} sentences differ from the reference", total.sentences - total.matching, total.sentences);
        ExitCode::FAILURE
    }
}

fn passes_label(passes: u32) -> String {
    if passes == 1 {
        "1 timed pass".into()
    } else {
        format!("{passes} timed passes")
    }
}

fn print_row(result: &SetResult, python_seconds: Option<f64>, passes: u32) {
    let scored = (result.sentences as f64) * f64::from(passes);
    let ours = scored / result.elapsed.as_secs_f64();
    let (python, speed_up) = match python_seconds {
        Some(seconds) => (format!("{:.0}", scored / seconds), format!("{:.1}x", ours / (scored / seconds))),
        None => ("-".into(), "-".into()),
    };
    println!(
        "{:<22} {:>9} {:>9} {:>10.2e} {:>13.0} {:>13} {:>9}",
        result.name, result.sentences, result.matching, result.max_difference, ours, python, speed_up
    );
}
