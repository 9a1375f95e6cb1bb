//! `Digest` parsing never panics, and every digest it returns is written back as a field value
//! that parses to the same digest.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ricochet_core::http::digest::{parse_digest, write_digest_value};

fuzz_target!(|data: &[u8]| {
    for d in parse_digest(data) {
        assert_eq!(d.as_bytes().len(), d.algorithm().len());
        let mut value = Vec::new();
        write_digest_value(&mut value, &d);
        assert!(value.iter().all(u8::is_ascii_graphic));
        assert_eq!(parse_digest(&value), [d]);
    }
});
