//! The `xml:base` in force at each entry, for resolving relative URLs inside its HTML. Pure.
//!
//! feed-rs resolves links against `xml:base` but keeps no base for content, except the raw
//! attribute of an Atom `<content>` (as `Entry::base`). Blog engines often put `xml:base` on
//! `<entry>` or the root instead (Mephisto, Typepad), so this light scan — run only when the
//! document mentions `xml:base` at all — finds the effective base of every `<entry>`/`<item>`.

use url::Url;

/// The effective base URL at each `<entry>` or `<item>` start tag, in document order; the
/// document's own URL `url` is the outermost base.
pub fn entry_bases(text: &str, url: &str) -> Vec<Option<Url>> {
    let mut bases: Vec<Option<Url>> = Vec::new();
    let mut stack: Vec<Option<Url>> = vec![Url::parse(url).ok()];
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find('<') {
        let start = i + pos;
        let rest = &text[start..];
        let skip_to =
            |end: &str, from: usize| rest[from..].find(end).map(|e| start + from + e + end.len());
        let next = if rest.starts_with("<!--") {
            skip_to("-->", 4)
        } else if rest.starts_with("<![CDATA[") {
            skip_to("]]>", 9)
        } else if rest.starts_with("<?") || rest.starts_with("<!") {
            skip_to(">", 2)
        } else if rest.starts_with("</") {
            if stack.len() > 1 {
                stack.pop();
            }
            skip_to(">", 2)
        } else {
            let end = tag_end(b, start);
            if let Some(end) = end {
                let tag = &text[start + 1..end - 1];
                let name = tag
                    .split(|c: char| c.is_ascii_whitespace() || c == '/')
                    .next()
                    .unwrap_or_default();
                let parent = stack.last().cloned().flatten();
                let base = match attribute(tag, "xml:base") {
                    Some(value) => match &parent {
                        Some(p) => p.join(value.trim()).ok().or(Some(p.clone())),
                        None => Url::parse(value.trim()).ok(),
                    },
                    None => parent,
                };
                if matches!(name.rsplit(':').next(), Some("entry" | "item")) {
                    bases.push(base.clone());
                }
                if !tag.ends_with('/') {
                    stack.push(base);
                }
            }
            end
        };
        match next {
            Some(n) => i = n,
            None => break,
        }
    }
    bases
}

/// Byte index just past the `>` ending the tag that starts at `start`, honouring quotes.
fn tag_end(b: &[u8], start: usize) -> Option<usize> {
    let mut quote = None;
    for (i, &c) in b[start..].iter().enumerate() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(c),
            (None, b'>') => return Some(start + i + 1),
            _ => {}
        }
    }
    None
}

/// The value of attribute `name` in a tag's text, entities undecoded but for `&amp;`.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let mut from = 0;
    while let Some(at) = tag[from..].find(name) {
        let pos = from + at;
        from = pos + name.len();
        let preceded = tag[..pos].ends_with(|c: char| c.is_ascii_whitespace());
        let rest = tag[from..].trim_start();
        if let (true, Some(rest)) = (preceded, rest.strip_prefix('=')) {
            let rest = rest.trim_start();
            let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
            let value = &rest[1..];
            return Some(value[..value.find(quote)?].replace("&amp;", "&"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_bases_inherit_and_override_when_nested() {
        let xml = r#"<feed xml:base="https://example.org/blog/"><!-- <entry> --><entry><content/></entry>
            <entry xml:base="posts/2/"><![CDATA[<item xml:base="x">]]></entry><entry xml:base="https://other.example/"/></feed>"#;
        let bases: Vec<String> = entry_bases(xml, "https://feeds.example/f")
            .into_iter()
            .map(|b| b.map(|u| u.to_string()).unwrap_or_default())
            .collect();
        assert_eq!(
            bases,
            vec![
                "https://example.org/blog/",
                "https://example.org/blog/posts/2/",
                "https://other.example/"
            ]
        );
    }

    #[test]
    fn entry_bases_fall_back_to_document_url_when_no_base() {
        let bases = entry_bases(
            "<rss><channel><item/></channel></rss>",
            "https://e.org/feed",
        );
        assert_eq!(bases, vec![Url::parse("https://e.org/feed").ok()]);
    }
}
