//! Finding the feed behind a URL, for `feedmill add`: the URL itself if it is a feed, else the
//! feeds its HTML page announces (`<link rel="alternate" type="application/rss+xml">` and the
//! Atom and JSON Feed types), else the paths where sites commonly keep one (`/feed`,
//! `/rss.xml`…).
//!
//! Every request goes through [`Fetcher`], so the SSRF guard, the size and time limits and
//! the per-host politeness of the daemon apply to `add` too. The HTML scan ([`feed_links`])
//! is pure: it runs html5ever's tokenizer (not a regex), so links inside comments or scripts
//! do not count and attribute quoting is HTML's.

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, StartTag, Tag, TagToken, Token, TokenSink, TokenSinkResult, Tokenizer,
    TokenizerOpts,
};
use url::Url;

use crate::fetch::{FetchError, FetchOutcome, Fetcher, Request};
use crate::normalize;
use crate::parse::{self, ParseError};

/// Where sites commonly serve their feed, tried (in this order, against the site's root) when
/// a page announces none.
pub const COMMON_PATHS: [&str; 6] = [
    "/feed",
    "/rss.xml",
    "/atom.xml",
    "/feed.xml",
    "/index.xml",
    "/rss",
];

/// Announced feeds followed at most: a page may list dozens (one per category).
const MAX_ANNOUNCED: usize = 8;

/// The feed found behind a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The feed's URL: where a permanent redirect settled, else the URL that answered.
    pub url: String,
    /// The feed's title as plain text, if it has one.
    pub title: Option<String>,
    /// How it was found, for the user: "the URL is a feed", "announced by the page", …
    pub how: How,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// The URL given is itself a feed.
    Direct,
    /// The page links to it with `<link rel="alternate">`.
    Announced,
    /// Found at one of [`COMMON_PATHS`].
    CommonPath,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("invalid URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("{url} answered 304 Not Modified to a request without validators")]
    UnexpectedNotModified { url: String },
    #[error("{url} is not a feed: {reason}")]
    NotAFeed { url: String, reason: String },
    #[error(
        "found no feed for {url}: it is an HTML page that announces no working feed, and none of {tried} is a feed"
    )]
    NoFeed { url: String, tried: String },
}

/// What one GET found.
enum Probe {
    Feed {
        url: String,
        title: Option<String>,
    },
    Html {
        final_url: String,
        text: String,
    },
    /// Answered, but neither a feed nor a page: why.
    Other(String),
}

/// Find the feed behind `url` (see the module doc).
pub async fn discover(
    fetcher: &Fetcher,
    url: &str,
    allow_private: bool,
) -> Result<Discovered, DiscoverError> {
    let parsed = Url::parse(url).map_err(|e| DiscoverError::Url {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(DiscoverError::Url {
            url: url.to_owned(),
            reason: "the scheme must be http or https".to_owned(),
        });
    }
    let (final_url, page) = match probe(fetcher, parsed.as_str(), allow_private).await? {
        Probe::Feed { url, title } => {
            return Ok(Discovered {
                url,
                title,
                how: How::Direct,
            });
        }
        Probe::Html { final_url, text } => (final_url, text),
        Probe::Other(reason) => {
            return Err(DiscoverError::NotAFeed {
                url: parsed.to_string(),
                reason,
            });
        }
    };
    let mut tried = Vec::new();
    for link in feed_links(&page, &final_url)
        .into_iter()
        .take(MAX_ANNOUNCED)
    {
        if let Some(found) = try_candidate(fetcher, &link, allow_private, &mut tried).await {
            return Ok(Discovered {
                how: How::Announced,
                ..found
            });
        }
    }
    for link in common_paths(&final_url) {
        if tried.contains(&link) {
            continue;
        }
        if let Some(found) = try_candidate(fetcher, &link, allow_private, &mut tried).await {
            return Ok(Discovered {
                how: How::CommonPath,
                ..found
            });
        }
    }
    Err(DiscoverError::NoFeed {
        url: parsed.to_string(),
        tried: tried.join(", "),
    })
}

/// Fetch a candidate feed URL; a failure only means "not this one".
async fn try_candidate(
    fetcher: &Fetcher,
    url: &str,
    allow_private: bool,
    tried: &mut Vec<String>,
) -> Option<Discovered> {
    tried.push(url.to_owned());
    match probe(fetcher, url, allow_private).await {
        Ok(Probe::Feed { url, title }) => Some(Discovered {
            url,
            title,
            how: How::Direct,
        }),
        Ok(_) => None,
        Err(e) => {
            tracing::debug!(url = %crate::redact::url(url), error = %e, "not a feed");
            None
        }
    }
}

async fn probe(fetcher: &Fetcher, url: &str, allow_private: bool) -> Result<Probe, DiscoverError> {
    let request = Request {
        url: url.to_owned(),
        allow_private,
        ..Request::default()
    };
    let fetched = match fetcher.fetch(&request).await? {
        FetchOutcome::Fetched(f) => f,
        FetchOutcome::NotModified(_) => {
            return Err(DiscoverError::UnexpectedNotModified {
                url: url.to_owned(),
            });
        }
    };
    let content_type = fetched.content_type.as_deref();
    match parse::parse(&fetched.body, content_type, &fetched.final_url) {
        Ok(feed) => Ok(Probe::Feed {
            url: fetched.moved_to.unwrap_or_else(|| url.to_owned()),
            title: feed
                .title
                .as_deref()
                .map(normalize::plain_text)
                .filter(|t| !t.trim().is_empty()),
        }),
        Err(ParseError::HtmlPage { .. }) => Ok(Probe::Html {
            text: parse::encoding::decode(&fetched.body, content_type).text,
            final_url: fetched.final_url,
        }),
        Err(e) if content_type.is_some_and(|t| t.to_ascii_lowercase().contains("html")) => {
            tracing::debug!(error = %e, "served as HTML; looking for its feeds");
            Ok(Probe::Html {
                text: parse::encoding::decode(&fetched.body, content_type).text,
                final_url: fetched.final_url,
            })
        }
        Err(e) => Ok(Probe::Other(e.to_string())),
    }
}

/// The common feed locations on `page`'s site, absolute.
pub fn common_paths(page: &str) -> Vec<String> {
    let Ok(base) = Url::parse(page) else {
        return Vec::new();
    };
    COMMON_PATHS
        .iter()
        .filter_map(|p| base.join(p).ok())
        .map(String::from)
        .collect()
}

/// The feeds an HTML page announces, absolute, in document order, without repeats:
/// `<link rel="alternate">` (rel may list other words too) whose `type` is RSS, Atom or
/// JSON Feed, resolved against the page's `<base href>` when it has one, else `page_url`.
pub fn feed_links(html: &str, page_url: &str) -> Vec<String> {
    let sink = LinkSink::default();
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    let LinkSink { links, base } = tokenizer.sink;
    let Ok(page) = Url::parse(page_url) else {
        return Vec::new();
    };
    let base = base
        .into_inner()
        .and_then(|b| page.join(&b).ok())
        .unwrap_or(page);
    let mut out: Vec<String> = Vec::new();
    for href in links.into_inner() {
        let Ok(url) = base.join(href.trim()) else {
            continue;
        };
        if !matches!(url.scheme(), "http" | "https") {
            continue;
        }
        let url = String::from(url);
        if !out.contains(&url) {
            out.push(url);
        }
    }
    out
}

/// Whether a `type` attribute names a feed format.
fn is_feed_type(media_type: &str) -> bool {
    let media = media_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        media.as_str(),
        "application/rss+xml"
            | "application/atom+xml"
            | "application/feed+json"
            | "application/rdf+xml"
    )
}

/// Collects the hrefs of feed `<link>`s and the first `<base href>` as the tokenizer meets
/// them. It also does the one job of a tree builder a tokenizer needs: switching to raw text
/// inside `<script>`, `<style>`, `<title>`… so markup in there is not taken for tags.
#[derive(Default)]
struct LinkSink {
    links: RefCell<Vec<String>>,
    base: RefCell<Option<String>>,
}

impl LinkSink {
    fn start_tag(&self, tag: &Tag) -> TokenSinkResult<()> {
        let attr = |name: &str| {
            tag.attrs
                .iter()
                .find(|a| &*a.name.local == name)
                .map(|a| a.value.to_string())
        };
        match &*tag.name {
            "link" => {
                let rel = attr("rel").unwrap_or_default().to_ascii_lowercase();
                let alternate = rel.split_ascii_whitespace().any(|w| w == "alternate");
                if alternate
                    && attr("type").is_some_and(|t| is_feed_type(&t))
                    && let Some(href) = attr("href")
                {
                    self.links.borrow_mut().push(href);
                }
                TokenSinkResult::Continue
            }
            "base" => {
                let mut base = self.base.borrow_mut();
                if base.is_none() {
                    *base = attr("href");
                }
                TokenSinkResult::Continue
            }
            "script" => TokenSinkResult::RawData(RawKind::ScriptData),
            "style" | "xmp" | "iframe" | "noembed" | "noframes" => {
                TokenSinkResult::RawData(RawKind::Rawtext)
            }
            "title" | "textarea" => TokenSinkResult::RawData(RawKind::Rcdata),
            "plaintext" => TokenSinkResult::Plaintext,
            _ => TokenSinkResult::Continue,
        }
    }
}

impl TokenSink for LinkSink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        match token {
            TagToken(tag) if tag.kind == StartTag => self.start_tag(&tag),
            _ => TokenSinkResult::Continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_links_lists_announced_feeds_when_page_has_link_alternates() {
        let html = r#"<!DOCTYPE html><html><head>
<title>Blog <link rel="alternate" type="application/rss+xml" href="/in-title"></title>
<link rel="stylesheet" href="/style.css">
<link rel="alternate" type="text/html" hreflang="ru" href="/ru/">
<LINK REL="Alternate" TYPE="application/rss+xml" TITLE="Posts" HREF="/feed/">
<link rel='alternate' type='application/atom+xml' href=https://example.org/atom.xml>
<link rel="alternate feed" type="application/feed+json; charset=utf-8" href="feed.json">
<link rel="alternate" type="application/rss+xml" href="/feed/">
<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
<!-- <link rel="alternate" type="application/rss+xml" href="/commented"> -->
<script>document.write('<link rel="alternate" type="application/rss+xml" href="/scripted">')</script>
</head><body></body></html>"#;
        assert_eq!(
            feed_links(html, "https://example.org/blog/post.html"),
            vec![
                "https://example.org/feed/".to_owned(),
                "https://example.org/atom.xml".to_owned(),
                "https://example.org/blog/feed.json".to_owned(),
            ]
        );
    }

    #[test]
    fn feed_links_resolves_against_base_href_when_page_has_one() {
        let html = r#"<html><head><base href="https://cdn.example.net/site/">
<link rel="alternate" type="application/atom+xml" href="atom.xml"></head></html>"#;
        assert_eq!(
            feed_links(html, "https://example.org/"),
            vec!["https://cdn.example.net/site/atom.xml".to_owned()]
        );
    }

    #[test]
    fn feed_links_is_empty_when_page_announces_nothing() {
        assert!(feed_links("<html><body><p>hi</p></body></html>", "https://e.org/").is_empty());
        assert!(feed_links("", "https://e.org/").is_empty());
    }

    #[test]
    fn common_paths_are_on_the_site_root_when_page_is_deep() {
        let paths = common_paths("https://example.org/blog/2024/post?x=1");
        assert_eq!(paths.len(), COMMON_PATHS.len());
        assert_eq!(paths[0], "https://example.org/feed");
        assert_eq!(paths[5], "https://example.org/rss");
    }
}
