//! [`SentimentAnalyzer`]: `SentimentIntensityAnalyzer.polarity_scores` of vaderSentiment 3.3.2 —
//! emoji replacement, tokenisation (`SentiText`), one valence per token, the "but" rule, then the
//! four scores. The rules themselves live in `rules` (with the `Token` they read), the
//! aggregation in `scoring` (with the [`Polarity`] it gives).

use std::borrow::Cow;

use super::lexicon::{Lexicon, LexiconError, EMOJI_LEXICON, VADER_LEXICON};
use super::pytext;
use super::rules::{self, Token};
use super::scoring::{self, Polarity};

/// A VADER analyzer: immutable after construction, so one can be shared across threads.
#[derive(Debug, Clone)]
pub struct SentimentAnalyzer {
    lexicon: Lexicon,
}

impl Default for SentimentAnalyzer {
    fn default() -> Self {
        Self::new()
    }
}

impl SentimentAnalyzer {
    /// An analyzer over the lexicons of vaderSentiment 3.3.2, embedded in the binary.
    pub fn new() -> Self {
        // The embedded files are fixed at build time and parsed by the lexicon tests.
        let lexicon = Lexicon::parse(VADER_LEXICON, EMOJI_LEXICON).expect("the embedded VADER lexicons parse");
        SentimentAnalyzer { lexicon }
    }

    /// An analyzer over other lexicon files in the same formats (the Python's `lexicon_file` and
    /// `emoji_lexicon` arguments).
    pub fn with_lexicons(vader_lexicon: &str, emoji_lexicon: &str) -> Result<Self, LexiconError> {
        Ok(SentimentAnalyzer { lexicon: Lexicon::parse(vader_lexicon, emoji_lexicon)? })
    }

    /// VADER's scores of `text`, equal to vaderSentiment 3.3.2's `polarity_scores(text)`.
    pub fn polarity_scores(&self, text: &str) -> Polarity {
        let text = self.replace_emojis(text);
        let text = pytext::strip(&text);
        let tokens: Vec<Token<'_>> = pytext::split(text).map(|raw| self.token(raw)).collect();
        let is_cap_diff = is_cap_differential(&tokens);

        let mut sentiments = Vec::with_capacity(tokens.len());
        for (i, token) in tokens.iter().enumerate() {
            // Boosters, and "kind" in "kind of", carry no valence of their own: they modify the
            // lexicon words after them.
            let is_modifier =
                token.booster.is_some() || (token.is("kind") && tokens.get(i + 1).is_some_and(|next| next.is("of")));
            sentiments.push(if is_modifier { 0.0 } else { rules::sentiment_valence(&tokens, i, is_cap_diff) });
        }
        rules::but_check(&tokens, &mut sentiments);
        scoring::score_valence(&sentiments, text)
    }

    /// The Python's emoji pass: each character that is an emoji becomes its description, preceded
    /// by a space unless it starts the text or follows a `' '` (no other whitespace); nothing is
    /// inserted AFTER a description, so "😁x" becomes "beaming face with smiling eyesx".
    fn replace_emojis<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if !text.chars().any(|c| self.lexicon.emoji(c).is_some()) {
            return Cow::Borrowed(text);
        }
        let mut replaced = String::with_capacity(text.len() + 32);
        let mut previous_was_space = true;
        for c in text.chars() {
            if let Some(description) = self.lexicon.emoji(c) {
                if !previous_was_space {
                    replaced.push(' ');
                }
                replaced.push_str(description);
                previous_was_space = false;
            } else {
                replaced.push(c);
                previous_was_space = c == ' ';
            }
        }
        Cow::Owned(replaced)
    }

    fn token<'t>(&self, raw: &'t str) -> Token<'t> {
        let text = pytext::strip_punctuation_if_word(raw);
        let lower = pytext::lower(text);
        Token {
            is_upper: pytext::is_upper(text),
            valence: self.lexicon.valence(&lower),
            booster: self.lexicon.booster(&lower),
            lower,
        }
    }
}

/// `allcap_differential`: some, but not all, tokens are ALL CAPS. Only then does capitalisation
/// count as emphasis.
fn is_cap_differential(tokens: &[Token<'_>]) -> bool {
    let all_caps = tokens.iter().filter(|token| token.is_upper).count();
    let others = tokens.len() - all_caps;
    0 < others && others < tokens.len()
}
