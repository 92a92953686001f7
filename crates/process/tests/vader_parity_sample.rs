//! Parity with PyPI vaderSentiment 3.3.2 on a fixed sample of the benchmark sentences
//! (`fixtures/vader_sample.tsv`, provenance and selection in `fixtures/SOURCE.txt`), so CI checks
//! it without `../shared`. The full 23,703-sentence run is `benches/vader_parity.rs`.

use signalcraft_process::sentiment::{Polarity, SentimentAnalyzer};

const SAMPLE: &str = include_str!("fixtures/vader_sample.tsv");
const TOLERANCE: f64 = 1e-4;

struct Row<'a> {
    set: &'a str,
    id: &'a str,
    reference: Polarity,
    text: &'a str,
}

fn rows() -> Vec<Row<'static>> {
    SAMPLE
        .lines()
        .enumerate()
        .skip(1)
        .map(|(index, line)| {
            let fields: Vec<&str> = line.splitn(7, '\t').collect();
            let [set, id, neg, neu, pos, compound, text] = fields[..] else {
                panic!("vader_sample.tsv line {}: expected 7 tab-separated fields", index + 1);
            };
            let score = |field: &str| -> f64 {
                field.parse().unwrap_or_else(|_| panic!("vader_sample.tsv line {}: {field:?}", index + 1))
            };
            let reference = Polarity { neg: score(neg), neu: score(neu), pos: score(pos), compound: score(compound) };
            Row { set, id, reference, text }
        })
        .collect()
}

#[test]
fn sample_matches_vader_3_3_2() {
    let analyzer = SentimentAnalyzer::new();
    let rows = rows();
    assert_eq!(rows.len(), 971, "the sample described in fixtures/SOURCE.txt");
    let mismatches: Vec<String> = rows
        .iter()
        .filter_map(|row| {
            let ours = analyzer.polarity_scores(row.text);
            let theirs = row.reference;
            let within =
                [ours.neg - theirs.neg, ours.neu - theirs.neu, ours.pos - theirs.pos, ours.compound - theirs.compound]
                    .iter()
                    .all(|difference| difference.abs() <= TOLERANCE);
            (!within).then(|| format!("{} {}: ours {ours:?}, reference {theirs:?}: {:?}", row.set, row.id, row.text))
        })
        .collect();
    assert!(mismatches.is_empty(), "{} of {} differ:\n{}", mismatches.len(), rows.len(), mismatches.join("\n"));
}

#[test]
fn sample_covers_every_set() {
    let rows = rows();
    for set in ["tweets", "movieReviewSnippets", "amazonReviewSnippets", "nytEditorialSnippets"] {
        assert!(rows.iter().filter(|row| row.set == set).count() >= 90, "{set}");
    }
}
