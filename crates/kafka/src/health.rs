//! Progress of one consumer loop, as `/healthz` sees it.
//!
//! What counts as stuck: the loop holds input (a batch received) and has not completed it for
//! longer than the stall limit. Completing means the batch's effect is durable and its offsets
//! are stored. A loop retrying a failing batch is alive but not progressing, so it counts as
//! stuck once the limit passes, whatever the cause (a database outage, a hung handler); the
//! cause itself shows on `/readyz` and in `signalcraft_batch_failures_total`. A loop with no
//! input is idle, never stuck: an idle stage is not a problem, and a broker that is down shows
//! on `/readyz`.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// A cheap-to-clone handle the loop touches and the health endpoint reads.
#[derive(Debug, Clone, Default)]
pub struct StageHealth(Arc<Mutex<Progress>>);

#[derive(Debug, Default)]
struct Progress {
    /// When the batch in hand was received; `None` while the loop waits for input.
    busy_since: Option<Instant>,
    /// Failed attempts at the batch in hand.
    failed_attempts: u32,
}

impl StageHealth {
    /// A batch was received and is about to be handled.
    pub fn batch_started(&self) {
        let mut progress = self.lock();
        progress.busy_since = Some(Instant::now());
        progress.failed_attempts = 0;
    }

    /// An attempt at the batch in hand failed; it will be tried again.
    pub fn attempt_failed(&self) {
        self.lock().failed_attempts += 1;
    }

    /// The batch in hand is done (or abandoned at shutdown): the loop waits for input again.
    pub fn batch_finished(&self) {
        let mut progress = self.lock();
        progress.busy_since = None;
        progress.failed_attempts = 0;
    }

    /// How long the loop has held its batch without completing it, when that exceeds `limit`,
    /// with the number of failed attempts at it.
    pub fn stalled(&self, limit: Duration) -> Option<(Duration, u32)> {
        let progress = self.lock();
        let busy = progress.busy_since?.elapsed();
        (busy > limit).then_some((busy, progress.failed_attempts))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Progress> {
        // The lock guards plain values that every writer leaves consistent; a panic while it
        // was held leaves nothing half-done, so a poisoned lock is still good to read.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_held_beyond_the_limit_is_stalled_and_an_idle_loop_never_is() {
        let health = StageHealth::default();
        assert_eq!(health.stalled(Duration::ZERO), None, "idle");
        health.batch_started();
        health.attempt_failed();
        std::thread::sleep(Duration::from_millis(20));
        let (busy, attempts) = health.stalled(Duration::from_millis(10)).expect("stalled");
        assert!(busy >= Duration::from_millis(20));
        assert_eq!(attempts, 1);
        assert_eq!(health.stalled(Duration::from_secs(60)), None, "within the limit");
        health.batch_finished();
        assert_eq!(health.stalled(Duration::ZERO), None, "done");
    }
}
