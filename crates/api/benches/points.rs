//! Benchmark: latency of `GET …/series/{series}/points` under a fixed request rate.
//!
//! Loads 1,000 hourly series of 30 days (720,000 points, tenant `bench`) with one
//! `INSERT … SELECT generate_series`, so the read-model triggers fill `kpi_hourly`, `kpi_daily`
//! and `kpi_latest` as the sink's writes would, plus a daily anomaly score per series (every
//! tenth flagged). Serves the API in-process on 127.0.0.1 (rate limits out of the way) and
//! drives it open-loop: request `i` of a step is scheduled at `start + i / rate`, and its latency
//! is measured from that scheduled instant, so a server falling behind shows as queueing in the
//! figures instead of slowing the load down (no coordinated omission). Requests mix, in turn,
//! raw points of the last 7 days (168 points), hourly rollups over 30 days (720) and daily
//! rollups over 30 days (31), each of a series picked at random.
//!
//!     cargo bench -p signalcraft-api --bench points [-- RATES [SECONDS]]
//!
//! RATES is a comma-separated list of requests per second (default 25,50,100,200,400,800),
//! SECONDS each step's length (default 10). Steps stop after the first whose p99 passes 1 s.
//! Prints p50/p99 per step and the highest rate served with p99 under 100 ms. Uses a fresh
//! database on DATABASE_URL's server if set, otherwise a private server started from the
//! machine's PostgreSQL binaries (fsync off). Client, API and database share the machine.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use signalcraft_api::{ApiConfig, Role, TenantApi, TenantId, TokenSigner};
use signalcraft_store::PrivatePostgres;
use sqlx::{postgres::PgPoolOptions, Connection, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

const SERIES: usize = 1_000;
const DAYS: i64 = 30;
const TENANT: &str = "bench";
const P99_TARGET: Duration = Duration::from_millis(100);
const DEFAULT_RATES: [u32; 6] = [25, 50, 100, 200, 400, 800];

/// Where the bench's database lives; dropped at the end.
enum Database {
    Shared {
        admin_url: String,
        name: String,
    },
    /// Held until the end: the server stops when it is dropped.
    Private(#[allow(dead_code)] PrivatePostgres),
}

async fn database() -> Result<(Database, String), String> {
    match std::env::var("DATABASE_URL") {
        Ok(admin_url) => {
            let name = format!("signalcraft_bench_points_{}", std::process::id());
            let mut admin = PgConnection::connect(&admin_url).await.map_err(|e| format!("DATABASE_URL: {e}"))?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .map_err(|e| format!("creating {name}: {e}"))?;
            let base = admin_url.rsplit_once('/').map(|(base, _)| base.to_string()).unwrap_or(admin_url.clone());
            let url = format!("{base}/{name}");
            Ok((Database::Shared { admin_url, name }, url))
        }
        Err(_) => {
            let server = PrivatePostgres::start_temporary("signalcraft")
                .await
                .map_err(|e| format!("starting a private PostgreSQL: {e}"))?;
            let url = server.url();
            Ok((Database::Private(server), url))
        }
    }
}

impl Database {
    async fn drop_database(self) {
        if let Database::Shared { admin_url, name } = self {
            if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
            }
        }
    }
}

fn series_id(n: usize) -> String {
    format!("custom:{TENANT}:metric-{n:04}")
}

/// 1,000 series × 30 days of hourly points ending at the current hour, and a daily anomaly
/// score per series.
async fn load(pool: &PgPool) -> Result<(), sqlx::Error> {
    for table in ["kpi_points", "kpi_anomalies"] {
        sqlx::query(
            "SELECT signalcraft_ensure_month_partition($1, m::date) \
             FROM generate_series(date_trunc('month', now() - make_interval(days => $2 + 1)), now(), '1 month') AS m",
        )
        .bind(table)
        .bind(DAYS as i32)
        .execute(pool)
        .await?;
    }
    let hours = DAYS * 24;
    sqlx::query(
        "INSERT INTO kpi_points (series_id, tenant_id, metric, unit, ts, value, source) \
         SELECT format('custom:%s:metric-%s', $1, lpad(s::text, 4, '0')), $1, format('metric-%s', s), 'count', \
                date_trunc('hour', now()) - make_interval(hours => h), \
                100 + 10 * sin(h / 12.0) + (s % 7), 'bench' \
         FROM generate_series(0, $2 - 1) AS s, generate_series(0, $3 - 1) AS h",
    )
    .bind(TENANT)
    .bind(SERIES as i32)
    .bind(hours as i32)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO kpi_anomalies (series_id, tenant_id, ts, value, score, is_anomaly, detector) \
         SELECT format('custom:%s:metric-%s', $1, lpad(s::text, 4, '0')), $1, \
                date_trunc('hour', now()) - make_interval(hours => 24 * d), 100, \
                CASE WHEN (s + d) % 10 = 0 THEN 0.99 ELSE 0.2 END, (s + d) % 10 = 0, 'bench' \
         FROM generate_series(0, $2 - 1) AS s, generate_series(0, $3 - 1) AS d",
    )
    .bind(TENANT)
    .bind(SERIES as i32)
    .bind(DAYS as i32)
    .execute(pool)
    .await?;
    sqlx::query("VACUUM ANALYZE").execute(pool).await?;
    Ok(())
}

/// A small deterministic generator: the same series picks every run.
struct Picks(u64);

impl Picks {
    fn next(&mut self) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % SERIES as u64) as usize
    }
}

/// The URL of request `i`: raw 7 days, hourly 30 days, daily 30 days, in turn.
fn request_url(base: &str, i: u64, picks: &mut Picks) -> String {
    let series = series_id(picks.next());
    let now = chrono::Utc::now();
    let from = |days: i64| (now - chrono::TimeDelta::days(days)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let query = match i % 3 {
        0 => format!("from={}", from(7)),
        1 => format!("resolution=hour&from={}&limit=1000", from(DAYS)),
        _ => format!("resolution=day&from={}", from(DAYS)),
    };
    format!("{base}/tenants/{TENANT}/series/{series}/points?{query}")
}

struct Step {
    rate: u32,
    sent: usize,
    failed: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

/// `rate` requests per second for `length`, open-loop; latencies from each scheduled instant.
async fn step(client: &reqwest::Client, base: &str, token: &str, rate: u32, length: Duration) -> Step {
    let total = (f64::from(rate) * length.as_secs_f64()).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let failed = Arc::new(Mutex::new(0usize));
    let mut picks = Picks(u64::from(rate));
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..total {
        let scheduled = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled).await;
        let request = client.get(request_url(base, i, &mut picks)).bearer_auth(token);
        let (latencies, failed) = (latencies.clone(), failed.clone());
        requests.spawn(async move {
            let ok = match request.send().await {
                Ok(response) if response.status().is_success() => response.bytes().await.is_ok(),
                Ok(response) => {
                    eprintln!("refused: {} {}", response.status(), response.text().await.unwrap_or_default());
                    false
                }
                Err(error) => {
                    eprintln!("failed: {error}");
                    false
                }
            };
            let latency = scheduled.elapsed();
            if ok {
                latencies.lock().unwrap_or_else(|e| e.into_inner()).push(latency);
            } else {
                *failed.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            }
        });
    }
    while requests.join_next().await.is_some() {}
    let mut latencies = std::mem::take(&mut *latencies.lock().unwrap_or_else(|e| e.into_inner()));
    latencies.sort();
    let at = |q: f64| {
        if latencies.is_empty() {
            Duration::MAX
        } else {
            latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1]
        }
    };
    let failed = *failed.lock().unwrap_or_else(|e| e.into_inner());
    Step { rate, sent: total as usize, failed, p50: at(0.50), p99: at(0.99), max: at(1.0) }
}

fn ms(duration: Duration) -> String {
    if duration == Duration::MAX {
        "-".into()
    } else {
        format!("{:.1}", duration.as_secs_f64() * 1000.0)
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let rates: Vec<u32> = match args.next() {
        Some(list) => list
            .split(',')
            .map(|r| r.trim().parse().map_err(|_| format!("RATES: `{r}` is not a number of requests per second")))
            .collect::<Result<_, _>>()?,
        None => DEFAULT_RATES.to_vec(),
    };
    if rates.contains(&0) {
        return Err("RATES: a rate must be at least 1 per second".into());
    }
    let seconds: u64 = match args.next() {
        Some(s) => s.parse().map_err(|_| format!("SECONDS: `{s}` is not a number"))?,
        None => 10,
    };

    let (database, url) = database().await?;
    let pool = PgPoolOptions::new().max_connections(4).connect(&url).await.map_err(|e| format!("connecting: {e}"))?;
    signalcraft_store::migrate(&pool).await.map_err(|e| format!("migrating: {e}"))?;
    let loading = Instant::now();
    load(&pool).await.map_err(|e| format!("loading: {e}"))?;
    println!(
        "loaded {SERIES} series x {DAYS} days hourly ({} points) in {:.1} s",
        SERIES as i64 * DAYS * 24,
        loading.elapsed().as_secs_f64()
    );

    let config =
        ApiConfig { requests_per_minute: 10_000_000, burst: 1_000_000, max_connections: 16, ..ApiConfig::default() };
    let signer = TokenSigner::new(b"bench-signing-key-0123456789abcdef", Duration::from_secs(3600));
    let tenant = TenantId::parse(TENANT)?;
    let token = signer.issue("bench", &tenant, Role::Viewer).map_err(|e| format!("issuing a token: {e}"))?;
    let shutdown = CancellationToken::new();
    let api = TenantApi::start(&config, signer, &pool, shutdown.clone()).await?;
    for (_, task) in api.tasks {
        tokio::spawn(task);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("binding: {e}"))?;
    let base = format!("http://{}/api/v1", listener.local_addr().map_err(|e| format!("address: {e}"))?);
    let server = tokio::spawn(async move { axum::serve(listener, api.router).await });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;

    // Warm-up: connections, plans and caches; not reported.
    let _ = step(&client, &base, &token, 20, Duration::from_secs(2)).await;

    println!("\nGET /api/v1/tenants/{TENANT}/series/{{series}}/points, open-loop, {seconds} s per step");
    println!("{:>8} {:>7} {:>6} {:>9} {:>9} {:>9}", "req/s", "sent", "failed", "p50 ms", "p99 ms", "max ms");
    let mut best = None;
    for rate in rates {
        let result = step(&client, &base, &token, rate, Duration::from_secs(seconds)).await;
        println!(
            "{:>8} {:>7} {:>6} {:>9} {:>9} {:>9}",
            result.rate,
            result.sent,
            result.failed,
            ms(result.p50),
            ms(result.p99),
            ms(result.max)
        );
        if result.failed == 0 && result.p99 < P99_TARGET {
            best = Some(result.rate);
        }
        if result.p99 > Duration::from_secs(1) {
            break;
        }
    }
    match best {
        Some(rate) => println!("\nhighest rate with p99 under {} ms: {rate} req/s", P99_TARGET.as_millis()),
        None => println!("\nno rate had p99 under {} ms", P99_TARGET.as_millis()),
    }

    shutdown.cancel();
    server.abort();
    pool.close().await;
    database.drop_database().await;
    Ok(())
}
