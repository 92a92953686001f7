//! GDELT `mode=artlist` answers: any body through [`parse_artlist`] (the plain-text error gate
//! and the title repair included), the parser `GdeltSource` uses, then every article's
//! `seendate` through [`parse_gdelt_time`] as the source does. Errors are fine; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signalcraft_ingest::{parse_artlist, sources::gdelt::parse_gdelt_time};

fuzz_target!(|body: &[u8]| {
    if let Ok(articles) = parse_artlist(body) {
        for article in articles {
            let _ = parse_gdelt_time(article.seendate.as_deref().unwrap_or_default());
        }
    }
});
