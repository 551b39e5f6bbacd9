//! The HTTP surface: `/metrics` (Prometheus text), `/healthz` (the process is up), `/readyz`
//! (totals are loaded and the store accepts commits).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::pipeline::Snapshot;

pub struct AppState {
    pub metrics: Metrics,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        s.metrics.render(),
    )
}

async fn readyz(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    let snap = s.snapshots.borrow().clone();
    match &snap.store_error {
        None => (StatusCode::OK, "ready\n".to_string()),
        Some(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")),
    }
}
