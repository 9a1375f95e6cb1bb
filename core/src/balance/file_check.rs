//! What one file check yields, and whether a server's copy of a file is the current one.
//!
//! A file check is one `HEAD` of a path, on a server of the pool or on the origin (the server
//! that holds the authoritative copy of every file). The shell runs it for a [`CheckJob`] handed
//! out by [`crate::balance::file_index::FileIndex::poll_check`] and hands back a [`CheckResult`]:
//! the answer's status, `Content-Length`, `Last-Modified` and digest ([`FileHead`]), or why there
//! was none ([`CheckFailure`]). [`judge_copy`] compares a server's head with the origin's and
//! says where the server stands for that file ([`Presence`]).

use crate::http::digest::{self, Algorithm, Digest};
use crate::http::response::Response;
use crate::http::status::Status;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Who a check asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// The server at this index of the [`crate::balance::pool::Pool`].
    Server(usize),
    /// The origin.
    Origin,
}

/// One check to run: a `HEAD` of [`CheckJob::path`] on [`CheckJob::target`], answered with
/// [`crate::balance::file_index::FileIndex::handle_check`] (the job itself tells the index which
/// check the answer belongs to, so a late answer to a check that already timed out is ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckJob {
    target: Target,
    path: Arc<str>,
    id: u64,
}

impl CheckJob {
    pub(crate) fn new(target: Target, path: Arc<str>, id: u64) -> CheckJob {
        CheckJob { target, path, id }
    }

    /// Who to ask.
    pub fn target(&self) -> Target {
        self.target
    }

    /// The request path to ask about, as the client sent it (the server's prefix is the
    /// shell's to add, as for a redirect).
    pub fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn shared_path(&self) -> &Arc<str> {
        &self.path
    }
}

/// What a `HEAD` answered, as far as deciding which copy a server holds goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHead {
    /// The status (redirects are not followed: a 301 is a 301).
    pub status: Status,
    /// `Content-Length`, if given.
    pub length: Option<u64>,
    /// `Last-Modified`, if given and valid.
    pub modified: Option<SystemTime>,
    /// The SHA-256 digest of the content, if the answer gave one (`Repr-Digest` or `Digest`;
    /// the checks ask for it with [`WANT_DIGEST_FIELDS`]). Boxed: most answers have none, and
    /// every remembered answer pays only a pointer for it.
    pub digest: Option<Box<Digest>>,
}

impl FileHead {
    /// A `200 OK` with this length and modification time, no digest.
    pub fn ok(length: u64, modified: SystemTime) -> FileHead {
        FileHead {
            status: Status::OK,
            length: Some(length),
            modified: Some(modified),
            digest: None,
        }
    }

    /// What a `HEAD` response says: its status, `Content-Length` (a HEAD's is the length a GET
    /// would get), `Last-Modified`, and its SHA-256 digest from `Repr-Digest` (RFC 9530) or
    /// else `Digest` (RFC 3230). A malformed length or date counts as absent, so such a copy
    /// never matches an origin that gives one; a malformed digest is no digest.
    pub fn from_response(response: &Response<'_>) -> FileHead {
        let length = response
            .header("content-length")
            .and_then(|v| crate::http::grammar::parse_content_length(v.trim_ascii()).ok());
        let modified = response
            .header("last-modified")
            .and_then(|v| crate::http::date::parse_http_date(v.trim_ascii()));
        let sha256 = |digests: Vec<Digest>| {
            digests
                .into_iter()
                .find(|d| d.algorithm() == Algorithm::Sha256)
        };
        let digest = response
            .header("repr-digest")
            .and_then(|v| sha256(digest::parse_repr_digest(v)))
            .or_else(|| {
                response
                    .header("digest")
                    .and_then(|v| sha256(digest::parse_digest(v)))
            });
        FileHead {
            status: Status::from_code(response.status),
            length,
            modified,
            digest: digest.map(Box::new),
        }
    }

    /// Any other status, without length, date or digest (a 404, a 410, a 500...).
    pub fn with_status(status: Status) -> FileHead {
        FileHead {
            status,
            length: None,
            modified: None,
            digest: None,
        }
    }
}

/// The fields a check sends to be given the file's SHA-256 digest: RFC 9530's
/// `Want-Repr-Digest` and RFC 3230's `Want-Digest` (servers that know only the older one).
pub const WANT_DIGEST_FIELDS: [(&str, &[u8]); 2] = [
    ("Want-Repr-Digest", b"sha-256=10"),
    ("Want-Digest", b"SHA-256"),
];

/// Why a check gave no answer. Either way the server's copy is unknown (never "lacks it"), and
/// the check is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckFailure {
    /// No complete head before the verify timeout.
    Timeout,
    /// Could not connect, or the answer was not HTTP.
    Error,
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckFailure::Timeout => "check timed out",
            CheckFailure::Error => "check failed",
        })
    }
}

/// The outcome of one check.
pub type CheckResult = Result<FileHead, CheckFailure>;

/// Where a server stands for one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// It holds the current copy: requests may be redirected to it.
    Has,
    /// It answered this status (not 200): a 404, a 410, a 403...
    Lacks(Status),
    /// It holds a copy, but not the origin's: this length and date (or a 200 without a
    /// length where there is no origin to compare with).
    OtherVersion {
        /// Its `Content-Length`.
        length: Option<u64>,
        /// Its `Last-Modified`.
        modified: Option<SystemTime>,
    },
    /// Not checked, its answer expired, or its check failed.
    Unknown,
}

impl Presence {
    /// Known not to hold the current copy (lacks it or holds another version).
    pub fn is_not_current(&self) -> bool {
        matches!(self, Presence::Lacks(_) | Presence::OtherVersion { .. })
    }
}

impl fmt::Display for Presence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Presence::Has => f.write_str("has it"),
            Presence::Lacks(status) => write!(f, "lacks it ({status})"),
            Presence::OtherVersion { .. } => f.write_str("other version"),
            Presence::Unknown => f.write_str("unknown"),
        }
    }
}

/// Whether `server`'s answer shows the current copy, given the origin's answer (`None` when no
/// origin is configured).
///
/// - A status other than 200 lacks it.
/// - Without an origin, a 200 with a length has it (without a length nothing says it is whole:
///   another version).
/// - With an origin that answered other than 200, no copy is current: another version.
/// - When both sides give a digest, the digests decide.
/// - Otherwise each of length and `Last-Modified` the origin gives must be given by the server
///   and match, the dates within `slack` either way (rsync keeps times to the second).
pub fn judge_copy(server: &FileHead, origin: Option<&FileHead>, slack: Duration) -> Presence {
    if server.status != Status::OK {
        return Presence::Lacks(server.status);
    }
    let other = Presence::OtherVersion {
        length: server.length,
        modified: server.modified,
    };
    let Some(origin) = origin else {
        return if server.length.is_some() {
            Presence::Has
        } else {
            other
        };
    };
    if origin.status != Status::OK {
        return other;
    }
    if let (Some(a), Some(b)) = (&server.digest, &origin.digest) {
        return if a == b && server.length == origin.length.or(server.length) {
            Presence::Has
        } else {
            other
        };
    }
    let length_matches = origin.length.is_none() || server.length == origin.length;
    let date_matches = match (origin.modified, server.modified) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(a), Some(b)) => {
            let gap = a.duration_since(b).or_else(|_| b.duration_since(a));
            gap.is_ok_and(|gap| gap <= slack)
        }
    };
    if length_matches && date_matches {
        Presence::Has
    } else {
        other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_head_response_gives_status_length_and_date() {
        let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\
                      Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n";
        let mut parser = crate::http::response::ResponseParser::new(4096);
        let crate::http::Parsed::Complete { value, .. } = parser.parse(bytes, true).unwrap() else {
            panic!("incomplete");
        };
        let head = FileHead::from_response(&value);
        assert_eq!(head, FileHead::ok(1234, at(784_111_777)));
        let bytes = b"HTTP/1.1 404 Not Found\r\nContent-Length: x\r\n\r\n";
        let mut parser = crate::http::response::ResponseParser::new(4096);
        let crate::http::Parsed::Complete { value, .. } = parser.parse(bytes, true).unwrap() else {
            panic!("incomplete");
        };
        assert_eq!(
            FileHead::from_response(&value),
            FileHead::with_status(Status::NOT_FOUND)
        );
    }

    #[test]
    fn a_head_response_gives_its_sha256_from_either_field() {
        let head = |bytes: &[u8]| {
            let mut parser = crate::http::response::ResponseParser::new(4096);
            let crate::http::Parsed::Complete { value, .. } = parser.parse(bytes, true).unwrap()
            else {
                panic!("incomplete");
            };
            FileHead::from_response(&value)
        };
        // sha256("abc")
        let abc = "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=";
        let repr = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\
             Repr-Digest: sha-512=:x:, sha-256=:{abc}:\r\n\r\n"
        );
        let old = format!("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nDigest: SHA-256={abc}\r\n\r\n");
        let (a, b) = (head(repr.as_bytes()), head(old.as_bytes()));
        let mut hex = Vec::new();
        a.digest.as_ref().expect("a digest").write_hex(&mut hex);
        assert_eq!(
            hex,
            b"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(a.digest, b.digest);
        let none = head(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nDigest: SHA-256=short\r\n\r\n");
        assert_eq!(none.digest, None);
    }

    #[test]
    fn digests_decide_when_both_sides_give_one() {
        let slack = Duration::from_secs(2);
        let mut origin = FileHead::ok(10, at(1000));
        let mut server = FileHead::ok(10, at(5000));
        let digest = |b: u8| Some(Box::new(Digest::new(Algorithm::Sha256, &[b; 32]).unwrap()));
        origin.digest = digest(1);
        server.digest = digest(1);
        assert_eq!(judge_copy(&server, Some(&origin), slack), Presence::Has);
        server.digest = digest(2);
        server.modified = Some(at(1000));
        assert!(judge_copy(&server, Some(&origin), slack).is_not_current());
    }
}
