//! `/topics.opml`: every topic feed as an OPML 2.0 subscription list, for one-click import
//! into a feed reader. Pure: the same topics give the same bytes.

use super::html::xml_clean;
use super::{Format, feed_url, page_url};

/// One topic as listed in the OPML file.
#[derive(Debug, Clone, PartialEq)]
pub struct OpmlTopic<'a> {
    pub slug: &'a str,
    pub title: &'a str,
    pub description: &'a str,
}

fn attr(value: &str) -> String {
    html_escape::encode_double_quoted_attribute(&xml_clean(value)).into_owned()
}

/// An OPML 2.0 document with one `<outline type="rss">` per topic, pointing at its Atom feed.
pub fn render_opml(base_url: &str, title: &str, topics: &[OpmlTopic<'_>]) -> Vec<u8> {
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n");
    out.push_str(&format!(
        "  <head>\n    <title>{}</title>\n  </head>\n  <body>\n",
        attr(title)
    ));
    for topic in topics {
        out.push_str(&format!(
            "    <outline type=\"rss\" text=\"{t}\" title=\"{t}\" description=\"{d}\" xmlUrl=\"{x}\" htmlUrl=\"{h}\"/>\n",
            t = attr(topic.title),
            d = attr(topic.description),
            x = attr(&feed_url(base_url, topic.slug, Format::Atom)),
            h = attr(&page_url(base_url, topic.slug)),
        ));
    }
    out.push_str("  </body>\n</opml>\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_opml_lists_each_topic_feed_when_titles_need_escaping() {
        let topics = [
            OpmlTopic {
                slug: "a",
                title: "Trade & \"energy\" <CA>",
                description: "x\u{1}y",
            },
            OpmlTopic {
                slug: "b",
                title: "B",
                description: "",
            },
        ];
        let body =
            String::from_utf8(render_opml("http://h:8080", "feedmill topics", &topics)).unwrap();
        assert!(
            body.contains(
                "xmlUrl=\"http://h:8080/topics/a.atom\" htmlUrl=\"http://h:8080/topics/a\""
            ),
            "{body}"
        );
        assert!(
            body.contains("text=\"Trade &amp; &quot;energy&quot; &lt;CA&gt;\""),
            "{body}"
        );
        assert!(body.contains("description=\"xy\""), "{body}");
        assert_eq!(body.matches("<outline ").count(), 2);
        // Well-formed XML that a feed parser's OPML reader would accept.
        assert!(body.starts_with("<?xml") && body.trim_end().ends_with("</opml>"));
    }
}
