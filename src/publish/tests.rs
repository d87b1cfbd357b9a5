//! Render → parse round trips for the three formats.

use super::testdata::{at, empty_feed, feed};
use super::*;
use crate::model::ContentMode;

fn rendered(feed: &TopicFeed, format: Format) -> String {
    String::from_utf8(render(feed, format).expect("render")).expect("utf-8")
}

fn rss_channel(feed: &TopicFeed) -> ::rss::Channel {
    ::rss::Channel::read_from(render(feed, Format::Rss).expect("render").as_slice()).expect("rss")
}

fn atom_feed(feed: &TopicFeed) -> atom_syndication::Feed {
    atom_syndication::Feed::read_from(render(feed, Format::Atom).expect("render").as_slice())
        .expect("atom")
}

fn json_feed(feed: &TopicFeed) -> serde_json::Value {
    serde_json::from_slice(&render(feed, Format::Json).expect("render")).expect("json")
}

#[test]
fn format_maps_extensions_when_known() {
    for format in Format::ALL {
        assert_eq!(Format::from_extension(format.extension()), Some(format));
        assert!(format.content_type().ends_with("; charset=utf-8"));
    }
    assert_eq!(Format::from_extension("xml"), None);
    assert_eq!(Format::from_extension("RSS"), None);
    assert_eq!(
        Format::Json.content_type(),
        "application/feed+json; charset=utf-8"
    );
}

#[test]
fn urls_are_built_from_base_when_given() {
    assert_eq!(
        feed_url("http://h:8080", "asia", Format::Atom),
        "http://h:8080/topics/asia.atom"
    );
    assert_eq!(
        feed_url("http://h/", "asia", Format::Rss),
        "http://h/topics/asia.rss"
    );
    assert_eq!(
        page_url("https://h/feeds", "asia"),
        "https://h/feeds/topics/asia"
    );
}

#[test]
fn render_is_deterministic_when_called_twice() {
    for mode in [ContentMode::Excerpt, ContentMode::Full] {
        let f = feed(mode);
        for format in Format::ALL {
            assert_eq!(
                render(&f, format).expect("a"),
                render(&f.clone(), format).expect("b")
            );
        }
    }
}

#[test]
fn render_strips_xml_illegal_chars_when_present() {
    for format in Format::ALL {
        let out = rendered(&feed(ContentMode::Full), format);
        for bad in ['\u{1}', '\u{7}', '\u{fffe}'] {
            assert!(!out.contains(bad), "{format:?} contains {bad:?}");
        }
        // JSON escapes would smuggle them back in.
        assert!(
            !out.contains("\\u0001") && !out.contains("\\u0007"),
            "{format:?}"
        );
    }
}

#[test]
fn rss_round_trips_when_parsed() {
    let f = feed(ContentMode::Excerpt);
    let ch = rss_channel(&f);
    assert_eq!(ch.title(), "Central Asia security");
    assert_eq!(
        ch.link(),
        "http://127.0.0.1:8080/topics/central-asia-security"
    );
    assert_eq!(ch.ttl(), Some("15"));
    assert_eq!(
        ch.last_build_date(),
        Some("Fri, 14 Mar 2025 12:05:07 +0000")
    );
    let self_link = &ch.atom_ext().expect("atom ext").links()[0];
    assert_eq!(self_link.rel(), "self");
    assert_eq!(
        self_link.href(),
        "http://127.0.0.1:8080/topics/central-asia-security.rss"
    );
    assert_eq!(ch.items().len(), f.entries.len());
    for (item, story) in ch.items().iter().zip(&f.entries) {
        let guid = item.guid().expect("guid");
        assert!(!guid.is_permalink());
        assert_eq!(guid.value(), format!("urn:uuid:{}", story.id));
        let source = item.source().expect("source");
        assert_eq!(source.url(), story.source.feed_url);
    }
    let first = &ch.items()[0];
    assert_eq!(
        first.title(),
        Some("Kyrgyz–Tajik border \"closure\" extended: trade <halted> & queues grow")
    );
    assert_eq!(first.pub_date(), Some("Fri, 14 Mar 2025 09:30:07 +0000"));
    let creators = first.dublin_core_ext().expect("dc").creators();
    assert_eq!(creators, ["Catherine Putz", "Bruce Pannier"]);
    let cats: Vec<_> = first.categories().iter().map(|c| c.name()).collect();
    assert_eq!(cats, ["Security", "Central Asia"]);
    let description = first.description().expect("description");
    assert!(description.contains("Read more at <a href=\"https://thediplomat.com/2025/03/batken-border/?utm_source=rss&amp;id=4\">The Diplomat</a>"), "{description}");
    assert!(
        description.contains(
            "Also reported by: <a href=\"https://eurasianet.org/batken-closed?a=1&amp;b=2\""
        ),
        "{description}"
    );
    assert!(
        description.contains("href=\"https://thediplomat.com/tag/kyrgyzstan\""),
        "{description}"
    );
    // Excerpt mode never republishes the body.
    assert!(first.content().is_none());
    // No authors: no dc:creator and no <author>.
    assert!(ch.items()[1].dublin_core_ext().is_none());
    assert!(ch.items().iter().all(|i| i.author().is_none()));
    // No link of its own and nobody else reported it: the story's anchor on the topic page.
    assert_eq!(
        ch.items()[2].link(),
        Some(
            "http://127.0.0.1:8080/topics/central-asia-security#story-7500f465-a8c0-597e-a78e-28067f9e0e64"
        )
    );
    assert_eq!(
        ch.items()[2].title(),
        Some("Uzbek police detain suspects after Tashkent raid")
    );
}

#[test]
fn entry_link_falls_back_to_other_outlet_when_story_has_none() {
    let mut f = feed(ContentMode::Excerpt);
    f.entries[0].link = None;
    let ch = rss_channel(&f);
    assert_eq!(
        ch.items()[0].link(),
        Some("https://eurasianet.org/batken-closed?a=1&b=2")
    );
    let description = ch.items()[0].description().expect("description");
    // Attribution never pretends the fallback is the source's own article.
    assert!(
        description.contains("<p>From <a href=\"https://thediplomat.com/\">The Diplomat</a></p>"),
        "{description}"
    );
    // Without the story's link, relative URLs resolve against the source's home page.
    assert!(
        description.contains("href=\"https://thediplomat.com/tag/kyrgyzstan\""),
        "{description}"
    );
    // With neither, they are dropped rather than left relative.
    f.entries[0].source.site_url = None;
    let description = rss_channel(&f).items()[0]
        .description()
        .expect("d")
        .to_owned();
    assert!(!description.contains("kyrgyzstan\""), "{description}");
    assert!(
        description.contains("<p>From The Diplomat</p>"),
        "{description}"
    );
}

#[test]
fn render_resanitizes_html_when_fragments_are_unsafe() {
    let mut f = feed(ContentMode::Full);
    f.entries[0].summary_html = Some(
        "<p onclick=\"evil()\">Hi<script>alert(1)</script><iframe src=\"https://x.example/\"></iframe>"
            .into(),
    );
    f.entries[0].content_html = Some("<div><p>Body <a href=\"javascript:evil()\">x</a>".into());
    for format in Format::ALL {
        let out = rendered(&f, format);
        for bad in ["onclick", "<script", "alert(1)", "<iframe", "javascript:"] {
            assert!(!out.contains(bad), "{format:?} contains {bad}");
        }
    }
    let ch = rss_channel(&f);
    assert!(
        ch.items()[0]
            .description()
            .expect("d")
            .starts_with("<p>Hi</p><p>Read more")
    );
    assert!(
        ch.items()[0].content().expect("c").starts_with(
            "<div><p>Body <a rel=\"noopener noreferrer\">x</a></p></div><p>Originally"
        )
    );
}

#[test]
fn rss_uses_hex_char_refs_when_plain_text_has_markup_chars() {
    let out = rendered(&feed(ContentMode::Excerpt), Format::Rss);
    assert!(out.contains("<title>Kyrgyz–Tajik border &quot;closure&quot; extended: trade &#x3C;halted&gt; &#x26; queues grow</title>"), "{out}");
    assert!(!out.contains("&amp;") || out.contains("<![CDATA["));
    // Inside CDATA the HTML keeps its own entities.
    assert!(out.contains("<![CDATA[<p>Officials say the crossing stays shut <em>until talks resume</em> — <a href=\"https://thediplomat.com/tag/kyrgyzstan\" rel=\"noopener noreferrer\">more</a> &amp; &lt;analysis&gt;.</p>"), "{out}");
}

#[test]
fn hex_char_refs_skips_cdata_when_rewriting() {
    let xml = b"<a x=\"&amp;\">&amp;&lt;&gt;<![CDATA[&amp;&lt;]]>&amp;<![CDATA[ unterminated &amp;"
        .to_vec();
    assert_eq!(
        String::from_utf8(hex_char_refs(xml)).expect("utf-8"),
        "<a x=\"&#x26;\">&#x26;&#x3C;&gt;<![CDATA[&amp;&lt;]]>&#x26;<![CDATA[ unterminated &amp;"
    );
}

#[test]
fn dates_are_clamped_when_implausible() {
    let mut f = feed(ContentMode::Excerpt);
    f.entries[0].published = at(2030, 1, 1, 0, 0);
    f.entries[0].updated = at(2030, 1, 2, 0, 0);
    f.entries[1].published = chrono::DateTime::UNIX_EPOCH;
    f.entries[1].updated = chrono::DateTime::UNIX_EPOCH;
    f.entries[2].published += chrono::TimeDelta::milliseconds(450);
    let ch = rss_channel(&f);
    assert_eq!(
        ch.items()[0].pub_date(),
        Some("Fri, 14 Mar 2025 12:05:07 +0000")
    );
    assert_eq!(
        ch.items()[1].pub_date(),
        Some("Mon, 01 Jan 1990 00:00:00 +0000")
    );
    let json = json_feed(&f);
    assert_eq!(json["items"][0]["date_modified"], "2025-03-14T12:05:07Z");
    assert_eq!(json["items"][2]["date_published"], "2025-03-12T07:15:07Z");
}

#[test]
fn atom_updated_is_distinct_when_entries_share_a_second() {
    let mut f = feed(ContentMode::Excerpt);
    let second = at(2025, 3, 1, 0, 0);
    for story in &mut f.entries {
        story.published = second;
        story.updated = second;
    }
    let updated = |f: &TopicFeed| -> Vec<String> {
        atom_feed(f)
            .entries()
            .iter()
            .map(|e| e.updated().to_rfc3339())
            .collect()
    };
    let all = updated(&f);
    let mut distinct = all.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), all.len(), "{all:?}");
    for value in &all {
        assert!(value.starts_with("2025-03-01T00:00:07."), "{value}");
    }
    // An entry's value does not depend on which other entries share its second.
    let mut fewer = f.clone();
    fewer.entries.remove(0);
    assert_eq!(updated(&fewer), all[1..]);
    // A second nobody else has is written as it is.
    fewer.entries.truncate(1);
    assert_eq!(updated(&fewer), ["2025-03-01T00:00:07+00:00"]);
}

#[test]
fn excerpt_is_bounded_when_summary_is_a_whole_article() {
    let mut f = feed(ContentMode::Excerpt);
    f.entries[0].summary_html = f.entries[0].content_html.clone();
    let d = rss_channel(&f).items()[0]
        .description()
        .expect("d")
        .to_owned();
    let excerpt = &d[..d.find("<p>Read more").expect("read more")];
    assert!(
        excerpt.contains("Paragraph 1") && !excerpt.contains("Paragraph 8"),
        "{d}"
    );
    // Whole paragraphs only, and about the budget (sanitizing lengthens URLs a little).
    assert!(
        excerpt.ends_with("</p>") && excerpt.len() < html::EXCERPT_MAX_BYTES * 5 / 4,
        "{d}"
    );
    let json = json_feed(&f);
    let summary = json["items"][0]["summary"].as_str().expect("summary");
    assert!(summary.ends_with('…') && summary.split(' ').count() <= html::SUMMARY_MAX_WORDS);
}

#[test]
fn json_carries_full_body_when_mode_is_full() {
    let json = json_feed(&feed(ContentMode::Full));
    let body = json["items"][0]["content_html"]
        .as_str()
        .expect("content_html");
    assert!(body.contains("Paragraph 8") && body.contains("Originally published at"));
    let body = json["items"][1]["content_html"]
        .as_str()
        .expect("content_html");
    assert!(body.contains("Read more at"));
}

#[test]
fn rss_carries_full_body_when_mode_is_full() {
    let ch = rss_channel(&feed(ContentMode::Full));
    let content = ch.items()[0].content().expect("content:encoded");
    assert!(content.contains("Paragraph 8"));
    assert!(
        content.contains("src=\"https://thediplomat.com/images/border.jpg\""),
        "{content}"
    );
    assert!(content.contains("Originally published at"));
    assert!(content.contains("Also reported by:"));
    // A story without a body has nothing more to offer than its description.
    assert!(ch.items()[1].content().is_none());
}

#[test]
fn atom_round_trips_when_parsed() {
    let f = feed(ContentMode::Full);
    let atom = atom_feed(&f);
    assert_eq!(atom.title().as_str(), "Central Asia security");
    assert_eq!(
        atom.id(),
        atom::feed_id("http://127.0.0.1:8080/topics/central-asia-security")
    );
    assert!(atom.id().starts_with("urn:uuid:"));
    assert_eq!(atom.updated().to_rfc3339(), "2025-03-14T12:05:07+00:00");
    assert_eq!(atom.authors()[0].name(), "feedmill");
    let rels: Vec<_> = atom.links().iter().map(|l| (l.rel(), l.href())).collect();
    assert_eq!(
        rels,
        [
            (
                "self",
                "http://127.0.0.1:8080/topics/central-asia-security.atom"
            ),
            (
                "alternate",
                "http://127.0.0.1:8080/topics/central-asia-security"
            )
        ]
    );
    assert_eq!(atom.entries().len(), f.entries.len());
    for (entry, story) in atom.entries().iter().zip(&f.entries) {
        assert_eq!(entry.id(), format!("urn:uuid:{}", story.id));
        assert!(entry.updated() >= entry.published().expect("published"));
        let source = entry.source().expect("source");
        assert_eq!(source.id(), story.source.feed_url);
        assert_eq!(entry.content().and_then(|c| c.content_type()), Some("html"));
    }
    let first = &atom.entries()[0];
    let names: Vec<_> = first.authors().iter().map(|p| p.name()).collect();
    assert_eq!(names, ["Catherine Putz", "Bruce Pannier"]);
    assert_eq!(
        first.links()[0].href(),
        "https://thediplomat.com/2025/03/batken-border/?utm_source=rss&id=4"
    );
    assert_eq!(
        first.source().expect("source").title().as_str(),
        "The Diplomat"
    );
    assert!(
        first
            .summary()
            .expect("summary")
            .as_str()
            .contains("Read more at")
    );
    assert!(
        first
            .content()
            .and_then(|c| c.value())
            .expect("content")
            .contains("Paragraph 8")
    );
    assert_eq!(
        atom.entries()[2].links()[0].href(),
        story_anchor(
            "http://127.0.0.1:8080/topics/central-asia-security",
            f.entries[2].id
        )
    );
    // updated < published in the input is clamped.
    assert_eq!(
        atom.entries()[2].updated().to_rfc3339(),
        "2025-03-12T07:15:07+00:00"
    );
}

#[test]
fn atom_id_is_stable_when_content_changes() {
    let a = feed(ContentMode::Excerpt);
    let mut b = a.clone();
    b.entries.truncate(1);
    b.updated = at(2026, 1, 1, 0, 0);
    b.title = "Renamed".into();
    assert_eq!(atom_feed(&a).id(), atom_feed(&b).id());
    let mut other = a.clone();
    other.slug = "other".into();
    assert_ne!(atom_feed(&a).id(), atom_feed(&other).id());
}

#[test]
fn json_feed_has_spec_fields_when_rendered() {
    let f = feed(ContentMode::Excerpt);
    let json = json_feed(&f);
    assert_eq!(json["version"], "https://jsonfeed.org/version/1.1");
    assert_eq!(
        json["home_page_url"],
        "http://127.0.0.1:8080/topics/central-asia-security"
    );
    assert_eq!(
        json["feed_url"],
        "http://127.0.0.1:8080/topics/central-asia-security.json"
    );
    let items = json["items"].as_array().expect("items");
    assert_eq!(items.len(), f.entries.len());
    for (item, story) in items.iter().zip(&f.entries) {
        assert_eq!(item["id"], format!("urn:uuid:{}", story.id));
        assert!(item["content_html"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(item["title"].as_str().is_some_and(|s| !s.is_empty()));
    }
    let first = &items[0];
    assert_eq!(first["date_published"], "2025-03-14T09:30:07Z");
    assert_eq!(first["date_modified"], "2025-03-14T12:05:07Z");
    assert_eq!(
        first["authors"],
        serde_json::json!([{"name": "Catherine Putz"}, {"name": "Bruce Pannier"}])
    );
    assert_eq!(
        first["tags"],
        serde_json::json!(["Security", "Central Asia"])
    );
    let summary = first["summary"].as_str().expect("summary");
    assert!(
        summary.starts_with(
            "Officials say the crossing stays shut until talks resume — more & <analysis>."
        ),
        "{summary}"
    );
    assert!(!summary.contains('<') || summary.contains("<analysis>"));
    // Optional members are absent, not null or empty.
    assert!(items[1].get("authors").is_none());
    assert!(items[3].get("tags").is_none());
    assert_eq!(
        items[2]["url"],
        story_anchor(&page_url(&f.base_url, &f.slug), f.entries[2].id)
    );
}

#[test]
fn title_falls_back_when_story_has_none() {
    let ch = rss_channel(&feed(ContentMode::Excerpt));
    let fallback = ch.items()[1].title().expect("title");
    assert!(
        fallback.starts_with("В Бишкеке прошли переговоры"),
        "{fallback}"
    );
    assert!(fallback.ends_with('…'));
    assert_eq!(ch.items()[4].title(), Some("(untitled)"));
}

#[test]
fn render_writes_valid_empty_feed_when_no_entries() {
    let f = empty_feed();
    let ch = rss_channel(&f);
    assert!(ch.items().is_empty());
    assert_eq!(ch.link(), "http://127.0.0.1:8080/topics/empty-topic");
    assert!(!ch.description().is_empty());
    assert!(atom_feed(&f).entries().is_empty());
    assert_eq!(json_feed(&f)["items"], serde_json::json!([]));
}

#[test]
fn every_format_round_trips_through_feed_rs_when_parsed() {
    let f = feed(ContentMode::Full);
    for format in Format::ALL {
        let bytes = render(&f, format).expect("render");
        let parsed =
            feed_rs::parser::parse(bytes.as_slice()).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!(parsed.entries.len(), f.entries.len(), "{format:?}");
        for (entry, story) in parsed.entries.iter().zip(&f.entries) {
            assert_eq!(entry.id, format!("urn:uuid:{}", story.id), "{format:?}");
            assert_eq!(entry.published, Some(story.published), "{format:?}");
            let link = entry.links.first().map(|l| l.href.as_str()).expect("link");
            match story.link.as_deref() {
                Some(own) => assert_eq!(link, own, "{format:?}"),
                None => assert!(link.contains("#story-"), "{format:?}"),
            }
        }
        let title = parsed.entries[0].title.as_ref().expect("title");
        assert_eq!(title.content, f.entries[0].title, "{format:?}");
    }
}

/// Writes the sample feeds to `$FEEDMILL_SAMPLES_DIR` (default `target/publish-samples`) for
/// checking with the real validator and readers:
/// `FEEDMILL_SAMPLES_DIR=/tmp/s cargo test --lib publish::tests::write_samples -- --ignored`
/// then `feedcheck --base http://127.0.0.1:8080/topics/SLUG.EXT FILE` on each file.
#[test]
#[ignore = "writes files for the external validator"]
fn write_samples() {
    let dir = std::env::var("FEEDMILL_SAMPLES_DIR")
        .unwrap_or_else(|_| "target/publish-samples".to_owned());
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut full = feed(ContentMode::Full);
    full.slug = "central-asia-full".into();
    for f in [feed(ContentMode::Excerpt), full, empty_feed()] {
        for format in Format::ALL {
            let path = format!("{dir}/{}.{}", f.slug, format.extension());
            std::fs::write(&path, render(&f, format).expect("render")).expect("write");
        }
    }
}

/// Writes a topic feed built from every real publisher feed of the shared corpus (class
/// `a-realworld` in `$FEEDMILL_CORPUS/index.tsv`, default `/work/shared/corpus`), up to five
/// entries each, parsed by feed-rs and sanitized with ammonia's defaults the way `normalize`
/// would (relative URLs left in, to exercise their resolution here). The feeds go to
/// `$FEEDMILL_SAMPLES_DIR` as `realworld.*` and `realworld-full.*`, for the external validator.
#[test]
#[ignore = "reads the shared corpus and writes files for the external validator"]
fn write_realworld_samples() {
    use crate::model::{SourceRef, StoryView, story_id};

    let corpus =
        std::env::var("FEEDMILL_CORPUS").unwrap_or_else(|_| "/work/shared/corpus".to_owned());
    let dir = std::env::var("FEEDMILL_SAMPLES_DIR")
        .unwrap_or_else(|_| "target/publish-samples".to_owned());
    std::fs::create_dir_all(&dir).expect("mkdir");
    let index = std::fs::read_to_string(format!("{corpus}/index.tsv")).expect("index.tsv");
    let sanitize = |s: &str| ammonia::Builder::default().clean(s).to_string();
    let text_of = |t: &feed_rs::model::Text| {
        if t.content_type.to_string().contains("html") {
            html::to_text(&sanitize(&t.content))
        } else {
            t.content.clone()
        }
    };
    let mut entries = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut files = 0;
    for row in index.lines().skip(1) {
        let cols: Vec<&str> = row.split('\t').collect();
        if cols.get(2) != Some(&"a-realworld") || !seen.insert(cols[0].to_owned()) {
            continue;
        }
        let Ok(bytes) = std::fs::read(format!("{corpus}/{}", cols[0])) else {
            continue;
        };
        let Ok(parsed) = feed_rs::parser::parse(bytes.as_slice()) else {
            continue;
        };
        files += 1;
        let source = SourceRef {
            name: parsed.title.as_ref().map(&text_of).unwrap_or_default(),
            feed_url: format!("https://corpus.example/{}", cols[0]),
            site_url: parsed.links.first().map(|l| l.href.clone()),
        };
        for e in parsed.entries.iter().take(5) {
            let published = e
                .published
                .or(e.updated)
                .unwrap_or_else(|| at(2024, 1, 1, 0, 0));
            entries.push(StoryView {
                content: None,
                id: story_id(&format!("{}|{}", cols[0], e.id)),
                title: e.title.as_ref().map(&text_of).unwrap_or_default(),
                link: e.links.first().map(|l| l.href.clone()),
                summary_html: e.summary.as_ref().map(|t| sanitize(&t.content)),
                content_html: e
                    .content
                    .as_ref()
                    .and_then(|c| c.body.as_deref())
                    .map(sanitize),
                authors: e.authors.iter().filter_map(|p| p.name.clone()).collect(),
                categories: e
                    .categories
                    .iter()
                    .map(|c| c.label.clone().unwrap_or_else(|| c.term.clone()))
                    .collect(),
                published,
                updated: e.updated.unwrap_or(published),
                source: source.clone(),
                also: vec![],
            });
        }
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.published));
    eprintln!("{} entries from {files} corpus feeds", entries.len());
    for (slug, content) in [
        ("realworld", ContentMode::Excerpt),
        ("realworld-full", ContentMode::Full),
    ] {
        let f = TopicFeed {
            slug: slug.into(),
            title: "Real-world corpus".into(),
            description: "Every a-realworld feed of the shared corpus".into(),
            base_url: "http://127.0.0.1:8080".into(),
            content,
            ttl_minutes: 15,
            updated: at(2025, 3, 14, 12, 5),
            entries: entries.clone(),
        };
        for format in Format::ALL {
            let path = format!("{dir}/{slug}.{}", format.extension());
            let started = std::time::Instant::now();
            let bytes = render(&f, format).expect("render");
            eprintln!("{path}: {} bytes in {:?}", bytes.len(), started.elapsed());
            std::fs::write(&path, bytes).expect("write");
        }
    }
}

#[test]
fn source_is_omitted_when_its_feed_url_is_not_absolute() {
    let mut f = feed(ContentMode::Excerpt);
    f.entries[0].source.feed_url = "feeds/diplomat.xml".into();
    f.entries[0].source.name = " \u{2} ".into();
    let ch = rss_channel(&f);
    assert!(ch.items()[0].source().is_none());
    assert!(ch.items()[1].source().is_some());
    assert!(
        ch.items()[0]
            .description()
            .expect("d")
            .contains(">the original source</a>")
    );
    let atom = atom_feed(&f);
    assert!(atom.entries()[0].source().is_none());
    let source = atom.entries()[1].source().expect("source");
    assert_eq!(source.links()[0].rel(), "self");
    assert_eq!(
        source.links()[1].href(),
        "https://rus.azattyq.org/",
        "the source's home page is its alternate link"
    );
}

#[test]
fn rss_survives_cdata_terminator_when_html_contains_it() {
    let mut f = feed(ContentMode::Full);
    f.entries[0].summary_html = Some("<p><abbr title=\"a]]>b &amp; c\">x</abbr> ]]&gt;</p>".into());
    let ch = rss_channel(&f);
    let d = ch.items()[0].description().expect("d");
    assert!(
        d.starts_with("<p><abbr title=\"a]]&gt;b &amp; c\">x</abbr> ]]&gt;</p>"),
        "{d}"
    );
    assert_eq!(ch.items().len(), f.entries.len());
}

fn render_at(feed: &TopicFeed, format: Format, page: Page) -> Vec<u8> {
    render_page(feed, format, page).expect("render")
}

/// `(rel, href)` of an Atom document's feed-level links, self and alternate left out.
fn atom_paging_links(xml: &[u8]) -> Vec<(String, String)> {
    atom_syndication::Feed::read_from(xml)
        .expect("atom")
        .links
        .into_iter()
        .filter(|l| l.rel != "self" && l.rel != "alternate")
        .map(|l| (l.rel, l.href))
        .collect()
}

#[test]
fn feed_page_url_is_the_feed_url_when_page_is_one() {
    assert_eq!(
        feed_page_url("http://h/", "asia", Format::Atom, 1),
        "http://h/topics/asia.atom"
    );
    assert_eq!(
        feed_page_url("http://h", "asia", Format::Json, 3),
        "http://h/topics/asia.json?page=3"
    );
}

#[test]
fn current_feed_links_older_page_when_more_stories_exist() {
    let f = feed(ContentMode::Excerpt);
    let older = "http://127.0.0.1:8080/topics/central-asia-security.atom?page=2";
    assert_eq!(
        atom_paging_links(&render_at(&f, Format::Atom, Page::current(true))),
        vec![
            ("next".to_owned(), older.to_owned()),
            ("prev-archive".to_owned(), older.to_owned())
        ]
    );
    // Without older stories: no paging links, and the same bytes as `render`.
    let alone = render_at(&f, Format::Atom, Page::current(false));
    assert!(atom_paging_links(&alone).is_empty());
    assert_eq!(alone, render(&f, Format::Atom).expect("render"));
    let atom = String::from_utf8(render_at(&f, Format::Atom, Page::current(true))).expect("utf-8");
    assert!(!atom.contains("fh:archive") && !atom.contains("history/1.0"));
    let json: serde_json::Value =
        serde_json::from_slice(&render_at(&f, Format::Json, Page::current(true))).expect("json");
    assert_eq!(
        json["next_url"],
        "http://127.0.0.1:8080/topics/central-asia-security.json?page=2"
    );
    assert!(json_feed(&f).get("next_url").is_none());
}

#[test]
fn archive_page_carries_fh_archive_and_links_both_ways_when_in_the_middle() {
    let f = feed(ContentMode::Excerpt);
    let page = Page {
        number: 3,
        has_older: true,
    };
    let base = "http://127.0.0.1:8080/topics/central-asia-security";
    let xml = render_at(&f, Format::Atom, page);
    let parsed = atom_syndication::Feed::read_from(xml.as_slice()).expect("atom");
    let this = parsed.links.iter().find(|l| l.rel == "self").expect("self");
    assert_eq!(this.href, format!("{base}.atom?page=3"));
    assert_eq!(
        atom_paging_links(&xml),
        vec![
            ("next".to_owned(), format!("{base}.atom?page=4")),
            ("prev-archive".to_owned(), format!("{base}.atom?page=4")),
            ("current".to_owned(), format!("{base}.atom")),
            ("previous".to_owned(), format!("{base}.atom?page=2")),
            ("next-archive".to_owned(), format!("{base}.atom?page=2")),
        ]
    );
    let text = String::from_utf8(xml).expect("utf-8");
    assert!(text.contains("xmlns:fh=\"http://purl.org/syndication/history/1.0\""));
    assert!(text.contains("<fh:archive"), "{text}");
    // The feed id names the logical feed: the same on every page.
    assert_eq!(parsed.id, atom_feed(&f).id);

    let rss = String::from_utf8(render_at(&f, Format::Rss, page)).expect("utf-8");
    let channel = ::rss::Channel::read_from(rss.as_bytes()).expect("rss");
    let rels: Vec<(String, String)> = channel
        .atom_ext()
        .expect("atom links")
        .links()
        .iter()
        .map(|l| (l.rel().to_owned(), l.href().to_owned()))
        .collect();
    assert_eq!(rels[0], ("self".to_owned(), format!("{base}.rss?page=3")));
    assert!(rels.contains(&("prev-archive".to_owned(), format!("{base}.rss?page=4"))));
    assert!(rels.contains(&("next-archive".to_owned(), format!("{base}.rss?page=2"))));
    assert!(rels.contains(&("current".to_owned(), format!("{base}.rss"))));
    assert!(rss.contains("xmlns:fh=\"http://purl.org/syndication/history/1.0\""));
    assert!(rss.contains("<fh:archive"), "{rss}");

    let json: serde_json::Value =
        serde_json::from_slice(&render_at(&f, Format::Json, page)).expect("json");
    assert_eq!(json["feed_url"], format!("{base}.json"));
    assert_eq!(json["next_url"], format!("{base}.json?page=4"));
}

#[test]
fn oldest_archive_page_links_only_newer_when_nothing_is_older() {
    let f = feed(ContentMode::Excerpt);
    let page = Page {
        number: 2,
        has_older: false,
    };
    let base = "http://127.0.0.1:8080/topics/central-asia-security";
    assert_eq!(
        atom_paging_links(&render_at(&f, Format::Atom, page)),
        vec![
            ("current".to_owned(), format!("{base}.atom")),
            ("previous".to_owned(), format!("{base}.atom")),
            ("next-archive".to_owned(), format!("{base}.atom")),
        ]
    );
    let json: serde_json::Value =
        serde_json::from_slice(&render_at(&f, Format::Json, page)).expect("json");
    assert!(json.get("next_url").is_none());
    // Every format still parses for readers.
    for format in Format::ALL {
        feed_rs::parser::parse(render_at(&f, format, page).as_slice()).expect("parses");
    }
}

#[test]
fn teaser_is_plain_words_when_summary_has_markup() {
    let stories = super::testdata::stories();
    let teaser = super::teaser(&stories[0], 8).expect("teaser");
    assert_eq!(teaser, "Officials say the crossing stays shut until talks…");
    let full = super::teaser(&stories[0], 100).expect("teaser");
    assert!(full.ends_with("more & <analysis>."), "{full}");
    let mut bare = stories[0].clone();
    bare.summary_html = Some("  ".into());
    bare.content_html = None;
    assert_eq!(super::teaser(&bare, 8), None);
    bare.content_html = Some("<p>Body <b>only</b></p>".into());
    assert_eq!(super::teaser(&bare, 8).as_deref(), Some("Body only"));
}
