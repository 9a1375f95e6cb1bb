//! What the balancer tells a client about a file besides where to get it: `GET /PATH?sha256`
//! (`HASH  NAME`, as `sha256sum -c` reads it), `GET /PATH?meta4` or a request preferring
//! `application/metalink4+xml` (a Metalink 4 document, RFC 5854: the file's name, size, hash
//! and one `<url>` per server holding it), and the digest fields of a file's redirect
//! ([`insert_digest_fields`]: `Repr-Digest`, RFC 9530, and `Digest`, RFC 3230).
//!
//! The facts come from the file index's [`MirrorList`] ([`FileMeta::new`]): the origin's length
//! and digest (else those of a server holding the current copy), and the live servers holding
//! it, best weight first. Without `--verify-files` nothing is known of the file: every live
//! server is listed, without size or hash, and `?sha256` is answered 404.

use crate::balance::file_check::{FileHead, Presence};
use crate::balance::mirror_list::MirrorList;
use crate::balance::pool::Ranking;
use crate::balance::redirect::{
    answer_page, answer_unavailable, html_escape, location, write_status, Answer,
};
use crate::http::digest::Digest;
use crate::http::error_page::Method;
use crate::http::request::Request;
use crate::http::status::Status;
use std::time::SystemTime;

/// The query asking for the file's SHA-256 as `sha256sum` prints it.
pub const SHA256_QUERY: &str = "sha256";
/// The query asking for the file's Metalink 4 document.
pub const META4_QUERY: &str = "meta4";
/// The media type of a Metalink 4 document.
pub const METALINK4: &str = "application/metalink4+xml";

/// Which document a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `?sha256`.
    Sha256,
    /// `?meta4`, or `Accept` preferring [`METALINK4`].
    Meta4,
}

/// A request for one of the documents, and whether for its head only (HEAD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asked {
    /// Which document.
    pub kind: Kind,
    /// The request was a HEAD.
    pub head_only: bool,
}

/// Whether `request` (a GET or HEAD) asks for a document of its path: the query
/// [`SHA256_QUERY`] or [`META4_QUERY`], or no query and an `Accept` that ranks [`METALINK4`]
/// above everything else it lists (aria2c's `*/*, application/metalink4+xml` ranks them alike:
/// a redirect).
pub fn asked(request: &Request<'_>) -> Option<Asked> {
    let kind = match request.query() {
        Some(SHA256_QUERY) => Kind::Sha256,
        Some(META4_QUERY) => Kind::Meta4,
        Some(_) => return None,
        None if request.header("accept").is_some_and(prefers_metalink) => Kind::Meta4,
        None => return None,
    };
    let head_only = match crate::http::error_page::allowed_method(request.method) {
        Method::Get => false,
        Method::Head => true,
        _ => return None,
    };
    Some(Asked { kind, head_only })
}

/// `Accept` gives [`METALINK4`] a higher q-value than every other type it lists.
fn prefers_metalink(accept: &[u8]) -> bool {
    let mut metalink = None;
    let mut others: f32 = 0.0;
    for item in accept.split(|&b| b == b',') {
        let mut parts = item.split(|&b| b == b';');
        let media = parts.next().unwrap_or_default().trim_ascii();
        let q = parts
            .filter_map(|p| p.trim_ascii().strip_prefix(b"q="))
            .find_map(|q| std::str::from_utf8(q).ok()?.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if media.eq_ignore_ascii_case(METALINK4.as_bytes()) {
            metalink = Some(metalink.map_or(q, |m: f32| m.max(q)));
        } else if !media.is_empty() {
            others = others.max(q);
        }
    }
    metalink.is_some_and(|q| q > 0.0 && q > others)
}

/// What the documents say about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta<'a> {
    /// The request path.
    pub path: &'a str,
    /// Its length, when known.
    pub length: Option<u64>,
    /// Its SHA-256, when known.
    pub digest: Option<Digest>,
    /// The base URLs of the live servers holding it, best weight first.
    pub servers: Vec<&'a str>,
}

impl<'a> FileMeta<'a> {
    /// The facts `list` holds of `path` (`None`: no `--verify-files`, every live server of
    /// `ranking` taken to hold it).
    pub fn new(path: &'a str, ranking: &'a Ranking, list: Option<&MirrorList>) -> FileMeta<'a> {
        let holds = |index: usize| {
            list.is_none_or(|l| {
                l.servers
                    .iter()
                    .any(|c| c.server == index && c.state.presence == Presence::Has)
            })
        };
        let mut rows: Vec<_> = ranking.table().iter().filter(|r| holds(r.index)).collect();
        rows.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        let ok = |head: &Option<FileHead>| head.clone().filter(|h| h.status == Status::OK);
        let reference = list.and_then(|l| match &l.origin {
            Some(origin) => ok(&origin.head),
            None => l
                .servers
                .iter()
                .filter(|c| c.state.presence == Presence::Has)
                .find_map(|c| ok(&c.state.head)),
        });
        FileMeta {
            path,
            length: reference.as_ref().and_then(|h| h.length),
            digest: reference.and_then(|h| h.digest.map(|d| *d)),
            servers: rows.iter().map(|r| r.server.base_url()).collect(),
        }
    }

    /// The file's name: the path's last segment.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }

    /// Write the answer to `asked` into `out`: the document (200), 404 for a directory or, for
    /// `?sha256`, a file whose digest is not known (nor being learned), or 503 with
    /// `Retry-After: retry_after` while what the document needs is being learned (`learning`:
    /// `--verify-files` is on, so the checks just started may bring it): the digest for
    /// `?sha256`, a server holding the file for `?meta4`.
    pub fn answer(
        &self,
        asked: Asked,
        learning: bool,
        retry_after: u32,
        keep_alive: bool,
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> Answer {
        let head_only = asked.head_only;
        if self.name().is_empty() {
            return write_status(Status::NOT_FOUND, head_only, keep_alive, now, out);
        }
        let (body, content_type) = match (asked.kind, &self.digest) {
            (Kind::Sha256, Some(digest)) => {
                let mut body = Vec::with_capacity(80 + self.name().len());
                digest.write_hex(&mut body);
                body.extend_from_slice(b"  ");
                body.extend_from_slice(self.name().as_bytes());
                body.push(b'\n');
                (body, "text/plain; charset=utf-8")
            }
            (Kind::Sha256, None) if learning => {
                return answer_unavailable(retry_after, head_only, keep_alive, None, now, out);
            }
            (Kind::Sha256, None) => {
                return write_status(Status::NOT_FOUND, head_only, keep_alive, now, out)
            }
            (Kind::Meta4, _) if learning && self.servers.is_empty() => {
                return answer_unavailable(retry_after, head_only, keep_alive, None, now, out);
            }
            (Kind::Meta4, _) => (self.meta4().into_bytes(), METALINK4),
        };
        answer_page(&body, content_type, head_only, keep_alive, now, out)
    }

    /// The Metalink 4 document (RFC 5854).
    pub fn meta4(&self) -> String {
        use std::fmt::Write as _;
        let mut xml = String::with_capacity(256 + 96 * self.servers.len());
        xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        xml.push_str("<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\">\n");
        let _ = writeln!(xml, "  <file name=\"{}\">", html_escape(self.name()));
        if let Some(length) = self.length {
            let _ = writeln!(xml, "    <size>{length}</size>");
        }
        if let Some(digest) = &self.digest {
            let mut hex = Vec::with_capacity(64);
            digest.write_hex(&mut hex);
            let hex = String::from_utf8_lossy(&hex);
            let _ = writeln!(xml, "    <hash type=\"sha-256\">{hex}</hash>");
        }
        for (priority, base_url) in (1..).zip(&self.servers) {
            let url = location(base_url, self.path, None);
            let _ = writeln!(
                xml,
                "    <url priority=\"{priority}\">{}</url>",
                html_escape(&url)
            );
        }
        xml.push_str("  </file>\n</metalink>\n");
        xml
    }
}

/// Insert the `Repr-Digest` and `Digest` field lines of `digest` into the response head written
/// into `out` from `start` (right after its status line). For a file's redirect: the digest of
/// the file the `Location` serves, which a client checks what it saves against.
pub fn insert_digest_fields(out: &mut Vec<u8>, start: usize, digest: &Digest) {
    // The status line ends at its first LF (we wrote it: CRLF).
    let Some(lf) = out[start..].iter().position(|&b| b == b'\n') else {
        return;
    };
    let at = start + lf + 1;
    // Made on the stack, then one move of what follows the status line and one copy: no
    // allocation, no second encoding (this runs for every redirect of a file whose digest is
    // known).
    let mut b64 = [0u8; 88];
    let b64 = base64(digest.as_bytes(), &mut b64);
    let algorithm = digest.algorithm();
    let mut fields = [0u8; 256];
    let mut n = 0;
    for piece in [
        b"Repr-Digest: ".as_slice(),
        algorithm.rfc9530_name().as_bytes(),
        b"=:",
        b64,
        b":\r\nDigest: ",
        algorithm.rfc3230_name().as_bytes(),
        b"=",
        b64,
        b"\r\n",
    ] {
        fields[n..n + piece.len()].copy_from_slice(piece);
        n += piece.len();
    }
    let old_len = out.len();
    out.resize(old_len + n, 0);
    out.copy_within(at..old_len, at + n);
    out[at..at + n].copy_from_slice(&fields[..n]);
}

/// `bytes` (at most 64) in standard padded base64, written into `buf`.
fn base64<'b>(bytes: &[u8], buf: &'b mut [u8; 88]) -> &'b [u8] {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut n = 0;
    let mut chunks = bytes.chunks_exact(3);
    for c in &mut chunks {
        let v = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        buf[n] = TABLE[(v >> 18) as usize & 63];
        buf[n + 1] = TABLE[(v >> 12) as usize & 63];
        buf[n + 2] = TABLE[(v >> 6) as usize & 63];
        buf[n + 3] = TABLE[v as usize & 63];
        n += 4;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let v = u32::from(rest[0]) << 16 | u32::from(*rest.get(1).unwrap_or(&0)) << 8;
        buf[n] = TABLE[(v >> 18) as usize & 63];
        buf[n + 1] = TABLE[(v >> 12) as usize & 63];
        buf[n + 2] = if rest.len() > 1 {
            TABLE[(v >> 6) as usize & 63]
        } else {
            b'='
        };
        buf[n + 3] = b'=';
        n += 4;
    }
    &buf[..n]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::file_check::FileHead;
    use crate::balance::mirror_list::{CopyState, ServerCopy};
    use crate::balance::pool::{Policy, Pool, ServerAddr};
    use crate::balance::verdict::Measurement;
    use crate::http::digest::Algorithm;
    use crate::http::request::{Limits, RequestParser};
    use crate::http::Parsed;
    use std::time::Duration;

    fn ranking() -> Ranking {
        let servers = ["127.0.0.2:8001", "127.0.0.3:8002", "127.0.0.4:8003"]
            .map(|s| ServerAddr::parse(s).unwrap())
            .to_vec();
        let mut pool = Pool::new(servers);
        for i in 0..3 {
            // Server 2 fastest.
            let elapsed = Duration::from_millis(30 - 10 * i as u64);
            pool.record(i, Measurement { elapsed, bytes: 1 });
        }
        pool.ranking(Policy::Rank)
    }

    fn asked_of(head: &[u8]) -> Option<Asked> {
        let mut parser = RequestParser::new(Limits::default());
        let Ok(Parsed::Complete { value, .. }) = parser.parse(head) else {
            panic!("bad request");
        };
        asked(&value)
    }

    fn copy(presence: Presence, head: Option<FileHead>) -> CopyState {
        CopyState {
            presence,
            head,
            failure: None,
            checked: None,
            checking: false,
        }
    }

    #[test]
    fn queries_and_accept_ask_for_documents() {
        let get = |target: &str, accept: &str| {
            let head = format!("GET {target} HTTP/1.1\r\nHost: b\r\n{accept}\r\n");
            asked_of(head.as_bytes()).map(|a| a.kind)
        };
        assert_eq!(get("/a.iso?sha256", ""), Some(Kind::Sha256));
        assert_eq!(get("/a.iso?meta4", ""), Some(Kind::Meta4));
        assert_eq!(get("/a.iso", ""), None);
        assert_eq!(get("/a.iso?x=1", &format!("Accept: {METALINK4}\r\n")), None);
        assert_eq!(
            get("/a.iso", &format!("Accept: {METALINK4}\r\n")),
            Some(Kind::Meta4)
        );
        // aria2c's: every type alike, so a redirect.
        let aria2 = "Accept: */*, application/metalink4+xml, application/metalink+xml\r\n";
        assert_eq!(get("/a.iso", aria2), None);
        let ranked = "Accept: */*;q=0.5, application/metalink4+xml\r\n";
        assert_eq!(get("/a.iso", ranked), Some(Kind::Meta4));
        let refused = "Accept: application/metalink4+xml;q=0\r\n";
        assert_eq!(get("/a.iso", refused), None);
        let head = asked_of(b"HEAD /a?sha256 HTTP/1.1\r\nHost: b\r\n\r\n").unwrap();
        assert!(head.head_only);
        assert_eq!(
            asked_of(b"POST /a?sha256 HTTP/1.1\r\nHost: b\r\nContent-Length: 0\r\n\r\n"),
            None
        );
    }

    #[test]
    fn the_documents_name_the_holders_best_first_with_the_origins_size_and_hash() {
        let ranking = ranking();
        let digest = Digest::new(Algorithm::Sha256, &[0xab; 32]).unwrap();
        let mut origin = FileHead::ok(1234, SystemTime::UNIX_EPOCH);
        origin.digest = Some(Box::new(digest));
        let list = MirrorList {
            origin: Some(copy(Presence::Has, Some(origin))),
            servers: vec![
                ServerCopy {
                    server: 0,
                    live: true,
                    state: copy(Presence::Has, None),
                },
                ServerCopy {
                    server: 1,
                    live: true,
                    state: copy(Presence::Lacks(Status::NOT_FOUND), None),
                },
                ServerCopy {
                    server: 2,
                    live: true,
                    state: copy(Presence::Has, None),
                },
            ],
        };
        let meta = FileMeta::new("/pub/a&b.iso", &ranking, Some(&list));
        assert_eq!(meta.name(), "a&b.iso");
        assert_eq!(meta.length, Some(1234));
        assert_eq!(
            meta.servers,
            ["http://127.0.0.4:8003", "http://127.0.0.2:8001"],
            "B lacks it; C weighs more"
        );
        let xml = meta.meta4();
        assert!(xml.contains("<file name=\"a&amp;b.iso\">"), "{xml}");
        assert!(xml.contains("<size>1234</size>"), "{xml}");
        assert!(
            xml.contains(&format!(
                "<hash type=\"sha-256\">{}</hash>",
                "ab".repeat(32)
            )),
            "{xml}"
        );
        assert!(
            xml.contains("<url priority=\"1\">http://127.0.0.4:8003/pub/a&amp;b.iso</url>"),
            "{xml}"
        );
        let mut out = Vec::new();
        let sha = Asked {
            kind: Kind::Sha256,
            head_only: false,
        };
        let answer = meta.answer(sha, true, 2, true, SystemTime::UNIX_EPOCH, &mut out);
        assert_eq!(answer.status, 200);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with(&format!("\r\n\r\n{}  a&b.iso\n", "ab".repeat(32))),
            "{text}"
        );
        // Unknown digest: 503 while it is being learned, else 404.
        let unknown = FileMeta::new("/x", &ranking, None);
        let mut out = Vec::new();
        let now = SystemTime::UNIX_EPOCH;
        assert_eq!(
            unknown.answer(sha, true, 2, true, now, &mut out).status,
            503
        );
        assert!(String::from_utf8_lossy(&out).contains("Retry-After: 2\r\n"));
        assert_eq!(
            unknown.answer(sha, false, 2, true, now, &mut out).status,
            404
        );
        assert_eq!(
            unknown.servers.len(),
            3,
            "without --verify-files: every live server"
        );
    }

    #[test]
    fn the_stack_base64_is_the_digest_modules() {
        for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
            for seed in 0..50u8 {
                let bytes: Vec<u8> = (0..algorithm.len() as u8)
                    .map(|i| i.wrapping_mul(seed).wrapping_add(seed))
                    .collect();
                let digest = Digest::new(algorithm, &bytes).unwrap();
                let mut want = Vec::new();
                digest.write_base64(&mut want);
                let mut buf = [0; 88];
                assert_eq!(base64(&bytes, &mut buf), want);
            }
        }
        let mut buf = [0; 88];
        assert_eq!(base64(b"ab", &mut buf), b"YWI=");
        assert_eq!(base64(b"a", &mut buf), b"YQ==");
    }

    #[test]
    fn digest_fields_go_after_the_status_line() {
        let digest = Digest::new(Algorithm::Sha256, &[0; 32]).unwrap();
        let mut out = b"previous".to_vec();
        out.extend_from_slice(b"HTTP/1.1 301 Moved Permanently\r\nLocation: x\r\n\r\nbody");
        insert_digest_fields(&mut out, 8, &digest);
        let b64 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let want = format!(
            "previousHTTP/1.1 301 Moved Permanently\r\nRepr-Digest: sha-256=:{b64}:\r\n\
             Digest: SHA-256={b64}\r\nLocation: x\r\n\r\nbody"
        );
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }
}
