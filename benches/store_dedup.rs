//! What a new article costs the SQLite store — canonical-URL lookup, near-duplicate lookup in
//! the band table, confirmation, insert with its band keys — with 10,000 vs 1,000,000 stored
//! articles (issue 4), and the near-duplicate lookup alone (`store_near_dup_lookup`): the
//! ratios are the figures, and the lookup's should stay near 1.
//!
//! Run: `cargo bench --bench store_dedup -- --warm-up-time 2 --measurement-time 10`.
//! The filled stores are built once (the 1 M one takes a few minutes) and kept under
//! `target/bench-data/`; delete that directory to rebuild them.
//!
//! Measured: see the table in the README's Development section.

use std::hint::black_box;
use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use feedmill::dedup;
use feedmill::model::Article;
use feedmill::store::{Incoming, NearDup, Store};

/// Sources the filler articles are spread over; the probes come from another one.
const SOURCES: usize = 10;

/// Articles per `ingest` call while filling.
const BATCH: usize = 5_000;

/// xorshift64*: the same articles on every run.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// A made-up word from a vocabulary of 10,000: unrelated articles share few shingles.
fn word(state: &mut u64) -> String {
    let n = next(state) % 10_000;
    let syllables = [
        "ka", "ro", "mi", "tu", "sel", "van", "dor", "pe", "li", "zan",
    ];
    let mut w = String::new();
    let mut k = n;
    for _ in 0..4 {
        w.push_str(syllables[(k % 10) as usize]);
        k /= 10;
    }
    w
}

fn words(state: &mut u64, n: usize) -> String {
    (0..n).map(|_| word(state)).collect::<Vec<_>>().join(" ")
}

fn article(key: &str, title: String, body: String, at: DateTime<Utc>) -> Article {
    let link = format!("https://news.example/{key}");
    Article {
        entry_key: key.to_owned(),
        guid: Some(key.to_owned()),
        canonical_url: dedup::canonical_url(&link),
        url: Some(link),
        title,
        summary_html: Some(format!("<p>{body}</p>")),
        content_html: None,
        summary_text: body,
        content_text: String::new(),
        authors: vec![],
        categories: vec![],
        lang: None,
        published: Some(at),
        updated: None,
    }
}

fn near() -> NearDup {
    NearDup {
        window: TimeDelta::days(3),
        ..NearDup::default()
    }
}

/// Articles spread over 30 days, so the window holds a tenth of them.
fn time_of(i: usize) -> DateTime<Utc> {
    let base = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    base + TimeDelta::seconds((i as i64 * 2_592_000) / 1_000_000)
}

/// The store with `n` articles, built once and reused.
fn filled(rt: &tokio::runtime::Runtime, n: usize) -> Store {
    let dir = PathBuf::from(format!("target/bench-data/store-dedup-{n}"));
    let done = dir.join("filled");
    let store = rt.block_on(Store::open(&dir)).unwrap();
    let mut names: Vec<(String, String)> = (0..SOURCES)
        .map(|s| (format!("s{s}"), format!("https://s{s}.example/feed")))
        .collect();
    names.push(("probe".into(), "https://probe.example/feed".into()));
    rt.block_on(store.sync_sources(&names)).unwrap();
    if done.exists() {
        return store;
    }
    eprintln!("filling {} with {n} articles (once)…", dir.display());
    let mut state = 0x5eed_0004 ^ n as u64;
    let near = near();
    for start in (0..n).step_by(BATCH) {
        let end = (start + BATCH).min(n);
        for s in 0..SOURCES {
            let items: Vec<Incoming> = (start..end)
                .filter(|i| i % SOURCES == s)
                .map(|i| Incoming {
                    article: article(
                        &format!("a{i}"),
                        words(&mut state, 7),
                        words(&mut state, 60),
                        time_of(i * 1_000_000 / n),
                    ),
                    topics: Vec::new(),
                })
                .collect();
            rt.block_on(store.ingest(&format!("s{s}"), &items, Some(&near), Utc::now()))
                .unwrap();
        }
    }
    std::fs::write(&done, b"").unwrap();
    store
}

fn ingest_cost(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let near = near();
    let mut group = c.benchmark_group("store_ingest_new_article");
    for stored in [10_000usize, 1_000_000] {
        let store = filled(&rt, stored);
        let mut state = 0x9e37_79b9 ^ stored as u64;
        let mut counter = 0u64;
        let run = std::process::id();
        group.bench_with_input(BenchmarkId::new("unrelated", stored), &stored, |b, _| {
            b.iter(|| {
                counter += 1;
                let a = article(
                    &format!("probe-{run}-{counter}"),
                    words(&mut state, 7),
                    words(&mut state, 60),
                    time_of(500_000),
                );
                let item = [Incoming {
                    article: a,
                    topics: Vec::new(),
                }];
                let stats = rt
                    .block_on(store.ingest("probe", &item, Some(&near), Utc::now()))
                    .unwrap();
                black_box(stats.new)
            })
        });
    }
    group.finish();
    // The read half alone: band-key lookup within the window and confirmation.
    let mut group = c.benchmark_group("store_near_dup_lookup");
    for stored in [10_000usize, 1_000_000] {
        let store = filled(&rt, stored);
        let mut state = 0x51ed_2701 ^ stored as u64;
        let probes: Vec<dedup::Fingerprints> = (0..1000)
            .map(|_| {
                dedup::Fingerprints::of(
                    &words(&mut state, 7),
                    &format!("<p>{}</p>", words(&mut state, 60)),
                    &dedup::LineFilter::default(),
                )
            })
            .collect();
        let mut i = 0;
        group.bench_with_input(BenchmarkId::new("unrelated", stored), &stored, |b, _| {
            b.iter(|| {
                i = (i + 1) % probes.len();
                let found = rt
                    .block_on(store.near_duplicate_stories(
                        "probe",
                        &probes[i],
                        time_of(500_000),
                        &near,
                    ))
                    .unwrap();
                black_box(found.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, ingest_cost);
criterion_main!(benches);
