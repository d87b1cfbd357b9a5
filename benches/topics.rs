//! Topic matching cost per article with 1, 100 and 1,000 topics. All topics are compiled into
//! one matcher (DESIGN §6), so the cost must grow far slower than the number of topics: the
//! figure is the ratio of the 1,000-topic time to the 1-topic time.
//!
//! `cargo bench --bench topics`. The article is the Diplomat fixture (about 400 words); the
//! topics are queries shaped like the shipped ones — (places) AND (subjects) — drawn with a
//! fixed seed from a vocabulary where a few words occur in the article, as in real use.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use feedmill::model::Document;
use feedmill::topics::{Matcher, Query};

const ARTICLE: &str = include_str!("../tests/fixtures/diplomat-china-kyrgyzstan-ties-warm.txt");

/// Words of the article (matches happen) and words that are not in it (most topics miss).
const PRESENT: &[&str] = &[
    "china",
    "kyrgyzstan",
    "border",
    "security",
    "terrorism",
    "xinjiang",
    "beijing",
    "trade",
    "militants",
    "cooperation",
];
const ABSENT: &[&str] = &[
    "football",
    "election",
    "vaccine",
    "earthquake",
    "bitcoin",
    "wildfire",
    "tennis",
    "opera",
    "tariff",
    "pipeline",
    "drought",
    "olympics",
    "satellite",
    "parliament",
    "inflation",
    "volcano",
    "cricket",
    "museum",
    "refinery",
    "harvest",
];

/// A tiny xorshift: deterministic topics without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[(self.next() % words.len() as u64) as usize]
    }
}

fn topics(n: usize) -> Vec<Query> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|i| {
            // One topic in ten can match the article; the rest name absent subjects.
            let subjects = if i % 10 == 0 { PRESENT } else { ABSENT };
            let text = format!(
                "({} OR {}* OR \"{} {}\") AND ({} OR {}* OR {}) -{}",
                rng.pick(PRESENT),
                rng.pick(ABSENT),
                rng.pick(ABSENT),
                rng.pick(ABSENT),
                rng.pick(subjects),
                rng.pick(subjects),
                rng.pick(ABSENT),
                rng.pick(ABSENT),
            );
            Query::parse(&text).expect("generated queries are valid")
        })
        .collect()
}

fn matching(c: &mut Criterion) {
    let (title, body) = ARTICLE.split_once('\n').unwrap_or(("", ARTICLE));
    let tags = vec!["asia".to_owned()];
    let authors = vec!["Diplomat Staff".to_owned()];
    let doc = Document {
        title,
        summary: "",
        content: body,
        authors: &authors,
        categories: &[],
        source: "The Diplomat",
        tags: &tags,
        lang: Some("en"),
        url: Some("https://thediplomat.com/2013/08/china-kyrgyzstan-ties-warm/"),
    };
    let mut group = c.benchmark_group("match_article");
    for n in [1usize, 100, 1000] {
        let matcher = Matcher::new(&topics(n));
        group.bench_with_input(BenchmarkId::from_parameter(n), &matcher, |b, m| {
            b.iter(|| black_box(m.matching(black_box(&doc))))
        });
    }
    group.finish();
}

criterion_group!(benches, matching);
criterion_main!(benches);
