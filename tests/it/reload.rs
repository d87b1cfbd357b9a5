//! Editing feeds.toml while the daemon runs: sources added and removed, queries changed, a
//! broken edit rejected (the daemon keeps its last good configuration and says so), SIGHUP,
//! settings that need a restart, and no fetch twice in flight across a reload.

use std::time::{Duration, Instant};

use crate::helpers::{
    Daemon, Origin, TestApp, config_with_fetch, config_with_sources, feedmill_command, fixture,
    rss, source_table, unused_port,
};

const RSS: &str = "application/rss+xml";
const KYRGYZ: &str = "China, Kyrgyzstan Ties Warm";

fn titles(feed: &feed_rs::model::Feed) -> Vec<String> {
    feed.entries
        .iter()
        .filter_map(|e| e.title.as_ref().map(|t| t.content.clone()))
        .collect()
}

/// Poll `cond` every 50 ms for at most `within`; how long it took, or `None`.
async fn eventually<F, Fut>(within: Duration, mut cond: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < within {
        if cond().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_source_is_fetched_at_once_and_reaches_topic_when_file_gains_it() {
    let origin = Origin::start().await;
    origin.serve(
        "/a.xml",
        &rss(&[("Quiet day at the lake", "http://a.example/1")]),
        RSS,
    );
    origin.serve(
        "/b.xml",
        &rss(&[("World cup football final tonight", "http://b.example/1")]),
        RSS,
    );
    let a = source_table("A", &origin.url("/a.xml"), "");
    let app = TestApp::spawn_scheduled(&config_with_fetch("allow_private = true\n", &a)).await;
    assert!(app.feed("football", "atom").await.entries.is_empty());

    let b = source_table("B", &origin.url("/b.xml"), "");
    let saved = Instant::now();
    let reload = app
        .edit_config(&config_with_fetch("allow_private = true\n", &(a + &b)))
        .await;
    // Scheduled at once: no tick, no restart, while A's first run may be a minute away.
    let shown = eventually(Duration::from_secs(10), || async {
        titles(&app.feed("football", "atom").await) == ["World cup football final tonight"]
    })
    .await;
    let shown = shown.map(|_| saved.elapsed());
    assert!(
        shown.is_some(),
        "the added source's item never reached the topic"
    );
    assert_eq!(origin.hits("/b.xml"), 1);
    println!(
        "reload applied {} ms after the save; item served {} ms after the save",
        reload.as_millis(),
        shown.unwrap().as_millis()
    );
    assert!(app.handle.status.config().rejected.is_none());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_source_stops_and_keeps_its_articles_when_file_drops_it() {
    let origin = Origin::start().await;
    origin.serve("/a.xml", &fixture("diplomat-wordpress.xml"), RSS);
    origin.serve(
        "/b.xml",
        &rss(&[("Soccer league results", "http://b.example/1")]),
        RSS,
    );
    let with_both =
        config_with_sources(&[("A", origin.url("/a.xml")), ("B", origin.url("/b.xml"))])
            .replace("schedule = \"15m\"", "schedule = \"1s\"");
    let app = TestApp::spawn_scheduled(&with_both).await;
    let fetched = eventually(Duration::from_secs(10), || async {
        origin.hits("/a.xml") >= 1 && origin.hits("/b.xml") >= 1
    })
    .await;
    assert!(fetched.is_some(), "sources were not fetched");
    eventually(Duration::from_secs(5), || async {
        !app.feed("football", "atom").await.entries.is_empty()
    })
    .await;

    let only_a = config_with_sources(&[("A", origin.url("/a.xml"))])
        .replace("schedule = \"15m\"", "schedule = \"1s\"");
    app.edit_config(&only_a).await;
    let b_hits = origin.hits("/b.xml");
    let a_hits = origin.hits("/a.xml");
    // A goes on every second; B does not run again.
    let a_ran = eventually(Duration::from_secs(10), || async {
        origin.hits("/a.xml") >= a_hits + 2
    })
    .await;
    assert!(a_ran.is_some(), "the remaining source stopped too");
    assert_eq!(
        origin.hits("/b.xml"),
        b_hits,
        "a removed source was fetched"
    );
    // Its stored articles stay, and still count in topics until retention.
    assert_eq!(
        titles(&app.feed("football", "atom").await),
        ["Soccer league results"]
    );
    let page = app.get("/sources").await.text().await.unwrap();
    assert!(page.contains("not in feeds.toml any more"), "{page}");
    app.stop().await;
}

#[tokio::test]
async fn changed_query_is_reevaluated_over_stored_articles_when_file_is_saved() {
    let origin = Origin::start().await;
    origin.serve("/feed/", &fixture("diplomat-wordpress.xml"), RSS);
    let body = config_with_sources(&[("The Diplomat", origin.url("/feed/"))]);
    let app = TestApp::spawn(&body).await;
    app.tick().await;
    assert!(app.feed("football", "atom").await.entries.is_empty());
    let before = app.feed("football", "rss").await;

    let edited = body
        .replace(
            "query = 'football OR soccer OR \"world cup\"'",
            "query = 'football OR kyrgyz*'",
        )
        .replace(
            "title = \"Football\"",
            "title = \"Football and Kyrgyzstan\"",
        );
    assert_ne!(edited, body);
    app.edit_config(&edited).await;
    // No fetch: the stored article is matched by the new query.
    let feed = app.feed("football", "rss").await;
    assert_eq!(titles(&feed), [KYRGYZ]);
    assert_eq!(
        feed.title.map(|t| t.content).as_deref(),
        Some("Football and Kyrgyzstan"),
        "the served feed still has the old title (was {:?})",
        before.title.map(|t| t.content)
    );
    let ticks = app.tick().await;
    assert_eq!(ticks.len(), 1, "the source is still scheduled");
    app.stop().await;
}

#[tokio::test]
async fn broken_edit_keeps_last_good_config_and_shows_check_error_when_file_is_invalid() {
    let origin = Origin::start().await;
    origin.serve("/feed/", &fixture("diplomat-wordpress.xml"), RSS);
    let body = config_with_sources(&[("The Diplomat", origin.url("/feed/"))]);
    let app = TestApp::spawn(&body).await;
    app.tick().await;

    // A typo'd key and a bad schedule: both reported, with line and column.
    let broken = body
        .replace("timeout = \"5s\"", "timeuot = \"5s\"")
        .replace("schedule = \"15m\"", "schedule = \"every 15m\"");
    app.edit_config(&broken).await;
    let status = app.handle.status.config();
    let rejected = status
        .rejected
        .clone()
        .expect("the broken edit was applied");
    let check = feedmill_command()
        .arg("--config")
        .arg(&app.config_path)
        .arg("check")
        .output()
        .await
        .unwrap();
    assert_eq!(check.status.code(), Some(2));
    let check_err = String::from_utf8_lossy(&check.stderr);
    assert_eq!(
        rejected.message,
        check_err.trim_end(),
        "not the same as `check`"
    );
    assert!(
        rejected.message.contains("feeds.toml:") && rejected.message.contains("timeuot"),
        "{}",
        rejected.message
    );

    // Still serving and fetching on the last good configuration, and saying so.
    assert_eq!(
        titles(&app.feed("central-asia-security", "atom").await),
        [KYRGYZ]
    );
    let page = app.get("/sources").await.text().await.unwrap();
    let loaded = status
        .loaded_at
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string();
    assert!(
        page.contains(&format!(
            "feeds.toml has an error; still running the config loaded at {loaded}"
        )),
        "{page}"
    );
    let first_line = rejected.message.lines().next().unwrap();
    assert!(page.contains(first_line), "{first_line} not on the page");
    assert_eq!(app.get("/readyz").await.status(), 200);
    let reports = app.tick().await;
    assert_eq!(reports.len(), 1);

    // Fixed: applied, and the banner goes.
    app.edit_config(&body).await;
    assert!(app.handle.status.config().rejected.is_none());
    let page = app.get("/sources").await.text().await.unwrap();
    assert!(!page.contains("has an error"), "{page}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_waits_for_fetch_in_flight_and_never_doubles_it_when_schedule_changes() {
    let origin = Origin::start().await;
    origin.serve("/slow.xml", &fixture("diplomat-wordpress.xml"), RSS);
    origin.set_delay("/slow.xml", Duration::from_millis(1200));
    let body = config_with_sources(&[("Slow", origin.url("/slow.xml"))])
        .replace("schedule = \"15m\"", "schedule = \"1s\"");
    let app = TestApp::spawn_scheduled(&body).await;
    let started = eventually(Duration::from_secs(10), || async {
        origin.in_flight("/slow.xml") == 1
    })
    .await;
    assert!(started.is_some(), "the first fetch did not start");
    // Mid-fetch: a new schedule for the source being fetched.
    app.write_config(&body.replace("schedule = \"1s\"", "schedule = \"2s\""));
    let reloaded = app.handle.reload(chrono::Utc::now()).await.unwrap();
    assert_eq!(reloaded.changes.rescheduled, ["Slow"]);
    assert!(
        reloaded.waited_ms >= 300,
        "the reload did not wait for the fetch in flight ({} ms)",
        reloaded.waited_ms
    );
    let more = eventually(Duration::from_secs(15), || async {
        origin.hits("/slow.xml") >= 4
    })
    .await;
    assert!(more.is_some(), "the source stopped after the reload");
    assert_eq!(
        origin.max_in_flight("/slow.xml"),
        1,
        "the source was fetched twice at once"
    );
    println!(
        "reload waited {} ms for the fetch in flight",
        reloaded.waited_ms
    );
    app.stop().await;
}

/// The binary, reloading on SIGHUP an edit its directory watch cannot see (the config is a
/// symlink into another directory), logging a change of `listen` as needing a restart and a
/// broken file with `config` and `error` fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_restart_settings_are_kept_when_file_changes_behind_symlink() {
    let origin = Origin::start().await;
    origin.serve("/a.xml", &fixture("diplomat-wordpress.xml"), RSS);
    origin.serve(
        "/b.xml",
        &rss(&[("Football cup draw", "http://b.example/1")]),
        RSS,
    );
    let store = tempfile::tempdir().unwrap();
    let real_dir = tempfile::tempdir().unwrap();
    let link_dir = tempfile::tempdir().unwrap();
    let real = real_dir.path().join("real.toml");
    let link = link_dir.path().join("feeds.toml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let port = unused_port();
    let config = |listen_port: u16, sources: &[(&str, String)]| {
        format!(
            "[server]\nlisten = \"127.0.0.1:{listen_port}\"\n\n{}",
            config_with_sources(sources)
        )
    };
    std::fs::write(&real, config(port, &[("A", origin.url("/a.xml"))])).unwrap();
    let mut cmd = feedmill_command();
    cmd.arg("--log-format")
        .arg("json")
        .arg("--config")
        .arg(&link)
        .arg("--store")
        .arg(store.path())
        .arg("serve");
    let mut daemon = Daemon::start(cmd, port).await;

    let other_port = unused_port();
    std::fs::write(
        &real,
        config(
            other_port,
            &[("A", origin.url("/a.xml")), ("B", origin.url("/b.xml"))],
        ),
    )
    .unwrap();
    let sources = || async {
        reqwest::get(format!("{}/sources", daemon.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        !sources().await.contains(&origin.url("/b.xml")),
        "the watch saw a change outside its directory"
    );
    daemon.signal(libc::SIGHUP);
    let seen = eventually(Duration::from_secs(10), || async {
        sources().await.contains(&origin.url("/b.xml"))
    })
    .await;
    assert!(
        seen.is_some(),
        "SIGHUP did not reload:\n{}",
        daemon.stderr()
    );
    // /sources shows the source once the store has it; the log line comes when all is done.
    assert!(
        daemon
            .wait_for_log("configuration reloaded", Duration::from_secs(10))
            .await,
        "{}",
        daemon.stderr()
    );
    let logs = daemon.json_logs();
    let restart = logs
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.contains("needs a restart"))
        })
        .unwrap_or_else(|| panic!("no needs-a-restart line:\n{}", daemon.stderr()));
    assert_eq!(restart["level"], "WARN");
    assert_eq!(restart["setting"], "[server] listen");
    let reloaded = logs
        .iter()
        .find(|l| l["message"] == "configuration reloaded")
        .unwrap();
    assert_eq!(reloaded["trigger"], "SIGHUP");
    // Still on the port it started on.
    assert_eq!(
        reqwest::get(format!("{}/healthz", daemon.base))
            .await
            .unwrap()
            .status(),
        200
    );

    std::fs::write(&real, "[server\nlisten = 1\n").unwrap();
    daemon.signal(libc::SIGHUP);
    assert!(
        daemon
            .wait_for_log("configuration rejected", Duration::from_secs(10))
            .await,
        "{}",
        daemon.stderr()
    );
    let logs = daemon.json_logs();
    let rejected = logs
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("configuration rejected"))
        })
        .unwrap();
    assert_eq!(rejected["level"], "ERROR");
    assert_eq!(rejected["config"], link.display().to_string());
    let error = rejected["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!("{}:1:", link.display())),
        "{error}"
    );
    assert_eq!(
        reqwest::get(format!("{}/readyz", daemon.base))
            .await
            .unwrap()
            .status(),
        200
    );
    daemon.signal(libc::SIGTERM);
    let (status, _) = daemon.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{}", daemon.stderr());
}
