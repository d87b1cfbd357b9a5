//! `feedmill check` on broken configurations: exit 2 and a `path:line:col: message`.

use std::process::Command;

fn check(config: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feeds.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_feedmill"))
        .args(["--config", path.to_str().unwrap(), "check"])
        .env_remove("FEEDMILL_STORE")
        .env_remove("FEEDMILL_LISTEN")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).replace(path.to_str().unwrap(), "feeds.toml");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

const GOOD_SOURCE: &str = "[[source]]\nname = \"A\"\nurl = \"https://example.org/feed\"\n";

#[test]
fn check_reports_line_and_column_when_key_is_misspelled() {
    let (code, _, err) = check("[[source]]\nname = \"A\"\nulr = \"https://example.org/feed\"\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("feeds.toml:3:1:"), "{err}");
    assert!(err.contains("ulr"), "{err}");
}

#[test]
fn check_reports_line_and_column_when_source_name_repeats() {
    let config =
        format!("{GOOD_SOURCE}\n[[source]]\nname = \"A\"\nurl = \"https://example.org/other\"\n");
    let (code, _, err) = check(&config);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("feeds.toml:6:8:"), "{err}");
    assert!(
        err.to_lowercase().contains("duplicate") || err.contains("already"),
        "{err}"
    );
}

#[test]
fn check_reports_line_and_column_when_cron_is_invalid() {
    let config = format!("[fetch]\nschedule = \"61 * * * *\"\n\n{GOOD_SOURCE}");
    let (code, _, err) = check(&config);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("feeds.toml:2:13:"), "{err}");
}

#[test]
fn check_reports_line_and_column_when_query_is_unbalanced() {
    let config = format!(
        "{GOOD_SOURCE}\n[[topic]]\nslug = \"t\"\ntitle = \"T\"\nquery = '''\n(kyrgyz* OR kazakh*\nAND security\n'''\n"
    );
    let (code, _, err) = check(&config);
    assert_eq!(code, 2, "{err}");
    // The unclosed parenthesis is on line 9, column 1.
    assert!(err.contains("feeds.toml:9:1:"), "{err}");
}

#[test]
fn check_passes_when_shipped_config_is_used() {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/feeds.toml")).unwrap();
    let (code, out, err) = check(&shipped);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok"), "{out}");
}

#[test]
fn check_reports_line_and_column_when_alias_is_another_topics_slug() {
    let config = format!(
        "{GOOD_SOURCE}\n[[topic]]\nslug = \"asia\"\ntitle = \"Asia\"\nquery = 'x'\n\n[[topic]]\nslug = \"europe\"\ntitle = \"Europe\"\nquery = 'y'\naliases = [\"old-europe\", \"asia\"]\n"
    );
    let (code, _, err) = check(&config);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("feeds.toml:14:26: `aliases` in [[topic]] \"europe\": \"asia\" is the slug of a topic (line 6)"),
        "{err}"
    );
}
