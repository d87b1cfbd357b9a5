//! The pipeline end to end: fetch → store → topic feeds over HTTP.

use crate::helpers::{Origin, TestApp, config_with_sources, fixture};
use feedmill::pipeline::Outcome;

const RSS: &str = "application/rss+xml; charset=UTF-8";
const ARTICLE_TITLE: &str = "China, Kyrgyzstan Ties Warm";

async fn diplomat_app() -> (Origin, TestApp) {
    let origin = Origin::start().await;
    origin.serve("/feed/", &fixture("diplomat-wordpress.xml"), RSS);
    let app = TestApp::spawn(&config_with_sources(&[(
        "The Diplomat",
        origin.url("/feed/"),
    )]))
    .await;
    (origin, app)
}

#[tokio::test]
async fn topic_feeds_carry_article_when_diplomat_feed_is_fetched() {
    let (_origin, app) = diplomat_app().await;
    let reports = app.tick().await;
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].outcome, Outcome::Ok, "{:?}", reports[0]);
    assert_eq!(reports[0].items_new, 2);

    for ext in ["rss", "atom", "json"] {
        let feed = app.feed("central-asia-security", ext).await;
        let titles: Vec<String> = feed
            .entries
            .iter()
            .map(|e| e.title.as_ref().unwrap().content.clone())
            .collect();
        assert_eq!(titles, vec![ARTICLE_TITLE.to_owned()], "{ext}");
        let entry = &feed.entries[0];
        assert!(entry.id.starts_with("urn:uuid:"), "{ext}: id {}", entry.id);
        assert_eq!(
            entry.links[0].href, "https://thediplomat.com/2013/08/china-kyrgyzstan-ties-warm/",
            "{ext}: link"
        );
        let unrelated = app.feed("football", ext).await;
        assert!(
            unrelated.entries.is_empty(),
            "{ext}: football got {:?}",
            unrelated.entries.len()
        );
    }
    // The same story has the same id in every format.
    let ids: Vec<String> = futures_ids(&app, &["rss", "atom", "json"])
        .await
        .into_iter()
        .map(|mut v| v.remove(0))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    app.stop().await;
}

async fn futures_ids(app: &TestApp, exts: &[&str]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for ext in exts {
        out.push(
            app.feed("central-asia-security", ext)
                .await
                .entries
                .into_iter()
                .map(|e| e.id)
                .collect(),
        );
    }
    out
}

#[tokio::test]
async fn topic_feed_shows_story_once_when_second_source_links_with_tracking_params() {
    let origin = Origin::start().await;
    origin.serve("/feed/", &fixture("diplomat-wordpress.xml"), RSS);
    origin.serve("/wire.xml", &fixture("wire-syndicated.xml"), RSS);
    let app = TestApp::spawn(&config_with_sources(&[
        ("The Diplomat", origin.url("/feed/")),
        ("Central Asia Wire", origin.url("/wire.xml")),
    ]))
    .await;
    let reports = app.tick().await;
    assert!(
        reports.iter().all(|r| r.outcome == Outcome::Ok),
        "{reports:?}"
    );
    for ext in ["rss", "atom", "json"] {
        let feed = app.feed("central-asia-security", ext).await;
        assert_eq!(
            feed.entries.len(),
            1,
            "{ext}: {:?}",
            feed.entries.iter().map(|e| &e.id).collect::<Vec<_>>()
        );
    }
    // The merged entry names the other outlet.
    let body = app
        .get("/topics/central-asia-security.atom")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !body.contains("utm_source"),
        "republished links must not carry tracking parameters"
    );
    assert!(
        body.contains("Central Asia Wire"),
        "also-reported-by attribution missing"
    );
    app.stop().await;
}

#[tokio::test]
async fn refetch_adds_nothing_and_edit_keeps_id_when_feed_changes() {
    let (origin, app) = diplomat_app().await;
    app.tick().await;
    let before = app.feed("central-asia-security", "atom").await;
    let id = before.entries[0].id.clone();
    let updated_before = before.entries[0].updated;

    // Unchanged feed, and the origin ignores our validators: nothing new, nothing updated.
    origin.serve(
        "/feed/",
        &format!("{} ", fixture("diplomat-wordpress.xml")),
        RSS,
    );
    let second = app.tick().await;
    assert_eq!(
        (second[0].items_new, second[0].items_updated),
        (0, 0),
        "{second:?}"
    );
    assert_eq!(
        app.feed("central-asia-security", "atom")
            .await
            .entries
            .len(),
        1
    );

    // The publisher edits the title: same entry, same id, later `updated`.
    let edited = fixture("diplomat-wordpress.xml").replace(
        "<title>China, Kyrgyzstan Ties Warm</title>",
        "<title>China, Kyrgyzstan Ties Warm (Updated)</title>",
    );
    origin.serve("/feed/", &edited, RSS);
    let third = app.tick().await;
    assert_eq!(
        (third[0].items_new, third[0].items_updated),
        (0, 1),
        "{third:?}"
    );
    let after = app.feed("central-asia-security", "atom").await;
    assert_eq!(after.entries.len(), 1);
    assert_eq!(
        after.entries[0].id, id,
        "an edit must not change the entry id"
    );
    assert_eq!(
        after.entries[0].title.as_ref().unwrap().content,
        "China, Kyrgyzstan Ties Warm (Updated)"
    );
    assert!(
        after.entries[0].updated > updated_before,
        "{:?} !> {:?}",
        after.entries[0].updated,
        updated_before
    );
    app.stop().await;
}

#[tokio::test]
async fn not_modified_stores_nothing_when_origin_answers_304() {
    let (origin, app) = diplomat_app().await;
    app.tick().await;
    let etag_before = app
        .get("/topics/central-asia-security.atom")
        .await
        .headers()["etag"]
        .clone();
    let reports = app.tick().await;
    assert_eq!(reports[0].outcome, Outcome::NotModified, "{reports:?}");
    assert_eq!(reports[0].http_status, Some(304));
    assert_eq!(
        origin.not_modified("/feed/"),
        1,
        "the second fetch must be conditional"
    );
    assert_eq!(
        reports[0].items_seen + reports[0].items_new + reports[0].items_updated,
        0
    );
    let statuses = app.handle.pipeline.store().source_statuses().await.unwrap();
    assert_eq!(statuses[0].last_outcome.as_deref(), Some("not_modified"));
    assert_eq!(statuses[0].articles, 2);
    let etag_after = app
        .get("/topics/central-asia-security.atom")
        .await
        .headers()["etag"]
        .clone();
    assert_eq!(
        etag_before, etag_after,
        "a 304 must not change the served feed"
    );
    app.stop().await;
}

#[tokio::test]
async fn served_feed_answers_304_when_client_sends_its_etag() {
    let (_origin, app) = diplomat_app().await;
    app.tick().await;
    let first = app.get("/topics/central-asia-security.rss").await;
    assert_eq!(first.status(), 200);
    assert!(
        first.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/rss+xml")
    );
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let last_modified = first.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_owned();
    let client = reqwest::Client::new();
    let url = format!("{}/topics/central-asia-security.rss", app.base);
    let again = client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let since = client
        .get(&url)
        .header("if-modified-since", &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(since.status(), 304);
    let head = client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    let raw = reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .build()
        .unwrap();
    let gz = raw
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(
        gz.headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("gzip")
    );
    assert_eq!(app.get("/topics/no-such-topic.rss").await.status(), 404);
    assert_eq!(
        app.get("/topics/central-asia-security.xml").await.status(),
        404
    );
    assert_eq!(app.get("/nothing-here").await.status(), 404);
    let post = client.post(&url).send().await.unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn index_page_links_every_topic_feed_when_opened() {
    let (_origin, app) = diplomat_app().await;
    app.tick().await;
    let page = app.get("/").await.text().await.unwrap();
    for href in [
        "/topics/central-asia-security.atom",
        "/topics/central-asia-security.rss",
        "/topics/football.json",
    ] {
        assert!(
            page.contains(&format!("{}{href}", app.base)),
            "index lacks {href}"
        );
    }
    assert!(page.contains("rel=\"alternate\" type=\"application/atom+xml\""));
    let topic = app
        .get("/topics/central-asia-security")
        .await
        .text()
        .await
        .unwrap();
    assert!(topic.contains(ARTICLE_TITLE));
    let atom = app.feed("central-asia-security", "atom").await;
    let anchor = format!(
        "id=\"story-{}\"",
        atom.entries[0].id.trim_start_matches("urn:uuid:")
    );
    assert!(
        topic.contains(&anchor),
        "topic page lacks the entry anchor {anchor}"
    );
    app.stop().await;
}

#[tokio::test]
async fn failing_source_is_recorded_and_others_still_served_when_origin_errors() {
    let origin = Origin::start().await;
    origin.serve("/feed/", &fixture("diplomat-wordpress.xml"), RSS);
    // Not a feed a lenient reader could recover (a truncated `<rss>` now is).
    origin.serve("/broken.xml", "<not-a-feed><x>", RSS);
    let app = TestApp::spawn(&config_with_sources(&[
        ("The Diplomat", origin.url("/feed/")),
        ("Broken", origin.url("/broken.xml")),
    ]))
    .await;
    let reports = app.tick().await;
    let broken = reports.iter().find(|r| r.source == "Broken").unwrap();
    assert_eq!(broken.outcome, Outcome::Failed);
    assert!(
        broken.error.as_deref().unwrap().contains("/broken.xml"),
        "{broken:?}"
    );
    origin.set_status("/feed/", 500);
    let reports = app.tick().await;
    let diplomat = reports.iter().find(|r| r.source == "The Diplomat").unwrap();
    assert_eq!(diplomat.http_status, Some(500));
    let statuses = app.handle.pipeline.store().source_statuses().await.unwrap();
    let stored = statuses.iter().find(|s| s.name == "The Diplomat").unwrap();
    assert_eq!((stored.consecutive_failures, stored.articles), (1, 2));
    // /sources sorts by any column: most failures first, and back.
    let most_failing = app_text(&app, "/sources?sort=failures").await;
    assert!(
        most_failing.find("Broken").unwrap() < most_failing.find("The Diplomat").unwrap(),
        "{most_failing}"
    );
    let by_articles = app_text(&app, "/sources?sort=articles&order=desc").await;
    assert!(by_articles.find("The Diplomat").unwrap() < by_articles.find("Broken").unwrap());
    // Stored articles keep being served.
    assert_eq!(
        app.feed("central-asia-security", "atom")
            .await
            .entries
            .len(),
        1
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_feed_shows_cli_fetch_within_seconds_when_daemon_shares_store() {
    let (origin, app) = diplomat_app().await;
    assert!(
        app.feed("central-asia-security", "atom")
            .await
            .entries
            .is_empty()
    );
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_feedmill"))
        .arg("--config")
        .arg(&app.config_path)
        .arg("fetch")
        .env_remove("FEEDMILL_STORE")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("The Diplomat") && stdout.contains(" ok "),
        "{stdout}"
    );
    assert_eq!(origin.hits("/feed/"), 1);
    assert!(app.store_dir.path().join("feedmill.db").exists());
    // The daemon notices another process's writes by polling topic versions (every 2 s).
    let mut entries = 0;
    for _ in 0..100 {
        entries = app
            .feed("central-asia-security", "atom")
            .await
            .entries
            .len();
        if entries == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        entries, 1,
        "the daemon did not show the CLI's fetch within 10 s"
    );
    app.stop().await;
}

#[tokio::test]
async fn fetch_command_exits_1_when_a_source_fails() {
    let origin = Origin::start().await;
    origin.serve("/feed/", "not a feed at all", "text/plain");
    let app = TestApp::spawn(&config_with_sources(&[("Broken", origin.url("/feed/"))])).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_feedmill"))
        .arg("--config")
        .arg(&app.config_path)
        .arg("fetch")
        .env_remove("FEEDMILL_STORE")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("failed") && stdout.contains("/feed/"),
        "{stdout}"
    );
    app.stop().await;
}

#[tokio::test]
async fn browser_gets_topic_page_and_reader_gets_feed_when_opening_feed_url() {
    let (_origin, app) = diplomat_app().await;
    app.tick().await;
    let client = reqwest::Client::new();
    let url = format!("{}/topics/central-asia-security.atom", app.base);
    let browser = client
        .get(&url)
        .header(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )
        .send()
        .await
        .unwrap();
    assert!(
        browser.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = browser.text().await.unwrap();
    assert!(
        page.contains("This address is a feed") && page.contains(ARTICLE_TITLE),
        "{page}"
    );
    for accept in ["*/*", "application/atom+xml, text/html;q=0.5"] {
        let reader = client
            .get(&url)
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert!(
            reader.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/atom+xml"),
            "{accept}"
        );
        assert!(
            reader
                .headers()
                .get_all("vary")
                .iter()
                .any(|v| v.to_str().unwrap().contains("accept"))
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn opml_lists_every_topic_feed_when_requested() {
    let (_origin, app) = diplomat_app().await;
    let response = app.get("/topics.opml").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/x-opml")
    );
    let body = response.text().await.unwrap();
    for slug in ["central-asia-security", "football"] {
        assert!(
            body.contains(&format!("xmlUrl=\"{}/topics/{slug}.atom\"", app.base)),
            "{body}"
        );
    }
    assert!(
        app.get("/")
            .await
            .text()
            .await
            .unwrap()
            .contains("/topics.opml")
    );
    app.stop().await;
}

async fn app_text(app: &TestApp, path: &str) -> String {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.text().await.unwrap()
}
