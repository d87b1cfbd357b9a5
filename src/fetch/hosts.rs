//! Politeness per host: at most `per_host` requests in flight to one host, and at least
//! `host_spacing` between the starts of two requests to it, so forty sources on one publisher
//! are not fetched at once. Shared by every fetch of the process (scheduled refreshes and
//! `feedmill fetch`'s concurrent ones alike), because it lives in the one `Fetcher`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The per-host limits. Waiting never holds a lock: the map lock is held only to find a
/// host's entry, and a host's lock only to read or claim its last start.
#[derive(Debug)]
pub struct HostGate {
    per_host: usize,
    spacing: Duration,
    hosts: Mutex<HashMap<String, Arc<HostState>>>,
}

#[derive(Debug)]
struct HostState {
    in_flight: Arc<Semaphore>,
    /// When the latest request to this host started (tokio time, so tests can pause it).
    last_start: Mutex<Option<Instant>>,
}

/// Permission to run one request to a host; the slot is given back when this is dropped, so
/// hold it until the body has been read.
#[derive(Debug)]
pub struct HostPass {
    _permit: Option<OwnedSemaphorePermit>,
}

impl HostGate {
    /// `per_host` below 1 is taken as 1 (config rejects it; a gate that never opens would hang).
    pub fn new(per_host: usize, spacing: Duration) -> HostGate {
        HostGate {
            per_host: per_host.max(1),
            spacing,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// Wait for a free slot on `host` (compared lower-cased), then until `spacing` has passed
    /// since the previous start there, and claim this moment as the new start.
    pub async fn enter(&self, host: &str) -> HostPass {
        let state = {
            // A poisoned lock only means another task panicked between two plain map
            // operations; the map itself is intact, so keep using it.
            let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
            hosts
                .entry(host.to_ascii_lowercase())
                .or_insert_with(|| {
                    Arc::new(HostState {
                        in_flight: Arc::new(Semaphore::new(self.per_host)),
                        last_start: Mutex::new(None),
                    })
                })
                .clone()
        };
        // The semaphore is never closed, so acquiring cannot fail; if it somehow did, going on
        // without the per-host limit is still a correct fetch.
        let permit = state.in_flight.clone().acquire_owned().await.ok();
        // Claim a start only once it is due, measured from the latest actual start: a waiter
        // that wakes late still leaves a full gap after the one before it.
        loop {
            let due = {
                let mut last = state
                    .last_start
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let now = Instant::now();
                match *last {
                    Some(prev) if now < prev + self.spacing => Some(prev + self.spacing),
                    _ => {
                        *last = Some(now);
                        None
                    }
                }
            };
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => break,
            }
        }
        HostPass { _permit: permit }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    fn is_ready<F: Future>(fut: std::pin::Pin<&mut F>) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        matches!(fut.poll(&mut cx), Poll::Ready(_))
    }

    #[tokio::test(start_paused = true)]
    async fn enter_spaces_starts_when_host_is_the_same() {
        let gate = Arc::new(HostGate::new(4, Duration::from_secs(1)));
        let t0 = Instant::now();
        let starts: Vec<Duration> = futures_util::future::join_all((0..3).map(|_| {
            let gate = gate.clone();
            async move {
                let pass = gate.enter("Feeds.Example").await;
                let started = t0.elapsed();
                drop(pass);
                started
            }
        }))
        .await;
        let mut sorted = starts.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            [0, 1, 2].map(Duration::from_secs).to_vec(),
            "{starts:?}"
        );
        // Case does not make another host.
        let before = Instant::now();
        let _pass = gate.enter("feeds.example").await;
        assert_eq!(before.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn enter_does_not_wait_when_hosts_differ() {
        let gate = HostGate::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        let _a = gate.enter("a.example").await;
        let _b = gate.enter("b.example").await;
        assert_eq!(t0.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn enter_waits_for_a_slot_when_host_has_per_host_in_flight() {
        let gate = HostGate::new(2, Duration::ZERO);
        let first = gate.enter("a.example").await;
        let _second = gate.enter("a.example").await;
        let mut third = pin!(gate.enter("a.example"));
        assert!(!is_ready(third.as_mut()), "a third request went in flight");
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(!is_ready(third.as_mut()), "time alone freed a slot");
        drop(first);
        assert!(
            is_ready(third.as_mut()),
            "a finished request did not free its slot"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn enter_allows_back_to_back_starts_when_spacing_is_zero() {
        let gate = HostGate::new(1, Duration::ZERO);
        let t0 = Instant::now();
        for _ in 0..3 {
            drop(gate.enter("a.example").await);
        }
        assert_eq!(t0.elapsed(), Duration::ZERO);
    }
}
