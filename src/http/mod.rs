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

use std::convert::Infallible;
use std::future::Ready;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{Extensions, HeaderMap, StatusCode, Version};
use axum::middleware;
use axum::response::Response;
use axum::routing::future::RouteFuture;
use axum::routing::get;
use futures_util::future::Either;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tower_service::Service;

use crate::catalog::Catalog;
use crate::status::DaemonStatus;
use crate::store::Store;

pub use error::HttpError;
pub use feeds::CachedFeeds;
pub use proxy::{PublicBase, public_base};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub catalog: Arc<Catalog>,
    pub store: Store,
    /// The configuration in use, a rejected edit, the scheduler's heartbeat.
    pub status: Arc<DaemonStatus>,
}

/// What `axum::serve` runs (via [`axum::ServiceExt::into_make_service`]): a poll of a cached
/// topic feed — nearly every request a busy instance gets — is answered from memory by
/// [`feeds::CachedFeeds`]; everything else goes through the [`router`] and its layers.
#[derive(Clone)]
pub struct Http {
    state: AppState,
    cached: Arc<feeds::CachedFeeds>,
    router: Router,
}

impl Http {
    pub fn new(state: AppState) -> Http {
        Http {
            cached: Arc::new(feeds::CachedFeeds::new(&state.catalog)),
            router: router(state.clone()),
            state,
        }
    }
}

impl Service<Request> for Http {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, RouteFuture<Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = std::time::Instant::now();
        match self.cached.answer(&self.state.catalog, &request) {
            Some(response) => {
                // Counted like the router's requests (`metrics::track`), under its route.
                crate::telemetry::http_request(
                    TOPIC_FILE_ROUTE,
                    request.method().as_str(),
                    response.status().as_u16(),
                    started.elapsed(),
                );
                Either::Left(std::future::ready(Ok(response)))
            }
            None => Either::Right(self.router.call(request)),
        }
    }
}

/// The route of topic feeds and pages (also the metrics label of the fast path's answers).
const TOPIC_FILE_ROUTE: &str = "/topics/{file}";

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
        .route(TOPIC_FILE_ROUTE, get(feeds::topic_file))
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
        .layer(middleware::from_fn_with_state(state.clone(), vary_on_proxy))
        .with_state(state)
}

/// With `trust_proxy`, every page, feed, OPML list and redirect names the public host from
/// `X-Forwarded-*` / `Forwarded`: a shared cache must keep one copy per forwarded host.
async fn vary_on_proxy(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    if !state.catalog.config().server.trust_proxy {
        return response;
    }
    let headers = response.headers_mut();
    let current = headers
        .get(axum::http::header::VARY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if current.contains("x-forwarded-host") || current.trim() == "*" {
        return response;
    }
    let vary = if current.is_empty() {
        PROXY_VARY.to_owned()
    } else {
        format!("{current}, {PROXY_VARY}")
    };
    if let Ok(value) = axum::http::HeaderValue::from_str(&vary) {
        headers.insert(axum::http::header::VARY, value);
    }
    response
}

/// The request headers a response depends on behind a trusted proxy.
const PROXY_VARY: &str = "x-forwarded-proto, x-forwarded-host, forwarded";

/// The compression predicate that skips feed responses, compressed once per change.
fn not_precompressed(_: StatusCode, _: Version, _: &HeaderMap, extensions: &Extensions) -> bool {
    extensions.get::<feeds::Precompressed>().is_none()
}
