//! How the GDELT sources merge the watch list with their configuration: the configured
//! queries, then each watched business's, without repeats.

use std::collections::BTreeSet;

use super::GdeltQueryConfig;
use crate::watch::WatchedBusiness;

/// The GDELT queries to poll: the configured ones, then each business's, without repeats.
pub fn gdelt_queries(configured: &[GdeltQueryConfig], businesses: &[WatchedBusiness]) -> Vec<GdeltQueryConfig> {
    let mut seen = BTreeSet::new();
    let watched = businesses.iter().flat_map(|business| {
        business
            .gdelt_queries
            .iter()
            .filter(|query| !query.trim().is_empty())
            .map(|query| GdeltQueryConfig { tenant_id: business.tenant_id.clone(), query: query.clone() })
    });
    configured.iter().cloned().chain(watched).filter(|query| seen.insert(query.mark_key())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::business;

    #[test]
    fn gdelt_queries_follow_the_configuration_without_repeats() {
        let configured = vec![GdeltQueryConfig { tenant_id: "port".into(), query: "vizhinjam".into() }];
        let mut acme = business("acme");
        acme.gdelt_queries = vec!["acme corp".into(), " ".into(), "acme corp".into()];
        let mut port = business("port");
        port.gdelt_queries = vec!["vizhinjam".into(), "adani port".into()];
        let queries = gdelt_queries(&configured, &[acme, port]);
        let pairs: Vec<(&str, &str)> = queries.iter().map(|q| (q.tenant_id.as_str(), q.query.as_str())).collect();
        assert_eq!(pairs, [("port", "vizhinjam"), ("acme", "acme corp"), ("port", "adani port")]);
    }
}
