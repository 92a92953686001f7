//! Serde adapters between chrono's UTC types and Avro logical types, so record structs carry
//! `DateTime<Utc>` / `NaiveDate` while the wire carries `timestamp-micros` / `date`.

/// `DateTime<Utc>` ↔ `timestamp-micros` (i64 microseconds since the Unix epoch).
pub mod micros {
    use chrono::{DateTime, Utc};
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(at.timestamp_micros())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        let micros = i64::deserialize(deserializer)?;
        DateTime::from_timestamp_micros(micros)
            .ok_or_else(|| D::Error::custom(format!("timestamp-micros {micros} is out of range")))
    }
}

/// `Option<DateTime<Utc>>` ↔ `["null", timestamp-micros]`.
pub mod micros_opt {
    use chrono::{DateTime, Utc};
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serializer.serialize_some(&at.timestamp_micros()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<i64>::deserialize(deserializer)? {
            None => Ok(None),
            Some(micros) => DateTime::from_timestamp_micros(micros)
                .map(Some)
                .ok_or_else(|| D::Error::custom(format!("timestamp-micros {micros} is out of range"))),
        }
    }
}

/// `NaiveDate` ↔ `date` (i32 days since 1970-01-01).
pub mod date {
    use chrono::NaiveDate;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
        Some(d) => d,
        None => panic!("1970-01-01 is a valid date"),
    };

    pub fn serialize<S: Serializer>(day: &NaiveDate, serializer: S) -> Result<S::Ok, S::Error> {
        let days = day.signed_duration_since(EPOCH).num_days();
        let days = i32::try_from(days).map_err(|_| serde::ser::Error::custom("date out of Avro int range"))?;
        serializer.serialize_i32(days)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
        let days = i32::deserialize(deserializer)?;
        EPOCH
            .checked_add_signed(chrono::TimeDelta::days(i64::from(days)))
            .ok_or_else(|| D::Error::custom(format!("date {days} days from epoch is out of range")))
    }
}
