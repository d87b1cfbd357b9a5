//! The topic feeds as served: what each topic contains now (read from the store), rendered
//! once per change and kept in memory. Any process may change the store (the daemon's own
//! fetches, or `feedmill fetch` running beside it); topic versions in the store tell this
//! catalog when a rendered feed is stale.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::config::{Config, TopicConfig};
use crate::model::TopicFeed;
use crate::publish::{self, FeedCache, Format, PublishError, Rendered};
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
}

pub struct Catalog {
    store: Store,
    config: Arc<Config>,
    cache: FeedCache,
    versions: RwLock<HashMap<String, TopicVersion>>,
}

impl Catalog {
    pub fn new(store: Store, config: Arc<Config>) -> Catalog {
        Catalog {
            store,
            config,
            cache: FeedCache::new(),
            versions: RwLock::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
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
        })
    }

    fn topic(&self, slug: &str) -> Result<&TopicConfig, CatalogError> {
        self.config
            .topic(slug)
            .ok_or_else(|| CatalogError::UnknownTopic(slug.to_owned()))
    }

    /// Everything a topic feed shows now, newest story first.
    pub async fn feed(&self, slug: &str, now: DateTime<Utc>) -> Result<TopicFeed, CatalogError> {
        let topic = self.topic(slug)?;
        let since = topic
            .max_age
            .and_then(|age| chrono::Duration::from_std(age).ok())
            .map(|age| now - age);
        let mut entries = self.store.topic_entries(slug, topic.limit, since).await?;
        for entry in &mut entries {
            entry.content = self
                .config
                .source(&entry.source.name)
                .and_then(|s| s.content);
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
        let period = self.config.fetch.schedule.nominal_period();
        Ok(TopicFeed {
            slug: topic.slug.clone(),
            title: topic.title.clone(),
            description: topic.description.clone(),
            base_url: self.config.server.base_url_str(),
            content: topic.content,
            ttl_minutes: u32::try_from(period.as_secs().div_ceil(60))
                .unwrap_or(u32::MAX)
                .max(1),
            updated,
            entries,
        })
    }

    /// The topic feed in `format`, rendered at most once per topic version.
    pub async fn rendered(
        &self,
        slug: &str,
        format: Format,
        now: DateTime<Utc>,
    ) -> Result<Arc<Rendered>, CatalogError> {
        self.topic(slug)?;
        let version = self.version(slug);
        if let Some(hit) = self.cache.get(slug, format, version.version) {
            return Ok(hit);
        }
        let feed = self.feed(slug, now).await?;
        let started = Instant::now();
        let body = publish::render(&feed, format)?;
        telemetry::rendered(format, started.elapsed());
        Ok(self.cache.insert(
            slug,
            format,
            version.version,
            Rendered::new(body, format, feed.updated),
        ))
    }
}
