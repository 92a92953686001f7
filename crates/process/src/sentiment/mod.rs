//! News sentiment: a Rust port of VADER that gives exactly the scores of PyPI vaderSentiment
//! 3.3.2 (checked against the Python on 23,703 sentences by `benches/vader_parity.rs`), and the
//! processor that scores GDELT article titles with it.
//!
//! # Layout
//! - [`config`]: [`SentimentConfig`], the `[process.sentiment]` table.
//! - [`analyzer`]: [`SentimentAnalyzer::polarity_scores`]: emoji pass, tokens, rules, scores.
//! - `rules`: the per-token valence rules (negation, boosters, caps, idioms, "least", "but"),
//!   and the token they read.
//! - `scoring`: valences → [`Polarity`], neg/neu/pos/compound (punctuation emphasis,
//!   normalisation, rounding).
//! - `lexicon`: the embedded lexicon files (`data/`, with `SOURCE.txt`) and VADER's constants.
//! - `pytext`: the Python `str`/`round` semantics the scores depend on.
//! - [`articles`]: [`ScoreArticles`], raw.news → news.scored.

pub mod analyzer;
pub mod articles;
pub mod config;
mod lexicon;
mod pytext;
mod rules;
mod scoring;

pub use analyzer::SentimentAnalyzer;
pub use articles::{normalize_gdelt_title, ScoreArticles};
pub use config::SentimentConfig;
pub use lexicon::LexiconError;
pub use scoring::Polarity;
