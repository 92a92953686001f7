//! The database's own wall between tenants: a session as `signalcraft_reader` with tenant A
//! set sees A's rows and public rows of every table and view that carries tenant data, none of
//! tenant B's, and cannot write; with no tenant set it sees public rows only. Alert rules are
//! a tenant's own: the reader sees its tenant's rules, never another tenant's nor the
//! operator's (no tenant). The tables are enumerated from the catalog, so a table added without
//! a decision (policy, tenant-only, public, or operator-only) fails here.

mod common;

use common::*;
use sqlx::PgPool;

/// Tables and views of tenant data: readable by the reader under row-level security.
const TENANT_RELATIONS: [&str; 14] = [
    "kpi_points",
    "kpi_anomalies",
    "kpi_forecasts",
    "kpi_forecast_latest",
    "news_articles",
    "news_sentiment",
    "alert_notifications",
    "alerts",
    "kpi_latest",
    "kpi_hourly",
    "kpi_daily",
    "sentiment_daily",
    "alert_states",
    "tenant_events",
];
/// A tenant's own rows, readable by the reader under row-level security, with no public rows:
/// rows of no tenant are the operator's.
const TENANT_ONLY_RELATIONS: [&str; 1] = ["alert_rules"];
/// Public data: readable by the reader, every row.
const PUBLIC_RELATIONS: [&str; 1] = ["fx_rates"];
/// The operator's: not readable by the reader at all.
const OPERATOR_RELATIONS: [&str; 13] = [
    "_sqlx_migrations",
    "geocoding_cache",
    "sink_offsets",
    "alert_rule_versions",
    "api_keys",
    "api_audit",
    "watched_businesses",
    "watched_dq_projects",
    "webhook_deliveries",
    "ingest_high_water_marks",
    "source_status",
    "weather_observations",
    "brand_metrics",
];

/// Rows of `relation` per tenant (`None`: public), as the owner sees them.
async fn rows_by_tenant(pool: &PgPool, relation: &str) -> Vec<(Option<String>, i64)> {
    // Relation names come from the constant lists above, never from input.
    sqlx::query_as(&format!("SELECT tenant_id, count(*) FROM {relation} GROUP BY 1 ORDER BY 1 NULLS LAST"))
        .fetch_all(pool)
        .await
        .expect("owner reads")
}

/// Runs `query` as the reader, with `tenant` set (or not), in a transaction rolled back after.
async fn as_reader<T: Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>>(
    pool: &PgPool,
    tenant: Option<&str>,
    query: &str,
) -> Result<Vec<T>, sqlx::Error> {
    let mut tx = pool.begin().await.expect("transaction");
    sqlx::query("SET LOCAL ROLE signalcraft_reader").execute(&mut *tx).await.expect("reader role");
    if let Some(tenant) = tenant {
        sqlx::query("SELECT set_config('signalcraft.tenant_id', $1, true)")
            .bind(tenant)
            .execute(&mut *tx)
            .await
            .expect("tenant set");
    }
    let result = sqlx::query_as(query).fetch_all(&mut *tx).await;
    tx.rollback().await.expect("rolled back");
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_sees_its_tenant_and_public_rows_of_every_tenant_relation_and_writes_nothing() {
    let database = TestDatabase::new().await;
    let pool = &database.pool;
    store_tenant_rows(pool).await;

    for relation in TENANT_RELATIONS {
        let owner = rows_by_tenant(pool, relation).await;
        let count = |tenant: Option<&str>| {
            owner.iter().find(|(t, _)| t.as_deref() == tenant).map(|(_, n)| *n).unwrap_or_default()
        };
        assert!(count(Some("acme")) > 0 && count(Some("globex")) > 0 && count(None) > 0, "{relation}: {owner:?}");

        let seen: Vec<(Option<String>, i64)> = as_reader(
            pool,
            Some("acme"),
            &format!("SELECT tenant_id, count(*) FROM {relation} GROUP BY 1 ORDER BY 1 NULLS LAST"),
        )
        .await
        .unwrap_or_else(|e| panic!("{relation}: the reader cannot read: {e}"));
        assert_eq!(
            seen,
            vec![(Some("acme".to_string()), count(Some("acme"))), (None, count(None))],
            "{relation}: tenant acme sees its own rows and public rows only"
        );

        let anonymous: Vec<(Option<String>, i64)> =
            as_reader(pool, None, &format!("SELECT tenant_id, count(*) FROM {relation} GROUP BY 1"))
                .await
                .expect("reads");
        assert_eq!(anonymous, vec![(None, count(None))], "{relation}: no tenant set, public rows only");

        for write in [
            format!("DELETE FROM {relation}"),
            format!("UPDATE {relation} SET tenant_id = 'acme'"),
            format!("INSERT INTO {relation} (tenant_id) SELECT tenant_id FROM {relation} LIMIT 1"),
        ] {
            let refused = as_reader::<(i64,)>(pool, Some("acme"), &write).await.expect_err("refused").to_string();
            // A view that is not updatable says so before privileges are looked at.
            let refused_as_view = refused.contains(&format!("from view \"{relation}\""))
                || refused.contains(&format!("view \"{relation}\""));
            assert!(refused.contains("permission denied") || refused_as_view, "{relation}: {write}: {refused}");
        }
    }

    for relation in TENANT_ONLY_RELATIONS {
        let owner = rows_by_tenant(pool, relation).await;
        assert_eq!(
            owner,
            vec![(Some("acme".to_string()), 2), (Some("globex".to_string()), 1), (None, 1)],
            "{relation}: rows of both tenants and of the operator"
        );
        let query = format!("SELECT tenant_id, count(*) FROM {relation} GROUP BY 1 ORDER BY 1 NULLS LAST");
        let seen: Vec<(Option<String>, i64)> =
            as_reader(pool, Some("acme"), &query).await.unwrap_or_else(|e| panic!("{relation}: {e}"));
        assert_eq!(seen, vec![(Some("acme".to_string()), 2)], "{relation}: tenant acme sees its own rows only");
        let anonymous: Vec<(Option<String>, i64)> = as_reader(pool, None, &query).await.expect("reads");
        assert!(anonymous.is_empty(), "{relation}: no tenant set, nothing: {anonymous:?}");
        for write in [
            format!("DELETE FROM {relation}"),
            format!("UPDATE {relation} SET tenant_id = 'acme'"),
            format!("INSERT INTO {relation} (tenant_id) SELECT tenant_id FROM {relation} LIMIT 1"),
        ] {
            let refused = as_reader::<(i64,)>(pool, Some("acme"), &write).await.expect_err("refused").to_string();
            assert!(refused.contains("permission denied"), "{relation}: {write}: {refused}");
        }
    }

    // A partition read directly would bypass its parent's policy: not granted.
    let partitions: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c WHERE c.relispartition AND c.relkind = 'r' \
         AND c.relnamespace = 'public'::regnamespace",
    )
    .fetch_all(pool)
    .await
    .expect("partitions");
    assert!(!partitions.is_empty(), "the points were written into monthly partitions");
    for partition in &partitions {
        let refused = as_reader::<(i64,)>(pool, Some("acme"), &format!("SELECT count(*) FROM {partition}"))
            .await
            .expect_err("a partition is not readable by itself");
        assert!(refused.to_string().contains("permission denied"), "{partition}: {refused}");
    }

    let rates: Vec<(String,)> = as_reader(pool, None, "SELECT quote FROM fx_rates").await.expect("public rows");
    assert_eq!(rates, vec![("EUR".to_string(),)]);
    for relation in OPERATOR_RELATIONS {
        let refused = as_reader::<(i64,)>(pool, Some("acme"), &format!("SELECT count(*) FROM {relation}"))
            .await
            .expect_err("operator data is not readable");
        assert!(refused.to_string().contains("permission denied"), "{relation}: {refused}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_relation_in_the_schema_has_a_decision_about_the_reader() {
    let database = TestDatabase::new().await;
    let relations: Vec<(String, String, bool, bool, bool, bool, bool)> = sqlx::query_as(
        "SELECT c.relname::text, c.relkind::text, c.relrowsecurity, \
                has_table_privilege('signalcraft_reader', c.oid, 'SELECT'), \
                EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'tenant_rows'), \
                EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid \
                        AND 'signalcraft_reader'::regrole = ANY (p.polroles) AND p.polcmd IN ('r', '*')), \
                coalesce('security_invoker=true' = ANY (c.reloptions), false) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition \
         ORDER BY 1",
    )
    .fetch_all(&database.pool)
    .await
    .expect("catalog");
    assert!(relations.len() > 20, "{relations:?}");
    for (name, kind, row_security, readable, policy, reader_policy, invoker) in relations {
        if TENANT_RELATIONS.contains(&name.as_str()) {
            assert!(readable, "{name}: tenant data must be readable by the reader");
            match kind.as_str() {
                "v" => assert!(invoker, "{name}: a view of tenant data must run with the reader's rights"),
                _ => assert!(row_security && policy, "{name}: tenant data without row-level security"),
            }
        } else if TENANT_ONLY_RELATIONS.contains(&name.as_str()) {
            assert!(readable, "{name}: a tenant's own rows must be readable by the reader");
            assert!(row_security && reader_policy, "{name}: a tenant's own rows without a policy for the reader");
        } else if PUBLIC_RELATIONS.contains(&name.as_str()) {
            assert!(readable, "{name}: public data must be readable");
        } else if OPERATOR_RELATIONS.contains(&name.as_str()) {
            assert!(!readable, "{name}: operator data must not be readable by the reader");
        } else {
            panic!(
                "{name} has no decision: add it to TENANT_RELATIONS (with a policy), TENANT_ONLY_RELATIONS, \
                 PUBLIC_RELATIONS or OPERATOR_RELATIONS, and grant accordingly in a migration"
            );
        }
    }
}
