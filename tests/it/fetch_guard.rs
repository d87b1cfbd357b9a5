//! The SSRF guard end to end: a source on a private address is refused unless
//! `allow_private` says otherwise, the refusal is recorded on the source, and the daemon
//! keeps serving.
//!
//! Every origin here is on 127.0.0.1, so a redirect from an *allowed* (public) origin to a
//! private address cannot be staged at this level: any origin we can run is itself private.
//! That case is proven in `src/fetch` unit tests, where a test-only DNS pin makes a public
//! name reach 127.0.0.1 past the guard (`fetch_refuses_when_public_host_redirects_to_private_address`),
//! and in `fetch::guard`'s table of redirect decisions.

use crate::helpers::{Origin, TestApp, config_with_fetch, fixture, source_table};
use feedmill::pipeline::Outcome;

const RSS: &str = "application/rss+xml; charset=UTF-8";

#[tokio::test]
async fn source_is_refused_and_recorded_when_it_is_on_loopback_without_allow_private() {
    let origin = Origin::start().await;
    origin.serve("/feed/", &fixture("diplomat-wordpress.xml"), RSS);
    let url = origin.url("/feed/");
    let app = TestApp::spawn(&config_with_fetch("", &source_table("Local", &url, ""))).await;

    let reports = app.tick().await;
    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!(report.outcome, Outcome::Failed, "{report:?}");
    assert_eq!(report.http_status, None);
    let want = format!(
        "refusing to fetch {url}: 127.0.0.1 is a loopback address; set allow_private = true for this source to allow it"
    );
    assert_eq!(report.error.as_deref(), Some(want.as_str()));
    assert_eq!(origin.hits("/feed/"), 0, "the guard let a request through");

    let statuses = app.handle.pipeline.store().source_statuses().await.unwrap();
    let stored = statuses.iter().find(|s| s.name == "Local").unwrap();
    assert_eq!(stored.last_error.as_deref(), Some(want.as_str()));
    assert_eq!(stored.consecutive_failures, 1);

    // The daemon keeps serving.
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert!(
        app.feed("central-asia-security", "atom")
            .await
            .entries
            .is_empty()
    );
    app.stop().await;
}

#[tokio::test]
async fn source_is_fetched_when_it_sets_allow_private_and_fetch_does_not() {
    let origin = Origin::start().await;
    origin.serve("/feed/", &fixture("diplomat-wordpress.xml"), RSS);
    origin.serve("/other/", &fixture("diplomat-wordpress.xml"), RSS);
    let sources = source_table("Allowed", &origin.url("/feed/"), "allow_private = true\n")
        + &source_table("Guarded", &origin.url("/other/"), "");
    let app = TestApp::spawn(&config_with_fetch("", &sources)).await;

    let reports = app.tick().await;
    let allowed = reports.iter().find(|r| r.source == "Allowed").unwrap();
    assert_eq!(allowed.outcome, Outcome::Ok, "{allowed:?}");
    assert_eq!(allowed.items_new, 2);
    let guarded = reports.iter().find(|r| r.source == "Guarded").unwrap();
    assert_eq!(guarded.outcome, Outcome::Failed, "{guarded:?}");
    assert_eq!(origin.hits("/other/"), 0);
    assert_eq!(
        app.feed("central-asia-security", "atom")
            .await
            .entries
            .len(),
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn source_is_refused_when_it_sets_allow_private_false_and_fetch_allows() {
    let origin = Origin::start().await;
    origin.serve("/feed/", &fixture("diplomat-wordpress.xml"), RSS);
    let app = TestApp::spawn(&config_with_fetch(
        "allow_private = true\n",
        &source_table("Local", &origin.url("/feed/"), "allow_private = false\n"),
    ))
    .await;
    let reports = app.tick().await;
    assert_eq!(reports[0].outcome, Outcome::Failed, "{:?}", reports[0]);
    assert!(
        reports[0]
            .error
            .as_deref()
            .unwrap()
            .starts_with("refusing to fetch "),
        "{:?}",
        reports[0]
    );
    assert_eq!(origin.hits("/feed/"), 0);
    app.stop().await;
}

/// `feedmill fetch` fetches sources concurrently; `host_spacing` still spaces them when they
/// share a host (the per-host gate lives in the one fetcher every fetch goes through).
#[tokio::test]
async fn concurrent_fetch_is_spaced_when_sources_share_a_host() {
    let origin = Origin::start().await;
    let mut sources = String::new();
    for n in 0..3 {
        let path = format!("/feed-{n}/");
        origin.serve(&path, &fixture("diplomat-wordpress.xml"), RSS);
        sources += &source_table(&format!("Source {n}"), &origin.url(&path), "");
    }
    let config = config_with_fetch("allow_private = true\n", &sources)
        .replace("host_spacing = \"0s\"", "host_spacing = \"200ms\"");
    let app = TestApp::spawn(&config).await;
    let pipeline = &app.handle.pipeline;
    let started = std::time::Instant::now();
    let reports = pipeline
        .refresh_many(&pipeline.config().sources, chrono::Utc::now(), |_| {})
        .await;
    let elapsed = started.elapsed();
    assert!(
        reports.iter().all(|r| r.outcome == Outcome::Ok),
        "{reports:?}"
    );
    // Three starts on one host, 200 ms apart: the last cannot start before 400 ms.
    assert!(
        elapsed >= std::time::Duration::from_millis(400),
        "{elapsed:?}"
    );
    app.stop().await;
}
