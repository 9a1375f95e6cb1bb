//! Digests of a whole file, as HTTP carries them: RFC 9530's `Repr-Digest` and its request
//! `Want-Repr-Digest`, and RFC 3230's older `Digest` and `Want-Digest` (aria2c and MirrorBrain
//! speak these). Only SHA-256 and SHA-512 are known; every other algorithm is skipped.
//!
//! Both RFCs define the digest of the selected representation, never of one range: a 206 carries
//! the whole file's digest. The hashing itself is the caller's (it reads the file); this module
//! parses what a peer asked for or sent and writes the header lines.
//!
//! Parsers of peer input never panic and never fail as a whole: a malformed list member is
//! skipped and the rest is kept, so one odd algorithm name does not hide a good digest beside it.

use crate::http::base64;
use crate::http::grammar::{list_elements, trim_ows};

/// A digest algorithm this crate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// SHA-256 (FIPS 180-4): 32 bytes.
    Sha256,
    /// SHA-512 (FIPS 180-4): 64 bytes.
    Sha512,
}

impl Algorithm {
    /// Both algorithms, SHA-256 first (the one a server computes by default: it is the one
    /// every client asks for, and the CPU's SHA extensions make it the cheaper one).
    pub const ALL: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Sha512];

    /// The key in RFC 9530's `Repr-Digest` and `Want-Repr-Digest` (its IANA registry).
    pub fn rfc9530_name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha-256",
            Algorithm::Sha512 => "sha-512",
        }
    }

    /// The name in RFC 3230's `Digest` and `Want-Digest` (its IANA registry's spelling; peers
    /// compare it case-insensitively).
    pub fn rfc3230_name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha512 => "SHA-512",
        }
    }

    /// The digest's length in bytes.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(self) -> usize {
        match self {
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }

    /// The algorithm named `name` (either RFC's spelling, any case), if known.
    pub fn from_name(name: &[u8]) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| name.eq_ignore_ascii_case(a.rfc9530_name().as_bytes()))
    }
}

/// One digest value: the algorithm and its output.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest {
    algorithm: Algorithm,
    /// Only the first `algorithm.len()` bytes are used; the rest stay zero, so `==` compares
    /// digests.
    bytes: [u8; 64],
}

impl Digest {
    /// The digest `bytes` computed with `algorithm`, or None when the length is not the
    /// algorithm's.
    pub fn new(algorithm: Algorithm, bytes: &[u8]) -> Option<Digest> {
        if bytes.len() != algorithm.len() {
            return None;
        }
        let mut d = Digest {
            algorithm,
            bytes: [0; 64],
        };
        d.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(d)
    }

    /// The algorithm that produced it.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The digest's bytes (`algorithm().len()` of them).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.algorithm.len()]
    }

    /// Append the digest in lowercase hexadecimal, as `sha256sum` prints it.
    pub fn write_hex(&self, out: &mut Vec<u8>) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for &b in self.as_bytes() {
            out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }

    /// Append the digest in base64, as both headers carry it.
    pub fn write_base64(&self, out: &mut Vec<u8>) {
        base64::encode(self.as_bytes(), out);
    }

    /// Decode a digest from base64, or from hexadecimal of the right length (some servers send
    /// RFC 3230 values in hex; the two cannot be confused, the lengths differ).
    fn decode(algorithm: Algorithm, text: &[u8]) -> Option<Digest> {
        let mut bytes = [0u8; 64];
        let len = algorithm.len();
        if text.len() == 2 * len && text.iter().all(u8::is_ascii_hexdigit) {
            for (i, pair) in text.chunks_exact(2).enumerate() {
                let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                bytes[i] = hex(pair[0]) << 4 | hex(pair[1]);
            }
            return Digest::new(algorithm, &bytes[..len]);
        }
        let n = base64::decode_to_slice(text, &mut bytes).ok()?;
        Digest::new(algorithm, &bytes[..n])
    }
}

impl core::fmt::Debug for Digest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut hex = Vec::new();
        self.write_hex(&mut hex);
        write!(
            f,
            "Digest({}:{})",
            self.algorithm.rfc9530_name(),
            String::from_utf8_lossy(&hex)
        )
    }
}

/// How much a request wants each algorithm: 0 is "not acceptable", higher is preferred. RFC
/// 9530's integers (0..=10) and RFC 3230's q-values (in thousandths, 0..=1000) each map onto
/// this scale as they are; only the order within one header matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wanted {
    sha256: u16,
    sha512: u16,
}

impl Wanted {
    /// The preference given to `algorithm` (0: not asked for, or refused).
    pub fn preference(&self, algorithm: Algorithm) -> u16 {
        match algorithm {
            Algorithm::Sha256 => self.sha256,
            Algorithm::Sha512 => self.sha512,
        }
    }

    /// Both lists together (several lines of one field): for each algorithm the higher
    /// preference.
    pub fn merged(self, other: Wanted) -> Wanted {
        Wanted {
            sha256: self.sha256.max(other.sha256),
            sha512: self.sha512.max(other.sha512),
        }
    }

    fn set(&mut self, algorithm: Algorithm, preference: u16) {
        match algorithm {
            Algorithm::Sha256 => self.sha256 = preference,
            Algorithm::Sha512 => self.sha512 = preference,
        }
    }

    /// The most preferred acceptable algorithm; on a tie SHA-256 (the cheaper to compute).
    pub fn best(&self) -> Option<Algorithm> {
        self.choose(|_| true)
    }

    /// The most preferred acceptable algorithm among those `available` says the caller has (a
    /// server sends a digest it knows rather than none while a preferred one is being
    /// computed). On a tie SHA-256.
    pub fn choose(&self, available: impl Fn(Algorithm) -> bool) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(|&a| self.preference(a) > 0 && available(a))
            .fold(None, |best: Option<Algorithm>, a| match best {
                Some(b) if self.preference(b) >= self.preference(a) => Some(b),
                _ => Some(a),
            })
    }
}

/// Parse RFC 9530's `Want-Repr-Digest` (a structured-field dictionary of integers, 0 to 10:
/// `sha-512=3, sha-256=10`). Members that are not `known-name=integer` are skipped (parameters
/// after `;` are ignored); names are compared case-insensitively; when a name repeats, the last
/// one counts, as in a structured dictionary.
pub fn parse_want_repr_digest(value: &[u8]) -> Wanted {
    let mut wanted = Wanted::default();
    for member in list_elements(value) {
        let member = until(member, b';');
        let Some((name, pref)) = split_once(member, b'=') else {
            continue;
        };
        let Some(algorithm) = Algorithm::from_name(trim_ows(name)) else {
            continue;
        };
        if let Some(pref) = small_integer(trim_ows(pref)) {
            wanted.set(algorithm, pref);
        }
    }
    wanted
}

/// The algorithm a `Want-Repr-Digest` value prefers among those known, if any is acceptable.
pub fn want_repr_digest(value: &[u8]) -> Option<Algorithm> {
    parse_want_repr_digest(value).best()
}

/// Parse RFC 3230's `Want-Digest` (`SHA-256;q=0.3, sha-512;q=1`, names case-insensitive, q
/// defaulting to 1, `q=0` refusing the algorithm). Malformed members are skipped.
pub fn parse_want_digest(value: &[u8]) -> Wanted {
    let mut wanted = Wanted::default();
    for member in list_elements(value) {
        let mut parts = member.split(|&b| b == b';');
        let name = trim_ows(parts.next().unwrap_or_default());
        let Some(algorithm) = Algorithm::from_name(name) else {
            continue;
        };
        let mut q = Some(1000);
        for param in parts {
            match split_once(trim_ows(param), b'=') {
                Some((k, v)) if trim_ows(k).eq_ignore_ascii_case(b"q") => {
                    q = qvalue(trim_ows(v));
                }
                _ => {}
            }
        }
        if let Some(q) = q {
            wanted.set(algorithm, q);
        }
    }
    wanted
}

/// The algorithm a `Want-Digest` value prefers among those known, if any is acceptable.
pub fn want_digest(value: &[u8]) -> Option<Algorithm> {
    parse_want_digest(value).best()
}

/// Parse RFC 9530's `Repr-Digest` (a dictionary of byte sequences: `sha-256=:BASE64:`). Known
/// algorithms with a value of the right length are returned in the order sent; unknown
/// algorithms and malformed members are skipped.
pub fn parse_repr_digest(value: &[u8]) -> Vec<Digest> {
    list_elements(value)
        .filter_map(|member| {
            let (name, rest) = split_once(until(member, b';'), b'=')?;
            let algorithm = Algorithm::from_name(trim_ows(name))?;
            let inner = trim_ows(rest).strip_prefix(b":")?.strip_suffix(b":")?;
            let n = base64_only(inner)?;
            Digest::decode(algorithm, n)
        })
        .collect()
}

/// Parse RFC 3230's `Digest` (`SHA-256=BASE64, MD5=...`). Known algorithms with a value of the
/// right length (base64, or hexadecimal as some servers send) are returned in the order sent;
/// the rest is skipped.
pub fn parse_digest(value: &[u8]) -> Vec<Digest> {
    list_elements(value)
        .filter_map(|member| {
            let (name, rest) = split_once(member, b'=')?;
            let algorithm = Algorithm::from_name(trim_ows(name))?;
            Digest::decode(algorithm, trim_ows(rest))
        })
        .collect()
}

/// Append the value of a `Repr-Digest` field: `sha-256=:BASE64:`.
pub fn write_repr_digest_value(out: &mut Vec<u8>, d: &Digest) {
    out.extend_from_slice(d.algorithm.rfc9530_name().as_bytes());
    out.extend_from_slice(b"=:");
    d.write_base64(out);
    out.push(b':');
}

/// Append the whole field line `Repr-Digest: sha-256=:BASE64:\r\n`.
pub fn write_repr_digest(out: &mut Vec<u8>, d: &Digest) {
    out.extend_from_slice(b"Repr-Digest: ");
    write_repr_digest_value(out, d);
    out.extend_from_slice(b"\r\n");
}

/// Append the value of a `Digest` field: `SHA-256=BASE64`.
pub fn write_digest_value(out: &mut Vec<u8>, d: &Digest) {
    out.extend_from_slice(d.algorithm.rfc3230_name().as_bytes());
    out.push(b'=');
    d.write_base64(out);
}

/// Append the whole field line `Digest: SHA-256=BASE64\r\n`.
pub fn write_digest(out: &mut Vec<u8>, d: &Digest) {
    out.extend_from_slice(b"Digest: ");
    write_digest_value(out, d);
    out.extend_from_slice(b"\r\n");
}

fn until(s: &[u8], stop: u8) -> &[u8] {
    s.split(|&b| b == stop).next().unwrap_or_default()
}

fn split_once(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let at = s.iter().position(|&b| b == sep)?;
    Some((&s[..at], &s[at + 1..]))
}

/// A structured-field byte sequence holds base64 characters and padding only.
fn base64_only(s: &[u8]) -> Option<&[u8]> {
    s.iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        .then_some(s)
}

/// RFC 9530's preference: a non-negative integer; values above 10 (outside the RFC's range) are
/// kept as the highest preference rather than dropped.
fn small_integer(s: &[u8]) -> Option<u16> {
    if s.is_empty() || s.len() > 15 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = s.iter().fold(0u64, |n, &b| n * 10 + u64::from(b - b'0'));
    Some(n.min(1000) as u16)
}

/// RFC 9110's qvalue (`0`, `0.5`, `1.000`) in thousandths.
fn qvalue(s: &[u8]) -> Option<u16> {
    let (int, frac) = match split_once(s, b'.') {
        Some((i, f)) => (i, f),
        None => (s, &b""[..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.get(i).map_or(0, |&b| u16::from(b - b'0'));
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9530 appendix B / section 3's example: the digest of `{"hello": "world"}`.
    const HELLO_SHA256_B64: &str = "X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=";
    const HELLO_SHA512_B64: &str =
        "WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==";

    fn d256(b64: &str) -> Digest {
        let mut bytes = Vec::new();
        base64::decode(b64.as_bytes(), &mut bytes).unwrap();
        Digest::new(Algorithm::Sha256, &bytes).unwrap()
    }

    fn d512(b64: &str) -> Digest {
        let mut bytes = Vec::new();
        base64::decode(b64.as_bytes(), &mut bytes).unwrap();
        Digest::new(Algorithm::Sha512, &bytes).unwrap()
    }

    #[test]
    fn names_and_lengths() {
        assert_eq!(Algorithm::Sha256.rfc9530_name(), "sha-256");
        assert_eq!(Algorithm::Sha512.rfc9530_name(), "sha-512");
        assert_eq!(Algorithm::Sha256.rfc3230_name(), "SHA-256");
        assert_eq!(Algorithm::Sha512.rfc3230_name(), "SHA-512");
        assert_eq!(Algorithm::Sha256.len(), 32);
        assert_eq!(Algorithm::Sha512.len(), 64);
        assert_eq!(Algorithm::from_name(b"Sha-512"), Some(Algorithm::Sha512));
        assert_eq!(Algorithm::from_name(b"sha256"), None);
        assert_eq!(
            Algorithm::from_name(b"SHA"),
            None,
            "RFC 3230's SHA is SHA-1"
        );
    }

    #[test]
    fn digest_new_checks_the_length() {
        assert!(Digest::new(Algorithm::Sha256, &[0; 31]).is_none());
        assert!(Digest::new(Algorithm::Sha256, &[0; 64]).is_none());
        assert!(Digest::new(Algorithm::Sha512, &[0; 32]).is_none());
        let d = Digest::new(Algorithm::Sha256, &[0xab; 32]).unwrap();
        assert_eq!(d.as_bytes(), &[0xab; 32]);
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_ne!(d, Digest::new(Algorithm::Sha256, &[0xac; 32]).unwrap());
    }

    #[test]
    fn hex_as_sha256sum_prints_it() {
        let mut out = Vec::new();
        d256(HELLO_SHA256_B64).write_hex(&mut out);
        assert_eq!(
            out,
            b"5f8f04f6a3a892aaabbddb6cf273894493773960d4a325b105fee46eef4304f1"
        );
    }

    #[test]
    fn rfc9530_repr_digest_examples() {
        // RFC 9530 section 3 and appendix B.
        let v = format!("sha-256=:{HELLO_SHA256_B64}:");
        assert_eq!(parse_repr_digest(v.as_bytes()), [d256(HELLO_SHA256_B64)]);
        let v = format!("sha-256=:{HELLO_SHA256_B64}:,\r sha-512=:{HELLO_SHA512_B64}:");
        let v = v.replace('\r', "");
        assert_eq!(
            parse_repr_digest(v.as_bytes()),
            [d256(HELLO_SHA256_B64), d512(HELLO_SHA512_B64)]
        );
        // Unknown and deprecated algorithms are skipped, the known one kept.
        let v =
            format!("md5=:XrY7u+Ae7tCTyyK7j1rNww==:, unixsum=:MTIz:, sha-256=:{HELLO_SHA256_B64}:");
        assert_eq!(parse_repr_digest(v.as_bytes()), [d256(HELLO_SHA256_B64)]);
        // Parameters after the value are ignored.
        let v = format!("sha-256=:{HELLO_SHA256_B64}:;foo=1");
        assert_eq!(parse_repr_digest(v.as_bytes()), [d256(HELLO_SHA256_B64)]);
    }

    #[test]
    fn repr_digest_round_trips() {
        for d in [d256(HELLO_SHA256_B64), d512(HELLO_SHA512_B64)] {
            let mut line = Vec::new();
            write_repr_digest(&mut line, &d);
            let text = String::from_utf8(line).unwrap();
            let value = text
                .strip_prefix("Repr-Digest: ")
                .and_then(|v| v.strip_suffix("\r\n"))
                .unwrap();
            assert_eq!(parse_repr_digest(value.as_bytes()), [d]);
        }
        let mut line = Vec::new();
        write_repr_digest(&mut line, &d256(HELLO_SHA256_B64));
        assert_eq!(
            line,
            format!("Repr-Digest: sha-256=:{HELLO_SHA256_B64}:\r\n").as_bytes()
        );
    }

    #[test]
    fn repr_digest_malformed_members_are_skipped() {
        let good = format!("sha-256=:{HELLO_SHA256_B64}:");
        for bad in [
            "sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=", // not a byte sequence
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9D:",   // too short
            "sha-256=:!!!!:",
            "sha-256=:",
            "sha-256",
            "=:AAAA:",
            "sha-512=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", // wrong length for sha-512
            "sha-256=\"X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=\"",
        ] {
            assert_eq!(parse_repr_digest(bad.as_bytes()), [], "{bad}");
            let both = format!("{bad}, {good}");
            assert_eq!(
                parse_repr_digest(both.as_bytes()),
                [d256(HELLO_SHA256_B64)],
                "{both}"
            );
        }
        assert_eq!(parse_repr_digest(b""), []);
        assert_eq!(parse_repr_digest(b",,, ,"), []);
        assert_eq!(parse_repr_digest(&[0xff, b'=', b':', 0x80, b':']), []);
    }

    #[test]
    fn rfc3230_digest_examples() {
        // RFC 3230 section 4.3.2's example is MD5, skipped; a SHA-256 beside it is kept.
        let v = format!("MD5=HUXZLQLMuI/KZ5KDcJPcOA==, SHA-256={HELLO_SHA256_B64}");
        assert_eq!(parse_digest(v.as_bytes()), [d256(HELLO_SHA256_B64)]);
        let v = format!("sha-256={HELLO_SHA256_B64},SHA-512={HELLO_SHA512_B64}");
        assert_eq!(
            parse_digest(v.as_bytes()),
            [d256(HELLO_SHA256_B64), d512(HELLO_SHA512_B64)]
        );
        // MirrorBrain's `SHA` is SHA-1: skipped.
        assert_eq!(parse_digest(b"SHA=2jmj7l5rSw0yVb/vlWAYkK/YBwk="), []);
        // Hexadecimal, as some servers send.
        let v = "SHA-256=5f8f04f6a3a892aaabbddb6cf273894493773960d4a325b105fee46eef4304f1";
        assert_eq!(parse_digest(v.as_bytes()), [d256(HELLO_SHA256_B64)]);
        let v = "SHA-256=5F8F04F6A3A892AAABBDDB6CF273894493773960D4A325B105FEE46EEF4304F1";
        assert_eq!(parse_digest(v.as_bytes()), [d256(HELLO_SHA256_B64)]);
    }

    #[test]
    fn digest_round_trips_and_malformed_is_skipped() {
        let d = d256(HELLO_SHA256_B64);
        let mut line = Vec::new();
        write_digest(&mut line, &d);
        assert_eq!(
            line,
            format!("Digest: SHA-256={HELLO_SHA256_B64}\r\n").as_bytes()
        );
        let mut value = Vec::new();
        write_digest_value(&mut value, &d512(HELLO_SHA512_B64));
        assert_eq!(parse_digest(&value), [d512(HELLO_SHA512_B64)]);
        for bad in [
            "SHA-256",
            "SHA-256=",
            "SHA-256=AAAA",
            "=AAAA",
            "SHA-256=:AAAA:",
            "SHA-256=5f8f",
        ] {
            assert_eq!(parse_digest(bad.as_bytes()), [], "{bad}");
        }
    }

    #[test]
    fn want_repr_digest_picks_the_highest_preference() {
        // RFC 9530 section 4's examples.
        assert_eq!(want_repr_digest(b"sha-256=1"), Some(Algorithm::Sha256));
        assert_eq!(
            want_repr_digest(b"sha-512=3, sha-256=10, unixsum=0"),
            Some(Algorithm::Sha256)
        );
        assert_eq!(
            want_repr_digest(b"sha-512=10, sha-256=3"),
            Some(Algorithm::Sha512)
        );
        // A tie goes to SHA-256.
        assert_eq!(
            want_repr_digest(b"sha-512=5, sha-256=5"),
            Some(Algorithm::Sha256)
        );
        // 0 is "not acceptable".
        assert_eq!(want_repr_digest(b"sha-256=0"), None);
        assert_eq!(
            want_repr_digest(b"sha-256=0, sha-512=1"),
            Some(Algorithm::Sha512)
        );
        assert_eq!(want_repr_digest(b"md5=10, unixsum=3"), None);
        // Case-insensitive names, parameters ignored, the last repeat counts.
        assert_eq!(want_repr_digest(b"SHA-256=2"), Some(Algorithm::Sha256));
        assert_eq!(want_repr_digest(b"sha-256=2;x=1"), Some(Algorithm::Sha256));
        assert_eq!(want_repr_digest(b"sha-256=2, sha-256=0"), None);
        let w = parse_want_repr_digest(b"sha-512=3, sha-256=10");
        assert_eq!(w.preference(Algorithm::Sha512), 3);
        assert_eq!(w.preference(Algorithm::Sha256), 10);
    }

    #[test]
    fn want_repr_digest_malformed_members_are_skipped() {
        for bad in [
            "",
            "sha-256",
            "sha-256=",
            "sha-256=-1",
            "sha-256=1.5",
            "sha-256=?1",
            "sha-256=a",
            "=5",
            ",,,",
        ] {
            assert_eq!(want_repr_digest(bad.as_bytes()), None, "{bad}");
            let with = format!("{bad}, sha-512=2");
            assert_eq!(
                want_repr_digest(with.as_bytes()),
                Some(Algorithm::Sha512),
                "{with}"
            );
        }
        assert_eq!(want_repr_digest(b"sha-256=99999999999999999999"), None);
        assert_eq!(want_repr_digest(b"sha-256=11"), Some(Algorithm::Sha256));
    }

    #[test]
    fn want_digest_reads_q_values() {
        // RFC 3230 section 4.3.1's examples (SHA is SHA-1, not supported).
        assert_eq!(want_digest(b"SHA-256"), Some(Algorithm::Sha256));
        assert_eq!(want_digest(b"MD5;q=0.3, sha;q=1"), None);
        assert_eq!(
            want_digest(b"SHA-256;q=0.3, sha-512;q=1"),
            Some(Algorithm::Sha512)
        );
        assert_eq!(
            want_digest(b"sha-512;q=0.3, SHA-256;q=1"),
            Some(Algorithm::Sha256)
        );
        // aria2c's: SHA-512 and SHA-256 equal, SHA-1 lower: the tie goes to SHA-256.
        assert_eq!(
            want_digest(b"SHA-512;q=1, SHA-256;q=1, SHA;q=0.1"),
            Some(Algorithm::Sha256)
        );
        // q=0 refuses; default q is 1; spaces around `;` and `=` are tolerated.
        assert_eq!(want_digest(b"SHA-256;q=0"), None);
        assert_eq!(
            want_digest(b"SHA-256;q=0.000, SHA-512;q=0.001"),
            Some(Algorithm::Sha512)
        );
        assert_eq!(
            want_digest(b"SHA-512 ; Q = 0.5, sha-256;q=0.4"),
            Some(Algorithm::Sha512)
        );
        let w = parse_want_digest(b"SHA-256;q=0.25, sha-512");
        assert_eq!(w.preference(Algorithm::Sha256), 250);
        assert_eq!(w.preference(Algorithm::Sha512), 1000);
    }

    #[test]
    fn want_digest_malformed_members_are_skipped() {
        for bad in [
            "SHA-256;q=2",
            "SHA-256;q=1.5",
            "SHA-256;q=0.1234",
            "SHA-256;q=",
            "SHA-256;q=x",
            "SHA-256;q=-0",
            "sha256",
            ";q=1",
        ] {
            assert_eq!(want_digest(bad.as_bytes()), None, "{bad}");
            let with = format!("{bad}, SHA-512;q=0.1");
            assert_eq!(
                want_digest(with.as_bytes()),
                Some(Algorithm::Sha512),
                "{with}"
            );
        }
        // Unknown parameters are ignored.
        assert_eq!(want_digest(b"SHA-256;foo=bar"), Some(Algorithm::Sha256));
    }

    #[test]
    fn choose_among_what_is_known() {
        let w = parse_want_repr_digest(b"sha-512=10, sha-256=3");
        assert_eq!(w.best(), Some(Algorithm::Sha512));
        assert_eq!(
            w.choose(|a| a == Algorithm::Sha256),
            Some(Algorithm::Sha256),
            "a known acceptable digest rather than none"
        );
        assert_eq!(w.choose(|_| false), None);
        let w = parse_want_repr_digest(b"sha-512=0, sha-256=3");
        assert_eq!(
            w.choose(|a| a == Algorithm::Sha512),
            None,
            "0 is never sent"
        );
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let samples: [&[u8]; 8] = [
            b"\xff\xfe=:\x00:",
            b"sha-256=:=:",
            b"sha-256=:====:",
            b"sha-256;q=0.",
            b"sha-256;q=.5",
            b";;;,,,===",
            b"sha-256=:AAAA",
            b"SHA-256==",
        ];
        for s in samples {
            let _ = parse_repr_digest(s);
            let _ = parse_digest(s);
            let _ = want_repr_digest(s);
            let _ = want_digest(s);
        }
    }
}
