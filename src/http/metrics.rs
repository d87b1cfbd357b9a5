//! `/metrics` (Prometheus text format) and the middleware that counts every request by its
//! route template.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AppState, HttpError};
use crate::telemetry;

/// The Prometheus text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The route label of a request no route matched (404s of unknown paths): one label value
/// for all of them, whatever path a scanner tries.
const UNMATCHED: &str = "unmatched";

/// `GET /metrics`: what the recorder holds, plus the gauges read from the store now (stories
/// per topic, failures in a row per source).
pub async fn metrics(State(state): State<AppState>) -> Result<Response, HttpError> {
    let Some(handle) = telemetry::handle() else {
        return Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics are not available in this process\n",
        )
            .into_response());
    };
    let config = state.catalog.config().clone();
    let counts = state
        .store
        .topic_story_counts()
        .await
        .map_err(|e| HttpError::Internal(e.to_string()))?;
    for topic in &config.topics {
        let n = counts.get(&topic.slug).copied().unwrap_or(0);
        telemetry::topic_stories(&topic.slug, n);
    }
    let statuses = state
        .store
        .source_statuses()
        .await
        .map_err(|e| HttpError::Internal(e.to_string()))?;
    for status in statuses.iter().filter(|s| config.source(&s.name).is_some()) {
        telemetry::source_failures(&status.name, status.consecutive_failures);
    }
    let mut response = handle.render().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Count and time every request by the route that matched (`/topics/{file}`, not the path
/// asked for, so labels stay bounded), its method and the status answered.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| UNMATCHED.to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    telemetry::http_request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
