//! When a source may be fetched next: the pure rules of polite fetching. No I/O and no clock
//! (`now` is passed in), so every rule is a row in a unit-test table.
//!
//! - After a success (200 or 304) the next fetch follows the schedule, but never comes before
//!   the publisher's own freshness hints allow: the feed's `<ttl>`, `Cache-Control: max-age`
//!   or `Expires` are a *floor* (capped at [`MAX_FLOOR`] against absurd values). A floor
//!   past the next scheduled run wins: asking again earlier would only get the same bytes.
//! - After a failure the source backs off exponentially from its schedule's period, with a
//!   jitter that is deterministic per source (reproducible, yet spreads sources that failed
//!   together), capped at [`MAX_BACKOFF`]; never sooner than the schedule.
//! - A 429 or 503 with `Retry-After` is not fetched again before that instant (capped at
//!   [`MAX_RETRY_AFTER`]), not even by `feedmill fetch`.
//! - A 410 Gone is never fetched again until its URL changes in feeds.toml.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A freshness hint (`<ttl>`, `max-age`, `Expires`) longer than this is taken as this.
pub const MAX_FLOOR: Duration = Duration::from_secs(24 * 3600);
/// The longest a failing source waits between attempts (unless its schedule is longer).
pub const MAX_BACKOFF: Duration = Duration::from_secs(12 * 3600);
/// A `Retry-After` further away than this is taken as this: a misconfigured server must not
/// switch a source off for a year.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
/// The period assumed for a schedule that reports none (a cron expression with no gap).
const FALLBACK_PERIOD: Duration = Duration::from_secs(15 * 60);
/// The jitter adds up to this fraction of a backoff delay.
const JITTER: f64 = 0.25;

/// Why a source's next attempt is when it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The source's schedule.
    Schedule,
    /// The feed's `<ttl>` (minutes).
    Ttl,
    /// The response's `Cache-Control: max-age`.
    MaxAge,
    /// The response's `Expires`.
    Expires,
    /// Exponential backoff after failures.
    Backoff,
    /// The server's `Retry-After` on a 429 or 503.
    RetryAfter,
    /// 410 Gone: not fetched until the source's URL changes in feeds.toml.
    Gone,
}

impl Reason {
    /// The stable name stored and shown (`/sources`, `feedmill fetch`).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Schedule => "schedule",
            Reason::Ttl => "ttl",
            Reason::MaxAge => "max-age",
            Reason::Expires => "expires",
            Reason::Backoff => "backoff",
            Reason::RetryAfter => "retry-after",
            Reason::Gone => "gone",
        }
    }

    /// The inverse of [`Reason::as_str`].
    pub fn parse(s: &str) -> Option<Reason> {
        [
            Reason::Schedule,
            Reason::Ttl,
            Reason::MaxAge,
            Reason::Expires,
            Reason::Backoff,
            Reason::RetryAfter,
            Reason::Gone,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When a source is next fetched, and why. `at` is `None` only for a gone source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextAttempt {
    pub at: Option<DateTime<Utc>>,
    pub reason: Reason,
}

impl NextAttempt {
    pub fn gone() -> NextAttempt {
        NextAttempt {
            at: None,
            reason: Reason::Gone,
        }
    }
}

/// The response headers that say how long a feed stays fresh, as received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheHeaders {
    pub cache_control: Option<String>,
    pub expires: Option<String>,
    pub date: Option<String>,
    pub age: Option<String>,
}

fn add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn http_date(value: &str) -> Option<DateTime<Utc>> {
    httpdate::parse_http_date(value.trim())
        .ok()
        .map(DateTime::<Utc>::from)
}

/// The server's clock offset: how far its `Date` is ahead of ours. Applying it to an
/// absolute time the server sent (`Expires`, a `Retry-After` date) reads that time on our
/// clock, so a server whose clock is off by an hour does not shift our floor by an hour.
fn server_offset(date: Option<&str>, now: DateTime<Utc>) -> chrono::Duration {
    date.and_then(http_date)
        .map(|d| d - now)
        .unwrap_or_else(chrono::Duration::zero)
}

/// `Cache-Control` directives as (name lower-cased, value unquoted).
fn directives(value: &str) -> impl Iterator<Item = (String, Option<&str>)> {
    value.split(',').filter_map(|part| {
        let part = part.trim();
        if part.is_empty() {
            return None;
        }
        let (name, value) = match part.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (part, None),
        };
        Some((name.to_ascii_lowercase(), value))
    })
}

/// How long the response may be reused, by HTTP caching rules (RFC 9111 §4.2.1):
/// `max-age` (minus `Age`) wins over `Expires`; `no-cache` and `no-store` give nothing.
/// `Expires` is read against the response's `Date` when it has one. A hint of zero or in the
/// past gives `None`.
pub fn http_freshness(headers: &CacheHeaders, now: DateTime<Utc>) -> Option<(Duration, Reason)> {
    let age = headers
        .age
        .as_deref()
        .and_then(|a| a.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if let Some(cc) = headers.cache_control.as_deref() {
        let mut max_age = None;
        for (name, value) in directives(cc) {
            match name.as_str() {
                "no-cache" | "no-store" => return None,
                "max-age" => max_age = value.and_then(|v| v.parse::<u64>().ok()),
                _ => {}
            }
        }
        if let Some(max_age) = max_age {
            let left = max_age.saturating_sub(age);
            return (left > 0).then_some((Duration::from_secs(left), Reason::MaxAge));
        }
    }
    let expires = http_date(headers.expires.as_deref()?)?;
    let on_our_clock = expires - server_offset(headers.date.as_deref(), now);
    let left = (on_our_clock - now).to_std().ok()?;
    let left = left.saturating_sub(Duration::from_secs(age));
    (!left.is_zero()).then_some((left, Reason::Expires))
}

/// The earliest the feed may be fetched again by the publisher's hints: the longest of the
/// feed's `<ttl>` and the HTTP freshness, capped at [`MAX_FLOOR`].
pub fn freshness_floor(
    now: DateTime<Utc>,
    ttl_minutes: Option<u32>,
    headers: &CacheHeaders,
) -> Option<(DateTime<Utc>, Reason)> {
    let ttl = ttl_minutes
        .filter(|m| *m > 0)
        .map(|m| (Duration::from_secs(u64::from(m) * 60), Reason::Ttl));
    let http = http_freshness(headers, now);
    let (longest, reason) = match (ttl, http) {
        (Some(t), Some(h)) => {
            if h.0 > t.0 {
                h
            } else {
                t
            }
        }
        (t, h) => t.or(h)?,
    };
    Some((add(now, longest.min(MAX_FLOOR)), reason))
}

/// The next attempt after a success: the scheduled run, unless the freshness floor is later.
/// `scheduled` is `None` when the schedule has no next run (then a day from now).
pub fn after_success(
    now: DateTime<Utc>,
    scheduled: Option<DateTime<Utc>>,
    floor: Option<(DateTime<Utc>, Reason)>,
) -> NextAttempt {
    let scheduled = scheduled.unwrap_or_else(|| add(now, Duration::from_secs(24 * 3600)));
    match floor {
        Some((at, reason)) if at > scheduled => NextAttempt {
            at: Some(at),
            reason,
        },
        _ => NextAttempt {
            at: Some(scheduled),
            reason: Reason::Schedule,
        },
    }
}

/// The instant a `Retry-After` value (delta-seconds or an HTTP-date) points at, capped at
/// [`MAX_RETRY_AFTER`] from `now`; `None` when it is neither form. `date` is the response's
/// `Date`, to read an HTTP-date on our clock. A time in the past gives `now`.
pub fn retry_after(value: &str, date: Option<&str>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let value = value.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still "a very long time".
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let at = http_date(value)? - server_offset(date, now);
        (at - now).to_std().unwrap_or_default()
    };
    Some(add(now, wait.min(MAX_RETRY_AFTER)))
}

/// A deterministic fraction in `[0, 1)` for this source and failure count: FNV-1a, stable
/// across runs and platforms (std's hasher is randomized).
pub fn jitter_fraction(source: &str, failures: u32) -> f64 {
    let hash = source
        .bytes()
        .chain(failures.to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    // The top 53 bits fill an f64 mantissa exactly, so the result is < 1.
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// The wait after the `failures`-th failure in a row (≥ 1): the schedule's period doubled for
/// each failure after the first, plus up to 25 % jitter, at most [`MAX_BACKOFF`] — but never
/// shorter than the period, so a failing source is not fetched more often than a healthy one.
pub fn backoff(source: &str, failures: u32, period: Duration) -> Duration {
    let period = if period.is_zero() {
        FALLBACK_PERIOD
    } else {
        period
    };
    let doublings = failures.saturating_sub(1).min(30);
    let base = period.saturating_mul(1u32 << doublings);
    let jittered = base.mul_f64(1.0 + JITTER * jitter_fraction(source, failures));
    jittered.min(MAX_BACKOFF).max(period)
}

/// The next attempt after a failure: the backoff (never before the scheduled run), or the
/// server's `Retry-After` when that is later.
pub fn after_failure(
    now: DateTime<Utc>,
    source: &str,
    failures: u32,
    period: Duration,
    scheduled: Option<DateTime<Utc>>,
    retry_after_until: Option<DateTime<Utc>>,
) -> NextAttempt {
    let mut at = add(now, backoff(source, failures, period));
    if let Some(scheduled) = scheduled {
        at = at.max(scheduled);
    }
    match retry_after_until {
        Some(until) if until > at => NextAttempt {
            at: Some(until),
            reason: Reason::RetryAfter,
        },
        _ => NextAttempt {
            at: Some(at),
            reason: Reason::Backoff,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    }

    fn mins(m: i64) -> chrono::Duration {
        chrono::Duration::minutes(m)
    }

    fn headers(cc: Option<&str>, expires: Option<&str>, date: Option<&str>) -> CacheHeaders {
        CacheHeaders {
            cache_control: cc.map(str::to_owned),
            expires: expires.map(str::to_owned),
            date: date.map(str::to_owned),
            age: None,
        }
    }

    #[test]
    fn after_success_picks_latest_of_floor_and_schedule_when_hints_vary() {
        let now = t0();
        let fifteen = Some(now + mins(15));
        // (ttl minutes, Cache-Control, Expires, Date) → (minutes from now, reason)
        type Row<'a> = (
            Option<u32>,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            i64,
            Reason,
        );
        let table: &[Row] = &[
            (None, None, None, None, 15, Reason::Schedule),
            // Shorter hints than the schedule: the schedule.
            (Some(5), None, None, None, 15, Reason::Schedule),
            (None, Some("max-age=60"), None, None, 15, Reason::Schedule),
            // Longer hints: the floor wins.
            (Some(60), None, None, None, 60, Reason::Ttl),
            (
                None,
                Some("public, max-age=3600"),
                None,
                None,
                60,
                Reason::MaxAge,
            ),
            (
                None,
                Some("max-age=\"1800\""),
                None,
                None,
                30,
                Reason::MaxAge,
            ),
            (
                None,
                None,
                Some("Wed, 01 May 2024 14:00:00 GMT"),
                None,
                120,
                Reason::Expires,
            ),
            // The longest hint counts.
            (Some(90), Some("max-age=3600"), None, None, 90, Reason::Ttl),
            (
                Some(30),
                Some("max-age=7200"),
                None,
                None,
                120,
                Reason::MaxAge,
            ),
            // max-age wins over Expires (RFC 9111), even when shorter.
            (
                None,
                Some("max-age=1200"),
                Some("Wed, 01 May 2024 18:00:00 GMT"),
                None,
                20,
                Reason::MaxAge,
            ),
            // no-cache / no-store: no HTTP floor, but the feed's ttl still holds.
            (
                None,
                Some("no-cache, max-age=3600"),
                Some("Wed, 01 May 2024 18:00:00 GMT"),
                None,
                15,
                Reason::Schedule,
            ),
            (Some(45), Some("no-store"), None, None, 45, Reason::Ttl),
            // Expires read on the server's clock: its Date is 1 h ahead of ours.
            (
                None,
                None,
                Some("Wed, 01 May 2024 15:00:00 GMT"),
                Some("Wed, 01 May 2024 13:00:00 GMT"),
                120,
                Reason::Expires,
            ),
            // Expired, invalid or zero: nothing.
            (
                None,
                None,
                Some("Wed, 01 May 2024 11:00:00 GMT"),
                None,
                15,
                Reason::Schedule,
            ),
            (None, None, Some("0"), None, 15, Reason::Schedule),
            (None, Some("max-age=0"), None, None, 15, Reason::Schedule),
            (Some(0), None, None, None, 15, Reason::Schedule),
            // Absurd values are capped at a day.
            (Some(10_000_000), None, None, None, 24 * 60, Reason::Ttl),
            (
                None,
                Some("max-age=99999999999"),
                None,
                None,
                24 * 60,
                Reason::MaxAge,
            ),
        ];
        for (i, (ttl, cc, expires, date, want_min, want_reason)) in table.iter().enumerate() {
            let floor = freshness_floor(now, *ttl, &headers(*cc, *expires, *date));
            let next = after_success(now, fifteen, floor);
            assert_eq!(
                next,
                NextAttempt {
                    at: Some(now + mins(*want_min)),
                    reason: *want_reason
                },
                "row {i}: ttl {ttl:?} cc {cc:?} expires {expires:?} date {date:?}"
            );
        }
    }

    #[test]
    fn http_freshness_subtracts_age_when_response_was_cached() {
        let mut h = headers(Some("max-age=600"), None, None);
        h.age = Some("100".into());
        assert_eq!(
            http_freshness(&h, t0()),
            Some((Duration::from_secs(500), Reason::MaxAge))
        );
        h.age = Some("900".into());
        assert_eq!(http_freshness(&h, t0()), None);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_when_server_sends_either() {
        let now = t0();
        let table: &[(&str, Option<&str>, Option<i64>)] = &[
            ("120", None, Some(2)),
            (" 60 ", None, Some(1)),
            ("0", None, Some(0)),
            ("Wed, 01 May 2024 12:30:00 GMT", None, Some(30)),
            // An HTTP-date read against the server's Date (its clock is 10 min behind).
            (
                "Wed, 01 May 2024 12:30:00 GMT",
                Some("Wed, 01 May 2024 11:50:00 GMT"),
                Some(40),
            ),
            // In the past: now.
            ("Wed, 01 May 2024 11:00:00 GMT", None, Some(0)),
            // Capped at a day.
            ("999999999", None, Some(24 * 60)),
            ("99999999999999999999999", None, Some(24 * 60)),
            ("Fri, 01 May 2099 12:00:00 GMT", None, Some(24 * 60)),
            // Neither form.
            ("soon", None, None),
            ("-5", None, None),
            ("1.5", None, None),
            ("", None, None),
        ];
        for (value, date, want) in table {
            assert_eq!(
                retry_after(value, *date, now),
                want.map(|m| now + mins(m)),
                "{value:?} date {date:?}"
            );
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps_when_failures_repeat() {
        let period = Duration::from_secs(15 * 60);
        let mut previous = Duration::ZERO;
        for failures in 1..=12u32 {
            let got = backoff("Some Source", failures, period);
            let base = period * 2u32.pow(failures - 1);
            let low = base.min(MAX_BACKOFF);
            let high = base.mul_f64(1.25).min(MAX_BACKOFF);
            assert!(
                got >= low && got <= high,
                "failure {failures}: {got:?} not in [{low:?}, {high:?}]"
            );
            assert!(got >= previous, "failure {failures}: backoff shrank");
            assert!(got >= period, "sooner than the schedule");
            previous = got;
        }
        assert_eq!(backoff("Some Source", 7, period), MAX_BACKOFF);
        assert_eq!(backoff("Some Source", u32::MAX, period), MAX_BACKOFF);
        // Deterministic, and different sources are spread.
        assert_eq!(backoff("a", 3, period), backoff("a", 3, period));
        let spread: std::collections::HashSet<Duration> = (0..50)
            .map(|i| backoff(&format!("source {i}"), 2, period))
            .collect();
        assert!(spread.len() > 40, "jitter does not spread: {spread:?}");
        // A schedule longer than the cap: the schedule.
        let daily = Duration::from_secs(48 * 3600);
        assert_eq!(backoff("a", 5, daily), daily);
        // A period of zero (unparseable cron) falls back to 15 min.
        assert!(backoff("a", 1, Duration::ZERO) >= period);
    }

    #[test]
    fn jitter_fraction_stays_below_one_when_hashing_many_inputs() {
        for i in 0..2000u32 {
            let f = jitter_fraction(&format!("s{i}"), i);
            assert!((0.0..1.0).contains(&f), "{f}");
        }
    }

    #[test]
    fn after_failure_honours_retry_after_when_it_is_later_than_backoff() {
        let now = t0();
        let period = Duration::from_secs(15 * 60);
        let scheduled = Some(now + mins(15));
        // No Retry-After: backoff.
        let next = after_failure(now, "a", 1, period, scheduled, None);
        assert_eq!(next.reason, Reason::Backoff);
        let at = next.at.unwrap();
        assert!(at >= now + mins(15) && at <= now + chrono::Duration::seconds(1125));
        // Retry-After in an hour: later than the first backoff step.
        let until = now + mins(60);
        assert_eq!(
            after_failure(now, "a", 1, period, scheduled, Some(until)),
            NextAttempt {
                at: Some(until),
                reason: Reason::RetryAfter
            }
        );
        // Retry-After in a minute: the backoff is later, and wins.
        let soon = now + mins(1);
        let next = after_failure(now, "a", 1, period, scheduled, Some(soon));
        assert_eq!(next.reason, Reason::Backoff);
        // A cron schedule whose next run is later than the backoff: the schedule's run.
        let monday = now + chrono::Duration::days(3);
        assert_eq!(
            after_failure(now, "a", 1, period, Some(monday), None).at,
            Some(monday)
        );
    }

    #[test]
    fn reason_round_trips_when_stored_as_text() {
        for r in [
            Reason::Schedule,
            Reason::Ttl,
            Reason::MaxAge,
            Reason::Expires,
            Reason::Backoff,
            Reason::RetryAfter,
            Reason::Gone,
        ] {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
        assert_eq!(Reason::parse("later"), None);
    }
}
