//! Background jobs (warm, optimize): an in-memory registry of their state, progress and result,
//! watched by status requests and event streams, and cancelled together at shutdown.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::FutureExt as _;
use marketcache_cache::FetchProgress;
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorDetail};

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Fetches the missing bars of several symbols.
    Warm,
    /// Ranks a grid of strategy parameters.
    Optimize,
}

/// What a running job is doing: reading bars (upstream requests, for a warm or before a
/// search), or ranking a grid once its bars are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobPhase {
    Fetching,
    Searching,
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    /// Whether the job is over.
    pub fn is_finished(self) -> bool {
        self != Self::Running
    }

    /// The state as the API spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// Units of work done out of the total (symbols for warm, combinations for optimize, or
/// upstream requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, ToSchema)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// A job as `GET /api/jobs/{id}` and its event stream show it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct JobSnapshot {
    pub id: u64,
    pub kind: JobKind,
    pub state: JobState,
    pub phase: JobPhase,
    pub progress: Progress,
    /// Upstream requests made out of those planned so far (a read plans its requests when it
    /// starts, so `total` grows as a warm reaches each symbol).
    pub requests: Progress,
    /// The job's result once it finished (also when some symbols of a warm failed).
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// Why it failed, when it did.
    pub error: Option<ErrorDetail>,
}

/// How a job ended, as its body returns it.
pub enum JobEnd {
    /// Done: the result.
    Succeeded(serde_json::Value),
    /// Done, but not everything worked: the result so far and the reason.
    Failed {
        result: Option<serde_json::Value>,
        error: ApiError,
    },
    /// Stopped early because it was cancelled.
    Cancelled,
}

/// What a running job uses to report progress and notice cancellation.
#[derive(Clone)]
pub struct JobContext {
    state: watch::Sender<JobSnapshot>,
    cancel: CancellationToken,
}

impl JobContext {
    /// Publishes progress to watchers.
    pub fn progress(&self, done: u64, total: u64) {
        self.state.send_modify(|snapshot| {
            snapshot.progress = Progress { done, total };
        });
    }

    /// Publishes what the job is doing now.
    pub fn phase(&self, phase: JobPhase) {
        self.state.send_modify(|snapshot| snapshot.phase = phase);
    }

    /// Cancelled when the job must stop (shutdown); checked between units of work.
    pub fn cancelled(&self) -> &CancellationToken {
        &self.cancel
    }
}

/// A job's reads count their upstream requests in the job's `requests`, and stop when it is
/// cancelled (after the answer being stored, which stays).
impl FetchProgress for JobContext {
    fn planned(&self, requests: usize) {
        self.state
            .send_modify(|snapshot| snapshot.requests.total += requests as u64);
    }

    fn request_done(&self, _bars: usize) {
        self.state
            .send_modify(|snapshot| snapshot.requests.done += 1);
    }

    fn stop_requested(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

struct Entry {
    state: watch::Sender<JobSnapshot>,
    cancel: CancellationToken,
}

#[derive(Default)]
struct Registry {
    jobs: HashMap<u64, Entry>,
    /// Finished jobs, oldest first, forgotten beyond the cap.
    finished: VecDeque<u64>,
    running: usize,
}

/// The jobs of one server.
pub struct Jobs {
    registry: Mutex<Registry>,
    next_id: AtomicU64,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    kept_finished: usize,
    max_running: usize,
}

impl Jobs {
    /// A registry keeping at most `kept_finished` finished jobs and running `max_running` at once.
    pub fn new(kept_finished: usize, max_running: usize) -> Self {
        Self {
            registry: Mutex::new(Registry::default()),
            next_id: AtomicU64::new(1),
            tracker: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            kept_finished: kept_finished.max(1),
            max_running: max_running.max(1),
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves plain data behind; the registry stays usable.
        match self.registry.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Starts `body` as a job of `kind` with `total` units of work; refuses when too many run or
    /// the server is shutting down.
    pub fn start<F, Fut>(
        self: &Arc<Self>,
        kind: JobKind,
        total: u64,
        body: F,
    ) -> Result<u64, ApiError>
    where
        F: FnOnce(JobContext) -> Fut,
        Fut: Future<Output = JobEnd> + Send + 'static,
    {
        if self.shutdown.is_cancelled() {
            return Err(ApiError::with_status(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down",
            ));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (state, _) = watch::channel(JobSnapshot {
            id,
            kind,
            state: JobState::Running,
            // Every job starts by reading bars.
            phase: JobPhase::Fetching,
            progress: Progress { done: 0, total },
            requests: Progress::default(),
            result: None,
            error: None,
        });
        let cancel = self.shutdown.child_token();
        {
            let mut registry = self.registry();
            if registry.running >= self.max_running {
                return Err(ApiError::too_many_jobs(self.max_running));
            }
            registry.running += 1;
            registry.jobs.insert(
                id,
                Entry {
                    state: state.clone(),
                    cancel: cancel.clone(),
                },
            );
        }
        let context = JobContext {
            state: state.clone(),
            cancel,
        };
        let work = body(context);
        let jobs = Arc::clone(self);
        self.tracker.spawn(async move {
            let ended = AssertUnwindSafe(work).catch_unwind().await;
            let (job_state, result, error) = match ended {
                Ok(JobEnd::Cancelled) => (JobState::Cancelled, None, None),
                Ok(JobEnd::Succeeded(result)) => (JobState::Succeeded, Some(result), None),
                Ok(JobEnd::Failed { result, error }) => {
                    (JobState::Failed, result, Some(error.body().error))
                }
                Err(_) => {
                    let error = ApiError::internal(&format!("job {id} panicked"));
                    (JobState::Failed, None, Some(error.body().error))
                }
            };
            tracing::info!(id, ?kind, state = ?job_state, "job finished");
            state.send_modify(|snapshot| {
                snapshot.state = job_state;
                snapshot.result = result;
                snapshot.error = error;
            });
            jobs.finish(id);
        });
        Ok(id)
    }

    /// Moves job `id` to the finished list, forgetting the oldest finished beyond the cap.
    fn finish(&self, id: u64) {
        let mut registry = self.registry();
        registry.running = registry.running.saturating_sub(1);
        if !registry.jobs.contains_key(&id) {
            // Forgotten while it ran: nothing to keep.
            return;
        }
        registry.finished.push_back(id);
        while registry.finished.len() > self.kept_finished {
            if let Some(oldest) = registry.finished.pop_front() {
                registry.jobs.remove(&oldest);
            }
        }
    }

    /// The job's current state, or `None` for an unknown (or forgotten) id.
    pub fn snapshot(&self, id: u64) -> Option<JobSnapshot> {
        self.registry()
            .jobs
            .get(&id)
            .map(|entry| entry.state.borrow().clone())
    }

    /// A receiver of the job's state changes.
    pub fn watch(&self, id: u64) -> Option<watch::Receiver<JobSnapshot>> {
        self.registry()
            .jobs
            .get(&id)
            .map(|entry| entry.state.subscribe())
    }

    /// Cancels one running job; false if it is unknown.
    pub fn cancel(&self, id: u64) -> bool {
        match self.registry().jobs.get(&id) {
            Some(entry) => {
                entry.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Forgets job `id`, cancelling it first if it runs; false if it is unknown. Watchers of
    /// its events still see it end.
    pub fn forget(&self, id: u64) -> bool {
        let mut registry = self.registry();
        let Some(entry) = registry.jobs.remove(&id) else {
            return false;
        };
        entry.cancel.cancel();
        registry.finished.retain(|finished| *finished != id);
        true
    }

    /// Cancels every running job and refuses new ones.
    pub fn cancel_all(&self) {
        self.shutdown.cancel();
        self.tracker.close();
    }

    /// Waits up to `grace` for the jobs to stop after [`Self::cancel_all`]; false if some were
    /// still running when the grace ran out.
    pub async fn wait(&self, grace: Duration) -> bool {
        tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok()
    }
}
