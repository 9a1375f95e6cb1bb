//! Writers for response heads (server, balancer) and request heads (client), and HTTP dates.
//!
//! Writers append to a caller-owned `Vec<u8>` so a connection can reuse one output buffer.
//! Header values given to the writers must not contain CR or LF; values that do are refused
//! (never written), so no caller can split a header.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A response head under construction. Build it, then [`ResponseHead::write`] it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code; the reason phrase comes from [`crate::status::reason_phrase`].
    pub status: u16,
    /// Header fields, in order, written after the status line.
    pub headers: Vec<(&'static str, String)>,
}

/// Why a head could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteError {
    /// A header value contained CR, LF, NUL or another control byte (HTAB is fine), a header
    /// name was not a token, or the status was outside 100..=999.
    InvalidHeaderValue,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("header value contains CR, LF, NUL or another control byte")
    }
}

impl std::error::Error for WriteError {}

impl ResponseHead {
    /// A head with this status and no headers yet.
    pub fn new(status: u16) -> Self {
        ResponseHead {
            status,
            headers: Vec::new(),
        }
    }

    /// Add a header. Chainable.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Append the status line (`HTTP/1.1 <status> <reason>`), the headers and the final CRLF.
    ///
    /// Nothing is written when the head is refused: a value containing CR, LF, NUL or another
    /// control byte, a name
    /// that is not a token, or a status outside 100..=999 all give
    /// [`WriteError::InvalidHeaderValue`] and leave `out` untouched.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), WriteError> {
        if !(100..=999).contains(&self.status) {
            return Err(WriteError::InvalidHeaderValue);
        }
        let mut len = 17;
        for (name, value) in &self.headers {
            if name.is_empty() || !name.bytes().all(|b| crate::request::TOKEN[b as usize]) {
                return Err(WriteError::InvalidHeaderValue);
            }
            // CR, LF and NUL could split or truncate the head; other controls would make the
            // peer (and this crate's own parser) reject it.
            if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
                return Err(WriteError::InvalidHeaderValue);
            }
            len += name.len() + value.len() + 4;
        }
        let reason = crate::status::reason_phrase(self.status);
        out.reserve(len + reason.len());
        out.extend_from_slice(b"HTTP/1.1 ");
        push_status(out, self.status);
        out.push(b' ');
        out.extend_from_slice(reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.trim_matches([' ', '\t']).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }
}

fn push_status(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(&[
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ]);
}

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
const MONTHS: [&str; 12] = [
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

/// Append [`http_date`]`(t)` to `out` without an intermediate `String`.
pub fn push_http_date(out: &mut Vec<u8>, t: SystemTime) {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs().min(i64::MAX as u64) as i64);
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
    out.extend_from_slice(&[
        wd[0], wd[1], wd[2], b',', b' ', d[0], d[1], b' ', mo[0], mo[1], mo[2], b' ', y1[0], y1[1],
        y2[0], y2[1], b' ', h[0], h[1], b':', mi[0], mi[1], b':', se[0], se[1], b' ', b'G', b'M',
        b'T',
    ]);
}

/// Append the decimal digits of `n`.
pub(crate) fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
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

/// Append a client request head: `<method> <path> HTTP/1.1`, `Host` (with the port unless it is
/// 80), `User-Agent`, `Accept: */*`, and `Connection: close` unless `keep_alive`.
///
/// `method` must be a token (the client sends GET or HEAD). A `user_agent` containing CR, LF or
/// NUL is refused: the `User-Agent` field is then left out rather than split.
pub fn write_request_head(
    out: &mut Vec<u8>,
    method: &str,
    url: &crate::url::Url,
    user_agent: &str,
    keep_alive: bool,
) {
    let path = url.path_and_query();
    let authority = url.authority();
    out.reserve(method.len() + path.len() + authority.len() + user_agent.len() + 80);
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(authority.as_bytes());
    out.extend_from_slice(b"\r\n");
    if !user_agent.is_empty() && !user_agent.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        out.extend_from_slice(b"User-Agent: ");
        out.extend_from_slice(user_agent.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Accept: */*\r\n");
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
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
        let mut out = Vec::new();
        push_decimal(&mut out, 0);
        out.push(b' ');
        push_decimal(&mut out, u64::MAX);
        assert_eq!(out, b"0 18446744073709551615");
    }

    #[test]
    fn known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(days_from_civil(1994, 11, 6), 9075);
    }
}
