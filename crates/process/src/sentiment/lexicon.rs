//! VADER 3.3.2's word tables: the two lexicon files embedded from the PyPI package (provenance in
//! `data/SOURCE.txt`) and the constants `vaderSentiment.py` defines in code — negation words,
//! boosters and dampeners, special-case idioms — copied verbatim and parsed as the Python parses
//! them.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::pytext;

/// `vader_lexicon.txt`: token, mean valence, standard deviation, ten human ratings.
pub(crate) const VADER_LEXICON: &str = include_str!("data/vader_lexicon.txt");
/// `emoji_utf8_lexicon.txt`: emoji, textual description.
pub(crate) const EMOJI_LEXICON: &str = include_str!("data/emoji_utf8_lexicon.txt");

/// Mean rating increase for a booster word ("very").
pub(crate) const B_INCR: f64 = 0.293;
/// Mean rating decrease for a dampener word ("slightly").
pub(crate) const B_DECR: f64 = -0.293;
/// Mean rating increase for an ALL-CAPS word among mixed-case ones.
pub(crate) const C_INCR: f64 = 0.733;
/// Factor applied to a negated valence.
pub(crate) const N_SCALAR: f64 = -0.74;

/// `NEGATE`.
pub(crate) const NEGATIONS: &[&str] = &[
    "aint",
    "arent",
    "cannot",
    "cant",
    "couldnt",
    "darent",
    "didnt",
    "doesnt",
    "ain't",
    "aren't",
    "can't",
    "couldn't",
    "daren't",
    "didn't",
    "doesn't",
    "dont",
    "hadnt",
    "hasnt",
    "havent",
    "isnt",
    "mightnt",
    "mustnt",
    "neither",
    "don't",
    "hadn't",
    "hasn't",
    "haven't",
    "isn't",
    "mightn't",
    "mustn't",
    "neednt",
    "needn't",
    "never",
    "none",
    "nope",
    "nor",
    "not",
    "nothing",
    "nowhere",
    "oughtnt",
    "shant",
    "shouldnt",
    "uhuh",
    "wasnt",
    "werent",
    "oughtn't",
    "shan't",
    "shouldn't",
    "uh-uh",
    "wasn't",
    "weren't",
    "without",
    "wont",
    "wouldnt",
    "won't",
    "wouldn't",
    "rarely",
    "seldom",
    "despite",
];

/// `BOOSTER_DICT`, in the Python's order. The three two-word entries only ever match the n-grams
/// of `_special_idioms_check`: a single token never contains a space.
pub(crate) const BOOSTERS: &[(&str, f64)] = &[
    ("absolutely", B_INCR),
    ("amazingly", B_INCR),
    ("awfully", B_INCR),
    ("completely", B_INCR),
    ("considerable", B_INCR),
    ("considerably", B_INCR),
    ("decidedly", B_INCR),
    ("deeply", B_INCR),
    ("effing", B_INCR),
    ("enormous", B_INCR),
    ("enormously", B_INCR),
    ("entirely", B_INCR),
    ("especially", B_INCR),
    ("exceptional", B_INCR),
    ("exceptionally", B_INCR),
    ("extreme", B_INCR),
    ("extremely", B_INCR),
    ("fabulously", B_INCR),
    ("flipping", B_INCR),
    ("flippin", B_INCR),
    ("frackin", B_INCR),
    ("fracking", B_INCR),
    ("fricking", B_INCR),
    ("frickin", B_INCR),
    ("frigging", B_INCR),
    ("friggin", B_INCR),
    ("fully", B_INCR),
    ("fuckin", B_INCR),
    ("fucking", B_INCR),
    ("fuggin", B_INCR),
    ("fugging", B_INCR),
    ("greatly", B_INCR),
    ("hella", B_INCR),
    ("highly", B_INCR),
    ("hugely", B_INCR),
    ("incredible", B_INCR),
    ("incredibly", B_INCR),
    ("intensely", B_INCR),
    ("major", B_INCR),
    ("majorly", B_INCR),
    ("more", B_INCR),
    ("most", B_INCR),
    ("particularly", B_INCR),
    ("purely", B_INCR),
    ("quite", B_INCR),
    ("really", B_INCR),
    ("remarkably", B_INCR),
    ("so", B_INCR),
    ("substantially", B_INCR),
    ("thoroughly", B_INCR),
    ("total", B_INCR),
    ("totally", B_INCR),
    ("tremendous", B_INCR),
    ("tremendously", B_INCR),
    ("uber", B_INCR),
    ("unbelievably", B_INCR),
    ("unusually", B_INCR),
    ("utter", B_INCR),
    ("utterly", B_INCR),
    ("very", B_INCR),
    ("almost", B_DECR),
    ("barely", B_DECR),
    ("hardly", B_DECR),
    ("just enough", B_DECR),
    ("kind of", B_DECR),
    ("kinda", B_DECR),
    ("kindof", B_DECR),
    ("kind-of", B_DECR),
    ("less", B_DECR),
    ("little", B_DECR),
    ("marginal", B_DECR),
    ("marginally", B_DECR),
    ("occasional", B_DECR),
    ("occasionally", B_DECR),
    ("partly", B_DECR),
    ("scarce", B_DECR),
    ("scarcely", B_DECR),
    ("slight", B_DECR),
    ("slightly", B_DECR),
    ("somewhat", B_DECR),
    ("sort of", B_DECR),
    ("sorta", B_DECR),
    ("sortof", B_DECR),
    ("sort-of", B_DECR),
];

/// `SPECIAL_CASES`: idioms whose valence replaces that of the lexicon word inside them, split
/// into words because the Python only ever compares them with space-joined n-grams of tokens
/// (which contain no spaces). The one-word entry "badass" can never equal such an n-gram; it is
/// kept for fidelity.
pub(crate) const SPECIAL_CASES: &[(&[&str], f64)] = &[
    (&["the", "shit"], 3.0),
    (&["the", "bomb"], 3.0),
    (&["bad", "ass"], 1.5),
    (&["badass"], 1.5),
    (&["bus", "stop"], 0.0),
    (&["yeah", "right"], -2.0),
    (&["kiss", "of", "death"], -1.5),
    (&["to", "die", "for"], 3.0),
    (&["beating", "heart"], 3.5),
];

/// The entries of [`BOOSTERS`] with a space, split into words: the only ones the n-gram check
/// of `_special_idioms_check` can match.
pub(crate) const MULTI_WORD_BOOSTERS: &[(&[&str], f64)] =
    &[(&["just", "enough"], B_DECR), (&["kind", "of"], B_DECR), (&["sort", "of"], B_DECR)];

/// A lexicon file that cannot be read the way the Python reads it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LexiconError {
    #[error("{file} line {line}: expected at least two tab-separated fields")]
    MissingField { file: &'static str, line: usize },
    #[error("{file} line {line}: valence {value:?} is not a number")]
    BadValence { file: &'static str, line: usize, value: String },
}

/// FNV-1a for the token tables. They are filled once from the lexicon files and then only read,
/// so input text cannot steer inserts into collisions; SipHash's protection buys nothing there
/// and its cost, paid for every token, was a tenth of the analyzer's time.
#[derive(Clone, Copy)]
pub(crate) struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv1a>>;

/// The parsed tables one analyzer needs.
#[derive(Debug, Clone)]
pub(crate) struct Lexicon {
    /// Lowercase token → mean valence.
    words: FastMap<Box<str>, f64>,
    /// Emoji → description. Only single code points: the Python looks characters up one by one.
    emojis: FastMap<char, Box<str>>,
    /// The smallest emoji key, so the scan can skip every character below it (all of ASCII).
    first_emoji: char,
    boosters: FastMap<&'static str, f64>,
}

impl Lexicon {
    pub(crate) fn parse(vader_lexicon: &str, emoji_lexicon: &str) -> Result<Self, LexiconError> {
        let words = parse_word_lexicon(vader_lexicon)?;
        let emojis = parse_emoji_lexicon(emoji_lexicon)?;
        let first_emoji = emojis.keys().copied().min().unwrap_or(char::MAX);
        Ok(Lexicon { words, emojis, first_emoji, boosters: BOOSTERS.iter().copied().collect() })
    }

    /// Valence of a lowercase token, if it is a lexicon word.
    pub(crate) fn valence(&self, lowercase: &str) -> Option<f64> {
        self.words.get(lowercase).copied()
    }

    /// Scalar of a lowercase token, if it is a booster or dampener.
    pub(crate) fn booster(&self, lowercase: &str) -> Option<f64> {
        self.boosters.get(lowercase).copied()
    }

    /// Description of one character, if it is an emoji.
    pub(crate) fn emoji(&self, c: char) -> Option<&str> {
        if c < self.first_emoji {
            return None;
        }
        self.emojis.get(&c).map(|description| &**description)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> (usize, usize) {
        (self.words.len(), self.emojis.len())
    }
}

/// The lines the Python reads, `text.rstrip('\n').split('\n')`: number, raw line, stripped line.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str, &str)> {
    text.trim_end_matches('\n').split('\n').enumerate().map(|(index, line)| (index + 1, line, pytext::strip(line)))
}

/// `make_lex_dict`: skips empty lines (tested before stripping, so a lone "\r" is an error),
/// keeps the first two tab-separated fields, later duplicates overwrite earlier ones.
fn parse_word_lexicon(text: &str) -> Result<FastMap<Box<str>, f64>, LexiconError> {
    const FILE: &str = "vader_lexicon.txt";
    let mut words = FastMap::default();
    for (line, _, stripped) in lines(text).filter(|(_, raw, _)| !raw.is_empty()) {
        let mut fields = stripped.split('\t');
        let (Some(word), Some(measure)) = (fields.next(), fields.next()) else {
            return Err(LexiconError::MissingField { file: FILE, line });
        };
        // float() tolerates surrounding whitespace.
        let valence = pytext::strip(measure).parse::<f64>().map_err(|_| LexiconError::BadValence {
            file: FILE,
            line,
            value: measure.to_string(),
        })?;
        words.insert(word.into(), valence);
    }
    Ok(words)
}

/// `make_emoji_dict`: no empty lines allowed, first two tab-separated fields, later duplicates
/// overwrite earlier ones.
fn parse_emoji_lexicon(text: &str) -> Result<FastMap<char, Box<str>>, LexiconError> {
    const FILE: &str = "emoji_utf8_lexicon.txt";
    let mut emojis = FastMap::default();
    for (line, _, stripped) in lines(text) {
        let mut fields = stripped.split('\t');
        let (Some(emoji), Some(description)) = (fields.next(), fields.next()) else {
            return Err(LexiconError::MissingField { file: FILE, line });
        };
        let mut chars = emoji.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            emojis.insert(c, description.into());
        }
    }
    Ok(emojis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_lexicons_parse_like_the_python() {
        let lexicon = Lexicon::parse(VADER_LEXICON, EMOJI_LEXICON).expect("embedded lexicons parse");
        // 7,520 lines, 14 tokens listed twice; 1,212 single-code-point emojis.
        assert_eq!(lexicon.len(), (7506, 1212));
        // The later of two duplicate lines wins ("lol" 2.9 then 1.8 in the file).
        assert_eq!(lexicon.valence("lol"), Some(1.8));
        assert_eq!(lexicon.valence("good"), Some(1.9));
        assert_eq!(lexicon.valence("least"), None);
        // CRLF in the emoji file never reaches a description.
        assert_eq!(lexicon.emoji('😁'), Some("beaming face with smiling eyes"));
        assert_eq!(lexicon.emoji('a'), None);
        assert!(lexicon.first_emoji > '\u{7f}');
    }

    #[test]
    fn multi_word_boosters_are_the_spaced_entries_of_the_booster_table() {
        let spaced: Vec<(Vec<&str>, f64)> = BOOSTERS
            .iter()
            .filter(|(phrase, _)| phrase.contains(' '))
            .map(|&(phrase, scalar)| (phrase.split(' ').collect(), scalar))
            .collect();
        let split: Vec<(Vec<&str>, f64)> =
            MULTI_WORD_BOOSTERS.iter().map(|&(words, scalar)| (words.to_vec(), scalar)).collect();
        assert_eq!(spaced, split);
    }

    #[test]
    fn malformed_lines_are_named() {
        assert_eq!(
            Lexicon::parse("good\t1.9\nbad\n", "").map(|_| ()),
            Err(LexiconError::MissingField { file: "vader_lexicon.txt", line: 2 })
        );
        assert!(matches!(
            Lexicon::parse("good\tvery\t0.5\n", "😁\tsmile"),
            Err(LexiconError::BadValence { line: 1, .. })
        ));
        // Empty lines are skipped in the word lexicon only, as in the Python.
        assert!(Lexicon::parse("good\t1.9\n\nbad\t-2.5\n", "😁\tsmile").is_ok());
        assert!(Lexicon::parse("good\t1.9\n", "😁\tsmile\n\n😢\tcry").is_err());
    }
}
