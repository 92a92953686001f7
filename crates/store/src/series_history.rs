//! [`PgSeriesHistory`]: the stored past of KPI series (`kpi_points`, written by the sink), from
//! which the anomaly and forecast processors rebuild a series' state after a restart, a
//! rebalance or an eviction ([`signalcraft_process::history`]); and the stored scored articles
//! (`news_sentiment`) from which the hourly sentiment aggregates rebuild a tenant's open hours.
//!
//! Two statements, read in one snapshot, answer a whole batch of series (UNNEST of the requests,
//! LATERAL look-ups per series): the first counts, per series, the finite points before the
//! instant, and finds the latest tenant and whether the sink's stored offset on the input's
//! partition has passed the input, i.e. whether the table holds every point read before it;
//! [`HistoryDepth::points_to_replay`] turns each count into how many points to replay — the one
//! definition of the replay depth, not repeated in SQL — and the second reads that many last
//! points (range scans of the primary key `(series_id, ts)`). Another answers a batch of tenants
//! ([`TenantArticles`]): the latest hour all of a tenant's
//! sentiment series have a point for (primary-key look-ups), its latest article and its articles
//! after that hour (range scans of `news_sentiment (tenant_id, seen_at)`), and the same check
//! of the sink's offset.
//!
//! No extra index serves these look-ups: a covering index on `kpi_points` made a rebuild
//! index-only but cut the sink's write rate on its busiest table by about 40%, and rebuilds only
//! happen after restarts and rebalances. A rebuild reads one heap page per point instead.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use signalcraft_process::{
    history::{PastArticle, PastPoint, StreamPosition},
    kpi::sentiment,
    HistoryDepth, HistoryError, HistoryKind, HistoryRequest, SeriesHistory, SeriesPast, TenantArticles,
};
use sqlx::PgPool;

/// Series per statement: bounds the rows one statement returns (up to this many series times
/// their depth) while keeping a usual batch to one round trip.
const SERIES_PER_QUERY: usize = 256;

/// Per series: its finite points before the instant, the latest tenant one of them has, and
/// whether the sink's stored offset on the input's partition has passed the input.
const COUNT_HISTORY: &str = r#"
SELECT r.ord,
       (SELECT count(*) FROM kpi_points k
         WHERE k.series_id = r.series_id AND k.ts < r.before
           AND k.value > '-Infinity'::float8 AND k.value < 'Infinity'::float8) AS points_before,
       tenant.tenant_id,
       coalesce(o.next_offset, 0) >= r.kafka_offset AS complete
FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::int[], $5::bigint[])
     WITH ORDINALITY AS r(series_id, before, topic, kafka_partition, kafka_offset, ord)
LEFT JOIN LATERAL (
    SELECT k.tenant_id FROM kpi_points k
    WHERE k.series_id = r.series_id AND k.ts < r.before AND k.tenant_id IS NOT NULL
    ORDER BY k.ts DESC LIMIT 1
) tenant ON true
LEFT JOIN sink_offsets o
       ON o.consumer_group = $6 AND o.cluster_id = $7 AND o.topic = r.topic AND o.partition = r.kafka_partition
ORDER BY r.ord
"#;

type CountRow = (i64, i64, Option<String>, bool);

/// Per series: its last `replay` finite points before the instant, oldest first. `replay` is
/// [`HistoryDepth::points_to_replay`] of the count above, computed in Rust: the replay depth
/// has that one definition.
const LOAD_POINTS: &str = r#"
SELECT r.ord, last.ts, last.vals
FROM unnest($1::text[], $2::timestamptz[], $3::bigint[]) WITH ORDINALITY AS r(series_id, before, replay, ord)
CROSS JOIN LATERAL (
    SELECT coalesce(array_agg(p.ts ORDER BY p.ts), '{}') AS ts,
           coalesce(array_agg(p.value ORDER BY p.ts), '{}') AS vals
    FROM (SELECT k.ts, k.value FROM kpi_points k
          WHERE k.series_id = r.series_id AND k.ts < r.before
            AND k.value > '-Infinity'::float8 AND k.value < 'Infinity'::float8
          ORDER BY k.ts DESC
          LIMIT r.replay) p
) last
ORDER BY r.ord
"#;

type PointsRow = (i64, Vec<DateTime<Utc>>, Vec<f64>);

/// Per tenant: the latest hour every one of its sentiment series has a point for (each series is
/// stored in emission order, so that hour and every earlier one were emitted in full), its
/// latest article, and its articles seen after that hour (or, without one, within the span
/// before its latest article). Articles without a tenant belong to the tenant named `$9`.
const LOAD_TENANT_ARTICLES: &str = r#"
WITH requests AS MATERIALIZED (
    SELECT r.*, emitted.last_hour, latest.seen_at AS latest_seen_at,
           coalesce(emitted.last_hour + interval '1 hour', latest.seen_at - r.span_secs * interval '1 second')
               AS reload_from
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::int[], $8::bigint[])
         WITH ORDINALITY AS r(tenant, series_a, series_b, series_c, span_secs, topic, kafka_partition, kafka_offset, ord)
    CROSS JOIN LATERAL (
        SELECT CASE WHEN a IS NULL OR b IS NULL OR c IS NULL THEN NULL ELSE least(a, b, c) END AS last_hour
        FROM (SELECT (SELECT max(k.ts) FROM kpi_points k WHERE k.series_id = r.series_a) AS a,
                     (SELECT max(k.ts) FROM kpi_points k WHERE k.series_id = r.series_b) AS b,
                     (SELECT max(k.ts) FROM kpi_points k WHERE k.series_id = r.series_c) AS c) lasts
    ) emitted
    CROSS JOIN LATERAL (
        SELECT greatest((SELECT max(n.seen_at) FROM news_sentiment n WHERE n.tenant_id = r.tenant),
                        (SELECT max(n.seen_at) FROM news_sentiment n
                          WHERE r.tenant = $9 AND n.tenant_id IS NULL)) AS seen_at
    ) latest
)
SELECT r.ord, r.last_hour, r.latest_seen_at, a.urls, a.seen, a.compounds,
       coalesce(o.next_offset, 0) >= r.kafka_offset AS complete
FROM requests r
CROSS JOIN LATERAL (
    SELECT coalesce(array_agg(n.url ORDER BY n.seen_at, n.url), '{}') AS urls,
           coalesce(array_agg(n.seen_at ORDER BY n.seen_at, n.url), '{}') AS seen,
           coalesce(array_agg(n.compound ORDER BY n.seen_at, n.url), '{}') AS compounds
    FROM (SELECT s.url, s.seen_at, s.compound FROM news_sentiment s
          WHERE s.tenant_id = r.tenant AND s.seen_at >= r.reload_from
          UNION ALL
          SELECT s.url, s.seen_at, s.compound FROM news_sentiment s
          WHERE r.tenant = $9 AND s.tenant_id IS NULL AND s.seen_at >= r.reload_from) n
) a
LEFT JOIN sink_offsets o
       ON o.consumer_group = $10 AND o.cluster_id = $11 AND o.topic = r.topic AND o.partition = r.kafka_partition
ORDER BY r.ord
"#;

type TenantRow = (i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>, Vec<String>, Vec<DateTime<Utc>>, Vec<f64>, bool);

/// The requests' input positions, as the three parallel arrays both statements bind to check
/// the sink's stored offset.
#[derive(Default)]
struct Positions {
    topics: Vec<String>,
    partitions: Vec<i32>,
    offsets: Vec<i64>,
}

impl Positions {
    /// Without a position nothing is checked: offset 0 is always covered.
    fn push(&mut self, request: &HistoryRequest) {
        let StreamPosition { topic, partition, offset } =
            request.position.clone().unwrap_or(StreamPosition { topic: String::new(), partition: 0, offset: 0 });
        self.topics.push(topic);
        self.partitions.push(partition);
        self.offsets.push(offset);
    }
}

/// [`SeriesHistory`] over `kpi_points`, complete once the sink group `sink_group` (on the Kafka
/// cluster `cluster_id`) has stored an offset past the input.
pub struct PgSeriesHistory {
    pool: PgPool,
    sink_group: String,
    cluster_id: String,
}

impl PgSeriesHistory {
    pub fn new(pool: PgPool, sink_group: impl Into<String>, cluster_id: impl Into<String>) -> Self {
        PgSeriesHistory { pool, sink_group: sink_group.into(), cluster_id: cluster_id.into() }
    }

    async fn load_points(&self, requests: &[&HistoryRequest]) -> Result<Vec<SeriesPast>, sqlx::Error> {
        let count = requests.len();
        let mut series_ids = Vec::with_capacity(count);
        let mut befores = Vec::with_capacity(count);
        let mut depths: Vec<HistoryDepth> = Vec::with_capacity(count);
        let mut positions = Positions::default();
        for request in requests {
            let HistoryKind::Points(depth) = request.kind else {
                return Err(sqlx::Error::Protocol(format!("{}: not a point history", request.series_id)));
            };
            series_ids.push(request.series_id.as_str());
            befores.push(request.before);
            depths.push(depth);
            positions.push(request);
        }
        // One snapshot for both statements: a point the sink stores in between (a late one,
        // before an instant asked for) would otherwise be read but not counted.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
        let counted: Vec<CountRow> = sqlx::query_as(COUNT_HISTORY)
            .bind(&series_ids)
            .bind(&befores)
            .bind(&positions.topics)
            .bind(&positions.partitions)
            .bind(&positions.offsets)
            .bind(&self.sink_group)
            .bind(&self.cluster_id)
            .fetch_all(&mut *tx)
            .await?;
        if counted.len() != count {
            return Err(sqlx::Error::Protocol(format!("{} history rows for {count} series", counted.len())));
        }
        let mut pasts = Vec::with_capacity(count);
        let mut replays = Vec::with_capacity(count);
        for ((ord, points_before, tenant_id, complete), (request, depth)) in
            counted.into_iter().zip(requests.iter().zip(&depths))
        {
            // ORDER BY ord over WITH ORDINALITY: row i answers request i; checked, not assumed.
            if usize::try_from(ord).ok() != Some(pasts.len() + 1) {
                return Err(sqlx::Error::Protocol(format!("history row {ord} out of order")));
            }
            let points_before = u64::try_from(points_before).unwrap_or(0);
            replays.push(i64::try_from(depth.points_to_replay(points_before)).unwrap_or(i64::MAX));
            pasts.push(SeriesPast {
                series_id: request.series_id.clone(),
                before: request.before,
                points_before,
                points: Vec::new(),
                tenant_id,
                articles: None,
                complete,
            });
        }
        if replays.iter().any(|&replay| replay > 0) {
            let loaded: Vec<PointsRow> =
                sqlx::query_as(LOAD_POINTS).bind(&series_ids).bind(&befores).bind(&replays).fetch_all(&mut *tx).await?;
            if loaded.len() != count {
                return Err(sqlx::Error::Protocol(format!("{} point rows for {count} series", loaded.len())));
            }
            for (i, ((ord, timestamps, values), past)) in loaded.into_iter().zip(&mut pasts).enumerate() {
                if usize::try_from(ord).ok() != Some(i + 1) {
                    return Err(sqlx::Error::Protocol(format!("point row {ord} out of order")));
                }
                past.points = timestamps.into_iter().zip(values).map(|(ts, value)| PastPoint { ts, value }).collect();
            }
        }
        tx.commit().await?;
        Ok(pasts)
    }

    async fn load_tenants(&self, requests: &[&HistoryRequest]) -> Result<Vec<SeriesPast>, sqlx::Error> {
        let count = requests.len();
        let mut tenants = Vec::with_capacity(count);
        let mut series: [Vec<String>; 3] = Default::default();
        let mut spans = Vec::with_capacity(count);
        let mut positions = Positions::default();
        for request in requests {
            let HistoryKind::TenantArticles { span_without_emitted } = request.kind else {
                return Err(sqlx::Error::Protocol(format!("{}: not a tenant's articles", request.series_id)));
            };
            tenants.push(request.series_id.as_str());
            for (ids, metric) in series.iter_mut().zip(sentiment::METRICS) {
                ids.push(sentiment::series_id(&request.series_id, metric));
            }
            spans.push(span_without_emitted.num_seconds());
            positions.push(request);
        }
        let [series_a, series_b, series_c] = &series;
        let rows: Vec<TenantRow> = sqlx::query_as(LOAD_TENANT_ARTICLES)
            .bind(&tenants)
            .bind(series_a)
            .bind(series_b)
            .bind(series_c)
            .bind(&spans)
            .bind(&positions.topics)
            .bind(&positions.partitions)
            .bind(&positions.offsets)
            .bind(sentiment::UNASSIGNED_TENANT)
            .bind(&self.sink_group)
            .bind(&self.cluster_id)
            .fetch_all(&self.pool)
            .await?;
        let mut pasts = Vec::with_capacity(count);
        for ((ord, last_emitted_hour, latest_seen_at, urls, seen, compounds, complete), request) in
            rows.into_iter().zip(requests)
        {
            if usize::try_from(ord).ok() != Some(pasts.len() + 1) {
                return Err(sqlx::Error::Protocol(format!("tenant history row {ord} out of order")));
            }
            let articles = urls
                .into_iter()
                .zip(seen)
                .zip(compounds)
                .map(|((url, seen_at), compound)| PastArticle { url, seen_at, compound })
                .collect();
            let stored = TenantArticles { last_emitted_hour, latest_seen_at, articles };
            pasts.push(SeriesPast {
                articles: Some(stored),
                complete,
                ..SeriesPast::empty(request.series_id.clone(), request.before)
            });
        }
        if pasts.len() != count {
            return Err(sqlx::Error::Protocol(format!("{} history rows for {count} tenants", pasts.len())));
        }
        Ok(pasts)
    }
}

#[async_trait]
impl SeriesHistory for PgSeriesHistory {
    async fn load(&self, requests: &[HistoryRequest]) -> Result<Vec<SeriesPast>, HistoryError> {
        // Point histories and tenants' articles are separate statements; the answers keep the
        // order of the requests.
        let (points, tenants): (Vec<(usize, &HistoryRequest)>, Vec<(usize, &HistoryRequest)>) =
            requests.iter().enumerate().partition(|(_, request)| matches!(request.kind, HistoryKind::Points(_)));
        let mut pasts: Vec<Option<SeriesPast>> = vec![None; requests.len()];
        for chunk in points.chunks(SERIES_PER_QUERY) {
            let asked: Vec<&HistoryRequest> = chunk.iter().map(|(_, request)| *request).collect();
            let loaded =
                self.load_points(&asked).await.map_err(|error| HistoryError(format!("reading kpi_points: {error}")))?;
            for ((i, _), past) in chunk.iter().zip(loaded) {
                pasts[*i] = Some(past);
            }
        }
        for chunk in tenants.chunks(SERIES_PER_QUERY) {
            let asked: Vec<&HistoryRequest> = chunk.iter().map(|(_, request)| *request).collect();
            let loaded = self
                .load_tenants(&asked)
                .await
                .map_err(|error| HistoryError(format!("reading news_sentiment and kpi_points: {error}")))?;
            for ((i, _), past) in chunk.iter().zip(loaded) {
                pasts[*i] = Some(past);
            }
        }
        pasts
            .into_iter()
            .zip(requests)
            .map(|(past, request)| {
                past.ok_or_else(|| HistoryError(format!("no history read for {}", request.series_id)))
            })
            .collect()
    }
}
