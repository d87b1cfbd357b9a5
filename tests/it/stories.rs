//! Stories (issue 4): one entry per story across outlets, by canonical URL, near-duplicate
//! text and aggregator headline; ids that do not depend on the order of sources.

use crate::helpers::{Origin, TestApp, config_with_fetch, fixture, source_table};

const RSS: &str = "application/rss+xml";

/// The four outlets of the fixtures: the Diplomat's own feed, a wire linking to the same URL
/// with tracking parameters, an outlet reposting the text under its own link, and a Google
/// News search feed.
async fn outlets() -> (Origin, Vec<(&'static str, String)>) {
    let origin = Origin::start().await;
    let feeds = [
        ("The Diplomat", "/feed/", "diplomat-wordpress.xml"),
        ("Central Asia Wire", "/wire.xml", "wire-syndicated.xml"),
        ("Steppe Courier", "/courier.xml", "courier-reposted.xml"),
        (
            "Google News: kyrgyzstan",
            "/news.xml",
            "aggregator-google-news.xml",
        ),
    ];
    let mut sources = Vec::new();
    for (name, path, file) in feeds {
        origin.serve(path, &fixture(file), RSS);
        sources.push((name, origin.url(path)));
    }
    (origin, sources)
}

/// The test topics plus `everything`, which every fixture item matches.
fn config(sources: &[(&str, String)]) -> String {
    let tables: String = sources
        .iter()
        .map(|(name, url)| source_table(name, url, ""))
        .collect();
    let mut text = config_with_fetch("allow_private = true\n", &tables);
    text.push_str(
        "\n[[topic]]\nslug = \"everything\"\ntitle = \"Everything\"\n\
         query = 'kyrgyz* OR japan* OR almaty OR tariffs'\n",
    );
    text
}

async fn ids(app: &TestApp, slug: &str) -> Vec<String> {
    app.feed(slug, "atom")
        .await
        .entries
        .into_iter()
        .map(|e| e.id)
        .collect()
}

#[tokio::test]
async fn topic_feed_shows_story_once_naming_every_outlet_when_four_sources_carry_it() {
    let (_origin, sources) = outlets().await;
    let app = TestApp::spawn(&config(&sources)).await;
    app.tick().await;
    for ext in ["rss", "atom", "json"] {
        let feed = app.feed("central-asia-security", ext).await;
        assert_eq!(feed.entries.len(), 1, "{ext}: one story, four outlets");
    }
    let atom = app
        .get("/topics/central-asia-security.atom")
        .await
        .text()
        .await
        .unwrap();
    // The representative is the outlet's own article (a body, not the aggregator's headline).
    assert!(
        atom.contains("https://thediplomat.com/2013/08/china-kyrgyzstan-ties-warm/"),
        "{atom}"
    );
    assert!(atom.contains("Also reported by"), "{atom}");
    for outlet in [
        "Central Asia Wire",
        "Steppe Courier",
        "Google News: kyrgyzstan",
    ] {
        assert!(atom.contains(outlet), "{outlet} missing from\n{atom}");
    }
    assert!(
        !atom.contains("Subscribe to the Steppe Courier"),
        "the courier's footer is not republished with the Diplomat's article"
    );
    // Every other item is its own story: rice, water forum, tariffs, and the shared one.
    assert_eq!(ids(&app, "everything").await.len(), 4);
    app.stop().await;
}

#[tokio::test]
async fn fetch_gives_same_entry_ids_whatever_the_source_order_when_store_starts_empty() {
    let (_origin, sources) = outlets().await;
    let orders: [[usize; 4]; 3] = [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]];
    let mut seen: Vec<Vec<String>> = Vec::new();
    for order in orders {
        let permuted: Vec<(&str, String)> = order.iter().map(|i| sources[*i].clone()).collect();
        let app = TestApp::spawn(&config(&permuted)).await;
        app.tick().await;
        let mut got = ids(&app, "everything").await;
        got.sort();
        app.stop().await;
        seen.push(got);
    }
    assert_eq!(seen[0].len(), 4);
    assert!(
        seen.iter().all(|ids| *ids == seen[0]),
        "ids differ by source order: {seen:#?}"
    );
}

#[tokio::test]
async fn story_keeps_its_id_when_outlets_arrive_one_fetch_at_a_time() {
    let (origin, sources) = outlets().await;
    // Only the Diplomat at first.
    let app = TestApp::spawn(&config(&sources)).await;
    for (_, url) in &sources[1..] {
        let path = url.rsplit_once('/').map(|(_, p)| format!("/{p}")).unwrap();
        origin.set_status(&path, 404);
    }
    app.tick().await;
    let first = ids(&app, "central-asia-security").await;
    assert_eq!(first.len(), 1);
    for (_, url) in &sources[1..] {
        let path = url.rsplit_once('/').map(|(_, p)| format!("/{p}")).unwrap();
        origin.set_status(&path, 200);
    }
    app.tick().await;
    assert_eq!(ids(&app, "central-asia-security").await, first);
    app.stop().await;
}
