//! `feed_rs` entries → [`Article`]s, pure: absolute URLs, dates, plain-text titles, sanitized
//! HTML and the plain text that topic queries match against.
//!
//! HTML is rewritten before ammonia sanitizes it ([`html`]): embedded frames become links to
//! what they embedded, tracking pixels go; links lose their tracking parameters.

mod html;

use chrono::{DateTime, Duration, Utc};
use feed_rs::model::{Entry, Text};
use url::Url;

use crate::dedup;
use crate::model::Article;
use crate::parse::ParsedFeed;

/// How far in the future a date may be before it is treated as wrong and clamped to the fetch
/// time (publishers with broken time zones are common; a day ahead is not plausible).
const FUTURE_TOLERANCE_MINUTES: i64 = 10;

/// Turn one parsed entry into an article. `feed_url` is the URL the feed was fetched from, used
/// to resolve relative links; `now` is the fetch time, used to clamp future dates.
pub fn article(entry: &Entry, feed: &ParsedFeed, feed_url: &str, now: DateTime<Utc>) -> Article {
    let base = content_base(entry, feed_url);
    // The link we republish carries no tracking parameters (`utm_*`, `fbclid`, …), like the
    // links inside the content.
    let url =
        entry_link(entry, base.as_ref()).map(|u| html::strip_tracking_params(&u).into_owned());
    let title = entry
        .title
        .as_ref()
        .map(|t| plain_text(&t.content))
        .unwrap_or_default();
    let summary_html = entry
        .summary
        .as_ref()
        .map(|t| text_as_html(t, base.as_ref()))
        .filter(|h| !h.trim().is_empty());
    let content_html = entry
        .content
        .as_ref()
        .and_then(|c| c.body.as_deref())
        .map(|body| {
            let is_html = c_is_html(entry);
            if is_html {
                sanitize_html(body, base.as_ref())
            } else {
                plain_to_html(&decode_leftover_entities(body))
            }
        })
        .filter(|h| !h.trim().is_empty());
    let summary_text = summary_html
        .as_deref()
        .map(html_to_text)
        .unwrap_or_default();
    let content_text = content_html
        .as_deref()
        .map(html_to_text)
        .unwrap_or_default();
    let guid = Some(entry.id.trim())
        .filter(|g| !g.is_empty())
        .map(str::to_owned);
    let entry_key = dedup::entry_key(
        guid.as_deref(),
        url.as_deref(),
        &title,
        if content_text.is_empty() {
            &summary_text
        } else {
            &content_text
        },
    );
    let clamp = |d: DateTime<Utc>| {
        if d > now + Duration::minutes(FUTURE_TOLERANCE_MINUTES) {
            now
        } else {
            d
        }
    };
    let published = entry.published.or(entry.updated).map(clamp);
    let updated = entry.updated.map(clamp);
    let mut authors: Vec<String> = entry
        .authors
        .iter()
        .filter_map(|p| p.name.as_deref().map(plain_text).filter(|n| !n.is_empty()))
        .collect();
    authors.dedup();
    let mut categories: Vec<String> = entry
        .categories
        .iter()
        .map(|c| plain_text(c.label.as_deref().unwrap_or(&c.term)))
        .filter(|c| !c.is_empty())
        .collect();
    categories.dedup();
    Article {
        entry_key,
        guid,
        canonical_url: url.as_deref().and_then(dedup::canonical_url),
        url,
        title,
        summary_html,
        content_html,
        summary_text,
        content_text,
        authors,
        categories,
        lang: entry.language.clone().or_else(|| feed.language.clone()),
        published,
        updated,
    }
}

/// The base URL for relative URLs inside the entry's HTML: the effective `xml:base` where
/// feed-rs tells it (it stores the one in force at `content:encoded` as the content's `src`,
/// and an Atom `<content xml:base>` as the entry's `base`), else the feed's URL — the
/// document's own base per RFC 3986.
fn content_base(entry: &Entry, feed_url: &str) -> Option<Url> {
    let feed = Url::parse(feed_url).ok();
    if let Some(content) = &entry.content
        && content.body.is_some()
        && let Some(src) = &content.src
        && let Ok(url) = Url::parse(&src.href)
    {
        return Some(url);
    }
    entry
        .base
        .as_deref()
        .and_then(|b| match &feed {
            Some(f) => f.join(b.trim()).ok(),
            None => Url::parse(b.trim()).ok(),
        })
        .or(feed)
}

/// Named HTML entities left in text that XML already unescaped: either ones XML does not
/// define (`&nbsp;`, kept verbatim by the XML reader) or double-escaped ones; the publisher
/// meant the character in both cases.
fn decode_leftover_entities(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('&') {
        html_escape::decode_html_entities(text)
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

fn c_is_html(entry: &Entry) -> bool {
    entry.content.as_ref().is_none_or(|c| {
        let essence = c.content_type.essence().to_string();
        essence != "text/plain"
    })
}

/// The entry's article link: the first link that is not an enclosure or a self/edit link.
fn entry_link(entry: &Entry, base: Option<&Url>) -> Option<String> {
    entry
        .links
        .iter()
        .filter(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .chain(entry.links.iter())
        .find_map(|l| absolute_url(&l.href, base))
}

/// Resolve `href` against `base`; only http(s) results are kept.
pub fn absolute_url(href: &str, base: Option<&Url>) -> Option<String> {
    let href = href.trim();
    if href.is_empty() {
        return None;
    }
    let url = match base {
        Some(b) => b.join(href).ok()?,
        None => Url::parse(href).ok()?,
    };
    matches!(url.scheme(), "http" | "https").then(|| url.to_string())
}

fn text_as_html(text: &Text, base: Option<&Url>) -> String {
    if text.content_type.essence().to_string() == "text/plain" && !looks_like_markup(&text.content)
    {
        plain_to_html(&decode_leftover_entities(&text.content))
    } else {
        sanitize_html(&text.content, base)
    }
}

/// RSS descriptions are declared as plain text by feed-rs but almost always carry HTML.
fn looks_like_markup(s: &str) -> bool {
    s.contains('<') && s.contains('>')
        || s.contains("&#")
        || s.contains("&amp;")
        || s.contains("&nbsp;")
}

/// Sanitize an HTML fragment for republishing: embeds turned into links and tracking pixels
/// dropped first, then ammonia's safe allow-list (no scripts, styles, event handlers,
/// `javascript:` URLs or iframes), every relative URL made absolute and tracking parameters
/// removed from links. XML-illegal control characters never survive.
pub fn sanitize_html(html: &str, base: Option<&Url>) -> String {
    // html5ever's tree building is quadratic in nesting depth (100,000 nested tags in one
    // description take minutes): past a depth no real article has, keep the text only.
    if nesting_depth_exceeds(html, MAX_HTML_DEPTH) {
        return plain_to_html(&html_to_text(html));
    }
    let rewritten = html::rewrite(html, base);
    let mut builder = ammonia::Builder::default();
    builder.attribute_filter(|element, attribute, value| match (element, attribute) {
        ("a", "href") => Some(html::strip_tracking_params(value)),
        _ => Some(std::borrow::Cow::Borrowed(value)),
    });
    match base {
        Some(b) => {
            builder.url_relative(ammonia::UrlRelative::RewriteWithBase(b.clone()));
        }
        None => {
            builder.url_relative(ammonia::UrlRelative::Deny);
        }
    }
    let clean = builder.clean(&rewritten).to_string();
    let clean = clean.trim();
    if clean.contains(is_xml_illegal) {
        clean.replace(is_xml_illegal, "")
    } else {
        clean.to_owned()
    }
}

/// Characters XML 1.0 forbids (C0 controls but tab and newlines, U+FFFE, U+FFFF): the XML
/// reader passes them through, and no output format may carry them.
fn is_xml_illegal(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}'
}

/// Deeper HTML than this is flattened to text before sanitizing (see [`sanitize_html`]).
const MAX_HTML_DEPTH: usize = 256;

/// Whether the tags of `html` nest deeper than `limit`, by a linear scan that counts opening
/// tags against closing ones (void and self-closing tags do not nest).
fn nesting_depth_exceeds(html: &str, limit: usize) -> bool {
    const VOID: &[&str] = &[
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr",
    ];
    let bytes = html.as_bytes();
    let mut depth: usize = 0;
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(|&b| b == b'<') {
        i += off + 1;
        let closing = bytes.get(i) == Some(&b'/');
        let start = if closing { i + 1 } else { i };
        let name_len = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        if name_len == 0 {
            continue;
        }
        let name = html[start..start + name_len].to_ascii_lowercase();
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(bytes.len(), |e| start + e);
        let self_closing = end > 0 && bytes.get(end - 1) == Some(&b'/');
        if closing {
            depth = depth.saturating_sub(1);
        } else if !self_closing && !VOID.contains(&name.as_str()) {
            depth += 1;
            if depth > limit {
                return true;
            }
        }
        i = end.min(bytes.len());
    }
    false
}

/// Plain text as an HTML fragment: escaped, blank-line separated paragraphs.
pub fn plain_to_html(text: &str) -> String {
    text.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| format!("<p>{}</p>", html_escape::encode_text(p)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A title or name as plain text: tags stripped, entities decoded (also double-escaped ones,
/// which WordPress feeds often carry), whitespace collapsed.
pub fn plain_text(s: &str) -> String {
    let text = html_to_text(s);
    if text.contains('&') {
        collapse_whitespace(&html_escape::decode_html_entities(&text))
    } else {
        text
    }
}

/// The text of an HTML fragment: tags dropped (block-level ones become spaces), the content of
/// `script`/`style` skipped, entities decoded, whitespace collapsed.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let mut skip_until: Option<&'static str> = None;
    while let Some(lt) = rest.find('<') {
        let (text, tail) = rest.split_at(lt);
        if skip_until.is_none() {
            out.push_str(text);
        }
        let after = &tail[1..];
        let starts_tag = after
            .starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!' || c == '?');
        if !starts_tag {
            if skip_until.is_none() {
                out.push('<');
            }
            rest = after;
            continue;
        }
        let end = if after.starts_with("!--") {
            after.find("-->").map(|e| e + 3)
        } else {
            after.find('>').map(|e| e + 1)
        };
        let Some(end) = end else {
            // An unterminated tag: drop the rest.
            rest = "";
            break;
        };
        let tag = &after[..end];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match skip_until {
            Some(closing) => {
                if tag.starts_with('/') && name == closing {
                    skip_until = None;
                }
            }
            None => {
                if !tag.starts_with('/')
                    && !tag.ends_with("/>")
                    && (name == "script" || name == "style")
                {
                    skip_until = Some(if name == "script" { "script" } else { "style" });
                }
                out.push(' ');
            }
        }
        rest = &after[end..];
    }
    if skip_until.is_none() {
        out.push_str(rest);
    }
    collapse_whitespace(&html_escape::decode_html_entities(&out))
}

/// Words separated by one space; control characters count as space (see [`is_xml_illegal`]).
fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split(|c: char| c.is_whitespace() || c == '\u{a0}' || is_xml_illegal(c)) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn parsed(xml: &str) -> ParsedFeed {
        crate::parse::parse(xml.as_bytes(), None, "https://example.org/feed/").unwrap()
    }

    #[test]
    fn sanitize_html_flattens_to_text_when_nesting_is_absurdly_deep() {
        let deep = format!(
            "{}kernel{}",
            "<div>".repeat(100_000),
            "</div>".repeat(100_000)
        );
        // Flattened by the linear pre-check, never handed to html5ever.
        assert_eq!(sanitize_html(&deep, None), "<p>kernel</p>");
        let normal = "<div><p>a <b>b</b><br><img src=\"https://x.org/i.png\"/></p></div>";
        assert!(!nesting_depth_exceeds(normal, 3));
        assert!(nesting_depth_exceeds(&"<i>".repeat(300), 256));
    }

    #[test]
    fn html_to_text_strips_tags_scripts_and_entities() {
        assert_eq!(
            html_to_text(
                "<p>Hello&nbsp;<b>world</b> &amp; co<script>alert(1)</script></p><p>a &lt; b</p>"
            ),
            "Hello world & co a < b"
        );
        assert_eq!(html_to_text("1 < 2 and 3 > 2"), "1 < 2 and 3 > 2");
        assert_eq!(html_to_text("x<!-- hidden -->y"), "x y");
    }

    #[test]
    fn plain_text_decodes_double_escaped_titles() {
        assert_eq!(plain_text("Tom &amp;amp; Jerry"), "Tom & Jerry");
        assert_eq!(
            plain_text("China&#8217;s <em>border</em>"),
            "China\u{2019}s border"
        );
    }

    #[test]
    fn sanitize_html_removes_scripts_and_makes_urls_absolute() {
        let base = Url::parse("https://example.org/news/feed/").unwrap();
        let out = sanitize_html(
            r#"<p onclick="x()">Hi <a href="/a">a</a><img src="i.png"><script>bad()</script><iframe src="https://evil"></iframe></p>"#,
            Some(&base),
        );
        assert!(
            !out.contains("script") && !out.contains("onclick") && !out.contains("iframe"),
            "{out}"
        );
        assert!(out.contains(r#"href="https://example.org/a""#), "{out}");
        assert!(
            out.contains(r#"src="https://example.org/news/feed/i.png""#),
            "{out}"
        );
    }

    #[test]
    fn article_resolves_links_and_keys_when_rss_item_is_relative() {
        let feed = parsed(
            r#"<rss version="2.0"><channel><title>T</title><item><title>A &amp;amp; B</title><link>/2024/a?utm_source=rss</link>
            <description>&lt;p&gt;Body &lt;a href="/x"&gt;x&lt;/a&gt;&lt;/p&gt;</description>
            <pubDate>Tue, 07 May 2024 10:00:00 +0000</pubDate><category>Security</category></item></channel></rss>"#,
        );
        let now = Utc.with_ymd_and_hms(2024, 5, 8, 0, 0, 0).unwrap();
        let a = article(&feed.entries[0], &feed, "https://example.org/feed/", now);
        assert_eq!(a.title, "A & B");
        // Resolved, and without the tracking parameter.
        assert_eq!(a.url.as_deref(), Some("https://example.org/2024/a"));
        assert_eq!(a.canonical_url.as_deref(), Some("example.org/2024/a"));
        assert_eq!(a.entry_key, "link:example.org/2024/a");
        assert_eq!(a.summary_text, "Body x");
        assert!(
            a.summary_html
                .as_deref()
                .unwrap()
                .contains("https://example.org/x")
        );
        assert_eq!(
            a.published,
            Some(Utc.with_ymd_and_hms(2024, 5, 7, 10, 0, 0).unwrap())
        );
        assert_eq!(a.categories, vec!["Security".to_owned()]);
    }

    #[test]
    fn article_clamps_future_dates_when_publisher_clock_is_wrong() {
        let feed = parsed(
            r#"<rss version="2.0"><channel><title>T</title><item><guid>1</guid><title>x</title><pubDate>Tue, 07 May 2030 10:00:00 +0000</pubDate></item></channel></rss>"#,
        );
        let now = Utc.with_ymd_and_hms(2024, 5, 8, 0, 0, 0).unwrap();
        let a = article(&feed.entries[0], &feed, "https://example.org/feed/", now);
        assert_eq!(a.published, Some(now));
        assert_eq!(a.entry_key, "guid:1");
    }

    #[test]
    fn article_key_is_stable_when_item_has_no_guid_or_link() {
        let xml = r#"<rss version="2.0"><channel><title>T</title><item><title>only a title</title><description>text</description></item></channel></rss>"#;
        let now = Utc.with_ymd_and_hms(2024, 5, 8, 0, 0, 0).unwrap();
        let a = article(
            &parsed(xml).entries[0],
            &parsed(xml),
            "https://example.org/feed/",
            now,
        );
        let b = article(
            &parsed(xml).entries[0],
            &parsed(xml),
            "https://example.org/feed/",
            now,
        );
        assert!(a.entry_key.starts_with("hash:"));
        assert_eq!(a.entry_key, b.entry_key);
    }

    fn first(xml: &str) -> Article {
        let feed = parsed(xml);
        let now = Utc.with_ymd_and_hms(2024, 5, 8, 0, 0, 0).unwrap();
        article(&feed.entries[0], &feed, "https://example.org/feed/", now)
    }

    #[test]
    fn article_links_embeds_and_drops_pixels_when_content_has_them() {
        let a = first(
            r#"<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>T</title><item><guid>1</guid><title>x</title>
            <content:encoded><![CDATA[<p>Watch <a href="/v?utm_source=rss&amp;id=3">this</a></p><iframe src="https://player.example.com/v/9"></iframe><img src="https://example.org/i.png"><img src="https://t.example/p.gif" width="1" height="1">]]></content:encoded></item></channel></rss>"#,
        );
        let html = a.content_html.unwrap();
        assert!(
            !html.contains("iframe") && !html.contains("p.gif"),
            "{html}"
        );
        assert!(html.contains(r#"<a href="https://player.example.com/v/9" rel="noopener noreferrer">Embedded content from player.example.com</a>"#), "{html}");
        assert!(
            html.contains(r#"href="https://example.org/v?id=3""#),
            "{html}"
        );
        assert!(
            html.contains(r#"src="https://example.org/i.png""#),
            "{html}"
        );
    }

    #[test]
    fn article_resolves_content_urls_against_xml_base_when_given() {
        let a = first(
            r#"<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://example.org/blog/"><title>T</title><id>urn:f</id>
            <entry><id>urn:e</id><title>e</title><link href="posts/1"/>
            <content type="html" xml:base="https://cdn.example.net/img/">&lt;img src="a.png"&gt;</content></entry></feed>"#,
        );
        assert_eq!(a.url.as_deref(), Some("https://example.org/blog/posts/1"));
        assert!(
            a.content_html
                .unwrap()
                .contains(r#"src="https://cdn.example.net/img/a.png""#)
        );
        let b = first(
            r#"<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>T</title>
            <item xml:base="https://example.org/2024/"><guid>1</guid><title>x</title><link>post</link>
            <content:encoded>&lt;a href="other"&gt;o&lt;/a&gt;</content:encoded></item></channel></rss>"#,
        );
        assert_eq!(b.url.as_deref(), Some("https://example.org/2024/post"));
        assert!(
            b.content_html
                .unwrap()
                .contains(r#"href="https://example.org/2024/other""#)
        );
        // On the entry (Mephisto, Typepad), inherited by content without its own.
        let c = first(
            r#"<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://example.org/"><title>T</title><id>urn:f</id>
            <entry xml:base="https://hoth.example/"><id>urn:e</id><title>e</title>
            <summary type="html">&lt;a href="/s"&gt;s&lt;/a&gt;</summary>
            <content type="html" xml:base="2024/">&lt;img src="a.png"&gt;</content></entry></feed>"#,
        );
        assert!(
            c.summary_html
                .unwrap()
                .contains(r#"href="https://hoth.example/s""#)
        );
        assert!(
            c.content_html
                .unwrap()
                .contains(r#"src="https://hoth.example/2024/a.png""#)
        );
    }

    #[test]
    fn article_decodes_leftover_entities_and_drops_controls_when_xml_kept_them() {
        let a = first(
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>T</title><id>urn:f</id><entry><id>urn:e</id><title>a&nbsp;b\u{1}c&mdash;d</title><content type=\"text\">x&hellip;</content></entry></feed>",
        );
        assert_eq!(a.title, "a b c\u{2014}d");
        assert_eq!(a.content_html.as_deref(), Some("<p>x\u{2026}</p>"));
    }
}
