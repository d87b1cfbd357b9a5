//! Hostile origins: publishers that are slow, endless, compressed into bombs, huge, nested
//! without end, entity-expanding, looping, rate-limiting, failing, resetting the connection,
//! or gone. Each source gets the right outcome and error, the daemon keeps serving, and the
//! well-behaved sources are fetched in the same tick. The suite runs with a 2 s timeout and a
//! 1 MiB body cap so it stays fast.

use std::io::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Origin, Stream, TestApp, config_with_fetch, fixture, source_table};
use feedmill::pipeline::{Outcome, SourceReport};
use feedmill::politeness::Reason;

const RSS: &str = "application/rss+xml";
const MIB: u64 = 1 << 20;

/// The test `[fetch]` table for hostile suites: a 2 s timeout and a 1 MiB cap.
fn hostile_config(sources: &str) -> String {
    config_with_fetch("allow_private = true\nmax_body = \"1MiB\"\n", sources)
        .replace("timeout = \"5s\"", "timeout = \"2s\"")
}

/// A small feed with one item of its own (a distinct article per `tag`).
fn small_feed(tag: &str, ttl: Option<u32>) -> String {
    let ttl = ttl.map(|t| format!("<ttl>{t}</ttl>")).unwrap_or_default();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>{tag}</title><link>https://{tag}.example/</link>{ttl}\
<item><title>Football news from {tag}</title><link>https://{tag}.example/a</link><guid>{tag}-1</guid></item></channel></rss>"
    )
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut w = brotli::CompressorWriter::new(Vec::new(), 4096, 9, 22);
    w.write_all(data).unwrap();
    w.into_inner()
}

/// 64 MiB of zeros as a gzip body of about 64 KB: one compressed MiB, repeated as gzip
/// members (a valid multi-member stream).
fn gzip_bomb() -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![0u8; MIB as usize]).unwrap();
    let member = e.finish().unwrap();
    member.repeat(64)
}

/// A feed whose description nests 100,000 elements deep.
fn deep_nesting() -> Vec<u8> {
    let depth = 100_000;
    let mut doc = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>deep</title><item><title>deep</title><description>",
    );
    doc.push_str(&"<a>".repeat(depth));
    doc.push_str(&"</a>".repeat(depth));
    doc.push_str("</description></item></channel></rss>");
    doc.into_bytes()
}

/// The "billion laughs" entity expansion: 10^9 "lol"s if a parser expanded it.
fn billion_laughs() -> String {
    let mut dtd = String::from("<!ENTITY lol0 \"lol\">\n");
    for level in 1..10 {
        let refs = format!("&lol{};", level - 1).repeat(10);
        dtd.push_str(&format!("<!ENTITY lol{level} \"{refs}\">\n"));
    }
    format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE rss [\n{dtd}]>\n<rss version=\"2.0\"><channel><title>laughs</title>\
<item><title>&lol9;</title><guid>laugh-1</guid><description>&lol9;</description></item></channel></rss>"
    )
}

/// A raw origin on 127.0.0.1 that answers with headers promising `body`'s full length, sends
/// half of it, and resets the connection (SO_LINGER 0, then close: an RST, not a FIN).
async fn resetting_origin(body: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/rss+xml\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                let _ = tcp.write_all(head.as_bytes()).await;
                let _ = tcp.write_all(&body[..body.len() / 2]).await;
                let _ = tcp.flush().await;
                let _ = tcp.set_zero_linger();
                drop(tcp);
            });
        }
    });
    format!("http://{addr}/feed")
}

fn report<'a>(reports: &'a [SourceReport], name: &str) -> &'a SourceReport {
    reports
        .iter()
        .find(|r| r.source == name)
        .unwrap_or_else(|| panic!("no report for {name}: {reports:?}"))
}

fn error_of(r: &SourceReport) -> &str {
    r.error
        .as_deref()
        .unwrap_or_else(|| panic!("no error: {r:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_sources_fail_cleanly_and_daemon_serves_when_fetched_in_one_tick() {
    let origin = Origin::start().await;
    origin.serve("/good.xml", &fixture("diplomat-wordpress.xml"), RSS);
    origin.serve("/wire.xml", &fixture("wire-syndicated.xml"), RSS);
    origin.stream(
        "/drip.xml",
        Stream::Drip {
            body: fixture("diplomat-wordpress.xml").into_bytes(),
            every: Duration::from_secs(1),
        },
    );
    origin.stream("/endless.xml", Stream::Endless);
    origin.stream(
        "/huge.xml",
        Stream::Big {
            len: 200 * 1000 * 1000,
        },
    );
    origin.serve_raw(
        "/bomb.xml",
        200,
        &[("content-encoding", "gzip")],
        gzip_bomb(),
    );
    origin.serve_raw("/deep.xml", 200, &[], deep_nesting());
    origin.serve("/laughs.xml", &billion_laughs(), RSS);
    origin.redirect("/loop-a", 302, "/loop-b");
    origin.redirect("/loop-b", 302, "/loop-a");
    origin.serve_raw(
        "/limited.xml",
        429,
        &[("retry-after", "3600")],
        b"slow down".to_vec(),
    );
    origin.serve("/flaky.xml", &small_feed("flaky", None), RSS);
    origin.set_status("/flaky.xml", 500);
    origin.serve_raw("/gone.xml", 410, &[], b"gone".to_vec());
    let reset_url = resetting_origin(fixture("diplomat-wordpress.xml").into_bytes()).await;
    // Well-behaved compressed feeds, decoded by the fetcher itself.
    origin.serve_raw(
        "/gzipped.xml",
        200,
        &[("content-encoding", "gzip")],
        gzip(small_feed("gzipped", None).as_bytes()),
    );
    origin.serve_raw(
        "/brotli.xml",
        200,
        &[("content-encoding", "br")],
        brotli(small_feed("brotli", None).as_bytes()),
    );

    let sources = [
        ("Good", origin.url("/good.xml")),
        ("Wire", origin.url("/wire.xml")),
        ("Drip", origin.url("/drip.xml")),
        ("Endless", origin.url("/endless.xml")),
        ("Huge", origin.url("/huge.xml")),
        ("Bomb", origin.url("/bomb.xml")),
        ("Deep", origin.url("/deep.xml")),
        ("Laughs", origin.url("/laughs.xml")),
        ("Loop", origin.url("/loop-a")),
        ("Limited", origin.url("/limited.xml")),
        ("Flaky", origin.url("/flaky.xml")),
        ("Gone", origin.url("/gone.xml")),
        ("Reset", reset_url.clone()),
        ("Gzipped", origin.url("/gzipped.xml")),
        ("Brotli", origin.url("/brotli.xml")),
    ];
    let tables: String = sources
        .iter()
        .map(|(name, url)| source_table(name, url, ""))
        .collect();
    let app = TestApp::spawn(&hostile_config(&tables)).await;
    let url = |name: &str| sources.iter().find(|(n, _)| *n == name).unwrap().1.clone();

    // The daemon answers while the tick is busy with the hostile sources.
    let started = std::time::Instant::now();
    let (reports, served_during) = tokio::join!(app.tick(), async {
        let mut answered = 0;
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if app.get("/healthz").await.status() == 200 {
                answered += 1;
            }
        }
        answered
    });
    let tick_took = started.elapsed();
    assert_eq!(served_during, 10, "/healthz did not answer during the tick");
    assert_eq!(reports.len(), sources.len(), "{reports:?}");
    assert!(
        tick_took < Duration::from_secs(10),
        "tick took {tick_took:?}"
    );

    // The well-behaved sources were fetched in the same tick.
    for name in ["Good", "Wire", "Gzipped", "Brotli"] {
        let r = report(&reports, name);
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        assert_eq!(r.consecutive_failures, 0);
        assert_eq!(r.next_attempt.reason, Reason::Schedule);
    }
    let failed = |name: &str| {
        let r = report(&reports, name);
        assert_eq!(r.outcome, Outcome::Failed, "{r:?}");
        assert_eq!(r.consecutive_failures, 1, "{r:?}");
        r
    };
    let drip = error_of(failed("Drip"));
    assert!(
        drip.contains(&url("Drip")) && drip.ends_with("2s (timeout)"),
        "{drip}"
    );
    let limit = |name: &str, which: &str| {
        format!(
            "{} sent more than the 1048576-byte limit (max_body, {which} size)",
            url(name)
        )
    };
    assert_eq!(error_of(failed("Endless")), limit("Endless", "received"));
    assert_eq!(error_of(failed("Huge")), limit("Huge", "received"));
    assert_eq!(error_of(failed("Bomb")), limit("Bomb", "decompressed"));
    let deep = error_of(failed("Deep"));
    assert!(
        deep.starts_with(&format!("failed to parse feed from {}", url("Deep"))),
        "{deep}"
    );
    let looped = error_of(failed("Loop"));
    assert!(
        looped.starts_with(&format!("{} redirected more than 5 times", url("Loop"))),
        "{looped}"
    );
    let reset = error_of(failed("Reset"));
    assert!(
        reset.starts_with(&format!("reading the body of {reset_url} failed")),
        "{reset}"
    );
    let flaky = failed("Flaky");
    assert_eq!(flaky.http_status, Some(500));
    assert_eq!(flaky.next_attempt.reason, Reason::Backoff);
    let limited = failed("Limited");
    assert_eq!(limited.http_status, Some(429));
    assert_eq!(limited.next_attempt.reason, Reason::RetryAfter);
    for name in ["Gzipped", "Brotli"] {
        assert_eq!(report(&reports, name).items_new, 1, "{name}");
    }
    let gone = report(&reports, "Gone");
    assert_eq!(gone.outcome, Outcome::Gone, "{gone:?}");
    assert!(error_of(gone).contains("disabled until its url changes"));
    assert_eq!(gone.next_attempt.at, None);
    // The entity is not expanded: whatever is stored of it stays small.
    let laughs = report(&reports, "Laughs");
    assert!(
        matches!(laughs.outcome, Outcome::Ok | Outcome::Failed),
        "{laughs:?}"
    );
    let store = app.handle.pipeline.store();
    for doc in store.documents(0, 1000).await.unwrap() {
        let size = doc.title.len() + doc.summary_text.len() + doc.content_text.len();
        assert!(size < 10_000, "{}: {size} bytes stored", doc.source);
        assert!(!doc.title.contains("lollol"), "an entity was expanded");
    }

    // Recorded on each source: the Retry-After instant, an hour after the fetch.
    let statuses = store.source_statuses().await.unwrap();
    let status = |name: &str| statuses.iter().find(|s| s.name == name).unwrap();
    let limited = status("Limited");
    assert_eq!(
        limited.retry_after_until.unwrap() - limited.last_fetch_at.unwrap(),
        chrono::Duration::hours(1)
    );
    assert_eq!(limited.next_fetch_at, limited.retry_after_until);
    assert!(status("Gone").gone_at.is_some());
    assert_eq!(status("Drip").consecutive_failures, 1);

    // The daemon keeps serving: health, the topic feed with the good source's article, and
    // the sources page with every source's state.
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(
        app.feed("central-asia-security", "atom")
            .await
            .entries
            .len(),
        1
    );
    let page = app.get("/sources").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = page.text().await.unwrap();
    for (name, _) in &sources {
        assert!(page.contains(&format!("<strong>{name}</strong>")), "{name}");
    }
    for shown in ["retry-after", "backoff", "gone", "2s (timeout)", "429"] {
        assert!(page.contains(shown), "/sources lacks {shown:?}");
    }

    // A day later: the failing origins recovered, the good one answers 304, the gone source
    // is not fetched at all.
    origin.set_status("/flaky.xml", 200);
    origin.serve("/limited.xml", &small_feed("limited", None), RSS);
    let gone_hits = origin.hits("/gone.xml");
    let reports = app.tick().await;
    assert!(
        reports.iter().all(|r| r.source != "Gone"),
        "the gone source was fetched: {reports:?}"
    );
    assert_eq!(origin.hits("/gone.xml"), gone_hits);
    let good = report(&reports, "Good");
    assert_eq!(good.outcome, Outcome::NotModified, "{good:?}");
    assert_eq!(good.http_status, Some(304));
    for name in ["Flaky", "Limited"] {
        let r = report(&reports, name);
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        assert_eq!(r.consecutive_failures, 0);
        assert_eq!(r.next_attempt.reason, Reason::Schedule);
    }
    let statuses = store.source_statuses().await.unwrap();
    let flaky = statuses.iter().find(|s| s.name == "Flaky").unwrap();
    assert_eq!(flaky.consecutive_failures, 0);
    assert!(flaky.last_success_at.is_some());
    assert_eq!(flaky.retry_after_until, None);
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.stop().await;
}

/// Run `feedmill fetch` on the app's config (and store).
async fn fetch_command(app: &TestApp) -> (Option<i32>, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_feedmill"))
        .arg("--config")
        .arg(&app.config_path)
        .arg("fetch")
        .env_remove("FEEDMILL_STORE")
        .output()
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn start() -> DateTime<Utc> {
    // After every source's first spread-out due time (at most a minute after the build).
    Utc::now() + chrono::Duration::minutes(5)
}

#[tokio::test]
async fn retry_after_is_honoured_when_scheduler_ticks_and_fetch_command_runs() {
    let origin = Origin::start().await;
    origin.serve("/ok.xml", &small_feed("ok", None), RSS);
    origin.serve_raw(
        "/busy.xml",
        503,
        &[("retry-after", "3600")],
        b"busy".to_vec(),
    );
    let sources = source_table("Ok", &origin.url("/ok.xml"), "")
        + &source_table("Busy", &origin.url("/busy.xml"), "");
    let app = TestApp::spawn(&hostile_config(&sources)).await;
    let t0 = start();
    let reports = app.handle.tick(t0).await;
    let busy = report(&reports, "Busy");
    assert_eq!(
        (busy.outcome, busy.http_status),
        (Outcome::Failed, Some(503))
    );
    assert_eq!(busy.next_attempt.at, Some(t0 + chrono::Duration::hours(1)));
    assert_eq!(busy.next_attempt.reason, Reason::RetryAfter);

    // `feedmill fetch` ignores the schedule but not an unexpired Retry-After: skipped, said
    // so, and not a failure.
    let (code, stdout) = fetch_command(&app).await;
    assert_eq!(code, Some(0), "{stdout}");
    let line = stdout.lines().find(|l| l.starts_with("Busy")).unwrap();
    assert!(line.contains("skipped"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "skipped: retry-after: {} asked not to be fetched before",
            origin.url("/busy.xml")
        )),
        "{stdout}"
    );
    assert!(stdout.contains("0 failed, 1 skipped"), "{stdout}");
    assert_eq!(origin.hits("/busy.xml"), 1);

    // The scheduler, even after a restart: not due half an hour later, due after the hour.
    let app = app.restart(&hostile_config(&sources)).await;
    let reports = app.handle.tick(t0 + chrono::Duration::minutes(30)).await;
    assert!(reports.iter().all(|r| r.source != "Busy"), "{reports:?}");
    origin.serve("/busy.xml", &small_feed("busy", None), RSS);
    let reports = app.handle.tick(t0 + chrono::Duration::minutes(61)).await;
    let busy = report(&reports, "Busy");
    assert_eq!(busy.outcome, Outcome::Ok, "{busy:?}");
    assert_eq!(origin.hits("/busy.xml"), 2);
    app.stop().await;
}

#[tokio::test]
async fn failing_source_backs_off_and_recovers_when_origin_heals() {
    let origin = Origin::start().await;
    origin.serve("/feed.xml", &small_feed("heal", None), RSS);
    origin.set_status("/feed.xml", 500);
    let app = TestApp::spawn(&hostile_config(&source_table(
        "Healing",
        &origin.url("/feed.xml"),
        "",
    )))
    .await;
    let mut now = start();
    let mut previous_wait = chrono::Duration::zero();
    for failures in 1..=4u32 {
        let reports = app.handle.tick(now).await;
        let r = report(&reports, "Healing");
        assert_eq!(r.outcome, Outcome::Failed);
        assert_eq!(r.consecutive_failures, failures);
        assert_eq!(r.next_attempt.reason, Reason::Backoff);
        let next = r.next_attempt.at.unwrap();
        let wait = next - now;
        // 15 min doubled per failure, plus up to 25 % jitter.
        let base = chrono::Duration::minutes(15 * 2i64.pow(failures - 1));
        assert!(
            wait >= base && wait <= base * 5 / 4,
            "failure {failures}: waits {wait}"
        );
        assert!(wait > previous_wait);
        previous_wait = wait;
        // Not due before the backoff ends.
        let early = app.handle.tick(next - chrono::Duration::seconds(1)).await;
        assert!(early.is_empty(), "fetched during backoff: {early:?}");
        now = next;
    }
    assert_eq!(origin.hits("/feed.xml"), 4);
    let status = app.handle.pipeline.store().source_statuses().await.unwrap()[0].clone();
    assert_eq!(status.consecutive_failures, 4);
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap()
            .ends_with("answered HTTP 500")
    );
    assert_eq!(status.next_fetch_reason, Some(Reason::Backoff));
    let page = app.get("/sources").await.text().await.unwrap();
    assert!(page.contains("(backoff)"), "{page}");

    origin.set_status("/feed.xml", 200);
    let reports = app.handle.tick(now).await;
    let r = report(&reports, "Healing");
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    assert_eq!(r.consecutive_failures, 0);
    assert_eq!(
        r.next_attempt,
        feedmill::politeness::NextAttempt {
            at: Some(now + chrono::Duration::minutes(15)),
            reason: Reason::Schedule
        }
    );
    let status = app.handle.pipeline.store().source_statuses().await.unwrap()[0].clone();
    assert_eq!(status.consecutive_failures, 0);
    // Stored in milliseconds.
    assert_eq!(
        status.last_success_at.map(|t| t.timestamp_millis()),
        Some(now.timestamp_millis())
    );
    app.stop().await;
}

#[tokio::test]
async fn next_fetch_waits_for_ttl_and_max_age_when_longer_than_schedule() {
    let origin = Origin::start().await;
    origin.serve("/ttl.xml", &small_feed("ttl", Some(120)), RSS);
    origin.serve("/cached.xml", &small_feed("cached", None), RSS);
    origin.set_headers("/cached.xml", &[("cache-control", "public, max-age=5400")]);
    origin.serve("/short.xml", &small_feed("short", Some(5)), RSS);
    origin.set_headers("/short.xml", &[("cache-control", "max-age=60")]);
    let sources = source_table("Ttl", &origin.url("/ttl.xml"), "")
        + &source_table("Cached", &origin.url("/cached.xml"), "")
        + &source_table("Short", &origin.url("/short.xml"), "");
    let app = TestApp::spawn(&hostile_config(&sources)).await;
    let t0 = start();
    let reports = app.handle.tick(t0).await;
    let next = |name: &str| report(&reports, name).next_attempt;
    assert_eq!(next("Ttl").at, Some(t0 + chrono::Duration::minutes(120)));
    assert_eq!(next("Ttl").reason, Reason::Ttl);
    assert_eq!(next("Cached").at, Some(t0 + chrono::Duration::minutes(90)));
    assert_eq!(next("Cached").reason, Reason::MaxAge);
    // Hints shorter than the schedule: the schedule (never later than it).
    assert_eq!(next("Short").at, Some(t0 + chrono::Duration::minutes(15)));
    assert_eq!(next("Short").reason, Reason::Schedule);

    // At +16 min only the short one is due; it answers 304 now.
    let reports = app.handle.tick(t0 + chrono::Duration::minutes(16)).await;
    let names: Vec<&str> = reports.iter().map(|r| r.source.as_str()).collect();
    assert_eq!(names, ["Short"]);
    // At +91 min the max-age one is due, and its 304 carries the same max-age.
    let t1 = t0 + chrono::Duration::minutes(91);
    let reports = app.handle.tick(t1).await;
    let cached = report(&reports, "Cached");
    assert_eq!(cached.outcome, Outcome::NotModified);
    assert_eq!(cached.next_attempt.reason, Reason::MaxAge);
    assert!(reports.iter().all(|r| r.source != "Ttl"));
    // The feed's <ttl> still holds after a 304 (it is stored with the source).
    let t2 = t0 + chrono::Duration::minutes(121);
    let reports = app.handle.tick(t2).await;
    let ttl = report(&reports, "Ttl");
    assert_eq!(ttl.outcome, Outcome::NotModified);
    assert_eq!(
        ttl.next_attempt.at,
        Some(t2 + chrono::Duration::minutes(120))
    );
    assert_eq!(ttl.next_attempt.reason, Reason::Ttl);
    app.stop().await;
}

#[tokio::test]
async fn permanent_redirect_moves_source_and_temporary_does_not_when_chain_settles() {
    let origin = Origin::start().await;
    origin.serve("/new.xml", &small_feed("moved", None), RSS);
    origin.redirect("/old.xml", 301, "/mid.xml");
    origin.redirect("/mid.xml", 308, "/new.xml");
    origin.serve("/temp-new.xml", &small_feed("temp", None), RSS);
    origin.redirect("/temp.xml", 307, "/temp-new.xml");
    origin.serve("/final.xml", &small_feed("mixed", None), RSS);
    origin.redirect("/mixed.xml", 301, "/mixed-mid.xml");
    origin.redirect("/mixed-mid.xml", 302, "/final.xml");
    let sources = source_table("Moved", &origin.url("/old.xml"), "")
        + &source_table("Temporary", &origin.url("/temp.xml"), "")
        + &source_table("Mixed", &origin.url("/mixed.xml"), "");
    let app = TestApp::spawn(&hostile_config(&sources)).await;
    let reports = app.tick().await;
    assert!(
        reports.iter().all(|r| r.outcome == Outcome::Ok),
        "{reports:?}"
    );
    let statuses = app.handle.pipeline.store().source_statuses().await.unwrap();
    let fetch_url = |name: &str| {
        statuses
            .iter()
            .find(|s| s.name == name)
            .unwrap()
            .fetch_url
            .clone()
    };
    assert_eq!(fetch_url("Moved"), Some(origin.url("/new.xml")));
    assert_eq!(fetch_url("Temporary"), None);
    // 301 then 302: moved for good to where the permanent hop pointed, no further.
    assert_eq!(fetch_url("Mixed"), Some(origin.url("/mixed-mid.xml")));

    let reports = app.tick().await;
    assert!(
        reports.iter().all(|r| r.outcome == Outcome::NotModified),
        "{reports:?}"
    );
    assert_eq!(origin.hits("/old.xml"), 1, "the old URL was fetched again");
    assert_eq!(origin.hits("/new.xml"), 2);
    assert_eq!(origin.hits("/temp.xml"), 2);
    assert_eq!(origin.hits("/mixed.xml"), 1);
    assert_eq!(origin.hits("/mixed-mid.xml"), 2);
    let page = app.get("/sources").await.text().await.unwrap();
    assert!(page.contains("moved permanently to"), "{page}");

    // Editing the url in feeds.toml drops the stored move.
    let sources = source_table("Moved", &origin.url("/old.xml?v=2"), "");
    let app = app.restart(&hostile_config(&sources)).await;
    let statuses = app.handle.pipeline.store().source_statuses().await.unwrap();
    assert_eq!(
        statuses
            .iter()
            .find(|s| s.name == "Moved")
            .unwrap()
            .fetch_url,
        None
    );
    app.stop().await;
}

#[tokio::test]
async fn gone_source_stays_disabled_until_its_url_changes() {
    let origin = Origin::start().await;
    origin.serve_raw("/gone.xml", 410, &[], Vec::new());
    origin.serve("/ok.xml", &small_feed("ok", None), RSS);
    let sources = source_table("Gone", &origin.url("/gone.xml"), "")
        + &source_table("Ok", &origin.url("/ok.xml"), "");
    let app = TestApp::spawn(&hostile_config(&sources)).await;
    let reports = app.tick().await;
    let gone = report(&reports, "Gone");
    assert_eq!(gone.outcome, Outcome::Gone);
    assert_eq!(gone.http_status, Some(410));

    // Not scheduled again, and after a restart on the same config neither.
    assert!(app.tick().await.iter().all(|r| r.source != "Gone"));
    let app = app.restart(&hostile_config(&sources)).await;
    assert!(app.tick().await.iter().all(|r| r.source != "Gone"));
    // `feedmill fetch` says why it skips it, and exits 0.
    let (code, stdout) = fetch_command(&app).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "skipped: gone: {} answered HTTP 410 Gone",
            origin.url("/gone.xml")
        )),
        "{stdout}"
    );
    assert_eq!(origin.hits("/gone.xml"), 1);
    let page = app.get("/sources").await.text().await.unwrap();
    assert!(page.contains("never: gone (HTTP 410)"), "{page}");

    // A new url enables it again.
    origin.serve("/moved-here.xml", &small_feed("back", None), RSS);
    let sources = source_table("Gone", &origin.url("/moved-here.xml"), "")
        + &source_table("Ok", &origin.url("/ok.xml"), "");
    let app = app.restart(&hostile_config(&sources)).await;
    let reports = app.tick().await;
    let back = report(&reports, "Gone");
    assert_eq!(back.outcome, Outcome::Ok, "{back:?}");
    app.stop().await;
}

/// A public host (a name pinned to 127.0.0.1 past the guard, as in `fetch`'s unit tests)
/// redirecting to a loopback address is refused by the guard; the other source of the same
/// batch is fetched. The pipeline is built around that fetcher directly, since the daemon's
/// fetcher resolves names for real.
#[tokio::test]
async fn redirect_to_private_address_is_refused_when_source_is_guarded() {
    use std::sync::Arc;

    let origin = Origin::start().await;
    let port = origin.addr.port();
    origin.serve("/feed.xml", &small_feed("target", None), RSS);
    origin.redirect(
        "/to-loopback",
        302,
        &format!("http://127.0.0.1:{port}/feed.xml"),
    );
    origin.redirect(
        "/to-localhost",
        301,
        &format!("http://localhost:{port}/feed.xml"),
    );
    let public = |path: &str| format!("http://feeds.example:{port}{path}");
    let sources = source_table("Literal", &public("/to-loopback"), "")
        + &source_table("Named", &public("/to-localhost"), "")
        + &source_table("Fine", &public("/feed.xml"), "");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feeds.toml");
    let text = format!(
        "[store]\npath = {:?}\n{}",
        dir.path().join("store").display().to_string(),
        config_with_fetch("", &sources)
    );
    std::fs::write(&path, &text).unwrap();
    let config = Arc::new(feedmill::config::Config::load(&path).unwrap());
    let store = feedmill::store::Store::open(&config.store.path)
        .await
        .unwrap();
    let fetcher = feedmill::fetch::Fetcher::build_with_overrides(
        feedmill::pipeline::Pipeline::fetch_settings(&config),
        &[("feeds.example", ([127, 0, 0, 1], 0).into())],
    )
    .unwrap();
    let pipeline = feedmill::pipeline::Pipeline::with_fetcher(config.clone(), store, fetcher);
    pipeline.sync(Utc::now()).await.unwrap();
    let reports = pipeline
        .refresh_many(&config.sources, Utc::now(), |_| {})
        .await;
    let literal = report(&reports, "Literal");
    assert_eq!(literal.outcome, Outcome::Failed);
    assert_eq!(
        error_of(literal),
        format!(
            "refusing to fetch {}: it redirects to http://127.0.0.1:{port}/feed.xml, and 127.0.0.1 is a loopback address; set allow_private = true for this source to allow it",
            public("/to-loopback")
        )
    );
    let named = error_of(report(&reports, "Named"));
    assert!(
        named.starts_with(&format!(
            "refusing to fetch {}: localhost resolves to ",
            public("/to-localhost")
        )),
        "{named}"
    );
    assert_eq!(report(&reports, "Fine").outcome, Outcome::Ok);
    // Only the one allowed fetch of the target arrived.
    assert_eq!(origin.hits("/feed.xml"), 1);
    pipeline.store().close().await;
}

/// The high-water mark of a process's resident memory, in KiB (Linux).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Peak memory of `feedmill fetch` over 1,000 sources on local origins, 40 % of them hostile
/// (endless, gzip bomb, 200 MB, rate-limited, failing, deeply nested, reset, dripping), with
/// the default `max_body` (16 MiB) and `concurrency` (16). Run it with the release binary:
///
/// ```text
/// cargo build --release
/// FEEDMILL_BIN=target/release/feedmill cargo test --test it peak_memory -- --ignored --nocapture
/// ```
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measures a (release) binary for a minute; run by hand, see the doc comment"]
async fn peak_memory_stays_bounded_when_fetching_1000_sources() {
    let origin = Origin::start().await;
    let reset_url = resetting_origin(fixture("diplomat-wordpress.xml").into_bytes()).await;
    let bomb = gzip_bomb();
    let deep = deep_nesting();
    let mut tables = String::new();
    for i in 0..1000 {
        let path = format!("/s{i}.xml");
        let url = match i % 10 {
            0..=5 => {
                let items: String = (0..20)
                    .map(|n| {
                        format!(
                            "<item><title>Story {n} of source {i}</title><link>https://s{i}.example/{n}</link>\
<description>{}</description></item>",
                            "Some words of a summary. ".repeat(20)
                        )
                    })
                    .collect();
                let feed = format!(
                    "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>s{i}</title>{items}</channel></rss>"
                );
                origin.serve(&path, &feed, RSS);
                origin.url(&path)
            }
            6 => {
                origin.stream(&path, Stream::Endless);
                origin.url(&path)
            }
            7 => {
                origin.serve_raw(&path, 200, &[("content-encoding", "gzip")], bomb.clone());
                origin.url(&path)
            }
            8 => {
                origin.stream(
                    &path,
                    Stream::Big {
                        len: 200 * 1000 * 1000,
                    },
                );
                origin.url(&path)
            }
            _ => {
                match (i / 10) % 6 {
                    0 => origin.serve_raw(&path, 429, &[("retry-after", "120")], Vec::new()),
                    1 => origin.serve_raw(&path, 500, &[], Vec::new()),
                    2 => origin.serve_raw(&path, 200, &[], deep.clone()),
                    3 => origin.serve(&path, &billion_laughs(), RSS),
                    4 => {
                        // One resetting origin; the query keeps each source's URL unique.
                        let url = format!("{reset_url}?s={i}");
                        tables += &source_table(&format!("Source {i:04}"), &url, "");
                        continue;
                    }
                    _ => origin.stream(
                        &path,
                        Stream::Drip {
                            body: small_feed("drip", None).into_bytes(),
                            every: Duration::from_millis(200),
                        },
                    ),
                }
                origin.url(&path)
            }
        };
        tables += &source_table(&format!("Source {i:04}"), &url, "");
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("feeds.toml");
    let text = format!(
        "[store]\npath = {:?}\n{}",
        dir.path().join("store").display().to_string(),
        config_with_fetch(
            &format!(
                "allow_private = true\n{}",
                std::env::var("FEEDMILL_FETCH_EXTRA").unwrap_or_default()
            ),
            &tables
        )
    );
    std::fs::write(&config, text).unwrap();
    let bin =
        std::env::var("FEEDMILL_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_feedmill").into());
    let out_path = dir.path().join("stdout.txt");
    let started = std::time::Instant::now();
    let mut child = std::process::Command::new(&bin)
        .arg("--config")
        .arg(&config)
        .arg("-q")
        .arg("fetch")
        .env_remove("FEEDMILL_STORE")
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(dir.path().join("stderr.txt")).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let took = started.elapsed();
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    let summary = stdout.lines().last().unwrap_or_default();
    println!(
        "{bin}: 1000 sources in {:.1} s, peak RSS {:.1} MiB, exit {:?}: {summary}",
        took.as_secs_f64(),
        peak as f64 / 1024.0,
        status.code()
    );
    let stderr = std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap();
    assert!(summary.starts_with("1000 sources"), "{stdout}\n{stderr}");
    assert!(peak > 0, "no /proc measurement");
    assert!(peak < 200 * 1024, "peak RSS {peak} KiB");
}
