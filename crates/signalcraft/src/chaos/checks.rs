//! What a chaos run's database is held to, each check returning counts rather than asserting,
//! so the harness can print every defect and the test can assert none:
//!
//! - nothing lost: every row the generated events must become is there, with its value
//!   ([`generated_rows`]);
//! - nothing duplicated: no natural key (or alert transition) twice ([`duplicates`]);
//! - rollups equal to a `GROUP BY` over their rows ([`rollup_mismatches`]);
//! - every data table equal, row by row and to the bit, to the uninterrupted run's
//!   ([`compare_with_reference`]).

use std::collections::HashMap;

use futures::StreamExt;
use sqlx::PgPool;

use super::generator::Generator;

/// Rows of one table checked against what the generated events must become.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeneratedRows {
    pub table: &'static str,
    pub expected: i64,
    pub found: i64,
    /// Rows present with another value than the event's.
    pub wrong_values: i64,
}

impl GeneratedRows {
    pub fn lost(&self) -> i64 {
        (self.expected - self.found).max(0)
    }
}

/// Every generated event's rows: the kpi_points of the generated series, with their values
/// (checked one by one), and the raw rows per table (counted).
pub async fn generated_rows(pool: &PgPool, generator: &Generator) -> anyhow::Result<Vec<GeneratedRows>> {
    let mut expected = generator.expected_points();
    let mut points = GeneratedRows { table: "kpi_points", expected: expected.len() as i64, ..Default::default() };
    let mut rows = sqlx::query_as::<_, (String, i64, f64)>(
        "SELECT series_id, (extract(epoch FROM ts) * 1000000)::bigint, value FROM kpi_points \
         WHERE series_id LIKE 'custom:chaos-%' OR series_id LIKE 'fx:X%' OR series_id LIKE 'weather:chaos-w%' \
            OR series_id LIKE 'dq:9______:%'",
    )
    .fetch(pool);
    while let Some(row) = rows.next().await {
        let (series_id, ts, value) = row?;
        if let Some(want) = expected.remove(&(series_id, ts)) {
            points.found += 1;
            if want.to_bits() != value.to_bits() {
                points.wrong_values += 1;
            }
        }
    }
    drop(rows);
    let mut checked = vec![points];
    let counts: [(&'static str, u64, &str); 5] = [
        ("fx_rates", generator.fx_count(), "SELECT count(*) FROM fx_rates WHERE provider = 'chaos'"),
        (
            "weather_observations",
            generator.weather_count(),
            "SELECT count(*) FROM weather_observations WHERE location_id LIKE 'chaos-w%'",
        ),
        (
            "brand_metrics",
            generator.brand_count(),
            "SELECT count(*) FROM brand_metrics WHERE brand_name LIKE 'Chaos brand %'",
        ),
        (
            "news_articles",
            generator.news_count(),
            "SELECT count(*) FROM news_articles WHERE url LIKE 'https://news.chaos.example/%'",
        ),
        (
            "news_sentiment",
            generator.news_count(),
            "SELECT count(*) FROM news_sentiment WHERE url LIKE 'https://news.chaos.example/%'",
        ),
    ];
    for (table, expected, query) in counts {
        let found: i64 = sqlx::query_scalar(query).fetch_one(pool).await?;
        checked.push(GeneratedRows { table, expected: expected as i64, found, wrong_values: 0 });
    }
    Ok(checked)
}

/// Natural keys held by more than one row, per check. The primary keys forbid most; what they
/// cannot forbid is one alert opened (or resolved) twice under two notification ids, or two
/// alerts open at once on one dedupe key.
pub async fn duplicates(pool: &PgPool) -> anyhow::Result<Vec<(&'static str, i64)>> {
    let checks = [
        ("kpi_points (series_id, ts)", "SELECT count(*) FROM (SELECT 1 FROM kpi_points GROUP BY series_id, ts HAVING count(*) > 1) d"),
        (
            "kpi_anomalies (series_id, ts)",
            "SELECT count(*) FROM (SELECT 1 FROM kpi_anomalies GROUP BY series_id, ts HAVING count(*) > 1) d",
        ),
        (
            "news_sentiment (tenant, url)",
            "SELECT count(*) FROM (SELECT 1 FROM news_sentiment GROUP BY tenant_key, url HAVING count(*) > 1) d",
        ),
        (
            "alert_notifications (alert_id, transition)",
            "SELECT count(*) FROM (SELECT 1 FROM alert_notifications GROUP BY alert_id, transition HAVING count(*) > 1) d",
        ),
        (
            "alert_states: open alerts per dedupe key",
            "SELECT count(*) FROM (SELECT 1 FROM alert_states WHERE state = 'OPEN' GROUP BY dedupe_key HAVING count(*) > 1) d",
        ),
    ];
    let mut found = Vec::new();
    for (name, query) in checks {
        found.push((name, sqlx::query_scalar::<_, i64>(query).fetch_one(pool).await?));
    }
    Ok(found)
}

/// Rows of each read model that differ from a `GROUP BY` over the rows it summarises: counts,
/// min, max and latest exactly; sums and means within 1e-9 relative (the read models add in
/// batch order, a `GROUP BY` in scan order).
pub async fn rollup_mismatches(pool: &PgPool) -> anyhow::Result<Vec<(&'static str, i64)>> {
    let checks = [
        (
            "kpi_hourly",
            "WITH expected AS (SELECT series_id, date_trunc('hour', ts, 'UTC') AS hour, max(tenant_id) AS tenant_id, \
                    count(*) AS points, sum(value) AS sum, min(value) AS min, max(value) AS max \
                 FROM kpi_points GROUP BY 1, 2) \
             SELECT count(*) FROM expected e FULL JOIN kpi_hourly r USING (series_id, hour) \
             WHERE r.points IS DISTINCT FROM e.points OR r.min IS DISTINCT FROM e.min OR r.max IS DISTINCT FROM e.max \
                OR r.tenant_id IS DISTINCT FROM e.tenant_id \
                OR abs(r.sum - e.sum) > 1e-9 * greatest(1, abs(e.sum)) OR r.sum IS NULL OR e.sum IS NULL",
        ),
        (
            "kpi_daily",
            "WITH expected AS (SELECT series_id, (ts AT TIME ZONE 'UTC')::date AS day, max(tenant_id) AS tenant_id, \
                    count(*) AS points, avg(value) AS mean, min(value) AS min, max(value) AS max \
                 FROM kpi_points GROUP BY 1, 2) \
             SELECT count(*) FROM expected e FULL JOIN kpi_daily r USING (series_id, day) \
             WHERE r.points IS DISTINCT FROM e.points OR r.min IS DISTINCT FROM e.min OR r.max IS DISTINCT FROM e.max \
                OR r.tenant_id IS DISTINCT FROM e.tenant_id \
                OR abs(r.mean - e.mean) > 1e-9 * greatest(1, abs(e.mean)) OR r.mean IS NULL OR e.mean IS NULL",
        ),
        (
            "kpi_latest",
            "WITH expected AS (SELECT DISTINCT ON (series_id) series_id, tenant_id, metric, unit, ts, value, source \
                 FROM kpi_points ORDER BY series_id, ts DESC) \
             SELECT count(*) FROM expected e FULL JOIN kpi_latest r USING (series_id) \
             WHERE (r.tenant_id, r.metric, r.unit, r.ts, r.value, r.source) \
                   IS DISTINCT FROM (e.tenant_id, e.metric, e.unit, e.ts, e.value, e.source)",
        ),
        (
            "sentiment_daily",
            "WITH expected AS (SELECT tenant_key, (seen_at AT TIME ZONE 'UTC')::date AS day, count(*) AS articles, \
                    sum(compound) AS compound_sum, count(*) FILTER (WHERE compound <= -0.05) AS negative, \
                    count(*) FILTER (WHERE compound >= 0.05) AS positive \
                 FROM news_sentiment GROUP BY 1, 2) \
             SELECT count(*) FROM expected e FULL JOIN sentiment_daily r USING (tenant_key, day) \
             WHERE (r.articles, r.negative, r.positive) IS DISTINCT FROM (e.articles, e.negative, e.positive) \
                OR abs(r.compound_sum - e.compound_sum) > 1e-9 * greatest(1, abs(e.compound_sum)) \
                OR r.compound_sum IS NULL OR e.compound_sum IS NULL",
        ),
        (
            "alert_states",
            "WITH expected AS (SELECT alert_id, min(dedupe_key) AS dedupe_key, min(rule_id) AS rule_id, \
                    min(series_id) AS series_id, min(tenant_id) AS tenant_id, min(severity) AS severity, \
                    min(occurred_at) FILTER (WHERE transition = 'OPENED') AS opened_at, \
                    max(occurred_at) FILTER (WHERE transition = 'RESOLVED') AS resolved_at, \
                    CASE WHEN bool_or(transition = 'RESOLVED') THEN 'RESOLVED' ELSE 'OPEN' END AS state \
                 FROM alert_notifications GROUP BY alert_id) \
             SELECT count(*) FROM expected e FULL JOIN alert_states r USING (alert_id) \
             WHERE (r.dedupe_key, r.rule_id, r.series_id, r.tenant_id, r.severity, r.opened_at, r.resolved_at, r.state) \
                   IS DISTINCT FROM \
                   (e.dedupe_key, e.rule_id, e.series_id, e.tenant_id, e.severity, e.opened_at, e.resolved_at, e.state)",
        ),
    ];
    let mut found = Vec::new();
    for (model, query) in checks {
        found.push((model, sqlx::query_scalar::<_, i64>(query).fetch_one(pool).await?));
    }
    Ok(found)
}

/// The tables compared with the uninterrupted run, with their natural keys. Columns that say
/// when signalcraft received something (`fetched_at`) differ between any two runs and are left
/// out; everything else must be equal, floats to the bit (jsonb renders a float8 exactly).
/// Read models with sums are held to their `GROUP BY` instead ([`rollup_mismatches`]): a
/// different batching adds the same numbers in another order.
///
/// The third column leaves out the scores, forecasts and alerts of the replayed exchange rates
/// (`fx:USD:*`): two recordings of different days feed each of those series, and which arrives
/// first is the ingest role's timing, not the pipeline's (a point older than its series' latest
/// is not scored, README "Delivery guarantees"), so even two uninterrupted runs may differ there.
/// Their points, rates and latest values are compared like every other row.
pub const COMPARED_TABLES: [(&str, &str, &str); 11] = [
    ("fx_rates", "base, quote, rate_date", "true"),
    ("weather_observations", "location_id, kind, hour", "true"),
    ("brand_metrics", "brand_id, metric, project_id", "true"),
    ("news_articles", "tenant_key, url", "true"),
    ("news_sentiment", "tenant_key, url", "true"),
    ("kpi_points", "series_id, ts", "true"),
    ("kpi_latest", "series_id", "true"),
    ("kpi_anomalies", "series_id, ts", REPLAYED_FX_LEFT_OUT),
    ("kpi_forecasts", "series_id, issued_at", REPLAYED_FX_LEFT_OUT),
    ("alert_notifications", "notification_id", REPLAYED_FX_LEFT_OUT),
    ("alert_states", "alert_id", REPLAYED_FX_LEFT_OUT),
];

/// See [`COMPARED_TABLES`].
const REPLAYED_FX_LEFT_OUT: &str = "t.series_id NOT LIKE 'fx:USD:%'";

/// One table of the chaos run against the uninterrupted run's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableComparison {
    pub table: &'static str,
    pub reference_rows: i64,
    pub rows: i64,
    /// Keys the uninterrupted run has and this one lacks.
    pub missing: i64,
    /// Keys this run has and the uninterrupted one does not.
    pub extra: i64,
    /// Keys both have, with different contents.
    pub differing: i64,
    /// The first difference, for the report.
    pub example: Option<String>,
}

impl TableComparison {
    pub fn defects(&self) -> i64 {
        self.missing + self.extra + self.differing
    }
}

/// The query reading `table`'s rows as (key, contents) text, ordered by key in byte order (the
/// C collation, as Rust compares strings). Built from the constant table list, never from input.
fn ordered_rows_query(table: &str, key: &str, filter: &str) -> String {
    let key_text = key.split(", ").map(|column| format!("t.{column}::text")).collect::<Vec<_>>().join(", ");
    format!(
        "SELECT concat_ws('|', {key_text}) COLLATE \"C\" AS k, \
                (to_jsonb(t) - ARRAY['fetched_at', 'created_at', 'updated_at'])::text AS v \
         FROM {table} t WHERE {filter} ORDER BY 1"
    )
}

/// Every table of [`COMPARED_TABLES`] in `pool` against `reference`, row by row.
pub async fn compare_with_reference(pool: &PgPool, reference: &PgPool) -> anyhow::Result<Vec<TableComparison>> {
    let mut comparisons = Vec::new();
    for (table, key, filter) in COMPARED_TABLES {
        let mut comparison = TableComparison { table, ..Default::default() };
        let query = ordered_rows_query(table, key, filter);
        let mut ours = sqlx::query_as::<_, (String, String)>(&query).fetch(pool);
        let mut theirs = sqlx::query_as::<_, (String, String)>(&query).fetch(reference);
        let (mut a, mut b) = (ours.next().await.transpose()?, theirs.next().await.transpose()?);
        loop {
            match (&a, &b) {
                (None, None) => break,
                (Some(_), None) => {
                    comparison.extra += 1;
                    comparison.rows += 1;
                    note(&mut comparison, "extra", a.as_ref(), None);
                    a = ours.next().await.transpose()?;
                }
                (None, Some(_)) => {
                    comparison.missing += 1;
                    comparison.reference_rows += 1;
                    note(&mut comparison, "missing", None, b.as_ref());
                    b = theirs.next().await.transpose()?;
                }
                (Some((key_a, value_a)), Some((key_b, value_b))) => match key_a.as_bytes().cmp(key_b.as_bytes()) {
                    std::cmp::Ordering::Less => {
                        comparison.extra += 1;
                        comparison.rows += 1;
                        note(&mut comparison, "extra", a.as_ref(), None);
                        a = ours.next().await.transpose()?;
                    }
                    std::cmp::Ordering::Greater => {
                        comparison.missing += 1;
                        comparison.reference_rows += 1;
                        note(&mut comparison, "missing", None, b.as_ref());
                        b = theirs.next().await.transpose()?;
                    }
                    std::cmp::Ordering::Equal => {
                        if value_a != value_b {
                            comparison.differing += 1;
                            note(&mut comparison, "differs", a.as_ref(), b.as_ref());
                        }
                        comparison.rows += 1;
                        comparison.reference_rows += 1;
                        a = ours.next().await.transpose()?;
                        b = theirs.next().await.transpose()?;
                    }
                },
            }
        }
        comparisons.push(comparison);
    }
    Ok(comparisons)
}

/// Keeps the first difference of a table, shortened, for the report.
fn note(
    comparison: &mut TableComparison,
    what: &str,
    ours: Option<&(String, String)>,
    theirs: Option<&(String, String)>,
) {
    if comparison.example.is_some() {
        return;
    }
    let short = |row: Option<&(String, String)>| {
        row.map(|(key, value)| format!("{key} {}", value.chars().take(300).collect::<String>())).unwrap_or_default()
    };
    comparison.example = Some(format!("{what}: chaos [{}] reference [{}]", short(ours), short(theirs)));
}

/// Rows per table, for the report: the store's count of every pipeline table.
pub async fn row_counts(pool: &PgPool) -> anyhow::Result<Vec<(&'static str, i64)>> {
    let counts = signalcraft_store::row_counts::count_rows(pool).await?;
    Ok(signalcraft_store::row_counts::PIPELINE_TABLES
        .into_iter()
        .zip(counts.into_iter().map(|(_, rows)| rows))
        .collect())
}

/// Counts as a map, for comparisons.
pub fn by_table(counts: &[(&'static str, i64)]) -> HashMap<&'static str, i64> {
    counts.iter().copied().collect()
}
