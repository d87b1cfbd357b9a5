//! Atom 1.0 (RFC 4287).
//!
//! Feed id: `urn:uuid:` + UUIDv5 (in [`ID_NAMESPACE`]) of the topic's page URL. A URN, like the
//! entry ids, because an id must never change while URLs sometimes must (a new host, a reverse
//! proxy in front); readers that see a new feed id treat the feed as a different one. It is
//! derived from the page URL rather than the slug alone so that two feedmill instances with a
//! topic of the same name do not share an id, and from the page rather than the `.atom` URL
//! because the page is the topic's format-independent home.
//!
//! No extension elements are written: atom_syndication writes their attributes unescaped.

use atom_syndication::extension::Extension;
use atom_syndication::{
    Category, Content, Entry, Feed, FixedDateTime, Generator, Link, Person, Source, Text,
};
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};

use super::{FEED_HISTORY_NS, Format, GENERATOR_NAME, GENERATOR_VERSION, Prepared, PreparedEntry};
use crate::model::ID_NAMESPACE;

/// Name of the feed-level author. RFC 4287 requires an author for every entry, inherited from
/// the feed when the entry has none; the aggregator is the honest answer to "who made this
/// document".
const FEED_AUTHOR: &str = "feedmill";

pub(super) fn write(feed: &Prepared) -> Result<Vec<u8>, atom_syndication::Error> {
    let mut links = vec![
        link(
            feed.self_url(Format::Atom),
            "self",
            Format::Atom.media_type(),
        ),
        link(feed.page_url.clone(), "alternate", "text/html"),
    ];
    links.extend(
        feed.paging_links(Format::Atom)
            .into_iter()
            .map(|(rel, href)| link(href, rel, Format::Atom.media_type())),
    );
    let mut atom = Feed {
        title: Text::plain(feed.title.clone()),
        id: feed_id(&feed.page_url),
        updated: fixed(feed.updated),
        authors: vec![Person {
            name: FEED_AUTHOR.to_owned(),
            uri: Some(feed.page_url.clone()),
            ..Person::default()
        }],
        generator: Some(Generator {
            value: GENERATOR_NAME.to_owned(),
            uri: None,
            version: Some(GENERATOR_VERSION.to_owned()),
        }),
        links,
        subtitle: Some(Text::plain(feed.description.clone())),
        entries: feed
            .entries
            .iter()
            .zip(distinct_updated(&feed.entries))
            .map(|(e, updated)| entry(e, updated))
            .collect(),
        ..Feed::default()
    };
    if feed.page.is_archive() {
        // RFC 5005 §4: an archive document says so. No attributes: see the module doc.
        atom.namespaces
            .insert("fh".to_owned(), FEED_HISTORY_NS.to_owned());
        let archive = Extension {
            name: "fh:archive".to_owned(),
            ..Extension::default()
        };
        atom.extensions
            .entry("fh".to_owned())
            .or_default()
            .insert("archive".to_owned(), vec![archive]);
    }
    atom.write_with_config(
        Vec::new(),
        atom_syndication::WriteConfig {
            write_document_declaration: true,
            indent_size: Some(2),
        },
    )
}

/// The feed id (see the module doc).
pub(super) fn feed_id(page_url: &str) -> String {
    uuid::Uuid::new_v5(&ID_NAMESPACE, page_url.as_bytes())
        .urn()
        .to_string()
}

/// Each entry's `updated`, made distinct within the feed.
///
/// The validator warns when two entries of a feed share an `updated` value, and in a topic
/// feed they often do: stories ingested together, or from publishers who date items to the
/// day. An entry whose second collides with another's gets a sub-second offset derived from
/// its id (stable however its neighbours change: it does not look "updated" to readers each
/// time another story arrives), bumped by a microsecond in the rare case that collides too.
/// The result is always within the same second and so never before `published`.
fn distinct_updated(entries: &[PreparedEntry]) -> Vec<DateTime<Utc>> {
    let mut per_second: HashMap<DateTime<Utc>, usize> = HashMap::new();
    for e in entries {
        *per_second.entry(e.updated).or_default() += 1;
    }
    let mut used: HashSet<DateTime<Utc>> = per_second.keys().copied().collect();
    entries
        .iter()
        .map(|e| {
            if per_second.get(&e.updated).copied().unwrap_or(0) < 2 {
                return e.updated;
            }
            let micros = (e.story_id.as_u128() % 999_000) as i64 + 1;
            let mut t = e.updated + TimeDelta::microseconds(micros);
            while !used.insert(t) {
                t += TimeDelta::microseconds(1);
            }
            t
        })
        .collect()
}

fn entry(entry: &PreparedEntry, updated: DateTime<Utc>) -> Entry {
    // We know neither the source feed's id nor when it last changed: its URL stands in for
    // the id, and the entry's own update time is the latest change we saw from it.
    let source = entry.source_feed_url.as_ref().map(|feed_url| {
        let mut links = vec![Link {
            href: feed_url.clone(),
            rel: "self".to_owned(),
            ..Link::default()
        }];
        if let Some(site) = &entry.source_site_url {
            links.push(link(site.clone(), "alternate", "text/html"));
        }
        Source {
            title: Text::plain(entry.source_name.clone()),
            id: feed_url.clone(),
            updated: fixed(entry.updated),
            links,
            ..Source::default()
        }
    });
    Entry {
        title: Text::plain(entry.title.clone()),
        id: entry.id.clone(),
        updated: fixed(updated),
        authors: entry
            .authors
            .iter()
            .map(|name| Person {
                name: name.clone(),
                ..Person::default()
            })
            .collect(),
        categories: entry
            .categories
            .iter()
            .map(|term| Category {
                term: term.clone(),
                ..Category::default()
            })
            .collect(),
        links: vec![link(entry.entry_link.clone(), "alternate", "text/html")],
        published: Some(fixed(entry.published)),
        source,
        // Content is always present (so a reader never has to fetch the link to show
        // something); the summary only when it differs from the content.
        summary: entry
            .full_html
            .is_some()
            .then(|| Text::html(entry.short_html.clone())),
        content: Some(Content {
            value: Some(entry.body_html().to_owned()),
            content_type: Some("html".to_owned()),
            ..Content::default()
        }),
        ..Entry::default()
    }
}

fn link(href: String, rel: &str, mime_type: &str) -> Link {
    Link {
        href,
        rel: rel.to_owned(),
        mime_type: Some(mime_type.to_owned()),
        ..Link::default()
    }
}

fn fixed(date: DateTime<Utc>) -> FixedDateTime {
    date.fixed_offset()
}
