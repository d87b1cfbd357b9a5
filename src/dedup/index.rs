//! The banded index of fingerprints: near-duplicate candidates without a scan, pure.
//!
//! A lookup must cost the same with 1,000 or 1,000,000 stored articles, so candidates come
//! from exact-match keys ([`band_keys`]) that a hash map or an SQLite index answers in
//! O(1), never from comparing fingerprints one by one. Two kinds of key cover every rule of
//! [`is_near_duplicate`]:
//!
//! - **Text blocks.** The rule "text distance ≤ k" with k = [`MAX_INDEXED_DISTANCE`] = 3 is
//!   indexed by cutting the 64-bit SimHash into 5 blocks (13+13+13+13+12 bits) and keying on
//!   every *pair* of blocks (10 keys of 25–26 bits). Three differing bits touch at most three
//!   blocks, so two fingerprints within distance 3 agree on at least two blocks and share a
//!   pair key (the permuted-table scheme of Manku, Jain and Das Sarma, "Detecting
//!   near-duplicates for web crawling", WWW 2007). The textbook pigeonhole alternative — k+1 =
//!   4 blocks of 16 bits, one key each — also finds every pair, but an unrelated fingerprint
//!   matches a 16-bit key with probability 2⁻¹⁶, so a lookup among 1,000,000 stored articles
//!   verifies ~61 random candidates (4 × 10⁶ / 2¹⁶), growing linearly with the store; with
//!   25-bit keys it is ~0.2 (10 × 10⁶ / 2²⁵·⁶), i.e. constant up to tens of millions.
//! - **Title forms.** Every other rule needs matching titles, so each kept title form
//!   ([`Fingerprints::titles`]) is one key.
//!
//! Keys are `i64` so SQLite can index them: `slot << 40 | value`, `slot` 0–9 for block pairs
//! and 16–19 for title forms, `value` the 25–26 block bits or the low 40 bits of a title key.
//! A key is only a candidate filter: every candidate is confirmed by [`is_near_duplicate`].

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use chrono::{DateTime, TimeDelta, Utc};

use super::near::{Fingerprints, NearDupRules, TITLE_FORMS, is_near_duplicate};
use super::simhash::mix;

/// An index key (see the module documentation).
pub type BandKey = i64;

/// The largest text distance (without matching titles) the block keys are guaranteed to find;
/// `NearDupRules::max_text_distance` above it would silently miss pairs.
pub const MAX_INDEXED_DISTANCE: u32 = 3;

/// Blocks the SimHash is cut into: `MAX_INDEXED_DISTANCE + 2`, so two blocks stay clean.
const BLOCKS: usize = 5;

/// `(first bit, width)` of each block.
const BLOCK_BITS: [(u32, u32); BLOCKS] = [(0, 13), (13, 13), (26, 13), (39, 13), (52, 12)];

/// The pairs of blocks that are keyed: all C(5, 2) = 10.
const BLOCK_PAIRS: [(usize, usize); 10] = [
    (0, 1),
    (0, 2),
    (0, 3),
    (0, 4),
    (1, 2),
    (1, 3),
    (1, 4),
    (2, 3),
    (2, 4),
    (3, 4),
];

/// The slot of title keys.
const TITLE_SLOT: u64 = 16;

/// Bits of a key's value.
const VALUE_BITS: u32 = 40;

/// Most keys one article has: every block pair and every title form.
pub const BAND_COUNT: usize = BLOCK_PAIRS.len() + TITLE_FORMS;

fn key(slot: u64, value: u64) -> BandKey {
    // slot < 2^23, so the result is positive and fits an SQLite INTEGER.
    ((slot << VALUE_BITS) | (value & ((1 << VALUE_BITS) - 1))) as BandKey
}

fn block(fp: u64, b: usize) -> u64 {
    let (shift, width) = BLOCK_BITS[b];
    (fp >> shift) & ((1u64 << width) - 1)
}

/// The keys under which an article is stored and looked up: 10 block-pair keys of its text
/// fingerprint (when it has text) and one key per kept title form; at most [`BAND_COUNT`],
/// without duplicates. Two articles that [`is_near_duplicate`] can pair (with
/// `max_text_distance <= MAX_INDEXED_DISTANCE`) always share at least one key.
pub fn band_keys(fp: &Fingerprints) -> Vec<BandKey> {
    let (keys, n) = key_array(fp);
    keys[..n].to_vec()
}

/// [`band_keys`] without allocating: the keys and how many there are.
fn key_array(fp: &Fingerprints) -> ([BandKey; BAND_COUNT], usize) {
    let mut keys = [0; BAND_COUNT];
    let mut n = 0;
    if fp.text_words > 0 {
        for (slot, (a, b)) in BLOCK_PAIRS.iter().enumerate() {
            let (_, width_b) = BLOCK_BITS[*b];
            let value = block(fp.text, *a) << width_b | block(fp.text, *b);
            keys[n] = key(slot as u64, value);
            n += 1;
        }
    }
    // One slot for every form: a whole title must meet the other's stripped form.
    for t in fp.titles {
        let k = key(TITLE_SLOT, t);
        if t != 0 && !keys[..n].contains(&k) {
            keys[n] = k;
            n += 1;
        }
    }
    (keys, n)
}

/// A hasher for keys that are already hashes: one `fmix64`, no per-process seed.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        mix(self.0)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_i64(&mut self, n: i64) {
        self.0 ^= n as u64;
    }
}

/// Key → the newest posting under it.
type Heads = HashMap<BandKey, u32, BuildHasherDefault<KeyHasher>>;

/// No further posting.
const END: u32 = u32::MAX;

/// One entry under one key, chained to the previous posting of the same key: a bucket costs
/// 8 bytes per entry and no allocation of its own (a `Vec` per key would cost ~40).
#[derive(Clone, Copy)]
struct Posting {
    entry: u32,
    next: u32,
}

struct Entry<T> {
    id: T,
    fp: Fingerprints,
    at: DateTime<Utc>,
}

/// An in-memory index of fingerprints with a time window: what the store does with an SQLite
/// table, for tests, benchmarks and batch work. Entries are found in insertion order.
pub struct NearDupIndex<T> {
    rules: NearDupRules,
    window: TimeDelta,
    entries: Vec<Entry<T>>,
    heads: Heads,
    postings: Vec<Posting>,
}

impl<T> NearDupIndex<T> {
    /// An empty index deciding with `rules`; two articles pair only when their times are at
    /// most `window` apart.
    pub fn new(rules: NearDupRules, window: TimeDelta) -> Self {
        NearDupIndex {
            rules,
            window,
            entries: Vec::new(),
            heads: Heads::default(),
            postings: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Stores an article's fingerprints under `id`, at its time (published, else first seen).
    pub fn insert(&mut self, id: T, fp: Fingerprints, at: DateTime<Utc>) {
        let (keys, count) = key_array(&fp);
        let (Ok(n), Ok(_)) = (
            u32::try_from(self.entries.len()),
            u32::try_from(self.postings.len() + count),
        ) else {
            // Four billion postings: beyond any window; refuse rather than wrap.
            return;
        };
        for k in &keys[..count] {
            let k = *k;
            // Fits: checked above that every new posting index is below u32::MAX.
            let posting = self.postings.len() as u32;
            let next = self.heads.insert(k, posting).unwrap_or(END);
            self.postings.push(Posting { entry: n, next });
        }
        self.entries.push(Entry { id, fp, at });
    }

    /// The stored articles that are near-duplicates of `fp` at time `at`, oldest insertion
    /// first. Cost: one map probe per key plus the (few) candidates sharing a key.
    pub fn find(&self, fp: &Fingerprints, at: DateTime<Utc>) -> Vec<&T> {
        let mut candidates: Vec<u32> = Vec::new();
        let (keys, count) = key_array(fp);
        for k in &keys[..count] {
            let mut p = self.heads.get(k).copied().unwrap_or(END);
            while let Some(posting) = self.postings.get(p as usize) {
                candidates.push(posting.entry);
                p = posting.next;
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates
            .into_iter()
            .map(|i| &self.entries[i as usize])
            .filter(|e| (e.at - at).abs() <= self.window)
            .filter(|e| is_near_duplicate(fp, &e.fp, &self.rules))
            .map(|e| &e.id)
            .collect()
    }

    /// Drops the entries older than `before` (outside every future window), keeping the
    /// insertion order of the rest. Returns how many were dropped.
    pub fn prune(&mut self, before: DateTime<Utc>) -> usize {
        let old = std::mem::take(&mut self.entries);
        let total = old.len();
        self.heads.clear();
        self.postings.clear();
        for e in old.into_iter().filter(|e| e.at >= before) {
            self.insert(e.id, e.fp, e.at);
        }
        total - self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::{LineFilter, hamming};
    use chrono::TimeZone;

    /// xorshift64*: deterministic bits for the exhaustive-ish checks.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn text_fp(text: u64) -> Fingerprints {
        Fingerprints {
            text,
            text_words: 100,
            body_words: 100,
            ..Fingerprints::default()
        }
    }

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, d, 12, 0, 0).unwrap()
    }

    #[test]
    fn band_keys_are_distinct_and_positive_when_article_has_text_and_titles() {
        let fp = Fingerprints::of(
            "China, Kyrgyzstan Ties Warm - The Diplomat",
            "<p>Senior officials from China and Kyrgyzstan meet to discuss terrorism.</p>",
            &LineFilter::default(),
        );
        let keys = band_keys(&fp);
        assert_eq!(keys.len(), BLOCK_PAIRS.len() + 2);
        assert!(keys.len() <= BAND_COUNT);
        assert!(keys.iter().all(|k| *k > 0));
        let mut unique = keys.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), keys.len());
        assert!(band_keys(&Fingerprints::default()).is_empty());
    }

    #[test]
    fn band_keys_share_a_key_when_fingerprints_differ_in_at_most_three_bits() {
        let mut state = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let a = next(&mut state);
            let mut b = a;
            for _ in 0..(next(&mut state) % 4) {
                b ^= 1 << (next(&mut state) % 64);
            }
            assert!(hamming(a, b) <= MAX_INDEXED_DISTANCE);
            let (ka, kb) = (band_keys(&text_fp(a)), band_keys(&text_fp(b)));
            assert!(ka.iter().any(|k| kb.contains(k)), "{a:#x} {b:#x}");
        }
    }

    #[test]
    fn band_keys_rarely_collide_when_fingerprints_are_unrelated() {
        let mut state = 7;
        let mut shared = 0;
        for _ in 0..20_000 {
            let (ka, kb) = (
                band_keys(&text_fp(next(&mut state))),
                band_keys(&text_fp(next(&mut state))),
            );
            shared += usize::from(ka.iter().any(|k| kb.contains(k)));
        }
        // Expected 20,000 × 10 / 2^25.6 ≈ 0.004.
        assert_eq!(shared, 0);
    }

    #[test]
    fn find_returns_near_duplicates_when_inside_the_window() {
        let mut index = NearDupIndex::new(NearDupRules::default(), TimeDelta::days(3));
        let a = 0x0123_4567_89ab_cdef;
        index.insert("first", text_fp(a), day(1));
        index.insert("far", text_fp(!a), day(1));
        index.insert("second", text_fp(a ^ 0b111), day(2));
        index.insert("four bits", text_fp(a ^ 0b1111 << 20), day(2));
        assert_eq!(index.find(&text_fp(a ^ 1), day(3)), [&"first", &"second"]);
        // Outside the window on either side.
        assert_eq!(index.find(&text_fp(a), day(5)), [&"second"]);
        assert!(index.find(&text_fp(a), day(9)).is_empty());
        assert_eq!(index.len(), 4);
    }

    #[test]
    fn find_uses_title_keys_when_texts_are_far_apart() {
        let mut index = NearDupIndex::new(NearDupRules::default(), TimeDelta::days(3));
        let story = Fingerprints::of(
            "China, Kyrgyzstan Ties Warm",
            "<p>Senior officials from China and Kyrgyzstan met in Beijing to discuss how the two countries could work more closely together in combating regional terrorism after a violent summer.</p>",
            &LineFilter::default(),
        );
        index.insert(1, story, day(1));
        let aggregator = Fingerprints::of(
            "China, Kyrgyzstan Ties Warm - The Diplomat",
            "<a>China, Kyrgyzstan Ties Warm</a> The Diplomat",
            &LineFilter::default(),
        );
        assert!(hamming(story.text, aggregator.text) > MAX_INDEXED_DISTANCE);
        assert_eq!(index.find(&aggregator, day(2)), [&1]);
    }

    #[test]
    fn prune_drops_entries_when_older_than_the_cutoff() {
        let mut index = NearDupIndex::new(NearDupRules::default(), TimeDelta::days(30));
        index.insert(1, text_fp(5), day(1));
        index.insert(2, text_fp(5), day(10));
        assert_eq!(index.prune(day(5)), 1);
        assert_eq!(index.len(), 1);
        assert_eq!(index.find(&text_fp(5), day(10)), [&2]);
    }
}
