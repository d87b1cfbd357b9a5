//! `/sources/errors.atom`: the errors feed (see [`crate::publish::render_errors_feed`]),
//! rendered from the stored source events on each request. It is small, and requested by a
//! few operators' readers; an `ETag` still lets them poll with 304s.

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::feeds::matching_etag;
use super::proxy::PublicBase;
use super::{AppState, HttpError, auth};
use crate::publish::{self, Format, Rendered};

/// Entries in the feed: the newest events.
const ENTRIES: usize = 100;

/// The feed's `updated` while no event was ever recorded: when this process first served
/// it, so it stays the same from one poll to the next.
static FIRST_SERVED: OnceLock<DateTime<Utc>> = OnceLock::new();

pub async fn errors_atom(
    State(state): State<AppState>,
    PublicBase(base): PublicBase,
    uri: Uri,
    request: HeaderMap,
) -> Result<Response, HttpError> {
    let events = state
        .store
        .source_events(ENTRIES)
        .await
        .map_err(|e| HttpError::Internal(e.to_string()))?;
    let config = state.catalog.config().clone();
    let empty = *FIRST_SERVED.get_or_init(Utc::now);
    // The admin middleware let this request through: a token in its query is the right one.
    let mut self_url = publish::errors_feed_url(&base);
    let query = uri.query().filter(|_| config.server.admin_token.is_some());
    if let Some(token) = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(name, _)| name == auth::TOKEN_PARAM)
            .map(|(_, value)| value.into_owned())
    }) {
        self_url = format!(
            "{self_url}?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair(auth::TOKEN_PARAM, &token)
                .finish()
        );
    }
    let body = publish::render_errors_feed(&base, &self_url, &events, empty)
        .map_err(|e| HttpError::Internal(e.to_string()))?;
    let updated = events.iter().map(|e| e.at).max().unwrap_or(empty);
    let rendered = Rendered::uncompressed(body, Format::Atom, updated);
    let not_modified = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| matching_etag(tags, &rendered).is_some());
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Response::new(Body::from(rendered.body.clone()));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(rendered.content_type),
        );
        r
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&rendered.etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(rendered.last_modified.into())) {
        h.insert(header::LAST_MODIFIED, v);
    }
    // Behind the admin token: no shared cache may keep it.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=60"),
    );
    Ok(response)
}
