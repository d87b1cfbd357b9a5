//! The HTTP endpoints (DESIGN §7). Handlers read from the catalog and the store; `http` never
//! fetches.

mod error;
mod feeds;
mod health;
mod pages;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::catalog::Catalog;
use crate::status::DaemonStatus;
use crate::store::Store;

pub use error::HttpError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub catalog: Arc<Catalog>,
    pub store: Store,
    /// The configuration in use, a rejected edit, the scheduler's heartbeat.
    pub status: Arc<DaemonStatus>,
}

/// The router with every endpoint and the common layers.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::index))
        .route("/topics/{file}", get(feeds::topic_file))
        .route("/sources", get(pages::sources))
        .route("/topics.opml", get(feeds::opml))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(error::not_found)
        .layer(CompressionLayer::new().gzip(true).br(true))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
