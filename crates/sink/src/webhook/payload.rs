//! The JSON body a webhook receiver gets: the notification's fields, its instant as RFC 3339.
//! Its own type, so the wire shape is visible in one place and does not follow the Avro record
//! by accident.

use chrono::{DateTime, Utc};
use serde::Serialize;
use signalcraft_model::{AlertNotification, AlertTransition, Severity};

/// The body POSTed: the notification, its instant as RFC 3339.
#[derive(Debug, Serialize)]
pub(super) struct Payload<'a> {
    notification_id: &'a str,
    alert_id: &'a str,
    dedupe_key: &'a str,
    rule_id: Option<i64>,
    series_id: &'a str,
    tenant_id: Option<&'a str>,
    transition: AlertTransition,
    severity: Severity,
    message: &'a str,
    value: f64,
    score: Option<f64>,
    occurred_at: DateTime<Utc>,
}

impl<'a> From<&'a AlertNotification> for Payload<'a> {
    fn from(n: &'a AlertNotification) -> Self {
        Payload {
            notification_id: &n.notification_id,
            alert_id: &n.alert_id,
            dedupe_key: &n.dedupe_key,
            rule_id: n.rule_id,
            series_id: &n.series_id,
            tenant_id: n.tenant_id.as_deref(),
            transition: n.transition,
            severity: n.severity,
            message: &n.message,
            value: n.value,
            score: n.score,
            occurred_at: n.occurred_at,
        }
    }
}
