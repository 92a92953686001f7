//! The tenant API's live events (`GET /api/v1/tenants/{tenant}/events`), read as a browser's
//! EventSource would: a point the sink stores after a client connected reaches that client's
//! stream within 2 s, walled to the client's tenant (public series only when asked for); a
//! client that reconnects with `Last-Event-ID` gets exactly the events after that one, even
//! when a transaction that began earlier commits after a later one.

mod common;

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use common::*;
use signalcraft::{app, Roles, RunOptions};
use signalcraft_api::{ApiConfig, Role, TenantApi, TenantId, TokenSigner};
use signalcraft_kafka::RecordProducer;
use signalcraft_model::{AlertNotification, AlertTransition, KpiAnomaly, KpiPoint, Record, Severity};
use signalcraft_sink::PostgresSink;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

const KEY: &[u8] = b"tenant-api-events-test-key-0123456789";

/// The API served in-process on a free port, with its listener task running.
struct Api {
    base: String,
    signer: TokenSigner,
    shutdown: CancellationToken,
}

impl Api {
    async fn start(pool: &PgPool) -> Api {
        let config = ApiConfig { requests_per_minute: 60_000, burst: 1_000, ..ApiConfig::default() };
        let signer = TokenSigner::new(KEY, Duration::from_secs(900));
        let shutdown = CancellationToken::new();
        let api = TenantApi::start(&config, signer.clone(), pool, shutdown.clone()).await.expect("the API starts");
        for (_, task) in api.tasks {
            tokio::spawn(task);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}/api/v1", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, api.router).await });
        Api { base, signer, shutdown }
    }

    fn token(&self, tenant: &str) -> String {
        let tenant = TenantId::parse(tenant).expect("a tenant id");
        self.signer.issue("dashboard", &tenant, Role::Viewer).expect("a token")
    }

    /// The raw answer to `GET …/tenants/{tenant}/events`.
    async fn get_events(&self, tenant: &str, include_public: bool, last_event_id: Option<&str>) -> reqwest::Response {
        let mut url = format!("{}/tenants/{tenant}/events?access_token={}", self.base, self.token(tenant));
        if include_public {
            url.push_str("&include_public=true");
        }
        let mut request = reqwest::Client::new().get(url).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        request.send().await.expect("the API answers")
    }

    /// An open stream of `tenant`'s events.
    async fn connect(&self, tenant: &str, include_public: bool, last_event_id: Option<&str>) -> EventStream {
        let response = self.get_events(tenant, include_public, last_event_id).await;
        assert_eq!(response.status(), 200, "the stream opens");
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        EventStream { response, buffer: String::new() }
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// One Server-Sent Event as received.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    event: String,
    data: serde_json::Value,
    at: Instant,
}

impl Received {
    fn series(&self) -> &str {
        self.data["series_id"].as_str().unwrap_or_default()
    }

    /// (event name, series) of each of `events`.
    fn names(events: &[Received]) -> Vec<(String, String)> {
        events.iter().map(|e| (e.event.clone(), e.series().to_string())).collect()
    }
}

/// A `text/event-stream` body, parsed by hand: `id:`, `event:`, `data:` lines, a blank line
/// ending each event, `:` lines (keep-alives) ignored.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    /// The next event, or None if none arrives within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, None, Vec::new());
                for line in block.lines() {
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "id" => id = Some(value.to_string()),
                        "event" => event = Some(value.to_string()),
                        "data" => data.push(value.to_string()),
                        _ => {}
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                let data = serde_json::from_str(&data.join("\n")).expect("an event's data is JSON");
                return Some(Received {
                    id: id.expect("every event has an id"),
                    event: event.expect("every event has a name"),
                    data,
                    at: Instant::now(),
                });
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return None,
                Ok(chunk) => {
                    let chunk = chunk.expect("the stream reads").expect("the stream stays open");
                    self.buffer.push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
                }
            }
        }
    }

    /// Exactly `count` events, each within `wait` of the one before.
    async fn take(&mut self, count: usize, wait: Duration) -> Vec<Received> {
        let mut events = Vec::new();
        while events.len() < count {
            match self.next(wait).await {
                Some(event) => events.push(event),
                None => panic!("only {} of {count} events arrived: {:?}", events.len(), Received::names(&events)),
            }
        }
        events
    }

    /// Asserts no further event arrives within `wait`.
    async fn assert_quiet(&mut self, wait: Duration, why: &str) {
        if let Some(extra) = self.next(wait).await {
            panic!("{why}: unexpected event {} {} {}", extra.id, extra.event, extra.data);
        }
    }
}

fn now() -> DateTime<Utc> {
    Utc::now().duration_trunc(TimeDelta::seconds(1)).expect("truncates")
}

fn point(series: &str, tenant: Option<&str>, ts: DateTime<Utc>, value: f64) -> KpiPoint {
    KpiPoint {
        series_id: series.into(),
        tenant_id: tenant.map(str::to_string),
        metric: "sales".into(),
        unit: "count".into(),
        ts,
        value,
        source: "test".into(),
    }
}

fn notification(tenant: &str, transition: AlertTransition, at: DateTime<Utc>) -> AlertNotification {
    AlertNotification {
        notification_id: format!("n-{tenant}-{transition:?}"),
        alert_id: format!("a-{tenant}"),
        dedupe_key: format!("k-{tenant}"),
        rule_id: None,
        series_id: format!("custom:{tenant}:sales"),
        tenant_id: Some(tenant.into()),
        transition,
        severity: Severity::Warning,
        message: "sales high".into(),
        value: 500.0,
        score: Some(0.99),
        occurred_at: at,
    }
}

/// The sink's writes, one transaction per call, at the next offsets of each topic.
struct Writer {
    sink: PostgresSink,
    offsets: HashMap<String, i64>,
}

impl Writer {
    fn new(pool: &PgPool) -> Writer {
        Writer { sink: PostgresSink::new(pool.clone(), "test-sink"), offsets: HashMap::new() }
    }

    async fn write<R: Record>(&mut self, records: &[R]) {
        let offset = self.offsets.entry(R::TOPIC.name().to_string()).or_default();
        let refused = self.sink.write_batch(&consumed(records, *offset)).await.expect("written");
        assert!(refused.is_empty(), "the sink refused {refused:?}");
        *offset += records.len() as i64;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_point_produced_after_a_client_connected_reaches_its_stream_within_two_seconds() {
    let database = TestDatabase::new().await;
    let broker = broker(1);
    let producer = RecordProducer::new(&kafka_settings(&broker), "test").expect("producer");
    let shutdown = CancellationToken::new();
    let options = RunOptions {
        roles: Roles { ingest: false, process: false, sink: true, serve: false },
        replay: None,
        exit_when_done: false,
    };
    let pipeline = tokio::spawn(app::run(config_for(&broker, &database), options, shutdown.clone()));

    // The sink's consumer has joined its group and stores what arrives: a first point is in.
    let start = now() - TimeDelta::minutes(10);
    producer.send_all(&[point("custom:globex:sales", Some("globex"), start, 1.0)]).await.expect("produced");
    let stored = |expected: i64| {
        let pool = database.pool.clone();
        move || {
            let pool = pool.clone();
            async move {
                let count: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM kpi_points").fetch_one(&pool).await.expect("count");
                count >= expected
            }
        }
    };
    assert!(eventually(Duration::from_secs(60), stored(1)).await, "the sink stores the first point");

    let api = Api::start(&database.pool).await;
    let mut acme = api.connect("acme", false, None).await;
    let mut acme_with_public = api.connect("acme", true, None).await;

    // Another tenant's point and a public one, stored before acme's: were they let through,
    // they would come first (their transactions are older).
    producer
        .send_all(&[
            point("custom:globex:sales", Some("globex"), start + TimeDelta::minutes(1), 2.0),
            point("fx:USD:EUR", None, start + TimeDelta::minutes(1), 0.93),
        ])
        .await
        .expect("produced");
    assert!(eventually(Duration::from_secs(10), stored(3)).await, "the sink stores globex's and the public point");

    let produced = Instant::now();
    producer
        .send_all(&[point("custom:acme:sales", Some("acme"), start + TimeDelta::minutes(2), 42.5)])
        .await
        .expect("produced");

    let event = acme.next(Duration::from_secs(5)).await.expect("acme's point arrives on acme's stream");
    let latency = event.at - produced;
    assert_eq!(event.event, "points", "{event:?}");
    assert_eq!(event.data["kind"], "points");
    assert_eq!(event.series(), "custom:acme:sales", "globex's and the public point never reach acme's stream");
    assert_eq!(event.data["tenant_id"], "acme");
    assert_eq!(event.data["data"]["value"], 42.5);
    assert_eq!(event.data["data"]["points"], 1);
    assert!(latency <= Duration::from_secs(2), "produced to received took {latency:?}");
    eprintln!("produced on Kafka -> stored by the sink -> received on the stream: {latency:?}");

    let with_public = acme_with_public.take(2, Duration::from_secs(5)).await;
    assert_eq!(
        Received::names(&with_public),
        [("points", "fx:USD:EUR"), ("points", "custom:acme:sales")].map(|(e, s)| (e.to_string(), s.to_string())),
        "with include_public, the public point too, in commit order; never globex's"
    );
    assert_eq!(with_public[0].data["tenant_id"], serde_json::Value::Null);
    assert_eq!(with_public[1].id, event.id, "both streams give an event the same id");

    acme.assert_quiet(Duration::from_millis(1500), "acme's stream has nothing more").await;
    shutdown.cancel();
    pipeline.await.expect("the pipeline task").expect("the pipeline stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resuming_with_last_event_id_gets_exactly_the_events_after_it() {
    let database = TestDatabase::new().await;
    let api = Api::start(&database.pool).await;
    let mut writer = Writer::new(&database.pool);
    let at = now() - TimeDelta::hours(1);
    let acme = "custom:acme:sales";

    let mut first = api.connect("acme", false, None).await;
    writer.write(&[point(acme, Some("acme"), at, 1.0)]).await;
    writer.write(&[point("custom:globex:sales", Some("globex"), at, 1.0)]).await;
    writer.write(&[point(acme, Some("acme"), at + TimeDelta::minutes(1), 2.0)]).await;
    let seen = first.take(2, Duration::from_secs(5)).await;
    assert_eq!(seen.iter().map(|e| e.data["data"]["value"].clone()).collect::<Vec<_>>(), [1.0, 2.0]);
    drop(first);

    // While no client is connected: a point, a flagged anomaly (and an unremarkable one, which
    // is no event), an alert opened and resolved, and globex's rows in between.
    writer.write(&[point(acme, Some("acme"), at + TimeDelta::minutes(2), 3.0)]).await;
    let anomaly = |tenant: &str, flagged: bool, minutes: i64| KpiAnomaly {
        series_id: format!("custom:{tenant}:sales"),
        tenant_id: Some(tenant.into()),
        ts: at + TimeDelta::minutes(minutes),
        value: 500.0,
        score: if flagged { 0.99 } else { 0.1 },
        is_anomaly: flagged,
        detector: "test".into(),
    };
    writer.write(&[anomaly("acme", false, 1), anomaly("acme", true, 2), anomaly("globex", true, 2)]).await;
    writer.write(&[notification("globex", AlertTransition::Opened, at)]).await;
    writer
        .write(&[
            notification("acme", AlertTransition::Opened, at + TimeDelta::minutes(2)),
            notification("acme", AlertTransition::Resolved, at + TimeDelta::minutes(3)),
        ])
        .await;
    writer.write(&[point(acme, Some("acme"), at + TimeDelta::minutes(3), 4.0)]).await;

    let expected: Vec<(String, String)> =
        [("points", acme), ("anomaly", acme), ("alert_opened", acme), ("alert_resolved", acme), ("points", acme)]
            .map(|(e, s)| (e.to_string(), s.to_string()))
            .to_vec();
    let mut resumed = api.connect("acme", false, Some(&seen[1].id)).await;
    let after = resumed.take(expected.len(), Duration::from_secs(5)).await;
    assert_eq!(Received::names(&after), expected, "the events after the last one seen, in commit order");
    assert_eq!(after[0].data["data"]["value"], 3.0);
    assert_eq!(after[1].data["data"]["score"], 0.99);
    assert_eq!(after[2].data["data"]["alert_id"], "a-acme");
    assert_eq!(after[4].data["data"]["value"], 4.0);
    resumed.assert_quiet(Duration::from_millis(1500), "nothing repeated after the last").await;

    // From the first event seen: the second again (it came after that one), then the same five.
    let mut earlier = api.connect("acme", false, Some(&seen[0].id)).await;
    let again = earlier.take(1 + expected.len(), Duration::from_secs(5)).await;
    assert_eq!(
        again.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        std::iter::once(seen[1].id.as_str()).chain(after.iter().map(|e| e.id.as_str())).collect::<Vec<_>>(),
        "the same ids for the same events"
    );
    earlier.assert_quiet(Duration::from_millis(1500), "nothing after the last").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_that_began_earlier_and_commits_later_is_not_skipped() {
    let database = TestDatabase::new().await;
    let api = Api::start(&database.pool).await;
    let at = now() - TimeDelta::hours(1);
    ensure_partition(&database.pool, "kpi_points", at).await;
    let mut stream = api.connect("acme", false, None).await;

    let insert = "INSERT INTO kpi_points (series_id, tenant_id, metric, unit, ts, value, source) \
                  VALUES ($1, 'acme', 'sales', 'count', $2, $3, 'test')";
    // The earlier transaction takes its xid first and stays open...
    let mut earlier = database.pool.begin().await.expect("a transaction");
    sqlx::query(insert).bind("custom:acme:early").bind(at).bind(1.0).execute(&mut *earlier).await.expect("inserted");
    // ... while a later one commits.
    sqlx::query(insert).bind("custom:acme:late").bind(at).bind(2.0).execute(&database.pool).await.expect("inserted");
    stream.assert_quiet(Duration::from_millis(1500), "the later event waits for the earlier transaction").await;

    earlier.commit().await.expect("committed");
    let events = stream.take(2, Duration::from_secs(5)).await;
    assert_eq!(
        events.iter().map(Received::series).collect::<Vec<_>>(),
        ["custom:acme:early", "custom:acme:late"],
        "the earlier transaction's event first, then the later one's"
    );

    // Resuming after either gives the rest, never dropping the one that committed last.
    let mut resumed = api.connect("acme", false, Some(&events[0].id)).await;
    let rest = resumed.take(1, Duration::from_secs(5)).await;
    assert_eq!(rest[0].id, events[1].id);
    resumed.assert_quiet(Duration::from_millis(1000), "nothing after the last").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_held_open_in_another_database_does_not_stall_the_stream() {
    let database = TestDatabase::new().await;
    let other = TestDatabase::new().await;
    let api = Api::start(&database.pool).await;
    let mut writer = Writer::new(&database.pool);
    let mut stream = api.connect("acme", false, None).await;

    let mut elsewhere = other.pool.begin().await.expect("a transaction");
    sqlx::query("SELECT pg_current_xact_id()").execute(&mut *elsewhere).await.expect("an xid taken");
    let written = Instant::now();
    writer.write(&[point("custom:acme:sales", Some("acme"), now() - TimeDelta::hours(1), 1.0)]).await;
    let event = stream
        .next(Duration::from_secs(5))
        .await
        .expect("the event arrives while the other database's transaction is open");
    assert_eq!(event.series(), "custom:acme:sales");
    assert!(event.at - written < Duration::from_secs(2), "took {:?}", event.at - written);
    elsewhere.rollback().await.expect("rolled back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_last_event_id_the_api_never_sent_is_a_bad_request() {
    let database = TestDatabase::new().await;
    let api = Api::start(&database.pool).await;
    for id in ["", "abc", "12", "12-", "-3", "12-x", "1.5-2", "18446744073709551616-1", "9223372036854775807-1"] {
        let response = api.get_events("acme", false, Some(id)).await;
        assert_eq!(response.status(), 400, "Last-Event-ID `{id}`");
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert_eq!(content_type, "application/problem+json", "Last-Event-ID `{id}`");
        let body: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.expect("a body")).expect("a problem body");
        assert_eq!(body["status"], 400);
        assert!(body["detail"].as_str().unwrap_or_default().contains("Last-Event-ID"), "{body}");
    }
}
