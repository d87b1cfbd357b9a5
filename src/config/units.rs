//! The small value languages of feeds.toml: durations (`"1h30m"`), sizes (`"16MiB"`) and
//! schedules (a duration or a cron expression).
//!
//! Pure: no I/O, no clock. Times are passed in.
//!
//! The parsers are strict on purpose. A unit is always required (`"30"` is not a duration:
//! seconds or minutes?), units are lower-case (`"15M"` could be read as months), and each unit
//! appears at most once, largest first, so a value reads one way only.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeZone, Utc};
use croner::parser::{CronParser, Seconds};

/// Why a duration, size or schedule was rejected. Messages name the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("invalid duration \"{input}\": {reason}")]
    Duration { input: String, reason: String },
    #[error("invalid size \"{input}\": {reason}")]
    Size { input: String, reason: String },
    /// `at`: byte offset in `input` of the field at fault, when one is.
    #[error("invalid cron expression \"{input}\": {reason}")]
    Cron {
        input: String,
        reason: String,
        at: Option<usize>,
    },
    #[error("invalid schedule \"{input}\": {reason}")]
    Schedule { input: String, reason: String },
}

impl UnitError {
    /// Byte offset into the input of the part at fault, when known, so a config diagnostic
    /// can point at the field rather than at the start of the value.
    pub fn offset(&self) -> Option<usize> {
        match self {
            UnitError::Cron { at, .. } => *at,
            _ => None,
        }
    }
}

/// Duration units, largest first, with their length in milliseconds.
const DURATION_UNITS: [(&str, u64); 6] = [
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses a duration written as one or more `<integer><unit>` parts, largest unit first
/// (spaces between them are allowed):
/// `"30s"`, `"15m"`, `"1h"`, `"180d"`, `"2w"`, `"1h30m"`, `"250ms"`. Units: `w d h m s ms`.
///
/// Zero (`"0s"`) is accepted here because some settings mean "no gap" by it (`host_spacing`);
/// the settings for which zero is meaningless (`timeout`, `retention`, `max_age`, a schedule)
/// reject it where they are validated (`config::Config::parse`, [`Schedule::parse`]).
/// Negative values cannot be written: `-` is not part of the syntax.
pub fn parse_duration(s: &str) -> Result<Duration, UnitError> {
    let err = |reason: &str| UnitError::Duration {
        input: s.to_string(),
        reason: reason.to_string(),
    };
    let text = s.trim();
    if text.is_empty() {
        return Err(err(
            "empty value (write e.g. \"30s\", \"15m\" or \"1h30m\")",
        ));
    }
    if text.starts_with('-') {
        return Err(err("durations cannot be negative"));
    }
    let mut rest = text;
    let mut total_ms: u64 = 0;
    // Index into DURATION_UNITS of the last unit seen: the next one must be smaller.
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err(
                "expected a number (write e.g. \"30s\", \"15m\" or \"1h30m\")",
            ));
        }
        let (number, after) = rest.split_at(digits);
        if after.starts_with(['.', ',']) {
            return Err(err(
                "fractions are not supported (write \"1h30m\", not \"1.5h\")",
            ));
        }
        let after = after.trim_start();
        let letters = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(letters);
        if unit.is_empty() {
            return Err(err(
                "missing unit after the number (use ms, s, m, h, d or w, e.g. \"30s\")",
            ));
        }
        let Some(index) = DURATION_UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(err(&format!(
                "unknown unit `{unit}` (use ms, s, m, h, d or w)"
            )));
        };
        if last_unit.is_some_and(|last| index <= last) {
            return Err(err(
                "each unit may appear once, largest first (e.g. \"1h30m\", not \"30m1h\")",
            ));
        }
        last_unit = Some(index);
        let too_large = || err("value is too large");
        let value: u64 = number.parse().map_err(|_| too_large())?;
        let part = value
            .checked_mul(DURATION_UNITS[index].1)
            .ok_or_else(too_large)?;
        total_ms = total_ms.checked_add(part).ok_or_else(too_large)?;
        rest = after.trim_start();
    }
    Ok(Duration::from_millis(total_ms))
}

/// Size units with their multipliers. Binary (`KiB`) and decimal (`KB`) units are both
/// accepted because people write both; they are not the same number.
const SIZE_UNITS: [(&str, u64); 9] = [
    ("b", 1),
    ("kb", 1000),
    ("mb", 1000 * 1000),
    ("gb", 1000 * 1000 * 1000),
    ("tb", 1000 * 1000 * 1000 * 1000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
];

/// Parses a byte size: `"16MiB"`, `"512KiB"`, `"1MB"`, `"1GiB"`, `"2048"` (bytes), with an
/// optional space before the unit. Units are case-insensitive (`"16mib"` is 16 MiB):
/// unlike durations there is no ambiguity to guard against.
pub fn parse_size(s: &str) -> Result<u64, UnitError> {
    let err = |reason: &str| UnitError::Size {
        input: s.to_string(),
        reason: reason.to_string(),
    };
    let text = s.trim();
    if text.starts_with('-') {
        return Err(err("sizes cannot be negative"));
    }
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(err(
            "expected a number of bytes, optionally with a unit (e.g. \"16MiB\", \"512KiB\", \"2048\")",
        ));
    }
    let (number, unit) = text.split_at(digits);
    if unit.starts_with(['.', ',']) {
        return Err(err(
            "fractions are not supported (write \"1536KiB\", not \"1.5MiB\")",
        ));
    }
    let unit = unit.trim_start();
    let multiplier = if unit.is_empty() {
        1
    } else {
        let lower = unit.to_ascii_lowercase();
        SIZE_UNITS
            .iter()
            .find(|(name, _)| *name == lower)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                err(&format!(
                    "unknown unit `{unit}` (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)"
                ))
            })?
    };
    let too_large = || err("value is too large");
    let value: u64 = number.parse().map_err(|_| too_large())?;
    value.checked_mul(multiplier).ok_or_else(too_large)
}

/// When a source is fetched: every fixed interval, or at the times of a cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// A fixed interval, at least one second.
    Every(Duration),
    /// A cron expression, always stored with 6 fields (`sec min hour dom mon dow`), the form
    /// tokio-cron-scheduler requires. Times are UTC.
    Cron(String),
}

/// A fixed instant (a Monday, midnight UTC) from which [`Schedule::nominal_period`] measures,
/// so the same expression always yields the same period.
fn reference_instant() -> DateTime<Utc> {
    // 2001-01-01T00:00:00Z; a constant timestamp, so `single()` always succeeds, and
    // UNIX_EPOCH is a safe fallback that keeps this infallible.
    Utc.timestamp_opt(978_307_200, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// The cron parser configured exactly as tokio-cron-scheduler 0.15's `Job::new_async`
/// configures it (seconds required, day-of-month AND day-of-week), so that every expression
/// we accept is one the scheduler accepts and fires at the times we compute.
fn cron_parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
}

impl Schedule {
    /// Parses a schedule. A value with 5 or 6 whitespace-separated fields is a cron expression
    /// (5 fields get `0` prepended as the seconds field); anything else is a duration, which
    /// must be at least one second (zero would mean "fetch continuously").
    pub fn parse(s: &str) -> Result<Schedule, UnitError> {
        let fields: Vec<&str> = s.split_whitespace().collect();
        match fields.len() {
            5 | 6 => {
                let count = fields.len();
                let mut six = Vec::with_capacity(6);
                if count == 5 {
                    six.push("0");
                }
                six.extend(fields);
                let expr = six.join(" ");
                let input = s.trim();
                let err = |reason: String, at: Option<usize>| UnitError::Cron {
                    input: input.to_string(),
                    reason,
                    at,
                };
                let cron = cron_parser().parse(&expr).map_err(|e| {
                    match faulty_field(&six) {
                        Some(i) => {
                            // With 5 fields, six[0] is our "0" and six[i] the user's i-1.
                            let user_index = if count == 5 {
                                i.checked_sub(1)
                            } else {
                                Some(i)
                            };
                            let at = user_index.and_then(|j| field_starts(s).get(j).copied());
                            let (name, allowed) = CRON_FIELDS[i];
                            err(
                                format!(
                                    "{name} field \"{}\": {} (allowed: {allowed})",
                                    six[i],
                                    cron_reason(&e)
                                ),
                                at,
                            )
                        }
                        None => err(cron_reason(&e), None),
                    }
                })?;
                // An expression such as "0 0 0 30 2 *" (February 30th) parses but never
                // fires: a source on it would silently never be fetched.
                let first = cron
                    .find_next_occurrence(&reference_instant(), false)
                    .map_err(|_| err("it never fires".to_string(), None))?;
                cron.find_next_occurrence(&first, false)
                    .map_err(|_| err("it fires only once".to_string(), None))?;
                Ok(Schedule::Cron(expr))
            }
            n => {
                let d = parse_duration(s).map_err(|e| {
                    // "* * * *" or "0 9 * * * * 2025": meant as cron, so say why it is not.
                    let cron_like = n >= 3 || s.contains(['*', '/', ',', '?']);
                    if cron_like {
                        UnitError::Schedule {
                            input: s.trim().to_string(),
                            reason: format!(
                                "a cron expression has 5 or 6 fields, not {n} (and this is not a duration)"
                            ),
                        }
                    } else {
                        e
                    }
                })?;
                if d < Duration::from_secs(1) {
                    return Err(UnitError::Schedule {
                        input: s.to_string(),
                        reason: "an interval must be at least 1s".to_string(),
                    });
                }
                Ok(Schedule::Every(d))
            }
        }
    }

    /// The next run strictly after `t`: `t + d` for an interval; for cron, the next fire time
    /// after `t` (whole seconds, UTC). `None` if there is none (overflow, or a hand-built
    /// `Cron` that does not parse).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Every(d) => t.checked_add_signed(chrono::Duration::from_std(*d).ok()?),
            Schedule::Cron(expr) => {
                let cron = cron_parser().parse(expr).ok()?;
                // croner steps from the given second, so drop the fraction first: the result
                // is then at least the next whole second, which is strictly after `t`.
                cron.find_next_occurrence(&t.trunc_subsecs(0), false).ok()
            }
        }
    }

    /// A representative gap between runs (for feed `<ttl>` hints and backoff caps): the
    /// interval itself, or for cron the gap between the next two fire times after a fixed
    /// reference instant (2001-01-01T00:00:00Z, a Monday), so it never depends on the clock.
    /// Zero only for a hand-built `Cron` that does not parse ([`Schedule::parse`] rejects
    /// expressions that do not fire repeatedly).
    pub fn nominal_period(&self) -> Duration {
        match self {
            Schedule::Every(d) => *d,
            Schedule::Cron(_) => {
                let gap = self
                    .next_after(reference_instant())
                    .and_then(|a| Some((a, self.next_after(a)?)))
                    .and_then(|(a, b)| (b - a).to_std().ok());
                gap.unwrap_or(Duration::ZERO)
            }
        }
    }
}

impl Default for Schedule {
    /// Every 15 minutes (DESIGN §5).
    fn default() -> Self {
        Schedule::Every(Duration::from_secs(15 * 60))
    }
}

impl std::fmt::Display for Schedule {
    /// The form it can be written back in: `"1h30m"` or the 6-field cron expression.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::Every(d) => f.write_str(&format_duration(*d)),
            Schedule::Cron(expr) => f.write_str(expr),
        }
    }
}

/// Writes a duration in the syntax [`parse_duration`] reads, e.g. `1h30m`; `0s` for zero.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (name, len) in DURATION_UNITS {
        let len = u128::from(len);
        if ms >= len {
            out.push_str(&format!("{}{name}", ms / len));
            ms %= len;
        }
    }
    out
}

/// The six cron fields in order, with the values each accepts (for messages).
const CRON_FIELDS: [(&str, &str); 6] = [
    ("seconds", "0-59"),
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-7 or SUN-SAT"),
];

/// The first of six fields that fails on its own (every other field `*`), to say which one
/// is wrong: croner's errors do not.
fn faulty_field(six: &[&str]) -> Option<usize> {
    (0..six.len().min(CRON_FIELDS.len())).find(|&i| {
        let mut probe = ["*"; 6];
        probe[i] = six[i];
        cron_parser().parse(&probe.join(" ")).is_err()
    })
}

/// Byte offsets of the whitespace-separated fields of `s`.
fn field_starts(s: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut in_field = false;
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            in_field = false;
        } else if !in_field {
            in_field = true;
            starts.push(i);
        }
    }
    starts
}

/// croner's messages are capitalised sentences, some naming its own types; ours are short
/// lower-case clauses.
fn cron_reason(e: &croner::errors::CronError) -> String {
    use croner::errors::CronError;
    let text = match e {
        CronError::ComponentError(msg) | CronError::InvalidPattern(msg) => msg.clone(),
        CronError::IllegalCharacters(_) => "illegal character".to_string(),
        other => other.to_string(),
    };
    let text = text.trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "not a valid expression".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn parse_duration_accepts_table_of_valid_forms() {
        let cases = [
            ("30s", 30),
            ("15m", 15 * 60),
            ("1h", 3600),
            ("180d", 180 * 86400),
            ("2w", 14 * 86400),
            ("1h30m", 5400),
            ("1h 30m", 5400),
            ("90 s", 90),
            ("1d2h3m4s", 86400 + 7200 + 180 + 4),
            ("0s", 0),
            (" 45s ", 45),
        ];
        for (input, secs) in cases {
            assert_eq!(
                parse_duration(input),
                Ok(Duration::from_secs(secs)),
                "{input}"
            );
        }
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1s500ms"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn parse_duration_rejects_table_of_invalid_forms() {
        let cases = [
            ("", "empty value"),
            ("30", "missing unit"),
            ("-5m", "cannot be negative"),
            ("15M", "unknown unit `M`"),
            ("3y", "unknown unit `y`"),
            ("1.5h", "fractions are not supported"),
            ("m", "expected a number"),
            ("30m1h", "largest first"),
            ("1h1h", "largest first"),
            ("99999999999999999999s", "too large"),
            ("999999999999999w", "too large"),
        ];
        for (input, reason) in cases {
            let err = parse_duration(input).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid duration \"{input}\": ")) && err.contains(reason),
                "{input}: {err}"
            );
        }
    }

    #[test]
    fn parse_size_accepts_table_of_valid_forms() {
        let cases = [
            ("16MiB", 16 << 20),
            ("512KiB", 512 << 10),
            ("1MB", 1_000_000),
            ("1GiB", 1 << 30),
            ("2048", 2048),
            ("2048B", 2048),
            ("16 MiB", 16 << 20),
            ("16mib", 16 << 20),
            ("3kb", 3000),
            ("1TiB", 1 << 40),
            ("0", 0),
        ];
        for (input, bytes) in cases {
            assert_eq!(parse_size(input), Ok(bytes), "{input}");
        }
    }

    #[test]
    fn parse_size_rejects_table_of_invalid_forms() {
        let cases = [
            ("", "expected a number"),
            ("MiB", "expected a number"),
            ("-1MiB", "negative"),
            ("16 MiBs", "unknown unit `MiBs`"),
            ("1.5MiB", "fractions are not supported"),
            ("99999999TiB", "too large"),
        ];
        for (input, reason) in cases {
            let err = parse_size(input).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid size \"{input}\": ")) && err.contains(reason),
                "{input}: {err}"
            );
        }
    }

    #[test]
    fn schedule_parse_reads_duration_when_not_five_or_six_fields() {
        assert_eq!(
            Schedule::parse("15m"),
            Ok(Schedule::Every(Duration::from_secs(900)))
        );
        assert_eq!(
            Schedule::parse("1h30m"),
            Ok(Schedule::Every(Duration::from_secs(5400)))
        );
        let err = Schedule::parse("0s").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid schedule \"0s\": an interval must be at least 1s"
        );
        // Four fields is neither cron nor a duration.
        let err = Schedule::parse("* * * *").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid schedule \"* * * *\": a cron expression has 5 or 6 fields, not 4 (and this is not a duration)"
        );
        let err = Schedule::parse("15x").unwrap_err().to_string();
        assert!(err.starts_with("invalid duration \"15x\""), "{err}");
    }

    #[test]
    fn schedule_parse_prefixes_seconds_when_cron_has_five_fields() {
        assert_eq!(
            Schedule::parse("*/15 * * * *"),
            Ok(Schedule::Cron("0 */15 * * * *".to_string()))
        );
        assert_eq!(
            Schedule::parse("  30   0 9 * * MON-FRI "),
            Ok(Schedule::Cron("30 0 9 * * MON-FRI".to_string()))
        );
    }

    #[test]
    fn schedule_parse_rejects_cron_when_field_out_of_range() {
        let err = Schedule::parse("61 * * * *").unwrap_err().to_string();
        assert!(
            err.starts_with("invalid cron expression \"61 * * * *\": "),
            "{err}"
        );
        assert!(Schedule::parse("0 0 25 * * *").is_err());
        assert!(Schedule::parse("0 0 0 * 13 *").is_err());
        assert!(Schedule::parse("0 0 0 * * FUNDAY").is_err());
    }

    #[test]
    fn schedule_parse_rejects_cron_when_it_never_fires() {
        let err = Schedule::parse("0 0 30 2 *").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid cron expression \"0 0 30 2 *\": it never fires"
        );
    }

    #[test]
    fn schedule_cron_is_accepted_by_tokio_cron_scheduler_when_we_accept_it() {
        for expr in [
            "*/15 * * * *",
            "0 0 9 * * MON-FRI",
            "0 30 */2 * * *",
            "5 4 * * SUN",
        ] {
            let Schedule::Cron(six) = Schedule::parse(expr).unwrap() else {
                panic!("{expr} should be cron");
            };
            let job = tokio_cron_scheduler::Job::new_async(six.as_str(), |_, _| Box::pin(async {}));
            assert!(job.is_ok(), "{six}");
        }
    }

    #[test]
    fn schedule_next_after_adds_interval_when_every() {
        let s = Schedule::Every(Duration::from_secs(900));
        assert_eq!(
            s.next_after(at("2024-03-01T10:00:00Z")),
            Some(at("2024-03-01T10:15:00Z"))
        );
    }

    #[test]
    fn schedule_next_after_is_strictly_after_when_t_is_a_fire_time() {
        let s = Schedule::parse("*/15 * * * *").unwrap();
        assert_eq!(
            s.next_after(at("2024-03-01T10:15:00Z")),
            Some(at("2024-03-01T10:30:00Z"))
        );
        assert_eq!(
            s.next_after(at("2024-03-01T10:14:59.900Z")),
            Some(at("2024-03-01T10:15:00Z"))
        );
        assert_eq!(
            s.next_after(at("2024-03-01T10:15:00.100Z")),
            Some(at("2024-03-01T10:30:00Z"))
        );
        // Weekdays at 09:00: Friday evening → Monday morning.
        let s = Schedule::parse("0 9 * * MON-FRI").unwrap();
        assert_eq!(
            s.next_after(at("2024-03-01T18:00:00Z")),
            Some(at("2024-03-04T09:00:00Z"))
        );
    }

    #[test]
    fn schedule_nominal_period_is_deterministic_when_cron() {
        let cases = [
            ("*/15 * * * *", 900),
            ("0 * * * *", 3600),
            ("0 6 * * *", 86400),
            ("0 0 9 * * MON-FRI", 86400),
            ("*/10 * * * * *", 10),
        ];
        for (expr, secs) in cases {
            let s = Schedule::parse(expr).unwrap();
            assert_eq!(s.nominal_period(), Duration::from_secs(secs), "{expr}");
            assert_eq!(s.nominal_period(), s.nominal_period());
        }
        assert_eq!(
            Schedule::Every(Duration::from_secs(42)).nominal_period(),
            Duration::from_secs(42)
        );
        assert_eq!(
            Schedule::Cron("not cron".to_string()).nominal_period(),
            Duration::ZERO
        );
    }

    #[test]
    fn format_duration_round_trips_when_parsed_back() {
        for input in ["0s", "30s", "15m", "1h30m", "2w", "1d2h3m4s", "1s500ms"] {
            let d = parse_duration(input).unwrap();
            assert_eq!(format_duration(d), input);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
