//! Where a new article goes: into another source's story (same canonical URL, or
//! near-duplicate text within the window), or into a story of its own. Also the banded index
//! of fingerprints and story merges. Every function runs inside the caller's write
//! transaction, so an article, its story and its index keys land together or not at all.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::{Row, Sqlite, SqliteConnection, Transaction};

use super::{ms, q};
use crate::dedup::{self, Fingerprints};
use crate::model::{Article, story_id};
use crate::store::{NearDup, StoreError};

/// How a new article found its story.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Joined {
    /// It founded a story of its own.
    Founded,
    /// Another source's article has the same canonical URL (layer 2).
    ByUrl,
    /// Another source's article is a near-duplicate of it (layer 3).
    ByText,
}

/// The outcome of [`place`].
#[derive(Debug)]
pub(super) struct Placement {
    pub story: i64,
    pub joined: Joined,
    /// Stories merged into `story` because the article matched them too.
    pub merged_stories: usize,
    /// Topics whose entries changed (the joined and merged stories' topics).
    pub changed_topics: BTreeSet<String>,
}

/// Everything [`place`] needs to know about the new article.
pub(super) struct NewArticle<'a> {
    pub source_id: i64,
    pub source: &'a str,
    pub article: &'a Article,
    /// Its fingerprints, when layer 3 is on.
    pub fingerprints: Option<&'a Fingerprints>,
    /// Its time for the window: published, else first seen.
    pub at: DateTime<Utc>,
    pub published: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

/// Finds the article's story, founding one when nothing matches.
///
/// Candidates are the stories of other sources' articles with the same canonical URL (oldest
/// article first), then those of near-duplicates found through the band index and confirmed
/// with [`dedup::is_near_duplicate`]. A story that already holds an article of this source is
/// never joined: within one source, articles with different keys are different stories
/// (DESIGN §9), even when a link blog repeats a link. When several candidate stories can be
/// joined together without putting two articles of one source in one story, the article
/// bridges them: they merge into the oldest, whose id stays; the others' ids are retired.
pub(super) async fn place(
    tx: &mut Transaction<'_, Sqlite>,
    new: &NewArticle<'_>,
    near: Option<&NearDup>,
    now: DateTime<Utc>,
) -> Result<Placement, StoreError> {
    let mut candidates: Vec<(i64, Joined)> = Vec::new();
    if let Some(canonical) = &new.article.canonical_url {
        let stories: Vec<i64> = sqlx::query_scalar(
            "SELECT story_id FROM articles WHERE canonical_url = ?1 AND source_id != ?2
             GROUP BY story_id ORDER BY MIN(id)",
        )
        .bind(canonical)
        .bind(new.source_id)
        .fetch_all(&mut **tx)
        .await
        .map_err(q("find stories by url"))?;
        candidates.extend(stories.into_iter().map(|s| (s, Joined::ByUrl)));
    }
    if let (Some(near), Some(fp)) = (near, new.fingerprints) {
        for story in near_duplicate_stories(tx, new.source_id, new.at, fp, near).await? {
            if !candidates.iter().any(|(s, _)| *s == story) {
                candidates.push((story, Joined::ByText));
            }
        }
    }
    // Keep the candidates whose sources are disjoint from this source and from each other.
    let mut taken: BTreeSet<i64> = BTreeSet::from([new.source_id]);
    let mut accepted: Vec<(i64, Joined)> = Vec::new();
    for (story, how) in candidates {
        let sources: Vec<i64> =
            sqlx::query_scalar("SELECT DISTINCT source_id FROM articles WHERE story_id = ?1")
                .bind(story)
                .fetch_all(&mut **tx)
                .await
                .map_err(q("read story sources"))?;
        if sources.iter().all(|s| !taken.contains(s)) {
            taken.extend(sources);
            accepted.push((story, how));
        }
    }
    let Some(&(_, joined)) = accepted.first() else {
        let story = found_story(tx, new, now).await?;
        return Ok(Placement {
            story,
            joined: Joined::Founded,
            merged_stories: 0,
            changed_topics: BTreeSet::new(),
        });
    };
    // The oldest story survives a merge: the id readers saw first stays.
    let mut by_age: Vec<(i64, i64)> = Vec::with_capacity(accepted.len());
    for (story, _) in &accepted {
        let first_seen: i64 = sqlx::query_scalar("SELECT first_seen FROM stories WHERE id = ?1")
            .bind(story)
            .fetch_one(&mut **tx)
            .await
            .map_err(q("read story"))?;
        by_age.push((first_seen, *story));
    }
    by_age.sort_unstable();
    let survivor = by_age[0].1;
    let mut changed_topics: BTreeSet<String> = BTreeSet::new();
    for &(_, story) in &by_age {
        changed_topics.extend(story_topics(tx, story).await?);
    }
    for &(_, merged) in &by_age[1..] {
        merge_story(tx, merged, survivor, now).await?;
        tracing::info!(
            story = survivor,
            merged,
            source = new.source,
            "stories merged: an article matched both"
        );
    }
    // The story was first published when its earliest article was.
    sqlx::query(
        "UPDATE stories SET updated = MAX(updated, ?2), published = MIN(published, ?3) WHERE id = ?1",
    )
    .bind(survivor)
    .bind(ms(now))
    .bind(ms(new.published))
    .execute(&mut **tx)
    .await
    .map_err(q("touch story"))?;
    Ok(Placement {
        story: survivor,
        joined,
        merged_stories: by_age.len() - 1,
        changed_topics,
    })
}

/// The stories of other sources' articles that are near-duplicates of `fp` within the window,
/// in the order their articles were stored.
async fn near_duplicate_stories(
    conn: &mut SqliteConnection,
    source_id: i64,
    at: DateTime<Utc>,
    fp: &Fingerprints,
    near: &NearDup,
) -> Result<Vec<i64>, StoreError> {
    let keys = dedup::band_keys(fp);
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let keys = serde_json::to_string(&keys).unwrap_or_else(|_| "[]".to_owned());
    let rows = sqlx::query(
        "SELECT a.story_id, a.fingerprints FROM articles a
         WHERE a.id IN (SELECT article_id FROM story_bands
                        WHERE key IN (SELECT value FROM json_each(?1)) AND at BETWEEN ?2 AND ?3)
           AND a.source_id != ?4
         ORDER BY a.id",
    )
    .bind(keys)
    .bind(ms(at - near.window))
    .bind(ms(at + near.window))
    .bind(source_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(q("find near-duplicates"))?;
    let mut stories: Vec<i64> = Vec::new();
    for row in rows {
        let story: i64 = row.get(0);
        let bytes: Option<Vec<u8>> = row.get(1);
        // Fingerprints of another version are never compared (`Fingerprints::from_bytes`).
        let Some(other) = bytes.as_deref().and_then(Fingerprints::from_bytes) else {
            continue;
        };
        if !stories.contains(&story) && dedup::is_near_duplicate(fp, &other, &near.rules) {
            stories.push(story);
        }
    }
    Ok(stories)
}

/// Moves every article of `merged` into `survivor` and retires `merged`'s key and id.
async fn merge_story(
    tx: &mut Transaction<'_, Sqlite>,
    merged: i64,
    survivor: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE articles SET story_id = ?2 WHERE story_id = ?1")
        .bind(merged)
        .bind(survivor)
        .execute(&mut **tx)
        .await
        .map_err(q("move merged articles"))?;
    sqlx::query(
        "UPDATE stories SET
           published = MIN(published, (SELECT published FROM stories WHERE id = ?1)),
           first_seen = MIN(first_seen, (SELECT first_seen FROM stories WHERE id = ?1)),
           updated = MAX(updated, ?3)
         WHERE id = ?2",
    )
    .bind(merged)
    .bind(survivor)
    .bind(ms(now))
    .execute(&mut **tx)
    .await
    .map_err(q("widen surviving story"))?;
    sqlx::query("UPDATE merged_stories SET into_story = ?2 WHERE into_story = ?1")
        .bind(merged)
        .bind(survivor)
        .execute(&mut **tx)
        .await
        .map_err(q("repoint merged stories"))?;
    sqlx::query(
        "INSERT OR REPLACE INTO merged_stories (key, uuid, into_story, merged_at)
         SELECT key, uuid, ?2, ?3 FROM stories WHERE id = ?1",
    )
    .bind(merged)
    .bind(survivor)
    .bind(ms(now))
    .execute(&mut **tx)
    .await
    .map_err(q("retire merged story"))?;
    sqlx::query("DELETE FROM stories WHERE id = ?1")
        .bind(merged)
        .execute(&mut **tx)
        .await
        .map_err(q("delete merged story"))?;
    Ok(())
}

/// Numbered keys tried after the fallback key (far more than one article can ever need).
const MAX_KEY_SUFFIX: u32 = 10_000;

/// Creates the story an article founds. Its key is the article's canonical URL; when that key
/// is taken — another article of the same source founded a story with that URL (link blogs,
/// `href=""`), or a merged-away story used it — the key falls back to source + entry key, so
/// different entries stay different stories and a retired id is never handed out again.
async fn found_story(
    tx: &mut Transaction<'_, Sqlite>,
    new: &NewArticle<'_>,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let fallback = format!("source:{}#{}", new.source, new.article.entry_key);
    let candidates = new
        .article
        .canonical_url
        .iter()
        .cloned()
        .chain(std::iter::once(fallback.clone()))
        // A key can only be taken by a story this article's (source, key) once founded and
        // that then merged away or lost the article to retention; a numbered suffix is free
        // after at most as many such stories.
        .chain((2..=MAX_KEY_SUFFIX).map(|n| format!("{fallback}#{n}")));
    for key in candidates {
        let retired: bool =
            sqlx::query_scalar("SELECT COUNT(*) > 0 FROM merged_stories WHERE key = ?1")
                .bind(&key)
                .fetch_one(&mut **tx)
                .await
                .map_err(q("read merged stories"))?;
        if retired {
            continue;
        }
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO stories (key, uuid, first_seen, published, updated) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(key) DO NOTHING RETURNING id",
        )
        .bind(&key)
        .bind(story_id(&key).to_string())
        .bind(ms(now))
        .bind(ms(new.published))
        .bind(ms(new.updated))
        .fetch_optional(&mut **tx)
        .await
        .map_err(q("insert story"))?;
        if let Some(id) = inserted {
            return Ok(id);
        }
    }
    Err(StoreError::NoStoryKey(fallback))
}

/// Stores an article's fingerprints and band keys (replacing earlier ones after an edit).
pub(super) async fn index_article(
    tx: &mut Transaction<'_, Sqlite>,
    article_id: i64,
    fp: Option<&Fingerprints>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM story_bands WHERE article_id = ?1")
        .bind(article_id)
        .execute(&mut **tx)
        .await
        .map_err(q("clear band keys"))?;
    sqlx::query("UPDATE articles SET fingerprints = ?2 WHERE id = ?1")
        .bind(article_id)
        .bind(fp.map(|f| f.to_bytes().to_vec()))
        .execute(&mut **tx)
        .await
        .map_err(q("store fingerprints"))?;
    let Some(fp) = fp else { return Ok(()) };
    for key in dedup::band_keys(fp) {
        sqlx::query("INSERT OR IGNORE INTO story_bands (key, article_id, at) VALUES (?1, ?2, ?3)")
            .bind(key)
            .bind(article_id)
            .bind(ms(at))
            .execute(&mut **tx)
            .await
            .map_err(q("insert band key"))?;
    }
    Ok(())
}

/// The topics a story's articles belong to.
pub(super) async fn story_topics(
    tx: &mut Transaction<'_, Sqlite>,
    story: i64,
) -> Result<Vec<String>, StoreError> {
    sqlx::query_scalar(
        "SELECT DISTINCT ta.topic FROM topic_articles ta JOIN articles a ON a.id = ta.article_id WHERE a.story_id = ?1",
    )
    .bind(story)
    .fetch_all(&mut **tx)
    .await
    .map_err(q("read story topics"))
}

/// An article stored without fingerprints (before layer 3 existed, or while it was off).
#[derive(Debug, Clone)]
pub struct Unfingerprinted {
    pub article_id: i64,
    pub title: String,
    /// Content, else summary (HTML), as [`Fingerprints::of_article`] reads an article.
    pub body_html: String,
    /// Its time for the window: published, else first seen.
    pub at: DateTime<Utc>,
}

impl super::Store {
    /// The stories that an article of `source` with fingerprints `fp` at time `at` would join
    /// by its text (layer 3), oldest article first: the read half of placing an article, for
    /// measuring it (`benches/store_dedup.rs`) and explaining decisions.
    pub async fn near_duplicate_stories(
        &self,
        source: &str,
        fp: &Fingerprints,
        at: DateTime<Utc>,
        near: &NearDup,
    ) -> Result<Vec<i64>, StoreError> {
        let source_id = self.source_id(source).await?;
        let mut conn = self.pool.acquire().await.map_err(q("acquire connection"))?;
        near_duplicate_stories(&mut conn, source_id, at, fp, near).await
    }

    /// Up to `limit` articles dated `since` or later that have no fingerprints yet, so that
    /// layer 3 can find them after an upgrade or after `near_duplicates` is turned on.
    pub async fn unfingerprinted(
        &self,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Unfingerprinted>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, title, COALESCE(NULLIF(TRIM(content_html), ''), summary_html, ''),
                    COALESCE(published, first_seen)
             FROM articles WHERE fingerprints IS NULL AND COALESCE(published, first_seen) >= ?1
             ORDER BY id LIMIT ?2",
        )
        .bind(ms(since))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(q("read unfingerprinted articles"))?;
        Ok(rows
            .into_iter()
            .map(|r| Unfingerprinted {
                article_id: r.get(0),
                title: r.get(1),
                body_html: r.get(2),
                at: super::time(r.get(3)),
            })
            .collect())
    }

    /// Stores fingerprints computed for [`Store::unfingerprinted`] articles, with their keys.
    pub async fn set_fingerprints(
        &self,
        items: &[(i64, Fingerprints, DateTime<Utc>)],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await.map_err(q("begin fingerprints"))?;
        for (article_id, fp, at) in items {
            index_article(&mut tx, *article_id, Some(fp), *at).await?;
        }
        tx.commit().await.map_err(q("commit fingerprints"))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};

    use crate::dedup::LineFilter;
    use crate::model::story_id;
    use crate::store::{IngestStats, NearDup, Store};
    use crate::testkit::{self, diplomat_body, diplomat_title, incoming, store_with};

    use super::*;

    fn title() -> &'static str {
        diplomat_title()
    }

    fn body() -> String {
        diplomat_body()
    }

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, day, 12, 0, 0).unwrap()
    }

    fn article(key: &str, link: &str, title: &str, body: &str, day: u32) -> Article {
        Article {
            guid: Some(key.to_owned()),
            published: Some(at(day)),
            ..testkit::article(key, Some(link), title, body)
        }
    }

    fn near() -> NearDup {
        NearDup {
            window: TimeDelta::days(3),
            ..NearDup::default()
        }
    }

    /// A store with these sources, the Diplomat's article stored by `diplomat`.
    async fn with_diplomat(sources: &[&str]) -> Store {
        let store = store_with(sources).await;
        let original = article("d1", "https://thediplomat.com/a", title(), &body(), 1);
        put(&store, "diplomat", original).await;
        store
    }

    async fn put(store: &Store, source: &str, a: Article) -> IngestStats {
        store
            .ingest(source, &[incoming(a)], Some(&near()), at(20))
            .await
            .unwrap()
    }

    /// (entry id, source names) of every story in topic `t`, newest first.
    async fn stories(store: &Store) -> Vec<(uuid::Uuid, Vec<String>)> {
        store
            .topic_entries("t", 100, None)
            .await
            .unwrap()
            .into_iter()
            .map(|v| {
                let mut names = vec![v.source.name.clone()];
                names.extend(v.also.iter().map(|a| a.source.clone()));
                (v.id, names)
            })
            .collect()
    }

    /// The article's body with a few words changed, as a wire copy edits it.
    fn edited_body() -> String {
        body()
            .replacen("Earlier this week", "This week", 1)
            .replacen("senior leaders", "top officials", 1)
    }

    #[tokio::test]
    async fn place_joins_other_sources_story_when_text_is_near_duplicate() {
        let store = with_diplomat(&["diplomat", "wire"]).await;
        let copy = article(
            "w1",
            "https://wire.example/2024/ties",
            &format!("{} - Central Asia Wire", title()),
            &edited_body(),
            2,
        );
        let stats = put(&store, "wire", copy).await;
        assert_eq!((stats.new, stats.merged, stats.merged_by_text), (1, 1, 1));
        let s = stories(&store).await;
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].0, story_id("thediplomat.com/a"));
        assert_eq!(s[0].1, vec!["diplomat", "wire"]);
    }

    #[tokio::test]
    async fn place_keeps_stories_apart_when_one_source_repeats_a_text() {
        let store = with_diplomat(&["diplomat", "wire"]).await;
        let again = article(
            "d2",
            "https://thediplomat.com/b",
            title(),
            &edited_body(),
            1,
        );
        assert_eq!(put(&store, "diplomat", again).await.merged, 0);
        // A third source's copy joins one of them, never both (that would put two articles of
        // one source in one story).
        let copy = article("w1", "https://wire.example/x", title(), &body(), 1);
        let stats = put(&store, "wire", copy).await;
        assert_eq!((stats.merged, stats.stories_merged), (1, 0));
        assert_eq!(stories(&store).await.len(), 2);
    }

    #[tokio::test]
    async fn place_founds_a_story_when_copy_is_outside_the_window() {
        let store = with_diplomat(&["diplomat", "wire"]).await;
        let late = article("w1", "https://wire.example/x", title(), &body(), 9);
        assert_eq!(put(&store, "wire", late).await.merged, 0);
        assert_eq!(stories(&store).await.len(), 2);
    }

    #[tokio::test]
    async fn place_joins_outlet_story_when_aggregator_item_has_headline_only() {
        let store = with_diplomat(&["diplomat", "news"]).await;
        let item = article(
            "g1",
            "https://news.google.com/rss/articles/CBMiRmh0dHBzOi8vdGhlZGlwbG9tYXQ",
            &format!("{} - The Diplomat", title()),
            &format!(
                "<a href=\"https://news.google.com/x\">{}</a>&nbsp;The Diplomat",
                title()
            ),
            1,
        );
        assert_eq!(put(&store, "news", item).await.merged_by_text, 1);
        assert_eq!(stories(&store).await.len(), 1);
    }

    #[tokio::test]
    async fn place_merges_into_older_story_and_retires_newer_id_when_article_bridges_two() {
        let store = store_with(&["diplomat", "wire", "agency"]).await;
        // Two stories: the Diplomat's article and an unrelated-looking short wire item that
        // shares its link with nothing.
        put(
            &store,
            "diplomat",
            article("d1", "https://thediplomat.com/a", title(), &body(), 1),
        )
        .await;
        let wire = article(
            "w1",
            "https://wire.example/ties",
            "Kyrgyz and Chinese officials meet",
            "<p>Officials met in Beijing.</p>",
            1,
        );
        put(&store, "wire", wire).await;
        let before = stories(&store).await;
        assert_eq!(before.len(), 2);
        // The agency's item links to the wire's URL and carries the Diplomat's text: it
        // bridges both stories.
        let bridge = article(
            "a1",
            "https://wire.example/ties?utm_source=agency",
            title(),
            &edited_body(),
            1,
        );
        let stats = put(&store, "agency", bridge).await;
        assert_eq!((stats.merged, stats.stories_merged), (1, 1));
        let after = stories(&store).await;
        assert_eq!(after.len(), 1);
        assert_eq!(
            after[0].0,
            story_id("thediplomat.com/a"),
            "the older story's id stays"
        );
        assert_eq!(after[0].1.len(), 3);
        // The wire posts another item with the same link: a new story of its own (within one
        // source different keys stay different), and the retired id is not handed out again.
        let again = article(
            "w2",
            "https://wire.example/ties",
            "Follow-up note",
            "<p>More.</p>",
            2,
        );
        put(&store, "wire", again).await;
        let ids: Vec<uuid::Uuid> = stories(&store).await.into_iter().map(|s| s.0).collect();
        assert_eq!(ids.len(), 2);
        assert!(
            !ids.contains(&story_id("wire.example/ties")),
            "retired id came back"
        );
    }

    #[tokio::test]
    async fn edit_keeps_story_whole_when_only_the_title_changes() {
        let store = with_diplomat(&["diplomat", "wire"]).await;
        put(
            &store,
            "wire",
            article("w1", "https://wire.example/x", title(), &edited_body(), 1),
        )
        .await;
        let retitled = article(
            "w1",
            "https://wire.example/x",
            "Beijing and Bishkek vow closer security work",
            &edited_body(),
            1,
        );
        let stats = put(&store, "wire", retitled).await;
        assert_eq!((stats.new, stats.updated), (0, 1));
        let s = stories(&store).await;
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].1, vec!["diplomat", "wire"]);
    }

    #[tokio::test]
    async fn fingerprints_ignore_a_sources_footer_when_learned_as_boilerplate() {
        let store = store_with(&["diplomat", "wire"]).await;
        let footer = "Subscribe to the Steppe Courier for weekly Central Asia analysis and maps";
        let lines = dedup::repeated_lines(
            (0..3)
                .map(|_| format!("<p>x</p><p>{footer}</p>"))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str),
            3,
        );
        store.set_source_boilerplate("wire", &lines).await.unwrap();
        assert_eq!(store.line_filter().await.unwrap(), lines);
        store
            .set_source_boilerplate("wire", &LineFilter::default())
            .await
            .unwrap();
        assert!(store.line_filter().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn copy_joins_article_stored_without_fingerprints_when_backlog_is_fingerprinted() {
        let store = store_with(&["diplomat", "wire"]).await;
        let original = article("d1", "https://thediplomat.com/a", title(), &body(), 1);
        store
            .ingest("diplomat", &[incoming(original)], None, at(20))
            .await
            .unwrap();
        let backlog = store.unfingerprinted(at(1), 10).await.unwrap();
        assert_eq!(backlog.len(), 1);
        assert!(store.unfingerprinted(at(2), 10).await.unwrap().is_empty());
        let computed: Vec<_> = backlog
            .iter()
            .map(|u| {
                let fp = Fingerprints::of(&u.title, &u.body_html, &LineFilter::default());
                (u.article_id, fp, u.at)
            })
            .collect();
        store.set_fingerprints(&computed).await.unwrap();
        assert!(store.unfingerprinted(at(1), 10).await.unwrap().is_empty());
        let copy = article("w1", "https://wire.example/x", title(), &edited_body(), 1);
        assert_eq!(put(&store, "wire", copy).await.merged_by_text, 1);
    }

    #[tokio::test]
    async fn near_duplicate_stories_finds_other_sources_story_when_asked_read_only() {
        let store = with_diplomat(&["diplomat", "wire"]).await;
        let fp = Fingerprints::of(title(), &edited_body(), &LineFilter::default());
        let found = store
            .near_duplicate_stories("wire", &fp, at(1), &near())
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        let own = store
            .near_duplicate_stories("diplomat", &fp, at(1), &near())
            .await
            .unwrap();
        assert!(
            own.is_empty(),
            "a source's own articles are never candidates"
        );
    }
}
