//! [`RaiseAlerts`]: kpi.anomalies → alerts.notifications. Per dedupe key (`anomaly/<series>`
//! or `rule/<rule id>/<series>`) at most one alert is open. An alert opens when the condition
//! holds (for a rule, for at least its duration), resolves after `resolve_after` consecutive
//! normal points, and a key stays quiet for `cooldown` after resolving, so a flapping signal
//! cannot flood the notification topic. Alert and notification ids derive from the key and the
//! triggering point's time: a replay yields the same ids, which webhooks use as idempotency keys.
//!
//! A rule that is disabled, removed or no longer matches a series while it has an alert open
//! on it closes that alert at the series' next point (RESOLVED, saying why): nothing would
//! ever evaluate the rule's condition again, so the alert would otherwise stay open forever.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use signalcraft_model::{AlertNotification, AlertTransition, KpiAnomaly, Severity};

use super::rules::{AlertRule, RuleSet};
use crate::{ProcessError, Processor};

/// What [`RaiseAlerts`] is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct RaiseAlertsConfig {
    /// An anomaly score at or above this opens an anomaly alert. The default is the anomaly
    /// processor's flag threshold ([`crate::anomaly::DEFAULT_THRESHOLD`]): an alert opens on a
    /// flagged point, one threshold for both. A higher score trades missed anomalies for fewer
    /// false alerts; `cargo bench -p signalcraft-process --bench nab` prints, per open score, the
    /// alerts' NAB scores and their false alerts per series per week (README, "Benchmarks").
    pub open_score: f64,
    /// A score at or above this makes the anomaly alert CRITICAL rather than WARNING.
    pub critical_score: f64,
    /// Consecutive normal points that resolve an open alert.
    pub resolve_after: u32,
    /// After resolving, the same key opens no new alert for this long (event time).
    pub cooldown: TimeDelta,
    /// Keys tracked at most; beyond it the least recently seen key without an open alert is
    /// dropped, so memory stays bounded.
    pub max_keys: usize,
}

impl Default for RaiseAlertsConfig {
    fn default() -> Self {
        RaiseAlertsConfig {
            open_score: crate::anomaly::DEFAULT_THRESHOLD,
            critical_score: 0.99,
            resolve_after: 3,
            cooldown: TimeDelta::hours(1),
            max_keys: 100_000,
        }
    }
}

#[derive(Debug)]
struct OpenAlert {
    alert_id: String,
    severity: Severity,
    rule_id: Option<i64>,
    normal_streak: u32,
}

#[derive(Debug, Default)]
struct KeyState {
    open: Option<OpenAlert>,
    breach_since: Option<DateTime<Utc>>,
    last_resolved: Option<DateTime<Utc>>,
    last_seen: u64,
}

/// The condition one key is evaluated on at one point.
struct Condition<'a> {
    key: String,
    rule: Option<&'a AlertRule>,
    abnormal: bool,
    severity: Severity,
    hold_for: TimeDelta,
}

/// Opens and resolves alerts from anomaly scores and threshold rules.
pub struct RaiseAlerts {
    config: RaiseAlertsConfig,
    rules: RuleSet,
    keys: HashMap<String, KeyState>,
    /// Per series, the rules with an alert open on it: checked at each of its points against
    /// the rules that still apply, so an alert outlives no rule.
    open_rules: HashMap<String, Vec<i64>>,
    clock: u64,
    /// When the input in hand was appended to kpi.anomalies: the rules in force then apply.
    input_appended_at: Option<DateTime<Utc>>,
}

impl RaiseAlerts {
    pub fn new(config: RaiseAlertsConfig, rules: RuleSet) -> Self {
        RaiseAlerts {
            config,
            rules,
            keys: HashMap::new(),
            open_rules: HashMap::new(),
            clock: 0,
            input_appended_at: None,
        }
    }

    /// Restores the alerts' state from the notifications already issued — the latest one per
    /// dedupe key, e.g. from the `alert_notifications` table — so a restarted processor neither
    /// opens a second alert for a condition that is still open nor ignores the cooldown after a
    /// recent resolution. An OPENED key is open again (its alert id kept, so the resolution
    /// names it); a RESOLVED key starts its cooldown at the resolution. Notifications of one key
    /// are applied in time order; the most recent `max_keys` keys are kept.
    ///
    /// What the notifications cannot say is restored as the safest guess: the normal streak of
    /// an open alert starts at 0, so it resolves after `resolve_after` normal points from here.
    pub fn restore(&mut self, mut issued: Vec<AlertNotification>) {
        issued.sort_by(|a, b| a.occurred_at.cmp(&b.occurred_at).then_with(|| a.dedupe_key.cmp(&b.dedupe_key)));
        for notification in issued {
            self.clock += 1;
            if !self.keys.contains_key(&notification.dedupe_key) {
                self.evict_if_full();
            }
            let state = self.keys.entry(notification.dedupe_key).or_default();
            state.last_seen = self.clock;
            if let Some(rule_id) = notification.rule_id {
                let opened = notification.transition == AlertTransition::Opened;
                note_rule_alert(&mut self.open_rules, &notification.series_id, rule_id, opened);
            }
            match notification.transition {
                AlertTransition::Opened => {
                    state.breach_since = Some(notification.occurred_at);
                    state.open = Some(OpenAlert {
                        alert_id: notification.alert_id,
                        severity: notification.severity,
                        rule_id: notification.rule_id,
                        normal_streak: 0,
                    });
                }
                AlertTransition::Resolved => {
                    state.breach_since = None;
                    state.open = None;
                    state.last_resolved = Some(notification.occurred_at);
                }
            }
        }
    }

    /// Keys tracked at most (see [`RaiseAlertsConfig::max_keys`]).
    pub fn max_keys(&self) -> usize {
        self.config.max_keys
    }

    /// Keys currently holding an open alert.
    pub fn open_alerts(&self) -> usize {
        self.keys.values().filter(|state| state.open.is_some()).count()
    }

    fn evict_if_full(&mut self) {
        if self.keys.len() < self.config.max_keys {
            return;
        }
        let idle = self.keys.iter().filter(|(_, s)| s.open.is_none()).min_by_key(|(_, s)| s.last_seen);
        if let Some(key) = idle.map(|(key, _)| key.clone()) {
            self.keys.remove(&key);
        }
    }

    fn evaluate(&mut self, condition: Condition<'_>, point: &KpiAnomaly, out: &mut Vec<AlertNotification>) {
        self.clock += 1;
        if !self.keys.contains_key(&condition.key) {
            self.evict_if_full();
        }
        let config = &self.config;
        let state = self.keys.entry(condition.key.clone()).or_default();
        state.last_seen = self.clock;
        if condition.abnormal {
            let since = *state.breach_since.get_or_insert(point.ts);
            if let Some(open) = &mut state.open {
                open.normal_streak = 0;
                return;
            }
            let held = point.ts - since >= condition.hold_for;
            let cooling = state.last_resolved.is_some_and(|resolved| point.ts - resolved < config.cooldown);
            if !held || cooling {
                return;
            }
            let alert_id = stable_id(&[&condition.key, &point.ts.timestamp_micros().to_string()]);
            let message = match condition.rule {
                Some(rule) => format!(
                    "{}: {} is {} {} {} since {}",
                    rule.name,
                    point.series_id,
                    point.value,
                    rule.comparison.symbol(),
                    rule.threshold,
                    since.to_rfc3339()
                ),
                None => format!("{}: anomaly score {:.3} at value {}", point.series_id, point.score, point.value),
            };
            out.push(notification(&condition, &alert_id, AlertTransition::Opened, condition.severity, message, point));
            if let Some(rule) = condition.rule {
                note_rule_alert(&mut self.open_rules, &point.series_id, rule.id, true);
            }
            state.open = Some(OpenAlert {
                alert_id,
                severity: condition.severity,
                rule_id: condition.rule.map(|r| r.id),
                normal_streak: 0,
            });
        } else {
            state.breach_since = None;
            let Some(open) = &mut state.open else { return };
            open.normal_streak += 1;
            if open.normal_streak < config.resolve_after {
                return;
            }
            let message = format!("{}: back to normal at value {}", point.series_id, point.value);
            let resolved = Condition { rule: None, ..condition };
            let mut resolution =
                notification(&resolved, &open.alert_id, AlertTransition::Resolved, open.severity, message, point);
            resolution.rule_id = open.rule_id;
            out.push(resolution);
            if let Some(rule_id) = open.rule_id {
                note_rule_alert(&mut self.open_rules, &point.series_id, rule_id, false);
            }
            state.open = None;
            state.last_resolved = Some(point.ts);
        }
    }

    /// Resolves the alerts open on `point`'s series under rules not in `applying` (the ids of
    /// the current rules that match it): disabled, removed or re-pointed since they opened.
    fn retire_rules(&mut self, applying: &[i64], point: &KpiAnomaly, out: &mut Vec<AlertNotification>) {
        let Some(open) = self.open_rules.get(&point.series_id) else { return };
        let retired: Vec<i64> = open.iter().copied().filter(|id| !applying.contains(id)).collect();
        for rule_id in retired {
            note_rule_alert(&mut self.open_rules, &point.series_id, rule_id, false);
            let key = format!("rule/{rule_id}/{}", point.series_id);
            let Some(state) = self.keys.get_mut(&key) else { continue };
            let Some(open) = state.open.take() else { continue };
            let condition =
                Condition { key, rule: None, abnormal: false, severity: open.severity, hold_for: TimeDelta::zero() };
            let message = format!(
                "{}: rule #{rule_id} no longer applies (disabled, removed or changed); alert closed at value {}",
                point.series_id, point.value
            );
            let mut resolution =
                notification(&condition, &open.alert_id, AlertTransition::Resolved, open.severity, message, point);
            resolution.rule_id = Some(rule_id);
            out.push(resolution);
            state.breach_since = None;
            state.last_resolved = Some(point.ts);
        }
    }
}

/// Records in `open_rules` that rule `rule_id` has (`open`) or no longer has an alert open on
/// `series_id`.
fn note_rule_alert(open_rules: &mut HashMap<String, Vec<i64>>, series_id: &str, rule_id: i64, open: bool) {
    if open {
        let ids = open_rules.entry(series_id.to_string()).or_default();
        if !ids.contains(&rule_id) {
            ids.push(rule_id);
        }
    } else if let Some(ids) = open_rules.get_mut(series_id) {
        ids.retain(|&id| id != rule_id);
        if ids.is_empty() {
            open_rules.remove(series_id);
        }
    }
}

fn notification(
    condition: &Condition<'_>,
    alert_id: &str,
    transition: AlertTransition,
    severity: Severity,
    message: String,
    point: &KpiAnomaly,
) -> AlertNotification {
    let transition_name = match transition {
        AlertTransition::Opened => "OPENED",
        AlertTransition::Resolved => "RESOLVED",
    };
    AlertNotification {
        notification_id: stable_id(&[alert_id, transition_name]),
        alert_id: alert_id.to_string(),
        dedupe_key: condition.key.clone(),
        rule_id: condition.rule.map(|r| r.id),
        series_id: point.series_id.clone(),
        tenant_id: point.tenant_id.clone(),
        transition,
        severity,
        message,
        value: point.value,
        score: Some(point.score),
        occurred_at: point.ts,
    }
}

/// A 128-bit id from FNV-1a over the parts, as 32 hex digits. FNV is fixed by its spec, so ids
/// stay the same across builds and Rust versions (std's hasher makes no such promise).
fn stable_id(parts: &[&str]) -> String {
    let mut low: u64 = 0xcbf2_9ce4_8422_2325;
    let mut high: u64 = 0x84222325_cbf29ce4;
    for part in parts {
        for &byte in part.as_bytes().iter().chain(std::iter::once(&0x1f)) {
            low = (low ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
            high = (high ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(7);
        }
    }
    format!("{high:016x}{low:016x}")
}

impl Processor for RaiseAlerts {
    type Input = KpiAnomaly;
    type Output = AlertNotification;

    fn name(&self) -> &'static str {
        "alerting"
    }

    fn note_input_time(&mut self, appended_at: Option<DateTime<Utc>>) {
        self.input_appended_at = appended_at;
    }

    fn process(&mut self, point: KpiAnomaly) -> Result<Vec<AlertNotification>, ProcessError> {
        if !point.value.is_finite() || !point.score.is_finite() {
            return Err(ProcessError(format!("{} at {}: value and score must be finite", point.series_id, point.ts)));
        }
        let mut out = Vec::new();
        let severity = if point.score >= self.config.critical_score { Severity::Critical } else { Severity::Warning };
        let anomaly = Condition {
            key: format!("anomaly/{}", point.series_id),
            rule: None,
            abnormal: point.score >= self.config.open_score,
            severity,
            hold_for: TimeDelta::zero(),
        };
        self.evaluate(anomaly, &point, &mut out);
        let known = self.rules.known();
        let mut applying = Vec::new();
        for rule in known
            .in_force_at(self.input_appended_at)
            .filter(|rule| rule.matches(point.tenant_id.as_deref(), &point.series_id))
        {
            applying.push(rule.id);
            let condition = Condition {
                key: format!("rule/{}/{}", rule.id, point.series_id),
                rule: Some(rule),
                abnormal: rule.comparison.breached(point.value, rule.threshold),
                severity: rule.severity,
                hold_for: rule.duration,
            };
            self.evaluate(condition, &point, &mut out);
        }
        if self.open_rules.contains_key(&point.series_id) {
            self.retire_rules(&applying, &point, &mut out);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::alerting::{Comparison, RuleVersion};

    fn point(minute: i64, value: f64, score: f64) -> KpiAnomaly {
        KpiAnomaly {
            series_id: "test:load".into(),
            tenant_id: Some("acme".into()),
            ts: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single().expect("instant") + TimeDelta::minutes(minute),
            value,
            score,
            is_anomaly: score >= 0.9,
            detector: "test".into(),
        }
    }

    fn rule(duration_minutes: i64) -> AlertRule {
        AlertRule {
            id: 7,
            name: "load too high".into(),
            series_pattern: "test:%".into(),
            comparison: Comparison::Above,
            threshold: 100.0,
            duration: TimeDelta::minutes(duration_minutes),
            severity: Severity::Critical,
            tenant_id: None,
        }
    }

    fn run(alerts: &mut RaiseAlerts, points: &[KpiAnomaly]) -> Vec<AlertNotification> {
        points.iter().flat_map(|p| alerts.process(p.clone()).expect("processes")).collect()
    }

    #[test]
    fn a_spike_opens_one_alert_and_its_end_resolves_it() {
        let mut alerts = RaiseAlerts::new(RaiseAlertsConfig::default(), RuleSet::default());
        let mut points: Vec<KpiAnomaly> = (0..10).map(|m| point(m, 10.0, 0.1)).collect();
        points.extend((10..13).map(|m| point(m, 500.0, 0.995)));
        points.extend((13..20).map(|m| point(m, 10.0, 0.2)));
        let notes = run(&mut alerts, &points);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert_eq!((notes[0].transition, notes[0].severity), (AlertTransition::Opened, Severity::Critical));
        assert_eq!(notes[0].occurred_at, points[10].ts);
        assert_eq!(notes[1].transition, AlertTransition::Resolved);
        assert_eq!(notes[1].occurred_at, points[15].ts, "resolved on the third normal point");
        assert_eq!(notes[0].alert_id, notes[1].alert_id);
        assert_ne!(notes[0].notification_id, notes[1].notification_id);
        // Replaying the same input yields the same ids.
        let again = run(&mut RaiseAlerts::new(RaiseAlertsConfig::default(), RuleSet::default()), &points);
        assert_eq!(again, notes);
    }

    #[test]
    fn by_default_an_alert_opens_on_a_flagged_point_and_not_below_the_flag() {
        // One threshold for the flag and the alert: a point the anomaly processor flags opens an
        // alert, a point just under the flag does not.
        let flag = crate::anomaly::DEFAULT_THRESHOLD;
        let mut below = RaiseAlerts::new(RaiseAlertsConfig::default(), RuleSet::default());
        assert_eq!(run(&mut below, &[point(0, 10.0, 0.1), point(1, 50.0, flag - 1e-6)]), []);
        let mut at = RaiseAlerts::new(RaiseAlertsConfig::default(), RuleSet::default());
        let notes = run(&mut at, &[point(0, 10.0, 0.1), point(1, 50.0, flag)]);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!((notes[0].transition, notes[0].severity), (AlertTransition::Opened, Severity::Warning));
    }

    #[test]
    fn a_restarted_processor_restored_from_its_notifications_continues_the_alert() {
        let mut points: Vec<KpiAnomaly> = (0..10).map(|m| point(m, 10.0, 0.1)).collect();
        points.extend((10..14).map(|m| point(m, 500.0, 0.995)));
        points.extend((14..20).map(|m| point(m, 10.0, 0.2)));
        let uninterrupted = run(&mut RaiseAlerts::new(RaiseAlertsConfig::default(), RuleSet::default()), &points);

        // Stopped after the alert opened (point 12): a fresh processor restored from what was
        // issued so far neither opens it again nor loses it, and resolves it under its own id.
        let restart = 12;
        let mut first = RaiseAlerts::new(RaiseAlertsConfig::default(), RuleSet::default());
        let issued = run(&mut first, &points[..restart]);
        assert_eq!(issued.len(), 1);
        let mut restored = RaiseAlerts::new(RaiseAlertsConfig::default(), RuleSet::default());
        restored.restore(issued.clone());
        assert_eq!(restored.open_alerts(), 1);
        let after = run(&mut restored, &points[restart..]);
        assert_eq!([issued, after.clone()].concat(), uninterrupted);

        // Without restoring, the same points open a second alert.
        let fresh = run(&mut RaiseAlerts::new(RaiseAlertsConfig::default(), RuleSet::default()), &points[restart..]);
        assert_eq!(fresh.iter().filter(|n| n.transition == AlertTransition::Opened).count(), 1);
        assert_ne!(fresh[0].alert_id, after[0].alert_id);
    }

    #[test]
    fn a_restored_resolution_keeps_its_cooldown() {
        let mut points = vec![point(0, 500.0, 0.95)];
        points.extend((1..4).map(|m| point(m, 10.0, 0.1)));
        let issued = run(&mut RaiseAlerts::new(RaiseAlertsConfig::default(), RuleSet::default()), &points);
        assert_eq!(issued.last().map(|n| n.transition), Some(AlertTransition::Resolved));
        let mut restored = RaiseAlerts::new(RaiseAlertsConfig::default(), RuleSet::default());
        restored.restore(issued);
        assert_eq!(restored.open_alerts(), 0);
        // A new spike 10 minutes later is inside the hour's cooldown: no alert; after it, one.
        assert!(run(&mut restored, &[point(10, 500.0, 0.99)]).is_empty());
        let later = run(&mut restored, &[point(90, 10.0, 0.1), point(91, 500.0, 0.99)]);
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].transition, AlertTransition::Opened);
    }

    #[test]
    fn the_cooldown_keeps_a_flapping_signal_to_one_alert() {
        let mut alerts = RaiseAlerts::new(RaiseAlertsConfig::default(), RuleSet::default());
        let mut points = Vec::new();
        for cycle in 0..5 {
            let start = cycle * 6;
            points.push(point(start, 500.0, 0.95));
            points.extend((start + 1..start + 6).map(|m| point(m, 10.0, 0.1)));
        }
        let notes = run(&mut alerts, &points);
        let opened = notes.iter().filter(|n| n.transition == AlertTransition::Opened).count();
        assert_eq!(opened, 1, "{notes:?}");
    }

    #[test]
    fn a_rule_opens_only_after_its_duration_and_names_itself() {
        let mut alerts = RaiseAlerts::new(RaiseAlertsConfig::default(), RuleSet::new(vec![rule(10)]));
        let mut points: Vec<KpiAnomaly> = (0..15).map(|m| point(m, 150.0, 0.1)).collect();
        points.extend((15..20).map(|m| point(m, 50.0, 0.1)));
        let notes = run(&mut alerts, &points);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert_eq!(notes[0].dedupe_key, "rule/7/test:load");
        assert_eq!(notes[0].rule_id, Some(7));
        assert_eq!(notes[0].occurred_at, points[10].ts, "opened once the breach lasted 10 minutes");
        assert!(notes[0].message.starts_with("load too high: test:load is 150 > 100"), "{}", notes[0].message);
        assert_eq!((notes[1].transition, notes[1].rule_id), (AlertTransition::Resolved, Some(7)));
    }

    #[test]
    fn an_alert_whose_rule_is_disabled_resolves_at_the_next_point_and_stays_closed() {
        let rules = RuleSet::new(vec![rule(0)]);
        let mut alerts = RaiseAlerts::new(RaiseAlertsConfig::default(), rules.clone());
        let opened = run(&mut alerts, &[point(0, 150.0, 0.1), point(1, 160.0, 0.1)]);
        assert_eq!(opened.len(), 1, "{opened:?}");
        assert_eq!(alerts.open_alerts(), 1);

        // The operator disables the rule (the reload swaps in a list without it) while the
        // series is still above the threshold: the alert closes at once, naming the rule.
        rules.replace(Vec::new());
        let closed = run(&mut alerts, &[point(2, 170.0, 0.1)]);
        assert_eq!(closed.len(), 1, "{closed:?}");
        assert_eq!((closed[0].transition, closed[0].rule_id), (AlertTransition::Resolved, Some(7)));
        assert_eq!(closed[0].alert_id, opened[0].alert_id);
        assert!(closed[0].message.contains("rule #7 no longer applies"), "{}", closed[0].message);
        assert_eq!(alerts.open_alerts(), 0);
        assert!(run(&mut alerts, &[point(3, 180.0, 0.1), point(4, 10.0, 0.1)]).is_empty());

        // The same after a restart: a restored open alert of a rule that is gone closes too.
        let mut restored = RaiseAlerts::new(RaiseAlertsConfig::default(), RuleSet::default());
        restored.restore(opened.clone());
        let closed_after_restart = run(&mut restored, &[point(2, 170.0, 0.1)]);
        assert_eq!(closed_after_restart, closed);
    }

    /// Alerts of `points`, each appended at its own `ts` plus `appended_after`.
    fn run_appended(alerts: &mut RaiseAlerts, points: &[KpiAnomaly]) -> Vec<AlertNotification> {
        points
            .iter()
            .flat_map(|p| {
                alerts.note_input_time(Some(p.ts));
                alerts.process(p.clone()).expect("processes")
            })
            .collect()
    }

    #[test]
    fn each_input_meets_the_rules_in_force_when_it_was_appended() {
        let added = point(10, 0.0, 0.0).ts;
        let disabled = point(20, 0.0, 0.0).ts;
        let versions = vec![RuleVersion { rule: rule(0), valid_from: Some(added), valid_until: Some(disabled) }];
        let rules = RuleSet::default();
        rules.replace_history(versions, point(30, 0.0, 0.0).ts);
        let mut alerts = RaiseAlerts::new(RaiseAlertsConfig::default(), rules);
        // Above the threshold throughout: before the rule, while it is in force, after.
        let points: Vec<KpiAnomaly> = (0..30).map(|m| point(m, 150.0, 0.1)).collect();
        let notes = run_appended(&mut alerts, &points);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert_eq!((notes[0].transition, notes[0].occurred_at), (AlertTransition::Opened, added));
        assert_eq!((notes[1].transition, notes[1].occurred_at), (AlertTransition::Resolved, disabled));
        assert!(notes[1].message.contains("rule #7 no longer applies"), "{}", notes[1].message);
    }

    #[test]
    fn the_same_inputs_give_the_same_alerts_however_late_the_rules_were_read() {
        let points: Vec<KpiAnomaly> = (0..40).map(|m| point(m, if m % 10 < 5 { 150.0 } else { 50.0 }, 0.1)).collect();
        let added = points[12].ts;
        let version = RuleVersion { rule: rule(2), valid_from: Some(added), valid_until: None };
        // Live: the rules are read as the inputs come, the rule turning up once it exists.
        let live_rules = RuleSet::default();
        let mut live = RaiseAlerts::new(RaiseAlertsConfig::default(), live_rules.clone());
        let mut live_notes = Vec::new();
        for p in &points {
            let known = if p.ts >= added { vec![version.clone()] } else { Vec::new() };
            live_rules.replace_history(known, p.ts);
            live_notes.extend(run_appended(&mut live, std::slice::from_ref(p)));
        }
        // A replay long after: every version known from the start.
        let late_rules = RuleSet::default();
        late_rules.replace_history(vec![version], points[39].ts + TimeDelta::days(30));
        let replayed = run_appended(&mut RaiseAlerts::new(RaiseAlertsConfig::default(), late_rules), &points);
        assert_eq!(replayed, live_notes);
        assert!(replayed.iter().all(|n| n.occurred_at >= added), "no alert before the rule existed: {replayed:?}");
        // The breach from minute 12 lasts the rule's two minutes; then the hour's cooldown.
        assert_eq!(replayed.len(), 2, "{replayed:?}");
        assert_eq!((replayed[0].transition, replayed[0].occurred_at), (AlertTransition::Opened, points[14].ts));
    }

    #[test]
    fn tracked_keys_stay_bounded() {
        let config = RaiseAlertsConfig { max_keys: 10, ..RaiseAlertsConfig::default() };
        let mut alerts = RaiseAlerts::new(config, RuleSet::default());
        for i in 0..100 {
            let mut p = point(i, 1.0, 0.1);
            p.series_id = format!("test:{i}");
            alerts.process(p).expect("processes");
        }
        assert!(alerts.keys.len() <= 10);
    }

    #[test]
    fn ids_are_stable_across_builds() {
        // Golden values: ids already stored in alert_notifications and sent as webhook
        // idempotency keys must come out the same from every later build.
        assert_eq!(stable_id(&["anomaly/test:load", "1704067800000000"]), "17110f5b7d844de384aef381dde6b41a");
        assert_eq!(stable_id(&["a"]), "6ec440ebc030fcb6089be907b544fdc9");
        assert_ne!(stable_id(&["ab", "c"]), stable_id(&["a", "bc"]), "parts are separated");
    }
}
