//! Digi-Cadence DQ answers: any body through `DigiCadenceSource::parse_answer` for both
//! endpoints (`get_multi_data` and `normalized/normalized_value`), the function a poll reads
//! every answer with: bare `NaN` → `null`, `{"message"}`/`{"detail"}`, ids as floats, mojibake
//! repair, one record per natural key. The source is configured with the projects of the
//! recorded q3 answer so their records are built. Errors are fine; a panic is a bug.
#![no_main]

use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, Utc};
use libfuzzer_sys::fuzz_target;
use signalcraft_ingest::{DigiCadenceConfig, DigiCadenceSource, DqEndpoint, DqProjectConfig};

fn source() -> &'static DigiCadenceSource {
    static SOURCE: OnceLock<DigiCadenceSource> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let period_start = NaiveDate::from_ymd_opt(2023, 7, 1).expect("a date");
        let projects =
            [1, 268, 2302, 2303, 2304].into_iter().map(|project_id| DqProjectConfig { project_id, period_start });
        let config = DigiCadenceConfig { projects: projects.collect(), ..DigiCadenceConfig::new("http://127.0.0.1:9") };
        DigiCadenceSource::new(config).expect("a source")
    })
}

fuzz_target!(|body: &[u8]| {
    let now = DateTime::<Utc>::UNIX_EPOCH;
    for endpoint in [DqEndpoint::GetMultiData, DqEndpoint::NormalizedValue] {
        let _ = source().parse_answer(endpoint, body, now);
    }
});
