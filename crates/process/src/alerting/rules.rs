//! Threshold rules: "value of the series matching `series_pattern` is `comparison` `threshold`
//! for at least `duration`", with a severity. Patterns use SQL LIKE syntax (`%` any run of
//! characters, `_` one character, `\` escaping the next), as PostgreSQL reads them.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, TimeDelta, Utc};
use signalcraft_model::Severity;

/// How a value is compared with a rule's threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Above,
    AtLeast,
    Below,
    AtMost,
}

impl Comparison {
    /// Parses the operator stored in `alert_rules.comparison`.
    pub fn parse(operator: &str) -> Option<Comparison> {
        match operator {
            ">" => Some(Comparison::Above),
            ">=" => Some(Comparison::AtLeast),
            "<" => Some(Comparison::Below),
            "<=" => Some(Comparison::AtMost),
            _ => None,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Above => ">",
            Comparison::AtLeast => ">=",
            Comparison::Below => "<",
            Comparison::AtMost => "<=",
        }
    }

    /// Whether `value` breaches `threshold`.
    pub fn breached(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Above => value > threshold,
            Comparison::AtLeast => value >= threshold,
            Comparison::Below => value < threshold,
            Comparison::AtMost => value <= threshold,
        }
    }
}

/// One row of `alert_rules`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub id: i64,
    pub name: String,
    /// SQL LIKE pattern on series ids, e.g. `fx:USD:%`.
    pub series_pattern: String,
    pub comparison: Comparison,
    pub threshold: f64,
    /// How long the breach must last (event time) before the alert opens.
    pub duration: TimeDelta,
    pub severity: Severity,
    /// The tenant whose series it watches; `None`: an operator's rule, over every tenant.
    pub tenant_id: Option<String>,
}

impl AlertRule {
    /// Whether this rule watches the series `series_id` of tenant `tenant_id`: a tenant's rule
    /// watches only that tenant's series, whatever its pattern matches.
    pub fn matches(&self, tenant_id: Option<&str>, series_id: &str) -> bool {
        let tenant_ok = match &self.tenant_id {
            Some(own) => tenant_id == Some(own.as_str()),
            None => true,
        };
        tenant_ok && like(&self.series_pattern, series_id)
    }
}

/// One element of a LIKE pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LikeToken {
    /// `%`: any run of characters, also none.
    AnyRun,
    /// `_`: exactly one character.
    AnyOne,
    /// A character matched as itself (also `%`, `_` or `\` after a `\`).
    Literal(char),
}

fn like_tokens(pattern: &str) -> Vec<LikeToken> {
    let mut tokens = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '%' => LikeToken::AnyRun,
            '_' => LikeToken::AnyOne,
            // PostgreSQL refuses a pattern ending in the escape; `validate_pattern` refuses it
            // before it is stored, and here it stands for itself rather than matching nothing.
            '\\' => LikeToken::Literal(chars.next().unwrap_or('\\')),
            other => LikeToken::Literal(other),
        });
    }
    tokens
}

/// Why a LIKE pattern cannot be used.
pub fn validate_pattern(pattern: &str) -> Result<(), String> {
    let trailing_escapes = pattern.chars().rev().take_while(|&c| c == '\\').count();
    if trailing_escapes % 2 == 1 {
        return Err(format!(
            "`{}` ends with the escape character `\\` (write `\\\\` for a backslash)",
            pattern.escape_debug()
        ));
    }
    Ok(())
}

/// SQL LIKE as PostgreSQL reads it: `%` matches any run of characters (also none), `_` exactly
/// one character (not one byte: `fx:___:EUR` matches a three-letter code in any script), and
/// `\` makes the next character literal (`sentiment:acme\_eu:%` matches only the underscore).
fn like(pattern: &str, text: &str) -> bool {
    let pattern = like_tokens(pattern);
    let text: Vec<char> = text.chars().collect();
    // Iterative matching with one backtrack point for the last `%` seen: linear in practice.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(LikeToken::AnyRun) => {
                star = Some((p, t));
                p += 1;
            }
            Some(LikeToken::AnyOne) => {
                p += 1;
                t += 1;
            }
            Some(LikeToken::Literal(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&token| token == LikeToken::AnyRun)
}

/// One version of a rule: the rule as it was while in force, from `valid_from` (inclusive;
/// `None`: since always) until `valid_until` (exclusive; `None`: still in force).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleVersion {
    pub rule: AlertRule,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
}

impl RuleVersion {
    /// A rule in force at every instant.
    pub fn always(rule: AlertRule) -> Self {
        RuleVersion { rule, valid_from: None, valid_until: None }
    }

    /// Whether this version was in force at `at`; `None` (an input of unknown time): whether it
    /// is the rule's latest version.
    pub fn in_force_at(&self, at: Option<DateTime<Utc>>) -> bool {
        match at {
            Some(at) => {
                self.valid_from.is_none_or(|from| from <= at) && self.valid_until.is_none_or(|until| at < until)
            }
            None => self.valid_until.is_none(),
        }
    }
}

/// What is known of the rules: every version, and up to which instant the list is complete.
/// Taken from a [`RuleSet`] as a shared snapshot, never copied.
#[derive(Debug, Default)]
pub struct KnownRules {
    versions: Vec<RuleVersion>,
    /// Every version that came into force at or before this instant is in `versions`; `None`:
    /// the list is fixed (set in code, not read from a store), complete for every instant.
    known_through: Option<DateTime<Utc>>,
}

/// The rules' versions, shared between whatever reads them from their store and the processor
/// that evaluates them. Replacing the list is atomic for readers. The alerting processor asks
/// for the versions in force when each input was appended ([`RuleSet::in_force_at`]), and its
/// stage first makes sure the list is complete up to the batch's latest input
/// ([`crate::SideInput`]), so the alerts depend on the inputs and the rules' history alone,
/// never on when the list was read.
#[derive(Debug, Clone, Default)]
pub struct RuleSet(Arc<RwLock<Arc<KnownRules>>>);

impl RuleSet {
    /// A fixed list of rules, each in force at every instant.
    pub fn new(rules: Vec<AlertRule>) -> Self {
        let set = RuleSet::default();
        set.replace(rules);
        set
    }

    /// Swaps in a fixed list of rules, each in force at every instant.
    pub fn replace(&self, rules: Vec<AlertRule>) {
        self.store(KnownRules { versions: rules.into_iter().map(RuleVersion::always).collect(), known_through: None });
    }

    /// Swaps in the versions read from a store, complete up to `known_through`.
    pub fn replace_history(&self, versions: Vec<RuleVersion>, known_through: DateTime<Utc>) {
        self.store(KnownRules { versions, known_through: Some(known_through) });
    }

    fn store(&self, known: KnownRules) {
        // A poisoned lock only means a reader panicked; the list itself is always whole.
        let mut guard = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard = Arc::new(known);
    }

    /// The versions as they are now, shared (a reload swaps in new ones beside it).
    pub fn known(&self) -> Arc<KnownRules> {
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Whether every version in force at `at` is known (without reading the store again).
    pub fn complete_at(&self, at: DateTime<Utc>) -> bool {
        self.known().known_through.is_none_or(|through| at <= through)
    }
}

impl KnownRules {
    /// The rules in force at `at`, in the order they were loaded (by id from the store);
    /// `None`: the latest version of each.
    pub fn in_force_at(&self, at: Option<DateTime<Utc>>) -> impl Iterator<Item = &AlertRule> {
        self.versions.iter().filter(move |version| version.in_force_at(at)).map(|version| &version.rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_as_in_sql() {
        assert!(like("fx:USD:%", "fx:USD:EUR"));
        assert!(like("fx:%:EUR", "fx:USD:EUR"));
        assert!(like("%", ""));
        assert!(like("fx:___:EUR", "fx:USD:EUR"));
        assert!(!like("fx:___:EUR", "fx:USDX:EUR"));
        assert!(!like("fx:USD:%", "weather:berlin:rain"));
        assert!(like("%berlin%rain", "weather:berlin:rain"));
        assert!(!like("weather", "weather:berlin"));
    }

    #[test]
    fn a_backslash_makes_the_next_character_literal() {
        assert!(like("sentiment:acme\\_eu:%", "sentiment:acme_eu:volume"));
        assert!(!like("sentiment:acme\\_eu:%", "sentiment:acmeXeu:volume"));
        assert!(like("100\\%", "100%"));
        assert!(!like("100\\%", "1000"));
        assert!(like("a\\\\b", "a\\b"));
        assert_eq!(validate_pattern("fx:%"), Ok(()));
        assert_eq!(validate_pattern("a\\\\"), Ok(()));
        assert!(validate_pattern("fx:\\").expect_err("dangling escape").contains("ends with the escape character"));
    }

    #[test]
    fn a_tenants_rule_watches_only_its_own_series() {
        let rule = |tenant_id: Option<&str>| AlertRule {
            id: 1,
            name: "sales".into(),
            series_pattern: "custom:%:sales".into(),
            comparison: Comparison::Above,
            threshold: 1.0,
            duration: TimeDelta::zero(),
            severity: Severity::Warning,
            tenant_id: tenant_id.map(str::to_string),
        };
        assert!(rule(Some("acme")).matches(Some("acme"), "custom:acme:sales"));
        assert!(!rule(Some("acme")).matches(Some("globex"), "custom:globex:sales"), "another tenant's series");
        assert!(!rule(Some("acme")).matches(None, "custom:acme:sales"), "a series of no tenant");
        assert!(rule(None).matches(Some("globex"), "custom:globex:sales"), "an operator's rule watches all");
    }

    #[test]
    fn an_underscore_matches_one_character_not_one_byte() {
        assert!(like("weather:m_nchen:%", "weather:münchen:temperature_2m"));
        assert!(!like("weather:m__nchen:%", "weather:münchen:temperature_2m"));
    }

    #[test]
    fn comparisons_parse_and_compare() {
        let above = Comparison::parse(">").expect("parses");
        assert!(above.breached(2.0, 1.0) && !above.breached(1.0, 1.0));
        assert!(Comparison::parse("<=").expect("parses").breached(1.0, 1.0));
        assert_eq!(Comparison::parse("=="), None);
    }
}
