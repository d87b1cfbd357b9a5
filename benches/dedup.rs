//! Lookup cost of the near-duplicate index at 10,000 vs 1,000,000 stored fingerprints
//! (issue 4): the ratio is the figure, and it should stay near 1.
//!
//! Run: `cargo bench --bench dedup -- --warm-up-time 1 --measurement-time 3`.
//!
//! Measured once on the shared 2-core development machine (load 1–2, so ±30%), per lookup:
//!
//! | index                         | 10,000 stored | 1,000,000 stored | ratio |
//! |-------------------------------|---------------|------------------|-------|
//! | block pairs, new article      | 96 ns         | 362 ns           | 3.8   |
//! | block pairs, a copy (1 found) | 333 ns        | 1.30 µs          | 3.9   |
//! | 4 × 16-bit pigeonhole, new    | 30 ns         | 2.41 µs          | 80    |
//!
//! The work per lookup is the same at both sizes (12 map probes, ~0.2 random candidates at
//! 1 M); what grows is where the probes land: the 1 M index (~300 MB) is in DRAM, the 10 k
//! one in cache. The pigeonhole index verifies ~61 random candidates per lookup at 1 M.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::hint::black_box;

use chrono::{TimeDelta, TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use feedmill::dedup::{Fingerprints, NearDupIndex, NearDupRules};

/// xorshift64*: the same fingerprints on every run.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// A stored article as the index sees it: random SimHashes (unrelated texts), two title forms
/// ("Headline - Outlet" and "Headline").
fn random_fp(state: &mut u64) -> Fingerprints {
    Fingerprints {
        text: next(state),
        lead: next(state),
        titles: [next(state), next(state), 0, 0],
        title_lens: [9, 7, 0, 0],
        text_words: 400,
        body_words: 390,
    }
}

fn lookups(c: &mut Criterion) {
    let at = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let mut group = c.benchmark_group("near_dup_lookup");
    for stored in [10_000usize, 1_000_000] {
        let mut state = 0x5eed;
        let mut index = NearDupIndex::new(NearDupRules::default(), TimeDelta::days(3));
        let mut kept = Vec::new();
        for i in 0..stored {
            let fp = random_fp(&mut state);
            if i % (stored / 1000) == 0 {
                kept.push(fp);
            }
            index.insert(i, fp, at);
        }
        // A new article with no duplicate: the common case.
        let misses: Vec<Fingerprints> = (0..1000).map(|_| random_fp(&mut state)).collect();
        // A copy of a stored article, 2 bits away, its title with a different outlet suffix.
        let hits: Vec<Fingerprints> = kept
            .iter()
            .map(|fp| Fingerprints {
                text: fp.text ^ 0b101 << 30,
                titles: [next(&mut state), fp.titles[1], 0, 0],
                ..*fp
            })
            .collect();
        let mut i = 0;
        group.bench_with_input(BenchmarkId::new("miss", stored), &stored, |b, _| {
            b.iter(|| {
                i = (i + 1) % misses.len();
                black_box(index.find(black_box(&misses[i]), at).len())
            })
        });
        let mut j = 0;
        group.bench_with_input(BenchmarkId::new("hit", stored), &stored, |b, _| {
            b.iter(|| {
                j = (j + 1) % hits.len();
                let found = index.find(black_box(&hits[j]), at);
                assert_eq!(found.len(), 1);
                black_box(found.len())
            })
        });
    }
    group.finish();
}

/// The textbook alternative, for comparison: k + 1 = 4 blocks of 16 bits, one key each.
/// Finds the same pairs, but every lookup verifies N × 4 / 2^16 random candidates.
#[derive(Default)]
struct Pigeonhole {
    buckets: HashMap<u64, Vec<u32>, BuildHasherDefault<MulHasher>>,
    fps: Vec<u64>,
}

#[derive(Default)]
struct MulHasher(u64);

impl Hasher for MulHasher {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

impl Pigeonhole {
    fn keys(fp: u64) -> [u64; 4] {
        [0, 1, 2, 3].map(|b| b << 16 | (fp >> (16 * b) & 0xffff))
    }
    fn insert(&mut self, fp: u64) {
        let n = self.fps.len() as u32;
        for k in Self::keys(fp) {
            self.buckets.entry(k).or_default().push(n);
        }
        self.fps.push(fp);
    }
    fn find(&self, fp: u64) -> usize {
        Self::keys(fp)
            .iter()
            .filter_map(|k| self.buckets.get(k))
            .flatten()
            .filter(|i| (self.fps[**i as usize] ^ fp).count_ones() <= 3)
            .count()
    }
}

fn pigeonhole_baseline(c: &mut Criterion) {
    let mut group = c.benchmark_group("pigeonhole_baseline_lookup");
    for stored in [10_000usize, 1_000_000] {
        let mut state = 0x5eed;
        let mut index = Pigeonhole::default();
        for _ in 0..stored {
            index.insert(next(&mut state));
        }
        let misses: Vec<u64> = (0..1000).map(|_| next(&mut state)).collect();
        let mut i = 0;
        group.bench_with_input(BenchmarkId::new("miss", stored), &stored, |b, _| {
            b.iter(|| {
                i = (i + 1) % misses.len();
                black_box(index.find(black_box(misses[i])))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, lookups, pigeonhole_baseline);
criterion_main!(benches);
