//! When each source is fetched. One tokio-cron-scheduler job per source drives the daemon;
//! [`Scheduler::tick`] runs one scheduling step at a given instant, for tests and for the
//! same bookkeeping. A per-source lock means runs of one source never overlap, a semaphore
//! bounds the fetches in flight, and first runs are spread so hundreds of sources do not
//! fire in the same second.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tokio_util::sync::CancellationToken;

use crate::config::{Schedule, SourceConfig};
use crate::pipeline::{Pipeline, SourceReport};

/// First runs are spread over at most this long (or the schedule's period, if shorter).
const MAX_SPREAD: Duration = Duration::from_secs(60);

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
    running: Arc<tokio::sync::Mutex<()>>,
}

struct Inner {
    pipeline: Arc<Pipeline>,
    slots: Mutex<HashMap<String, Slot>>,
    limit: Arc<Semaphore>,
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
            }),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        // A panic while holding this lock cannot leave the map inconsistent (every update is a
        // single assignment), so a poisoned lock is still safe to use.
        self.inner.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When each source is next due, by name.
    pub fn next_due(&self) -> HashMap<String, DateTime<Utc>> {
        self.slots()
            .iter()
            .map(|(k, s)| (k.clone(), s.next_due))
            .collect()
    }

    /// One scheduling step: refresh every source due at `now` that is not already running,
    /// and return their reports. The due sources are fetched concurrently and ingested in one
    /// deterministic order (see [`Pipeline::refresh_many`]).
    pub async fn tick(&self, now: DateTime<Utc>) -> Vec<SourceReport> {
        let mut due: Vec<(SourceConfig, Arc<tokio::sync::Mutex<()>>)> = {
            let mut slots = self.slots();
            slots
                .values_mut()
                .filter(|s| s.next_due <= now)
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
        Some(self.inner.pipeline.refresh_source(&source, now).await)
    }

    /// Run the cron jobs until `shutdown` is cancelled. Each source first runs at its spread
    /// offset, then on its schedule.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), ScheduleError> {
        let mut jobs = JobScheduler::new().await?;
        let slots: Vec<(String, Schedule, DateTime<Utc>)> = self
            .slots()
            .iter()
            .map(|(k, s)| (k.clone(), s.schedule.clone(), s.next_due))
            .collect();
        for (name, schedule, first) in slots {
            let delay = (first - Utc::now()).to_std().unwrap_or_default();
            let me = self.clone();
            let source = name.clone();
            let stop = shutdown.clone();
            // The first run, at the spread offset; it then installs the recurring job, so
            // sources with the same period keep different phases.
            let first_job = Job::new_one_shot_async(delay, move |_id, jobs| {
                let me = me.clone();
                let source = source.clone();
                let schedule = schedule.clone();
                let stop = stop.clone();
                Box::pin(async move {
                    if stop.is_cancelled() {
                        return;
                    }
                    me.run_source(&source, Utc::now()).await;
                    if let Err(e) = me.install_recurring(&jobs, &source, &schedule, stop).await {
                        tracing::error!(source = %source, error = %e, "could not schedule source");
                    }
                })
            })?;
            jobs.add(first_job).await?;
        }
        jobs.start().await?;
        shutdown.cancelled().await;
        jobs.shutdown().await?;
        Ok(())
    }

    async fn install_recurring(
        &self,
        jobs: &JobScheduler,
        source: &str,
        schedule: &Schedule,
        stop: CancellationToken,
    ) -> Result<(), ScheduleError> {
        let me = self.clone();
        let name = source.to_owned();
        let run = move |_id, _jobs| {
            let me = me.clone();
            let name = name.clone();
            let stop = stop.clone();
            Box::pin(async move {
                if !stop.is_cancelled() {
                    me.run_source(&name, Utc::now()).await;
                }
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        };
        let job = match schedule {
            Schedule::Every(period) => Job::new_repeated_async(*period, run),
            Schedule::Cron(expr) => Job::new_async(expr.as_str(), run),
        }
        .map_err(|e| ScheduleError::Job {
            name: source.to_owned(),
            reason: e.to_string(),
        })?;
        jobs.add(job).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
