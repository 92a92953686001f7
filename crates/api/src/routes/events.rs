//! `GET …/events`: Server-Sent Events of the tenant's new points, flagged anomalies and alerts
//! opened or resolved, as the sink commits them.
//!
//! Triggers write each event into `tenant_events` in the sink's own transaction and NOTIFY
//! `signalcraft_events`; one listener per process ([`listen`]) wakes every stream, and each
//! stream reads the events after its position in its own tenant-walled transaction. Positions
//! are `(xid, id)`, read only below the oldest transaction of this database still running
//! (`signalcraft_events_horizon()`, migration 19), so an event that commits late can never
//! sort before one already sent: a client that reconnects with
//! `Last-Event-ID` misses nothing still kept (`api.events_retention_hours`). Without it, a
//! stream starts at the present. Streams end at shutdown (a browser's EventSource reconnects
//! to whichever server answers next).

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::State,
    http::HeaderMap,
    response::sse::{Event, KeepAlive, Sse},
};
use chrono::{DateTime, Utc};
use futures::{stream, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use sqlx::{postgres::PgListener, PgPool};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use utoipa::{IntoParams, ToSchema};

use crate::{
    access::{self, DbRole},
    auth::{Caller, Scope},
    params::{ApiPath, ApiQuery},
    problem::Problem,
    routes::series::TenantPath,
    state::ApiState,
};

/// The channel the triggers notify.
pub const CHANNEL: &str = "signalcraft_events";
/// Most events one read sends.
const BATCH: i64 = 500;

/// `GET …/events` options.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Also stream events of public series (exchange rates, brand scores).
    pub include_public: Option<bool>,
    /// The bearer token, for clients that cannot send headers (a browser's `EventSource`).
    pub access_token: Option<String>,
}

/// One event's `data`.
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct EventOut {
    /// `points`, `anomaly`, `alert_opened` or `alert_resolved` (also the SSE event name).
    pub kind: String,
    pub series_id: String,
    /// Null for a public series.
    pub tenant_id: Option<String>,
    /// When the sink committed it.
    pub at: DateTime<Utc>,
    /// `points`: the newest point (`ts`, `value`, `metric`, `unit`) and how many arrived;
    /// `anomaly`: `ts`, `value`, `score`, `detector`; alerts: `alert_id`, `rule_id`,
    /// `severity`, `message`, `value`, `score`, `occurred_at`.
    #[schema(value_type = Object)]
    pub data: sqlx::types::Json<serde_json::Value>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    xid: String,
    id: i64,
    #[sqlx(flatten)]
    event: EventOut,
}

/// A stream's position: the last event sent, as `<xid>-<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    xid: u64,
    id: i64,
}

impl Position {
    fn parse(text: &str) -> Result<Position, Problem> {
        let refused = || Problem::bad_request("Last-Event-ID: not an event id this API sent (`<xid>-<id>`)");
        let (xid, id) = text.trim().split_once('-').ok_or_else(refused)?;
        Ok(Position { xid: xid.parse().map_err(|_| refused())?, id: id.parse().map_err(|_| refused())? })
    }

    fn event_id(&self) -> String {
        format!("{}-{}", self.xid, self.id)
    }
}

/// The tenant's events as they commit.
#[utoipa::path(
    get, path = "/tenants/{tenant}/events", tag = "events",
    params(TenantPath, EventsQuery,
           ("Last-Event-ID" = Option<String>, Header, description = "resume after this event")),
    responses(
        (status = 200, description = "an event stream; each event's data is an EventOut",
         content_type = "text/event-stream", body = EventOut),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn events(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(path): ApiPath<TenantPath>,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    let scope = caller.read_scope(&state, &path.tenant)?;
    let include_public = query.include_public.unwrap_or(false);
    let position = match headers.get("last-event-id") {
        Some(value) => {
            let position =
                Position::parse(value.to_str().map_err(|_| Problem::bad_request("Last-Event-ID: not text"))?)?;
            check_sent(&state, &scope, &position).await?;
            position
        }
        None => present(&state, &scope).await?,
    };
    let reader = EventReader { state: state.clone(), scope, include_public, wake: state.events(), position };
    let events = stream::unfold(reader, |mut reader| async move {
        let batch = reader.next_batch().await;
        Some((stream::iter(batch.into_iter().map(Ok)), reader))
    })
    .flatten()
    // Ends at shutdown: the server's graceful stop waits for every response to finish.
    .take_until(state.streams_end().clone().cancelled_owned());
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Where a new stream starts: every transaction that could still add events is at or after it.
async fn present(state: &ApiState, scope: &Scope) -> Result<Position, Problem> {
    let mut transaction = access::begin(state.pool(), scope, DbRole::Reader).await?;
    let horizon: String = sqlx::query_scalar("SELECT signalcraft_events_horizon()::text")
        .fetch_one(&mut *transaction)
        .await
        .map_err(|error| Problem::database(error, "reading the present position"))?;
    let xid = horizon.parse().map_err(|_| Problem::bad_request("the database gave an unreadable transaction id"))?;
    // (horizon, 0): events of the horizon itself and every later transaction are still to come.
    Ok(Position { xid, id: 0 })
}

/// 400 for a position no stream of this database could have sent: one of a transaction not yet
/// begun (from another database, or made up), which would silently hold back every event until
/// the server's transactions caught up with it.
async fn check_sent(state: &ApiState, scope: &Scope, position: &Position) -> Result<(), Problem> {
    let mut transaction = access::begin(state.pool(), scope, DbRole::Reader).await?;
    let sent: bool = sqlx::query_scalar("SELECT $1::text::xid8 < pg_snapshot_xmax(pg_current_snapshot())")
        .bind(position.xid.to_string())
        .fetch_one(&mut *transaction)
        .await
        .map_err(|error| Problem::database(error, "checking Last-Event-ID"))?;
    if sent {
        Ok(())
    } else {
        Err(Problem::bad_request("Last-Event-ID: not an event id this API sent (its transaction has not begun)"))
    }
}

/// One stream's reading side.
struct EventReader {
    state: ApiState,
    scope: Scope,
    include_public: bool,
    wake: watch::Receiver<u64>,
    position: Position,
}

impl EventReader {
    /// The next events after the position, waiting for a notification (or the poll interval)
    /// while there are none.
    async fn next_batch(&mut self) -> Vec<Event> {
        loop {
            // Marked seen before reading: a notification arriving during the read wakes the next wait.
            self.wake.borrow_and_update();
            match self.read().await {
                Ok(rows) if !rows.is_empty() => return rows,
                Ok(_) => {}
                Err(problem) => {
                    tracing::warn!(detail = ?problem.detail, tenant = %self.scope.tenant, "events stream: read failed; retrying");
                }
            }
            let poll = self.state.events_poll();
            // Once the listener has stopped (shutdown), `changed` fails at once: wait out the
            // poll interval instead of reading in a tight loop.
            if let Ok(Err(_)) = tokio::time::timeout(poll, self.wake.changed()).await {
                tokio::time::sleep(poll).await;
            }
        }
    }

    async fn read(&mut self) -> Result<Vec<Event>, Problem> {
        let mut transaction = access::begin(self.state.pool(), &self.scope, DbRole::Reader).await?;
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT xid::text AS xid, id, kind, series_id, tenant_id, at, data FROM tenant_events \
             WHERE (tenant_id = $1 OR ($2 AND tenant_id IS NULL)) \
               AND (xid, id) > ($3::text::xid8, $4) \
               AND xid < (SELECT signalcraft_events_horizon()) \
             ORDER BY xid, id LIMIT $5",
        )
        .bind(self.scope.tenant.as_str())
        .bind(self.include_public)
        .bind(self.position.xid.to_string())
        .bind(self.position.id)
        .bind(BATCH)
        .fetch_all(&mut *transaction)
        .await
        .map_err(|error| Problem::database(error, "reading events"))?;
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let Ok(xid) = row.xid.parse() else { continue };
            self.position = Position { xid, id: row.id };
            let event =
                Event::default().id(self.position.event_id()).event(row.event.kind.clone()).json_data(&row.event);
            match event {
                Ok(event) => events.push(event),
                Err(error) => tracing::warn!(%error, "events stream: an event could not be encoded"),
            }
        }
        Ok(events)
    }
}

/// Listens on [`CHANNEL`] and bumps `wake` on every notification, until `shutdown`. A lost
/// connection is reopened (streams poll meanwhile).
pub async fn listen(pool: PgPool, wake: watch::Sender<u64>, shutdown: CancellationToken) {
    let mut delay = Duration::from_millis(200);
    while !shutdown.is_cancelled() {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match listener.await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "events listener: cannot LISTEN; streams poll until it can");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        delay = Duration::from_millis(200);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                received = listener.try_recv() => match received {
                    Ok(Some(_)) => { wake.send_modify(|count| *count = count.wrapping_add(1)); }
                    // The connection was lost: notifications in between are gone; wake the streams to look.
                    Ok(None) => { wake.send_modify(|count| *count = count.wrapping_add(1)); }
                    Err(error) => {
                        tracing::warn!(%error, "events listener: connection failed; reconnecting");
                        break;
                    }
                },
            }
        }
    }
}

/// Deletes events older than `retention`, every minute, until `shutdown`; also lets the rate
/// limiter forget idle callers. Runs on the pipeline's own pool (the table's owner).
pub async fn maintain(owner: PgPool, state: ApiState, retention_hours: u32, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        state.forget_idle_callers();
        let pruned = sqlx::query("DELETE FROM tenant_events WHERE at < now() - make_interval(hours => $1)")
            .bind(i32::try_from(retention_hours).unwrap_or(i32::MAX))
            .execute(&owner)
            .await;
        match pruned {
            Ok(done) if done.rows_affected() > 0 => {
                tracing::debug!(events = done.rows_affected(), "pruned events past their retention")
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "pruning old events failed; retrying in a minute"),
        }
    }
}
