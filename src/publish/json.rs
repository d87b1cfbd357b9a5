//! JSON Feed 1.1 (<https://jsonfeed.org/version/1.1>).
//!
//! JSON Feed has no element for an entry's origin, so attribution lives only in the HTML, as in
//! the other formats. Optional members we have nothing for are left out, not written as
//! `null` or `[]`: the spec defines them as absent-or-valid.

use serde::Serialize;

use super::{Format, Prepared, PreparedEntry, rfc3339};

const VERSION: &str = "https://jsonfeed.org/version/1.1";

#[derive(Serialize)]
struct JsonFeed<'a> {
    version: &'static str,
    title: &'a str,
    home_page_url: &'a str,
    feed_url: String,
    /// The next page of older items (JSON Feed's pagination), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_url: Option<String>,
    description: &'a str,
    items: Vec<JsonItem<'a>>,
}

#[derive(Serialize)]
struct JsonItem<'a> {
    id: &'a str,
    url: &'a str,
    title: &'a str,
    content_html: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<&'a str>,
    date_published: String,
    date_modified: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<JsonAuthor<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tags: &'a [String],
}

#[derive(Serialize)]
struct JsonAuthor<'a> {
    name: &'a str,
}

pub(super) fn write(feed: &Prepared) -> Result<Vec<u8>, serde_json::Error> {
    let json = JsonFeed {
        version: VERSION,
        title: &feed.title,
        home_page_url: &feed.page_url,
        // `feed_url` identifies the feed, so every page names the current one.
        feed_url: feed.feed_url(Format::Json),
        next_url: feed
            .page
            .older()
            .map(|older| feed.page_url_of(Format::Json, older)),
        description: &feed.description,
        items: feed.entries.iter().map(item).collect(),
    };
    let mut out = serde_json::to_vec_pretty(&json)?;
    out.push(b'\n');
    Ok(out)
}

fn item(entry: &PreparedEntry) -> JsonItem<'_> {
    JsonItem {
        id: &entry.id,
        url: &entry.entry_link,
        title: &entry.title,
        content_html: entry.body_html(),
        summary: entry.summary_text.as_deref(),
        date_published: rfc3339(entry.published),
        date_modified: rfc3339(entry.updated),
        authors: entry
            .authors
            .iter()
            .map(|name| JsonAuthor { name })
            .collect(),
        tags: &entry.categories,
    }
}
