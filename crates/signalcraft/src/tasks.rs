//! Supervision of the process's tasks: none may die silently. Each is named; a panic or an
//! error is logged, counted (`signalcraft_task_failures_total{task}`) and shown by `/healthz`.
//! What follows depends on the task:
//!
//! - **Restarted** (with a growing pause, 1 s doubling to 60 s): helpers whose loop holds no
//!   state worth keeping and whose absence would go unnoticed otherwise:
//!   partition and retention maintenance, the lag monitor. While one waits to restart, `/healthz`
//!   is 503 naming it.
//! - **Fatal** (the run ends and the process exits non-zero, so an orchestrator restarts it):
//!   the consumer stages, the sources and the HTTP server. A stage carries state and
//!   partitions an in-process restart would have to rebuild anyway, a source that fails has
//!   met a configuration or producer problem a restart surfaces better, and without the HTTP
//!   server the process can no longer be watched. See `app::supervise`.

use std::{
    collections::BTreeMap,
    future::Future,
    panic::AssertUnwindSafe,
    sync::{Arc, LazyLock, Mutex},
    time::{Duration, Instant},
};

use futures::FutureExt;
use prometheus::{register_int_counter_vec, IntCounterVec};
use tokio_util::sync::CancellationToken;

// Registering a metric fails only on a duplicate name: a defect, caught by any test run.
static TASK_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "signalcraft_task_failures_total",
        "Tasks of the process that panicked or failed (then restarted, or ending the run).",
        &["task"]
    )
    .expect("metric registers once")
});

/// Longest pause before a restarted task runs again.
const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A task that ran this long before failing starts over from the shortest pause.
const RESTART_BACKOFF_RESET: Duration = Duration::from_secs(60);

/// What `/healthz` knows of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    Running,
    /// Failed; runs again after a pause.
    Restarting {
        error: String,
    },
    /// Failed for good: the run is ending.
    Dead {
        error: String,
    },
}

/// The state of every supervised task, by name. Cheap to clone; shared with `/healthz`.
#[derive(Debug, Clone, Default)]
pub struct TaskBoard(Arc<Mutex<BTreeMap<String, TaskState>>>);

impl TaskBoard {
    /// Tasks that are down (waiting to restart, or dead), with their last error.
    pub fn down(&self) -> Vec<(String, TaskState)> {
        self.lock()
            .iter()
            .filter(|(_, state)| **state != TaskState::Running)
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect()
    }

    fn set(&self, task: &str, state: TaskState) {
        self.lock().insert(task.to_string(), state);
    }

    fn remove(&self, task: &str) {
        self.lock().remove(task);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, TaskState>> {
        // Plain values, consistent after every write: a poisoned lock is still good to read.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers `task` as running, and its failure counter at zero.
    pub fn started(&self, task: &str) {
        TASK_FAILURES.with_label_values(&[task]);
        self.set(task, TaskState::Running);
    }

    /// `task` failed and ends the run: logged, counted, and `/healthz` names it until exit.
    pub fn died(&self, task: &str, error: &str) {
        TaskFailed { task, error, restart_in: None }.emit();
        self.set(task, TaskState::Dead { error: error.to_string() });
    }
}

/// A task failed (panicked or returned an error).
struct TaskFailed<'a> {
    task: &'a str,
    error: &'a str,
    /// `None`: it is not restarted.
    restart_in: Option<Duration>,
}

impl TaskFailed<'_> {
    fn emit(self) {
        match self.restart_in {
            Some(pause) => tracing::error!(
                task = self.task,
                error = self.error,
                restart_in_secs = pause.as_secs_f64(),
                "task failed; restarting it"
            ),
            None => tracing::error!(task = self.task, error = self.error, "task failed; stopping the process"),
        }
        TASK_FAILURES.with_label_values(&[self.task]).inc();
    }
}

/// Runs `task` to its end, turning a panic into an error that names it.
pub async fn catch_panic<F>(task: F) -> Result<(), String>
where
    F: Future<Output = Result<(), String>>,
{
    match AssertUnwindSafe(task).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => Err(format!("panicked: {}", panic_message(panic.as_ref()))),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".into()
    }
}

/// Spawns a task that is restarted whenever it panics or fails, until `shutdown`. `make` builds
/// a fresh run of it each time. A run that ends without error ends the task.
pub fn spawn_restarting<M, F>(
    board: &TaskBoard,
    task: &str,
    shutdown: CancellationToken,
    make: M,
) -> tokio::task::JoinHandle<()>
where
    M: Fn() -> F + Send + 'static,
    F: Future<Output = Result<(), String>> + Send + 'static,
{
    let (board, task) = (board.clone(), task.to_string());
    board.started(&task);
    tokio::spawn(async move {
        let mut pause = Duration::from_secs(1);
        loop {
            let started = Instant::now();
            let outcome = catch_panic(make()).await;
            let error = match outcome {
                Ok(()) => break,
                // Failing while the process stops is part of stopping, not a fault.
                Err(_) if shutdown.is_cancelled() => break,
                Err(error) => error,
            };
            if started.elapsed() >= RESTART_BACKOFF_RESET {
                pause = Duration::from_secs(1);
            }
            TaskFailed { task: &task, error: &error, restart_in: Some(pause) }.emit();
            board.set(&task, TaskState::Restarting { error });
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(RESTART_BACKOFF_MAX);
            board.set(&task, TaskState::Running);
        }
        board.remove(&task);
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_counted_shown_as_down_and_restarted() {
        let board = TaskBoard::default();
        let runs = Arc::new(AtomicU32::new(0));
        let shutdown = CancellationToken::new();
        let counted = TASK_FAILURES.with_label_values(&["test-panics"]).get();
        let handle = {
            let (runs, stop) = (runs.clone(), shutdown.clone());
            spawn_restarting(&board, "test-panics", shutdown.clone(), move || {
                let (run, stop) = (runs.fetch_add(1, Ordering::SeqCst), stop.clone());
                async move {
                    if run == 0 {
                        panic!("bad rule");
                    }
                    stop.cancelled().await;
                    Ok(())
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            board.down(),
            vec![("test-panics".to_string(), TaskState::Restarting { error: "panicked: bad rule".into() })]
        );
        assert_eq!(TASK_FAILURES.with_label_values(&["test-panics"]).get(), counted + 1);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2, "restarted after its pause");
        assert!(board.down().is_empty(), "running again");
        shutdown.cancel();
        handle.await.expect("supervisor ends at shutdown");
    }

    #[tokio::test]
    async fn a_fatal_failure_is_shown_until_exit() {
        let board = TaskBoard::default();
        board.started("source:fx");
        let error = catch_panic(async { panic!("boom") }).await.expect_err("a panic is an error");
        board.died("source:fx", &error);
        assert_eq!(board.down(), vec![("source:fx".to_string(), TaskState::Dead { error: "panicked: boom".into() })]);
    }
}
