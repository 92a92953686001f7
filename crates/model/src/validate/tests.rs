//! What validate() refuses and accepts, and that decoding applies it with the field and the reason.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::*;
use crate::{ForecastPoint, RecordCodec, WireFormat};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).single().expect("instant")
}

fn point() -> KpiPoint {
    KpiPoint {
        series_id: "fx:USD:EUR".into(),
        tenant_id: None,
        metric: "fx_rate".into(),
        unit: "EUR".into(),
        ts: now(),
        value: 0.93,
        source: "fx".into(),
    }
}

fn rate() -> FxRate {
    FxRate {
        base: "USD".into(),
        quote: "EUR".into(),
        rate_date: now().date_naive(),
        rate: 0.93,
        provider: "frankfurter".into(),
        published_at: None,
        fetched_at: now(),
    }
}

fn check<R: Validate>(record: &R) -> Result<(), Invalid> {
    record.validate_at(&Plausibility::for_topic(Topic::KpiPoints), now())
}

fn refused<R: Validate>(record: &R) -> (String, String) {
    let invalid = check(record).expect_err("refused");
    (invalid.field, invalid.problem)
}

/// 5000 BC: representable by Avro and chrono, not by PostgreSQL.
fn bc_5000() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(-4999, 1, 1, 0, 0, 0).single().expect("instant")
}

#[test]
fn ordinary_records_pass() {
    assert_eq!(check(&point()), Ok(()));
    assert_eq!(check(&rate()), Ok(()));
}

#[test]
fn timestamps_postgresql_cannot_store_are_refused_by_field() {
    let (field, problem) = refused(&KpiPoint { ts: bc_5000(), ..point() });
    assert_eq!(field, "ts");
    assert!(problem.contains("before 4714-11-24 BC, the earliest PostgreSQL can store"), "{problem}");

    let day = NaiveDate::from_ymd_opt(-4999, 3, 1).expect("date");
    let (field, problem) = refused(&FxRate { rate_date: day, ..rate() });
    assert_eq!(field, "rate_date");
    assert!(problem.contains("earliest PostgreSQL can store"), "{problem}");

    // With an unbounded window, PostgreSQL's own floor still holds; its last day passes.
    let wide = Plausibility { not_before: DateTime::<Utc>::MIN_UTC, max_ahead: TimeDelta::days(1) };
    let floor = Utc.with_ymd_and_hms(-4713, 11, 24, 0, 0, 0).single().expect("instant");
    assert_eq!(KpiPoint { ts: floor, ..point() }.validate_at(&wide, now()), Ok(()));
    assert!(KpiPoint { ts: floor - TimeDelta::microseconds(1), ..point() }.validate_at(&wide, now()).is_err());
}

#[test]
fn the_plausibility_window_keeps_old_archives_and_refuses_the_far_future() {
    let archive = Utc.with_ymd_and_hms(1953, 3, 1, 0, 0, 0).single().expect("instant");
    assert_eq!(check(&KpiPoint { ts: archive, ..point() }), Ok(()), "the replayed 1953 archive day");
    let (field, problem) =
        refused(&KpiPoint { ts: archive.with_timezone(&Utc) - TimeDelta::days(365 * 60), ..point() });
    assert_eq!(field, "ts");
    assert!(problem.contains("the earliest plausible"), "{problem}");

    // A 16-day weather forecast passes; year 4737 would silence its series' anomaly scoring.
    assert_eq!(check(&KpiPoint { ts: now() + TimeDelta::days(16), ..point() }), Ok(()));
    let far = Utc.with_ymd_and_hms(4737, 1, 1, 0, 0, 0).single().expect("instant");
    let (field, problem) = refused(&KpiPoint { ts: far, ..point() });
    assert_eq!(field, "ts");
    assert!(problem.contains("the latest plausible (now + 62 days)"), "{problem}");

    // Per topic: forecasts look further ahead, and a codec can be given any window.
    let year_ahead = KpiPoint { ts: now() + TimeDelta::days(365), ..point() };
    assert!(year_ahead.validate_at(&Plausibility::for_topic(Topic::KpiForecasts), now()).is_ok());
    let narrow = Plausibility { not_before: now() - TimeDelta::days(1), max_ahead: TimeDelta::hours(1) };
    assert!(point().validate_at(&narrow, now()).is_ok());
    assert!(KpiPoint { ts: now() + TimeDelta::hours(2), ..point() }.validate_at(&narrow, now()).is_err());
}

#[test]
fn codes_numbers_and_texts_are_checked() {
    assert_eq!(
        refused(&FxRate { quote: "eur".into(), ..rate() }),
        ("quote".into(), "`eur` is not an ISO-4217 code".into())
    );
    assert_eq!(refused(&FxRate { base: "USDT".into(), ..rate() }).0, "base");
    assert_eq!(refused(&FxRate { base: "ÜSD".into(), ..rate() }).0, "base", "three bytes, but not ASCII letters");
    assert_eq!(refused(&FxRate { rate: f64::NAN, ..rate() }), ("rate".into(), "NaN is not a finite number".into()));
    assert_eq!(refused(&KpiPoint { value: f64::INFINITY, ..point() }).1, "inf is not a finite number");

    let (field, problem) = refused(&KpiPoint { series_id: "a\0b".into(), ..point() });
    assert_eq!(field, "series_id");
    assert!(problem.contains("NUL byte"), "{problem}");
    let (field, problem) = refused(&KpiPoint { metric: "m".repeat(MAX_ID_BYTES + 1), ..point() });
    assert_eq!((field.as_str(), problem.as_str()), ("metric", "513 bytes is longer than the limit of 512"));
    assert_eq!(check(&KpiPoint { metric: "é".repeat(MAX_ID_BYTES / 2), ..point() }), Ok(()), "limits are in bytes");
    assert_eq!(refused(&KpiPoint { series_id: String::new(), ..point() }).1, "is empty");

    let anomaly = KpiAnomaly {
        series_id: "s".into(),
        tenant_id: None,
        ts: now(),
        value: 1.0,
        score: 1.5,
        is_anomaly: true,
        detector: "d".into(),
    };
    assert_eq!(refused(&anomaly), ("score".into(), "1.5 is not in [0, 1]".into()));
    assert_eq!(refused(&KpiAnomaly { score: f64::NAN, ..anomaly.clone() }).0, "score");

    let forecast = KpiForecast {
        series_id: "s".into(),
        tenant_id: None,
        issued_at: now(),
        model: "ets".into(),
        step_seconds: 3600,
        points: vec![ForecastPoint {
            ts: now(),
            mean: 1.0,
            lower_80: 0.0,
            upper_80: 2.0,
            lower_95: f64::NEG_INFINITY,
            upper_95: 3.0,
        }],
    };
    assert_eq!(refused(&forecast), ("points[0].lower_95".into(), "-inf is not a finite number".into()));
    assert_eq!(refused(&KpiForecast { step_seconds: 0, points: vec![], ..forecast }).0, "step_seconds");
}

#[test]
fn decoding_refuses_an_invalid_record_with_its_field_and_reason() {
    let codec = RecordCodec::<KpiPoint>::new(WireFormat::SingleObject);
    let bytes = codec.encode(&KpiPoint { ts: bc_5000(), ..point() }).expect("encodes: Avro carries any i64");
    match codec.decode(&bytes) {
        Err(crate::DecodeError::Invalid { record, field, problem }) => {
            assert_eq!((record, field.as_str()), ("kpi.points", "ts"));
            assert!(problem.contains("earliest PostgreSQL can store"), "{problem}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    let error = codec.decode(&bytes).expect_err("refused").to_string();
    assert!(error.starts_with("column ts: -4999-01-01 00:00:00 UTC is before 4714-11-24 BC"), "{error}");

    // A codec with a wider window accepts what the default refuses.
    let archive = Utc.with_ymd_and_hms(1850, 1, 1, 0, 0, 0).single().expect("instant");
    let old = codec.encode(&KpiPoint { ts: archive, ..point() }).expect("encodes");
    assert!(codec.decode(&old).is_err());
    let wide =
        codec.clone().with_plausibility(Plausibility { not_before: DateTime::<Utc>::MIN_UTC, ..codec.plausibility() });
    assert_eq!(wide.decode(&old).map(|p| p.ts), Ok(archive));
}
