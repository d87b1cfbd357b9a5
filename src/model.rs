//! Plain data shared by the pipeline stages: no I/O, no clock.
//!
//! The types here are the hand-off points between modules: `parse` + `normalize` produce
//! [`Article`]s, `store` keeps them and groups them into stories, `topics` decides membership
//! from a [`Document`] view of an article, and `publish` renders a [`TopicFeed`].

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// How much of each article a topic feed republishes (DESIGN §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentMode {
    /// The summary, or the first paragraphs of the body, with a link to read on.
    #[default]
    Excerpt,
    /// The best available body.
    Full,
}

/// One item of a source's feed after parsing and normalizing, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    /// Layer-1 dedup key within its source (DESIGN §9): the guid without scheme and host,
    /// else the link, else a hash of title + content. Never random.
    pub entry_key: String,
    /// The raw guid / id as the feed gave it, if any.
    pub guid: Option<String>,
    /// Absolute link to the article.
    pub url: Option<String>,
    /// Canonical form of `url` used for cross-source dedup (layer 2).
    pub canonical_url: Option<String>,
    /// Plain text, entities decoded, tags stripped, whitespace collapsed. May be empty.
    pub title: String,
    /// Sanitized HTML fragments with absolute URLs.
    pub summary_html: Option<String>,
    pub content_html: Option<String>,
    /// Plain text of summary and content, for matching.
    pub summary_text: String,
    pub content_text: String,
    pub authors: Vec<String>,
    pub categories: Vec<String>,
    /// Item language, else the feed's.
    pub lang: Option<String>,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
}

/// What a topic query sees of an article. All text is plain text (HTML stripped).
#[derive(Debug, Clone, Copy, Default)]
pub struct Document<'a> {
    pub title: &'a str,
    pub summary: &'a str,
    pub content: &'a str,
    pub authors: &'a [String],
    pub categories: &'a [String],
    /// The source's name as in feeds.toml.
    pub source: &'a str,
    /// The source's tags as in feeds.toml.
    pub tags: &'a [String],
    pub lang: Option<&'a str>,
    pub url: Option<&'a str>,
}

impl Article {
    /// The view of this article that topic queries match against.
    pub fn document<'a>(&'a self, source: &'a str, tags: &'a [String]) -> Document<'a> {
        Document {
            title: &self.title,
            summary: &self.summary_text,
            content: &self.content_text,
            authors: &self.authors,
            categories: &self.categories,
            source,
            tags,
            lang: self.lang.as_deref(),
            url: self.url.as_deref(),
        }
    }
}

/// The source an entry came from, for attribution (Atom `<source>`, RSS `<source url>`).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRef {
    /// Name from feeds.toml.
    pub name: String,
    /// The feed URL we fetch.
    pub feed_url: String,
    /// The site's home page as the feed gives it, if any.
    pub site_url: Option<String>,
}

/// Another outlet's article in the same story ("Also reported by").
#[derive(Debug, Clone, PartialEq)]
pub struct AlsoReported {
    pub source: String,
    pub title: String,
    pub url: Option<String>,
}

/// One entry of a topic feed: one story (a dedup cluster), shown through its representative
/// article.
#[derive(Debug, Clone, PartialEq)]
pub struct StoryView {
    /// `story_id(story key)`: stable for ever once published.
    pub id: Uuid,
    /// Plain text; never empty (the publisher falls back to a placeholder when the feed had none).
    pub title: String,
    /// Absolute link to the representative article.
    pub link: Option<String>,
    /// Sanitized HTML with absolute URLs.
    pub summary_html: Option<String>,
    pub content_html: Option<String>,
    pub authors: Vec<String>,
    pub categories: Vec<String>,
    pub published: DateTime<Utc>,
    /// Last change of the story (an edit or an article joining), >= `published`.
    pub updated: DateTime<Utc>,
    pub source: SourceRef,
    pub also: Vec<AlsoReported>,
    /// The representative source's own `content` setting, which overrides the topic's
    /// (e.g. a publisher whose licence allows only excerpts).
    pub content: Option<ContentMode>,
}

/// Everything needed to render one topic feed in any format. Rendering is pure: the same
/// `TopicFeed` always gives the same bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicFeed {
    pub slug: String,
    pub title: String,
    pub description: String,
    /// Public base URL without a trailing slash, e.g. `http://localhost:8080`.
    pub base_url: String,
    pub content: ContentMode,
    /// Minutes a reader may cache the feed (RSS `<ttl>`), from the schedule.
    pub ttl_minutes: u32,
    /// When the topic's content last changed.
    pub updated: DateTime<Utc>,
    /// Newest first.
    pub entries: Vec<StoryView>,
}

/// Namespace of feedmill's UUIDv5 entry ids (a fixed random UUID; never change it, or every
/// published id changes).
pub const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2d0e_8b7a_4c55_9e3d_47a1_b2c8_d901);

/// The public id of a story: `urn:uuid:` + UUIDv5 of its key (DESIGN §8).
pub fn story_id(story_key: &str) -> Uuid {
    Uuid::new_v5(&ID_NAMESPACE, story_key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn story_id_is_stable_for_a_key() {
        let a = story_id("example.org/a");
        assert_eq!(a, story_id("example.org/a"));
        assert_ne!(a, story_id("example.org/b"));
        assert_eq!(a.get_version_num(), 5);
    }
}
