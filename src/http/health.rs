//! Liveness (`/healthz`: the process answers HTTP) and readiness (`/readyz`: it can do its
//! job; see [`crate::status::readiness`]).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;

use super::AppState;
use crate::status;

/// How long the store may take to answer a readiness probe. Probes time out after a few
/// seconds; a store this slow is not fit to serve anyway.
const STORE_PROBE: Duration = Duration::from_secs(3);

pub async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 `ready`, or 503 with every reason it is not.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    let store_error = match tokio::time::timeout(STORE_PROBE, state.store.ping()).await {
        Ok(true) => None,
        Ok(false) => Some("a trivial query failed".to_owned()),
        Err(_) => Some(format!("no answer within {}s", STORE_PROBE.as_secs())),
    };
    let heartbeat = state.status.heartbeat();
    match status::readiness(
        Utc::now(),
        store_error.as_deref(),
        &state.status.config(),
        heartbeat.last(),
        heartbeat.period(),
    ) {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        ),
    }
}
