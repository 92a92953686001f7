//! Reading GDELT DOC 2.0 answers: `mode=artlist` article lists and `mode=timeline*` series.
//!
//! GDELT is loose with its output, so every body goes through the same gate: a 200 whose body
//! is not a JSON object is GDELT reporting an error in plain text ("One or more of your keywords
//! were too short…", "Timespan is too short."), which becomes [`FetchCause::Rejected`] with that
//! text; a JSON body that serde_json refuses is repaired once — invalid escapes and raw control
//! characters inside strings, as GDELT titles sometimes carry — and parsed again (gdeltdoc's
//! `load_json` does the same by deleting the offending character). A body that ends early stays
//! a truncation, which the fetcher retries.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::error::Category;

use crate::telemetry;
use signalcraft_http::{excerpt, json_cause, FetchCause};

/// The name under which skipped timeline points are counted.
const SOURCE: &str = "gdelt";

/// One article of an artlist answer, as GDELT wrote it (every field may be missing or `null`;
/// empty strings mean "none").
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawArticle {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub seendate: Option<String>,
    #[serde(default)]
    pub socialimage: Option<String>,
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub sourcecountry: Option<String>,
}

/// `{"articles": [...]}`; no match is `{}` or `{"articles": []}`.
#[derive(Deserialize)]
struct ArtList {
    #[serde(default)]
    articles: Option<Vec<RawArticle>>,
}

/// Reads a complete artlist answer (in GDELT's order; the source asks for `sort=DateAsc`):
/// plain-text errors refused, titles with invalid escapes or control characters repaired.
/// Public so the fuzz targets reach the very parser [`super::GdeltSource`] uses.
pub fn parse_artlist(body: &[u8]) -> Result<Vec<RawArticle>, FetchCause> {
    let list: ArtList = parse_object(body)?;
    Ok(list.articles.unwrap_or_default())
}

/// One series of a GDELT timeline (`mode=timelinetone`, `timelinevol`, `timelinevolraw`, …):
/// its name ("Average Tone", "Volume Intensity", "Article Count", or a language or country) and
/// its points in time order. Buckets GDELT left out are simply absent: the spacing is irregular.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineSeries {
    /// The series name as GDELT gives it.
    pub series: String,
    /// (bucket start, value), sorted by time.
    pub points: Vec<(DateTime<Utc>, f64)>,
}

#[derive(Deserialize)]
struct Timeline {
    #[serde(default)]
    timeline: Option<Vec<RawSeries>>,
}

#[derive(Deserialize)]
struct RawSeries {
    #[serde(default)]
    series: Option<String>,
    #[serde(default)]
    data: Option<Vec<RawPoint>>,
}

#[derive(Deserialize)]
struct RawPoint {
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    value: Option<f64>,
}

/// Reads a complete `mode=timeline*` answer into its series. The empty forms GDELT uses —
/// `{}`, `{"timeline": []}` and series with `"data": []` — give no points, not an error. A point
/// without a readable date or value is skipped and counted.
pub fn parse_timeline(body: &[u8]) -> Result<Vec<TimelineSeries>, FetchCause> {
    let timeline: Timeline = parse_object(body)?;
    let mut all = Vec::new();
    for raw in timeline.timeline.unwrap_or_default() {
        let series = raw.series.unwrap_or_default();
        let mut points = Vec::new();
        for point in raw.data.unwrap_or_default() {
            let date = point.date.as_deref().unwrap_or_default();
            match (parse_gdelt_time(date), point.value) {
                (Some(at), Some(value)) if value.is_finite() => points.push((at, value)),
                _ => {
                    let item = format!("{series} @ {date}");
                    telemetry::InvalidRecordSkipped {
                        source: SOURCE,
                        item: &item,
                        reason: "no readable date or value",
                    }
                    .emit();
                }
            }
        }
        points.sort_by_key(|(at, _)| *at);
        all.push(TimelineSeries { series, points });
    }
    Ok(all)
}

/// The tone series of a `mode=timelinetone` answer: average tone per bucket (roughly −10..+10),
/// in time order. An empty answer gives no points; an answer holding only other series is
/// refused (it answers another question).
pub fn parse_timeline_tone(body: &[u8]) -> Result<Vec<(DateTime<Utc>, f64)>, FetchCause> {
    let all = parse_timeline(body)?;
    if all.iter().all(|series| series.points.is_empty()) {
        return Ok(Vec::new());
    }
    match all.into_iter().find(|series| series.series.eq_ignore_ascii_case("Average Tone")) {
        Some(tone) => Ok(tone.points),
        None => Err(FetchCause::Parse("the timeline has no \"Average Tone\" series".into())),
    }
}

/// A GDELT timestamp: `YYYYMMDDTHHMMSSZ` (artlist `seendate`, timeline `date`) or the
/// `YYYYMMDDHHMMSS` some answers use. Always UTC.
pub fn parse_gdelt_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let compact = match (text.len(), text.as_bytes().get(8)) {
        (16, Some(b'T')) if text.ends_with('Z') => format!("{}{}", &text[..8], &text[9..15]),
        (14, _) => text.to_string(),
        _ => return None,
    };
    if !compact.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDateTime::parse_from_str(&compact, "%Y%m%d%H%M%S").ok().map(|naive| naive.and_utc())
}

/// Deserializes a body that must be a JSON object, telling GDELT's plain-text errors, truncation
/// and repairable strings apart (see the module docs).
fn parse_object<T: DeserializeOwned>(body: &[u8]) -> Result<T, FetchCause> {
    let text_start = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    match text_start.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        // Nothing at all is more likely a cut connection than an answer.
        None => return Err(FetchCause::Body("the body is empty".into())),
        Some(_) => return Err(FetchCause::Rejected(excerpt(body))),
    }
    match serde_json::from_slice(text_start) {
        Ok(value) => Ok(value),
        Err(error) if matches!(error.classify(), Category::Eof | Category::Io) => Err(json_cause(&error, body)),
        Err(_) => {
            let repaired = repair_json_strings(text_start);
            serde_json::from_str(&repaired).map_err(|error| json_cause(&error, repaired.as_bytes()))
        }
    }
}

/// Makes the strings of a JSON text acceptable to serde_json without touching anything outside
/// them: invalid UTF-8 becomes U+FFFD, a backslash before a character JSON cannot escape is
/// dropped (`\'` → `'`), a lone UTF-16 surrogate escape becomes `\uFFFD`, and a raw control
/// character becomes a space (so words on either side of a stray newline stay apart). Valid
/// JSON comes out unchanged.
pub(crate) fn repair_json_strings(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if !in_string {
            in_string = c == '"';
            out.push(c);
            continue;
        }
        match c {
            '"' => {
                in_string = false;
                out.push(c);
            }
            '\\' => match chars.peek().copied() {
                Some(escaped @ ('"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't')) => {
                    chars.next();
                    out.push('\\');
                    out.push(escaped);
                }
                Some('u') => {
                    chars.next();
                    let digits: String = chars.clone().take(4).collect();
                    match hex4(&mut chars.clone()) {
                        Some(unit) => {
                            chars.nth(3);
                            push_unicode_escape(&mut out, unit, &digits, &mut chars);
                        }
                        // `\u` without four hex digits: keep the `u`, drop the backslash.
                        None => out.push('u'),
                    }
                }
                // Not an escape JSON knows: drop the backslash, keep what follows.
                Some(_) | None => {}
            },
            c if u32::from(c) < 0x20 => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Writes the escape `\u{digits}` (code unit `unit`) as it was written, with the low surrogate
/// that must follow a high one (consumed from `rest`); a surrogate without its partner becomes
/// `\uFFFD`.
fn push_unicode_escape(out: &mut String, unit: u16, digits: &str, rest: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match unit {
        0xD800..=0xDBFF => {
            let mut look = rest.clone();
            let low_digits = match (look.next(), look.next()) {
                (Some('\\'), Some('u')) => {
                    let low_digits: String = look.clone().take(4).collect();
                    hex4(&mut look).filter(|low| (0xDC00..=0xDFFF).contains(low)).map(|_| low_digits)
                }
                _ => None,
            };
            match low_digits {
                Some(low_digits) => {
                    rest.nth(5);
                    out.push_str(&format!("\\u{digits}\\u{low_digits}"));
                }
                None => out.push_str("\\uFFFD"),
            }
        }
        0xDC00..=0xDFFF => out.push_str("\\uFFFD"),
        _ => out.push_str(&format!("\\u{digits}")),
    }
}

/// Four hex digits from `chars`, as a UTF-16 code unit.
fn hex4(chars: &mut impl Iterator<Item = char>) -> Option<u16> {
    let mut unit: u16 = 0;
    for _ in 0..4 {
        let digit = chars.next()?.to_digit(16)?;
        unit = unit * 16 + digit as u16;
    }
    Some(unit)
}
