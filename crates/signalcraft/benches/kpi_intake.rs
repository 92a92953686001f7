//! Benchmark: how many KPI rows a business can push per second, each way it can push them, next
//! to how many the PostgreSQL sink writes per second, so the slower side is plain to see.
//!
//!     cargo bench --bench kpi_intake
//!
//! Every intake figure is end to end: the request leaves a client on 127.0.0.1 (or `import kpi`
//! opens its file) and the clock stops when the broker has acknowledged every record (the API
//! answers 202 only then; the import returns only then). The broker is the embedded one
//! (librdkafka's in-memory mock cluster, over TCP), so no disk or network sits behind the ack;
//! against a real cluster the figures can only fall. Rows are a few series with dimensions
//! (2 metrics × 4 stores × 2 channels, one point per series per minute).
//!
//! - CSV over HTTP: `POST /api/v1/tenants/bench/kpis` with `text/csv`, one 200,000-row upload;
//!   one warm-up, then the median of 3.
//! - JSON over HTTP: 200 requests of 1,000 observations, one after another, then the same 200
//!   spread over 4 concurrent clients.
//! - `import kpi`: a 1,000,000-row CSV file through `signalcraft::import::import_kpi` at the
//!   command's defaults (reject bad rows: one checking pass over the file first; 10,000-row
//!   chunks), one run.
//! - The sink: `PostgresSink::write_batch` writing the kpi.points those rows become (Avro
//!   decode, offset fence, dedupe, COPY, offsets), batches of the sink's default size, from an
//!   empty table, median of 3, read models on (as the pipeline runs) and off.
//!
//! Uses a fresh database on DATABASE_URL's server if set, otherwise a private server started
//! from the machine's PostgreSQL binaries (fsync off). Client, API, broker and database share
//! the machine.

use std::{
    collections::BTreeMap,
    path::Path,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use chrono::{DateTime, TimeDelta, Utc};
use rdkafka::{message::OwnedMessage, Timestamp};
use signalcraft_api::{ApiConfig, Intake, Role, TenantApi, TenantId, TokenSigner};
use signalcraft_kafka::{EmbeddedBroker, KafkaSettings, RecordProducer};
use signalcraft_model::{KpiObservation, KpiPoint, Plausibility, Record, RecordCodec, Topic, WireFormat};
use signalcraft_process::{kpi::ObservationToKpi, Processor};
use signalcraft_sink::PostgresSink;
use signalcraft_store::PrivatePostgres;
use sqlx::{postgres::PgPoolOptions, Connection, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

const TENANT: &str = "bench";
const PARTITIONS: i32 = 3;
const CSV_ROWS: usize = 200_000;
const CSV_RUNS: usize = 3;
const JSON_REQUESTS: usize = 200;
const JSON_BATCH: usize = 1_000;
const JSON_CLIENTS: usize = 4;
const IMPORT_ROWS: usize = 1_000_000;
const IMPORT_CHUNK_ROWS: usize = 10_000;
const SINK_ROWS: usize = 200_000;
const SINK_RUNS: usize = 3;

const METRICS: [&str; 2] = ["sales", "orders"];
const STORES: [&str; 4] = ["berlin-1", "berlin-2", "hamburg-1", "munich-1"];
const CHANNELS: [&str; 2] = ["web", "shop"];
const SERIES: usize = METRICS.len() * STORES.len() * CHANNELS.len();

/// Where the bench's database lives; dropped at the end.
enum Database {
    Shared {
        admin_url: String,
        name: String,
    },
    /// Held until the end: the server stops when it is dropped.
    Private(#[allow(dead_code)] PrivatePostgres),
}

async fn database() -> anyhow::Result<(Database, String)> {
    match std::env::var("DATABASE_URL") {
        Ok(admin_url) => {
            let name = format!("signalcraft_bench_kpi_intake_{}", std::process::id());
            let mut admin = PgConnection::connect(&admin_url).await.context("DATABASE_URL")?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .with_context(|| format!("creating {name}"))?;
            let base = admin_url.rsplit_once('/').map(|(base, _)| base.to_string()).unwrap_or(admin_url.clone());
            let url = format!("{base}/{name}");
            Ok((Database::Shared { admin_url, name }, url))
        }
        Err(_) => {
            let server =
                PrivatePostgres::start_temporary("signalcraft").await.context("starting a private PostgreSQL")?;
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

/// Row `i` of every data set: series `i % SERIES`, one minute apart per series, from 2024-01-01.
struct Row {
    ts: DateTime<Utc>,
    metric: &'static str,
    value: f64,
    unit: &'static str,
    store: &'static str,
    channel: &'static str,
}

fn row(i: usize) -> Row {
    let origin = DateTime::<Utc>::from_timestamp(1_704_067_200, 0).expect("2024-01-01 is a valid instant");
    let series = i % SERIES;
    let metric = METRICS[series % METRICS.len()];
    let store = STORES[(series / METRICS.len()) % STORES.len()];
    let channel = CHANNELS[series / (METRICS.len() * STORES.len())];
    let minute = (i / SERIES) as i64;
    let value = 1000.0 + 50.0 * ((minute as f64) / 240.0).sin() + (series * 7) as f64 + (i % 13) as f64 * 0.25;
    let unit = if metric == "sales" { "EUR" } else { "count" };
    Row { ts: origin + TimeDelta::minutes(minute), metric, value, unit, store, channel }
}

const CSV_HEADER: &str = "ts,metric,value,unit,dim=store,dim=channel\n";

fn csv_line(out: &mut String, row: &Row) {
    use std::fmt::Write;
    let _ = writeln!(
        out,
        "{},{},{},{},{},{}",
        row.ts.format("%Y-%m-%dT%H:%M:%SZ"),
        row.metric,
        row.value,
        row.unit,
        row.store,
        row.channel
    );
}

fn csv_body(rows: std::ops::Range<usize>) -> String {
    let mut out = String::with_capacity(rows.len() * 64 + CSV_HEADER.len());
    out.push_str(CSV_HEADER);
    for i in rows {
        csv_line(&mut out, &row(i));
    }
    out
}

fn json_body(rows: std::ops::Range<usize>) -> anyhow::Result<Vec<u8>> {
    let items: Vec<serde_json::Value> = rows
        .map(|i| {
            let row = row(i);
            serde_json::json!({
                "ts": row.ts.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "metric": row.metric,
                "value": row.value,
                "unit": row.unit,
                "dimensions": { "store": row.store, "channel": row.channel },
            })
        })
        .collect();
    serde_json::to_vec(&items).context("encoding a JSON body")
}

/// One figure of the table.
struct Figure {
    case: String,
    rows: usize,
    bytes: usize,
    elapsed: Duration,
    note: String,
}

impl Figure {
    fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64()
    }
    fn megabytes_per_second(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64()
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// Posts one body and checks that the API took every row.
async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    content_type: &str,
    body: bytes::Bytes,
    rows: usize,
) -> anyhow::Result<()> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .context("sending a KPI upload")?;
    let status = response.status();
    let text = response.text().await.context("reading the answer")?;
    if status != reqwest::StatusCode::ACCEPTED {
        bail!("the API answered {status}: {text}");
    }
    let report: serde_json::Value = serde_json::from_str(&text).context("the answer is not JSON")?;
    let accepted = report.get("accepted").and_then(serde_json::Value::as_u64).unwrap_or(0);
    if accepted != rows as u64 {
        bail!("the API accepted {accepted} of {rows} rows: {text}");
    }
    Ok(())
}

/// (a) One CSV upload of CSV_ROWS rows: a warm-up, then the median of CSV_RUNS.
async fn csv_over_http(client: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<Figure> {
    let body = bytes::Bytes::from(csv_body(0..CSV_ROWS));
    post(client, url, token, "text/csv", body.clone(), CSV_ROWS).await?;
    let mut runs = Vec::with_capacity(CSV_RUNS);
    for _ in 0..CSV_RUNS {
        let started = Instant::now();
        post(client, url, token, "text/csv", body.clone(), CSV_ROWS).await?;
        runs.push(started.elapsed());
    }
    let spread: Vec<String> = runs.iter().map(|run| format!("{:.2}", run.as_secs_f64())).collect();
    Ok(Figure {
        case: format!("CSV over HTTP, 1 upload of {CSV_ROWS} rows"),
        rows: CSV_ROWS,
        bytes: body.len(),
        elapsed: median(runs),
        note: format!("median of {CSV_RUNS} (s: {})", spread.join(" ")),
    })
}

/// (b) JSON_REQUESTS requests of JSON_BATCH observations, spread over `clients` clients.
async fn json_over_http(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    bodies: &Arc<Vec<bytes::Bytes>>,
    clients: usize,
) -> anyhow::Result<Figure> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, url, token, bodies, next) =
            (client.clone(), url.to_string(), token.to_string(), bodies.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { return Ok::<_, anyhow::Error>(()) };
                post(&client, &url, &token, "application/json", body.clone(), JSON_BATCH).await?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a client task panicked")??;
    }
    let elapsed = started.elapsed();
    let kind = if clients == 1 { "sequential".to_string() } else { format!("{clients} concurrent clients") };
    Ok(Figure {
        case: format!("JSON over HTTP, {JSON_REQUESTS} x {JSON_BATCH}, {kind}"),
        rows: JSON_REQUESTS * JSON_BATCH,
        bytes: bodies.iter().map(bytes::Bytes::len).sum(),
        elapsed,
        note: format!("{:.1} ms per request", elapsed.as_secs_f64() * 1000.0 * clients as f64 / JSON_REQUESTS as f64),
    })
}

/// (c) `import kpi` of an IMPORT_ROWS-row file, at the command's defaults.
async fn import(dir: &Path) -> anyhow::Result<Figure> {
    let file = dir.join("kpis.csv");
    {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file).context("creating the CSV file")?);
        out.write_all(CSV_HEADER.as_bytes()).context("writing the CSV file")?;
        let mut line = String::with_capacity(80);
        for i in 0..IMPORT_ROWS {
            line.clear();
            csv_line(&mut line, &row(i));
            out.write_all(line.as_bytes()).context("writing the CSV file")?;
        }
        out.flush().context("writing the CSV file")?;
    }
    let bytes = std::fs::metadata(&file).context("the CSV file's size")?.len() as usize;
    // A broker of its own, as a separate `import kpi` process would have.
    let broker = EmbeddedBroker::start(PARTITIONS).map_err(anyhow::Error::msg)?;
    let mut config = signalcraft::Config::default();
    config.kafka.brokers = Some(broker.bootstrap_servers().to_string());
    let request = signalcraft::import::KpiImport {
        file: file.clone(),
        tenant: TenantId::parse(TENANT).map_err(anyhow::Error::msg)?,
        skip_bad_rows: false,
        chunk_rows: IMPORT_CHUNK_ROWS,
    };
    let started = Instant::now();
    let summary = signalcraft::import::import_kpi(&config, request, CancellationToken::new()).await?;
    let elapsed = started.elapsed();
    if summary.sent != IMPORT_ROWS as u64 {
        bail!("the import sent {} of {IMPORT_ROWS} rows ({summary})", summary.sent);
    }
    drop(broker);
    Ok(Figure {
        case: format!("import kpi, {IMPORT_ROWS}-row file"),
        rows: IMPORT_ROWS,
        bytes,
        elapsed,
        note: format!("one run; checking pass + {IMPORT_CHUNK_ROWS}-row chunks"),
    })
}

/// The kpi.points messages the sink would consume for rows 0..SINK_ROWS.
fn sink_messages() -> anyhow::Result<Vec<OwnedMessage>> {
    let codec = RecordCodec::<KpiPoint>::new(WireFormat::SingleObject);
    let mut processor = ObservationToKpi;
    let mut offsets = [0i64; PARTITIONS as usize];
    let mut messages = Vec::with_capacity(SINK_ROWS);
    for i in 0..SINK_ROWS {
        let row = row(i);
        let observation = KpiObservation {
            tenant_id: TENANT.into(),
            metric: row.metric.into(),
            dimensions: BTreeMap::from([("channel".into(), row.channel.into()), ("store".into(), row.store.into())]),
            unit: Some(row.unit.into()),
            ts: row.ts,
            value: row.value,
            source: "bench".into(),
            idempotency_key: None,
        };
        for point in processor.process(observation).context("observation to point")? {
            let partition = (i % PARTITIONS as usize) as i32;
            let offset = offsets[partition as usize];
            offsets[partition as usize] += 1;
            messages.push(OwnedMessage::new(
                Some(codec.encode(&point).context("encoding a point")?),
                Some(point.kafka_key().into_bytes()),
                Topic::KpiPoints.name().into(),
                Timestamp::NotAvailable,
                partition,
                offset,
                None,
            ));
        }
    }
    Ok(messages)
}

/// (d) The sink writing those messages into an empty kpi_points, median of SINK_RUNS.
async fn sink(pool: &PgPool, messages: &[OwnedMessage], read_models: bool) -> anyhow::Result<Figure> {
    let batch_size = signalcraft_sink::SinkConfig::default().batch_max_rows;
    let switch = if read_models {
        "ALTER TABLE kpi_points ENABLE TRIGGER USER"
    } else {
        "ALTER TABLE kpi_points DISABLE TRIGGER USER"
    };
    sqlx::query(switch).execute(pool).await.context("switching the read models")?;
    let mut runs = Vec::with_capacity(SINK_RUNS);
    for _ in 0..SINK_RUNS {
        sqlx::query("TRUNCATE kpi_points, sink_offsets, kpi_latest, kpi_hourly, kpi_daily")
            .execute(pool)
            .await
            .context("emptying the tables")?;
        sqlx::query("CHECKPOINT").execute(pool).await.context("checkpoint")?;
        let mut sink = PostgresSink::new(pool.clone(), "bench");
        let started = Instant::now();
        for batch in messages.chunks(batch_size) {
            let dead = sink.write_batch(batch).await.context("the sink writing a batch")?;
            if !dead.is_empty() {
                bail!("the sink refused {} messages", dead.len());
            }
        }
        runs.push(started.elapsed());
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM kpi_points").fetch_one(pool).await.context("count")?;
    if count as usize != messages.len() {
        bail!("the sink wrote {count} of {} rows", messages.len());
    }
    sqlx::query("ALTER TABLE kpi_points ENABLE TRIGGER USER").execute(pool).await.context("read models back on")?;
    let spread: Vec<String> = runs.iter().map(|run| format!("{:.2}", run.as_secs_f64())).collect();
    Ok(Figure {
        case: format!("sink -> kpi_points, read models {}", if read_models { "on" } else { "off" }),
        rows: messages.len(),
        bytes: messages.iter().map(|m| rdkafka::Message::payload(m).map_or(0, <[u8]>::len)).sum(),
        elapsed: median(runs),
        note: format!("{batch_size}-row batches, median of {SINK_RUNS} (s: {})", spread.join(" ")),
    })
}

fn print_table(figures: &[Figure]) {
    println!();
    println!("{:<48} {:>9} {:>7} {:>8} {:>10} {:>7}  note", "case", "rows", "MB", "s", "rows/s", "MB/s");
    for figure in figures {
        println!(
            "{:<48} {:>9} {:>7.1} {:>8.2} {:>10.0} {:>7.1}  {}",
            figure.case,
            figure.rows,
            figure.bytes as f64 / 1e6,
            figure.elapsed.as_secs_f64(),
            figure.rows_per_second(),
            figure.megabytes_per_second(),
            figure.note
        );
    }
    println!("(HTTP and import: request/file bytes; sink: Avro payload bytes. One run on this machine.)");
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let (database, url) = database().await?;
    let pool = PgPoolOptions::new().max_connections(4).connect(&url).await.context("connecting")?;
    signalcraft_store::migrate(&pool).await.context("migrating")?;

    let broker = EmbeddedBroker::start(PARTITIONS).map_err(anyhow::Error::msg)?;
    let producer = RecordProducer::new(&KafkaSettings::new(broker.bootstrap_servers()), "bench")
        .context("creating the Kafka producer")?;
    let config = ApiConfig {
        requests_per_minute: 10_000_000,
        burst: 1_000_000,
        max_connections: 8,
        max_upload_bytes: 512 * 1024 * 1024,
        ..ApiConfig::default()
    };
    let signer = TokenSigner::new(b"bench-signing-key-0123456789abcdef", Duration::from_secs(3600));
    let tenant = TenantId::parse(TENANT).map_err(anyhow::Error::msg)?;
    let token = signer.issue("bench", &tenant, Role::Editor).context("issuing a token")?;
    let shutdown = CancellationToken::new();
    let intake = Intake { producer, window: Plausibility::for_topic(Topic::RawKpi) };
    let api = TenantApi::start_with_intake(&config, signer, &pool, Some(intake), shutdown.clone())
        .await
        .map_err(anyhow::Error::msg)?;
    for (_, task) in api.tasks {
        tokio::spawn(task);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding")?;
    let url_base = format!("http://{}/api/v1", listener.local_addr().context("the API's address")?);
    let server = tokio::spawn(async move { axum::serve(listener, api.router).await });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(120))
        .build()
        .context("HTTP client")?;
    let kpis = format!("{url_base}/tenants/{TENANT}/kpis");

    let mut figures = Vec::new();
    eprintln!("(a) CSV over HTTP …");
    figures.push(csv_over_http(&client, &kpis, &token).await?);

    eprintln!("(b) JSON over HTTP …");
    let bodies: Vec<bytes::Bytes> = (0..JSON_REQUESTS)
        .map(|r| json_body(r * JSON_BATCH..(r + 1) * JSON_BATCH).map(bytes::Bytes::from))
        .collect::<anyhow::Result<_>>()?;
    let bodies = Arc::new(bodies);
    // Warm-up: connections and the JSON path; not reported.
    post(&client, &kpis, &token, "application/json", bodies[0].clone(), JSON_BATCH).await?;
    figures.push(json_over_http(&client, &kpis, &token, &bodies, 1).await?);
    figures.push(json_over_http(&client, &kpis, &token, &bodies, JSON_CLIENTS).await?);
    shutdown.cancel();
    server.abort();
    drop(broker);

    eprintln!("(c) import kpi …");
    let dir = tempfile::tempdir().context("a temporary directory")?;
    figures.push(import(dir.path()).await?);
    drop(dir);

    eprintln!("(d) the sink …");
    let messages = sink_messages()?;
    figures.push(sink(&pool, &messages, true).await?);
    figures.push(sink(&pool, &messages, false).await?);

    print_table(&figures);
    pool.close().await;
    database.drop_database().await;
    Ok(())
}
