//! The `Link` header field (RFC 8288) as mirror directors use it (RFC 6249, Metalink/HTTP):
//! `<URL>; rel=duplicate; pri=N` for each other server holding the file, and
//! `<PATH?meta4>; rel=describedby; type="application/metalink4+xml"`.
//!
//! [`parse_links`] reads one field value (a comma-separated list of links); a malformed link
//! is skipped and never ends the list early when the next `<` can still be found, and the
//! parser never panics on peer input. [`write_link`] writes one whole header line.

use std::borrow::Cow;

/// One link of a `Link` field, borrowed from the field value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link<'a> {
    /// The target between `<` and `>`, as sent (a URI reference: resolve it against the
    /// response's URL).
    pub target: &'a str,
    /// The `rel` parameter: one or more relation types separated by spaces.
    pub rel: Option<Cow<'a, str>>,
    /// The `pri` parameter (RFC 6249: 1 is the most preferred).
    pub pri: Option<u32>,
    /// The `type` parameter, a media type hint.
    pub media_type: Option<Cow<'a, str>>,
}

impl Link<'_> {
    /// Whether `relation` is one of the link's relation types (case-insensitive, RFC 8288
    /// section 2.1.1).
    pub fn has_rel(&self, relation: &str) -> bool {
        self.rel.as_deref().is_some_and(|rel| {
            rel.split([' ', '\t'])
                .any(|r| r.eq_ignore_ascii_case(relation))
        })
    }
}

/// The relation of a mirror holding the same file (RFC 6249).
pub const DUPLICATE: &str = "duplicate";

/// The relation of a description of the file (a Metalink document, RFC 6249 section 6).
pub const DESCRIBED_BY: &str = "describedby";

/// The media type of a Metalink 4 document (RFC 5854).
pub const METALINK4: &str = "application/metalink4+xml";

/// Every well-formed link in one `Link` field value, in order. Malformed links are skipped;
/// targets holding bytes that may not appear in a URI reference (controls, spaces, non-ASCII)
/// are skipped too, so a target can be written back into a request line safely.
pub fn parse_links(value: &[u8]) -> Vec<Link<'_>> {
    let mut links = Vec::new();
    let mut rest = value;
    loop {
        rest = skip_ws_and_commas(rest);
        if rest.is_empty() {
            return links;
        }
        match parse_one(rest) {
            Ok((link, after)) => {
                links.extend(link);
                rest = after;
            }
            // Malformed: resume at the next link, after a comma outside quotes.
            Err(at) => rest = skip_to_next(at),
        }
    }
}

/// Parse one link at the start of `input`: `Ok` with the link (`None` when its target is
/// empty) and what follows it; `Err` with where it went wrong when it is malformed. A target
/// ends at `>`; a byte that may not appear in a URI reference before it (a control, a space,
/// non-ASCII, `<`) makes the link malformed.
fn parse_one(input: &[u8]) -> Result<(Option<Link<'_>>, &[u8]), &[u8]> {
    let Some(after_open) = input.strip_prefix(b"<") else {
        return Err(input);
    };
    let end = after_open
        .iter()
        .position(|&b| !b.is_ascii_graphic() || b == b'<' || b == b'>')
        .unwrap_or(after_open.len());
    if after_open.get(end) != Some(&b'>') {
        return Err(&after_open[end..]);
    }
    let target = &after_open[..end];
    let mut link = Link {
        // Printable ASCII only, checked above.
        target: std::str::from_utf8(target).map_err(|_| input)?,
        rel: None,
        pri: None,
        media_type: None,
    };
    let mut rest = &after_open[end + 1..];
    loop {
        rest = skip_ws(rest);
        match rest.first() {
            None | Some(b',') => break,
            Some(b';') => rest = skip_ws(&rest[1..]),
            Some(_) => return Err(rest),
        }
        let name_len = rest.iter().take_while(|&&b| is_tchar(b)).count();
        if name_len == 0 {
            // `;` followed by nothing (or a comma): tolerated.
            continue;
        }
        let name = &rest[..name_len];
        rest = skip_ws(&rest[name_len..]);
        let value = if let Some(after) = rest.strip_prefix(b"=") {
            let after = skip_ws(after);
            let (value, after) = param_value(after).ok_or(after)?;
            rest = after;
            Some(value)
        } else {
            None
        };
        // RFC 8288 section 3: only the first occurrence of rel (and of the others) counts.
        if name.eq_ignore_ascii_case(b"rel") && link.rel.is_none() {
            link.rel = value;
        } else if name.eq_ignore_ascii_case(b"pri") && link.pri.is_none() {
            link.pri = value.and_then(|v| v.parse().ok());
        } else if name.eq_ignore_ascii_case(b"type") && link.media_type.is_none() {
            link.media_type = value;
        }
    }
    Ok(((!target.is_empty()).then_some(link), rest))
}

/// A parameter value: a token or a quoted string (unescaped; borrowed when it holds no
/// escape). `None` when malformed or not UTF-8.
fn param_value(input: &[u8]) -> Option<(Cow<'_, str>, &[u8])> {
    if let Some(quoted) = input.strip_prefix(b"\"") {
        let mut escaped = false;
        let mut i = 0;
        while i < quoted.len() {
            match quoted[i] {
                b'\\' => {
                    escaped = true;
                    i += 2;
                    continue;
                }
                b'"' => break,
                _ => i += 1,
            }
        }
        if i >= quoted.len() {
            return None;
        }
        let raw = std::str::from_utf8(&quoted[..i]).ok()?;
        let value = if escaped {
            let mut out = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                out.push(if c == '\\' { chars.next()? } else { c });
            }
            Cow::Owned(out)
        } else {
            Cow::Borrowed(raw)
        };
        return Some((value, &quoted[i + 1..]));
    }
    let len = input.iter().take_while(|&&b| is_tchar(b)).count();
    if len == 0 {
        return None;
    }
    let token = std::str::from_utf8(&input[..len]).ok()?;
    Some((Cow::Borrowed(token), &input[len..]))
}

fn skip_ws(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    v
}

fn skip_ws_and_commas(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b',', rest @ ..] = v {
        v = rest;
    }
    v
}

/// Past the next comma outside quotes (or to the end): where the next link may start after a
/// malformed one.
fn skip_to_next(v: &[u8]) -> &[u8] {
    let (mut in_quotes, mut i) = (false, 0);
    while i < v.len() {
        match v[i] {
            b'\\' if in_quotes => i += 1,
            b'"' => in_quotes = !in_quotes,
            b',' if !in_quotes => return &v[i + 1..],
            _ => {}
        }
        i += 1;
    }
    &[]
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Write one whole header line `Link: <target>; rel=REL[; pri=N][; type="TYPE"]\r\n`.
/// `target` must already be a URI reference (printable ASCII without `<`, `>`: percent-encode
/// it first); `rel` a token, `media_type` printable ASCII without `"` or `\`.
pub fn write_link(
    out: &mut Vec<u8>,
    target: &str,
    rel: &str,
    pri: Option<u32>,
    media_type: Option<&str>,
) {
    out.extend_from_slice(b"Link: <");
    write_link_target(out, target.as_bytes());
    write_link_params(out, rel, pri, media_type);
}

/// The start of a link's target, after `Link: <`: written in parts by a caller that builds
/// the URL from pieces (a server's base URL and an encoded path) without allocating.
pub fn write_link_target(out: &mut Vec<u8>, part: &[u8]) {
    out.extend_from_slice(part);
}

/// The end of a link after its target: `>; rel=...` and the line end.
pub fn write_link_params(out: &mut Vec<u8>, rel: &str, pri: Option<u32>, media_type: Option<&str>) {
    out.extend_from_slice(b">; rel=");
    out.extend_from_slice(rel.as_bytes());
    if let Some(pri) = pri {
        out.extend_from_slice(b"; pri=");
        crate::http::write::push_decimal(out, u64::from(pri));
    }
    if let Some(media_type) = media_type {
        out.extend_from_slice(b"; type=\"");
        out.extend_from_slice(media_type.as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrorbrain_style_links_parse() {
        let value = b"<http://a.example/f.iso>; rel=duplicate; pri=1; geo=de, \
            <http://b.example:8080/f.iso>; rel=\"duplicate\"; pri=2,\
            </f.iso.meta4>; rel=describedby; type=\"application/metalink4+xml\"";
        let links = parse_links(value);
        assert_eq!(links.len(), 3, "{links:?}");
        assert_eq!(links[0].target, "http://a.example/f.iso");
        assert!(links[0].has_rel(DUPLICATE));
        assert_eq!(links[0].pri, Some(1));
        assert_eq!(links[1].target, "http://b.example:8080/f.iso");
        assert!(links[1].has_rel("DUPLICATE"));
        assert_eq!(links[1].pri, Some(2));
        assert!(links[2].has_rel(DESCRIBED_BY));
        assert_eq!(links[2].media_type.as_deref(), Some(METALINK4));
        assert_eq!(links[2].pri, None);
    }

    #[test]
    fn a_malformed_link_is_skipped_and_the_next_one_kept() {
        let value = b"<http://bad; rel=duplicate, junk; rel=x, <http://ok/>; rel=\"a,b\" ; pri=x, \
                      <http://two/>;rel=duplicate;pri=7";
        let links = parse_links(value);
        let targets: Vec<_> = links.iter().map(|l| l.target).collect();
        assert_eq!(targets, ["http://ok/", "http://two/"], "{links:?}");
        assert_eq!(links[0].rel.as_deref(), Some("a,b"));
        assert_eq!(links[0].pri, None);
        assert_eq!(links[1].pri, Some(7));
    }

    #[test]
    fn only_the_first_rel_counts_and_quoted_escapes_are_undone() {
        let links = parse_links(b"<x>; rel=\"dup\\\"licate\"; rel=duplicate");
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].rel.as_deref(), Some("dup\"licate"));
        assert!(!links[0].has_rel(DUPLICATE));
        let links = parse_links(b"<x>; rel=\"other duplicate\"");
        assert!(links[0].has_rel(DUPLICATE));
    }

    #[test]
    fn targets_that_could_split_a_request_are_dropped() {
        for value in [
            &b"<http://a b/>; rel=duplicate"[..],
            b"<http://a\x7f/>; rel=duplicate",
        ] {
            assert!(parse_links(value).is_empty(), "{value:?}");
        }
    }

    #[test]
    fn every_prefix_parses_without_panic_and_written_links_read_back() {
        let mut out = Vec::new();
        write_link(
            &mut out,
            "http://127.0.0.2:8001/f%20.bin",
            DUPLICATE,
            Some(3),
            None,
        );
        write_link(
            &mut out,
            "/f.bin?meta4",
            DESCRIBED_BY,
            None,
            Some(METALINK4),
        );
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            text,
            "Link: <http://127.0.0.2:8001/f%20.bin>; rel=duplicate; pri=3\r\n\
             Link: </f.bin?meta4>; rel=describedby; type=\"application/metalink4+xml\"\r\n"
        );
        let values: Vec<&str> = text
            .lines()
            .map(|l| l.strip_prefix("Link: ").unwrap())
            .collect();
        let joined = values.join(", ");
        let links = parse_links(joined.as_bytes());
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].pri, Some(3));
        assert_eq!(links[1].target, "/f.bin?meta4");
        for end in 0..joined.len() {
            let _ = parse_links(&joined.as_bytes()[..end]);
        }
    }
}
