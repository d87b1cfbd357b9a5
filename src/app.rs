//! Builds the daemon from a configuration and wires its parts: store, pipeline, scheduler,
//! catalog and HTTP server. Tests build the same `App` on port 0 and drive it with `tick`.
//!
//! While it runs, the daemon reloads feeds.toml when the file changes or on SIGHUP
//! ([`AppHandle::reload`]) and shuts down within a bounded time on SIGTERM/SIGINT.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::ServiceExt as _;
use axum::serve::ListenerExt as _;
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::catalog::Catalog;
use crate::config::{Config, ConfigError};
use crate::http::{self, AppState};
use crate::pipeline::{Pipeline, PipelineError, SourceReport};
use crate::reload::{self, ConfigWatcher};
use crate::schedule::{ScheduleChanges, ScheduleError, Scheduler};
use crate::status::DaemonStatus;
use crate::store::{Store, StoreError};

/// How often the server re-reads topic versions, to notice writes by other processes (a
/// `feedmill fetch` beside the daemon). Its own writes are noticed at once.
const VERSION_POLL: Duration = Duration::from_secs(2);

/// How often topics with `max_age` are checked for stories that aged out (a content change
/// that no write announces).
const AGEING_EVERY: Duration = Duration::from_secs(60);

/// How often retention (`[store] retention`) runs while the daemon serves.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// How long shutdown waits for in-flight fetches, writes and HTTP responses before giving up.
/// With [`STORE_CLOSE`] and the runtime's own bound (in `main`) the process exits within 9 s
/// of SIGTERM: inside the 10 s container runtimes wait before SIGKILL.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(7);

/// How long closing the store may take at shutdown (it waits for connections still in use).
/// A store left open is still consistent: every write is one SQLite transaction.
const STORE_CLOSE: Duration = Duration::from_secs(1);

/// Allocations at least this large get their own mapping, returned to the system when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1 << 20;

/// Keep freed feed bodies from piling up in the allocator. glibc raises its mmap threshold to
/// the size of the largest block freed so far (up to 32 MiB): after the first 16 MiB body
/// (`max_body`) is freed, later ones come from per-thread heaps that are not given back, and
/// with hostile endless bodies the process held ~230 MiB where ~50 MiB were live. A fixed
/// threshold turns that adjustment off. Call it first in `main`, before any thread starts.
/// Elsewhere (musl, other systems) large blocks are unmapped on free anyway: nothing to do.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before any other thread
    // exists, and a failure (a 0 return) leaves glibc's defaults, which are still correct.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("failed to listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// A reload found feeds.toml unreadable or invalid (the same text `feedmill check` prints).
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// What a reload applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reloaded {
    pub changes: ScheduleChanges,
    /// Topics whose membership was re-evaluated over the stored articles (query, exclude,
    /// or the sources a `source:`/`tag:` query looks at changed; or a topic was added).
    pub reevaluated: Vec<String>,
    /// Settings that changed in the file but apply only after a restart (ignored until then).
    pub needs_restart: Vec<&'static str>,
    /// How long the reload waited for fetches in flight to finish.
    pub waited_ms: u64,
}

/// The parts a running daemon shares; cheap to clone.
#[derive(Clone)]
pub struct AppHandle {
    /// The pipeline built at start-up. A reload replaces the one in use
    /// ([`Scheduler::pipeline`]); both share the store.
    pub pipeline: Arc<Pipeline>,
    pub scheduler: Scheduler,
    pub catalog: Arc<Catalog>,
    pub status: Arc<DaemonStatus>,
    /// `--store`, applied again to every reloaded file.
    store_override: Option<PathBuf>,
    /// One reload at a time (the file watcher and SIGHUP may both ask).
    reloading: Arc<tokio::sync::Mutex<()>>,
}

impl AppHandle {
    /// One scheduling step at `now` (every due source), then make the catalog current.
    pub async fn tick(&self, now: DateTime<Utc>) -> Vec<SourceReport> {
        let reports = self.scheduler.tick(now).await;
        if let Err(e) = self.catalog.refresh_versions().await {
            tracing::error!(error = %e, "failed to read topic versions");
        }
        reports
    }

    /// Read feeds.toml again and apply it without a restart: sources added, removed or
    /// changed, schedules, fetch settings, topics (re-evaluated over the stored articles when
    /// their query changed), titles and `base_url`. Nothing is lost: per-source state stays
    /// in the store and in the scheduler, removed sources keep their articles, and a source
    /// is never fetched twice at once (the reload waits for fetches in flight, see
    /// [`Scheduler::pause`]). `listen` and the store's location need a restart: a change is
    /// logged and ignored. An invalid file changes nothing and is an error.
    pub async fn reload(&self, now: DateTime<Utc>) -> Result<Reloaded, AppError> {
        let _one = self.reloading.lock().await;
        let current = self.scheduler.pipeline();
        let running = current.config().clone();
        let mut fresh =
            Config::load(&running.path)?.with_overrides(self.store_override.clone(), None);
        let needs_restart = restart_only(&running, &fresh);
        for setting in &needs_restart {
            tracing::warn!(
                config = %running.path.display(),
                setting = %setting,
                "{setting} changed in the configuration: needs a restart; keeping the running value until then"
            );
        }
        fresh.server.listen = running.server.listen.clone();
        fresh.store.path = running.store.path.clone();
        fresh.store.url = running.store.url.clone();
        for warning in fresh.warnings() {
            tracing::warn!(config = %running.path.display(), "{warning}");
        }
        let fresh = Arc::new(fresh);
        let pipeline = Arc::new(current.reconfigured(fresh.clone())?);
        let started = Instant::now();
        let (reevaluated, changes, waited) = {
            let paused = self.scheduler.pause().await;
            let waited = started.elapsed();
            let reevaluated = pipeline.sync(now).await?;
            let changes = self.scheduler.reconfigure(&paused, pipeline, now).await?;
            (reevaluated, changes, waited)
        };
        self.catalog.set_config(fresh);
        self.catalog.refresh_versions().await?;
        Ok(Reloaded {
            changes,
            reevaluated,
            needs_restart,
            waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// [`AppHandle::reload`], logged and recorded in [`DaemonStatus`] (a rejected file shows
    /// on `/sources`; the daemon keeps the configuration it has).
    pub async fn reload_and_report(&self, trigger: &'static str) {
        let started = Instant::now();
        let path = self.status.config().path;
        let result = self.reload(Utc::now()).await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok(r) => {
                tracing::info!(
                    config = %path.display(),
                    trigger,
                    added = ?r.changes.added,
                    removed = ?r.changes.removed,
                    moved = ?r.changes.moved,
                    rescheduled = ?r.changes.rescheduled,
                    reevaluated = ?r.reevaluated,
                    waited_ms = r.waited_ms,
                    elapsed_ms,
                    "configuration reloaded"
                );
                self.status.applied(Utc::now());
            }
            Err(e) => {
                let loaded = self
                    .status
                    .config()
                    .loaded_at
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_default();
                tracing::error!(
                    config = %path.display(),
                    trigger,
                    error = %e,
                    "configuration rejected; still running the one loaded at {loaded}"
                );
                self.status.rejected(e.to_string(), Utc::now());
            }
        }
    }
}

/// The settings that changed between `running` and `fresh` but cannot change live: the
/// listening socket is bound once, and the store is opened once.
fn restart_only(running: &Config, fresh: &Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    if running.server.listen != fresh.server.listen {
        out.push("[server] listen");
    }
    if running.store.path != fresh.store.path {
        out.push("[store] path");
    }
    if running.store.url != fresh.store.url {
        out.push("[store] url");
    }
    out
}

pub struct App {
    listener: TcpListener,
    handle: AppHandle,
    store: Store,
    /// The watch on feeds.toml's directory, started by `build` so that no edit made once
    /// the app is built goes unnoticed; `None` if it could not start (SIGHUP still works).
    watch: Option<(ConfigWatcher, mpsc::Receiver<()>)>,
    /// SIGHUP, listened for from `build` on, so that its default action (terminate) never
    /// applies once the app exists.
    hangup: Hangup,
}

impl App {
    /// Open the store, bring topics up to date (backfill changed queries) and bind the
    /// listener. Nothing is fetched yet.
    pub async fn build(config: Config) -> Result<App, AppError> {
        for warning in config.warnings() {
            tracing::warn!("{warning}");
        }
        // Before anything is fetched or served, so /metrics counts from the start.
        crate::telemetry::install();
        let config = Arc::new(config);
        let store = Store::open(&config.store.path).await?;
        let now = Utc::now();
        let pipeline = Arc::new(Pipeline::build(config.clone(), store.clone())?);
        pipeline.sync(now).await?;
        let catalog = Arc::new(Catalog::new(store.clone(), config.clone()));
        catalog.refresh_versions().await?;
        let scheduler = Scheduler::new(pipeline.clone(), now);
        scheduler.restore(&store.source_statuses().await?);
        let status = Arc::new(DaemonStatus::new(
            config.path.clone(),
            now,
            scheduler.heartbeat(),
        ));
        let watch = match ConfigWatcher::start(&config.path) {
            Ok(watch) => Some(watch),
            Err(e) => {
                tracing::warn!(config = %config.path.display(), error = %e, "not watching the configuration: reload it with SIGHUP");
                None
            }
        };
        let addr = config.server.listen.clone();
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| AppError::Bind {
                addr: addr.clone(),
                source,
            })?;
        Ok(App {
            listener,
            handle: AppHandle {
                pipeline,
                scheduler,
                catalog,
                status,
                store_override: None,
                reloading: Arc::default(),
            },
            store,
            watch,
            hangup: hangup_signal(),
        })
    }

    /// The `--store` given on the command line, which a reload applies to the file again
    /// (else a reload would see the file's `[store] path` as a change). Call before
    /// [`App::handle`].
    pub fn with_store_override(mut self, store: Option<PathBuf>) -> App {
        self.handle.store_override = store;
        self
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn handle(&self) -> AppHandle {
        self.handle.clone()
    }

    /// Serve HTTP (and, with `schedule`, run the cron jobs) until `shutdown` completes, reloading
    /// feeds.toml when it changes or on SIGHUP; then stop scheduling, let in-flight fetches,
    /// writes and responses finish within a grace period and close the store.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        schedule: bool,
    ) -> Result<(), AppError> {
        let token = CancellationToken::new();
        let tracker = TaskTracker::new();
        let handle = self.handle.clone();
        let state = AppState {
            catalog: handle.catalog.clone(),
            store: self.store.clone(),
            status: handle.status.clone(),
        };

        let changed = handle.pipeline.changed();
        let stop = token.clone();
        let ageing = handle.clone();
        tracker.spawn(async move {
            let mut aged_at = Utc::now();
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = changed.notified() => {}
                    _ = tokio::time::sleep(VERSION_POLL) => {}
                }
                let now = Utc::now();
                if now - aged_at >= chrono::Duration::from_std(AGEING_EVERY).unwrap_or_default() {
                    let pipeline = ageing.scheduler.pipeline();
                    if let Err(e) = pipeline.age_topics(aged_at, now).await {
                        tracing::warn!(error = %e, "failed to age max_age topics");
                    }
                    aged_at = now;
                }
                if let Err(e) = ageing.catalog.refresh_versions().await {
                    tracing::warn!(error = %e, "failed to read topic versions");
                }
            }
        });
        tracker.spawn(watch_config(
            handle.clone(),
            self.watch,
            self.hangup,
            token.clone(),
        ));
        let scheduler_error: Arc<std::sync::Mutex<Option<ScheduleError>>> = Arc::default();
        if schedule {
            let stop = token.clone();
            let retention = handle.scheduler.clone();
            tracker.spawn(async move {
                loop {
                    if let Err(e) = retention.pipeline().expire(Utc::now()).await {
                        tracing::error!(error = %e, "retention pass failed");
                    }
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(RETENTION_EVERY) => {}
                    }
                }
            });
            let stop = token.clone();
            let failed = scheduler_error.clone();
            let scheduler = handle.scheduler.clone();
            tracker.spawn(async move {
                if let Err(e) = scheduler.run(stop.clone()).await {
                    // A daemon that serves but never fetches would go stale silently: stop.
                    tracing::error!(error = %e, "scheduler failed; shutting down");
                    *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    stop.cancel();
                }
            });
        }
        let stop = token.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down");
            stop.cancel();
        });
        tracker.close();
        let addr = self.listener.local_addr().map_err(AppError::Serve)?;
        tracing::info!(addr = %addr, config = %handle.status.config().path.display(), "serving");
        // No Nagle delay: a feed's last segment must not wait for the client's ACK (a
        // delayed ACK holds it for up to 40 ms).
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "failed to set TCP_NODELAY");
            }
        });
        let server = axum::serve(listener, http::Http::new(state).into_make_service())
            .with_graceful_shutdown(token.clone().cancelled_owned());
        let mut server = tokio::spawn(server.into_future());
        let ended = tokio::select! {
            ended = &mut server => Some(ended),
            _ = token.cancelled() => None,
        };
        token.cancel();
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        let ended = match ended {
            Some(ended) => ended,
            None => match tokio::time::timeout_at(deadline, &mut server).await {
                Ok(ended) => ended,
                Err(_) => {
                    tracing::warn!(
                        "HTTP responses still in flight after the grace period were cut off"
                    );
                    server.abort();
                    Ok(Ok(()))
                }
            },
        };
        if tokio::time::timeout_at(deadline, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("in-flight work did not finish within the grace period");
        }
        if tokio::time::timeout(STORE_CLOSE, self.store.close())
            .await
            .is_err()
        {
            tracing::warn!(
                "the store did not close in time (it stays consistent: every write is one transaction)"
            );
        }
        if let Some(e) = scheduler_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Err(AppError::Schedule(e));
        }
        match ended {
            Ok(served) => served.map_err(AppError::Serve),
            Err(e) => Err(AppError::Serve(std::io::Error::other(e))),
        }
    }
}

/// Reload feeds.toml when its directory says it changed (debounced) or on SIGHUP, until
/// `stop`. Without a watch (inotify limits, an unreadable directory) SIGHUP still works.
async fn watch_config(
    handle: AppHandle,
    watch: Option<(ConfigWatcher, mpsc::Receiver<()>)>,
    mut hangup: Hangup,
    stop: CancellationToken,
) {
    let (watcher, mut events) = match watch {
        Some((watcher, events)) => (Some(watcher), events),
        None => (None, mpsc::channel(1).1),
    };
    if let Some(w) = &watcher {
        tracing::debug!(dir = %w.dir().display(), "watching the configuration's directory");
    }
    loop {
        let trigger = tokio::select! {
            _ = stop.cancelled() => break,
            Some(()) = events.recv(), if watcher.is_some() => {
                reload::settle(&mut events, reload::DEBOUNCE).await;
                "file changed"
            }
            Some(()) = next_hangup(&mut hangup) => "SIGHUP",
        };
        handle.reload_and_report(trigger).await;
    }
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

/// SIGHUP, the usual "reload your configuration" signal.
fn hangup_signal() -> Hangup {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP");
                None
            }
        }
    }
    #[cfg(not(unix))]
    None
}

async fn next_hangup(hangup: &mut Hangup) -> Option<()> {
    #[cfg(unix)]
    if let Some(signal) = hangup {
        return signal.recv().await;
    }
    let _ = hangup;
    std::future::pending().await
}
