//! Access log lines in the Combined Log Format, as Apache and nginx write them and log
//! analysers (GoAccess, AWStats, ...) read them:
//!
//! ```text
//! host ident authuser [date] "request" status bytes "referer" "user-agent"
//! 127.0.0.1 - - [30/Nov/2026:01:08:21 +0000] "GET /index.html HTTP/1.1" 200 2326 "-" "curl/8.5.0"
//! ```
//!
//! `ident` and `authuser` are always `-`; the date is UTC; `bytes` counts the response body
//! (`-` when there is none); a missing request line, referer or user agent is `-`. The
//! balancer's line adds, after the standard fields, the server it redirected to in quotes
//! (`"127.0.0.1:8081"`, or `"-"` when it did not redirect).
//!
//! Inside quoted fields `"` and `\` are escaped with a backslash and every control or
//! non-ASCII byte is written `\xHH` (as Apache does), so a field can never end early or break
//! the line.

use crate::http::date::MONTHS;
use std::fmt::Display;
use std::time::{SystemTime, UNIX_EPOCH};

/// One request, as the log line shows it.
#[derive(Clone, Copy)]
pub struct Entry<'a> {
    /// The client's address, as the shell names it (its IP address).
    pub client: &'a dyn Display,
    /// When the request was received.
    pub time: SystemTime,
    /// Method, target and version, e.g. `("GET", "/x", "HTTP/1.1")`; `None` when no request
    /// head could be parsed.
    pub request: Option<(&'a str, &'a str, &'a str)>,
    /// The status answered.
    pub status: u16,
    /// Body bytes sent.
    pub body_bytes: u64,
    /// The `Referer` header's value.
    pub referer: Option<&'a [u8]>,
    /// The `User-Agent` header's value.
    pub user_agent: Option<&'a [u8]>,
}

/// Append `bytes` escaped for a quoted field.
fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(&[
                b'\\',
                b'x',
                HEX[(b >> 4) as usize],
                HEX[(b & 15) as usize],
            ]),
        }
    }
}

fn push_quoted(out: &mut Vec<u8>, field: Option<&[u8]>) {
    out.push(b'"');
    match field {
        Some(bytes) if !bytes.is_empty() => push_escaped(out, bytes),
        _ => out.push(b'-'),
    }
    out.push(b'"');
}

/// Append `[10/Oct/2000:13:55:36 +0000]`.
fn push_date(out: &mut Vec<u8>, t: SystemTime) {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs().min(i64::MAX as u64) as i64);
    let (year, month, day) = crate::http::date::civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    let text = format!(
        "[{day:02}/{}/{year:04}:{:02}:{:02}:{:02} +0000]",
        MONTHS[(month - 1) as usize],
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    );
    out.extend_from_slice(text.as_bytes());
}

fn push_standard(out: &mut Vec<u8>, entry: &Entry<'_>) {
    out.extend_from_slice(entry.client.to_string().as_bytes());
    out.extend_from_slice(b" - - ");
    push_date(out, entry.time);
    out.extend_from_slice(b" \"");
    match entry.request {
        Some((method, target, version)) => {
            push_escaped(out, method.as_bytes());
            out.push(b' ');
            push_escaped(out, target.as_bytes());
            out.push(b' ');
            push_escaped(out, version.as_bytes());
        }
        None => out.push(b'-'),
    }
    out.extend_from_slice(b"\" ");
    crate::http::write::push_decimal(out, u64::from(entry.status));
    out.push(b' ');
    if entry.body_bytes == 0 {
        out.push(b'-');
    } else {
        crate::http::write::push_decimal(out, entry.body_bytes);
    }
    out.push(b' ');
    push_quoted(out, entry.referer);
    out.push(b' ');
    push_quoted(out, entry.user_agent);
}

/// Append the Combined Log Format line for `entry`, newline included.
pub fn write_combined(entry: &Entry<'_>, out: &mut Vec<u8>) {
    push_standard(out, entry);
    out.push(b'\n');
}

/// Append the balancer's line: the Combined Log Format fields, then the server redirected to
/// (`host:port`) in quotes, `"-"` for none; newline included.
pub fn write_redirect(entry: &Entry<'_>, server: Option<&str>, out: &mut Vec<u8>) {
    push_standard(out, entry);
    out.push(b' ');
    push_quoted(out, server.map(str::as_bytes));
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry() -> Entry<'static> {
        Entry {
            client: &"127.0.0.1",
            // 2000-10-10T13:55:36Z
            time: UNIX_EPOCH + Duration::from_secs(971_186_136),
            request: Some(("GET", "/apache_pb.gif", "HTTP/1.0")),
            status: 200,
            body_bytes: 2326,
            referer: Some(b"http://www.example.com/start.html"),
            user_agent: Some(b"Mozilla/4.08 [en] (Win98; I ;Nav)"),
        }
    }

    fn line(entry: &Entry<'_>) -> String {
        let mut out = Vec::new();
        write_combined(entry, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn apache_documentation_example() {
        assert_eq!(
            line(&entry()),
            "127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] \"GET /apache_pb.gif HTTP/1.0\" 200 2326 \
             \"http://www.example.com/start.html\" \"Mozilla/4.08 [en] (Win98; I ;Nav)\"\n"
        );
    }

    #[test]
    fn missing_fields_are_dashes() {
        let e = Entry {
            client: &"::1",
            request: None,
            status: 408,
            body_bytes: 0,
            referer: None,
            user_agent: Some(b""),
            ..entry()
        };
        assert_eq!(
            line(&e),
            "::1 - - [10/Oct/2000:13:55:36 +0000] \"-\" 408 - \"-\" \"-\"\n"
        );
    }

    #[test]
    fn quotes_backslashes_and_control_bytes_cannot_break_the_line() {
        let e = Entry {
            referer: Some(b"a\"b\\c"),
            user_agent: Some(b"x\r\ny\x00\xff\tz"),
            ..entry()
        };
        let text = line(&e);
        assert!(
            text.ends_with(" \"a\\\"b\\\\c\" \"x\\x0d\\x0ay\\x00\\xff\\x09z\"\n"),
            "{text}"
        );
        assert_eq!(text.matches('\n').count(), 1);
    }

    #[test]
    fn the_balancer_names_the_server_after_the_standard_fields() {
        let mut out = Vec::new();
        write_redirect(&entry(), Some("[::1]:8081"), &mut out);
        write_redirect(
            &Entry {
                status: 503,
                ..entry()
            },
            None,
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].ends_with("(Win98; I ;Nav)\" \"[::1]:8081\""),
            "{text}"
        );
        assert!(lines[1].ends_with(" \"-\""), "{text}");
        assert!(lines[1].contains("\" 503 2326 "), "{text}");
    }
}
