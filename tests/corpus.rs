//! The shared feed corpus (`../shared/corpus`, see its README): 2,488 documents from the test
//! data of eight feed parsers and the W3C validator. Its own test binary, so its runtime shows.
//!
//! - Every file goes through parse → normalize without a panic, each within a time bound, and
//!   no script, frame, plugin or `javascript:` URL survives in any article it yields.
//! - Every well-formed file (`xml_wellformed` yes or lenient) of the classes `a-realworld` and
//!   `d-encoding`, served with its `http_content_type`, stores exactly `item_count` articles in
//!   a real (in-memory) store — but for the few exceptions listed with their reason.
//! - A sample of encoded files decodes to the titles feedparser gives.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use feedmill::model::Article;
use feedmill::store::{Incoming, NearDup, Store};
use feedmill::{normalize, parse};

/// Far above what any file needs in a debug build (the slowest takes well under a second):
/// a file over it is a hang, not a slow machine.
const PER_FILE_LIMIT: Duration = Duration::from_secs(10);

/// Files whose stored article count differs from the corpus' `item_count`, and why. Each entry
/// is checked: if the count ever matches, the exception must go.
const COUNT_EXCEPTIONS: &[(&str, usize, &str)] = &[(
    "rsparser/Tests/RSParserTests/Resources/scriptingNews.rss",
    48,
    "50 <item>s, but the guids 2017/06/25.html#a080631 and 2017/06/24.html#a100632 are each \
     listed twice: an item listed twice is one article",
)];

struct Row {
    path: String,
    class: String,
    item_count: usize,
    wellformed: String,
    content_type: Option<String>,
}

fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("FEEDMILL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let corpus = dir.join("corpus");
    assert!(
        corpus.join("index.tsv").is_file(),
        "feed corpus not found at {}: set FEEDMILL_SHARED to the folder holding corpus/",
        corpus.display()
    );
    corpus
}

fn rows() -> (PathBuf, Vec<Row>) {
    let dir = shared_dir();
    let index = std::fs::read_to_string(dir.join("index.tsv")).expect("read index.tsv");
    let mut lines = index.lines();
    let header: Vec<&str> = lines.next().expect("index header").split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("index.tsv has no column {name}"))
    };
    let (path, class, count, wf, ct) = (
        col("path"),
        col("class"),
        col("item_count"),
        col("xml_wellformed"),
        col("http_content_type"),
    );
    let rows = lines
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            Row {
                path: f[path].to_owned(),
                class: f[class].to_owned(),
                item_count: f[count].parse().unwrap_or(0),
                wellformed: f[wf].to_owned(),
                content_type: Some(f[ct]).filter(|c| !c.is_empty()).map(str::to_owned),
            }
        })
        .collect();
    (dir, rows)
}

fn feed_url(path: &str) -> String {
    format!("https://corpus.example/{path}")
}

/// Parse and normalize one file as the pipeline does.
fn articles(bytes: &[u8], content_type: Option<&str>, url: &str) -> Result<Vec<Article>, String> {
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let feed = parse::parse(bytes, content_type, url).map_err(|e| e.to_string())?;
    Ok(feed
        .entries
        .iter()
        .map(|e| normalize::article(e, &feed, url, now))
        .collect())
}

/// What must never reach a republished article, whatever the feed carried.
fn unsafe_html(a: &Article) -> Option<String> {
    let html = [a.summary_html.as_deref(), a.content_html.as_deref()];
    for fragment in html.into_iter().flatten() {
        let lower = fragment.to_ascii_lowercase();
        for bad in [
            "<script",
            "<iframe",
            "<object",
            "<embed",
            "=\"javascript:",
            " onerror=",
        ] {
            if lower.contains(bad) {
                return Some(format!("{bad} survived in {:?}", a.title));
            }
        }
    }
    a.url
        .as_deref()
        .filter(|u| !u.starts_with("http://") && !u.starts_with("https://"))
        .map(|u| format!("link {u} is not absolute"))
}

type Done = (
    usize,
    Duration,
    std::thread::Result<Result<Vec<Article>, String>>,
);

#[test]
fn corpus_parses_every_file_in_bounded_time_and_stores_item_count_when_well_formed() {
    let (dir, rows) = rows();
    assert!(rows.len() > 2000, "corpus index looks truncated");
    let started = Instant::now();
    // One worker parses; this thread waits for each file with a deadline, so a hang fails
    // the test (naming the file) instead of hanging it.
    let (job_tx, job_rx) = mpsc::channel::<(usize, Vec<u8>, Option<String>, String)>();
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    std::thread::spawn(move || {
        for (i, bytes, ct, url) in job_rx {
            let t = Instant::now();
            let result = std::panic::catch_unwind(|| articles(&bytes, ct.as_deref(), &url));
            if done_tx.send((i, t.elapsed(), result)).is_err() {
                break;
            }
        }
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = runtime.block_on(Store::open_in_memory()).unwrap();
    let counted = |r: &Row| {
        matches!(r.class.as_str(), "a-realworld" | "d-encoding")
            && matches!(r.wellformed.as_str(), "yes" | "lenient")
    };
    let sources: Vec<(String, String)> = rows
        .iter()
        .filter(|r| counted(r))
        .map(|r| (r.path.clone(), feed_url(&r.path)))
        .collect();
    runtime.block_on(store.sync_sources(&sources)).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut failures = Vec::new();
    let mut slowest = (Duration::ZERO, String::new());
    let (mut parsed, mut failed_cleanly, mut checked) = (0, 0, 0);
    for (i, row) in rows.iter().enumerate() {
        let bytes = std::fs::read(dir.join(&row.path)).expect("read corpus file");
        job_tx
            .send((i, bytes, row.content_type.clone(), feed_url(&row.path)))
            .unwrap();
        let (j, elapsed, result) = done_rx
            .recv_timeout(PER_FILE_LIMIT)
            .unwrap_or_else(|_| panic!("{} did not parse within {PER_FILE_LIMIT:?}", row.path));
        assert_eq!(i, j);
        if elapsed > slowest.0 {
            slowest = (elapsed, row.path.clone());
        }
        let result = match result {
            Ok(r) => r,
            Err(_) => {
                failures.push(format!("{}: panicked", row.path));
                continue;
            }
        };
        match &result {
            Ok(articles) => {
                parsed += 1;
                if let Some(problem) = articles.iter().find_map(unsafe_html) {
                    failures.push(format!("{}: {problem}", row.path));
                }
            }
            Err(_) => failed_cleanly += 1,
        }
        if !counted(row) {
            continue;
        }
        checked += 1;
        let articles = match result {
            Ok(a) => a,
            Err(e) => {
                failures.push(format!("{}: {e}", row.path));
                continue;
            }
        };
        let before = runtime.block_on(store.article_count()).unwrap();
        // Layer 3 on, as the daemon runs it: every real-world file goes through the index.
        let near = NearDup {
            window: chrono::TimeDelta::days(3),
            ..NearDup::default()
        };
        let items: Vec<Incoming> = articles
            .into_iter()
            .map(|article| Incoming {
                article,
                topics: Vec::new(),
            })
            .collect();
        runtime
            .block_on(store.ingest(&row.path, &items, Some(&near), now))
            .unwrap();
        let stored =
            usize::try_from(runtime.block_on(store.article_count()).unwrap() - before).unwrap();
        let exception = COUNT_EXCEPTIONS.iter().find(|(p, _, _)| *p == row.path);
        match exception {
            Some((_, want, why)) if stored != *want => failures.push(format!(
                "{}: stored {stored}, the exception expects {want} ({why})",
                row.path
            )),
            Some(_) if stored == row.item_count => failures.push(format!(
                "{}: stores its item_count now: drop its exception",
                row.path
            )),
            Some(_) => {}
            None if stored != row.item_count => failures.push(format!(
                "{}: stored {stored} articles, item_count is {}",
                row.path, row.item_count
            )),
            None => {}
        }
    }
    eprintln!(
        "corpus: {} files in {:?} ({parsed} parsed, {failed_cleanly} refused with an error), \
         {checked} counts checked; slowest {:?} ({})",
        rows.len(),
        started.elapsed(),
        slowest.0,
        slowest.1
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The feed title and up to three entry titles feedparser 6.0.14 gives for these files, served
/// with their `http_content_type`. Generated once with
/// `feedparser.parse(bytes, response_headers={'content-type': ct})` and pasted here, so the
/// test needs no Python. `None` where feedparser found no feed title.
const FEEDPARSER_TITLES: &[(&str, Option<&str>, &[&str])] = &[
    (
        "feed-rs/feed-rs/fixture/rss0/rss_0.91_encoding_1.xml",
        Some("Dicas-L: Dicas técnicas de Linux e Software Livre"),
        &["bash - Expansão de Parâmetros"],
    ),
    (
        "feed-rs/feed-rs/fixture/rss1/rss_1.0_iso8859.xml",
        Some("Golem.de"),
        &["Digitalministerium: Neue Glasfaserförderung mit Schnellkasse"],
    ),
    (
        "feedparser/tests/encoding/bozo_http_i18n.xml",
        Some("Iñtërnâtiônàlizætiøn"),
        &[],
    ),
    ("feedparser/tests/encoding/euc-kr.xml", Some("년"), &[]),
    (
        "feedparser/tests/encoding/http_i18n.xml",
        Some("Iñtërnâtiônàlizætiøn"),
        &[],
    ),
    (
        "feedparser/tests/encoding/http_text_xml_charset_2.xml",
        None,
        &["Foo"],
    ),
    (
        "feedparser/tests/encoding/http_text_xml_charset_overrides_encoding_2.xml",
        None,
        &["Foo"],
    ),
    (
        "miniflux/internal/reader/encoding/testdata/iso-8859-1.xml",
        Some("Café"),
        &[],
    ),
    (
        "miniflux/internal/reader/encoding/testdata/windows-1252.xml",
        Some("Euro €"),
        &[],
    ),
    (
        "miniflux/internal/reader/parser/testdata/encoding_ISO-8859-1.xml",
        Some("Golem.de"),
        &[
            "Red Dead Redemption 2: Hinweise auf PC-Umsetzung in App von Rockstar Games",
            "Let's Play: Twitch will Streamer zusammen spielen und singen lassen",
            "Zhuque-1: Erste private chinesische Satellitenmission fehlgeschlagen",
        ],
    ),
    (
        "node-feedparser/test/feeds/iconv.xml",
        Some("Новости Оренбурга и области / Раздел Новости"),
        &[
            "В Бузулуке главные стройплощадки – детсад и Ледовый дворец",
            "ЧОПовцы в Оренбурге избили молодого человека",
            "Два оренбуржца перевозили героин в автомобиле",
        ],
    ),
    (
        "rsparser/Tests/RSParserTests/Resources/kc0011.rss",
        Some("投资资讯网交易在线--流通纪念币最新20篇论坛主题-全文"),
        &[
            "建国35周年纪念，华表，和平鸽",
            "出南京泰山5盒，原盒看图",
            "★★低出爱藏MS66评级币★★",
        ],
    ),
    (
        "rss-parser/test/input/encoding.rss",
        Some("Jornal de Notícias - Últimas Notícias"),
        &[
            "Mãe de utente é a nova presidente da Raríssimas",
            "Reações dos partidos ao veto de Marcelo",
            "Tempestade Eleanor atinge França, Alemanha, Suíça e Reino Unido",
        ],
    ),
    (
        "rss-parser/test/input/latin2.rss",
        Some("EXAMPLE.pl"),
        &["ZAŻÓŁĆ GĘSLĄ JAŹŃ"],
    ),
];

#[test]
fn corpus_decodes_encoded_files_to_feedparser_titles() {
    let (dir, rows) = rows();
    let mut failures = Vec::new();
    for (path, feed_title, entry_titles) in FEEDPARSER_TITLES {
        let row = rows
            .iter()
            .find(|r| r.path == *path)
            .unwrap_or_else(|| panic!("{path} is not in the corpus index"));
        let bytes = std::fs::read(dir.join(path)).unwrap();
        let url = feed_url(path);
        let feed = match parse::parse(&bytes, row.content_type.as_deref(), &url) {
            Ok(f) => f,
            Err(e) => {
                failures.push(format!("{path}: {e}"));
                continue;
            }
        };
        let title = feed
            .title
            .as_deref()
            .map(normalize::plain_text)
            .filter(|t| !t.is_empty());
        if title.as_deref() != *feed_title {
            failures.push(format!(
                "{path}: feed title {title:?}, feedparser {feed_title:?}"
            ));
        }
        let ours: Vec<String> = articles(&bytes, row.content_type.as_deref(), &url)
            .unwrap()
            .into_iter()
            .take(entry_titles.len())
            .map(|a| a.title)
            .collect();
        if ours != *entry_titles {
            failures.push(format!(
                "{path}: entry titles {ours:?}, feedparser {entry_titles:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// UTF-16 and UTF-32 files, with and without a BOM, are read in the encoding they are in
/// (feedparser's expectations for them name only the encoding).
#[test]
fn corpus_reads_wide_encodings_when_bom_or_byte_pattern_tells() {
    let (dir, _) = rows();
    for (file, encoding) in [
        ("utf-16be-autodetect.xml", "UTF-16BE"),
        ("utf-16be-bom.xml", "UTF-16BE"),
        ("utf-16le-autodetect.xml", "UTF-16LE"),
        ("utf-16le-bom.xml", "UTF-16LE"),
        ("utf-32be-autodetect.xml", "UTF-32BE"),
        ("utf-32be-bom.xml", "UTF-32BE"),
        ("utf-32le-autodetect.xml", "UTF-32LE"),
        ("utf-32le.xml", "UTF-32LE"),
        ("utf16.xml", "UTF-16BE"),
        ("utf_32.xml", "UTF-32BE"),
    ] {
        let path = format!("feedparser/tests/encoding/{file}");
        let bytes = std::fs::read(dir.join(&path)).unwrap();
        let feed =
            parse::parse(&bytes, None, &feed_url(&path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(feed.encoding, encoding, "{path}");
        assert!(!feed.recovered.contains(&parse::INVALID_BYTES), "{path}");
    }
}
