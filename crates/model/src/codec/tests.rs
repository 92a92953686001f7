//! Every schema parses, every record round-trips in both framings, and bad bytes get named errors.

use std::collections::BTreeMap;

use apache_avro::{rabin::Rabin, Schema};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::*;
use crate::records::*;

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single().expect("valid test instant")
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
}

fn round_trip<R: Record + PartialEq + std::fmt::Debug>(record: R) {
    for format in [WireFormat::SingleObject, WireFormat::Confluent { schema_id: 42 }] {
        let codec = RecordCodec::<R>::new(format);
        let bytes = codec.encode(&record).expect("encodes");
        assert_eq!(codec.decode(&bytes).expect("decodes"), record, "{format:?}");
    }
}

#[test]
fn every_schema_parses_and_names_its_natural_key() {
    let all = [
        crate::schema::FX_RATE_JSON,
        crate::schema::NEWS_ARTICLE_JSON,
        crate::schema::WEATHER_OBSERVATION_JSON,
        crate::schema::BRAND_METRIC_JSON,
        crate::schema::SCORED_ARTICLE_JSON,
        crate::schema::KPI_POINT_JSON,
        crate::schema::KPI_ANOMALY_JSON,
        crate::schema::KPI_FORECAST_JSON,
        crate::schema::ALERT_NOTIFICATION_JSON,
    ];
    for json in all {
        let schema = Schema::parse_str(json).expect("schema parses");
        assert!(matches!(schema, Schema::Record(_)));
        assert!(json.contains("Natural key"), "doc must document the natural key: {json}");
    }
}

#[test]
fn fingerprint_is_crc64_avro_little_endian_as_the_spec_frames_it() {
    // The Avro spec's reference fingerprint of the schema "null" is 0x63dd24e7cc258f8a.
    let null = Schema::parse_str("\"null\"").expect("parses");
    assert_eq!(null.fingerprint::<Rabin>().bytes, 0x63dd_24e7_cc25_8f8a_u64.to_le_bytes().to_vec());
    let codec = RecordCodec::<FxRate>::new(WireFormat::SingleObject);
    let bytes = codec.encode(&fx()).expect("encodes");
    assert_eq!(&bytes[..2], &[0xC3, 0x01]);
    assert_eq!(&bytes[2..10], &codec.fingerprint());
}

fn fx() -> FxRate {
    FxRate {
        base: "USD".into(),
        quote: "EUR".into(),
        rate_date: day(2022, 9, 20),
        rate: 0.999,
        provider: "exchangerate-api".into(),
        published_at: Some(at(2022, 9, 20, 0, 0, 2)),
        fetched_at: at(2022, 9, 20, 8, 30, 0),
    }
}

#[test]
fn every_record_round_trips_in_both_framings() {
    round_trip(fx());
    round_trip(FxRate { published_at: None, ..fx() });
    round_trip(NewsArticle {
        url: "https://example.org/a".into(),
        title: "Port opens".into(),
        seen_at: at(2024, 7, 12, 6, 45, 0),
        domain: Some("example.org".into()),
        language: Some("English".into()),
        source_country: None,
        social_image: None,
        tenant_id: Some("acme".into()),
        query: "vizhinjam".into(),
        fetched_at: at(2024, 7, 12, 7, 0, 0),
    });
    round_trip(WeatherObservation {
        location_id: "berlin".into(),
        latitude: 52.52,
        longitude: 13.42,
        hour: at(2024, 6, 1, 13, 0, 0),
        kind: WeatherKind::Forecast,
        variables: BTreeMap::from([("temperature_2m".into(), Some(21.5)), ("snowfall".into(), None)]),
        units: BTreeMap::from([("temperature_2m".into(), "°C".into())]),
        fetched_at: at(2024, 6, 1, 12, 0, 0),
    });
    round_trip(BrandMetric {
        project_id: 7,
        period_start: day(2023, 7, 1),
        brand_id: 3,
        brand_name: "Acme".into(),
        metric: "Digital Quotient".into(),
        value: None,
        fetched_at: at(2024, 1, 1, 0, 0, 0),
    });
    round_trip(ScoredArticle {
        url: "https://example.org/a".into(),
        tenant_id: None,
        title: "Great news".into(),
        seen_at: at(2024, 7, 12, 6, 45, 0),
        neg: 0.0,
        neu: 0.4,
        pos: 0.6,
        compound: 0.6249,
    });
    round_trip(KpiPoint {
        series_id: "fx:USD:EUR".into(),
        tenant_id: None,
        metric: "fx_rate".into(),
        unit: "EUR/USD".into(),
        ts: at(2022, 9, 20, 0, 0, 0),
        value: 0.999,
        source: "raw.fx/exchangerate-api".into(),
    });
    round_trip(KpiAnomaly {
        series_id: "fx:USD:EUR".into(),
        tenant_id: None,
        ts: at(2022, 9, 20, 0, 0, 0),
        value: 0.999,
        score: 0.97,
        is_anomaly: true,
        detector: "zscore-v1".into(),
    });
    round_trip(KpiForecast {
        series_id: "fx:USD:EUR".into(),
        tenant_id: None,
        issued_at: at(2022, 9, 20, 0, 0, 0),
        model: "mstl-ets[7]".into(),
        step_seconds: 86_400,
        points: vec![ForecastPoint {
            ts: at(2022, 9, 21, 0, 0, 0),
            mean: 1.0,
            lower_80: 0.9,
            upper_80: 1.1,
            lower_95: 0.8,
            upper_95: 1.2,
        }],
    });
    round_trip(AlertNotification {
        notification_id: "n-1".into(),
        alert_id: "a-1".into(),
        dedupe_key: "anomaly/fx:USD:EUR".into(),
        rule_id: Some(4),
        series_id: "fx:USD:EUR".into(),
        tenant_id: Some("acme".into()),
        transition: AlertTransition::Opened,
        severity: Severity::Critical,
        message: "spike".into(),
        value: 2.0,
        score: Some(0.99),
        occurred_at: at(2022, 9, 20, 0, 0, 0),
    });
}

#[test]
fn natural_keys_are_the_documented_identities() {
    assert_eq!(fx().natural_key(), "USD/EUR/2022-09-20");
    assert_eq!(fx().kafka_key(), "USD/EUR", "a pair's rates share a partition, in order");
    let point = KpiPoint {
        series_id: "fx:USD:EUR".into(),
        tenant_id: None,
        metric: "fx_rate".into(),
        unit: "EUR/USD".into(),
        ts: at(2022, 9, 20, 0, 0, 0),
        value: 0.999,
        source: "raw.fx".into(),
    };
    assert_eq!(point.natural_key(), "fx:USD:EUR/2022-09-20T00:00:00Z");
    assert_eq!(point.kafka_key(), "fx:USD:EUR");
}

#[test]
fn garbage_gets_named_errors() {
    let codec = RecordCodec::<FxRate>::new(WireFormat::SingleObject);
    assert_eq!(codec.decode(b""), Err(DecodeError::Empty));
    assert_eq!(codec.decode(b"hello"), Err(DecodeError::UnknownFraming("68 65 6c 6c".into())));
    assert_eq!(codec.decode(&[0xC3, 0x01, 1, 2]), Err(DecodeError::Truncated(4, "single-object")));
    assert!(matches!(codec.decode(&[0xC3, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 2]), Err(DecodeError::UnknownFingerprint(..))));
    assert_eq!(codec.decode(&[0, 0, 0, 0, 7, 1]), Err(DecodeError::UnknownSchemaId(7, "raw.fx")));

    let good = codec.encode(&fx()).expect("encodes");
    let truncated = &good[..good.len() - 3];
    assert!(matches!(codec.decode(truncated), Err(DecodeError::Avro("raw.fx", _))));
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"xx");
    assert_eq!(codec.decode(&trailing), Err(DecodeError::TrailingBytes(2, "raw.fx")));
}

#[test]
fn a_registry_id_can_be_accepted_by_a_single_object_reader() {
    let writer = RecordCodec::<FxRate>::new(WireFormat::Confluent { schema_id: 9 });
    let reader = RecordCodec::<FxRate>::new(WireFormat::SingleObject).accept_schema_id(9);
    assert_eq!(reader.decode(&writer.encode(&fx()).expect("encodes")), Ok(fx()));
}
