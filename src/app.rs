//! Builds the daemon from a configuration and wires its parts: store, pipeline, scheduler,
//! catalog and HTTP server. Tests build the same `App` on port 0 and drive it with `tick`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::ServiceExt as _;
use axum::serve::ListenerExt as _;
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::catalog::Catalog;
use crate::config::Config;
use crate::http::{self, AppState};
use crate::pipeline::{Pipeline, PipelineError, SourceReport};
use crate::schedule::{ScheduleError, Scheduler};
use crate::store::{Store, StoreError};

/// How often the server re-reads topic versions, to notice writes by other processes (a
/// `feedmill fetch` beside the daemon). Its own writes are noticed at once.
const VERSION_POLL: Duration = Duration::from_secs(2);

/// How often topics with `max_age` are checked for stories that aged out (a content change
/// that no write announces).
const AGEING_EVERY: Duration = Duration::from_secs(60);

/// How often retention (`[store] retention`) runs while the daemon serves.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// How long shutdown waits for in-flight work before giving up.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

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
}

/// The parts a running daemon shares; cheap to clone.
#[derive(Clone)]
pub struct AppHandle {
    pub pipeline: Arc<Pipeline>,
    pub scheduler: Scheduler,
    pub catalog: Arc<Catalog>,
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
}

pub struct App {
    listener: TcpListener,
    handle: AppHandle,
    store: Store,
}

impl App {
    /// Open the store, bring topics up to date (backfill changed queries) and bind the
    /// listener. Nothing is fetched yet.
    pub async fn build(config: Config) -> Result<App, AppError> {
        for warning in config.warnings() {
            tracing::warn!("{warning}");
        }
        let config = Arc::new(config);
        let store = Store::open(&config.store.path).await?;
        let now = Utc::now();
        let pipeline = Arc::new(Pipeline::build(config.clone(), store.clone())?);
        pipeline.sync(now).await?;
        let catalog = Arc::new(Catalog::new(store.clone(), config.clone()));
        catalog.refresh_versions().await?;
        let scheduler = Scheduler::new(pipeline.clone(), now);
        scheduler.restore(&store.source_statuses().await?);
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
            },
            store,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn handle(&self) -> AppHandle {
        self.handle.clone()
    }

    /// Serve HTTP (and, with `schedule`, run the cron jobs) until `shutdown` completes; then
    /// stop scheduling, let in-flight work finish within a grace period and close the store.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        schedule: bool,
    ) -> Result<(), AppError> {
        let token = CancellationToken::new();
        let tracker = TaskTracker::new();
        let AppHandle {
            pipeline,
            scheduler,
            catalog,
        } = self.handle;
        let state = AppState {
            catalog: catalog.clone(),
            store: self.store.clone(),
        };

        let changed = pipeline.changed();
        let stop = token.clone();
        let ageing = pipeline.clone();
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
                    if let Err(e) = ageing.age_topics(aged_at, now).await {
                        tracing::warn!(error = %e, "failed to age max_age topics");
                    }
                    aged_at = now;
                }
                if let Err(e) = catalog.refresh_versions().await {
                    tracing::warn!(error = %e, "failed to read topic versions");
                }
            }
        });
        let scheduler_error: Arc<std::sync::Mutex<Option<ScheduleError>>> = Arc::default();
        if schedule {
            let stop = token.clone();
            let retention = pipeline.clone();
            tracker.spawn(async move {
                loop {
                    if let Err(e) = retention.expire(Utc::now()).await {
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
        tracing::info!(addr = %addr, "serving");
        // No Nagle delay: a feed's last segment must not wait for the client's ACK (a
        // delayed ACK holds it for up to 40 ms).
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "failed to set TCP_NODELAY");
            }
        });
        let server = axum::serve(listener, http::Http::new(state).into_make_service())
            .with_graceful_shutdown(token.clone().cancelled_owned());
        let served = server.await.map_err(AppError::Serve);
        token.cancel();
        if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("in-flight work did not finish within the grace period");
        }
        self.store.close().await;
        if let Some(e) = scheduler_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Err(AppError::Schedule(e));
        }
        served
    }
}
