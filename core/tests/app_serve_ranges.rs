//! Byte ranges, validators and conditional requests on the file server: `Range` parsing and
//! resolution, 206/416, `If-Range`, ETags, 304/412 and their precedence (RFC 9110 sections 13
//! and 14).

use ricochet_core::files::conditional::{EntityTag, IfRange, Outcome, Preconditions, TagList};
use ricochet_core::files::range::{
    decide, parse_range, ByteRange, RangeDecision, RangeHeader, RangeSpec, MAX_RANGES,
};
use ricochet_core::files::serve::{
    file_response, route, FileMeta, FileRequest, FileResponse, KnownDigests,
};
use ricochet_core::http::digest::{Algorithm, Digest};
use ricochet_core::http::request::{Request, Target};
use ricochet_core::http::{BodyKind, Header, Version};
use std::time::{Duration, SystemTime};

const MODIFIED: u64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
const MODIFIED_DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// A file of `len` bytes, modified at MODIFIED + 0.5 s, no digest known.
fn file(len: u64) -> FileMeta {
    FileMeta {
        len,
        modified: at(MODIFIED) + Duration::from_millis(500),
        digests: Default::default(),
    }
}

fn etag_of(f: &FileMeta) -> String {
    EntityTag::for_file(f.len, f.modified).to_string()
}

fn route_with(method: &str, headers: &[(&'static str, &str)]) -> FileRequest {
    let headers: Vec<Header<'_>> = headers
        .iter()
        .map(|(name, value)| Header {
            name,
            value: value.as_bytes(),
        })
        .collect();
    let request = Request {
        method,
        target: Target::Origin {
            path: "/big.bin",
            query: None,
        },
        raw_target: "/big.bin",
        version: Version::Http11,
        headers,
        body: BodyKind::None,
        keep_alive: true,
        expect_continue: false,
    };
    route(&request).unwrap()
}

/// What a user sees: the status, the head's text and the bytes of the file that follow.
struct Seen {
    status: u16,
    head: String,
    body: Option<ByteRange>,
    page: String,
}

fn ask_at(method: &str, headers: &[(&'static str, &str)], f: &FileMeta, now: SystemTime) -> Seen {
    let request = route_with(method, headers);
    match file_response(&request, f, now) {
        FileResponse::File { head, body } => {
            let mut out = Vec::new();
            head.write(&mut out);
            Seen {
                status: head.status,
                head: String::from_utf8(out).unwrap(),
                body,
                page: String::new(),
            }
        }
        FileResponse::Refused { status, page } => {
            let text = String::from_utf8(page.bytes).unwrap();
            let end = text.find("\r\n\r\n").unwrap() + 4;
            assert_eq!(page.head_len, end, "the page says where its head ends");
            Seen {
                status,
                head: text[..end].to_string(),
                body: None,
                page: text[end..].to_string(),
            }
        }
    }
}

/// Asked an hour after the file's modification.
fn ask(method: &str, headers: &[(&'static str, &str)], f: &FileMeta) -> Seen {
    ask_at(method, headers, f, at(MODIFIED + 3600))
}

fn range(start: u64, len: u64) -> Option<ByteRange> {
    Some(ByteRange { start, len })
}

// ---- Range parsing ----

#[test]
fn range_forms_parse() {
    use RangeSpec::*;
    let cases: &[(&str, &[RangeSpec])] = &[
        (
            "bytes=0-499",
            &[From {
                first: 0,
                last: Some(499),
            }],
        ),
        (
            "bytes=500-",
            &[From {
                first: 500,
                last: None,
            }],
        ),
        ("bytes=-500", &[Suffix(500)]),
        (
            "BYTES=1-1",
            &[From {
                first: 1,
                last: Some(1),
            }],
        ),
        (
            "bytes=0-0,-1",
            &[
                From {
                    first: 0,
                    last: Some(0),
                },
                Suffix(1),
            ],
        ),
        (
            "bytes=0-1 , 5-6,,\t9-",
            &[
                From {
                    first: 0,
                    last: Some(1),
                },
                From {
                    first: 5,
                    last: Some(6),
                },
                From {
                    first: 9,
                    last: None,
                },
            ],
        ),
        // Numbers beyond u64 saturate instead of overflowing.
        (
            "bytes=99999999999999999999999-",
            &[From {
                first: u64::MAX,
                last: None,
            }],
        ),
        (
            "bytes=0-99999999999999999999999",
            &[From {
                first: 0,
                last: Some(u64::MAX),
            }],
        ),
        ("bytes=-99999999999999999999999", &[Suffix(u64::MAX)]),
    ];
    for (value, specs) in cases {
        assert_eq!(
            parse_range(value.as_bytes()),
            RangeHeader::Bytes(specs.to_vec()),
            "{value}"
        );
    }
}

#[test]
fn invalid_ranges_are_ignored() {
    for value in [
        "",
        "bytes",
        "bytes=",
        "bytes=,",
        "bytes=-",
        "bytes=5-4",
        "bytes=0-1,5-4",
        "bytes= 0-1x",
        "bytes=a-b",
        "bytes=1-2-3",
        "bytes=+1-2",
        "bytes=0x10-",
        "bytes =0-1",
        "items=0-1",
        "0-1",
        "bytes=1 -2",
    ] {
        assert_eq!(
            parse_range(value.as_bytes()),
            RangeHeader::Invalid,
            "{value:?}"
        );
        assert_eq!(
            decide(&parse_range(value.as_bytes()), 100),
            RangeDecision::Whole
        );
    }
}

#[test]
fn more_than_max_ranges_are_refused_without_looking_further() {
    let many: Vec<String> = (0..=MAX_RANGES).map(|i| format!("{i}-{i}")).collect();
    let value = format!("bytes={}", many.join(","));
    assert_eq!(parse_range(value.as_bytes()), RangeHeader::TooMany);
    assert_eq!(decide(&RangeHeader::TooMany, 1000), RangeDecision::Whole);
    let exactly = format!("bytes={}", many[..MAX_RANGES].join(","));
    assert!(
        matches!(parse_range(exactly.as_bytes()), RangeHeader::Bytes(v) if v.len() == MAX_RANGES)
    );
}

// ---- Resolution against the file's length ----

fn decided(value: &str, len: u64) -> RangeDecision {
    decide(&parse_range(value.as_bytes()), len)
}

#[test]
fn single_ranges_resolve_against_the_length() {
    let part = |start, len| RangeDecision::Partial(ByteRange { start, len });
    assert_eq!(decided("bytes=0-499", 1000), part(0, 500));
    assert_eq!(decided("bytes=500-999", 1000), part(500, 500));
    // A last position past the end is cut at the end.
    assert_eq!(decided("bytes=500-5000", 1000), part(500, 500));
    assert_eq!(
        decided("bytes=0-99999999999999999999999", 1000),
        part(0, 1000)
    );
    assert_eq!(decided("bytes=999-", 1000), part(999, 1));
    assert_eq!(decided("bytes=-1", 1000), part(999, 1));
    // A suffix longer than the file is the whole file, as a 206.
    assert_eq!(decided("bytes=-5000", 1000), part(0, 1000));
    assert_eq!(
        decided("bytes=-99999999999999999999999", 1000),
        part(0, 1000)
    );
    // An unsatisfiable spec beside a satisfiable one is dropped.
    assert_eq!(decided("bytes=5000-,10-19", 1000), part(10, 10));
}

#[test]
fn unsatisfiable_ranges() {
    for value in [
        "bytes=1000-",
        "bytes=1000-1000",
        "bytes=99999999999999999999999-",
        "bytes=-0",
        "bytes=1000-,2000-",
    ] {
        assert_eq!(
            decided(value, 1000),
            RangeDecision::Unsatisfiable,
            "{value}"
        );
    }
}

#[test]
fn zero_length_file() {
    // No byte to start from: 416.
    assert_eq!(decided("bytes=0-", 0), RangeDecision::Unsatisfiable);
    assert_eq!(decided("bytes=0-0", 0), RangeDecision::Unsatisfiable);
    assert_eq!(decided("bytes=-0", 0), RangeDecision::Unsatisfiable);
    // A nonzero suffix is satisfiable but selects nothing: the whole, empty file.
    assert_eq!(decided("bytes=-5", 0), RangeDecision::Whole);
    let seen = ask("GET", &[("Range", "bytes=-5")], &file(0));
    assert_eq!(seen.status, 200);
    assert!(
        seen.head.contains("\r\nContent-Length: 0\r\n"),
        "{}",
        seen.head
    );
    let seen = ask("GET", &[("Range", "bytes=0-")], &file(0));
    assert_eq!(seen.status, 416);
    assert!(
        seen.head.contains("\r\nContent-Range: bytes */0\r\n"),
        "{}",
        seen.head
    );
}

#[test]
fn several_ranges_get_the_whole_file() {
    assert_eq!(decided("bytes=0-9,20-29", 1000), RangeDecision::Whole);
    assert_eq!(decided("bytes=0-499,0-499", 1000), RangeDecision::Whole);
    assert_eq!(decided("bytes=-1,0-0", 1000), RangeDecision::Whole);
    let seen = ask("GET", &[("Range", "bytes=0-9,20-29")], &file(1000));
    assert_eq!(seen.status, 200);
    assert_eq!(seen.body, range(0, 1000));
    assert!(
        seen.head.contains("\r\nContent-Length: 1000\r\n"),
        "{}",
        seen.head
    );
    assert!(!seen.head.contains("Content-Range"), "{}", seen.head);
    assert!(!seen.head.contains("multipart"), "{}", seen.head);
    // Overlapping small ranges, the CVE-2011-3192 pattern: never more than the file once.
    let overlapping = format!("bytes=0-,{}", vec!["5-"; MAX_RANGES - 1].join(","));
    let seen = ask("GET", &[("Range", overlapping.as_str())], &file(1000));
    assert_eq!((seen.status, seen.body), (200, range(0, 1000)));
}

// ---- 206 and 416 responses ----

#[test]
fn a_single_range_answers_206_with_content_range() {
    let f = file(1000);
    let seen = ask("GET", &[("Range", "bytes=100-199")], &f);
    assert_eq!(seen.status, 206);
    assert_eq!(seen.body, range(100, 100));
    assert!(
        seen.head.starts_with("HTTP/1.1 206 Partial Content\r\n"),
        "{}",
        seen.head
    );
    for line in [
        "Content-Range: bytes 100-199/1000",
        "Content-Length: 100",
        "Accept-Ranges: bytes",
        &format!("ETag: {}", etag_of(&f)),
        &format!("Last-Modified: {MODIFIED_DATE}"),
    ] {
        assert!(
            seen.head.contains(&format!("\r\n{line}\r\n")),
            "{line}: {}",
            seen.head
        );
    }
    let seen = ask("GET", &[("Range", "bytes=-10")], &f);
    assert_eq!(seen.body, range(990, 10));
    assert!(
        seen.head
            .contains("\r\nContent-Range: bytes 990-999/1000\r\n"),
        "{}",
        seen.head
    );
    let seen = ask("GET", &[("Range", "bytes=0-")], &f);
    assert_eq!((seen.status, seen.body), (206, range(0, 1000)));
    assert!(
        seen.head
            .contains("\r\nContent-Range: bytes 0-999/1000\r\n"),
        "{}",
        seen.head
    );
}

#[test]
fn unsatisfiable_answers_416_with_the_length() {
    let seen = ask("GET", &[("Range", "bytes=1000-")], &file(1000));
    assert_eq!(seen.status, 416);
    assert!(
        seen.head
            .starts_with("HTTP/1.1 416 Range Not Satisfiable\r\n"),
        "{}",
        seen.head
    );
    assert!(
        seen.head.contains("\r\nContent-Range: bytes */1000\r\n"),
        "{}",
        seen.head
    );
    assert!(seen
        .head
        .contains(&format!("\r\nContent-Length: {}\r\n", seen.page.len())));
    assert!(seen.page.contains("416"), "{}", seen.page);
}

#[test]
fn head_ignores_range() {
    let req = route_with("HEAD", &[("Range", "bytes=0-9")]);
    assert_eq!(req.range, None);
    let seen = ask("HEAD", &[("Range", "bytes=0-9")], &file(1000));
    assert_eq!(seen.status, 200);
    assert_eq!(seen.body, None);
    assert!(
        seen.head.contains("\r\nContent-Length: 1000\r\n"),
        "{}",
        seen.head
    );
    assert!(
        seen.head.contains("\r\nAccept-Ranges: bytes\r\n"),
        "{}",
        seen.head
    );
    // Not even an unsatisfiable one changes a HEAD.
    assert_eq!(
        ask("HEAD", &[("Range", "bytes=5000-")], &file(1000)).status,
        200
    );
}

#[test]
fn two_range_fields_are_ignored() {
    let seen = ask(
        "GET",
        &[("Range", "bytes=0-9"), ("range", "bytes=10-19")],
        &file(1000),
    );
    assert_eq!((seen.status, seen.body), (200, range(0, 1000)));
}

// ---- If-Range ----

#[test]
fn if_range_with_the_current_etag_sends_the_range() {
    let f = file(1000);
    let tag = etag_of(&f);
    let seen = ask("GET", &[("Range", "bytes=10-19"), ("If-Range", &tag)], &f);
    assert_eq!((seen.status, seen.body), (206, range(10, 10)));
}

#[test]
fn if_range_that_does_not_match_sends_the_whole_file() {
    let f = file(1000);
    let tag = etag_of(&f);
    let weak = format!("W/{tag}");
    let changed = etag_of(&FileMeta {
        modified: f.modified + Duration::from_nanos(1),
        ..f
    });
    for if_range in [
        changed.as_str(),
        // Weak tags never match If-Range (strong comparison).
        weak.as_str(),
        "\"other\"",
        "Sat, 05 Nov 1994 08:49:37 GMT",
        "not a validator",
        "\"unterminated",
    ] {
        let seen = ask(
            "GET",
            &[("Range", "bytes=10-19"), ("If-Range", if_range)],
            &f,
        );
        assert_eq!(
            (seen.status, seen.body),
            (200, range(0, 1000)),
            "{if_range}"
        );
        assert!(!seen.head.contains("Content-Range"), "{}", seen.head);
    }
    // Nor does a mismatched If-Range turn an unsatisfiable range into a 416.
    let seen = ask(
        "GET",
        &[("Range", "bytes=5000-"), ("If-Range", "\"other\"")],
        &f,
    );
    assert_eq!(seen.status, 200);
}

#[test]
fn if_range_with_a_date_must_match_last_modified_exactly() {
    let f = file(1000);
    let seen = ask(
        "GET",
        &[("Range", "bytes=10-19"), ("If-Range", MODIFIED_DATE)],
        &f,
    );
    assert_eq!(seen.status, 206);
    let seen = ask(
        "GET",
        &[
            ("Range", "bytes=10-19"),
            ("If-Range", "Sun, 06 Nov 1994 08:49:38 GMT"),
        ],
        &f,
    );
    assert_eq!(seen.status, 200, "a later date is not an exact match");
    // Modified within the second of the request: Last-Modified is weak, the date never matches.
    let seen = ask_at(
        "GET",
        &[("Range", "bytes=10-19"), ("If-Range", MODIFIED_DATE)],
        &f,
        f.modified + Duration::from_millis(100),
    );
    assert_eq!(seen.status, 200);
}

#[test]
fn if_range_parses() {
    assert_eq!(
        IfRange::parse(b"\"abc\""),
        IfRange::Tag(EntityTag {
            weak: false,
            opaque: "abc".into()
        })
    );
    assert_eq!(
        IfRange::parse(MODIFIED_DATE.as_bytes()),
        IfRange::Date(at(MODIFIED))
    );
    assert_eq!(IfRange::parse(b"\"a\", \"b\""), IfRange::Invalid);
    assert_eq!(IfRange::parse(b"*"), IfRange::Invalid);
}

// ---- ETags ----

#[test]
fn etag_is_strong_and_changes_with_size_and_mtime_only() {
    let f = file(1000);
    let tag = EntityTag::for_file(f.len, f.modified);
    assert!(!tag.weak);
    let text = tag.to_string();
    assert!(text.starts_with('"') && text.ends_with('"'), "{text}");
    // The same file gives the same tag (nothing in it depends on the clock or the process).
    assert_eq!(etag_of(&f), etag_of(&file(1000)));
    for other in [
        FileMeta { len: 1001, ..f },
        FileMeta {
            modified: f.modified + Duration::from_nanos(1),
            ..f
        },
    ] {
        assert_ne!(etag_of(&other), text, "{other:?}");
    }
    // Nothing else goes in: a copy of the file elsewhere (another inode, another server) with
    // the same size and time has the same tag, so If-Range holds across servers.
    assert_eq!(text, "\"3e8-ae1b981da166f00\"");
    assert_eq!(ask("GET", &[], &f).head.matches("\r\nETag: ").count(), 1);
}

#[test]
fn tag_lists_parse() {
    let tags = |v: &str| TagList::from_fields([v.as_bytes()].into_iter());
    let strong = |o: &str| EntityTag {
        weak: false,
        opaque: o.into(),
    };
    assert_eq!(tags("*"), Some(TagList::Any));
    assert_eq!(
        tags(" \"a\" ,W/\"b\",, \"c,d\""),
        Some(TagList::Tags(vec![
            strong("a"),
            EntityTag {
                weak: true,
                opaque: "b".into()
            },
            strong("c,d"),
        ]))
    );
    assert_eq!(tags("\"\""), Some(TagList::Tags(vec![strong("")])));
    for garbage in ["abc", "\"a\" \"b\"", "\"a", "w/\"a\"", "\"a\"x"] {
        assert_eq!(tags(garbage), Some(TagList::Tags(Vec::new())), "{garbage}");
    }
    assert_eq!(TagList::from_fields(std::iter::empty()), None);
    // Several field lines make one list.
    let lines = TagList::from_fields([b"\"a\"".as_slice(), b"\"b\""].into_iter());
    assert_eq!(lines, Some(TagList::Tags(vec![strong("a"), strong("b")])));
}

// ---- Preconditions: 304 and 412, and their order ----

#[test]
fn if_none_match_answers_304_with_the_validators_and_no_body() {
    let f = file(1000);
    let tag = etag_of(&f);
    let weak = format!("W/{tag}");
    let listed = format!("\"x\", {tag}");
    for value in [tag.as_str(), weak.as_str(), listed.as_str(), "*"] {
        for method in ["GET", "HEAD"] {
            let seen = ask(method, &[("If-None-Match", value)], &f);
            assert_eq!(seen.status, 304, "{method} {value}");
            assert_eq!(seen.body, None);
            assert!(
                seen.head.contains(&format!("\r\nETag: {tag}\r\n")),
                "{}",
                seen.head
            );
            assert!(seen
                .head
                .contains(&format!("\r\nLast-Modified: {MODIFIED_DATE}\r\n")));
            assert!(!seen.head.contains("Content-Length"), "{}", seen.head);
        }
    }
    assert_eq!(ask("GET", &[("If-None-Match", "\"x\"")], &f).status, 200);
    assert_eq!(ask("GET", &[("If-None-Match", "garbage")], &f).status, 200);
}

#[test]
fn if_none_match_takes_precedence_over_if_modified_since() {
    let f = file(1000);
    let tag = etag_of(&f);
    // Date says unchanged, tag says changed: 200.
    let seen = ask(
        "GET",
        &[
            ("If-None-Match", "\"old\""),
            ("If-Modified-Since", MODIFIED_DATE),
        ],
        &f,
    );
    assert_eq!(seen.status, 200);
    // Tag says unchanged, date says changed: 304.
    let seen = ask(
        "GET",
        &[
            ("If-None-Match", &tag),
            ("If-Modified-Since", "Sat, 01 Jan 1994 00:00:00 GMT"),
        ],
        &f,
    );
    assert_eq!(seen.status, 304);
}

#[test]
fn if_match_and_if_unmodified_since_answer_412_when_they_fail() {
    let f = file(1000);
    let tag = etag_of(&f);
    let weak = format!("W/{tag}");
    for (headers, status) in [
        (vec![("If-Match", tag.as_str())], 200),
        (vec![("If-Match", "*")], 200),
        (vec![("If-Match", "\"other\"")], 412),
        // If-Match compares strongly.
        (vec![("If-Match", weak.as_str())], 412),
        (vec![("If-Match", "garbage")], 412),
        (vec![("If-Unmodified-Since", MODIFIED_DATE)], 200),
        (
            vec![("If-Unmodified-Since", "Sat, 01 Jan 1994 00:00:00 GMT")],
            412,
        ),
        // An invalid date is ignored.
        (vec![("If-Unmodified-Since", "yesterday")], 200),
        // If-Match present: If-Unmodified-Since is not evaluated.
        (
            vec![
                ("If-Match", tag.as_str()),
                ("If-Unmodified-Since", "Sat, 01 Jan 1994 00:00:00 GMT"),
            ],
            200,
        ),
        // 412 comes before 304, and before any range.
        (
            vec![("If-Match", "\"other\""), ("If-None-Match", tag.as_str())],
            412,
        ),
        (vec![("If-Match", "\"other\""), ("Range", "bytes=0-1")], 412),
        // If-Match holds, then If-None-Match decides.
        (
            vec![("If-Match", tag.as_str()), ("If-None-Match", tag.as_str())],
            304,
        ),
        // A 304 wins over a range.
        (
            vec![("If-None-Match", tag.as_str()), ("Range", "bytes=0-1")],
            304,
        ),
        (
            vec![("If-Match", tag.as_str()), ("Range", "bytes=0-1")],
            206,
        ),
    ] {
        let seen = ask("GET", &headers, &f);
        assert_eq!(seen.status, status, "{headers:?}");
    }
    let seen = ask("GET", &[("If-Match", "\"other\"")], &f);
    assert!(
        seen.head
            .starts_with("HTTP/1.1 412 Precondition Failed\r\n"),
        "{}",
        seen.head
    );
    assert!(seen
        .head
        .contains(&format!("\r\nContent-Length: {}\r\n", seen.page.len())));
    let seen = ask("HEAD", &[("If-Match", "\"other\"")], &f);
    assert_eq!((seen.status, seen.page.as_str()), (412, ""));
}

#[test]
fn preconditions_evaluate_in_rfc_order() {
    let tag = EntityTag::for_file(1, at(MODIFIED));
    let p = |if_match, if_none_match, ius, ims| Preconditions {
        if_match,
        if_none_match,
        if_unmodified_since: ius,
        if_modified_since: ims,
        if_range: None,
    };
    let none = TagList::Tags(Vec::new());
    assert_eq!(
        p(None, None, None, None).evaluate(&tag, at(MODIFIED)),
        Outcome::Proceed
    );
    assert_eq!(
        p(Some(none.clone()), Some(TagList::Any), None, None).evaluate(&tag, at(MODIFIED)),
        Outcome::Failed
    );
    assert_eq!(
        p(None, None, Some(at(MODIFIED - 1)), Some(at(MODIFIED))).evaluate(&tag, at(MODIFIED)),
        Outcome::Failed
    );
    assert_eq!(
        p(None, Some(none), None, Some(at(MODIFIED))).evaluate(&tag, at(MODIFIED)),
        Outcome::Proceed,
        "If-None-Match present: If-Modified-Since is not evaluated"
    );
}

proptest::proptest! {
    /// Whatever the field says, a 206 never names a byte outside the file, nor an empty range.
    #[test]
    fn a_partial_range_lies_inside_the_file(
        value in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
        first in 0u64..3000,
        span in 0u64..3000,
        len in 0u64..2000,
    ) {
        for value in [value, format!("bytes={first}-{}", first + span).into_bytes()] {
            if let RangeDecision::Partial(r) = decide(&parse_range(&value), len) {
                proptest::prop_assert!(r.len > 0 && r.start + r.len <= len, "{r:?} of {len}");
            }
        }
        let decision = decide(&parse_range(format!("bytes={first}-{}", first + span).as_bytes()), len);
        let expected = if first < len {
            RangeDecision::Partial(ByteRange { start: first, len: (first + span).min(len - 1) - first + 1 })
        } else {
            RangeDecision::Unsatisfiable
        };
        proptest::prop_assert_eq!(decision, expected);
    }
}

// ---- Whole-file digests (RFC 9530 Repr-Digest, RFC 3230 Digest) ----

/// A file of `len` bytes whose SHA-256 (all bytes 0x11) and SHA-512 (0x22) are known.
fn hashed(len: u64) -> FileMeta {
    let mut digests = KnownDigests::default();
    digests.set(Digest::new(Algorithm::Sha256, &[0x11; 32]).unwrap());
    digests.set(Digest::new(Algorithm::Sha512, &[0x22; 64]).unwrap());
    FileMeta {
        digests,
        ..file(len)
    }
}

const SHA256_11: &str = "ERERERERERERERERERERERERERERERERERERERERERE=";

fn field<'a>(seen: &'a Seen, name: &str) -> Vec<&'a str> {
    seen.head
        .split("\r\n")
        .filter_map(|line| line.split_once(": "))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect()
}

#[test]
fn digests_are_sent_when_asked_for_and_known() {
    let f = hashed(1000);
    let repr = ("Want-Repr-Digest", "sha-256=1");
    let want = ("Want-Digest", "SHA-256");
    for method in ["GET", "HEAD"] {
        let seen = ask(method, &[repr], &f);
        assert_eq!(seen.status, 200);
        let expected = format!("sha-256=:{SHA256_11}:");
        assert_eq!(field(&seen, "Repr-Digest"), [expected.as_str()], "{method}");
        assert!(field(&seen, "Digest").is_empty(), "{method}: not asked for");
        let seen = ask(method, &[want], &f);
        let expected = format!("SHA-256={SHA256_11}");
        assert_eq!(field(&seen, "Digest"), [expected.as_str()], "{method}");
        assert!(
            field(&seen, "Repr-Digest").is_empty(),
            "{method}: not asked for"
        );
        let seen = ask(method, &[repr, want], &f);
        assert_eq!(field(&seen, "Repr-Digest").len(), 1);
        assert_eq!(field(&seen, "Digest").len(), 1);
    }
    // Not asked for: not sent, even when known.
    let seen = ask("GET", &[], &f);
    assert!(!seen.head.contains("Digest"), "{}", seen.head);
}

#[test]
fn a_range_carries_the_whole_files_digest() {
    let f = hashed(1000);
    let seen = ask(
        "GET",
        &[("Range", "bytes=10-19"), ("Want-Repr-Digest", "sha-256=3")],
        &f,
    );
    assert_eq!((seen.status, seen.body), (206, range(10, 10)));
    let expected = format!("sha-256=:{SHA256_11}:");
    assert_eq!(field(&seen, "Repr-Digest"), [expected.as_str()]);
}

#[test]
fn no_digest_until_known_nor_on_304_nor_when_refused() {
    let repr = ("Want-Repr-Digest", "sha-256=1");
    let seen = ask("GET", &[repr], &file(1000));
    assert_eq!(seen.status, 200);
    assert!(!seen.head.contains("Digest"), "{}", seen.head);
    let f = hashed(1000);
    let tag = etag_of(&f);
    let seen = ask("GET", &[repr, ("If-None-Match", &tag)], &f);
    assert_eq!(seen.status, 304);
    assert!(!seen.head.contains("Digest"), "{}", seen.head);
    let seen = ask("GET", &[repr, ("Range", "bytes=5000-")], &f);
    assert_eq!(seen.status, 416);
    assert!(!seen.head.contains("Digest"), "{}", seen.head);
}

#[test]
fn the_preferred_known_algorithm_is_sent() {
    let f = hashed(10);
    let seen = ask("GET", &[("Want-Repr-Digest", "sha-256=3, sha-512=9")], &f);
    assert!(field(&seen, "Repr-Digest")[0].starts_with("sha-512=:"));
    let seen = ask(
        "GET",
        &[("Want-Digest", "sha-512;q=0.2, SHA-256;q=0.9")],
        &f,
    );
    assert!(field(&seen, "Digest")[0].starts_with("SHA-256="));
    // Preference 0 refuses: the other one, or nothing.
    let seen = ask("GET", &[("Want-Repr-Digest", "sha-256=0, sha-512=1")], &f);
    assert!(field(&seen, "Repr-Digest")[0].starts_with("sha-512=:"));
    let seen = ask("GET", &[("Want-Digest", "SHA-256;q=0, MD5")], &f);
    assert!(field(&seen, "Digest").is_empty());
    // SHA-512 preferred but only SHA-256 known: SHA-256 rather than nothing.
    let mut only256 = file(10);
    only256.digests.sha256 = hashed(10).digests.sha256;
    let seen = ask(
        "GET",
        &[("Want-Repr-Digest", "sha-512=9, sha-256=1")],
        &only256,
    );
    assert!(field(&seen, "Repr-Digest")[0].starts_with("sha-256=:"));
}

#[test]
fn the_request_says_what_to_compute() {
    let r = route_with(
        "GET",
        &[("Want-Digest", "SHA-512;q=1, SHA-256;q=1, SHA;q=0.1")],
    );
    assert_eq!(
        r.wants.to_compute().collect::<Vec<_>>(),
        [Algorithm::Sha256]
    );
    let r = route_with(
        "HEAD",
        &[
            ("Want-Repr-Digest", "sha-512=5"),
            ("Want-Digest", "sha-256"),
        ],
    );
    assert_eq!(
        r.wants.to_compute().collect::<Vec<_>>(),
        [Algorithm::Sha256, Algorithm::Sha512]
    );
    let r = route_with("GET", &[("Want-Repr-Digest", "sha-256=0")]);
    assert!(!r.wants.any());
    assert_eq!(r.wants.to_compute().count(), 0);
    // Two lines of one field are one list.
    let r = route_with(
        "GET",
        &[
            ("Want-Repr-Digest", "sha-256=0"),
            ("Want-Repr-Digest", "sha-512=2"),
        ],
    );
    assert_eq!(
        r.wants.to_compute().collect::<Vec<_>>(),
        [Algorithm::Sha512]
    );
    assert!(!route_with("GET", &[]).wants.any());
}
