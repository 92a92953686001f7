//! Exchange rates: any body through [`parse_rates`], the function `FxSource` reads every answer
//! with, for every provider (ExchangeRate-API v4, Frankfurter, exchangerate.host), with and
//! without a `symbols` filter. Errors are fine; a panic is a bug.
#![no_main]

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use signalcraft_ingest::{parse_rates, FxProviderKind};

fuzz_target!(|body: &[u8]| {
    let now = DateTime::<Utc>::UNIX_EPOCH;
    let symbols = ["EUR".to_string(), "gbp".to_string(), "JPY".to_string()];
    for kind in [FxProviderKind::ExchangerateApi, FxProviderKind::Frankfurter, FxProviderKind::ExchangerateHost] {
        let _ = parse_rates(kind, "USD", &[], body, now);
        let _ = parse_rates(kind, "usd", &symbols, body, now);
    }
});
