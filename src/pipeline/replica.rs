//! Replicas on a shared store: between batches the pipeline pulls what the other replicas
//! committed, at least every [`REFRESH_EVERY`] (also while no batch arrives), so every
//! replica exposes the database's totals and Prometheus can take the max across replicas.
//! Owns when to refresh, the refresh metrics, and the fold metrics (the store's fold thread
//! has no metrics of its own: its health is read through the store after each refresh).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::Pipeline;
use crate::metrics::Health;
use crate::snapshot::Snapshot;

/// How stale a replica's view of the other replicas' commits may get.
pub const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// The refresh schedule of one pipeline.
#[derive(Default)]
pub(super) struct Refresher {
    /// When a refresh was last tried (`None`: never, so the first one is due at once).
    last: Option<Instant>,
    /// The store refreshes (others write it): its metrics' series exist.
    shared: bool,
    /// The store's count of failed folds already added to `bedrock_store_fold_errors_total`.
    fold_errors: u64,
}

impl Refresher {
    /// How long the pipeline may wait for a batch before a refresh is due.
    pub(super) fn wait(&self) -> Duration {
        self.last.map_or(Duration::ZERO, |t| {
            REFRESH_EVERY.saturating_sub(t.elapsed())
        })
    }

    pub(super) fn due(&self) -> bool {
        self.wait().is_zero()
    }

    /// Refreshes, and publishes a snapshot when a series changed. A failure is counted and
    /// logged (throttled); the replica keeps showing its last view, and its readiness is the
    /// commits' business (a refresh that fails does not refuse batches).
    pub(super) fn refresh(
        &mut self,
        pipeline: &mut Pipeline,
        snapshots: &watch::Sender<Arc<Snapshot>>,
        health: &Health,
    ) {
        self.last = Some(Instant::now());
        let result = pipeline.refresh();
        if !self.shared && !matches!(result, Ok(None)) {
            // Only a shared store refreshes (or fails to): from now on its series exist, at 0.
            self.shared = true;
            for kind in ["io", "corrupt", "disk_full"] {
                health.refresh_errors.with_label_values(&[kind]);
            }
            health.commit_errors.with_label_values(&["conflict"]);
            health.fold_errors.with_label_values(&[] as &[&str]);
        }
        if self.shared {
            self.folds(pipeline, health);
        }
        match result {
            Ok(None) => {}
            Ok(Some(changed)) => {
                let no_labels: &[&str] = &[];
                health
                    .last_refresh
                    .with_label_values(no_labels)
                    .set(pipeline.ctx.clock.now());
                if changed > 0 {
                    let error = snapshots.borrow().store_error.clone();
                    let _ = snapshots.send(Arc::new(pipeline.snapshot(error)));
                }
            }
            Err(e) => {
                health.refresh_errors.with_label_values(&[e.kind()]).inc();
                if pipeline.throttle.allow("refresh") {
                    tracing::warn!(
                        kind = e.kind(),
                        "cannot refresh the totals from the shared store (this replica shows them as of its last refresh): {e}"
                    );
                }
            }
        }
    }

    /// Brings the fold metrics up to the store's count and its last view of the journal.
    fn folds(&mut self, pipeline: &Pipeline, health: &Health) {
        let Some(folds) = pipeline.store().folds() else {
            return;
        };
        let no_labels: &[&str] = &[];
        // A store's count only grows (a new fold thread starts from zero only in tests).
        let new = folds.failed.saturating_sub(self.fold_errors);
        health.fold_errors.with_label_values(no_labels).inc_by(new);
        self.fold_errors = folds.failed;
        if let Some(age) = folds.unfolded_age {
            health.unfolded_age.with_label_values(no_labels).set(age);
        }
    }
}
