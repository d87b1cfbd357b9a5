//! The container contract, without a container engine: the built binary run the way the
//! image runs it (config from `FEEDMILL_CONFIG` in a read-only directory, store from
//! `FEEDMILL_STORE` in a fresh directory, listening on 0.0.0.0, as uid 65532 when the test
//! runs as root), then SIGTERM → exit 0 with the data intact. Also checks the Dockerfile and
//! docker-compose.yml keep the promises the README makes about them.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use crate::helpers::{Daemon, Origin, config_with_sources, feedmill_command, fixture, unused_port};

/// The image's runtime user (distroless "nonroot").
const IMAGE_UID: u32 = 65532;

fn repo_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `feedmill ARGS` as the image's user when we are root and `setpriv` exists (else as we
/// are, said on stdout), with the image's environment.
fn image_command(config: &Path, store: &Path, port: u16) -> tokio::process::Command {
    let (root, setpriv) = (is_root(), has_setpriv());
    let mut cmd = if root && setpriv {
        let mut cmd = tokio::process::Command::new("setpriv");
        cmd.arg(format!("--reuid={IMAGE_UID}"))
            .arg(format!("--regid={IMAGE_UID}"))
            .arg("--clear-groups")
            .arg(env!("CARGO_BIN_EXE_feedmill"));
        for var in ["FEEDMILL_LOG_FORMAT", "FEEDMILL_ADMIN_TOKEN", "RUST_LOG"] {
            cmd.env_remove(var);
        }
        cmd
    } else {
        println!(
            "note: not running as uid {IMAGE_UID} (root: {root}, setpriv: {setpriv}); the non-root part of the contract is not checked"
        );
        feedmill_command()
    };
    cmd.env("FEEDMILL_CONFIG", config)
        .env("FEEDMILL_STORE", store)
        .env("FEEDMILL_LISTEN", format!("0.0.0.0:{port}"));
    cmd
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn has_setpriv() -> bool {
    Path::new("/usr/bin/setpriv").exists() || Path::new("/bin/setpriv").exists()
}

fn runs_as_image_user() -> bool {
    is_root() && has_setpriv()
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_and_stops_cleanly_with_data_intact_when_run_like_the_image() {
    let origin = Origin::start().await;
    origin.serve(
        "/feed/",
        &fixture("diplomat-wordpress.xml"),
        "application/rss+xml",
    );
    // The image's layout: a config directory it only reads, an empty store it owns.
    let root = tempfile::tempdir().unwrap();
    chmod(root.path(), 0o755);
    let config_dir = root.path().join("etc-feedmill");
    let store = root.path().join("store");
    std::fs::create_dir(&config_dir).unwrap();
    std::fs::create_dir(&store).unwrap();
    let config = config_dir.join("feeds.toml");
    let body = config_with_sources(&[("The Diplomat", origin.url("/feed/"))])
        .replace("schedule = \"15m\"", "schedule = \"1s\"");
    std::fs::write(&config, &body).unwrap();
    chmod(&config, 0o444);
    chmod(&config_dir, 0o555);
    if runs_as_image_user() {
        std::os::unix::fs::chown(&store, Some(IMAGE_UID), Some(IMAGE_UID)).unwrap();
    }
    let port = unused_port();
    let mut cmd = image_command(&config, &store, port);
    cmd.arg("serve");
    let mut daemon = Daemon::start(cmd, port).await;
    assert!(
        daemon.stderr().contains(&format!("0.0.0.0:{port}")),
        "{}",
        daemon.stderr()
    );

    // The HEALTHCHECK command, as the image runs it.
    let mut health = image_command(&config, &store, port);
    let probe = health.arg("healthcheck").output().await.unwrap();
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );

    // It fetches and serves.
    let feed_url = format!("{}/topics/central-asia-security.atom", daemon.base);
    let started = std::time::Instant::now();
    loop {
        let body = reqwest::get(&feed_url).await.unwrap().text().await.unwrap();
        if body.contains("China, Kyrgyzstan Ties Warm") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "nothing fetched:\n{}",
            daemon.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        reqwest::get(format!("{}/readyz", daemon.base))
            .await
            .unwrap()
            .status(),
        200
    );

    daemon.signal(libc::SIGTERM);
    let (status, took) = daemon.wait_exit(Duration::from_secs(12)).await;
    assert_eq!(status.code(), Some(0), "{}", daemon.stderr());
    assert!(took < Duration::from_secs(10), "exit took {took:?}");
    println!("SIGTERM while idle-serving: exit 0 after {took:?}");

    // The data is intact and was written by the image's user.
    let db = store.join("feedmill.db");
    if runs_as_image_user() {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&db).unwrap().uid(), IMAGE_UID);
    }
    let reopened = feedmill::store::Store::open(&store).await.unwrap();
    assert_eq!(reopened.article_count().await.unwrap(), 2);
    let statuses = reopened.source_statuses().await.unwrap();
    assert_eq!(statuses[0].last_outcome.as_deref(), Some("ok"));
    reopened.close().await;
}

/// A bad edit of the config must not make the container unhealthy: the daemon keeps serving
/// its last good config, and the probe needs only `FEEDMILL_LISTEN`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_passes_when_config_file_is_broken_but_daemon_serves() {
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("feeds.toml");
    let store = root.path().join("store");
    std::fs::write(&config, config_with_sources(&[])).unwrap();
    let port = unused_port();
    let mut cmd = feedmill_command();
    cmd.env("FEEDMILL_CONFIG", &config)
        .env("FEEDMILL_STORE", &store)
        .env("FEEDMILL_LISTEN", format!("0.0.0.0:{port}"))
        .arg("serve");
    let mut daemon = Daemon::start(cmd, port).await;
    std::fs::write(&config, "[fetch\n").unwrap();
    assert!(
        daemon
            .wait_for_log("configuration rejected", Duration::from_secs(10))
            .await,
        "{}",
        daemon.stderr()
    );
    let probe = feedmill_command()
        .env("FEEDMILL_CONFIG", &config)
        .env("FEEDMILL_LISTEN", format!("0.0.0.0:{port}"))
        .arg("healthcheck")
        .output()
        .await
        .unwrap();
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    daemon.signal(libc::SIGTERM);
    let (status, _) = daemon.wait_exit(Duration::from_secs(12)).await;
    assert!(status.success());
}

#[test]
fn dockerfile_and_compose_keep_the_container_contract() {
    let dockerfile = repo_file("Dockerfile");
    let lines: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    let has = |prefix: &str| lines.iter().any(|l| l.starts_with(prefix));
    let froms: Vec<&&str> = lines.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "multi-stage: {froms:?}");
    for from in &froms {
        let image = from.split_whitespace().nth(1).unwrap();
        assert!(
            image.contains(':') && !image.ends_with(":latest"),
            "base image not pinned: {from}"
        );
    }
    assert!(dockerfile.contains("cargo build --release --locked"));
    assert!(has("COPY benches"), "cargo needs the declared benches");
    assert!(has("USER 65532:65532"));
    assert!(has("EXPOSE 8080"));
    assert!(has("VOLUME /store"));
    assert!(has("STOPSIGNAL SIGTERM"));
    assert!(dockerfile.contains("/etc/feedmill/feeds.toml"));
    assert!(dockerfile.contains("FEEDMILL_CONFIG=/etc/feedmill/feeds.toml"));
    assert!(dockerfile.contains("FEEDMILL_STORE=/store"));
    assert!(dockerfile.contains("FEEDMILL_LISTEN=0.0.0.0:8080"));
    assert!(dockerfile.contains(r#"CMD ["/usr/local/bin/feedmill", "healthcheck"]"#));
    assert!(has("HEALTHCHECK "));

    let compose = repo_file("docker-compose.yml");
    assert!(compose.contains("source: feedmill-store") && compose.contains("target: /store"));
    assert!(
        compose.contains("\nvolumes:\n  feedmill-store:"),
        "named volume"
    );
    // The directory is bind-mounted (live edits survive editors replacing the file).
    assert!(compose.contains("type: bind") && compose.contains("target: /etc/feedmill\n"));
    assert!(
        !compose.contains("/etc/feedmill/feeds.toml"),
        "single-file mount"
    );
    assert!(compose.contains("FEEDMILL_ADMIN_TOKEN: ${FEEDMILL_ADMIN_TOKEN:?"));
}
