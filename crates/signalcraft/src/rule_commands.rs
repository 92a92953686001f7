//! The operator's side of `alert_rules` (`signalcraft rules add|list|...`): a rule typed on the
//! command line checked before it reaches the database, with a message naming the option at
//! fault (the table's CHECKs would only name a constraint), and stored rules printed for a
//! terminal. The statements are [`signalcraft_store::alert_rules`]'.

use signalcraft_process::alerting::{validate_pattern, Comparison};
use signalcraft_store::alert_rules::{self, NewRule, StoredRule, MAX_DURATION_SECS};

/// Longest rule name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest series pattern, in characters (series ids are at most a few hundred).
pub const MAX_PATTERN_CHARS: usize = 512;

/// One line for a terminal: `#3 usd-eur-high: fx:USD:EUR > 1.1 for 3600 s, CRITICAL`.
/// Text stored by others is shown with its control characters escaped, so a rule's name
/// cannot move the cursor or recolour the operator's terminal.
pub fn to_line(stored: &StoredRule) -> String {
    let rule = &stored.rule;
    format!(
        "#{} {}: {} {} {} for {} s, {}{}{}",
        stored.id,
        crate::terminal::printable(&rule.name),
        crate::terminal::printable(&rule.series_pattern),
        rule.comparison,
        rule.threshold,
        rule.duration_secs,
        rule.severity,
        rule.tenant_id.as_ref().map(|tenant| format!(", tenant {tenant}")).unwrap_or_default(),
        if stored.enabled { "" } else { " (disabled)" }
    )
}

/// Checks a rule before it reaches the database, with a message naming the command-line
/// option at fault (the table's CHECKs would only name a constraint). Returns the rule with
/// its severity in the stored spelling.
pub fn validate(rule: &NewRule) -> anyhow::Result<NewRule> {
    if rule.name.trim().is_empty() {
        anyhow::bail!("--name: must not be empty");
    }
    crate::terminal::check_text("name", &rule.name, MAX_NAME_CHARS)?;
    if rule.series_pattern.trim().is_empty() {
        anyhow::bail!("--series: must not be empty (a SQL LIKE pattern on series ids, e.g. `fx:USD:%`)");
    }
    crate::terminal::check_text("series", &rule.series_pattern, MAX_PATTERN_CHARS)?;
    if let Err(problem) = validate_pattern(&rule.series_pattern) {
        anyhow::bail!("--series: {problem}");
    }
    if Comparison::parse(&rule.comparison).is_none() {
        anyhow::bail!("--comparison: `{}` is not one of >, >=, <, <=", rule.comparison);
    }
    if !rule.threshold.is_finite() {
        anyhow::bail!("--threshold: `{}` is not a finite number", rule.threshold);
    }
    if rule.duration_secs < 0 {
        anyhow::bail!("--duration-secs: {} is negative", rule.duration_secs);
    }
    if rule.duration_secs > MAX_DURATION_SECS {
        anyhow::bail!(
            "--duration-secs: {} is more than {MAX_DURATION_SECS} (366 days), the longest a condition may hold",
            rule.duration_secs
        );
    }
    if let Some(tenant) = &rule.tenant_id {
        if let Err(problem) = crate::watchlist::check_tenant_id(tenant) {
            anyhow::bail!("--tenant-id: {problem}");
        }
    }
    let severity = rule.severity.to_ascii_uppercase();
    if alert_rules::severity(&severity).is_none() {
        anyhow::bail!("--severity: `{}` is not one of INFO, WARNING, CRITICAL", rule.severity);
    }
    Ok(NewRule { severity, ..rule.clone() })
}
