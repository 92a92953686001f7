//! The operator's side of `alert_rules` (`signalcraft rules add|list|...`): a rule typed on the
//! command line checked before it reaches the database, with a message naming the option at
//! fault (the table's CHECKs would only name a constraint), and stored rules printed for a
//! terminal. The checks and statements are [`signalcraft_store::alert_rules`]'.

use signalcraft_store::alert_rules::{self, NewRule, StoredRule};

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
/// option at fault. Returns the rule with its severity in the stored spelling.
pub fn validate(rule: &NewRule) -> anyhow::Result<NewRule> {
    alert_rules::check(rule).map_err(|bad| anyhow::anyhow!("{}: {}", bad.field.option(), bad.problem))
}
