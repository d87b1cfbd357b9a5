//! Prometheus metrics (`/metrics`, DESIGN §7): what the daemon did, for dashboards and alerts.
//!
//! The `metrics` crate's macros record into one process-wide recorder from
//! `metrics-exporter-prometheus`, installed by [`install`] when the daemon is built; the HTTP
//! layer renders it into the `/metrics` route (the exporter opens no listener of its own).
//! Without a recorder (the one-shot CLI commands) recording is a no-op.
//!
//! Every metric is named `feedmill_*`. Labels are bounded: source names and topic slugs come
//! from `feeds.toml`, routes are the router's templates (`/topics/{file}`, never the raw
//! path), outcomes and formats are small fixed sets. A source URL is never a label: it may
//! carry credentials ([`crate::redact`]).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::pipeline::{Outcome, SourceReport};
use crate::publish::Format;
use crate::store::IngestStats;

pub const FETCHES: &str = "feedmill_fetches_total";
pub const FETCH_SECONDS: &str = "feedmill_fetch_duration_seconds";
pub const NOT_MODIFIED_RATIO: &str = "feedmill_fetch_not_modified_ratio";
pub const ITEMS: &str = "feedmill_items_total";
pub const TOPIC_STORIES: &str = "feedmill_topic_stories";
pub const SOURCE_FAILURES: &str = "feedmill_source_consecutive_failures";
pub const RENDER_SECONDS: &str = "feedmill_render_duration_seconds";
pub const HTTP_REQUESTS: &str = "feedmill_http_requests_total";
pub const HTTP_SECONDS: &str = "feedmill_http_request_duration_seconds";

/// Fetch (and parse) times: feeds answer in tens of milliseconds to the 30 s timeout.
const FETCH_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Rendering a topic feed: sub-millisecond to a few hundred for large full-content feeds.
const RENDER_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
/// Answering a request: mostly from memory, a store read at most.
const HTTP_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// How often recorded histogram samples are folded into their buckets when nobody scrapes
/// (a scrape folds them too): keeps memory flat on a daemon no Prometheus ever reads.
const UPKEEP_EVERY: Duration = Duration::from_secs(10);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Fetches that could have answered 304 (200 or 304), and those that did: the 304 ratio
/// since start, as a gauge beside the counters it can be derived from.
static CONDITIONAL: AtomicU64 = AtomicU64::new(0);
static NOT_MODIFIED: AtomicU64 = AtomicU64::new(0);

/// Install the process-wide recorder (once; later calls return the same handle). `None` when
/// another recorder was installed first (feedmill embedded in a program that has its own):
/// then `/metrics` answers 503 and recording goes to that recorder.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = [
                (FETCH_SECONDS, FETCH_BUCKETS),
                (RENDER_SECONDS, RENDER_BUCKETS),
                (HTTP_SECONDS, HTTP_BUCKETS),
            ]
            .into_iter()
            .try_fold(PrometheusBuilder::new(), |b, (name, buckets)| {
                b.set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)
            });
            let handle = match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => handle,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics are not available: cannot install the Prometheus recorder");
                    return None;
                }
            };
            describe();
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".to_owned())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                // Scrapes still fold the samples; only an unscraped daemon grows.
                tracing::warn!(error = %e, "cannot start the metrics upkeep thread");
            }
            Some(handle)
        })
        .as_ref()
}

/// The installed recorder's handle, if [`install`] succeeded.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE.get().and_then(Option::as_ref)
}

fn describe() {
    describe_counter!(
        FETCHES,
        "Source refreshes by source and outcome (ok, not_modified, failed, gone, skipped)."
    );
    describe_histogram!(
        FETCH_SECONDS,
        metrics::Unit::Seconds,
        "Time to fetch and parse a source, by outcome (skips are not timed)."
    );
    describe_gauge!(
        NOT_MODIFIED_RATIO,
        "Share of successful fetches answered 304 Not Modified since start."
    );
    describe_counter!(
        ITEMS,
        "Feed items ingested by source and result: new, updated, duplicate (already stored, unchanged), merged (new, joined another source's story), expired (removed by retention, not stored again)."
    );
    describe_gauge!(TOPIC_STORIES, "Stories in each topic (at scrape time).");
    describe_gauge!(
        SOURCE_FAILURES,
        "Failed fetches in a row of each configured source (at scrape time)."
    );
    describe_histogram!(
        RENDER_SECONDS,
        metrics::Unit::Seconds,
        "Time to render a topic feed, by format (feeds are rendered once per change)."
    );
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests by route template, method and status."
    );
    describe_histogram!(
        HTTP_SECONDS,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by route template."
    );
}

/// One source refresh ended (any outcome, skips included).
pub fn fetch_finished(report: &SourceReport) {
    let outcome = report.outcome.as_str();
    counter!(FETCHES, "source" => report.source.clone(), "outcome" => outcome).increment(1);
    if report.outcome == Outcome::Skipped {
        return;
    }
    histogram!(FETCH_SECONDS, "outcome" => outcome)
        .record(Duration::from_millis(report.elapsed_ms).as_secs_f64());
    if matches!(report.outcome, Outcome::Ok | Outcome::NotModified) {
        let all = CONDITIONAL.fetch_add(1, Ordering::Relaxed) + 1;
        let nm = if report.outcome == Outcome::NotModified {
            NOT_MODIFIED.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            NOT_MODIFIED.load(Ordering::Relaxed)
        };
        gauge!(NOT_MODIFIED_RATIO).set(not_modified_ratio(nm, all));
    }
}

/// `not_modified / all`, 0 before the first fetch.
fn not_modified_ratio(not_modified: u64, all: u64) -> f64 {
    if all == 0 {
        0.0
    } else {
        not_modified as f64 / all as f64
    }
}

/// One source's items went through the store.
pub fn ingested(source: &str, stats: &IngestStats) {
    for (result, n) in [
        ("new", stats.new),
        ("updated", stats.updated),
        ("duplicate", stats.unchanged),
        ("merged", stats.merged),
        ("expired", stats.expired),
    ] {
        if n > 0 {
            counter!(ITEMS, "source" => source.to_owned(), "result" => result)
                .increment(u64::try_from(n).unwrap_or(u64::MAX));
        }
    }
}

/// A topic feed was rendered in `format`.
pub fn rendered(format: Format, took: Duration) {
    histogram!(RENDER_SECONDS, "format" => format.extension()).record(took.as_secs_f64());
}

/// Stories in a topic now.
pub fn topic_stories(topic: &str, stories: u64) {
    gauge!(TOPIC_STORIES, "topic" => topic.to_owned()).set(stories as f64);
}

/// A configured source's failures in a row now.
pub fn source_failures(source: &str, failures: u32) {
    gauge!(SOURCE_FAILURES, "source" => source.to_owned()).set(f64::from(failures));
}

/// An HTTP request was answered. `route` is the matched route template.
pub fn http_request(route: &str, method: &str, status: u16, took: Duration) {
    let method = match method {
        "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "OPTIONS" | "PATCH" => method.to_owned(),
        _ => "other".to_owned(),
    };
    counter!(HTTP_REQUESTS, "route" => route.to_owned(), "method" => method, "status" => status.to_string())
        .increment(1);
    histogram!(HTTP_SECONDS, "route" => route.to_owned()).record(took.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_modified_ratio_is_zero_when_nothing_was_fetched() {
        assert_eq!(not_modified_ratio(0, 0), 0.0);
        assert_eq!(not_modified_ratio(1, 4), 0.25);
    }
}
