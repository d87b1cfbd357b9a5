//! HTML fragment rewrites that run before ammonia sanitizes: embedded frames become links,
//! tracking pixels go, and tracking parameters leave link URLs. Pure.
//!
//! This pass is not the security boundary — ammonia is, and it drops iframes, embeds and
//! objects whatever happens here. Its job is to keep what the reader would have wanted from
//! them: a link to the embedded page (a video, a map) instead of a silent hole.

use std::borrow::Cow;

use url::Url;

use crate::dedup::is_tracking_param;

/// Elements that embed another page or plugin; each becomes a link to what it embedded.
const EMBEDS: &[&str] = &["iframe", "embed", "object", "frame", "applet"];

/// Hosts that serve nothing but analytics beacons (an `<img>` from them shows nothing).
const PIXEL_HOSTS: &[&str] = &[
    "pixel.wp.com",
    "stats.wordpress.com",
    "www.google-analytics.com",
    "google-analytics.com",
    "pixel.quantserve.com",
    "sb.scorecardresearch.com",
    "ad.doubleclick.net",
];

/// Rewrite embeds and drop pixels in `html`; relative embed URLs resolve against `base`.
/// Returns the input unchanged (borrowed) when it has nothing of the kind.
pub fn rewrite<'a>(html: &'a str, base: Option<&Url>) -> Cow<'a, str> {
    if !html.contains('<') {
        return Cow::Borrowed(html);
    }
    let mut out = String::new();
    let mut copied = 0;
    let mut from = 0;
    let lower = html.to_ascii_lowercase();
    while let Some(pos) = lower[from..].find('<') {
        let start = from + pos;
        let name: String = lower[start + 1..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        let Some(tag_end) = tag_end(html, start) else {
            break;
        };
        from = tag_end;
        let is_embed = EMBEDS.contains(&name.as_str());
        if !is_embed && name != "img" {
            continue;
        }
        let attrs = attributes(&html[start + 1 + name.len()..tag_end - 1]);
        let attr = |n: &str| {
            attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
        };
        let (replacement, end) = if is_embed {
            let element_end = if name == "embed" || html[..tag_end].ends_with("/>") {
                tag_end
            } else {
                closing_end(&lower, tag_end, &name).unwrap_or(tag_end)
            };
            let inner = &html[tag_end..element_end];
            let src = attr("src")
                .or_else(|| attr("data"))
                .map(str::to_owned)
                .or_else(|| nested_source(inner));
            let link = src
                .and_then(|s| absolute(&s, base))
                .map(|href| embed_link(&href))
                .unwrap_or_default();
            (link, element_end)
        } else if is_pixel(attr("width"), attr("height"), attr("src"), base) {
            (String::new(), tag_end)
        } else {
            continue;
        };
        out.push_str(&html[copied..start]);
        out.push_str(&replacement);
        copied = end;
        from = end;
    }
    if copied == 0 && out.is_empty() {
        return Cow::Borrowed(html);
    }
    out.push_str(&html[copied..]);
    Cow::Owned(out)
}

/// A link standing in for an embedded page, naming its host so the reader knows where it goes.
fn embed_link(href: &str) -> String {
    let host = Url::parse(href)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    format!(
        "<p><a href=\"{}\">Embedded content from {}</a></p>",
        html_escape::encode_double_quoted_attribute(href),
        html_escape::encode_text(&host)
    )
}

/// An `<embed src>` or `<param name="movie" value>` inside an `<object>`.
fn nested_source(inner: &str) -> Option<String> {
    let lower = inner.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find('<') {
        let start = from + pos;
        let end = tag_end(inner, start)?;
        from = end;
        let body = &inner[start + 1..end - 1];
        let attrs = attributes(body);
        let get = |n: &str| {
            attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        if lower[start..].starts_with("<embed") {
            if let Some(src) = get("src") {
                return Some(src);
            }
        } else if lower[start..].starts_with("<param")
            && get("name")
                .is_some_and(|n| n.eq_ignore_ascii_case("movie") || n.eq_ignore_ascii_case("src"))
        {
            return get("value");
        }
    }
    None
}

/// A 1×1 (or 0×0) image, or one from a host that serves only beacons (FeedBurner's `/~r/`
/// item counters included).
fn is_pixel(
    width: Option<&str>,
    height: Option<&str>,
    src: Option<&str>,
    base: Option<&Url>,
) -> bool {
    let tiny = |v: Option<&str>| {
        v.and_then(|v| {
            let digits: String = v.trim().chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u32>().ok()
        })
        .is_some_and(|n| n <= 1)
    };
    if tiny(width) && tiny(height) {
        return true;
    }
    let Some(url) = src
        .and_then(|s| absolute(s, base))
        .and_then(|s| Url::parse(&s).ok())
    else {
        return false;
    };
    let host = url.host_str().unwrap_or_default();
    PIXEL_HOSTS.contains(&host)
        || (host == "feeds.feedburner.com" && url.path().starts_with("/~r/"))
}

fn absolute(href: &str, base: Option<&Url>) -> Option<String> {
    super::absolute_url(&html_escape::decode_html_entities(href), base)
}

/// Remove tracking parameters (`utm_*`, `fbclid`… — dedup's list) from a URL, relative or
/// not, keeping everything else byte for byte.
pub fn strip_tracking_params(href: &str) -> Cow<'_, str> {
    let (before_fragment, fragment) = match href.find('#') {
        Some(i) => href.split_at(i),
        None => (href, ""),
    };
    let Some((path, query)) = before_fragment.split_once('?') else {
        return Cow::Borrowed(href);
    };
    let name_of = |pair: &str| pair.split('=').next().unwrap_or_default().to_owned();
    // `ref` marks where a reader came from on news sites, but selects content elsewhere
    // (`github.com/…?ref=main`): links we republish keep it; only dedup ignores it.
    let is_tracking = |name: &str| is_tracking_param(name) && !name.eq_ignore_ascii_case("ref");
    if !query.split('&').any(|p| is_tracking(&name_of(p))) {
        return Cow::Borrowed(href);
    }
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !is_tracking(&name_of(p)))
        .collect();
    let mut out = String::with_capacity(href.len());
    out.push_str(path);
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    out.push_str(fragment);
    Cow::Owned(out)
}

/// Byte index just past the `>` closing the tag that starts at `start`, honouring quotes.
fn tag_end(html: &str, start: usize) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (i, c) in html.as_bytes()[start..].iter().enumerate() {
        match (quote, *c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(*c),
            (None, b'>') => return Some(start + i + 1),
            _ => {}
        }
    }
    None
}

/// Byte index just past `</name>` after `from` (in the lower-cased text), if any.
fn closing_end(lower: &str, from: usize, name: &str) -> Option<usize> {
    let needle = format!("</{name}");
    let at = from + lower[from..].find(&needle)?;
    tag_end(lower, at)
}

/// The attributes of a tag body (`src="x" width=1 allowfullscreen`), values entity-encoded
/// as written.
fn attributes(body: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = body.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let name_start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
            i += 1;
        }
        let name = &body[name_start..i];
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if b.get(i) == Some(&b'=') {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            match b.get(i) {
                Some(&q) if q == b'"' || q == b'\'' => {
                    let end = body[i + 1..].find(q as char).map_or(b.len(), |e| i + 1 + e);
                    value = body[i + 1..end].to_owned();
                    i = end + 1;
                }
                _ => {
                    let end = body[i..]
                        .find(|c: char| c.is_ascii_whitespace())
                        .map_or(b.len(), |e| i + e);
                    value = body[i..end].to_owned();
                    i = end;
                }
            }
        }
        if !name.is_empty() {
            out.push((name.to_owned(), value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://example.org/news/post.html").unwrap()
    }

    #[test]
    fn rewrite_turns_iframe_into_link_when_content_embeds_a_page() {
        let out = rewrite(
            r#"<p>Watch:</p><iframe width="560" src="//www.youtube.com/embed/abc?rel=0" allowfullscreen><p>fallback</p></iframe><p>after</p>"#,
            Some(&base()),
        );
        assert_eq!(
            out,
            "<p>Watch:</p><p><a href=\"https://www.youtube.com/embed/abc?rel=0\">Embedded content from www.youtube.com</a></p><p>after</p>"
        );
    }

    #[test]
    fn rewrite_links_objects_and_embeds_when_relative() {
        let out = rewrite(
            r#"<object width="1"><param name="movie" value="/media/v.swf"><embed src="/media/v.swf"></object><EMBED SRC="clip.mp4">"#,
            Some(&base()),
        );
        assert_eq!(
            out,
            "<p><a href=\"https://example.org/media/v.swf\">Embedded content from example.org</a></p><p><a href=\"https://example.org/news/clip.mp4\">Embedded content from example.org</a></p>"
        );
    }

    #[test]
    fn rewrite_drops_embed_when_it_has_no_usable_source() {
        assert_eq!(
            rewrite(
                r#"a<iframe src="javascript:alert(1)"></iframe>b"#,
                Some(&base())
            ),
            "ab"
        );
    }

    #[test]
    fn rewrite_removes_tracking_pixels_when_tiny_or_from_beacon_hosts() {
        let html = r#"<p>x<img src="https://example.org/a.png" width="600" height="1"><img width="1" height="1" src="https://t.example/p.gif"><img src="http://feeds.feedburner.com/~r/Blog/~4/abc" height="1" width="1" alt=""/><img src="https://pixel.wp.com/b.gif?host=x"></p>"#;
        assert_eq!(
            rewrite(html, Some(&base())),
            r#"<p>x<img src="https://example.org/a.png" width="600" height="1"></p>"#
        );
    }

    #[test]
    fn rewrite_borrows_when_nothing_changes() {
        assert!(matches!(
            rewrite("<p>plain <b>text</b></p>", None),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn strip_tracking_params_keeps_ref_when_it_selects_content() {
        assert_eq!(
            strip_tracking_params("https://github.com/o/r/blob/x.rs?ref=main&utm_source=rss"),
            "https://github.com/o/r/blob/x.rs?ref=main"
        );
    }

    #[test]
    fn strip_tracking_params_keeps_other_params_and_fragment() {
        assert_eq!(
            strip_tracking_params("https://e.org/a?utm_source=rss&id=7&fbclid=x#top"),
            "https://e.org/a?id=7#top"
        );
        assert_eq!(strip_tracking_params("/a?utm_medium=feed"), "/a");
        assert!(matches!(
            strip_tracking_params("https://e.org/?p=1"),
            Cow::Borrowed(_)
        ));
    }
}
