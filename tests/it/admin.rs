//! The operator's view: `/metrics`, `[server] admin_token`, the errors feed
//! (`/sources/errors.atom`) and credentials in source URLs never shown.

use crate::helpers::{Origin, TestApp, config_with_sources, fixture};
use feedmill::pipeline::Outcome;

const RSS: &str = "application/rss+xml";

async fn get_with(app: &TestApp, path: &str, bearer: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{}{}", app.base, path));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// The value of the first sample line starting with `series` (name and labels).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn errors_feed(body: &[u8]) -> feed_rs::model::Feed {
    feed_rs::parser::parse(body).unwrap_or_else(|e| {
        panic!(
            "errors feed does not parse: {e}\n{}",
            String::from_utf8_lossy(body)
        )
    })
}

#[tokio::test]
async fn metrics_count_fetches_items_renders_and_requests_when_sources_are_fetched() {
    let origin = Origin::start().await;
    origin.serve("/feed/", &fixture("diplomat-wordpress.xml"), RSS);
    // No ETag: the second fetch is a 200 again, and its items are duplicates.
    origin.serve_raw(
        "/wire.xml",
        200,
        &[],
        fixture("wire-syndicated.xml").into_bytes(),
    );
    let app = TestApp::spawn(&config_with_sources(&[
        ("Metrics Diplomat", origin.url("/feed/")),
        ("Metrics Wire", origin.url("/wire.xml")),
    ]))
    .await;
    let first = app.tick().await;
    assert!(first.iter().all(|r| r.outcome == Outcome::Ok), "{first:?}");
    let second = app.tick().await;
    assert_eq!(second[0].outcome, Outcome::NotModified, "{second:?}");
    app.feed("central-asia-security", "atom").await;
    assert_eq!(app.get("/no/such/path").await.status(), 404);
    // Polls answered from the cache ahead of the router are counted too.
    let route = r#"feedmill_http_requests_total{route="/topics/{file}",method="GET",status="200"}"#;
    let polls_before = sample(&app.get("/metrics").await.text().await.unwrap(), route).unwrap();
    for _ in 0..3 {
        app.feed("central-asia-security", "rss").await;
    }

    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let metrics = response.text().await.unwrap();
    let expect = |series: &str, value: f64| {
        assert_eq!(sample(&metrics, series), Some(value), "{series}\n{metrics}");
    };
    assert!(sample(&metrics, route).unwrap() >= polls_before + 3.0);
    expect(
        r#"feedmill_fetches_total{source="Metrics Diplomat",outcome="ok"}"#,
        1.0,
    );
    expect(
        r#"feedmill_fetches_total{source="Metrics Diplomat",outcome="not_modified"}"#,
        1.0,
    );
    expect(
        r#"feedmill_fetches_total{source="Metrics Wire",outcome="ok"}"#,
        2.0,
    );
    expect(
        r#"feedmill_items_total{source="Metrics Diplomat",result="new"}"#,
        2.0,
    );
    // The wire's copy of the Diplomat story joined it (merged, counted among its new items),
    // and the second fetch saw every wire item again.
    expect(
        r#"feedmill_items_total{source="Metrics Wire",result="merged"}"#,
        1.0,
    );
    let wire_new = sample(
        &metrics,
        r#"feedmill_items_total{source="Metrics Wire",result="new"}"#,
    )
    .unwrap();
    expect(
        r#"feedmill_items_total{source="Metrics Wire",result="duplicate"}"#,
        wire_new,
    );
    for series in [
        r#"feedmill_fetch_duration_seconds_bucket{outcome="ok",le="+Inf"}"#,
        r#"feedmill_fetch_duration_seconds_count{outcome="not_modified"}"#,
        "feedmill_fetch_not_modified_ratio",
        r#"feedmill_topic_stories{topic="central-asia-security"}"#,
        r#"feedmill_source_consecutive_failures{source="Metrics Diplomat"}"#,
        r#"feedmill_render_duration_seconds_count{format="atom"}"#,
        r#"feedmill_http_requests_total{route="/topics/{file}",method="GET",status="200"}"#,
        r#"feedmill_http_requests_total{route="unmatched",method="GET",status="404"}"#,
        r#"feedmill_http_request_duration_seconds_bucket{route="/topics/{file}",le="+Inf"}"#,
    ] {
        assert!(
            sample(&metrics, series).is_some_and(|v| v >= 0.0),
            "{series} missing:\n{metrics}"
        );
    }
    assert!(metrics.contains("# TYPE feedmill_fetches_total counter"));
    assert!(metrics.contains("# TYPE feedmill_fetch_duration_seconds histogram"));
    // Routes are templates, never raw paths; source URLs are never labels.
    assert!(!metrics.contains("central-asia-security.atom"), "{metrics}");
    assert!(!metrics.contains("/no/such/path"), "{metrics}");
    assert!(!metrics.contains(&origin.addr.to_string()), "{metrics}");
    app.stop().await;
}

#[tokio::test]
async fn admin_endpoints_need_the_token_when_admin_token_is_set() {
    let origin = Origin::start().await;
    origin.serve("/feed/", &fixture("diplomat-wordpress.xml"), RSS);
    let app = TestApp::spawn_with_server_extra(
        &config_with_sources(&[("Guarded", origin.url("/feed/"))]),
        "admin_token = \"s3cret-token\"\n",
    )
    .await;
    app.tick().await;
    for path in ["/sources", "/sources/errors.atom", "/metrics"] {
        let anonymous = app.get(path).await;
        assert_eq!(anonymous.status(), 401, "{path}");
        assert_eq!(
            anonymous.headers()["www-authenticate"],
            "Bearer realm=\"feedmill\"",
            "{path}"
        );
        let wrong = get_with(&app, path, Some("s3cret")).await;
        assert_eq!(wrong.status(), 401, "{path}");
        assert!(
            wrong.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
        assert_eq!(
            get_with(&app, path, Some("s3cret-token")).await.status(),
            200,
            "{path} with the Bearer token"
        );
        let query = app.get(&format!("{path}?token=s3cret-token")).await;
        assert_eq!(query.status(), 200, "{path}?token=");
        assert_eq!(
            app.get(&format!("{path}?token=nope")).await.status(),
            401,
            "{path}?token=nope"
        );
    }
    // A reader given the token in the URL gets a self link it can follow and keep access.
    let feed = app
        .get("/sources/errors.atom?token=s3cret-token")
        .await
        .bytes()
        .await
        .unwrap();
    let feed = errors_feed(&feed);
    let self_link = feed.links.iter().find(|l| l.rel.as_deref() == Some("self"));
    assert_eq!(
        self_link.map(|l| l.href.as_str()),
        Some(format!("{}/sources/errors.atom?token=s3cret-token", app.base).as_str())
    );
    // Readers' endpoints stay open.
    for path in [
        "/",
        "/healthz",
        "/topics.opml",
        "/topics/central-asia-security.atom",
    ] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn errors_feed_gets_an_entry_when_an_origin_starts_returning_500_and_one_when_it_recovers() {
    let origin = Origin::start().await;
    origin.serve("/feed/", &fixture("diplomat-wordpress.xml"), RSS);
    let app = TestApp::spawn(&config_with_sources(&[(
        "Flaky Diplomat",
        origin.url("/feed/"),
    )]))
    .await;
    app.tick().await;
    let empty = app.get("/sources/errors.atom").await;
    assert_eq!(empty.status(), 200);
    assert_eq!(
        empty.headers()["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    assert!(
        errors_feed(&empty.bytes().await.unwrap())
            .entries
            .is_empty()
    );

    origin.set_status("/feed/", 500);
    for _ in 0..2 {
        let reports = app.tick().await;
        assert_eq!(reports[0].outcome, Outcome::Failed);
    }
    let failing = app.get("/sources/errors.atom").await;
    let etag = failing.headers()["etag"].to_str().unwrap().to_owned();
    let feed = errors_feed(&failing.bytes().await.unwrap());
    assert_eq!(feed.entries.len(), 1, "one entry per start of failure");
    let entry = &feed.entries[0];
    assert_eq!(
        entry.title.as_ref().unwrap().content,
        "Flaky Diplomat is failing: HTTP 500"
    );
    assert!(entry.id.starts_with("urn:uuid:"), "{}", entry.id);
    assert_eq!(
        entry.links[0].href,
        format!("{}/sources#source-Flaky+Diplomat", app.base)
    );
    let content = entry.content.as_ref().unwrap().body.as_deref().unwrap();
    assert!(content.contains("answered HTTP 500"), "{content}");
    let first_id = entry.id.clone();

    // Unchanged: a conditional GET gets a 304.
    let again = reqwest::Client::new()
        .get(format!("{}/sources/errors.atom", app.base))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    origin.set_status("/feed/", 200);
    let reports = app.tick().await;
    assert!(!reports[0].outcome.is_failure(), "{reports:?}");
    let feed = errors_feed(&app.get("/sources/errors.atom").await.bytes().await.unwrap());
    assert_eq!(feed.entries.len(), 2);
    assert_eq!(
        feed.entries[0].title.as_ref().unwrap().content,
        "Flaky Diplomat recovered after 2 failed fetches"
    );
    assert_eq!(feed.entries[1].id, first_id, "entry ids are stable");
    assert!(feed.entries[0].updated > feed.entries[1].updated);
    let sources = app.get("/sources").await.text().await.unwrap();
    assert!(
        sources.contains("id=\"source-Flaky+Diplomat\""),
        "the entries' links point at the source's row"
    );
    assert!(sources.contains("/sources/errors.atom"), "{sources}");
    app.stop().await;
}

#[tokio::test]
async fn credentials_in_source_urls_are_never_shown_when_a_private_feed_fails_and_recovers() {
    let origin = Origin::start().await;
    origin.serve("/private.xml", &fixture("diplomat-wordpress.xml"), RSS);
    origin.set_status("/private.xml", 500);
    let url = format!(
        "http://reader:pa55word@{}/private.xml?api_key=k3y-123&page=1",
        origin.addr
    );
    let app = TestApp::spawn(&config_with_sources(&[("Private", url)])).await;
    let reports = app.tick().await;
    let error = reports[0].error.as_deref().unwrap();
    assert!(
        error.contains("REDACTED") && !error.contains("pa55word") && !error.contains("k3y-123"),
        "the recorded error is redacted: {error}"
    );
    origin.set_status("/private.xml", 200);
    assert_eq!(app.tick().await[0].outcome, Outcome::Ok);

    let shown = [
        app.get("/sources").await.text().await.unwrap(),
        app.get("/sources/errors.atom").await.text().await.unwrap(),
        app.get("/topics/central-asia-security.atom")
            .await
            .text()
            .await
            .unwrap(),
        app.get("/topics/central-asia-security.rss")
            .await
            .text()
            .await
            .unwrap(),
        app.get("/metrics").await.text().await.unwrap(),
    ];
    for (i, text) in shown.iter().enumerate() {
        assert!(
            !text.contains("pa55word") && !text.contains("k3y-123") && !text.contains("reader:"),
            "page {i} shows a credential:\n{text}"
        );
    }
    assert!(
        shown[0].contains("REDACTED@") && shown[0].contains("api_key=REDACTED&amp;page=1"),
        "{}",
        shown[0]
    );
    assert!(shown[1].contains("REDACTED"), "{}", shown[1]);
    assert!(shown[2].contains("REDACTED@"), "attribution: {}", shown[2]);
    app.stop().await;
}
