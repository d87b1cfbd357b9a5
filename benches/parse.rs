//! Parse + normalize throughput over the real-world corpus files (`a-realworld`, 167 feeds,
//! ~9 MB), next to feed-rs alone on the same bytes, so the cost of our own work (encoding
//! decisions, recovery when needed, normalizing, sanitizing) shows as a ratio.
//!
//! `cargo bench --bench parse` (the corpus is found as in `tests/corpus.rs`: `FEEDMILL_SHARED`,
//! else `../shared`).

use std::hint::black_box;
use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use feedmill::{normalize, parse};

struct Doc {
    bytes: Vec<u8>,
    content_type: Option<String>,
    url: String,
}

fn realworld() -> Vec<Doc> {
    let dir = std::env::var_os("FEEDMILL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join("corpus");
    let index = std::fs::read_to_string(dir.join("index.tsv")).unwrap_or_else(|e| {
        panic!(
            "feed corpus not found at {}: {e}; set FEEDMILL_SHARED",
            dir.display()
        )
    });
    index
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            (f[2] == "a-realworld").then(|| Doc {
                bytes: std::fs::read(dir.join(f[0])).expect("read corpus file"),
                content_type: Some(f[9]).filter(|c| !c.is_empty()).map(str::to_owned),
                url: format!("https://corpus.example/{}", f[0]),
            })
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let docs = realworld();
    let total: u64 = docs.iter().map(|d| d.bytes.len() as u64).sum();
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut group = c.benchmark_group("realworld");
    group.throughput(Throughput::Bytes(total));
    group.sample_size(10);
    group.bench_function("feed-rs alone", |b| {
        b.iter(|| {
            for d in &docs {
                let _ = black_box(feed_rs::parser::parse(d.bytes.as_slice()));
            }
        })
    });
    group.bench_function("feedmill parse", |b| {
        b.iter(|| {
            for d in &docs {
                let _ = black_box(parse::parse(&d.bytes, d.content_type.as_deref(), &d.url));
            }
        })
    });
    group.bench_function("feedmill parse + normalize", |b| {
        b.iter(|| {
            for d in &docs {
                if let Ok(feed) = parse::parse(&d.bytes, d.content_type.as_deref(), &d.url) {
                    for e in &feed.entries {
                        black_box(normalize::article(e, &feed, &d.url, now));
                    }
                }
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
