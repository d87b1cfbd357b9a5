//! Feed bytes → `feed_rs` model, pure. RSS 0.9x/1.0/2.0, Atom and JSON Feed.
//!
//! feed-rs decodes XML by its declaration; when the HTTP `Content-Type` names a charset, or a
//! BOM says otherwise, we transcode to UTF-8 first and rewrite the declaration so both agree.
//! Entries without an id keep an empty id here: the key rules of DESIGN §9 (guid, else link,
//! else a content hash) are applied in `normalize`, never feed-rs' random fallback.

use encoding_rs::Encoding;

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
}

/// Parse a feed document fetched from `url`. `content_type` is the HTTP header, if any; its
/// charset wins over the XML declaration, a BOM wins over both.
pub fn parse(
    bytes: &[u8],
    content_type: Option<&str>,
    url: &str,
) -> Result<ParsedFeed, ParseError> {
    let text = to_utf8(bytes, content_type);
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(ParseError::Empty {
            url: url.to_owned(),
        });
    }
    if looks_like_html(trimmed) {
        return Err(ParseError::HtmlPage {
            url: url.to_owned(),
            hint: alternate_feed_link(trimmed, url),
        });
    }
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(url))
        .sanitize_content(false)
        // Keep ids empty when the feed has none: our own key rules apply later.
        .id_generator(|_links, _title, _uri| String::new())
        .build();
    let feed = parser
        .parse(trimmed.as_bytes())
        .map_err(|source| ParseError::Invalid {
            url: url.to_owned(),
            source,
        })?;
    let site_url = feed
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .and_then(|l| resolve(url, &l.href));
    Ok(ParsedFeed {
        title: feed.title.map(|t| t.content),
        site_url,
        language: feed.language,
        ttl_minutes: feed.ttl,
        entries: feed.entries,
    })
}

fn resolve(base: &str, href: &str) -> Option<String> {
    let base = url::Url::parse(base).ok();
    let joined = match base {
        Some(b) => b.join(href.trim()).ok()?,
        None => url::Url::parse(href.trim()).ok()?,
    };
    matches!(joined.scheme(), "http" | "https").then(|| joined.to_string())
}

/// Decode `bytes` to UTF-8 text whose XML declaration (if any) says UTF-8.
fn to_utf8(bytes: &[u8], content_type: Option<&str>) -> String {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom_len..]);
        return rewrite_declaration(&text);
    }
    let http_charset = content_type
        .and_then(charset_param)
        .and_then(|c| Encoding::for_label(c.as_bytes()));
    let encoding = http_charset
        .or_else(|| declared_encoding(bytes).and_then(|c| Encoding::for_label(c.as_bytes())))
        .unwrap_or(encoding_rs::UTF_8);
    // UTF-16 without a BOM and without a usable label is rare; encoding_rs maps a declared
    // "utf-16" label to UTF-16LE, which is what such documents almost always are.
    let (text, _, _) = encoding.decode(bytes);
    rewrite_declaration(&text)
}

fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("charset")).then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The `encoding="…"` of an XML declaration at the start of the document, read as ASCII.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(512)];
    let head = String::from_utf8_lossy(head);
    let decl_start = head.find("<?xml")?;
    let decl_end = head[decl_start..].find("?>")? + decl_start;
    let decl = &head[decl_start..decl_end];
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    let end = value.find(quote)?;
    Some(value[..end].to_owned())
}

/// Replace the encoding named in the XML declaration with UTF-8 (the text is UTF-8 now).
fn rewrite_declaration(text: &str) -> String {
    let trimmed = text.trim_start();
    declaration_encoding_span(trimmed)
        .map(|(start, stop)| format!("{}UTF-8{}", &trimmed[..start], &trimmed[stop..]))
        .unwrap_or_else(|| trimmed.to_owned())
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
        let err = parse(b"<rss><channel><item>", None, "https://example.org/x").unwrap_err();
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
}
