//! How the Digi-Cadence source merges the watch list with its configuration: which projects
//! to poll and which of their brands to keep ([`DqSelection`]).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use super::DqProjectConfig;
use crate::watch::WatchedBusiness;

/// The Digi-Cadence projects to poll and which of their brands to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DqSelection {
    /// Project id → the first day of its period.
    pub periods: BTreeMap<i64, NaiveDate>,
    /// Project id → the brands kept; a project absent here keeps every brand.
    pub brands: BTreeMap<i64, BTreeSet<i64>>,
}

impl DqSelection {
    /// The configured projects (every brand kept), then the businesses' projects. A project is
    /// narrowed to brands only when every business naming it lists brands and no configured
    /// entry names it; the first period given for a project wins.
    pub fn new(configured: &[DqProjectConfig], businesses: &[WatchedBusiness]) -> Self {
        let mut selection = DqSelection::default();
        let mut unrestricted = BTreeSet::new();
        for project in configured {
            selection.periods.entry(project.project_id).or_insert(project.period_start);
            unrestricted.insert(project.project_id);
        }
        for business in businesses {
            for project in &business.dq_projects {
                selection.periods.entry(project.project_id).or_insert(project.period_start);
                if business.dq_brand_ids.is_empty() {
                    unrestricted.insert(project.project_id);
                } else {
                    selection.brands.entry(project.project_id).or_default().extend(&business.dq_brand_ids);
                }
            }
        }
        selection.brands.retain(|project, _| !unrestricted.contains(project));
        selection
    }

    /// Whether a score of `brand_id` in `project_id` is kept.
    pub fn keeps(&self, project_id: i64, brand_id: i64) -> bool {
        self.periods.contains_key(&project_id)
            && self.brands.get(&project_id).is_none_or(|brands| brands.contains(&brand_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::business;

    fn project(project_id: i64, period: &str) -> DqProjectConfig {
        DqProjectConfig { project_id, period_start: period.parse().expect("a date") }
    }

    #[test]
    fn dq_projects_are_narrowed_to_brands_only_when_every_claim_lists_brands() {
        let configured = vec![project(2302, "2023-04-01")];
        let mut a = business("a");
        a.dq_projects = vec![project(2302, "2099-01-01"), project(2303, "2023-07-01")];
        a.dq_brand_ids = vec![7];
        let mut b = business("b");
        b.dq_projects = vec![project(2303, "2023-07-01"), project(2304, "2023-10-01")];
        b.dq_brand_ids = vec![9];
        let mut c = business("c");
        c.dq_projects = vec![project(2305, "2024-01-01")];
        let selection = DqSelection::new(&configured, &[a, b, c]);
        let date = |text: &str| text.parse::<NaiveDate>().expect("a date");
        assert_eq!(selection.periods.get(&2302), Some(&date("2023-04-01")), "the configured period wins");
        assert!(selection.keeps(2302, 1), "configured projects keep every brand");
        assert!(selection.keeps(2303, 7) && selection.keeps(2303, 9) && !selection.keeps(2303, 1));
        assert!(selection.keeps(2304, 9) && !selection.keeps(2304, 7));
        assert!(selection.keeps(2305, 12345), "a business without brands keeps every brand");
        assert!(!selection.keeps(9999, 7), "a project nobody watches is not kept");
    }
}
