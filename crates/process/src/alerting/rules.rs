//! Threshold rules: "value of the series matching `series_pattern` is `comparison` `threshold`
//! for at least `duration`", with a severity. Patterns use SQL LIKE syntax (`%` any run of
//! characters, `_` one character), the same as in `alert_rules` queries.

use std::sync::{Arc, RwLock};

use chrono::TimeDelta;
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
}

impl AlertRule {
    /// Whether this rule watches `series_id`.
    pub fn matches(&self, series_id: &str) -> bool {
        like(self.series_pattern.as_bytes(), series_id.as_bytes())
    }
}

/// SQL LIKE without escapes: `%` matches any run (also empty), `_` exactly one byte.
fn like(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative matching with one backtrack point for the last `%` seen: linear in practice.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'%') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'_' || c == text[t] => {
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
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'%')
}

/// The current rules, shared between the task that reloads them and the processor that reads
/// them. Replacing the list is atomic for readers.
#[derive(Debug, Clone, Default)]
pub struct RuleSet(Arc<RwLock<Arc<Vec<AlertRule>>>>);

impl RuleSet {
    pub fn new(rules: Vec<AlertRule>) -> Self {
        RuleSet(Arc::new(RwLock::new(Arc::new(rules))))
    }

    /// Swaps in a freshly loaded list.
    pub fn replace(&self, rules: Vec<AlertRule>) {
        // A poisoned lock only means a reader panicked; the list itself is always whole.
        let mut guard = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard = Arc::new(rules);
    }

    /// The list as it is now.
    pub fn current(&self) -> Arc<Vec<AlertRule>> {
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_as_in_sql() {
        assert!(like(b"fx:USD:%", b"fx:USD:EUR"));
        assert!(like(b"fx:%:EUR", b"fx:USD:EUR"));
        assert!(like(b"%", b""));
        assert!(like(b"fx:___:EUR", b"fx:USD:EUR"));
        assert!(!like(b"fx:___:EUR", b"fx:USDX:EUR"));
        assert!(!like(b"fx:USD:%", b"weather:berlin:rain"));
        assert!(like(b"%berlin%rain", b"weather:berlin:rain"));
        assert!(!like(b"weather", b"weather:berlin"));
    }

    #[test]
    fn comparisons_parse_and_compare() {
        let above = Comparison::parse(">").expect("parses");
        assert!(above.breached(2.0, 1.0) && !above.breached(1.0, 1.0));
        assert!(Comparison::parse("<=").expect("parses").breached(1.0, 1.0));
        assert_eq!(Comparison::parse("=="), None);
    }
}
