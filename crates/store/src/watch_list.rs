//! The watch list in PostgreSQL (`watched_businesses`, `watched_dq_projects`): what the
//! ingestors read every cycle ([`PgWatchList`]) and the statements behind
//! `signalcraft watch add|list|remove`. The tables' CHECK constraints hold every row to what the
//! sources accept; the CLI checks a business first, with messages naming the option.

use async_trait::async_trait;
use chrono::NaiveDate;
use signalcraft_ingest::{DqProjectConfig, GeoPoint, WatchListError, WatchListStore, WatchedBusiness};
use sqlx::{PgPool, Postgres, Transaction};

/// [`WatchListStore`] over the watch-list tables.
#[derive(Debug, Clone)]
pub struct PgWatchList {
    pool: PgPool,
}

impl PgWatchList {
    pub fn new(pool: PgPool) -> Self {
        PgWatchList { pool }
    }

    /// Every watched business, by tenant id.
    pub async fn list(&self) -> Result<Vec<WatchedBusiness>, sqlx::Error> {
        type Row =
            (String, String, Option<f64>, Option<f64>, Option<String>, Vec<String>, Vec<i64>, Vec<i64>, Vec<NaiveDate>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT b.tenant_id, b.name, b.latitude, b.longitude, b.currency, b.gdelt_queries, b.dq_brand_ids, \
                    COALESCE(array_agg(p.project_id ORDER BY p.project_id) FILTER (WHERE p.project_id IS NOT NULL), '{}'), \
                    COALESCE(array_agg(p.period_start ORDER BY p.project_id) FILTER (WHERE p.project_id IS NOT NULL), '{}') \
             FROM watched_businesses b LEFT JOIN watched_dq_projects p USING (tenant_id) \
             GROUP BY b.tenant_id ORDER BY b.tenant_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(tenant_id, name, latitude, longitude, currency, gdelt_queries, dq_brand_ids, projects, periods)| {
                WatchedBusiness {
                    tenant_id,
                    name,
                    location: latitude.zip(longitude).map(|(latitude, longitude)| GeoPoint { latitude, longitude }),
                    currency,
                    gdelt_queries,
                    dq_projects: projects
                        .into_iter()
                        .zip(periods)
                        .map(|(project_id, period_start)| DqProjectConfig { project_id, period_start })
                        .collect(),
                    dq_brand_ids,
                }
            })
            .collect())
    }

    /// Adds `business`, or replaces every field of the business with its tenant id. Returns
    /// whether it was new.
    pub async fn upsert(&self, business: &WatchedBusiness) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let (latitude, longitude) = business.location.map(|p| (p.latitude, p.longitude)).unzip();
        let inserted: bool = sqlx::query_scalar(
            "INSERT INTO watched_businesses (tenant_id, name, latitude, longitude, currency, gdelt_queries, dq_brand_ids) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id) DO UPDATE SET name = EXCLUDED.name, latitude = EXCLUDED.latitude, \
                 longitude = EXCLUDED.longitude, currency = EXCLUDED.currency, \
                 gdelt_queries = EXCLUDED.gdelt_queries, dq_brand_ids = EXCLUDED.dq_brand_ids, updated_at = now() \
             RETURNING xmax = 0",
        )
        .bind(&business.tenant_id)
        .bind(&business.name)
        .bind(latitude)
        .bind(longitude)
        .bind(&business.currency)
        .bind(&business.gdelt_queries)
        .bind(&business.dq_brand_ids)
        .fetch_one(&mut *tx)
        .await?;
        replace_projects(&mut tx, business).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    /// Removes the business `tenant_id` (and its projects). Returns whether it was there.
    pub async fn remove(&self, tenant_id: &str) -> Result<bool, sqlx::Error> {
        let removed = sqlx::query("DELETE FROM watched_businesses WHERE tenant_id = $1")
            .bind(tenant_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(removed > 0)
    }
}

async fn replace_projects(tx: &mut Transaction<'_, Postgres>, business: &WatchedBusiness) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM watched_dq_projects WHERE tenant_id = $1")
        .bind(&business.tenant_id)
        .execute(&mut **tx)
        .await?;
    let ids: Vec<i64> = business.dq_projects.iter().map(|p| p.project_id).collect();
    let periods: Vec<NaiveDate> = business.dq_projects.iter().map(|p| p.period_start).collect();
    sqlx::query(
        "INSERT INTO watched_dq_projects (tenant_id, project_id, period_start) \
         SELECT $1, id, period FROM UNNEST($2::bigint[], $3::date[]) AS u(id, period)",
    )
    .bind(&business.tenant_id)
    .bind(&ids)
    .bind(&periods)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl WatchListStore for PgWatchList {
    async fn load(&self) -> Result<Vec<WatchedBusiness>, WatchListError> {
        self.list().await.map_err(|error| WatchListError(error.to_string()))
    }
}
