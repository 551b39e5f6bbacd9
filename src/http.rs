//! The HTTP surface: `/` (status page), `/metrics` (Prometheus text), `/healthz` (the process is up), `/readyz`
//! (totals are loaded and the store accepts commits), and the Firehose endpoint when enabled.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::pipeline::Snapshot;
use crate::sources::firehose::{self, Firehose};

pub struct AppState {
    pub metrics: Metrics,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub budgets: crate::budgets::Budgets,
}

/// The routes; with `firehose`, also `POST <path>` for Firehose deliveries (its own body
/// limit and spec-shaped errors, so axum's default limit is off there).
pub fn router(state: Arc<AppState>, firehose: Option<(String, Arc<Firehose>)>) -> Router {
    let base = Router::new()
        .route("/", get(status))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state);
    match firehose {
        None => base,
        Some((path, fh)) => base.merge(
            Router::new()
                .route(&path, post(firehose::handle))
                .layer(DefaultBodyLimit::disable())
                .with_state(fh),
        ),
    }
}

async fn metrics(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        s.metrics.render(),
    )
}

async fn status(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    let snap = s.snapshots.borrow().clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        crate::status::render(&snap, &s.budgets, now),
    )
}

async fn readyz(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    let snap = s.snapshots.borrow().clone();
    match &snap.store_error {
        None => (StatusCode::OK, "ready\n".to_string()),
        Some(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")),
    }
}
