//! From per-token valences to VADER's four scores (`score_valence`, `_punctuation_emphasis`,
//! `_sift_sentiment_scores`, `normalize`), with the Python's operation order and rounding.

use super::pytext;

/// VADER's four scores of one text, rounded as the Python rounds them (3 decimals for the
/// proportions, 4 for `compound`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Polarity {
    /// Share of the text's weight that is negative, in [0, 1].
    pub neg: f64,
    /// Share that is neutral, in [0, 1].
    pub neu: f64,
    /// Share that is positive, in [0, 1].
    pub pos: f64,
    /// Normalised sum of all valences, in [-1, 1].
    pub compound: f64,
}

/// `normalize(score, alpha=15)`: maps a sum of valences into [-1, 1].
fn normalize(score: f64) -> f64 {
    let normalized = score / (score * score + 15.0).sqrt();
    normalized.clamp(-1.0, 1.0)
}

/// `_amplify_ep` + `_amplify_qm`: up to four "!" add 0.292 each; two or three "?" add 0.18 each,
/// more add 0.96. Counted over the whole (emoji-replaced) text.
fn punctuation_emphasis(text: &str) -> f64 {
    let exclamations = text.matches('!').count().min(4);
    let questions = text.matches('?').count();
    let exclamation_amplifier = exclamations as f64 * 0.292;
    let question_amplifier = match questions {
        0 | 1 => 0.0,
        2 | 3 => questions as f64 * 0.18,
        _ => 0.96,
    };
    exclamation_amplifier + question_amplifier
}

/// `_sift_sentiment_scores`: positives and negatives each count one more than their valence (so
/// they weigh against neutral tokens, which count 1); returns (positive sum, negative sum,
/// neutral count).
fn sift_sentiment_scores(sentiments: &[f64]) -> (f64, f64, usize) {
    let mut positive = 0.0;
    let mut negative = 0.0;
    let mut neutral = 0;
    for &sentiment in sentiments {
        if sentiment > 0.0 {
            positive += sentiment + 1.0;
        }
        if sentiment < 0.0 {
            negative += sentiment - 1.0;
        }
        if sentiment == 0.0 {
            neutral += 1;
        }
    }
    (positive, negative, neutral)
}

/// `score_valence`.
pub(crate) fn score_valence(sentiments: &[f64], text: &str) -> Polarity {
    if sentiments.is_empty() {
        return Polarity::default();
    }
    // Python's built-in sum() before 3.12 adds left to right, which the reference scores were
    // computed with; 3.12 switched to compensated summation (no score of the benchmark differs).
    let mut sum = sentiments.iter().fold(0.0, |total, &sentiment| total + sentiment);
    let amplifier = punctuation_emphasis(text);
    if sum > 0.0 {
        sum += amplifier;
    } else if sum < 0.0 {
        sum -= amplifier;
    }
    let compound = normalize(sum);

    let (mut positive, mut negative, neutral) = sift_sentiment_scores(sentiments);
    if positive > negative.abs() {
        positive += amplifier;
    } else if positive < negative.abs() {
        negative -= amplifier;
    }
    let total = positive + negative.abs() + neutral as f64;
    Polarity {
        neg: pytext::round((negative / total).abs(), 3),
        neu: pytext::round((neutral as f64 / total).abs(), 3),
        pos: pytext::round((positive / total).abs(), 3),
        compound: pytext::round(compound, 4),
    }
}
