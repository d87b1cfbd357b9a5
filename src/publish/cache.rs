//! Rendered feed bytes kept in memory, so a feed is rendered and compressed once per change
//! and every poll is served from memory (DESIGN §7).
//!
//! Each entry remembers the topic version it was rendered for. The store bumps a topic's
//! version when its content changes; a reader of the cache asks for the version it knows is
//! current and gets nothing back for an older rendering, so a stale feed is never served even
//! if nobody invalidated it.
//!
//! The same feed differs by the public base URL it is served under (its self and paging links
//! name it): behind a reverse proxy with `trust_proxy`, one server may answer under several
//! names. Entries are therefore kept per base URL, for at most [`MAX_BASES`] of them, the
//! least recently used one forgotten first, so a client inventing host names cannot make the
//! cache grow.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
use chrono::{DateTime, SubsecRound, Utc};
use sha2::{Digest, Sha256};

use super::Format;

/// Base URLs whose renderings are kept. The configured `base_url` plus a few public names a
/// reverse proxy may forward (`example.org`, `www.example.org`, an onion address…).
pub const MAX_BASES: usize = 4;

/// Archive pages (`?page=N`) kept per base URL, over all topics and formats. Readers fetch
/// them rarely (when catching up), so a few dozen cover that, and a crawler walking every
/// page of every topic cannot hold the whole store in memory.
pub const MAX_ARCHIVE_PAGES: usize = 48;

/// Brotli quality for feeds up to [`BROTLI_BEST_UP_TO`]: the highest. Measured on a 58 KB
/// Atom feed (release build, shared 2-core machine): quality 11 gives 9,710 bytes in 97 ms,
/// 10 gives 9,863 in 62 ms, 9 gives 11,015 in 25 ms and 5 gives 11,065 in 3 ms (gzip -9:
/// 11,723 in 1 ms). The cost is paid once per change; every reader then gets the smallest body.
const BROTLI_QUALITY: u32 = 11;
/// Larger feeds (a topic with a large `limit`) get [`BROTLI_QUALITY_LARGE`], so a render
/// never takes seconds: quality 11 costs about 1.7 ms per KB, quality 5 about 0.06.
const BROTLI_BEST_UP_TO: usize = 128 * 1024;
const BROTLI_QUALITY_LARGE: u32 = 5;
/// Brotli window (log2 of bytes): 4 MiB, more than any feed, so the whole body is one window.
const BROTLI_WINDOW: u32 = 22;

/// A content coding a feed is stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Identity,
    Gzip,
    Brotli,
}

impl Encoding {
    /// The `Content-Encoding` value, `None` for identity (no header).
    pub fn header_value(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip => Some("gzip"),
            Encoding::Brotli => Some("br"),
        }
    }
}

/// One stored coding of a rendered feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub bytes: Bytes,
    /// Strong entity tag of exactly these bytes, quoted.
    pub etag: String,
}

/// One rendered feed, in every coding it is served in, with the validators HTTP caching needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub body: Bytes,
    /// Strong entity tag of `body`, quoted: the first 128 bits of its SHA-256 in hex. A
    /// content hash (not a counter) so that replicas rendering the same content agree, and a
    /// re-render that changes nothing keeps readers' caches valid.
    pub etag: String,
    /// `body` gzip-compressed, when that is smaller. Its entity tag is `etag` with `-gzip`
    /// appended inside the quotes: a strong tag names exact bytes (RFC 9110 §8.8.3), and the
    /// compressed bytes are another representation.
    pub gzip: Option<Encoded>,
    /// `body` brotli-compressed, when that is smaller; entity tag suffix `-br`.
    pub br: Option<Encoded>,
    /// When the topic's content last changed, truncated to whole seconds because HTTP dates
    /// carry no fractions: an `If-Modified-Since` echoing it back must compare equal.
    pub last_modified: DateTime<Utc>,
    /// `last_modified` as an HTTP date (`Last-Modified`), formatted once here rather than on
    /// every poll.
    pub last_modified_http: String,
    pub content_type: &'static str,
}

impl Rendered {
    /// Hash `body` without compressing it: for small documents rendered per request (the
    /// errors feed), where compressing every time would cost more than it saves.
    pub fn uncompressed(body: Vec<u8>, format: Format, last_modified: DateTime<Utc>) -> Rendered {
        let digest = Sha256::digest(&body);
        let mut hex = String::with_capacity(34);
        hex.push('"');
        for byte in &digest[..16] {
            hex.push_str(&format!("{byte:02x}"));
        }
        hex.push('"');
        let last_modified = last_modified.trunc_subsecs(0);
        Rendered {
            etag: hex,
            body: Bytes::from(body),
            gzip: None,
            br: None,
            last_modified,
            last_modified_http: httpdate::fmt_http_date(last_modified.into()),
            content_type: format.content_type(),
        }
    }

    /// Hash and compress `body`: the only time this feed's bytes are worked on.
    pub fn new(body: Vec<u8>, format: Format, last_modified: DateTime<Utc>) -> Rendered {
        let mut rendered = Rendered::uncompressed(body, format, last_modified);
        let hex = rendered.etag.trim_matches('"').to_owned();
        let body = &rendered.body;
        let smaller = |packed: Option<Vec<u8>>, suffix: &str| {
            packed.filter(|p| p.len() < body.len()).map(|p| Encoded {
                bytes: Bytes::from(p),
                etag: format!("\"{hex}-{suffix}\""),
            })
        };
        let gzip = smaller(gzip(body), "gzip");
        let br = smaller(brotli(body), "br");
        rendered.gzip = gzip;
        rendered.br = br;
        rendered
    }

    /// The bytes and entity tag to send for a client that takes `encoding`; identity when
    /// that coding is not stored (it was no smaller).
    pub fn encoded(&self, encoding: Encoding) -> (Encoding, &Bytes, &str) {
        let stored = match encoding {
            Encoding::Identity => None,
            Encoding::Gzip => self.gzip.as_ref(),
            Encoding::Brotli => self.br.as_ref(),
        };
        match stored {
            Some(e) => (encoding, &e.bytes, &e.etag),
            None => (Encoding::Identity, &self.body, &self.etag),
        }
    }

    /// Whether `etag` (quoted, without `W/`) names any coding of this rendering: all of them
    /// stand for the same content, so a client holding any one is up to date.
    pub fn is_current(&self, etag: &str) -> bool {
        etag == self.etag
            || self.gzip.as_ref().is_some_and(|e| e.etag == etag)
            || self.br.as_ref().is_some_and(|e| e.etag == etag)
    }
}

/// Gzip at the best level. Writing into a `Vec` cannot fail; `None` keeps this honest anyway.
fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::best(),
    );
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}

fn brotli(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() / 4);
    {
        let quality = if body.len() <= BROTLI_BEST_UP_TO {
            BROTLI_QUALITY
        } else {
            BROTLI_QUALITY_LARGE
        };
        let mut writer = brotli::CompressorWriter::new(&mut out, 16 * 1024, quality, BROTLI_WINDOW);
        writer.write_all(body).ok()?;
        writer.flush().ok()?;
    }
    Some(out)
}

/// Which rendering: a page of a topic feed in a format, under a public base URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FeedKey<'a> {
    /// The public base URL without a trailing slash.
    pub base: &'a str,
    pub slug: &'a str,
    pub format: Format,
    /// 1 for the current feed.
    pub page: u32,
}

/// One cached rendering per format, indexed by `Format as usize`.
type Slots = [Option<(u64, Arc<Rendered>)>; Format::ALL.len()];

/// A cached archive page.
#[derive(Debug)]
struct ArchiveSlot {
    slug: String,
    format: Format,
    page: u32,
    version: u64,
    rendered: Arc<Rendered>,
    used: AtomicU64,
}

/// Everything cached for one base URL.
#[derive(Debug)]
struct BaseCache {
    base: String,
    used: AtomicU64,
    /// Current feeds by slug: one slot per format, so a lookup needs no allocation.
    current: std::collections::HashMap<String, Slots>,
    /// At most [`MAX_ARCHIVE_PAGES`]; a linear scan over so few is cheaper than hashing.
    archive: Vec<ArchiveSlot>,
}

/// Rendered feeds by [`FeedKey`], each tagged with the topic version it was rendered for.
///
/// Reads vastly outnumber writes (every poll reads; only a content change writes), hence an
/// `RwLock`; the lock is held only to clone an `Arc` (and stamp the entry as used, an atomic),
/// never while rendering.
#[derive(Debug, Default)]
pub struct FeedCache {
    bases: RwLock<Vec<BaseCache>>,
    /// A logical clock for least-recently-used eviction.
    clock: AtomicU64,
}

impl FeedCache {
    pub fn new() -> Self {
        Self::default()
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    /// The rendering for `key` at exactly `version`, if cached.
    pub fn get(&self, key: FeedKey<'_>, version: u64) -> Option<Arc<Rendered>> {
        // A poisoned lock only means another thread panicked while holding it; every write
        // below leaves the vector consistent, so it is still usable.
        let bases = self.bases.read().unwrap_or_else(PoisonError::into_inner);
        let base = bases.iter().find(|b| b.base == key.base)?;
        let now = self.tick();
        base.used.store(now, Ordering::Relaxed);
        if key.page <= 1 {
            return match &base.current.get(key.slug)?[key.format as usize] {
                Some((cached, rendered)) if *cached == version => Some(Arc::clone(rendered)),
                _ => None,
            };
        }
        let slot = base.archive.iter().find(|s| {
            s.page == key.page
                && s.format == key.format
                && s.version == version
                && s.slug == key.slug
        })?;
        slot.used.store(now, Ordering::Relaxed);
        Some(Arc::clone(&slot.rendered))
    }

    /// Store a rendering for `key` at `version` and return it shared. A rendering for an
    /// older version than the one cached is returned to its caller but not stored: two
    /// renders racing must not let the older one win.
    pub fn insert(&self, key: FeedKey<'_>, version: u64, r: Rendered) -> Arc<Rendered> {
        let rendered = Arc::new(r);
        let now = self.tick();
        let mut bases = self.bases.write().unwrap_or_else(PoisonError::into_inner);
        let index = match bases.iter().position(|b| b.base == key.base) {
            Some(i) => i,
            None => {
                if bases.len() >= MAX_BASES
                    && let Some(oldest) = least_recent(bases.iter().map(|b| &b.used))
                {
                    bases.swap_remove(oldest);
                }
                bases.push(BaseCache {
                    base: key.base.to_owned(),
                    used: AtomicU64::new(now),
                    current: Default::default(),
                    archive: Vec::new(),
                });
                bases.len() - 1
            }
        };
        let base = &mut bases[index];
        *base.used.get_mut() = now;
        if key.page <= 1 {
            let slot =
                &mut base.current.entry(key.slug.to_owned()).or_default()[key.format as usize];
            if slot.as_ref().is_none_or(|(cached, _)| *cached <= version) {
                *slot = Some((version, Arc::clone(&rendered)));
            }
            return rendered;
        }
        let same =
            |s: &ArchiveSlot| s.page == key.page && s.format == key.format && s.slug == key.slug;
        match base.archive.iter_mut().find(|s| same(s)) {
            Some(slot) if slot.version > version => {}
            Some(slot) => {
                slot.version = version;
                slot.rendered = Arc::clone(&rendered);
                *slot.used.get_mut() = now;
            }
            None => {
                if base.archive.len() >= MAX_ARCHIVE_PAGES
                    && let Some(oldest) = least_recent(base.archive.iter().map(|s| &s.used))
                {
                    base.archive.swap_remove(oldest);
                }
                base.archive.push(ArchiveSlot {
                    slug: key.slug.to_owned(),
                    format: key.format,
                    page: key.page,
                    version,
                    rendered: Arc::clone(&rendered),
                    used: AtomicU64::new(now),
                });
            }
        }
        rendered
    }

    /// Forget every rendering of `slug`, under every base URL (a topic removed or renamed).
    pub fn invalidate(&self, slug: &str) {
        let mut bases = self.bases.write().unwrap_or_else(PoisonError::into_inner);
        for base in bases.iter_mut() {
            base.current.remove(slug);
            base.archive.retain(|s| s.slug != slug);
        }
    }

    /// Forget everything (configuration reloaded).
    pub fn clear(&self) {
        self.bases
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// How many base URLs have renderings cached.
    pub fn bases(&self) -> usize {
        self.bases
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// The index of the smallest stamp.
fn least_recent<'a>(stamps: impl Iterator<Item = &'a AtomicU64>) -> Option<usize> {
    stamps
        .enumerate()
        .min_by_key(|(_, used)| used.load(Ordering::Relaxed))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::io::Read;

    const BASE: &str = "http://h";

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0)
            .single()
            .expect("valid timestamp")
    }

    fn rendered(body: &str) -> Rendered {
        Rendered::new(body.as_bytes().to_vec(), Format::Atom, at(1_700_000_000))
    }

    fn key<'a>(slug: &'a str, format: Format) -> FeedKey<'a> {
        FeedKey {
            base: BASE,
            slug,
            format,
            page: 1,
        }
    }

    fn page<'a>(slug: &'a str, format: Format, page: u32) -> FeedKey<'a> {
        FeedKey {
            page,
            ..key(slug, format)
        }
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
        assert_eq!(r.last_modified_http, "Tue, 14 Nov 2023 22:13:20 GMT");
    }

    #[test]
    fn rendered_stores_compressed_codings_that_decode_to_body_when_body_is_large() {
        let body = "<entry><title>Kyrgyz border talks</title></entry>\n".repeat(200);
        let r = rendered(&body);
        let gz = r.gzip.as_ref().expect("gzip stored");
        let br = r.br.as_ref().expect("br stored");
        assert!(gz.bytes.len() < body.len() / 10 && br.bytes.len() <= gz.bytes.len());
        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(&gz.bytes[..])
            .read_to_string(&mut unzipped)
            .expect("gunzip");
        assert_eq!(unzipped, body);
        let mut unbrotlied = String::new();
        brotli::Decompressor::new(&br.bytes[..], 4096)
            .read_to_string(&mut unbrotlied)
            .expect("unbrotli");
        assert_eq!(unbrotlied, body);
        // Each coding has its own strong tag, derived from the content's.
        let hash = r.etag.trim_matches('"');
        assert_eq!(gz.etag, format!("\"{hash}-gzip\""));
        assert_eq!(br.etag, format!("\"{hash}-br\""));
        assert!(r.is_current(&r.etag) && r.is_current(&gz.etag) && r.is_current(&br.etag));
        assert!(!r.is_current("\"other\""));
        let (enc, bytes, etag) = r.encoded(Encoding::Brotli);
        assert_eq!(
            (enc, bytes, etag),
            (Encoding::Brotli, &br.bytes, br.etag.as_str())
        );
    }

    #[test]
    fn rendered_serves_identity_when_compression_would_not_shrink() {
        let r = rendered("x");
        assert!(r.gzip.is_none() && r.br.is_none());
        let (enc, bytes, etag) = r.encoded(Encoding::Gzip);
        assert_eq!(enc, Encoding::Identity);
        assert_eq!(bytes, &Bytes::from_static(b"x"));
        assert_eq!(etag, r.etag);
    }

    #[test]
    fn cache_get_returns_entry_when_version_matches() {
        let cache = FeedCache::new();
        let stored = cache.insert(key("asia", Format::Rss), 3, rendered("x"));
        let got = cache.get(key("asia", Format::Rss), 3).expect("cached");
        assert!(Arc::ptr_eq(&stored, &got));
        assert!(cache.get(key("asia", Format::Rss), 4).is_none());
        assert!(cache.get(key("asia", Format::Rss), 2).is_none());
        assert!(cache.get(key("asia", Format::Atom), 3).is_none());
        assert!(cache.get(key("europe", Format::Rss), 3).is_none());
        assert!(cache.get(page("asia", Format::Rss, 2), 3).is_none());
        let other_base = FeedKey {
            base: "https://public.example",
            ..key("asia", Format::Rss)
        };
        assert!(cache.get(other_base, 3).is_none());
    }

    #[test]
    fn cache_insert_keeps_newer_when_older_arrives_late() {
        let cache = FeedCache::new();
        for k in [key("asia", Format::Json), page("asia", Format::Json, 2)] {
            cache.insert(k, 5, rendered("new"));
            let late = cache.insert(k, 4, rendered("old"));
            assert_eq!(late.body, Bytes::from_static(b"old"));
            assert_eq!(
                cache.get(k, 5).map(|r| r.body.clone()),
                Some(Bytes::from_static(b"new"))
            );
            assert!(cache.get(k, 4).is_none());
            cache.insert(k, 6, rendered("newer"));
            assert!(cache.get(k, 6).is_some());
            assert!(cache.get(k, 5).is_none());
        }
    }

    #[test]
    fn cache_forgets_least_recently_used_base_when_too_many_bases() {
        let cache = FeedCache::new();
        let names: Vec<String> = (0..=MAX_BASES).map(|i| format!("https://h{i}")).collect();
        let at_base = |i: usize| FeedKey {
            base: &names[i],
            ..key("asia", Format::Atom)
        };
        for i in 0..MAX_BASES {
            cache.insert(at_base(i), 1, rendered("a"));
        }
        // Base 0 is in use; base 1 is now the least recently used.
        assert!(cache.get(at_base(0), 1).is_some());
        cache.insert(at_base(MAX_BASES), 1, rendered("a"));
        assert_eq!(cache.bases(), MAX_BASES);
        assert!(cache.get(at_base(0), 1).is_some());
        assert!(cache.get(at_base(1), 1).is_none());
        assert!(cache.get(at_base(MAX_BASES), 1).is_some());
    }

    #[test]
    fn cache_bounds_archive_pages_when_a_client_walks_every_page() {
        let cache = FeedCache::new();
        cache.insert(key("asia", Format::Atom), 1, rendered("current"));
        for n in 2..(MAX_ARCHIVE_PAGES as u32 + 12) {
            cache.insert(page("asia", Format::Atom, n), 1, rendered("old"));
        }
        let kept = (2..(MAX_ARCHIVE_PAGES as u32 + 12))
            .filter(|n| cache.get(page("asia", Format::Atom, *n), 1).is_some())
            .count();
        assert_eq!(kept, MAX_ARCHIVE_PAGES);
        // The newest pages stay; the current feed is never pushed out by archive pages.
        assert!(
            cache
                .get(page("asia", Format::Atom, MAX_ARCHIVE_PAGES as u32 + 11), 1)
                .is_some()
        );
        assert!(cache.get(page("asia", Format::Atom, 2), 1).is_none());
        assert!(cache.get(key("asia", Format::Atom), 1).is_some());
    }

    #[test]
    fn cache_invalidate_forgets_all_formats_when_slug_given() {
        let cache = FeedCache::new();
        for format in Format::ALL {
            cache.insert(key("asia", format), 1, rendered("a"));
            cache.insert(page("asia", format, 2), 1, rendered("a"));
            cache.insert(key("europe", format), 1, rendered("e"));
        }
        cache.invalidate("asia");
        for format in Format::ALL {
            assert!(cache.get(key("asia", format), 1).is_none());
            assert!(cache.get(page("asia", format, 2), 1).is_none());
            assert!(cache.get(key("europe", format), 1).is_some());
        }
        cache.clear();
        assert!(cache.get(key("europe", Format::Rss), 1).is_none());
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
                    cache.insert(key("asia", Format::Rss), v, rendered("x"));
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
        assert!(cache.get(key("asia", Format::Rss), 3).is_some());
    }
}
