//! Feed dates: RFC 3339 and RFC 822/2822 first, then their common broken forms. Pure.
//!
//! feed-rs' own lenient parser is private, and its hook replaces it, so this is the whole
//! parser feed-rs uses for us. The fast paths are chrono's strict parsers; the slow path reads
//! the parts of a date in any order (`Tue, 7 May 2024 10:00 EST`, `May 7, 2024 10:00:00 AM`,
//! `2024-05-07 10:00:00`, `Tue May 07 2024 10:00:00 GMT+0300 (CEST)`) and gives up rather than
//! guess when a part is ambiguous or missing (then the store uses when it first saw the item).
//! A date without a zone is read as UTC: feeds that omit it mostly mean server time, which we
//! cannot know, and UTC is off by hours at most (and clamped if in the future).

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// Parse a feed date; `None` when it is not a date we can read with confidence.
pub fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.is_empty() || text.len() > 100 {
        return None;
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(text) {
        return Some(d.with_timezone(&Utc));
    }
    iso_like(text).or_else(|| by_parts(text))
}

/// `YYYY-MM-DD` (or `/`, `.`), then optionally `T` or space, a time and a zone.
fn iso_like(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || !matches!(b[4], b'-' | b'/' | b'.')
    {
        return None;
    }
    let sep = b[4] as char;
    let mut parts = text.splitn(3, sep);
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let rest = parts.next()?;
    let day_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    if day_len == 0 || day_len > 2 {
        return None;
    }
    let day: u32 = rest[..day_len].parse().ok()?;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let rest = rest[day_len..].trim_start_matches(['T', 't', ' ']);
    if rest.is_empty() {
        return Some(Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN)));
    }
    let time_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.' || c == ','))
        .unwrap_or(rest.len());
    let (time, days) = parse_time(&rest[..time_len])?;
    let zone = rest[time_len..].trim();
    let offset = if zone.is_empty() {
        0
    } else {
        zone_offset(zone)?
    };
    finish(date, time, days, offset)
}

/// Dates whose parts come in some order: words, numbers, a time and a zone, told apart by
/// their shape.
fn by_parts(text: &str) -> Option<DateTime<Utc>> {
    let mut year: Option<i32> = None;
    let mut month: Option<u32> = None;
    let mut day: Option<u32> = None;
    let mut time: Option<(NaiveTime, i64)> = None;
    let mut offset: Option<i32> = None;
    let mut pm: Option<bool> = None;
    // A parenthesised zone comment, e.g. "(CEST)", repeats what the offset says.
    let text = match text.find('(') {
        Some(p) => &text[..p],
        None => text,
    };
    for token in text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
    {
        let lower = token.to_ascii_lowercase();
        let first = token.chars().next()?;
        if first.is_ascii_digit() && token.contains(':') {
            if time.is_some() {
                return None;
            }
            // A zone may be glued on: "10:00:00Z", "10:00:00+0300", "10:00GMT".
            let split = token
                .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
                .unwrap_or(token.len());
            time = Some(parse_time(&token[..split])?);
            if split < token.len() {
                offset = Some(zone_offset(&token[split..])?);
            }
        } else if token.bytes().all(|c| c.is_ascii_digit()) {
            let n: u32 = token.parse().ok()?;
            match token.len() {
                4 if year.is_none() => year = Some(i32::try_from(n).ok()?),
                1 | 2 if day.is_none() => day = Some(n),
                2 if year.is_none() => year = Some(two_digit_year(n)),
                _ => return None,
            }
        } else if (first == '+' || first == '-') && offset.is_none() {
            offset = Some(zone_offset(token)?);
        } else if let Some(m) = month_number(&lower) {
            if month.is_some() {
                return None;
            }
            month = Some(m);
        } else if is_weekday(&lower) || lower == "at" || lower == "the" {
            continue;
        } else if lower == "am" || lower == "a.m." {
            pm = Some(false);
        } else if lower == "pm" || lower == "p.m." {
            pm = Some(true);
        } else if offset.is_none() {
            offset = Some(zone_offset(token)?);
        } else {
            return None;
        }
    }
    let (year, month, day) = (year?, month?, day?);
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let (mut time, days) = time.unwrap_or((NaiveTime::MIN, 0));
    if let Some(pm) = pm {
        use chrono::Timelike;
        let hour = time.hour();
        if hour > 12 || hour == 0 {
            return None;
        }
        let hour = match (pm, hour) {
            (false, 12) => 0,
            (true, 12) => 12,
            (true, h) => h + 12,
            (false, h) => h,
        };
        time = time.with_hour(hour)?;
    }
    finish(date, time, days, offset.unwrap_or(0))
}

fn finish(date: NaiveDate, time: NaiveTime, days: i64, offset: i32) -> Option<DateTime<Utc>> {
    let local = NaiveDateTime::new(date, time) + Duration::days(days);
    let zone = FixedOffset::east_opt(offset)?;
    zone.from_local_datetime(&local)
        .single()
        .map(|d| d.with_timezone(&Utc))
}

/// `H:MM`, `HH:MM:SS`, `HH:MM:SS.fff`. Hour 24 (`24:00`) is midnight of the next day, and a
/// leap second is read as :59. Returns the time and the days to add.
fn parse_time(text: &str) -> Option<(NaiveTime, i64)> {
    let mut parts = text.split(':');
    let hour: u32 = parts.next()?.parse().ok()?;
    let minute: u32 = parts.next()?.parse().ok()?;
    let second: u32 = match parts.next() {
        Some(s) => {
            let whole = s.split(['.', ',']).next()?;
            whole.parse().ok()?
        }
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    let (hour, days) = if hour == 24 && minute == 0 && second == 0 {
        (0, 1)
    } else {
        (hour, 0)
    };
    Some((NaiveTime::from_hms_opt(hour, minute, second.min(59))?, days))
}

/// `Z`, `+0300`, `-03:00`, `+3`, a zone name, or a name with an offset (`GMT+3`, `UTC-05:30`),
/// as seconds east of UTC.
fn zone_offset(text: &str) -> Option<i32> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix(['+', '-']) {
        let sign = if text.starts_with('-') { -1 } else { 1 };
        let (h, m) = match rest.split_once(':') {
            Some((h, m)) => (h, m),
            None if rest.len() == 4 => rest.split_at(2),
            None if rest.len() <= 2 => (rest, "0"),
            None => return None,
        };
        let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
        if h > 14 || m > 59 {
            return None;
        }
        return Some(sign * (h * 3600 + m * 60));
    }
    let upper = text.to_ascii_uppercase();
    let split = upper.find(['+', '-']).unwrap_or(upper.len());
    let base = named_zone(&upper[..split])?;
    if split == upper.len() {
        return Some(base);
    }
    Some(base + zone_offset(&upper[split..])?)
}

/// Zone abbreviations seen in feeds, kept to unambiguous ones (and the RFC 822 set). IST is
/// read as India, the zone it means in nearly every English-language feed that uses it.
fn named_zone(name: &str) -> Option<i32> {
    let hours = |h: i32| Some(h * 3600);
    match name {
        "Z" | "UT" | "UTC" | "GMT" | "WET" => hours(0),
        "EST" => hours(-5),
        "EDT" => hours(-4),
        "CST" => hours(-6),
        "CDT" => hours(-5),
        "MST" => hours(-7),
        "MDT" => hours(-6),
        "PST" => hours(-8),
        "PDT" => hours(-7),
        "AKST" => hours(-9),
        "AKDT" => hours(-8),
        "HST" => hours(-10),
        "AST" => hours(-4),
        "ADT" => hours(-3),
        "NST" => Some(-(3 * 3600 + 1800)),
        "BST" | "CET" | "MET" | "WEST" => hours(1),
        "CEST" | "MEST" | "EET" => hours(2),
        "EEST" | "MSK" => hours(3),
        "IST" => Some(5 * 3600 + 1800),
        "PKT" => hours(5),
        "ICT" | "WIB" => hours(7),
        "HKT" | "SGT" | "AWST" => hours(8),
        "JST" | "KST" => hours(9),
        "ACST" => Some(9 * 3600 + 1800),
        "AEST" => hours(10),
        "AEDT" => hours(11),
        "NZST" => hours(12),
        "NZDT" => hours(13),
        _ => None,
    }
}

fn month_number(word: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    // Any prefix of three letters or more names one month: "sep", "sept", "september".
    let word = word.trim_end_matches('.');
    if word.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| m.starts_with(word))
        .and_then(|i| u32::try_from(i + 1).ok())
}

fn is_weekday(word: &str) -> bool {
    let word = word.trim_end_matches('.');
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .any(|d| word.starts_with(d) && word.len() <= 9)
}

/// RFC 2822 §4.3: two-digit years below 50 are 20xx, others 19xx.
fn two_digit_year(n: u32) -> i32 {
    let n = i32::try_from(n).unwrap_or(0);
    if n < 50 { 2000 + n } else { 1900 + n }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<DateTime<Utc>> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single()
    }

    #[test]
    fn parse_date_reads_standard_forms_when_well_formed() {
        assert_eq!(
            parse_date("2024-05-07T10:00:00Z"),
            utc(2024, 5, 7, 10, 0, 0)
        );
        assert_eq!(
            parse_date("2024-05-07T10:00:00.123+02:00"),
            utc(2024, 5, 7, 8, 0, 0).map(|d| d + Duration::milliseconds(123))
        );
        assert_eq!(
            parse_date("Tue, 07 May 2024 10:00:00 +0000"),
            utc(2024, 5, 7, 10, 0, 0)
        );
        assert_eq!(
            parse_date("Tue, 07 May 2024 10:00:00 GMT"),
            utc(2024, 5, 7, 10, 0, 0)
        );
    }

    #[test]
    fn parse_date_reads_broken_rfc822_when_feeds_bend_it() {
        for (text, want) in [
            ("Tue, 07 May 2024 10:00 +0000", utc(2024, 5, 7, 10, 0, 0)),
            ("Tue, 7 May 2024 10:00:00 EST", utc(2024, 5, 7, 15, 0, 0)),
            (
                "Tuesday, 07 May 2024 10:00:00 GMT+3",
                utc(2024, 5, 7, 7, 0, 0),
            ),
            ("07 May 2024 10:00:00 UTC", utc(2024, 5, 7, 10, 0, 0)),
            ("Tue, 07 May 24 10:00:00 -0500", utc(2024, 5, 7, 15, 0, 0)),
            ("Thurs, 09 May 2024 10:00:00 CEST", utc(2024, 5, 9, 8, 0, 0)),
            (
                "Tue, 07 September 2024 9:05:00 +05:30",
                utc(2024, 9, 7, 3, 35, 0),
            ),
            ("Tue, 07 May 2024 24:00:00 +0000", utc(2024, 5, 8, 0, 0, 0)),
            ("Tue, 07 May 2024 10:00:00 Z", utc(2024, 5, 7, 10, 0, 0)),
        ] {
            assert_eq!(parse_date(text), want, "{text}");
        }
    }

    #[test]
    fn parse_date_reads_month_first_forms_when_written_the_american_way() {
        assert_eq!(
            parse_date("May 7, 2024 10:00:00 AM"),
            utc(2024, 5, 7, 10, 0, 0)
        );
        assert_eq!(
            parse_date("May 7, 2024 1:30 PM PDT"),
            utc(2024, 5, 7, 20, 30, 0)
        );
        assert_eq!(
            parse_date("Tue May 07 2024 10:00:00 GMT+0300 (Central European Summer Time)"),
            utc(2024, 5, 7, 7, 0, 0)
        );
        assert_eq!(
            parse_date("Tue May  7 10:00:00 UTC 2024"),
            utc(2024, 5, 7, 10, 0, 0)
        );
    }

    #[test]
    fn parse_date_reads_iso_without_zone_or_seconds_as_utc() {
        assert_eq!(parse_date("2024-05-07 10:00:00"), utc(2024, 5, 7, 10, 0, 0));
        assert_eq!(parse_date("2024-05-07T10:00"), utc(2024, 5, 7, 10, 0, 0));
        assert_eq!(parse_date("2024-05-07"), utc(2024, 5, 7, 0, 0, 0));
        assert_eq!(
            parse_date("2024/05/07 10:00 +0200"),
            utc(2024, 5, 7, 8, 0, 0)
        );
        assert_eq!(
            parse_date("2024-05-07T10:00:00+0200"),
            utc(2024, 5, 7, 8, 0, 0)
        );
    }

    #[test]
    fn parse_date_gives_up_when_text_is_not_a_date() {
        for text in [
            "",
            "yesterday",
            "07/05/2024",
            "2024-13-01",
            "Tue, 31 Feb 2024 10:00:00 GMT",
            "10:00",
            "May 2024",
            "12345",
        ] {
            assert_eq!(parse_date(text), None, "{text}");
        }
    }
}
