//! Noticing that feeds.toml changed. The daemon watches the file's *directory*, not the file:
//! editors save by writing a new file and renaming it over the old one, and a container's
//! bind-mounted config directory sees the same, so a watch on the file itself would follow
//! the old inode and go silent after the first save. Events are filtered on the file name
//! and debounced ([`settle`]): one save is many events.
//!
//! What a reload then does is [`crate::app::AppHandle::reload`]; SIGHUP triggers one too.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// How long the file must stay quiet before it is read: an editor's save (write a temporary
/// file, rename, set permissions) and `cp` both come as bursts within a few milliseconds.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// Kubernetes mounts a ConfigMap as `feeds.toml -> ..data/feeds.toml` and updates it by
/// swapping the `..data` symlink: that rename is the only event the directory sees.
const CONFIGMAP_LINK: &str = "..data";

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("cannot watch {dir} for changes to {file}: {source}")]
    Watch {
        dir: String,
        file: String,
        #[source]
        source: notify::Error,
    },
}

/// Watches the directory of a config file while it lives; changes arrive on the receiver
/// given by [`ConfigWatcher::start`].
pub struct ConfigWatcher {
    _watcher: RecommendedWatcher,
    dir: PathBuf,
}

impl ConfigWatcher {
    /// Watch `config`'s directory; each relevant event sends `()` (coalesced: the channel
    /// holds at most a few, which is all [`settle`] needs).
    pub fn start(config: &Path) -> Result<(ConfigWatcher, mpsc::Receiver<()>), ReloadError> {
        let dir = match config.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = config.file_name().map(OsString::from).unwrap_or_default();
        let (tx, rx) = mpsc::channel(4);
        let watch_error = |source| ReloadError::Watch {
            dir: dir.display().to_string(),
            file: config.display().to_string(),
            source,
        };
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<Event>| match event {
                Ok(event) if concerns(&event, &name) => {
                    // Full means a wake-up is already pending: dropping this one loses nothing.
                    let _ = tx.try_send(());
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "error while watching the config directory"),
            })
            .map_err(watch_error)?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(watch_error)?;
        Ok((
            ConfigWatcher {
                _watcher: watcher,
                dir,
            },
            rx,
        ))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Whether `event` may have changed the file named `name`. Reads are ignored (the reload
/// itself reads the file; counting that would loop), except a close after writing.
fn concerns(event: &Event, name: &OsString) -> bool {
    let kind_matters = match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    };
    kind_matters
        && event.paths.iter().any(|p| {
            p.file_name()
                .is_some_and(|n| n == name.as_os_str() || n == CONFIGMAP_LINK)
        })
}

/// Wait until no event arrived for `quiet` (or the watcher is gone), swallowing the burst.
pub async fn settle(events: &mut mpsc::Receiver<()>, quiet: Duration) {
    while let Ok(Some(())) = tokio::time::timeout(quiet, events.recv()).await {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind, RenameMode};

    fn event(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn concerns_only_the_config_file_when_directory_has_other_files() {
        let name = OsString::from("feeds.toml");
        let write = EventKind::Modify(ModifyKind::Any);
        assert!(concerns(&event(write, "/etc/feedmill/feeds.toml"), &name));
        assert!(!concerns(&event(write, "/etc/feedmill/other.toml"), &name));
        assert!(!concerns(
            &event(write, "/etc/feedmill/.feeds.toml.swp"),
            &name
        ));
        // An editor's rename of its temporary file onto feeds.toml names both paths.
        let rename = Event::new(EventKind::Modify(ModifyKind::Name(RenameMode::Both)))
            .add_path(PathBuf::from("/etc/feedmill/.feeds.toml.tmp"))
            .add_path(PathBuf::from("/etc/feedmill/feeds.toml"));
        assert!(concerns(&rename, &name));
        let create = EventKind::Create(CreateKind::File);
        assert!(concerns(&event(create, "/etc/feedmill/..data"), &name));
    }

    #[test]
    fn concerns_ignores_reads_when_reload_opens_the_file() {
        let name = OsString::from("feeds.toml");
        for kind in [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Access(AccessKind::Read),
        ] {
            assert!(!concerns(&event(kind, "/c/feeds.toml"), &name), "{kind:?}");
        }
        let closed = EventKind::Access(AccessKind::Close(AccessMode::Write));
        assert!(concerns(&event(closed, "/c/feeds.toml"), &name));
    }

    #[tokio::test]
    async fn watcher_reports_change_when_file_is_replaced_by_rename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feeds.toml");
        std::fs::write(&path, "# one\n").unwrap();
        let (watcher, mut events) = ConfigWatcher::start(&path).unwrap();
        assert_eq!(watcher.dir(), dir.path());
        // Another file in the directory: nothing.
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        settle(&mut events, Duration::from_millis(100)).await;
        assert!(events.try_recv().is_err());
        // An editor's save: write elsewhere, rename over. Twice, to show the watch survives
        // the first replacement of the inode.
        for text in ["# two\n", "# three\n"] {
            let tmp = dir.path().join(".feeds.toml.tmp");
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
            let got = tokio::time::timeout(Duration::from_secs(5), events.recv()).await;
            assert_eq!(got.ok().flatten(), Some(()), "no event for {text:?}");
            settle(&mut events, Duration::from_millis(100)).await;
        }
        // Reading the file is not a change.
        let _ = std::fs::read_to_string(&path).unwrap();
        let quiet = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
        assert!(quiet.is_err(), "a read was reported as a change");
    }

    #[tokio::test(start_paused = true)]
    async fn settle_waits_until_burst_is_over_when_events_keep_coming() {
        let (tx, mut rx) = mpsc::channel(4);
        let start = tokio::time::Instant::now();
        tokio::spawn(async move {
            for _ in 0..5 {
                tx.send(()).await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        rx.recv().await.unwrap();
        settle(&mut rx, DEBOUNCE).await;
        // Last event at 400 ms, then 300 ms of quiet (the sender is gone at 500 ms, which
        // also ends the wait: a closed channel has nothing more to say).
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(400), "{waited:?}");
        assert!(waited <= Duration::from_millis(700), "{waited:?}");
    }
}
