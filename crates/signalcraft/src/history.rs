//! [`PgSeriesHistory`]: the stored past of KPI series (`kpi_points`, written by the sink), from
//! which the anomaly and forecast processors rebuild a series' state after a restart, a
//! rebalance or an eviction ([`signalcraft_process::history`]).
//!
//! One statement answers a whole batch of series (UNNEST of the requests, LATERAL look-ups per
//! series): per series, the count of finite points before the instant and the last of them as
//! [`HistoryDepth`](signalcraft_process::HistoryDepth) asks (range scans of the primary key
//! `(series_id, ts)`), the latest tenant, and whether the sink's
//! stored offset on the input's partition has passed the input, i.e. whether the table holds
//! every point read before it.
//!
//! No extra index serves these look-ups: a covering index on `kpi_points` made a rebuild
//! index-only but cut the sink's write rate on its busiest table by about 40%, and rebuilds only
//! happen after restarts and rebalances. A rebuild reads one heap page per point instead.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use signalcraft_process::{
    history::{PastPoint, StreamPosition},
    HistoryError, HistoryRequest, SeriesHistory, SeriesPast,
};
use sqlx::PgPool;

/// Series per statement: bounds the rows one statement returns (up to this many series times
/// their depth) while keeping a usual batch to one round trip.
const SERIES_PER_QUERY: usize = 256;

const LOAD_HISTORY: &str = r#"
WITH requests AS MATERIALIZED (
    SELECT r.*,
           (SELECT count(*) FROM kpi_points k
             WHERE k.series_id = r.series_id AND k.ts < r.before
               AND k.value > '-Infinity'::float8 AND k.value < 'Infinity'::float8) AS points_before
    FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::bigint[], $5::text[], $6::int[], $7::bigint[])
         WITH ORDINALITY AS r(series_id, before, max_points, align_to, topic, kafka_partition, kafka_offset, ord)
)
SELECT r.ord, r.points_before, last.ts, last.vals, tenant.tenant_id,
       coalesce(o.next_offset, 0) >= r.kafka_offset AS complete
FROM requests r
CROSS JOIN LATERAL (
    SELECT coalesce(array_agg(p.ts ORDER BY p.ts), '{}') AS ts,
           coalesce(array_agg(p.value ORDER BY p.ts), '{}') AS vals
    FROM (SELECT k.ts, k.value FROM kpi_points k
          WHERE k.series_id = r.series_id AND k.ts < r.before
            AND k.value > '-Infinity'::float8 AND k.value < 'Infinity'::float8
          ORDER BY k.ts DESC
          -- HistoryDepth::points_to_replay: everything up to max_points, beyond that the
          -- largest count not above it that is congruent to points_before modulo align_to.
          LIMIT CASE WHEN r.points_before <= r.max_points THEN r.points_before
                     WHEN r.align_to > r.max_points THEN r.max_points
                     ELSE r.max_points - r.align_to + 1
                          + (r.points_before - (r.max_points - r.align_to + 1)) % r.align_to END) p
) last
LEFT JOIN LATERAL (
    SELECT k.tenant_id FROM kpi_points k
    WHERE k.series_id = r.series_id AND k.ts < r.before AND k.tenant_id IS NOT NULL
    ORDER BY k.ts DESC LIMIT 1
) tenant ON true
LEFT JOIN sink_offsets o
       ON o.consumer_group = $8 AND o.cluster_id = $9 AND o.topic = r.topic AND o.partition = r.kafka_partition
ORDER BY r.ord
"#;

type HistoryRow = (i64, i64, Vec<DateTime<Utc>>, Vec<f64>, Option<String>, bool);

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

    async fn load_chunk(&self, requests: &[HistoryRequest]) -> Result<Vec<SeriesPast>, sqlx::Error> {
        let count = requests.len();
        let mut series_ids = Vec::with_capacity(count);
        let mut befores = Vec::with_capacity(count);
        let mut max_points = Vec::with_capacity(count);
        let mut align_to = Vec::with_capacity(count);
        let mut topics = Vec::with_capacity(count);
        let mut partitions = Vec::with_capacity(count);
        let mut offsets = Vec::with_capacity(count);
        for request in requests {
            series_ids.push(request.series_id.as_str());
            befores.push(request.before);
            max_points.push(i64::try_from(request.depth.max_points).unwrap_or(i64::MAX));
            align_to.push(i64::try_from(request.depth.align_to.max(1)).unwrap_or(i64::MAX));
            // Without a position nothing is checked: offset 0 is always covered.
            let StreamPosition { topic, partition, offset } =
                request.position.clone().unwrap_or(StreamPosition { topic: String::new(), partition: 0, offset: 0 });
            topics.push(topic);
            partitions.push(partition);
            offsets.push(offset);
        }
        let rows: Vec<HistoryRow> = sqlx::query_as(LOAD_HISTORY)
            .bind(&series_ids)
            .bind(&befores)
            .bind(&max_points)
            .bind(&align_to)
            .bind(&topics)
            .bind(&partitions)
            .bind(&offsets)
            .bind(&self.sink_group)
            .bind(&self.cluster_id)
            .fetch_all(&self.pool)
            .await?;
        let mut pasts = Vec::with_capacity(count);
        for ((ord, points_before, timestamps, values, tenant_id, complete), request) in rows.into_iter().zip(requests) {
            // ORDER BY ord over WITH ORDINALITY: row i answers request i; checked, not assumed.
            if usize::try_from(ord).ok() != Some(pasts.len() + 1) {
                return Err(sqlx::Error::Protocol(format!("history row {ord} out of order")));
            }
            let points = timestamps.into_iter().zip(values).map(|(ts, value)| PastPoint { ts, value }).collect();
            pasts.push(SeriesPast {
                series_id: request.series_id.clone(),
                before: request.before,
                points_before: u64::try_from(points_before).unwrap_or(0),
                points,
                tenant_id,
                complete,
            });
        }
        if pasts.len() != count {
            return Err(sqlx::Error::Protocol(format!("{} history rows for {count} series", pasts.len())));
        }
        Ok(pasts)
    }
}

#[async_trait]
impl SeriesHistory for PgSeriesHistory {
    async fn load(&self, requests: &[HistoryRequest]) -> Result<Vec<SeriesPast>, HistoryError> {
        let mut pasts = Vec::with_capacity(requests.len());
        for chunk in requests.chunks(SERIES_PER_QUERY) {
            let loaded =
                self.load_chunk(chunk).await.map_err(|error| HistoryError(format!("reading kpi_points: {error}")))?;
            pasts.extend(loaded);
        }
        Ok(pasts)
    }
}
