//! raw.news → news.scored: [`ScoreArticles`] gives each article the VADER scores of its title.
//!
//! GDELT's artlist titles arrive tokenised, with spaces around punctuation ("Port opens , says
//! minister", "COVID - 19", "$100 , 000", "U . K ."), and with apostrophes and quotes already
//! removed. Scored as they are, every lone "," or "." is one more neutral token for VADER: it
//! dilutes neg/pos and pushes a negation or booster further from the word it modifies. So the
//! title — and only the title, for scoring only — is first put back into ordinary spacing by
//! [`normalize_gdelt_title`]; the scores themselves are plain [`SentimentAnalyzer::polarity_scores`],
//! and the record keeps the title exactly as GDELT sent it.

use std::sync::Arc;

use signalcraft_model::{NewsArticle, ScoredArticle};

use super::{pytext, SentimentAnalyzer};
use crate::{ProcessError, Processor};

/// Scores article titles. Stateless: the same article always gives the same record.
#[derive(Debug, Clone, Default)]
pub struct ScoreArticles {
    analyzer: Arc<SentimentAnalyzer>,
}

impl ScoreArticles {
    /// A processor with its own analyzer over the embedded VADER 3.3.2 lexicons.
    pub fn new() -> Self {
        Self::default()
    }

    /// A processor sharing an analyzer with others (each analyzer holds its own parsed lexicons).
    pub fn with_analyzer(analyzer: Arc<SentimentAnalyzer>) -> Self {
        ScoreArticles { analyzer }
    }
}

impl Processor for ScoreArticles {
    type Input = NewsArticle;
    type Output = ScoredArticle;

    fn name(&self) -> &'static str {
        "sentiment"
    }

    fn process(&mut self, article: NewsArticle) -> Result<Vec<ScoredArticle>, ProcessError> {
        let scores = self.analyzer.polarity_scores(&normalize_gdelt_title(&article.title));
        Ok(vec![ScoredArticle {
            url: article.url,
            tenant_id: article.tenant_id,
            title: article.title,
            seen_at: article.seen_at,
            neg: scores.neg,
            neu: scores.neu,
            pos: scores.pos,
            compound: scores.compound,
        }])
    }
}

/// Punctuation that closes what precedes it: re-attached to the previous token.
const CLOSING: &[char] = &[',', '.', ';', ':', '!', '?', ')', ']', '}', '%'];
/// Punctuation that opens what follows it: the next token is re-attached to it.
const OPENING: &[char] = &['(', '[', '{'];

/// Undoes GDELT's spacing around punctuation: "Port opens , says minister" → "Port opens, says
/// minister", "Inc . ( MRCY )" → "Inc. (MRCY)", "COVID - 19" → "COVID-19", "$100 , 000" →
/// "$100,000", "U . K ." → "U.K.". Runs of whitespace become one space.
///
/// A " - " between two words stays as it is: GDELT writes "Haitian - style" and "Lifestyle -
/// The Intelligencer" alike, and a dash separator is the commoner of the two in titles; as a
/// token of its own VADER counts it as one neutral word either way.
pub fn normalize_gdelt_title(title: &str) -> String {
    let tokens: Vec<&str> = pytext::split(title).collect();
    let mut normalized = String::with_capacity(title.len());
    for (j, token) in tokens.iter().enumerate() {
        if j > 0 && !attaches_to_previous(&tokens, j) {
            normalized.push(' ');
        }
        normalized.push_str(token);
    }
    normalized
}

fn attaches_to_previous(tokens: &[&str], j: usize) -> bool {
    let (previous, token) = (tokens[j - 1], tokens[j]);
    let all_of = |text: &str, set: &[char]| text.chars().all(|c| set.contains(&c));
    all_of(token, CLOSING)
        || all_of(previous, OPENING)
        || tokens.get(j + 1).is_some_and(|next| joins_across(previous, token, next))
        || (j >= 2 && joins_across(tokens[j - 2], previous, token))
}

/// Whether `separator` (a token of its own) is inside one word: a thousands separator, a decimal
/// point, a hyphen before a number, a dot between initials.
fn joins_across(before: &str, separator: &str, after: &str) -> bool {
    let ends_with_digit = before.ends_with(|c: char| c.is_ascii_digit());
    let starts_with_digit = after.starts_with(|c: char| c.is_ascii_digit());
    let is_initial = |text: &str| text.len() == 1 && text.starts_with(|c: char| c.is_ascii_uppercase());
    match separator {
        "," => ends_with_digit && is_thousands_group(after),
        "." => (ends_with_digit && starts_with_digit) || (is_initial(before) && is_initial(after)),
        "-" => before.ends_with(|c: char| c.is_alphanumeric()) && starts_with_digit,
        _ => false,
    }
}

/// Three digits and no fourth: "000" in "$100 , 000", not "2020" in "August 24 , 2020".
fn is_thousands_group(text: &str) -> bool {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    digits == 3
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    #[test]
    fn gdelt_spacing_is_undone() {
        // Titles from ../shared/fixtures/gdelt (artlist responses).
        let cases = [
            ("Port opens , says minister", "Port opens, says minister"),
            (
                "Louisiana Sea Grant Focusing $100 , 000 for Alternative Seafood Marketing",
                "Louisiana Sea Grant Focusing $100,000 for Alternative Seafood Marketing",
            ),
            (
                "Impact Washington Announces Availability of $1 . 2M in CARES Act Funds",
                "Impact Washington Announces Availability of $1.2M in CARES Act Funds",
            ),
            (
                "German Cases Jump ; U . K . Sandwich Factory Outbreak : Virus Update",
                "German Cases Jump; U.K. Sandwich Factory Outbreak: Virus Update",
            ),
            (
                "As cases rise , state seeks to make COVID - 19 tests more available",
                "As cases rise, state seeks to make COVID-19 tests more available",
            ),
            (
                "Look ! Stunning Photos of China Most Romantic Coastline",
                "Look! Stunning Photos of China Most Romantic Coastline",
            ),
            ("Mercury Systems , Inc . ( MRCY ) shares up 8 %", "Mercury Systems, Inc. (MRCY) shares up 8%"),
            ("Weekly News Bulletin : August 24 , 2020", "Weekly News Bulletin: August 24, 2020"),
            (
                "Pump up the  sabor : Latino flavor staples - Lifestyle - The Intelligencer",
                "Pump up the sabor: Latino flavor staples - Lifestyle - The Intelligencer",
            ),
            (
                "CDC warns of mysterious Salmonella outbreak spreading through the U . S . ",
                "CDC warns of mysterious Salmonella outbreak spreading through the U.S.",
            ),
            (", leading comma", ", leading comma"),
            ("", ""),
        ];
        for (gdelt, expected) in cases {
            assert_eq!(normalize_gdelt_title(gdelt), expected, "{gdelt:?}");
            // Ordinary spacing is left alone.
            assert_eq!(normalize_gdelt_title(expected), expected);
        }
    }

    #[test]
    fn normalising_changes_the_scores_of_spaced_titles() {
        let analyzer = SentimentAnalyzer::new();
        // Reference values from vaderSentiment 3.3.2: the lone "," is a neutral token.
        let spaced = analyzer.polarity_scores("Port opens , minister hails great success");
        let attached = analyzer.polarity_scores("Port opens, minister hails great success");
        assert_eq!((spaced.neu, spaced.pos, spaced.compound), (0.391, 0.609, 0.8316));
        assert_eq!((attached.neu, attached.pos, attached.compound), (0.339, 0.661, 0.8316));
    }

    #[test]
    fn an_article_is_scored_on_its_title_and_keeps_it() {
        let seen_at = Utc.with_ymd_and_hms(2024, 6, 15, 17, 0, 0).single().expect("instant");
        let article = NewsArticle {
            url: "https://example.com/port".into(),
            title: "Port opens , minister hails great success".into(),
            seen_at,
            domain: Some("example.com".into()),
            language: Some("English".into()),
            source_country: None,
            social_image: None,
            tenant_id: Some("acme".into()),
            query: "port".into(),
            fetched_at: seen_at,
        };
        let mut processor = ScoreArticles::new();
        assert_eq!(processor.name(), "sentiment");
        let scored = processor.process(article.clone()).expect("scores");
        assert_eq!(
            scored,
            vec![ScoredArticle {
                url: "https://example.com/port".into(),
                tenant_id: Some("acme".into()),
                title: "Port opens , minister hails great success".into(),
                seen_at,
                neg: 0.0,
                neu: 0.339,
                pos: 0.661,
                compound: 0.8316,
            }]
        );
        // Deterministic: replaying the input yields the same output.
        assert_eq!(processor.process(article).expect("scores"), scored);
    }
}
