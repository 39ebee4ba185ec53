//! One async runtime per process for every `Cache` of the Python package.
//!
//! Python code forks (multiprocessing's default start method on Linux): a runtime's worker
//! threads do not survive a fork, so a child builds its own runtime the first time it needs
//! one, and leaves its parent's copy untouched (dropping it would wait for threads that do
//! not exist in the child).

use std::sync::{Arc, Mutex};

use tokio::runtime::Runtime;

static RUNTIME: Mutex<Option<(u32, Arc<Runtime>)>> = Mutex::new(None);

/// The runtime of this process, built on first use.
pub fn current() -> std::io::Result<Arc<Runtime>> {
    let pid = std::process::id();
    let mut slot = RUNTIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((owner, runtime)) = slot.as_ref()
        && *owner == pid
    {
        return Ok(Arc::clone(runtime));
    }
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("marketcache")
            .enable_all()
            .build()?,
    );
    if let Some(inherited) = slot.replace((pid, Arc::clone(&runtime))) {
        std::mem::forget(inherited);
    }
    Ok(runtime)
}
