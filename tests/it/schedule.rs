//! The real scheduler (tokio-cron-scheduler on the wall clock) inside a serving daemon: it
//! keeps fetching on schedule, and shutdown lets a fetch in flight finish and store.
//! These are the only tests that wait on real time, in short bounded loops.

use std::time::{Duration, Instant};

use crate::helpers::{Origin, TestApp, config_with_sources, fixture};

const RSS: &str = "application/rss+xml";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_fetches_each_source_repeatedly_when_serving() {
    let origin = Origin::start().await;
    origin.serve("/a.xml", &fixture("diplomat-wordpress.xml"), RSS);
    origin.serve("/b.xml", &fixture("wire-syndicated.xml"), RSS);
    let config = config_with_sources(&[("A", origin.url("/a.xml")), ("B", origin.url("/b.xml"))])
        .replace("schedule = \"15m\"", "schedule = \"1s\"");
    let app = TestApp::spawn_scheduled(&config).await;
    let started = Instant::now();
    while (origin.hits("/a.xml") < 3 || origin.hits("/b.xml") < 3)
        && started.elapsed() < Duration::from_secs(15)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        origin.hits("/a.xml") >= 3 && origin.hits("/b.xml") >= 3,
        "a 1 s schedule fetched A {} and B {} times in {:?}",
        origin.hits("/a.xml"),
        origin.hits("/b.xml"),
        started.elapsed()
    );
    // Each source's runs never overlap, and later runs are conditional.
    assert!(origin.not_modified("/a.xml") >= 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_fetch_store_its_articles_when_stopping() {
    let origin = Origin::start().await;
    origin.serve("/slow.xml", &fixture("diplomat-wordpress.xml"), RSS);
    origin.set_delay("/slow.xml", Duration::from_millis(1500));
    let config = config_with_sources(&[("Slow", origin.url("/slow.xml"))])
        .replace("schedule = \"15m\"", "schedule = \"2s\"");
    let app = TestApp::spawn_scheduled(&config).await;
    let started = Instant::now();
    while origin.hits("/slow.xml") == 0 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        origin.hits("/slow.xml"),
        1,
        "the first scheduled fetch did not start"
    );
    let store_dir = app.store_dir.path().to_owned();
    // Stop while the origin is still holding the response.
    let keep = app.stop_keeping_store().await;
    let store = feedmill::store::Store::open(&store_dir).await.unwrap();
    assert_eq!(
        store.article_count().await.unwrap(),
        2,
        "the in-flight fetch was cut off by shutdown"
    );
    let status = &store.source_statuses().await.unwrap()[0];
    assert_eq!(status.last_outcome.as_deref(), Some("ok"));
    store.close().await;
    drop(keep);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_schedule_never_fetches_before_the_period_when_scheduler_ticks_in_seconds() {
    let origin = Origin::start().await;
    origin.serve("/a.xml", &fixture("diplomat-wordpress.xml"), RSS);
    let config = config_with_sources(&[("A", origin.url("/a.xml"))])
        .replace("schedule = \"15m\"", "schedule = \"2s\"");
    let app = TestApp::spawn_scheduled(&config).await;
    let started = Instant::now();
    let mut starts: Vec<Instant> = Vec::new();
    let mut seen = 0;
    while starts.len() < 3 && started.elapsed() < Duration::from_secs(20) {
        let hits = origin.hits("/a.xml");
        if hits > seen {
            seen = hits;
            starts.push(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.stop().await;
    assert_eq!(starts.len(), 3, "three fetches within 20 s");
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        // A lower bound only (a loaded machine makes gaps longer, never shorter); 50 ms of
        // slack for the 10 ms polling here.
        assert!(
            gap >= Duration::from_millis(1950),
            "fetched again after {gap:?}, before the 2 s period"
        );
    }
}
