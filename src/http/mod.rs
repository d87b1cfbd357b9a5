//! The HTTP endpoints (DESIGN §7). Handlers read from the catalog and the store; `http` never
//! fetches.

mod auth;
mod error;
mod errors_feed;
mod feeds;
mod health;
mod metrics;
mod pages;
mod proxy;
mod sorting;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{Extensions, HeaderMap, StatusCode, Version};
use axum::middleware;
use axum::routing::get;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::catalog::Catalog;
use crate::status::DaemonStatus;
use crate::store::Store;

pub use error::HttpError;
pub use proxy::{PublicBase, public_base};

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
    // The operator endpoints: behind `[server] admin_token` when it is set.
    let admin = Router::new()
        .route("/sources", get(pages::sources))
        .route("/sources/errors.atom", get(errors_feed::errors_atom))
        .route("/metrics", get(metrics::metrics))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ));
    Router::new()
        .route("/", get(pages::index))
        .route("/topics/{file}", get(feeds::topic_file))
        .route("/topics.opml", get(feeds::opml))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(admin)
        .fallback(error::not_found)
        // Pages are compressed per request; feeds arrive compressed already (`Precompressed`).
        .layer(
            CompressionLayer::new()
                .gzip(true)
                .br(true)
                .compress_when(DefaultPredicate::new().and(not_precompressed)),
        )
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        // The path only: a query may carry the admin token (`?token=`), which no log shows.
        .layer(TraceLayer::new_for_http().make_span_with(
            |request: &axum::http::Request<axum::body::Body>| {
                tracing::debug_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path()
                )
            },
        ))
        .layer(middleware::from_fn(metrics::track))
        .with_state(state)
}

/// The compression predicate that skips feed responses, compressed once per change.
fn not_precompressed(_: StatusCode, _: Version, _: &HeaderMap, extensions: &Extensions) -> bool {
    extensions.get::<feeds::Precompressed>().is_none()
}
