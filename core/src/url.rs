//! `http://` URLs: parsing, RFC 3986 reference resolution and percent-encoding.

/// An absolute `http` URL. Only what Ricochet needs: host, port and path-and-query
/// (no userinfo, no fragment: a fragment is dropped when parsing).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Url {
    host: String,
    port: u16,
    path_and_query: String,
}

/// Why a URL was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// `https://`: Ricochet does not speak TLS.
    HttpsNotSupported,
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
            UrlError::HttpsNotSupported => f.write_str("https is not supported, only http://"),
            UrlError::UnsupportedScheme(s) if s.is_empty() => {
                f.write_str("not an absolute URL: it needs http:// in front")
            }
            UrlError::UnsupportedScheme(s) => {
                write!(f, "scheme '{s}' is not supported, only http://")
            }
            UrlError::MissingHost => f.write_str("the URL has no host"),
            UrlError::BadPort => f.write_str("the port must be a number from 1 to 65535"),
            UrlError::Malformed(why) => write!(f, "malformed URL: {why}"),
        }
    }
}

impl std::error::Error for UrlError {}

impl Url {
    /// Parse an absolute `http://host[:port][/path][?query][#fragment]` URL. The scheme and host
    /// are case-insensitive (stored lower-case); IPv6 literals go in brackets; the default port is
    /// 80; an empty path becomes `/`. Bytes that may not appear in a URI are percent-encoded.
    pub fn parse(input: &str) -> Result<Url, UrlError> {
        let _ = input;
        todo!("core-app helper")
    }

    /// Host without brackets (`::1`, `127.0.0.1`, `example.com`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Port (80 when the URL named none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Path and query, starting with `/`, percent-encoded: what goes on the request line.
    pub fn path_and_query(&self) -> &str {
        &self.path_and_query
    }

    /// The `Host` header value: host (bracketed if IPv6) plus `:port` unless it is 80.
    pub fn authority(&self) -> String {
        todo!("core-app helper")
    }

    /// `host:port` for connecting, IPv6 bracketed: `[::1]:8080`.
    pub fn socket_addr(&self) -> String {
        todo!("core-app helper")
    }

    /// Resolve a reference (a `Location` value, absolute or relative) against this URL, per
    /// RFC 3986 section 5 (dot segments removed).
    pub fn join(&self, reference: &str) -> Result<Url, UrlError> {
        let _ = reference;
        todo!("core-app helper")
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.authority(), self.path_and_query)
    }
}

/// Decode `%XX` escapes. A `%` not followed by two hex digits is an error.
pub fn percent_decode(input: &[u8]) -> Result<Vec<u8>, UrlError> {
    let _ = input;
    todo!("core-app helper")
}

/// Append `input` to `out`, percent-encoding every byte that may not appear in a URI's path or
/// query (controls, space, `"`, `<`, `>`, `\`, `^`, `` ` ``, `{`, `|`, `}`, DEL, non-ASCII) and
/// every `%` that does not start a valid `%XX` escape. Valid escapes and reserved characters are
/// kept, so an already-encoded path passes through unchanged.
pub fn encode_uri(input: &[u8], out: &mut String) {
    let _ = (input, out);
    todo!("core-app helper")
}
