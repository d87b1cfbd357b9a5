//! SQLite implementation of the store: one file, WAL mode, a busy timeout so the daemon and
//! CLI commands can write the same file, migrations embedded in the binary.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use super::{
    ExpireStats, FetchRecord, FetchResult, FetchState, Incoming, IngestStats, Membership, NearDup,
    SourceStatus, StoreError, StoredDoc, TopicVersion,
};
use crate::dedup::{self, Fingerprints, LineFilter};
use crate::model::{AlsoReported, Article, SourceRef, StoryView, story_id};
use crate::politeness::Reason;

mod stories;

pub use stories::Unfingerprinted;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/migrations");

/// Fetch history rows kept per source.
const FETCH_HISTORY: i64 = 200;

/// Characters of text beyond the title that make an article a story's representative before
/// earlier ones without: a news aggregator's item ("Headline - Outlet", a link, the outlet's
/// name) is often the first to arrive but says nothing the outlet's own article does not.
const REPRESENTATIVE_MIN_CHARS: i64 = 200;

/// The file name of the SQLite database inside the store directory.
pub const DB_FILE: &str = "feedmill.db";

#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

/// Times are stored as Unix milliseconds (UTC).
pub(super) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(super) fn time(ms: i64) -> DateTime<Utc> {
    // Every value we store came from `ms`, so it is in range; fall back to the epoch otherwise.
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Maps a query's error to [`StoreError::Query`] naming what was being done.
pub(super) fn q(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { what, source }
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

fn parse_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>;

/// Binds an article's content columns, in the order both the INSERT and the UPDATE of
/// `ingest` list them: guid, url, canonical_url, title, summary_html, content_html,
/// summary_text, content_text, authors, categories, lang, published.
fn bind_content<'q>(query: SqliteQuery<'q>, a: &'q Article) -> SqliteQuery<'q> {
    query
        .bind(&a.guid)
        .bind(&a.url)
        .bind(&a.canonical_url)
        .bind(&a.title)
        .bind(&a.summary_html)
        .bind(&a.content_html)
        .bind(&a.summary_text)
        .bind(&a.content_text)
        .bind(json_list(&a.authors))
        .bind(json_list(&a.categories))
        .bind(&a.lang)
        .bind(a.published.map(ms))
}

/// The hash that tells an edited article from an unchanged one.
fn article_hash(a: &Article) -> String {
    dedup::content_hash(&[
        &a.title,
        a.url.as_deref().unwrap_or(""),
        a.summary_html.as_deref().unwrap_or(""),
        a.content_html.as_deref().unwrap_or(""),
        &a.authors.join("\u{1f}"),
        &a.categories.join("\u{1f}"),
    ])
}

impl Store {
    /// Open (creating if needed) `DIR/feedmill.db` and bring its schema up to date.
    pub async fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.display().to_string(),
            source,
        })?;
        let file = dir.join(DB_FILE);
        let path = file.display().to_string();
        let options = SqliteConnectOptions::new()
            .filename(&file)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode: a committed transaction survives a process crash (kill -9);
            // only a power loss may drop the last transactions, never corrupt the file.
            .synchronous(SqliteSynchronous::Normal)
            .auto_vacuum(SqliteAutoVacuum::Incremental)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(15));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?;
        // Retention frees pages; in INCREMENTAL mode `expire` hands them back to the file
        // system. The mode is set before the first table exists (new stores, through the
        // connect options) or converted once with a VACUUM (stores made before it).
        let mode: i64 = sqlx::query_scalar("PRAGMA auto_vacuum")
            .fetch_one(&pool)
            .await
            .map_err(q("read auto_vacuum"))?;
        if mode != 2 {
            tracing::info!(store = %path, "converting the store to incremental vacuum (once)");
            sqlx::query("VACUUM")
                .execute(&pool)
                .await
                .map_err(q("vacuum"))?;
        }
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate { path, source })?;
        Ok(Store { pool })
    }

    /// An in-memory store for unit tests of other modules.
    pub async fn open_in_memory() -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(|source| StoreError::Open {
                path: ":memory:".into(),
                source,
            })?
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: ":memory:".into(),
                source,
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                path: ":memory:".into(),
                source,
            })?;
        Ok(Store { pool })
    }

    /// A write transaction that takes SQLite's write lock up front (`BEGIN IMMEDIATE`), so a
    /// concurrent writer waits on the busy timeout instead of failing when a read transaction
    /// tries to upgrade to a write ("database is locked").
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// The connection pool, for the use cases kept in other files of this module.
    pub(super) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Make sure every configured source has a row; a changed URL is updated, and what
    /// belonged to the old URL goes: validators, a permanent redirect, a Retry-After, the
    /// failure count and a 410 Gone (so a gone source is enabled again by editing its url).
    pub async fn sync_sources(&self, sources: &[(String, String)]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await.map_err(q("begin"))?;
        for (name, url) in sources {
            sqlx::query(
                "INSERT INTO sources (name, url) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET url = excluded.url,
                   etag = CASE WHEN sources.url = excluded.url THEN sources.etag END,
                   last_modified = CASE WHEN sources.url = excluded.url THEN sources.last_modified END,
                   fetch_url = CASE WHEN sources.url = excluded.url THEN sources.fetch_url END,
                   retry_after_until = CASE WHEN sources.url = excluded.url THEN sources.retry_after_until END,
                   gone_at = CASE WHEN sources.url = excluded.url THEN sources.gone_at END,
                   consecutive_failures = CASE WHEN sources.url = excluded.url THEN sources.consecutive_failures ELSE 0 END,
                   next_fetch_at = CASE WHEN sources.url = excluded.url THEN sources.next_fetch_at END,
                   next_fetch_reason = CASE WHEN sources.url = excluded.url THEN sources.next_fetch_reason END",
            )
            .bind(name)
            .bind(url)
            .execute(&mut *tx)
            .await
            .map_err(q("sync sources"))?;
        }
        tx.commit().await.map_err(q("commit sources"))?;
        Ok(())
    }

    async fn source_id(&self, name: &str) -> Result<i64, StoreError> {
        sqlx::query_scalar::<_, i64>("SELECT id FROM sources WHERE name = ?1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("find source"))?
            .ok_or_else(|| StoreError::UnknownSource(name.to_owned()))
    }

    /// What the pipeline needs of a source before fetching it: the validators of the last
    /// successful fetch (for a conditional GET), where it moved, and what politeness asks.
    pub async fn fetch_state(&self, source: &str) -> Result<FetchState, StoreError> {
        let row = sqlx::query(
            "SELECT etag, last_modified, fetch_url, consecutive_failures, feed_ttl_minutes,
                    retry_after_until, gone_at, last_http_status
             FROM sources WHERE name = ?1",
        )
        .bind(source)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("read fetch state"))?
        .ok_or_else(|| StoreError::UnknownSource(source.to_owned()))?;
        Ok(FetchState {
            validators: crate::fetch::Validators {
                etag: row.get(0),
                last_modified: row.get(1),
            },
            fetch_url: row.get(2),
            consecutive_failures: u32::try_from(row.get::<i64, _>(3)).unwrap_or(0),
            feed_ttl_minutes: row
                .get::<Option<i64>, _>(4)
                .and_then(|m| u32::try_from(m).ok()),
            retry_after_until: row.get::<Option<i64>, _>(5).map(time),
            gone_at: row.get::<Option<i64>, _>(6).map(time),
            last_http_status: row
                .get::<Option<i64>, _>(7)
                .and_then(|s| u16::try_from(s).ok()),
        })
    }

    /// Record how a fetch ended, on the source and in its history.
    pub async fn record_fetch(
        &self,
        source: &str,
        record: &FetchRecord,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let id = self.source_id(source).await?;
        let mut tx = self.begin_write().await.map_err(q("begin"))?;
        let at = ms(record.at);
        let failed = matches!(record.outcome, FetchResult::Error | FetchResult::Gone);
        super::events::record_transition(&mut tx, id, record, error).await?;
        sqlx::query(
            "UPDATE sources SET last_fetch_at = ?2, last_outcome = ?3, last_http_status = ?4,
               last_error = ?5,
               last_success_at = CASE WHEN ?6 THEN last_success_at ELSE ?2 END,
               consecutive_failures = CASE WHEN ?6 THEN consecutive_failures + 1 ELSE 0 END,
               items_new = ?7, items_updated = ?8, next_fetch_at = ?9,
               etag = CASE WHEN ?10 THEN ?11 ELSE etag END,
               last_modified = CASE WHEN ?10 THEN ?12 ELSE last_modified END,
               title = COALESCE(?13, title), site_url = COALESCE(?14, site_url),
               next_fetch_reason = ?15,
               fetch_url = COALESCE(?16, fetch_url),
               feed_ttl_minutes = CASE WHEN ?10 THEN ?17 ELSE feed_ttl_minutes END,
               retry_after_until = ?18,
               gone_at = CASE WHEN ?19 THEN ?2 ELSE NULL END
             WHERE id = ?1",
        )
        .bind(id)
        .bind(at)
        .bind(record.outcome.as_str())
        .bind(record.http_status.map(i64::from))
        .bind(error)
        .bind(failed)
        .bind(record.items_new as i64)
        .bind(record.items_updated as i64)
        .bind(record.next_fetch_at.map(ms))
        .bind(record.validators.is_some())
        .bind(record.validators.as_ref().and_then(|v| v.etag.clone()))
        .bind(
            record
                .validators
                .as_ref()
                .and_then(|v| v.last_modified.clone()),
        )
        .bind(record.feed_title.as_deref())
        .bind(record.site_url.as_deref())
        .bind(record.next_fetch_reason.as_str())
        .bind(record.moved_to.as_deref())
        .bind(record.feed_ttl_minutes.map(i64::from))
        .bind(record.retry_after_until.map(ms))
        .bind(record.outcome == FetchResult::Gone)
        .execute(&mut *tx)
        .await
        .map_err(q("update source state"))?;
        sqlx::query(
            "INSERT INTO fetches (source_id, at, elapsed_ms, outcome, http_status, items_seen, items_new, items_updated, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(id)
        .bind(at)
        .bind(record.elapsed_ms as i64)
        .bind(record.outcome.as_str())
        .bind(record.http_status.map(i64::from))
        .bind(record.items_seen as i64)
        .bind(record.items_new as i64)
        .bind(record.items_updated as i64)
        .bind(error)
        .execute(&mut *tx)
        .await
        .map_err(q("insert fetch"))?;
        sqlx::query(
            "DELETE FROM fetches WHERE source_id = ?1 AND id <
               (SELECT id FROM fetches WHERE source_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        )
        .bind(id)
        .bind(FETCH_HISTORY - 1)
        .execute(&mut *tx)
        .await
        .map_err(q("prune fetches"))?;
        tx.commit().await.map_err(q("commit fetch"))?;
        Ok(())
    }

    /// Store a source's articles in one transaction: layer-1 dedup by (source, entry key),
    /// then a new article joins another source's story by canonical URL (layer 2) or, with
    /// `near`, by near-duplicate text (layer 3; see [`stories::place`]); topic membership and
    /// topic versions follow.
    pub async fn ingest(
        &self,
        source: &str,
        items: &[Incoming],
        near: Option<&NearDup>,
        now: DateTime<Utc>,
    ) -> Result<IngestStats, StoreError> {
        let source_id = self.source_id(source).await?;
        let mut tx = self.begin_write().await.map_err(q("begin ingest"))?;
        let mut stats = IngestStats::default();
        let mut changed: BTreeSet<String> = BTreeSet::new();
        let now_ms = ms(now);
        let fingerprint = |a: &Article| near.map(|n| Fingerprints::of_article(a, &n.lines));
        for item in items {
            let a = &item.article;
            let hash = article_hash(a);
            let existing = sqlx::query(
                "SELECT id, story_id, content_hash, updated, published, first_seen FROM articles
                 WHERE source_id = ?1 AND entry_key = ?2",
            )
            .bind(source_id)
            .bind(&a.entry_key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(q("find article"))?;
            if let Some(row) = existing {
                let (article_id, story, old_hash, old_updated): (i64, i64, String, i64) =
                    (row.get(0), row.get(1), row.get(2), row.get(3));
                let (old_published, first_seen): (Option<i64>, i64) = (row.get(4), row.get(5));
                if old_hash == hash {
                    stats.unchanged += 1;
                    continue;
                }
                // An edit: the article keeps its row, key and story (a changed title or body
                // never splits a story); `updated` moves forward.
                let updated = a
                    .updated
                    .map(ms)
                    .filter(|u| *u > old_updated)
                    .unwrap_or(now_ms)
                    .max(old_updated);
                let query = sqlx::query(
                    "UPDATE articles SET guid = ?2, url = ?3, canonical_url = ?4, title = ?5, summary_html = ?6,
                       content_html = ?7, summary_text = ?8, content_text = ?9, authors = ?10, categories = ?11,
                       lang = ?12, published = COALESCE(?13, published), updated = ?14, content_hash = ?15
                     WHERE id = ?1",
                )
                .bind(article_id);
                bind_content(query, a)
                    .bind(updated)
                    .bind(&hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(q("update article"))?;
                let at = a.published.map(ms).or(old_published).unwrap_or(first_seen);
                stories::index_article(&mut tx, article_id, fingerprint(a).as_ref(), time(at))
                    .await?;
                sqlx::query("UPDATE stories SET updated = MAX(updated, ?2) WHERE id = ?1")
                    .bind(story)
                    .bind(updated)
                    .execute(&mut *tx)
                    .await
                    .map_err(q("touch story"))?;
                changed.extend(stories::story_topics(&mut tx, story).await?);
                set_membership(&mut tx, article_id, &item.topics).await?;
                changed.extend(item.topics.iter().map(|m| m.topic.clone()));
                stats.updated += 1;
                continue;
            }
            // A key that retention removed stays removed.
            let tombstoned: bool = sqlx::query_scalar(
                "SELECT COUNT(*) > 0 FROM tombstones WHERE source_id = ?1 AND entry_key = ?2",
            )
            .bind(source_id)
            .bind(&a.entry_key)
            .fetch_one(&mut *tx)
            .await
            .map_err(q("read tombstone"))?;
            if tombstoned {
                stats.expired += 1;
                continue;
            }
            let published = a.published.unwrap_or(now);
            let fp = fingerprint(a);
            let new = stories::NewArticle {
                source_id,
                source,
                article: a,
                fingerprints: fp.as_ref(),
                at: published,
                published,
                updated: a.updated.unwrap_or(published).max(published),
            };
            let placed = stories::place(&mut tx, &new, near, now).await?;
            changed.extend(placed.changed_topics);
            stats.stories_merged += placed.merged_stories;
            match placed.joined {
                stories::Joined::Founded => {}
                stories::Joined::ByUrl => stats.merged += 1,
                stories::Joined::ByText => {
                    stats.merged += 1;
                    stats.merged_by_text += 1;
                }
            }
            let query = sqlx::query(
                "INSERT INTO articles (source_id, entry_key, story_id, guid, url, canonical_url, title, summary_html,
                   content_html, summary_text, content_text, authors, categories, lang, published, updated, first_seen, content_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
                 RETURNING id",
            )
            .bind(source_id)
            .bind(&a.entry_key)
            .bind(placed.story);
            let article_id: i64 = bind_content(query, a)
                .bind(ms(new.updated))
                .bind(now_ms)
                .bind(&hash)
                .fetch_one(&mut *tx)
                .await
                .map_err(q("insert article"))?
                .get(0);
            stories::index_article(&mut tx, article_id, fp.as_ref(), published).await?;
            set_membership(&mut tx, article_id, &item.topics).await?;
            changed.extend(item.topics.iter().map(|m| m.topic.clone()));
            stats.new += 1;
        }
        bump_topics(&mut tx, &changed, now_ms).await?;
        tx.commit().await.map_err(q("commit ingest"))?;
        stats.changed_topics = changed.into_iter().collect();
        Ok(stats)
    }

    /// Replaces what `source` repeats under its items (see [`dedup::learn_source_filter`]).
    pub async fn set_source_boilerplate(
        &self,
        source: &str,
        lines: &LineFilter,
    ) -> Result<(), StoreError> {
        let source_id = self.source_id(source).await?;
        let stored: Vec<i64> =
            sqlx::query_scalar("SELECT hash FROM boilerplate WHERE source_id = ?1 ORDER BY hash")
                .bind(source_id)
                .fetch_all(&self.pool)
                .await
                .map_err(q("read boilerplate"))?;
        let mut wanted: Vec<i64> = lines.hashes().into_iter().map(|h| h as i64).collect();
        wanted.sort_unstable();
        if stored == wanted {
            // The usual case: a source's footer does not change between fetches.
            return Ok(());
        }
        let mut tx = self.begin_write().await.map_err(q("begin boilerplate"))?;
        sqlx::query("DELETE FROM boilerplate WHERE source_id = ?1")
            .bind(source_id)
            .execute(&mut *tx)
            .await
            .map_err(q("clear boilerplate"))?;
        // Stored as SQLite's signed INTEGER (`as` keeps the bits); read back with `as u64`.
        for hash in wanted {
            sqlx::query("INSERT OR IGNORE INTO boilerplate (source_id, hash) VALUES (?1, ?2)")
                .bind(source_id)
                .bind(hash)
                .execute(&mut *tx)
                .await
                .map_err(q("insert boilerplate"))?;
        }
        tx.commit().await.map_err(q("commit boilerplate"))?;
        Ok(())
    }

    /// The union of every source's boilerplate: what near-duplicate fingerprints ignore.
    pub async fn line_filter(&self) -> Result<LineFilter, StoreError> {
        let hashes: Vec<i64> = sqlx::query_scalar("SELECT DISTINCT hash FROM boilerplate")
            .fetch_all(&self.pool)
            .await
            .map_err(q("read boilerplate"))?;
        Ok(LineFilter::from_hashes(
            hashes.into_iter().map(|h| h as u64),
        ))
    }

    /// Record the configured topics. Returns the slugs whose query is new or changed: their
    /// membership must be re-evaluated over the stored articles (backfill).
    pub async fn topics_needing_backfill(
        &self,
        topics: &[(String, String)],
    ) -> Result<Vec<String>, StoreError> {
        let stored: HashMap<String, String> = sqlx::query_as::<_, (String, String)>(
            "SELECT slug, query FROM topics WHERE removed_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(q("read topics"))?
        .into_iter()
        .collect();
        Ok(topics
            .iter()
            .filter(|(slug, query)| stored.get(slug) != Some(query))
            .map(|(slug, _)| slug.clone())
            .collect())
    }

    /// A page of stored articles in id order, starting after `after_id`.
    pub async fn documents(&self, after_id: i64, limit: i64) -> Result<Vec<StoredDoc>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.id, s.name, a.title, a.summary_text, a.content_text, a.authors, a.categories, a.lang, a.url,
                    a.published, a.first_seen
             FROM articles a JOIN sources s ON s.id = a.source_id
             WHERE a.id > ?1 ORDER BY a.id LIMIT ?2",
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(q("read articles"))?;
        Ok(rows
            .into_iter()
            .map(|r| StoredDoc {
                article_id: r.get(0),
                source: r.get(1),
                title: r.get(2),
                summary_text: r.get(3),
                content_text: r.get(4),
                authors: parse_list(r.get::<&str, _>(5)),
                categories: parse_list(r.get::<&str, _>(6)),
                lang: r.get(7),
                url: r.get(8),
                published: r.get::<Option<i64>, _>(9).map(time),
                first_seen: time(r.get(10)),
            })
            .collect())
    }

    /// Replace the membership of `slug` wholesale (after a query change) and record its query.
    /// Bumps the topic's version only when the set of articles changed (or the topic is new).
    pub async fn replace_topic_members(
        &self,
        slug: &str,
        query: &str,
        members: &[(i64, bool)],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await.map_err(q("begin backfill"))?;
        let old: BTreeSet<(i64, bool)> = sqlx::query_as::<_, (i64, bool)>(
            "SELECT article_id, excluded FROM topic_articles WHERE topic = ?1",
        )
        .bind(slug)
        .fetch_all(&mut *tx)
        .await
        .map_err(q("read members"))?
        .into_iter()
        .collect();
        let new: BTreeSet<(i64, bool)> = members.iter().copied().collect();
        let existed: bool = sqlx::query_scalar("SELECT COUNT(*) > 0 FROM topics WHERE slug = ?1")
            .bind(slug)
            .fetch_one(&mut *tx)
            .await
            .map_err(q("read topic"))?;
        for (gone, _) in old.difference(&new) {
            sqlx::query("DELETE FROM topic_articles WHERE topic = ?1 AND article_id = ?2")
                .bind(slug)
                .bind(gone)
                .execute(&mut *tx)
                .await
                .map_err(q("delete member"))?;
        }
        for (added, excluded) in new.difference(&old) {
            sqlx::query(
                "INSERT OR REPLACE INTO topic_articles (topic, article_id, excluded) VALUES (?1, ?2, ?3)",
            )
            .bind(slug)
            .bind(added)
            .bind(excluded)
                .execute(&mut *tx)
                .await
                .map_err(q("insert member"))?;
        }
        let changed = old != new || !existed;
        sqlx::query(
            "INSERT INTO topics (slug, query, version, changed_at) VALUES (?1, ?2, 1, ?3)
             ON CONFLICT(slug) DO UPDATE SET query = excluded.query, removed_at = NULL,
               version = topics.version + (CASE WHEN ?4 THEN 1 ELSE 0 END),
               changed_at = CASE WHEN ?4 THEN excluded.changed_at ELSE topics.changed_at END",
        )
        .bind(slug)
        .bind(query)
        .bind(ms(now))
        .bind(changed)
        .execute(&mut *tx)
        .await
        .map_err(q("record topic"))?;
        tx.commit().await.map_err(q("commit backfill"))?;
        Ok(changed)
    }

    /// Topics no longer configured lose their membership (their row stays, marked removed),
    /// so a topic that comes back is re-evaluated over everything stored meanwhile.
    pub async fn retire_topics(
        &self,
        keep: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.begin_write().await.map_err(q("begin retire"))?;
        let stored: Vec<String> =
            sqlx::query_scalar("SELECT slug FROM topics WHERE removed_at IS NULL")
                .fetch_all(&mut *tx)
                .await
                .map_err(q("read topics"))?;
        let gone: Vec<String> = stored.into_iter().filter(|s| !keep.contains(s)).collect();
        for slug in &gone {
            sqlx::query("DELETE FROM topic_articles WHERE topic = ?1")
                .bind(slug)
                .execute(&mut *tx)
                .await
                .map_err(q("clear removed topic"))?;
            sqlx::query("UPDATE topics SET removed_at = ?2, version = version + 1, changed_at = ?2 WHERE slug = ?1")
                .bind(slug)
                .bind(ms(now))
                .execute(&mut *tx)
                .await
                .map_err(q("retire topic"))?;
        }
        tx.commit().await.map_err(q("commit retire"))?;
        Ok(gone)
    }

    /// `max_age` ageing: if any story of `slug` passed the cutoff between `from` and `to`
    /// (first seen in `[from, to)`), the topic's content changed: give it a new version.
    pub async fn age_topic(
        &self,
        slug: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let aged: bool = sqlx::query_scalar(
            "SELECT COUNT(*) > 0 FROM stories s
             WHERE s.first_seen >= ?2 AND s.first_seen < ?3
               AND s.id IN (SELECT a.story_id FROM topic_articles ta JOIN articles a ON a.id = ta.article_id
                            WHERE ta.topic = ?1)",
        )
        .bind(slug)
        .bind(ms(from))
        .bind(ms(to))
        .fetch_one(&self.pool)
        .await
        .map_err(q("find aged stories"))?;
        if aged {
            let mut tx = self.begin_write().await.map_err(q("begin ageing"))?;
            bump_topics(&mut tx, &BTreeSet::from([slug.to_owned()]), ms(now)).await?;
            tx.commit().await.map_err(q("commit ageing"))?;
        }
        Ok(aged)
    }

    /// Every topic's change counter.
    pub async fn topic_versions(&self) -> Result<HashMap<String, TopicVersion>, StoreError> {
        let rows = sqlx::query_as::<_, (String, i64, i64, Option<i64>)>(
            "SELECT slug, version, changed_at, removed_at FROM topics",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(q("read topic versions"))?;
        Ok(rows
            .into_iter()
            .map(|(slug, version, changed_at, removed_at)| {
                (
                    slug,
                    TopicVersion {
                        version: version.max(0) as u64,
                        changed_at: time(changed_at),
                        removed_at: removed_at.map(time),
                    },
                )
            })
            .collect())
    }

    /// Number of stories in each topic.
    pub async fn topic_story_counts(&self) -> Result<HashMap<String, u64>, StoreError> {
        let rows = sqlx::query_as::<_, (String, i64)>(
            "SELECT ta.topic, COUNT(DISTINCT a.story_id) FROM topic_articles ta
             JOIN articles a ON a.id = ta.article_id
             WHERE ta.excluded = 0 AND a.story_id NOT IN (
               SELECT x.story_id FROM topic_articles tx JOIN articles x ON x.id = tx.article_id
               WHERE tx.topic = ta.topic AND tx.excluded = 1)
             GROUP BY ta.topic",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(q("count topic stories"))?;
        Ok(rows
            .into_iter()
            .map(|(t, n)| (t, n.max(0) as u64))
            .collect())
    }

    /// The newest `limit` stories of a topic (first seen at or after `since`, if given), each
    /// shown through its representative — the earliest-published article with a body beyond
    /// its headline ([`REPRESENTATIVE_MIN_CHARS`]), else the earliest — whatever order the
    /// sources were fetched in, with the other outlets that reported it.
    pub async fn topic_entries(
        &self,
        slug: &str,
        limit: usize,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<StoryView>, StoreError> {
        self.topic_entries_from(slug, 0, limit, since).await
    }

    /// Like [`Store::topic_entries`], after skipping the `offset` newest stories: the archive
    /// pages of a topic feed (RFC 5005).
    pub async fn topic_entries_from(
        &self,
        slug: &str,
        offset: usize,
        limit: usize,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<StoryView>, StoreError> {
        let stories = sqlx::query_as::<_, (i64, String, i64, i64)>(
            "SELECT s.id, s.uuid, s.published, s.updated FROM stories s
             WHERE s.id IN (SELECT a.story_id FROM topic_articles ta JOIN articles a ON a.id = ta.article_id
                            WHERE ta.topic = ?1 AND ta.excluded = 0)
               AND s.id NOT IN (SELECT a.story_id FROM topic_articles ta JOIN articles a ON a.id = ta.article_id
                                WHERE ta.topic = ?1 AND ta.excluded = 1)
               AND s.first_seen >= ?2
             ORDER BY s.published DESC, s.id DESC LIMIT ?3 OFFSET ?4",
        )
        .bind(slug)
        .bind(since.map(ms).unwrap_or(i64::MIN))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(q("read topic stories"))?;
        let mut views = Vec::with_capacity(stories.len());
        for (story, uuid, published, updated) in stories {
            let rows = sqlx::query(
                "SELECT s.name, s.url, s.site_url, a.title, a.url, a.summary_html, a.content_html, a.authors, a.categories
                 FROM articles a JOIN sources s ON s.id = a.source_id
                 WHERE a.story_id = ?1
                 ORDER BY LENGTH(a.summary_text) + LENGTH(a.content_text) - LENGTH(a.title) < ?2,
                          COALESCE(a.published, a.first_seen), a.first_seen, a.id",
            )
            .bind(story)
            .bind(REPRESENTATIVE_MIN_CHARS)
            .fetch_all(&self.pool)
            .await
            .map_err(q("read story articles"))?;
            let Some(first) = rows.first() else { continue };
            let id = uuid::Uuid::parse_str(&uuid).unwrap_or_else(|_| story_id(&uuid));
            let source_name: String = first.get(0);
            let mut also: Vec<AlsoReported> = Vec::new();
            for r in rows.iter().skip(1) {
                let name: String = r.get(0);
                if name == source_name || also.iter().any(|a| a.source == name) {
                    continue;
                }
                also.push(AlsoReported {
                    source: name,
                    title: r.get(3),
                    url: r.get(4),
                });
            }
            views.push(StoryView {
                content: None,
                id,
                title: first.get(3),
                link: first.get(4),
                summary_html: first.get(5),
                content_html: first.get(6),
                authors: parse_list(first.get::<&str, _>(7)),
                categories: parse_list(first.get::<&str, _>(8)),
                published: time(published),
                updated: time(updated.max(published)),
                source: SourceRef {
                    name: source_name,
                    feed_url: first.get(1),
                    site_url: first.get(2),
                },
                also,
            });
        }
        Ok(views)
    }

    /// Retention: remove every article first seen before `cutoff`, and stories left without
    /// articles. Their keys stay as tombstones, so a feed that still lists them does not bring
    /// them back; topics that lost entries get a new version.
    pub async fn expire(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<ExpireStats, StoreError> {
        let mut tx = self.begin_write().await.map_err(q("begin expire"))?;
        let cutoff = ms(cutoff);
        let changed: BTreeSet<String> = sqlx::query_scalar(
            "SELECT DISTINCT ta.topic FROM topic_articles ta JOIN articles a ON a.id = ta.article_id
             WHERE a.first_seen < ?1",
        )
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await
        .map_err(q("read expiring topics"))?
        .into_iter()
        .collect();
        sqlx::query(
            "INSERT OR IGNORE INTO tombstones (source_id, entry_key, expired_at)
             SELECT source_id, entry_key, ?2 FROM articles WHERE first_seen < ?1",
        )
        .bind(cutoff)
        .bind(ms(now))
        .execute(&mut *tx)
        .await
        .map_err(q("write tombstones"))?;
        let articles = sqlx::query("DELETE FROM articles WHERE first_seen < ?1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(q("delete articles"))?
            .rows_affected();
        let stories = sqlx::query(
            "DELETE FROM stories WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.story_id = stories.id)",
        )
        .execute(&mut *tx)
        .await
        .map_err(q("delete stories"))?
        .rows_affected();
        bump_topics(&mut tx, &changed, ms(now)).await?;
        tx.commit().await.map_err(q("commit expire"))?;
        let reclaimed_bytes = if articles > 0 {
            self.reclaim_free_pages().await?
        } else {
            0
        };
        Ok(ExpireStats {
            articles: usize::try_from(articles).unwrap_or(usize::MAX),
            stories: usize::try_from(stories).unwrap_or(usize::MAX),
            reclaimed_bytes,
            changed_topics: changed.into_iter().collect(),
        })
    }

    /// Gives the pages freed by deletions back to the file system (the database runs in
    /// `auto_vacuum = INCREMENTAL` mode, see [`Store::open`]); returns the bytes reclaimed.
    async fn reclaim_free_pages(&self) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(q("acquire connection"))?;
        let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&mut *conn)
            .await
            .map_err(q("read page size"))?;
        let free_before: i64 = sqlx::query_scalar("PRAGMA freelist_count")
            .fetch_one(&mut *conn)
            .await
            .map_err(q("read free pages"))?;
        // `incremental_vacuum` returns a row per step; drain them all.
        sqlx::query("PRAGMA incremental_vacuum")
            .fetch_all(&mut *conn)
            .await
            .map_err(q("incremental vacuum"))?;
        let free_after: i64 = sqlx::query_scalar("PRAGMA freelist_count")
            .fetch_one(&mut *conn)
            .await
            .map_err(q("read free pages"))?;
        Ok(u64::try_from((free_before - free_after).max(0) * page_size).unwrap_or(0))
    }

    /// Every source's stored state, in name order.
    pub async fn source_statuses(&self) -> Result<Vec<SourceStatus>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, url, title, site_url, last_fetch_at, last_outcome, last_http_status, last_error,
                    last_success_at, consecutive_failures, items_new, items_updated, next_fetch_at,
                    (SELECT COUNT(*) FROM articles a WHERE a.source_id = sources.id),
                    next_fetch_reason, fetch_url, retry_after_until, gone_at
             FROM sources ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(q("read sources"))?;
        Ok(rows
            .into_iter()
            .map(|r| SourceStatus {
                name: r.get(0),
                url: r.get(1),
                title: r.get(2),
                site_url: r.get(3),
                last_fetch_at: r.get::<Option<i64>, _>(4).map(time),
                last_outcome: r.get(5),
                last_http_status: r
                    .get::<Option<i64>, _>(6)
                    .and_then(|s| u16::try_from(s).ok()),
                last_error: r.get(7),
                last_success_at: r.get::<Option<i64>, _>(8).map(time),
                consecutive_failures: u32::try_from(r.get::<i64, _>(9)).unwrap_or(0),
                items_new: u32::try_from(r.get::<i64, _>(10)).unwrap_or(0),
                items_updated: u32::try_from(r.get::<i64, _>(11)).unwrap_or(0),
                next_fetch_at: r.get::<Option<i64>, _>(12).map(time),
                articles: u64::try_from(r.get::<i64, _>(13)).unwrap_or(0),
                next_fetch_reason: r
                    .get::<Option<String>, _>(14)
                    .and_then(|s| Reason::parse(&s)),
                fetch_url: r.get(15),
                retry_after_until: r.get::<Option<i64>, _>(16).map(time),
                gone_at: r.get::<Option<i64>, _>(17).map(time),
            })
            .collect())
    }

    /// Number of stored articles (all sources).
    pub async fn article_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM articles")
            .fetch_one(&self.pool)
            .await
            .map_err(q("count articles"))?;
        Ok(n.max(0) as u64)
    }

    /// Write a consistent copy of the database to the new file `to` (`VACUUM INTO`). It is one
    /// read transaction: in WAL mode writers (a running daemon) carry on meanwhile, and the
    /// copy is the database as of one moment, compacted. SQLite refuses a `to` that exists
    /// and is not empty.
    pub async fn backup(&self, to: &Path) -> Result<(), StoreError> {
        let error = |source| StoreError::Backup {
            path: to.display().to_string(),
            source,
        };
        let Some(target) = to.to_str() else {
            return Err(error(sqlx::Error::Configuration(
                "the backup file name is not valid UTF-8".into(),
            )));
        };
        sqlx::query("VACUUM INTO ?1")
            .bind(target)
            .execute(&self.pool)
            .await
            .map_err(error)?;
        Ok(())
    }

    /// Whether the store answers a trivial query (for readiness checks).
    pub async fn ping(&self) -> bool {
        sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(&self.pool)
            .await
            .is_ok()
    }
}

async fn set_membership(
    tx: &mut Transaction<'_, Sqlite>,
    article: i64,
    topics: &[Membership],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM topic_articles WHERE article_id = ?1")
        .bind(article)
        .execute(&mut **tx)
        .await
        .map_err(q("clear membership"))?;
    for m in topics {
        sqlx::query(
            "INSERT OR IGNORE INTO topic_articles (topic, article_id, excluded) VALUES (?1, ?2, ?3)",
        )
        .bind(&m.topic)
        .bind(article)
        .bind(m.excluded)
            .execute(&mut **tx)
            .await
            .map_err(q("insert membership"))?;
    }
    Ok(())
}

async fn bump_topics(
    tx: &mut Transaction<'_, Sqlite>,
    topics: &BTreeSet<String>,
    now: i64,
) -> Result<(), StoreError> {
    for topic in topics {
        sqlx::query("UPDATE topics SET version = version + 1, changed_at = ?2 WHERE slug = ?1")
            .bind(topic)
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(q("bump topic"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize;

    use crate::testkit::{incoming, store_with};

    /// An article whose body is its title.
    fn article(key: &str, link: Option<&str>, title: &str) -> Article {
        crate::testkit::article(key, link, title, &normalize::plain_to_html(title))
    }

    #[tokio::test]
    async fn ingest_merges_across_sources_when_canonical_urls_match() {
        let store = store_with(&["a", "b"]).await;
        let now = Utc::now();
        let s1 = store
            .ingest(
                "a",
                &[incoming(article(
                    "guid:1",
                    Some("https://x.org/story/"),
                    "Story",
                ))],
                None,
                now,
            )
            .await
            .unwrap();
        let s2 = store
            .ingest(
                "b",
                &[incoming(article(
                    "guid:77",
                    Some("http://www.x.org/story?utm_source=rss"),
                    "Story",
                ))],
                None,
                now,
            )
            .await
            .unwrap();
        assert_eq!((s1.new, s2.new, s2.merged), (1, 1, 1));
        let entries = store.topic_entries("t", 10, None).await.unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].source.name, "a");
        assert_eq!(entries[0].also.len(), 1);
        assert_eq!(entries[0].also[0].source, "b");
        assert_eq!(entries[0].id, story_id("x.org/story"));
    }

    #[tokio::test]
    async fn ingest_keeps_stories_apart_when_one_source_repeats_a_link() {
        let store = store_with(&["a"]).await;
        let now = Utc::now();
        let items = [
            incoming(article(
                "guid:1",
                Some("https://x.org/linked"),
                "First note",
            )),
            incoming(article(
                "guid:2",
                Some("https://x.org/linked"),
                "Second note",
            )),
        ];
        let stats = store.ingest("a", &items, None, now).await.unwrap();
        assert_eq!((stats.new, stats.merged), (2, 0));
        assert_eq!(store.topic_entries("t", 10, None).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn topic_entries_from_skips_newest_stories_when_given_an_offset() {
        let store = store_with(&["a"]).await;
        let now = Utc::now();
        let items: Vec<Incoming> = (0..5)
            .map(|i| {
                let mut item = incoming(article(
                    &format!("guid:{i}"),
                    Some(&format!("https://x.org/{i}")),
                    &format!("Story {i}"),
                ));
                item.article.published = Some(now - chrono::Duration::hours(i));
                item
            })
            .collect();
        store.ingest("a", &items, None, now).await.unwrap();
        let titles = |v: Vec<StoryView>| v.into_iter().map(|s| s.title).collect::<Vec<_>>();
        let all = titles(store.topic_entries("t", 10, None).await.unwrap());
        assert_eq!(all, ["Story 0", "Story 1", "Story 2", "Story 3", "Story 4"]);
        let page = titles(store.topic_entries_from("t", 2, 2, None).await.unwrap());
        assert_eq!(page, ["Story 2", "Story 3"]);
        let tail = titles(store.topic_entries_from("t", 4, 2, None).await.unwrap());
        assert_eq!(tail, ["Story 4"]);
        assert!(
            store
                .topic_entries_from("t", 5, 2, None)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn ingest_updates_in_place_when_content_changes_and_bumps_version() {
        let store = store_with(&["a"]).await;
        let now = Utc::now();
        store
            .ingest(
                "a",
                &[incoming(article("guid:1", Some("https://x.org/a"), "Old"))],
                None,
                now,
            )
            .await
            .unwrap();
        let v1 = store.topic_versions().await.unwrap()["t"].version;
        let again = store
            .ingest(
                "a",
                &[incoming(article("guid:1", Some("https://x.org/a"), "Old"))],
                None,
                now,
            )
            .await
            .unwrap();
        assert_eq!((again.new, again.updated, again.unchanged), (0, 0, 1));
        assert_eq!(
            store.topic_versions().await.unwrap()["t"].version,
            v1,
            "no change, no new version"
        );
        let later = now + chrono::Duration::minutes(5);
        let edit = store
            .ingest(
                "a",
                &[incoming(article("guid:1", Some("https://x.org/a"), "New"))],
                None,
                later,
            )
            .await
            .unwrap();
        assert_eq!(edit.updated, 1);
        assert!(store.topic_versions().await.unwrap()["t"].version > v1);
        let entries = store.topic_entries("t", 10, None).await.unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].title, "New");
        assert_eq!(entries[0].updated, time(ms(later)));
    }

    #[tokio::test]
    async fn expire_gives_space_back_and_keeps_tombstones_when_articles_age_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        store
            .sync_sources(&[("a".to_owned(), "https://a.example/feed".to_owned())])
            .await
            .unwrap();
        let now = Utc::now();
        let filler = "lorem ipsum dolor sit amet ".repeat(200);
        let items: Vec<Incoming> = (0..300)
            .map(|i| {
                let mut a = article(&format!("guid:{i}"), None, &format!("Item {i}"));
                a.content_html = Some(format!("<p>{i} {filler}</p>"));
                incoming(a)
            })
            .collect();
        store.ingest("a", &items, None, now).await.unwrap();
        let file = dir.path().join(DB_FILE);
        let size = |f: &Path| std::fs::metadata(f).unwrap().len();
        // Checkpoint the WAL so the main file holds the data before we measure it.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&store.pool)
            .await
            .unwrap();
        let full = size(&file);
        let stats = store
            .expire(now + chrono::Duration::seconds(1), now)
            .await
            .unwrap();
        assert_eq!(stats.articles, 300);
        assert!(stats.reclaimed_bytes > 0, "{stats:?}");
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&store.pool)
            .await
            .unwrap();
        assert!(
            size(&file) < full / 4,
            "{} of {full} bytes left",
            size(&file)
        );
        // The keys stay: the same items are not stored again.
        let again = store.ingest("a", &items, None, now).await.unwrap();
        assert_eq!((again.new, again.expired), (0, 300));
    }
}
