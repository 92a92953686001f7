//! VADER's valence rules, one function per method of vaderSentiment 3.3.2's
//! `SentimentIntensityAnalyzer`, in the same order of operations so the floats come out
//! bit-identical: "no" as a negation, ALL-CAPS emphasis, boosters and dampeners up to three
//! words back, negation words, "never so"/"without doubt", special-case idioms, "least", and
//! the contrastive "but".
//!
//! Index arithmetic follows the Python's guards: every look-back is behind an `i > n` test (the
//! idiom and three-back negation checks read `i - 3` only when `i > 2`), so no negative Python
//! index ever wraps around to the end of the list in 3.3.2; the ports that wrap differ here.

use std::borrow::Cow;

use super::lexicon::{C_INCR, MULTI_WORD_BOOSTERS, NEGATIONS, N_SCALAR, SPECIAL_CASES};

/// One whitespace-separated token of the text, with what the rules ask about it.
#[derive(Debug)]
pub(crate) struct Token<'t> {
    /// `token.lower()`, where token is an item of `SentiText.words_and_emoticons` (the
    /// whitespace-separated piece after punctuation stripping).
    pub(crate) lower: Cow<'t, str>,
    /// `token.isupper()`.
    pub(crate) is_upper: bool,
    /// `lexicon.get(token.lower())`.
    pub(crate) valence: Option<f64>,
    /// `BOOSTER_DICT.get(token.lower())`.
    pub(crate) booster: Option<f64>,
}

impl Token<'_> {
    pub(crate) fn is(&self, word: &str) -> bool {
        self.lower == word
    }
}

/// `sentiment_valence`: the valence token `i` contributes, 0 unless it is a lexicon word.
pub(crate) fn sentiment_valence(tokens: &[Token<'_>], i: usize, is_cap_diff: bool) -> f64 {
    let item = &tokens[i];
    let Some(lexicon_valence) = item.valence else {
        return 0.0;
    };
    let mut valence = lexicon_valence;

    // "no" directly before another lexicon word negates that word instead of counting itself.
    if item.is("no") && tokens.get(i + 1).is_some_and(|next| next.valence.is_some()) {
        valence = 0.0;
    }
    if (i > 0 && tokens[i - 1].is("no"))
        || (i > 1 && tokens[i - 2].is("no"))
        || (i > 2 && tokens[i - 3].is("no") && (tokens[i - 1].is("or") || tokens[i - 1].is("nor")))
    {
        valence = lexicon_valence * N_SCALAR;
    }

    // ALL CAPS among mixed case is emphasis. A valence of exactly 0 ("no" above) goes DOWN.
    if item.is_upper && is_cap_diff {
        if valence > 0.0 {
            valence += C_INCR;
        } else {
            valence -= C_INCR;
        }
    }

    // The three preceding tokens that are not lexicon words themselves: boosters fade with
    // distance, then negations and idioms apply.
    for distance in 0..3 {
        if i > distance && tokens[i - (distance + 1)].valence.is_none() {
            let mut scalar = scalar_inc_dec(&tokens[i - (distance + 1)], valence, is_cap_diff);
            if distance == 1 && scalar != 0.0 {
                scalar *= 0.95;
            }
            if distance == 2 && scalar != 0.0 {
                scalar *= 0.9;
            }
            valence += scalar;
            valence = negation_check(valence, tokens, distance, i);
            if distance == 2 {
                valence = special_idioms_check(valence, tokens, i);
            }
        }
    }

    least_check(valence, tokens, i)
}

/// `scalar_inc_dec`: how much a booster or dampener adds to the valence that follows it, in the
/// valence's direction; more if the booster alone is in ALL CAPS.
fn scalar_inc_dec(word: &Token<'_>, valence: f64, is_cap_diff: bool) -> f64 {
    let Some(mut scalar) = word.booster else {
        return 0.0;
    };
    if valence < 0.0 {
        scalar *= -1.0;
    }
    if word.is_upper && is_cap_diff {
        if valence > 0.0 {
            scalar += C_INCR;
        } else {
            scalar -= C_INCR;
        }
    }
    scalar
}

/// `negated([word])` for one lowercase word: a negation word, or any word containing "n't".
fn negated(word: &str) -> bool {
    NEGATIONS.contains(&word) || word.contains("n't")
}

/// `_negation_check` for the token `distance + 1` places before `i`.
fn negation_check(valence: f64, tokens: &[Token<'_>], distance: usize, i: usize) -> f64 {
    let word = |k: usize| -> &str { &tokens[k].lower };
    let so_or_this = |k: usize| word(k) == "so" || word(k) == "this";
    match distance {
        0 if negated(word(i - 1)) => valence * N_SCALAR,
        1 if word(i - 2) == "never" && so_or_this(i - 1) => valence * 1.25,
        1 if word(i - 2) == "without" && word(i - 1) == "doubt" => valence,
        1 if negated(word(i - 2)) => valence * N_SCALAR,
        // Python precedence: `never and (so or this) or (so or this)` — the second half does not
        // look at "never", so any word right after "so" or "this" is boosted here.
        2 if (word(i - 3) == "never" && so_or_this(i - 2)) || so_or_this(i - 1) => valence * 1.25,
        2 if word(i - 3) == "without" && (word(i - 2) == "doubt" || word(i - 1) == "doubt") => valence,
        2 if negated(word(i - 3)) => valence * N_SCALAR,
        _ => valence,
    }
}

/// Whether the tokens at `positions` are `words`: the Python's `"{0} {1}".format(...) in DICT`
/// without building the string.
fn spells(tokens: &[Token<'_>], positions: &[usize], words: &[&str]) -> bool {
    positions.len() == words.len() && positions.iter().zip(words).all(|(&k, &word)| tokens[k].is(word))
}

fn lookup(table: &[(&[&str], f64)], tokens: &[Token<'_>], positions: &[usize]) -> Option<f64> {
    table.iter().find(|(words, _)| spells(tokens, positions, words)).map(|&(_, value)| value)
}

/// `_special_idioms_check`, only ever called with `i > 2`.
fn special_idioms_check(mut valence: f64, tokens: &[Token<'_>], i: usize) -> f64 {
    let one_zero = [i - 1, i];
    let two_one_zero = [i - 2, i - 1, i];
    let two_one = [i - 2, i - 1];
    let three_two_one = [i - 3, i - 2, i - 1];
    let three_two = [i - 3, i - 2];

    // The first idiom ending at or before `i` wins ...
    let preceding: [&[usize]; 5] = [&one_zero, &two_one_zero, &two_one, &three_two_one, &three_two];
    if let Some(idiom) = preceding.iter().find_map(|positions| lookup(SPECIAL_CASES, tokens, positions)) {
        valence = idiom;
    }
    // ... then idioms starting at `i` override it.
    if tokens.len() - 1 > i {
        if let Some(idiom) = lookup(SPECIAL_CASES, tokens, &[i, i + 1]) {
            valence = idiom;
        }
    }
    if tokens.len() - 1 > i + 1 {
        if let Some(idiom) = lookup(SPECIAL_CASES, tokens, &[i, i + 1, i + 2]) {
            valence = idiom;
        }
    }

    // Two-word dampeners such as "kind of" just before the word; every match adds.
    for positions in [&three_two_one[..], &three_two, &two_one] {
        if let Some(scalar) = lookup(MULTI_WORD_BOOSTERS, tokens, positions) {
            valence += scalar;
        }
    }
    valence
}

/// `_least_check`: "least good" negates, "at least good" and "very least good" do not.
fn least_check(valence: f64, tokens: &[Token<'_>], i: usize) -> f64 {
    let least_before = |i: usize| tokens[i - 1].valence.is_none() && tokens[i - 1].is("least");
    if i > 1 && least_before(i) {
        if !tokens[i - 2].is("at") && !tokens[i - 2].is("very") {
            return valence * N_SCALAR;
        }
        valence
    } else if i > 0 && least_before(i) {
        valence * N_SCALAR
    } else {
        valence
    }
}

/// `_but_check`: valences before the first "but" are halved, those after it grow by half.
///
/// Reproduces the Python's quirk: it walks the list while replacing items and finds each item's
/// position with `sentiments.index(value)` — the FIRST position holding an equal value, not the
/// item's own. In "Kind people, but ok" "Kind" (2.4) is halved to 1.2 first; "ok" (1.2) then
/// finds that copy, so "Kind" is halved again and "ok" keeps 1.2 instead of growing to 1.8.
/// Quadratic in the number of tokens, only for texts containing "but".
pub(crate) fn but_check(tokens: &[Token<'_>], sentiments: &mut [f64]) {
    let Some(but) = tokens.iter().position(|token| token.is("but")) else {
        return;
    };
    for k in 0..sentiments.len() {
        let sentiment = sentiments[k];
        // Present at `k` at the latest (scores are never NaN).
        let first = sentiments.iter().position(|&other| other == sentiment).unwrap_or(k);
        if first < but {
            sentiments[first] = sentiment * 0.5;
        } else if first > but {
            sentiments[first] = sentiment * 1.5;
        }
    }
}
