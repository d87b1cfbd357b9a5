//! The text and HTML that feeds carry: cleaning for XML, excerpts, plain-text views and the
//! attribution feedmill appends to every entry.
//!
//! Every HTML fragment we republish goes through [`Sanitizer`] again even though `normalize`
//! sanitized it on the way in: an excerpt cut in the middle of a paragraph must be made
//! well-formed, relative URLs that slipped through must become absolute (the validator warns
//! about them, and readers resolve them against the wrong base), and republishing is the last
//! point where a mistake upstream could still be caught.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::model::AlsoReported;

/// Largest HTML excerpt (bytes of source HTML) taken from a summary or body in excerpt mode.
/// About two or three news paragraphs: enough to decide whether to read on, short enough to
/// respect publishers who only license excerpts.
pub(super) const EXCERPT_MAX_BYTES: usize = 1200;
/// Words of the excerpt used as a title when the story has none.
pub(super) const TITLE_FALLBACK_WORDS: usize = 12;
/// Words of the excerpt's text used as JSON Feed `summary`.
pub(super) const SUMMARY_MAX_WORDS: usize = 60;
/// Characters a fallback title or summary may have, whatever its word count.
const MAX_FALLBACK_CHARS: usize = 400;

/// Whether `c` may appear in an XML 1.0 document. Also drops the C1 controls (U+0080–U+009F):
/// XML 1.0 allows but discourages them, and in feeds they are always mojibake from a
/// mis-decoded Windows-1252 page, which some readers reject.
fn xml_allowed(c: char) -> bool {
    match c {
        '\t' | '\n' | '\r' => true,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => false,
        '\u{fffe}' | '\u{ffff}' => false,
        _ => true,
    }
}

/// `s` without characters XML 1.0 forbids. Borrowed when there is nothing to strip, which is
/// almost always.
pub(super) fn xml_clean(s: &str) -> Cow<'_, str> {
    if s.chars().all(xml_allowed) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().filter(|&c| xml_allowed(c)).collect())
    }
}

/// Plain text on one line: XML-clean, HTML tags removed ([`strip_tags`]), whitespace runs
/// collapsed to one space, trimmed. Titles, names and categories are single-line fields; a
/// newline inside one shows up as garbage in readers.
pub(super) fn plain_line(s: &str) -> String {
    let xml = xml_clean(s);
    let clean = strip_tags(&xml);
    let mut out = String::with_capacity(clean.len());
    for word in clean.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Names of HTML elements (the W3C validator's list). A plain-text field holding one of these
/// as a tag is flagged "should not contain HTML".
const HTML_ELEMENTS: &[&str] = &[
    "a",
    "abbr",
    "acronym",
    "address",
    "applet",
    "area",
    "article",
    "aside",
    "audio",
    "b",
    "base",
    "basefont",
    "bdi",
    "bdo",
    "big",
    "blockquote",
    "body",
    "br",
    "button",
    "canvas",
    "caption",
    "center",
    "cite",
    "code",
    "col",
    "colgroup",
    "command",
    "comment",
    "data",
    "datagrid",
    "datalist",
    "dd",
    "del",
    "details",
    "dfn",
    "dialog",
    "dir",
    "div",
    "dl",
    "dt",
    "em",
    "embed",
    "eventsource",
    "fieldset",
    "figcaption",
    "figure",
    "font",
    "footer",
    "form",
    "frame",
    "frameset",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hgroup",
    "hr",
    "html",
    "i",
    "iframe",
    "img",
    "input",
    "ins",
    "isindex",
    "kbd",
    "label",
    "legend",
    "li",
    "link",
    "listing",
    "m",
    "main",
    "map",
    "mark",
    "menu",
    "meta",
    "meter",
    "nav",
    "noframes",
    "noscript",
    "object",
    "ol",
    "optgroup",
    "option",
    "output",
    "p",
    "param",
    "picture",
    "plaintext",
    "pre",
    "progress",
    "q",
    "rp",
    "rt",
    "ruby",
    "s",
    "samp",
    "script",
    "section",
    "select",
    "slot",
    "small",
    "source",
    "span",
    "strike",
    "strong",
    "style",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "template",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "time",
    "title",
    "tr",
    "track",
    "tt",
    "u",
    "ul",
    "var",
    "video",
    "wbr",
    "xmp",
];

/// `s` without HTML tags (`<b>`, `</b>`, `<a href="…">`; only names of real HTML elements).
///
/// Plain-text fields are supposed to arrive tag-free (`normalize` strips them); a tag that is
/// still there was double-escaped by the publisher, who meant it as markup. Leaving it would
/// show literal `<b>` in readers and draw a validator warning. Other text in angle brackets
/// (`trade <halted>`, `<desk>`) is kept.
pub(super) fn strip_tags(s: &str) -> Cow<'_, str> {
    if !s.contains('<') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name_part = after.strip_prefix('/').unwrap_or(after);
        let name_len = name_part
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(name_part.len());
        let name = name_part[..name_len].to_ascii_lowercase();
        let tail = &name_part[name_len..];
        let closes = tag_end(tail).filter(|&end| {
            let attrs = &tail[..end];
            attrs.is_empty() || attrs.starts_with([' ', '/', '\t', '\n'])
        });
        match closes {
            Some(end) if HTML_ELEMENTS.contains(&name.as_str()) => {
                let consumed = after.len() - tail.len() + end + 1;
                rest = &after[consumed..];
                // Keep words apart that the tag separated: "a<br>b" is "a b".
                out.push(' ');
            }
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Offset of the `>` ending the tag whose attributes start `tail`, minding quoted values;
/// `None` if another `<` or the end comes first.
fn tag_end(tail: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in tail.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i),
            (None, '<') => return None,
            (None, _) => {}
        }
    }
    None
}

/// [`plain_line`] of each value, empty ones dropped, duplicates (after cleaning) dropped,
/// first occurrence order kept.
pub(super) fn plain_list(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        let value = plain_line(value);
        if !value.is_empty() && !out.contains(&value) {
            out.push(value);
        }
    }
    out
}

/// Escape text for an HTML text node or a double- or single-quoted attribute value.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `s` as an absolute http(s) URL (normalized by the `url` crate), else `None`. Links we write
/// into feeds and into our own HTML must be absolute, and must never be `javascript:` or
/// `data:` URLs that a reader would make clickable.
pub(super) fn http_url(s: &str) -> Option<String> {
    let url = url::Url::parse(s.trim()).ok()?;
    matches!(url.scheme(), "http" | "https")
        .then(|| xml_clean(url.as_str()).into_owned())
        .filter(|_| url.host().is_some())
}

/// Re-sanitizes fragments with ammonia's conservative defaults, resolving relative URLs
/// against the current entry's link (or dropping them when the entry has none).
pub(super) struct Sanitizer {
    builder: ammonia::Builder<'static>,
}

impl Sanitizer {
    pub(super) fn new() -> Sanitizer {
        let mut builder = ammonia::Builder::default();
        builder.url_relative(ammonia::UrlRelative::Deny);
        Sanitizer { builder }
    }

    /// Use `base` (an entry's link) to resolve relative URLs from now on.
    pub(super) fn set_base(&mut self, base: Option<&str>) {
        let rule = match base.and_then(|b| url::Url::parse(b).ok()) {
            Some(url) => ammonia::UrlRelative::RewriteWithBase(url),
            None => ammonia::UrlRelative::Deny,
        };
        self.builder.url_relative(rule);
    }

    pub(super) fn clean(&self, fragment: &str) -> String {
        self.builder.clean(fragment).to_string()
    }
}

/// The start of `html`, at most `max` bytes: whole paragraphs when at least one fits, else a
/// cut at a word boundary followed by an ellipsis. The result may be ill-formed (unclosed
/// elements, half a tag); the caller sanitizes it, which closes what is open and drops what
/// is broken.
pub(super) fn excerpt(html: &str, max: usize) -> Cow<'_, str> {
    if html.len() <= max {
        return Cow::Borrowed(html);
    }
    // ASCII lower-casing keeps byte offsets, so positions found in `lower` index `html`.
    let lower = html.to_ascii_lowercase();
    let paragraph_end = lower
        .match_indices("</p>")
        .map(|(i, m)| i + m.len())
        .take_while(|&end| end <= max)
        .last();
    if let Some(end) = paragraph_end {
        return Cow::Borrowed(&html[..end]);
    }
    let mut cut = max;
    while !html.is_char_boundary(cut) {
        cut -= 1;
    }
    // Never end inside a tag: the sanitizer would drop the half tag and the ellipsis with it.
    if let Some(open) = html[..cut].rfind('<')
        && html[open..cut].find('>').is_none()
    {
        cut = open;
    }
    if let Some(space) = html[..cut].rfind(char::is_whitespace)
        && space > max / 2
    {
        cut = space;
    }
    Cow::Owned(format!("{} …", &html[..cut]))
}

/// Elements after which text continues on a new line, so their text must not be glued to the
/// next element's.
const BLOCK_ELEMENTS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "caption",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "td",
    "th",
    "tr",
    "ul",
];

/// The text of an HTML fragment serialized by ammonia (so well-formed, attributes in double
/// quotes, text escaped with `&amp; &lt; &gt; &nbsp;` only), on one line. Not a general HTML
/// parser: it relies on that serialization.
pub(super) fn to_text(sanitized: &str) -> String {
    let mut text = String::with_capacity(sanitized.len());
    let mut chars = sanitized.char_indices();
    while let Some((start, c)) = chars.next() {
        if c != '<' {
            text.push(c);
            continue;
        }
        // Inside a tag: skip to its end, minding quoted attribute values (HTML serializers
        // need not escape `>` in them).
        let mut in_quote = false;
        let mut end = sanitized.len();
        for (i, c) in chars.by_ref() {
            match c {
                '"' => in_quote = !in_quote,
                '>' if !in_quote => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let tag = &sanitized[start + 1..end];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if BLOCK_ELEMENTS.contains(&name.as_str()) {
            text.push(' ');
        }
    }
    plain_line(&decode_entities(&text))
}

/// Decode the entities ammonia's serializer writes into text.
fn decode_entities(s: &str) -> String {
    const ENTITIES: &[(&str, char)] = &[
        ("&amp;", '&'),
        ("&lt;", '<'),
        ("&gt;", '>'),
        ("&quot;", '"'),
        ("&nbsp;", '\u{a0}'),
    ];
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        match ENTITIES.iter().find(|(name, _)| rest.starts_with(name)) {
            Some((name, c)) => {
                out.push(*c);
                rest = &rest[name.len()..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The first `max_words` words of a one-line text (and at most [`MAX_FALLBACK_CHARS`]
/// characters), with an ellipsis when something was cut; `None` when the text is empty.
pub(super) fn first_words(text: &str, max_words: usize) -> Option<String> {
    let mut out = String::new();
    let mut cut = false;
    for (n, word) in text.split_whitespace().enumerate() {
        if n == max_words || out.chars().count() + 1 + word.chars().count() > MAX_FALLBACK_CHARS {
            cut = true;
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        // A single word longer than the limit.
        out = text.chars().take(MAX_FALLBACK_CHARS).collect();
        cut = out.len() < text.len();
    }
    if out.is_empty() {
        return None;
    }
    if cut {
        out.push('…');
    }
    Some(out)
}

/// Which sentence introduces the original source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AttributionKind {
    /// After an excerpt: "Read more at <source>".
    ReadMore,
    /// After a full body: "Originally published at <source>".
    Original,
}

/// Where a story came from and who else reported it (DESIGN §8).
pub(super) struct Attribution<'a> {
    /// Already plain text, XML-clean.
    pub source_name: &'a str,
    /// The story's link, already checked by [`http_url`].
    pub link: Option<&'a str>,
    /// The source's home page, already checked by [`http_url`].
    pub site_url: Option<&'a str>,
    pub also: &'a [AlsoReported],
}

impl Attribution<'_> {
    /// The attribution paragraphs, HTML built here and escaped here.
    pub(super) fn render(&self, kind: AttributionKind) -> String {
        let name = escape(self.source_name);
        let mut out = match (self.link, kind) {
            (Some(link), AttributionKind::ReadMore) => {
                format!(
                    "<p>Read more at <a href=\"{}\">{name}</a></p>",
                    escape(link)
                )
            }
            (Some(link), AttributionKind::Original) => format!(
                "<p>Originally published at <a href=\"{}\">{name}</a></p>",
                escape(link)
            ),
            (None, _) => match self.site_url {
                Some(site) => format!("<p>From <a href=\"{}\">{name}</a></p>", escape(site)),
                None => format!("<p>From {name}</p>"),
            },
        };
        let mut seen: Vec<String> = vec![self.source_name.to_owned()];
        let mut others = Vec::new();
        for also in self.also {
            let source = plain_line(&also.source);
            if source.is_empty() || seen.contains(&source) {
                continue;
            }
            let title = plain_line(&also.title);
            let html = match also.url.as_deref().and_then(http_url) {
                Some(url) if title.is_empty() => {
                    format!("<a href=\"{}\">{}</a>", escape(&url), escape(&source))
                }
                Some(url) => format!(
                    "<a href=\"{}\" title=\"{}\">{}</a>",
                    escape(&url),
                    escape(&title),
                    escape(&source)
                ),
                None => escape(&source),
            };
            others.push(html);
            seen.push(source);
        }
        if !others.is_empty() {
            // Writing to a String cannot fail.
            let _ = write!(out, "<p>Also reported by: {}</p>", others.join(", "));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_clean_strips_control_chars_when_present() {
        assert_eq!(
            xml_clean("a\u{0}b\u{8}c\td\ne\rf\u{b}\u{c}"),
            "abc\td\ne\rf"
        );
        assert_eq!(xml_clean("x\u{fffe}y\u{ffff}z\u{85}"), "xyz");
        assert!(matches!(xml_clean("Привет & <ok>"), Cow::Borrowed(_)));
    }

    #[test]
    fn plain_line_collapses_whitespace_when_multiline() {
        assert_eq!(plain_line("  a\n\tb  \u{1}c  "), "a b c");
    }

    #[test]
    fn strip_tags_removes_html_tags_when_double_escaped() {
        assert_eq!(
            plain_line("Police <b>detain</b> suspects"),
            "Police detain suspects"
        );
        assert_eq!(plain_line("a<br/>b <a href=\"x>y\">c</A>"), "a b c");
        assert_eq!(
            plain_line("trade <halted> & 1 < 2 <desk>"),
            "trade <halted> & 1 < 2 <desk>"
        );
        assert_eq!(plain_line("<b"), "<b");
        assert_eq!(plain_line("x <i>y"), "x y");
    }

    #[test]
    fn plain_list_drops_empty_and_duplicates_when_given() {
        let v = ["  Jane ", "", "Jane", "Иван"].map(String::from);
        assert_eq!(plain_list(&v), vec!["Jane", "Иван"]);
    }

    #[test]
    fn escape_escapes_markup_when_present() {
        assert_eq!(
            escape(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn http_url_rejects_non_http_when_given() {
        assert_eq!(
            http_url(" https://example.org/a?b=1&c=2 ").as_deref(),
            Some("https://example.org/a?b=1&c=2")
        );
        assert_eq!(http_url("javascript:alert(1)"), None);
        assert_eq!(http_url("/relative"), None);
        assert_eq!(http_url("mailto:a@example.org"), None);
    }

    #[test]
    fn sanitizer_resolves_relative_urls_when_base_set() {
        let mut s = Sanitizer::new();
        s.set_base(Some("https://example.org/news/story"));
        let out = s.clean(r#"<p><a href="/x">x</a> <img src="pic.jpg" alt=""></p>"#);
        assert!(out.contains(r#"href="https://example.org/x""#), "{out}");
        assert!(
            out.contains(r#"src="https://example.org/news/pic.jpg""#),
            "{out}"
        );
        s.set_base(None);
        let out = s.clean(r#"<a href="/x">x</a>"#);
        assert!(!out.contains("href"), "{out}");
    }

    #[test]
    fn excerpt_keeps_whole_paragraphs_when_they_fit() {
        let p = format!("<p>{}</p>", "word ".repeat(50));
        let html = p.repeat(10);
        let cut = excerpt(&html, 700);
        assert_eq!(cut, p.repeat(2));
        assert!(excerpt("<p>short</p>", 700) == "<p>short</p>");
    }

    #[test]
    fn excerpt_cuts_at_a_word_when_no_paragraph_fits() {
        let html = format!("<div>{}</div>", "слово ".repeat(400));
        let cut = excerpt(&html, 301);
        assert!(cut.len() <= 301 + " …".len());
        assert!(cut.ends_with(" …"));
        let clean = Sanitizer::new().clean(&cut);
        assert!(
            clean.starts_with("<div>слово") && clean.ends_with("</div>"),
            "{clean}"
        );
    }

    #[test]
    fn excerpt_is_sanitizable_when_cut_inside_a_tag() {
        let html = format!(
            "<p>{}<a href=\"https://e.org/{}\">x</a></p>",
            "a".repeat(90),
            "b".repeat(200)
        );
        let clean = Sanitizer::new().clean(&excerpt(&html, 120));
        assert_eq!(clean, format!("<p>{} …</p>", "a".repeat(90)));
    }

    #[test]
    fn to_text_separates_blocks_when_converting() {
        let html = Sanitizer::new().clean(
            "<p>One &amp; <b>two</b></p><p title=\"a>b\">three&nbsp;&lt;4&gt;</p><ul><li>x</li><li>y</li></ul>",
        );
        // A non-breaking space is whitespace too, on one line of plain text.
        assert_eq!(to_text(&html), "One & two three <4> x y");
    }

    #[test]
    fn first_words_adds_ellipsis_when_cut() {
        assert_eq!(first_words("a b c", 2).as_deref(), Some("a b…"));
        assert_eq!(first_words("a b", 2).as_deref(), Some("a b"));
        assert_eq!(first_words("", 2), None);
        let long = "x".repeat(1000);
        assert_eq!(
            first_words(&long, 2).map(|s| s.chars().count()),
            Some(MAX_FALLBACK_CHARS + 1)
        );
    }

    #[test]
    fn attribution_links_other_outlets_when_also_reported() {
        let also = vec![
            AlsoReported {
                source: "Eurasianet".into(),
                title: "Tajik \"border\" <clash>".into(),
                url: Some("https://eurasianet.org/a?x=1&y=2".into()),
            },
            AlsoReported {
                source: "RFE/RL".into(),
                title: String::new(),
                url: None,
            },
            AlsoReported {
                source: "The Diplomat".into(),
                title: "dup".into(),
                url: None,
            },
            AlsoReported {
                source: "Evil".into(),
                title: String::new(),
                url: Some("javascript:x".into()),
            },
        ];
        let a = Attribution {
            source_name: "The Diplomat",
            link: Some("https://thediplomat.com/a?b&c"),
            site_url: None,
            also: &also,
        };
        assert_eq!(
            a.render(AttributionKind::ReadMore),
            "<p>Read more at <a href=\"https://thediplomat.com/a?b&amp;c\">The Diplomat</a></p>\
             <p>Also reported by: <a href=\"https://eurasianet.org/a?x=1&amp;y=2\" \
             title=\"Tajik &quot;border&quot; &lt;clash&gt;\">Eurasianet</a>, RFE/RL, Evil</p>"
        );
    }

    #[test]
    fn attribution_names_source_when_no_link() {
        let a = Attribution {
            source_name: "A & B",
            link: None,
            site_url: None,
            also: &[],
        };
        assert_eq!(a.render(AttributionKind::Original), "<p>From A &amp; B</p>");
        let a = Attribution {
            site_url: Some("https://ab.example/"),
            ..a
        };
        assert_eq!(
            a.render(AttributionKind::ReadMore),
            "<p>From <a href=\"https://ab.example/\">A &amp; B</a></p>"
        );
    }
}
