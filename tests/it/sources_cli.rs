//! The commands that edit the list of sources: `add` (feed discovery against a real origin on
//! 127.0.0.1) and `opml import` / `opml export`.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::helpers::{Origin, config_with_fetch, fixture, source_table};
use feedmill::config::Config;

const RSS: &str = "application/rss+xml";
const HTML: &str = "text/html; charset=utf-8";

async fn feedmill(config: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_feedmill"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("FEEDMILL_STORE")
        .env_remove("FEEDMILL_LISTEN")
        .output()
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A feeds.toml in a temp dir: a comment line, then `body`.
fn config_file(body: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feeds.toml");
    let store = dir.path().join("store");
    std::fs::write(
        &path,
        format!(
            "# my feeds — keep this comment\n[store]\npath = {:?}\n\n{body}",
            store.display().to_string()
        ),
    )
    .unwrap();
    (dir, path)
}

fn sources(path: &Path) -> Vec<(String, String, Vec<String>)> {
    Config::load(path)
        .unwrap()
        .sources
        .into_iter()
        .map(|s| (s.name, s.url.to_string(), s.tags))
        .collect()
}

fn page(head: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><title>The Diplomat</title>{head}</head><body><h1>News</h1></body></html>"
    )
}

#[tokio::test]
async fn add_discovers_the_feed_when_given_an_html_page_with_autodiscovery() {
    let origin = Origin::start().await;
    origin.serve(
        "/",
        &page(
            r#"<link rel="stylesheet" href="/s.css">
<link rel="alternate" type="application/rss+xml" title="The Diplomat" href="/feed/">
<link rel="alternate" type="application/rss+xml" title="Comments" href="/comments/feed/">"#,
        ),
        HTML,
    );
    origin.serve("/feed/", &fixture("diplomat-wordpress.xml"), RSS);
    let (_dir, path) = config_file(&config_with_fetch("allow_private = true\n", ""));
    let before = std::fs::read_to_string(&path).unwrap();

    let out = feedmill(
        &path,
        &[
            "add",
            &origin.url("/"),
            "--tag",
            "asia",
            "--tag",
            "analysis",
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("added source \"The Diplomat\"") && stdout.contains("announced by"),
        "{stdout}"
    );
    assert_eq!(
        sources(&path),
        vec![(
            "The Diplomat".to_owned(),
            origin.url("/feed/"),
            vec!["asia".to_owned(), "analysis".to_owned()]
        )]
    );
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(
        after.starts_with("# my feeds — keep this comment\n"),
        "{after}"
    );
    assert!(
        after.contains(&before[before.find("[fetch]").unwrap()..before.find("[[topic]]").unwrap()]),
        "the tables already there are unchanged:\n{after}"
    );
    assert_eq!(
        after
            .find("[[source]]")
            .map(|i| i < after.find("[[topic]]").unwrap()),
        Some(true),
        "the source goes before the topics:\n{after}"
    );
    let check = feedmill(&path, &["check"]).await;
    assert!(check.status.success(), "{}", text(&check.stderr));

    // The same page, or the feed itself, again: refused, the file untouched.
    for url in [origin.url("/"), origin.url("/feed/")] {
        let again = feedmill(&path, &["add", &url]).await;
        assert_eq!(again.status.code(), Some(1), "{url}");
        let stderr = text(&again.stderr);
        assert!(
            stderr.contains("already in") && stderr.contains("\"The Diplomat\""),
            "{stderr}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), after);
    }
}

#[tokio::test]
async fn add_finds_a_feed_at_a_common_path_when_the_page_announces_none() {
    let origin = Origin::start().await;
    origin.serve("/blog/post.html", &page(""), HTML);
    origin.serve("/rss.xml", &fixture("diplomat-wordpress.xml"), RSS);
    let (_dir, path) = config_file(&config_with_fetch(
        "allow_private = true\n",
        &source_table("The Diplomat", "https://thediplomat.com/feed/", ""),
    ));
    let out = feedmill(&path, &["add", &origin.url("/blog/post.html")]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("common feed path"),
        "{}",
        text(&out.stdout)
    );
    let list = sources(&path);
    assert_eq!(list.len(), 2);
    // The feed's title is taken: the name is made unique.
    assert_eq!(list[1].0, "The Diplomat (2)");
    assert_eq!(list[1].1, origin.url("/rss.xml"));
    assert!(origin.hits("/feed") >= 1, "tried /feed first");

    let nothing = Origin::start().await;
    nothing.serve("/", &page(""), HTML);
    let out = feedmill(&path, &["add", &nothing.url("/")]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("found no feed"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn add_refuses_a_private_address_when_allow_private_is_off() {
    let origin = Origin::start().await;
    origin.serve("/feed/", &fixture("diplomat-wordpress.xml"), RSS);
    let (_dir, path) = config_file(&config_with_fetch("", ""));
    let before = std::fs::read_to_string(&path).unwrap();
    let out = feedmill(&path, &["add", &origin.url("/feed/")]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("allow_private"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    assert_eq!(
        origin.hits("/feed/"),
        0,
        "the guard refuses before connecting"
    );
}

#[tokio::test]
async fn opml_export_then_import_gives_the_same_sources_when_config_is_empty() {
    let tables = [
        source_table("The Diplomat", "https://thediplomat.com/feed/", ""),
        "[[source]]\nname = \"Trade & \\\"Energy\\\" <CA>\"\nurl = \"https://a.example/rss?x=1&y=2\"\ntags = [\"asia\", \"trade\", \"state-media\"]\n\n".to_owned(),
        "[[source]]\nname = \"Untagged\"\nurl = \"https://b.example/atom.xml\"\n\n".to_owned(),
    ]
    .concat();
    let (_dir, full) = config_file(&config_with_fetch("", &tables));
    let exported = feedmill(&full, &["opml", "export"]).await;
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    let opml = text(&exported.stdout);
    assert!(
        opml.starts_with("<?xml") && opml.contains("<opml version=\"2.0\">"),
        "{opml}"
    );

    let (dir, empty) = config_file("");
    let file = dir.path().join("subscriptions.opml");
    std::fs::write(&file, &opml).unwrap();
    let imported = feedmill(&empty, &["opml", "import", file.to_str().unwrap()]).await;
    assert!(imported.status.success(), "{}", text(&imported.stderr));
    assert!(
        text(&imported.stdout).contains("3 sources added"),
        "{}",
        text(&imported.stdout)
    );
    assert_eq!(sources(&empty), sources(&full));
    let written = std::fs::read_to_string(&empty).unwrap();
    assert!(
        written.starts_with("# my feeds — keep this comment\n"),
        "{written}"
    );

    // Importing again adds nothing and says why.
    let again = feedmill(&empty, &["opml", "import", file.to_str().unwrap()]).await;
    assert!(again.status.success());
    let stdout = text(&again.stdout);
    assert!(
        stdout.contains("0 sources added") && stdout.contains("3 skipped"),
        "{stdout}"
    );
    assert!(stdout.contains("already in"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&empty).unwrap(), written);
}

#[tokio::test]
async fn opml_import_turns_folders_into_tags_when_a_reader_export_is_nested() {
    let (dir, path) = config_file(&source_table("Kloop", "https://kloop.kg/feed/", ""));
    let file = dir.path().join("reader.opml");
    std::fs::write(
        &file,
        r#"<?xml version="1.0"?>
<opml version="1.0"><head><title>Reader</title></head><body>
  <outline text="Central Asia">
    <outline text="Kyrgyzstan">
      <outline type="rss" text="Kloop again" xmlUrl="https://kloop.kg/feed/"/>
      <outline type="rss" text="24.kg" title="24.kg" xmlUrl="https://24.kg/rss/"/>
    </outline>
    <outline type="rss" text="Eurasianet" xmlUrl="https://eurasianet.org/rss.xml"/>
  </outline>
  <outline type="rss" text="Broken" xmlUrl="feed://example.org/rss"/>
</body></opml>"#,
    )
    .unwrap();
    let out = feedmill(&path, &["opml", "import", file.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("2 sources added"), "{stdout}");
    assert!(stdout.contains("skipped \"Kloop again\""), "{stdout}");
    assert!(stdout.contains("skipped \"Broken\""), "{stdout}");
    let list = sources(&path);
    assert_eq!(
        list[1..],
        [
            (
                "24.kg".to_owned(),
                "https://24.kg/rss/".to_owned(),
                vec!["Central-Asia".to_owned(), "Kyrgyzstan".to_owned()]
            ),
            (
                "Eurasianet".to_owned(),
                "https://eurasianet.org/rss.xml".to_owned(),
                vec!["Central-Asia".to_owned()]
            ),
        ]
    );
}
