//! `/topics/{slug}.rss|.atom|.json[?page=N]`: rendered bytes from the catalog, pre-compressed,
//! with validators so that polling readers mostly get 304s. `/topics/{slug}` (no extension)
//! is the HTML page. Old slugs (`aliases`) redirect; removed topics answer 410 for a while.

use std::sync::{Arc, RwLock};

use axum::body::{Body, HttpBody};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::proxy::{PublicBase, public_base};
use super::{AppState, HttpError, pages};
use crate::catalog::{Catalog, Lookup};
use crate::config::Config;
use crate::publish::{self, Encoding, FeedKey, Format, OpmlTopic, Rendered, render_opml};

/// Marks a response whose body is already in its final coding, so the compression layer
/// leaves it alone (it would otherwise compress the identity body again, per request).
#[derive(Debug, Clone, Copy)]
pub struct Precompressed;

/// `Vary` of every feed response: the same URL answers browsers with HTML (`Accept`) and is
/// stored in several codings (`Accept-Encoding`).
const VARY: &str = "accept, accept-encoding";
/// `Vary` when `trust_proxy` is on: the links inside also depend on the proxy's headers.
const VARY_PROXIED: &str =
    "accept, accept-encoding, x-forwarded-proto, x-forwarded-host, forwarded";

pub async fn topic_file(
    State(state): State<AppState>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    PublicBase(base): PublicBase,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let now = Utc::now();
    let (slug, format) = match file.rsplit_once('.') {
        Some((slug, ext)) => (
            slug,
            Some(Format::from_extension(ext).ok_or(HttpError::NotFound)?),
        ),
        None => (file.as_str(), None),
    };
    match state.catalog.lookup(slug, now) {
        Lookup::Topic(_) => {}
        Lookup::Moved(topic) => {
            return Ok(moved(&base, &topic.slug, format, query.as_deref()));
        }
        Lookup::Gone { removed_at } => {
            return Err(HttpError::Gone {
                slug: slug.to_owned(),
                removed_at,
            });
        }
        Lookup::Unknown => return Err(HttpError::NotFound),
    }
    let Some(format) = format else {
        return pages::topic_page(&state, slug, &base).await;
    };
    let page = parse_page(query.as_deref())?;
    if page == Some(1) {
        // Page 1 is the current feed: one URL for it, so one self link and one cache entry.
        return Ok(redirect(&publish::feed_url(&base, slug, format)));
    }
    let policy = Policy::new(&state.catalog);
    if wants_html(&headers) {
        // A person clicked a feed link: show the topic, with a hint to use a reader.
        let mut page = pages::topic_page_for_feed(&state, slug, format, &base).await?;
        page.headers_mut()
            .insert(header::VARY, HeaderValue::from_static(policy.vary));
        return Ok(page);
    }
    let key = FeedKey {
        base: &base,
        slug,
        format,
        page: page.unwrap_or(1),
    };
    let rendered = state.catalog.rendered_page(key, now).await?;
    let mut response = respond(&rendered, &headers, &policy);
    response.extensions_mut().insert(Precompressed);
    Ok(response)
}

/// Answers the one request a busy server gets nearly all the time — a reader polling a
/// topic's current feed whose rendering is in memory — without the router, its extractors
/// and its layers (compression, timeout, tracing), none of which such an answer needs: its
/// bytes are compressed already and it never waits. Measured with `scripts/loadbench.sh`:
/// 21 % (plain 109 KB feed), 39 % (304) and 48 % (gzip) less CPU time per poll than through
/// the router.
///
/// Everything else, and anything unusual about a feed request (a query string, an escaped
/// slug, an alias, a browser's `Accept`, a rendering not cached yet), is left to the router:
/// `None`. What this answers must equal what `topic_file` would.
pub struct CachedFeeds {
    /// What the answers derive from the configuration in use, rebuilt when a reload
    /// replaces it (so a new `base_url`, schedule or `trust_proxy` applies to the fast path).
    derived: RwLock<Arc<Derived>>,
}

struct Derived {
    config: Arc<Config>,
    /// `[server] base_url` as feeds name it, for requests whose base is not taken from a
    /// proxy's headers.
    configured_base: String,
    trust_proxy: bool,
    policy: Policy,
}

impl Derived {
    fn new(catalog: &Catalog, config: Arc<Config>) -> Derived {
        Derived {
            configured_base: config.server.base_url_str(),
            trust_proxy: config.server.trust_proxy,
            policy: Policy::new(catalog),
            config,
        }
    }
}

impl CachedFeeds {
    pub fn new(catalog: &Catalog) -> CachedFeeds {
        CachedFeeds {
            derived: RwLock::new(Arc::new(Derived::new(catalog, catalog.config()))),
        }
    }

    /// The derived settings of the configuration the catalog serves now.
    fn derived(&self, catalog: &Catalog) -> Arc<Derived> {
        let config = catalog.config();
        {
            let current = self.derived.read().unwrap_or_else(|e| e.into_inner());
            if Arc::ptr_eq(&current.config, &config) {
                return Arc::clone(&current);
            }
        }
        let fresh = Arc::new(Derived::new(catalog, config));
        *self.derived.write().unwrap_or_else(|e| e.into_inner()) = Arc::clone(&fresh);
        fresh
    }

    pub fn answer(&self, catalog: &Catalog, request: &Request) -> Option<Response> {
        let head = match *request.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => return None,
        };
        if request.uri().query().is_some() {
            return None;
        }
        let (slug, ext) = request
            .uri()
            .path()
            .strip_prefix("/topics/")?
            .rsplit_once('.')?;
        // The router decodes percent escapes: an escaped slug takes the long way.
        if slug.is_empty() || slug.contains(['/', '%']) {
            return None;
        }
        let format = Format::from_extension(ext)?;
        let headers = request.headers();
        if wants_html(headers) {
            return None;
        }
        let derived = self.derived(catalog);
        let proxied;
        let base = if derived.trust_proxy {
            proxied = public_base(&derived.config.server.base_url, headers, true);
            proxied.as_str()
        } else {
            derived.configured_base.as_str()
        };
        let rendered = catalog.cached(FeedKey {
            base,
            slug,
            format,
            page: 1,
        })?;
        let mut response = respond(&rendered, headers, &derived.policy);
        if head {
            // What the router does for HEAD: the length of the body a GET would get, no body.
            if response.status() == StatusCode::OK {
                let length = response.body().size_hint().exact().unwrap_or(0);
                response
                    .headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            }
            *response.body_mut() = Body::empty();
        }
        Some(response)
    }
}

/// Whether a request's `Accept` asks for the topic page rather than the feed.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(prefers_html)
}

/// The `page` query parameter: `None` when absent, else a whole number ≥ 1.
fn parse_page(query: Option<&str>) -> Result<Option<u32>, HttpError> {
    let Some(query) = query else { return Ok(None) };
    let Some((_, value)) = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "page")
    else {
        return Ok(None);
    };
    match value.parse::<u32>() {
        Ok(n) if n >= 1 && value.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(n)),
        _ => Err(HttpError::BadRequest(format!(
            "invalid page {value:?}: expected a whole number from 1 to {}",
            u32::MAX
        ))),
    }
}

/// 301 from an alias to the topic's current slug, with the same extension and query.
fn moved(base: &str, slug: &str, format: Option<Format>, query: Option<&str>) -> Response {
    let mut location = match format {
        Some(format) => publish::feed_url(base, slug, format),
        None => publish::page_url(base, slug),
    };
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        location.push('?');
        location.push_str(query);
    }
    redirect(&location)
}

fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut response = (
                StatusCode::MOVED_PERMANENTLY,
                format!("moved permanently to {location}\n"),
            )
                .into_response();
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        // The base URL and slug are checked and a request's query is ASCII: unreachable in
        // practice, but a broken Location must not be sent.
        Err(_) => HttpError::NotFound.into_response(),
    }
}

/// `/topics.opml`: every topic feed, for importing into a reader in one go.
pub async fn opml(State(state): State<AppState>, PublicBase(base): PublicBase) -> Response {
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
    let body = render_opml(&base, "feedmill topics", &topics);
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
        let q = quality(params);
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

/// The `q` parameter among a list element's parameters (1 when absent or unreadable).
fn quality<'a>(mut params: impl Iterator<Item = &'a str>) -> f32 {
    params
        .find_map(|p| {
            let (name, value) = p.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("q")
                .then(|| value.trim().parse::<f32>().ok())?
        })
        .unwrap_or(1.0)
}

/// The coding to send for an `Accept-Encoding` header: brotli (the smallest) when accepted at
/// least as much as gzip, else gzip, else identity. `*` stands for codings not named.
fn negotiate_encoding(accept_encoding: Option<&str>) -> Encoding {
    let Some(accept) = accept_encoding else {
        return Encoding::Identity;
    };
    let (mut br, mut gzip, mut star) = (None::<f32>, None::<f32>, None::<f32>);
    for part in accept.split(',') {
        let mut params = part.split(';');
        let coding = params.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = quality(params);
        match coding.as_str() {
            "br" => br = Some(q),
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => star = Some(q),
            _ => {}
        }
    }
    let br = br.or(star).unwrap_or(0.0);
    let gzip = gzip.or(star).unwrap_or(0.0);
    if br > 0.0 && br >= gzip {
        Encoding::Brotli
    } else if gzip > 0.0 {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// What every feed response says about caching; the same for every feed of a configuration.
struct Policy {
    cache_control: HeaderValue,
    vary: &'static str,
}

impl Policy {
    fn new(catalog: &Catalog) -> Policy {
        Policy {
            cache_control: cache_control(catalog.max_age().as_secs()),
            vary: if catalog.config().server.trust_proxy {
                VARY_PROXIED
            } else {
                VARY
            },
        }
    }
}

fn cache_control(max_age_seconds: u64) -> HeaderValue {
    // Only ASCII digits are added to an ASCII literal: always a valid value.
    HeaderValue::from_str(&format!("public, max-age={max_age_seconds}"))
        .unwrap_or_else(|_| HeaderValue::from_static("public"))
}

/// 304 when the client's validators match, else the feed in the best accepted coding; both
/// carry the validators and the caching headers. `If-None-Match` wins over
/// `If-Modified-Since` (RFC 9110 §13.2.2).
fn respond(rendered: &Rendered, request: &HeaderMap, policy: &Policy) -> Response {
    let wanted = negotiate_encoding(
        request
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    );
    let (encoding, bytes, etag) = rendered.encoded(wanted);
    let if_none_match = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    let not_modified = match if_none_match {
        Some(tags) => matching_etag(tags, rendered).map(|held| match held {
            // The tag the client holds, so it refreshes the copy it has.
            "*" => etag,
            held => held,
        }),
        None => request
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .is_some_and(|since| {
                let since = chrono::DateTime::<Utc>::from(since);
                rendered.last_modified.timestamp() <= since.timestamp()
            })
            .then_some(etag),
    };
    // Sized for every header below at once: no regrowing on the path of every poll.
    let mut h = HeaderMap::with_capacity(8);
    let (mut response, etag) = match not_modified {
        Some(held) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            (r, held)
        }
        None => {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(rendered.content_type),
            );
            if let Some(coding) = encoding.header_value() {
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
            }
            (Response::new(Body::from(bytes.clone())), etag)
        }
    };
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&rendered.last_modified_http) {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(header::CACHE_CONTROL, policy.cache_control.clone());
    h.insert(header::VARY, HeaderValue::from_static(policy.vary));
    *response.headers_mut() = h;
    response
}

/// The first tag of an `If-None-Match` list that names this rendering in any coding, or `*`.
/// Weak comparison (RFC 9110 §13.1.2): a `W/` prefix is ignored, as proxies that re-compress
/// add one.
pub(super) fn matching_etag<'a>(header_value: &'a str, rendered: &Rendered) -> Option<&'a str> {
    header_value
        .split(',')
        .map(|t| {
            let t = t.trim();
            t.strip_prefix("W/").unwrap_or(t)
        })
        .find(|t| *t == "*" || rendered.is_current(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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
    fn negotiate_encoding_prefers_brotli_when_accepted_as_much_as_gzip() {
        let cases = [
            (None, Encoding::Identity),
            (Some(""), Encoding::Identity),
            (Some("gzip"), Encoding::Gzip),
            (Some("x-gzip"), Encoding::Gzip),
            (Some("gzip, deflate, br, zstd"), Encoding::Brotli),
            (Some("br;q=0.5, gzip"), Encoding::Gzip),
            (Some("br;q=0, gzip;q=0"), Encoding::Identity),
            (Some("*"), Encoding::Brotli),
            (Some("gzip, *;q=0"), Encoding::Gzip),
            (Some("deflate"), Encoding::Identity),
            (Some("identity"), Encoding::Identity),
            (Some("GZIP ; Q=0.8"), Encoding::Gzip),
        ];
        for (header, expected) in cases {
            assert_eq!(negotiate_encoding(header), expected, "{header:?}");
        }
    }

    #[test]
    fn parse_page_accepts_whole_numbers_and_refuses_the_rest_when_given() {
        assert_eq!(parse_page(None).ok(), Some(None));
        assert_eq!(parse_page(Some("utm_source=x")).ok(), Some(None));
        assert_eq!(parse_page(Some("page=2")).ok(), Some(Some(2)));
        assert_eq!(parse_page(Some("x=1&page=17")).ok(), Some(Some(17)));
        for bad in [
            "page=0",
            "page=-1",
            "page=",
            "page=two",
            "page=%2B3",
            "page=1e3",
            "page=99999999999",
        ] {
            assert!(
                matches!(parse_page(Some(bad)), Err(HttpError::BadRequest(_))),
                "{bad}"
            );
        }
    }

    fn sample() -> Rendered {
        let body = "<feed><entry>Tajik border police</entry></feed>\n".repeat(50);
        let at = Utc.timestamp_opt(1_700_000_000, 0).single().expect("time");
        Rendered::new(body.into_bytes(), Format::Atom, at)
    }

    fn request(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(name.clone(), HeaderValue::from_str(value).expect("value"));
        }
        h
    }

    fn policy() -> Policy {
        Policy {
            cache_control: cache_control(900),
            vary: VARY,
        }
    }

    #[test]
    fn respond_sends_precompressed_body_with_its_own_etag_when_client_takes_br() {
        let r = sample();
        let response = respond(
            &r,
            &request(&[(header::ACCEPT_ENCODING, "gzip, br")]),
            &policy(),
        );
        assert_eq!(response.status(), StatusCode::OK);
        let h = response.headers();
        assert_eq!(h[header::CONTENT_ENCODING], "br");
        let br = r.br.as_ref().expect("br");
        assert_eq!(h[header::ETAG], br.etag.as_str());
        assert_eq!(h[header::CACHE_CONTROL], "public, max-age=900");
        assert_eq!(h[header::VARY], "accept, accept-encoding");
        assert_eq!(h[header::LAST_MODIFIED], "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(
            h[header::CONTENT_TYPE],
            "application/atom+xml; charset=utf-8"
        );
        let plain = respond(&r, &HeaderMap::new(), &policy());
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(plain.headers()[header::ETAG], r.etag.as_str());
    }

    #[test]
    fn respond_answers_304_when_any_coding_etag_matches() {
        let r = sample();
        let gz = r.gzip.as_ref().expect("gzip").etag.clone();
        for (inm, held) in [
            (r.etag.clone(), r.etag.clone()),
            (format!("\"nope\", W/{gz}"), gz.clone()),
            ("*".to_owned(), r.etag.clone()),
        ] {
            let response = respond(&r, &request(&[(header::IF_NONE_MATCH, &inm)]), &policy());
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{inm}");
            assert_eq!(response.headers()[header::ETAG], held.as_str());
            assert_eq!(
                response.headers()[header::CACHE_CONTROL],
                "public, max-age=900"
            );
            assert!(response.headers().contains_key(header::LAST_MODIFIED));
        }
    }

    #[test]
    fn respond_lets_if_none_match_win_when_both_validators_are_sent() {
        let r = sample();
        // A stale tag with a matching date: the tag decides, the feed is sent.
        let stale = request(&[
            (header::IF_NONE_MATCH, "\"old\""),
            (header::IF_MODIFIED_SINCE, "Tue, 14 Nov 2023 22:13:20 GMT"),
        ]);
        assert_eq!(respond(&r, &stale, &policy()).status(), StatusCode::OK);
        let since = |date: &str| request(&[(header::IF_MODIFIED_SINCE, date)]);
        assert_eq!(
            respond(&r, &since("Tue, 14 Nov 2023 22:13:20 GMT"), &policy()).status(),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(
            respond(&r, &since("Tue, 14 Nov 2023 22:13:19 GMT"), &policy()).status(),
            StatusCode::OK
        );
        assert_eq!(
            respond(&r, &since("not a date"), &policy()).status(),
            StatusCode::OK
        );
    }
}
