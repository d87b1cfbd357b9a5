//! When each source is fetched. One tokio-cron-scheduler job per source drives the daemon;
//! [`Scheduler::tick`] runs one scheduling step at a given instant, for tests and for the
//! same bookkeeping. A per-source lock means runs of one source never overlap, a semaphore
//! bounds the fetches in flight, and first runs are spread so hundreds of sources do not
//! fire in the same second.
//!
//! Each refresh reports the source's next attempt ([`crate::politeness`]): the schedule, a
//! later freshness floor, a backoff or a `Retry-After`. The source is not due before it, and
//! a gone source (410) is never due until its url changes in feeds.toml.
//!
//! A reload of feeds.toml ([`Scheduler::reconfigure`]) swaps the pipeline and the sources
//! while the daemon runs. It first [pauses](Scheduler::pause) the scheduler: refreshes hold a
//! shared gate and a reload holds it alone, so a reload waits for the refreshes in flight,
//! and none starts until the store and the schedule agree with the new file. Jobs carry an
//! epoch: a reload that replaces a source's jobs bumps it, and a job of an older epoch
//! neither runs nor arms another.
//!
//! A heartbeat job records that the job scheduler is alive, for `/readyz`.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{RwLock, RwLockWriteGuard, Semaphore};
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::config::{Schedule, SourceConfig};
use crate::pipeline::{Pipeline, SourceReport};
use crate::politeness::Reason;
use crate::store::SourceStatus;

/// First runs are spread over at most this long (or the schedule's period, if shorter).
const MAX_SPREAD: Duration = Duration::from_secs(60);

/// How early the job scheduler may fire a one-shot job (its ticks are whole seconds, with
/// some slack); a job that fires earlier than its source's due time by at most this waits.
const MAX_EARLY: Duration = Duration::from_secs(2);

/// A cron run this close before a source's next attempt still runs: the attempt was computed
/// from the previous run's start, and cron ticks carry a little latency either way.
const CRON_SLACK: chrono::Duration = chrono::Duration::seconds(2);

/// How often the heartbeat job runs while the scheduler runs. `/readyz` fails when no beat
/// came for twice this long: the job scheduler's loop is stuck or dead, and nothing would be
/// fetched any more although the server still answers.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("scheduler failed: {0}")]
    Scheduler(#[from] JobSchedulerError),
    #[error("invalid schedule for source {name:?}: {reason}")]
    Job { name: String, reason: String },
    #[error("failed to arm the scheduler heartbeat: {0}")]
    Heartbeat(String),
}

/// When the scheduler last showed it is alive: a beat from the heartbeat job (every
/// [`HEARTBEAT`] while [`Scheduler::run`] runs) or from a [`Scheduler::tick`].
#[derive(Debug)]
pub struct Heartbeat {
    /// The latest beat and the period beats are expected at.
    state: Mutex<(DateTime<Utc>, Duration)>,
}

impl Heartbeat {
    /// A heartbeat that last beat at `start` (start-up counts as a beat).
    pub fn new(start: DateTime<Utc>) -> Heartbeat {
        Heartbeat {
            state: Mutex::new((start, HEARTBEAT)),
        }
    }

    fn state(&self) -> MutexGuard<'_, (DateTime<Utc>, Duration)> {
        // Every update is one assignment: a poisoned lock still holds a consistent value.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record a beat at `at`. Beats only move forward: a tick driven with a clock ahead of
    /// the wall clock (tests) is not undone by a later real beat.
    pub fn beat(&self, at: DateTime<Utc>) {
        let mut state = self.state();
        state.0 = state.0.max(at);
    }

    pub fn last(&self) -> DateTime<Utc> {
        self.state().0
    }

    /// How often beats are expected.
    pub fn period(&self) -> Duration {
        self.state().1
    }

    /// Expect beats this often (tests shorten it; the heartbeat job reads it when it arms
    /// its next run).
    pub fn set_period(&self, period: Duration) {
        self.state().1 = period.max(Duration::from_millis(1));
    }
}

struct Slot {
    source: SourceConfig,
    schedule: Schedule,
    next_due: DateTime<Utc>,
    /// Why `next_due` is then. A reload may bring a plain scheduled time forward (a shorter
    /// schedule), never a backoff, `Retry-After` or freshness floor.
    reason: Reason,
    /// 410 Gone: never due (until its url changes in feeds.toml).
    gone: bool,
    running: Arc<tokio::sync::Mutex<()>>,
    /// The generation of this source's jobs (unique across sources and reloads).
    epoch: u64,
    /// The job that runs the source next, removed when a reload replaces it.
    job: Option<Uuid>,
}

struct Inner {
    /// The pipeline in use: replaced by a reload.
    pipeline: Mutex<Arc<Pipeline>>,
    /// Held shared by every refresh and alone by a reload (see [`Scheduler::pause`]).
    gate: RwLock<()>,
    slots: Mutex<HashMap<String, Slot>>,
    /// Bounds the scheduled refreshes in flight (`[fetch] concurrency`); replaced by a
    /// reload that changes the limit, runs already holding a permit of the old one finish.
    limit: Mutex<(usize, Arc<Semaphore>)>,
    /// Every scheduled refresh, so shutdown can let them finish.
    tracker: TaskTracker,
    heartbeat: Arc<Heartbeat>,
    /// The job scheduler while [`Scheduler::run`] runs, so a reload can add and remove jobs.
    jobs: Mutex<Option<JobScheduler>>,
    /// Cancelled when shutdown begins: a run still waiting for its turn then does not start.
    stop: Mutex<Option<CancellationToken>>,
    next_epoch: AtomicU64,
}

/// Cheap to clone: clones share state.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

/// Proof that no refresh is in flight and none can start (see [`Scheduler::pause`]).
pub struct Paused<'a> {
    _gate: RwLockWriteGuard<'a, ()>,
}

/// What a reload changed in the schedule, each list sorted by source name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleChanges {
    /// New sources: due at once.
    pub added: Vec<String>,
    /// Sources no longer configured: their jobs are gone (their articles stay in the store).
    pub removed: Vec<String>,
    /// Sources whose url changed: due at once, and enabled again if they were gone.
    pub moved: Vec<String>,
    /// Sources whose schedule changed.
    pub rescheduled: Vec<String>,
}

impl ScheduleChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.moved.is_empty()
            && self.rescheduled.is_empty()
    }
}

/// A job to add after a reload: the source, its schedule, the delay of its first run and
/// the epoch the job belongs to.
type Rearm = (String, Schedule, Duration, u64);

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
        let next_epoch = AtomicU64::new(1);
        let slots = config
            .sources
            .iter()
            .map(|source| {
                let schedule = config.schedule_of(source).clone();
                let offset = spread_offset(&source.name, schedule.nominal_period().min(MAX_SPREAD));
                let next_due = start + chrono::Duration::from_std(offset).unwrap_or_default();
                let slot = Slot {
                    source: source.clone(),
                    schedule,
                    next_due,
                    reason: Reason::Schedule,
                    gone: false,
                    running: Default::default(),
                    epoch: next_epoch.fetch_add(1, Ordering::Relaxed),
                    job: None,
                };
                (source.name.clone(), slot)
            })
            .collect();
        let concurrency = config.fetch.concurrency.max(1);
        Scheduler {
            inner: Arc::new(Inner {
                pipeline: Mutex::new(pipeline),
                gate: RwLock::new(()),
                slots: Mutex::new(slots),
                limit: Mutex::new((concurrency, Arc::new(Semaphore::new(concurrency)))),
                tracker: TaskTracker::new(),
                heartbeat: Arc::new(Heartbeat::new(start)),
                jobs: Mutex::new(None),
                stop: Mutex::new(None),
                next_epoch,
            }),
        }
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // A panic while holding this lock cannot leave the map inconsistent (every update is a
        // single assignment), so a poisoned lock is still safe to use.
        self.inner.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pipeline in use (the one of the configuration loaded last).
    pub fn pipeline(&self) -> Arc<Pipeline> {
        // One assignment per update: a poisoned lock still holds a consistent value.
        self.inner
            .pipeline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// When the scheduler last ran (for `/readyz`).
    pub fn heartbeat(&self) -> Arc<Heartbeat> {
        self.inner.heartbeat.clone()
    }

    fn limit(&self) -> Arc<Semaphore> {
        // One assignment per update: a poisoned lock still holds a consistent value.
        self.inner
            .limit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }

    fn new_epoch(&self) -> u64 {
        self.inner.next_epoch.fetch_add(1, Ordering::Relaxed)
    }

    fn stopping(&self) -> bool {
        self.inner
            .stop
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(CancellationToken::is_cancelled)
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
            let polite = status.next_fetch_reason.filter(|r| *r != Reason::Schedule);
            if let (Some(reason), Some(at)) = (polite, status.next_fetch_at)
                && at > slot.next_due
            {
                slot.next_due = at;
                slot.reason = reason;
            }
        }
    }

    /// Take a refresh's next attempt as the source's next due time.
    fn apply(&self, report: &SourceReport) {
        if let Some(slot) = self.slots().get_mut(&report.source) {
            slot.reason = report.next_attempt.reason;
            match report.next_attempt.at {
                Some(at) => slot.next_due = at,
                None => slot.gone = true,
            }
        }
    }

    /// When `name` is next due (`None` when gone or not configured): what a firing job of
    /// that one source asks, without copying every source's time as [`Self::next_due`] does.
    fn due_of(&self, name: &str) -> Option<DateTime<Utc>> {
        self.slots()
            .get(name)
            .filter(|s| !s.gone)
            .map(|s| s.next_due)
    }

    fn is_gone(&self, name: &str) -> bool {
        self.slots().get(name).is_some_and(|s| s.gone)
    }

    /// Whether jobs of `epoch` still run `name`: the source is still configured and no reload
    /// replaced its jobs since.
    fn is_current(&self, name: &str, epoch: u64) -> bool {
        self.slots().get(name).is_some_and(|s| s.epoch == epoch)
    }

    /// Whether a cron run at `now` should fetch `name`: not gone, and its next attempt (a
    /// floor, backoff or Retry-After may put it past this run) has come.
    fn cron_run_due(&self, name: &str, now: DateTime<Utc>) -> bool {
        self.slots()
            .get(name)
            .is_some_and(|s| !s.gone && s.next_due <= now + CRON_SLACK)
    }

    /// Mark `name` as just started at `now`: next due on its schedule.
    fn started(slot: &mut Slot, now: DateTime<Utc>) {
        slot.next_due = slot
            .schedule
            .next_after(now)
            .unwrap_or(now + chrono::Duration::days(1));
        slot.reason = Reason::Schedule;
    }

    /// One scheduling step: refresh every source due at `now` that is not already running,
    /// and return their reports. The due sources are fetched concurrently and ingested in one
    /// deterministic order (see [`Pipeline::refresh_many`]).
    pub async fn tick(&self, now: DateTime<Utc>) -> Vec<SourceReport> {
        self.inner.heartbeat.beat(now);
        let _gate = self.inner.gate.read().await;
        let mut due: Vec<(SourceConfig, Arc<tokio::sync::Mutex<()>>)> = {
            let mut slots = self.slots();
            slots
                .values_mut()
                .filter(|s| !s.gone && s.next_due <= now)
                .map(|s| {
                    Scheduler::started(s, now);
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
        let reports = self.pipeline().refresh_many(&sources, now, |_| {}).await;
        drop(guards);
        for report in &reports {
            self.apply(report);
        }
        reports
    }

    /// Refresh one source now, unless a run of it is already in flight (then `None`).
    pub async fn run_source(&self, name: &str, now: DateTime<Utc>) -> Option<SourceReport> {
        self.run_one(name, Some(now), None).await
    }

    /// Refresh `name`: take its lock (or skip: a run is in flight), a concurrency permit and
    /// the shared gate, in that order, so runs waiting for a permit do not hold a reload up.
    /// A job's run (`epoch` set) is dropped if a reload replaced the job meanwhile or shutdown
    /// began. `now`: the instant to record, else the wall clock once the run may start.
    async fn run_one(
        &self,
        name: &str,
        now: Option<DateTime<Utc>>,
        epoch: Option<u64>,
    ) -> Option<SourceReport> {
        let lock = {
            let slots = self.slots();
            let slot = slots.get(name)?;
            if epoch.is_some_and(|e| e != slot.epoch) {
                return None;
            }
            slot.running.clone()
        };
        let Ok(_running) = lock.try_lock() else {
            tracing::debug!(source = %name, "previous run still in flight; skipped");
            return None;
        };
        let _permit = self.limit().acquire_owned().await.ok()?;
        let _gate = self.inner.gate.read().await;
        if epoch.is_some() && self.stopping() {
            return None;
        }
        let now = now.unwrap_or_else(Utc::now);
        // Read the source again: a reload may have changed or removed it meanwhile.
        let source = {
            let mut slots = self.slots();
            let slot = slots.get_mut(name)?;
            if epoch.is_some_and(|e| e != slot.epoch) {
                return None;
            }
            Scheduler::started(slot, now);
            slot.source.clone()
        };
        let report = self.pipeline().refresh_source(&source, now).await;
        self.apply(&report);
        Some(report)
    }

    /// Refresh a source now in a task the scheduler tracks, so shutdown can wait for it.
    async fn run_tracked(&self, name: &str, epoch: u64) {
        let me = self.clone();
        let name = name.to_owned();
        let task = self
            .inner
            .tracker
            .spawn(async move { me.run_one(&name, None, Some(epoch)).await });
        if let Err(e) = task.await {
            tracing::error!(error = %e, "source refresh task failed");
        }
    }

    /// Wait until no refresh is in flight, then keep new ones from starting until the guard
    /// is dropped. A reload holds it while it brings the store and the schedule up to date,
    /// so no refresh stores articles by the old topics after the new ones were evaluated,
    /// and a source is never fetched by the old and the new configuration at once. Waiting
    /// is bounded by the fetch timeout; runs that arrive meanwhile queue behind the reload.
    pub async fn pause(&self) -> Paused<'_> {
        Paused {
            _gate: self.inner.gate.write().await,
        }
    }

    /// Take a reloaded configuration (its pipeline, already synced with the store): new
    /// sources are due at once, removed ones lose their jobs, a changed url enables a gone
    /// source again and makes it due at once, a changed schedule re-arms the source's jobs
    /// (a plain scheduled time may come earlier; a backoff or `Retry-After` stays). Unchanged
    /// sources keep their jobs, state and lock. Needs the scheduler [paused](Self::pause).
    pub async fn reconfigure(
        &self,
        _paused: &Paused<'_>,
        pipeline: Arc<Pipeline>,
        now: DateTime<Utc>,
    ) -> Result<ScheduleChanges, ScheduleError> {
        let config = pipeline.config().clone();
        let mut changes = ScheduleChanges::default();
        let mut rearm: Vec<Rearm> = Vec::new();
        let mut stale: Vec<Uuid> = Vec::new();
        {
            let mut slots = self.slots();
            let wanted: HashSet<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
            slots.retain(|name, slot| {
                let keep = wanted.contains(name.as_str());
                if !keep {
                    changes.removed.push(name.clone());
                    stale.extend(slot.job.take());
                }
                keep
            });
            for source in &config.sources {
                let schedule = config.schedule_of(source).clone();
                let Some(slot) = slots.get_mut(&source.name) else {
                    let epoch = self.new_epoch();
                    slots.insert(
                        source.name.clone(),
                        Slot {
                            source: source.clone(),
                            schedule: schedule.clone(),
                            next_due: now,
                            reason: Reason::Schedule,
                            gone: false,
                            running: Default::default(),
                            epoch,
                            job: None,
                        },
                    );
                    changes.added.push(source.name.clone());
                    rearm.push((source.name.clone(), schedule, Duration::ZERO, epoch));
                    continue;
                };
                let moved = slot.source.url != source.url;
                let rescheduled = slot.schedule != schedule;
                slot.source = source.clone();
                if moved {
                    slot.gone = false;
                    slot.next_due = now;
                    slot.reason = Reason::Schedule;
                    changes.moved.push(source.name.clone());
                } else if rescheduled {
                    if slot.reason == Reason::Schedule
                        && let Some(next) = schedule.next_after(now)
                    {
                        slot.next_due = slot.next_due.min(next);
                    }
                    changes.rescheduled.push(source.name.clone());
                }
                if moved || rescheduled {
                    slot.schedule = schedule.clone();
                    slot.epoch = self.new_epoch();
                    stale.extend(slot.job.take());
                    if !slot.gone {
                        let delay = (slot.next_due - now).to_std().unwrap_or_default();
                        rearm.push((source.name.clone(), schedule, delay, slot.epoch));
                    }
                }
            }
        }
        for list in [
            &mut changes.added,
            &mut changes.removed,
            &mut changes.moved,
            &mut changes.rescheduled,
        ] {
            list.sort();
        }
        let concurrency = config.fetch.concurrency.max(1);
        {
            let mut limit = self.inner.limit.lock().unwrap_or_else(|e| e.into_inner());
            if limit.0 != concurrency {
                *limit = (concurrency, Arc::new(Semaphore::new(concurrency)));
            }
        }
        *self
            .inner
            .pipeline
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = pipeline;
        let jobs = self
            .inner
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let stop = self
            .inner
            .stop
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let (Some(jobs), Some(stop)) = (jobs, stop) {
            for id in stale {
                // A one-shot job that already fired is gone from the scheduler; its run
                // sees the new epoch and stops.
                if let Err(e) = jobs.remove(&id).await {
                    tracing::debug!(error = %e, "replaced job was already gone");
                }
            }
            for (name, schedule, delay, epoch) in rearm {
                self.arm(
                    jobs.clone(),
                    name,
                    schedule,
                    delay,
                    true,
                    stop.clone(),
                    epoch,
                )
                .await?;
            }
        }
        Ok(changes)
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
        *self.inner.stop.lock().unwrap_or_else(|e| e.into_inner()) = Some(shutdown.clone());
        *self.inner.jobs.lock().unwrap_or_else(|e| e.into_inner()) = Some(jobs.clone());
        let slots: Vec<(String, Schedule, DateTime<Utc>, u64)> = self
            .slots()
            .iter()
            .map(|(k, s)| (k.clone(), s.schedule.clone(), s.next_due, s.epoch))
            .collect();
        for (name, schedule, first, epoch) in slots {
            let delay = (first - Utc::now()).to_std().unwrap_or_default();
            self.arm(
                jobs.clone(),
                name,
                schedule,
                delay,
                true,
                shutdown.clone(),
                epoch,
            )
            .await?;
        }
        self.inner.heartbeat.beat(Utc::now());
        self.arm_heartbeat(jobs.clone(), shutdown.clone()).await?;
        jobs.start().await?;
        shutdown.cancelled().await;
        // No reload may add jobs to a scheduler that is shutting down.
        *self.inner.jobs.lock().unwrap_or_else(|e| e.into_inner()) = None;
        jobs.shutdown().await?;
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
        Ok(())
    }

    /// Beat every [`Heartbeat::period`] through the job scheduler itself, so the beat stops
    /// when its loop does. A one-shot job re-arming itself, like the sources' jobs, so a
    /// suspended machine does not silence it for good.
    fn arm_heartbeat(
        &self,
        jobs: JobScheduler,
        stop: CancellationToken,
    ) -> Pin<Box<dyn Future<Output = Result<(), ScheduleError>> + Send>> {
        let me = self.clone();
        Box::pin(async move {
            let period = me.inner.heartbeat.period();
            let job = Job::new_one_shot_async(period, move |_id, jobs| {
                let (me, stop) = (me.clone(), stop.clone());
                Box::pin(async move {
                    if stop.is_cancelled() {
                        return;
                    }
                    me.inner.heartbeat.beat(Utc::now());
                    if let Err(e) = me.arm_heartbeat(jobs, stop).await {
                        tracing::error!(error = %e, "could not arm the next heartbeat");
                    }
                })
            })
            .map_err(|e| ScheduleError::Heartbeat(e.to_string()))?;
            jobs.add(job).await?;
            Ok(())
        })
    }

    /// Add the job that next runs `source`: a one-shot after `delay` (a duration schedule, or a
    /// cron schedule's first run), or the cron job itself. Returns a boxed `Send` future
    /// because it is recursive: each one-shot run arms the next. Jobs of an `epoch` that a
    /// reload replaced do nothing.
    #[allow(clippy::too_many_arguments)]
    fn arm(
        &self,
        jobs: JobScheduler,
        source: String,
        schedule: Schedule,
        delay: Duration,
        first: bool,
        stop: CancellationToken,
        epoch: u64,
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
                            if !me.is_current(&name, epoch) {
                                return;
                            }
                            if !me.cron_run_due(&name, Utc::now()) {
                                tracing::debug!(source = %name, "not due yet (floor, backoff or Retry-After) or gone; cron run skipped");
                                return;
                            }
                            me.run_tracked(&name, epoch).await;
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
                            if stop.is_cancelled() || !me.is_current(&name, epoch) {
                                return;
                            }
                            // The scheduler fires one-shot jobs on whole-second ticks, up to a
                            // second early: wait out the rest, so a fetch never starts before
                            // the attempt time it announced (schedule, ttl, Retry-After).
                            let early = me
                                .due_of(&name)
                                .and_then(|due| (due - Utc::now()).to_std().ok())
                                .filter(|wait| *wait <= MAX_EARLY);
                            if let Some(wait) = early {
                                tokio::select! {
                                    _ = stop.cancelled() => return,
                                    _ = tokio::time::sleep(wait) => {}
                                }
                            }
                            me.run_tracked(&name, epoch).await;
                            if stop.is_cancelled() || !me.is_current(&name, epoch) {
                                return;
                            }
                            if me.is_gone(&name) {
                                tracing::info!(source = %name, "source is gone (HTTP 410): not scheduled again until its url changes in feeds.toml");
                                return;
                            }
                            let next = match &sched {
                                Schedule::Cron(_) => Duration::ZERO,
                                Schedule::Every(_) => me
                                    .due_of(&name)
                                    .and_then(|due| (due - Utc::now()).to_std().ok())
                                    .unwrap_or_default(),
                            };
                            let rearm = me.arm(jobs, name.clone(), sched, next, false, stop, epoch);
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
            let id = jobs.add(job).await?;
            if let Some(slot) = me.slots().get_mut(&source).filter(|s| s.epoch == epoch) {
                slot.job = Some(id);
            }
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

    fn pipeline_for(text: &str, store: crate::store::Store) -> Arc<Pipeline> {
        let config = crate::config::Config::parse(std::path::Path::new("feeds.toml"), text)
            .expect("test config is valid");
        Arc::new(Pipeline::build(Arc::new(config), store).unwrap())
    }

    fn sources(list: &[(&str, &str, Option<&str>)]) -> String {
        let mut text = "[fetch]\nschedule = \"15m\"\nconcurrency = 4\n\n".to_owned();
        for (name, url, schedule) in list {
            text.push_str(&format!("[[source]]\nname = {name:?}\nurl = {url:?}\n"));
            if let Some(s) = schedule {
                text.push_str(&format!("schedule = {s:?}\n"));
            }
        }
        text
    }

    #[tokio::test]
    async fn reconfigure_adds_removes_and_reschedules_sources_when_config_changes() {
        let store = crate::store::Store::open_in_memory().await.unwrap();
        let start = Utc::now();
        let first = sources(&[
            ("A", "https://a.example/feed", None),
            ("B", "https://b.example/feed", None),
            ("D", "https://d.example/feed", None),
        ]);
        let s = Scheduler::new(pipeline_for(&first, store.clone()), start);
        let now = start + chrono::Duration::seconds(90);
        // A ran at `now`: next due at now + 15m.
        Scheduler::started(s.slots().get_mut("A").unwrap(), now);
        let a_before = s.next_due()["A"];
        let a_epoch = s.slots()["A"].epoch;
        let d_before = s.next_due()["D"];
        let second = sources(&[
            ("A", "https://a.example/feed", Some("5m")),
            ("C", "https://c.example/feed", None),
            ("D", "https://d.example/feed", None),
        ]);
        let paused = s.pause().await;
        let changes = s
            .reconfigure(&paused, pipeline_for(&second, store.clone()), now)
            .await
            .unwrap();
        drop(paused);
        assert_eq!(
            changes,
            ScheduleChanges {
                added: vec!["C".into()],
                removed: vec!["B".into()],
                moved: vec![],
                rescheduled: vec!["A".into()],
            }
        );
        let due = s.next_due();
        assert_eq!(due.len(), 3, "{due:?}");
        assert_eq!(due["C"], now, "a new source is due at once");
        assert_eq!(
            due["A"],
            now + chrono::Duration::minutes(5),
            "was {a_before}"
        );
        assert_eq!(due["D"], d_before, "an unchanged source keeps its time");
        // The old jobs of A and B stop: they are of a replaced epoch or of no source.
        assert!(!s.is_current("A", a_epoch));
        let a_epoch_now = s.slots()["A"].epoch;
        assert!(s.is_current("A", a_epoch_now));
        let epochs: Vec<u64> = s.slots().values().map(|slot| slot.epoch).collect();
        assert!(epochs.iter().all(|e| !s.is_current("B", *e)));
        assert!(s.run_one("A", None, Some(a_epoch)).await.is_none());
        assert!(s.run_source("B", now).await.is_none());
        assert_eq!(s.pipeline().config().sources.len(), 3);
    }

    #[tokio::test]
    async fn reconfigure_keeps_backoff_and_enables_gone_source_when_schedule_or_url_changes() {
        let store = crate::store::Store::open_in_memory().await.unwrap();
        let now = Utc::now();
        let first = sources(&[
            ("A", "https://a.example/feed", None),
            ("G", "https://g.example/feed", None),
        ]);
        let s = Scheduler::new(pipeline_for(&first, store.clone()), now);
        let backoff = now + chrono::Duration::hours(3);
        s.apply(&report(NextAttempt {
            at: Some(backoff),
            reason: Reason::Backoff,
        }));
        let mut gone = report(NextAttempt::gone());
        gone.source = "G".into();
        s.apply(&gone);
        assert!(s.is_gone("G"));
        let second = sources(&[
            ("A", "https://a.example/feed", Some("1m")),
            ("G", "https://g.example/new-feed", None),
        ]);
        let paused = s.pause().await;
        let changes = s
            .reconfigure(&paused, pipeline_for(&second, store.clone()), now)
            .await
            .unwrap();
        drop(paused);
        assert_eq!(changes.rescheduled, vec!["A".to_owned()]);
        assert_eq!(changes.moved, vec!["G".to_owned()]);
        assert_eq!(
            s.next_due()["A"],
            backoff,
            "a shorter schedule does not cut a backoff"
        );
        assert!(!s.is_gone("G"));
        assert_eq!(s.next_due()["G"], now, "a moved source is due at once");
    }

    #[tokio::test]
    async fn pause_waits_for_refresh_in_flight_when_reload_starts() {
        let s = scheduler("15m").await;
        let gate = s.inner.gate.read().await; // a refresh in flight
        let paused = tokio::time::timeout(Duration::from_millis(50), s.pause()).await;
        assert!(paused.is_err(), "a reload must wait for the refresh");
        drop(gate);
        let paused = tokio::time::timeout(Duration::from_secs(1), s.pause()).await;
        assert!(paused.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn heartbeat_job_beats_while_scheduler_runs() {
        let store = crate::store::Store::open_in_memory().await.unwrap();
        let start = Utc::now() - chrono::Duration::hours(1);
        let s = Scheduler::new(pipeline_for(&sources(&[]), store), start);
        s.heartbeat().set_period(Duration::from_millis(200));
        let stop = CancellationToken::new();
        let run = tokio::spawn({
            let (s, stop) = (s.clone(), stop.clone());
            async move { s.run(stop).await }
        });
        // The first beat comes as the scheduler starts; later ones from the job.
        let mut beats = Vec::new();
        let waited = std::time::Instant::now();
        while beats.len() < 3 && waited.elapsed() < Duration::from_secs(10) {
            let last = s.heartbeat().last();
            if last > start && beats.last() != Some(&last) {
                beats.push(last);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.cancel();
        run.await.unwrap().unwrap();
        assert!(beats.len() >= 3, "beats: {beats:?}");
    }

    #[test]
    fn heartbeat_only_moves_forward_when_beats_arrive_out_of_order() {
        let start = Utc::now();
        let h = Heartbeat::new(start);
        assert_eq!(h.period(), HEARTBEAT);
        let ahead = start + chrono::Duration::days(1);
        h.beat(ahead);
        h.beat(start + chrono::Duration::seconds(1));
        assert_eq!(h.last(), ahead);
        h.set_period(Duration::from_millis(100));
        assert_eq!(h.period(), Duration::from_millis(100));
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
