//! Sample topic feeds for the tests: realistic and deliberately messy (already-sanitized HTML
//! with relative URLs, `&`, `<`, quotes, Cyrillic, control characters, empty titles, missing
//! links and authors, merged stories).

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use crate::model::{AlsoReported, ContentMode, SourceRef, StoryView, TopicFeed, story_id};

pub(crate) fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 7)
        .single()
        .expect("valid date")
}

fn diplomat() -> SourceRef {
    SourceRef {
        name: "The Diplomat".into(),
        feed_url: "https://thediplomat.com/feed/".into(),
        site_url: Some("https://thediplomat.com".into()),
    }
}

fn eurasianet() -> SourceRef {
    SourceRef {
        name: "Eurasianet".into(),
        feed_url: "https://eurasianet.org/feed".into(),
        site_url: None,
    }
}

fn azattyq() -> SourceRef {
    SourceRef {
        name: "Азаттык \u{1}Радио".into(),
        feed_url: "https://rus.azattyq.org/api/zrqiteuuir".into(),
        site_url: Some("https://rus.azattyq.org/".into()),
    }
}

/// A long body of several paragraphs, so excerpts get cut.
fn long_body() -> String {
    let mut body = String::from(
        "<figure><img src=\"/images/border.jpg\" alt=\"Border post &amp; fence\"><figcaption>\
         Photo: &lt;archive&gt;</figcaption></figure>",
    );
    for n in 1..=8 {
        body.push_str(&format!(
            "<p>Paragraph {n}: officials in Dushanbe &amp; Bishkek said the \"temporary\" \
             closure of the Batken crossing would last until talks resume. Residents \
             <a href=\"/news/{n}?ref=feed&amp;x=1\">described</a> queues of trucks stretching \
             for kilometres, and traders said they had lost a week's income.</p>"
        ));
    }
    body
}

pub(crate) fn stories() -> Vec<StoryView> {
    vec![
        // Several authors, categories, an "also reported" list, a long body, relative URLs.
        StoryView {
            content: None,
            id: story_id("thediplomat.com/2025/03/batken-border"),
            title: "Kyrgyz–Tajik border \"closure\" extended: trade <halted> & queues grow".into(),
            link: Some("https://thediplomat.com/2025/03/batken-border/?utm_source=rss&id=4".into()),
            summary_html: Some(
                "<p>Officials say the crossing stays shut <em>until talks resume</em> — \
                 <a href=\"/tag/kyrgyzstan\">more</a> &amp; &lt;analysis&gt;.</p>"
                    .into(),
            ),
            content_html: Some(long_body()),
            authors: vec!["Catherine Putz".into(), "Bruce Pannier".into(), " ".into()],
            categories: vec!["Security".into(), "Central Asia".into(), "Security".into()],
            published: at(2025, 3, 14, 9, 30),
            updated: at(2025, 3, 14, 12, 5),
            source: diplomat(),
            also: vec![
                AlsoReported {
                    source: "Eurasianet".into(),
                    title: "Batken: \"closed\" again".into(),
                    url: Some("https://eurasianet.org/batken-closed?a=1&b=2".into()),
                },
                AlsoReported {
                    source: "RFE/RL".into(),
                    title: "Border shut".into(),
                    url: None,
                },
            ],
        },
        // Cyrillic, no authors, an empty title, control characters, no body.
        StoryView {
            content: None,
            id: story_id("azattyq/123"),
            title: String::new(),
            link: Some("https://rus.azattyq.org/a/33312345.html".into()),
            summary_html: Some(
                "<p>В Бишкеке\u{7} прошли переговоры о границе; стороны «договорились» \
                 продолжить работу &amp; встретиться снова.</p>"
                    .into(),
            ),
            content_html: None,
            authors: vec![],
            categories: vec!["Кыргызстан".into()],
            published: at(2025, 3, 13, 18, 0),
            updated: at(2025, 3, 13, 18, 0),
            source: azattyq(),
            also: vec![],
        },
        // No link, no summary, a body only, one author with markup-like text.
        StoryView {
            content: None,
            id: story_id("eurasianet|entry-77"),
            title: "Uzbek police <b>detain</b> suspects after Tashkent raid".into(),
            link: None,
            summary_html: None,
            content_html: Some(
                "<p>Police in <strong>Tashkent</strong> detained 12 people. \
                 <img src=\"photo.jpg\" alt=\"\"> See <a href=\"/x\">related</a>.</p>\
                 <p>Second paragraph with a <a href=\"https://example.org/q?a=1&amp;b=2\">\
                 link</a>.</p>"
                    .into(),
            ),
            authors: vec!["O'Brien & \"Partners\" <desk>".into()],
            categories: vec![],
            published: at(2025, 3, 12, 7, 15),
            // Older than published: must be clamped.
            updated: at(2025, 3, 12, 6, 0),
            source: eurasianet(),
            also: vec![],
        },
        // Nothing but a title and a link.
        StoryView {
            content: None,
            id: Uuid::from_u128(0x1234_5678_9abc_4def_8123_4567_89ab_cdef),
            title: "Turkmenistan reports \u{fffe}calm on Afghan frontier".into(),
            link: Some("https://example.com/turkmen-frontier".into()),
            summary_html: None,
            content_html: None,
            authors: vec![],
            categories: vec![],
            published: at(2025, 3, 10, 0, 0),
            updated: at(2025, 3, 11, 0, 0),
            source: SourceRef {
                name: "Example & Co".into(),
                feed_url: "https://example.com/rss?format=xml&lang=en".into(),
                site_url: None,
            },
            also: vec![AlsoReported {
                source: "Eurasianet".into(),
                title: String::new(),
                url: Some("https://eurasianet.org/turkmen".into()),
            }],
        },
        // No title and no text at all.
        StoryView {
            content: None,
            id: story_id("empty"),
            title: "   ".into(),
            link: Some("https://example.com/empty".into()),
            summary_html: Some("  ".into()),
            content_html: None,
            authors: vec![],
            categories: vec![],
            published: at(2025, 3, 9, 0, 0),
            updated: at(2025, 3, 9, 0, 0),
            source: eurasianet(),
            also: vec![],
        },
    ]
}

pub(crate) fn feed(content: ContentMode) -> TopicFeed {
    TopicFeed {
        slug: "central-asia-security".into(),
        title: "Central Asia security".into(),
        description: "Security, terrorism & border news from Central Asia — «Центральная Азия»"
            .into(),
        base_url: "http://127.0.0.1:8080".into(),
        content,
        ttl_minutes: 15,
        updated: at(2025, 3, 14, 12, 5),
        entries: stories(),
    }
}

pub(crate) fn empty_feed() -> TopicFeed {
    TopicFeed {
        slug: "empty-topic".into(),
        title: "Empty topic".into(),
        description: String::new(),
        base_url: "http://127.0.0.1:8080/".into(),
        content: ContentMode::Excerpt,
        ttl_minutes: 30,
        updated: at(2025, 1, 1, 0, 0),
        entries: vec![],
    }
}
