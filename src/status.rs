//! What the running daemon says about itself, apart from its data: which feeds.toml it runs
//! (and whether the latest edit was rejected), and whether it is ready to serve. The app
//! writes it; `/sources` and `/readyz` read it.
//!
//! [`readiness`] is pure (it takes `now`), so every reason for "not ready" is unit-tested
//! without waiting for a clock.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::schedule::Heartbeat;

/// An edit of feeds.toml that was not applied: the daemon runs on the configuration loaded
/// before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The same text `feedmill check` prints (`PATH:LINE:COL: message`, one per line).
    pub message: String,
    pub at: DateTime<Utc>,
}

/// The configuration as the daemon runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigState {
    /// The file, as given (`--config` or `FEEDMILL_CONFIG`).
    pub path: PathBuf,
    /// When the configuration in use was loaded; `None` until one is.
    pub loaded_at: Option<DateTime<Utc>>,
    /// The latest reload's error, until a reload succeeds.
    pub rejected: Option<Rejected>,
}

impl ConfigState {
    /// The file name to show people ("feeds.toml"), or the whole path if it has none.
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }
}

/// Shared by the app and the HTTP handlers.
pub struct DaemonStatus {
    config: Mutex<ConfigState>,
    heartbeat: Arc<Heartbeat>,
    /// Counts reload attempts (applied or rejected), so a caller can wait for the next one.
    reloads: watch::Sender<u64>,
}

impl DaemonStatus {
    /// The status of a daemon that loaded `path` at `loaded_at` and whose scheduler beats
    /// `heartbeat`.
    pub fn new(path: PathBuf, loaded_at: DateTime<Utc>, heartbeat: Arc<Heartbeat>) -> Self {
        DaemonStatus {
            config: Mutex::new(ConfigState {
                path,
                loaded_at: Some(loaded_at),
                rejected: None,
            }),
            heartbeat,
            reloads: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ConfigState> {
        // Every update replaces whole fields: a poisoned lock still holds a consistent value.
        self.config.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn config(&self) -> ConfigState {
        self.lock().clone()
    }

    pub fn heartbeat(&self) -> &Arc<Heartbeat> {
        &self.heartbeat
    }

    /// A reload applied the file at `at`: it is the configuration in use, with no error.
    pub fn applied(&self, at: DateTime<Utc>) {
        {
            let mut state = self.lock();
            state.loaded_at = Some(at);
            state.rejected = None;
        }
        self.reloads.send_modify(|n| *n += 1);
    }

    /// A reload was rejected: the previous configuration stays in use.
    pub fn rejected(&self, message: String, at: DateTime<Utc>) {
        self.lock().rejected = Some(Rejected { message, at });
        self.reloads.send_modify(|n| *n += 1);
    }

    /// Changes after every reload attempt; the value counts them.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.reloads.subscribe()
    }
}

/// Whether the daemon can do its job, or why not (every reason, joined by "; "): the store
/// answers, a configuration is loaded, and the scheduler beat within twice its period (a
/// beat in the future, from a test clock, counts as recent).
pub fn readiness(
    now: DateTime<Utc>,
    store_error: Option<&str>,
    config: &ConfigState,
    last_beat: DateTime<Utc>,
    period: Duration,
) -> Result<(), String> {
    let mut reasons = Vec::new();
    if let Some(error) = store_error {
        reasons.push(format!("store unreachable: {error}"));
    }
    if config.loaded_at.is_none() {
        reasons.push(format!(
            "no configuration loaded from {}",
            config.path.display()
        ));
    }
    let limit = chrono::Duration::from_std(period * 2).unwrap_or(chrono::Duration::MAX);
    let silent = now - last_beat;
    if silent > limit {
        reasons.push(format!(
            "scheduler has not run for {}s (expected every {}s); last ran {}",
            silent.num_seconds(),
            period.as_secs_f64(),
            last_beat.format("%Y-%m-%d %H:%M:%S UTC")
        ));
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(reasons.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(at: Option<DateTime<Utc>>) -> ConfigState {
        ConfigState {
            path: PathBuf::from("/etc/feedmill/feeds.toml"),
            loaded_at: at,
            rejected: None,
        }
    }

    #[test]
    fn readiness_is_ok_when_store_answers_config_loaded_and_scheduler_beat_recently() {
        let now = Utc::now();
        let period = Duration::from_secs(30);
        let beat = now - chrono::Duration::seconds(59);
        assert_eq!(
            readiness(now, None, &loaded(Some(now)), beat, period),
            Ok(())
        );
        // A beat ahead of the wall clock (a test's tick clock) is recent.
        let ahead = now + chrono::Duration::days(1);
        assert_eq!(
            readiness(now, None, &loaded(Some(now)), ahead, period),
            Ok(())
        );
    }

    #[test]
    fn readiness_names_the_scheduler_when_it_missed_two_periods() {
        let now = Utc::now();
        let beat = now - chrono::Duration::seconds(61);
        let err =
            readiness(now, None, &loaded(Some(now)), beat, Duration::from_secs(30)).unwrap_err();
        assert!(
            err.starts_with("scheduler has not run for 61s (expected every 30s)"),
            "{err}"
        );
    }

    #[test]
    fn readiness_lists_every_reason_when_store_and_config_are_missing() {
        let now = Utc::now();
        let err = readiness(
            now,
            Some("no answer within 3s"),
            &loaded(None),
            now,
            Duration::from_secs(30),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "store unreachable: no answer within 3s; no configuration loaded from /etc/feedmill/feeds.toml"
        );
    }

    #[test]
    fn status_keeps_last_load_time_and_shows_error_when_reload_is_rejected() {
        let start = Utc::now();
        let status = DaemonStatus::new(
            PathBuf::from("conf/feeds.toml"),
            start,
            Arc::new(Heartbeat::new(start)),
        );
        let mut reloads = status.subscribe();
        let later = start + chrono::Duration::minutes(5);
        status.rejected("conf/feeds.toml:3:1: expected `=`".into(), later);
        assert!(reloads.has_changed().unwrap());
        let state = status.config();
        assert_eq!(state.loaded_at, Some(start));
        assert_eq!(state.file_name(), "feeds.toml");
        assert_eq!(
            state.rejected.as_ref().map(|r| r.at),
            Some(later),
            "{state:?}"
        );
        status.applied(later);
        assert_eq!(status.config().rejected, None);
        assert_eq!(status.config().loaded_at, Some(later));
        assert_eq!(*reloads.borrow_and_update(), 2);
    }
}
