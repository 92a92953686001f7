//! What the exchange-rate source takes from the watch list: the watched businesses' home
//! currencies, polled as bases besides the configured ones.

use std::collections::BTreeSet;

use crate::watch::WatchedBusiness;

/// The currencies the watched businesses use, upper-cased, without repeats.
pub fn currencies(businesses: &[WatchedBusiness]) -> BTreeSet<String> {
    businesses.iter().filter_map(|business| business.currency.as_ref()).map(|code| code.to_ascii_uppercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::business;

    #[test]
    fn home_currencies_are_upper_cased_once() {
        let mut a = business("a");
        a.currency = Some("inr".into());
        let mut b = business("b");
        b.currency = Some("INR".into());
        let currencies = currencies(&[a, b, business("c")]);
        assert_eq!(currencies.into_iter().collect::<Vec<_>>(), ["INR"]);
    }
}
