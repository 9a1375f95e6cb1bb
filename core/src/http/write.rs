//! Writers for response heads (server, balancer) and request heads (client).
//!
//! Writers append to a caller-owned `Vec<u8>` so a connection can reuse one output buffer.
//! Header values given to the writers must not contain CR or LF; values that do are refused
//! (never written), so no caller can split a header.

/// A response head under construction. Build it, then [`ResponseHead::write`] it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code; the reason phrase comes from [`crate::http::status::reason_phrase`].
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

impl WriteError {
    /// What a server answers when its own head cannot be written: its fault, 500.
    pub fn status(self) -> crate::http::status::Status {
        crate::http::status::Status::INTERNAL_SERVER_ERROR
    }
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
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| crate::http::grammar::TOKEN[b as usize])
            {
                return Err(WriteError::InvalidHeaderValue);
            }
            // CR, LF and NUL could split or truncate the head; other controls would make the
            // peer (and this crate's own parser) reject it.
            if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
                return Err(WriteError::InvalidHeaderValue);
            }
            len += name.len() + value.len() + 4;
        }
        let reason = crate::http::status::reason_phrase(self.status);
        out.reserve(len + reason.len());
        push_status_line(out, self.status);
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

/// Append `HTTP/1.1 <status> <reason>` and its CRLF (`status` in 100..=999).
pub(crate) fn push_status_line(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(&[
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
        b' ',
    ]);
    out.extend_from_slice(crate::http::status::reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Append the decimal digits of `n`.
pub(crate) fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    // Lengths and small counts, the usual case, as one fixed-size copy each (no call to
    // memcpy for a slice of unknown length).
    let digit = |n: u64| b'0' + (n % 10) as u8;
    match n {
        0..=9 => return out.push(digit(n)),
        10..=99 => return out.extend_from_slice(&[digit(n / 10), digit(n)]),
        100..=999 => return out.extend_from_slice(&[digit(n / 100), digit(n / 10), digit(n)]),
        1_000..=9_999 => {
            let digits = [digit(n / 1_000), digit(n / 100), digit(n / 10), digit(n)];
            return out.extend_from_slice(&digits);
        }
        _ => {}
    }
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

/// Append the answer to `OPTIONS *` or `OPTIONS /path`: `204 No Content` with
/// `Allow: GET, HEAD, OPTIONS` and a `Date`, no Content-Length (a 204 has no body; RFC 9110
/// section 8.6), and `Connection: keep-alive` or `close` as every other answer says it.
pub fn write_options_response(out: &mut Vec<u8>, now: std::time::SystemTime, keep_alive: bool) {
    out.extend_from_slice(b"HTTP/1.1 204 No Content\r\nDate: ");
    crate::http::date::push_http_date(out, now);
    out.extend_from_slice(b"\r\nAllow: ");
    out.extend_from_slice(crate::http::error_page::ALLOW.as_bytes());
    out.extend_from_slice(b"\r\nConnection: ");
    out.extend_from_slice(crate::http::error_page::connection_value(keep_alive).as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
}

/// Append a client request head: `<method> <path> HTTP/1.1`, `Host` (with the port unless it is
/// 80), `User-Agent`, `Accept: */*`, and `Connection: close` unless `keep_alive`.
///
/// `method` must be a token (the client sends GET or HEAD). A `user_agent` containing CR, LF or
/// NUL is refused: the `User-Agent` field is then left out rather than split.
pub fn write_request_head(
    out: &mut Vec<u8>,
    method: &str,
    url: &crate::http::url::Url,
    user_agent: &str,
    keep_alive: bool,
) {
    write_request_head_with(out, method, url, user_agent, keep_alive, &[]);
}

/// [`write_request_head`] with more fields before the blank line (e.g. `Range`). A field whose
/// value holds CR, LF or NUL is left out rather than split.
pub fn write_request_head_with(
    out: &mut Vec<u8>,
    method: &str,
    url: &crate::http::url::Url,
    user_agent: &str,
    keep_alive: bool,
    fields: &[(&str, &[u8])],
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
    for (name, value) in fields {
        if !value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_from_zero_to_the_largest() {
        let mut out = Vec::new();
        push_decimal(&mut out, 0);
        out.push(b' ');
        push_decimal(&mut out, u64::MAX);
        assert_eq!(out, b"0 18446744073709551615");
    }

    #[test]
    fn decimals_agree_with_format_around_every_length() {
        let mut around = vec![0, 1, u64::MAX];
        for p in 1..20 {
            let power = 10u64.pow(p);
            around.extend([power - 1, power, power + 1]);
        }
        around.extend(0..1_200);
        for n in around {
            let mut out = b"x".to_vec();
            push_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}").as_bytes());
        }
    }
}
