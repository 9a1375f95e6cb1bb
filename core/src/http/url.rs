//! `http://` and `https://` URLs: parsing, RFC 3986 reference resolution and percent-encoding.
//! The core knows the scheme and its default port; TLS itself is the native shell's.

/// An absolute `http` or `https` URL. Only what Ricochet needs: scheme, host, port and
/// path-and-query (no userinfo, no fragment: a fragment is dropped when parsing).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Url {
    scheme: Scheme,
    host: String,
    port: u16,
    path_and_query: String,
}

/// The two schemes Ricochet speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `http://`: plain TCP, port 80 by default.
    Http,
    /// `https://`: TLS, port 443 by default.
    Https,
}

impl Scheme {
    /// The port a URL of this scheme means when it names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The scheme named `name` (case-insensitive), if it is one of the two.
    pub fn from_name(name: &str) -> Option<Scheme> {
        if name.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else if name.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else {
            None
        }
    }
}

/// Why a URL was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// Another scheme (`ftp:`, `file:` ...), or none at all.
    UnsupportedScheme(String),
    /// No host after `http://`.
    MissingHost,
    /// A port that is not a number from 1 to 65535.
    BadPort,
    /// Anything else: the string says what.
    Malformed(&'static str),
}

impl std::fmt::Display for UrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UrlError::UnsupportedScheme(s) if s.is_empty() => {
                f.write_str("not an absolute URL: it needs http:// or https:// in front")
            }
            UrlError::UnsupportedScheme(s) => {
                write!(
                    f,
                    "scheme '{s}' is not supported, only http:// and https://"
                )
            }
            UrlError::MissingHost => f.write_str("the URL has no host"),
            UrlError::BadPort => f.write_str("the port must be a number from 1 to 65535"),
            UrlError::Malformed(why) => write!(f, "malformed URL: {why}"),
        }
    }
}

impl std::error::Error for UrlError {}

impl Url {
    /// Parse an absolute `http://host[:port][/path][?query][#fragment]` URL (or `https://`). The
    /// scheme and host are case-insensitive (stored lower-case); IPv6 literals go in brackets; the
    /// default port is 80 for http, 443 for https; an empty path becomes `/`. Bytes that may not appear in a URI are percent-encoded.
    ///
    /// Also: surrounding ASCII whitespace is ignored; userinfo (`user@host`) is refused as
    /// [`UrlError::Malformed`] (Ricochet never needs it, and it is a classic way to disguise the
    /// real host); an empty port (`http://host:/`) means the default; dot segments (`/a/../b`) are removed
    /// as RFC 3986 section 5.2.2 does for an absolute reference, so `parse(s)` and
    /// `any_base.join(s)` agree.
    pub fn parse(input: &str) -> Result<Url, UrlError> {
        let input = input.trim_matches(|c: char| c.is_ascii_whitespace());
        let parts = split_reference(input);
        let scheme = match parts.scheme {
            Some(s) => s,
            None => return Err(UrlError::UnsupportedScheme(String::new())),
        };
        let scheme = Scheme::from_name(scheme)
            .ok_or_else(|| UrlError::UnsupportedScheme(scheme.to_ascii_lowercase()))?;
        let authority = match parts.authority {
            Some(a) => a,
            None => return Err(UrlError::Malformed("expected // after the scheme")),
        };
        let (host, port) = parse_authority(authority)?;
        let path = if parts.path.is_empty() {
            "/".to_string()
        } else {
            remove_dot_segments(parts.path)
        };
        Ok(Url {
            scheme,
            host,
            port: port.unwrap_or(scheme.default_port()),
            path_and_query: build_path_and_query(&path, parts.query),
        })
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Host without brackets (`::1`, `127.0.0.1`, `example.com`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Port (the scheme's default when the URL named none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Path and query, starting with `/`, percent-encoded: what goes on the request line.
    pub fn path_and_query(&self) -> &str {
        &self.path_and_query
    }

    /// The path alone (no query), starting with `/`, percent-encoded.
    pub fn path(&self) -> &str {
        match self.path_and_query.find('?') {
            Some(i) => &self.path_and_query[..i],
            None => &self.path_and_query,
        }
    }

    /// The query without `?`, if there is one.
    pub fn query(&self) -> Option<&str> {
        self.path_and_query
            .find('?')
            .map(|i| &self.path_and_query[i + 1..])
    }

    /// The `Host` header value: host (bracketed if IPv6) plus `:port` unless it is the scheme's
    /// default.
    pub fn authority(&self) -> String {
        if self.port == self.scheme.default_port() {
            bracketed(&self.host)
        } else {
            self.socket_addr()
        }
    }

    /// `host:port` for connecting, IPv6 bracketed: `[::1]:8080`.
    pub fn socket_addr(&self) -> String {
        format!("{}:{}", bracketed(&self.host), self.port)
    }

    /// Resolve a reference (a `Location` value, absolute or relative) against this URL, per
    /// RFC 3986 section 5 (dot segments removed).
    ///
    /// Handles every reference form: absolute (`http://h/x`, which goes through [`Url::parse`]),
    /// network-path (`//h/x`, keeps the base's scheme), absolute-path
    /// (`/x`), relative-path (`x`, `../x`), query-only (`?q`) and empty (the base without its
    /// fragment). A fragment in the reference is dropped; bytes not allowed in a URI are
    /// percent-encoded.
    pub fn join(&self, reference: &str) -> Result<Url, UrlError> {
        let reference = reference.trim_matches(|c: char| c.is_ascii_whitespace());
        let parts = split_reference(reference);
        if parts.scheme.is_some() {
            return Url::parse(reference);
        }
        if parts.authority.is_some() {
            return Url::parse(&format!("{}:{reference}", self.scheme.as_str()));
        }
        let (path, query) = if parts.path.is_empty() {
            (self.path().to_string(), parts.query.or(self.query()))
        } else if parts.path.starts_with('/') {
            (remove_dot_segments(parts.path), parts.query)
        } else {
            // Merge (RFC 3986 section 5.2.3): the base always has an authority and a path that
            // starts with `/`, so everything up to its last `/` is kept.
            let base = self.path();
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            let merged = format!("{dir}{}", parts.path);
            (remove_dot_segments(&merged), parts.query)
        };
        Ok(Url {
            scheme: self.scheme,
            host: self.host.clone(),
            port: self.port,
            path_and_query: build_path_and_query(&path, query),
        })
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.as_str(),
            self.authority(),
            self.path_and_query
        )
    }
}

/// A reference split per RFC 3986 appendix B (fragment dropped).
struct Reference<'a> {
    scheme: Option<&'a str>,
    authority: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
}

fn split_reference(input: &str) -> Reference<'_> {
    let input = match input.find('#') {
        Some(i) => &input[..i],
        None => input,
    };
    let mut rest = input;
    let mut scheme = None;
    if let Some(i) = rest.find([':', '/', '?']) {
        if rest.as_bytes()[i] == b':' && is_scheme(&rest[..i]) {
            scheme = Some(&rest[..i]);
            rest = &rest[i + 1..];
        }
    }
    let mut authority = None;
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?']).unwrap_or(after.len());
        authority = Some(&after[..end]);
        rest = &after[end..];
    }
    let (path, query) = match rest.find('?') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    Reference {
        scheme,
        authority,
        path,
        query,
    }
}

/// `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

fn build_path_and_query(path: &str, query: Option<&str>) -> String {
    let mut out = String::with_capacity(path.len() + query.map_or(0, |q| q.len() + 1));
    encode_uri(path.as_bytes(), &mut out);
    if let Some(q) = query {
        out.push('?');
        encode_uri(q.as_bytes(), &mut out);
    }
    // A `#` cannot reach here from a parsed reference (it starts the fragment), so the result
    // always has exactly the path and query it was given.
    out
}

/// Parse `host[:port]` (IPv6 in brackets). The host comes back lower-case without brackets, the
/// port is `None` when absent or empty. Shared with the balancer's server list.
pub(crate) fn parse_authority(authority: &str) -> Result<(String, Option<u16>), UrlError> {
    if authority.contains('@') {
        return Err(UrlError::Malformed("userinfo (user@host) is not supported"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6
            .find(']')
            .ok_or(UrlError::Malformed("unclosed [ in IPv6 host"))?;
        let host = &v6[..end];
        if !is_ipv6(host) {
            return Err(UrlError::Malformed("invalid IPv6 address"));
        }
        let after = &v6[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(UrlError::Malformed("unexpected text after IPv6 host")),
        };
        (host, port)
    } else if authority.matches(':').count() > 1 {
        return Err(UrlError::Malformed("an IPv6 host must be in brackets"));
    } else {
        match authority.find(':') {
            Some(i) => (&authority[..i], Some(&authority[i + 1..])),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':'))
    {
        return Err(UrlError::Malformed("invalid character in host"));
    }
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(parse_port(p)?),
    };
    Ok((host.to_ascii_lowercase(), port))
}

fn parse_port(p: &str) -> Result<u16, UrlError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::BadPort);
    }
    match p.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        _ => Err(UrlError::BadPort),
    }
}

/// RFC 4291 section 2.2 text forms: eight groups of 1 to 4 hex digits, at most one `::`
/// standing for one or more zero groups, optionally ending with a dotted IPv4 address (which
/// counts as two groups). Zone identifiers are not accepted.
fn is_ipv6(s: &str) -> bool {
    fn groups(part: &str) -> Option<usize> {
        if part.is_empty() {
            return Some(0);
        }
        let pieces: Vec<&str> = part.split(':').collect();
        let mut count = 0;
        for (i, piece) in pieces.iter().enumerate() {
            if i == pieces.len() - 1 && piece.contains('.') {
                if !is_ipv4(piece) {
                    return None;
                }
                count += 2;
            } else if (1..=4).contains(&piece.len()) && piece.bytes().all(|b| b.is_ascii_hexdigit())
            {
                count += 1;
            } else {
                return None;
            }
        }
        Some(count)
    }
    match s.find("::") {
        Some(i) => {
            let (left, right) = (&s[..i], &s[i + 2..]);
            if right.contains("::") || left.contains('.') {
                return false;
            }
            matches!((groups(left), groups(right)), (Some(l), Some(r)) if l + r <= 7)
        }
        None => groups(s) == Some(8),
    }
}

fn is_ipv4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            (1..=3).contains(&p.len())
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

/// RFC 3986 section 5.2.4, on a path that is empty or starts with `/` (or a relative path,
/// whose leading `../` and `./` are dropped). The result of a path starting with `/` starts with
/// `/`.
pub(crate) fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut output = String::with_capacity(path.len());
    fn pop(output: &mut String) {
        let cut = output.rfind('/').unwrap_or(0);
        output.truncate(cut);
    }
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../") {
            input = rest;
        } else if let Some(rest) = input.strip_prefix("./") {
            input = rest;
        } else if input.starts_with("/./") {
            input = &input[2..];
        } else if input == "/." {
            input = "/";
        } else if input.starts_with("/../") {
            input = &input[3..];
            pop(&mut output);
        } else if input == "/.." {
            input = "/";
            pop(&mut output);
        } else if input == "." || input == ".." {
            input = "";
        } else {
            let start = usize::from(input.starts_with('/'));
            let end = input[start..].find('/').map_or(input.len(), |i| i + start);
            output.push_str(&input[..end]);
            input = &input[end..];
        }
    }
    output
}

/// Whether a request's `path` (still percent-encoded) holds a NUL, raw or as `%00`. Such a path
/// names nothing and only serves to cut a name short, so the request is malformed: 400 from the
/// file server and the balancer alike (nginx refuses it too). In a well-formed path every `%`
/// starts an escape, so finding `%00` is decoding.
pub fn path_holds_nul(path: &str) -> bool {
    // One pass (every request to the balancer and the server asks), eight bytes at a time up
    // to the first word holding a `%` or a NUL.
    use crate::http::grammar::{bytes_below, bytes_equal, skip_words};
    let bytes = path.as_bytes();
    let mut rest = &bytes[skip_words(bytes, |w| bytes_equal(w, b'%') | bytes_below(w, 1))..];
    while let Some(i) = rest.iter().position(|&b| b == b'%' || b == 0) {
        if rest[i] == 0 || rest[i + 1..].starts_with(b"00") {
            return true;
        }
        rest = &rest[i + 1..];
    }
    false
}

/// Whether a request's `path` (still percent-encoded) is malformed: it holds a NUL (see
/// [`path_holds_nul`]) or a `%` not followed by two hex digits (RFC 3986, section 2.1). The
/// balancer answers such a request 400, as the file server and nginx do, instead of
/// redirecting it with the `%` escaped as `%25`, which would name another path. One pass,
/// eight bytes at a time up to the first word holding a `%` or a NUL.
pub fn path_is_malformed(path: &str) -> bool {
    use crate::http::grammar::{bytes_below, bytes_equal, skip_words};
    let bytes = path.as_bytes();
    let mut rest = &bytes[skip_words(bytes, |w| bytes_equal(w, b'%') | bytes_below(w, 1))..];
    while let Some(i) = rest.iter().position(|&b| b == b'%' || b == 0) {
        if rest[i] == 0 {
            return true;
        }
        match rest.get(i + 1..i + 3) {
            Some(&[h, l]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                if h == b'0' && l == b'0' {
                    return true;
                }
                rest = &rest[i + 3..];
            }
            _ => return true,
        }
    }
    false
}

/// Decode `%XX` escapes. A `%` not followed by two hex digits is an error.
pub fn percent_decode(input: &[u8]) -> Result<Vec<u8>, UrlError> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            match (input.get(i + 1), input.get(i + 2)) {
                (Some(&h), Some(&l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                    out.push(hex_value(h) << 4 | hex_value(l));
                    i += 3;
                }
                _ => return Err(UrlError::Malformed("% not followed by two hex digits")),
            }
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// RFC 3986's unreserved characters and sub-delims: what every URI component may hold as
/// itself.
pub(crate) const fn is_unreserved_or_sub_delim(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
        )
}

/// Whether `b` may appear as itself in a URI's path or query: unreserved, gen-delims and
/// sub-delims (RFC 3986 section 2). `%` is handled separately.
const fn is_uri_byte(b: u8) -> bool {
    is_unreserved_or_sub_delim(b) || matches!(b, b':' | b'/' | b'?' | b'#' | b'[' | b']' | b'@')
}

/// Bytes [`push_uri_encoded`] copies as they are: [`is_uri_byte`] but `#` and `%`.
static URI_RUN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = is_uri_byte(b as u8) && b as u8 != b'#' && b as u8 != b'%';
        b += 1;
    }
    table
};

/// [`encode_uri`] into bytes, with `#` percent-encoded too (a redirect's path and query hold no
/// fragment): the same output as `encode_uri` followed by replacing `#` with `%23`, written
/// straight into `out` a run of plain bytes at a time.
pub(crate) fn push_uri_encoded(input: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut rest = input;
    loop {
        let run = rest
            .iter()
            .position(|&b| !URI_RUN[usize::from(b)])
            .unwrap_or(rest.len());
        out.extend_from_slice(&rest[..run]);
        let [b, after @ ..] = &rest[run..] else {
            return;
        };
        match (b, after) {
            (b'%', [h, l, ..]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => out.push(b'%'),
            _ => out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]),
        }
        rest = after;
    }
}

/// Append `%XX` for `b`.
fn push_escape(b: u8, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(HEX[usize::from(b >> 4)] as char);
    out.push(HEX[usize::from(b & 15)] as char);
}

/// Append one path segment (`input`, decoded) to `out`, percent-encoding every byte but the
/// unreserved characters, sub-delims, `:` and `@`: `%`, `/`, `?` and `#` included, so the
/// segment reads back as exactly `input`.
pub fn encode_path_segment(input: &[u8], out: &mut String) {
    for &b in input {
        if is_unreserved_or_sub_delim(b) || matches!(b, b':' | b'@') {
            out.push(b as char);
        } else {
            push_escape(b, out);
        }
    }
}

/// Append `input` to `out`, percent-encoding every byte that may not appear in a URI's path or
/// query (controls, space, `"`, `<`, `>`, `\`, `^`, `` ` ``, `{`, `|`, `}`, DEL, non-ASCII) and
/// every `%` that does not start a valid `%XX` escape. Valid escapes and reserved characters are
/// kept, so an already-encoded path passes through unchanged.
///
/// The output is always printable ASCII without space, so it can go into a header or a
/// request line as is. Encoding is idempotent: `encode(encode(x)) == encode(x)`.
pub fn encode_uri(input: &[u8], out: &mut String) {
    out.reserve(input.len());
    for (i, &b) in input.iter().enumerate() {
        let keep = if b == b'%' {
            matches!(
                (input.get(i + 1), input.get(i + 2)),
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit()
            )
        } else {
            is_uri_byte(b)
        };
        if keep {
            out.push(b as char);
        } else {
            push_escape(b, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_raw_or_as_percent_00_is_found_anywhere() {
        for path in ["/a%00", "%00", "/\0", "/%%00/x", "/%0%00", "/a\0b%4"] {
            assert!(path_holds_nul(path), "{path:?}");
        }
        for path in ["", "/", "/%0", "/%", "/%0a0", "/%2500", "/a%20b%01", "/0%0"] {
            assert!(!path_holds_nul(path), "{path:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn path_holds_nul_is_a_search_for_percent_00_and_nul(path in "[/a0%\\x00]{0,40}") {
            let expected = path.contains("%00") || path.contains('\0');
            proptest::prop_assert_eq!(path_holds_nul(&path), expected);
        }
    }
}
