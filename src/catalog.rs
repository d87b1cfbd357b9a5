//! The topic feeds as served: what each topic contains now (read from the store), rendered
//! once per change and kept in memory. Any process may change the store (the daemon's own
//! fetches, or `feedmill fetch` running beside it); topic versions in the store tell this
//! catalog when a rendered feed is stale.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::config::{Config, TopicConfig};
use crate::model::TopicFeed;
use crate::publish::{self, FeedCache, FeedKey, Format, Page, PublishError, Rendered};
use crate::redact;
use crate::store::{Store, StoreError, TopicVersion};
use crate::telemetry;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("no topic {0:?} in the configuration")]
    UnknownTopic(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("topic {slug:?} has no page {page}: it ends before")]
    NoSuchPage { slug: String, page: u32 },
    #[error("rendering task failed: {0}")]
    Render(String),
}

pub struct Catalog {
    store: Store,
    /// The configuration served, replaced when feeds.toml is reloaded (see
    /// [`Catalog::set_config`]).
    served: RwLock<Served>,
    cache: FeedCache,
    versions: RwLock<HashMap<String, TopicVersion>>,
    /// One lock per topic, held while rendering it (see [`Catalog::rendered_page`]). Only
    /// configured topics get one, so the map is bounded by the configuration.
    render_locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Feeds rendered since start (see [`Catalog::renders`]).
    renders: std::sync::atomic::AtomicU64,
}

/// A configuration and what is derived from it, swapped together on a reload.
struct Served {
    config: Arc<Config>,
    /// See [`poll_period`].
    poll_period: Duration,
    /// When a live reload put this configuration in place (`None`: the one started with). A
    /// reload may change every feed's bytes (titles, limits, `base_url`) without the store's
    /// content changing, so `Last-Modified` is at least this: a reader that only sends
    /// `If-Modified-Since` must not keep the old document.
    reloaded_at: Option<DateTime<Utc>>,
}

impl Served {
    fn new(config: Arc<Config>, reloaded_at: Option<DateTime<Utc>>) -> Served {
        Served {
            poll_period: poll_period(&config),
            config,
            reloaded_at,
        }
    }
}

impl Catalog {
    pub fn new(store: Store, config: Arc<Config>) -> Catalog {
        Catalog {
            store,
            served: RwLock::new(Served::new(config, None)),
            cache: FeedCache::new(),
            versions: RwLock::new(HashMap::new()),
            render_locks: std::sync::Mutex::new(HashMap::new()),
            renders: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The configuration in use (the one loaded last).
    pub fn config(&self) -> Arc<Config> {
        // One assignment per update: a poisoned lock still holds a consistent value.
        self.served
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .config
            .clone()
    }

    /// Serve a reloaded configuration. Every rendered feed is dropped: titles, limits,
    /// `base_url` or content modes may have changed without any topic's version moving.
    pub fn set_config(&self, config: Arc<Config>) {
        *self.served.write().unwrap_or_else(|e| e.into_inner()) =
            Served::new(config, Some(Utc::now()));
        self.cache.clear();
    }

    /// Re-read every topic's version from the store; returns whether any changed.
    pub async fn refresh_versions(&self) -> Result<bool, StoreError> {
        let fresh = self.store.topic_versions().await?;
        let mut versions = self.versions.write().unwrap_or_else(|e| e.into_inner());
        let changed = *versions != fresh;
        *versions = fresh;
        Ok(changed)
    }

    /// The topic's stored change counter (version 0 at the epoch when never recorded).
    pub fn version(&self, slug: &str) -> TopicVersion {
        let versions = self.versions.read().unwrap_or_else(|e| e.into_inner());
        versions.get(slug).copied().unwrap_or(TopicVersion {
            version: 0,
            changed_at: DateTime::<Utc>::UNIX_EPOCH,
            removed_at: None,
        })
    }

    fn topic<'a>(config: &'a Config, slug: &str) -> Result<&'a TopicConfig, CatalogError> {
        config
            .topic(slug)
            .ok_or_else(|| CatalogError::UnknownTopic(slug.to_owned()))
    }

    /// How many feed documents (a page of a topic in one format under one base URL) were
    /// rendered and compressed since the catalog was built: one per change, not per request.
    pub fn renders(&self) -> u64 {
        self.renders.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What `slug` names now: a configured topic, an alias of one, a topic removed from the
    /// configuration less than [`GONE_FOR`] ago, or nothing.
    pub fn lookup(&self, slug: &str, now: DateTime<Utc>) -> Lookup {
        let config = self.config();
        if let Some(topic) = config.topic(slug) {
            return Lookup::Topic(topic.clone());
        }
        if let Some(topic) = config.topic_by_alias(slug) {
            return Lookup::Moved(topic.clone());
        }
        match self.version(slug).removed_at {
            Some(removed_at) if is_gone(removed_at, now) => Lookup::Gone { removed_at },
            _ => Lookup::Unknown,
        }
    }

    /// How long readers and caches may reuse a served feed (`Cache-Control: max-age`): the
    /// shortest nominal fetch period of any source (the `[fetch]` schedule or a source's own),
    /// since a topic can change no more often than its sources are fetched, capped at
    /// [`MAX_AGE_CAP`] so that a daily schedule does not keep readers away for a day.
    pub fn max_age(&self) -> Duration {
        self.poll_period().min(MAX_AGE_CAP)
    }

    fn poll_period(&self) -> Duration {
        self.served
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .poll_period
    }

    /// Everything the current feed of a topic shows now, newest story first, with links under
    /// the configured `base_url`.
    pub async fn feed(&self, slug: &str, now: DateTime<Utc>) -> Result<TopicFeed, CatalogError> {
        let base = self.config().server.base_url_str();
        Ok(self.feed_page(slug, 1, &base, now).await?.0)
    }

    /// The stories of page `number` of a topic feed (1 is the current feed; see
    /// [`Page`]), with links under `base`, and whether an older page follows.
    pub async fn feed_page(
        &self,
        slug: &str,
        number: u32,
        base: &str,
        now: DateTime<Utc>,
    ) -> Result<(TopicFeed, Page), CatalogError> {
        let (config, poll_period) = {
            let served = self.served.read().unwrap_or_else(|e| e.into_inner());
            (served.config.clone(), served.poll_period)
        };
        let topic = Catalog::topic(&config, slug)?;
        let number = number.max(1);
        let since = topic
            .max_age
            .and_then(|age| chrono::Duration::from_std(age).ok())
            .map(|age| now - age);
        let offset = usize::try_from(number - 1)
            .unwrap_or(usize::MAX)
            .saturating_mul(topic.limit);
        // One story more than the page shows tells whether an older page follows.
        let mut entries = self
            .store
            .topic_entries_from(slug, offset, topic.limit.saturating_add(1), since)
            .await?;
        let has_older = entries.len() > topic.limit;
        entries.truncate(topic.limit);
        if number > 1 && entries.is_empty() {
            return Err(CatalogError::NoSuchPage {
                slug: slug.to_owned(),
                page: number,
            });
        }
        for entry in &mut entries {
            entry.content = config.source(&entry.source.name).and_then(|s| s.content);
            // Attribution names the source's feed URL; a private feed's credentials stay private.
            if let Cow::Owned(redacted) = redact::url(&entry.source.feed_url) {
                entry.source.feed_url = redacted;
            }
        }
        let version = self.version(slug);
        // The feed's `updated` (and HTTP Last-Modified) is the last change of its content as
        // the store recorded it. Only a topic the store never recorded falls back to its
        // newest entry.
        let updated = if version.version == 0 {
            entries
                .iter()
                .map(|e| e.updated)
                .max()
                .unwrap_or(version.changed_at)
                .min(now)
        } else {
            version.changed_at
        };
        let feed = TopicFeed {
            slug: topic.slug.clone(),
            title: topic.title.clone(),
            description: topic.description.clone(),
            base_url: base.to_owned(),
            content: topic.content,
            ttl_minutes: u32::try_from(poll_period.as_secs().div_ceil(60))
                .unwrap_or(u32::MAX)
                .max(1),
            updated,
            entries,
        };
        Ok((feed, Page { number, has_older }))
    }

    /// The current topic feed in `format` under the configured `base_url`, rendered at most
    /// once per topic version.
    pub async fn rendered(
        &self,
        slug: &str,
        format: Format,
        now: DateTime<Utc>,
    ) -> Result<Arc<Rendered>, CatalogError> {
        let base = self.config().server.base_url_str();
        let key = FeedKey {
            base: &base,
            slug,
            format,
            page: 1,
        };
        self.rendered_page(key, now).await
    }

    /// The rendering `key` names if it is cached and current; never renders. The hot path of
    /// a poll (`http::feeds::CachedFeeds`); on `None` the caller takes [`Self::rendered_page`].
    pub fn cached(&self, key: FeedKey<'_>) -> Option<Arc<Rendered>> {
        self.cache.get(key, self.version(key.slug).version)
    }

    /// The feed `key` names, rendered and compressed at most once per topic version and base
    /// URL (while it stays cached). Renders of one topic are serialized: when a change makes
    /// every reader's next poll miss at once, the first one renders and the others wait and
    /// share its bytes instead of each rendering the same feed. Other topics are not held up.
    pub async fn rendered_page(
        &self,
        key: FeedKey<'_>,
        now: DateTime<Utc>,
    ) -> Result<Arc<Rendered>, CatalogError> {
        let config = self.config();
        Catalog::topic(&config, key.slug)?;
        if let Some(hit) = self.cache.get(key, self.version(key.slug).version) {
            return Ok(hit);
        }
        let lock = Arc::clone(
            self.render_locks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(key.slug.to_owned())
                .or_default(),
        );
        let _rendering = lock.lock().await;
        let version = self.version(key.slug).version;
        if let Some(hit) = self.cache.get(key, version) {
            return Ok(hit);
        }
        let started = Instant::now();
        let (feed, page) = self.feed_page(key.slug, key.page, key.base, now).await?;
        let format = key.format;
        // Rendering and brotli at its best take milliseconds on a big feed: off the async
        // workers, which keep serving cached feeds meanwhile.
        let reloaded_at = self
            .served
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .reloaded_at;
        let last_modified = reloaded_at.map_or(feed.updated, |r| r.max(feed.updated));
        let rendered = tokio::task::spawn_blocking(move || {
            publish::render_page(&feed, format, page)
                .map(|body| Rendered::new(body, format, last_modified))
        })
        .await
        .map_err(|e| CatalogError::Render(e.to_string()))??;
        telemetry::rendered(format, started.elapsed());
        self.renders
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(
            topic = key.slug,
            format = format.extension(),
            page = key.page,
            version,
            bytes = rendered.body.len(),
            gzip_bytes = rendered.gzip.as_ref().map_or(0, |e| e.bytes.len()),
            br_bytes = rendered.br.as_ref().map_or(0, |e| e.bytes.len()),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "rendered feed"
        );
        let rendered = self.cache.insert(key, version, rendered);
        if !Arc::ptr_eq(&config, &self.config()) {
            // A reload came while rendering: this may be a rendering of the old configuration.
            self.cache.invalidate(key.slug);
        }
        Ok(rendered)
    }
}

/// What a slug in a request names (see [`Catalog::lookup`]). Owned: the configuration may be
/// replaced by a reload while a request uses it.
#[derive(Debug, Clone)]
pub enum Lookup {
    Topic(TopicConfig),
    /// An old slug of this topic (`aliases`): the client is sent there.
    Moved(TopicConfig),
    /// A topic removed from the configuration at `removed_at`, less than [`GONE_FOR`] ago.
    Gone {
        removed_at: DateTime<Utc>,
    },
    Unknown,
}

/// How long a topic removed from the configuration answers 410 Gone (then 404): long enough
/// for readers that poll weekly to notice and unsubscribe.
pub const GONE_FOR: chrono::TimeDelta = chrono::TimeDelta::days(30);

/// The upper bound of [`Catalog::max_age`].
pub const MAX_AGE_CAP: Duration = Duration::from_secs(3600);

/// Whether a topic removed at `removed_at` still answers 410 at `now`.
fn is_gone(removed_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - removed_at < GONE_FOR
}

/// The shortest nominal period of the `[fetch]` schedule and every source's own: how often a
/// topic's content may change at most. A schedule without a period (a cron expression that
/// never fires twice, which `Config::parse` refuses) does not count.
fn poll_period(config: &Config) -> Duration {
    std::iter::once(&config.fetch.schedule)
        .chain(config.sources.iter().filter_map(|s| s.schedule.as_ref()))
        .map(|s| s.nominal_period())
        .filter(|p| !p.is_zero())
        .min()
        .unwrap_or(DEFAULT_POLL_PERIOD)
}

/// The default `[fetch] schedule`'s period, for a configuration where no period is known.
const DEFAULT_POLL_PERIOD: Duration = Duration::from_secs(15 * 60);

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(text: &str) -> Config {
        Config::parse(Path::new("feeds.toml"), text).expect("valid config")
    }

    #[test]
    fn is_gone_holds_for_thirty_days_when_topic_was_removed() {
        let removed = DateTime::<Utc>::UNIX_EPOCH + chrono::TimeDelta::days(20_000);
        assert!(is_gone(removed, removed));
        assert!(is_gone(removed, removed + chrono::TimeDelta::days(29)));
        assert!(!is_gone(removed, removed + chrono::TimeDelta::days(30)));
        assert!(!is_gone(removed, removed + chrono::TimeDelta::days(400)));
        // A clock that went back still says gone.
        assert!(is_gone(removed, removed - chrono::TimeDelta::hours(1)));
    }

    #[test]
    fn poll_period_is_the_shortest_schedule_when_a_source_overrides_it() {
        let global = config("[fetch]\nschedule = \"2h\"\n");
        assert_eq!(poll_period(&global), Duration::from_secs(7200));
        let overridden = config(
            "[fetch]\nschedule = \"2h\"\n[[source]]\nname = \"a\"\nurl = \"https://a.example/feed\"\nschedule = \"*/10 * * * *\"\n",
        );
        assert_eq!(poll_period(&overridden), Duration::from_secs(600));
        assert_eq!(
            poll_period(&config("")),
            Duration::from_secs(15 * 60),
            "default schedule"
        );
    }
}
