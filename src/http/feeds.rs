//! `/topics/{slug}.rss|.atom|.json`: rendered bytes from the catalog, with validators so
//! polling readers mostly get 304s. `/topics/{slug}` (no extension) is the HTML page.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::{AppState, HttpError, pages};
use crate::publish::{Format, OpmlTopic, Rendered, render_opml};

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
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    if accept.is_some_and(prefers_html) {
        // A person clicked a feed link: show the topic, with a hint to use a reader.
        let mut page = pages::topic_page_for_feed(&state, slug, format).await?;
        page.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("accept"));
        return Ok(page);
    }
    let rendered = state.catalog.rendered(slug, format, Utc::now()).await?;
    Ok(respond(&rendered, &headers))
}

/// `/topics.opml`: every topic feed, for importing into a reader in one go.
pub async fn opml(State(state): State<AppState>) -> Response {
    let config = state.catalog.config();
    let topics: Vec<OpmlTopic<'_>> = config
        .topics
        .iter()
        .map(|t| OpmlTopic {
            slug: &t.slug,
            title: &t.title,
            description: &t.description,
        })
        .collect();
    let body = render_opml(&config.server.base_url_str(), "feedmill topics", &topics);
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/x-opml; charset=utf-8"),
    );
    response
}

/// Whether an `Accept` header asks for HTML more than for any feed or XML type: browsers send
/// `text/html,…,application/xml;q=0.9,*/*;q=0.8`; feed readers send feed types, `*/*` or
/// nothing, and always get the feed.
fn prefers_html(accept: &str) -> bool {
    let mut html: f32 = 0.0;
    let mut feed: f32 = 0.0;
    for part in accept.split(',') {
        let mut params = part.split(';');
        let media = params.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = params
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|v| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "text/html" | "application/xhtml+xml" => html = html.max(q),
            "application/rss+xml"
            | "application/atom+xml"
            | "application/feed+json"
            | "application/json"
            | "application/xml"
            | "text/xml"
            | "application/rdf+xml" => feed = feed.max(q),
            _ => {}
        }
    }
    html > 0.0 && html > feed
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
    // The same URL answers browsers with HTML: caches must key on Accept too.
    h.append(header::VARY, HeaderValue::from_static("accept"));
    response
}

/// `If-None-Match` uses the weak comparison (RFC 9110 §13.1.2): `W/` prefixes are ignored.
pub(super) fn etag_matches(header_value: &str, etag: &str) -> bool {
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
    fn prefers_html_only_when_html_outranks_feed_types() {
        // Chromium / Firefox.
        assert!(prefers_html(
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
        ));
        // Readers and tools.
        for reader in [
            "*/*",
            "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.8",
            "application/atom+xml,text/html;q=0.5",
            "application/rss+xml, application/rdf+xml;q=0.8, application/atom+xml;q=0.6, application/xml;q=0.4, text/xml;q=0.4, text/html;q=0.4",
            "",
        ] {
            assert!(!prefers_html(reader), "{reader}");
        }
    }

    #[test]
    fn etag_matches_any_listed_tag_when_weak_or_strong() {
        assert!(etag_matches("\"a\", \"b\"", "\"b\""));
        assert!(etag_matches("W/\"b\"", "\"b\""));
        assert!(etag_matches("*", "\"b\""));
        assert!(!etag_matches("\"a\"", "\"b\""));
    }
}
