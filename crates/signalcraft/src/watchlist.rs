//! The operator's side of the watch list (`signalcraft watch add|list|remove`): a business
//! checked before it is stored, with messages naming the option at fault, `--dq-project` read,
//! and businesses printed as lines or JSON. Rows are checked twice: here, and by the tables'
//! CHECK constraints, so a hand-written INSERT cannot smuggle in a business the sources choke
//! on. The statements are [`signalcraft_store::watch_list::PgWatchList`]'s.

use chrono::NaiveDate;
use signalcraft_ingest::{DqProjectConfig, WatchedBusiness};

/// One business as a JSON object (`signalcraft watch list --json`).
pub fn to_json(business: &WatchedBusiness) -> serde_json::Value {
    serde_json::json!({
        "tenant_id": business.tenant_id,
        "name": business.name,
        "latitude": business.location.map(|p| p.latitude),
        "longitude": business.location.map(|p| p.longitude),
        "currency": business.currency,
        "gdelt_queries": business.gdelt_queries,
        "dq_projects": business.dq_projects.iter()
            .map(|p| serde_json::json!({ "project_id": p.project_id, "period_start": p.period_start.to_string() }))
            .collect::<Vec<_>>(),
        "dq_brand_ids": business.dq_brand_ids,
    })
}

/// One business on one line (`signalcraft watch list`).
pub fn to_line(business: &WatchedBusiness) -> String {
    let mut line = format!("{}  {:?}", business.tenant_id, business.name);
    if let Some(point) = business.location {
        line.push_str(&format!("  at {:.4},{:.4}", point.latitude, point.longitude));
    }
    if let Some(currency) = &business.currency {
        line.push_str(&format!("  currency {currency}"));
    }
    for query in &business.gdelt_queries {
        line.push_str(&format!("  gdelt {query:?}"));
    }
    for project in &business.dq_projects {
        line.push_str(&format!("  dq-project {}@{}", project.project_id, project.period_start));
    }
    if !business.dq_brand_ids.is_empty() {
        let ids: Vec<String> = business.dq_brand_ids.iter().map(i64::to_string).collect();
        line.push_str(&format!("  dq-brands {}", ids.join(",")));
    }
    line
}

/// Longest business name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest GDELT query, in characters: the same limit as a query in `[ingest.gdelt]`.
pub const MAX_GDELT_QUERY_CHARS: usize = signalcraft_ingest::sources::gdelt::MAX_QUERY_CHARS;
/// Most GDELT queries per business: each costs one request per cycle at one request per 5 s.
pub const MAX_GDELT_QUERIES: usize = 20;

/// What is wrong with a business given on the command line, naming the option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--{option}: {message}")]
pub struct InvalidBusiness {
    pub option: &'static str,
    pub message: String,
}

impl InvalidBusiness {
    /// From a [`crate::terminal::check_text`] refusal, which already names the option.
    fn from_checked(option: &'static str, error: anyhow::Error) -> Self {
        let text = error.to_string();
        let prefix = format!("--{option}: ");
        let message = text.strip_prefix(&prefix).map(str::to_string).unwrap_or(text);
        InvalidBusiness { option, message }
    }
}

/// A tenant id as every table that holds one checks it ([`signalcraft_model::validate::tenant_id_problem`]).
pub fn check_tenant_id(id: &str) -> Result<(), String> {
    match signalcraft_model::validate::tenant_id_problem(id) {
        Some(problem) => Err(problem),
        None => Ok(()),
    }
}

/// Checks `business` as the tables will, so the user gets a message naming the option rather
/// than a constraint name.
pub fn validate(business: &WatchedBusiness) -> Result<(), InvalidBusiness> {
    let bad = |option, message: String| Err(InvalidBusiness { option, message });
    if let Err(problem) = check_tenant_id(&business.tenant_id) {
        return bad("tenant-id", problem);
    }
    if business.name.trim().is_empty() {
        return bad("name", "must not be empty".into());
    }
    if let Err(error) = crate::terminal::check_text("name", &business.name, MAX_NAME_CHARS) {
        return Err(InvalidBusiness::from_checked("name", error));
    }
    if let Some(point) = business.location {
        if !(-90.0..=90.0).contains(&point.latitude) {
            return bad("latitude", format!("{} is not within -90..=90", point.latitude));
        }
        if !(-180.0..=180.0).contains(&point.longitude) {
            return bad("longitude", format!("{} is not within -180..=180", point.longitude));
        }
    }
    if let Some(code) = &business.currency {
        if code.len() != 3 || !code.chars().all(|c| c.is_ascii_uppercase()) {
            return bad("currency", format!("`{code}` is not a three-letter ISO 4217 code such as EUR"));
        }
    }
    if let Some(query) = business.gdelt_queries.iter().find(|query| query.trim().is_empty()) {
        return bad("gdelt-query", format!("`{query}` is empty"));
    }
    for query in &business.gdelt_queries {
        if let Err(error) = crate::terminal::check_text("gdelt-query", query, MAX_GDELT_QUERY_CHARS) {
            return Err(InvalidBusiness::from_checked("gdelt-query", error));
        }
    }
    if business.gdelt_queries.len() > MAX_GDELT_QUERIES {
        return bad(
            "gdelt-query",
            format!("{} queries is more than the {MAX_GDELT_QUERIES} allowed", business.gdelt_queries.len()),
        );
    }
    if let Some(project) = business.dq_projects.iter().find(|p| p.project_id <= 0) {
        return bad("dq-project", format!("project id {} must be positive", project.project_id));
    }
    Ok(())
}

/// Reads a `--dq-project` value: `PROJECT_ID@PERIOD_START`, e.g. `2302@2023-04-01`.
pub fn parse_dq_project(text: &str) -> Result<DqProjectConfig, String> {
    let (id, period) =
        text.split_once('@').ok_or_else(|| format!("`{text}` is not PROJECT_ID@PERIOD_START, e.g. 2302@2023-04-01"))?;
    let project_id = id.trim().parse::<i64>().map_err(|_| format!("`{id}` is not a project id"))?;
    let period_start = period
        .trim()
        .parse::<NaiveDate>()
        .map_err(|_| format!("`{period}` is not a date (YYYY-MM-DD), the first day of the project's period"))?;
    Ok(DqProjectConfig { project_id, period_start })
}

#[cfg(test)]
mod tests {
    use super::*;
    use signalcraft_ingest::GeoPoint;

    fn acme() -> WatchedBusiness {
        WatchedBusiness {
            tenant_id: "acme".into(),
            name: "Acme".into(),
            location: Some(GeoPoint { latitude: 48.1, longitude: 11.6 }),
            currency: Some("EUR".into()),
            gdelt_queries: vec!["acme corp".into()],
            dq_projects: vec![],
            dq_brand_ids: vec![],
        }
    }

    #[test]
    fn a_bad_business_names_the_option() {
        assert_eq!(validate(&acme()), Ok(()));
        let error = |edit: fn(&mut WatchedBusiness)| {
            let mut business = acme();
            edit(&mut business);
            validate(&business).expect_err("refused").to_string()
        };
        assert!(error(|b| b.tenant_id = "Acme Corp".into()).starts_with("--tenant-id: `Acme Corp`"));
        assert!(error(|b| b.tenant_id = "-acme".into()).starts_with("--tenant-id:"));
        assert_eq!(error(|b| b.name = " ".into()), "--name: must not be empty");
        assert_eq!(
            error(|b| b.location = Some(GeoPoint { latitude: 91.0, longitude: 0.0 })),
            "--latitude: 91 is not within -90..=90"
        );
        assert_eq!(
            error(|b| b.currency = Some("eur".into())),
            "--currency: `eur` is not a three-letter ISO 4217 code such as EUR"
        );
        assert_eq!(error(|b| b.gdelt_queries.push("  ".into())), "--gdelt-query: `  ` is empty");
    }

    #[test]
    fn names_and_queries_have_limits() {
        let error = |edit: fn(&mut WatchedBusiness)| {
            let mut business = acme();
            edit(&mut business);
            validate(&business).expect_err("refused").to_string()
        };
        assert_eq!(error(|b| b.name = "n".repeat(10_000)), "--name: 10000 characters is more than the 200 allowed");
        assert_eq!(
            error(|b| b.gdelt_queries = vec!["q".repeat(10_000)]),
            "--gdelt-query: 10000 characters is more than the 500 allowed"
        );
        assert_eq!(error(|b| b.name = "Acme\u{1b}[2J".into()), "--name: contains the control character \\u{1b}");
        assert_eq!(
            error(|b| b.gdelt_queries = (0..21).map(|i| format!("q{i}")).collect()),
            "--gdelt-query: 21 queries is more than the 20 allowed"
        );
    }

    #[test]
    fn dq_projects_are_read_as_id_at_period() {
        let project = parse_dq_project("2302@2023-04-01").expect("parses");
        assert_eq!((project.project_id, project.period_start.to_string().as_str()), (2302, "2023-04-01"));
        assert!(parse_dq_project("2302").expect_err("no period").contains("PROJECT_ID@PERIOD_START"));
        assert!(parse_dq_project("x@2023-04-01").expect_err("bad id").contains("`x` is not a project id"));
        assert!(parse_dq_project("2302@April").expect_err("bad date").contains("`April` is not a date"));
    }
}
