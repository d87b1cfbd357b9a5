//! The store, by use case: sources and their fetch state, articles grouped into stories, topic
//! membership and topic versions. SQLite (WAL) is the embedded default; every process sharing
//! the file (the daemon and CLI commands) sees the others' writes.

mod events;
mod sqlite;

use chrono::{DateTime, Utc};

pub use events::{SourceEvent, SourceEventKind};
pub use sqlite::{DB_FILE, Store, Unfingerprinted};

use crate::fetch::Validators;
use crate::model::Article;
use crate::politeness::Reason;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("failed to create store directory {path}: {source}")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to open store {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("failed to migrate store {path}: {source}")]
    Migrate {
        path: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("store query failed ({what}): {source}")]
    Query {
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("no free story key for article {0:?}")]
    NoStoryKey(String),
    #[error("source {0:?} is not in the store")]
    UnknownSource(String),
    #[error("failed to back up the store to {path}: {source}")]
    Backup {
        path: String,
        #[source]
        source: sqlx::Error,
    },
}

/// How one fetch ended, as recorded on the source and in the fetch history.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchRecord {
    pub at: DateTime<Utc>,
    pub elapsed_ms: u64,
    pub outcome: FetchResult,
    pub http_status: Option<u16>,
    pub items_seen: usize,
    pub items_new: usize,
    pub items_updated: usize,
    /// Set on success: the validators for the next conditional GET, and channel facts.
    pub validators: Option<Validators>,
    pub feed_title: Option<String>,
    pub site_url: Option<String>,
    /// The next attempt (`None` when gone) and why it is then.
    pub next_fetch_at: Option<DateTime<Utc>>,
    pub next_fetch_reason: Reason,
    /// Set when a 301/308 chain settled: the source's new fetch URL.
    pub moved_to: Option<String>,
    /// The feed's `<ttl>`; stored with the validators (a successful parse), kept otherwise.
    pub feed_ttl_minutes: Option<u32>,
    /// A 429/503 `Retry-After`, as an instant; cleared by any other outcome.
    pub retry_after_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchResult {
    Ok,
    NotModified,
    Error,
    /// 410: the source is disabled until its URL changes in feeds.toml.
    Gone,
}

impl FetchResult {
    pub fn as_str(self) -> &'static str {
        match self {
            FetchResult::Ok => "ok",
            FetchResult::NotModified => "not_modified",
            FetchResult::Error => "error",
            FetchResult::Gone => "gone",
        }
    }
}

/// An error message, stored next to a [`FetchRecord`] with `FetchResult::Error`.
pub type FetchErrorText = Option<String>;

/// A source's state as stored: what `fetch` prints and `/sources` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceStatus {
    pub name: String,
    pub url: String,
    pub title: Option<String>,
    pub site_url: Option<String>,
    pub last_fetch_at: Option<DateTime<Utc>>,
    pub last_outcome: Option<String>,
    pub last_http_status: Option<u16>,
    pub last_error: Option<String>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    pub items_new: u32,
    pub items_updated: u32,
    pub next_fetch_at: Option<DateTime<Utc>>,
    pub next_fetch_reason: Option<Reason>,
    /// Where a permanent redirect moved the feed, fetched instead of `url`.
    pub fetch_url: Option<String>,
    pub retry_after_until: Option<DateTime<Utc>>,
    pub gone_at: Option<DateTime<Utc>>,
    pub articles: u64,
}

/// What the pipeline reads of a source before fetching it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FetchState {
    pub validators: Validators,
    /// Where a permanent redirect moved the feed (fetch this instead of the configured URL).
    pub fetch_url: Option<String>,
    pub consecutive_failures: u32,
    pub feed_ttl_minutes: Option<u32>,
    pub retry_after_until: Option<DateTime<Utc>>,
    pub gone_at: Option<DateTime<Utc>>,
    pub last_http_status: Option<u16>,
}

/// An article's relation to one topic: it matches the topic's query, or its `exclude` query
/// (then `excluded`, and its whole story is left out of the topic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub topic: String,
    pub excluded: bool,
}

/// One article to ingest, with its topic memberships.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub article: Article,
    pub topics: Vec<Membership>,
}

/// How [`Store::ingest`] finds another source's story by an article's text (DESIGN §9, layer
/// 3). Without it, only canonical URLs join stories.
#[derive(Debug, Clone, Default)]
pub struct NearDup {
    /// Articles are compared only when their times (published, else first seen) are at most
    /// this far apart.
    pub window: chrono::TimeDelta,
    pub rules: crate::dedup::NearDupRules,
    /// Boilerplate ignored when fingerprinting: the union of every source's repeated lines
    /// and headlines ([`Store::line_filter`]).
    pub lines: crate::dedup::LineFilter,
}

/// What a retention pass removed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExpireStats {
    pub articles: usize,
    pub stories: usize,
    /// Bytes of the database file given back to the file system (incremental vacuum).
    pub reclaimed_bytes: u64,
    /// Topics whose content changed, sorted.
    pub changed_topics: Vec<String>,
}

/// What an ingest changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestStats {
    pub new: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// New articles that joined another source's story (by canonical URL or text).
    pub merged: usize,
    /// Of `merged`, those joined by near-duplicate text (layer 3) alone.
    pub merged_by_text: usize,
    /// Stories merged into an older one because a new article matched both.
    pub stories_merged: usize,
    /// Articles whose key was removed by retention: not stored again.
    pub expired: usize,
    /// Topics whose content changed, sorted.
    pub changed_topics: Vec<String>,
}

/// What a topic query sees of a stored article (for backfill and search).
#[derive(Debug, Clone)]
pub struct StoredDoc {
    pub article_id: i64,
    pub source: String,
    pub title: String,
    pub summary_text: String,
    pub content_text: String,
    pub authors: Vec<String>,
    pub categories: Vec<String>,
    pub lang: Option<String>,
    pub url: Option<String>,
    pub published: Option<DateTime<Utc>>,
    pub first_seen: DateTime<Utc>,
}

impl StoredDoc {
    /// The view of this article that topic queries match against.
    pub fn document<'a>(&'a self, tags: &'a [String]) -> crate::model::Document<'a> {
        crate::model::Document {
            title: &self.title,
            summary: &self.summary_text,
            content: &self.content_text,
            authors: &self.authors,
            categories: &self.categories,
            source: &self.source,
            tags,
            lang: self.lang.as_deref(),
            url: self.url.as_deref(),
        }
    }
}

/// A topic's change counter as stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopicVersion {
    pub version: u64,
    pub changed_at: DateTime<Utc>,
    /// When the topic left the configuration (its feeds then answer 410 Gone for a while).
    pub removed_at: Option<DateTime<Utc>>,
}
