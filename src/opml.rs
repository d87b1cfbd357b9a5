//! Sources in and out as OPML, the subscription-list format every feed reader imports and
//! exports (`feedmill opml import FILE`, `feedmill opml export`). Pure: text in, text out.
//!
//! Reading takes OPML 1.0 and 2.0 as readers write them: an `<outline>` with an `xmlUrl` is a
//! feed (its `title`, else `text`, is the name); outlines without one are folders, and every
//! folder a feed sits in becomes one of its tags, as do the entries of its OPML 2.0
//! `category` attribute. Writing gives OPML 2.0 with one flat outline per source and its tags
//! in `category`, which [`read`] turns back into the same tags.
//!
//! (`/topics.opml`, the list of *topic* feeds for readers, is [`crate::publish`]'s.)

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

use crate::config::SourceConfig;

/// A feed found in an OPML file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpmlFeed {
    /// `title`, else `text`; `None` when both are missing or blank.
    pub name: Option<String>,
    /// `xmlUrl`, trimmed, as written (not yet validated).
    pub url: String,
    /// Enclosing folders, outermost first, then `category` entries; one word each (spaces
    /// become `-`), without repeats.
    pub tags: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OpmlError {
    #[error("invalid OPML at byte {position}: {message}")]
    Xml { position: u64, message: String },
    #[error("not an OPML document: the root element is <{0}>, not <opml>")]
    NotOpml(String),
}

/// Every feed outline of an OPML document, in document order.
pub fn read(text: &str) -> Result<Vec<OpmlFeed>, OpmlError> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut feeds = Vec::new();
    // One entry per open <outline>: the folder name it contributes, if it is a folder.
    let mut open: Vec<Option<String>> = Vec::new();
    let mut saw_root = false;
    loop {
        let event = reader.read_event().map_err(|e| OpmlError::Xml {
            position: reader.error_position(),
            message: e.to_string(),
        })?;
        let (element, empty) = match &event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(e) => {
                if e.local_name().as_ref() == "outline" {
                    open.pop();
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = element.local_name();
        if !saw_root {
            saw_root = true;
            if name.as_ref() != "opml" {
                return Err(OpmlError::NotOpml(name.as_ref().to_owned()));
            }
        }
        if name.as_ref() != "outline" {
            continue;
        }
        let attr = |key: &str| attribute(element, key);
        let label = attr("title")
            .filter(|t| !t.trim().is_empty())
            .or_else(|| attr("text"))
            .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|t| !t.is_empty());
        let url = attr("xmlUrl")
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty());
        match url {
            Some(url) => {
                let mut tags: Vec<String> = Vec::new();
                let folders = open.iter().flatten().cloned();
                let categories = attr("category").map(|c| categories(&c)).unwrap_or_default();
                for tag in folders.chain(categories).filter_map(|t| tag_word(&t)) {
                    if !tags.contains(&tag) {
                        tags.push(tag);
                    }
                }
                feeds.push(OpmlFeed {
                    name: label,
                    url,
                    tags,
                });
                if !empty {
                    // A feed outline with children: they are not in a folder named after it.
                    open.push(None);
                }
            }
            None if !empty => open.push(label),
            None => {}
        }
    }
    Ok(feeds)
}

/// An attribute's value, unescaped; names compared ignoring ASCII case (`xmlurl` is seen in
/// the wild).
fn attribute(element: &BytesStart<'_>, key: &str) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref().eq_ignore_ascii_case(key))
        .map(|a| match a.normalized_value(XmlVersion::Implicit1_0) {
            Ok(v) => v.into_owned(),
            // An HTML entity (`&nbsp;`) XML does not know: keep the text as written.
            Err(_) => a.value.clone().into_owned(),
        })
}

/// OPML 2.0 `category`: comma-separated, each a slash-delimited path (`/News/World`); every
/// segment counts.
fn categories(value: &str) -> Vec<String> {
    value
        .split(',')
        .flat_map(|path| path.split('/'))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A folder or category name as a tag: tags are single words, so inner spaces become `-`
/// (and stray symbols between words, as in "News & Politics", go).
fn tag_word(name: &str) -> Option<String> {
    let word = name
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .collect::<Vec<_>>()
        .join("-");
    (!word.is_empty()).then_some(word)
}

fn escape(value: &str) -> String {
    // Characters XML 1.0 forbids cannot be escaped, only dropped.
    let clean: String = value
        .chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{fffe}' && c != '\u{ffff}')
        })
        .collect();
    html_escape::encode_double_quoted_attribute(&clean)
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;")
}

/// The sources as an OPML 2.0 document: one `<outline type="rss">` each, in config order,
/// tags in `category`.
pub fn write(title: &str, sources: &[SourceConfig]) -> String {
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n");
    out.push_str(&format!(
        "  <head>\n    <title>{}</title>\n  </head>\n  <body>\n",
        escape(title)
    ));
    for source in sources {
        let category = if source.tags.is_empty() {
            String::new()
        } else {
            format!(" category=\"{}\"", escape(&source.tags.join(",")))
        };
        out.push_str(&format!(
            "    <outline type=\"rss\" text=\"{n}\" title=\"{n}\" xmlUrl=\"{u}\"{category}/>\n",
            n = escape(&source.name),
            u = escape(source.url.as_str()),
        ));
    }
    out.push_str("  </body>\n</opml>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const READER_EXPORT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="Central Asia" title="Central Asia">
      <outline text="Security &amp; Politics">
        <outline type="rss" text="Eurasianet" title="Eurasianet" xmlUrl="https://eurasianet.org/rss.xml" htmlUrl="https://eurasianet.org/"/>
      </outline>
      <outline type="rss" text="The Diplomat" xmlUrl=" https://thediplomat.com/feed/ " category="/Asia/Analysis,weekly"/>
    </outline>
    <outline type="rss" text="" title="" xmlurl="https://example.org/untitled.xml"/>
    <outline text="Empty folder"></outline>
    <outline type="link" text="Not a feed" url="https://example.org/"/>
  </body>
</opml>"#;

    #[test]
    fn read_turns_folders_and_categories_into_tags_when_outlines_are_nested() {
        let feeds = read(READER_EXPORT).unwrap();
        assert_eq!(
            feeds,
            vec![
                OpmlFeed {
                    name: Some("Eurasianet".into()),
                    url: "https://eurasianet.org/rss.xml".into(),
                    tags: vec!["Central-Asia".into(), "Security-Politics".into()],
                },
                OpmlFeed {
                    name: Some("The Diplomat".into()),
                    url: "https://thediplomat.com/feed/".into(),
                    tags: vec![
                        "Central-Asia".into(),
                        "Asia".into(),
                        "Analysis".into(),
                        "weekly".into()
                    ],
                },
                OpmlFeed {
                    name: None,
                    url: "https://example.org/untitled.xml".into(),
                    tags: vec![],
                },
            ]
        );
    }

    #[test]
    fn read_refuses_documents_when_they_are_not_opml() {
        assert!(matches!(
            read("<rss version=\"2.0\"><channel/></rss>"),
            Err(OpmlError::NotOpml(root)) if root == "rss"
        ));
        assert!(matches!(
            read("<opml><body><outline text=\"a\"></body></opml>"),
            Err(OpmlError::Xml { .. })
        ));
    }

    #[test]
    fn write_then_read_gives_the_same_sources_when_names_need_escaping() {
        let source = |name: &str, url: &str, tags: &[&str]| SourceConfig {
            name: name.to_owned(),
            url: url::Url::parse(url).unwrap(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            schedule: None,
            user_agent: None,
            headers: vec![],
            allow_private: None,
            content: None,
        };
        let sources = vec![
            source(
                "Trade & \"Energy\" <CA>",
                "https://a.example/feed?x=1&y=2",
                &["asia", "trade"],
            ),
            source("Plain", "https://b.example/rss.xml", &[]),
        ];
        let text = write("feedmill sources", &sources);
        assert!(text.contains("category=\"asia,trade\""), "{text}");
        let back = read(&text).unwrap();
        assert_eq!(back.len(), 2);
        for (feed, source) in back.iter().zip(&sources) {
            assert_eq!(feed.name.as_deref(), Some(source.name.as_str()));
            assert_eq!(feed.url, source.url.as_str());
            assert_eq!(feed.tags, source.tags);
        }
    }
}
