//! GDELT `mode=timeline*` answers: any body through [`parse_timeline`] and
//! [`parse_timeline_tone`] (which read every point's date with `parse_gdelt_time`), and the
//! input as text straight through [`parse_gdelt_time`], the `seendate` reader. Errors are fine;
//! a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signalcraft_ingest::{
    parse_timeline_tone,
    sources::gdelt::{parse_gdelt_time, parse_timeline},
};

fuzz_target!(|body: &[u8]| {
    let _ = parse_timeline(body);
    let _ = parse_timeline_tone(body);
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = parse_gdelt_time(text);
    }
});
