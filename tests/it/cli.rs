//! The non-serve commands on a store the daemon is using: `check` with match counts and
//! `render` to a file.

use std::process::Output;

use crate::helpers::{Origin, TestApp, config_with_sources, fixture};

async fn feedmill(app: &TestApp, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_feedmill"))
        .arg("--config")
        .arg(&app.config_path)
        .args(args)
        .env_remove("FEEDMILL_STORE")
        .env_remove("FEEDMILL_LISTEN")
        .output()
        .await
        .unwrap()
}

async fn fetched_app() -> TestApp {
    let origin = Origin::start().await;
    origin.serve(
        "/feed/",
        &fixture("diplomat-wordpress.xml"),
        "application/rss+xml",
    );
    let app = TestApp::spawn(&config_with_sources(&[(
        "The Diplomat",
        origin.url("/feed/"),
    )]))
    .await;
    app.tick().await;
    app
}

#[tokio::test]
async fn check_prints_match_counts_when_store_exists() {
    let app = fetched_app().await;
    let out = feedmill(&app, &["check"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("2 articles"), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("central-asia-security"))
        .unwrap();
    assert!(line.contains(" 1 matching"), "{line}");
    let line = stdout.lines().find(|l| l.contains("football")).unwrap();
    assert!(line.contains(" 0 matching"), "{line}");
    app.stop().await;
}

#[tokio::test]
async fn render_writes_the_served_feed_when_given_output_file() {
    let app = fetched_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("topic.rss");
    let out = feedmill(
        &app,
        &[
            "render",
            "central-asia-security",
            "--format",
            "rss",
            "--output",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read(&file).unwrap();
    let served = app
        .get("/topics/central-asia-security.rss")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        written,
        served.to_vec(),
        "render and the server must produce the same bytes"
    );

    let out = feedmill(&app, &["render", "no-such-topic"]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no-such-topic") && stderr.contains("central-asia-security"),
        "{stderr}"
    );
    app.stop().await;
}

#[tokio::test]
async fn search_shows_matches_and_matched_terms_when_query_hits() {
    let app = fetched_app().await;
    let out = feedmill(&app, &["search", "kyrgyz* AND (border* OR rice)"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("China, Kyrgyzstan Ties Warm  [The Diplomat]"),
        "{stdout}"
    );
    assert!(stdout.contains("matched: kyrgyz*, border*"), "{stdout}");
    assert!(stdout.contains("1 of 2 stored articles match"), "{stdout}");

    let bad = feedmill(&app, &["search", "(kyrgyz* OR"]).await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid query"));
    app.stop().await;
}
