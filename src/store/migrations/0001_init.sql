-- feedmill store, version 1. Times are Unix milliseconds (UTC).

-- One row per configured source, kept when a source leaves feeds.toml (its articles stay
-- until retention removes them).
CREATE TABLE sources (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT NOT NULL UNIQUE,
    url                  TEXT NOT NULL,
    title                TEXT,
    site_url             TEXT,
    etag                 TEXT,
    last_modified        TEXT,
    last_fetch_at        INTEGER,
    last_outcome         TEXT,      -- ok | not_modified | error | gone
    last_http_status     INTEGER,
    last_error           TEXT,
    last_success_at      INTEGER,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    items_new            INTEGER NOT NULL DEFAULT 0,
    items_updated        INTEGER NOT NULL DEFAULT 0,
    next_fetch_at        INTEGER,   -- the next attempt; NULL when gone (or never fetched)
    next_fetch_reason    TEXT,      -- schedule | ttl | max-age | expires | backoff | retry-after | gone
    -- Where a 301/308 chain moved the feed: fetched instead of `url` until `url` changes.
    fetch_url            TEXT,
    -- The feed's <ttl> from its last parse, so the floor still holds after a 304.
    feed_ttl_minutes     INTEGER,
    -- A 429/503 Retry-After: not fetched before this, not even by `feedmill fetch`.
    retry_after_until    INTEGER,
    -- When the feed answered 410 Gone: disabled until `url` changes in feeds.toml.
    gone_at              INTEGER
);

-- The outcome of every fetch (the newest ones per source are kept).
CREATE TABLE fetches (
    id            INTEGER PRIMARY KEY,
    source_id     INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    at            INTEGER NOT NULL,
    elapsed_ms    INTEGER NOT NULL,
    outcome       TEXT NOT NULL,
    http_status   INTEGER,
    items_seen    INTEGER NOT NULL DEFAULT 0,
    items_new     INTEGER NOT NULL DEFAULT 0,
    items_updated INTEGER NOT NULL DEFAULT 0,
    error         TEXT
);
CREATE INDEX fetches_by_source ON fetches(source_id, id);

-- A story is a dedup cluster of articles. `key` is its founding article's key and `uuid` the
-- public entry id derived from it: neither ever changes.
CREATE TABLE stories (
    id         INTEGER PRIMARY KEY,
    key        TEXT NOT NULL UNIQUE,
    uuid       TEXT NOT NULL UNIQUE,
    first_seen INTEGER NOT NULL,
    published  INTEGER NOT NULL,
    updated    INTEGER NOT NULL
);
CREATE INDEX stories_by_published ON stories(published);

CREATE TABLE articles (
    id            INTEGER PRIMARY KEY,
    source_id     INTEGER NOT NULL REFERENCES sources(id),
    entry_key     TEXT NOT NULL,
    story_id      INTEGER NOT NULL REFERENCES stories(id),
    guid          TEXT,
    url           TEXT,
    canonical_url TEXT,
    title         TEXT NOT NULL,
    summary_html  TEXT,
    content_html  TEXT,
    summary_text  TEXT NOT NULL,
    content_text  TEXT NOT NULL,
    authors       TEXT NOT NULL,   -- JSON array of names
    categories    TEXT NOT NULL,   -- JSON array
    lang          TEXT,
    published     INTEGER,         -- as the feed said (clamped), NULL when it said nothing
    updated       INTEGER NOT NULL,
    first_seen    INTEGER NOT NULL,
    content_hash  TEXT NOT NULL,
    UNIQUE (source_id, entry_key)
);
CREATE INDEX articles_by_canonical_url ON articles(canonical_url);
CREATE INDEX articles_by_story ON articles(story_id);

-- Topics as last compiled; `version` grows whenever a topic's content changes, so every
-- process sharing the store can tell when to re-render.
-- A topic removed from the config keeps its row (with `removed_at`) but loses its
-- membership; if it comes back, it is re-evaluated over every stored article.
CREATE TABLE topics (
    slug       TEXT PRIMARY KEY,
    query      TEXT NOT NULL,
    version    INTEGER NOT NULL DEFAULT 0,
    changed_at INTEGER NOT NULL,
    removed_at INTEGER
);

-- Which articles match which topic. `excluded = 1` marks an article matching the topic's
-- `exclude` query. A story is in a topic when one of its articles matches and none is
-- excluded.
CREATE TABLE topic_articles (
    topic      TEXT NOT NULL,
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    excluded   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (topic, article_id)
) WITHOUT ROWID;
CREATE INDEX topic_articles_by_article ON topic_articles(article_id);

-- Keys of articles removed by retention, so a feed that still lists them does not bring
-- them back as new entries.
CREATE TABLE tombstones (
    source_id  INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    entry_key  TEXT NOT NULL,
    expired_at INTEGER NOT NULL,
    PRIMARY KEY (source_id, entry_key)
) WITHOUT ROWID;
