//! GDELT DOC 2.0 news (topic raw.news): one [`GdeltSource`] polls every watched query in turn
//! through ONE shared [`HttpFetcher`], so GDELT's one-request-per-5-s limit holds across all of
//! them. Each query keeps a high-water mark ([`HighWaterMarks`]); a poll lists the articles
//! seen from that mark on (`sort=DateAsc`, paging on while pages come back full) and emits one
//! [`NewsArticle`] per URL it has not emitted before.
//!
//! Marks advance one poll late: a poll *stages* the marks its records justify, and the next
//! poll commits them before it fetches. [`crate::run_source`] polls again only once the
//! previous poll's records are acknowledged by the broker, so a mark never gets ahead of what
//! was delivered: a crash or a failed delivery re-fetches (natural keys absorb the repeat),
//! and nothing is missed. A caller driving the source by hand commits with
//! [`GdeltSource::commit_staged_marks`] after delivering.

mod client;
mod config;
mod marks;
mod parse;
mod source;
#[cfg(test)]
mod tests;
mod tone;
mod watch_list;

pub use self::source::{GdeltSource, SOURCE_NAME};
pub use self::tone::{tone_series_id, GdeltToneSource, TONE_SOURCE_NAME};
pub use self::{
    client::timeline_tone_url,
    config::{GdeltConfig, GdeltQueryConfig, MAX_QUERY_CHARS},
    marks::{HighWaterMark, HighWaterMarks, InMemoryHighWaterMarks, MarkStoreError},
    parse::{parse_artlist, parse_gdelt_time, parse_timeline, parse_timeline_tone, TimelineSeries},
};
