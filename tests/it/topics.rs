//! Topic options over the store: `exclude`, backfill when a query changes, per-source
//! `content`, and retention with tombstones.

use crate::helpers::{Origin, TestApp, fixture};

const RSS: &str = "application/rss+xml";

fn sources(origin: &Origin, wire_extra: &str) -> String {
    format!(
        "[fetch]\nschedule = \"15m\"\nhost_spacing = \"0s\"\nallow_private = true\n\n\
         [[source]]\nname = \"The Diplomat\"\nurl = \"{}\"\n\n\
         [[source]]\nname = \"Central Asia Wire\"\nurl = \"{}\"\n{wire_extra}\n",
        origin.url("/feed/"),
        origin.url("/wire.xml")
    )
}

async fn origin() -> Origin {
    let origin = Origin::start().await;
    origin.serve("/feed/", &fixture("diplomat-wordpress.xml"), RSS);
    origin.serve("/wire.xml", &fixture("wire-syndicated.xml"), RSS);
    origin
}

fn titles(feed: &feed_rs::model::Feed) -> Vec<String> {
    feed.entries
        .iter()
        .map(|e| e.title.as_ref().unwrap().content.clone())
        .collect()
}

#[tokio::test]
async fn exclude_removes_whole_story_when_any_article_matches_it() {
    let origin = origin().await;
    let config = format!(
        "{}\n[[topic]]\nslug = \"kyrgyz\"\ntitle = \"Kyrgyzstan\"\nquery = 'kyrgyz*'\n\n\
         [[topic]]\nslug = \"kyrgyz-no-wire\"\ntitle = \"Kyrgyzstan, not via the wire\"\n\
         query = 'kyrgyz*'\nexclude = 'source:\"Central Asia Wire\"'\n",
        sources(&origin, "")
    );
    let app = TestApp::spawn(&config).await;
    app.tick().await;
    assert_eq!(
        titles(&app.feed("kyrgyz", "atom").await),
        vec!["China, Kyrgyzstan Ties Warm"]
    );
    // The Diplomat's article matches, but the story also holds the wire's copy: excluded.
    assert!(app.feed("kyrgyz-no-wire", "atom").await.entries.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn changed_query_reevaluates_stored_articles_when_app_restarts() {
    let origin = origin().await;
    let topic = |q: &str| {
        format!(
            "{}\n[[topic]]\nslug = \"watch\"\ntitle = \"Watch\"\nquery = '{q}'\n",
            sources(&origin, "")
        )
    };
    let app = TestApp::spawn(&topic("kyrgyz*")).await;
    app.tick().await;
    assert_eq!(
        titles(&app.feed("watch", "atom").await),
        vec!["China, Kyrgyzstan Ties Warm"]
    );
    let etag = app.get("/topics/watch.atom").await.headers()["etag"].clone();

    // No fetch after the restart: the new membership comes from the stored articles alone.
    let app = app.restart(&topic("rice")).await;
    let feed = app.feed("watch", "atom").await;
    assert_eq!(
        titles(&feed),
        vec!["Japan\u{2019}s Rice Farmers Face a Changing Market"]
    );
    assert_ne!(app.get("/topics/watch.atom").await.headers()["etag"], etag);
    app.stop().await;
}

#[tokio::test]
async fn source_content_full_republishes_body_when_topic_is_excerpt() {
    let origin = origin().await;
    let topics = "\n[[topic]]\nslug = \"kyrgyz\"\ntitle = \"Kyrgyzstan\"\nquery = 'kyrgyz*'\n";
    let last_paragraph = "Chinese trade with Kyrgyzstan has surged";

    let app = TestApp::spawn(&format!("{}{topics}", sources(&origin, ""))).await;
    app.tick().await;
    let excerpt = app.get("/topics/kyrgyz.atom").await.text().await.unwrap();
    assert!(
        !excerpt.contains(last_paragraph),
        "excerpt mode republished the whole article"
    );
    app.stop().await;

    let config = format!(
        "{}{topics}",
        sources(&origin, "").replace(
            "name = \"The Diplomat\"\n",
            "name = \"The Diplomat\"\ncontent = \"full\"\n",
        )
    );
    let app = TestApp::spawn(&config).await;
    app.tick().await;
    let full = app.get("/topics/kyrgyz.atom").await.text().await.unwrap();
    assert!(
        full.contains(last_paragraph),
        "content = \"full\" on the source was ignored:\n{full}"
    );
    app.stop().await;
}

#[tokio::test]
async fn retention_removes_old_articles_and_they_stay_gone_when_feed_still_lists_them() {
    let origin = origin().await;
    let config = format!(
        "{}\n[[topic]]\nslug = \"kyrgyz\"\ntitle = \"Kyrgyzstan\"\nquery = 'kyrgyz*'\n",
        sources(&origin, "")
    );
    let app = TestApp::spawn_with_store_extra(&config, "retention = \"30d\"\n").await;
    app.tick().await;
    assert_eq!(app.feed("kyrgyz", "atom").await.entries.len(), 1);
    let later = chrono::Utc::now() + chrono::Duration::days(400);
    app.handle.pipeline.expire(later).await.unwrap();
    app.handle.catalog.refresh_versions().await.unwrap();
    assert!(app.feed("kyrgyz", "atom").await.entries.is_empty());
    assert_eq!(
        app.handle.pipeline.store().article_count().await.unwrap(),
        0
    );
    // The origin still lists the items (and ignores validators): they are not stored again.
    origin.serve(
        "/feed/",
        &format!("{} ", fixture("diplomat-wordpress.xml")),
        RSS,
    );
    origin.serve(
        "/wire.xml",
        &format!("{} ", fixture("wire-syndicated.xml")),
        RSS,
    );
    let reports = app.tick().await;
    assert!(reports.iter().all(|r| r.items_new == 0), "{reports:?}");
    assert!(app.feed("kyrgyz", "atom").await.entries.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn readded_topic_shows_articles_stored_while_it_was_removed() {
    let origin = origin().await;
    let watch = "\n[[topic]]\nslug = \"watch\"\ntitle = \"Watch\"\nquery = 'kyrgyz*'\n";
    let other = "\n[[topic]]\nslug = \"other\"\ntitle = \"Other\"\nquery = 'rice'\n";
    let app = TestApp::spawn(&format!("{}{watch}{other}", sources(&origin, ""))).await;
    // Remove `watch`, fetch while it is gone, put it back unchanged.
    let app = app
        .restart(&format!("{}{other}", sources(&origin, "")))
        .await;
    app.tick().await;
    let app = app
        .restart(&format!("{}{watch}{other}", sources(&origin, "")))
        .await;
    assert_eq!(
        titles(&app.feed("watch", "atom").await),
        vec!["China, Kyrgyzstan Ties Warm"]
    );
    app.stop().await;
}

#[tokio::test]
async fn tag_query_reevaluates_stored_articles_when_source_tags_change() {
    let origin = origin().await;
    let topic = "\n[[topic]]\nslug = \"tagged\"\ntitle = \"Tagged\"\nquery = 'tag:analysis'\n";
    let app = TestApp::spawn(&format!("{}{topic}", sources(&origin, ""))).await;
    app.tick().await;
    assert!(app.feed("tagged", "atom").await.entries.is_empty());
    let tagged = sources(&origin, "").replace(
        "name = \"The Diplomat\"\n",
        "name = \"The Diplomat\"\ntags = [\"analysis\"]\n",
    );
    let app = app.restart(&format!("{tagged}{topic}")).await;
    assert_eq!(app.feed("tagged", "atom").await.entries.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn max_age_feed_is_rendered_again_when_a_story_ages_out() {
    use feedmill::publish::Format;
    let origin = origin().await;
    let topic =
        "\n[[topic]]\nslug = \"recent\"\ntitle = \"Recent\"\nquery = 'kyrgyz*'\nmax_age = \"1d\"\n";
    let app = TestApp::spawn(&format!("{}{topic}", sources(&origin, ""))).await;
    app.tick().await;
    let status = app.handle.pipeline.store().source_statuses().await.unwrap();
    let fetched_at = status[0].last_fetch_at.unwrap();
    let catalog = &app.handle.catalog;
    let fresh = catalog
        .rendered(
            "recent",
            Format::Atom,
            fetched_at + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&fresh.body).contains("Kyrgyzstan Ties Warm"));
    // Two days on, the ageing pass notices the story passed max_age...
    let later = fetched_at + chrono::Duration::days(2);
    app.handle
        .pipeline
        .age_topics(fetched_at, later)
        .await
        .unwrap();
    catalog.refresh_versions().await.unwrap();
    // ...so the served feed is rendered again, without it.
    let aged = catalog
        .rendered("recent", Format::Atom, later)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&aged.body).contains("Kyrgyzstan Ties Warm"));
    assert_ne!(aged.etag, fresh.etag);
    app.stop().await;
}
