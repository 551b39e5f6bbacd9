//! Supervision: the tasks the daemon needs (the pipeline, each source, the HTTP server) are
//! watched. One that ends while the daemon is not shutting down (a panic, an error, a return)
//! marks the daemon failed: `/readyz` answers 503 at once, the usual clean shutdown starts
//! (intake stops, what is in flight commits), and `run` returns an error, so the process exits
//! non-zero and systemd or Kubernetes restarts it. A daemon that keeps answering while its
//! totals are frozen would be worse than one that restarts.

use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A task that can be made to panic for tests (`BEDROCK_COST_INJECT_PANIC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The pipeline panics on the first batch that holds lines.
    Pipeline,
    /// The file source panics after its first poll.
    Source,
    /// The HTTP server panics once it serves.
    Http,
}

/// Environment variable naming the task to make panic (`pipeline`, `source`, `http`): how the
/// integration tests prove that a dead task restarts the daemon. Unset in production.
pub const INJECT_PANIC_ENV: &str = "BEDROCK_COST_INJECT_PANIC";

impl Fault {
    pub fn from_env() -> Option<Fault> {
        match std::env::var(INJECT_PANIC_ENV).ok()?.as_str() {
            "pipeline" => Some(Fault::Pipeline),
            "source" => Some(Fault::Source),
            "http" => Some(Fault::Http),
            _ => None,
        }
    }

    pub fn trip(self) -> ! {
        panic!("fault injected by {INJECT_PANIC_ENV}={self:?}");
    }
}

/// What the supervisor knows; cheap to clone into every task and into `/readyz`.
#[derive(Clone, Default)]
pub struct Supervisor {
    /// Every task that ended unexpectedly, panics first: when the pipeline dies, the sources
    /// waiting on it stop too, and the panic is the cause to report.
    failures: Arc<Mutex<Vec<(bool, String)>>>,
    failed: CancellationToken,
    stopping: CancellationToken,
}

impl Supervisor {
    /// Why the daemon failed, if it did: every task that ended unexpectedly, panics first.
    pub fn failure(&self) -> Option<String> {
        let mut all = self
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        all.sort_by_key(|(panicked, _)| !panicked);
        let why: Vec<String> = all.into_iter().map(|(_, w)| w).collect();
        (!why.is_empty()).then(|| why.join("; "))
    }

    /// Resolves once a needed task has ended unexpectedly.
    pub async fn failed(&self) {
        self.failed.cancelled().await
    }

    /// From now on tasks may end: shutdown (or, with `--once`, the end of the input) asked them to.
    pub fn stopping(&self) {
        self.stopping.cancel();
    }

    fn fail(&self, task: &str, how: &str, panicked: bool) {
        let why = format!("{task} {how}");
        tracing::error!(
            task,
            "{why}; shutting down so that the service manager restarts the daemon"
        );
        let mut all = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        all.push((panicked, why));
        self.failed.cancel();
    }

    /// Watches a task: a panic always fails the daemon; a return does unless the daemon is
    /// stopping or `may_finish` (a `--once` source reaching its end). Returns the task's value.
    pub fn watch<T: Send + 'static>(
        &self,
        task: impl Into<String>,
        may_finish: bool,
        handle: JoinHandle<T>,
    ) -> JoinHandle<Option<T>> {
        let (sup, task) = (self.clone(), task.into());
        tokio::spawn(async move {
            match handle.await {
                Ok(v) => {
                    if !may_finish && !sup.stopping.is_cancelled() {
                        sup.fail(&task, "stopped", false);
                    }
                    Some(v)
                }
                Err(e) if e.is_panic() => {
                    let payload = e.into_panic();
                    let msg = payload
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| payload.downcast_ref::<&str>().copied())
                        .unwrap_or("a panic");
                    sup.fail(&task, &format!("panicked: {msg}"), true);
                    None
                }
                Err(_) => None, // cancelled: only at runtime shutdown
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_or_an_early_return_fails_and_a_return_while_stopping_does_not() {
        let sup = Supervisor::default();
        let ok = sup.watch("once source", true, tokio::spawn(async { 1 }));
        assert_eq!(ok.await.unwrap(), Some(1));
        assert_eq!(sup.failure(), None);

        // A source that stops because the pipeline died is reported after the panic.
        sup.watch("a source", false, tokio::spawn(async {}))
            .await
            .unwrap();

        let boom = sup.watch(
            "the pipeline",
            false,
            tokio::spawn(async { Fault::Pipeline.trip() }),
        );
        assert_eq!(boom.await.unwrap(), None::<()>);
        sup.failed().await;
        let why = sup.failure().unwrap();
        assert!(
            why.starts_with("the pipeline panicked: fault injected"),
            "{why}"
        );
        assert!(why.ends_with("; a source stopped"), "{why}");

        let sup = Supervisor::default();
        sup.watch("the HTTP server", false, tokio::spawn(async {}))
            .await
            .unwrap();
        assert_eq!(sup.failure().as_deref(), Some("the HTTP server stopped"));

        let sup = Supervisor::default();
        sup.stopping();
        sup.watch("a source", false, tokio::spawn(async {}))
            .await
            .unwrap();
        assert_eq!(sup.failure(), None);
    }
}
