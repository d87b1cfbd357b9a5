//! `feedmill backup FILE` while the daemon writes: a consistent, openable copy of the store,
//! never over an existing file.

use std::path::Path;

use chrono::{Duration, Utc};

use crate::helpers::{Origin, TestApp, config_with_sources, feedmill_command, rss};

const RSS: &str = "application/rss+xml";

fn growing_feed(count: usize) -> String {
    let items: Vec<(String, String)> = (0..count)
        .map(|i| {
            (
                format!("Football story number {i}"),
                format!("http://grow.example/story/{i}"),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = items
        .iter()
        .map(|(t, l)| (t.as_str(), l.as_str()))
        .collect();
    rss(&refs)
}

async fn backup(app: &TestApp, file: &Path) -> std::process::Output {
    feedmill_command()
        .arg("--config")
        .arg(&app.config_path)
        .arg("backup")
        .arg(file)
        .output()
        .await
        .unwrap()
}

/// Open a backup as a store (as a restore would: the file becomes `STORE/feedmill.db`)
/// after SQLite's own checks.
async fn check_copy(file: &Path) -> u64 {
    let url = format!("sqlite://{}?mode=ro", file.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(integrity, "ok", "{}", file.display());
    let dangling: Vec<(String, i64)> = sqlx::query_as("PRAGMA foreign_key_check")
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .map(|row: (String, i64, String, i64)| (row.0, row.1))
        .collect();
    assert!(dangling.is_empty(), "dangling rows: {dangling:?}");
    pool.close().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(file, dir.path().join("feedmill.db")).unwrap();
    let store = feedmill::store::Store::open(dir.path()).await.unwrap();
    let n = store.article_count().await.unwrap();
    store.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_is_consistent_copy_when_daemon_writes_meanwhile() {
    let origin = Origin::start().await;
    origin.serve("/grow.xml", &growing_feed(20), RSS);
    let app = TestApp::spawn(&config_with_sources(&[("Grow", origin.url("/grow.xml"))])).await;
    app.tick().await;
    let rounds = 15;
    let writer = tokio::spawn({
        let (handle, origin) = (app.handle.clone(), origin.clone());
        async move {
            for round in 1..=rounds {
                origin.serve("/grow.xml", &growing_feed((round + 1) * 20), RSS);
                handle.tick(Utc::now() + Duration::days(round as i64)).await;
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let mut counts = Vec::new();
    for k in 0..3 {
        let file = dir.path().join(format!("copy-{k}.db"));
        let writing = !writer.is_finished();
        let out = backup(&app, &file).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let size = std::fs::metadata(&file).unwrap().len();
        assert!(
            stdout.starts_with(&format!("{}: {size} bytes (", file.display())),
            "{stdout}"
        );
        counts.push((writing, check_copy(&file).await));
    }
    writer.await.unwrap();
    let total = app.handle.pipeline.store().article_count().await.unwrap();
    assert_eq!(total, (rounds + 1) as u64 * 20);
    assert!(
        counts[0].0,
        "the daemon was not writing during the first backup"
    );
    let mut last = 0;
    for (_, n) in &counts {
        assert!(
            *n >= 20 && *n <= total && *n >= last,
            "{counts:?} of {total}"
        );
        last = *n;
    }
    println!("backups while writing held {counts:?} of {total} articles");
    app.stop().await;
}

#[tokio::test]
async fn backup_refuses_to_overwrite_when_file_exists() {
    let origin = Origin::start().await;
    origin.serve("/grow.xml", &growing_feed(3), RSS);
    let app = TestApp::spawn(&config_with_sources(&[("Grow", origin.url("/grow.xml"))])).await;
    app.tick().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("existing.db");
    std::fs::write(&file, "keep me").unwrap();
    let out = backup(&app, &file).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refusing to overwrite"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");

    let fresh = dir.path().join("fresh.db");
    let out = backup(&app, &fresh).await;
    assert!(out.status.success());
    assert_eq!(check_copy(&fresh).await, 3);
    app.stop().await;
}
