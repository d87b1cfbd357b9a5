//! Source health events: when a source started failing and when it recovered, kept so the
//! errors feed (`/sources/errors.atom`) can show them to an operator's feed reader.
//!
//! An event is decided from the source's state before a fetch and that fetch's outcome
//! ([`transition`]), and written by [`record_transition`] inside the transaction that
//! records the fetch: the event and the state change it describes commit together, so two
//! processes recording fetches of one source cannot both see "0 failures before".

use chrono::{DateTime, Utc};
use sqlx::{Row, Sqlite, Transaction};

use super::sqlite::{ms, q, time};
use super::{FetchRecord, FetchResult, Store, StoreError};

/// Events kept (all sources together); older ones are deleted as new ones arrive. Far more
/// than a reader shows, few enough to be nothing in the store.
const EVENTS_KEPT: i64 = 1000;

/// What happened to a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceEventKind {
    /// A fetch failed after a success (or as the first fetch).
    Failing,
    /// A fetch succeeded after one or more failures.
    Recovered,
}

impl SourceEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceEventKind::Failing => "failing",
            SourceEventKind::Recovered => "recovered",
        }
    }

    fn parse(s: &str) -> Option<SourceEventKind> {
        match s {
            "failing" => Some(SourceEventKind::Failing),
            "recovered" => Some(SourceEventKind::Recovered),
            _ => None,
        }
    }
}

/// One stored event, with its source's name and current URL.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceEvent {
    /// The row id: stable for the life of the store.
    pub id: i64,
    pub source: String,
    /// The source's configured URL (unredacted: redact before showing it).
    pub url: String,
    pub kind: SourceEventKind,
    pub at: DateTime<Utc>,
    /// The fetch's outcome: `error` or `gone` for a failing event, `ok` or `not_modified`
    /// for a recovery.
    pub outcome: String,
    /// Failing: this failure's; recovered: the last failure's.
    pub http_status: Option<u16>,
    pub error: Option<String>,
    /// Recovered: the failures in a row it recovered from, and when the first of them was.
    pub failures: u32,
    pub since: Option<DateTime<Utc>>,
}

/// The event a fetch causes, from the failures in a row before it and whether it failed.
/// Only the edges count: a source failing for days gives one event, not one per attempt.
pub fn transition(failures_before: u32, failed: bool) -> Option<SourceEventKind> {
    match (failures_before, failed) {
        (0, true) => Some(SourceEventKind::Failing),
        (1.., false) => Some(SourceEventKind::Recovered),
        _ => None,
    }
}

/// Write the event (if any) that `record` causes for source `source_id`. Call it in the
/// fetch's transaction *before* the source's state is updated: it reads the state as it was.
pub(super) async fn record_transition(
    tx: &mut Transaction<'_, Sqlite>,
    source_id: i64,
    record: &FetchRecord,
    error: Option<&str>,
) -> Result<(), StoreError> {
    let row = sqlx::query(
        "SELECT consecutive_failures, last_http_status, last_error FROM sources WHERE id = ?1",
    )
    .bind(source_id)
    .fetch_one(&mut **tx)
    .await
    .map_err(q("read source health"))?;
    let before = u32::try_from(row.get::<i64, _>(0)).unwrap_or(0);
    let failed = matches!(record.outcome, FetchResult::Error | FetchResult::Gone);
    let Some(kind) = transition(before, failed) else {
        return Ok(());
    };
    let (status, error, since) = match kind {
        SourceEventKind::Failing => (
            record.http_status.map(i64::from),
            error.map(str::to_owned),
            None,
        ),
        SourceEventKind::Recovered => {
            let since: Option<i64> = sqlx::query_scalar(
                "SELECT at FROM source_events WHERE source_id = ?1 AND kind = 'failing'
                 ORDER BY id DESC LIMIT 1",
            )
            .bind(source_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(q("read failing since"))?;
            (
                row.get::<Option<i64>, _>(1),
                row.get::<Option<String>, _>(2),
                since,
            )
        }
    };
    sqlx::query(
        "INSERT INTO source_events (source_id, kind, at, outcome, http_status, error, failures, since)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(source_id)
    .bind(kind.as_str())
    .bind(ms(record.at))
    .bind(record.outcome.as_str())
    .bind(status)
    .bind(error)
    .bind(i64::from(before))
    .bind(since)
    .execute(&mut **tx)
    .await
    .map_err(q("insert source event"))?;
    sqlx::query(
        "DELETE FROM source_events WHERE id <=
           (SELECT id FROM source_events ORDER BY id DESC LIMIT 1 OFFSET ?1)",
    )
    .bind(EVENTS_KEPT)
    .execute(&mut **tx)
    .await
    .map_err(q("prune source events"))?;
    Ok(())
}

impl Store {
    /// The newest `limit` source events, newest first.
    pub async fn source_events(&self, limit: usize) -> Result<Vec<SourceEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT e.id, s.name, s.url, e.kind, e.at, e.outcome, e.http_status, e.error, e.failures, e.since
             FROM source_events e JOIN sources s ON s.id = e.source_id
             ORDER BY e.at DESC, e.id DESC LIMIT ?1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await
        .map_err(q("read source events"))?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(SourceEvent {
                    id: r.get(0),
                    source: r.get(1),
                    url: r.get(2),
                    kind: SourceEventKind::parse(r.get::<&str, _>(3))?,
                    at: time(r.get(4)),
                    outcome: r.get(5),
                    http_status: r
                        .get::<Option<i64>, _>(6)
                        .and_then(|s| u16::try_from(s).ok()),
                    error: r.get(7),
                    failures: u32::try_from(r.get::<i64, _>(8)).unwrap_or(0),
                    since: r.get::<Option<i64>, _>(9).map(time),
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::politeness::Reason;
    use chrono::TimeZone;

    #[test]
    fn transition_fires_only_on_edges_when_failures_start_or_end() {
        assert_eq!(transition(0, true), Some(SourceEventKind::Failing));
        assert_eq!(transition(3, false), Some(SourceEventKind::Recovered));
        assert_eq!(transition(0, false), None);
        assert_eq!(transition(2, true), None);
    }

    fn record(outcome: FetchResult, status: Option<u16>, minute: u32) -> FetchRecord {
        FetchRecord {
            at: Utc.with_ymd_and_hms(2024, 5, 1, 12, minute, 0).unwrap(),
            elapsed_ms: 5,
            outcome,
            http_status: status,
            items_seen: 0,
            items_new: 0,
            items_updated: 0,
            validators: None,
            feed_title: None,
            site_url: None,
            next_fetch_at: None,
            next_fetch_reason: Reason::Schedule,
            moved_to: None,
            feed_ttl_minutes: None,
            retry_after_until: None,
        }
    }

    #[tokio::test]
    async fn record_fetch_writes_one_event_per_edge_when_a_source_fails_then_recovers() {
        let store = Store::open_in_memory().await.unwrap();
        store
            .sync_sources(&[("a".into(), "https://a.example/feed".into())])
            .await
            .unwrap();
        let ok = record(FetchResult::Ok, Some(200), 0);
        store.record_fetch("a", &ok, None).await.unwrap();
        assert!(store.source_events(10).await.unwrap().is_empty());
        for minute in [1, 2, 3] {
            let failed = record(FetchResult::Error, Some(500), minute);
            let message = format!("https://a.example/feed answered HTTP 500 ({minute})");
            store
                .record_fetch("a", &failed, Some(&message))
                .await
                .unwrap();
        }
        store
            .record_fetch("a", &record(FetchResult::NotModified, Some(304), 4), None)
            .await
            .unwrap();
        let events = store.source_events(10).await.unwrap();
        assert_eq!(events.len(), 2, "{events:#?}");
        let (recovered, failing) = (&events[0], &events[1]);
        assert_eq!(failing.kind, SourceEventKind::Failing);
        assert_eq!(failing.http_status, Some(500));
        assert_eq!(
            failing.error.as_deref(),
            Some("https://a.example/feed answered HTTP 500 (1)")
        );
        assert_eq!(failing.at.format("%M").to_string(), "01");
        assert_eq!(recovered.kind, SourceEventKind::Recovered);
        assert_eq!(recovered.outcome, "not_modified");
        assert_eq!(recovered.failures, 3);
        assert_eq!(recovered.since, Some(failing.at));
        assert_eq!(
            recovered.error.as_deref(),
            Some("https://a.example/feed answered HTTP 500 (3)"),
            "a recovery names the last failure"
        );
        assert_eq!(recovered.source, "a");
        assert_eq!(recovered.url, "https://a.example/feed");
    }
}
