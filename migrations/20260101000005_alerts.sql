-- Alerting: the threshold rules operators maintain, every notification the pipeline emitted
-- (alerts.notifications), and the alerts they describe.

-- A rule watches the series whose id matches `series_pattern` (SQL LIKE, e.g. 'fx:USD:%') and
-- opens an alert when `value <comparison> threshold` has held for `duration_secs`.
CREATE TABLE alert_rules (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text             NOT NULL,
    series_pattern text             NOT NULL,
    comparison     text             NOT NULL CHECK (comparison IN ('>', '>=', '<', '<=')),
    threshold      double precision NOT NULL,
    duration_secs  bigint           NOT NULL DEFAULT 0 CHECK (duration_secs >= 0),
    severity       text             NOT NULL DEFAULT 'WARNING' CHECK (severity IN ('INFO', 'WARNING', 'CRITICAL')),
    enabled        boolean          NOT NULL DEFAULT true,
    created_at     timestamptz      NOT NULL DEFAULT now()
);

CREATE TABLE alert_notifications (
    notification_id text             PRIMARY KEY,
    alert_id        text             NOT NULL,
    dedupe_key      text             NOT NULL,
    rule_id         bigint,
    series_id       text             NOT NULL,
    tenant_id       text,
    transition      text             NOT NULL CHECK (transition IN ('OPENED', 'RESOLVED')),
    severity        text             NOT NULL,
    message         text             NOT NULL,
    value           double precision NOT NULL,
    score           double precision,
    occurred_at     timestamptz      NOT NULL
);
CREATE INDEX alert_notifications_alert ON alert_notifications (alert_id);

-- One row per alert: when it opened, and when (if) it resolved.
CREATE VIEW alerts AS
SELECT alert_id,
       min(dedupe_key)                                          AS dedupe_key,
       min(rule_id)                                             AS rule_id,
       min(series_id)                                           AS series_id,
       min(tenant_id)                                           AS tenant_id,
       min(severity)                                            AS severity,
       min(occurred_at) FILTER (WHERE transition = 'OPENED')    AS opened_at,
       max(occurred_at) FILTER (WHERE transition = 'RESOLVED')  AS resolved_at,
       CASE WHEN bool_or(transition = 'RESOLVED') THEN 'RESOLVED' ELSE 'OPEN' END AS state
FROM alert_notifications
GROUP BY alert_id;
