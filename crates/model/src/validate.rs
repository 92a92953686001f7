//! What a record must satisfy before any stage acts on it: values PostgreSQL can store (timestamp
//! and date ranges, no NUL in text, the tables' CHECKs), values the processors can use (finite
//! numbers, ISO-4217 codes) and values that are plausible (timestamps inside a per-topic window,
//! bounded string lengths). The one definition of "valid": [`crate::RecordCodec::decode`] applies
//! it, so every stage refuses an invalid record the moment it reads one (to the DLQ, with the
//! field and the problem) and no stage trusts the stage before it.
//!
//! # Limits
//! - Identifiers and names (ids, codes, metrics, units, providers, …): at most [`MAX_ID_BYTES`].
//! - URLs: at most [`MAX_URL_BYTES`]; a URL is part of a primary key, and a btree index entry
//!   cannot exceed 2,704 bytes, together with the tenant id (an identifier).
//! - Free text (titles, messages, queries): at most [`MAX_TEXT_BYTES`].
//! - Timestamps and dates: inside PostgreSQL's range (4714-11-24 BC onwards) and inside the
//!   topic's [`Plausibility`] window (by default not before 1900-01-01 and at most
//!   [`DEFAULT_MAX_AHEAD_DAYS`] days ahead of now; forecasts [`FORECAST_MAX_AHEAD_DAYS`]). A point
//!   far in the future would otherwise make every later point of its series look late.

use std::fmt;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::{
    AlertNotification, BrandMetric, FxRate, KpiAnomaly, KpiForecast, KpiObservation, KpiPoint, NewsArticle,
    ScoredArticle, Topic, WeatherObservation,
};

/// Longest identifier or name, in bytes.
pub const MAX_ID_BYTES: usize = 512;
/// Longest URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest free text (title, message, query), in bytes.
pub const MAX_TEXT_BYTES: usize = 8192;

/// Default plausibility horizon: 16-day weather forecasts and a month-ahead period start, with
/// room for clock skew.
pub const DEFAULT_MAX_AHEAD_DAYS: i64 = 62;
/// Forecasts look further ahead: ten years covers a 120-step monthly horizon. Forecast points
/// feed no series state, so a wide window costs nothing downstream.
pub const FORECAST_MAX_AHEAD_DAYS: i64 = 3653;

/// PostgreSQL's earliest timestamptz and date: Julian day 0, 4714-11-24 BC, as Unix microseconds
/// and days. Their latest (294276 AD, 5874897 AD) lie beyond what chrono can represent.
const PG_MIN_MICROS: i64 = -210_866_803_200_000_000;
const PG_MIN_UNIX_DAYS: i64 = -2_440_588;

/// Why `id` cannot name a tenant where operators name one (the watch list, alert rules,
/// webhook endpoints): 1–63 characters of a–z, 0–9, '.', '_' or '-', starting with a letter or
/// digit, as the tables' CHECKs say. `None` when it can.
pub fn tenant_id_problem(id: &str) -> Option<String> {
    let id_ok = id.len() <= 63
        && id.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    (!id_ok).then(|| {
        format!(
            "`{}` must be 1–63 characters of a–z, 0–9, '.', '_' or '-', starting with a letter or digit",
            id.escape_debug()
        )
    })
}

/// Whether `c` would be interpreted by a terminal rather than shown: C0 and C1 controls and DEL
/// (escape sequences start with ESC or CSI), and the bidirectional overrides that reorder what
/// follows them on screen.
pub fn is_unprintable(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Why `text` cannot be stored where people read it back (names, patterns): longer than
/// `max_chars` characters, or holding a character a terminal would act on. `None` when it can.
pub fn text_problem(text: &str, max_chars: usize) -> Option<String> {
    let chars = text.chars().count();
    if chars > max_chars {
        return Some(format!("{chars} characters is more than the {max_chars} allowed"));
    }
    text.chars().find(|&c| is_unprintable(c)).map(|c| format!("contains the control character {}", c.escape_unicode()))
}

/// The timestamps a topic accepts: not before `not_before`, at most `max_ahead` after now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plausibility {
    pub not_before: DateTime<Utc>,
    pub max_ahead: TimeDelta,
}

impl Plausibility {
    /// The default window of `topic`.
    pub fn for_topic(topic: Topic) -> Self {
        let days = match topic {
            Topic::KpiForecasts => FORECAST_MAX_AHEAD_DAYS,
            _ => DEFAULT_MAX_AHEAD_DAYS,
        };
        Plausibility { not_before: earliest_default(), max_ahead: TimeDelta::days(days) }
    }
}

/// 1900-01-01T00:00:00Z: older than any archive we replay (the 1953 weather day) and newer than
/// any mistake in a date's century.
fn earliest_default() -> DateTime<Utc> {
    DateTime::from_timestamp(-2_208_988_800, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// One field of a record that is not acceptable, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field (as named in the schema and its table column); nested as `points[3].ts`.
    pub field: String,
    pub problem: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.field, self.problem)
    }
}

impl std::error::Error for Invalid {}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Invalid {
    Invalid { field: field.into(), problem: problem.into() }
}

/// A record that can say whether it is acceptable.
pub trait Validate {
    /// Checks every field against the limits above and `window`, judged at `now`.
    fn validate_at(&self, window: &Plausibility, now: DateTime<Utc>) -> Result<(), Invalid>;
}

/// How a refused text value is shown: short, control characters escaped, so a reason never
/// carries megabytes or terminal escapes into a header or a log.
fn shown(value: &str) -> String {
    const MAX_CHARS: usize = 32;
    let mut out: String = value.chars().take(MAX_CHARS).flat_map(char::escape_debug).collect();
    if value.chars().nth(MAX_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// The checks, each with the window and the instant it judges by.
pub(crate) struct Checks<'a> {
    window: &'a Plausibility,
    now: DateTime<Utc>,
}

impl<'a> Checks<'a> {
    pub(crate) fn new(window: &'a Plausibility, now: DateTime<Utc>) -> Self {
        Checks { window, now }
    }

    fn latest(&self) -> DateTime<Utc> {
        self.now.checked_add_signed(self.window.max_ahead).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    pub(crate) fn timestamp(&self, field: impl Fn() -> String, at: DateTime<Utc>) -> Result<(), Invalid> {
        if at.timestamp_micros() < PG_MIN_MICROS {
            return Err(invalid(field(), format!("{at} is before 4714-11-24 BC, the earliest PostgreSQL can store")));
        }
        if at < self.window.not_before {
            return Err(invalid(field(), format!("{at} is before {}, the earliest plausible", self.window.not_before)));
        }
        let latest = self.latest();
        if at > latest {
            return Err(invalid(
                field(),
                format!("{at} is after {latest}, the latest plausible (now + {})", days(self)),
            ));
        }
        Ok(())
    }

    pub(crate) fn date(&self, field: &'static str, day: NaiveDate) -> Result<(), Invalid> {
        if day.signed_duration_since(NaiveDate::default()).num_days() < PG_MIN_UNIX_DAYS {
            return Err(invalid(field, format!("{day} is before 4714-11-24 BC, the earliest PostgreSQL can store")));
        }
        let earliest = self.window.not_before.date_naive();
        if day < earliest {
            return Err(invalid(field, format!("{day} is before {earliest}, the earliest plausible")));
        }
        let latest = self.latest().date_naive();
        if day > latest {
            return Err(invalid(
                field,
                format!("{day} is after {latest}, the latest plausible (now + {})", days(self)),
            ));
        }
        Ok(())
    }

    pub(crate) fn opt_timestamp(&self, field: &'static str, at: Option<DateTime<Utc>>) -> Result<(), Invalid> {
        at.map_or(Ok(()), |at| self.timestamp(|| field.to_string(), at))
    }

    pub(crate) fn ts(&self, field: &'static str, at: DateTime<Utc>) -> Result<(), Invalid> {
        self.timestamp(|| field.to_string(), at)
    }
}

fn days(checks: &Checks<'_>) -> String {
    format!("{} days", checks.window.max_ahead.num_days())
}

/// Text of at most `max` bytes without NUL (PostgreSQL text cannot hold one).
pub(crate) fn text(field: impl Fn() -> String, value: &str, max: usize) -> Result<(), Invalid> {
    if value.len() > max {
        return Err(invalid(field(), format!("{} bytes is longer than the limit of {max}", value.len())));
    }
    if value.as_bytes().contains(&0) {
        return Err(invalid(
            field(),
            format!("`{}` contains a NUL byte, which PostgreSQL text cannot store", shown(value)),
        ));
    }
    Ok(())
}

pub(crate) fn id(field: &'static str, value: &str) -> Result<(), Invalid> {
    text(|| field.to_string(), value, MAX_ID_BYTES)
}

pub(crate) fn opt_id(field: &'static str, value: Option<&str>) -> Result<(), Invalid> {
    value.map_or(Ok(()), |value| id(field, value))
}

/// An identifier that must also be non-empty (a key part that names something).
pub(crate) fn name(field: &'static str, value: &str) -> Result<(), Invalid> {
    if value.is_empty() {
        return Err(invalid(field, "is empty"));
    }
    id(field, value)
}

pub(crate) fn url(field: &'static str, value: &str) -> Result<(), Invalid> {
    text(|| field.to_string(), value, MAX_URL_BYTES)
}

pub(crate) fn free_text(field: &'static str, value: &str) -> Result<(), Invalid> {
    text(|| field.to_string(), value, MAX_TEXT_BYTES)
}

/// An ISO-4217 alphabetic code: three upper-case ASCII letters (the fx_rates CHECK).
pub(crate) fn currency(field: &'static str, code: &str) -> Result<(), Invalid> {
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(field, format!("`{}` is not an ISO-4217 code", shown(code))));
    }
    Ok(())
}

pub(crate) fn finite(field: impl Fn() -> String, value: f64) -> Result<(), Invalid> {
    if !value.is_finite() {
        return Err(invalid(field(), format!("{value} is not a finite number")));
    }
    Ok(())
}

pub(crate) fn number(field: &'static str, value: f64) -> Result<(), Invalid> {
    finite(|| field.to_string(), value)
}

pub(crate) fn opt_number(field: &'static str, value: Option<f64>) -> Result<(), Invalid> {
    value.map_or(Ok(()), |value| number(field, value))
}

/// A finite number in `[low, high]` (NaN is in no range).
pub(crate) fn between(field: &'static str, value: f64, low: f64, high: f64) -> Result<(), Invalid> {
    if !(low..=high).contains(&value) {
        return Err(invalid(field, format!("{value} is not in [{low}, {high}]")));
    }
    Ok(())
}

impl Validate for FxRate {
    fn validate_at(&self, window: &Plausibility, now: DateTime<Utc>) -> Result<(), Invalid> {
        let checks = Checks::new(window, now);
        currency("base", &self.base)?;
        currency("quote", &self.quote)?;
        checks.date("rate_date", self.rate_date)?;
        number("rate", self.rate)?;
        id("provider", &self.provider)?;
        checks.opt_timestamp("published_at", self.published_at)?;
        checks.ts("fetched_at", self.fetched_at)
    }
}

impl Validate for NewsArticle {
    fn validate_at(&self, window: &Plausibility, now: DateTime<Utc>) -> Result<(), Invalid> {
        let checks = Checks::new(window, now);
        url("url", &self.url)?;
        free_text("title", &self.title)?;
        checks.ts("seen_at", self.seen_at)?;
        opt_id("domain", self.domain.as_deref())?;
        opt_id("language", self.language.as_deref())?;
        opt_id("source_country", self.source_country.as_deref())?;
        if let Some(image) = &self.social_image {
            url("social_image", image)?;
        }
        opt_id("tenant_id", self.tenant_id.as_deref())?;
        free_text("query", &self.query)?;
        checks.ts("fetched_at", self.fetched_at)
    }
}

impl Validate for WeatherObservation {
    fn validate_at(&self, window: &Plausibility, now: DateTime<Utc>) -> Result<(), Invalid> {
        let checks = Checks::new(window, now);
        name("location_id", &self.location_id)?;
        between("latitude", self.latitude, -90.0, 90.0)?;
        between("longitude", self.longitude, -180.0, 180.0)?;
        checks.ts("hour", self.hour)?;
        for (variable, value) in &self.variables {
            text(|| "variables".to_string(), variable, MAX_ID_BYTES)?;
            if let Some(value) = value {
                finite(|| format!("variables.{}", shown(variable)), *value)?;
            }
        }
        for (variable, unit) in &self.units {
            text(|| "units".to_string(), variable, MAX_ID_BYTES)?;
            text(|| format!("units.{}", shown(variable)), unit, MAX_ID_BYTES)?;
        }
        checks.ts("fetched_at", self.fetched_at)
    }
}

impl Validate for BrandMetric {
    fn validate_at(&self, window: &Plausibility, now: DateTime<Utc>) -> Result<(), Invalid> {
        let checks = Checks::new(window, now);
        checks.date("period_start", self.period_start)?;
        id("brand_name", &self.brand_name)?;
        id("metric", &self.metric)?;
        opt_number("value", self.value)?;
        checks.ts("fetched_at", self.fetched_at)
    }
}

impl Validate for ScoredArticle {
    fn validate_at(&self, window: &Plausibility, now: DateTime<Utc>) -> Result<(), Invalid> {
        let checks = Checks::new(window, now);
        url("url", &self.url)?;
        opt_id("tenant_id", self.tenant_id.as_deref())?;
        free_text("title", &self.title)?;
        checks.ts("seen_at", self.seen_at)?;
        // VADER's proportions and its normalised compound score (the news_sentiment CHECK).
        between("neg", self.neg, 0.0, 1.0)?;
        between("neu", self.neu, 0.0, 1.0)?;
        between("pos", self.pos, 0.0, 1.0)?;
        between("compound", self.compound, -1.0, 1.0)
    }
}

/// Most dimensions one KPI observation may carry.
pub const MAX_DIMENSIONS: usize = 8;

/// Why `text` cannot be a KPI metric, dimension key or source: 1–`max` characters of a–z, 0–9
/// and '_', starting with a letter. `None` when it can.
pub fn kpi_word_problem(text: &str, max: usize) -> Option<String> {
    let ok = (1..=max).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    (!ok).then(|| format!("`{}` is not 1–{max} characters of a–z, 0–9 and '_' starting with a letter", shown(text)))
}

/// Why `text` cannot be a KPI dimension value: 1–64 characters of letters, digits, '.', '_'
/// and '-'. `None` when it can.
pub fn kpi_dimension_value_problem(text: &str) -> Option<String> {
    let ok = (1..=64).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    (!ok).then(|| format!("`{}` is not 1–64 characters of letters, digits, '.', '_' and '-'", shown(text)))
}

impl Validate for KpiObservation {
    fn validate_at(&self, window: &Plausibility, now: DateTime<Utc>) -> Result<(), Invalid> {
        let checks = Checks::new(window, now);
        if let Some(problem) = tenant_id_problem(&self.tenant_id) {
            return Err(invalid("tenant_id", problem));
        }
        if let Some(problem) = kpi_word_problem(&self.metric, 64) {
            return Err(invalid("metric", problem));
        }
        if self.dimensions.len() > MAX_DIMENSIONS {
            return Err(invalid(
                "dimensions",
                format!("{} dimensions is more than {MAX_DIMENSIONS}", self.dimensions.len()),
            ));
        }
        for (key, value) in &self.dimensions {
            if let Some(problem) = kpi_word_problem(key, 32) {
                return Err(invalid("dimensions", format!("key {problem}")));
            }
            if let Some(problem) = kpi_dimension_value_problem(value) {
                return Err(invalid(format!("dimensions.{key}"), problem));
            }
        }
        if let Some(unit) = &self.unit {
            if let Some(problem) = text_problem(unit, 64) {
                return Err(invalid("unit", problem));
            }
            text(|| "unit".to_string(), unit, 256)?;
        }
        checks.ts("ts", self.ts)?;
        number("value", self.value)?;
        if let Some(problem) = kpi_word_problem(&self.source, 64) {
            return Err(invalid("source", problem));
        }
        if let Some(key) = &self.idempotency_key {
            text(|| "idempotency_key".to_string(), key, 128)?;
        }
        Ok(())
    }
}

impl Validate for KpiPoint {
    fn validate_at(&self, window: &Plausibility, now: DateTime<Utc>) -> Result<(), Invalid> {
        let checks = Checks::new(window, now);
        name("series_id", &self.series_id)?;
        opt_id("tenant_id", self.tenant_id.as_deref())?;
        id("metric", &self.metric)?;
        id("unit", &self.unit)?;
        checks.ts("ts", self.ts)?;
        // One NaN or infinity would poison every statistic kept for the series.
        number("value", self.value)?;
        id("source", &self.source)
    }
}

impl Validate for KpiAnomaly {
    fn validate_at(&self, window: &Plausibility, now: DateTime<Utc>) -> Result<(), Invalid> {
        let checks = Checks::new(window, now);
        name("series_id", &self.series_id)?;
        opt_id("tenant_id", self.tenant_id.as_deref())?;
        checks.ts("ts", self.ts)?;
        number("value", self.value)?;
        between("score", self.score, 0.0, 1.0)?;
        id("detector", &self.detector)
    }
}

impl Validate for KpiForecast {
    fn validate_at(&self, window: &Plausibility, now: DateTime<Utc>) -> Result<(), Invalid> {
        let checks = Checks::new(window, now);
        name("series_id", &self.series_id)?;
        opt_id("tenant_id", self.tenant_id.as_deref())?;
        checks.ts("issued_at", self.issued_at)?;
        id("model", &self.model)?;
        if self.step_seconds <= 0 {
            return Err(invalid("step_seconds", format!("{} is not positive", self.step_seconds)));
        }
        for (index, point) in self.points.iter().enumerate() {
            checks.timestamp(|| format!("points[{index}].ts"), point.ts)?;
            for (part, value) in [
                ("mean", point.mean),
                ("lower_80", point.lower_80),
                ("upper_80", point.upper_80),
                ("lower_95", point.lower_95),
                ("upper_95", point.upper_95),
            ] {
                // JSON has no NaN: stored, it would silently become null.
                finite(|| format!("points[{index}].{part}"), value)?;
            }
        }
        Ok(())
    }
}

impl Validate for AlertNotification {
    fn validate_at(&self, window: &Plausibility, now: DateTime<Utc>) -> Result<(), Invalid> {
        let checks = Checks::new(window, now);
        name("notification_id", &self.notification_id)?;
        name("alert_id", &self.alert_id)?;
        name("dedupe_key", &self.dedupe_key)?;
        name("series_id", &self.series_id)?;
        opt_id("tenant_id", self.tenant_id.as_deref())?;
        free_text("message", &self.message)?;
        number("value", self.value)?;
        opt_number("score", self.score)?;
        checks.ts("occurred_at", self.occurred_at)
    }
}

#[cfg(test)]
mod tests;
