//! Rendered feed bytes kept in memory, so a feed is rendered once per change and every poll is
//! served from memory (DESIGN §7).
//!
//! Each entry remembers the topic version it was rendered for. The store bumps a topic's
//! version when its content changes; a reader of the cache asks for the version it knows is
//! current and gets nothing back for an older rendering, so a stale feed is never served even
//! if nobody invalidated it.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
use chrono::{DateTime, SubsecRound, Utc};
use sha2::{Digest, Sha256};

use super::Format;

/// One rendered feed with the validators HTTP caching needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub body: Bytes,
    /// Strong entity tag, quoted: the first 128 bits of the body's SHA-256 in hex. A content
    /// hash (not a counter) so that replicas rendering the same content agree, and a re-render
    /// that changes nothing keeps readers' caches valid.
    pub etag: String,
    /// When the topic's content last changed, truncated to whole seconds because HTTP dates
    /// carry no fractions: an `If-Modified-Since` echoing it back must compare equal.
    pub last_modified: DateTime<Utc>,
    pub content_type: &'static str,
}

impl Rendered {
    pub fn new(body: Vec<u8>, format: Format, last_modified: DateTime<Utc>) -> Rendered {
        let digest = Sha256::digest(&body);
        let mut etag = String::with_capacity(34);
        etag.push('"');
        for byte in &digest[..16] {
            etag.push_str(&format!("{byte:02x}"));
        }
        etag.push('"');
        Rendered {
            body: Bytes::from(body),
            etag,
            last_modified: last_modified.trunc_subsecs(0),
            content_type: format.content_type(),
        }
    }
}

/// One cached rendering per format, indexed by `Format as usize`.
type Slots = [Option<(u64, Arc<Rendered>)>; Format::ALL.len()];

/// Rendered feeds by `(slug, format)`, each tagged with the topic version it was rendered for.
///
/// Reads vastly outnumber writes (every poll reads; only a content change writes), hence an
/// `RwLock`; the lock is held only to clone an `Arc`, never while rendering. Keyed by slug
/// with a slot per format so a lookup needs no allocation.
#[derive(Debug, Default)]
pub struct FeedCache {
    entries: RwLock<HashMap<String, Slots>>,
}

impl FeedCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The rendering of `slug` in `format` for exactly `version`, if cached.
    pub fn get(&self, slug: &str, format: Format, version: u64) -> Option<Arc<Rendered>> {
        // A poisoned lock only means another thread panicked while holding it; every write
        // below is a single map operation, so the map itself is consistent and still usable.
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        match &entries.get(slug)?[format as usize] {
            Some((cached, rendered)) if *cached == version => Some(Arc::clone(rendered)),
            _ => None,
        }
    }

    /// Store a rendering of `slug` for `version` and return it shared. A rendering for an
    /// older version than the one cached is returned to its caller but not stored: two
    /// renders racing must not let the older one win.
    pub fn insert(&self, slug: &str, format: Format, version: u64, r: Rendered) -> Arc<Rendered> {
        let rendered = Arc::new(r);
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let slot = &mut entries.entry(slug.to_owned()).or_default()[format as usize];
        if slot.as_ref().is_none_or(|(cached, _)| *cached <= version) {
            *slot = Some((version, Arc::clone(&rendered)));
        }
        rendered
    }

    /// Forget every format of `slug` (a topic removed or renamed).
    pub fn invalidate(&self, slug: &str) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(slug);
    }

    /// Forget everything (configuration reloaded).
    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0)
            .single()
            .expect("valid timestamp")
    }

    fn rendered(body: &str) -> Rendered {
        Rendered::new(body.as_bytes().to_vec(), Format::Atom, at(1_700_000_000))
    }

    #[test]
    fn rendered_etag_is_strong_content_hash_when_new() {
        let a = rendered("<feed/>");
        assert_eq!(a.etag, rendered("<feed/>").etag);
        assert_ne!(a.etag, rendered("<feed />").etag);
        assert_eq!(a.etag.len(), 34);
        assert!(a.etag.starts_with('"') && a.etag.ends_with('"'));
        assert!(!a.etag.starts_with("W/"));
        assert!(
            a.etag[1..33]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        // SHA-256("") starts with e3b0c442…
        assert_eq!(rendered("").etag, "\"e3b0c44298fc1c149afbf4c8996fb924\"");
        assert_eq!(a.content_type, "application/atom+xml; charset=utf-8");
    }

    #[test]
    fn rendered_last_modified_drops_fractions_when_given_nanos() {
        let t = at(1_700_000_000) + chrono::Duration::milliseconds(999);
        let r = Rendered::new(Vec::new(), Format::Rss, t);
        assert_eq!(r.last_modified, at(1_700_000_000));
    }

    #[test]
    fn cache_get_returns_entry_when_version_matches() {
        let cache = FeedCache::new();
        let stored = cache.insert("asia", Format::Rss, 3, rendered("x"));
        let got = cache.get("asia", Format::Rss, 3).expect("cached");
        assert!(Arc::ptr_eq(&stored, &got));
        assert!(cache.get("asia", Format::Rss, 4).is_none());
        assert!(cache.get("asia", Format::Rss, 2).is_none());
        assert!(cache.get("asia", Format::Atom, 3).is_none());
        assert!(cache.get("europe", Format::Rss, 3).is_none());
    }

    #[test]
    fn cache_insert_keeps_newer_when_older_arrives_late() {
        let cache = FeedCache::new();
        cache.insert("asia", Format::Json, 5, rendered("new"));
        let late = cache.insert("asia", Format::Json, 4, rendered("old"));
        assert_eq!(late.body, Bytes::from_static(b"old"));
        assert_eq!(
            cache.get("asia", Format::Json, 5).map(|r| r.body.clone()),
            Some(Bytes::from_static(b"new"))
        );
        assert!(cache.get("asia", Format::Json, 4).is_none());
        cache.insert("asia", Format::Json, 6, rendered("newer"));
        assert!(cache.get("asia", Format::Json, 6).is_some());
    }

    #[test]
    fn cache_invalidate_forgets_all_formats_when_slug_given() {
        let cache = FeedCache::new();
        for format in Format::ALL {
            cache.insert("asia", format, 1, rendered("a"));
            cache.insert("europe", format, 1, rendered("e"));
        }
        cache.invalidate("asia");
        for format in Format::ALL {
            assert!(cache.get("asia", format, 1).is_none());
            assert!(cache.get("europe", format, 1).is_some());
        }
        cache.clear();
        assert!(cache.get("europe", Format::Rss, 1).is_none());
    }

    #[test]
    fn cache_is_shareable_when_used_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<FeedCache>();
        let cache = Arc::new(FeedCache::new());
        let handles: Vec<_> = (0..4u64)
            .map(|v| {
                let cache = Arc::clone(&cache);
                std::thread::spawn(move || {
                    cache.insert("asia", Format::Rss, v, rendered("x"));
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
        assert!(cache.get("asia", Format::Rss, 3).is_some());
    }
}
