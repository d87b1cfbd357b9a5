//! Real feed readers (feedparser, newsboat, sfeed, through `shared/tools/feedcheck`) read
//! every entry of the RSS and Atom the daemon serves, including messy real-world content.

use std::path::PathBuf;
use std::process::Command;

use crate::helpers::{Origin, TestApp, config_with_sources, fixture};

fn feedcheck_path() -> PathBuf {
    let shared = std::env::var_os("FEEDMILL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let tool = shared.join("tools/feedcheck/feedcheck");
    assert!(
        tool.exists(),
        "feedcheck not found at {} (set FEEDMILL_SHARED to the shared/ folder)",
        tool.display()
    );
    tool
}

/// Run `feedcheck --no-w3c URL`; on a missing setup (exit 2) run its setup.sh once, readers
/// only, then retry. A reader that is still missing fails the test: it is never skipped.
fn feedcheck(url: &str) -> (i32, String) {
    let tool = feedcheck_path();
    let run = || {
        let out = Command::new(&tool)
            .args(["--no-w3c", "--timeout", "60", url])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    };
    let (code, text) = run();
    if code != 2 {
        return (code, text);
    }
    let setup = tool.with_file_name("setup.sh");
    let status = Command::new("bash")
        .arg(&setup)
        .env("FEEDCHECK_NO_W3C", "1")
        .status()
        .unwrap();
    assert!(
        status.success(),
        "{} failed; feedcheck said:\n{text}",
        setup.display()
    );
    run()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_read_every_entry_when_topic_feeds_are_served() {
    let origin = Origin::start().await;
    origin.serve(
        "/feed/",
        &fixture("diplomat-wordpress.xml"),
        "application/rss+xml",
    );
    origin.serve(
        "/wire.xml",
        &fixture("wire-syndicated.xml"),
        "application/rss+xml",
    );
    origin.serve(
        "/binary.xml",
        &fixture("realworld-binarycode.rss.xml"),
        "application/rss+xml",
    );
    origin.serve(
        "/bitscribe.xml",
        &fixture("realworld-bitscribe.atom.xml"),
        "application/atom+xml",
    );
    let mut config = config_with_sources(&[
        ("The Diplomat", origin.url("/feed/")),
        ("Central Asia Wire", origin.url("/wire.xml")),
        ("Binary Code", origin.url("/binary.xml")),
        ("Bitscribe", origin.url("/bitscribe.xml")),
    ]);
    config.push_str("\n[[topic]]\nslug = \"everything\"\ntitle = \"Everything\"\nquery = \"tag:test\"\nlimit = 100\n");
    let app = TestApp::spawn(&config).await;
    let reports = app.tick().await;
    assert!(reports.iter().all(|r| r.error.is_none()), "{reports:?}");

    // 2 Diplomat items + 10 + 10, the syndicated copy merged into the Diplomat story.
    let expected = 22;
    assert_eq!(app.feed("everything", "atom").await.entries.len(), expected);
    for (slug, ext) in [
        ("everything", "rss"),
        ("everything", "atom"),
        ("central-asia-security", "rss"),
        ("central-asia-security", "atom"),
    ] {
        let url = format!("{}/topics/{slug}.{ext}", app.base);
        let (code, text) = tokio::task::spawn_blocking(move || feedcheck(&url))
            .await
            .unwrap();
        assert_eq!(code, 0, "feedcheck on {slug}.{ext}:\n{text}");
        assert!(text.contains("readers_ok=3/3"), "{slug}.{ext}:\n{text}");
    }
    app.stop().await;
}
