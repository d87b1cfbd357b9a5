//! When each source is fetched. One tokio-cron-scheduler job per source drives the daemon;
//! [`Scheduler::tick`] runs one scheduling step at a given instant, for tests and for the
//! same bookkeeping. A per-source lock means runs of one source never overlap, a semaphore
//! bounds the fetches in flight, and first runs are spread so hundreds of sources do not
//! fire in the same second.
//!
//! Each refresh reports the source's next attempt ([`crate::politeness`]): the schedule, a
//! later freshness floor, a backoff or a `Retry-After`. The source is not due before it, and
//! a gone source (410) is never due until a restart with its url changed.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Schedule, SourceConfig};
use crate::pipeline::{Pipeline, SourceReport};
use crate::politeness::Reason;
use crate::store::SourceStatus;

/// First runs are spread over at most this long (or the schedule's period, if shorter).
const MAX_SPREAD: Duration = Duration::from_secs(60);

/// A cron run this close before a source's next attempt still runs: the attempt was computed
/// from the previous run's start, and cron ticks carry a little latency either way.
const CRON_SLACK: chrono::Duration = chrono::Duration::seconds(2);

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("scheduler failed: {0}")]
    Scheduler(#[from] JobSchedulerError),
    #[error("invalid schedule for source {name:?}: {reason}")]
    Job { name: String, reason: String },
}

struct Slot {
    source: SourceConfig,
    schedule: Schedule,
    next_due: DateTime<Utc>,
    /// 410 Gone: never due (until a restart with the source's url changed).
    gone: bool,
    running: Arc<tokio::sync::Mutex<()>>,
}

struct Inner {
    pipeline: Arc<Pipeline>,
    slots: Mutex<HashMap<String, Slot>>,
    limit: Arc<Semaphore>,
    /// Every scheduled refresh, so shutdown can let them finish.
    tracker: TaskTracker,
}

/// Cheap to clone: clones share state.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

/// A stable offset in `[0, window)` for a source, so restarts keep the same spread.
fn spread_offset(name: &str, window: Duration) -> Duration {
    let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
    // FNV-1a: stable across runs and platforms, unlike std's randomized hasher.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    Duration::from_millis(hash % window_ms)
}

impl Scheduler {
    /// Every source is first due at `start` plus its spread offset.
    pub fn new(pipeline: Arc<Pipeline>, start: DateTime<Utc>) -> Scheduler {
        let config = pipeline.config().clone();
        let slots = config
            .sources
            .iter()
            .map(|source| {
                let schedule = source
                    .schedule
                    .clone()
                    .unwrap_or_else(|| config.fetch.schedule.clone());
                let offset = spread_offset(&source.name, schedule.nominal_period().min(MAX_SPREAD));
                let next_due = start + chrono::Duration::from_std(offset).unwrap_or_default();
                let slot = Slot {
                    source: source.clone(),
                    schedule,
                    next_due,
                    gone: false,
                    running: Default::default(),
                };
                (source.name.clone(), slot)
            })
            .collect();
        Scheduler {
            inner: Arc::new(Inner {
                pipeline,
                slots: Mutex::new(slots),
                limit: Arc::new(Semaphore::new(config.fetch.concurrency.max(1))),
                tracker: TaskTracker::new(),
            }),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        // A panic while holding this lock cannot leave the map inconsistent (every update is a
        // single assignment), so a poisoned lock is still safe to use.
        self.inner.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When each source is next due, by name (gone sources are left out: never due).
    pub fn next_due(&self) -> HashMap<String, DateTime<Utc>> {
        self.slots()
            .iter()
            .filter(|(_, s)| !s.gone)
            .map(|(k, s)| (k.clone(), s.next_due))
            .collect()
    }

    /// Carry stored politeness over a restart: a source in backoff, waiting out a
    /// `Retry-After` or a freshness floor is not due before its stored next attempt, and a
    /// gone source is not due at all. (A next attempt due to the plain schedule is not kept:
    /// a restart fetches every source once, spread as usual.)
    pub fn restore(&self, stored: &[SourceStatus]) {
        let mut slots = self.slots();
        for status in stored {
            let Some(slot) = slots.get_mut(&status.name) else {
                continue;
            };
            if status.gone_at.is_some() {
                slot.gone = true;
                continue;
            }
            let polite = status
                .next_fetch_reason
                .is_some_and(|r| r != Reason::Schedule);
            if let Some(at) = status
                .next_fetch_at
                .filter(|at| polite && *at > slot.next_due)
            {
                slot.next_due = at;
            }
        }
    }

    /// Take a refresh's next attempt as the source's next due time.
    fn apply(&self, report: &SourceReport) {
        if let Some(slot) = self.slots().get_mut(&report.source) {
            match report.next_attempt.at {
                Some(at) => slot.next_due = at,
                None => slot.gone = true,
            }
        }
    }

    fn is_gone(&self, name: &str) -> bool {
        self.slots().get(name).is_some_and(|s| s.gone)
    }

    /// Whether a cron run at `now` should fetch `name`: not gone, and its next attempt (a
    /// floor, backoff or Retry-After may put it past this run) has come.
    fn cron_run_due(&self, name: &str, now: DateTime<Utc>) -> bool {
        self.slots()
            .get(name)
            .is_some_and(|s| !s.gone && s.next_due <= now + CRON_SLACK)
    }

    /// One scheduling step: refresh every source due at `now` that is not already running,
    /// and return their reports. The due sources are fetched concurrently and ingested in one
    /// deterministic order (see [`Pipeline::refresh_many`]).
    pub async fn tick(&self, now: DateTime<Utc>) -> Vec<SourceReport> {
        let mut due: Vec<(SourceConfig, Arc<tokio::sync::Mutex<()>>)> = {
            let mut slots = self.slots();
            slots
                .values_mut()
                .filter(|s| !s.gone && s.next_due <= now)
                .map(|s| {
                    s.next_due = s
                        .schedule
                        .next_after(now)
                        .unwrap_or(now + chrono::Duration::days(1));
                    (s.source.clone(), s.running.clone())
                })
                .collect()
        };
        due.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        // Hold every due source's lock for the whole step; skip those already in flight.
        let mut guards = Vec::with_capacity(due.len());
        let mut sources = Vec::with_capacity(due.len());
        for (source, lock) in &due {
            match lock.clone().try_lock_owned() {
                Ok(guard) => {
                    guards.push(guard);
                    sources.push(source.clone());
                }
                Err(_) => {
                    tracing::debug!(source = %source.name, "previous run still in flight; skipped")
                }
            }
        }
        let reports = self
            .inner
            .pipeline
            .refresh_many(&sources, now, |_| {})
            .await;
        drop(guards);
        for report in &reports {
            self.apply(report);
        }
        reports
    }

    /// Refresh one source now, unless a run of it is already in flight (then `None`).
    pub async fn run_source(&self, name: &str, now: DateTime<Utc>) -> Option<SourceReport> {
        let (source, lock) = {
            let slots = self.slots();
            let slot = slots.get(name)?;
            (slot.source.clone(), slot.running.clone())
        };
        let Ok(_running) = lock.try_lock() else {
            tracing::debug!(source = %name, "previous run still in flight; skipped");
            return None;
        };
        let _permit = self.inner.limit.clone().acquire_owned().await.ok()?;
        if let Some(slot) = self.slots().get_mut(name) {
            slot.next_due = slot
                .schedule
                .next_after(now)
                .unwrap_or(now + chrono::Duration::days(1));
        }
        let report = self.inner.pipeline.refresh_source(&source, now).await;
        self.apply(&report);
        Some(report)
    }

    /// Refresh a source now in a task the scheduler tracks, so shutdown can wait for it.
    async fn run_tracked(&self, name: &str) {
        let me = self.clone();
        let name = name.to_owned();
        let task = self
            .inner
            .tracker
            .spawn(async move { me.run_source(&name, Utc::now()).await });
        if let Err(e) = task.await {
            tracing::error!(error = %e, "source refresh task failed");
        }
    }

    /// Run the jobs until `shutdown` is cancelled, then wait for refreshes in flight (the
    /// caller bounds that wait).
    ///
    /// One tokio-cron-scheduler job per source. A duration schedule is a one-shot job that
    /// re-arms itself after each run, for the source's next due time counted from *now*: the
    /// crate's repeated jobs count from their previous planned tick and stop firing after a
    /// stall longer than two periods (a suspended laptop, a paused VM). A cron schedule is a
    /// cron job after a first one-shot run; each cron run waits the source's spread offset, so
    /// sources sharing a cron expression do not all fire in the same second.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), ScheduleError> {
        let mut jobs = JobScheduler::new().await?;
        let slots: Vec<(String, Schedule, DateTime<Utc>)> = self
            .slots()
            .iter()
            .map(|(k, s)| (k.clone(), s.schedule.clone(), s.next_due))
            .collect();
        for (name, schedule, first) in slots {
            let delay = (first - Utc::now()).to_std().unwrap_or_default();
            self.arm(jobs.clone(), name, schedule, delay, true, shutdown.clone())
                .await?;
        }
        jobs.start().await?;
        shutdown.cancelled().await;
        jobs.shutdown().await?;
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
        Ok(())
    }

    /// Add the job that next runs `source`: a one-shot after `delay` (a duration schedule, or a
    /// cron schedule's first run), or the cron job itself. Returns a boxed `Send` future
    /// because it is recursive: each one-shot run arms the next.
    fn arm(
        &self,
        jobs: JobScheduler,
        source: String,
        schedule: Schedule,
        delay: Duration,
        first: bool,
        stop: CancellationToken,
    ) -> Pin<Box<dyn Future<Output = Result<(), ScheduleError>> + Send>> {
        let me = self.clone();
        Box::pin(async move {
            let job = match (&schedule, first) {
                (Schedule::Cron(expr), false) => {
                    let offset =
                        spread_offset(&source, schedule.nominal_period().min(MAX_SPREAD));
                    let (me, name, stop) = (me.clone(), source.clone(), stop.clone());
                    Job::new_async(expr.as_str(), move |_id, _jobs| {
                        let (me, name, stop) = (me.clone(), name.clone(), stop.clone());
                        Box::pin(async move {
                            tokio::select! {
                                _ = stop.cancelled() => return,
                                _ = tokio::time::sleep(offset) => {}
                            }
                            if !me.cron_run_due(&name, Utc::now()) {
                                tracing::debug!(source = %name, "not due yet (floor, backoff or Retry-After) or gone; cron run skipped");
                                return;
                            }
                            me.run_tracked(&name).await;
                        })
                    })
                }
                _ => {
                    let (me, name, sched, stop) =
                        (me.clone(), source.clone(), schedule.clone(), stop.clone());
                    Job::new_one_shot_async(delay, move |_id, jobs| {
                        let (me, name, sched, stop) =
                            (me.clone(), name.clone(), sched.clone(), stop.clone());
                        Box::pin(async move {
                            if stop.is_cancelled() {
                                return;
                            }
                            me.run_tracked(&name).await;
                            if stop.is_cancelled() {
                                return;
                            }
                            if me.is_gone(&name) {
                                tracing::info!(source = %name, "source is gone (HTTP 410): not scheduled again until its url changes in feeds.toml");
                                return;
                            }
                            let next = match &sched {
                                Schedule::Cron(_) => Duration::ZERO,
                                Schedule::Every(_) => me
                                    .next_due()
                                    .get(&name)
                                    .and_then(|due| (*due - Utc::now()).to_std().ok())
                                    .unwrap_or_default(),
                            };
                            let rearm = me.arm(jobs, name.clone(), sched, next, false, stop);
                            if let Err(e) = rearm.await {
                                tracing::error!(source = %name, error = %e, "could not schedule the next fetch of this source");
                            }
                        })
                    })
                }
            }
            .map_err(|e| ScheduleError::Job {
                name: source.clone(),
                reason: e.to_string(),
            })?;
            jobs.add(job).await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Outcome;
    use crate::politeness::NextAttempt;

    async fn scheduler(schedule: &str) -> Scheduler {
        let text = format!(
            "[fetch]\nschedule = {schedule:?}\n\n[[source]]\nname = \"A\"\nurl = \"https://a.example/feed\"\n"
        );
        let config = crate::config::Config::parse(std::path::Path::new("feeds.toml"), &text)
            .expect("test config is valid");
        let store = crate::store::Store::open_in_memory().await.unwrap();
        let pipeline = Pipeline::build(Arc::new(config), store).unwrap();
        Scheduler::new(Arc::new(pipeline), Utc::now())
    }

    fn report(next: NextAttempt) -> SourceReport {
        SourceReport {
            source: "A".into(),
            outcome: Outcome::Failed,
            http_status: Some(500),
            elapsed_ms: 1,
            items_seen: 0,
            items_new: 0,
            items_updated: 0,
            error: Some("failed".into()),
            consecutive_failures: 1,
            next_attempt: next,
        }
    }

    #[tokio::test]
    async fn cron_run_skips_until_next_attempt_when_backoff_or_floor_is_later() {
        let s = scheduler("0 */15 * * * *").await;
        let now = Utc::now();
        let later = now + chrono::Duration::hours(2);
        s.apply(&report(NextAttempt {
            at: Some(later),
            reason: Reason::Backoff,
        }));
        assert!(!s.cron_run_due("A", now));
        assert!(!s.cron_run_due("A", later - chrono::Duration::minutes(1)));
        // A run a moment early (cron latency) still counts, and any run after it.
        assert!(s.cron_run_due("A", later - chrono::Duration::seconds(1)));
        assert!(s.cron_run_due("A", later + chrono::Duration::minutes(15)));
        assert_eq!(s.next_due()["A"], later);
        // Gone: never due, and left out of the due times.
        s.apply(&report(NextAttempt::gone()));
        assert!(!s.cron_run_due("A", later + chrono::Duration::days(30)));
        assert!(s.is_gone("A"));
        assert!(s.next_due().is_empty());
        assert!(!s.cron_run_due("unknown", now));
    }

    #[tokio::test]
    async fn restore_keeps_polite_waits_when_daemon_restarts() {
        let s = scheduler("15m").await;
        let first = s.next_due()["A"];
        let status = |reason: Option<Reason>, at: DateTime<Utc>, gone: bool| SourceStatus {
            name: "A".into(),
            url: "https://a.example/feed".into(),
            title: None,
            site_url: None,
            last_fetch_at: None,
            last_outcome: None,
            last_http_status: None,
            last_error: None,
            last_success_at: None,
            consecutive_failures: 0,
            items_new: 0,
            items_updated: 0,
            next_fetch_at: Some(at),
            next_fetch_reason: reason,
            fetch_url: None,
            retry_after_until: None,
            gone_at: gone.then_some(at),
            articles: 0,
        };
        // A plain scheduled time is not kept: a restart fetches as usual.
        let soon_after = first + chrono::Duration::minutes(10);
        s.restore(&[status(Some(Reason::Schedule), soon_after, false)]);
        assert_eq!(s.next_due()["A"], first);
        // A backoff, Retry-After or floor is.
        for reason in [Reason::Backoff, Reason::RetryAfter, Reason::Ttl] {
            s.restore(&[status(Some(reason), soon_after, false)]);
            assert_eq!(s.next_due()["A"], soon_after, "{reason}");
        }
        s.restore(&[status(Some(Reason::Gone), soon_after, true)]);
        assert!(s.is_gone("A"));
    }

    #[test]
    fn spread_offset_is_stable_and_within_window_when_many_sources() {
        let window = Duration::from_secs(60);
        let offsets: Vec<_> = (0..500)
            .map(|i| spread_offset(&format!("source {i}"), window))
            .collect();
        assert!(offsets.iter().all(|o| *o < window));
        assert_eq!(spread_offset("source 7", window), offsets[7]);
        // 500 sources over 60 s: no second holds more than a small share of them.
        let mut per_second = [0usize; 60];
        for o in &offsets {
            per_second[o.as_secs() as usize] += 1;
        }
        assert!(per_second.iter().all(|n| *n < 30), "{per_second:?}");
    }
}
