//! Feed bytes → `feed_rs` model, pure. RSS 0.9x/1.0/2.0, Atom and JSON Feed.
//!
//! Three steps, the later ones only when needed:
//! 1. [`encoding`]: decide the character encoding (BOM, then HTTP charset, then the XML
//!    declaration, then a fallback) and transcode to UTF-8, rewriting the declaration to
//!    match — feed-rs decodes by the declaration alone.
//! 2. A strict parse by feed-rs, with our own date reader ([`date`]) and an id generator that
//!    leaves missing ids empty: the key rules of DESIGN §9 (guid, else link, else a content
//!    hash) are applied in `normalize`, never feed-rs' random fallback.
//! 3. Only if that fails (or finds no entries in a document that has some): the lenient
//!    pre-pass of [`recovery`], then a second parse. Clean feeds never pay for it; what it
//!    repaired is reported in [`ParsedFeed::recovered`] so the pipeline can log it.
//!
//! Last, when the document uses `xml:base`, each entry gets the base in force for its content
//! ([`base`]), which feed-rs keeps only for links.

mod base;
pub mod date;
pub mod encoding;
pub mod recovery;

use std::borrow::Cow;

pub use encoding::EncodingSource;

/// Some bytes were invalid in the document's encoding and became U+FFFD.
pub const INVALID_BYTES: &str = "invalid-bytes";
/// Whitespace before the XML declaration (which must come first) skipped.
pub const LEADING_WHITESPACE: &str = "leading-whitespace";

/// A parsed feed: what the pipeline needs of the channel, plus its entries.
#[derive(Debug)]
pub struct ParsedFeed {
    pub title: Option<String>,
    /// The site's home page (the feed's alternate link), absolute.
    pub site_url: Option<String>,
    pub language: Option<String>,
    /// RSS `<ttl>` in minutes, if given.
    pub ttl_minutes: Option<u32>,
    pub entries: Vec<feed_rs::model::Entry>,
    /// The encoding the document was read in (WHATWG name, or `UTF-32LE`/`UTF-32BE`).
    pub encoding: &'static str,
    /// What decided that encoding.
    pub encoding_source: EncodingSource,
    /// What the document needed to be read, for the log: [`INVALID_BYTES`],
    /// [`LEADING_WHITESPACE`] and the labels of [`recovery`]. Empty for a clean feed.
    pub recovered: Vec<&'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("feed from {url} is empty")]
    Empty { url: String },
    #[error("{url} is an HTML page, not a feed{}", hint.as_ref().map(|h| format!(" (the page names a feed at {h})")).unwrap_or_default())]
    HtmlPage { url: String, hint: Option<String> },
    #[error("failed to parse feed from {url}: {source}")]
    Invalid {
        url: String,
        #[source]
        source: feed_rs::parser::ParseFeedError,
    },
    #[error("failed to parse feed from {url}: the feed parser crashed on it")]
    Crashed { url: String },
}

/// Why one feed-rs run gave no feed.
enum Failure {
    Feed(feed_rs::parser::ParseFeedError),
    /// feed-rs (or quick-xml under it) panicked: hostile input must not take a worker down.
    Panic,
}

/// Parse a feed document fetched from `url`. `content_type` is the HTTP header, if any; see
/// [`encoding`] for how it, a BOM and the XML declaration decide the encoding.
pub fn parse(
    bytes: &[u8],
    content_type: Option<&str>,
    url: &str,
) -> Result<ParsedFeed, ParseError> {
    let decoded = encoding::decode(bytes, content_type);
    let mut recovered = Vec::new();
    if decoded.had_errors {
        recovered.push(INVALID_BYTES);
    }
    let text = decoded
        .text
        .trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if text.is_empty() {
        return Err(ParseError::Empty {
            url: url.to_owned(),
        });
    }
    if text.len() < decoded.text.len() && text.starts_with("<?xml") {
        recovered.push(LEADING_WHITESPACE);
    }
    if looks_like_html(text) {
        return Err(ParseError::HtmlPage {
            url: url.to_owned(),
            hint: alternate_feed_link(text, url),
        });
    }
    let text = prepare(text, &mut recovered);
    let done = |mut feed: feed_rs::model::Feed, recovered: Vec<&'static str>, source: &str| {
        set_entry_bases(&mut feed, source, url);
        finish(feed, url, decoded.encoding, decoded.source, recovered)
    };
    let is_json = text.starts_with('{');
    match run_feed_rs(&text, url) {
        Ok(feed) if is_json || !looks_unread(&feed, &text) => Ok(done(feed, recovered, &text)),
        Ok(feed) => {
            // Parsed, but what it plainly has was not seen (a retired namespace…).
            let repaired = recovery::recover(&text);
            match run_feed_rs(&repaired.text, url) {
                Ok(better)
                    if better.entries.len() > feed.entries.len()
                        || (better.title.is_some() && feed.title.is_none()) =>
                {
                    recovered.extend(repaired.applied);
                    Ok(done(better, recovered, &repaired.text))
                }
                _ => Ok(done(feed, recovered, &text)),
            }
        }
        Err(strict) if !is_json => {
            let repaired = recovery::recover(&text);
            match run_feed_rs(&repaired.text, url) {
                Ok(feed) => {
                    recovered.extend(repaired.applied);
                    Ok(done(feed, recovered, &repaired.text))
                }
                Err(_) => Err(failure_error(strict, url)),
            }
        }
        Err(strict) => Err(failure_error(strict, url)),
    }
}

/// Give each entry the absolute `xml:base` in force for its content (see [`base`]), in
/// `Entry::base`, where normalize looks for it. Only when the document uses `xml:base`, and
/// only when the scan saw exactly the entries feed-rs did (so they line up).
fn set_entry_bases(feed: &mut feed_rs::model::Feed, text: &str, url: &str) {
    if feed.entries.is_empty() || !text.contains("xml:base") {
        return;
    }
    let bases = base::entry_bases(text, url);
    if bases.len() != feed.entries.len() {
        return;
    }
    for (entry, base) in feed.entries.iter_mut().zip(bases) {
        let Some(base) = base else { continue };
        let own = entry.base.as_deref().and_then(|b| base.join(b.trim()).ok());
        entry.base = Some(own.unwrap_or(base).to_string());
    }
}

fn failure_error(failure: Failure, url: &str) -> ParseError {
    let url = url.to_owned();
    match failure {
        Failure::Feed(source) => ParseError::Invalid { url, source },
        Failure::Panic => ParseError::Crashed { url },
    }
}

fn finish(
    feed: feed_rs::model::Feed,
    url: &str,
    encoding: &'static str,
    encoding_source: EncodingSource,
    recovered: Vec<&'static str>,
) -> ParsedFeed {
    let site_url = feed
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .and_then(|l| resolve(url, &l.href));
    ParsedFeed {
        title: feed.title.map(|t| t.content),
        site_url,
        language: feed.language,
        ttl_minutes: feed.ttl,
        entries: feed.entries,
        encoding,
        encoding_source,
        recovered,
    }
}

/// One feed-rs run over UTF-8 text. A panic inside it (quick-xml asserts on some inputs) is
/// caught and reported as a failure of this feed only.
fn run_feed_rs(text: &str, url: &str) -> Result<feed_rs::model::Feed, Failure> {
    let base = url::Url::parse(url).ok().map(|_| url);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        feed_rs::parser::Builder::new()
            .base_uri(base)
            .sanitize_content(false)
            .timestamp_parser(date::parse_date)
            // Keep ids empty when the feed has none: our own key rules apply later.
            .id_generator(|_links, _title, _uri| String::new())
            .build()
            .parse(text.as_bytes())
    }))
    .map_err(|_| Failure::Panic)?
    .map_err(Failure::Feed)
}

/// A feed read without entries, though the text has some, or without even a title: feed-rs
/// skipped elements it did not recognise. Free for a normal feed (it has entries).
fn looks_unread(feed: &feed_rs::model::Feed, text: &str) -> bool {
    feed.entries.is_empty()
        && (feed.title.is_none() || text.contains("<item") || text.contains("<entry"))
}

/// Make the (UTF-8) text say it is UTF-8: the leading declaration's encoding rewritten, and
/// any later `<?xml …?>` declaration removed — quick-xml panics when one names another
/// encoding past the start, so this cannot wait for the recovery pass.
fn prepare<'a>(text: &'a str, recovered: &mut Vec<&'static str>) -> Cow<'a, str> {
    let (head, decl_end) = match declaration_encoding_span(text) {
        Some((start, stop)) => {
            let end = text.find("?>").map_or(text.len(), |e| e + 2);
            let mut head = String::with_capacity(text.len());
            head.push_str(&text[..start]);
            head.push_str("UTF-8");
            head.push_str(&text[stop..end]);
            (Some(head), end)
        }
        None => (
            None,
            if text.starts_with("<?xml") {
                text.find("?>").map_or(0, |e| e + 2)
            } else {
                0
            },
        ),
    };
    let rest = &text[decl_end..];
    let stray = find_declaration(rest).is_some();
    if !stray {
        return match head {
            Some(mut h) => {
                h.push_str(rest);
                Cow::Owned(h)
            }
            None => Cow::Borrowed(text),
        };
    }
    recovered.push(recovery::STRAY_XML_DECLARATION);
    let mut out = head.unwrap_or_else(|| text[..decl_end].to_owned());
    let mut rest = rest;
    while let Some(at) = find_declaration(rest) {
        out.push_str(&rest[..at]);
        rest = match rest[at..].find("?>") {
            Some(e) => &rest[at + e + 2..],
            None => "",
        };
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The position of an XML declaration (`<?xml` then space or `?`) in `text`, not a
/// `<?xml-stylesheet` processing instruction.
fn find_declaration(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = text[from..].find("<?xml") {
        let pos = from + at;
        let next = text[pos + 5..].chars().next();
        if next.is_none_or(|c| c.is_ascii_whitespace() || c == '?') {
            return Some(pos);
        }
        from = pos + 5;
    }
    None
}

fn resolve(base: &str, href: &str) -> Option<String> {
    let base = url::Url::parse(base).ok();
    let joined = match base {
        Some(b) => b.join(href.trim()).ok()?,
        None => url::Url::parse(href.trim()).ok()?,
    };
    matches!(joined.scheme(), "http" | "https").then(|| joined.to_string())
}

/// Byte range of the encoding name inside a leading `<?xml … encoding="…" ?>`.
fn declaration_encoding_span(text: &str) -> Option<(usize, usize)> {
    let rest = text.strip_prefix("<?xml")?;
    let decl = &rest[..rest.find("?>")?];
    let at = decl.find("encoding")?;
    let after = &decl[at..];
    let q1 = after.find(['"', '\''])?;
    let quote = after[q1..].chars().next()?;
    let q2 = after[q1 + 1..].find(quote)?;
    let start = "<?xml".len() + at + q1 + 1;
    Some((start, start + q2))
}

fn looks_like_html(text: &str) -> bool {
    let head: String = text
        .chars()
        .take(1024)
        .collect::<String>()
        .to_ascii_lowercase();
    let head = head.trim_start();
    (head.starts_with("<!doctype html") || head.starts_with("<html"))
        || (head.contains("<html")
            && !head.contains("<rss")
            && !head.contains("<feed")
            && !head.contains("<rdf"))
}

/// The first `<link rel="alternate" type="application/(rss|atom)+xml" href>` of an HTML page.
fn alternate_feed_link(html: &str, base: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find("<link") {
        let start = from + pos;
        let end = lower[start..].find('>').map(|e| start + e)?;
        let tag = &lower[start..end];
        if tag.contains("alternate")
            && (tag.contains("rss+xml") || tag.contains("atom+xml") || tag.contains("feed+json"))
        {
            let original = &html[start..end];
            if let Some(href) = attribute(original, "href") {
                return resolve(base, &href);
            }
        }
        from = end;
    }
    None
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let at = lower.find(&format!("{name}="))?;
    let rest = &tag[at + name.len() + 1..];
    let quote = rest.chars().next()?;
    if quote == '"' || quote == '\'' {
        let end = rest[1..].find(quote)?;
        Some(rest[1..=end].to_owned())
    } else {
        Some(rest.split_whitespace().next()?.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>T</title><link>https://example.org/</link><ttl>30</ttl>
<item><title>With guid</title><guid>https://example.org/?p=1</guid><link>https://example.org/a</link></item>
<item><title>No guid</title><link>https://example.org/b</link></item>
</channel></rss>"#;

    #[test]
    fn parse_keeps_raw_guid_and_leaves_missing_ids_empty_when_rss() {
        let feed = parse(
            RSS.as_bytes(),
            Some("application/rss+xml"),
            "https://example.org/feed",
        )
        .unwrap();
        assert_eq!(feed.title.as_deref(), Some("T"));
        assert_eq!(feed.site_url.as_deref(), Some("https://example.org/"));
        assert_eq!(feed.ttl_minutes, Some(30));
        assert_eq!(feed.entries.len(), 2);
        assert_eq!(feed.entries[0].id, "https://example.org/?p=1");
        assert_eq!(feed.entries[1].id, "");
    }

    #[test]
    fn parse_honours_http_charset_when_declaration_disagrees() {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>\u{41a}\u{438}\u{440}</title><item><title>\u{41f}\u{440}\u{438}\u{432}\u{435}\u{442}</title><guid>1</guid></item></channel></rss>";
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(xml);
        let feed = parse(
            &bytes,
            Some("text/xml; charset=windows-1251"),
            "https://example.org/",
        )
        .unwrap();
        assert_eq!(feed.title.as_deref(), Some("\u{41a}\u{438}\u{440}"));
        assert_eq!(
            feed.entries[0].title.as_ref().unwrap().content,
            "\u{41f}\u{440}\u{438}\u{432}\u{435}\u{442}"
        );
    }

    #[test]
    fn parse_decodes_by_declaration_when_no_http_charset() {
        let xml = "<?xml version=\"1.0\" encoding=\"windows-1251\"?><rss version=\"2.0\"><channel><title>\u{41a}</title></channel></rss>";
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(xml);
        let feed = parse(&bytes, None, "https://example.org/").unwrap();
        assert_eq!(feed.title.as_deref(), Some("\u{41a}"));
    }

    #[test]
    fn parse_reports_feed_hint_when_given_html_page() {
        let html = r#"<!DOCTYPE html><html><head><link rel="alternate" type="application/rss+xml" href="/feed/"></head></html>"#;
        let err = parse(
            html.as_bytes(),
            Some("text/html"),
            "https://example.org/page",
        )
        .unwrap_err();
        assert!(
            matches!(&err, ParseError::HtmlPage { hint: Some(h), .. } if h == "https://example.org/feed/"),
            "{err}"
        );
        assert!(err.to_string().contains("https://example.org/page"));
    }

    #[test]
    fn parse_names_url_when_input_is_garbage() {
        let err = parse(b"<foo><bar>", None, "https://example.org/x").unwrap_err();
        assert!(err.to_string().contains("https://example.org/x"), "{err}");
        assert!(matches!(
            parse(b"   ", None, "u"),
            Err(ParseError::Empty { .. })
        ));
    }

    #[test]
    fn parse_reads_json_feed_and_atom() {
        let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"J","items":[{"id":"1","content_text":"x","url":"https://e.org/1"}]}"#;
        assert_eq!(
            parse(json.as_bytes(), None, "https://e.org/f.json")
                .unwrap()
                .entries
                .len(),
            1
        );
        let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><id>urn:x</id><updated>2024-01-01T00:00:00Z</updated><entry><id>urn:e</id><title>E</title><updated>2024-01-01T00:00:00Z</updated></entry></feed>"#;
        assert_eq!(
            parse(atom.as_bytes(), None, "https://e.org/a")
                .unwrap()
                .entries[0]
                .id,
            "urn:e"
        );
    }

    fn ok(xml: &[u8], content_type: Option<&str>) -> ParsedFeed {
        parse(xml, content_type, "https://example.org/feed").unwrap()
    }

    fn titles(feed: &ParsedFeed) -> Vec<String> {
        feed.entries
            .iter()
            .map(|e| {
                e.title
                    .as_ref()
                    .map(|t| t.content.clone())
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn parse_reports_nothing_recovered_when_feed_is_clean() {
        let feed = ok(RSS.as_bytes(), None);
        assert!(feed.recovered.is_empty(), "{:?}", feed.recovered);
        assert_eq!(feed.encoding_source, EncodingSource::Declaration);
    }

    #[test]
    fn parse_recovers_items_when_ampersands_are_unescaped() {
        let feed = ok(
            b"<rss version=\"2.0\"><channel><title>Q&A</title><item><title>AT&T & co</title><link>https://e.org/?a=1&b=2</link></item></channel></rss>",
            None,
        );
        assert_eq!(feed.title.as_deref(), Some("Q&A"));
        assert_eq!(titles(&feed), vec!["AT&T & co"]);
        assert!(feed.recovered.contains(&recovery::UNESCAPED_AMPERSAND));
    }

    #[test]
    fn parse_maps_html_entities_when_recovery_runs() {
        let feed = ok(
            b"<rss version=\"2.0\"><channel><title>T</title><item><title>a&mdash;b &amp; 1 < 2</title></item></channel></rss>",
            None,
        );
        assert_eq!(titles(&feed), vec!["a\u{2014}b & 1 < 2"]);
        assert!(feed.recovered.contains(&recovery::HTML_ENTITIES));
    }

    #[test]
    fn parse_skips_whitespace_and_garbage_when_before_declaration() {
        let feed = ok(b"\n\n  <?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title><item><title>x</title></item></channel></rss>", None);
        assert_eq!(feed.recovered, vec![LEADING_WHITESPACE]);
        let feed = ok(b"<b>Warning</b>: headers sent\n<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title><item><title>x &c</title></item></channel></rss>", None);
        assert_eq!(titles(&feed), vec!["x &c"]);
        assert!(
            feed.recovered.contains(&recovery::GARBAGE_BEFORE_XML),
            "{:?}",
            feed.recovered
        );
    }

    #[test]
    fn parse_survives_stray_declaration_when_it_names_another_encoding() {
        // quick-xml panics on this unless the declaration is removed first.
        let feed = ok(b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title><?xml version=\"1.0\" encoding=\"iso-8859-1\"?><item><title>x</title></item></channel></rss>", None);
        assert_eq!(titles(&feed), vec!["x"]);
        assert_eq!(feed.recovered, vec![recovery::STRAY_XML_DECLARATION]);
    }

    #[test]
    fn parse_reads_rss_when_version_or_channel_is_missing() {
        let feed = ok(
            b"<rss><item><title>x</title><guid>1</guid></item></rss>",
            None,
        );
        assert_eq!(titles(&feed), vec!["x"]);
        assert_eq!(
            feed.recovered,
            vec![recovery::RSS_VERSION, recovery::RSS_CHANNEL]
        );
    }

    #[test]
    fn parse_reads_entries_when_namespace_is_retired() {
        let atom03 = br#"<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>Old</title><entry><title>e</title><id>tag:x,2005:1</id><issued>2005-01-02T03:04:05Z</issued><content type="text/html" mode="escaped">&lt;p&gt;hi&lt;/p&gt;</content></entry></feed>"#;
        let feed = ok(atom03, None);
        assert_eq!(feed.title.as_deref(), Some("Old"));
        assert_eq!(feed.entries[0].id, "tag:x,2005:1");
        assert!(feed.entries[0].published.is_some());
        assert_eq!(
            feed.entries[0].content.as_ref().unwrap().body.as_deref(),
            Some("<p>hi</p>")
        );
        let userland = br#"<rss version="2.0" xmlns="http://backend.userland.com/rss2"><channel><title>U</title><item><title>i</title></item></channel></rss>"#;
        assert_eq!(titles(&ok(userland, None)), vec!["i"]);
        let rss090 = br#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://my.netscape.com/rdf/simple/0.9/"><channel><title>N</title></channel><item><title>n</title><link>https://e.org/n</link></item></rdf:RDF>"#;
        assert_eq!(titles(&ok(rss090, None)), vec!["n"]);
    }

    #[test]
    fn parse_keeps_complete_items_when_document_is_truncated() {
        let feed = ok(b"<rss version=\"2.0\"><channel><title>T</title><item><title>whole</title><guid>1</guid></item><item><title>ha", None);
        assert_eq!(titles(&feed), vec!["whole"]);
        assert!(feed.recovered.contains(&recovery::TRUNCATED));
    }

    #[test]
    fn parse_accepts_atom_text_types_when_feed_rs_would_reject_them() {
        let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title type="text/plain">A</title><id>urn:a</id><entry><id>urn:e</id><title>E</title><content type="application/octet-stream">x</content></entry></feed>"#;
        let feed = ok(atom, None);
        assert_eq!(feed.entries.len(), 1);
        assert_eq!(feed.recovered, vec![recovery::ATOM_CONTENT_TYPE]);
    }

    #[test]
    fn parse_reads_utf16_declaration_when_document_is_wide() {
        let xml = "<?xml version=\"1.0\" encoding=\"utf-16\"?><rss version=\"2.0\"><channel><title>\u{41a}\u{438}\u{435}\u{432}</title></channel></rss>";
        let bytes: Vec<u8> = xml.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let feed = ok(&bytes, Some("application/rss+xml"));
        assert_eq!(feed.title.as_deref(), Some("\u{41a}\u{438}\u{435}\u{432}"));
        assert_eq!(feed.encoding, "UTF-16BE");
    }

    #[test]
    fn parse_trusts_declaration_when_content_type_is_wrong() {
        let xml = "<?xml version=\"1.0\" encoding=\"koi8-r\"?><rss version=\"2.0\"><channel><title>\u{41a}\u{438}\u{440}</title></channel></rss>";
        let (bytes, _, _) = encoding_rs::KOI8_R.encode(xml);
        let feed = ok(&bytes, Some("text/html; charset=iso-8859-1"));
        assert_eq!(feed.title.as_deref(), Some("\u{41a}\u{438}\u{440}"));
        assert_eq!(feed.encoding_source, EncodingSource::Declaration);
    }

    #[test]
    fn parse_keeps_feed_when_bytes_are_invalid() {
        let feed = ok(b"<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>a\xffb</title><item><title>x</title></item></channel></rss>", None);
        assert_eq!(feed.title.as_deref(), Some("a\u{FFFD}b"));
        assert_eq!(feed.recovered, vec![INVALID_BYTES]);
    }

    #[test]
    fn parse_reads_broken_dates_when_feed_rs_would_not() {
        let feed = ok(b"<rss version=\"2.0\"><channel><title>T</title><item><title>x</title><pubDate>2024-05-07 10:00:00</pubDate></item><item><title>y</title><pubDate>Tue, 7 May 2024 10:00 EST</pubDate></item><item><title>z</title><pubDate>someday</pubDate></item></channel></rss>", None);
        let dates: Vec<_> = feed
            .entries
            .iter()
            .map(|e| e.published.map(|d| d.to_rfc3339()))
            .collect();
        assert_eq!(
            dates,
            vec![
                Some("2024-05-07T10:00:00+00:00".to_owned()),
                Some("2024-05-07T15:00:00+00:00".to_owned()),
                None
            ]
        );
    }
}
