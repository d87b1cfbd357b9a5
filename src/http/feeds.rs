//! `/topics/{slug}.rss|.atom|.json`: rendered bytes from the catalog, with validators so
//! polling readers mostly get 304s. `/topics/{slug}` (no extension) is the HTML page.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::{AppState, HttpError, pages};
use crate::publish::{Format, Rendered};

/// How long readers and caches may reuse a feed without asking again.
const MAX_AGE_SECONDS: u32 = 60;

pub async fn topic_file(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let Some((slug, ext)) = file.rsplit_once('.') else {
        return pages::topic_page(&state, &file).await;
    };
    let format = Format::from_extension(ext).ok_or(HttpError::NotFound)?;
    let rendered = state.catalog.rendered(slug, format, Utc::now()).await?;
    Ok(respond(&rendered, &headers))
}

/// 304 when the client's validators match, else the feed; both carry the validators.
fn respond(rendered: &Rendered, request: &HeaderMap) -> Response {
    let last_modified = httpdate::fmt_http_date(rendered.last_modified.into());
    let not_modified = match request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        Some(tags) => etag_matches(tags, &rendered.etag),
        None => request
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .is_some_and(|since| {
                let since = chrono::DateTime::<Utc>::from(since);
                rendered.last_modified.timestamp() <= since.timestamp()
            }),
    };
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
    if let Ok(v) = HeaderValue::from_str(&last_modified) {
        h.insert(header::LAST_MODIFIED, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={MAX_AGE_SECONDS}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    response
}

/// `If-None-Match` uses the weak comparison (RFC 9110 §13.1.2): `W/` prefixes are ignored.
fn etag_matches(header_value: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let ours = bare(etag);
    header_value
        .split(',')
        .any(|t| t.trim() == "*" || bare(t) == ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_matches_any_listed_tag_when_weak_or_strong() {
        assert!(etag_matches("\"a\", \"b\"", "\"b\""));
        assert!(etag_matches("W/\"b\"", "\"b\""));
        assert!(etag_matches("*", "\"b\""));
        assert!(!etag_matches("\"a\"", "\"b\""));
    }
}
