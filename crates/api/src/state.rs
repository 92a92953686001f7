//! What every handler shares: the API's database pool, the token signer, the per-caller rate
//! limiter, and the wake-up signal of the live event streams.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};
use signalcraft_kafka::RecordProducer;
use signalcraft_model::Plausibility;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{auth::TokenSigner, config::ApiConfig, problem::Problem};

/// Cheap to clone.
#[derive(Clone)]
pub struct ApiState(Arc<Inner>);

/// Where pushed KPI values go: raw.kpi, through the process's producer, checked against that
/// topic's plausibility window first.
#[derive(Clone)]
pub struct Intake {
    pub producer: RecordProducer,
    pub window: Plausibility,
}

struct Inner {
    pool: PgPool,
    signer: TokenSigner,
    limiter: DefaultKeyedRateLimiter<String>,
    /// Bumped whenever PostgreSQL notifies `signalcraft_events`.
    events: watch::Receiver<u64>,
    events_poll: Duration,
    /// Cancelled at shutdown: event streams end, so a graceful stop does not wait on them.
    streams_end: CancellationToken,
    check_tenant_in_handler: bool,
    intake: Option<Intake>,
    max_upload_bytes: u64,
}

impl ApiState {
    /// State over `pool` (a login granted `signalcraft_reader` and `signalcraft_editor`), with
    /// `signer`, limits from `config`, and `events` bumped on every notification.
    pub fn new(pool: PgPool, signer: TokenSigner, config: &ApiConfig, events: watch::Receiver<u64>) -> ApiState {
        ApiState::with_intake(pool, signer, config, events, None, CancellationToken::new())
    }

    /// [`ApiState::new`], taking pushed KPI values to `intake` (without one, pushes get 503),
    /// and ending every event stream when `shutdown` is cancelled (an open stream would
    /// otherwise hold a graceful shutdown of the server forever).
    pub fn with_intake(
        pool: PgPool,
        signer: TokenSigner,
        config: &ApiConfig,
        events: watch::Receiver<u64>,
        intake: Option<Intake>,
        shutdown: CancellationToken,
    ) -> ApiState {
        let per_minute = NonZeroU32::new(config.requests_per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.burst).unwrap_or(NonZeroU32::MIN);
        ApiState(Arc::new(Inner {
            pool,
            signer,
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            events,
            events_poll: Duration::from_millis(config.events_poll_ms),
            streams_end: shutdown,
            check_tenant_in_handler: true,
            intake,
            max_upload_bytes: config.max_upload_bytes,
        }))
    }

    /// The same state with the handlers' own tenant check off: only row-level security stands
    /// between tenants. For the test that shows the database's wall holds alone.
    #[cfg(feature = "test-switches")]
    pub fn without_handler_tenant_check(mut self) -> ApiState {
        match Arc::get_mut(&mut self.0) {
            Some(inner) => inner.check_tenant_in_handler = false,
            None => panic!("without_handler_tenant_check: call it before the state is shared"),
        }
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.0.pool
    }

    pub fn signer(&self) -> &TokenSigner {
        &self.0.signer
    }

    pub fn checks_tenant_in_handler(&self) -> bool {
        self.0.check_tenant_in_handler
    }

    /// Where pushed KPI values go, if this process has a producer.
    pub fn intake(&self) -> Option<&Intake> {
        self.0.intake.as_ref()
    }

    /// Largest upload, in bytes.
    pub fn max_upload_bytes(&self) -> u64 {
        self.0.max_upload_bytes
    }

    /// A receiver of the events wake-up signal.
    pub fn events(&self) -> watch::Receiver<u64> {
        self.0.events.clone()
    }

    /// Cancelled when event streams must end (shutdown).
    pub fn streams_end(&self) -> &CancellationToken {
        &self.0.streams_end
    }

    /// How often a stream looks for events without being woken.
    pub fn events_poll(&self) -> Duration {
        self.0.events_poll
    }

    /// Counts a request of `caller`; 429 with the wait when it is over its rate.
    pub fn rate_limit(&self, caller: &str) -> Result<(), Problem> {
        let limiter = &self.0.limiter;
        limiter.check_key(&caller.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            Problem::too_many_requests(wait)
        })
    }

    /// Forgets callers whose limit has fully recovered, so the limiter's memory stays bounded
    /// by the callers of the last minute or so.
    pub fn forget_idle_callers(&self) {
        self.0.limiter.retain_recent();
        self.0.limiter.shrink_to_fit();
    }
}
