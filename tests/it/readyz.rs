//! `/readyz`: ready while the store answers, a configuration is loaded and the scheduler
//! runs; 503 with the reason otherwise. `/healthz` (liveness) stays `ok` throughout.

use std::time::Duration;

use crate::helpers::{Origin, TestApp, config_with_sources, fixture};

async fn readyz(app: &TestApp) -> (u16, String) {
    let r = app.get("/readyz").await;
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn app() -> TestApp {
    let origin = Origin::start().await;
    origin.serve(
        "/feed/",
        &fixture("diplomat-wordpress.xml"),
        "application/rss+xml",
    );
    TestApp::spawn(&config_with_sources(&[("A", origin.url("/feed/"))])).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_ready_when_daemon_serves_and_scheduler_runs() {
    let origin = Origin::start().await;
    origin.serve(
        "/feed/",
        &fixture("diplomat-wordpress.xml"),
        "application/rss+xml",
    );
    let app = TestApp::spawn_scheduled(&config_with_sources(&[("A", origin.url("/feed/"))])).await;
    assert_eq!(readyz(&app).await, (200, "ready\n".to_owned()));
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok\n");
    app.stop().await;
}

#[tokio::test]
async fn readyz_names_the_scheduler_when_it_has_not_run_for_two_periods() {
    let app = app().await;
    let heartbeat = app.handle.scheduler.heartbeat();
    heartbeat.set_period(Duration::from_millis(100));
    // Nothing ticks this app: after two periods it is not ready.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.starts_with("not ready: scheduler has not run for "),
        "{body}"
    );
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "liveness is unaffected"
    );
    // One scheduling step and it is ready again.
    app.tick().await;
    assert_eq!(readyz(&app).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn readyz_fails_with_reason_when_store_is_unreachable() {
    let app = app().await;
    assert_eq!(readyz(&app).await.0, 200);
    app.handle.pipeline.store().close().await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503);
    assert!(body.starts_with("not ready: store unreachable"), "{body}");
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "liveness is unaffected"
    );
    app.stop().await;
}
