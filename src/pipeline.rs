//! The only place that knows the order of the stages (DESIGN §2):
//! fetch → stop on 304 → parse → normalize → match topics → store (dedup) → record the outcome
//! and when the source is next due ([`politeness`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore};

use crate::config::{Config, SourceConfig, TopicConfig};
use crate::dedup::NearDupRules;
use crate::fetch::{FetchError, FetchOutcome, FetchSettings, Fetcher, Request, Validators};
use crate::model::{Article, Document};
use crate::normalize;
use crate::parse::{self, ParsedFeed};
use crate::politeness::{self, NextAttempt, Reason};
use crate::redact;
use crate::store::{
    FetchRecord, FetchResult, FetchState, Incoming, Membership, NearDup, Store, StoreError,
};
use crate::telemetry;
use crate::topics::{Field, Matcher, Query};

/// Articles of stored documents read per page during a backfill.
const BACKFILL_PAGE: i64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// How one source's refresh ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    NotModified,
    Failed,
    /// 410 Gone: a failure, and the source is disabled until its url changes in feeds.toml.
    Gone,
    /// Not fetched: the source is gone, or its server's `Retry-After` has not expired. Not a
    /// failure.
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::NotModified => "not_modified",
            Outcome::Failed => "failed",
            Outcome::Gone => "gone",
            Outcome::Skipped => "skipped",
        }
    }

    /// What makes `feedmill fetch` exit 1.
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::Gone)
    }
}

/// One source's refresh, as the CLI prints it and the log records it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceReport {
    pub source: String,
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    pub elapsed_ms: u64,
    pub items_seen: usize,
    pub items_new: usize,
    pub items_updated: usize,
    /// The error of a failure, or why the source was skipped.
    pub error: Option<String>,
    /// Failures in a row, this one included (0 after a success).
    pub consecutive_failures: u32,
    /// When the source is due again, and why then.
    pub next_attempt: NextAttempt,
}

/// The compiled topics: slugs in config order and one matcher deciding all of them.
#[derive(Debug)]
pub struct TopicSet {
    slugs: Vec<String>,
    /// What decides membership (query and exclude), as text: a change triggers a backfill.
    queries: Vec<String>,
    /// Compiled topic queries first (index = topic), then the `exclude` queries.
    matcher: Matcher,
    /// For each topic, the matcher index of its `exclude` query.
    exclude: Vec<Option<usize>>,
    tags: HashMap<String, Vec<String>>,
}

impl TopicSet {
    pub fn new(config: &Config) -> TopicSet {
        let mut sources: Vec<String> = config
            .sources
            .iter()
            .map(|s| format!("{}={}", s.name, s.tags.join(",")))
            .collect();
        sources.sort();
        let sources_key = sources.join("\n");
        let mut queries: Vec<_> = config.topics.iter().map(|t| t.query.clone()).collect();
        let mut exclude = Vec::with_capacity(config.topics.len());
        for topic in &config.topics {
            exclude.push(topic.exclude.as_ref().map(|q| {
                queries.push(q.clone());
                queries.len() - 1
            }));
        }
        TopicSet {
            slugs: config.topics.iter().map(|t| t.slug.clone()).collect(),
            queries: config
                .topics
                .iter()
                .map(|t| membership_key(t, &sources_key))
                .collect(),
            matcher: Matcher::new(&queries),
            exclude,
            tags: config
                .sources
                .iter()
                .map(|s| (s.name.clone(), s.tags.clone()))
                .collect(),
        }
    }

    /// The tags of a source as configured (none for a source no longer in the config).
    pub fn tags(&self, source: &str) -> &[String] {
        self.tags.get(source).map(Vec::as_slice).unwrap_or(&[])
    }

    /// In one matcher pass: every topic the document relates to, as (topic index, excluded).
    /// An article matching a topic's `exclude` query is recorded as excluded, whether or not
    /// it matches the query, since it keeps its whole story out of the topic.
    pub fn memberships(&self, doc: &Document<'_>) -> Vec<(usize, bool)> {
        let matched = self.matcher.matching(doc);
        let hit = |i: usize| matched.binary_search(&i).is_ok();
        (0..self.slugs.len())
            .filter_map(|topic| {
                let excluded = self.exclude[topic].is_some_and(hit);
                (excluded || hit(topic)).then_some((topic, excluded))
            })
            .collect()
    }

    /// The topics an article of `source` belongs to (or is excluded from).
    pub fn topics_for(&self, source: &str, article: &Article) -> Vec<Membership> {
        let doc = article.document(source, self.tags(source));
        self.memberships(&doc)
            .into_iter()
            .map(|(i, excluded)| Membership {
                topic: self.slugs[i].clone(),
                excluded,
            })
            .collect()
    }

    pub fn slugs(&self) -> &[String] {
        &self.slugs
    }
}

/// Everything that decides a topic's membership, as text: the stored copy is compared with it
/// and a difference triggers a backfill. A query that looks at `source:` or `tag:` also
/// depends on the sources' names and tags.
fn membership_key(topic: &TopicConfig, sources_key: &str) -> String {
    let mut key = topic.query_text.clone();
    if let Some(exclude) = &topic.exclude_text {
        key.push_str("\nEXCLUDE\n");
        key.push_str(exclude);
    }
    let queries = std::iter::once(&topic.query).chain(topic.exclude.as_ref());
    if queries.into_iter().any(uses_source_fields) {
        key.push_str("\nSOURCES\n");
        key.push_str(sources_key);
    }
    key
}

fn uses_source_fields(query: &Query) -> bool {
    match query {
        Query::Or(qs) | Query::And(qs) => qs.iter().any(uses_source_fields),
        Query::Not(q) => uses_source_fields(q),
        Query::Match { field, .. } => matches!(field, Some(Field::Source | Field::Tag)),
    }
}

/// The result of fetching and parsing one source, before anything is stored.
struct Acquired {
    source: String,
    /// Time spent fetching and parsing (not waiting for other sources' ingest).
    elapsed_ms: u64,
    at: DateTime<Utc>,
    /// Failures in a row before this attempt.
    failures_before: u32,
    /// The URL fetched: the configured one, or where a permanent redirect moved the feed.
    url: String,
    result: Acquisition,
}

enum Acquisition {
    Skipped {
        reason: String,
        next: NextAttempt,
    },
    NotModified {
        moved_to: Option<String>,
        floor: Option<(DateTime<Utc>, Reason)>,
    },
    Fetched(Fetched),
    Failed {
        status: Option<u16>,
        error: String,
        retry_after_until: Option<DateTime<Utc>>,
    },
}

struct Fetched {
    status: u16,
    validators: Validators,
    moved_to: Option<String>,
    floor: Option<(DateTime<Utc>, Reason)>,
    feed: ParsedChannel,
}

/// A parsed and normalized feed: what is stored of it.
struct ParsedChannel {
    title: Option<String>,
    site_url: Option<String>,
    ttl_minutes: Option<u32>,
    articles: Vec<Article>,
    /// What reading the document needed, for the fetch's log line; `None` for a clean feed.
    recovery: Option<String>,
}

/// Parse and normalize a fetched body. CPU-bound, and at the mercy of the bytes a stranger
/// sent: run it off the async workers (see `Pipeline::fetch_and_parse`).
fn parse_body(
    body: &[u8],
    content_type: Option<&str>,
    final_url: &str,
    now: DateTime<Utc>,
) -> Result<ParsedChannel, String> {
    let feed: ParsedFeed =
        parse::parse(body, content_type, final_url).map_err(|e| e.to_string())?;
    let recovery = (!feed.recovered.is_empty()).then(|| {
        format!(
            "needed recovery (read as {}): {}",
            feed.encoding,
            feed.recovered.join(", ")
        )
    });
    let mut seen = std::collections::HashSet::new();
    let articles = feed
        .entries
        .iter()
        .map(|entry| normalize::article(entry, &feed, final_url, now))
        // A feed listing the same entry twice (duplicate guids) keeps the first.
        .filter(|a| seen.insert(a.entry_key.clone()))
        .collect();
    Ok(ParsedChannel {
        title: feed.title.as_deref().map(normalize::plain_text),
        site_url: feed.site_url.clone(),
        ttl_minutes: feed.ttl_minutes,
        articles,
        recovery,
    })
}

/// Runs refreshes. Cheap to share: hold it in an `Arc`.
pub struct Pipeline {
    store: Store,
    fetcher: Fetcher,
    topics: TopicSet,
    config: Arc<Config>,
    /// Signalled whenever stored topic content changed, so the HTTP side re-renders at once.
    changed: Arc<Notify>,
}

impl Pipeline {
    pub fn build(config: Arc<Config>, store: Store) -> Result<Pipeline, PipelineError> {
        let fetcher = Fetcher::build(Pipeline::fetch_settings(&config))?;
        Ok(Pipeline::with_fetcher(config, store, fetcher))
    }

    /// What the fetcher takes of the configuration.
    pub fn fetch_settings(config: &Config) -> FetchSettings {
        FetchSettings {
            timeout: config.fetch.timeout,
            max_body: config.fetch.max_body,
            user_agent: config.fetch.user_agent.clone(),
            per_host: config.fetch.per_host,
            host_spacing: config.fetch.host_spacing,
            ca_file: config.fetch.ca_file.clone(),
        }
    }

    /// A pipeline around a fetcher built elsewhere (tests pin DNS names with one).
    pub fn with_fetcher(config: Arc<Config>, store: Store, fetcher: Fetcher) -> Pipeline {
        Pipeline {
            store,
            fetcher,
            topics: TopicSet::new(&config),
            config,
            changed: Arc::new(Notify::new()),
        }
    }

    /// The pipeline for a reloaded configuration. It shares this one's store and change
    /// signal, and its fetcher too while the fetch settings are unchanged, so connection
    /// pools and per-host limits carry over; changed settings build a new fetcher (a bad
    /// `ca_file` is an error, and the reload is rejected).
    pub fn reconfigured(&self, config: Arc<Config>) -> Result<Pipeline, PipelineError> {
        let settings = Pipeline::fetch_settings(&config);
        let fetcher = if settings == Pipeline::fetch_settings(&self.config) {
            self.fetcher.clone()
        } else {
            Fetcher::build(settings)?
        };
        let mut pipeline = Pipeline::with_fetcher(config, self.store.clone(), fetcher);
        pipeline.changed = self.changed.clone();
        Ok(pipeline)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    pub fn topics(&self) -> &TopicSet {
        &self.topics
    }

    /// Notified after every write that changed a topic.
    pub fn changed(&self) -> Arc<Notify> {
        self.changed.clone()
    }

    /// Make the store agree with the configuration: every source has a row, and every topic
    /// whose query is new or changed is re-evaluated over all stored articles (backfill).
    pub async fn sync(&self, now: DateTime<Utc>) -> Result<Vec<String>, PipelineError> {
        let sources: Vec<_> = self
            .config
            .sources
            .iter()
            .map(|s| (s.name.clone(), s.url.to_string()))
            .collect();
        self.store.sync_sources(&sources).await?;
        self.fingerprint_backlog(now).await?;
        let retired = self.store.retire_topics(&self.topics.slugs, now).await?;
        if !retired.is_empty() {
            tracing::info!(topics = ?retired, "topics no longer configured were retired");
        }
        let wanted: Vec<_> = self
            .topics
            .slugs
            .iter()
            .cloned()
            .zip(self.topics.queries.iter().cloned())
            .collect();
        let stale = self.store.topics_needing_backfill(&wanted).await?;
        if stale.is_empty() {
            return Ok(stale);
        }
        let indices: Vec<usize> = stale
            .iter()
            .filter_map(|slug| self.topics.slugs.iter().position(|s| s == slug))
            .collect();
        let mut members: Vec<Vec<(i64, bool)>> = vec![Vec::new(); indices.len()];
        let mut after = 0;
        loop {
            let page = self.store.documents(after, BACKFILL_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.article_id;
            for doc in &page {
                let view = doc.document(self.topics.tags(&doc.source));
                for (topic, excluded) in self.topics.memberships(&view) {
                    if let Some(slot) = indices.iter().position(|&i| i == topic) {
                        members[slot].push((doc.article_id, excluded));
                    }
                }
            }
        }
        let mut changed = false;
        for (slot, &index) in indices.iter().enumerate() {
            let slug = &self.topics.slugs[index];
            let query = &self.topics.queries[index];
            changed |= self
                .store
                .replace_topic_members(slug, query, &members[slot], now)
                .await?;
            tracing::info!(topic = %slug, articles = members[slot].len(), "topic re-evaluated over stored articles");
        }
        if changed {
            self.changed.notify_waiters();
        }
        Ok(stale)
    }

    /// Topics with `max_age` whose oldest stories passed the cutoff between `last` and `now`
    /// get a new version, so their served feeds are rendered again without them.
    pub async fn age_topics(
        &self,
        last: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), PipelineError> {
        let mut changed = false;
        for topic in &self.config.topics {
            let Some(age) = topic
                .max_age
                .and_then(|a| chrono::Duration::from_std(a).ok())
            else {
                continue;
            };
            changed |= self
                .store
                .age_topic(&topic.slug, last - age, now - age, now)
                .await?;
        }
        if changed {
            self.changed.notify_waiters();
        }
        Ok(())
    }

    /// Retention (`[store] retention`): drop articles first seen longer ago than that.
    pub async fn expire(&self, now: DateTime<Utc>) -> Result<(), PipelineError> {
        let Some(retention) = self.config.store.retention else {
            return Ok(());
        };
        let Ok(age) = chrono::Duration::from_std(retention) else {
            return Ok(());
        };
        let stats = self.store.expire(now - age, now).await?;
        if stats.articles > 0 {
            tracing::info!(
                articles = stats.articles,
                stories = stats.stories,
                reclaimed_bytes = stats.reclaimed_bytes,
                "retention removed old articles"
            );
        }
        if !stats.changed_topics.is_empty() {
            self.changed.notify_waiters();
        }
        Ok(())
    }

    /// Refresh one source now: fetch, parse, store, record.
    pub async fn refresh_source(&self, source: &SourceConfig, now: DateTime<Utc>) -> SourceReport {
        let acquired = self.acquire(source, now).await;
        let mut batch = Vec::new();
        if let Acquisition::Fetched(fetched) = &acquired.result {
            batch = fetched
                .feed
                .articles
                .iter()
                .map(|a| (source.name.clone(), a.clone()))
                .collect();
        }
        let counts = self.ingest_ordered(batch, now).await;
        let report = self
            .finish(
                acquired,
                counts.get(&source.name).cloned().unwrap_or_default(),
                now,
            )
            .await;
        telemetry::fetch_finished(&report);
        report
    }

    /// Refresh several sources at once (for `feedmill fetch`): fetched concurrently, then
    /// ingested in one deterministic order (published time, then key), so the same inputs
    /// give the same stories and ids whatever the order of sources in the config.
    pub async fn refresh_many(
        &self,
        sources: &[SourceConfig],
        now: DateTime<Utc>,
        progress: impl Fn(&SourceReport),
    ) -> Vec<SourceReport> {
        let limit = Arc::new(Semaphore::new(self.config.fetch.concurrency.max(1)));
        let mut acquired = futures_util::future::join_all(sources.iter().map(|source| {
            let limit = limit.clone();
            async move {
                // The semaphore is never closed, so acquiring cannot fail; if it did, fetching
                // without the limit is still correct.
                let _permit = limit.acquire_owned().await.ok();
                self.acquire(source, now).await
            }
        }))
        .await;
        // Moved, not cloned: with a thousand sources the articles are most of the memory.
        let batch: Vec<(String, Article)> = acquired
            .iter_mut()
            .filter_map(|a| match &mut a.result {
                Acquisition::Fetched(f) => Some(
                    std::mem::take(&mut f.feed.articles)
                        .into_iter()
                        .map(|art| (a.source.clone(), art)),
                ),
                _ => None,
            })
            .flatten()
            .collect();
        let counts = self.ingest_ordered(batch, now).await;
        let mut reports = Vec::with_capacity(acquired.len());
        for a in acquired {
            let c = counts.get(&a.source).cloned().unwrap_or_default();
            let report = self.finish(a, c, now).await;
            telemetry::fetch_finished(&report);
            progress(&report);
            reports.push(report);
        }
        reports
    }

    async fn acquire(&self, source: &SourceConfig, now: DateTime<Utc>) -> Acquired {
        let started = Instant::now();
        let (state, result) = match self.store.fetch_state(&source.name).await {
            Ok(state) => {
                let result = self.fetch_and_parse(source, &state, now).await;
                (state, result)
            }
            Err(e) => (
                FetchState::default(),
                Acquisition::Failed {
                    status: None,
                    error: e.to_string(),
                    retry_after_until: None,
                },
            ),
        };
        Acquired {
            source: source.name.clone(),
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            at: now,
            failures_before: state.consecutive_failures,
            url: state.fetch_url.unwrap_or_else(|| source.url.to_string()),
            result,
        }
    }

    /// Skip a gone source or one whose `Retry-After` has not expired (whoever asks: the
    /// scheduler or `feedmill fetch`); else fetch, and parse what changed.
    async fn fetch_and_parse(
        &self,
        source: &SourceConfig,
        state: &FetchState,
        now: DateTime<Utc>,
    ) -> Acquisition {
        let url = state
            .fetch_url
            .clone()
            .unwrap_or_else(|| source.url.to_string());
        if let Some(gone) = state.gone_at {
            return Acquisition::Skipped {
                reason: format!(
                    "gone: {url} answered HTTP 410 Gone on {}; change the source's url in feeds.toml to enable it again",
                    gone.format("%Y-%m-%d %H:%M UTC")
                ),
                next: NextAttempt::gone(),
            };
        }
        if let Some(until) = state.retry_after_until.filter(|t| *t > now) {
            let status = state
                .last_http_status
                .map(|s| format!(" after HTTP {s}"))
                .unwrap_or_default();
            return Acquisition::Skipped {
                reason: format!(
                    "retry-after: {url} asked not to be fetched before {}{status}",
                    until.format("%Y-%m-%d %H:%M:%S UTC")
                ),
                next: NextAttempt {
                    at: Some(until),
                    reason: Reason::RetryAfter,
                },
            };
        }
        let request = Request {
            url,
            validators: state.validators.clone(),
            user_agent: source.user_agent.clone(),
            headers: source.headers.clone(),
            allow_private: self.config.allow_private_of(source),
        };
        let fetched = match self.fetcher.fetch(&request).await {
            Ok(FetchOutcome::NotModified(nm)) => {
                return Acquisition::NotModified {
                    floor: politeness::freshness_floor(now, state.feed_ttl_minutes, &nm.cache),
                    moved_to: nm.moved_to,
                };
            }
            Ok(FetchOutcome::Fetched(f)) => f,
            Err(e) => {
                let status = e.status();
                let retry_after_until = match &e {
                    FetchError::Status {
                        status: 429 | 503,
                        retry_after: Some(value),
                        date,
                        ..
                    } => politeness::retry_after(value, date.as_deref(), now),
                    _ => None,
                };
                return Acquisition::Failed {
                    status,
                    error: e.to_string(),
                    retry_after_until,
                };
            }
        };
        let status = fetched.status;
        let final_url = fetched.final_url.clone();
        let content_type = fetched.content_type.clone();
        let body = fetched.body;
        // Off the async workers: a pathological document (deep nesting in embedded HTML can
        // take the sanitizer seconds) must not stall the HTTP server or other fetches, and a
        // panic in a parser becomes this source's error instead of a dead task.
        let parsed = tokio::task::spawn_blocking(move || {
            parse_body(&body, content_type.as_deref(), &final_url, now)
        })
        .await
        .unwrap_or_else(|e| {
            Err(format!(
                "parsing the feed from {} failed unexpectedly: {e}",
                fetched.final_url
            ))
        });
        match parsed {
            Ok(feed) => Acquisition::Fetched(Fetched {
                status,
                validators: fetched.validators,
                moved_to: fetched.moved_to,
                floor: politeness::freshness_floor(now, feed.ttl_minutes, &fetched.cache),
                feed,
            }),
            Err(error) => Acquisition::Failed {
                status: Some(status),
                error,
                retry_after_until: None,
            },
        }
    }

    /// Store articles of any number of sources in the deterministic order; per-source counts.
    async fn ingest_ordered(
        &self,
        mut batch: Vec<(String, Article)>,
        now: DateTime<Utc>,
    ) -> HashMap<String, Counts> {
        let mut counts: HashMap<String, Counts> = HashMap::new();
        if batch.is_empty() {
            return counts;
        }
        let near = self.near_dup(&mut batch).await;
        batch.sort_by(|(sa, a), (sb, b)| {
            (a.published.unwrap_or(now), &a.entry_key, sa).cmp(&(
                b.published.unwrap_or(now),
                &b.entry_key,
                sb,
            ))
        });
        let mut changed = false;
        // Consecutive articles of one source share a transaction.
        let mut start = 0;
        while start < batch.len() {
            let source = batch[start].0.clone();
            let end = batch[start..]
                .iter()
                .position(|(s, _)| *s != source)
                .map_or(batch.len(), |n| start + n);
            let items: Vec<Incoming> = batch[start..end]
                .iter()
                .map(|(s, a)| Incoming {
                    topics: self.topics.topics_for(s, a),
                    article: a.clone(),
                })
                .collect();
            let entry = counts.entry(source.clone()).or_default();
            match self.store.ingest(&source, &items, near.as_ref(), now).await {
                Ok(stats) => {
                    telemetry::ingested(&source, &stats);
                    entry.seen += items.len();
                    entry.new += stats.new;
                    entry.updated += stats.updated;
                    changed |= !stats.changed_topics.is_empty();
                }
                Err(e) => {
                    tracing::error!(source = %source, error = %e, "failed to store articles");
                    entry.error = Some(e.to_string());
                }
            }
            start = end;
        }
        if changed {
            self.changed.notify_waiters();
        }
        counts
    }

    /// Fingerprints the articles within the `[dedup] window` that were stored without (by a
    /// version before layer 3, or with `near_duplicates = false`), so new articles can join
    /// their stories by text.
    async fn fingerprint_backlog(&self, now: DateTime<Utc>) -> Result<(), PipelineError> {
        let dedup = &self.config.dedup;
        if !dedup.near_duplicates {
            return Ok(());
        }
        let window = chrono::TimeDelta::from_std(dedup.window).unwrap_or(chrono::TimeDelta::MAX);
        let since = now
            .checked_sub_signed(window)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let lines = self.store.line_filter().await?;
        let mut done = 0usize;
        loop {
            let page = self.store.unfingerprinted(since, BACKFILL_PAGE).await?;
            if page.is_empty() {
                break;
            }
            let computed: Vec<_> = page
                .iter()
                .map(|u| {
                    let fp = crate::dedup::Fingerprints::of(&u.title, &u.body_html, &lines);
                    (u.article_id, fp, u.at)
                })
                .collect();
            self.store.set_fingerprints(&computed).await?;
            done += computed.len();
        }
        if done > 0 {
            tracing::info!(
                articles = done,
                "fingerprinted stored articles for near-duplicate dedup"
            );
        }
        Ok(())
    }

    /// Prepares a batch for the story layers: links canonicalized with the configured
    /// `[dedup] tracking_params`, each source's boilerplate learned from the document it
    /// just served, and (with near-duplicates on) the union of every source's boilerplate for
    /// fingerprinting. A store error here costs only layer 3 for this batch, never the batch.
    async fn near_dup(&self, batch: &mut [(String, Article)]) -> Option<NearDup> {
        let dedup = &self.config.dedup;
        if !dedup.tracking_params.is_empty() {
            for (_, a) in batch.iter_mut() {
                a.canonical_url = a
                    .url
                    .as_deref()
                    .and_then(|u| crate::dedup::canonical_url_with(u, &dedup.url_rules));
            }
        }
        if !dedup.near_duplicates {
            return None;
        }
        let mut by_source: BTreeMap<&str, Vec<&Article>> = BTreeMap::new();
        for (s, a) in batch.iter() {
            by_source.entry(s).or_default().push(a);
        }
        for (source, articles) in by_source {
            let Some(lines) = crate::dedup::learn_source_filter(&articles) else {
                continue;
            };
            if let Err(e) = self.store.set_source_boilerplate(source, &lines).await {
                tracing::warn!(source, error = %e, "failed to store the source's boilerplate");
            }
        }
        let lines = match self.store.line_filter().await {
            Ok(lines) => lines,
            Err(e) => {
                tracing::warn!(error = %e, "failed to read boilerplate; near-duplicates use none");
                Default::default()
            }
        };
        Some(NearDup {
            window: chrono::TimeDelta::from_std(dedup.window).unwrap_or(chrono::TimeDelta::MAX),
            rules: NearDupRules::default(),
            lines,
        })
    }

    async fn finish(&self, acquired: Acquired, counts: Counts, now: DateTime<Utc>) -> SourceReport {
        let elapsed_ms = acquired.elapsed_ms;
        let schedule = self
            .config
            .source(&acquired.source)
            .map(|s| self.config.schedule_of(s))
            .unwrap_or(&self.config.fetch.schedule);
        let scheduled = schedule.next_after(now);
        let period = schedule.nominal_period();
        let failures = acquired.failures_before.saturating_add(1);
        let after_failure = |retry_after_until| {
            politeness::after_failure(
                now,
                &acquired.source,
                failures,
                period,
                scheduled,
                retry_after_until,
            )
        };
        let mut record = FetchRecord {
            at: acquired.at,
            elapsed_ms,
            outcome: FetchResult::Ok,
            http_status: None,
            items_seen: counts.seen,
            items_new: counts.new,
            items_updated: counts.updated,
            validators: None,
            feed_title: None,
            site_url: None,
            next_fetch_at: None,
            next_fetch_reason: Reason::Schedule,
            moved_to: None,
            feed_ttl_minutes: None,
            retry_after_until: None,
        };
        // Anything else worth knowing about this fetch, carried on its one log line.
        let mut note: Option<String> = None;
        let (outcome, error, next) = match acquired.result {
            Acquisition::Skipped { reason, next } => {
                let reason = redact::text(&reason).into_owned();
                let report = SourceReport {
                    source: acquired.source,
                    outcome: Outcome::Skipped,
                    http_status: None,
                    elapsed_ms,
                    items_seen: 0,
                    items_new: 0,
                    items_updated: 0,
                    error: Some(reason),
                    consecutive_failures: acquired.failures_before,
                    next_attempt: next,
                };
                log_fetch(&report, report.error.as_deref());
                return report;
            }
            Acquisition::NotModified { moved_to, floor } => {
                record.outcome = FetchResult::NotModified;
                record.http_status = Some(304);
                record.moved_to = moved_to;
                (
                    Outcome::NotModified,
                    None,
                    politeness::after_success(now, scheduled, floor),
                )
            }
            Acquisition::Fetched(f) => {
                note = f.feed.recovery;
                record.http_status = Some(f.status);
                record.feed_title = f.feed.title;
                record.site_url = f.feed.site_url;
                if let Some(err) = counts.error.clone() {
                    // Nothing was stored: keep the old validators so the next fetch retries.
                    record.outcome = FetchResult::Error;
                    (Outcome::Failed, Some(err), after_failure(None))
                } else {
                    record.validators = Some(f.validators);
                    record.feed_ttl_minutes = f.feed.ttl_minutes;
                    record.moved_to = f.moved_to;
                    (
                        Outcome::Ok,
                        None,
                        politeness::after_success(now, scheduled, f.floor),
                    )
                }
            }
            Acquisition::Failed {
                status: Some(410),
                error,
                ..
            } => {
                record.outcome = FetchResult::Gone;
                record.http_status = Some(410);
                (
                    Outcome::Gone,
                    Some(format!(
                        "{error} (Gone): the source is disabled until its url changes in feeds.toml"
                    )),
                    NextAttempt::gone(),
                )
            }
            Acquisition::Failed {
                status,
                error,
                retry_after_until,
            } => {
                record.outcome = FetchResult::Error;
                record.http_status = status;
                record.retry_after_until = retry_after_until;
                (
                    Outcome::Failed,
                    Some(error),
                    after_failure(retry_after_until),
                )
            }
        };
        // Errors quote URLs, which may carry credentials: redacted before they are stored,
        // logged or printed.
        let error = error.map(|e| redact::text(&e).into_owned());
        record.next_fetch_at = next.at;
        record.next_fetch_reason = next.reason;
        if let Some(to) = record.moved_to.as_deref() {
            if to != acquired.url {
                let moved = format!(
                    "moved permanently (301/308) from {} to {}: fetched from the new URL from now on",
                    redact::url(&acquired.url),
                    redact::url(to)
                );
                note = Some(match note {
                    Some(n) => format!("{moved}; {n}"),
                    None => moved,
                });
            } else {
                record.moved_to = None;
            }
        }
        if let Err(e) = self
            .store
            .record_fetch(&acquired.source, &record, error.as_deref())
            .await
        {
            tracing::error!(source = %acquired.source, error = %e, "failed to record fetch outcome");
        }
        let report = SourceReport {
            source: acquired.source,
            outcome,
            http_status: record.http_status,
            elapsed_ms,
            items_seen: record.items_seen,
            items_new: record.items_new,
            items_updated: record.items_updated,
            error,
            consecutive_failures: if outcome.is_failure() { failures } else { 0 },
            next_attempt: next,
        };
        log_fetch(&report, note.as_deref());
        report
    }
}

/// The one INFO line every refresh logs (`source`, `status`: the HTTP status or else the
/// outcome, `items_new`, `items_updated`, `elapsed_ms`, when it is next due, and a `note`
/// when there is one), plus a WARN with the `error` for a failure: one line per fetch to
/// count and graph, and failures also visible at `-q`.
fn log_fetch(report: &SourceReport, note: Option<&str>) {
    let status = report
        .http_status
        .map(|s| s.to_string())
        .unwrap_or_else(|| report.outcome.as_str().to_owned());
    let next_at = report
        .next_attempt
        .at
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| "never".into());
    macro_rules! line {
        ($($note:tt)*) => {
            tracing::info!(
                source = %report.source,
                status = %status,
                outcome = %report.outcome.as_str(),
                items_new = report.items_new,
                items_updated = report.items_updated,
                elapsed_ms = report.elapsed_ms,
                next_attempt = %next_at,
                next_reason = %report.next_attempt.reason,
                $($note)*
                "fetch"
            )
        };
    }
    match note {
        Some(note) => line!(note = %note,),
        None => line!(),
    }
    if let Some(error) = report
        .error
        .as_deref()
        .filter(|_| report.outcome.is_failure())
    {
        tracing::warn!(
            source = %report.source,
            status = %status,
            outcome = %report.outcome.as_str(),
            elapsed_ms = report.elapsed_ms,
            consecutive_failures = report.consecutive_failures,
            next_attempt = %next_at,
            next_reason = %report.next_attempt.reason,
            error = %error,
            "fetch failed"
        );
    }
}

#[derive(Debug, Clone, Default)]
struct Counts {
    seen: usize,
    new: usize,
    updated: usize,
    error: Option<String>,
}
