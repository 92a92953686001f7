//! No record can stop the sink: a batch PostgreSQL refuses for a value is split until the
//! refused records are isolated and dead-lettered, the rest is stored with every offset; and
//! records of every sink topic with extreme values (a deterministic fuzz) each end as a row or a
//! dead letter, never as a batch retried forever.

mod common;

use std::collections::BTreeMap;

use apache_avro::{to_avro_datum, types::Value};
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use common::TestDatabase;
use rdkafka::{message::OwnedMessage, Message, Timestamp};
use signalcraft_model::{
    AlertNotification, AlertTransition, BrandMetric, ForecastPoint, FxRate, KpiAnomaly, KpiForecast, KpiPoint,
    NewsArticle, Record, RecordCodec, ScoredArticle, Severity, WeatherKind, WeatherObservation, WireFormat,
};
use signalcraft_sink::PostgresSink;

fn point(i: usize, value: f64) -> KpiPoint {
    KpiPoint {
        series_id: "test:bisect".into(),
        tenant_id: None,
        metric: "m".into(),
        unit: "u".into(),
        ts: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single().expect("instant") + TimeDelta::hours(i as i64),
        value,
        source: "test".into(),
    }
}

fn kpi_message(offset: usize, record: &KpiPoint) -> OwnedMessage {
    let payload = RecordCodec::<KpiPoint>::new(WireFormat::SingleObject).encode(record).expect("encodes");
    OwnedMessage::new(Some(payload), None, "kpi.points".into(), Timestamp::NotAvailable, 0, offset as i64, None)
}

async fn next_offset(database: &TestDatabase, topic: &str) -> Option<i64> {
    sqlx::query_scalar("SELECT next_offset FROM sink_offsets WHERE consumer_group = 'test-sink' AND topic = $1")
        .bind(topic)
        .fetch_optional(&database.pool)
        .await
        .expect("offset query")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_postgresql_refuses_but_validation_accepts_is_isolated_and_the_rest_stored() {
    let database = TestDatabase::new().await;
    // A rule only the database knows (as an operator's added CHECK would be): validation passes
    // the record, PostgreSQL refuses its batch.
    sqlx::query("ALTER TABLE kpi_points ADD CONSTRAINT test_value_below_1000 CHECK (value < 1000)")
        .execute(&database.pool)
        .await
        .expect("constraint added");
    let mut sink = PostgresSink::new(database.pool.clone(), "test-sink");

    // New rows: the COPY fast path is refused.
    let batch: Vec<OwnedMessage> =
        (0..1000).map(|i| kpi_message(i, &point(i, if i == 617 { 5000.0 } else { i as f64 }))).collect();
    let dead = sink.write_batch(&batch).await.expect("a data error does not fail the batch");
    assert_eq!(dead.len(), 1, "{:?}", dead.iter().map(|d| &d.error).collect::<Vec<_>>());
    assert_eq!(dead[0].message.offset(), 617);
    assert_eq!(
        dead[0].error,
        // PostgreSQL names the month's partition the row was bound for.
        "PostgreSQL refused the row: new row for relation \"kpi_points_p202401\" violates check constraint \
         \"test_value_below_1000\" (SQLSTATE 23514)"
    );
    assert_eq!(database.count("kpi_points").await, 999);
    assert_eq!(next_offset(&database, "kpi.points").await, Some(1000), "the refused record's offset advances too");

    // Existing keys rewritten (the upsert path), two refused among them, one at each end.
    let again: Vec<OwnedMessage> =
        (0..200).map(|i| kpi_message(1000 + i, &point(i, if i == 0 || i == 199 { 2000.0 } else { 1.5 }))).collect();
    let dead = sink.write_batch(&again).await.expect("a data error does not fail the batch");
    let mut offsets: Vec<i64> = dead.iter().map(|d| d.message.offset()).collect();
    offsets.sort_unstable();
    assert_eq!(offsets, [1000, 1199]);
    assert!(dead.iter().all(|d| d.error.ends_with("(SQLSTATE 23514)")));
    let rewritten: i64 = sqlx::query_scalar("SELECT count(*) FROM kpi_points WHERE value = 1.5")
        .fetch_one(&database.pool)
        .await
        .expect("count");
    assert_eq!(rewritten, 198);
    assert_eq!(database.count("kpi_points").await, 999);
    assert_eq!(next_offset(&database, "kpi.points").await, Some(1200));
}

/// xorshift64*: deterministic, so a failure is reproduced by running the test again. `wild`
/// records draw extreme values; the others only ordinary ones, so that both outcomes are common.
struct Rng {
    state: u64,
    wild: bool,
}

impl Rng {
    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Whether to draw an extreme value, `percent` of the time in a wild record.
    fn extreme(&mut self, percent: u64) -> bool {
        self.wild && self.chance(percent)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

/// A timestamp: usually ordinary, often an extreme chrono can still represent. Extremes chrono
/// cannot represent (i64::MIN/MAX micros) are written as raw Avro by [`raw_extreme`].
fn instant(rng: &mut Rng) -> DateTime<Utc> {
    if !rng.extreme(30) {
        return now() - TimeDelta::seconds(rng.below(86_400 * 365) as i64);
    }
    let ymd = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().expect("instant");
    rng.pick(&[
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
        ymd(-4999, 1, 1),
        ymd(-4713, 11, 24),
        ymd(1899, 12, 31),
        ymd(1900, 1, 1),
        ymd(1970, 1, 1),
        ymd(4737, 1, 1),
        now() + TimeDelta::days(16),
        now() + TimeDelta::days(4000),
    ])
}

fn day(rng: &mut Rng) -> NaiveDate {
    if !rng.extreme(30) {
        return (now() - TimeDelta::days(rng.below(3650) as i64)).date_naive();
    }
    rng.pick(&[
        NaiveDate::MIN,
        NaiveDate::MAX,
        NaiveDate::from_ymd_opt(-4999, 1, 1).expect("date"),
        NaiveDate::from_ymd_opt(-4713, 11, 23).expect("date"),
        NaiveDate::from_ymd_opt(1900, 1, 1).expect("date"),
        (now() + TimeDelta::days(400)).date_naive(),
    ])
}

fn number(rng: &mut Rng) -> f64 {
    if !rng.extreme(30) {
        return (rng.below(2_000_001) as f64 - 1_000_000.0) / 1000.0;
    }
    rng.pick(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MAX, f64::MIN, f64::MIN_POSITIVE, -0.0, 1e308])
}

fn unit_interval(rng: &mut Rng) -> f64 {
    if !rng.extreme(20) {
        rng.below(1001) as f64 / 1000.0
    } else {
        number(rng)
    }
}

/// Text: usually short, often huge, NUL-bearing or odd Unicode. Unique records prefix theirs.
fn text(rng: &mut Rng) -> String {
    if !rng.extreme(35) {
        return format!("t{}", rng.below(1000));
    }
    let odd = [
        String::new(),
        "a\0b".to_string(),
        "\u{202e}gnp.exe\u{200d}\u{fe0f}👩‍👩‍👧‍👦 e\u{301}\u{301}\u{301}".to_string(),
        "\u{ffff}\u{fffd}\u{10ffff}\u{7f}\u{1b}[31m".to_string(),
        "ß".repeat(300),
        "x".repeat(2_700),
        "y".repeat(9_000),
        "漢".repeat(40_000),
    ];
    rng.pick(&odd)
}

fn opt_text(rng: &mut Rng) -> Option<String> {
    rng.chance(70).then(|| text(rng))
}

fn id(rng: &mut Rng) -> i64 {
    if !rng.extreme(40) {
        rng.below(1_000_000) as i64
    } else {
        rng.pick(&[i64::MIN, i64::MAX, -1, 0])
    }
}

fn code(i: usize) -> String {
    let letter = |n: usize| char::from(b'A' + (n % 26) as u8);
    [letter(i / 676), letter(i / 26), letter(i)].iter().collect()
}

/// One record of `topic` whose natural key is unique by `i`, every other field random.
fn record(topic: &str, i: usize, rng: &mut Rng) -> (Vec<u8>, Option<&'static str>) {
    fn encoded<R: Record>(record: &R) -> Vec<u8> {
        RecordCodec::<R>::new(WireFormat::SingleObject).encode(record).expect("any chrono value encodes")
    }
    let unique = |rng: &mut Rng| format!("{i}:{}", text(rng));
    match topic {
        "raw.fx" => {
            let base = if !rng.extreme(15) { "USD".to_string() } else { text(rng) };
            let fx = FxRate {
                base,
                quote: code(i),
                rate_date: day(rng),
                rate: number(rng),
                provider: text(rng),
                published_at: rng.chance(50).then(|| instant(rng)),
                fetched_at: instant(rng),
            };
            (encoded(&fx), Some("rate_date"))
        }
        "raw.news" => {
            let news = NewsArticle {
                url: unique(rng),
                title: text(rng),
                seen_at: instant(rng),
                domain: opt_text(rng),
                language: opt_text(rng),
                source_country: opt_text(rng),
                social_image: opt_text(rng),
                tenant_id: opt_text(rng),
                query: text(rng),
                fetched_at: instant(rng),
            };
            (encoded(&news), Some("seen_at"))
        }
        "raw.weather" => {
            let mut variables = BTreeMap::new();
            let mut units = BTreeMap::new();
            for _ in 0..rng.below(4) {
                let value = rng.chance(80).then(|| number(rng));
                variables.insert(text(rng), value);
                units.insert(text(rng), text(rng));
            }
            let weather = WeatherObservation {
                location_id: unique(rng),
                latitude: if !rng.extreme(20) { 52.5 } else { number(rng) },
                longitude: if !rng.extreme(20) { 13.4 } else { number(rng) },
                hour: instant(rng),
                kind: rng.pick(&[WeatherKind::Forecast, WeatherKind::Current, WeatherKind::Archive]),
                variables,
                units,
                fetched_at: instant(rng),
            };
            (encoded(&weather), Some("hour"))
        }
        "raw.brand_metrics" => {
            let metric = BrandMetric {
                project_id: id(rng),
                period_start: day(rng),
                brand_id: id(rng),
                brand_name: text(rng),
                metric: unique(rng),
                value: rng.chance(80).then(|| number(rng)),
                fetched_at: instant(rng),
            };
            (encoded(&metric), Some("period_start"))
        }
        "news.scored" => {
            let scored = ScoredArticle {
                url: unique(rng),
                tenant_id: opt_text(rng),
                title: text(rng),
                seen_at: instant(rng),
                neg: unit_interval(rng),
                neu: unit_interval(rng),
                pos: unit_interval(rng),
                compound: unit_interval(rng),
            };
            (encoded(&scored), Some("seen_at"))
        }
        "kpi.points" => {
            let point = KpiPoint {
                series_id: unique(rng),
                tenant_id: opt_text(rng),
                metric: text(rng),
                unit: text(rng),
                ts: instant(rng),
                value: number(rng),
                source: text(rng),
            };
            (encoded(&point), Some("ts"))
        }
        "kpi.anomalies" => {
            let anomaly = KpiAnomaly {
                series_id: unique(rng),
                tenant_id: opt_text(rng),
                ts: instant(rng),
                value: number(rng),
                score: unit_interval(rng),
                is_anomaly: rng.chance(50),
                detector: text(rng),
            };
            (encoded(&anomaly), Some("ts"))
        }
        "kpi.forecasts" => {
            let points = (0..rng.below(4))
                .map(|_| ForecastPoint {
                    ts: instant(rng),
                    mean: number(rng),
                    lower_80: number(rng),
                    upper_80: number(rng),
                    lower_95: number(rng),
                    upper_95: number(rng),
                })
                .collect();
            let forecast = KpiForecast {
                series_id: unique(rng),
                tenant_id: opt_text(rng),
                issued_at: instant(rng),
                model: text(rng),
                step_seconds: id(rng),
                points,
            };
            (encoded(&forecast), Some("issued_at"))
        }
        "alerts.notifications" => {
            let alert = AlertNotification {
                notification_id: unique(rng),
                alert_id: text(rng),
                dedupe_key: text(rng),
                rule_id: rng.chance(50).then(|| id(rng)),
                series_id: text(rng),
                tenant_id: opt_text(rng),
                transition: rng.pick(&[AlertTransition::Opened, AlertTransition::Resolved]),
                severity: rng.pick(&[Severity::Info, Severity::Warning, Severity::Critical]),
                message: text(rng),
                value: number(rng),
                score: rng.chance(50).then(|| unit_interval(rng)),
                occurred_at: instant(rng),
            };
            (encoded(&alert), Some("occurred_at"))
        }
        other => panic!("no generator for {other}"),
    }
}

/// Rewrites the timestamp or date field `field` of an encoded record to a value chrono cannot
/// represent (i64::MIN/MAX microseconds, i32::MIN/MAX days): valid Avro a partner could send.
fn raw_extreme<R: Record>(payload: &[u8], field: &str, rng: &mut Rng) -> Vec<u8> {
    let codec = RecordCodec::<R>::new(WireFormat::SingleObject);
    let record = {
        // Decoding may refuse the record (that is the point), so read its Avro value directly.
        let datum = &payload[10..];
        apache_avro::from_avro_datum(R::schema(), &mut &datum[..], None).expect("our own datum reads back")
    };
    let Value::Record(mut fields) = record else { panic!("records are Avro records") };
    for (name, value) in &mut fields {
        if name == field {
            *value = match value {
                Value::TimestampMicros(_) => Value::TimestampMicros(rng.pick(&[i64::MIN, i64::MAX])),
                Value::Date(_) => Value::Date(rng.pick(&[i32::MIN, i32::MAX])),
                other => panic!("{field} is not a timestamp or date: {other:?}"),
            };
        }
    }
    let mut out = vec![0xC3, 0x01];
    out.extend_from_slice(&codec.fingerprint());
    out.extend(to_avro_datum(R::schema(), Value::Record(fields)).expect("valid Avro"));
    out
}

const TOPICS: [&str; 9] = [
    "raw.fx",
    "raw.news",
    "raw.weather",
    "raw.brand_metrics",
    "news.scored",
    "kpi.points",
    "kpi.anomalies",
    "kpi.forecasts",
    "alerts.notifications",
];

const TABLES: [&str; 9] = [
    "fx_rates",
    "news_articles",
    "weather_observations",
    "brand_metrics",
    "news_sentiment",
    "kpi_points",
    "kpi_anomalies",
    "kpi_forecasts",
    "alert_notifications",
];

fn extreme(topic: &str, payload: &[u8], field: &str, rng: &mut Rng) -> Vec<u8> {
    match topic {
        "raw.fx" => raw_extreme::<FxRate>(payload, field, rng),
        "raw.news" => raw_extreme::<NewsArticle>(payload, field, rng),
        "raw.weather" => raw_extreme::<WeatherObservation>(payload, field, rng),
        "raw.brand_metrics" => raw_extreme::<BrandMetric>(payload, field, rng),
        "news.scored" => raw_extreme::<ScoredArticle>(payload, field, rng),
        "kpi.points" => raw_extreme::<KpiPoint>(payload, field, rng),
        "kpi.anomalies" => raw_extreme::<KpiAnomaly>(payload, field, rng),
        "kpi.forecasts" => raw_extreme::<KpiForecast>(payload, field, rng),
        _ => raw_extreme::<AlertNotification>(payload, field, rng),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_with_extreme_values_each_end_as_a_row_or_a_dead_letter() {
    let database = TestDatabase::new().await;
    // Rules only the database knows, so that batches of several topics also need isolating
    // records that validation passes.
    for rule in [
        "ALTER TABLE kpi_points ADD CONSTRAINT fuzz_value_below_900 CHECK (value < 900)",
        "ALTER TABLE news_sentiment ADD CONSTRAINT fuzz_neg_below_09 CHECK (neg < 0.9)",
    ] {
        sqlx::query(rule).execute(&database.pool).await.expect("constraint added");
    }
    let mut sink = PostgresSink::new(database.pool.clone(), "test-sink");
    let mut rng = Rng { state: 0x5eed_cafe_f00d_d00d, wild: false };
    const PER_TOPIC: usize = 160;

    // Every topic's records, interleaved in a random order, each topic's offsets counting up.
    let mut order: Vec<(&str, usize)> = TOPICS.iter().flat_map(|&t| (0..PER_TOPIC).map(move |i| (t, i))).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let mut next: BTreeMap<&str, i64> = BTreeMap::new();
    let mut messages = Vec::with_capacity(order.len());
    for (topic, i) in order {
        rng.wild = rng.chance(40);
        let (mut payload, field) = record(topic, i, &mut rng);
        if let Some(field) = field.filter(|_| rng.extreme(10)) {
            payload = extreme(topic, &payload, field, &mut rng);
        }
        let offset = next.entry(topic).or_insert(0);
        messages.push(OwnedMessage::new(Some(payload), None, topic.into(), Timestamp::NotAvailable, 0, *offset, None));
        *offset += 1;
    }

    let mut dead_letters = 0;
    let mut refused_by_postgres = 0;
    for batch in messages.chunks(250) {
        let dead = tokio::time::timeout(std::time::Duration::from_secs(120), sink.write_batch(batch))
            .await
            .expect("a batch never hangs")
            .unwrap_or_else(|error| {
                panic!("a batch of extreme values must not fail (it would be retried forever): {error}")
            });
        dead_letters += dead.len();
        refused_by_postgres += dead.iter().filter(|d| d.error.starts_with("PostgreSQL refused the row")).count();
    }

    let mut rows = 0;
    for table in TABLES {
        rows += database.count(table).await;
    }
    assert_eq!(rows as usize + dead_letters, TOPICS.len() * PER_TOPIC, "every record is a row or a dead letter");
    assert!(
        rows > 0 && refused_by_postgres > 0 && dead_letters > refused_by_postgres,
        "the fuzz exercises every outcome: {rows} rows, {dead_letters} dead letters, {refused_by_postgres} by PostgreSQL"
    );
    for topic in TOPICS {
        assert_eq!(next_offset(&database, topic).await, Some(PER_TOPIC as i64), "{topic}'s offsets reach the end");
    }
}
