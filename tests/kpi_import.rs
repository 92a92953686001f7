//! `signalcraft import kpi` as an operator runs it against a real broker: every row of a CSV
//! lands on raw.kpi in acknowledged chunks; a bad row stops the import before anything is sent
//! (or, with `--on-error skip`, is reported while the others go); an interrupted import resumes
//! after the rows it completed.

mod common;

use std::{path::Path, time::Duration};

use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use signalcraft_kafka::EmbeddedBroker;
use signalcraft_model::Topic;
use tokio::process::Command;

const ROWS: u64 = 25_000;

/// `rows` hourly sales of two stores, from 2024-01-01.
fn write_csv(path: &Path, rows: u64, extra: &str) {
    let start = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").expect("instant");
    let mut csv = String::from("ts,metric,value,unit,dim=store\n");
    for n in 0..rows {
        let ts = start + chrono::TimeDelta::hours(i64::try_from(n / 2).expect("small"));
        let store = if n % 2 == 0 { "berlin-1" } else { "paris-2" };
        csv.push_str(&format!("{},sales,{},EUR,{store}\n", ts.format("%Y-%m-%dT%H:%M:%SZ"), 100 + n % 37));
    }
    csv.push_str(extra);
    std::fs::write(path, csv).expect("csv written");
}

async fn import(broker: &EmbeddedBroker, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_signalcraft"))
        .args(["import", "kpi"])
        .args(args)
        .env("SIGNALCRAFT_KAFKA__BROKERS", broker.bootstrap_servers())
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn,librdkafka=error")
        .output()
        .await
        .expect("the binary runs")
}

fn records_on_raw_kpi(broker: &EmbeddedBroker) -> i64 {
    let consumer: BaseConsumer = kafka_settings(broker).client_config("test").create().expect("client");
    consumer.fetch_watermarks(Topic::RawKpi.name(), 0, Duration::from_secs(10)).expect("watermarks").1
}

#[tokio::test]
async fn a_csv_lands_on_raw_kpi_in_chunks_and_bad_rows_are_named() {
    let broker = broker(1);
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("sales.csv");
    let path = file.to_str().expect("utf-8 path");

    // One bad row: nothing is sent, and the row is named.
    write_csv(&file, ROWS, "2024-12-01T00:00:00Z,sales,lots,EUR,berlin-1\n");
    let refused = import(&broker, &[path, "--tenant", "acme", "--chunk-rows", "10000"]).await;
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(err.contains(&format!("line {}, column value: `lots` is not a number", ROWS + 2)), "{err}");
    assert!(err.contains("1 row(s) of") && err.contains("nothing was sent"), "{err}");
    assert_eq!(records_on_raw_kpi(&broker), 0);

    // With skip, the valid rows go and the bad one is counted.
    let skipped = import(&broker, &[path, "--tenant", "acme", "--on-error", "skip"]).await;
    assert!(skipped.status.success(), "{}", stderr(&skipped));
    assert_eq!(stdout(&skipped).trim(), format!("imported {ROWS} rows onto raw.kpi; 1 rows refused"));
    assert_eq!(records_on_raw_kpi(&broker), ROWS as i64);
    assert!(!dir.path().join("sales.csv.import-state").exists(), "a completed import leaves no state");
}

#[tokio::test]
async fn an_interrupted_import_resumes_after_the_rows_it_completed() {
    let broker = broker(1);
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("sales.csv");
    let path = file.to_str().expect("utf-8 path");
    write_csv(&file, ROWS, "");
    // The state an import interrupted after two chunks of 10,000 leaves behind.
    let metadata = std::fs::metadata(&file).expect("metadata");
    let modified = metadata.modified().expect("mtime").duration_since(std::time::UNIX_EPOCH).expect("after 1970");
    let state = serde_json::json!({
        "tenant": "acme", "file_bytes": metadata.len(), "modified_unix_nanos": modified.as_nanos(), "rows_done": 20_000
    });
    std::fs::write(dir.path().join("sales.csv.import-state"), state.to_string()).expect("state written");

    // Another tenant's import of the same file does not take the state as its own.
    let other = import(&broker, &[path, "--tenant", "globex", "--chunk-rows", "10000"]).await;
    assert!(other.status.success(), "{}", stderr(&other));
    assert_eq!(stdout(&other).trim(), format!("imported {ROWS} rows onto raw.kpi"));

    std::fs::write(dir.path().join("sales.csv.import-state"), state.to_string()).expect("state written");
    let resumed = import(&broker, &[path, "--tenant", "acme", "--chunk-rows", "10000"]).await;
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(stdout(&resumed).trim(), "imported 5000 rows onto raw.kpi (resumed after 20000 rows sent before)");
    assert_eq!(records_on_raw_kpi(&broker), ROWS as i64 + 5_000);
}
