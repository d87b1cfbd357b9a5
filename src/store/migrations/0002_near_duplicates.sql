-- feedmill store, version 2: near-duplicate stories (DESIGN §9, layer 3).

-- An article's near-duplicate fingerprints (`dedup::Fingerprints::to_bytes`): compared with a
-- new article's without re-reading either text. NULL when layer 3 was off when it was stored.
ALTER TABLE articles ADD COLUMN fingerprints BLOB;

-- The banded index of fingerprints (`dedup::band_keys`): a new article looks up the articles
-- sharing one of its keys, so a lookup costs the same with a thousand or a million articles.
-- `at` is the article's time (published, else first seen), for the `[dedup] window`.
CREATE TABLE story_bands (
    key        INTEGER NOT NULL,
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    PRIMARY KEY (key, article_id)
) WITHOUT ROWID;
CREATE INDEX story_bands_by_article ON story_bands(article_id);

-- What each source repeats under its items (footer lines, column headlines) as
-- `dedup::line_hash`es, learned from its latest long-enough feed document. Articles are
-- fingerprinted without the union of every source's lines.
CREATE TABLE boilerplate (
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    hash      INTEGER NOT NULL,
    PRIMARY KEY (source_id, hash)
) WITHOUT ROWID;

-- Stories merged into an older one (a new article matched both): the merged-away key and
-- entry id are never used again, and `into_story` is where its articles went.
CREATE TABLE merged_stories (
    key        TEXT PRIMARY KEY,
    uuid       TEXT NOT NULL,
    into_story INTEGER NOT NULL,
    merged_at  INTEGER NOT NULL
) WITHOUT ROWID;
