//! Render a [`TopicFeed`] as RSS 2.0, Atom 1.0 or JSON Feed 1.1 (DESIGN §8).
//!
//! Pure: no I/O and no clock; the same `TopicFeed` always gives the same bytes, so the HTTP
//! layer can hash them into a strong `ETag` ([`cache`]).
//!
//! Rendering has two steps. [`Prepared::new`] does everything the three formats share: it strips
//! characters XML 1.0 forbids, falls back for empty titles, re-sanitizes every HTML fragment
//! (relative URLs resolved against the entry's link), cuts excerpts and appends attribution. The
//! format writers ([`rss`](self::rss), [`atom`], [`json`]) then only map that view onto their
//! crate's types, so the three formats cannot drift apart in what they say.

pub mod cache;
mod errors;
mod html;
mod opml;

mod atom;
mod json;
mod rss;

use chrono::{DateTime, SubsecRound, Utc};

use crate::model::{ContentMode, StoryView, TopicFeed};

pub use cache::{Encoding, FeedCache, FeedKey, Rendered};
pub use errors::{
    ErrorsFeedError, errors_feed_url, event_id, render_errors_feed, source_anchor, sources_url,
};

/// Name written in every feed's generator element.
const GENERATOR_NAME: &str = "feedmill";
/// Version written next to [`GENERATOR_NAME`].
const GENERATOR_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The output formats of a topic feed; the URL extension selects one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// RSS 2.0 (`.rss`).
    Rss,
    /// Atom 1.0 (`.atom`).
    Atom,
    /// JSON Feed 1.1 (`.json`).
    Json,
}

impl Format {
    /// Every format, in the order pages list them.
    pub const ALL: [Format; 3] = [Format::Rss, Format::Atom, Format::Json];

    /// The format served for a URL extension (without the dot). Exact and lower-case only, so
    /// one feed has exactly one URL (and one cache entry).
    pub fn from_extension(ext: &str) -> Option<Format> {
        match ext {
            "rss" => Some(Format::Rss),
            "atom" => Some(Format::Atom),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// The URL extension (without the dot).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Rss => "rss",
            Format::Atom => "atom",
            Format::Json => "json",
        }
    }

    /// The `Content-Type` to serve. The specific feed types (not `application/xml`) let
    /// browsers and readers recognise feeds; the charset is explicit because the XML
    /// declaration is not read by every client.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml; charset=utf-8",
            Format::Atom => "application/atom+xml; charset=utf-8",
            Format::Json => "application/feed+json; charset=utf-8",
        }
    }

    /// The bare media type, for `type` attributes of links.
    fn media_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml",
            Format::Atom => "application/atom+xml",
            Format::Json => "application/feed+json",
        }
    }
}

pub use opml::{OpmlTopic, render_opml};

/// The URL a topic feed is served at: `{base}/topics/{slug}.{ext}`. Feeds use it as their
/// `rel="self"` link, which the validator requires to equal the URL it fetched.
pub fn feed_url(base_url: &str, slug: &str, format: Format) -> String {
    format!("{}.{}", page_url(base_url, slug), format.extension())
}

/// The URL of page `number` of a topic feed: the feed URL itself for page 1 (the current
/// feed, the one readers subscribe to), `…?page=N` for the archive pages.
pub fn feed_page_url(base_url: &str, slug: &str, format: Format, number: u32) -> String {
    let url = feed_url(base_url, slug, format);
    if number <= 1 {
        url
    } else {
        format!("{url}?page={number}")
    }
}

/// Which page of a topic feed a document is (RFC 5005 paging and archiving).
///
/// Page 1 is the current feed: the newest `limit` stories, at the URL readers subscribe to.
/// Page N (N ≥ 2) holds the next `limit` older stories, at `?page=N`, so a reader that was
/// offline for longer than `limit` stories lasted can walk back and catch up. Pages are
/// counted from the newest story, so a page's content shifts when stories arrive: readers
/// recognise what they already have by the entry ids, which never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Page {
    /// 1 for the current feed.
    pub number: u32,
    /// Whether a page of older stories follows (then the document links to it).
    pub has_older: bool,
}

impl Page {
    /// The current feed.
    pub fn current(has_older: bool) -> Page {
        Page {
            number: 1,
            has_older,
        }
    }

    /// Whether this is an archive page (`fh:archive`), not the current feed.
    pub fn is_archive(self) -> bool {
        self.number > 1
    }

    /// The next older page's number, if there is one.
    pub fn older(self) -> Option<u32> {
        self.has_older.then(|| self.number.saturating_add(1))
    }

    /// The next newer page's number (1 is the current feed), if this is an archive page.
    pub fn newer(self) -> Option<u32> {
        self.is_archive().then(|| self.number - 1)
    }
}

/// The namespace of RFC 5005's `fh:archive` element.
const FEED_HISTORY_NS: &str = "http://purl.org/syndication/history/1.0";

/// The URL of a topic's HTML page, `{base}/topics/{slug}`: the feeds' home / alternate link.
pub fn page_url(base_url: &str, slug: &str) -> String {
    format!("{}/topics/{slug}", base_url.trim_end_matches('/'))
}

/// Why a feed could not be rendered. Writing into memory cannot really fail; these exist
/// because the writer crates return `Result`s.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("failed to write rss feed for topic {slug}")]
    Rss {
        slug: String,
        #[source]
        source: ::rss::Error,
    },
    #[error("failed to write atom feed for topic {slug}")]
    Atom {
        slug: String,
        #[source]
        source: atom_syndication::Error,
    },
    #[error("failed to write json feed for topic {slug}")]
    Json {
        slug: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Render `feed` in `format` as the current feed with no older page. Deterministic: equal
/// inputs give equal bytes.
pub fn render(feed: &TopicFeed, format: Format) -> Result<Vec<u8>, PublishError> {
    render_page(feed, format, Page::current(false))
}

/// Render `feed` (the stories of `page`) in `format`, with the paging links of `page`:
/// `next` / `prev-archive` to the older page, and on archive pages `fh:archive`, `current`,
/// `previous` / `next-archive` to the newer page (JSON Feed: `next_url`).
pub fn render_page(feed: &TopicFeed, format: Format, page: Page) -> Result<Vec<u8>, PublishError> {
    let prepared = Prepared::new(feed, page);
    match format {
        Format::Rss => {
            rss::write(&prepared)
                .map(hex_char_refs)
                .map_err(|source| PublishError::Rss {
                    slug: feed.slug.clone(),
                    source,
                })
        }
        Format::Atom => {
            atom::write(&prepared)
                .map(hex_char_refs)
                .map_err(|source| PublishError::Atom {
                    slug: feed.slug.clone(),
                    source,
                })
        }
        Format::Json => json::write(&prepared).map_err(|source| PublishError::Json {
            slug: feed.slug.clone(),
            source,
        }),
    }
}

/// Rewrite the entity references `&amp;` and `&lt;` that the XML writers produce into the
/// equivalent character references `&#x26;` and `&#x3C;`, outside CDATA sections.
///
/// The document means exactly the same to any XML parser. The RSS Best Practices Profile asks
/// for hexadecimal references in plain-text elements because some RSS readers decode titles as
/// HTML a second time; the W3C validator warns ("Encode & and < in plain text using
/// hexadecimal character references") on a title such as `trade <halted>` unless they are
/// used. CDATA sections (RSS `description`, `content:encoded`) are copied verbatim: there the
/// text is HTML and its own entities must stay as they are.
fn hex_char_refs(xml: Vec<u8>) -> Vec<u8> {
    const CDATA_START: &[u8] = b"<![CDATA[";
    const CDATA_END: &[u8] = b"]]>";
    let mut out = Vec::with_capacity(xml.len() + xml.len() / 32);
    let mut i = 0;
    while i < xml.len() {
        let rest = &xml[i..];
        if rest.starts_with(CDATA_START) {
            let end = rest
                .windows(CDATA_END.len())
                .position(|w| w == CDATA_END)
                .map_or(rest.len(), |p| p + CDATA_END.len());
            out.extend_from_slice(&rest[..end]);
            i += end;
        } else if rest.starts_with(b"&amp;") {
            out.extend_from_slice(b"&#x26;");
            i += b"&amp;".len();
        } else if rest.starts_with(b"&lt;") {
            out.extend_from_slice(b"&#x3C;");
            i += b"&lt;".len();
        } else {
            out.push(xml[i]);
            i += 1;
        }
    }
    out
}

/// What every format says about a feed, already cleaned: no XML-illegal characters, plain
/// text collapsed to one line, HTML re-sanitized.
#[derive(Debug, Clone)]
struct Prepared {
    slug: String,
    base_url: String,
    title: String,
    description: String,
    page_url: String,
    updated: DateTime<Utc>,
    ttl_minutes: u32,
    page: Page,
    entries: Vec<PreparedEntry>,
}

/// One entry as every format renders it.
#[derive(Debug, Clone)]
struct PreparedEntry {
    /// `urn:uuid:{story id}`.
    id: String,
    /// Plain text, never empty.
    title: String,
    /// The link readers open: the story's own, else another outlet's article on the same
    /// story, else the story's anchor on the topic page. Feed readers drop or mangle entries
    /// without a link, so every entry gets one.
    entry_link: String,
    /// The excerpt followed by "Read more" and attribution: RSS `description`, Atom `summary`
    /// (or `content` when there is no full body).
    short_html: String,
    /// The full body followed by attribution, only in [`ContentMode::Full`] when the story has
    /// a body: RSS `content:encoded`, Atom `content`.
    full_html: Option<String>,
    /// Plain text of the excerpt, bounded (JSON Feed `summary`).
    summary_text: Option<String>,
    authors: Vec<String>,
    categories: Vec<String>,
    /// The story's id, for [`atom`]'s tie-breaking of equal `updated` times.
    story_id: uuid::Uuid,
    /// Whole seconds, within [`EARLIEST_DATE`, feed updated] (see [`DateBounds`]).
    published: DateTime<Utc>,
    /// Like `published`, and never before it (Atom readers treat the reverse as an error in
    /// the data).
    updated: DateTime<Utc>,
    source_name: String,
    /// The source's feed URL (RSS `<source url>`, Atom `<source>` id and self link); `None`
    /// when it is not an absolute http(s) URL, and then neither element is written, as both
    /// would be invalid.
    source_feed_url: Option<String>,
    source_site_url: Option<String>,
}

impl PreparedEntry {
    /// The entry's main HTML: the full body when there is one, else the short form.
    fn body_html(&self) -> &str {
        self.full_html.as_deref().unwrap_or(&self.short_html)
    }
}

impl Prepared {
    fn new(feed: &TopicFeed, page: Page) -> Prepared {
        let mut sanitizer = html::Sanitizer::new();
        let slug = html::plain_line(&feed.slug);
        let mut title = html::plain_line(&feed.title);
        if title.is_empty() {
            title.clone_from(&slug);
        }
        let mut description = html::plain_line(&feed.description);
        if description.is_empty() {
            description = format!("Stories about {title}, gathered by feedmill");
        }
        let base_url = html::xml_clean(feed.base_url.trim_end_matches('/')).into_owned();
        let home = page_url(&base_url, &slug);
        let updated = feed.updated.trunc_subsecs(0);
        let dates = DateBounds { latest: updated };
        let entries = feed
            .entries
            .iter()
            .map(|story| {
                let mode = story.content.unwrap_or(feed.content);
                prepare_entry(story, dates, &home, mode, &mut sanitizer)
            })
            .collect();
        Prepared {
            page_url: home,
            slug,
            base_url,
            title,
            description,
            updated,
            ttl_minutes: feed.ttl_minutes,
            page,
            entries,
        }
    }

    /// The current feed's URL: what readers subscribe to (RFC 5005 `current`).
    fn feed_url(&self, format: Format) -> String {
        feed_url(&self.base_url, &self.slug, format)
    }

    /// This document's own URL (`rel="self"`).
    fn self_url(&self, format: Format) -> String {
        self.page_url_of(format, self.page.number)
    }

    fn page_url_of(&self, format: Format, number: u32) -> String {
        feed_page_url(&self.base_url, &self.slug, format, number)
    }

    /// The RFC 5005 links of this page, `(rel, href)`, in a fixed order: to the older page
    /// (`next` for paged-feed readers, `prev-archive` for archive-aware ones), and on archive
    /// pages to the current feed and the newer page. The newest archive page's newer page is
    /// the current feed: it gets `next-archive` too, so every archive page links both ways
    /// (the validator warns about an archive page with neither archive link).
    fn paging_links(&self, format: Format) -> Vec<(&'static str, String)> {
        let mut links = Vec::new();
        if let Some(older) = self.page.older() {
            let href = self.page_url_of(format, older);
            links.push(("next", href.clone()));
            links.push(("prev-archive", href));
        }
        if let Some(newer) = self.page.newer() {
            let href = self.page_url_of(format, newer);
            links.push(("current", self.feed_url(format)));
            links.push(("previous", href.clone()));
            links.push(("next-archive", href));
        }
        links
    }
}

fn prepare_entry(
    story: &StoryView,
    dates: DateBounds,
    page: &str,
    mode: ContentMode,
    sanitizer: &mut html::Sanitizer,
) -> PreparedEntry {
    let link = story.link.as_deref().and_then(html::http_url);
    let source_site_url = story.source.site_url.as_deref().and_then(html::http_url);
    // Relative URLs are relative to the article; without its link, the source's home page
    // still resolves the common root-relative ones ("/images/x.jpg").
    sanitizer.set_base(link.as_deref().or(source_site_url.as_deref()));

    let source_name = match html::plain_line(&story.source.name) {
        name if name.is_empty() => "the original source".to_owned(),
        name => name,
    };
    let attribution = html::Attribution {
        source_name: &source_name,
        link: link.as_deref(),
        site_url: source_site_url.as_deref(),
        also: &story.also,
    };

    // The excerpt comes from the summary when the feed gave one, else from the body; both are
    // bounded because many feeds put the whole article in their summary.
    let excerpt_source = story
        .summary_html
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .or(story.content_html.as_deref());
    let excerpt = excerpt_source
        .map(|s| sanitizer.clean(&html::excerpt(s, html::EXCERPT_MAX_BYTES)))
        .unwrap_or_default();
    let excerpt_text = html::to_text(&excerpt);

    let short_html = html::xml_clean(&format!(
        "{excerpt}{}",
        attribution.render(html::AttributionKind::ReadMore)
    ))
    .into_owned();
    let full_html = match (mode, story.content_html.as_deref()) {
        (ContentMode::Full, Some(body)) if !body.trim().is_empty() => Some(
            html::xml_clean(&format!(
                "{}{}",
                sanitizer.clean(body),
                attribution.render(html::AttributionKind::Original)
            ))
            .into_owned(),
        ),
        _ => None,
    };

    let mut title = html::plain_line(&story.title);
    if title.is_empty() {
        title = html::first_words(&excerpt_text, html::TITLE_FALLBACK_WORDS)
            .unwrap_or_else(|| "(untitled)".to_owned());
    }

    let entry_link = link
        .clone()
        .or_else(|| {
            story
                .also
                .iter()
                .find_map(|also| also.url.as_deref().and_then(html::http_url))
        })
        .unwrap_or_else(|| story_anchor(page, story.id));

    PreparedEntry {
        id: story.id.urn().to_string(),
        title,
        entry_link,
        short_html,
        full_html,
        summary_text: html::first_words(&excerpt_text, html::SUMMARY_MAX_WORDS),
        authors: html::plain_list(&story.authors),
        categories: html::plain_list(&story.categories),
        story_id: story.id,
        published: dates.clamp(story.published),
        updated: dates.clamp(story.updated.max(story.published)),
        source_name,
        source_feed_url: html::http_url(&story.source.feed_url),
        source_site_url,
    }
}

/// No entry date is written before this: earlier dates are parse failures upstream (the Unix
/// epoch, a two-digit year) and the validator flags them as implausible.
const EARLIEST_DATE: DateTime<Utc> = DateTime::from_timestamp_nanos(631_152_000_000_000_000);

/// The range entry dates are kept in. The upper bound is the feed's `updated`: a story joined
/// the topic (or changed) at the latest when the topic last changed, so a later date is a
/// publisher's clock or time-zone error, and it would pin the entry to the top of readers'
/// date-sorted lists. Dates are cut to whole seconds, the precision RSS and HTTP dates have,
/// so that all three formats state the same instants.
#[derive(Debug, Clone, Copy)]
struct DateBounds {
    latest: DateTime<Utc>,
}

impl DateBounds {
    fn clamp(self, date: DateTime<Utc>) -> DateTime<Utc> {
        date.trunc_subsecs(0)
            .min(self.latest)
            .max(EARLIEST_DATE.min(self.latest))
    }
}

/// Where a story appears on its topic's HTML page: `{page}#story-{uuid}`. The topic page must
/// give each entry the element id `story-{uuid}`.
pub fn story_anchor(page_url: &str, id: uuid::Uuid) -> String {
    format!("{page_url}#story-{id}")
}

/// A plain-text teaser of a story for its topic's HTML page: the first `max_words` words of
/// its summary (else of its body), markup removed, entities decoded. The stored HTML was
/// sanitized on the way in and the page escapes what it prints, so unlike the feed's excerpt
/// this needs no second sanitizer pass: a page view stays cheap with 50 entries.
pub fn teaser(story: &StoryView, max_words: usize) -> Option<String> {
    let source = story
        .summary_html
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .or(story.content_html.as_deref())?;
    let text = html::to_text(&html::excerpt(source, html::EXCERPT_MAX_BYTES));
    html::first_words(&text, max_words)
}

/// RFC 822 date as RSS 2.0 wants it, with a two-digit day and a numeric zone (the form every
/// reader parses).
fn rfc822(date: DateTime<Utc>) -> String {
    date.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// RFC 3339 date in UTC with a `Z` and whole seconds (JSON Feed).
fn rfc3339(date: DateTime<Utc>) -> String {
    date.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
pub(crate) mod testdata;

#[cfg(test)]
mod tests;
