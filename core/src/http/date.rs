//! HTTP dates (RFC 9110 section 5.6.7): IMF-fixdate formatting, and parsing of the three forms a
//! recipient must accept.

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
/// Month abbreviations, as HTTP dates and access logs write them.
pub(crate) const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Format `t` as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`. Times before 1970 format
/// as the epoch.
pub fn http_date(t: SystemTime) -> String {
    let mut out = Vec::with_capacity(29);
    push_http_date(&mut out, t);
    // Only ASCII is ever written.
    String::from_utf8(out).unwrap_or_default()
}

thread_local! {
    /// The last date [`push_http_date`] formatted on this thread, by its whole second: a
    /// server answering many requests a second formats the date once a second. A cache of the
    /// caller's `t`, not a clock: core still reads no time of its own.
    static LAST_DATE: Cell<(i64, [u8; 29])> = const { Cell::new((i64::MIN, [0; 29])) };
}

/// Append [`http_date`]`(t)` to `out` without an intermediate `String`.
pub fn push_http_date(out: &mut Vec<u8>, t: SystemTime) {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs().min(i64::MAX as u64) as i64);
    let (last, text) = LAST_DATE.get();
    if last == secs {
        out.extend_from_slice(&text);
        return;
    }
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = (days + 4).rem_euclid(7) as usize;
    if !(0..=9999).contains(&year) {
        // Far-future years need more than four digits: the rare, slow path.
        let text = format!(
            "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
            DAYS[weekday],
            day,
            MONTHS[(month - 1) as usize],
            year,
            of_day / 3600,
            of_day / 60 % 60,
            of_day % 60
        );
        out.extend_from_slice(text.as_bytes());
        return;
    }
    let two = |n: i64| [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8];
    let (d, h, mi, se) = (
        two(i64::from(day)),
        two(of_day / 3600),
        two(of_day / 60 % 60),
        two(of_day % 60),
    );
    let (y1, y2) = (two(year / 100), two(year % 100));
    let wd = DAYS[weekday].as_bytes();
    let mo = MONTHS[(month - 1) as usize].as_bytes();
    let text = [
        wd[0], wd[1], wd[2], b',', b' ', d[0], d[1], b' ', mo[0], mo[1], mo[2], b' ', y1[0], y1[1],
        y2[0], y2[1], b' ', h[0], h[1], b':', mi[0], mi[1], b':', se[0], se[1], b' ', b'G', b'M',
        b'T',
    ];
    LAST_DATE.set((secs, text));
    out.extend_from_slice(&text);
}

/// Year, month (1..=12) and day (1..=31) of a day count since 1970-01-01, proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Parse an HTTP date: IMF-fixdate, and the obsolete RFC 850 and asctime forms a recipient must
/// accept. `None` when it is none of them.
///
/// RFC 850's two-digit years are read as 1970..=2069 (no clock is available here to apply
/// RFC 9110's "no more than 50 years in the future" rule). The weekday name must be valid but is
/// not checked against the date.
pub fn parse_http_date(value: &[u8]) -> Option<SystemTime> {
    // Every form is ASCII; checking that first also makes every byte offset below a char
    // boundary (a header value may carry obs-text, e.g. UTF-8 `é`).
    if !value.is_ascii() {
        return None;
    }
    let s = std::str::from_utf8(value).ok()?;
    let (year, month, day, time) = if let Some(rest) = strip_day(s, &DAYS, ", ") {
        // IMF-fixdate: "06 Nov 1994 08:49:37 GMT"
        let b = rest.as_bytes();
        if b.len() != 24 || b[2] != b' ' || b[6] != b' ' || b[11] != b' ' || &rest[20..] != " GMT" {
            return None;
        }
        (
            digits(&b[7..11])?,
            month(&rest[3..6])?,
            digits(&b[0..2])?,
            &rest[12..20],
        )
    } else if let Some(rest) = strip_day(s, &LONG_DAYS, ", ") {
        // RFC 850: "06-Nov-94 08:49:37 GMT"
        let b = rest.as_bytes();
        if b.len() != 22 || b[2] != b'-' || b[6] != b'-' || b[9] != b' ' || &rest[18..] != " GMT" {
            return None;
        }
        let yy = digits(&b[7..9])?;
        let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
        (year, month(&rest[3..6])?, digits(&b[0..2])?, &rest[10..18])
    } else if let Some(rest) = strip_day(s, &DAYS, " ") {
        // asctime: "Nov  6 08:49:37 1994"
        let b = rest.as_bytes();
        if b.len() != 20 || b[3] != b' ' || b[6] != b' ' || b[15] != b' ' {
            return None;
        }
        let day = match &b[4..6] {
            [b' ', d] => digits(&[*d])?,
            d => digits(d)?,
        };
        (digits(&b[16..20])?, month(&rest[0..3])?, day, &rest[7..15])
    } else {
        return None;
    };
    let t = time.as_bytes();
    if t[2] != b':' || t[5] != b':' {
        return None;
    }
    let (h, m, sec) = (digits(&t[0..2])?, digits(&t[3..5])?, digits(&t[6..8])?);
    if day == 0 || day > i64::from(days_in_month(year, month)) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day as u32);
    let secs = days * 86_400 + h * 3600 + m * 60 + sec;
    if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs as u64))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    }
}

fn strip_day<'a>(s: &'a str, names: &[&str], sep: &str) -> Option<&'a str> {
    names
        .iter()
        .find_map(|name| s.strip_prefix(name)?.strip_prefix(sep))
}

fn month(m: &str) -> Option<u32> {
    MONTHS.iter().position(|&x| x == m).map(|i| i as u32 + 1)
}

/// A fixed-width run of ASCII digits.
fn digits(d: &[u8]) -> Option<i64> {
    if d.is_empty() || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(d.iter().fold(0, |n, &c| n * 10 + i64::from(c - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_centuries() {
        for days in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn fast_date_matches_formatted_date() {
        // Stepping with a u64 (not `step_by`, whose usize step overflows on 32-bit wasm).
        for step in 0..39u64 {
            let secs = step * 7_777_777_777;
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            let days = (secs / 86_400) as i64;
            let of_day = secs % 86_400;
            let (y, m, d) = civil_from_days(days);
            let expected = format!(
                "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
                DAYS[(days + 4).rem_euclid(7) as usize],
                d,
                MONTHS[(m - 1) as usize],
                y,
                of_day / 3600,
                of_day / 60 % 60,
                of_day % 60
            );
            assert_eq!(http_date(t), expected);
        }
    }

    #[test]
    fn the_date_of_the_last_second_is_reused_only_within_that_second() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let text = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(http_date(t), text);
        // Same second, later within it: the same text.
        assert_eq!(http_date(t + Duration::from_millis(999)), text);
        // The next second, then back: each its own.
        let next = t + Duration::from_secs(1);
        assert_eq!(http_date(next), "Sun, 06 Nov 1994 08:49:38 GMT");
        assert_eq!(http_date(t), text);
        // A far-future date (the slow path) does not disturb the cache.
        let far = UNIX_EPOCH + Duration::from_secs(300_000_000_000);
        assert!(http_date(far).ends_with(" GMT"));
        assert_eq!(http_date(t), text);
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(days_from_civil(1994, 11, 6), 9075);
    }
}
