//! Logs: `--log-format json` (or `FEEDMILL_LOG_FORMAT=json`) writes one JSON object per line,
//! and every fetch logs exactly one INFO line with `source`, `status`, `items_new`,
//! `items_updated` and `elapsed_ms`, plus a WARN with `error` when it failed.

use serde_json::Value;

use crate::helpers::{
    Origin, TestApp, config_with_sources, feedmill_command, fixture, unused_port,
};

async fn fetch(app: &TestApp, json_by: Option<&str>) -> (String, String) {
    let mut cmd = feedmill_command();
    match json_by {
        Some("flag") => {
            cmd.arg("--log-format").arg("json");
        }
        Some(_) => {
            cmd.env("FEEDMILL_LOG_FORMAT", "json");
        }
        None => {}
    }
    let out = cmd
        .arg("--config")
        .arg(&app.config_path)
        .arg("fetch")
        .output()
        .await
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_lines(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The lines about `source` at `level` with `message`.
fn lines<'a>(logs: &'a [Value], level: &str, message: &str, source: &str) -> Vec<&'a Value> {
    logs.iter()
        .filter(|l| l["level"] == level && l["message"] == message && l["source"] == source)
        .collect()
}

#[tokio::test]
async fn every_fetch_logs_one_info_line_with_its_fields_when_json_is_asked() {
    let origin = Origin::start().await;
    origin.serve(
        "/ok.xml",
        &fixture("diplomat-wordpress.xml"),
        "application/rss+xml",
    );
    origin.serve("/broken.xml", "<rss>", "application/rss+xml");
    origin.set_status("/broken.xml", 500);
    let nowhere = format!("http://127.0.0.1:{}/feed.xml", unused_port());
    let app = TestApp::spawn(&config_with_sources(&[
        ("Fine", origin.url("/ok.xml")),
        ("Erroring", origin.url("/broken.xml")),
        ("Nowhere", nowhere),
    ]))
    .await;

    let (_, stderr) = fetch(&app, Some("flag")).await;
    let logs = json_lines(&stderr);
    for (source, status, items_new) in [
        ("Fine", "200", 2),
        ("Erroring", "500", 0),
        ("Nowhere", "failed", 0),
    ] {
        let info = lines(&logs, "INFO", "fetch", source);
        assert_eq!(info.len(), 1, "{source}: {stderr}");
        let line = info[0];
        assert_eq!(line["status"], status, "{line}");
        assert_eq!(line["items_new"], items_new, "{line}");
        assert_eq!(line["items_updated"], 0, "{line}");
        assert!(line["elapsed_ms"].is_u64(), "{line}");
        let warned = lines(&logs, "WARN", "fetch failed", source);
        if status == "200" {
            assert!(warned.is_empty(), "{warned:?}");
        } else {
            assert_eq!(warned.len(), 1, "{source}: {stderr}");
            assert!(warned[0]["error"].as_str().is_some_and(|e| !e.is_empty()));
        }
    }
    // Every fetch line is about one of the three sources: one each, no more.
    let all: Vec<_> = logs.iter().filter(|l| l["message"] == "fetch").collect();
    assert_eq!(all.len(), 3, "{stderr}");

    // The second run is conditional: one line with status 304, by the environment variable.
    let (_, stderr) = fetch(&app, Some("env")).await;
    let logs = json_lines(&stderr);
    let info = lines(&logs, "INFO", "fetch", "Fine");
    assert_eq!(info.len(), 1, "{stderr}");
    assert_eq!(info[0]["status"], "304");
    assert_eq!(info[0]["outcome"], "not_modified");
    app.stop().await;
}

#[tokio::test]
async fn fetch_line_is_plain_text_with_fields_when_no_format_is_given() {
    let origin = Origin::start().await;
    origin.serve(
        "/ok.xml",
        &fixture("diplomat-wordpress.xml"),
        "application/rss+xml",
    );
    let app = TestApp::spawn(&config_with_sources(&[("Fine", origin.url("/ok.xml"))])).await;
    let (_, stderr) = fetch(&app, None).await;
    let line = stderr
        .lines()
        .find(|l| l.contains(" fetch ") || l.contains(": fetch"))
        .unwrap_or_else(|| panic!("no fetch line: {stderr}"));
    assert!(line.contains(" INFO "), "{line}");
    for field in [
        "source=Fine",
        "status=200",
        "items_new=2",
        "items_updated=0",
        "elapsed_ms=",
    ] {
        assert!(line.contains(field), "{field} missing: {line}");
    }
    assert!(serde_json::from_str::<Value>(line).is_err());
    app.stop().await;
}
