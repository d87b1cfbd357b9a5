//! Serving topic feeds: RFC 5005 archive pages, pre-compressed bodies and validators,
//! `trust_proxy`, aliases (301) and removed topics (410).

use std::io::Read;

use chrono::Utc;
use feedmill::catalog::Lookup;
use feedmill::publish::{FeedKey, Format};
use reqwest::StatusCode;

use crate::helpers::{Origin, TestApp, config_with_fetch, fixture, source_table};

/// Ten items (binarycode), one topic of all of them with `limit = 4`, so pages of 4, 4 and 2.
async fn paged_app(server_extra: &str) -> (Origin, TestApp) {
    let origin = Origin::start().await;
    origin.serve(
        "/binary.xml",
        &fixture("realworld-binarycode.rss.xml"),
        "application/rss+xml",
    );
    let mut config = config_with_fetch(
        "allow_private = true\n",
        &source_table("Binary Code", &origin.url("/binary.xml"), ""),
    );
    config.push_str(
        "\n[[topic]]\nslug = \"binary\"\ntitle = \"Binary\"\nquery = \"tag:test\"\nlimit = 4\naliases = [\"code\", \"bin\"]\n",
    );
    let app = TestApp::spawn_with_server_extra(&config, server_extra).await;
    let reports = app.tick().await;
    assert!(reports.iter().all(|r| r.error.is_none()), "{reports:?}");
    (origin, app)
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_gzip()
        .no_brotli()
        .build()
        .unwrap()
}

async fn get_atom(app: &TestApp, path: &str) -> atom_syndication::Feed {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    let body = response.bytes().await.unwrap();
    atom_syndication::Feed::read_from(body.as_ref())
        .unwrap_or_else(|e| panic!("{path} is not Atom: {e}"))
}

fn links(feed: &atom_syndication::Feed) -> Vec<(String, String)> {
    feed.links
        .iter()
        .filter(|l| l.rel != "alternate")
        .map(|l| (l.rel.clone(), l.href.clone()))
        .collect()
}

fn ids(feed: &atom_syndication::Feed) -> Vec<String> {
    feed.entries.iter().map(|e| e.id.clone()).collect()
}

#[tokio::test]
async fn archive_pages_walk_every_story_once_when_topic_exceeds_limit() {
    let (_origin, app) = paged_app("").await;
    let url = |q: &str| format!("{}/topics/binary.atom{q}", app.base);

    let current = get_atom(&app, "/topics/binary.atom").await;
    assert_eq!(current.entries.len(), 4);
    assert_eq!(
        links(&current),
        [
            ("self".to_owned(), url("")),
            ("next".to_owned(), url("?page=2")),
            ("prev-archive".to_owned(), url("?page=2")),
        ]
    );
    let page2 = get_atom(&app, "/topics/binary.atom?page=2").await;
    assert_eq!(
        links(&page2),
        [
            ("self".to_owned(), url("?page=2")),
            ("next".to_owned(), url("?page=3")),
            ("prev-archive".to_owned(), url("?page=3")),
            ("current".to_owned(), url("")),
            ("previous".to_owned(), url("")),
            ("next-archive".to_owned(), url("")),
        ]
    );
    let page3 = get_atom(&app, "/topics/binary.atom?page=3").await;
    assert_eq!(
        links(&page3),
        [
            ("self".to_owned(), url("?page=3")),
            ("current".to_owned(), url("")),
            ("previous".to_owned(), url("?page=2")),
            ("next-archive".to_owned(), url("?page=2")),
        ]
    );
    // Archive pages say so; the current feed does not.
    let raw = app
        .get("/topics/binary.atom?page=3")
        .await
        .text()
        .await
        .unwrap();
    assert!(raw.contains("<fh:archive"), "{raw}");
    assert!(raw.contains("xmlns:fh=\"http://purl.org/syndication/history/1.0\""));
    let raw = app.get("/topics/binary.atom").await.text().await.unwrap();
    assert!(!raw.contains("fh:archive"));

    // Every story exactly once, newest first, across the pages.
    let walked: Vec<String> = [&current, &page2, &page3]
        .into_iter()
        .flat_map(ids)
        .collect();
    assert_eq!(walked.len(), 10);
    let everything = app.handle.catalog.config().topic("binary").unwrap().limit;
    assert_eq!(everything, 4);
    let mut unique = walked.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10, "{walked:?}");
    let published: Vec<_> = [&current, &page2, &page3]
        .into_iter()
        .flat_map(|f| f.entries.iter().map(|e| e.published.unwrap()))
        .collect();
    assert!(published.windows(2).all(|w| w[0] >= w[1]), "{published:?}");

    // RSS and JSON Feed page the same way.
    let rss = app
        .get("/topics/binary.rss?page=2")
        .await
        .text()
        .await
        .unwrap();
    let channel = rss::Channel::read_from(rss.as_bytes()).unwrap();
    assert_eq!(channel.items().len(), 4);
    assert!(rss.contains("<fh:archive"), "{rss}");
    for (rel, href) in [
        ("self", "binary.rss?page=2"),
        ("prev-archive", "binary.rss?page=3"),
        ("next-archive", "binary.rss"),
        ("current", "binary.rss"),
    ] {
        assert!(
            channel
                .atom_ext()
                .unwrap()
                .links()
                .iter()
                .any(|l| l.rel() == rel && l.href() == format!("{}/topics/{href}", app.base)),
            "{rel} {href}:\n{rss}"
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&app.get("/topics/binary.json").await.text().await.unwrap()).unwrap();
    assert_eq!(
        json["next_url"],
        format!("{}/topics/binary.json?page=2", app.base)
    );
    assert_eq!(json["items"].as_array().unwrap().len(), 4);
    let last: serde_json::Value = serde_json::from_str(
        &app.get("/topics/binary.json?page=3")
            .await
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(last.get("next_url").is_none());
    assert_eq!(last["feed_url"], format!("{}/topics/binary.json", app.base));
    app.stop().await;
}

#[tokio::test]
async fn invalid_or_missing_page_is_refused_with_a_reason_when_requested() {
    let (_origin, app) = paged_app("").await;
    let client = no_redirects();
    for bad in ["0", "-1", "two", "", "1.5", "99999999999"] {
        let response = client
            .get(format!("{}/topics/binary.atom?page={bad}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "page={bad}");
        let body = response.text().await.unwrap();
        assert!(
            body.contains("invalid page") && body.contains("whole number"),
            "{body}"
        );
    }
    let beyond = app.get("/topics/binary.atom?page=4").await;
    assert_eq!(beyond.status(), 404);
    assert!(beyond.text().await.unwrap().contains("has no page 4"));
    assert_eq!(
        app.get("/topics/binary.atom?page=4000000000")
            .await
            .status(),
        404
    );
    // Page 1 is the current feed, at one URL.
    let one = client
        .get(format!("{}/topics/binary.rss?page=1", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 301);
    assert_eq!(
        one.headers()["location"],
        format!("{}/topics/binary.rss", app.base).as_str()
    );
    // Unrelated parameters (a reader's cache-buster) change nothing.
    let busted = app.get("/topics/binary.atom?ts=12345").await;
    assert_eq!(busted.status(), 200);
    app.stop().await;
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn feed_is_served_precompressed_with_validators_when_polled() {
    let (_origin, app) = paged_app("").await;
    let client = no_redirects();
    let url = format!("{}/topics/binary.atom", app.base);
    let get = |encoding: &'static str| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let response = client
                .get(&url)
                .header("accept-encoding", encoding)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{encoding}");
            response
        }
    };
    let plain = get("identity").await;
    let headers = plain.headers().clone();
    let body = plain.bytes().await.unwrap();
    assert!(headers.get("content-encoding").is_none());
    assert_eq!(headers["content-length"], body.len().to_string().as_str());
    assert_eq!(
        headers["cache-control"], "public, max-age=900",
        "the 15m schedule"
    );
    assert_eq!(headers["vary"], "accept, accept-encoding");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
    // Last-Modified is when the topic's content last changed, as the store recorded it.
    let changed_at = app.handle.catalog.version("binary").changed_at;
    assert_eq!(
        headers["last-modified"],
        httpdate::fmt_http_date(changed_at.into()).as_str()
    );

    let gz = get("gzip").await;
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let gz_etag = gz.headers()["etag"].to_str().unwrap().to_owned();
    let gz_body = gz.bytes().await.unwrap();
    assert!(gz_body.len() < body.len() / 2);
    assert_eq!(gunzip(&gz_body), body);
    let br = get("gzip, deflate, br").await;
    assert_eq!(br.headers()["content-encoding"], "br");
    let br_etag = br.headers()["etag"].to_str().unwrap().to_owned();
    let br_body = br.bytes().await.unwrap();
    assert_eq!(unbrotli(&br_body), body);
    // Each coding is its own representation, with its own strong tag.
    assert_ne!(gz_etag, etag);
    assert_ne!(br_etag, etag);
    assert_ne!(gz_etag, br_etag);

    // Rendered and compressed once per change, not per request: many readers polling at once
    // share one rendering...
    let before = app.handle.catalog.renders();
    let polls: Vec<_> = (0..20)
        .map(|i| {
            let client = client.clone();
            let url = format!("{}/topics/binary.json", app.base);
            let encoding = ["br", "gzip", "identity"][i % 3];
            tokio::spawn(async move {
                let r = client
                    .get(url)
                    .header("accept-encoding", encoding)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            })
        })
        .collect();
    for poll in polls {
        poll.await.unwrap();
    }
    assert_eq!(app.handle.catalog.renders(), before + 1);
    // ...and the catalog hands back the very same bytes in memory on every poll.
    let key = FeedKey {
        base: &app.base,
        slug: "binary",
        format: Format::Atom,
        page: 1,
    };
    let first = app
        .handle
        .catalog
        .rendered_page(key, Utc::now())
        .await
        .unwrap();
    get("br").await;
    let again = app
        .handle
        .catalog
        .rendered_page(key, Utc::now())
        .await
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &again));
    assert_eq!(first.br.as_ref().unwrap().bytes, br_body);

    // 304s, each with the validators and caching headers.
    let conditional = |name: &'static str, value: String, encoding: &'static str| {
        let client = client.clone();
        let url = url.clone();
        async move {
            client
                .get(&url)
                .header(name, value)
                .header("accept-encoding", encoding)
                .send()
                .await
                .unwrap()
        }
    };
    for (tag, encoding) in [(&etag, "identity"), (&gz_etag, "gzip"), (&br_etag, "br")] {
        let response = conditional("if-none-match", tag.clone(), encoding).await;
        assert_eq!(response.status(), 304, "{tag}");
        assert_eq!(response.headers()["etag"], tag.as_str());
        assert_eq!(response.headers()["cache-control"], "public, max-age=900");
        assert_eq!(response.headers()["vary"], "accept, accept-encoding");
        assert!(response.headers().contains_key("last-modified"));
        assert!(response.bytes().await.unwrap().is_empty());
    }
    let last_modified = headers["last-modified"].to_str().unwrap().to_owned();
    let since = conditional("if-modified-since", last_modified.clone(), "br").await;
    assert_eq!(since.status(), 304);
    // If-None-Match wins: a stale tag gets the feed even with a matching date.
    let stale = client
        .get(&url)
        .header("if-none-match", "\"stale\"")
        .header("if-modified-since", &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);

    // HEAD: the headers of a GET, no body.
    let head = client
        .head(&url)
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-encoding"], "br");
    assert_eq!(head.headers()["etag"], br_etag.as_str());
    assert_eq!(
        head.headers()["content-length"],
        br_body.len().to_string().as_str()
    );
    assert!(head.bytes().await.unwrap().is_empty());

    // Archive pages are compressed and validated alike.
    let page2 = client
        .get(format!("{url}?page=2"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(page2.headers()["content-encoding"], "gzip");
    let page2_etag = page2.headers()["etag"].clone();
    let text = String::from_utf8(gunzip(&page2.bytes().await.unwrap())).unwrap();
    assert!(text.contains("<fh:archive"));
    let page2_again = client
        .get(format!("{url}?page=2"))
        .header("accept-encoding", "gzip")
        .header("if-none-match", page2_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(page2_again.status(), 304);
    app.stop().await;
}

#[tokio::test]
async fn self_links_follow_the_proxy_when_trust_proxy_is_on() {
    let (_origin, app) = paged_app("trust_proxy = true").await;
    let client = no_redirects();
    let proxied = |path: &str| {
        client
            .get(format!("{}{path}", app.base))
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "feeds.example.org")
    };
    let body = proxied("/topics/binary.atom").send().await.unwrap();
    assert_eq!(
        body.headers()["vary"],
        "accept, accept-encoding, x-forwarded-proto, x-forwarded-host, forwarded"
    );
    let feed = atom_syndication::Feed::read_from(body.bytes().await.unwrap().as_ref()).unwrap();
    let public = "https://feeds.example.org/topics/binary";
    assert_eq!(
        links(&feed),
        [
            ("self".to_owned(), format!("{public}.atom")),
            ("next".to_owned(), format!("{public}.atom?page=2")),
            ("prev-archive".to_owned(), format!("{public}.atom?page=2")),
        ]
    );
    let page2 = proxied("/topics/binary.rss?page=2").send().await.unwrap();
    let rss = page2.text().await.unwrap();
    assert!(
        rss.contains(&format!("href=\"{public}.rss?page=2\"")),
        "{rss}"
    );
    assert!(
        rss.contains(&format!("href=\"{public}.rss?page=3\"")),
        "{rss}"
    );
    // The pages and the OPML name the public URL too, and say they depend on it.
    for path in [
        "/",
        "/topics.opml",
        "/topics/binary",
        "/topics/binary.atom?page=1",
    ] {
        let response = proxied(path).send().await.unwrap();
        let vary = response.headers()["vary"].to_str().unwrap().to_owned();
        assert!(
            vary.contains("x-forwarded-host") && vary.contains("forwarded"),
            "{path}: vary {vary}"
        );
    }
    let index = proxied("/").send().await.unwrap().text().await.unwrap();
    assert!(index.contains(&format!("{public}.atom")), "{index}");
    let opml = proxied("/topics.opml")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        opml.contains(&format!("xmlUrl=\"{public}.atom\"")),
        "{opml}"
    );
    // Aliases redirect to the public URL.
    let moved = proxied("/topics/code.json").send().await.unwrap();
    assert_eq!(
        moved.headers()["location"],
        format!("{public}.json").as_str()
    );

    // Without the headers: base_url.
    let direct = get_atom(&app, "/topics/binary.atom").await;
    assert_eq!(
        direct.links.iter().find(|l| l.rel == "self").unwrap().href,
        format!("{}/topics/binary.atom", app.base)
    );
    // A hostile host is ignored, never written into a feed.
    let hostile = client
        .get(format!("{}/topics/binary.atom", app.base))
        .header(
            "x-forwarded-host",
            "evil.example\"><script>alert(1)</script>",
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !hostile.contains("script") && !hostile.contains("evil"),
        "{hostile}"
    );
    assert!(hostile.contains(&format!("{}/topics/binary.atom", app.base)));
    // Many names: each answered right (renderings for only a few are kept).
    for i in 0..10 {
        let host = format!("name{i}.example");
        let text = client
            .get(format!("{}/topics/binary.atom", app.base))
            .header("x-forwarded-host", &host)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains(&format!("http://{host}/topics/binary.atom")),
            "{host}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn forwarded_headers_are_ignored_when_trust_proxy_is_off() {
    let (_origin, app) = paged_app("").await;
    let text = reqwest::Client::new()
        .get(format!("{}/topics/binary.atom", app.base))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "feeds.example.org")
        .header("forwarded", "proto=https;host=other.example")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("example.org") && !text.contains("other.example"));
    assert!(text.contains(&format!("href=\"{}/topics/binary.atom\"", app.base)));
    app.stop().await;
}

#[tokio::test]
async fn alias_redirects_to_the_topic_when_old_slug_is_requested() {
    let (_origin, app) = paged_app("").await;
    let client = no_redirects();
    for (path, to) in [
        ("/topics/code.atom", "/topics/binary.atom"),
        ("/topics/bin.rss?page=2", "/topics/binary.rss?page=2"),
        (
            "/topics/code.json?page=3&x=1",
            "/topics/binary.json?page=3&x=1",
        ),
        ("/topics/code", "/topics/binary"),
    ] {
        let response = client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 301, "{path}");
        assert_eq!(
            response.headers()["location"],
            format!("{}{to}", app.base).as_str(),
            "{path}"
        );
    }
    // Followed, the redirect serves the feed.
    assert_eq!(app.feed("code", "atom").await.entries.len(), 4);
    assert_eq!(app.get("/topics/code.xml").await.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn removed_topic_answers_410_then_404_when_thirty_days_pass() {
    let (origin, app) = paged_app("").await;
    // Remove the topic from feeds.toml and restart, as a user would.
    let config = config_with_fetch(
        "allow_private = true\n",
        &source_table("Binary Code", &origin.url("/binary.xml"), ""),
    );
    let app = app.restart(&config).await;
    for path in [
        "/topics/binary.atom",
        "/topics/binary.rss?page=2",
        "/topics/binary",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::GONE, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let page = response.text().await.unwrap();
        assert!(
            page.contains("Topic removed") && page.contains("binary"),
            "{page}"
        );
    }
    // Its aliases went with it; never-configured topics stay 404.
    assert_eq!(app.get("/topics/code.atom").await.status(), 404);
    assert_eq!(app.get("/topics/never-was.atom").await.status(), 404);
    let catalog = &app.handle.catalog;
    let removed_at = catalog.version("binary").removed_at.expect("removed");
    assert!(matches!(
        catalog.lookup("binary", removed_at + chrono::Duration::days(29)),
        Lookup::Gone { .. }
    ));
    assert!(matches!(
        catalog.lookup("binary", removed_at + chrono::Duration::days(31)),
        Lookup::Unknown
    ));
    app.stop().await;
}

/// Polls of a cached feed are answered before the router (`http::feeds::CachedFeeds`); a
/// query string sends the same request through the router. Both must give the same answer.
#[tokio::test]
async fn cached_feed_answers_like_the_router_when_polled_without_query() {
    let (_origin, app) = paged_app("").await;
    let client = no_redirects();
    let url = format!("{}/topics/binary.atom", app.base);
    // Render it once, so the next polls are cache hits.
    let first = client.get(&url).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let cases: [(reqwest::Method, &[(&str, &str)]); 7] = [
        (reqwest::Method::GET, &[]),
        (reqwest::Method::GET, &[("accept-encoding", "gzip")]),
        (reqwest::Method::GET, &[("accept-encoding", "gzip, br")]),
        (reqwest::Method::GET, &[("if-none-match", etag.as_str())]),
        (reqwest::Method::GET, &[("accept", "application/atom+xml")]),
        (reqwest::Method::HEAD, &[("accept-encoding", "gzip")]),
        (reqwest::Method::HEAD, &[("if-none-match", etag.as_str())]),
    ];
    let answer = |method: reqwest::Method, url: String, headers: &[(&str, &str)]| {
        let mut request = client.request(method, url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let mut headers: Vec<(String, String)> = response
                .headers()
                .iter()
                .filter(|(name, _)| *name != "date")
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
                .collect();
            headers.sort();
            (status, headers, response.bytes().await.unwrap())
        }
    };
    for (method, headers) in cases {
        let fast = answer(method.clone(), url.clone(), headers).await;
        let mut routed = answer(method.clone(), format!("{url}?utm_source=x"), headers).await;
        if routed.0 == StatusCode::NOT_MODIFIED {
            // The router's HEAD adds `content-length: 0` to a 304, which RFC 9110 §8.6 does
            // not allow (it must be the 200's length, or absent); the cached path sends none.
            routed.1.retain(|(name, _)| name != "content-length");
        }
        assert_eq!(fast, routed, "{method} {headers:?}");
        if method == reqwest::Method::HEAD {
            assert!(fast.2.is_empty(), "HEAD has no body");
        }
    }
    let head = answer(reqwest::Method::HEAD, url.clone(), &[]).await;
    let get = answer(reqwest::Method::GET, url.clone(), &[]).await;
    let length = |h: &[(String, String)]| {
        h.iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(length(&head.1), Some(get.2.len().to_string()));
    // The polls above were answered before the router; the unusual ones go through it.
    let cached = feedmill::http::CachedFeeds::new(&app.handle.catalog);
    let request = |method: &str, uri: &str, accept: &str| {
        axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .header("accept", accept)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let catalog = &app.handle.catalog;
    assert!(
        cached
            .answer(catalog, &request("GET", "/topics/binary.atom", "*/*"))
            .is_some()
    );
    for (method, uri, accept) in [
        ("GET", "/topics/binary.rss", "*/*"),
        ("GET", "/topics/binary.atom?page=2", "*/*"),
        ("GET", "/topics/binary.atom", "text/html"),
        ("POST", "/topics/binary.atom", "*/*"),
        ("GET", "/topics/code.atom", "*/*"),
        ("GET", "/topics/bin%61ry.atom", "*/*"),
        ("GET", "/topics/binary", "*/*"),
    ] {
        assert!(
            cached
                .answer(catalog, &request(method, uri, accept))
                .is_none(),
            "{method} {uri} {accept}: not rendered yet, or not for the cached path"
        );
    }
    // A browser still gets the topic page.
    let page = client
        .get(&url)
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    app.stop().await;
}
