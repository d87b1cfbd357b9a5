//! Property tests of the parse → normalize path: whatever bytes arrive, it returns (a feed or
//! an error) and never panics — and feed-rs never needs its panic guard either.

use chrono::{TimeZone, Utc};
use feedmill::{normalize, parse};
use proptest::prelude::*;

const URL: &str = "https://example.org/feed.xml";

/// A feed with most of what the parser handles: a declaration, namespaces, xml:base, CDATA,
/// entities, dates, HTML with embeds and pixels, an Atom-in-RSS link.
const RSS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">
<channel xml:base="https://example.org/blog/">
<title>Caf&#233; &amp; co</title><link>https://example.org/</link><ttl>30</ttl>
<atom:link href="https://example.org/feed.xml" rel="self" type="application/rss+xml"/>
<item><title>First &lt;b&gt;bold&lt;/b&gt;</title><link>posts/1?utm_source=rss</link><guid isPermaLink="false">tag:example.org,2024:1</guid>
<pubDate>Tue, 07 May 2024 10:00:00 +0000</pubDate><category>News</category>
<description><![CDATA[<p>Hello <a href="/x?fbclid=1">x</a><iframe src="//video.example/e/1"></iframe><img src="p.gif" width="1" height="1"></p>]]></description>
<content:encoded><![CDATA[<div>Body<script>alert(1)</script></div>]]></content:encoded>
<media:title type="plain">m</media:title></item>
<item><title>Second</title><pubDate>2024-05-08 11:00</pubDate><description>plain text</description></item>
</channel></rss>"#;

const ATOM: &str = r#"<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://example.org/"><title type="html">A &amp;amp; B</title><id>urn:f</id>
<updated>2024-05-07T10:00:00Z</updated><link href="/"/>
<entry><id>urn:e1</id><title>E</title><updated>2024-05-07T10:00:00Z</updated><link href="e/1"/>
<content type="xhtml" xml:base="posts/"><div xmlns="http://www.w3.org/1999/xhtml"><p>x <a href="y">y</a></p></div></content>
<summary type="text">s &amp; t</summary><author><name>N</name></author></entry>
</feed>"#;

/// Pieces that break XML in the ways feeds do.
const SNIPPETS: &[&str] = &[
    "<",
    ">",
    "&",
    "&nbsp;",
    "&#0;",
    "&#xD800;",
    "&#X41;",
    "\u{0}",
    "\u{1}",
    "\u{FFFE}",
    "]]>",
    "<![CDATA[",
    "<!--",
    "-->",
    "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>",
    "<?xml version=\"1.0\" encoding=\"utf-16\"?>",
    "<!DOCTYPE x [<!ENTITY a \"&a;&a;\">]>",
    "</item>",
    "<item>",
    "</entry>",
    "<entry>",
    "</channel>",
    "xml:base=\"::\"",
    " xml:base=\"http://[\"",
    "<content type=\"text/xml\">",
    "<media:content duration=\"99999999999999999999999:00:00\"/>",
    "<pubDate>Tue, 99 Foo 2024 25:61:61 +9999</pubDate>",
    "\u{FEFF}",
    "\u{0}<\u{0}?\u{0}x",
];

fn parse_and_normalize(bytes: &[u8], content_type: Option<&str>) {
    let now = Utc.with_ymd_and_hms(2024, 5, 9, 0, 0, 0).unwrap();
    match parse::parse(bytes, content_type, URL) {
        Ok(feed) => {
            for entry in &feed.entries {
                let a = normalize::article(entry, &feed, URL, now);
                assert!(!a.entry_key.is_empty());
                assert!(
                    a.published
                        .is_none_or(|p| p <= now + chrono::Duration::minutes(10))
                );
            }
        }
        Err(parse::ParseError::Crashed { url }) => {
            panic!(
                "feed-rs panicked on input from {url}: {:?}",
                String::from_utf8_lossy(bytes)
            )
        }
        Err(_) => {}
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    InsertByte(usize, u8),
    InsertSnippet(usize, usize),
    Replace(usize, u8),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Mutation::Delete(at, len)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::InsertByte(at, b)),
        (any::<usize>(), 0..SNIPPETS.len()).prop_map(|(at, s)| Mutation::InsertSnippet(at, s)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Replace(at, b)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(mut doc: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = doc.len().max(1);
        match *m {
            Mutation::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(doc.len());
                if at < end {
                    doc.drain(at..end);
                }
            }
            Mutation::InsertByte(at, b) => doc.insert(at % (doc.len() + 1), b),
            Mutation::InsertSnippet(at, s) => {
                let at = at % (doc.len() + 1);
                doc.splice(at..at, SNIPPETS[s].bytes());
            }
            Mutation::Replace(at, b) => {
                if !doc.is_empty() {
                    let at = at % doc.len();
                    doc[at] = b;
                }
            }
            Mutation::Truncate(at) => doc.truncate(at % len),
        }
    }
    doc
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_when_given_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        parse_and_normalize(&bytes, None);
    }

    #[test]
    fn parse_never_panics_when_given_arbitrary_text_with_markup(
        parts in proptest::collection::vec(prop_oneof![
            (0..SNIPPETS.len()).prop_map(|i| SNIPPETS[i].to_owned()),
            "[a-z<>/&;=\" ]{0,12}",
            Just("<rss>".to_owned()),
            Just("<feed xmlns=\"http://www.w3.org/2005/Atom\">".to_owned()),
        ], 0..40),
        content_type in prop_oneof![Just(None), Just(Some("text/xml; charset=utf-16")), Just(Some("text/html; charset=koi8-r"))],
    ) {
        parse_and_normalize(parts.concat().as_bytes(), content_type);
    }

    #[test]
    fn parse_never_panics_when_valid_feed_is_mutated(
        atom in any::<bool>(),
        mutations in proptest::collection::vec(mutation(), 1..8),
        content_type in prop_oneof![Just(None), Just(Some("application/rss+xml; charset=windows-1251"))],
    ) {
        let base = if atom { ATOM } else { RSS };
        parse_and_normalize(&apply(base.as_bytes().to_vec(), &mutations), content_type);
    }
}

#[test]
fn parse_reads_both_seed_feeds_when_unmutated() {
    for (doc, entries) in [(RSS, 2), (ATOM, 1)] {
        let feed = parse::parse(doc.as_bytes(), None, URL).unwrap();
        assert_eq!(feed.entries.len(), entries);
        assert!(feed.recovered.is_empty(), "{:?}", feed.recovered);
    }
}
