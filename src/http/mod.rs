//! The HTTP surface: `/` (status page), `/metrics` (Prometheus text), `/healthz` (the process is up), `/readyz`
//! (totals are loaded and the store accepts commits), and the Firehose endpoint when enabled;
//! optional authentication (`auth.rs`) and the listener with its request limits (`serve.rs`).

pub mod auth;
pub mod serve;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::snapshot::Snapshot;
use crate::sources::firehose::{self, Firehose};

pub struct AppState {
    pub metrics: Metrics,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub budgets: crate::budgets::Budgets,
    pub clock: crate::clock::Clock,
    pub supervisor: crate::supervise::Supervisor,
}

/// The routes; with `firehose`, also `POST <path>` for Firehose deliveries (its own body
/// limit and spec-shaped errors, so axum's default limit is off there); with `auth`, every
/// path but the probes and the Firehose path asks for a credential.
pub fn router(
    state: Arc<AppState>,
    firehose: Option<(String, Arc<Firehose>)>,
    auth: Option<Arc<auth::Auth>>,
) -> Router {
    let base = Router::new()
        .route("/", get(status))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state);
    let app = match firehose {
        None => base,
        Some((path, fh)) => base.merge(
            Router::new()
                .route(&path, post(firehose::handle))
                .layer(DefaultBodyLimit::disable())
                .with_state(fh),
        ),
    };
    match auth {
        None => app,
        // Outermost, so a refused request reaches no handler and no body is read.
        Some(a) => app.layer(axum::middleware::from_fn_with_state(a, auth::require)),
    }
}

/// Rendering walks the whole ledger under its read lock: off the async workers.
async fn metrics(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    let body = tokio::task::spawn_blocking(move || s.metrics.render())
        .await
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], body)
}

/// `/`, or one subject's page with `?user=`, `?feature=` or `?model=` (any other query is
/// the overview; bad escapes are taken as written, as form decoding does).
async fn status(
    State(s): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    let view = crate::status::View::from_query(&q);
    let body = tokio::task::spawn_blocking(move || {
        let snap = s.snapshots.borrow().clone();
        crate::status::render_view(&snap, &s.budgets, s.clock.now(), &view)
    })
    .await
    .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body)
}

async fn readyz(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    let snap = s.snapshots.borrow().clone();
    readiness(
        s.supervisor.failure().as_deref(),
        snap.store_error.as_deref(),
    )
}

/// Not ready while a needed task has died (the daemon is on its way out) or the store cannot
/// commit (nothing would be acknowledged).
fn readiness(failure: Option<&str>, store_error: Option<&str>) -> (StatusCode, String) {
    match (failure, store_error) {
        (Some(why), _) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
        (None, Some(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")),
        (None, None) => (StatusCode::OK, "ready\n".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_task_or_a_failing_store_is_not_ready() {
        assert_eq!(readiness(None, None).0, StatusCode::OK);
        let (code, body) = readiness(Some("the pipeline panicked: boom"), None);
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "not ready: the pipeline panicked: boom\n");
        let (code, body) = readiness(None, Some("disk full"));
        assert_eq!(
            (code, body.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "not ready: disk full\n")
        );
    }
}
