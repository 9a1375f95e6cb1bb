//! `Link` field parsing never panics, and every target it keeps is printable ASCII without
//! `<` or `>`, so it can go back into a request line or a header as it is.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ricochet_core::http::link::{parse_links, write_link};

fuzz_target!(|data: &[u8]| {
    for link in parse_links(data) {
        assert!(!link.target.is_empty());
        assert!(
            link.target
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>'),
            "{link:?}"
        );
        let mut out = Vec::new();
        write_link(&mut out, link.target, "duplicate", link.pri, None);
        let value = &out[b"Link: ".len()..out.len() - 2];
        let again = parse_links(value);
        assert_eq!(again.len(), 1, "{:?}", String::from_utf8_lossy(&out));
        assert_eq!(again[0].target, link.target);
        assert_eq!(again[0].pri, link.pri);
    }
});
