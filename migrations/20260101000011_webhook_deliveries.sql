-- Every webhook delivery's outcome, per (notification, endpoint): delivered, or failed after
-- its last attempt. Failed deliveries keep their payload, so nothing is dropped: an operator
-- can see and resend them. A notification consumed again is not sent again to an endpoint
-- that has an outcome here.
CREATE TABLE webhook_deliveries (
    notification_id  text        NOT NULL,
    endpoint         text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('DELIVERED', 'FAILED')),
    attempts         integer     NOT NULL CHECK (attempts >= 1),
    http_status      integer,
    last_error       text,
    payload          jsonb       NOT NULL,
    first_attempt_at timestamptz NOT NULL,
    finished_at      timestamptz NOT NULL,
    PRIMARY KEY (notification_id, endpoint)
);

CREATE INDEX webhook_deliveries_failed ON webhook_deliveries (finished_at) WHERE status = 'FAILED';
