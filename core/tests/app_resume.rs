//! Resuming downloads, client side: which validator is kept, the note next to a partial file,
//! when to ask for a range, Content-Range parsing, what 200, 206 and 416 mean for the local
//! bytes, and the retry pauses.

use ricochet_core::download::resume::{
    check_appended, decide, is_transient_status, parse_content_range, plan, retry_delay,
    ContentRange, Local, MetaError, PartMeta, RangeRequest, Resume, ResumeError, Validator,
};
use ricochet_core::http::BodyKind;
use std::time::Duration;

fn etag(v: &str) -> Validator {
    Validator::EntityTag(v.to_string())
}

const DATE: &str = "Sun, 29 Nov 2026 10:00:00 GMT";

#[test]
fn a_strong_etag_is_kept_else_the_date_else_nothing() {
    assert_eq!(
        Validator::of(Some(b"\"abc-1\""), Some(DATE.as_bytes())),
        Some(etag("\"abc-1\""))
    );
    // A weak tag cannot be used with If-Range: the date is.
    assert_eq!(
        Validator::of(Some(b"W/\"abc\""), Some(DATE.as_bytes())),
        Some(Validator::LastModified(DATE.to_string()))
    );
    assert_eq!(Validator::of(Some(b"W/\"abc\""), None), None);
    assert_eq!(Validator::of(Some(b"abc"), None), None, "unquoted");
    assert_eq!(Validator::of(Some(b"\"a\"b\""), None), None, "quote inside");
    assert_eq!(Validator::of(None, Some(b"")), None);
    assert_eq!(Validator::of(None, Some(b"Sun\r\nX: y")), None);
    assert_eq!(Validator::of(None, None), None);
}

#[test]
fn the_note_round_trips_and_damaged_notes_are_refused() {
    for validator in [
        etag("\"5f-1a2b\""),
        Validator::LastModified(DATE.to_string()),
    ] {
        let mut meta = PartMeta {
            url: "http://127.0.0.1:8080/big.bin?x=1".to_string(),
            validator,
            ranges: None,
        };
        assert_eq!(PartMeta::parse(meta.to_text().as_bytes()), Ok(meta.clone()));
        assert_eq!(meta.prefix(77), 77);
        // A multi-source download's note: the ranges held.
        use ricochet_core::download::segments::Span;
        meta.ranges = Some(vec![
            Span { start: 0, end: 10 },
            Span { start: 20, end: 30 },
        ]);
        assert!(meta.to_text().contains("\nranges 0-10,20-30\n"));
        assert_eq!(PartMeta::parse(meta.to_text().as_bytes()), Ok(meta.clone()));
        assert_eq!(meta.prefix(1000), 10);
        meta.ranges = Some(vec![]);
        assert_eq!(PartMeta::parse(meta.to_text().as_bytes()), Ok(meta.clone()));
        assert_eq!(meta.prefix(1000), 0);
    }
    for bad in [
        "",
        "something else\nurl http://a/\netag \"x\"\n",
        "ricochet-partial 1\netag \"x\"\n",
        "ricochet-partial 1\nurl http://a/\n",
        "ricochet-partial 1\nurl http://a/\netag x\n",
        "ricochet-partial 1\nurl http://a/\netag \"x\"\netag \"y\"\n",
        "ricochet-partial 1\nurl http://a/\nsize 3\n",
        "ricochet-partial 1\nurl http://a/\netag \"x\"\nranges 5-3\n",
        "ricochet-partial 1\nurl http://a/\netag \"x\"\nranges 0-5,4-9\n",
        "ricochet-partial 1\nurl http://a/\netag \"x\"\nranges 0-\n",
    ] {
        assert!(
            matches!(
                PartMeta::parse(bad.as_bytes()),
                Err(MetaError::Malformed(_))
            ),
            "{bad:?}"
        );
    }
    assert!(PartMeta::parse(b"\xff\xfe").is_err());
}

fn fields(request: &RangeRequest) -> Vec<(String, String)> {
    request
        .fields()
        .into_iter()
        .map(|(n, v)| (n.to_string(), String::from_utf8(v.to_vec()).unwrap()))
        .collect()
}

#[test]
fn a_range_is_asked_only_for_bytes_of_a_known_version_or_to_check_a_whole_file() {
    let v = etag("\"t\"");
    assert_eq!(plan(Local::Nothing), None);
    assert_eq!(
        plan(Local::Partial {
            len: 0,
            validator: Some(&v)
        }),
        None
    );
    let partial = plan(Local::Partial {
        len: 1000,
        validator: Some(&v),
    })
    .unwrap();
    assert_eq!(partial.offset, 1000);
    assert_eq!(
        fields(&partial),
        vec![
            ("Range".to_string(), "bytes=1000-".to_string()),
            ("If-Range".to_string(), "\"t\"".to_string())
        ]
    );
    // Bytes of an unknown version: any tail could belong to another one.
    assert_eq!(
        plan(Local::Partial {
            len: 1000,
            validator: None
        }),
        None
    );
    // An existing file: ask from its end, only to learn whether it is complete.
    let existing = plan(Local::Existing { len: 42 }).unwrap();
    assert_eq!(
        fields(&existing),
        vec![("Range".to_string(), "bytes=42-".to_string())]
    );
    assert_eq!(plan(Local::Existing { len: 0 }), None);
}

#[test]
fn content_range_forms_and_errors() {
    assert_eq!(
        parse_content_range(b"bytes 100-199/200"),
        Ok(ContentRange::Bytes {
            first: 100,
            last: 199,
            complete: Some(200)
        })
    );
    assert_eq!(
        parse_content_range(b"bytes 0-0/*"),
        Ok(ContentRange::Bytes {
            first: 0,
            last: 0,
            complete: None
        })
    );
    assert_eq!(
        parse_content_range(b"bytes */1234"),
        Ok(ContentRange::Unsatisfied { complete: 1234 })
    );
    for bad in [
        &b"bytes 5-4/10"[..],
        b"bytes 5-10/10",
        b"bytes */*",
        b"items 0-1/2",
        b"bytes 0-1",
        b"bytes -1/2",
        b"bytes 1-/2",
        b"bytes 0-99999999999999999999/*",
        b"bytes +1-2/3",
        b"",
    ] {
        assert!(
            matches!(
                parse_content_range(bad),
                Err(ResumeError::BadContentRange(_))
            ),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

fn asked(offset: u64, validator: Option<Validator>) -> RangeRequest {
    match validator {
        Some(v) => plan(Local::Partial {
            len: offset,
            validator: Some(&v),
        })
        .unwrap(),
        None => plan(Local::Existing { len: offset }).unwrap(),
    }
}

#[test]
fn a_206_for_the_rest_of_the_same_version_is_appended() {
    let v = etag("\"t1\"");
    let ask = asked(100, Some(v.clone()));
    assert_eq!(
        decide(
            Some(&ask),
            206,
            Some(b"bytes 100-199/200"),
            Some(&v),
            BodyKind::Length(100)
        ),
        Ok(Some(Resume::Append {
            complete: Some(200)
        }))
    );
    // No validator in the answer: If-Range was sent, so the server checked it.
    assert_eq!(
        decide(
            Some(&ask),
            206,
            Some(b"bytes 100-199/*"),
            None,
            BodyKind::Chunked
        ),
        Ok(Some(Resume::Append { complete: None }))
    );
}

#[test]
fn a_206_that_could_splice_two_versions_is_refetched_whole() {
    let held = etag("\"t1\"");
    let ask = asked(100, Some(held));
    // The server ignored If-Range and sent another version's tail.
    assert_eq!(
        decide(
            Some(&ask),
            206,
            Some(b"bytes 100-299/300"),
            Some(&etag("\"t2\"")),
            BodyKind::Length(200)
        ),
        Ok(Some(Resume::Refetch))
    );
    // Nothing proves which version an existing file is.
    let unknown = asked(100, None);
    assert_eq!(
        decide(
            Some(&unknown),
            206,
            Some(b"bytes 100-199/200"),
            None,
            BodyKind::Length(100)
        ),
        Ok(Some(Resume::Refetch))
    );
    // A tail that stops short of the end.
    let v = etag("\"t1\"");
    assert_eq!(
        decide(
            Some(&asked(100, Some(v.clone()))),
            206,
            Some(b"bytes 100-149/200"),
            Some(&v),
            BodyKind::Length(50)
        ),
        Ok(Some(Resume::Refetch))
    );
}

#[test]
fn a_206_for_other_bytes_or_with_a_bad_content_range_is_an_error() {
    let v = etag("\"t1\"");
    let ask = asked(100, Some(v.clone()));
    assert_eq!(
        decide(
            Some(&ask),
            206,
            Some(b"bytes 0-199/200"),
            Some(&v),
            BodyKind::Length(200)
        ),
        Err(ResumeError::WrongRange {
            asked: 100,
            sent: 0
        })
    );
    assert_eq!(
        decide(
            Some(&ask),
            206,
            Some(b"bytes 100-199/200"),
            Some(&v),
            BodyKind::Length(99)
        ),
        Err(ResumeError::LengthMismatch)
    );
    assert!(matches!(
        decide(Some(&ask), 206, None, Some(&v), BodyKind::Length(100)),
        Err(ResumeError::BadContentRange(_))
    ));
    assert!(matches!(
        decide(
            Some(&ask),
            206,
            Some(b"bytes */200"),
            Some(&v),
            BodyKind::Length(0)
        ),
        Err(ResumeError::BadContentRange(_))
    ));
}

#[test]
fn a_200_starts_over_and_a_416_for_the_local_length_is_complete() {
    let v = etag("\"t1\"");
    let ask = asked(100, Some(v.clone()));
    assert_eq!(
        decide(
            Some(&ask),
            200,
            None,
            Some(&etag("\"t2\"")),
            BodyKind::Length(300)
        ),
        Ok(Some(Resume::StartOver))
    );
    assert_eq!(
        decide(
            Some(&ask),
            416,
            Some(b"bytes */100"),
            Some(&v),
            BodyKind::Length(0)
        ),
        Ok(Some(Resume::Complete))
    );
    assert_eq!(
        decide(
            Some(&asked(100, None)),
            416,
            Some(b"bytes */100"),
            None,
            BodyKind::None
        ),
        Ok(Some(Resume::Complete))
    );
    // Shorter than what is held, or another version, or no length: the local copy is wrong.
    assert_eq!(
        decide(
            Some(&ask),
            416,
            Some(b"bytes */80"),
            Some(&v),
            BodyKind::None
        ),
        Ok(Some(Resume::Refetch))
    );
    assert_eq!(
        decide(
            Some(&ask),
            416,
            Some(b"bytes */100"),
            Some(&etag("\"t2\"")),
            BodyKind::None
        ),
        Ok(Some(Resume::Refetch))
    );
    assert_eq!(
        decide(Some(&ask), 416, None, None, BodyKind::None),
        Ok(Some(Resume::Refetch))
    );
    // Errors are not about the range.
    assert_eq!(
        decide(None, 200, None, None, BodyKind::Length(5)),
        Ok(Some(Resume::StartOver))
    );
    assert_eq!(
        decide(None, 206, Some(b"bytes 0-4/10"), None, BodyKind::Length(5)),
        Err(ResumeError::Unasked)
    );
    assert_eq!(decide(None, 416, None, None, BodyKind::None), Ok(None));
    for status in [404, 500, 503] {
        assert_eq!(
            decide(Some(&ask), status, None, None, BodyKind::Length(5)),
            Ok(None)
        );
    }
}

#[test]
fn retries_pause_longer_each_time_up_to_a_cap() {
    assert_eq!(retry_delay(1), Duration::from_millis(500));
    assert_eq!(retry_delay(2), Duration::from_secs(1));
    assert_eq!(retry_delay(3), Duration::from_secs(2));
    assert_eq!(retry_delay(5), Duration::from_secs(8));
    assert_eq!(retry_delay(40), Duration::from_secs(8));
    assert_eq!(retry_delay(u32::MAX), Duration::from_secs(8));
    for status in [408, 429, 500, 502, 503, 504] {
        assert!(is_transient_status(status), "{status}");
    }
    for status in [400, 403, 404, 410, 416, 501] {
        assert!(!is_transient_status(status), "{status}");
    }
}

#[test]
fn an_appended_body_must_end_the_file_where_its_content_range_said() {
    assert_eq!(check_appended(4, 6, Some(10)), Ok(()));
    assert_eq!(
        check_appended(4, 8, Some(10)),
        Err(ResumeError::LengthMismatch)
    );
    assert_eq!(
        check_appended(4, 2, Some(10)),
        Err(ResumeError::LengthMismatch)
    );
    assert_eq!(
        check_appended(u64::MAX, 1, Some(10)),
        Err(ResumeError::LengthMismatch)
    );
    // No length announced (a fresh download): nothing to check against.
    assert_eq!(check_appended(0, 12, None), Ok(()));
}
