//! Which digest a download is checked against, and what a difference means.
//!
//! The client asks every server for digests ([`WANT_FIELDS`]). A balancer's redirect that
//! carries one gives the reference: it is the origin's, the file as published. A mirror's own
//! digest only describes the copy that mirror holds, so when it differs from the reference the
//! mirror's copy is wrong ([`Expect::judge`] says so before a byte is saved). Without a
//! reference the final response's own digest is checked. The hashing is the shell's: it hashes
//! what it saves and hands the result to [`Expect::check`].

use crate::http::digest::{parse_digest, parse_repr_digest, Algorithm, Digest};
use crate::http::response::Response;

/// The request fields asking for a digest: RFC 9530's (SHA-256 preferred) and RFC 3230's.
pub const WANT_FIELDS: [(&str, &[u8]); 2] = [
    ("Want-Repr-Digest", b"sha-256=10, sha-512=3"),
    ("Want-Digest", b"SHA-256"),
];

/// Every digest a response head carries, from `Repr-Digest` and `Digest` (every field line of
/// each), in that order.
pub fn digests_of(response: &Response<'_>) -> Vec<Digest> {
    let mut out = Vec::new();
    for h in &response.headers {
        if h.name.eq_ignore_ascii_case("repr-digest") {
            out.extend(parse_repr_digest(h.value));
        }
    }
    for h in &response.headers {
        if h.name.eq_ignore_ascii_case("digest") {
            out.extend(parse_digest(h.value));
        }
    }
    out
}

/// The one to check among `digests`: SHA-256 when there is one (the cheaper to compute), else
/// the first.
pub fn preferred(digests: &[Digest]) -> Option<Digest> {
    digests
        .iter()
        .find(|d| d.algorithm() == Algorithm::Sha256)
        .or(digests.first())
        .copied()
}

/// Where the expected digest came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A redirect (the balancer's, the origin's digest): the reference.
    Redirect,
    /// The final response (the server's own copy).
    Server,
}

/// What the saved bytes must hash to, if anything is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Expect {
    reference: Option<Digest>,
}

/// A copy that is not the right file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// The digest expected.
    pub expected: Digest,
    /// What the server announced, or what the saved bytes hash to.
    pub got: Digest,
    /// Where `expected` came from.
    pub source: Source,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hex = |d: &Digest| {
            let mut out = Vec::new();
            d.write_hex(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        };
        let from = match self.source {
            Source::Redirect => "the redirect's",
            Source::Server => "the server's",
        };
        write!(
            f,
            "{} digest mismatch: expected {} ({from}), got {}",
            self.expected.algorithm().rfc9530_name(),
            hex(&self.expected),
            hex(&self.got)
        )
    }
}

impl std::error::Error for Mismatch {}

impl Expect {
    /// Nothing known yet.
    pub fn new() -> Expect {
        Expect::default()
    }

    /// A redirect carried `digests`: the preferred one becomes the reference (a later
    /// redirect's replaces an earlier one's; a redirect without any keeps it).
    pub fn handle_redirect(&mut self, digests: &[Digest]) {
        if let Some(d) = preferred(digests) {
            self.reference = Some(d);
        }
    }

    /// The reference from a redirect, if any.
    pub fn reference(&self) -> Option<Digest> {
        self.reference
    }

    /// Judge the final response's own `digests`: the digest the saved bytes must hash to
    /// (`Ok(None)` when none is known: nothing to check), or `Err` when the server announces,
    /// for the reference's algorithm, another digest than the reference (its copy is wrong).
    pub fn judge(&self, digests: &[Digest]) -> Result<Option<(Digest, Source)>, Box<Mismatch>> {
        match self.reference {
            Some(expected) => {
                let theirs = digests
                    .iter()
                    .find(|d| d.algorithm() == expected.algorithm());
                match theirs {
                    Some(&got) if got != expected => Err(Box::new(Mismatch {
                        expected,
                        got,
                        source: Source::Redirect,
                    })),
                    _ => Ok(Some((expected, Source::Redirect))),
                }
            }
            None => Ok(preferred(digests).map(|d| (d, Source::Server))),
        }
    }

    /// Compare what the saved bytes hash to (`got`, computed with `expected`'s algorithm).
    pub fn check(expected: (Digest, Source), got: Digest) -> Result<(), Box<Mismatch>> {
        if got == expected.0 {
            Ok(())
        } else {
            Err(Box::new(Mismatch {
                expected: expected.0,
                got,
                source: expected.1,
            }))
        }
    }
}

/// Among the digests several sources announced (one entry per source, `None` for a source
/// that sent none), the one they agree on: the reference when there is one, else the digest
/// more than half of the sources that sent one share. `None` when no digest is known or there
/// is no majority.
pub fn consensus(reference: Option<Digest>, announced: &[Option<Digest>]) -> Option<Digest> {
    if reference.is_some() {
        return reference;
    }
    let sent: Vec<Digest> = announced.iter().flatten().copied().collect();
    sent.iter()
        .find(|d| 2 * sent.iter().filter(|o| o == d).count() > sent.len())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(byte: u8) -> Digest {
        Digest::new(Algorithm::Sha256, &[byte; 32]).unwrap()
    }

    #[test]
    fn the_redirects_digest_is_the_reference_and_a_differing_mirror_is_wrong() {
        let mut expect = Expect::new();
        expect.handle_redirect(&[d(1)]);
        expect.handle_redirect(&[]);
        assert_eq!(expect.judge(&[]), Ok(Some((d(1), Source::Redirect))));
        assert_eq!(expect.judge(&[d(1)]), Ok(Some((d(1), Source::Redirect))));
        let wrong = expect.judge(&[d(2)]).unwrap_err();
        assert_eq!((wrong.expected, wrong.got), (d(1), d(2)));
        // Another algorithm from the mirror says nothing about the reference.
        let other = Digest::new(Algorithm::Sha512, &[9; 64]).unwrap();
        assert!(expect.judge(&[other]).is_ok());
    }

    #[test]
    fn without_a_reference_the_servers_own_digest_is_checked() {
        let expect = Expect::new();
        assert_eq!(expect.judge(&[]), Ok(None));
        let sha512 = Digest::new(Algorithm::Sha512, &[9; 64]).unwrap();
        assert_eq!(
            expect.judge(&[sha512, d(3)]),
            Ok(Some((d(3), Source::Server)))
        );
        assert!(Expect::check((d(3), Source::Server), d(3)).is_ok());
        let e = Expect::check((d(3), Source::Server), d(4)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("sha-256 digest mismatch: expected 0303"),
            "{e}"
        );
    }

    #[test]
    fn the_majority_of_sources_decides_without_a_reference() {
        assert_eq!(
            consensus(None, &[Some(d(1)), Some(d(2)), Some(d(1))]),
            Some(d(1))
        );
        assert_eq!(consensus(None, &[Some(d(1)), Some(d(2))]), None);
        assert_eq!(consensus(None, &[Some(d(1)), None]), Some(d(1)));
        assert_eq!(consensus(Some(d(2)), &[Some(d(1)), Some(d(1))]), Some(d(2)));
        assert_eq!(consensus(None, &[None, None]), None);
    }

    #[test]
    fn both_fields_are_read() {
        use crate::http::response::ResponseParser;
        use crate::http::Parsed;
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\
            Digest: SHA-256=AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\r\n\
            Repr-Digest: sha-256=:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=:\r\n\r\n";
        let mut parser = ResponseParser::new(4096);
        let Ok(Parsed::Complete { value, .. }) = parser.parse(head, false) else {
            panic!("bad head")
        };
        assert_eq!(digests_of(&value), [d(1), d(2)]);
    }
}
