//! Per-series state rebuilt from stored history, so a restarted (or rebalanced, or evicting)
//! processor scores and forecasts exactly as a run that never stopped.
//!
//! Stateful processors (the anomaly detector, the forecaster) keep per-series state in memory
//! only. Instead of snapshotting it, the state is *replayed*: the first time a processor meets a
//! series it does not hold, the stage loads that series' last points strictly before the
//! incoming point from the store the sink writes (`kpi_points`), the processor learns from them
//! without emitting anything, and only then processes the point. Why replay and not snapshots:
//! the state is a pure function of the points (processors are deterministic), the points are
//! already stored once, effectively once, by the sink, and a snapshot format would have to
//! follow every change of the detector's and forecaster's internals.
//!
//! Why lazily, per series, and not when partitions are assigned: the stage neither sees
//! rebalances nor knows which series a partition carries, and the same path then also serves a
//! series the processor evicted (bounded memory) and a partition that came back.
//!
//! What keeps it exact: only points strictly before the incoming one count (after a crash the
//! re-consumed points are already stored, but the uninterrupted run had not seen them yet); the
//! replay depth covers every window the processor keeps, aligned where rounding depends on it
//! ([`HistoryDepth`]); and the store is checked to hold everything read before the input. What
//! does not: a point that arrived late (older than its series' latest) or was revised is
//! skipped or kept by the live processor but stored by the sink, so a rebuild replays it; a
//! history the sink has not finished writing within the wait is used as it is (counted in
//! `signalcraft_state_rebuilds_total{history="incomplete"}`). Either way the difference fades
//! as the processor's windows turn over.
//!
//! The hourly sentiment aggregates ([`crate::kpi::SentimentToKpi`]) are rebuilt the same way,
//! per tenant rather than per series, from what the sink stored of them: the last hour emitted
//! (the tenant's sentiment points in `kpi_points`) and the scored articles of the hours after it
//! (`news_sentiment`). There "strictly before" cannot be asked for — the store does not know in
//! which order the articles were read — and need not be: an article read again after the
//! restart is one the rebuilt hour already holds, counted once by URL, and an hour's values do
//! not depend on the order its articles came in. See that module for what is not exact.
//!
//! The pieces:
//! - [`RebuildableState`]: what a processor offers the stage (which series an input belongs
//!   to, whether that series is held, what history it needs, seeding and forgetting);
//!   a processor exposes it through [`crate::Processor::rebuildable`]. Seeding is pure.
//! - [`SeriesHistory`]: the async store of past points (PostgreSQL in `signalcraft_store`), asked once
//!   per consumed batch for every series of the batch that needs it.
//! - [`HistoryKind`]: what a series' history is made of — its own last points, as deep as a
//!   [`HistoryDepth`] says (the detector, the forecaster), or, for the hourly sentiment
//!   aggregates, a tenant's stored articles of the hours not yet emitted ([`TenantArticles`]).
//! - [`crate::stage::ProcessorStage`] drives it (`crate::warmup` has the mechanics).

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

/// How much of a series' past a processor must replay to hold the same state as a run that saw
/// all of it.
///
/// With `count` points stored before the incoming one, the replay is all of them when
/// `count <= max_points`, otherwise the last `k` where `k` is the largest number not above
/// `max_points` with `k ≡ count (mod align_to)`. The alignment is for state whose floating-point
/// rounding depends on how many points were seen modulo some period (ring buffers summed in
/// storage order, sums re-computed every so many updates): replaying a congruent number of
/// points puts those rings and re-sums in the same phase as the uninterrupted run's, so the
/// replayed state is equal bit for bit rather than up to rounding. `align_to = 1`: no alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryDepth {
    /// Most points replayed.
    pub max_points: usize,
    /// Period of the phase the replayed state depends on (1: none).
    pub align_to: usize,
}

impl HistoryDepth {
    /// Replays up to `max_points`, unaligned.
    pub fn points(max_points: usize) -> Self {
        HistoryDepth { max_points, align_to: 1 }
    }

    /// How many of the last points to replay when `count` are stored before the incoming one.
    pub fn points_to_replay(&self, count: u64) -> usize {
        let max = self.max_points as u64;
        if count <= max {
            return count as usize;
        }
        let align = self.align_to.max(1) as u64;
        if align > max {
            return self.max_points;
        }
        // The window [max - align + 1, max] holds exactly one number congruent to `count`.
        let least = max - align + 1;
        (least + (count - least) % align) as usize
    }

    /// At most `cap` points. Alignment is kept while a whole period still fits under the cap.
    pub fn capped(self, cap: usize) -> Self {
        if cap >= self.max_points {
            return self;
        }
        let align_to = if self.align_to <= cap { self.align_to } else { 1 };
        HistoryDepth { max_points: cap, align_to }
    }
}

/// What a series' stored history is made of, and so what the store loads for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryKind {
    /// The series' own last points (`kpi_points`), as many as the depth says: the anomaly
    /// detector's and the forecaster's series. The request's `series_id` is the KPI series.
    Points(HistoryDepth),
    /// A tenant's hourly sentiment aggregates ([`crate::kpi::SentimentToKpi`]): the request's
    /// `series_id` is the tenant, and the store answers with [`TenantArticles`].
    /// `span_without_emitted`: how far before its latest article the articles of a tenant with
    /// no emitted hour stored are loaded (what bounds that reload).
    TenantArticles { span_without_emitted: TimeDelta },
}

/// Where the input that needs history was read: every point of its series that came before it
/// sits before this position on the same partition (the Kafka key is the series).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPosition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// One series' history, wanted before the input at `position` (event time `before`) is processed.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRequest {
    pub series_id: String,
    /// Only points strictly before this instant count: after an at-least-once replay the store
    /// already holds the re-consumed points, which the uninterrupted run had not yet seen.
    pub before: DateTime<Utc>,
    /// What to load.
    pub kind: HistoryKind,
    /// Position of the input; the store is complete for it once it holds everything read
    /// before this position. `None`: completeness is not checked.
    pub position: Option<StreamPosition>,
}

/// One stored point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PastPoint {
    pub ts: DateTime<Utc>,
    pub value: f64,
}

/// One stored scored article (`news_sentiment`).
#[derive(Debug, Clone, PartialEq)]
pub struct PastArticle {
    pub url: String,
    pub seen_at: DateTime<Utc>,
    pub compound: f64,
}

/// What the store holds of a tenant's hourly sentiment aggregates ([`HistoryKind::TenantArticles`]).
///
/// An aggregate is emitted as one point on each of the tenant's sentiment series; the latest
/// hour all of them have stored is the last hour the processor emitted (each series is stored
/// in the order it was emitted, and all of them get a point for every emitted hour).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TenantArticles {
    /// Start of the latest hour every sentiment series of the tenant has a stored point for.
    pub last_emitted_hour: Option<DateTime<Utc>>,
    /// The latest `seen_at` of the tenant's stored articles: its event-time watermark.
    pub latest_seen_at: Option<DateTime<Utc>>,
    /// The tenant's stored articles seen after `last_emitted_hour`'s end; without such an hour,
    /// those seen at most `span_without_emitted` before `latest_seen_at`. In no particular order.
    pub articles: Vec<PastArticle>,
}

/// What the store holds of one series before a request's instant.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPast {
    pub series_id: String,
    /// The request's `before`.
    pub before: DateTime<Utc>,
    /// Points of the series with a finite value stored strictly before `before`: how many points
    /// the uninterrupted run had learnt from (its position in the series).
    pub points_before: u64,
    /// The last `depth.points_to_replay(points_before)` of them, oldest first.
    pub points: Vec<PastPoint>,
    /// Tenant of the latest of those points that has one.
    pub tenant_id: Option<String>,
    /// For [`HistoryKind::TenantArticles`] requests, the tenant's stored articles (`points` is
    /// then empty); `None` for point histories.
    pub articles: Option<TenantArticles>,
    /// Whether the store is known to hold every point read before the request's position (the
    /// sink has caught up with it). An incomplete history is still used, but the state built
    /// from it may differ from the uninterrupted run's.
    pub complete: bool,
}

impl SeriesPast {
    /// A series with no stored past (a new series, or a processor without a store).
    pub fn empty(series_id: impl Into<String>, before: DateTime<Utc>) -> Self {
        SeriesPast {
            series_id: series_id.into(),
            before,
            points_before: 0,
            points: Vec::new(),
            tenant_id: None,
            articles: None,
            complete: true,
        }
    }

    /// How many stored records seeding replays: points, or articles.
    pub fn replayed(&self) -> usize {
        self.points.len() + self.articles.as_ref().map_or(0, |a| a.articles.len())
    }
}

/// Loading the history failed (the store is unreachable): the batch is retried.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HistoryError(pub String);

/// The store of past points per series.
#[async_trait]
pub trait SeriesHistory: Send + Sync {
    /// One [`SeriesPast`] per request, in the order of `requests`, loaded together (one round
    /// trip for a whole batch).
    async fn load(&self, requests: &[HistoryRequest]) -> Result<Vec<SeriesPast>, HistoryError>;
}

/// The per-series state of a processor, as the stage sees it. Everything here is pure and
/// synchronous; the stage does the I/O.
pub trait RebuildableState<I>: Send {
    /// The series `input` belongs to and its event time; `None` for an input outside any series.
    fn series_of<'a>(&self, input: &'a I) -> Option<(&'a str, DateTime<Utc>)>;

    /// Whether state for `series_id` is held (then it is never seeded again).
    fn holds(&self, series_id: &str) -> bool;

    /// What history rebuilds the state exactly.
    fn history(&self) -> HistoryKind;

    /// Builds the state of `past.series_id` from its past, emitting nothing; replaces any state
    /// held for it. Afterwards the series is held (also when `past` has no points).
    fn seed(&mut self, past: &SeriesPast);

    /// Drops the state of `series_id` (it may be stale: its partition was read elsewhere).
    fn forget(&mut self, series_id: &str);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replay_is_everything_up_to_the_depth_then_congruent_to_the_count() {
        let depth = HistoryDepth { max_points: 100, align_to: 16 };
        assert_eq!(depth.points_to_replay(0), 0);
        assert_eq!(depth.points_to_replay(100), 100);
        for count in 101..1000u64 {
            let k = depth.points_to_replay(count);
            assert!((85..=100).contains(&k), "{count} -> {k}");
            assert_eq!(k as u64 % 16, count % 16, "{count} -> {k}");
        }
        assert_eq!(HistoryDepth::points(10).points_to_replay(1_000_000), 10);
    }

    #[test]
    fn a_cap_keeps_the_alignment_while_a_period_fits() {
        let depth = HistoryDepth { max_points: 10_000, align_to: 1_000 };
        assert_eq!(depth.capped(20_000), depth);
        assert_eq!(depth.capped(5_000), HistoryDepth { max_points: 5_000, align_to: 1_000 });
        assert_eq!(depth.capped(500), HistoryDepth { max_points: 500, align_to: 1 });
        assert_eq!(HistoryDepth { max_points: 10, align_to: 50 }.points_to_replay(60), 10);
    }
}
