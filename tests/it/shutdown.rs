//! Graceful shutdown of the real binary: SIGTERM during a fetch lets it finish and store
//! (or, past the grace period, stores nothing of it), closes the store, exits 0 within 10 s.

use std::path::Path;
use std::time::Duration;

use crate::helpers::{Daemon, Origin, config_with_sources, feedmill_command, fixture, unused_port};

const RSS: &str = "application/rss+xml";

/// `feedmill serve` on a fresh store with one source whose first fetch starts within 2 s.
async fn serve(origin: &Origin, store: &Path, timeout: &str) -> Daemon {
    let dir = store.join("config");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("feeds.toml");
    let port = unused_port();
    let body = config_with_sources(&[("Slow", origin.url("/slow.xml"))])
        .replace("schedule = \"15m\"", "schedule = \"2s\"")
        .replace("timeout = \"5s\"", &format!("timeout = {timeout:?}"));
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[store]\npath = {:?}\n\n{body}",
            store.join("data").display().to_string()
        ),
    )
    .unwrap();
    let mut cmd = feedmill_command();
    cmd.arg("--config").arg(&config).arg("serve");
    Daemon::start(cmd, port).await
}

async fn wait_in_flight(origin: &Origin) {
    let started = std::time::Instant::now();
    while origin.in_flight("/slow.xml") == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the fetch did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn reopen(store: &Path) -> (u64, feedmill::store::SourceStatus) {
    let store = feedmill::store::Store::open(&store.join("data"))
        .await
        .unwrap();
    let articles = store.article_count().await.unwrap();
    let status = store.source_statuses().await.unwrap().remove(0);
    store.close().await;
    (articles, status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_slow_fetch_lets_it_store_and_exits_0_within_10s() {
    let origin = Origin::start().await;
    origin.serve("/slow.xml", &fixture("diplomat-wordpress.xml"), RSS);
    origin.set_delay("/slow.xml", Duration::from_secs(2));
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = serve(&origin, dir.path(), "30s").await;
    wait_in_flight(&origin).await;
    daemon.signal(libc::SIGTERM);
    let (status, took) = daemon.wait_exit(Duration::from_secs(12)).await;
    assert_eq!(status.code(), Some(0), "{}", daemon.stderr());
    assert!(took < Duration::from_secs(10), "exit took {took:?}");
    assert!(daemon.stderr().contains("shutting down"));
    let (articles, source) = reopen(dir.path()).await;
    assert_eq!(articles, 2, "the fetch in flight was cut off");
    assert_eq!(source.last_outcome.as_deref(), Some("ok"));
    println!("SIGTERM during a 2 s fetch: stored it and exited 0 after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_fetch_longer_than_grace_exits_0_within_10s_without_partial_writes() {
    let origin = Origin::start().await;
    origin.serve("/slow.xml", &fixture("diplomat-wordpress.xml"), RSS);
    origin.set_delay("/slow.xml", Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = serve(&origin, dir.path(), "120s").await;
    wait_in_flight(&origin).await;
    daemon.signal(libc::SIGTERM);
    let (status, took) = daemon.wait_exit(Duration::from_secs(12)).await;
    assert_eq!(status.code(), Some(0), "{}", daemon.stderr());
    assert!(took < Duration::from_secs(10), "exit took {took:?}");
    assert!(
        daemon
            .stderr()
            .contains("in-flight work did not finish within the grace period"),
        "{}",
        daemon.stderr()
    );
    // Nothing of the abandoned fetch: no articles, no recorded outcome, and SQLite agrees
    // the file is sound.
    let (articles, source) = reopen(dir.path()).await;
    assert_eq!(articles, 0);
    assert_eq!(source.last_fetch_at, None);
    let url = format!(
        "sqlite://{}?mode=ro",
        dir.path().join("data/feedmill.db").display()
    );
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    pool.close().await;
    println!("SIGTERM during a 60 s fetch: exited 0 after {took:?}, nothing stored");
}
