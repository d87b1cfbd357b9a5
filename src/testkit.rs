//! Test support shared by the unit tests of several modules: the Diplomat article of the
//! fixtures, an article builder, and a store with sources and one topic.

use chrono::{TimeZone, Utc};

use crate::dedup;
use crate::model::Article;
use crate::store::{Incoming, Membership, Store};

/// The Diplomat article of the fixtures: title line, standfirst, body paragraphs.
pub const DIPLOMAT: &str =
    include_str!("../tests/fixtures/diplomat-china-kyrgyzstan-ties-warm.txt");

pub fn diplomat_title() -> &'static str {
    DIPLOMAT.lines().next().unwrap_or_default()
}

/// The body as HTML paragraphs, boilerplate line included.
pub fn diplomat_body() -> String {
    DIPLOMAT
        .split("\n\n")
        .skip(1)
        .map(|p| format!("<p>{}</p>", p.trim()))
        .collect()
}

/// An article with this key, link, title and body (HTML, as its summary), published
/// 2024-05-01 12:00 UTC.
pub fn article(key: &str, link: Option<&str>, title: &str, body_html: &str) -> Article {
    Article {
        entry_key: key.to_owned(),
        guid: None,
        url: link.map(str::to_owned),
        canonical_url: link.and_then(dedup::canonical_url),
        title: title.to_owned(),
        summary_html: Some(body_html.to_owned()),
        content_html: None,
        summary_text: crate::normalize::html_to_text(body_html),
        content_text: String::new(),
        authors: vec![],
        categories: vec![],
        lang: None,
        published: Some(Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()),
        updated: None,
    }
}

/// The article as a member of topic `t`.
pub fn incoming(article: Article) -> Incoming {
    Incoming {
        article,
        topics: vec![Membership {
            topic: "t".to_owned(),
            excluded: false,
        }],
    }
}

/// An in-memory store with these sources (feed URL `https://NAME.example/feed`) and topic `t`.
pub async fn store_with(sources: &[&str]) -> Store {
    let store = Store::open_in_memory().await.unwrap();
    let rows: Vec<_> = sources
        .iter()
        .map(|s| (s.to_string(), format!("https://{s}.example/feed")))
        .collect();
    store.sync_sources(&rows).await.unwrap();
    store
        .replace_topic_members("t", "x", &[], Utc::now())
        .await
        .unwrap();
    store
}
