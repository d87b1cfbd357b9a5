//! RSS 2.0 with the extensions the RSS Advisory Board's profile recommends: `atom:link
//! rel="self"`, `dc:creator` (RSS `<author>` must be an e-mail address, which we never have)
//! and `content:encoded` for full bodies.

use ::rss::extension::Extension;
use ::rss::extension::atom::{AtomExtension, Link};
use ::rss::extension::dublincore::DublinCoreExtension;
use ::rss::{Category, Channel, Guid, Item, Source};

use super::{
    FEED_HISTORY_NS, Format, GENERATOR_NAME, GENERATOR_VERSION, Prepared, PreparedEntry, rfc822,
};

pub(super) fn write(feed: &Prepared) -> Result<Vec<u8>, ::rss::Error> {
    let mut channel = Channel {
        title: feed.title.clone(),
        link: feed.page_url.clone(),
        description: feed.description.clone(),
        last_build_date: Some(rfc822(feed.updated)),
        generator: Some(format!("{GENERATOR_NAME} {GENERATOR_VERSION}")),
        // The RSS spec allows no zero ttl; a reader polls anyway, so leave it out then.
        ttl: (feed.ttl_minutes > 0).then(|| feed.ttl_minutes.to_string()),
        items: feed.entries.iter().map(item).collect(),
        ..Channel::default()
    };
    let media_type = Some(Format::Rss.media_type().to_owned());
    let mut links = vec![Link {
        href: feed.self_url(Format::Rss),
        rel: "self".to_owned(),
        mime_type: media_type.clone(),
        ..Link::default()
    }];
    links.extend(
        feed.paging_links(Format::Rss)
            .into_iter()
            .map(|(rel, href)| Link {
                href,
                rel: rel.to_owned(),
                mime_type: media_type.clone(),
                ..Link::default()
            }),
    );
    channel.set_atom_ext(AtomExtension { links });
    if feed.page.is_archive() {
        // RFC 5005 appendix B: the same `fh:archive` element as in Atom, in the channel.
        channel
            .namespaces
            .insert("fh".to_owned(), FEED_HISTORY_NS.to_owned());
        let archive = Extension {
            name: "fh:archive".to_owned(),
            ..Extension::default()
        };
        channel
            .extensions
            .entry("fh".to_owned())
            .or_default()
            .insert("archive".to_owned(), vec![archive]);
    }
    channel.pretty_write_to(Vec::new(), b' ', 2)
}

fn item(entry: &PreparedEntry) -> Item {
    let mut item = Item {
        title: Some(entry.title.clone()),
        link: Some(entry.entry_link.clone()),
        description: Some(entry.short_html.clone()),
        categories: entry
            .categories
            .iter()
            .map(|name| Category {
                name: name.clone(),
                domain: None,
            })
            .collect(),
        guid: Some(Guid {
            value: entry.id.clone(),
            permalink: false,
        }),
        pub_date: Some(rfc822(entry.published)),
        source: entry.source_feed_url.as_ref().map(|url| Source {
            url: url.clone(),
            title: Some(entry.source_name.clone()),
        }),
        content: entry.full_html.clone(),
        ..Item::default()
    };
    if !entry.authors.is_empty() {
        item.set_dublin_core_ext(DublinCoreExtension {
            creators: entry.authors.clone(),
            ..DublinCoreExtension::default()
        });
    }
    item
}
