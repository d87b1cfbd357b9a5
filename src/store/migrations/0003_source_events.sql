-- Source health events, for the errors feed (/sources/errors.atom): one row when a source
-- starts failing (its failures in a row go from 0 to 1) and one when it recovers (the first
-- success after failures). Written in the same transaction as the fetch that caused them.
CREATE TABLE source_events (
    id          INTEGER PRIMARY KEY,
    source_id   INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,      -- failing | recovered
    at          INTEGER NOT NULL,   -- the fetch's time (Unix ms)
    outcome     TEXT NOT NULL,      -- the fetch's outcome: error | gone | ok | not_modified
    -- failing: this fetch's status and error; recovered: those of the last failure.
    http_status INTEGER,
    error       TEXT,
    -- recovered: how many fetches in a row had failed, and since when.
    failures    INTEGER NOT NULL DEFAULT 0,
    since       INTEGER
);
CREATE INDEX source_events_by_at ON source_events(at, id);
