//! The database's own wall between tenants: a session as `signalcraft_reader` with tenant A
//! set sees A's rows and public rows of every table and view that carries tenant data, none of
//! tenant B's, and cannot write; with no tenant set it sees public rows only. Alert rules are
//! a tenant's own: the reader sees its tenant's rules, never another tenant's nor the
//! operator's (no tenant). The tables are enumerated from the catalog, so a table added without
//! a decision (policy, tenant-only, public, or operator-only) fails here.

mod common;

use chrono::{TimeDelta, TimeZone, Utc};
use common::*;
use signalcraft_model::{
    AlertNotification, AlertTransition, ForecastPoint, KpiForecast, KpiPoint, NewsArticle, ScoredArticle, Severity,
};
use signalcraft_sink::PostgresSink;
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
const OPERATOR_RELATIONS: [&str; 11] = [
    "_sqlx_migrations",
    "sink_offsets",
    "alert_rule_versions",
    "api_keys",
    "api_audit",
    "watched_businesses",
    "watched_dq_projects",
    "webhook_deliveries",
    "ingest_high_water_marks",
    "weather_observations",
    "brand_metrics",
];

/// Rows of every tenant table for tenants `acme` and `globex` and for no tenant, written by the sink.
async fn store_three_tenants(pool: &PgPool) {
    let mut sink = PostgresSink::new(pool.clone(), "test-sink");
    let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).single().expect("instant");
    let tenants = [Some("acme"), Some("globex"), None];
    let label = |tenant: Option<&str>| tenant.unwrap_or("public").to_string();
    let points: Vec<KpiPoint> = tenants
        .iter()
        .flat_map(|&tenant| {
            (0..3).map(move |hour| KpiPoint {
                series_id: format!("custom:{}:sales", label(tenant)),
                tenant_id: tenant.map(str::to_string),
                metric: "sales".into(),
                unit: "count".into(),
                ts: at + TimeDelta::hours(hour),
                value: hour as f64,
                source: "test".into(),
            })
        })
        .collect();
    let anomalies = unremarkable_scores(&points);
    let forecasts: Vec<KpiForecast> = tenants
        .iter()
        .map(|&tenant| KpiForecast {
            series_id: format!("custom:{}:sales", label(tenant)),
            tenant_id: tenant.map(str::to_string),
            issued_at: at,
            model: "test".into(),
            step_seconds: 3600,
            points: vec![ForecastPoint {
                ts: at + TimeDelta::hours(4),
                mean: 1.0,
                lower_80: 0.5,
                upper_80: 1.5,
                lower_95: 0.0,
                upper_95: 2.0,
            }],
        })
        .collect();
    let articles: Vec<NewsArticle> = tenants
        .iter()
        .map(|&tenant| NewsArticle {
            url: format!("https://news.example/{}", label(tenant)),
            title: "a title".into(),
            seen_at: at,
            domain: None,
            language: None,
            source_country: None,
            social_image: None,
            tenant_id: tenant.map(str::to_string),
            query: "q".into(),
            fetched_at: at,
        })
        .collect();
    let scored: Vec<ScoredArticle> = articles
        .iter()
        .map(|a| ScoredArticle {
            url: a.url.clone(),
            tenant_id: a.tenant_id.clone(),
            title: a.title.clone(),
            seen_at: a.seen_at,
            neg: 0.0,
            neu: 1.0,
            pos: 0.0,
            compound: -0.3,
        })
        .collect();
    let notifications: Vec<AlertNotification> = tenants
        .iter()
        .map(|&tenant| AlertNotification {
            notification_id: format!("n-{}", label(tenant)),
            alert_id: format!("a-{}", label(tenant)),
            dedupe_key: format!("k-{}", label(tenant)),
            rule_id: None,
            series_id: format!("custom:{}:sales", label(tenant)),
            tenant_id: tenant.map(str::to_string),
            transition: AlertTransition::Opened,
            severity: Severity::Warning,
            message: "m".into(),
            value: 1.0,
            score: Some(0.99),
            occurred_at: at,
        })
        .collect();
    for batch in [
        consumed(&points, 0),
        consumed(&anomalies, 0),
        consumed(&forecasts, 0),
        consumed(&articles, 0),
        consumed(&scored, 0),
        consumed(&notifications, 0),
    ] {
        assert!(sink.write_batch(&batch).await.expect("written").is_empty());
    }
    sqlx::query(
        "INSERT INTO fx_rates (base, quote, rate_date, rate, provider, fetched_at) \
         VALUES ('USD', 'EUR', '2024-05-01', 0.93, 'test', now())",
    )
    .execute(pool)
    .await
    .expect("a public row");
    sqlx::query(
        "INSERT INTO alert_rules (name, series_pattern, comparison, threshold, tenant_id) \
         VALUES ('acme rule', 'custom:%', '>', 1, 'acme'), ('acme rule 2', 'custom:%', '<', 0, 'acme'), \
                ('globex rule', 'custom:%', '>', 1, 'globex'), ('operator rule', '%', '>', 1, NULL)",
    )
    .execute(pool)
    .await
    .expect("a rule of each tenant and of the operator");
}

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
    store_three_tenants(pool).await;

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
