//! The errors feed, `/sources/errors.atom`: one Atom entry when a source starts failing and
//! one when it recovers, so operators learn about breakage in the reader they already use.
//!
//! Pure, like the topic feeds: the same events give the same bytes. Source URLs and error
//! messages are redacted ([`crate::redact`]): the feed is meant to be read by a feed reader,
//! which keeps what it fetched.
//!
//! Entry ids are `urn:uuid:` UUIDv5s of (source, kind, time): an event never changes, so its
//! id never does, and it does not depend on the server's base URL. The feed id is derived
//! from the `/sources` page URL, as a topic feed's is from its page.

use std::collections::HashMap;

use atom_syndication::{Content, Entry, Feed, Generator, Link, Person, Text};
use chrono::{DateTime, TimeDelta, Utc};

use super::html::{escape, plain_line, xml_clean};
use super::{GENERATOR_NAME, GENERATOR_VERSION, hex_char_refs};
use crate::model::ID_NAMESPACE;
use crate::redact;
use crate::store::{SourceEvent, SourceEventKind};

/// Longest error text put in an entry title; the content has all of it.
const TITLE_ERROR_CHARS: usize = 100;

#[derive(Debug, thiserror::Error)]
#[error("failed to write the errors feed")]
pub struct ErrorsFeedError(#[source] atom_syndication::Error);

/// `{base}/sources`: the HTML status page, the errors feed's alternate link.
pub fn sources_url(base_url: &str) -> String {
    format!("{}/sources", base_url.trim_end_matches('/'))
}

/// `{base}/sources/errors.atom`: the URL the errors feed is served at (its `rel="self"`).
pub fn errors_feed_url(base_url: &str) -> String {
    format!("{}/errors.atom", sources_url(base_url))
}

/// The fragment naming a source's row on `/sources` (`source-The+Diplomat`).
pub fn source_anchor(name: &str) -> String {
    format!(
        "source-{}",
        url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()
    )
}

/// The id of an event's entry (see the module doc).
pub fn event_id(event: &SourceEvent) -> String {
    let key = format!(
        "source-event\n{}\n{}\n{}",
        event.source,
        event.kind.as_str(),
        event.at.timestamp_millis()
    );
    uuid::Uuid::new_v5(&ID_NAMESPACE, key.as_bytes())
        .urn()
        .to_string()
}

/// The errors feed with `events` (newest first) as entries. `self_url` is the URL it is
/// served at, as requested ([`errors_feed_url`], plus `?token=` when the reader passes the
/// admin token that way: the self link must name the document's location, and a reader that
/// follows it must keep its access). `empty_updated` is the feed's `updated` when there are
/// no events (Atom requires one).
pub fn render_errors_feed(
    base_url: &str,
    self_url: &str,
    events: &[SourceEvent],
    empty_updated: DateTime<Utc>,
) -> Result<Vec<u8>, ErrorsFeedError> {
    let page = sources_url(base_url);
    let updated_times = distinct_times(events);
    let entries: Vec<Entry> = events
        .iter()
        .zip(&updated_times)
        .map(|(e, at)| entry(base_url, e, *at))
        .collect();
    let updated = updated_times.iter().max().copied().unwrap_or(empty_updated);
    let feed = Feed {
        title: Text::plain("feedmill: source errors"),
        id: uuid::Uuid::new_v5(&ID_NAMESPACE, page.as_bytes())
            .urn()
            .to_string(),
        updated: updated.fixed_offset(),
        authors: vec![Person {
            name: "feedmill".to_owned(),
            uri: Some(page.clone()),
            ..Person::default()
        }],
        generator: Some(Generator {
            value: GENERATOR_NAME.to_owned(),
            uri: None,
            version: Some(GENERATOR_VERSION.to_owned()),
        }),
        links: vec![
            link(self_url.to_owned(), "self", "application/atom+xml"),
            link(page, "alternate", "text/html"),
        ],
        subtitle: Some(Text::plain(
            "An entry when a source starts failing, and one when it recovers.",
        )),
        entries,
        ..Feed::default()
    };
    feed.write_with_config(
        Vec::new(),
        atom_syndication::WriteConfig {
            write_document_declaration: true,
            indent_size: Some(2),
        },
    )
    .map(hex_char_refs)
    .map_err(ErrorsFeedError)
}

/// Each event's `updated`, made distinct: the sources refreshed in one scheduling step share
/// a time, and the validator warns about entries with equal `updated`. Within a group of
/// equal times the oldest event keeps its time and each later one (by id) gets one more
/// microsecond, which stays stable as new events arrive (they come later).
fn distinct_times(events: &[SourceEvent]) -> Vec<DateTime<Utc>> {
    let mut groups: HashMap<DateTime<Utc>, Vec<i64>> = HashMap::new();
    for e in events {
        groups.entry(e.at).or_default().push(e.id);
    }
    for ids in groups.values_mut() {
        ids.sort_unstable();
    }
    events
        .iter()
        .map(|e| {
            let rank = groups
                .get(&e.at)
                .and_then(|ids| ids.iter().position(|id| *id == e.id))
                .unwrap_or(0);
            e.at + TimeDelta::microseconds(i64::try_from(rank).unwrap_or(0))
        })
        .collect()
}

fn entry(base_url: &str, event: &SourceEvent, updated: DateTime<Utc>) -> Entry {
    let name = plain_line(&event.source);
    let url = redact::url(&event.url);
    let error = event
        .error
        .as_deref()
        .map(|e| xml_clean(&redact::text(e)).into_owned());
    let when = event.at.format("%Y-%m-%d %H:%M:%S UTC");
    let sources_link = format!("{}#{}", sources_url(base_url), source_anchor(&event.source));
    let gone = event.outcome == "gone";
    let (title, html) = match event.kind {
        SourceEventKind::Failing => {
            let reason = match (gone, event.http_status, &error) {
                (true, _, _) => "gone (HTTP 410)".to_owned(),
                // A 2xx/3xx status did not fail: the body did (not a feed, malformed, too
                // big), and the error says which.
                (false, Some(status), Some(error)) if status < 400 => {
                    format!("failing: {}", shorten(error))
                }
                (false, Some(status), _) => format!("failing: HTTP {status}"),
                (false, None, Some(error)) => format!("failing: {}", shorten(error)),
                (false, None, None) => "failing".to_owned(),
            };
            let next = if gone {
                "The source answered 410 Gone: it is not fetched again until its <code>url</code> changes in feeds.toml."
            } else {
                "feedmill keeps retrying with backoff; this feed gets another entry when the source recovers."
            };
            (
                format!("{name} is {reason}"),
                format!(
                    "<p>Fetching <strong>{}</strong> failed at {when}{}.</p><p>Error: {}</p><p>Feed: <code>{}</code></p><p>{next} Its next attempt is on the <a href=\"{}\">sources page</a>.</p>",
                    escape(&name),
                    event
                        .http_status
                        .map(|s| format!(" with HTTP {s}"))
                        .unwrap_or_default(),
                    escape(error.as_deref().unwrap_or("(none recorded)")),
                    escape(&url),
                    escape(&sources_link),
                ),
            )
        }
        SourceEventKind::Recovered => {
            let failures = match event.failures {
                1 => "1 failed fetch".to_owned(),
                n => format!("{n} failed fetches"),
            };
            let since = event
                .since
                .map(|s| format!(" (failing since {})", s.format("%Y-%m-%d %H:%M:%S UTC")))
                .unwrap_or_default();
            let answer = if event.outcome == "not_modified" {
                " (HTTP 304, not modified)"
            } else {
                ""
            };
            let last = match &error {
                Some(e) => format!("<p>The last error was: {}</p>", escape(e)),
                None => String::new(),
            };
            (
                format!("{name} recovered after {failures}"),
                format!(
                    "<p><strong>{}</strong> was fetched successfully at {when}{answer} after {failures} in a row{since}.</p>{last}<p>Feed: <code>{}</code> · <a href=\"{}\">sources page</a></p>",
                    escape(&name),
                    escape(&url),
                    escape(&sources_link),
                ),
            )
        }
    };
    Entry {
        title: Text::plain(title),
        id: event_id(event),
        updated: updated.fixed_offset(),
        published: Some(updated.fixed_offset()),
        links: vec![link(sources_link, "alternate", "text/html")],
        content: Some(Content {
            value: Some(html),
            content_type: Some("html".to_owned()),
            ..Content::default()
        }),
        ..Entry::default()
    }
}

/// At most [`TITLE_ERROR_CHARS`] characters of `text`, on one line, with an ellipsis when cut.
fn shorten(text: &str) -> String {
    let line = plain_line(text);
    if line.chars().count() <= TITLE_ERROR_CHARS {
        return line;
    }
    let mut cut: String = line.chars().take(TITLE_ERROR_CHARS - 1).collect();
    cut.push('…');
    cut
}

fn link(href: String, rel: &str, mime_type: &str) -> Link {
    Link {
        href,
        rel: rel.to_owned(),
        mime_type: Some(mime_type.to_owned()),
        ..Link::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn event(id: i64, source: &str, kind: SourceEventKind, minute: u32) -> SourceEvent {
        SourceEvent {
            id,
            source: source.to_owned(),
            url: "https://alice:pw@feeds.example/private.xml?token=abc&page=1".to_owned(),
            kind,
            at: Utc.with_ymd_and_hms(2024, 5, 1, 12, minute, 0).unwrap(),
            outcome: match kind {
                SourceEventKind::Failing => "error".to_owned(),
                SourceEventKind::Recovered => "ok".to_owned(),
            },
            http_status: Some(500),
            error: Some(
                "https://alice:pw@feeds.example/private.xml?token=abc&page=1 answered HTTP 500"
                    .to_owned(),
            ),
            failures: if kind == SourceEventKind::Recovered {
                3
            } else {
                0
            },
            since: None,
        }
    }

    #[test]
    fn entry_title_names_the_parse_error_when_status_was_200() {
        let mut e = event(1, "Broken", SourceEventKind::Failing, 10);
        e.http_status = Some(200);
        e.error = Some("not a feed: an HTML page".to_owned());
        let (_, feed) = render(&[e]);
        assert_eq!(
            feed.entries[0].title.value,
            "Broken is failing: not a feed: an HTML page"
        );
    }

    fn render(events: &[SourceEvent]) -> (String, atom_syndication::Feed) {
        let bytes = render_errors_feed(
            "http://h:8080/",
            &errors_feed_url("http://h:8080/"),
            events,
            Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
        )
        .unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let feed = atom_syndication::Feed::read_from(text.as_bytes()).unwrap();
        (text, feed)
    }

    #[test]
    fn render_errors_feed_has_one_entry_per_event_when_sources_fail_and_recover() {
        let events = [
            event(3, "Kloop", SourceEventKind::Recovered, 30),
            event(2, "Kloop & Co", SourceEventKind::Failing, 10),
            event(1, "Kloop", SourceEventKind::Failing, 10),
        ];
        let (text, feed) = render(&events);
        assert_eq!(feed.entries.len(), 3);
        assert_eq!(
            feed.entries[0].title.value,
            "Kloop recovered after 3 failed fetches"
        );
        assert_eq!(
            feed.entries[1].title.value,
            "Kloop & Co is failing: HTTP 500"
        );
        assert_eq!(
            feed.links
                .iter()
                .find(|l| l.rel == "self")
                .map(|l| l.href.as_str()),
            Some("http://h:8080/sources/errors.atom")
        );
        assert_eq!(
            feed.entries[1].links[0].href,
            "http://h:8080/sources#source-Kloop+%26+Co"
        );
        // The two events of one step have distinct `updated`, the older keeping its time.
        assert_ne!(feed.entries[1].updated, feed.entries[2].updated);
        assert_eq!(feed.entries[2].updated, events[2].at.fixed_offset());
        assert_eq!(feed.updated, events[0].at.fixed_offset());
        assert!(!text.contains("alice") && !text.contains("abc"), "{text}");
        assert!(text.contains("token=REDACTED"), "{text}");
    }

    #[test]
    fn event_id_is_stable_when_rendered_again_with_more_events() {
        let first = event(1, "Kloop", SourceEventKind::Failing, 10);
        let (_, one) = render(std::slice::from_ref(&first));
        let (_, two) = render(&[event(2, "Kloop", SourceEventKind::Recovered, 20), first]);
        assert_eq!(one.entries[0].id, two.entries[1].id);
        assert!(one.entries[0].id.starts_with("urn:uuid:"));
        assert_ne!(two.entries[0].id, two.entries[1].id);
    }

    #[test]
    fn render_errors_feed_uses_fallback_updated_when_there_are_no_events() {
        let (_, feed) = render(&[]);
        assert!(feed.entries.is_empty());
        assert_eq!(feed.updated.to_rfc3339(), "2024-01-01T00:00:00+00:00");
    }

    #[test]
    fn failing_entry_says_gone_when_the_source_answered_410() {
        let mut gone = event(1, "Old", SourceEventKind::Failing, 1);
        gone.outcome = "gone".to_owned();
        gone.http_status = Some(410);
        let (_, feed) = render(&[gone]);
        assert_eq!(feed.entries[0].title.value, "Old is gone (HTTP 410)");
    }
}
